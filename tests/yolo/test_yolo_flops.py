"""FLOPs of the bundled YOLO models, through the counter, against the reference figures."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import thop
import torch

from roofline.counting import profile_spec
from roofline.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# ../shared/reference/yolov5/README.md: conv-only FLOPs (2 per MAC) at 640 and the
# "GFLOPs" YOLOv5 printed for the same models.
CASES = [
    ("yolov5s_v5", {}, 16.958e9, 17.1),
    ("yolov5s", {}, 16.434e9, 16.5),
    ("mobilenetv3small_yolo5s", {"nc": 6}, 5.862e9, 6.3),
]


@pytest.mark.parametrize(("name", "overrides", "matrix", "printed"), CASES)
def test_matrix_flops_at_640(name, overrides, matrix, printed):
    p = profile_spec(load_spec(EXAMPLES / f"{name}.yaml", **overrides))
    assert p.totals().matrix_flops == pytest.approx(matrix, rel=0.005)
    assert p.module("model.0") is not None


@pytest.mark.parametrize(("name", "overrides", "matrix", "printed"), CASES)
def test_yolov5_gflops_reproduced(name, overrides, matrix, printed):
    from roofline.yolo.summary import yolo_gflops

    spec = load_spec(EXAMPLES / f"{name}.yaml", **overrides)
    g = yolo_gflops(spec)  # thop 0.0.31 rules, as YOLOv5 ran in 2021
    assert round(g.yolo_gflops, 1) == printed
    assert g.stride == 32 and g.scale == 400
    assert g.matrix_flops == pytest.approx(matrix, rel=0.005)
    gap = g.yolo_gflops * 1e9 - g.matrix_flops
    assert gap == pytest.approx(g.norm_flops + g.upsample_flops + g.non_scaling_flops)
    assert g.unseen_flops == 0  # thop sees every conv of these models
    if name == "mobilenetv3small_yolo5s":
        assert g.non_scaling_flops > 0.3e9  # SE branches scaled by 400 anyway
    else:
        assert g.non_scaling_flops == 0  # every conv grows with the image
    text = g.explain()
    assert "32x32" in text and "BatchNorm" in text


@pytest.mark.parametrize(
    ("name", "overrides"), [("yolov5s", {}), ("mobilenetv3small_yolo5s", {"nc": 6})]
)
def test_thop_rules_match_installed_thop(name, overrides):
    """With the thop 0.1 rules our derivation equals thop run on the real model."""
    from roofline.yolo.summary import yolo_gflops

    spec = load_spec(EXAMPLES / f"{name}.yaml", **overrides)
    g = yolo_gflops(spec, thop_version="0.1")
    model = spec.build().eval()
    macs, _ = thop.profile(copy.deepcopy(model), inputs=(torch.zeros(1, 3, 32, 32),), verbose=False)
    assert g.thop_macs_at_stride == pytest.approx(macs, rel=1e-9)


def test_fuse_keeps_matrix_flops_and_cuts_layers_and_bytes():
    plain = profile_spec(load_spec(EXAMPLES / "yolov5s_v5.yaml"))
    fused = profile_spec(load_spec(EXAMPLES / "yolov5s_v5.yaml", fuse=True))
    assert fused.totals().matrix_flops == plain.totals().matrix_flops
    assert fused.totals().bytes < plain.totals().bytes
    assert fused.totals().ops < plain.totals().ops
    assert not any(o.op_class == "norm" for o in fused.ops)  # v5.0 yolov5s: all BN in Convs
    assert fused.params == 7_266_973


def test_per_row_params_from_the_counter():
    from test_yolo_params import SEED_ROW_PARAMS

    p = profile_spec(load_spec(EXAMPLES / "mobilenetv3small_yolo5s.yaml", nc=6))
    assert [p.module(f"model.{i}").params for i in range(27)] == SEED_ROW_PARAMS
    assert p.params == 3_561_859


def test_batch_and_imgsz_scale_the_count():
    base = profile_spec(load_spec(EXAMPLES / "yolov5s.yaml", imgsz=320)).totals().matrix_flops
    big = profile_spec(load_spec(EXAMPLES / "yolov5s.yaml", imgsz=640, batch=2)).totals()
    # every conv of yolov5s grows with the image area: 4x the pixels, 2x the images
    assert big.matrix_flops == 8 * base


def test_a_fused_model_is_not_said_to_have_its_batchnorm_counted():
    # with Conv+BN fused there is no BatchNorm for thop to count: the summary said
    # "BatchNorm counted" and explained a zero gap as BatchNorm work of 0.000 G
    from roofline.yolo.summary import yolo_gflops

    plain = yolo_gflops(load_spec(EXAMPLES / "yolov5s.yaml"))
    fused = yolo_gflops(load_spec(EXAMPLES / "yolov5s.yaml", fuse=True))
    assert plain.describe_short().endswith("BatchNorm counted")
    assert "The gap of +0.095 G is BatchNorm counted as work (0.095 G)." in plain.explain()
    assert fused.norm_elements_at_stride == 0
    assert fused.describe_short().endswith("no BatchNorm (fused)")
    assert "The two agree (gap +0.000 G)" in fused.explain()
    assert "BatchNorm counted as work" not in fused.explain()
