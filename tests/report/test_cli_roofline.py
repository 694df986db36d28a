"""`roofline profile --gpu` and `roofline compare` end to end: golden table and JSON,
CSV/HTML files, and bad input (one line, exit 2)."""

from __future__ import annotations

import json

import pytest

from roofline.cli import main
from roofline.report.output import HTML_MARKER
from tests.fixtures.golden import check_golden
from tests.fixtures.models import TINY_SPEC


def test_profile_gpu_table_golden(spec, capsys):
    assert main(["profile", str(spec), "--depth", "all", "--gpu", "3090", "--top", "3"]) == 0
    out = capsys.readouterr().out
    for col in ("bound", "ceiling", "attainable", "time", "% time"):
        assert col in out.splitlines()[1]
    assert "ridge point 38.0 FLOP/B" in out  # 35.6 TFLOP/s / 936 GB/s (3090 datasheet)
    assert "top 3 layers by roofline time" in out
    check_golden("roofline_tiny_cnn_3090.txt", out)


def test_profile_gpu_table_states_each_rows_ceiling(spec, capsys):
    """fp16 on the 3090: matrix FLOPs on tensor cores, vector FLOPs on the plain pipes;
    each row (and the total) names the ceilings its FLOPs were priced at."""
    argv = ["profile", str(spec), "--depth", "all", "--gpu", "3090", "--precision", "fp16"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines[1].index("ceiling")  # the column's first character
    rows = lines[3 : lines.index("")]
    cells = {row.split()[0]: row[at:].split()[0] for row in rows}
    # conv and fc: a GEMM (tensor) plus a bias add (plain); the rest: vector FLOPs only
    # (the model's own row holds the functional ReLU and the flatten)
    assert cells == {
        "conv": "tensor+plain",
        "bn": "plain",
        "(model)": "plain",
        "pool": "plain",
        "fc": "tensor+plain",
        "total": "tensor+plain",
    }


def test_profile_gpu_json_csv_html(spec, tmp_path, capsys):
    j, c, h = tmp_path / "a.json", tmp_path / "a.csv", tmp_path / "r" / "a.html"
    argv = ["profile", str(spec), "--gpu", "3090", "--precision", "fp16", "--depth", "all"]
    assert main([*argv, "--json", str(j), "--csv", str(c), "--html", str(h)]) == 0
    out = capsys.readouterr().out
    assert "warning: bytes are counted at the profile's dtype (float32)" in out
    data = json.loads(j.read_text())
    r = data["roofline"]
    assert r["precision"] == "fp16" and r["ceilings"]["matrix"]["pipe"] == "tensor"
    assert len(r["layers"]) == len(data["layers"])
    assert sum(x["time_s"] for x in r["layers"]) == pytest.approx(r["totals"]["time_s"])
    check_golden(
        "roofline_tiny_cnn_3090_fp16.json",
        json.dumps({k: v for k, v in r.items()}, indent=1, sort_keys=True) + "\n",
    )
    lines = c.read_text().splitlines()
    assert "bound" in lines[0] and "explanation" in lines[0]
    assert len(lines) == 1 + len(r["layers"])
    page = h.read_text()
    assert HTML_MARKER in page and "TinyCNN" in page
    # the header says what the model was loaded from, to make the report again
    assert f" · from <code>{spec}</code></div>" in page
    # self-contained: plotly.js is inlined, and nothing else loads a script or a font
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs() in page
    rest = page.replace(get_plotlyjs(), "")
    assert "<script src" not in rest and "http" not in rest and "@import" not in rest
    # rerunning may replace our own report
    assert main([*argv, "--html", str(h)]) == 0


def test_compare_every_device_fastest_first(spec, tmp_path, capsys):
    from roofline.devices import all_devices

    j = tmp_path / "all.json"
    argv = ["compare", str(spec), "--gpu", "all", "--sort", "time", "--brief", "--json", str(j)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "== " not in out  # --brief: the table only
    analyses = json.loads(j.read_text())["analyses"]
    assert len(analyses) == len(all_devices())  # every device has an fp32 figure
    times = [a["totals"]["time_s"] for a in analyses]
    assert times == sorted(times)
    # bf16: the devices without a figure are skipped, and said so on stderr
    assert main([*argv[:-2], "--precision", "bf16", "--json", str(j)]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "without a bf16 figure" in err and "GTX 1080 Ti" in err
    n_bf16 = len(json.loads(j.read_text())["analyses"])
    assert 0 < n_bf16 < len(all_devices())
    # a device the user names keeps its one-line error
    assert (
        main(["compare", str(spec), "--gpu", "1080ti", "--gpu", "a100", "--precision", "bf16"]) == 2
    )


def test_compare_every_device_measured_skips_the_uncalibrated(spec, tmp_path, capsys, monkeypatch):
    from roofline.devices import all_devices, get_device
    from roofline.devices.cache import save_measured
    from roofline.devices.model import MeasuredCeilings

    monkeypatch.setenv("ROOFLINE_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["compare", str(spec), "--gpu", "all", "--measured", "--brief"]
    # nothing calibrated: one line that says so, not the first device's error
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no device(s) with measured ceilings" in err and "calibrate" in err
    assert "Traceback" not in err
    for name in ("3090", "t4"):
        save_measured(
            f"gpu-{get_device(name).key}",
            MeasuredCeilings({"fp32": 1e13}, {"fp32": 1e13}, 5e11, 5e-6, "2026-01-01", "2.14", "h"),
        )
    j = tmp_path / "m.json"
    assert main([*argv, "--json", str(j)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {len(all_devices()) - 2} device(s) without measured ceilings" in err
    analyses = json.loads(j.read_text())["analyses"]
    assert len(analyses) == 2 and all(a["device"]["is_measured_view"] for a in analyses)
    assert {a["device"]["memory_bandwidth_bytes_per_s"] for a in analyses} == {5e11}


def test_compare_two_specs(spec, tmp_path, capsys):
    other = tmp_path / "tiny4.yaml"
    other.write_text(TINY_SPEC.replace("[2, 3, 8, 8]", "[4, 3, 8, 8]").replace("TinyCNN", "Tiny4"))
    h, j = tmp_path / "c.html", tmp_path / "c.json"
    argv = ["compare", str(spec), str(other), "--gpu", "3090", "--gpu", "t4"]
    assert main([*argv, "--html", str(h), "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert out.count("TinyCNN") >= 2 and "Tesla T4" in out
    data = json.loads(j.read_text())
    assert len(data["analyses"]) == 4
    assert HTML_MARKER in h.read_text()


def test_compare_counts_a_data_dependent_model_over_real_tensors(tmp_path, capsys):
    # compare has no --real: the counter's "try --real" named a flag it does not take;
    # a model fake tensors cannot size (y[y > 0]) is counted over real tensors instead
    p = tmp_path / "mask.yaml"
    p.write_text("model: tests.fixtures.models:mask_select\ninputs: [{shape: [2, 4]}]\n")
    j = tmp_path / "c.json"
    assert main(["compare", str(p), "--gpu", "3090", "--gpu", "t4", "--json", str(j)]) == 0
    capsys.readouterr()
    analyses = json.loads(j.read_text())["analyses"]
    assert len(analyses) == 2


def test_a_one_layer_model_lists_its_top_layer_in_the_singular(tmp_path, capsys):
    p = tmp_path / "linear.yaml"
    p.write_text(
        "model: torch.nn:Linear\nkwargs: {in_features: 4, out_features: 3}\n"
        "inputs: [{shape: [2, 4]}]\n"
    )
    assert main(["profile", str(p), "--gpu", "3090"]) == 0
    assert "top 1 layer by roofline time:\n  1. (model) (Linear)" in capsys.readouterr().out


def test_compare_progress_lines_are_named_after_the_command(spec, capsys):
    # as profile's, bench's and vram's: its "profiling M ..." had no prefix, and its
    # skipped-devices note neither
    assert main(["compare", str(spec), "--gpu", "all", "--precision", "fp8", "--brief"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("compare: profiling ") for line in lines), lines
    assert any(line.startswith("compare: skipped ") for line in lines), lines
    assert all(line.startswith("compare: ") for line in lines), lines


def test_compare_loads_every_spec_before_profiling_any(spec, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    assert main(["compare", str(spec), str(bad), "--gpu", "3090"]) == 2
    err = capsys.readouterr().err
    assert "profiling" not in err and err.count("\n") == 1, err
    assert "bad.yaml:2:1: YAML syntax error" in err, err


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["profile", "{spec}", "--gpu", "3090", "--precision", "fp13"], "invalid choice: 'fp13'"),
        (["profile", "{spec}", "--gpu", "3090", "--precision", "fp8"], "has no fp8 peak"),
        (["profile", "{spec}", "--gpu", "no-such-gpu-9999"], "no-such-gpu-9999"),
        (["profile", "{spec}", "--html", "x.html"], "--html needs a device"),
        (["profile", "{spec}", "--precision", "fp16"], "--precision needs a device"),
        (["profile", "{spec}", "--measured"], "--measured needs a device"),
        (["profile", "{spec}", "--no-tf32-conv"], "--no-tf32-conv needs a device"),
        (["profile", "{spec}", "--top", "3"], "--top needs a device"),  # it was ignored
        (["compare", "{spec}", "{spec}", "--gpu", "nope-gpu"], "nope-gpu"),
        (["compare", "{spec}"], "required: --gpu"),
    ],
)
def test_bad_input_one_line(spec, argv, match, capsys):
    argv = [a.replace("{spec}", str(spec)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err, err
    assert err.count("\n") == 1, err


def test_fp32_convolutions_get_the_tf32_roof_on_an_a100(spec, tmp_path, capsys):
    """A100 datasheet: FP32 19.5 TFLOP/s, TF32 tensor 156 (dense). PyTorch's default
    cudnn.allow_tf32 runs fp32 convolutions at the latter; --no-tf32-conv is strict fp32."""
    j, h = tmp_path / "a.json", tmp_path / "a.html"
    assert main(["profile", str(spec), "--gpu", "a100", "--json", str(j), "--html", str(h)]) == 0
    out = capsys.readouterr().out
    assert "fp32 convolutions 156.00 TFLOP/s (tf32 tensor)" in out
    # A100 SXM4 80GB: 2,039 GB/s; ridges 19.5e12 / 2.039e12 = 9.6, 156e12 / 2.039e12 = 76.5
    assert "ridge point 9.6 FLOP/B (convolutions 76.5)" in out
    assert "warning: fp32 convolutions (" in out and "--no-tf32-conv" in out
    r = json.loads(j.read_text())["roofline"]
    assert r["ceilings"]["conv"]["flops_per_s"] == pytest.approx(156e12)
    conv = next(x for x in r["layers"] if x["name"] == "conv")
    assert conv["matrix_ceiling"]["precision"] == "tf32"
    assert '"series":"conv roof"' in h.read_text()
    assert main(["profile", str(spec), "--gpu", "a100", "--no-tf32-conv", "--json", str(j)]) == 0
    out = capsys.readouterr().out
    assert "tf32" not in out.lower()
    strict = json.loads(j.read_text())["roofline"]
    assert strict["ceilings"]["conv"] is None
    assert strict["totals"]["time_s"] >= r["totals"]["time_s"]


def test_profile_dtype_casts_the_model_and_sets_the_roofs(spec, tmp_path, capsys):
    # --dtype bf16: the model and its float input are cast, so every byte is 2 bytes
    # per element and, with no --precision, the 3090's bf16 roofs price the FLOPs
    fp32, bf16 = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["profile", str(spec), "--gpu", "3090", "--json", str(fp32)]) == 0
    assert (
        main(["profile", str(spec), "--gpu", "3090", "--dtype", "bf16", "--json", str(bf16)]) == 0
    )
    a, b = json.loads(fp32.read_text()), json.loads(bf16.read_text())
    assert b["dtype"] == "bfloat16" and b["roofline"]["precision"] == "bf16"
    assert a["roofline"]["precision"] == "fp32"
    assert b["totals"]["flops"] == a["totals"]["flops"]
    assert b["totals"]["bytes_read"] * 2 == a["totals"]["bytes_read"]
    # max pooling's int64 indices (2 x 8 x 4 x 4 of them) stay 8 bytes each
    indices = 2 * 8 * 4 * 4 * 8
    assert (b["totals"]["bytes_written"] - indices) * 2 == a["totals"]["bytes_written"] - indices
    assert not b["roofline"]["warnings"]  # bytes and roofs agree: nothing to warn about
    capsys.readouterr()
    assert main(["profile", str(spec), "--dtype", "fp8"]) == 2  # argparse: one line
    assert "cannot cast a model to 'fp8'" in capsys.readouterr().err


def test_tf32_warning_is_for_fp32_convolutions_only(spec, tmp_path, capsys):
    # a model cast to bf16 has no fp32 convolution for TF32 to run, even when its FLOPs
    # are priced at --precision fp32
    argv = ["profile", str(spec), "--gpu", "a100", "--dtype", "bf16", "--precision", "fp32"]
    assert main(argv) == 0
    assert "warning: fp32 convolutions (" not in capsys.readouterr().out


def test_compare_table_lists_every_input(spec, tmp_path, capsys):
    # a decode step's inputs are the token and its KV cache: the input column shows both
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    dec = tmp_path / "d.yaml"
    dec.write_text(
        f"model: {examples / 'llama.py'}:llama_tiny\n"
        "inputs:\n"
        "  - {name: input_ids, shape: [1, 1], dtype: int64, high: 1000}\n"
        "  - {name: kv_cache, shape: [1, 2, 2, 4, 16, 64]}\n"
    )
    assert main(["compare", str(spec), str(dec), "--gpu", "3090", "--brief"]) == 0
    out = capsys.readouterr().out
    assert "1x1, 1x2x2x4x16x64" in out


def test_dtype_takes_the_specs_spellings(spec, tmp_path):
    # --dtype accepts what a spec's dtype: accepts (half, float16, torch.bfloat16 ...)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["profile", str(spec), "--gpu", "3090", "--dtype", "half", "--json", str(a)]) == 0
    assert main(["profile", str(spec), "--gpu", "3090", "--dtype", "fp16", "--json", str(b)]) == 0
    assert json.loads(a.read_text())["totals"] == json.loads(b.read_text())["totals"]
    assert json.loads(a.read_text())["dtype"] == "float16"


def test_compare_note_flags_weights_the_device_cannot_hold_and_mixed_precisions():
    from types import SimpleNamespace

    from roofline.report.text import compare_note

    def a(weights, memory, dtype, precision):
        return SimpleNamespace(
            profile=SimpleNamespace(param_bytes=weights),
            device=SimpleNamespace(memory_bytes=memory),
            dtype=dtype,
            precision=precision,
        )

    # a 7B bf16 decoder (13.48 GB of weights) on an 8 GB card without bf16 roofs
    note = compare_note(a(13_476_831_232, 8_589_934_592, "bfloat16", "fp32"))
    assert note == "weights 13.48 GB > 8.59 GB memory; bfloat16 bytes, fp32 roofs"
    assert compare_note(a(100, 8_589_934_592, "bfloat16", "bf16")) == ""
    assert compare_note(a(100, 8_589_934_592, "float32", "tf32")) == ""  # tf32: fp32 bytes


def test_compare_note_is_in_the_text_and_the_html(spec, tmp_path, capsys):
    # the T4 has no bf16 figure: its row's roofs are fp32 over bf16 bytes, said in both
    html = tmp_path / "c.html"
    argv = ["compare", str(spec), "--gpu", "3090", "--gpu", "t4", "--dtype", "bf16"]
    assert main([*argv, "--brief", "--html", str(html)]) == 0
    out = capsys.readouterr().out
    t4 = next(line for line in out.splitlines() if "Tesla T4" in line)
    assert t4.rstrip().endswith("bfloat16 bytes, fp32 roofs")
    assert html.read_text().count("bfloat16 bytes, fp32 roofs") == 1


def test_compare_real_count_has_the_real_memory_guard(tmp_path, capsys, monkeypatch):
    # the real-tensor fallback builds the model for real: behind profile --real's guard.
    # MaskSelect's Linear(4, 4) has 20 fp32 parameters, 80 bytes: twice that, 160,
    # is more than half of the 200 bytes we pretend are free
    from tests.fixtures.memory import watch_counts_with_free_memory

    counted = watch_counts_with_free_memory(monkeypatch, 200)
    p = tmp_path / "mask.yaml"
    p.write_text("model: tests.fixtures.models:mask_select\ninputs: [{shape: [2, 4]}]\n")
    assert main(["compare", str(p), "--gpu", "3090", "--gpu", "t4"]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert "compare counts this model over real tensors" in err
    assert "needs about 0.00 GiB but only 0.00 GiB is free" in err
    assert counted == [False]  # the fake count only: the real model was never built


def test_compare_note_is_in_the_json(spec, tmp_path, capsys):
    # the JSON said neither what the table's note column nor the HTML's says
    out = tmp_path / "c.json"
    argv = ["compare", str(spec), "--gpu", "3090", "--gpu", "t4", "--dtype", "bf16"]
    assert main([*argv, "--json", str(out)]) == 0
    notes = {a["device"]["key"]: a["note"] for a in json.loads(out.read_text())["analyses"]}
    assert notes == {"rtx-3090": "", "tesla-t4": "bfloat16 bytes, fp32 roofs"}


def test_compare_inline_and_file_specs(spec, capsys):
    # --input and --kwarg apply to the inline model only: the file keeps its 2x3x8x8
    argv = ["compare", "tests.fixtures.models:TwoInputs", str(spec), "--gpu", "3090"]
    argv += ["--input", "4", "--input", "3:int64", "--kwarg", "width=3", "--json", "-"]
    assert main(argv) == 0, capsys.readouterr().err
    inline, from_file = json.loads(capsys.readouterr().out)["analyses"]
    assert (
        inline["spec"]
        == "tests.fixtures.models:TwoInputs --input 4 --input 3:int64 --kwarg width=3"
    )
    assert inline["model"] == "TwoInputs(width=3)"
    assert [i["shape"] for i in inline["inputs"]] == [[1, 4], [1, 3]]
    assert from_file["spec"] == str(spec) and from_file["model"] == "TinyCNN"
    assert [i["shape"] for i in from_file["inputs"]] == [[2, 3, 8, 8]]


@pytest.mark.parametrize(
    "models, extra, message",
    [
        (["@SPEC", "@SPEC"], ["--input", "3"], "--input is for an inline model"),
        (["@SPEC", "tests.fixtures.models:TinyCNN"], [], "give its inputs with --input SHAPE"),
    ],
)
def test_compare_inline_options_bad_input(models, extra, message, spec, capsys):
    models = [str(spec) if m == "@SPEC" else m for m in models]
    assert main(["compare", *models, "--gpu", "3090", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_html_header_names_an_inline_model_as_it_was_given(tmp_path, capsys):
    # an inline model's header holds its command-line form, to run it again
    h = tmp_path / "i.html"
    argv = ["profile", "tests.fixtures.models:TwoInputs", "--input", "4", "--input", "3:int64"]
    argv += ["--kwarg", "act=Tanh", "--kwarg", "vocab=12", "--gpu", "3090", "--html", str(h)]
    assert main(argv) == 0
    want = (
        " · from <code>tests.fixtures.models:TwoInputs --input 4 --input 3:int64 "
        "--kwarg act=Tanh --kwarg vocab=12</code></div>"
    )
    assert want in h.read_text()
    # a spec file's name is text, not markup: a & and a < in it are escaped
    odd = tmp_path / "a&b<c>.yaml"
    odd.write_text(TINY_SPEC)
    assert main(["profile", str(odd), "--gpu", "3090", "--html", str(h)]) == 0
    assert f" · from <code>{tmp_path}/a&amp;b&lt;c&gt;.yaml</code></div>" in h.read_text()
    # a profile of a module in code has no spec: no "from" in the header
    import torch

    import roofline
    from roofline.analysis import analyze
    from roofline.devices import get_device
    from roofline.report.html import _meta_rows
    from tests.fixtures.models import TinyCNN

    a = analyze(roofline.profile(TinyCNN(), (torch.randn(1, 3, 8, 8),)), get_device("3090"))
    assert " · from " not in _meta_rows([a], "today")
