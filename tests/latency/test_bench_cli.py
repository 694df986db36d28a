"""`roofline bench` end to end on a tiny model, and its bad-input messages."""

from __future__ import annotations

import json
import re

import pytest
import torch

from roofline.cli import main
from roofline.latency.store import store_efficiency
from tests.latency.test_predict import eff

TINY = """\
name: TinyCNN
model: tests.fixtures.models:TinyCNN
inputs:
  - shape: [2, 3, 8, 8]
"""


def spec(tmp_path, text=TINY, name="tiny.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bench_measure_only(tmp_path, capsys, monkeypatch):
    import importlib

    measure = importlib.import_module("roofline.latency.measure")
    monkeypatch.setattr(measure, "allocator_note", lambda device: "glibc's allocator ...")
    rc = main(
        [
            "bench",
            str(spec(tmp_path)),
            "--no-predict",
            "--warmup",
            "1",
            "--repeat",
            "2",
            "--per-layer",
            "none",
            "--batch",
            "1",
            "2",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    assert "batch 1" in out and "batch 2" in out and "median" in out
    assert "bench: TinyCNN b2: run 2/2" in err  # progress on stderr
    assert "bench: note: glibc's allocator ..." in err  # the allocator note, once, on stderr
    assert err.count("note: glibc") == 1


def test_bench_with_prediction_json(tmp_path, capsys, monkeypatch):
    # a stored hand-made calibration, so the test does not calibrate (fast, no timing)
    from roofline.devices import host_cpu

    monkeypatch.setattr(host_cpu, "FULL", host_cpu.QUICK)
    store_efficiency(eff().__class__(**{**eff().__dict__, "threads": torch.get_num_threads()}))
    out_json = tmp_path / "r.json"
    rc = main(
        [
            "bench",
            str(spec(tmp_path)),
            "--warmup",
            "1",
            "--repeat",
            "2",
            "--layer-passes",
            "1",
            "--json",
            str(out_json),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "total (end to end)" in out and "calibrated" in out
    data = json.loads(out_json.read_text())
    keys = {"naive_s", "predicted_s", "measured_s", "measured_spread_s"}
    run = data["runs"][0]
    assert set(run["latency"]) == keys and run["latency"]["measured_s"] > 0
    assert run["layers"] and all(set(r["latency"]) == keys for r in run["layers"])
    assert any(r["latency"]["measured_s"] for r in run["layers"])
    # the two timed runs themselves, beside their count and their median
    e2e = run["measurement"]["end_to_end"]
    assert e2e["samples"] == 2 and len(e2e["samples_s"]) == 2
    assert sorted(e2e["samples_s"]) == [e2e["min_s"], e2e["max_s"]]
    assert run["latency"]["measured_s"] == pytest.approx(sum(e2e["samples_s"]) / 2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_bench_cuda_without_cuda(tmp_path, capsys):
    rc = main(["bench", str(spec(tmp_path)), "--device", "cuda"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "CUDA is not available" in err


def test_bench_model_failing_on_real_tensors(tmp_path, capsys):
    text = TINY.replace("tests.fixtures.models:TinyCNN", "tests.fixtures.models:FailsOnRealTensors")
    text = text.replace("[2, 3, 8, 8]", "[2, 4]")
    rc = main(["bench", str(spec(tmp_path, text)), "--no-predict", "--repeat", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    # progress lines, then exactly one error line and no traceback
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("roofline: error:") and err.count("roofline: error") == 1
    assert "failed on real tensors" in last and "ValueError" in last


def test_bench_out_of_memory_reports_largest_batch(tmp_path, capsys):
    text = TINY.replace("tests.fixtures.models:TinyCNN", "tests.fixtures.models:OomAboveBatch2")
    text = text.replace("[2, 3, 8, 8]", "[2, 4]")
    rc = main(
        [
            "bench",
            str(spec(tmp_path, text)),
            "--no-predict",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--per-layer",
            "none",
            "--batch",
            "1",
            "2",
            "4",
            "8",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 2
    assert "batch 2" in out  # the batches that ran are shown
    last = err.strip().splitlines()[-1]
    assert "batch 4" in last and "out of memory" in last and "largest batch that ran: 2" in last


def test_bench_out_of_memory_making_a_batch_names_that_batch(tmp_path, capsys, monkeypatch):
    from roofline.spec import ModelSpec

    # a GPU runs out of memory where it allocates the batch's inputs, before the run:
    # the failure still names the batch that did not fit, not only the one that ran
    example_inputs = ModelSpec.example_inputs

    def inputs(self, device="cpu"):
        # measure's real inputs (a torch.device; the memory check's fake ones are "cpu")
        if self.batch > 2 and isinstance(device, torch.device):
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return example_inputs(self, device)

    monkeypatch.setattr(ModelSpec, "example_inputs", inputs)
    argv = ["bench", str(spec(tmp_path)), "--no-predict", "--repeat", "1", "--warmup", "0"]
    assert main([*argv, "--per-layer", "none", "--batch", "2", "4"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "(batch 4" in last and "out of memory" in last and "largest batch that ran: 2" in last


OOM_SPEC = TINY.replace("[2, 3, 8, 8]", "[2, 4]")
#: one timed run, no warm-up, no per-layer pass: the fastest bench that still measures
FAST = ["--no-predict", "--repeat", "1", "--warmup", "0", "--per-layer", "none"]


@pytest.mark.parametrize("model", ["OomAboveBatch2", "TorchOomAboveBatch2"])
def test_bench_out_of_memory_keeps_the_batches_that_ran_in_the_json(tmp_path, capsys, model):
    # the model runs batches 1 and 2 and runs out of memory above 2 (RuntimeError text
    # as the CPU allocator words it, or torch.OutOfMemoryError, the GPU's type): the
    # JSON used to hold batches 1 and 2 with nothing saying 4 and 8 were asked for
    text = OOM_SPEC.replace("models:TinyCNN", f"models:{model}")
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path, text)), *FAST, "--json", str(out_json)]
    assert main([*argv, "--batch", "1", "2", "4", "8"]) == 2
    out, err = capsys.readouterr()
    assert "batch 1 on" in out and "batch 2 on" in out and "batch 4 on" not in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("roofline: error: running") and err.count("roofline: error") == 1
    assert "(batch 4," in last and "out of memory" in last
    # 8 > 4 needs more memory than 4 had: not tried, and said so
    assert last.endswith("the largest batch that ran: 2; not run: batch 8")
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1, 2]
    assert data["partial"] is True and data["interrupted"] is False
    assert data["not_run"] == [4, 8]
    assert data["failed"]["batch"] == 4 and "out of memory" in data["failed"]["error"]
    assert "largest" not in data["failed"]["error"]  # the batch's own error


def test_bench_runs_a_smaller_batch_after_one_that_ran_out(tmp_path, capsys):
    # --batch 4 1 2 8: 4 runs out of memory; 1 and 2 need less and still run, 8 is
    # skipped (larger than 4)
    text = OOM_SPEC.replace("models:TinyCNN", "models:OomAboveBatch2")
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path, text)), *FAST, "--json", str(out_json)]
    assert main([*argv, "--batch", "4", "1", "2", "8"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "(batch 4," in last and last.endswith("largest batch that ran: 2; not run: batch 8")
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1, 2]
    assert data["not_run"] == [4, 8] and data["failed"]["batch"] == 4


def test_bench_json_of_a_complete_sweep_says_so(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    assert main(["bench", str(spec(tmp_path)), *FAST, "--json", str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    assert data["partial"] is False and data["not_run"] == [] and data["failed"] is None
    assert data["not_predicted"] == []
    assert data["interrupted"] is False and len(data["runs"]) == 1


def _interrupt_after(monkeypatch, finished: int) -> list[int]:
    """Make bench's measure() raise KeyboardInterrupt (Ctrl-C) once ``finished`` batches
    have been measured for real; returns the batches it was called with."""
    import importlib

    measure = importlib.import_module("roofline.latency.measure")
    real_measure = measure.measure
    calls: list[int] = []

    def fake(spec, **kw):
        calls.append(kw["batch"])
        if len(calls) > finished:
            raise KeyboardInterrupt
        return real_measure(spec, **kw)

    monkeypatch.setattr(measure, "measure", fake)
    return calls


def test_bench_interrupted_keeps_the_finished_batches(tmp_path, capsys, monkeypatch):
    calls = _interrupt_after(monkeypatch, finished=1)
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), *FAST, "--json", str(out_json)]
    assert main([*argv, "--batch", "1", "2", "4"]) == 130
    assert calls == [1, 2]  # Ctrl-C during batch 2: batch 4 never started
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "roofline: interrupted"
    assert err[-2] == (
        f"bench: interrupted at batch 2: {out_json} holds the finished batch 1 only, marked partial"
    )
    assert err[-3] == f"wrote {out_json}"
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1]
    assert data["runs"][0]["latency"]["measured_s"] > 0
    assert data["partial"] is True and data["interrupted"] is True
    assert data["not_run"] == [2, 4] and data["failed"] is None
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # nothing half-made


def test_bench_interrupted_before_any_batch_finished_writes_nothing(tmp_path, capsys, monkeypatch):
    _interrupt_after(monkeypatch, finished=0)
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), *FAST, "--json", str(out_json)]
    assert main([*argv, "--batch", "1", "2"]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "roofline: interrupted"
    assert "wrote" not in err and "partial" not in err
    assert not out_json.exists()


def test_bench_interrupted_with_json_to_stdout(tmp_path, capsys, monkeypatch):
    _interrupt_after(monkeypatch, finished=1)
    argv = ["bench", str(spec(tmp_path)), *FAST, "--json", "-", "--batch", "1", "2"]
    assert main(argv) == 130
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout holds the partial JSON alone
    assert data["interrupted"] is True and data["not_run"] == [2]
    assert "stdout holds the finished batch 1 only, marked partial" in err


def _interrupt_prediction_of(monkeypatch, batch: int) -> list[int]:
    """A stored calibration (bench predicts without calibrating), and Ctrl-C while the
    prediction of ``batch`` is counted; returns the batches whose prediction began."""
    import importlib

    from roofline.devices import host_cpu

    bench_cmd = importlib.import_module("roofline.cli.bench_cmd")
    monkeypatch.setattr(host_cpu, "FULL", host_cpu.QUICK)
    store_efficiency(eff().__class__(**{**eff().__dict__, "threads": torch.get_num_threads()}))
    real_count = bench_cmd._count
    counted: list[int] = []

    def count(spec, device):
        counted.append(spec.batch)
        if spec.batch == batch:
            raise KeyboardInterrupt
        return real_count(spec, device)

    monkeypatch.setattr(bench_cmd, "_count", count)
    return counted


def test_bench_interrupted_during_a_prediction_keeps_its_measurement(tmp_path, capsys, monkeypatch):
    # Ctrl-C while batch 2's prediction was counted (its measurement done) dropped
    # batch 2's measured numbers from the partial JSON: it held batch 1 only
    counted = _interrupt_prediction_of(monkeypatch, 2)
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), "--repeat", "1", "--warmup", "0"]
    argv += ["--per-layer", "none", "--json", str(out_json), "--batch", "1", "2", "4"]
    assert main(argv) == 130
    assert counted == [1, 2]  # batch 4 never started
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "roofline: interrupted"
    assert err[-2] == (
        f"bench: interrupted at batch 2's prediction: {out_json} holds the finished batch 1 "
        "and batch 2's measurement only, marked partial"
    )
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1, 2]
    first, second = data["runs"]
    assert first["latency"]["predicted_s"] > 0  # batch 1: predicted and measured
    # batch 2: the measured numbers, its predictions null (as a --no-predict run)
    assert second["latency"]["measured_s"] > 0
    assert second["latency"]["naive_s"] is None and second["latency"]["predicted_s"] is None
    assert data["partial"] is True and data["interrupted"] is True
    assert data["not_run"] == [4] and data["not_predicted"] == [2]


def test_bench_interrupted_during_the_first_prediction_writes_its_measurement(
    tmp_path, capsys, monkeypatch
):
    # no batch had finished, so nothing was written: batch 1's measurement was lost
    _interrupt_prediction_of(monkeypatch, 1)
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), "--repeat", "1", "--warmup", "0"]
    argv += ["--per-layer", "none", "--json", str(out_json), "--batch", "1", "2"]
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2] == (
        f"bench: interrupted at batch 1's prediction: {out_json} holds batch 1's "
        "measurement only, marked partial"
    )
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1]
    assert data["runs"][0]["latency"]["predicted_s"] is None
    assert data["not_run"] == [2] and data["not_predicted"] == [1]


def test_bench_measures_a_repeated_batch_once(tmp_path, capsys, monkeypatch):
    # --batch 2 1 2 1 measured each batch twice; now once each, in the order given
    calls = _interrupt_after(monkeypatch, finished=10)  # never interrupts: counts calls
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), *FAST, "--json", str(out_json)]
    assert main([*argv, "--batch", "2", "1", "2", "1"]) == 0
    assert calls == [2, 1]
    data = json.loads(out_json.read_text())
    assert [r["measurement"]["batch"] for r in data["runs"]] == [2, 1]


def _bench_at(tmp_path, capsys, dtype: str) -> tuple[str, dict]:
    """``bench --dtype DTYPE`` of the tiny spec (2 runs, no per-layer pass), which must
    succeed: its stdout and the one run of its --json."""
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path)), "--dtype", dtype, "--warmup", "1", "--repeat", "2"]
    rc = main([*argv, "--per-layer", "none", "--json", str(out_json)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    (run,) = json.loads(out_json.read_text())["runs"]
    return out, run


def test_bench_at_fp16_on_the_cpu_measures_and_predicts_naive_only(tmp_path, capsys, monkeypatch):
    # no CPU calibration can time fp16 kernels (ATen's reference paths): an fp16 model
    # is measured at fp16, gets the naive roofline beside it and a note saying why
    # there is no calibrated time, and no calibration is run for it
    from roofline.latency import store

    def no_calibration(*a, **k):
        raise AssertionError("bench calibrated for a model no calibration can price")

    monkeypatch.setattr(store, "ensure_efficiency", no_calibration)
    out, run = _bench_at(tmp_path, capsys, "fp16")
    assert "no fp16 latency calibration stored for" in out
    assert "naive roofline time only; no calibration can time fp16 kernels on the CPU" in out
    lat = run["latency"]
    assert lat["predicted_s"] is None and lat["naive_s"] > 0 and lat["measured_s"] > 0


def test_bench_at_bf16_uses_the_bf16_calibration(tmp_path, capsys, monkeypatch):
    # a bf16 model is priced by the fit of bf16 kernels, asked for by its dtype
    import dataclasses

    from roofline.latency import store

    asked = []

    def bf16_fit(target, *, quick=False, progress=None, dtype="float32"):
        asked.append(dtype)
        return store.device_for(target), dataclasses.replace(eff(), dtype=dtype)

    monkeypatch.setattr(store, "ensure_efficiency", bf16_fit)
    out, run = _bench_at(tmp_path, capsys, "bf16")
    assert asked == ["bfloat16"] and "latency calibration" not in out  # no naive-only note
    assert run["latency"]["predicted_s"] > 0 and run["latency"]["measured_s"] > 0


def test_bench_measure_only_keeps_the_per_layer_times(tmp_path, capsys):
    # --no-predict is "measure only": the measured per-layer times are still shown
    rc = main(
        [
            *("bench", str(spec(tmp_path)), "--no-predict", "--warmup", "1", "--repeat", "2"),
            *("--layer-passes", "1", "--depth", "1"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    # (a busy machine's note on widely spread runs may follow the median line)
    lines = [line for line in out.splitlines() if not line.startswith("note: ")]
    assert lines[0].split()[:3] == ["layer", "calls", "measured"]
    layers = {line.split()[0] for line in lines[2:] if line and not line.startswith("TinyCNN")}
    # TinyCNN's children (tests/fixtures/models.py), one row each
    assert layers == {"conv", "bn", "pool", "fc"}
    assert "median" in lines[-1]


def test_bench_shows_a_yolo_models_layers_by_default(tmp_path, capsys):
    # at depth 1 a YOLO model is one row, its wrapper "model" (the layers are model.0,
    # model.1 ... at depth 2, profile's default): bench's per-layer table said nothing
    from pathlib import Path

    yaml = Path(__file__).parents[2] / "examples" / "yolov5n.yaml"
    rc = main(
        [
            *("bench", str(yaml), "--imgsz", "64", "--no-predict"),
            *("--warmup", "0", "--repeat", "1", "--layer-passes", "1"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    lines = [line for line in out.splitlines() if not line.startswith("note: ")]
    layers = {line.split()[0] for line in lines[2:-1]}
    # yolov5n.yaml: 10 backbone + 15 head entries, model.0 .. model.24
    assert layers == {f"model.{i}" for i in range(25)}, layers


def test_bench_refuses_a_users_json_before_measuring(tmp_path, capsys, monkeypatch):
    """The path is checked first: a refused --json costs no calibration and no runs."""
    import importlib

    from roofline.latency import store

    measure = importlib.import_module("roofline.latency.measure")

    def no_work(*a, **k):
        raise AssertionError("bench worked before checking its --json path")

    monkeypatch.setattr(measure, "measure", no_work)
    monkeypatch.setattr(measure, "check_device", no_work)
    monkeypatch.setattr(store, "ensure_efficiency", no_work)
    mine = tmp_path / "user.json"
    mine.write_text('{"my": "data"}')
    rc = main(
        ["bench", str(spec(tmp_path)), "--device", "cpu", "--batch", "1", "--json", str(mine)]
    )
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "user.json exists and was not written by roofline" in err
    assert mine.read_text() == '{"my": "data"}'


def test_bench_json_to_stdout_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["bench", str(spec(tmp_path)), "--no-predict", "--warmup", "0", "--repeat", "1"]
    rc = main([*argv, "--per-layer", "none", "--batch", "1", "2", "--json", "-"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(out)  # the whole of stdout: no per-batch lines around it
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1, 2]
    assert "bench: TinyCNN" in err  # progress stays on stderr
    assert not (tmp_path / "-").exists()


def test_optimizer_step_without_training_is_one_line(tmp_path, capsys):
    # an optimizer step belongs to a training step: in inference it was silently ignored
    assert main(["bench", str(spec(tmp_path)), "--optimizer-step", "--no-predict"]) == 2
    err = capsys.readouterr().err
    assert "--optimizer-step" in err and "--mode training" in err and err.count("\n") == 1


@pytest.mark.parametrize("option", [["--layer-passes", "5"], ["--depth", "2"]])
def test_per_layer_options_with_per_layer_none_are_one_line(tmp_path, capsys, option):
    # --per-layer none times no layer: --layer-passes and --depth were silently ignored
    argv = ["bench", str(spec(tmp_path)), "--per-layer", "none", "--no-predict", *option]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} sets the per-layer timing" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--threads", "100000"], "CPUs: use 1 to"),  # torch segfaulted on it
        (["--warmup", "-1"], "must be 0 or more"),
    ],
)
def test_bench_option_bounds_are_usage_errors(tmp_path, capsys, extra, expect):
    assert main(["bench", str(spec(tmp_path)), *extra]) == 2
    err = capsys.readouterr().err
    assert expect in err and "Traceback" not in err


def test_bench_counts_a_data_dependent_model_over_real_tensors(tmp_path, capsys):
    # fake tensors cannot size y[y > 0]: bench measured it and then failed with the
    # counter's "try --real", a flag bench does not have; it counts it for real instead
    text = "model: tests.fixtures.models:mask_select\ninputs: [{shape: [2, 4]}]\n"
    store_efficiency(eff())
    out_json = tmp_path / "r.json"
    argv = ["bench", str(spec(tmp_path, text)), "--warmup", "1", "--repeat", "2"]
    rc = main([*argv, "--per-layer", "none", "--json", str(out_json)])
    err = capsys.readouterr().err
    assert rc == 0, err
    (run,) = json.loads(out_json.read_text())["runs"]
    assert run["latency"]["naive_s"] > 0 and run["latency"]["measured_s"] > 0


def test_bench_real_count_has_the_real_memory_guard(tmp_path, capsys, monkeypatch):
    # the count behind the prediction falls back to real tensors for y[y > 0], behind
    # profile --real's guard: 2 x 80 bytes of weights (Linear(4, 4), fp32) against
    # half of the 200 bytes we pretend are free
    from roofline.counting import real

    text = "model: tests.fixtures.models:mask_select\ninputs: [{shape: [2, 4]}]\n"
    store_efficiency(eff())
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 200)
    argv = ["bench", str(spec(tmp_path, text)), "--warmup", "1", "--repeat", "2"]
    assert main([*argv, "--per-layer", "none"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert "bench counts this model over real tensors (fake tensors cannot run it)" in err
    assert "Traceback" not in err


def test_bench_refuses_a_cpu_batch_that_would_not_fit(tmp_path, capsys, monkeypatch):
    from roofline.counting import real

    # TinyCNN's run at batch 1 holds ~15 KB, at batch 4096 ~58 MB: 1 MB free
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 1 << 20)
    argv = ["bench", str(spec(tmp_path)), "--no-predict", "--repeat", "1", "--warmup", "0"]
    rc = main([*argv, "--per-layer", "none", "--batch", "1", "4096"])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err
    assert "batch 1" in out  # the batch that fits ran and is shown
    last = err.strip().splitlines()[-1]
    assert "(batch 4096, inference) on cpu needs about" in last and "1.00 MiB is free" in last
    assert "not started" in last and "largest batch that ran: 1" in last


def test_a_model_that_rejects_its_inputs_fails_in_one_line(tmp_path, capfd):
    # bench sizes the run on fake tensors first (check_run_fits, before calibrating and
    # again per batch): FakeTensorMode logs a traceback of each failed shape check,
    # which the memory trace must silence as the counter does; the run then fails on
    # real tensors with roofline's one-line error
    rejects = TINY.replace("TinyCNN\n", "rejects\n").replace("[2, 3, 8, 8]", "[2, 4]")
    rejects = rejects.replace("models:TinyCNN", "models:rejects")
    argv = ["bench", str(spec(tmp_path, rejects)), "--no-predict", "--per-layer", "none"]
    assert main([*argv, "--repeat", "1", "--warmup", "0"]) == 2
    err = capfd.readouterr().err
    assert "Traceback" not in err and "fake_tensor" not in err
    assert err.strip().splitlines()[-1].startswith("roofline: error: running 'rejects'")


def test_bench_sizes_each_batch_once(tmp_path, capsys, monkeypatch):
    from roofline.counting import real

    # the smallest batch is sized before any calibration, the others as the sweep
    # reaches them: batches 1 and 2 are sized twice in all, not 1 twice (for a quantized
    # model each sizing builds the model for real)
    sized = []
    run_bytes = real.run_bytes
    monkeypatch.setattr(real, "run_bytes", lambda s: sized.append(s.batch) or run_bytes(s))
    argv = ["bench", str(spec(tmp_path)), "--no-predict", "--repeat", "1", "--warmup", "0"]
    assert main([*argv, "--per-layer", "none", "--batch", "1", "2"]) == 0
    assert sorted(sized) == [1, 2]


def test_bench_quick_asks_for_a_quick_calibration(tmp_path, capsys, monkeypatch):
    # `calibrate --quick` had no bench counterpart: bench always ran the full grid
    # (minutes) when none was stored, and again for each new --threads value
    from roofline.latency import store

    asked = []

    def fit(target, *, quick=False, progress=None, dtype="float32"):
        asked.append(quick)
        return store.device_for(target), eff()

    monkeypatch.setattr(store, "ensure_efficiency", fit)
    argv = ["bench", str(spec(tmp_path)), "--warmup", "0", "--repeat", "1", "--per-layer", "none"]
    assert main([*argv, "--quick"]) == 0
    assert main(argv) == 0
    assert asked == [True, False]
    capsys.readouterr()
    # with --no-predict nothing is calibrated: --quick would go unread
    assert main([*argv, "--quick", "--no-predict"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-predict runs none: drop one of them" in err


def test_a_stored_full_calibration_is_used_as_it_is_under_quick(monkeypatch):
    from roofline.latency import store
    from tests.latency.test_calibration_format import with_stored

    device = with_stored(eff().as_dict())
    monkeypatch.setattr(store, "device_for", lambda target: device)
    monkeypatch.setattr(store, "speed_check", lambda e, t: None)
    monkeypatch.setattr(
        store, "calibrate_and_store", lambda *a, **k: pytest.fail("calibrated over a stored fit")
    )
    said: list[str] = []
    assert store.ensure_efficiency("cpu", quick=True, progress=said.append)[1] == eff()
    assert len(said) == 1 and said[0].startswith("note: a full latency calibration is stored")
    said.clear()
    store.ensure_efficiency("cpu", progress=said.append)  # not asked for quick: no note
    assert said == []


def test_bench_inline_model_from_a_py_file(tmp_path, capsys, monkeypatch):
    # `roofline bench file.py:Net --input ...`: no spec file; the model's file resolves
    # against the current folder, and --json records the inline form to rerun it
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\n"
        "class Net(nn.Sequential):\n"
        "    def __init__(self, d=4):\n"
        "        super().__init__(nn.Linear(d, d), nn.ReLU())\n"
    )
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "net.py:Net", "--input", "6", "--kwarg", "d=6", "--no-predict"]
    argv += ["--warmup", "0", "--repeat", "1", "--per-layer", "none", "--batch", "1", "3"]
    assert main([*argv, "--json", "b.json"]) == 0, capsys.readouterr().err
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["spec"] == "net.py:Net --input 6 --kwarg d=6"
    assert [r["measurement"]["batch"] for r in data["runs"]] == [1, 3]
    assert data["runs"][0]["measurement"]["model"] == "Net(d=6)"
    assert not data["partial"]


def test_bench_inline_keyword_input_and_id_range_run_for_real(capsys):
    # bench runs the model for real: the mask reaches forward() by name, and the ids'
    # range is the one drawn: [0, 8) indexes KeywordInputs' 8-row embedding, [8, 9) does not
    target = "tests.fixtures.models:KeywordInputs"
    argv = ["bench", target, "--input", "5:int64:0-8", "--input", "attention_mask=5:int64"]
    argv += ["--no-predict", "--warmup", "0", "--repeat", "1", "--per-layer", "none"]
    assert main([*argv, "--json", "-"]) == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert data["spec"] == f"{target} --input 5:int64:0-8 --input attention_mask=5:int64"
    argv[3] = "5:int64:8-9"
    assert main(argv) == 2
    err = capsys.readouterr().err  # progress and notes, then the error in one line
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("roofline: error:")]
    # the ids drew 8 only; the mask's five values from [0, 2) are 0-1, or 0 or 1 alone
    # (unseeded: 1 run in 16)
    assert re.fullmatch(
        re.escape(
            "roofline: error: running 'KeywordInputs' (batch 1, inference) on cpu failed on "
            "real tensors: IndexError: index out of range in self (the integer inputs hold "
            "random values 8, "
        )
        + "(0-1|0|1)"
        + re.escape(
            "; an index into a table, such as an embedding, must stay below the table's "
            "size: give the range with --input SHAPE:int64:LOW-HIGH, or 'low'/'high' in "
            "the spec)"
        ),
        line,
    ), err


def test_bench_inline_needs_its_input(capsys):
    assert main(["bench", "tests.fixtures.models:TinyCNN", "--no-predict"]) == 2
    err = capsys.readouterr().err
    assert "give its inputs with --input SHAPE" in err and err.count("\n") == 1
