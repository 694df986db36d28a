"""The bundled spec database: every file checked, and the seed's RTX 3090 figures."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from roofline.devices import PRECISIONS, all_devices, bundled_specs_dir, get_device
from roofline.devices.schema import (
    CONSISTENCY_TOLERANCE,
    FIGURES,
    REQUIRED,
    consistency_problems,
    device_from_dict,
    load_device_file,
)
from roofline.errors import DeviceError

SPEC_FILES = sorted(bundled_specs_dir().glob("*.yaml"))


def test_database_size_and_required_devices():
    keys = {d.key for d in all_devices()}
    assert len(SPEC_FILES) >= 40
    for name in [
        "GTX 1080 Ti",
        "P100",
        "V100",
        "T4",
        "Quadro RTX 6000",
        "RTX 2080 Ti",
        "RTX 3090",
        "RTX 3090 Ti",
        "a100-40gb",
        "a100-80gb",
        "A10",
        "A30",
        "A40",
        "L4",
        "L40S",
        "h100-sxm",
        "h100-pcie",
        "H200",
        "GH200",
        "B200",
        "RTX 4090",
        "RTX 5090",
        "Jetson AGX Orin",
        "MI250X",
        "MI300X",
    ]:
        assert get_device(name).key in keys, name
    # variants that differ are separate entries
    assert {"a100-sxm4-40gb", "a100-sxm4-80gb", "a100-pcie-40gb", "a100-pcie-80gb"} <= keys
    assert {"h100-sxm", "h100-pcie"} <= keys


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_file(path: Path):
    raw = yaml.safe_load(path.read_text())
    for field in REQUIRED:
        assert raw.get(field) is not None, f"{path.name}: {field}"
    assert raw["key"] == path.stem
    dev = load_device_file(path)
    # units: vendor figures stated with the unit in the field name, converted to SI
    assert dev.memory_bytes == round(raw["memory_gb"] * 2**30)
    assert dev.memory_bandwidth_bytes_per_s == pytest.approx(raw["memory_bandwidth_gb_per_s"] * 1e9)
    for field in FIGURES:
        if field in raw:
            assert raw[field] > 0, field
    # every figure has a source
    ids = {s["id"] for s in raw["sources"]}
    covered = {c for s in raw["sources"] for c in s.get("covers", [])}
    assert {f for f in FIGURES if f in raw} <= covered
    for precision, pipes in raw["peaks"].items():
        assert precision in PRECISIONS
        for pipe, fig in pipes.items():
            assert pipe in ("tensor", "plain")
            assert fig["source"] in ids
            unit = "tops" if precision == "int8" else "tflops"
            assert fig[unit] > 0
    # dense peaks in op/s, all positive; the fp32 plain figure exists
    assert all(p.flops_per_s > 0 and math.isfinite(p.flops_per_s) for p in dev.peaks.values())
    assert dev.vector_peak("fp32").pipe == "plain"
    assert dev.matrix_peak("fp32").flops_per_s >= dev.vector_peak("fp32").flops_per_s
    # arithmetic consistency: within 2 % or an explained exception
    assert consistency_problems(raw, path.name) == []
    exceptions = raw.get("consistency_exceptions", {})
    fp32 = raw["peaks"]["fp32"]["plain"]["tflops"]
    if raw.get("fp32_lanes") and raw.get("boost_clock_mhz") and "fp32_peak" not in exceptions:
        expected = raw["fp32_lanes"] * 2 * raw["boost_clock_mhz"] * 1e6 / 1e12
        assert abs(fp32 / expected - 1) <= CONSISTENCY_TOLERANCE
    if (
        raw.get("bus_width_bits")
        and raw.get("memory_data_rate_gbps")
        and "bandwidth" not in exceptions
    ):
        expected = raw["bus_width_bits"] / 8 * raw["memory_data_rate_gbps"]
        assert abs(raw["memory_bandwidth_gb_per_s"] / expected - 1) <= CONSISTENCY_TOLERANCE
    # prices carry dates
    for amount, date in (("launch_usd", "launch_date"), ("cloud_usd_per_hour", "cloud_date")):
        if (raw.get("price") or {}).get(amount):
            assert raw["price"].get(date)


_PRECISION_WORD = re.compile(r"\b(fp64|tf32|fp16|bf16|fp8|int8)\b", re.IGNORECASE)


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_notes_about_missing_peaks_agree_with_behaviour(path: Path):
    # A note that says a precision's figure is "left out" must describe what the code
    # does: the precision is absent and asking for it is refused (peak() never falls
    # back to another precision's figure, so a note must not promise a fallback).
    dev = load_device_file(path)
    for note in dev.notes:
        if "left out" not in note:
            continue
        assert "falls back" not in note, f"{path.name}: {note}"
        subject = re.split(r"[(:]", note)[0]  # "FP16/BF16/TF32 tensor figures are not stated"
        for precision in {m.lower() for m in _PRECISION_WORD.findall(subject)}:
            assert precision not in dev.peaks, f"{path.name}: {precision} is in the peaks"
            with pytest.raises(DeviceError, match=f"no {precision} peak"):
                dev.matrix_peak(precision)


def test_orin_without_fp16_figure_is_refused_as_its_note_says():
    # NVIDIA's Jetson AGX Orin technical brief gives the GPU's 5.3 FP32 TFLOPs and
    # 170 sparse INT8 TOPs (85 dense), no FP16/BF16/TF32 tensor figure.
    orin = get_device("orin")
    assert orin.peak("fp32").flops_per_s == pytest.approx(5.3e12)
    assert orin.peak("int8").flops_per_s == pytest.approx(170e12 / 2)
    for precision in ("fp16", "bf16", "tf32"):
        with pytest.raises(DeviceError, match=f"has no {precision} peak"):
            orin.matrix_peak(precision)
    assert any("refused" in n and "fp16" in n for n in orin.notes)


def test_sparse_figures_are_stored_halved():
    # NVIDIA's H100 SXM datasheet quotes 1,979 TFLOPS FP16 "with sparsity": dense is half.
    h100 = get_device("h100-sxm")
    assert h100.peak("fp16").flops_per_s == pytest.approx(1979e12 / 2, rel=1e-3)
    # L4 datasheet: 485 TFLOPS FP8 with sparsity -> 242.5 dense
    assert get_device("l4").peak("fp8").flops_per_s == pytest.approx(242.5e12)


def test_geforce_fp16_is_fp32_accumulate():
    # GA102 whitepaper, RTX 3090: 142 dense FP16-accumulate, 71 with FP32 accumulate.
    fp16 = get_device("3090").peak("fp16")
    assert fp16.flops_per_s == pytest.approx(71e12)
    assert fp16.pipe == "tensor"
    assert "142" in fp16.note


def test_mi300x_exception_is_explained():
    raw = yaml.safe_load((bundled_specs_dir() / "mi300x.yaml").read_text())
    # 19456 lanes x 2 x 2.1 GHz = 81.7 TFLOP/s, AMD quotes 163.4 (packed FP32): needs the exception
    assert 19456 * 2 * 2.1e9 == pytest.approx(81.7e12, rel=1e-3)
    assert "fp32_peak" in raw["consistency_exceptions"]
    del raw["consistency_exceptions"]
    assert consistency_problems(raw, "mi300x.yaml")


class TestSeed3090:
    """Seed note 003: the RTX 3090 roofline."""

    def test_seed_arithmetic(self):
        # pi = 10496 cores x 1.7 GHz x 2 = 35,686.4 GFLOP/s; beta = 19.5 Gbps x 384 / 8 = 936 GB/s
        pi = 10496 * 1.7e9 * 2
        beta = 19.5e9 * 384 / 8
        assert pi == pytest.approx(35_686.4e9)
        assert beta == pytest.approx(936e9)
        assert pi / beta == pytest.approx(38.13, abs=0.01)

    def test_database_figures(self):
        d = get_device("3090")
        # datasheet boost 1.695 GHz: 10496 x 2 x 1.695 GHz = 35.58 TFLOP/s, stated as 35.6
        assert d.fp32_lanes == 10496
        assert d.boost_clock_hz == pytest.approx(1.695e9)
        assert d.peak("fp32").flops_per_s == pytest.approx(35.6e12, rel=2e-3)
        assert d.fp32_lanes * 2 * d.boost_clock_hz == pytest.approx(35.58e12, rel=1e-3)
        assert d.memory_bandwidth_bytes_per_s == pytest.approx(936e9)
        assert d.bus_width_bits / 8 * d.memory_data_rate_bits_per_s == pytest.approx(936e9)
        assert d.ridge_point("fp32") == pytest.approx(38.0, abs=0.15)
        assert d.memory_bytes == 24 * 2**30


def _base(**changes):
    data = {
        "key": "x",
        "name": "X",
        "vendor": "V",
        "kind": "gpu",
        "aliases": [],
        "architecture": "A",
        "memory_gb": 8,
        "memory_bandwidth_gb_per_s": 100,
        "tdp_watts": 100,
        "peaks": {"fp32": {"plain": {"tflops": 1, "source": "s"}}},
        "sources": [
            {
                "id": "s",
                "title": "T",
                "covers": ["memory_gb", "memory_bandwidth_gb_per_s", "tdp_watts"],
            }
        ],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"peaks": {"fp32": {"plain": {"tflops": -1, "source": "s"}}}}, "peaks.fp32.plain.tflops"),
        ({"peaks": {"fp32": {"plain": {"tflops": 0, "source": "s"}}}}, "peaks.fp32.plain.tflops"),
        (
            {
                "peaks": {
                    "fp32": {"plain": {"tflops": 1, "source": "s"}},
                    "fp4": {"tensor": {"tflops": 1, "source": "s"}},
                }
            },
            "peaks.fp4",
        ),
        ({"peaks": {"int8": {"tensor": {"tflops": 1, "source": "s"}}}}, "peaks.int8.tensor.tflops"),
        (
            {"peaks": {"fp32": {"plain": {"tflops": 1, "source": "nope"}}}},
            "peaks.fp32.plain.source",
        ),
        ({"peaks": {"fp16": {"tensor": {"tflops": 1, "source": "s"}}}}, "peaks.fp32"),
        ({"memory_gb": "lots"}, "memory_gb"),
        ({"tdp_watts": -5}, "tdp_watts"),
        ({"l2_mib": 6}, "l2_mib"),  # a figure no source covers
        ({"kind": "tpu"}, "kind"),
        ({"price": {"launch_usd": 100, "source": "s"}}, "price.launch_date"),
        ({"colour": "green"}, "colour"),
    ],
)
def test_bad_spec_names_file_and_field(changes, field):
    with pytest.raises(DeviceError) as err:
        device_from_dict(_base(**changes), "my.yaml")
    msg = str(err.value)
    assert msg.startswith("my.yaml: field ") and repr(field) in msg
    assert "\n" not in msg


def test_missing_required_field():
    data = _base()
    del data["memory_bandwidth_gb_per_s"]
    with pytest.raises(DeviceError, match=r"my.yaml: field 'memory_bandwidth_gb_per_s': missing"):
        device_from_dict(data, "my.yaml")


def test_inconsistent_figures_need_an_explanation():
    # 1000 lanes x 2 x 1 GHz = 2 TFLOP/s, but the file says 3
    data = _base(
        fp32_lanes=1000,
        boost_clock_mhz=1000,
        peaks={"fp32": {"plain": {"tflops": 3, "source": "s"}}},
    )
    data["sources"][0]["covers"] += ["fp32_lanes", "boost_clock_mhz"]
    with pytest.raises(DeviceError, match="fp32_peak"):
        device_from_dict(data, "my.yaml")
    data["consistency_exceptions"] = {
        "fp32_peak": "dual-issue FP32 counts two FMAs per lane per clock"
    }
    assert device_from_dict(data, "my.yaml").peak("fp32").flops_per_s == 3e12
    # bandwidth: 256 / 8 x 10 Gbps = 320 GB/s, file says 100
    data2 = _base(bus_width_bits=256, memory_data_rate_gbps=10)
    data2["sources"][0]["covers"] += ["bus_width_bits", "memory_data_rate_gbps"]
    with pytest.raises(DeviceError, match="bandwidth"):
        device_from_dict(data2, "my.yaml")


def test_stale_or_unexplained_exception_is_reported():
    data = _base(consistency_exceptions={"fp32_peak": "x"})
    assert any("written explanation" in p for p in consistency_problems(data))
    data = _base(
        fp32_lanes=500,
        boost_clock_mhz=1000,
        consistency_exceptions={"fp32_peak": "this check would pass, so the exception is stale"},
    )
    assert any("stale" in p for p in consistency_problems(data))


def test_malformed_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: [unclosed\n")
    with pytest.raises(DeviceError, match=r"bad.yaml:2:1: YAML syntax error"):
        load_device_file(bad)


def test_a_repeated_key_is_refused_with_its_line(tmp_path):
    # yaml.safe_load keeps the second 'memory_gb' without a word
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: x\nmemory_gb: 24\nmemory_gb: 48\n")
    with pytest.raises(DeviceError, match=r"bad.yaml:3: key 'memory_gb' appears twice"):
        load_device_file(bad)


def test_a_spec_file_that_is_not_text(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\n")
    with pytest.raises(DeviceError, match=r"bad.yaml: not UTF-8 text \(byte 6\)"):
        load_device_file(bad)
