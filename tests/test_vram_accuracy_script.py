"""benchmarks/vram_accuracy.py's peak breakdown, on hand-made allocator traces (the
measurement itself needs CUDA; this part is what explains a miss offline)."""

from __future__ import annotations

import pytest

from tests.fixtures.scripts import load_benchmark


@pytest.fixture(scope="module")
def va():
    return load_benchmark("vram_accuracy")


CONV = {"filename": "/site-packages/torch/nn/modules/conv.py", "line": 549, "name": "_conv_forward"}
TENSOR = {"filename": "/site-packages/torch/_tensor.py", "line": 626, "name": "backward"}
ADAMW = {"filename": "/site-packages/torch/optim/adamw.py", "line": 400, "name": "_multi_tensor"}


def alloc(addr, size, *frames):
    return {"action": "alloc", "addr": addr, "size": size, "frames": list(frames)}


def free(addr, size):
    return [
        {"action": "free_requested", "addr": addr, "size": size},
        {"action": "free_completed", "addr": addr, "size": size},
    ]


def test_the_peak_and_what_is_live_there(va):
    trace = [
        alloc(1, 512, CONV),  # 1000 -> 1512
        alloc(2, 1024),  # 2536: the autograd engine's thread has no Python frame
        *free(99, 256),  # 2280: a block from before the trace (last step's)
        *free(1, 512),  # 1768
        alloc(3, 2048, TENSOR, ADAMW),  # 3816: the peak, event 6
        *free(3, 2048),  # 1768
        alloc(4, 1536, CONV),  # 3304: below the peak
    ]
    b = va.peak_breakdown(trace, start_bytes=1000)
    assert b["peak_bytes"] == 3816 and b["peak_event"] == 6 and b["events"] == len(trace)
    # 1000 before the trace, less the 256 freed before the peak
    assert b["before_trace_bytes"] == 744
    assert b["before_trace_bytes"] + sum(s[1] for s in b["sites"]) == b["peak_bytes"]
    # the site skips torch's own frames (Tensor.backward) for the optimizer's
    assert b["sites"] == [
        ["optim/adamw.py:400 _multi_tensor", 2048, 1],
        ["(no Python frame: autograd engine / C++)", 1024, 1],
    ]
    assert b["largest_blocks"][0] == [2048, "optim/adamw.py:400 _multi_tensor"]


def test_sites_beyond_the_top_are_summed(va):
    frames = [{"filename": f"/m/layer{i}.py", "line": i, "name": "forward"} for i in range(5)]
    trace = [alloc(i, 100 * (i + 1), f) for i, f in enumerate(frames)]
    b = va.peak_breakdown(trace, start_bytes=0, top=2)
    assert [s[1] for s in b["sites"]] == [500, 400, 600]  # 300 + 200 + 100 in the rest
    assert b["sites"][-1][0] == "(other sites)" and b["sites"][-1][2] == 3
    assert b["peak_bytes"] == 1500


def test_no_allocation_above_the_start(va):
    b = va.peak_breakdown([*free(7, 64)], start_bytes=4096)
    assert b["peak_bytes"] == 4096 and b["peak_event"] == -1 and b["sites"] == []
    assert b["before_trace_bytes"] == 4096  # nothing replayed up to the (initial) peak


def test_main_loop_on_a_faked_gpu_keeps_going_and_writes_every_case(va, monkeypatch, tmp_path):
    # the loop only a GPU machine runs: torch.cuda faked, each case's prediction and
    # subprocess replaced; a failing prediction or case is a row, not the end of the run
    import json
    import sys

    import torch

    pytest.importorskip("torchvision")  # the main loop imports it before its first case
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    est = va.predict("transformer", "transformer", (16,), 2, "inference", 0)

    def predict(name, expr, shape, batch, mode, cublas):
        if name == "vit_b_16":
            raise RuntimeError("no fake kernel")
        return est

    def run_case(name, expr, shape, batch, mode):
        if name == "yolov5s":
            return {"error": "no result within 60 s"}
        return {"allocated": est.allocated // 2, "context": 1 << 29}

    monkeypatch.setattr(va, "predict", predict)
    monkeypatch.setattr(va, "run_case", run_case)
    out = tmp_path / "vram.json"
    monkeypatch.setattr(sys, "argv", ["vram_accuracy.py", "--out", str(out), "--quick"])
    assert va.main() == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["model"], r["mode"]) for r in rows] == [
        (name, mode) for name, *_ in va.MODELS for mode in ("inference", "training")
    ]
    by = {(r["model"], r["mode"]): r for r in rows}
    assert by["resnet50", "inference"]["ratio_allocated"] == pytest.approx(2.0, rel=1e-6)
    assert "no fake kernel" in by["vit_b_16", "training"]["error"]
    assert by["yolov5s", "inference"]["measured_error"] == "no result within 60 s"
    assert not list(tmp_path.glob("*.part"))  # written whole, nothing left beside it


def test_a_case_that_hangs_or_prints_no_result_is_an_error_row(va, monkeypatch):
    import subprocess

    def hangs(*a, **k):
        raise subprocess.TimeoutExpired(a[0], k["timeout"])

    monkeypatch.setattr(subprocess, "run", hangs)
    assert va.run_case("m", "x", (1,), 1, "inference", timeout=5) == {
        "error": "no result within 5 s"
    }

    def garbage(*a, **k):
        return subprocess.CompletedProcess(a[0], 0, stdout="Warning: noise\n", stderr="")

    monkeypatch.setattr(subprocess, "run", garbage)
    assert "no result in the output" in va.run_case("m", "x", (1,), 1, "inference")["error"]


def test_cpu_run_measures_each_case_and_writes_the_table(va, monkeypatch, tmp_path):
    # the --device cpu path end to end, on one small model: the same measurement as
    # `roofline vram --measure cpu`, a row per case, the markdown table docs/vram.md shows
    import json
    import sys

    pytest.importorskip("torchvision")
    monkeypatch.setattr(
        va, "MODELS", [("squeezenet1_1", "torchvision.models.squeezenet1_1()", (3, 64, 64), ())]
    )
    monkeypatch.setattr(va, "CPU_ONLY_MODELS", [])
    out, md = tmp_path / "cpu.json", tmp_path / "cpu.md"
    argv = ["vram_accuracy.py", "--device", "cpu", "--quick", "--out", str(out), "--md", str(md)]
    monkeypatch.setattr(sys, "argv", argv)
    assert va.main() == 0
    doc = json.loads(out.read_text())
    assert doc["gpu"] is None and "torch threads" in doc["machine"]
    rows = doc["rows"]
    assert [(r["model"], r["mode"], r["batch"]) for r in rows] == [
        ("squeezenet1_1", "inference", 1),
        ("squeezenet1_1", "training", 1),
    ]
    for r in rows:
        assert r["ratio_allocated"] == pytest.approx(1.0, abs=0.02), r
        assert r["measured_with_scratch"] >= r["measured_allocated"] > r["measured_held"] > 0
    table = md.read_text()
    assert "| squeezenet1_1 | training | 1 |" in table and "2 of 2 cases within 10 %" in table


def test_markdown_shows_a_failed_case_as_its_error(va):
    rows = [{"model": "m", "mode": "training", "batch": 2, "error": "predict: boom"}]
    table = va.markdown(rows, "machine X")
    assert (
        table.startswith("Machine: machine X")
        and "| m | training | 2 | | | predict: boom |" in table
    )
    # an error with a pipe or a newline stays in its cell, on its row
    rows = [{"model": "m", "mode": "training", "batch": 2, "error": "a | b\nc"}]
    row = va.markdown(rows, "machine X").splitlines()[4]
    assert row == "| m | training | 2 | | | a \\| b c | |"
