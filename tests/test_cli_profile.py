"""`roofline profile` end to end: golden table and JSON, files, bad input."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

from roofline.cli import main
from roofline.errors import RooflineError
from roofline.report.text import ANALYSIS_COLUMNS, LAYER_COLUMNS
from tests.fixtures.golden import check_golden


def test_profile_table_golden(spec, capsys):
    assert main(["profile", str(spec), "--depth", "all"]) == 0
    check_golden("profile_tiny_cnn.txt", capsys.readouterr().out)


def test_profile_json_and_csv(spec, tmp_path, capsys):
    out_json, out_csv = tmp_path / "p.json", tmp_path / "p.csv"
    assert main(["profile", str(spec), "--json", str(out_json), "--csv", str(out_csv)]) == 0
    data = json.loads(out_json.read_text())
    for key in ("model", "inputs", "mode", "totals", "layers", "uncounted_ops"):
        assert key in data
    t = data["totals"]
    for key in (
        "params",
        "flops",
        "matrix_flops",
        "vector_flops",
        "macs",
        "bytes_read",
        "bytes_written",
    ):
        assert isinstance(t[key], int)
    # conv 3->8 3x3 pad 1 on 2x3x8x8: 2*8*64 outputs * 27 MACs; linear 2x128 @ 128x10
    assert t["macs"] == 2 * 8 * 64 * 27 + 2 * 128 * 10
    assert t["params"] == (8 * 27 + 8) + 16 + (128 * 10 + 10)
    assert sum(layer["flops"] for layer in data["layers"]) == t["flops"]
    # the spec the run read, as given (a tmp path here, so not in the golden file)
    assert data["spec"] == str(spec)
    check_golden(
        "profile_tiny_cnn.json",
        json.dumps(
            {k: v for k, v in data.items() if k not in ("generator", "torch_version", "spec")},
            indent=1,
        )
        + "\n",
    )
    lines = out_csv.read_text().splitlines()
    assert lines[0] == ",".join(LAYER_COLUMNS)  # a plain header row, no comment line
    assert len(lines) == 1 + len(data["layers"])
    with out_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [layer["name"] for layer in data["layers"]]
    assert sum(int(r["flops"]) for r in rows) == t["flops"]
    # rerunning may replace our own files
    assert main(["profile", str(spec), "--json", str(out_json), "--csv", str(out_csv)]) == 0


def test_profile_refuses_to_overwrite_user_file(spec, tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "data"}')
    assert main(["profile", str(spec), "--json", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "was not written by roofline" in err and err.count("\n") == 1
    assert mine.read_text() == '{"my": "data"}'
    assert main(["profile", str(spec), "--json", str(mine), "--force"]) == 0


def test_profile_replaces_its_own_file_whatever_its_name(spec, tmp_path, capsys):
    # recognised by content, not by suffix: a roofline JSON named .dat is still ours
    ours = tmp_path / "run.dat"
    assert main(["profile", str(spec), "--json", str(ours)]) == 0
    assert main(["profile", str(spec), "--json", str(ours)]) == 0
    # and someone's list of records is not (it lacks the device keys of `gpus --json`)
    theirs = tmp_path / "list.json"
    theirs.write_text('[{"key": 1, "name": "x"}]')
    assert main(["profile", str(spec), "--json", str(theirs)]) == 2
    assert theirs.read_text() == '[{"key": 1, "name": "x"}]'


@pytest.mark.parametrize(
    "content",
    [
        "a,b\n1,2\n",  # someone's data
        ",".join(LAYER_COLUMNS) + ",note\n",  # our columns, plus one of theirs
        "name,type\nx,y\n",  # a prefix of our header is not our header
        "",  # an empty file
    ],
)
def test_profile_refuses_to_overwrite_user_csv(spec, tmp_path, capsys, content):
    mine = tmp_path / "data.csv"
    mine.write_text(content)
    assert main(["profile", str(spec), "--csv", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "was not written by roofline" in err and err.count("\n") == 1
    assert mine.read_text() == content


@pytest.mark.parametrize("gpu", [[], ["--gpu", "3090"]])
def test_profile_replaces_its_own_csv(spec, tmp_path, capsys, gpu):
    """Recognised by its exact header row, with or without the analysis columns, and
    files from roofline 0.1.0 (which began with a ``# generator`` comment) as well."""
    out = tmp_path / "p.csv"
    assert main(["profile", str(spec), "--csv", str(out), *gpu]) == 0
    first = out.read_text()
    assert first.splitlines()[0] == ",".join(ANALYSIS_COLUMNS if gpu else LAYER_COLUMNS)
    edited = first.replace("\nconv,", "\nedited,")  # a row edited, the header intact
    assert edited != first
    out.write_text(edited)
    assert main(["profile", str(spec), "--csv", str(out), *gpu]) == 0
    assert out.read_text() == first
    out.write_text("# generator: roofline 0.1.0\n" + first)
    assert main(["profile", str(spec), "--csv", str(out), *gpu]) == 0
    assert out.read_text() == first


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["profile", "missing.yaml"], "no such file"),
        (["profile", "{spec}", "--depth", "0"], "depth must be at least 1"),
        (["profile", "{spec}", "--batch", "0"], "must be a positive integer"),
        (["profile", "{spec}", "--imgsz", "640"], "apply to YOLO-format files only"),
        (["profile", "{spec}", "--yolo-table"], "needs a YOLO-format spec"),
    ],
)
def test_profile_bad_input_exit_2_one_line(spec, capsys, args, match):
    args = [a.format(spec=spec) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_numeric_options_read_full_width_digits_as_names_are(spec, capsys):
    # `--depth ３` was read by int() (Python takes full-width digits) while `--params
    # ３M` was refused: every number now reads its NFKC form, as device names do
    from roofline.cli.profile_cmd import depth_arg, non_negative_int, positive_int

    assert depth_arg("３") == 3 and depth_arg("ａｌｌ") is None
    assert positive_int("１６") == 16 and non_negative_int("０") == 0
    assert main(["profile", str(spec), "--depth", "１", "--batch", "２"]) == 0
    full_width = capsys.readouterr().out
    assert main(["profile", str(spec), "--depth", "1", "--batch", "2"]) == 0
    assert full_width == capsys.readouterr().out


@pytest.mark.parametrize("text", ["٣", "1²"])
@pytest.mark.parametrize("option", ["--depth", "--batch", "--imgsz"])
def test_numeric_options_refuse_digits_of_other_scripts(spec, capsys, option, text):
    # Arabic-Indic ٣: int() read it as 3, --params refused it; now every option refuses.
    # 1² is no number either (int() refused it; NFKC alone would read it as 12)
    assert main(["profile", str(spec), option, text]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"argument {option}: expected a positive integer" in err
    assert f"written with the digits 0-9, got {text!r}" in err


def test_model_that_rejects_input_reports_layer(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("model: tests.fixtures.models:rejects\ninputs: [{shape: [2, 4]}]\n")
    assert main(["profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "at layer 'second'" in err and err.count("\n") == 1


def test_named_inputs_keep_the_batch(tmp_path, capsys):
    p = tmp_path / "named.yaml"
    p.write_text(
        "model: tests.fixtures.models:Tied\n"
        "inputs: [{name: ids, shape: [1, 7], dtype: int64, high: 50}]\n"
    )
    out = tmp_path / "p.json"
    assert main(["profile", str(p), "--batch", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["inputs"] == [{"name": "ids", "shape": [3, 7], "dtype": "int64"}]
    assert data["batch"] == 3


def test_one_linear_in_training_counts_by_hand(tmp_path, capsys):
    # forward: 2 x in x out x batch matrix FLOPs + one bias add per output; backward:
    # the weight gradient (as many) and the bias gradient's sum, no input gradient
    p = tmp_path / "linear.yaml"
    p.write_text(
        "model: torch.nn:Linear\nkwargs: {in_features: 4, out_features: 3}\n"
        "inputs: [{shape: [2, 4]}]\nmode: training\n"
    )
    assert main(["profile", str(p)]) == 0
    out = capsys.readouterr().out
    assert "FLOPs 108 = matrix 96 + vector 12" in out
    # small counts keep the space between number and unit, as large ones do
    assert "forward 54 FLOPs, backward 54 FLOPs: training = 2.00x forward" in out


@pytest.mark.parametrize(
    ("name", "code", "where"),
    [
        # a module that parses sys.argv at import (a training script), and a constructor.
        # Each its own module name: the one that imports is cached in sys.modules, and a
        # shared name handed it to the other case whenever that ran second
        ("exits_at_import", "import sys\nsys.exit(2)\ndef build():\n    pass\n", ":2"),
        ("exits_in_build", "import sys\ndef build():\n    sys.exit('no GPU')\n", ":3"),
    ],
)
def test_a_model_that_calls_sys_exit_is_one_line(tmp_path, capsys, name, code, where):
    """sys.exit() in the model's code ended the command silently with its status (2,
    or 1 for a message, which went out unprefixed)."""
    (tmp_path / f"{name}.py").write_text(code)
    where = f"{name}.py{where}"
    p = tmp_path / f"{name}.yaml"
    p.write_text(f"model: {name}:build\ninputs: [{{shape: [2, 4]}}]\n")
    assert main(["profile", str(p)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("roofline: error: the model's code called sys.exit("), err
    assert where in err, err
    # --debug shows where, as for any other error
    assert main(["profile", str(p), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


BOOM = "class Boom(BaseException):\n    pass\n\n\n"


@pytest.mark.parametrize(
    ("name", "code", "where"),
    [
        # a BaseException that is neither an Exception nor SystemExit/KeyboardInterrupt,
        # from the constructor and at import: it printed Python's traceback, exit 1
        ("base_in_build", BOOM + "def build():\n    raise Boom('no licence')\n", ":6"),
        ("base_at_import", BOOM + "raise Boom('no licence')\n", ":5"),
    ],
)
def test_a_model_that_raises_a_bare_base_exception_is_one_line(tmp_path, capsys, name, code, where):
    (tmp_path / f"{name}.py").write_text(code)
    p = tmp_path / f"{name}.yaml"
    p.write_text(f"model: {name}:build\ninputs: [{{shape: [2, 4]}}]\n")
    assert main(["profile", str(p)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("roofline: error: the model's code raised Boom: no licence at "), err
    assert f"{name}.py{where}" in err, err
    assert main(["profile", str(p), "--debug"]) == 2  # --debug: the traceback too
    assert "Traceback" in capsys.readouterr().err


def test_a_model_constructor_interrupted_still_exits_130(tmp_path, capsys):
    (tmp_path / "interrupted.py").write_text("def build():\n    raise KeyboardInterrupt\n")
    p = tmp_path / "interrupted.yaml"
    p.write_text("model: interrupted:build\ninputs: [{shape: [2, 4]}]\n")
    assert main(["profile", str(p)]) == 130
    assert capsys.readouterr().err == "roofline: interrupted\n"


def test_a_model_whose_argument_parser_exits_is_named_at_its_own_line(
    tmp_path, capsys, monkeypatch
):
    """A training script that parses sys.argv at import exits inside argparse: the
    error named argparse.py's line, not the model's ``parse_args()`` call."""
    (tmp_path / "parses.py").write_text(
        "import argparse\nargparse.ArgumentParser().parse_args()\ndef build():\n    pass\n"
    )
    p = tmp_path / "parses.yaml"
    p.write_text("model: parses:build\ninputs: [{shape: [2, 4]}]\n")
    monkeypatch.setattr(sys, "argv", ["roofline", "profile", str(p)])  # not ours to parse
    assert main(["profile", str(p)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after argparse's own usage
    assert last.startswith("roofline: error: the model's code called sys.exit(2)"), last
    assert f"at {tmp_path / 'parses.py'}:2;" in last and "argparse.py" not in last, last


@pytest.mark.parametrize(
    ("gpus", "message"),
    [
        # the last --gpu won without a word: the user asked for two analyses, got one
        (["--gpu", "3090", "--gpu", "a100"], "profile takes one --gpu (got '3090' and 'a100')"),
        (["--device", "3090", "--gpu", "t4"], "profile takes one --gpu (got '3090' and 't4')"),
        # was "unknown device 'all'"
        (["--gpu", "all"], "for every device: roofline compare SPEC --gpu all"),
        # read as the other special names are (full-width, any case): was "unknown device"
        (["--gpu", "ＡＬＬ"], "for every device: roofline compare SPEC --gpu all"),
    ],
)
def test_profile_takes_one_gpu_and_says_where_several_go(spec, capsys, gpus, message):
    assert main(["profile", str(spec), *gpus]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert "roofline compare" in err


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "profile", str(tmp_path / "missing.yaml")])


@pytest.mark.parametrize(
    "argv",
    [
        ["profile", "{missing}", "--debug"],  # where users type it: it was "unrecognized"
        ["vram", "{missing}", "--debug"],
        ["gpus", "show", "nosuch", "--debug"],  # a nested subcommand too
    ],
)
def test_debug_after_the_subcommand_shows_traceback(tmp_path, argv):
    argv = [a.replace("{missing}", str(tmp_path / "missing.yaml")) for a in argv]
    with pytest.raises(RooflineError):
        main(argv)


def test_without_debug_after_the_subcommand_the_error_stays_one_line(tmp_path, capsys):
    assert main(["profile", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roofline: error: ") and err.count("\n") == 1


def test_compare_counters(spec, capsys):
    assert main(["profile", str(spec), "--compare-counters"]) == 0
    out, err = capsys.readouterr()
    # its progress line is named after the command, as every progress line of profile's
    assert err.startswith("profile: running fvcore, thop, torchinfo, FlopCounterMode"), err
    for tool in ("fvcore", "thop", "torchinfo", "FlopCounterMode"):
        assert tool in out
    assert "MACs" in out and "ratio" in out


def test_real_counts_equal_fake_counts(spec, capsys):
    assert main(["profile", str(spec), "--depth", "all"]) == 0
    fake = capsys.readouterr().out
    assert main(["profile", str(spec), "--depth", "all", "--real"]) == 0
    real = capsys.readouterr().out
    assert "counted on real tensors" in real
    # everything but the header line is identical
    assert fake.splitlines()[1:] == real.splitlines()[1:]


@pytest.mark.parametrize(
    ("option", "instead"),
    [("--real", "count on fake tensors"), ("--compare-counters", "compare on a smaller model")],
)
def test_real_model_refused_when_memory_is_short(spec, capsys, monkeypatch, option, instead):
    """Both options that build the real model share one memory check, made before the
    real model exists: 2x the weights must fit in half the free memory."""
    from roofline import compare_counters
    from tests.fixtures.memory import watch_counts_with_free_memory

    # TinyCNN's weights are 6 KB (4 B x 1546); pretend only 10 KB is free
    built = watch_counts_with_free_memory(monkeypatch, 10_000)

    monkeypatch.setattr(
        compare_counters, "compare_counters", lambda *a: pytest.fail("ran the real model")
    )
    assert main(["profile", str(spec), option]) == 2
    err = capsys.readouterr().err
    assert f"{option} runs the real model" in err and instead in err
    assert "but only 0.00 GiB is free" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not any(built)  # counted on fake tensors only


def test_real_proceeds_when_memory_suffices(spec, capsys, monkeypatch):
    from roofline.counting import real

    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 64 * 2**30)
    assert main(["profile", str(spec), "--real"]) == 0
    assert "counted on real tensors" in capsys.readouterr().out


def test_real_runs_a_model_fake_tensors_cannot(tmp_path, capsys):
    """The memory check sizes the model without running it, so --real still serves the
    models whose forward depends on tensor values (the fake count suggests --real)."""
    p = tmp_path / "vd.yaml"
    p.write_text("model: tests.fixtures.models:value_dependent\ninputs: [{shape: [2, 4]}]\n")
    assert main(["profile", str(p)]) == 2
    assert "try --real" in capsys.readouterr().err
    assert main(["profile", str(p), "--real"]) == 0
    assert "counted on real tensors" in capsys.readouterr().out


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-CUDA message")
def test_real_cuda_without_cuda_is_one_line(spec, capsys):
    assert main(["profile", str(spec), "--real", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDA is not available" in err and err.count("\n") == 1


def test_fuse_shows_its_effect(capsys):
    root = Path(__file__).resolve().parents[1]
    spec = root / "examples" / "yolov5n.yaml"
    assert main(["profile", str(spec), "--imgsz", "64", "--fuse", "--gpu", "3090"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("--fuse"))
    # YOLOv5 v6 prints "270 layers" for yolov5n/s, and "213 layers" after fusing
    assert "213 layers (unfused 270)" in line
    assert "traffic" in line and "roofline time" in line and "-" in line.split("traffic")[1]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's quantized-dtype deprecation
def test_real_sizes_a_quantized_model_by_the_float_model_it_quantizes(
    tmp_path, capsys, monkeypatch
):
    """A quantized model cannot be built on fake tensors, so it used to pass the check
    unsized (0 bytes); its fake build is stopped where it quantizes, and the float model
    handed there is sized: TinyQuant's 3,114 fp32 parameters, 12,456 bytes."""
    import torch

    from roofline.counting import real
    from roofline.spec import load_spec

    if not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines):
        pytest.skip("no x86/fbgemm quantized engine")
    p = tmp_path / "q.yaml"
    p.write_text("model: tests.fixtures.models:tiny_quantized\ninputs: [{shape: [1, 3, 8, 8]}]\n")
    assert real.real_build_bytes(load_spec(p)) == 3114 * 4
    # 2 x 12,456 bytes against half of 20,000 free
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 20_000)
    assert main(["profile", str(p), "--real"]) == 2
    err = capsys.readouterr().err
    assert "--real runs the real model" in err and err.count("\n") == 1


def test_real_on_a_quantized_model_hides_torchs_quantized_dtype_deprecation(tmp_path):
    # `profile --real` on torchvision's quantized MobileNetV2 printed torch's UserWarning
    # that quint8/qint8/qint32 tensors are deprecated, raised inside torch.ao's convert
    # (the model's build) and aimed at the model's author, not at someone counting it.
    # Fresh processes: torch warns once per process
    pytest.importorskip("torchvision")
    import subprocess
    import sys

    import torch

    if not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines):
        pytest.skip("no x86/fbgemm quantized engine")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    words = "quantized tensor creation functions"
    build = (
        "import torchvision.models.quantization as q; q.mobilenet_v2(quantize=True, weights=None)"
    )
    plain = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, env=env)
    if words not in plain.stderr:
        pytest.skip("this torch does not warn about its quantized dtypes")
    spec = tmp_path / "q.yaml"
    spec.write_text(
        "model: torchvision.models.quantization:mobilenet_v2\n"
        "kwargs: {quantize: true, weights: null}\ninputs: [{shape: [1, 3, 32, 32]}]\n"
    )
    argv = [sys.executable, "-m", "roofline", "profile", str(spec), "--real", "--depth", "1"]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "counted on real tensors" in out.stdout.splitlines()[0], out.stdout
    assert words not in out.stderr, out.stderr
    # vram traces it for real too (its build and forward): it printed the warning
    argv = [sys.executable, "-m", "roofline", "vram", str(spec)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "weights" in out.stdout and words not in out.stderr, out.stderr


# --------------------------------------------------------------------------- inline models


#: a fixture model with two inputs and typed keyword arguments
TWO = "tests.fixtures.models:TwoInputs"
#: a fixture model with token ids (an embedding of 8 rows) and a keyword attention_mask
KW = "tests.fixtures.models:KeywordInputs"


def _profile_json(argv, capsys):
    """`roofline profile ARGV --json -` as data (exit 0 asserted)."""
    assert main(["profile", *argv, "--json", "-"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_inline_resnet18_equals_its_yaml_spec(tmp_path, capsys):
    # the same model written as a spec file, as examples/*.yaml write theirs
    pytest.importorskip("torchvision")
    yaml_spec = tmp_path / "resnet18.yaml"
    yaml_spec.write_text(
        "model: torchvision.models:resnet18\nkwargs: {weights: null}\n"
        "inputs:\n  - shape: [1, 3, 224, 224]\n    dtype: float32\n"
    )
    from_file = _profile_json([str(yaml_spec), "--batch", "2"], capsys)
    inline = _profile_json(
        ["torchvision.models:resnet18", "--input", "3x224x224", "--batch", "2"], capsys
    )
    assert inline["totals"] == from_file["totals"]
    assert inline["layers"] == from_file["layers"]
    assert (
        inline["inputs"] == from_file["inputs"] == [{"shape": [2, 3, 224, 224], "dtype": "float32"}]
    )
    # named by the callable, as a file without 'name:' is; the spec field says how to rerun
    assert inline["model"] == from_file["model"] == "resnet18"
    assert inline["spec"] == "torchvision.models:resnet18 --input 3x224x224"
    assert from_file["spec"] == str(yaml_spec)
    # torchvision's documented figures for ResNet-18: 11,689,512 parameters, 1.814 GMACs
    # per 224x224 image (its "GFLOPS" column counts MACs)
    assert inline["totals"]["params"] == 11_689_512
    assert round(inline["totals"]["macs"] / 2 / 1e9, 3) == 1.814


def test_inline_batch_and_mode_as_a_files(spec, capsys):
    # TinyCNN at 2x3x8x8: the spec fixture's file against --input 3x8x8 --batch 2
    from_file = _profile_json([str(spec), "--mode", "training"], capsys)
    inline = _profile_json(
        ["tests.fixtures.models:TinyCNN", "--input", "3x8x8", "--batch", "2", "--mode", "training"],
        capsys,
    )
    assert inline["totals"] == from_file["totals"]
    assert inline["totals_by_phase"] == from_file["totals_by_phase"]
    assert inline["mode"] == "training" and inline["batch"] == 2
    # conv 3->8 3x3 pad 1 on 2x3x8x8: 2*8*64 outputs * 27 MACs; linear 2x128 @ 128x10,
    # in the forward (the backward adds its own)
    forward = inline["totals_by_phase"]["forward"]
    assert forward["macs"] == 2 * 8 * 64 * 27 + 2 * 128 * 10


def test_inline_several_inputs_integer_ids_and_typed_kwargs(capsys):
    target = "tests.fixtures.models:TwoInputs"
    argv = [target, "--input", "4", "--input", "3:int64", "--batch", "4"]
    kw = ["--kwarg", "width=3", "--kwarg", "bias=false", "--kwarg", "act=null"]
    data = _profile_json([*argv, *kw], capsys)
    # YAML types: width the int 3, bias False (no fc bias), act None (nn.Identity):
    # fc 4*3 weights, emb 10*3 = 42; as text "3" nn.Linear fails, "false" would add a bias
    assert data["totals"]["params"] == 4 * 3 + 10 * 3
    # fc at batch 4 is one mm: 2 * 4 * 4 * 3 FLOPs; the embedding is a gather
    assert data["totals"]["matrix_flops"] == 2 * 4 * 4 * 3
    assert data["inputs"] == [
        {"shape": [4, 4], "dtype": "float32"},
        {"shape": [4, 3], "dtype": "int64"},
    ]
    assert data["model"] == "TwoInputs(width=3, bias=False, act=None)"
    assert data["spec"] == (
        f"{target} --input 4 --input 3:int64 --kwarg width=3 --kwarg bias=false --kwarg act=null"
    )
    # the defaults: width 2 with a bias: 4*2 + 2 + 10*2
    assert _profile_json(argv, capsys)["totals"]["params"] == 4 * 2 + 2 + 10 * 2


def test_inline_integer_input_runs_for_real(capsys):
    # ids are drawn from [0, 2): valid rows of any embedding, so the real model runs
    argv = ["tests.fixtures.models:TwoInputs", "--input", "4", "--input", "3:int64", "--real"]
    data = _profile_json(argv, capsys)
    assert data["counter"] == "real"
    assert data["totals"]["params"] == 4 * 2 + 2 + 10 * 2


def test_inline_spec_field_reproduces_the_run(capsys):
    import shlex

    # the spec field is the command line, quoted for a shell: split, it reruns the same
    argv = ["tests.fixtures.models:TwoInputs", "--input", "4", "--input", "3:int64"]
    first = _profile_json([*argv, "--kwarg", "width=2", "--kwarg", "act='ReLU'"], capsys)
    again = _profile_json(shlex.split(first["spec"]), capsys)
    assert again == first
    assert first["model"] == "TwoInputs(width=2, act='ReLU')"


def _kw_yaml(tmp_path, inputs):
    path = tmp_path / "kw.yaml"
    path.write_text(f"model: {KW}\ninputs:\n" + "".join(f"  - {i}\n" for i in inputs))
    return path


def test_inline_keyword_input_equals_its_yaml_spec(tmp_path, capsys):
    # --input NAME=... is the spec file's 'name:', :LOW-HIGH its 'low:'/'high:'
    yaml_spec = _kw_yaml(
        tmp_path,
        [
            "{shape: [1, 5], dtype: int64, high: 8}",
            "{name: attention_mask, shape: [1, 5], dtype: int64, high: 2}",
        ],
    )
    from_file = _profile_json([str(yaml_spec), "--batch", "2"], capsys)
    argv = [KW, "--input", "5:int64:0-8", "--input", "attention_mask=5:int64", "--batch", "2"]
    inline = _profile_json(argv, capsys)
    assert inline["totals"] == from_file["totals"]
    assert inline["layers"] == from_file["layers"]
    assert (
        inline["inputs"]
        == from_file["inputs"]
        == [
            {"shape": [2, 5], "dtype": "int64"},
            {"name": "attention_mask", "shape": [2, 5], "dtype": "int64"},
        ]
    )
    assert inline["spec"] == f"{KW} --input 5:int64:0-8 --input attention_mask=5:int64"
    # B x T = 2 x 5 tokens of d = 4: fc 2 * 10 * 4 * 2 matrix FLOPs and 10 * 2 bias adds;
    # the mask reaches forward() by name: one multiply per embedded element, 10 * 4
    assert inline["totals"]["matrix_flops"] == 2 * 10 * 4 * 2
    assert inline["totals"]["vector_flops"] == 10 * 2 + 10 * 4
    without = _profile_json([KW, "--input", "5:int64", "--batch", "2"], capsys)
    assert without["totals"]["vector_flops"] == 10 * 2  # no mask, no multiply


def test_inline_keyword_inputs_go_anywhere_as_in_a_yaml_spec(tmp_path, capsys):
    # a spec file may list a keyword input before a positional one, and the positional
    # ones still go in order: the command line mirrors it, and may name every input
    yaml_spec = _kw_yaml(
        tmp_path,
        [
            "{name: attention_mask, shape: [1, 5], dtype: int64, high: 2}",
            "{shape: [1, 5], dtype: int64, high: 8}",
        ],
    )
    from_file = _profile_json([str(yaml_spec)], capsys)
    first = _profile_json([KW, "--input", "attention_mask=5:int64", "--input", "5:int64"], capsys)
    named = _profile_json(
        [KW, "--input", "attention_mask=5:int64", "--input", "input_ids=5:int64"], capsys
    )
    assert first["totals"] == named["totals"] == from_file["totals"]
    assert first["inputs"] == from_file["inputs"]
    assert first["totals"]["vector_flops"] == 5 * 2 + 5 * 4  # the mask's multiply: passed


def test_inline_integer_range_is_the_values_a_real_run_draws(tmp_path, capsys):
    # the embedding has 8 rows: ids from [0, 8) or [7, 8) index it; [8, 9) draws only 8,
    # one past the table, so the real run fails, in one line, as the spec file's does
    for ok in ("0-8", "7-8"):
        data = _profile_json([KW, "--input", f"5:int64:{ok}", "--real"], capsys)
        assert data["counter"] == "real" and data["totals"]["params"] == 8 * 4 + 4 * 2 + 2
    yaml_spec = _kw_yaml(tmp_path, ["{shape: [1, 5], dtype: int64, low: 8, high: 9}"])
    errors = []
    for argv in ([KW, "--input", "5:int64:8-9"], [str(yaml_spec)]):
        assert main(["profile", *argv, "--real"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        errors.append(err)
    assert errors[0] == errors[1]
    assert "at layer 'emb': IndexError: index out of range" in errors[0]
    # and says which values the integer input held, and how to give its range
    assert errors[0].endswith(
        "index out of range in self (the integer input holds random values 8; an index "
        "into a table, such as an embedding, must stay below the table's size: give the "
        "range with --input SHAPE:int64:LOW-HIGH, or 'low'/'high' in the spec)"
    )
    # counted on fake tensors, the values are never read: any range counts the same
    fake = [
        _profile_json([KW, "--input", f"5:int64:{r}"], capsys)["totals"] for r in ("0-8", "8-9")
    ]
    assert fake[0] == fake[1]


def test_inline_spec_field_reproduces_a_run_with_names_and_ranges(capsys):
    import shlex

    argv = [KW, "--input", " attention_mask = 5 : long ", "--input", "5:int64:０-８", "--real"]
    first = _profile_json(argv, capsys)
    # the plain forms, in the order given
    assert first["spec"] == f"{KW} --input attention_mask=5:int64 --input 5:int64:0-8"
    again = _profile_json([*shlex.split(first["spec"]), "--real"], capsys)
    assert again == first


def test_inline_file_py_resolves_against_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\n"
        "class Net(nn.Sequential):\n"
        "    def __init__(self, d=4):\n"
        "        super().__init__(nn.Linear(d, d))\n"
    )
    monkeypatch.chdir(tmp_path)
    data = _profile_json(["net.py:Net", "--input", "5", "--kwarg", "d=5"], capsys)
    assert data["totals"]["params"] == 5 * 5 + 5
    # the model's own file is read: no output may replace it, --force or not
    assert main(["profile", "net.py:Net", "--input", "4", "--json", "net.py", "--force"]) == 2
    assert "which this command reads" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["tests.fixtures.models:TinyCNN"],
            "tests.fixtures.models:TinyCNN is an inline model: give its inputs with --input SHAPE",
        ),
        (["missing.yaml", "--input", "3"], "missing.yaml: no such file"),
        (["missing.yaml"], "missing.yaml: no such file"),
        (
            ["@SPEC", "--input", "3x8x8"],
            "--input is for an inline model (package.module:callable); @SPEC is a spec file",
        ),
        (["@SPEC", "--kwarg", "a=1"], "--kwarg is for an inline model"),
        (["tests.fixtures.models:TinyCNN", "--input", "3xax8"], "expected a shape like 3x224x224"),
        (["tests.fixtures.models:TinyCNN", "--input", "3x0x8"], "dimensions must be positive"),
        (["tests.fixtures.models:TinyCNN", "--input", "3x8x8:fp99"], "unknown dtype 'fp99'"),
        (
            ["tests.fixtures.models:TinyCNN", "--input", "3x8x8:"],
            "argument --input: '3x8x8:': the dtype after ':' is empty; --input takes "
            "[NAME=]SHAPE[:DTYPE[:LOW-HIGH]], e.g. 3x224x224",
        ),
        (
            [KW, "--input", "5:0-8"],
            "'5:0-8': '0-8' is a value range: it follows an integer dtype (5:int64:0-8)",
        ),
        ([KW, "--input", "5:int64:8-0"], "'5:int64:8-0': the range 8-0 is empty"),
        ([KW, "--input", "5:fp16:0-8"], "a value range is for an integer input"),
        ([KW, "--input", "input-ids=5:int64"], "the name before '=' must be the Python name"),
        (
            [
                KW,
                "--input",
                "5:int64",
                "--input",
                "attention_mask=5",
                "--input",
                "attention_mask=5",
            ],
            "--input attention_mask=... is given twice",
        ),
        (  # forward() has no such argument: the model's own error, at the root
            [KW, "--input", "5:int64", "--input", "mask=5:int64"],
            "unexpected keyword argument 'mask'",
        ),
        (["tests.fixtures.models:TinyCNN", "--input", "3x8x8", "--kwarg", "a"], "KEY=VALUE"),
        (["tests.fixtures.models:TinyCNN", "--input", "3", "--kwarg", "1a=2"], "a Python name"),
        (["tests.fixtures.models:TinyCNN", "--input", "3", "--kwarg", "a="], "a=null for None"),
        (["tests.fixtures.models:TinyCNN", "--input", "3", "--kwarg", "a=[1"], "not valid YAML"),
        (
            [TWO, "--input", "4", "--kwarg", "width=2", "--kwarg", "width=3"],
            "--kwarg width=... is given twice",
        ),
        (
            [TWO, "--input", "4", "--input", "3:int64", "--kwarg", "width=three"],
            "building \"TwoInputs(width='three')\" failed: TypeError",
        ),
        (
            ["no_such_module_xyz.nets:Net", "--input", "3"],
            "no_such_module_xyz.nets:Net: cannot import module 'no_such_module_xyz.nets'",
        ),
        (
            ["tests.fixtures.models:NoSuchNet", "--input", "3"],
            "has no attribute 'NoSuchNet'",
        ),
        (
            ["tests.fixtures.models:TINY_SPEC", "--input", "3"],
            "'tests.fixtures.models:TINY_SPEC' is not callable",
        ),
        (
            ["tests.fixtures.models:not_a_module", "--input", "3"],
            "the model callable returned int, not a torch.nn.Module",
        ),
        (["missing_file.py:Net", "--input", "3"], "missing_file.py does not exist"),
        (
            ["tests.fixtures.models:TinyCNN", "--input", "3x8x8", "--imgsz", "64"],
            "--imgsz apply to YOLO-format files only",
        ),
    ],
)
def test_inline_bad_input_is_one_line_exit_2(argv, message, spec, capsys):
    argv = [str(spec) if a == "@SPEC" else a for a in argv]
    message = message.replace("@SPEC", str(spec))
    assert main(["profile", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert message in err, err


def test_inline_error_shows_its_traceback_with_debug():
    with pytest.raises(RooflineError, match="give its inputs with --input"):
        main(["profile", "tests.fixtures.models:TinyCNN", "--debug"])


@pytest.mark.parametrize("argv", [["profile", "mynet.py"], ["profile", "mynet.py", "--input", "4"]])
def test_a_python_file_without_its_callable_says_to_name_it(tmp_path, monkeypatch, capsys, argv):
    # `roofline profile mynet.py` (the ':Net' forgotten) read the Python file as YAML
    # ("mynet.py:2:27: YAML syntax error") or, with --input, called it "a spec file,
    # which has its own inputs": one line that says how to name the callable instead
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynet.py").write_text("import torch\nNet = lambda: torch.nn.Linear(4, 4)\n")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "roofline: error: mynet.py is a Python file, not a spec file: an inline model "
        "names its callable after a ':' (mynet.py:CALLABLE) and gives --input SHAPE"
    ]
