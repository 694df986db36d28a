"""Model spec loading: the import-path format and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from roofline.errors import SpecError
from roofline.spec import load_spec

FIXTURES = "tests.fixtures.models"


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_import_spec_builds_and_overrides(tmp_path):
    p = write(
        tmp_path,
        f"""
model: {FIXTURES}:tiny_cnn
inputs:
  - shape: [1, 3, 8, 8]
batch: 2
mode: training
name: Tiny
""",
    )
    spec = load_spec(p)
    assert spec.name == "Tiny" and spec.mode == "training" and spec.batch == 2
    assert spec.inputs[0].shape == (2, 3, 8, 8)
    assert load_spec(p, batch=5, mode="inference").inputs[0].shape == (5, 3, 8, 8)
    assert isinstance(spec.build(), torch.nn.Module)


def test_keyword_and_integer_inputs(tmp_path):
    p = write(
        tmp_path,
        """
model: torch.nn:Embedding
kwargs: {num_embeddings: 100, embedding_dim: 4}
inputs:
  - {name: input, shape: [2, 7], dtype: int64, high: 100}
""",
    )
    spec = load_spec(p)
    args, kwargs = spec.example_inputs()
    assert args == () and kwargs["input"].dtype == torch.int64
    assert int(kwargs["input"].max()) < 100


def test_random_inputs_are_never_zero(tmp_path):
    p = write(tmp_path, f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1, 3, 8, 8]}}]\n")
    (x,), _ = load_spec(p).example_inputs()
    assert x.abs().sum() > 0


def test_model_defined_next_to_the_spec(tmp_path):
    (tmp_path / "mynet.py").write_text(
        "import torch\n\ndef build():\n    return torch.nn.Linear(3, 2)\n"
    )
    p = write(tmp_path, "model: mynet:build\ninputs: [{shape: [4, 3]}]\n")
    assert isinstance(load_spec(p).build(), torch.nn.Linear)
    p2 = write(tmp_path, "model: ./mynet.py:build\ninputs: [{shape: [4, 3]}]\n", "b.yaml")
    assert isinstance(load_spec(p2).build(), torch.nn.Linear)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model: [unclosed\n", r"model.yaml:\d+:\d+: YAML syntax error"),
        ("model: !!python/object:os.system {}\n", r"unsafe or unknown YAML tag"),
        # was "unsafe or unknown YAML tag (found unhashable key)": there is no tag
        ("? [a, b]\n: 1\n", r"model.yaml:1: found unhashable key; a key must be plain"),
        # a standard tag with a value it cannot build was a ValueError, TypeError or
        # AttributeError traceback (the loader caught only YAMLError)
        ("batch: 1\nmode: !!float fast\n", r"model.yaml:2: cannot build the value \(could not"),
        ("mode: !!timestamp 2020-13\n", r"model.yaml:1: cannot build the value \("),
        # a RecursionError traceback
        ("model: " + "[" * 5000 + "]" * 5000 + "\n", r"model.yaml:1:\d+: .*nested too deeply"),
        ("kwargs: !!set [1]\n", r"model.yaml:1: expected a mapping node, but found sequence;"),
        ("kwargs: !!omap [1]\n", r"model.yaml:1: expected a mapping of length 1.*fix its !!tag"),
        (
            "model: nosuchpkg.mod:fn\ninputs: [{shape: [1]}]\n",
            r"cannot import module 'nosuchpkg.mod'",
        ),
        (f"model: {FIXTURES}:nope\ninputs: [{{shape: [1]}}]\n", r"has no attribute 'nope'"),
        (f"model: {FIXTURES}:tiny_cnn\n", r"'inputs' is required"),
        (f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1, x]}}]\n", r"positive integers"),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: float33}}]\n",
            r"unknown dtype 'float33'",
        ),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\nmode: fast\n",
            r"model.yaml: unknown mode 'fast'",  # the file is named
        ),
        (f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\nbatchsize: 3\n", r"unknown field"),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\nbatch: 0\n",
            r"'batch' must be a positive",
        ),
        (  # int('abc') raised a ValueError traceback
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: int64, high: abc}}]\n",
            r"inputs\[0\]\.high must be an integer, got 'abc'",
        ),
        (  # int([1]) raised a TypeError traceback
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: int64, high: 9, low: [1]}}]\n",
            r"inputs\[0\]\.low must be an integer, got \[1\]",
        ),
        (  # int(2.5) silently drew from [0, 2)
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: int64, high: 2.5}}]\n",
            r"inputs\[0\]\.high must be an integer, got 2.5",
        ),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: int64, high: 5, low: 5}}]\n",
            r"inputs\[0\]: values are drawn from \[low, high\), so 'high' \(5\) must be larger",
        ),
        (  # a range on a float input was dropped without a word
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], high: 10}}]\n",
            r"inputs\[0\]: 'low'/'high' give an integer input's range; this input is float32",
        ),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], dtype: bool, low: 0}}]\n",
            r"inputs\[0\]: 'low'/'high' give an integer input's range; this input is bool",
        ),
        (  # the forward got {3: x}: 'keywords must be strings', naming no spec field
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], name: 3}}]\n",
            r"inputs\[0\]\.name must be the name of the forward\(\) argument it feeds, got 3",
        ),
        (  # the forward got one 'ids' tensor: the other was dropped without a word
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1], name: ids}}, {{shape: [1]}}, "
            "{shape: [2], name: ids}]\n",
            r"inputs\[2\]\.name 'ids' is given twice \(inputs\[0\] too\): each keyword input "
            r"feeds one forward\(\) argument",
        ),
        ("just a string\n", r"expected a YAML mapping"),
        ("foo: 1\n", r"not a model spec"),
        (  # PyYAML keeps the last 'model:' silently: the second model was profiled
            f"model: {FIXTURES}:tiny_cnn\nmodel: {FIXTURES}:tiny_quantized\ninputs: [{{shape: [1]}}]\n",
            r"model.yaml:2: key 'model' appears twice; keep one",
        ),
        (  # a list name was printed as '[1, 2]' in every report title
            f"name: [1, 2]\nmodel: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\n",
            r"'name' must be text, got \[1, 2\]",
        ),
        (
            f"description: {{a: 1}}\nmodel: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\n",
            r"'description' must be text",
        ),
    ],
)
def test_bad_specs_give_one_line_errors(tmp_path, text, match):
    with pytest.raises(SpecError, match=match) as info:
        load_spec(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_a_file_that_is_not_text_is_one_line(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(SpecError, match=r"model.yaml: not UTF-8 text \(byte 0\)"):
        load_spec(path)


@pytest.mark.parametrize("batch", [None, 2**62])
def test_an_input_larger_than_a_tensor_can_be_is_one_line(tmp_path, batch):
    shape = "[2, 3]" if batch else "[100000000000000000000, 3]"
    text = f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: {shape}}}]\n"
    with pytest.raises(SpecError, match=r"larger than a tensor can be \(2\^63 - 1 bytes\)"):
        load_spec(write(tmp_path, text), batch=batch)


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        load_spec("does/not/exist.yaml")


def test_callable_that_raises_or_returns_junk(tmp_path):
    spec = load_spec(write(tmp_path, f"model: {FIXTURES}:raises\ninputs: [{{shape: [1]}}]\n"))
    with pytest.raises(
        SpecError, match=r"model.yaml: building .*RuntimeError: this factory always"
    ):
        spec.build()
    spec = load_spec(write(tmp_path, f"model: {FIXTURES}:not_a_module\ninputs: [{{shape: [1]}}]\n"))
    with pytest.raises(SpecError, match=r"not a torch\.nn\.Module"):
        spec.build()


class _Tied(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 4)
        self.b.weight = self.a.weight  # tied, as an LM's embedding and head
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("scale", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x) * self.scale)


def test_model_dtype_from_the_file_and_the_override(tmp_path):
    p = write(
        tmp_path,
        f"""
model: {FIXTURES}:tiny_cnn
dtype: bf16
inputs:
  - shape: [1, 3, 8, 8]
""",
    )
    spec = load_spec(p)
    assert spec.dtype == torch.bfloat16
    model = spec.build()
    assert {t.dtype for t in model.parameters()} == {torch.bfloat16}
    (x,), _ = spec.example_inputs()
    assert x.dtype == torch.bfloat16 and x.abs().sum() > 0  # the float input follows
    model(x)  # and the model runs on it
    assert load_spec(p, dtype="fp16").dtype == torch.float16  # the option wins
    assert (
        load_spec(write(tmp_path, "model: torch.nn:ReLU\ninputs: [{shape: [1]}]\n", "r.yaml")).dtype
        is None
    )


def test_casting_keeps_tied_parameters_and_integer_buffers():
    from roofline.spec import cast_floating

    m = _Tied()
    cast_floating(m, torch.float16)
    assert m.a.weight is m.b.weight and m.a.weight.dtype == torch.float16
    assert isinstance(m.a.weight, torch.nn.Parameter) and m.a.weight.requires_grad
    assert m.steps.dtype == torch.int64 and m.scale.dtype == torch.float16
    assert len(list(m.parameters())) == 3  # weight (shared), a.bias, b.bias


def test_model_dtype_casts_fake_tensors_too():
    # Module.to(dtype) fails on fake tensors ("Couldn't swap"): the counter builds
    # the model under FakeTensorMode, so the cast must work there
    from roofline.counting import profile_spec
    from roofline.spec import InputSpec, ModelSpec

    spec = ModelSpec("t", _Tied, (InputSpec((2, 4)),), dtype=torch.float16)
    prof = profile_spec(spec)
    assert prof.dtype == "float16"
    assert prof.totals().matrix_flops == 2 * 2 * (2 * 4 * 4)  # two 4x4 linears, batch 2


@pytest.mark.parametrize("bad", ["int8", "fp8", "float33"])
def test_a_model_dtype_that_cannot_run_is_one_line(tmp_path, bad):
    p = write(tmp_path, f"model: {FIXTURES}:tiny_cnn\ndtype: {bad}\ninputs: [{{shape: [1]}}]\n")
    with pytest.raises(SpecError, match=r"'dtype': model dtype .* use fp32, fp16, bf16") as info:
        load_spec(p)
    assert "\n" not in str(info.value)


def test_a_constructor_that_reads_tensor_values_gets_a_hint_and_real_works(tmp_path, capsys):
    # built on fake tensors, a constructor that reads a value of a tensor too large to
    # compute during the build cannot run: say why, and --real (which builds it for
    # real) must not fail on the same fake build first
    from roofline.cli import main

    (tmp_path / "ctor.py").write_text(
        "import torch\n"
        "class C(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        n = int((torch.randn(1 << 17) > 0).sum().item()) % 7 + 1\n"
        "        self.fc = torch.nn.Linear(4, n)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    p = write(tmp_path, "model: ctor:C\ninputs: [{shape: [2, 4]}]\n")
    assert main(["profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "constructor reads tensor values" in err and "65,536 elements" in err
    assert "--real" in err
    assert main(["profile", str(p), "--real"]) == 0


def test_an_endless_file_is_refused_after_a_bounded_read(tmp_path, monkeypatch):
    """``profile /dev/zero`` (or a .yaml linked to it) read until memory ran out and
    ended in a MemoryError traceback: the read stops past MAX_YAML_BYTES."""
    import roofline.yamlio

    monkeypatch.setattr(roofline.yamlio, "MAX_YAML_BYTES", 1024)  # the same rule, smaller
    big = write(tmp_path, "# " + "x" * 1030 + "\n")
    with pytest.raises(SpecError, match=r"model.yaml: larger than \d+ MiB; a spec is a small"):
        load_spec(big)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(SpecError, match=r"zero.yaml: larger than"):
        load_spec(tmp_path / "zero.yaml")


def test_a_spec_from_a_pipe_is_read_once(tmp_path, monkeypatch):
    """``profile <(sed ... spec.yaml) --json out.json``: the check of the outputs read
    the pipe to find the model's .py files, and the command then found it empty. A
    file that is not a regular one names no model files and is not opened for that."""
    import os

    import roofline.yamlio
    from roofline.spec import model_source_files

    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)

    def no_open(*a, **k):
        raise AssertionError("the pipe was opened")  # (a real open would block here)

    monkeypatch.setattr(roofline.yamlio, "open", no_open, raising=False)
    assert model_source_files(fifo) == []
    # a regular spec still names the .py beside it
    (tmp_path / "mynet.py").write_text("def build():\n    pass\n")
    monkeypatch.undo()
    spec = write(tmp_path, "model: mynet:build\ninputs: [{shape: [1]}]\n")
    assert model_source_files(spec) == [tmp_path / "mynet.py"]


@pytest.mark.parametrize(
    ("model", "message"),
    [(":build", "'model' must look like 'package.module:callable'"), (".:build", "importing '.'")],
)
def test_a_model_line_without_a_module_is_a_one_line_error(tmp_path, capsys, model, message):
    """Looking for the model's .py (so no output replaces it) took ``Path("")`` for the
    module and crashed in ``with_suffix`` with a ValueError traceback, before the spec's
    own check could say what was wrong."""
    from roofline.cli import main
    from roofline.spec import model_source_files

    spec = write(tmp_path, f"model: '{model}'\ninputs: [{{shape: [2, 4]}}]\n")
    assert model_source_files(spec) == []
    assert main(["profile", str(spec), "--json", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("roofline: error: ") and message in err, err


def test_spec_from_data_loads_a_mapping_as_its_file_would(spec):
    # the command line's inline models go through here: same format, same checks
    from roofline.spec import spec_from_data

    data = {"model": "tests.fixtures.models:tiny_cnn", "inputs": [{"shape": [2, 3, 8, 8]}]}
    s = spec_from_data(data, batch=4, mode="training")
    from_file = load_spec(spec)
    assert s.name == "tiny_cnn" and s.source is None and s.format == "import"
    assert s.inputs[0].shape == (4, 3, 8, 8) and s.mode == "training"
    assert from_file.inputs[0].shape == (2, 3, 8, 8)
    # messages name the model's target where there is no file
    with pytest.raises(SpecError, match=r"^x:y: inputs\[0\] is an integer input: give 'high'"):
        spec_from_data({"model": "x:y", "inputs": [{"shape": [1, 3], "dtype": "int64"}]})
    with pytest.raises(
        SpecError, match=r"^no_such_mod_q:f: cannot import .* in the current folder"
    ):
        spec_from_data({"model": "no_such_mod_q:f", "inputs": [{"shape": [1]}]})
    with pytest.raises(SpecError, match=r"^spec: expected a YAML mapping"):
        spec_from_data([1, 2])


@pytest.mark.parametrize(
    ("dtype", "low", "high", "message"),
    [
        # int64 values are drawn by torch.randint in int64: a HIGH past 2^63 - 1 was an
        # "Overflow when unpacking long long" traceback, even on fake tensors
        ("int64", 0, 2**64, r"'high' \(18446744073709551616\) must be at most 9223372036854775807"),
        # uint8 holds 0..255: HIGH 300 drew values wrapped modulo 256 without a word
        ("uint8", 0, 300, r"'high' \(300\) must be at most 256"),
        ("int8", -200, 5, r"'low' \(-200\) must be at least -128"),
    ],
)
def test_an_integer_range_past_its_dtype_is_refused(tmp_path, dtype, low, high, message):
    spec = write(
        tmp_path,
        f"model: {FIXTURES}:tiny_cnn\n"
        f"inputs: [{{shape: [1], dtype: {dtype}, low: {low}, high: {high}}}]\n",
    )
    with pytest.raises(SpecError, match=rf"inputs\[0\]: an? {dtype} input's values: {message}"):
        load_spec(spec)


def test_an_integer_range_that_fills_its_dtype_is_taken(tmp_path):
    # [0, 256) is every uint8 value and [-128, 128) every int8 one (HIGH is excluded)
    for dtype, low, high in (("uint8", 0, 256), ("int8", -128, 128)):
        spec = write(
            tmp_path,
            f"model: {FIXTURES}:tiny_cnn\n"
            f"inputs: [{{shape: [2000], dtype: {dtype}, low: {low}, high: {high}}}]\n",
        )
        (x,), _ = load_spec(spec).example_inputs()
        assert x.dtype == getattr(torch, dtype) and int(x.min()) >= low and int(x.max()) < high
