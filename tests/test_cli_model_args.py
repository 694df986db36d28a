"""The shared model options (roofline/cli/_model_args.py): which positional is an
inline model, and how --input and --kwarg read."""

from __future__ import annotations

import argparse
import shlex

import pytest

from roofline.cli._model_args import (
    InputArg,
    check_model_options,
    inline_data,
    inline_text,
    input_arg,
    is_inline,
    kwarg_arg,
)
from roofline.errors import SpecError


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


def test_input_reads_a_name_and_an_integer_range_as_a_spec_files_fields():
    # NAME= is the spec file's 'name:', :LOW-HIGH its 'low:'/'high:' ([LOW, HIGH))
    assert input_arg("attention_mask=128:int64") == InputArg((128,), "int64", "attention_mask")
    assert input_arg("128:int64:0-32000") == InputArg((128,), "int64", None, 0, 32000)
    assert input_arg("ids=4x7:long:-5-5") == InputArg((4, 7), "int64", "ids", -5, 5)
    assert input_arg("x=3x8x8") == InputArg((3, 8, 8), None, "x")
    assert input_arg(" ids = 5 : int64 : 0 - 8 ") == InputArg((5,), "int64", "ids", 0, 8)
    assert input_arg("5:int64:０-８") == InputArg((5,), "int64", None, 0, 8)  # full width
    # the plain form reads back to the same input
    for text in ("x=3x8x8", "ids=4x7:int64:-5-5", "128:int64:0-32000", "m=2:int8"):
        assert input_arg(text).text == text
        assert input_arg(input_arg(text).text) == input_arg(text)


@pytest.mark.parametrize(
    "text, piece",
    [
        ("", "expected a shape like 3x224x224"),
        ("x", "expected a shape like 3x224x224"),
        ("3x-1", "dimensions must be positive"),
        ("a:int64", "got 'a'"),
        ("3x0", "dimensions must be positive"),
        ("3:", "the dtype after ':' is empty"),
        ("3:int4", "unknown dtype 'int4'"),
        ("1a=3", "the name before '=' must be the Python name"),
        ("=3", "the name before '=' must be the Python name of the forward() argument"),
        ("a-b=3:int64", "got 'a-b'"),
        ("ids=", "expected a shape like 3x224x224"),
        ("3:0-8", "'0-8' is a value range: it follows an integer dtype (3:int64:0-8)"),
        ("3:０-８", "'０-８' is a value range: it follows an integer dtype"),  # full width
        ("3:fp16:0-8", "a value range is for an integer input; float16 values"),
        ("3:bool:0-1", "a value range is for an integer input; bool values"),
        ("3:int64:", "expected a value range LOW-HIGH like 0-32000 after the dtype, got ''"),
        ("3:int64:8", "expected a value range LOW-HIGH like 0-32000 after the dtype, got '8'"),
        ("3:int64:0..8", "got '0..8'"),
        ("3:int64:8-8", "the range 8-8 is empty: values are drawn from [LOW, HIGH)"),
        ("3:int64:9-2", "HIGH (2) must be larger than LOW (9)"),
        ("3:int64:0-8:x", "3 ':' where at most 2 go"),
    ],
)
def test_a_malformed_input_names_its_bad_piece_and_the_forms(text, piece):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        input_arg(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{text!r}: ")
    assert piece in message, message
    assert message.endswith(
        "--input takes [NAME=]SHAPE[:DTYPE[:LOW-HIGH]], e.g. 3x224x224, 3x224x224:fp16, "
        "128:int64:0-32000, attention_mask=128:int64"
    )


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


def test_inline_data_gives_names_and_ranges_as_a_spec_file_does():
    inputs = [input_arg(t) for t in ("ids=7:int64:3-50", "7:int64", "mask=7:bool", "x=2:fp16")]
    assert inline_data("pkg:Net", inputs, [])["inputs"] == [
        {"name": "ids", "shape": [1, 7], "dtype": "int64", "low": 3, "high": 50},
        {"shape": [1, 7], "dtype": "int64", "low": 0, "high": 2},  # the default range
        {"name": "mask", "shape": [1, 7], "dtype": "bool"},  # drawn from 0/1, no range
        {"name": "x", "shape": [1, 2], "dtype": "float16"},
    ]


def test_a_keyword_input_given_twice_is_refused():
    args = argparse.Namespace(input=[input_arg("m=3"), input_arg("4"), input_arg("m=5")])
    with pytest.raises(SpecError, match=r"^--input m=\.\.\. is given twice: each keyword"):
        check_model_options(args, ["pkg:Net"])


def test_inline_text_reads_back_to_the_same_options():
    inputs = [InputArg((3, 8, 8)), InputArg((4,), "int64"), input_arg("m=4:int64:0-9")]
    kwargs = [kwarg_arg(t) for t in ("tag='10'", "note=a b", "sizes=[1, 2]", "w=null")]
    text = inline_text("pkg.mod:Net", inputs, kwargs)
    words = shlex.split(text)
    assert words[:7] == [
        "pkg.mod:Net",
        "--input",
        "3x8x8",
        "--input",
        "4:int64",
        "--input",
        "m=4:int64:0-9",
    ]
    assert [input_arg(w) for w in words[2:7:2]] == inputs
    back = [kwarg_arg(w) for w in words[8::2]]
    assert back == kwargs == [("tag", "10"), ("note", "a b"), ("sizes", [1, 2]), ("w", None)]


def test_inline_text_keeps_non_ascii_text_as_typed():
    # the record is "the inline model as the command line gives it": a kwarg typed
    # tag=café is written so, not as YAML's escape "\xE9" (which reads back the same,
    # but is not what was typed); the quoting is shlex's, and it still reads back
    kwargs = [kwarg_arg("tag=café"), kwarg_arg("label='Größe 2'"), kwarg_arg("names=[α, β]")]
    text = inline_text("pkg:Net", [InputArg((4,))], kwargs)
    assert (
        text
        == "pkg:Net --input 4 --kwarg 'tag=café' --kwarg 'label=Größe 2' --kwarg 'names=[α, β]'"
    )
    assert [kwarg_arg(w) for w in shlex.split(text)[4::2]] == kwargs
