"""Code paths that only run on a CUDA machine, run on the CPU: NVML faked (tests/devices'
fake pynvml), torch.cuda and the measurements replaced where they would touch a GPU."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from roofline.devices import calibrate as gpu_calibrate
from roofline.devices.cache import save_measured
from roofline.devices.model import MeasuredCeilings
from roofline.latency import store
from roofline.latency.predict import efficiency_of
from tests.devices.test_devices_nvml import fake_pynvml
from tests.latency.test_predict import DEVICE, eff

H200 = {
    "name": "NVIDIA H200",
    "memory": 143771 * 2**20,
    "cc": (9, 0),
    "sm_clock": 1980,
    "mem_clock": 3201,
    "bus": 6144,
    "power_mw": 700_000,
    "mig": 0,
}


@pytest.fixture
def h200(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H200]))
    measured: list[int] = []

    def calibrate_cuda(device, index=0, quick=False, progress=None):
        # what the real one stores (seconds of GEMMs and copies on the card)
        m = MeasuredCeilings({"fp16": 7e14}, {"fp32": 5e13}, 4e12, 5e-6, "now", "t", "h")
        save_measured(gpu_calibrate.gpu_cache_name(device.key), m, {"kind": "gpu"})
        measured.append(index)
        return m

    monkeypatch.setattr(gpu_calibrate, "calibrate_cuda", calibrate_cuda)
    fits: list[str] = []

    def calibrate_efficiency(target, **kw):
        fits.append(target)
        return dataclasses.replace(eff(True), kind="gpu", device=kw["device_key"])

    monkeypatch.setattr(store, "calibrate_efficiency", calibrate_efficiency)
    return measured, fits


def test_a_gpu_fit_without_stored_ceilings_measures_them_first(h200):
    # `bench --device cuda` before any `roofline calibrate`: the fit (minutes on the
    # card) used to be refused at the end for want of ceilings to store it beside
    measured, fits = h200
    said: list[str] = []
    device, fit = store.calibrate_and_store("local", progress=said.append)
    assert measured == [0] and fits == ["cuda:0"]
    assert "no measured ceilings for NVIDIA H200" in said[0]
    assert device.key == "h200-sxm" and efficiency_of(device) == fit
    # stored: the next one measures the ceilings no more
    store.calibrate_and_store("local")
    assert measured == [0] and len(fits) == 2


def test_profile_measure_runs_on_the_gpu_it_was_given(monkeypatch):
    # --gpu local:1 --measure: the second GPU's model is measured on the second GPU
    from roofline.cli.profile_cmd import _measure_target
    from roofline.devices import get_device

    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H200, H200]))
    assert _measure_target(get_device("local:1")) == "cuda:1"
    assert _measure_target(get_device("local")) == "cuda:0"
    assert _measure_target(DEVICE) == "cpu"  # the host CPU (kind cpu)
