"""``roofline vram`` through roofline.cli.main: output, JSON, and one-line errors."""

from __future__ import annotations

import json
import re

import pytest

from roofline.cli import main

JSON_KEYS = (
    "weights",
    "gradients",
    "optimizer",
    "activations",
    "workspace",
    "overhead",
    "total",
    "total_with_headroom",
)


def test_params_quick_estimate(capsys):
    assert main(["vram", "--params", "100M", "--batch", "32"]) == 0
    out = capsys.readouterr().out
    assert "weights" in out and "total / 0.8" in out
    assert "seed formula" in out  # the seed's naive number beside ours


def test_params_training_json(tmp_path):
    path = tmp_path / "v.json"
    rc = main(
        [
            "vram",
            "--params",
            "100M",
            "--mode",
            "training",
            "--optimizer",
            "adamw",
            "--amp",
            "--json",
            str(path),
        ]
    )
    assert rc == 0
    data = json.loads(path.read_text())
    for k in JSON_KEYS:
        assert k in data
    # 16 B/param: fp32 master weights 4 + fp32 grads 4 + exp_avg 4 + exp_avg_sq 4
    assert data["weights"] + data["gradients"] + data["optimizer"] == 1_600_000_000
    a = data["assumptions"]
    assert (a["optimizer"], a["amp"], a["batch"], a["headroom"]) == ("adamw", True, 1, 0.8)
    assert a["dtype"] == "float32" and a["compute_dtype"] == "float16"
    assert data["total_with_headroom"] == -(-data["total"] * 10 // 8)


def test_gpu_fit_in_json(tmp_path):
    path = tmp_path / "fit.json"
    rc = main(
        [
            "vram",
            "--params",
            "7B",
            "--dtype",
            "bf16",
            "--mode",
            "training",
            "--gpu",
            "3090",
            "--json",
            str(path),
        ]
    )
    assert rc == 0
    dev = json.loads(path.read_text())["devices"][0]
    assert dev["fits"] is False
    assert dev["parallel"]["ddp"]["devices"] is None
    assert dev["parallel"]["fsdp"]["devices"] > 1


def test_spec_max_batch(capsys):
    pytest.importorskip("torchvision")  # examples/resnet50.yaml builds torchvision's model
    rc = main(["vram", "examples/resnet50.yaml", "--gpu", "3090", "--max-batch"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "max batch" in captured.out
    # progress on stderr, each line prefixed by its command as bench's and profile's are
    assert "vram: tracing batch" in captured.err
    assert all(line.startswith("vram: ") for line in captured.err.splitlines()), captured.err
    # resnet50 at 224 needs tens of MiB per sample: shown in MiB, not "~0.0x GiB"
    assert re.search(r"~\d+\.\d\d MiB per sample", captured.out), captured.out


def test_gpu_all_compares_every_database_device(tmp_path):
    from pathlib import Path

    import roofline

    path = tmp_path / "all.json"
    assert main(["vram", "--params", "3B", "--gpu", "all", "--json", str(path)]) == 0
    devices = json.loads(path.read_text())["devices"]
    # full-width ａｌｌ is all, as ｃｐｕ is cpu (it was "unknown device 'ａｌｌ'")
    assert main(["vram", "--params", "3B", "--gpu", "ａｌｌ", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["devices"] == devices
    # one spec file per device in the bundled database
    bundled = sorted(Path(roofline.__file__).parent.parent.glob("gpu_specs/*.yaml"))
    assert len(devices) == len(bundled) == len({d["key"] for d in devices})
    # 3B fp32 inference: weights 12e9 + cuBLAS workspace (the largest of the devices
    # named: 32 MiB, sm90+) 33,554,432 + CUDA context 512 MiB 536,870,912
    # = 12,570,425,344 B; / 0.8 = 15,713,031,680 B to provision
    for d in devices:
        assert d["required_bytes"] == 15_713_031_680
        assert d["fits"] == (d["memory_bytes"] >= 15_713_031_680)
    assert any(d["fits"] for d in devices) and not all(d["fits"] for d in devices)


def test_unknown_gpu_fails_before_tracing(capsys):
    rc = main(["vram", "examples/resnet50.yaml", "--gpu", "no-such-gpu-9000"])
    assert rc == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table printed, no trace run
    assert captured.err.startswith("roofline: error: unknown device 'no-such-gpu-9000'")
    assert len(captured.err.strip().splitlines()) == 1


def test_options_without_effect_say_so(capsys):
    assert main(["vram", "--params", "1M", "--optimizer", "sgd"]) == 0
    err = capsys.readouterr().err
    assert "vram: note: --optimizer sgd has no effect in inference" in err
    assert main(["vram", "--params", "1M"]) == 0
    assert "no effect" not in capsys.readouterr().err
    assert main(["vram", "--params", "1M", "--amp", "--dtype", "fp8", "--mode", "training"]) == 0
    assert "autocasts to float16" in capsys.readouterr().out


def test_rule_of_thumb_activations_are_labelled_as_such(capsys):
    # `--params N --input SHAPE`: the activations row said "peak of live tensors",
    # as if traced, for the seed's rule of input batch + an output of the same size:
    # 32 x 3*32*32 float32 values, twice = 786,432 bytes = 768.00 KiB
    assert main(["vram", "--params", "1M", "--batch", "32", "--input", "3x32x32"]) == 0
    row = next(r for r in capsys.readouterr().out.splitlines() if r.startswith("activations"))
    assert "768.00 KiB" in row, row
    assert "rule of thumb: input batch + an output of the same size (not traced)" in row, row
    assert "peak of live tensors" not in row


def test_max_batch_from_a_count_in_training_fails_first(capsys):
    argv = ["vram", "--params", "1M", "--input", "3x32x32", "--mode", "training"]
    assert main([*argv, "--gpu", "3090", "--max-batch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no table first
    assert "--input rule of thumb is for inference only" in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def _rows(out: str) -> dict[str, list[str]]:
    """The breakdown table's rows by part: [memory, B/param]."""
    rows = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3 and re.fullmatch(r"-?[\d.]+ (GiB|MiB|KiB|B)", parts[1]):
            rows[parts[0]] = parts[1:3]
    return rows


def test_small_values_switch_units(capsys):
    assert main(["vram", "--params", "350k", "--mode", "training"]) == 0
    out = capsys.readouterr().out
    assert "0.00 GiB" not in out
    rows = _rows(out)
    # 350,000 x 4 B = 1,400,000 B = 1.34 MiB; AdamW state 2 x 1,400,000 = 2.67 MiB
    assert rows["weights"] == ["1.34 MiB", "4.00"]
    assert rows["gradients"] == ["1.34 MiB", "4.00"]
    assert rows["optimizer"] == ["2.67 MiB", "8.00"]
    # 2 cuBLAS workspaces 2 x 8,519,680 + the foreach temporary 1,400,000
    # = 18,439,360 B = 17.59 MiB
    assert rows["workspace"] == ["17.59 MiB", "52.68"]


#: a spec whose only input is named: the model gets it as a keyword argument
NAMED_SPEC = """\
name: Tied
model: tests.fixtures.models:Tied
inputs:
  - name: ids
    shape: [1, 7]
    dtype: int64
    high: 50
"""


def test_named_inputs_keep_the_batch(tmp_path, capsys):
    spec = tmp_path / "named.yaml"
    spec.write_text(NAMED_SPEC)
    runs = {}
    for b in (1, 2):
        path = tmp_path / f"b{b}.json"
        assert main(["vram", str(spec), "--batch", str(b), "--json", str(path)]) == 0
        header = capsys.readouterr().out.splitlines()[0]
        assert f"inference, batch {b}," in header
        runs[b] = json.loads(path.read_text())
    assert [runs[b]["assumptions"]["batch"] for b in (1, 2)] == [1, 2]
    assert runs[2]["activations"] > runs[1]["activations"]


def test_data_dependent_model_is_one_line_with_a_hint(tmp_path, capsys):
    spec = tmp_path / "mask.yaml"
    spec.write_text("model: tests.fixtures.models:mask_select\ninputs: [{shape: [2, 4]}]\n")
    assert main(["vram", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "DynamicOutputShapeException" in err and "roofline profile --real" in err


def test_subtracted_row_is_negative_in_both_columns(capsys):
    argv = ["vram", "examples/yolov5n.yaml", "--imgsz", "64", "--mode", "training"]
    assert main([*argv, "--batch", "8"]) == 0
    memory, per_param = _rows(capsys.readouterr().out)["not live at peak"]
    assert memory.startswith("-") and per_param.startswith("-")


def test_yolo_freeze_10_cuts_training_memory(tmp_path):
    # yolov5n, rows 0-9 (the backbone) hold 1,046,368 of its 1,872,157 parameters
    # (YOLOv5's model summary: 1760 + 4672 + 4800 + 18560 + 29184 + 73984 + 156928
    # + 295424 + 296448 + 164608)
    frozen_params = 1_046_368
    runs = {}
    for name, extra in (("full", []), ("frozen", ["--freeze", "10"])):
        path = tmp_path / f"{name}.json"
        argv = ["vram", "examples/yolov5n.yaml", "--imgsz", "64", "--mode", "training"]
        assert main([*argv, "--batch", "4", *extra, "--json", str(path)]) == 0
        runs[name] = json.loads(path.read_text())
    full, frozen = runs["full"], runs["frozen"]
    assert frozen["assumptions"]["frozen"] == [f"model.{i}" for i in range(10)]
    assert full["gradients"] - frozen["gradients"] == 4 * frozen_params  # fp32
    assert full["optimizer"] - frozen["optimizer"] == 2 * 4 * frozen_params  # AdamW
    # nothing before the first trainable row needs a gradient, so the backbone's
    # feature maps are not saved
    assert frozen["activations"] < full["activations"]
    assert frozen["total"] < full["total"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["vram", "--params", "100X"], "'100X': expected a number with an optional suffix"),
        (["vram", "--params", "-5M"], "'-5M': a parameter count must be positive"),
        (["vram", "--params=-5M"], "'-5M': a parameter count must be positive"),
        (["vram", "--params", "-1.5e9"], "'-1.5e9': a parameter count must be positive"),
        (["vram", "--params", "1e30"], "'1e30': more than 1e+15 parameters"),
        (["vram", "--params", "7e90"], "check the suffix or exponent"),
        (["vram", "--params", "1M", "--batch", "0"], "--batch: must be a positive integer"),
        (["vram", "--params", "1M", "--optimizer", "adafactor"], "invalid choice: 'adafactor'"),
        (["vram", "--params", "1M", "--dtype", "int4"], "invalid choice: 'int4'"),
        (["vram", "--params", "1M", "--headroom", "1.5"], "must be in (0, 1]"),
        (["vram", "--params", "1M", "--context-mib", "inf"], "must be a number of MiB >= 0"),
        (["vram", "--params", "1M", "--context-mib", "nan"], "must be a number of MiB >= 0"),
        (["vram", "--params", "1M", "--context-mib", "-1"], "must be a number of MiB >= 0"),
        # digits of other scripts, which float() and int() read, --params did not
        (["vram", "--params", "1M", "--context-mib", "٣"], "MiB as a number written with"),
        (["vram", "--params", "1M", "--headroom", "٠.٥"], "written with the digits 0-9"),
        (["vram", "--params", "1M", "--input", "٣x4"], "written with the digits 0-9"),
        (["vram", "--params", "١M"], "'١M': write it with the digits 0-9"),
        (["vram", "examples/resnet50.yaml", "--params", "1M"], "not both"),
        (["vram"], "give a model spec (roofline vram model.yaml, or an inline model: "),
        (["vram", "--params", "1M", "--max-batch"], "--max-batch needs at least one --gpu"),
        (["vram", "--params", "1M", "--freeze", "3"], "--freeze and --checkpoint need the model"),
        # an empty list froze (checkpointed) nothing, silently
        (["vram", "examples/resnet50.yaml", "--freeze", ""], "--freeze: expected N or module"),
        (
            ["vram", "examples/resnet50.yaml", "--checkpoint", " , "],
            "--checkpoint: expected module names a,b",
        ),
        (["vram", "--params", "1M", "--gpu", "no-such-gpu-9000"], "unknown device"),
        # memory needs no ceilings: --measured would only fail without a calibration
        (["vram", "--params", "1M", "--gpu", "3090", "--measured"], "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert message in err, err


def test_freezing_a_missing_module_names_the_top_level_ones(capsys):
    # the one bad input that needs the model built, not only the arguments read
    pytest.importorskip("torchvision")  # examples/resnet50.yaml builds torchvision's model
    argv = ["vram", "examples/resnet50.yaml", "--freeze", "backbone", "--mode", "training"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert "no module named 'backbone' in this model; top-level modules: avgpool, bn1" in err


def test_full_width_numbers_read_as_their_ascii_forms(capsys):
    # as --depth ３ and device names: an input method's full-width forms are the plain ones
    from roofline.cli._model_args import shape_arg
    from roofline.cli.vram_cmd import headroom_arg, mib_arg

    assert headroom_arg("０．５") == 0.5
    assert mib_arg("５１２") == 512 * 2**20
    assert shape_arg("３ｘ２２４ｘ２２４") == (3, 224, 224)
    assert shape_arg("3×224×224") == (3, 224, 224)  # the multiplication sign still splits
    assert main(["vram", "--params", "１００Ｍ", "--batch", "４", "--json", "-"]) == 0
    full_width = capsys.readouterr().out
    assert main(["vram", "--params", "100M", "--batch", "4", "--json", "-"]) == 0
    assert full_width == capsys.readouterr().out


def test_joining_negative_counts_keeps_other_arguments():
    from roofline.cli.vram_cmd import join_negative_counts

    assert join_negative_counts(["--params", "-5M", "--batch", "2"]) == [
        "--params=-5M",
        "--batch",
        "2",
    ]
    # not a number: left for argparse ("expected one argument")
    assert join_negative_counts(["--params", "--mode"]) == ["--params", "--mode"]


@pytest.fixture(autouse=True)
def _argparse_exit_as_return(monkeypatch):
    """Turn argparse's SystemExit(2) into a return value so one test covers both."""
    import roofline.cli as cli

    real = cli.main

    def wrapped(argv):
        try:
            return real(argv)
        except SystemExit as exc:
            return exc.code

    monkeypatch.setattr(cli, "main", wrapped)
    globals()["main"] = wrapped
    yield
    globals()["main"] = real


def test_fsdp_units_follow_the_stored_dtype(spec):
    # TinyCNN: conv 8*3*9 + 8 = 224, BN 16, linear 128*10 + 10 = 1,290 params; no
    # repeated stacks, so every row is a unit and the largest is the linear: 1,290 x
    # 4 B = 5,160 B in fp32, x 2 B = 2,580 B in bf16 (the model is built in fp32 either
    # way); under AMP the fp32 master weights are what is gathered
    from roofline.cli.vram_cmd import _fsdp_units
    from roofline.memory import estimate_from_spec
    from roofline.spec import load_spec

    s = load_spec(spec)
    for dtype, amp, unit in (("fp32", False, 5_160), ("bf16", False, 2_580), (None, True, 5_160)):
        e = estimate_from_spec(s, batch=1, dtype=dtype, amp=amp, mode="training")
        assert _fsdp_units(s, e) == (0, unit, 0)


@pytest.mark.parametrize(
    ("gpu", "workspace"),
    [
        # PyTorch's CUBLAS_WORKSPACE_CONFIG defaults (CublasHandlePool.cpp)
        ("3090", 4096 * 1024 * 2 + 16 * 1024 * 8),  # sm86: :4096:2:16:8
        ("h100", 4096 * 1024 * 8),  # sm90: :4096:8
        ("b200", 4096 * 1024 * 8),  # sm100
        ("mi300x", 4096 * 1024 * 2 + 16 * 1024 * 8),  # not NVIDIA: the default
    ],
)
def test_cublas_workspace_follows_the_device(tmp_path, gpu, workspace):
    path = tmp_path / "w.json"
    assert main(["vram", "--params", "1B", "--gpu", gpu, "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["workspace"] == workspace  # inference: one handle, nothing else


def test_sharded_plan_says_every_device_needs_a_sample(capsys):
    # 7B fp32 AdamW state (~104 GiB) fits no 24 GiB card: FSDP shards it over 7, and
    # 7 ranks cannot train a global batch of 1 (each runs a forward): say so
    assert main(["vram", "--params", "7B", "--mode", "training", "--gpu", "3090"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("NVIDIA GeForce RTX 3090, training a global batch of 1:")
    assert "data parallel (DDP) does not fit" in line
    assert re.search(
        r"FSDP/ZeRO-3\) needs (\d+) device\(s\), batch 1 each \(every device needs a sample: a global batch of at least \1\)",
        line,
    )


def test_a_cpu_has_no_cuda_context_or_cublas_workspace(tmp_path):
    # --gpu cpu: nothing of CUDA's is added; beside a GPU, the GPU's figures (the larger)
    path = tmp_path / "c.json"
    assert main(["vram", "--params", "1B", "--gpu", "cpu", "--json", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["assumptions"]["cuda_context_bytes"] == 0 and data["workspace"] == 0
    assert (
        main(["vram", "--params", "1B", "--gpu", "cpu", "--gpu", "3090", "--json", str(path)]) == 0
    )
    data = json.loads(path.read_text())
    assert data["assumptions"]["cuda_context_bytes"] == 512 * 2**20
    assert data["workspace"] == 4096 * 1024 * 2 + 16 * 1024 * 8
    # an explicit --context-mib wins
    argv = ["vram", "--params", "1B", "--gpu", "cpu", "--context-mib", "100", "--json", str(path)]
    assert main([*argv, "--force"]) == 0
    assert json.loads(path.read_text())["assumptions"]["cuda_context_bytes"] == 100 * 2**20


def test_measure_on_the_cpu_puts_the_real_peak_beside_the_prediction(tmp_path, capsys):
    # a YOLO model in training with its backbone frozen: the measured step is the one
    # predicted (AdamW, frozen rows without grads or state)
    path = tmp_path / "m.json"
    argv = ["vram", "examples/yolov5n.yaml", "--imgsz", "64", "--mode", "training"]
    assert main([*argv, "--freeze", "10", "--measure", "cpu", "--json", str(path)]) == 0
    captured = capsys.readouterr()
    line = next(x for x in captured.out.splitlines() if x.startswith("measured on cpu"))
    # the table's prediction adds a GPU's cuBLAS workspace; the one compared is the CPU's
    assert "the prediction for cpu: cuBLAS workspace 0 B" in line
    assert "measuring yolov5n" in captured.err  # progress, on stderr
    m = json.loads(path.read_text())["measured"]
    assert m["device"] == "cpu" and m["mode"] == "training"
    assert 0 < m["held"] < m["allocated"] <= m["with_scratch"]
    assert m["predicted_allocated"] == pytest.approx(m["allocated"], rel=0.02)
    assert m["error"] == pytest.approx(m["predicted_allocated"] / m["allocated"] - 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["vram", "--params", "1M", "--measure", "cpu"],
            "--measure runs the model: give a model spec",
        ),
        (["vram", "examples/resnet50.yaml", "--measure", "tpu"], "unknown device 'tpu'"),
        (
            ["vram", "examples/resnet50.yaml", "--measure", "cuda"],
            "--measure cuda: CUDA is not available to torch here",
        ),
    ],
)
def test_measure_bad_input_is_one_line_exit_2(argv, message, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_measure_of_a_model_that_fails_on_real_tensors_is_one_line(tmp_path, capsys):
    # traced fine on fake tensors, it raises on real ones: one line, exit 2, no traceback
    spec = tmp_path / "fails.yaml"
    spec.write_text("model: tests.fixtures.models:FailsOnRealTensors\ninputs: [{shape: [2, 4]}]\n")
    assert main(["vram", str(spec), "--mode", "training", "--measure", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("roofline: error: measuring the memory of 'FailsOnRealTensors'")
    assert "ValueError: this model only works on fake tensors" in err[-1]
    assert not any("Traceback" in x for x in err)


def test_measure_with_json_to_stdout_prints_the_json_alone(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text("model: tests.fixtures.models:tiny_cnn\ninputs: [{shape: [2, 3, 8, 8]}]\n")
    assert main(["vram", str(spec), "--measure", "cpu", "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # nothing else on stdout
    assert data["measured"]["device"] == "cpu" and data["measured"]["allocated"] > 0
    assert "measuring tiny_cnn" in captured.err


# --------------------------------------------------------------------------- inline models


def _vram_json(argv, capsys):
    assert main(["vram", *argv, "--json", "-"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_inline_model_sizes_as_its_spec_file(spec, capsys):
    # the spec fixture is TinyCNN at 2x3x8x8; inline, one sample 3x8x8 at --batch 2
    common = ["--mode", "training", "--gpu", "3090", "--max-batch"]
    from_file = _vram_json([str(spec), *common], capsys)
    inline = _vram_json(
        ["tests.fixtures.models:TinyCNN", "--input", "3x8x8", "--batch", "2", *common], capsys
    )
    assert from_file.pop("spec") == str(spec)
    assert inline.pop("spec") == "tests.fixtures.models:TinyCNN --input 3x8x8"
    assert from_file.pop("name") == "TinyCNN" and inline.pop("name") == "TinyCNN"
    assert inline == from_file
    assert inline["assumptions"]["batch"] == 2
    # TinyCNN: conv 8*27+8, bn 2*8, fc 128*10+10 parameters
    assert inline["params"] == (8 * 27 + 8) + 16 + (128 * 10 + 10)


def test_inline_keyword_input_sizes_as_its_spec_file(tmp_path, capsys):
    # vram reads --input through the same parser: a keyword mask and an id range
    yaml_spec = tmp_path / "kw.yaml"
    yaml_spec.write_text(
        "model: tests.fixtures.models:KeywordInputs\ninputs:\n"
        "  - {shape: [1, 5], dtype: int64, high: 8}\n"
        "  - {name: attention_mask, shape: [1, 5], dtype: int64, high: 2}\n"
    )
    common = ["--mode", "training", "--batch", "2", "--gpu", "3090"]
    from_file = _vram_json([str(yaml_spec), *common], capsys)
    argv = ["--input", "5:int64:0-8", "--input", "attention_mask=5:int64"]
    inline = _vram_json(["tests.fixtures.models:KeywordInputs", *argv, *common], capsys)
    assert inline.pop("spec") == "tests.fixtures.models:KeywordInputs " + " ".join(argv)
    from_file.pop("spec")
    assert inline == from_file
    # KeywordInputs: emb 8*4, fc 4*2+2 parameters
    assert inline["params"] == 8 * 4 + 4 * 2 + 2


def test_params_json_has_no_spec(capsys):
    assert _vram_json(["--params", "1M"], capsys)["spec"] is None


@pytest.mark.parametrize(
    "argv, message",
    [
        # --input is the inline model's, or the rule of thumb's with --params
        (
            ["examples/resnet50.yaml", "--input", "3x224x224"],
            "--input is for an inline model (package.module:callable) or --params N; "
            "examples/resnet50.yaml is a spec file",
        ),
        (["examples/resnet50.yaml", "--kwarg", "a=1"], "--kwarg is for an inline model"),
        (["--params", "1M", "--input", "3x4", "--input", "3x4"], "with --params, --input is one"),
        # the rule of thumb reads a bare shape only: an inline model's forms are refused
        (["--params", "1M", "--input", "3x4:fp16"], "give one bare SHAPE, without NAME=, :DTYPE"),
        (
            ["--params", "1M", "--input", "ids=3x4"],
            "or :LOW-HIGH (those are an inline model's), not ids=3x4",
        ),
        (["--params", "1M", "--input", "3x4:int64:0-8"], "an inline model's), not 3x4:int64:0-8"),
        (["--params", "1M", "--input", "3x4:int64:8-0"], "'3x4:int64:8-0': the range 8-0 is empty"),
        (["--params", "1M", "--kwarg", "a=1"], "--params has no model"),
        (["tests.fixtures.models:TinyCNN"], "is an inline model: give its inputs with --input"),
        (["tests.fixtures.models:TinyCNN", "--input", "3x8x8", "--params", "1M"], "not both"),
    ],
)
def test_inline_options_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert main(["vram", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert message in err, err
