"""benchmarks/latency_accuracy.py's record of each case (the measurement needs minutes;
the record is what a GPU run leaves to study offline, so it is checked here)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import pytest

from roofline.latency.calibrate import EfficiencyModel
from roofline.latency.predict import predict
from tests.fixtures.scripts import load_benchmark
from tests.latency.test_predict import DEVICE, eff, hand_profile


@pytest.fixture(scope="module")
def la():
    return load_benchmark("latency_accuracy")


def _args(tmp_path) -> argparse.Namespace:
    return argparse.Namespace(
        device="cpu",
        mode="inference",
        out=str(tmp_path / "r.md"),
        json=str(tmp_path / "r.json"),
        quick_calibration=True,
    )


def test_prediction_summary_by_hand(la):
    s = la.prediction_summary(predict(hand_profile(), DEVICE, efficiency=eff()))
    # GEMM kernel 1e9 / 2.5e11 = 4e-3 s, ReLU 8e6 B / 4e10 B/s = 2e-4 s (test_predict)
    assert s["kernel_by_class_s"] == pytest.approx({"elementwise": 2e-4, "gemm": 4e-3})
    assert s["ops_by_class"] == {"elementwise": 1, "gemm": 1}
    assert s["kernel_s"] == pytest.approx(4.2e-3)
    # 10 µs per op and 1 µs for each of the 3 module calls
    assert s["overhead_s"] == pytest.approx(2.3e-5)


def test_json_record_has_every_case_and_the_fitted_model(la, tmp_path):
    pred = predict(hand_profile(), DEVICE, efficiency=eff())
    rows = [("hand", 4, 5e-3, 1e-4, pred.naive_s, -0.78, pred.predicted_s, -0.16, 9, 0.1, 1.07)]
    args = _args(tmp_path)
    summaries = {("hand", 4): la.prediction_summary(pred)}
    t = time.perf_counter()
    la.write_results(
        args, {"python": "x"}, eff(), rows, {"hand": ["why"]}, summaries, t, 1.0, quiet=True
    )
    doc = json.loads((tmp_path / "r.json").read_text())
    (case,) = doc["cases"]
    assert case["model"] == "hand" and case["batch"] == 4 and case["measured_s"] == 5e-3
    assert case["prediction"]["kernel_s"] == pytest.approx(4.2e-3)
    assert EfficiencyModel.from_dict(doc["efficiency"]) == eff()  # re-predict offline
    assert doc["dtype"] == "float32"  # the dtype the models ran and the fit timed at
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# Latency accuracy on cpu (inference, fp32)")
    assert "| hand | 4 | 5.00 | 0.10 |" in md and "- **hand**: why" in md
    # the machine's speed at the case against the calibration's: 7% slower
    assert case["speed_vs_calibration"] == 1.07 and "| 9 | 1.07 |" in md
    assert not list(tmp_path.glob("*.part"))  # written whole (a .part renamed)


def test_speed_vs_calibration_times_the_reference_again(la, monkeypatch):
    import torch

    # the reference GEMM took 2 ms at the end of the calibration and 2.5 ms now: 1.25
    monkeypatch.setattr(la, "reference_time", lambda dev, sync: 2.5e-3)
    fitted = dataclasses.replace(eff(), info={"reference_s": 2e-3})
    assert la.speed_vs_calibration(fitted, torch.device("cpu")) == pytest.approx(1.25)
    assert la.speed_vs_calibration(eff(), torch.device("cpu")) is None  # none measured
    assert la.speed_cell(None) == "" and la.speed_cell(1.254) == "1.25"


def test_a_write_stopped_midway_leaves_the_last_whole_file(la, tmp_path, monkeypatch):
    # the lent GPU's step limit can stop the script inside a write: the cases written
    # after the previous case must survive it
    from pathlib import Path

    path = tmp_path / "r.json"
    la.write_whole(path, '{"cases": [1]}\n')

    def stopped(self, text, encoding=None):
        Path.write_bytes(self, text[:5].encode())
        raise KeyboardInterrupt  # what SIGTERM's default handling amounts to here

    monkeypatch.setattr(Path, "write_text", stopped)
    with pytest.raises(KeyboardInterrupt):
        la.write_whole(path, '{"cases": [1, 2]}\n')
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"cases": [1]}


def test_the_record_is_written_before_any_case(la, tmp_path):
    # written right after the calibration, so a run cut short in its first case still
    # leaves the fitted model (a lent GPU's step has a time limit)
    args = _args(tmp_path)
    la.write_results(args, {}, eff(), [], {}, {}, time.perf_counter(), 1.0, quiet=True)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["cases"] == [] and EfficiencyModel.from_dict(doc["efficiency"]) == eff()
    assert (tmp_path / "r.md").exists()


def test_repredict_drops_and_borrows_fits():
    import dataclasses

    from roofline.latency.calibrate import CurveFit

    rp = load_benchmark("repredict")
    fitted = dataclasses.replace(
        eff(), memory={**eff().memory, "norm.train": CurveFit((1e3,), (5e9,))}
    )
    dropped = rp.without(fitted, "norm.train,gemm")
    assert "norm.train" not in dropped.memory and "gemm" not in dropped.matrix
    assert "depthwise_conv" in dropped.matrix and "elementwise" in dropped.memory
    back = rp.borrowed(dropped, fitted, "norm.train")
    assert back.memory["norm.train"] == fitted.memory["norm.train"]
    with pytest.raises(SystemExit, match=r"no fit 'pool\.backward'"):
        rp.borrowed(dropped, fitted, "pool.backward")


def test_repredict_prices_the_idw_variant_by_the_old_fit():
    # --idw: every matrix fit priced by inverse-distance weighting (the fit before
    # 2026-12-04). Two GEMM points, log2 m = 0 and 2, at 1e9 and 4e9 FLOP/s. At m = 1.5
    # (log2 0.585) the distances are 0.585 and 1.415, the weights 1/0.585² = 2.922 and
    # 1/1.415² = 0.4995: rate 1e9 · 4^(0.4995 / 3.4215) = 1e9 · 4^0.146 = 1.224e9. The
    # current fit, halfway-in-log interpolation: 1e9 · 4^(0.585 / 2) = 1e9 · 2^0.585 = 1.5e9
    import dataclasses

    from roofline.latency.calibrate import GridFit

    rp = load_benchmark("repredict")
    g = GridFit(((0.0, 6.0, 6.0), (2.0, 6.0, 6.0)), (1e9, 4e9))
    conv = GridFit(((0.0, 0.0, 0.0, 0.0),), (1e9,), categorical=(3,))
    old = rp.idw(dataclasses.replace(eff(), matrix={"gemm": g, "conv": conv}))
    assert old.matrix["gemm"].rate((1.5, 64, 64)) == pytest.approx(1.224e9, rel=1e-3)
    assert g.rate((1.5, 64, 64)) == pytest.approx(1.5e9)
    assert old.matrix["conv"].categorical == (3,)
    # public functions carry type hints: the override is annotated as what it overrides
    assert rp.IdwGridFit.rate.__annotations__ == GridFit.rate.__annotations__
    assert rp.predicted_s.__annotations__["prof"] == "ModelProfile"


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "-1"], ["--batch", "0"]])
def test_threads_and_batch_are_bounded_as_benchs(la, argv, capsys):
    # --threads -1 was a RuntimeError traceback from torch.set_num_threads, and 0
    # silently ran at torch's default: a usage error (exit 2) instead
    with pytest.raises(SystemExit) as exc:
        la.parser().parse_args(argv)
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err
    assert la.parser().parse_args(["--threads", "1", "--batch", "1", "8"]).batch == [1, 8]


def test_calibration_progress_carries_the_seconds_so_far(la, monkeypatch, capsys):
    # a latency step cut short inside its calibration writes no file: its log lines
    # must say where the time went
    import re

    def fit(device, *, quick, dtype, device_key, progress):
        progress("gemm over 96 sizes")
        progress("convolutions")
        return "fitted"

    monkeypatch.setattr(la, "calibrate_efficiency", fit)
    assert la.calibrate("cpu") == "fitted"
    err = capsys.readouterr().err
    assert re.search(r"^  calibrate \[\s*\d+ s\]: gemm over 96 sizes$", err, re.M)
    assert re.search(r"^  calibrate \[\s*\d+ s\]: convolutions$", err, re.M)
