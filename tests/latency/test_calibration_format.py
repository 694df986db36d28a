"""A stored calibration of another format is stale: never read with defaults for the
terms it lacks, measured again instead; and the format number moves with the plan."""

from __future__ import annotations

import dataclasses
import json

import pytest

from roofline.devices.model import Device, MeasuredCeilings
from roofline.errors import MeasurementError, StaleCalibrationError
from roofline.latency import calibrate, store
from roofline.latency.calibrate import FORMAT_VERSION, EfficiencyModel
from roofline.latency.predict import efficiency_of, predict
from tests.fixtures.golden import GOLDEN, check_golden
from tests.latency.test_predict import DEVICE, eff, hand_profile


def with_stored(record: dict) -> Device:
    m = MeasuredCeilings(
        {"fp32": 1e12}, {"fp32": 1e12}, 1e11, 1e-5, "now", "x", "h", extra={"efficiency": record}
    )
    return Device(**{**DEVICE.__dict__, "measured": m})


def older_record() -> dict:
    # what the first calibrations stored: format 1, no host issue costs, no internal
    # dispatch; read with defaults it mispriced recurrent layers and CUDA issue times
    d = eff().as_dict()
    del d["host_s"], d["internal_op_s"]
    return {**d, "format": 1}


def test_an_older_format_is_stale_not_read_with_defaults():
    with pytest.raises(StaleCalibrationError, match=r"older version of roofline \(format 1"):
        EfficiencyModel.from_dict(older_record())
    with pytest.raises(StaleCalibrationError, match="newer version"):
        EfficiencyModel.from_dict({**eff().as_dict(), "format": FORMAT_VERSION + 1})
    # the device's name and the fix are added where the device is known
    with pytest.raises(
        StaleCalibrationError, match=r"for Hand-made: run `roofline calibrate --gpu cpu`"
    ):
        efficiency_of(with_stored(older_record()))
    # the current format with a field missing is malformed, a plain MeasurementError
    bad = eff().as_dict()
    del bad["matrix"]
    with pytest.raises(MeasurementError, match="malformed") as info:
        EfficiencyModel.from_dict(bad)
    assert not isinstance(info.value, StaleCalibrationError)


def test_prediction_with_a_stale_calibration_is_naive_and_says_why():
    p = predict(hand_profile(), with_stored(older_record()))
    assert p.predicted_s is None and p.naive_s == pytest.approx(1.08e-3)
    assert p.explanation() == (p.note,)
    assert "older version of roofline" in p.note and "roofline calibrate --gpu cpu" in p.note
    # the current format is read and used
    assert predict(hand_profile(), with_stored(eff().as_dict())).predicted_s is not None


def test_bench_calibrates_again_over_a_stale_record(monkeypatch):
    device = with_stored(older_record())
    fresh = eff()
    calls = []
    monkeypatch.setattr(store, "device_for", lambda target: device)

    def calibrate_and_store(target, *, quick=False, progress=None, dtype="float32"):
        calls.append(target)
        return device, fresh

    monkeypatch.setattr(store, "calibrate_and_store", calibrate_and_store)
    said: list[str] = []
    got = store.ensure_efficiency("cpu", progress=said.append)
    assert got == (device, fresh) and calls == ["cpu"]
    assert said == [
        "the stored latency calibration was made by an older version of roofline "
        f"(format 1, this one reads {FORMAT_VERSION}) for Hand-made: calibrating now (once)"
    ]
    # a current record is used as it is
    monkeypatch.setattr(store, "device_for", lambda target: with_stored(eff().as_dict()))
    assert store.ensure_efficiency("cpu")[1] == eff() and calls == ["cpu"]


def plan() -> dict:
    """What a calibration measures and holds: the microbenchmark grids, the op classes
    and the model's fields. Changing any of them changes what a stored record means."""
    return {
        "grids": {
            name: dataclasses.asdict(getattr(calibrate, name))
            for name in ("CPU_FULL", "CPU_QUICK", "CUDA_FULL", "CUDA_QUICK")
        },
        "matrix_classes": list(calibrate.MATRIX_CLASSES),
        "memory_classes": list(calibrate.MEMORY_CLASSES),
        "memory_variants": list(calibrate.MEMORY_VARIANTS),
        "pool_family": {k: list(v) for k, v in calibrate.POOL_FAMILY.items()},
        "wider_pool_max_elems": calibrate.WIDER_POOL_MAX_ELEMS,
        "pool_plane": calibrate.POOL_PLANE,
        "short_row": calibrate.SHORT_ROW,
        "cold_gemm": [calibrate.COLD_BYTES, calibrate.COLD_MAX_COPIES],
        "context_rounds": [calibrate.CONTEXT_ROUNDS, list(calibrate.CONTEXT_REPEAT)],
        "avg_pool_family": {k: list(v) for k, v in calibrate.AVG_POOL_FAMILY.items()},
        "elementwise_functions": {
            k: reads for k, (_, reads) in calibrate.ELEMENTWISE_FUNCTIONS.items()
        },
        "fields": [f.name for f in dataclasses.fields(EfficiencyModel)],
    }


def test_the_format_number_moves_with_the_plan():
    text = json.dumps({"format": FORMAT_VERSION, "plan": plan()}, indent=1, sort_keys=True)
    current = json.loads(text)  # tuples as the stored lists
    text += "\n"
    path = GOLDEN / "calibration_plan.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored["plan"] != current["plan"] and stored["format"] == FORMAT_VERSION:
            pytest.fail(
                "the calibration plan changed but FORMAT_VERSION is still "
                f"{FORMAT_VERSION}: bump it in roofline/latency/calibrate.py (calibrations "
                "stored by the old plan would be read as current), then regenerate with "
                "ROOFLINE_REGEN_GOLDEN=1"
            )
    check_golden("calibration_plan.json", text)


def test_speed_check_says_when_the_machine_moved_since_the_calibration(monkeypatch):
    fitted = dataclasses.replace(eff(), info={"reference_s": 1e-3}, measured_at="then")
    assert store.speed_check(fitted, "cpu", timer=lambda: 1.1e-3) is None  # within 15%
    faster = store.speed_check(fitted, "cpu", timer=lambda: 0.5e-3)
    assert "now runs 2.0x faster than when it was calibrated (then;" in faster
    assert "0.50 ms now, 1.00 ms then" in faster and "roofline calibrate --gpu cpu" in faster
    assert "30% slower" in store.speed_check(fitted, "cpu", timer=lambda: 1.3e-3)
    assert store.speed_check(eff(), "cpu", timer=lambda: 1.0) is None  # no reference kept
    # the second local GPU's fit: the command names it
    gpu = dataclasses.replace(fitted, kind="gpu")
    assert "roofline calibrate --gpu local:1`" in store.speed_check(
        gpu, "cuda:1", timer=lambda: 2e-3
    )
    # a bf16 fit is refitted by a bf16 calibration: the plain command would fit fp32
    bf16 = dataclasses.replace(fitted, dtype="bfloat16")
    assert "(`roofline calibrate --gpu cpu --dtype bf16`)" in store.speed_check(
        bf16, "cpu", timer=lambda: 0.5e-3
    )
    # bench's stored calibration gets the check, on its progress line
    monkeypatch.setattr(store, "device_for", lambda target: with_stored(fitted.as_dict()))
    monkeypatch.setattr(store, "reference_time", lambda dev, sync: 2e-3)
    said: list[str] = []
    store.ensure_efficiency("cpu", progress=said.append)
    assert said and said[0].startswith("note: this machine now runs 2.0x slower")


def test_a_bf16_fit_is_stored_beside_the_fp32_one(monkeypatch):
    # calibrating for bf16 models must not replace the fp32 fit (and back)
    import torch

    from roofline.devices import get_device, host_cpu

    monkeypatch.setattr(host_cpu, "FULL", host_cpu.QUICK)
    fp32 = dataclasses.replace(eff(), threads=torch.get_num_threads())
    bf16 = dataclasses.replace(fp32, dtype="bfloat16", launch_overhead_s=7e-6)
    store.store_efficiency(fp32)
    store.store_efficiency(bf16)
    cpu = get_device("cpu")
    assert efficiency_of(cpu) == fp32 and efficiency_of(cpu, "bfloat16") == bf16
    store.store_efficiency(dataclasses.replace(fp32, launch_overhead_s=3e-6))
    assert efficiency_of(get_device("cpu"), "bfloat16") == bf16
    assert efficiency_of(get_device("cpu")).launch_overhead_s == 3e-6
