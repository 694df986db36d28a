"""Blocks and keys of YOLOv5's ``models/hub`` variants (Ghost, transformer, activation).

The variant files are derived here from our own ``examples/yolov5s.yaml`` by swapping
module names, the way YOLOv5's hub files differ from its yolov5s.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from roofline.spec import load_spec
from roofline.yolo import blocks
from roofline.yolo.summary import yolo_gflops

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

YOLOV5S_PARAMS = 7_235_389  # YOLOv5's summary for models/yolov5s.yaml (reference README)


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _yolov5s(**swap):
    """examples/yolov5s.yaml as a dict, with module names swapped per row index."""
    data = yaml.safe_load((EXAMPLES / "yolov5s.yaml").read_text(encoding="utf-8"))
    rows = data["backbone"] + data["head"]
    for i, row in enumerate(rows):
        if str(i) in swap.get("rows", {}):
            row[2] = swap["rows"][str(i)]
        elif row[2] in swap.get("names", {}):
            row[2] = swap["names"][row[2]]
    return data


def _write(tmp_path, data, name="variant.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def test_ghostconv_params_by_hand():
    # GhostConv(3, 16, 3, 2): Conv(3, 8, 3x3) 216 + BN 16, depth-wise Conv(8, 8, 5x5) 200
    # + BN 16 = 448; GhostConv(16, 32, 3, 2): 2304 + 32 + 400 + 32 = 2768 (the same two
    # figures Ultralytics prints for these layers in its row tables)
    assert _params(blocks.GhostConv(3, 16, 3, 2)) == 448
    assert _params(blocks.GhostConv(16, 32, 3, 2)) == 2768
    y = blocks.GhostConv(16, 32, 3, 2)(torch.zeros(1, 16, 8, 8))
    assert y.shape == (1, 32, 4, 4)


def test_ghost_bottleneck_stride_2_has_a_downsampling_shortcut():
    # s=2: GhostConv(16, 8) [1x1: 64 + 8, dw 5x5: 100 + 8] + DWConv(8, 8, 3) [72 + 16]
    # + GhostConv(8, 16, act=False) [64 + 16, 200 + 16]; shortcut DWConv(16, 16, 3)
    # [144 + 32] + Conv(16, 16, 1) [256 + 32]
    gb = blocks.GhostBottleneck(16, 16, 3, 2)
    assert _params(gb) == (64 + 8 + 100 + 8) + (72 + 16) + (64 + 16 + 200 + 16) + (144 + 32) + (
        256 + 32
    )
    assert gb(torch.zeros(1, 16, 8, 8)).shape == (1, 16, 4, 4)
    assert isinstance(blocks.GhostBottleneck(16, 16).shortcut, torch.nn.Identity)


def test_yolov5s_ghost_matches_yolov5(tmp_path):
    # models/hub/yolov5s-ghost.yaml: every Conv but the stem becomes GhostConv, every
    # C3 a C3Ghost. YOLOv5 PR #4412 (which added it) quotes 3.9 M params, 8.8 GFLOPs.
    ghost = {str(i): "GhostConv" for i in (1, 3, 5, 7, 10, 14, 18, 21)}
    spec = load_spec(_write(tmp_path, _yolov5s(rows=ghost, names={"C3": "C3Ghost"})))
    assert round(spec.info["params"] / 1e6, 1) == 3.9
    assert round(yolo_gflops(spec).yolo_gflops, 1) == 8.8
    assert spec.info["strides"] == [8.0, 16.0, 32.0]


def test_yolov5s_transformer_swaps_one_bottleneck_for_attention(tmp_path):
    # models/hub/yolov5s-transformer.yaml: row 8 is C3TR. Its inner stack (256 channels,
    # one layer) replaces one Bottleneck (1x1: 256*256 + 512, 3x3: 9*256*256 + 512) by
    # a position linear (c*c + c) and a TransformerLayer: q, k, v, fc1, fc2 (5*c*c) and
    # nn.MultiheadAttention (in: 3*c*c + 3*c, out: c*c + c), so 256 more parameters.
    c = 256
    bottleneck = (c * c + 2 * c) + (9 * c * c + 2 * c)
    transformer = (c * c + c) + 5 * c * c + (3 * c * c + 3 * c) + (c * c + c)
    assert transformer - bottleneck == 256
    spec = load_spec(_write(tmp_path, _yolov5s(rows={"8": "C3TR"})))
    assert spec.info["params"] == YOLOV5S_PARAMS + transformer - bottleneck
    model = spec.build().eval()
    boxes, _ = model(torch.zeros(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 85)


@pytest.mark.parametrize("name", ["C3x", "C3SPP", "CrossConv"])
def test_other_common_blocks_build_and_run(tmp_path, name):
    data = _yolov5s(rows={"8": name})
    if name == "CrossConv":
        data["backbone"][8][3] = [1024, 3, 1, 1, 1.0, True]
    spec = load_spec(_write(tmp_path, data))
    model = spec.build().eval()
    assert type(model.model[8]).__name__ == name
    boxes, _ = model(torch.zeros(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 85)
    assert spec.info["params"] == _params(model)


def test_mixconv2d_splits_channels_as_yolov5_and_counts_by_hand(tmp_path):
    import roofline
    from roofline.errors import SpecError

    # equal_ch: channel j of 64 goes to group floor(j * 2.999999 / 63): j <= 21 to the
    # 1x1 (22), 22..42 to the 3x3 (21), the rest to the 5x5 (21)
    assert blocks.mix_channel_shares(64, [1, 3, 5]) == [22, 21, 21]
    # equal weights: c_g proportional to 1 / k_g**2, 1 + 1/9 + 1/25 = 1.1511...:
    # 64 / 1.1511 = 55.6 -> 56, / 9 -> 6.18 -> 6, / 25 -> 2.22 -> 2 (56 + 54 + 50 weights)
    assert blocks.mix_channel_shares(64, [1, 3, 5], equal_ch=False) == [56, 6, 2]
    # a tie, rounded half to even as the docstring says: 323 over (3, 5) is exactly
    # 323 / (9 · 34/225) = 237.5 and 323 / (25 · 34/225) = 85.5 -> 238 and 86, 324 in
    # all, refused (floating point made 237.499..., so 237 + 86 = 323 built a split
    # that YOLOv5's least squares, numpy's here, rounds to 238 + 86 and fails on)
    assert blocks.mix_channel_shares(323, [3, 5], equal_ch=False) == [238, 86]
    with pytest.raises(ValueError, match="cannot split 323 output channels"):
        blocks.MixConv2d(32, 323, (3, 5), equal_ch=False)
    m = blocks.MixConv2d(32, 64, (1, 3, 5))
    # groups gcd(32, 22) = 2, gcd(32, 21) = 1: weights 22 * 16 * 1 + 21 * 32 * 9 +
    # 21 * 32 * 25 = 352 + 6,048 + 16,800 = 23,200, BatchNorm 2 * 64
    assert [c.groups for c in m.m] == [2, 1, 1]
    assert _params(m) == 23_200 + 128
    assert m(torch.zeros(1, 32, 8, 8)).shape == (1, 64, 8, 8)
    # each weight is one MAC per output pixel (stride 1, "same" padding): 23,200 * 64
    assert roofline.profile(m.eval(), torch.zeros(1, 32, 8, 8)).totals().macs == 23_200 * 64
    # equal weights: groups gcd(32, 56) = 8, gcd(32, 6) = 2, gcd(32, 2) = 2
    w = blocks.MixConv2d(32, 64, (1, 3, 5), equal_ch=False)
    assert _params(w) == 56 * 4 * 1 + 6 * 16 * 9 + 2 * 16 * 25 + 128
    # 8 channels over (1, 3, 5) by weight: 6.95, 0.77, 0.28 -> 7, 1, 0: a group with no
    # channels (YOLOv5's BatchNorm would fail at the first forward): refused here
    with pytest.raises(ValueError, match="cannot split 8 output channels"):
        blocks.MixConv2d(32, 8, (1, 3, 5), equal_ch=False)
    data = _yolov5s()
    data["backbone"][7] = [-1, 1, "MixConv2d", [16, [1, 3, 5], 2, False]]  # 16 * 0.5
    with pytest.raises(SpecError, match=r"row 7 .*MixConv2d.*cannot split 8 output"):
        load_spec(_write(tmp_path, data))


def test_mixconv2d_row_in_yolov5s(tmp_path):
    # YOLOv5's parse_model lists MixConv2d with its channel blocks: input channels
    # first, output channels width-scaled. Row 7, Conv(256, 512, 3, 2) (1,179,648
    # weights) becomes MixConv2d(256, 512, (3, 5), 2): two groups of 256 channels,
    # gcd(256, 256) = 256 groups each, i.e. depthwise: 256 * 9 + 256 * 25 = 8,704
    # weights; the BatchNorm (1,024) is the same
    data = _yolov5s()
    data["backbone"][7] = [-1, 1, "MixConv2d", [1024, [3, 5], 2]]
    spec = load_spec(_write(tmp_path, data))
    assert spec.info["params"] == YOLOV5S_PARAMS - 1_179_648 + 8_704
    model = spec.build().eval()
    assert type(model.model[7]).__name__ == "MixConv2d"
    boxes, _ = model(torch.zeros(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 85)


def test_activation_key_sets_the_conv_activation(tmp_path):
    # models/hub/yolov5s-LeakyReLU.yaml is yolov5s.yaml plus `activation: nn.LeakyReLU(0.1)`;
    # YOLOv5 v7.0 prints "YOLOv5s-LeakyReLU summary: 214 layers, 7235389 parameters,
    # 16.6 GFLOPs" (thop 0.1), the same parameters as yolov5s
    data = _yolov5s()
    data["activation"] = "nn.LeakyReLU(0.1)"
    spec = load_spec(_write(tmp_path, data))
    assert spec.info["params"] == YOLOV5S_PARAMS
    assert round(yolo_gflops(spec, thop_version="0.1").yolo_gflops, 1) == 16.6
    model = spec.build()
    acts = [m.act for m in model.modules() if isinstance(m, blocks.Conv)]
    # every Conv of yolov5s: 5 stride/stem Convs, C3s of 1, 2, 3, 1 bottlenecks (3 + 2n
    # each), 2 in SPPF; head: 4 Convs and four C3s of 1 bottleneck: 5 + 26 + 2 + 4 + 20
    assert len(acts) == 57
    assert all(isinstance(a, torch.nn.LeakyReLU) and a.negative_slope == 0.1 for a in acts)
    assert not any(isinstance(m, torch.nn.SiLU) for m in model.modules())
    # the setting belongs to that build only: a plain yolov5s built next still has SiLU
    plain = load_spec(EXAMPLES / "yolov5s.yaml").build()
    assert isinstance(plain.model[0].act, torch.nn.SiLU)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nn.NoSuchAct()", "torch.nn has no module 'NoSuchAct'"),
        ("__import__('os').system('x')", "must be a torch.nn module call"),
        ("nn.LeakyReLU(slope)", "arguments must be plain numbers"),
        (3, "must be a torch.nn module call"),
    ],
)
def test_bad_activation_is_one_line(tmp_path, value, message):
    from roofline.errors import SpecError

    data = _yolov5s()
    data["activation"] = value
    with pytest.raises(SpecError, match="activation") as info:
        load_spec(_write(tmp_path, data))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_channel_multiple_sets_the_width_rounding(tmp_path):
    # YOLOv5's make_divisible(c * width_multiple, channel_multiple): with 32,
    # 64 * 0.5 = 32 -> 32, 128 * 0.5 = 64 -> 64, 1024 * 0.5 = 512; 0.3 width:
    # 64 * 0.3 = 19.2 -> 32 (8 would give 24)
    data = _yolov5s()
    data["channel_multiple"] = 32
    data["width_multiple"] = 0.3
    rows = load_spec(_write(tmp_path, data)).info["yolo_rows"]
    assert rows[0]["args"][:2] == [3, 32]
    assert rows[1]["args"][:2] == [32, 64]  # 128 * 0.3 = 38.4 -> 64
    del data["channel_multiple"]
    rows = load_spec(_write(tmp_path, data)).info["yolo_rows"]
    assert rows[0]["args"][:2] == [3, 24] and rows[1]["args"][:2] == [24, 40]


def test_conv_transpose_is_a_channel_block_as_in_yolov5(tmp_path):
    # parse_model lists nn.ConvTranspose2d with Conv: input channels inserted, args[0]
    # width-scaled. Row 11 of yolov5s (nearest upsampling of 256 channels) becomes a
    # learnt 2x upsampling: 512 * 0.5 = 256 out, weights 256*256*2*2 + bias 256.
    data = _yolov5s()
    data["head"][1] = [-1, 1, "nn.ConvTranspose2d", [512, 2, 2]]
    spec = load_spec(_write(tmp_path, data))
    row = spec.info["yolo_rows"][11]
    assert row["args"] == [256, 256, 2, 2]
    assert row["params"] == 256 * 256 * 4 + 256
    assert spec.info["params"] == YOLOV5S_PARAMS + 256 * 256 * 4 + 256
    # DWConvTranspose2d: groups = gcd(256, 256) = 256, so 256 * 1 * 2 * 2 + 256
    data["head"][1] = [-1, 1, "DWConvTranspose2d", [512, 2, 2]]
    row = load_spec(_write(tmp_path, data)).info["yolo_rows"][11]
    assert row["args"] == [256, 256, 2, 2] and row["params"] == 256 * 4 + 256


def test_thop_rebuild_leaves_out_attention_as_thop_does(tmp_path):
    """thop has no rule for nn.MultiheadAttention, so YOLOv5's figure for C3TR models
    leaves the attention out; the rebuild equals thop run on the real model."""
    import thop

    spec = load_spec(_write(tmp_path, _yolov5s(rows={"8": "C3TR"})))
    g = yolo_gflops(spec, thop_version="0.1")
    macs, _ = thop.profile(spec.build().eval(), inputs=(torch.zeros(1, 3, 32, 32),), verbose=False)
    assert g.thop_macs_at_stride == pytest.approx(macs, rel=1e-9)
    seen_plain = yolo_gflops(load_spec(EXAMPLES / "yolov5s.yaml"), thop_version="0.1")
    assert g.unseen_flops > 0
    gap = g.yolo_gflops * 1e9 - g.matrix_flops
    assert gap == pytest.approx(
        g.norm_flops + g.upsample_flops + g.non_scaling_flops - g.unseen_flops
    )
    # at 32x32 row 8 is 1x1, one position: thop sees q, k, v, fc1, fc2 and the position
    # linear (6*256*256 MACs, bias not counted) where the Bottleneck had 1x1 + 3x3 convs
    # (10*256*256) and two BatchNorms of 256 elements (4 MACs each in thop 0.1)
    diff = seen_plain.thop_macs_at_stride - g.thop_macs_at_stride
    assert diff == 4 * 256 * 256 + 4 * 2 * 256


def _yolov5s_seg(**extra):
    data = _yolov5s()
    data["head"][-1] = [[17, 20, 23], 1, "Segment", ["nc", "anchors", 32, 256]]
    data.update(extra)
    return data


def test_yolov5s_seg_matches_yolov5(tmp_path):
    # models/segment/yolov5s-seg.yaml is yolov5s with Segment [nc, anchors, 32, 256] as
    # its last row. YOLOv5 README (segmentation table): yolov5s-seg 7.6 M params, 26.4
    # GFLOPs at 640 (fused). By hand from yolov5s (7,235,389; Detect row 229,245 =
    # 255 * (128 + 256 + 512) + 3 * 255): the outputs per anchor grow 85 -> 117 (32 mask
    # coefficients): 96 * 896 + 3 * 96 = 86,304; Proto(128, 128, 32) (256 * 0.5 = 128
    # prototype channels): 3x3 Convs 2 * (128*128*9 + 256) + 1x1 Conv 128*32 + 64.
    spec = load_spec(_write(tmp_path, _yolov5s_seg()))
    row = spec.info["yolo_rows"][24]
    assert row["args"][2:4] == [32, 128]
    proto = 2 * (128 * 128 * 9 + 256) + 128 * 32 + 64
    assert row["params"] == 229_245 + 86_304 + proto
    assert spec.info["params"] == YOLOV5S_PARAMS + 86_304 + proto == 7_621_277
    assert round(spec.info["params"] / 1e6, 1) == 7.6
    fused = load_spec(_write(tmp_path, _yolov5s_seg(fuse=True)))
    assert round(yolo_gflops(fused).yolo_gflops, 1) == 26.4
    model = spec.build().eval()
    boxes, protos, raw = model(torch.zeros(1, 3, 64, 64))
    assert boxes.shape == (1, 3 * (8 * 8 + 4 * 4 + 2 * 2), 117)
    assert protos.shape == (1, 32, 16, 16)  # level P3 (/8) upsampled 2x
    assert len(raw) == 3


def test_segment_needs_masks_and_protos(tmp_path):
    from roofline.errors import SpecError

    data = _yolov5s_seg()
    data["head"][-1][3] = ["nc", "anchors"]
    with pytest.raises(SpecError, match=r"row 24 .*Segment takes \[nc, anchors, masks, protos\]"):
        load_spec(_write(tmp_path, data))


def test_contract_and_expand_change_channels_as_parse_model_says(tmp_path):
    # parse_model: Contract c2 = c1 * gain**2, Expand c2 = c1 // gain**2. After the stem
    # (32 channels, /2), Contract(2) gives 128 channels at /4, Expand(2) 32 at /2 again;
    # a Conv reading it has 32 * 64 * 3*3 weights.
    text = """
nc: 1
anchors: 1
backbone:
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Contract, [2]]
  - [-1, 1, Expand, [2]]
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [[3], 1, Detect, [nc, anchors]]
"""
    p = tmp_path / "ce.yaml"
    p.write_text(text, encoding="utf-8")
    spec = load_spec(p, imgsz=64)
    assert spec.info["yolo_rows"][3]["args"][:2] == [32, 64]
    assert spec.info["yolo_rows"][3]["params"] == 32 * 64 * 9 + 2 * 64
    model = spec.build().eval()
    x = torch.arange(2 * 32 * 4 * 4, dtype=torch.float32).view(2, 32, 4, 4)
    y = model.model[1](x)
    assert y.shape == (2, 128, 2, 2)
    assert torch.equal(model.model[2](y), x)  # Expand undoes Contract
    assert spec.info["strides"] == [4.0]


def test_p6_model_counts_at_its_own_stride():
    # YOLOv5 README: yolov5s6 12.6 M params, 16.8 GFLOPs "@640". Its largest stride is
    # 64, so YOLOv5's model_info runs thop on 64x64 (max(stride, 32)) and scales by
    # (640/64)^2 = 100; a 32x32 input would not even reach the /64 level.
    spec = load_spec(EXAMPLES / "yolov5s6.yaml")
    assert spec.info["strides"] == [8.0, 16.0, 32.0, 64.0]
    assert round(spec.info["params"] / 1e6, 1) == 12.6
    g = yolo_gflops(spec)
    assert g.stride == 64 and g.scale == 100
    # the README's P6 figures sit between the unfused (16.89) and fused (16.80) thop count
    assert g.yolo_gflops == pytest.approx(16.8, abs=0.1)
    fused = yolo_gflops(load_spec(EXAMPLES / "yolov5s6.yaml", fuse=True))
    assert round(fused.yolo_gflops, 1) == 16.8


def test_p6_size_hint_names_stride_64():
    # 352 = 11 * 32 fits a stride-32 model, but the /64 level of yolov5s6 is 6 cells,
    # upsampled to 12 against the 11 of /32: the hint must ask for a multiple of 64
    from roofline.errors import SpecError

    with pytest.raises(SpecError, match=r"row 14 .*not a multiple of 64.*try --imgsz 384"):
        load_spec(EXAMPLES / "yolov5s6.yaml", imgsz=352)
