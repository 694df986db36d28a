"""Fixtures for the device tests: a private cache folder and no user spec folders."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ROOFLINE_GPU_SPECS", raising=False)
    yield


MINIMAL_SPEC = """\
key: {key}
name: {name}
vendor: Example
kind: gpu
aliases: [{alias}]
architecture: Test
fp32_lanes: 1000
boost_clock_mhz: 1000
memory_gb: 8
bus_width_bits: 256
memory_data_rate_gbps: 10
memory_bandwidth_gb_per_s: 320
tdp_watts: 100
peaks:
  fp32: {{plain: {{tflops: {fp32}, source: ds}}}}
  fp16: {{tensor: {{tflops: 8, source: ds}}}}
sources:
  - id: ds
    title: Example datasheet
    covers: [fp32_lanes, boost_clock_mhz, memory_gb, bus_width_bits, memory_data_rate_gbps,
             memory_bandwidth_gb_per_s, tdp_watts]
"""


def write_spec(folder, key="my-card", name="My Card", alias="mycard", fp32=2.0, text=None):
    """Write a small valid spec file (1000 lanes x 2 x 1 GHz = 2 TFLOP/s; 256/8 x 10 = 320 GB/s)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.yaml"
    path.write_text(
        text
        if text is not None
        else MINIMAL_SPEC.format(key=key, name=name, alias=alias, fp32=fp32)
    )
    return path


@pytest.fixture
def spec_writer():
    """``spec_writer(folder, key=..., fp32=..., text=...)`` writes a spec file (see write_spec)."""
    return write_spec
