"""Parameter counts of the bundled YOLO-format models against published references.

Models are built normally (real tensors, or meta tensors for the big ones) and counted
with ``sum(p.numel() for p in model.parameters())``: no dependency on the counter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from roofline.fuse import fuse_model
from roofline.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Per-row parameters of mobilenetv3small_yolo5s at nc=6, copied from the YOLOv5 training
# log in seed note 003 (../shared/seeds/003_*.txt, "from n params module arguments").
SEED_ROW_PARAMS = [
    464, 744, 3864, 5416, 13736, 57264, 57264, 21968, 29800, 91848, 294096, 294096,
    25088, 0, 0, 308736, 33024, 0, 0, 77568, 147712, 0, 296448, 590336, 0, 1182720,
    29667,
]  # fmt: skip
# Same log, row arguments as YOLOv5 printed them (channels inferred and inserted).
SEED_ROW_ARGS = {
    0: [3, 16, 3, 2],
    1: [16, 16, 3, 16, 1, 0, 2],
    9: [48, 96, 5, 288, 1, 1, 2],
    12: [96, 256, 1, 1],
    13: [None, 2, "nearest"],
    15: [304, 256, 1, False],
    19: [152, 128, 1, False],
    20: [128, 128, 3, 2],
    25: [512, 512, 1, False],
    26: [
        6,
        [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
        [128, 256, 512],
    ],
}
SEED_ROW_FROM = {14: [-1, 8], 18: [-1, 3], 21: [-1, 16], 24: [-1, 12], 26: [19, 22, 25]}


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _build(name: str, **overrides):
    spec = load_spec(EXAMPLES / f"{name}.yaml", **overrides)
    torch.manual_seed(0)
    return spec, spec.build()


def test_seed_model_rows_match_training_log():
    spec, model = _build("mobilenetv3small_yolo5s", nc=6)
    assert [_params(m) for m in model.model] == SEED_ROW_PARAMS
    rows = spec.info["yolo_rows"]
    assert [r["params"] for r in rows] == SEED_ROW_PARAMS
    for i, args in SEED_ROW_ARGS.items():
        assert rows[i]["args"] == args, i
    for i, f in SEED_ROW_FROM.items():
        assert rows[i]["from"] == f
    assert all(r["n"] == 1 for r in rows)  # the log prints n = 1 on every row
    # log: "Model Summary: 301 layers, 3561859 parameters"
    assert _params(model) == 3_561_859
    assert len(list(model.modules())) == 301
    assert spec.info["layers"] == 301


def test_seed_model_fused():
    # reference README: 3,557,635 after YOLOv5's Conv+BN fusion; seed 003 notes the
    # fused model has 277 layers ("mobilenetv3_yolov5s层数为277").
    _, model = _build("mobilenetv3small_yolo5s", nc=6)
    fuse_model(model)
    assert _params(model) == 3_557_635
    assert len(list(model.modules())) == 277
    spec = load_spec(EXAMPLES / "mobilenetv3small_yolo5s.yaml", nc=6, fuse=True)
    assert spec.info["params"] == 3_557_635 and spec.info["fused"] is True
    assert _params(spec.build()) == 3_557_635


def test_seed_model_nc80():
    # reference README and seed 003 (torchinfo): 3,761,437 at nc=80
    _, model = _build("mobilenetv3small_yolo5s")
    assert _params(model) == 3_761_437


@pytest.mark.parametrize(
    ("name", "params", "fused", "fused_layers"),
    [
        # reference README (YOLOv5's own summary); seed 003: the fused v5.0 yolov5s has
        # 224 layers ("yolov5的层数为224")
        ("yolov5s", 7_235_389, 7_225_885, None),
        ("yolov5s_v5", 7_276_605, 7_266_973, 224),
    ],
)
def test_yolov5s_totals(name, params, fused, fused_layers):
    spec, model = _build(name)
    assert _params(model) == params
    assert spec.info["params"] == params
    fuse_model(model)
    assert _params(model) == fused
    if fused_layers is not None:
        assert len(list(model.modules())) == fused_layers
    assert load_spec(EXAMPLES / f"{name}.yaml", fuse=True).info["params"] == fused


@pytest.mark.parametrize(
    ("name", "millions", "fused_layers"),
    [
        # ultralytics/yolov5 README, pretrained-checkpoints table, "params (M)" (fused
        # models), and the fused layer counts YOLOv5 prints (213/290/367/444 for s/m/l/x,
        # as quoted in published comparisons)
        ("yolov5n", 1.9, 213),
        ("yolov5s", 7.2, 213),
        ("yolov5m", 21.2, 290),
        ("yolov5l", 46.5, 367),
        ("yolov5x", 86.7, 444),
    ],
)
def test_v6_family_matches_yolov5_readme(name, millions, fused_layers):
    spec = load_spec(EXAMPLES / f"{name}.yaml", fuse=True)
    with torch.device("meta"):  # same build code, no memory for the big ones
        model = spec.build()
    assert round(_params(model) / 1e6, 1) == millions
    assert len(list(model.modules())) == fused_layers


def test_rows_are_named_model_i():
    _, model = _build("yolov5s")
    names = {n for n, _ in model.named_modules()}
    assert {f"model.{i}" for i in range(25)} <= names
    assert "model.25" not in names
    # C3 in row 2 takes its repeats itself (n folded into the block)
    assert type(model.model[2]).__name__ == "C3" and len(model.model[2].m) == 1
    assert len(model.model[4].m) == 2  # 6 * 0.33 -> round(1.98) = 2


def test_depth_and_width_scaling_rules():
    spec = load_spec(EXAMPLES / "yolov5m.yaml")
    rows = spec.info["yolo_rows"]
    # width 0.75: 64 -> 48, 1024 -> 768; depth 0.67: 3 -> 2, 6 -> 4, 9 -> 6
    assert rows[0]["args"][:2] == [3, 48]
    assert rows[9]["args"][:2] == [768, 768]
    assert [rows[i]["n"] for i in (2, 4, 6, 8)] == [2, 4, 6, 2]
    assert rows[2]["args"][2] == 2  # repeats passed into C3
    # yolov5n: width 0.25, 64 * 0.25 = 16
    rows_n = load_spec(EXAMPLES / "yolov5n.yaml").info["yolo_rows"]
    assert rows_n[0]["args"][:2] == [3, 16]
    assert rows_n[12]["args"] == [1]  # Concat
    # row 13 reads the Concat of row 11 (512 * 0.25 = 128) and row 6 (512 * 0.25 = 128)
    assert rows_n[13]["args"][:2] == [128 + 128, 128]
