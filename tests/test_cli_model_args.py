"""The shared model options (roofline/cli/_model_args.py): which positional is an
inline model, and how --input and --kwarg read."""

from __future__ import annotations

import argparse
import shlex

import pytest

from roofline.cli._model_args import (
    InputArg,
    inline_data,
    inline_text,
    input_arg,
    is_inline,
    kwarg_arg,
)


@pytest.mark.parametrize(
    "text, inline",
    [
        ("torchvision.models:resnet50", True),
        ("timm:create_model", True),
        ("mypkg.nets:Net.build", True),  # an attribute path, as ImportFormat resolves it
        ("nets/my_net.py:Net", True),
        ("./net.py:Net", True),
        ("missing.yaml", False),  # stays "no such file"
        ("dir/missing.yml", False),
        ("models:resnet50.yaml", False),
        ("resnet50", False),  # no callable: a file name
        ("pkg:", False),
        (":build", False),
        ("pkg:1abc", False),
        ("C:\\specs\\net.yaml", False),
    ],
)
def test_is_inline(text, inline):
    assert is_inline(text) is inline


def test_an_existing_file_is_a_file_whatever_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg:Net").write_text("model: x:y\n")
    assert not is_inline("pkg:Net")
    assert is_inline("pkg:Other")


def test_input_reads_shape_and_dtype():
    assert input_arg("3x224x224") == InputArg((3, 224, 224), None)
    assert input_arg("3,224,224") == InputArg((3, 224, 224), None)
    assert input_arg("３ｘ２２４") == InputArg((3, 224), None)  # full width, as vram read it
    # any spelling of a dtype, kept as its canonical name
    assert input_arg("128:int64") == InputArg((128,), "int64")
    assert input_arg("128:long") == InputArg((128,), "int64")
    assert input_arg("3x8x8:fp16") == InputArg((3, 8, 8), "float16")
    assert input_arg("3x8x8:fp16").text == "3x8x8:float16"
    for bad in ("", "x", "3x-1", "3:", "3:int4", "a:int64"):
        with pytest.raises(argparse.ArgumentTypeError):
            input_arg(bad)


def test_kwarg_values_read_as_yaml():
    assert kwarg_arg("num_classes=10") == ("num_classes", 10)
    assert kwarg_arg("pretrained=false") == ("pretrained", False)
    assert kwarg_arg("weights=null") == ("weights", None)
    assert kwarg_arg("model_name=resnet50") == ("model_name", "resnet50")
    assert kwarg_arg("sizes=[1, 2]") == ("sizes", [1, 2])
    assert kwarg_arg("tag='10'") == ("tag", "10")  # quoted: text, not a number
    assert kwarg_arg("expr=a=b") == ("expr", "a=b")  # the first '=' splits
    for bad in ("novalue", "=3", "1x=3", "a-b=3", "a=", "a=[1", "a={b: 1, b: 2}"):
        with pytest.raises(argparse.ArgumentTypeError):
            kwarg_arg(bad)


def test_inline_data_is_the_mapping_a_spec_file_holds():
    data = inline_data(
        "timm:create_model",
        [InputArg((3, 224, 224)), InputArg((16,), "int64")],
        [("model_name", "resnet50"), ("num_classes", 10)],
    )
    assert data == {
        "name": "create_model(model_name='resnet50', num_classes=10)",
        "model": "timm:create_model",
        "kwargs": {"model_name": "resnet50", "num_classes": 10},
        # a batch dimension of 1, which --batch replaces; integer ids from [0, 2)
        "inputs": [
            {"shape": [1, 3, 224, 224], "dtype": "float32"},
            {"shape": [1, 16], "dtype": "int64", "low": 0, "high": 2},
        ],
    }


def test_inline_text_reads_back_to_the_same_options():
    inputs = [InputArg((3, 8, 8)), InputArg((4,), "int64")]
    kwargs = [kwarg_arg(t) for t in ("tag='10'", "note=a b", "sizes=[1, 2]", "w=null")]
    text = inline_text("pkg.mod:Net", inputs, kwargs)
    words = shlex.split(text)
    assert words[:5] == ["pkg.mod:Net", "--input", "3x8x8", "--input", "4:int64"]
    back = [kwarg_arg(w) for w in words[6::2]]
    assert back == kwargs == [("tag", "10"), ("note", "a b"), ("sizes", [1, 2]), ("w", None)]
