"""The YOLO spec format: detection, overrides, user blocks, the row table, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from roofline.cli import main
from roofline.counting import profile_spec
from roofline.errors import SpecError
from roofline.spec import load_spec
from roofline.yolo import YoloFormat
from roofline.yolo.summary import yolo_gflops, yolo_rows_table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

SMALL = """
nc: 3
depth_multiple: 0.33
width_multiple: 0.5
anchors:
  - [10, 13, 16, 30, 33, 23]
  - [30, 61, 62, 45, 59, 119]
backbone:
  - [-1, 1, Conv, [100, 3, 2]]     # 0: 100 * 0.5 = 50 -> ceil to 56
  - [-1, 1, Conv, [64, 3, 2]]      # 1
  - [-1, 3, C3, [64]]              # 2
head:
  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]   # 3
  - [[-1, 0], 1, Concat, [1]]      # 4
  - [[4, 2], 1, Detect, [nc, anchors]]  # 5
"""


def _rows(spec):
    return spec.info["yolo_rows"]


# ----------------------------------------------------------------------- detection


def test_format_detected(write_yaml):
    spec = load_spec(write_yaml(SMALL))
    assert spec.format == "yolo"
    assert spec.name == "model"
    assert spec.inputs[0].shape == (1, 3, 640, 640)
    assert spec.info["imgsz"] == [640, 640] and spec.info["fused"] is False
    assert spec.info["nc"] == 3
    assert spec.info["depth_multiple"] == 0.33 and spec.info["width_multiple"] == 0.5
    # Detect reads row 4 (row 2 at /4 upsampled x2, joined with row 0: /2) and row 2 (/4)
    assert spec.info["strides"] == [2.0, 4.0]
    fmt = YoloFormat()
    assert fmt.detect({"backbone": [], "head": []})
    assert fmt.detect({"backbone": []})  # so that the error can say 'head' is missing
    assert fmt.detect({"depth_multiple": 1.0})
    assert not fmt.detect({"model": "torchvision.models:resnet18", "inputs": []})


def test_width_rounds_up_to_multiple_of_8_and_shapes(write_yaml):
    spec = load_spec(write_yaml(SMALL))
    rows = _rows(spec)
    assert rows[0]["args"] == [3, 56, 3, 2]
    assert rows[2]["args"] == [32, 32, 1] and rows[2]["n"] == 1  # 3 * 0.33 -> 1
    assert rows[4]["from"] == [-1, 0]
    assert rows[5]["args"][2] == [32 + 56, 32]  # Concat sums channels, Detect gets ch
    model = spec.build().eval()
    boxes, raw = model(torch.rand(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * (32 * 32 + 16 * 16), 3 + 5)
    assert [r.shape for r in raw] == [(1, 3, 32, 32, 8), (1, 3, 16, 16, 8)]


# ----------------------------------------------------------------------- overrides


def test_overrides_nc_imgsz_batch():
    path = EXAMPLES / "yolov5s.yaml"
    spec = load_spec(path, nc=6, imgsz=320, batch=4)
    assert spec.inputs[0].shape == (4, 3, 320, 320)
    assert spec.info["nc"] == 6 and spec.info["imgsz"] == [320, 320]
    detect = _rows(spec)[-1]
    assert detect["args"][0] == 6
    # Detect: 3 anchors x (6 + 5) outputs on 128/256/512 channels, with bias
    assert detect["params"] == (128 + 256 + 512 + 1 * 3) * 33
    rect = load_spec(path, imgsz=[384, 640])
    assert rect.inputs[0].shape == (1, 3, 384, 640)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nc": 0}, "--nc must be a positive integer"),
        ({"imgsz": "big"}, "imgsz must be a positive integer"),
        ({"fuse": "sometimes"}, "fuse must be"),
        ({"kwargs": {}}, "do not apply to YOLO-format"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(SpecError, match=message):
        load_spec(EXAMPLES / "yolov5s.yaml", **overrides)


def test_fuse_override_and_yaml_keys(write_yaml):
    text = SMALL + "\nname: tiny\nimgsz: [64, 96]\nbatch: 2\nfuse: true\n"
    spec = load_spec(write_yaml(text))
    assert spec.name == "tiny" and spec.inputs[0].shape == (2, 3, 64, 96)
    assert spec.info["fused"] is True and spec.info["fuse_rule"] == "yolov5"


# ----------------------------------------------------------------------- user blocks


def test_user_block_by_dotted_import_path():
    spec = load_spec(FIXTURES / "user_block.yaml")
    rows = _rows(spec)
    assert rows[0]["module"] == "userpkg.blocks.TinyBlock"
    assert rows[0]["args"] == [3, 16, 3]  # in-channels inserted, 32 * 0.5 = 16
    assert rows[0]["params"] == 3 * 16 * 9 + 16
    assert rows[2]["args"] == [32, 24]  # FixedWidth opts out of width scaling
    assert rows[3]["args"] == [24]  # nn.BatchNorm2d gets the channel count
    assert rows[5]["args"][2] == [24]
    model = spec.build().eval()
    assert type(model.model[0]).__name__ == "TinyBlock"
    boxes, _ = model(torch.rand(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * 32 * 32, 7)  # one level at /2 (row 1 has stride 2)


# ----------------------------------------------------------------------- row table


def test_row_table_without_profile():
    spec = load_spec(EXAMPLES / "mobilenetv3small_yolo5s.yaml", nc=6)
    table = yolo_rows_table(spec)
    lines = table.splitlines()
    assert lines[0].split() == ["from", "n", "params", "module", "arguments"]
    # the seed log's rows, module names without YOLOv5's "models.common." prefix
    assert lines[1].split() == [
        "0",
        "-1",
        "1",
        "464",
        "MobileNetV3_FirstLayer",
        "[3,",
        "16,",
        "3,",
        "2]",
    ]
    assert lines[15].split()[:5] == ["14", "[-1,", "8]", "1", "0"]
    assert lines[27].split()[:7] == ["26", "[19,", "22,", "25]", "1", "29667", "Detect"]
    assert lines[-1] == "301 layers, 3,561,859 parameters"


def test_row_table_with_profile():
    spec = load_spec(EXAMPLES / "yolov5s_v5.yaml", fuse=True)
    p = profile_spec(spec)
    table = yolo_rows_table(p, yolo=yolo_gflops(spec, p))
    assert "224 layers, 7,266,973 parameters, 17.0 GFLOPs (Conv+BN fused)" in table
    assert "YOLOv5 would print" in table


# ----------------------------------------------------------------------- bad input

BAD = {
    "unknown module": (
        SMALL.replace("[-1, 1, Conv, [64, 3, 2]]", "[-1, 1, Conv3000, [64, 3, 2]]"),
        ["row 1", "Conv3000", "unknown module"],
    ),
    "unknown nn module": (
        SMALL.replace("nn.Upsample", "nn.Upsampel"),
        ["row 3", "nn.Upsampel"],
    ),
    "unimportable dotted path": (
        SMALL.replace("[-1, 3, C3, [64]]", "[-1, 3, nosuchpkg.blocks.Block, [64]]"),
        ["row 2", "nosuchpkg.blocks"],
    ),
    "from out of range": (
        SMALL.replace("[[-1, 0], 1, Concat", "[[-1, 7], 1, Concat"),
        ["row 4", "'from' index 7 is out of range"],
    ),
    "from on the first row": (
        SMALL.replace("[-1, 1, Conv, [100, 3, 2]]", "[2, 1, Conv, [100, 3, 2]]"),
        ["row 0", "out of range"],
    ),
    "too many args": (
        SMALL.replace("[-1, 1, Conv, [64, 3, 2]]", "[-1, 1, Conv, [64, 3, 2, 1, 1, 1, 1, 1]]"),
        ["row 1", "wrong number of arguments", "Conv("],
    ),
    "no args for a channel block": (
        SMALL.replace("[-1, 3, C3, [64]]", "[-1, 3, C3, []]"),
        ["row 2", "output channels"],
    ),
    "missing head": (SMALL.split("head:")[0], ["missing 'head'"]),
    "missing backbone": ("nc: 3\nhead: []\n", ["missing 'backbone'"]),
    "malformed row": (
        SMALL.replace("[-1, 1, Conv, [64, 3, 2]]", "[-1, Conv, [64, 3, 2]]"),
        ["row 1", "expected [from, number, module, args]"],
    ),
    "channels do not fit": (
        SMALL.replace("[[-1, 0], 1, Concat, [1]]", "[[-1, 1], 1, Concat, [1]]"),
        ["row 4", "forward failed"],
    ),
    "unknown key": (SMALL + "width_multipel: 0.5\n", ["unknown field(s) width_multipel"]),
    # SMALL has 2 anchor levels: Detect needs exactly one input per level
    "Detect with fewer inputs than anchor levels": (
        SMALL.replace("[[4, 2], 1, Detect", "[[4], 1, Detect"),
        ["row 5 (head[2], Detect)", "1 input(s) [4]", "2 level(s)", "one input per anchor"],
    ),
    "Detect with more inputs than anchor levels": (
        SMALL.replace("[[4, 2], 1, Detect", "[[4, 2, 1], 1, Detect"),
        ["row 5 (head[2], Detect)", "3 input(s) [4, 2, 1]", "2 level(s)"],
    ),
    "build fails": (  # groups=7 does not divide the 32 output channels
        SMALL.replace("[-1, 1, Conv, [64, 3, 2]]", "[-1, 1, Conv, [64, 3, 2, None, 7]]"),
        ["model.yaml: row 1 (backbone[1], Conv): building failed: ValueError"],
    ),
    "empty head": (SMALL.split("head:")[0] + "head: []\n", ["'head' is empty", "Detect"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_load_spec(case, write_yaml):
    text, needles = BAD[case]
    path = write_yaml(text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: "), msg  # every error names the file first
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_bad_imgsz_names_the_row_and_suggests_a_size():
    with pytest.raises(SpecError, match=r"row 12 .*Concat.*try --imgsz 128"):
        load_spec(EXAMPLES / "yolov5s.yaml", imgsz=100)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_through_cli(case, write_yaml, capsys):
    text, needles = BAD[case]
    rc = main(["profile", str(write_yaml(text))])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1
    for needle in needles:
        assert needle in err


def test_cli_profiles_yolo_file_with_overrides(capsys):
    rc = main(["profile", str(EXAMPLES / "mobilenetv3small_yolo5s.yaml"), "--nc", "6", "--fuse"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "3,557,635" in out


def test_yolo_table_on_a_non_yolo_spec_prints_nothing(capsys):
    # the check runs before the header (and the profile): stdout stays empty. Loading
    # the spec imports its model's module, so torchvision must be there
    pytest.importorskip("torchvision")
    rc = main(["profile", str(EXAMPLES / "resnet50.yaml"), "--yolo-table"])
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0 and "needs a YOLO-format spec" in captured.err
