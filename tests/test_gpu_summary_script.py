"""benchmarks/gpu_summary.py: the one page a later session reads to fill the docs.

Fed results written here by hand in the formats latency_accuracy.py --json and
vram_accuracy.py write; the expected verdicts are worked out in the comments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_summary  # noqa: E402

MODELS = [f"m{i}" for i in range(10)]


def _latency(errs: list[float]) -> dict:
    """10 models x batch {1, 8, 32}: the cases in order, each with its calibrated error."""
    cases = [
        {"model": m, "batch": b, "predicted_err": e, "naive_err": 2 * e}
        for (m, b), e in zip(((m, b) for b in (1, 8, 32) for m in MODELS), errs, strict=True)
    ]
    return {"device": "cuda", "calibration_s": 61.0, "cases": cases}


def _vram(ratios: list[float]) -> dict:
    rows = []
    it = iter(ratios)
    for m in ("a", "b", "c", "d", "e"):
        for mode in ("inference", "training"):
            for b in (8, 32):
                rows.append({"model": m, "mode": mode, "batch": b, "ratio_allocated": next(it)})
    return {"rows": rows}


def _write(tmp_path: Path, latency: dict | None, vram: dict | None, log: str = "") -> Path:
    if latency is not None:
        (tmp_path / "latency_cuda.json").write_text(json.dumps(latency))
    if vram is not None:
        (tmp_path / "vram_accuracy.json").write_text(json.dumps(vram))
    (tmp_path / "session.log").write_text(log)
    return tmp_path


def test_targets_met_at_their_bounds(tmp_path):
    # 24 cases at +5 % and 6 at -30 %: MAPE (24 x 5 + 6 x 30) / 30 = 10.0 % (<= 10) and
    # 24 / 30 = 80 % within +-10 % (>= 80): both bounds met exactly
    lat = _latency([0.05] * 24 + [-0.30] * 6)
    # 20 VRAM cases from 0.95 to 1.10, the band's ends included
    vram = _vram([0.95, 1.10] + [1.0] * 18)
    text = gpu_summary.summary(_write(tmp_path, lat, vram))
    lat_part = text.split("## Latency")[1].split("##")[0]
    assert "**met**" in lat_part and "**missed**" not in lat_part
    assert "calibrated MAPE: 10.0 % (+0.0 points" in lat_part
    assert "within +-10 %: 80 % (+0 points" in lat_part
    assert "naive roofline MAPE: 20.0 %" in lat_part  # every naive error twice the calibrated
    vram_part = text.split("## VRAM")[1].split("##")[0]
    assert "**met**" in vram_part and "0.950-1.100; 20 of 20 in band" in vram_part


def test_a_miss_says_by_how_much(tmp_path):
    # one +5 % case at +12 % instead: MAPE (23 x 5 + 12 + 6 x 30) / 30 = 307 / 30 = 10.23 %,
    # 23 / 30 = 76.7 % within +-10 %
    lat = _latency([0.12] + [0.05] * 23 + [-0.30] * 6)
    # one case under-predicted by 6 % (0.94 < 0.95)
    vram = _vram([0.94] + [1.0] * 19)
    text = gpu_summary.summary(_write(tmp_path, lat, vram))
    lat_part = text.split("## Latency")[1].split("##")[0]
    assert "**missed**" in lat_part
    assert "calibrated MAPE: 10.2 % (+0.2 points" in lat_part
    assert "within +-10 %: 77 % (-3 points" in lat_part
    vram_part = text.split("## VRAM")[1].split("##")[0]
    assert "**missed**" in vram_part and "out of band: a inference b8 0.940" in vram_part


def test_short_coverage_is_a_miss(tmp_path):
    # every case exact, but batch 32 never ran (the step's limit): 20 cases, not 30
    lat = _latency([0.0] * 20 + [0.0] * 10)
    lat["cases"] = [c for c in lat["cases"] if c["batch"] != 32]
    text = gpu_summary.summary(_write(tmp_path, lat, None))
    lat_part = text.split("## Latency")[1].split("##")[0]
    assert "**missed**" in lat_part and "coverage short of the target" in lat_part
    assert "vram_accuracy.json is missing" in text


def test_steps_and_tests_from_the_log(tmp_path):
    log = (
        "== machine\nNVIDIA H200, 143771 MiB\ntorch 2.11.0 cuda True\n"
        "== vram (at most 160 s, at 9 s): python3 benchmarks/vram_accuracy.py\n"
        "rc=0 after 120 s\n"
        "== latency (at most 240 s, at 129 s): python3 benchmarks/latency_accuracy.py\n"
        "rc=124 after 240 s\n"
        "== tests (at most 65 s, at 369 s): python3 -m pytest tests/gpu\n"
        "FAILED tests/gpu/test_cuda.py::test_x - AssertionError\n"
        "=================== 1 failed, 9 passed in 30.12s ===================\n"
        "rc=1 after 31 s\n"
        "== calibrate skipped: 7 s left of the 555 s budget\n"
        "== layers (at most 35 s, at 400 s): python3 benchmarks/per_layer_method.py\n"
        "| resnet18 b1 | 1.02 |\n"
    )
    text = gpu_summary.summary(_write(tmp_path, None, None, log))
    assert "    NVIDIA H200, 143771 MiB" in text  # the machine lines, indented
    assert "- pytest: 1 failed, 9 passed" in text
    assert "- FAILED tests/gpu/test_cuda.py::test_x - AssertionError" in text
    assert "| latency | 240 | 124 (time limit) | 240 |" in text
    assert "| calibrate | | skipped: 7 s left of the 555 s budget | |" in text
    assert "| layers | 35 | (stopped inside) | |" in text  # the session ended inside it
    assert "| resnet18 b1 | 1.02 |" in text
    assert "latency_cuda.json is missing" in text


def test_a_part_file_stands_in_for_a_missing_result(tmp_path):
    # the step was stopped between writing the .part and renaming it
    lat = _latency([0.05] * 30)
    (tmp_path / "latency_cuda.json.part").write_text(json.dumps(lat))
    text = gpu_summary.summary(_write(tmp_path, None, None))
    assert "cases: 30 (10 models, batches [1, 8, 32])" in text


def test_ceilings_beside_the_datasheet(tmp_path):
    # the H200 datasheet's 4.8 TB/s (gpu_specs/h200-sxm.yaml): 4.32 TB/s copied is 90 %
    folder = tmp_path / "cache" / "measured"
    folder.mkdir(parents=True)
    record = {
        "name": "gpu-h200-sxm",
        "device": "h200-sxm",
        "ceilings": {"copy_bandwidth_bytes_per_s": 4.32e12, "launch_overhead_s": 4.5e-6},
    }
    (folder / "gpu-h200-sxm.json").write_text(json.dumps(record))
    text = gpu_summary.summary(_write(tmp_path, None, None))
    assert "- copy: 4320 GB/s = 90 % of 4800" in text
    assert "- launch overhead: 4.5 µs" in text


def test_a_malformed_file_costs_only_its_section(tmp_path):
    # a VRAM row without its mode: the VRAM section says why, the latency one stands
    lat = _latency([0.05] * 30)
    vram = {"rows": [{"model": "a", "batch": 8, "ratio_allocated": 1.0}]}
    text = gpu_summary.summary(_write(tmp_path, lat, vram))
    assert "(vram_section failed: KeyError: 'mode')" in text
    assert "calibrated MAPE: 5.0 %" in text  # 30 cases at 5 %
