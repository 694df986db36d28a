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
            r"unknown mode 'fast'",
        ),
        (f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\nbatchsize: 3\n", r"unknown field"),
        (
            f"model: {FIXTURES}:tiny_cnn\ninputs: [{{shape: [1]}}]\nbatch: 0\n",
            r"'batch' must be a positive",
        ),
        ("just a string\n", r"expected a YAML mapping"),
        ("foo: 1\n", r"not a model spec"),
    ],
)
def test_bad_specs_give_one_line_errors(tmp_path, text, match):
    with pytest.raises(SpecError, match=match) as info:
        load_spec(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        load_spec("does/not/exist.yaml")


def test_callable_that_raises_or_returns_junk(tmp_path):
    spec = load_spec(write(tmp_path, f"model: {FIXTURES}:raises\ninputs: [{{shape: [1]}}]\n"))
    with pytest.raises(SpecError, match="RuntimeError: this factory always fails"):
        spec.build()
    spec = load_spec(write(tmp_path, f"model: {FIXTURES}:not_a_module\ninputs: [{{shape: [1]}}]\n"))
    with pytest.raises(SpecError, match=r"not a torch\.nn\.Module"):
        spec.build()
