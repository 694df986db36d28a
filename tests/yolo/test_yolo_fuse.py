"""Conv+BN folding: same outputs in eval mode, fewer layers and parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from roofline.fuse import count_batchnorms, fuse_conv_bn, fuse_model
from roofline.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _randomise_bn(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) < 1e-5)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("groups", [1, 4])
def test_fuse_conv_bn_equals_conv_then_bn(bias, groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3, 2, 1, groups=groups, bias=bias).double()
    bn = nn.BatchNorm2d(16, eps=1e-3).double()
    _randomise_bn(bn)
    bn.eval()
    x = torch.randn(2, 8, 17, 19, dtype=torch.float64)
    fused = fuse_conv_bn(conv, bn)
    assert fused.bias is not None and not fused.weight.requires_grad
    torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "overrides", "rule"),
    [
        ("yolov5s", {}, "yolov5"),
        ("yolov5s_v5", {}, "yolov5"),
        ("mobilenetv3small_yolo5s", {"nc": 6}, "yolov5"),
        ("mobilenetv3small_yolo5s", {"nc": 6}, "all"),
    ],
)
def test_fused_model_output_equals_unfused(name, overrides, rule):
    spec = load_spec(EXAMPLES / f"{name}.yaml", imgsz=128, **overrides)
    torch.manual_seed(0)
    model = spec.build().double()
    _randomise_bn(model)
    model.eval()
    x = torch.rand(1, 3, 128, 128, dtype=torch.float64)
    with torch.no_grad():
        boxes, raw = model(x)
        before = count_batchnorms(model)
        n = fuse_model(model, rule)
        after = count_batchnorms(model)
        boxes_f, raw_f = model(x)
    assert n > 0 and after == before - n
    assert _close(boxes_f, boxes)
    for a, b in zip(raw_f, raw, strict=True):
        assert _close(a, b)


def test_yolov5_rule_leaves_blocks_without_a_fused_path():
    # YOLOv5 folds only blocks declaring a fused forward (its Conv); the seed's
    # MobileNetV3 blocks keep their BatchNorm, which is why 3,557,635 (not fewer)
    # parameters remain after fusion.
    spec = load_spec(EXAMPLES / "mobilenetv3small_yolo5s.yaml", nc=6)
    with torch.device("meta"):
        model = spec.build()
    assert fuse_model(model, "yolov5") == 24  # 301 - 277 layers
    assert hasattr(model.model[0], "bn")
    assert not hasattr(model.model[12], "bn")
    with torch.device("meta"):
        model_all = spec.build()
    assert fuse_model(model_all, "all") > 24
    assert count_batchnorms(model_all) == 0


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown fuse rule"):
        fuse_model(nn.Sequential(), "everything")


def test_fusing_is_refused_for_training(capsys):
    # folded weights are constants (requires_grad False): a training count of a fused
    # model lost nearly every gradient (yolov5s: 229,245 of 7.2 M parameters trainable)
    from roofline.cli import main
    from roofline.errors import SpecError

    with pytest.raises(SpecError, match="needs the BatchNorm"):
        load_spec(EXAMPLES / "yolov5s.yaml", fuse=True, mode="training")
    for cmd in ("profile", "vram"):
        assert main([cmd, str(EXAMPLES / "yolov5s.yaml"), "--fuse", "--mode", "training"]) == 2
        assert "needs the BatchNorm" in capsys.readouterr().err
    assert load_spec(EXAMPLES / "yolov5s.yaml", fuse=True).mode == "inference"
