"""`roofline profile --gpu cpu --measure`: naive, calibrated and measured latency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roofline.cli import main

SPEC = """\
name: TinyCNN
model: tests.fixtures.models:tiny_cnn
inputs:
  - shape: [4, 3, 8, 8]
"""


@pytest.fixture
def quick_calibration(monkeypatch, tmp_path):
    """A private cache, and quick (seconds-long) calibrations instead of full ones."""
    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    from roofline.devices import host_cpu
    from roofline.latency import store

    real_measure, real_ensure = host_cpu.measure, store.ensure_efficiency
    monkeypatch.setattr(
        host_cpu, "measure", lambda quick=False, progress=None: real_measure(True, progress)
    )
    monkeypatch.setattr(
        store,
        "ensure_efficiency",
        lambda target, quick=False, progress=None, dtype="float32": real_ensure(
            target, quick=True, dtype=dtype
        ),
    )


def test_measure_reports_naive_calibrated_and_measured(tmp_path: Path, capsys, quick_calibration):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out_json, out_html = tmp_path / "m.json", tmp_path / "m.html"
    argv = ["profile", str(spec), "--gpu", "cpu", "--measure", "--depth", "1"]
    assert main([*argv, "--json", str(out_json), "--html", str(out_html)]) == 0
    out = capsys.readouterr().out
    assert "measured ms" in out and "total (end to end)" in out
    data = json.loads(out_json.read_text())
    keys = {"naive_s", "predicted_s", "measured_s", "measured_spread_s"}
    assert set(data["latency"]) == keys
    assert data["latency"]["measured_s"] > 0 and data["latency"]["predicted_s"] > 0
    rows = [row for row in data["layers"] if "latency" in row]
    assert {row["name"] for row in rows} >= {"conv", "bn", "pool", "fc"}
    assert all(set(row["latency"]) == keys for row in rows)
    page = out_html.read_text()
    assert "Predicted and measured latency" in page
    assert '"meta":"latency"' in page.replace(" ", "")  # measured points on the roofline
    # which calibration priced it: its dtype and when it was fitted
    assert "on this machine (fp32 kernels, fitted 20" in page
    # profile --measure times its layers with hooks, and the note says what timed them
    assert "(per layer: module hooks (the clock read at every module boundary))" in page


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--gpu", "3090"], "is a datasheet entry; use --gpu cpu or --gpu local"),
        ([], "--measure needs --gpu cpu or --gpu local"),
    ],
)
def test_measure_needs_this_machine(tmp_path: Path, capsys, extra, match):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    assert main(["profile", str(spec), "--measure", *extra]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_measure_refuses_a_run_that_would_not_fit_before_calibrating(
    tmp_path: Path, capsys, monkeypatch
):
    from roofline.counting import real
    from roofline.latency import store

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 1000)
    calibrated = []
    monkeypatch.setattr(store, "ensure_efficiency", lambda *a, **k: calibrated.append(a))
    rc = main(["profile", str(spec), "--gpu", "cpu", "--measure"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "--measure runs 'TinyCNN' (batch 4, inference) on cpu needs about" in last
    assert "1000 B is free" in last
    assert not calibrated  # refused before a calibration was spent on it


def test_measure_sizes_the_run_once(tmp_path: Path, capsys, monkeypatch):
    from roofline.counting import real
    from roofline.latency import store
    from tests.latency.test_predict import eff

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    sized = []
    run_bytes = real.run_bytes
    monkeypatch.setattr(real, "run_bytes", lambda s: sized.append(s.batch) or run_bytes(s))
    monkeypatch.setattr(store, "ensure_efficiency", lambda *a, **k: (None, eff()))
    assert main(["profile", str(spec), "--gpu", "cpu", "--measure", "--depth", "1"]) == 0
    assert sized == [4]  # before the calibration, not again when the run starts


def test_measure_progress_lines_are_named_after_the_command(tmp_path: Path, capsys, monkeypatch):
    # bench's progress reads "bench: ...", calibrate's "calibrate: ..."; profile
    # --measure's had no prefix at all ("TinyCNN b4: run 1/2")
    from roofline.latency import store
    from tests.latency.test_predict import eff

    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)

    def ensure(target, quick=False, progress=None, dtype="float32"):
        progress("no latency calibration stored: calibrating now (once)")
        return None, eff()

    monkeypatch.setattr(store, "ensure_efficiency", ensure)
    argv = ["profile", str(spec), "--gpu", "cpu", "--measure", "--warmup", "1", "--repeat", "2"]
    assert main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "profile: no latency calibration stored: calibrating now (once)" in lines
    assert "profile: TinyCNN b4: warm-up 1/1" in lines and "profile: TinyCNN b4: run 2/2" in lines
    assert all(line.startswith("profile: ") for line in lines), lines


def test_measure_html_without_a_calibrated_time_says_so(tmp_path: Path, capsys, quick_calibration):
    # fp16 on the CPU: no calibration can time it, so the prediction is the naive
    # roofline only; the HTML's end-to-end line read "calibrated - (-)"
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    out_html = tmp_path / "h.html"
    argv = ["profile", str(spec), "--gpu", "cpu", "--measure", "--dtype", "fp16"]
    assert main([*argv, "--depth", "1", "--html", str(out_html)]) == 0
    capsys.readouterr()
    page = out_html.read_text()
    assert "no calibrated time (below: why)" in page
    assert "calibrated <b>-</b>" not in page
    assert "no calibration can time fp16 kernels on the CPU" in page  # the why


def test_measure_takes_benchs_timing_options(tmp_path: Path, capsys, monkeypatch):
    # --warmup/--repeat reach the measurement and --threads is set before the
    # calibration (kept per thread count), as in `roofline bench`
    import torch

    from roofline.cli import profile_cmd

    seen: dict = {}

    def stop(*args, **kwargs):
        seen.update(kwargs, threads=torch.get_num_threads())
        raise profile_cmd.RooflineError("stopped")

    import importlib

    # the module (the package's `measure` attribute is the function)
    measure_module = importlib.import_module("roofline.latency.measure")
    monkeypatch.setattr(measure_module, "measure", stop)
    monkeypatch.setattr("roofline.latency.store.calibratable", lambda *a: False)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    before = torch.get_num_threads()
    argv = ["profile", str(spec), "--gpu", "cpu", "--measure", "--warmup", "1", "--repeat", "2"]
    try:
        assert main([*argv, "--threads", "1"]) == 2
    finally:
        torch.set_num_threads(before)
    assert (seen["warmup"], seen["repeat"], seen["threads"]) == (1, 2, 1)
    assert "stopped" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "what"),
    [
        (["--warmup", "1"], "times a measurement"),
        (["--repeat", "5"], "times a measurement"),
        (["--threads", "1"], "times a measurement"),
        (["--quick"], "sets the calibration"),
    ],
)
def test_timing_options_without_measure_are_refused(tmp_path: Path, capsys, option, what):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    assert main(["profile", str(spec), *option]) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} {what} of --measure: add --measure" in err and err.count("\n") == 1


def test_measure_quick_asks_for_a_quick_calibration(tmp_path: Path, capsys, monkeypatch):
    # as `bench --quick`: the calibration profile --measure runs by itself is the quick one
    from roofline.latency import store
    from tests.latency.test_predict import eff

    asked = []

    def fit(target, quick=False, progress=None, dtype="float32"):
        asked.append(quick)
        return None, eff()

    monkeypatch.setattr(store, "ensure_efficiency", fit)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    argv = ["profile", str(spec), "--gpu", "cpu", "--measure", "--warmup", "0", "--repeat", "1"]
    assert main([*argv, "--quick"]) == 0 and main(argv) == 0
    assert asked == [True, False]


def test_measure_threads_are_set_before_the_cpu_device_is_read(tmp_path: Path, capsys, monkeypatch):
    # --gpu cpu's ceilings and name ("... (1 thread)") are those of the thread count the
    # model is timed at: the device was read at torch's default count before --threads
    # took effect, so the roofline said "(2 threads)" beside a 1-thread measurement
    import torch

    from roofline.cli import _device_args
    from roofline.errors import RooflineError

    seen = []

    def device_from_args(args):
        seen.append(torch.get_num_threads())
        raise RooflineError("stopped")

    monkeypatch.setattr(_device_args, "device_from_args", device_from_args)
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    before = torch.get_num_threads()
    try:
        assert main(["profile", str(spec), "--gpu", "cpu", "--measure", "--threads", "1"]) == 2
        torch.set_num_threads(before)
        assert main(["profile", str(spec), "--gpu", "cpu"]) == 2  # no --measure: untouched
    finally:
        torch.set_num_threads(before)
    assert seen == [1, before]
