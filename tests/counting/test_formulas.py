"""Hand-derived counts for each formula family, run through the real counter."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import roofline
from roofline.counting.formulas import (
    FREE_OPS,
    REGISTRY,
    T,
    causal_pairs,
    conv_macs,
    pool_taps,
    reduced_rows,
    sort_comparisons,
    window_taps,
)

#: torch.linalg._powsum (the sum of powers without the root) is new in torch 2.11
NEEDS_POWSUM = pytest.mark.skipif(
    not hasattr(torch.linalg, "_powsum"), reason="torch.linalg._powsum is new in torch 2.11"
)

F32 = 4  # bytes per float32 element


class Fn(nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args)


def count_fn(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor):
    return roofline.profile(Fn(fn), inputs).totals()


def count_module(module: nn.Module, *inputs: torch.Tensor, mode: str = "inference"):
    return roofline.profile(module, inputs, mode=mode).totals()


def count_real(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor):
    """Over real tensors: for ops whose output size depends on values (nms, nonzero)."""
    return roofline.profile(Fn(fn), inputs, real=True)


# ----------------------------------------------------------------------------- matmul


def test_mm_flops_and_bytes():
    t = count_fn(torch.mm, torch.randn(8, 16), torch.randn(16, 32))
    # 8*32 outputs, 16 MACs each: 2 * 8 * 32 * 16 = 8192 FLOPs
    assert t.matrix_flops == 8192 and t.vector_flops == 0 and t.macs == 4096
    # reads 8*16 + 16*32 floats, writes 8*32 floats
    assert t.bytes_read == (128 + 512) * F32
    assert t.bytes_written == 256 * F32


def test_linear_with_bias_is_addmm_plus_bias_adds():
    t = count_module(nn.Linear(16, 32), torch.randn(8, 16))
    assert t.matrix_flops == 2 * 8 * 16 * 32  # 8192
    assert t.vector_flops == 8 * 32  # one add per output for the bias
    # input 8x16, weight 32x16, bias 32 -> 128 + 512 + 32 floats read
    assert t.bytes_read == (128 + 512 + 32) * F32
    assert t.weight_bytes == (512 + 32) * F32


def test_bmm_and_matmul_broadcast():
    t = count_fn(torch.bmm, torch.randn(4, 8, 16), torch.randn(4, 16, 2))
    assert t.matrix_flops == 2 * 4 * 8 * 16 * 2  # 2048
    t = count_fn(torch.matmul, torch.randn(3, 5, 7), torch.randn(7, 11))
    assert t.matrix_flops == 2 * 3 * 5 * 7 * 11  # folded into one mm of 15x7 @ 7x11


def test_baddbmm():
    t = count_fn(
        lambda i, a, b: torch.baddbmm(i, a, b),
        torch.randn(2, 3, 5),
        torch.randn(2, 3, 4),
        torch.randn(2, 4, 5),
    )
    assert t.matrix_flops == 2 * 2 * 3 * 4 * 5 and t.vector_flops == 2 * 3 * 5


# ----------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(
    ("conv", "x", "macs"),
    [
        # 2-d: out 1x8x6x6 (no padding, 8x8 input, 3x3 kernel); each output 3*3*3 MACs
        (nn.Conv2d(3, 8, 3, bias=False), (1, 3, 8, 8), 8 * 6 * 6 * 3 * 3 * 3),
        # grouped (4 groups of 2 in-channels): each output sums 2 channels * 9
        (nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False), (1, 8, 5, 5), 8 * 25 * 2 * 9),
        # depthwise: one channel * 9 per output
        (nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (2, 8, 5, 5), 2 * 8 * 25 * 9),
        # 1-d: out length 10-5+1=6, each 4 channels * 5 taps
        (nn.Conv1d(4, 6, 5, bias=False), (1, 4, 10), 6 * 6 * 4 * 5),
        # 3-d: out 2x2x2, each 2 channels * 27
        (nn.Conv3d(2, 3, 3, bias=False), (1, 2, 4, 4, 4), 3 * 8 * 2 * 27),
        # transposed 2-d, stride 2: every input element is scattered into 4 out channels * 9
        (nn.ConvTranspose2d(3, 4, 3, stride=2, bias=False), (1, 3, 5, 5), 3 * 25 * 4 * 9),
    ],
)
def test_convolution_kinds(conv, x, macs):
    t = count_module(conv, torch.randn(*x))
    assert t.macs == macs and t.matrix_flops == 2 * macs and t.vector_flops == 0


def test_conv_bias_adds_one_per_output_and_depthwise_class():
    conv = nn.Conv2d(4, 4, 3, padding=1, groups=4)
    prof = roofline.profile(conv, torch.randn(1, 4, 6, 6))
    (op,) = prof.ops
    assert op.vector_flops == 4 * 36  # one bias add per output element
    assert op.op_class == "depthwise_conv"


def test_conv_macs_helper_matches_definition():
    # out [1, 16, 10, 10], weight [16, 8, 3, 3]: 1600 outputs * 72 MACs
    assert conv_macs((1, 8, 12, 12), (16, 8, 3, 3), (1, 16, 10, 10), False) == 1600 * 72


# ----------------------------------------------------------------------------- attention


def test_sdpa_full_and_causal():
    q = torch.randn(2, 4, 16, 8)  # B=2, H=4, L=16, E=8
    full = count_fn(F.scaled_dot_product_attention, q, q, q)
    # QK^T and PV: 2*E + 2*E FLOPs per pair; 8 batch-heads * 256 pairs
    assert full.matrix_flops == 8 * 256 * (2 * 8 + 2 * 8)
    causal = count_fn(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), q, q, q
    )
    # causal keeps L(L+1)/2 = 136 of the 256 pairs
    assert causal.matrix_flops == 8 * 136 * 32
    assert causal.matrix_flops / full.matrix_flops == pytest.approx(136 / 256)


def test_causal_pairs_closed_form():
    for lq in range(1, 9):
        for lk in range(1, 9):
            assert causal_pairs(lq, lk) == sum(min(i + 1, lk) for i in range(lq))


def test_multihead_attention_fast_path_is_counted():
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()
    x = torch.randn(2, 10, 64)
    prof = roofline.profile(mha, (x, x, x))
    assert [o.op for o in prof.ops] == ["aten._native_multi_head_attention.default"]
    # packed QKV projection: 2*20*64*192 + bias 20*192; attention: 8 batch-heads * 100
    # pairs * (2*16 + 2*16) + 6*800 vector; out projection 2*20*64*64 + bias 20*64;
    # need_weights (the default) returns the weights averaged over the 4 heads, as the
    # slow path's mean: 4 adds per pair + 1 divide, 5 * 200 pairs
    expected = 491520 + 3840 + 51200 + 4800 + 163840 + 1280
    assert prof.totals().flops == expected + 5 * 200
    fast = roofline.profile(mha, (x, x, x), {"need_weights": False})
    assert fast.totals().flops == expected
    # a padding mask is added to the scores: 1 per batch-head pair (800)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    masked = roofline.profile(mha, (x, x, x), {"need_weights": False, "key_padding_mask": mask})
    (op,) = [o for o in masked.ops if o.op == "aten._native_multi_head_attention.default"]
    assert op.matrix_flops + op.vector_flops == expected + 800  # (the bool mask's
    # conversion to an additive float mask is counted as its own ops)


def test_transformer_encoder_fast_path_matches_train_forward():
    layer = nn.TransformerEncoderLayer(128, 4, 256, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(2, 32, 128)
    enc.eval()
    fast = roofline.profile(enc, x)
    assert {o.op for o in fast.ops} == {"aten._transformer_encoder_layer_fwd.default"}
    enc.train()
    slow = roofline.profile(enc, x, mode="training")
    assert fast.totals().flops == pytest.approx(slow.totals("forward").flops, rel=0.01)
    # the model's train/eval flags are restored by the counter
    assert enc.training


def test_lstm_on_the_cpu_is_counted_by_hand():
    # nn.LSTM(32, 64, 2 layers), batch 2 x 10 steps = 20 rows, one mkldnn_rnn_layer op
    # per layer. Layer 1: matrix 2 * 20 * 4*64 * (32 + 64) = 983,040; vector per row:
    # gate sum + two biases 3 * 256 = 768, state update 18 * 64 = 1,152 -> 20 * 1,920
    # = 38,400. Layer 2 (input 64): matrix 2 * 20 * 256 * 128 = 1,310,720, vector 38,400
    lstm = nn.LSTM(32, 64, 2, batch_first=True)
    prof = roofline.profile(lstm, torch.randn(2, 10, 32))
    assert not prof.uncounted_ops
    t = prof.totals()
    assert t.matrix_flops == 983_040 + 1_310_720
    assert t.vector_flops == 2 * 38_400
    # the fused recurrent class, with the rows of one step: the batch (2), though the
    # op gets its input time-major whatever batch_first says
    (l1, l2) = [o for o in prof.ops if o.op_class == "rnn"]
    assert dict(l1.dims) == {"m": 20, "n": 256, "k": 96, "batch": 2}
    assert dict(l2.dims) == {"m": 20, "n": 256, "k": 128, "batch": 2}
    # training: each layer's backward costs 2x its forward
    train = roofline.profile(lstm, torch.randn(2, 10, 32), mode="training")
    assert not train.uncounted_ops
    assert train.totals().flops == 3 * t.flops


def test_cudnn_rnn_formula_by_hand():
    # the CUDA op, called directly (no GPU here): a 1-layer bidirectional GRU, input
    # 16, hidden 32, 5 steps x 3 batch = 15 rows, biases (weight_stride0 = 4)
    from roofline.counting.formulas import T, cudnn_rnn, cudnn_rnn_backward

    f32 = torch.float32
    w = [T((96, 16), f32), T((96, 32), f32), T((96,), f32), T((96,), f32)] * 2
    args = {
        "input": T((5, 3, 16), f32),
        "weight": w,
        "weight_stride0": 4,
        "hidden_size": 32,
        "batch_sizes": [],
    }
    c = cudnn_rnn(args, [])
    # per direction: matrix 2 * 15 * 96 * (16 + 32) = 138,240; vector 15 * (3 * 96 +
    # 15 * 32) = 15 * 768 = 11,520; two directions
    assert c.matrix_flops == 2 * 138_240 and c.vector_flops == 2 * 11_520
    b = cudnn_rnn_backward(args, [])
    assert b.matrix_flops == 2 * c.matrix_flops and b.vector_flops == 2 * c.vector_flops
    # frozen weights (output_mask[3] False): the data backward alone, which ATen runs
    # whatever the mask (it fills the reserve): the forward's matrix FLOPs once
    frozen = cudnn_rnn_backward({**args, "output_mask": [True, True, False, False]}, [])
    assert frozen.matrix_flops == c.matrix_flops
    first = cudnn_rnn_backward({**args, "output_mask": [False, False, False, True]}, [])
    assert first.matrix_flops == 2 * c.matrix_flops
    # an LSTM with a projection (proj_size 16, hidden 64, input 32; 20 rows): groups of
    # 5 tensors (W_ih, W_hh 256 x 16, b_ih, b_hh, W_hr 16 x 64). Matrix 2 * 20 * 256 *
    # (32 + 16) = 491,520 + the projection 2 * 20 * 1,024 = 40,960; vector 20 * (3 * 256
    # + 18 * 64) = 38,400 (the biases are there)
    proj = [T((256, 32), f32), T((256, 16), f32), T((256,), f32), T((256,), f32)]
    proj.append(T((16, 64), f32))
    p = cudnn_rnn(
        {**args, "input": T((20, 32), f32), "weight": proj, "weight_stride0": 5, "hidden_size": 64},
        [],
    )
    assert (p.matrix_flops, p.vector_flops) == (532_480, 38_400)
    # a packed sequence: its batch sizes add up to the rows (3 + 3 + 2 + 1 = 9)
    packed = cudnn_rnn({**args, "input": T((9, 16), f32), "batch_sizes": [3, 3, 2, 1]}, [])
    assert packed.matrix_flops == 2 * (2 * 9 * 96 * 48)
    # one step's rows: the largest batch size of a packed sequence, else the hidden
    # state's batch dim (cuDNN's hx: layers x batch x hidden)
    assert packed.dims["batch"] == 3
    hx = cudnn_rnn({**args, "hx": T((2, 3, 32), f32)}, [])
    assert hx.op_class == "rnn" and hx.dims["batch"] == 3


# ----------------------------------------------------------------------------- norms etc.


def test_batch_norm_eval_and_train():
    x = torch.randn(2, 3, 4, 4)  # 96 elements
    bn = nn.BatchNorm2d(3)
    assert count_module(bn.eval(), x).vector_flops == 2 * 96  # x*scale + shift
    train = roofline.profile(bn, (x,), mode="training").totals("forward")
    # batch stats 4/elem + apply 2/elem = 6*96, plus the num_batches_tracked += 1
    assert train.vector_flops == 6 * 96 + 1
    # the op says which it ran: the latency model prices batch statistics apart
    for mode, flag in (("inference", 0), ("training", 1)):
        ops = roofline.profile(bn, (x,), mode=mode).ops
        (op,) = [o for o in ops if o.op_class == "norm" and o.phase == "forward"]
        assert op.dims["training"] == flag


def test_layer_norm_softmax_and_activations():
    x = torch.randn(4, 10)  # 40 elements
    assert count_module(nn.LayerNorm(10), x).vector_flops == 7 * 40
    assert count_fn(lambda t: t.softmax(-1), x).vector_flops == 5 * 40
    assert count_fn(F.relu, x).vector_flops == 40
    assert count_fn(torch.sigmoid, x).vector_flops == 4 * 40
    assert count_fn(F.silu, x).vector_flops == 5 * 40
    assert count_fn(F.hardswish, x).vector_flops == 5 * 40
    assert count_fn(F.gelu, x).vector_flops == 5 * 40
    # the tanh form: x³ (2), · 0.044715, + x, · √(2/π), tanh, + 1, · x, / 2: 9, marked
    (tanh_form,) = roofline.profile(Fn(lambda t: F.gelu(t, approximate="tanh")), (x,)).ops
    assert tanh_form.vector_flops == 9 * 40 and tanh_form.dims == {"tanh": 1}
    assert count_fn(lambda a, b: a * b + a, x, x).vector_flops == 2 * 40
    # and so is its backward, which a CPU also runs at a speed of its own:
    # g·(Φ(x) + x·φ(x)); erf form Φ = ½(1 + erf(x/√2)) 4, φ = exp(−x²/2)/√(2π) 4,
    # x·φ, +, ·g 3 → 11. tanh form, t = tanh(β(x + κx³)) 6, ½(1 + t) 2, 1 − t² 2,
    # ½x 1, β(1 + 3κx²) 3, two products 2, the add 1, ·g 1 → 18
    for form, dims, per in (("tanh", {"tanh": 1}, 18), ("none", {}, 11)):
        net = nn.Sequential(nn.Linear(10, 10), nn.GELU(approximate=form))
        prof = roofline.profile(net, (x,), mode="training")
        (back,) = [o for o in prof.ops if o.op == "aten.gelu_backward.default"]
        assert back.vector_flops == per * 40 and back.dims == dims


def test_elementwise_bytes_read_each_distinct_input_once():
    x = torch.randn(100)
    t = count_fn(lambda a: a * a, x)
    assert t.bytes_read == 100 * F32  # x read once although passed twice
    assert t.bytes_written == 100 * F32


def test_broadcast_input_counts_its_real_size():
    x, bias = torch.randn(8, 100), torch.randn(100)
    t = count_fn(lambda a, b: a + b, x, bias)
    assert t.bytes_read == (800 + 100) * F32


def test_reductions_pooling_upsampling():
    x = torch.randn(1, 2, 8, 8)  # 128 elements
    assert count_fn(lambda t: t.sum(), x).vector_flops == 128
    # max pool 2x2 stride 2: 32 outputs, 4 comparisons each
    assert count_module(nn.MaxPool2d(2), x).vector_flops == 32 * 4
    # the nominal window is recorded; the comparisons are the taps inside the input:
    # 5x5 stride 1 padding 2 on 8, windows [o - 2, o + 3) clipped to [0, 8): 3, 4, then
    # 5 x 4, then 4, 3 = 34 a dim (not 8 x 5 = 40); 2 planes x 34 x 34
    prof = roofline.profile(nn.MaxPool2d(5, 1, 2), x)
    assert [dict(o.dims) for o in prof.ops] == [{"window": 25}]
    assert prof.totals().vector_flops == 2 * 34 * 34
    # adaptive average pool to 1x1: 128 adds + 2 divides
    assert count_module(nn.AdaptiveAvgPool2d(1), x).vector_flops == 128 + 2
    nearest = count_module(nn.Upsample(scale_factor=2), x)
    assert nearest.flops == 0 and nearest.bytes_written == 512 * F32
    bilinear = count_module(nn.Upsample(scale_factor=2, mode="bilinear"), x)
    assert bilinear.vector_flops == 7 * 512


def test_reduced_rows_by_hand():
    f32 = torch.float32
    nchw = T((32, 1280, 7, 7), f32)
    # global average pooling: 32 x 1280 rows of 7 x 7, the dims given either way
    assert reduced_rows(nchw, [2, 3]) == reduced_rows(nchw, [-1, -2]) == 32 * 1280
    # the last dim alone: 32 x 1280 x 7 rows of 7
    assert reduced_rows(nchw, -1) == 32 * 1280 * 7
    # an outer dim ([B, L, C] averaged over L): no per-row step, 0
    assert reduced_rows(T((32, 49, 1280), f32), 1) == 0
    # ... unless what follows it is size 1: [B, C, L, 1] over L is rows of L
    assert reduced_rows(T((2, 8, 5, 1), f32), 2) == 16
    # everything: one row; a scalar has none
    assert reduced_rows(nchw, None) == reduced_rows(nchw, []) == 1
    assert reduced_rows(T((), f32), None) == 0


def test_reductions_record_their_rows_and_scans_none():
    x, y = torch.randn(2, 8, 7, 7), torch.randn(2, 5, 6)

    def ops(fn, t):
        prof = roofline.profile(Fn(fn), (t,))
        return [(o.op.split(".")[1], dict(o.dims)) for o in prof.ops]

    # adaptive_avg_pool2d(1) runs as mean((-1, -2)): 2 x 8 rows of 49
    assert ops(lambda t: F.adaptive_avg_pool2d(t, 1), x) == [("mean", {"rows": 16})]
    assert ops(lambda t: t.sum(), x) == [("sum", {"rows": 1})]
    assert ops(lambda t: t.var(-1), y) == [("var", {"rows": 10})]
    assert ops(lambda t: t.amax(1), y) == [("amax", {})]  # an outer dim
    assert ops(lambda t: t.max(-1).values, y) == [("max", {"rows": 10})]
    assert ops(lambda t: t.cumsum(-1), y) == [("cumsum", {})]  # a scan writes every element


@pytest.mark.parametrize("real", [False, True])
def test_forward_pools_count_only_the_taps_inside_the_input(real):
    def pool(module, x):
        prof = roofline.profile(module, (x,), real=real)
        assert prof.uncounted_ops == {} and [o.op_class for o in prof.ops] == ["pool"]
        return prof.totals().vector_flops

    x = torch.randn(2, 3, 9, 9)
    # 3x3 stride 2 padding 1 on 9: 5 windows a dim at -1, 1, 3, 5, 7, the first and the
    # last clipped to 2 taps: 2 + 3 + 3 + 3 + 2 = 13 a dim; 6 planes x 13 x 13 = 1014
    # comparisons (every window in full would be 6 x 25 x 9 = 1350)
    assert pool(nn.MaxPool2d(3, 2, 1), x) == 6 * 13 * 13
    # average: the same taps, one add each, + a divide per output (6 x 25); padding
    # counted in the divisor or not, the adds are the same
    assert pool(nn.AvgPool2d(3, 2, 1), x) == 6 * 13 * 13 + 6 * 25
    assert pool(nn.AvgPool2d(3, 2, 1, count_include_pad=False), x) == 6 * 13 * 13 + 6 * 25
    # no padding, windows inside the input: k x k per output (avg: + the divide)
    assert pool(nn.MaxPool2d(2), x) == 6 * 16 * 4
    assert pool(nn.AvgPool2d(2), x) == 6 * 16 * 4 + 6 * 16
    # ceil_mode: 2 at stride 2 on 5 gives 3 windows [0, 2), [2, 4), [4, 6) -> 2 + 2 + 1
    assert pool(nn.MaxPool2d(2, 2, ceil_mode=True), torch.randn(1, 1, 5, 5)) == 5 * 5
    # dilation 2, kernel 3, padding 1 on 5: 3 windows with taps {-1, 1, 3}, {0, 2, 4},
    # {1, 3, 5}: 2 + 3 + 2 = 7
    assert pool(nn.MaxPool1d(3, 1, 1, dilation=2), torch.randn(1, 1, 5)) == 7
    # 3-D, and an unbatched 2-D input (C, H, W): 13 a dim as above
    assert pool(nn.MaxPool3d(3, 2, 1), torch.randn(1, 1, 9, 9, 9)) == 13**3
    assert pool(nn.MaxPool2d(3, 2, 1), torch.randn(3, 9, 9)) == 3 * 13 * 13
    # avg_pool1d (run as avg_pool2d over a unit dim): 13 + 5 divides per row, 2 rows
    assert pool(nn.AvgPool1d(3, 2, 1), torch.randn(2, 9)) == 2 * (13 + 5)


def brute_force_taps(size, kernel, stride, padding, dilation, ceil_mode):
    """The taps a pool's windows have inside the input along one dim, window by window,
    with ATen's output size (``pooling_output_shape``)."""
    span = dilation * (kernel - 1) + 1
    num = size + 2 * padding - span + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window must start inside the input or the left padding
    taps = sum(
        0 <= o * stride - padding + j * dilation < size for o in range(out) for j in range(kernel)
    )
    return out, taps


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 12),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 4),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 3),
    ceil_mode=st.booleans(),
)
def test_pool_taps_match_brute_force_and_aten(size, kernel, stride, padding, dilation, ceil_mode):
    if 2 * padding > kernel or dilation * (kernel - 1) + 1 > size + 2 * padding:
        return  # ATen refuses these
    out, taps = brute_force_taps(size, kernel, stride, padding, dilation, ceil_mode)
    assert window_taps(size, out, kernel, stride, padding, dilation) == taps
    # the counter's count of a real max pool over (2, 3, size, size + 1): the taps of
    # each dim multiply (a window is the product of its dims' ranges), times 6 planes
    x = torch.randn(2, 3, size, size + 1)
    out_w, taps_w = brute_force_taps(size + 1, kernel, stride, padding, dilation, ceil_mode)

    def mp(t):
        return F.max_pool2d(t, kernel, stride, padding, dilation, ceil_mode)

    assert mp(x).shape[-2:] == (out, out_w)  # the brute force's output size is ATen's
    prof = roofline.profile(Fn(mp), (x,), real=True)
    assert prof.totals().vector_flops == 6 * taps * taps_w
    ones = torch.ones(1, 1, size, size + 1)
    if dilation == 1:
        # ATen's own window clipping: summing ones with divisor 1 counts each output's
        # taps inside the input (padding adds nothing), ceil_mode's partial window too
        summed = F.avg_pool2d(ones, kernel, stride, padding, ceil_mode, divisor_override=1)
        assert summed.sum().item() == taps * taps_w
        assert (
            pool_taps(
                T(ones.shape, ones.dtype),
                T(summed.shape, ones.dtype),
                [kernel] * 2,
                [stride] * 2,
                [padding] * 2,
            )
            == taps * taps_w
        )
    if not ceil_mode:
        # im2col with zero padding and dilation: its ones are the taps inside the input
        cols = F.unfold(ones, kernel, dilation, padding, stride)
        assert cols.sum().item() == taps * taps_w


class Resample(nn.Module):
    """``F.interpolate`` of a trainable tensor, so a training step runs its backward."""

    def __init__(self, x: torch.Tensor, **kwargs) -> None:
        super().__init__()
        self.x = nn.Parameter(x)
        self.kwargs = kwargs

    def forward(self) -> torch.Tensor:
        return F.interpolate(self.x, **self.kwargs)


@pytest.mark.parametrize(
    ("shape", "mode", "taps"),
    [
        ((1, 2, 4), "linear", 2),
        ((1, 2, 4, 4), "nearest", 1),
        ((1, 2, 4, 4), "bilinear", 4),
        ((1, 2, 4, 4), "bicubic", 16),
        ((1, 2, 3, 4, 4), "trilinear", 8),
        ((1, 2, 4, 4, 4), "nearest-exact", 1),
    ],
)
def test_upsample_backward_is_a_multiply_and_an_add_per_tap(shape, mode, taps):
    # scale 2: the gradient has 2^d x numel(x) elements, each scattered into the taps
    # its forward blended, grad_input[tap] += w * g: 2 FLOPs a tap (nearest: 1 add);
    # the forward is a multiply a tap and the adds between them, 2 * taps - 1 (nearest
    # copies: 0)
    x = torch.randn(*shape)
    grad = x.numel() * 2 ** (len(shape) - 2)
    prof = roofline.profile(Resample(x, scale_factor=2, mode=mode), (), mode="training")
    assert prof.uncounted_ops == {}
    (fwd,) = [o for o in prof.ops if o.phase == "forward"]
    (bwd,) = [o for o in prof.ops if o.phase == "backward"]
    assert fwd.vector_flops == (2 * taps - 1 if taps > 1 else 0) * grad
    assert bwd.op_class == "upsample" and "backward" in bwd.op
    assert bwd.vector_flops == (2 * taps if taps > 1 else 1) * grad
    # bytes: the gradient read, the input gradient written
    assert (bwd.bytes_read, bwd.bytes_written) == (grad * F32, x.numel() * F32)


@pytest.mark.parametrize(
    ("shape", "mode"),
    [
        ((2, 3, 5), "reflect"),
        ((1, 2, 4, 4), "reflect"),
        ((1, 2, 3, 4, 4), "reflect"),
        ((2, 3, 5), "replicate"),
        ((1, 2, 4, 4), "replicate"),
        ((1, 2, 3, 4, 4), "replicate"),
    ],
)
def test_reflection_and_replication_pads_forward_and_backward(shape, mode):
    # pad 1 on every side of each spatial dim: the forward copies (no FLOPs) into
    # prod(d + 2) per channel; the backward adds every gradient element into the
    # input element it came from: one add each, reading the gradient, writing dx
    class Pad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(*shape))  # the padded tensor, trainable

        def forward(self) -> torch.Tensor:
            return F.pad(self.w, (1, 1) * (len(shape) - 2), mode=mode)

    spatial = shape[2:]
    out = shape[0] * shape[1] * math.prod(d + 2 for d in spatial)
    prof = roofline.profile(Pad(), (), mode="training")
    assert prof.uncounted_ops == {}
    (fwd,) = [o for o in prof.ops if o.phase == "forward"]
    (bwd,) = [o for o in prof.ops if o.phase == "backward"]
    assert "pad" in fwd.op and "pad" in bwd.op and "backward" in bwd.op
    assert fwd.vector_flops == 0 and fwd.bytes_written == out * F32
    assert bwd.vector_flops == out
    assert (bwd.bytes_read, bwd.bytes_written) == (out * F32, math.prod(shape) * F32)


def test_embedding_reads_only_gathered_rows():
    emb = nn.Embedding(1000, 16)
    ids = torch.randint(0, 1000, (2, 5))
    t = count_module(emb, ids)
    # 10 int64 indices + 10 rows of 16 floats; not the 1000x16 table
    assert t.bytes_read == 10 * 8 + 10 * 16 * F32
    assert t.flops == 0


def test_embedding_reads_no_row_twice_and_a_broadcast_index_once():
    # 12 indices into a 10-row table of 6 floats: 96 B of int64 indices + at most the
    # 10 rows (240 B), where reading a row per index counted 12 rows (288 B)
    t = count_module(nn.Embedding(10, 6), torch.randint(0, 10, (3, 4)))
    assert t.bytes_read == 12 * 8 + 10 * 6 * F32

    # position ids [1, 8] expanded over a batch of 4 (as transformers do): the 8 ids
    # (64 B) and 8 rows of the 8-row table (192 B), not 32 ids and 32 rows (1024 B)
    class Positions(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos = nn.Embedding(8, 6)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.pos(ids.expand(4, -1))

    (op,) = roofline.profile(Positions(), (torch.arange(8)[None],)).ops
    assert (op.bytes_read, op.weight_bytes) == (8 * 8 + 8 * 6 * F32, 8 * 6 * F32)
    assert op.bytes_written == 4 * 8 * 6 * F32


class _Lookups(nn.Module):
    """Gathers from learned tables by the index given (an activation), and from a
    table by a buffer of indices."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1000, 16)
        self.code = nn.Parameter(torch.randn(512, 32))
        self.flat = nn.Parameter(torch.randn(4096))
        self.bag = nn.EmbeddingBag(100, 4)
        self.pos = nn.Embedding(8, 6)
        self.register_buffer("position_ids", torch.arange(8)[None])

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return (
            self.emb(ids).sum()
            + self.code.index_select(0, ids).sum()
            + self.code[ids].sum()
            + torch.take(self.flat, ids).sum()
            + self.bag(ids, offsets).sum()
            + self.pos(self.position_ids.expand(4, -1)).sum()
        )


@pytest.mark.parametrize("real", [False, True])
def test_a_gathers_weight_bytes_are_the_part_of_the_table_it_reads(real):
    # 12 int64 ids (96 B), each gather reading one row or element per id. Weight bytes
    # are what is read of the parameters, the rows, not the rows and the ids (the
    # ids are an activation; bounding the weight bytes by the op's whole read counted
    # them as weight: 96 B more each, 3,328 B for the index_select)
    ids, offsets = torch.randint(0, 100, (12,)), torch.tensor([0, 4, 8])
    prof = roofline.profile(_Lookups(), (ids, offsets), real=real)
    ops = {o.op.split(".")[1]: o for o in prof.ops if o.module != "pos" and "sum" not in o.op}
    expected = {
        "embedding": 12 * 16 * F32,  # 12 of the 1000 rows of 16 floats: 768 B
        "index_select": 12 * 32 * F32,  # 12 of the 512 rows of 32: 1,536 B
        "index": 12 * 32 * F32,  # code[ids], the same rows
        "take": 12 * F32,  # 12 of the 4096 elements: 48 B
        "_embedding_bag": 12 * 4 * F32,  # 12 rows of 4: 192 B; the offsets (24 B) not
    }
    for op, weight in expected.items():
        extra = 3 * 8 if op == "_embedding_bag" else 0
        assert (ops[op].bytes_read, ops[op].weight_bytes) == (96 + extra + weight, weight), op
    # a table gathered by a buffer of indices (position ids, expanded over a batch of
    # 4: 8 distinct, 64 B): both are weights, 64 + the 8 rows of 6 floats (192 B)
    (pos,) = [o for o in prof.ops if o.module == "pos"]
    assert (pos.bytes_read, pos.weight_bytes) == (64 + 8 * 6 * F32, 64 + 8 * 6 * F32)


def test_a_tensor_gathered_by_itself_is_read_once():
    # t[t] for t = 0..9 (int64, 80 B): t is both the source and the index, one input
    # tensor, read once whole (80 B; the source's part and the index were 160 B)
    assert one_op(lambda t: t[t], torch.arange(10)).bytes_read == 10 * 8


# a KV cache (batch 1, 8 heads, 4096 positions, head dim 128: 16 MiB) takes one token
CACHE, TOKEN = (1, 8, 4096, 128), (1, 8, 1, 128)
TOKEN_BYTES = 8 * 128 * F32  # 4 KiB


def one_op(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, real: bool = False):
    (op,) = [o for o in roofline.profile(Fn(fn), inputs, real=real).ops if o.counted]
    return op


def put_token(c: torch.Tensor, k: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    c[:, :, i] = k  # index_put_ with indices (None, None, i): 1 x 8 x 1 x 128 elements
    return c


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize(
    ("op_name", "fn", "read", "written", "flops"),
    [
        # index 8 B + the 4 KiB token; writes the token's slice of the cache
        ("index_copy_", lambda c, k, i: c.index_copy_(2, i, k), 8 + TOKEN_BYTES, TOKEN_BYTES, 0),
        ("index_put_", put_token, 8 + TOKEN_BYTES, TOKEN_BYTES, 1024),
        # an add reads the destination slice too; one add per source element
        (
            "index_add_",
            lambda c, k, i: c.index_add_(2, i, k),
            8 + 2 * TOKEN_BYTES,
            TOKEN_BYTES,
            1024,
        ),
        # a scalar fill of the slice at i: reads the index only
        ("index_fill_", lambda c, k, i: c.index_fill_(2, i, 0.0), 8, TOKEN_BYTES, 0),
    ],
)
def test_in_place_scatters_touch_only_the_addressed_elements(
    op_name, fn, read, written, flops, real
):
    # the generic rule read and wrote the whole 16 MiB cache for a 4 KiB update
    op = one_op(fn, torch.zeros(CACHE), torch.randn(TOKEN), torch.tensor([5]), real=real)
    assert op.op.startswith(f"aten.{op_name}")
    assert (op.bytes_read, op.bytes_written, op.vector_flops) == (read, written, flops)


class _BufferCache(nn.Module):
    """A static KV cache held as a buffer (as served decoders keep it), updated in
    place by ``update(cache, token, position)``."""

    def __init__(self, update: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.update = update
        self.register_buffer("cache", torch.zeros(CACHE))

    def forward(self, k: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return self.update(self.cache, k, i)


@pytest.mark.parametrize(
    ("fn", "weight"),
    [
        # a copy into the cache does not read it: no weight bytes, though the cache is
        # a buffer (the op's whole read, the 8 B index and the 4 KiB token, were)
        (lambda c, k, i: c.index_copy_(2, i, k), 0),
        (put_token, 0),
        # an add reads the 4 KiB slice it adds into, of the buffer: that and only that
        (lambda c, k, i: c.index_add_(2, i, k), TOKEN_BYTES),
        # (the index, expanded over the token, stored once: 8 B)
        (lambda c, k, i: c.scatter_add_(2, i.view(1, 1, 1, 1).expand(TOKEN), k), TOKEN_BYTES),
    ],
)
def test_an_in_place_scatter_into_a_buffer_counts_as_weight_bytes_only_what_it_reads_of_it(
    fn, weight
):
    prof = roofline.profile(_BufferCache(fn), (torch.randn(TOKEN), torch.tensor([5])))
    (op,) = [o for o in prof.ops if o.counted]
    assert op.bytes_read == 8 + TOKEN_BYTES + weight and op.weight_bytes == weight


def test_scatter_in_place_reads_the_destination_only_when_it_combines():
    x, idx, src = torch.zeros(6, 5), torch.tensor([[0, 2, 4]]), torch.randn(1, 3)
    # 3 index elements (int64) and 3 source floats; 3 elements written
    store = one_op(lambda t, i, s: t.scatter_(1, i, s), x, idx, src)
    assert (store.bytes_read, store.bytes_written) == (3 * 8 + 3 * F32, 3 * F32)
    add = one_op(lambda t, i, s: t.scatter_add_(1, i, s), x, idx, src)
    assert (add.bytes_read, add.bytes_written) == (3 * 8 + 6 * F32, 3 * F32)
    fill = one_op(lambda t, i: t.scatter_(1, i, 1.0), x, idx)
    assert (fill.bytes_read, fill.bytes_written, fill.vector_flops) == (3 * 8, 3 * F32, 0)
    mean = one_op(
        lambda t, i, s: t.scatter_reduce_(1, i, s, "mean", include_self=False), x, idx, src
    )
    assert mean.bytes_read == 3 * 8 + 3 * F32


@pytest.mark.parametrize("real", [False, True])
def test_masked_scatter_in_place_is_an_in_place_scatter(real):
    # the in-place form took masked_scatter's formula and so the generic bytes,
    # reading all of self; it stores source elements where the mask is true: the
    # mask (5 B, broadcast over 4 rows) and the 20 source elements it can take read,
    # all 20 elements written (the upper bound: how many are true is data)
    op = one_op(
        lambda t, m, s: t.masked_scatter_(m, s),
        torch.zeros(4, 5),
        torch.tensor([True, False, True, False, True]),
        torch.randn(30),
        real=real,
    )
    assert op.op == "aten.masked_scatter_.default"
    assert (op.bytes_read, op.bytes_written, op.vector_flops) == (5 + 20 * F32, 20 * F32, 20)


def test_scatter_of_a_scalar_with_a_reduce_counts_its_combines():
    # scatter_(dim, index, 2.0, reduce="multiply") multiplies the 3 addressed
    # elements by the value: 3 FLOPs (a plain scalar store, above, is none)
    x, idx = torch.zeros(6, 5), torch.tensor([[0, 2, 4]])
    for reduce in ("add", "multiply"):
        op = one_op(lambda t, i, r=reduce: t.scatter_(1, i, 2.0, reduce=r), x, idx)
        assert op.op == "aten.scatter_.value_reduce"
        assert (op.bytes_read, op.bytes_written, op.vector_flops) == (
            3 * 8 + 3 * F32,
            3 * F32,
            3,
        )


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
)
def test_indexed_elements_match_advanced_indexing(shape, data):
    # self[indices] on a real tensor: its numel is what index_put_ writes
    from roofline.counting.formulas import _indexed_elements

    x = torch.zeros(shape)
    n_idx = data.draw(st.integers(1, len(shape)))
    indices, facts = [], []
    for d in range(n_idx):
        kind = data.draw(st.sampled_from(["none", "long", "long2d"]))
        if kind == "none":
            indices.append(slice(None))
            facts.append(None)
        else:
            size = (2,) if kind == "long" else (2, 1)
            ix = torch.randint(0, shape[d], size)
            indices.append(ix)
            facts.append(T(tuple(ix.shape), ix.dtype))
    if all(f is None for f in facts):
        return  # plain slicing, a view: not index_put_
    # (2, 1) beside (2,) broadcasts to (2, 2); a slice between index tensors moves
    # the broadcast dimensions first: the count is the same either way
    assert _indexed_elements(tuple(shape), facts) == x[tuple(indices)].numel()


def test_a_boolean_mask_counts_whole():
    from roofline.counting.formulas import _indexed_elements

    mask = T((3, 4), torch.bool)
    assert _indexed_elements((3, 4, 5), [mask]) == 12 * 5  # an upper bound: all true


def test_a_boolean_mask_beside_an_index_tensor_broadcasts_with_it():
    # x[mask, i]: the mask's true count must broadcast with i's length, so the mask
    # cannot add elements of its own beside a length-2 index; beside a trailing
    # dimension of 1 it can, up to its size. The count is the upper bound, and it is
    # the exact count when the mask has as many true as i has elements
    from roofline.counting.formulas import _indexed_elements

    mask, i = torch.tensor([True, False, True, False]), torch.tensor([1, 3])
    assert _indexed_elements((4, 5), [T((4,), torch.bool), T((2,), torch.long)]) == 2
    assert torch.zeros(4, 5)[mask, i].numel() == 2
    col = T((2, 1), torch.long)
    assert _indexed_elements((4, 5, 6), [col, T((5,), torch.bool)]) == 2 * 5 * 6
    # two masks: one may have a single true, the other all of its own
    assert _indexed_elements((4, 5), [T((4,), torch.bool), T((5,), torch.bool)]) == 5


@pytest.mark.parametrize("real", [False, True])
def test_a_masked_and_indexed_store_is_counted(real):
    # it raised ("Attempting to broadcast a dimension of length 2"), so a model doing
    # it could not be counted at all: the mask 4 B, the indices 16 B and the value 4 B
    # read; 2 elements written
    def put(t, m, i, v):
        t[m, i] = v
        return t

    mask, i = torch.tensor([True, False, True, False]), torch.tensor([1, 3])
    op = one_op(put, torch.zeros(4, 5), mask, i, torch.tensor(1.0), real=real)
    assert (op.bytes_read, op.bytes_written, op.vector_flops) == (4 + 16 + F32, 2 * F32, 1)


@pytest.mark.parametrize("real", [False, True])
def test_an_in_place_scatter_writes_each_destination_element_once(real):
    # a segment sum (global add pooling of 100 rows of 8 into 2 graphs): 800 adds,
    # but only the 2 x 8 destination elements are read and written, not 800 of them
    # (the generic rule, before, read and wrote the destination once too)
    pool = one_op(
        lambda t, i, s: t.index_add_(0, i, s),
        torch.zeros(2, 8),
        torch.randint(0, 2, (100,)),
        torch.randn(100, 8),
        real=real,
    )
    assert pool.vector_flops == 800
    assert (pool.bytes_read, pool.bytes_written) == (100 * 8 + 800 * F32 + 16 * F32, 16 * F32)
    # a histogram of 100 values into 3 bins
    hist = one_op(
        lambda t, i, s: t.scatter_add_(0, i, s),
        torch.zeros(3),
        torch.randint(0, 3, (100,)),
        torch.ones(100),
        real=real,
    )
    assert (hist.bytes_read, hist.bytes_written) == (100 * 8 + 100 * F32 + 3 * F32, 3 * F32)


@pytest.mark.parametrize("real", [False, True])
def test_an_in_place_scatter_reads_a_broadcast_index_at_its_real_size(real):
    # a graph network's sum over edges, as torch_geometric's scatter does it: the
    # edge index (100 int64) expanded over the 16 features. Its 800 B are read, not
    # the 12,800 B of its broadcast shape (the generic rule reads a broadcast input
    # at its real size too); the 100 x 16 source, the 3 x 16 destination
    def edges_to_nodes(t, i, s):
        return t.scatter_add_(0, i.view(-1, 1).expand_as(s), s)

    op = one_op(
        edges_to_nodes,
        torch.zeros(3, 16),
        torch.randint(0, 3, (100,)),
        torch.randn(100, 16),
        real=real,
    )
    assert (op.bytes_read, op.bytes_written) == (800 + 1600 * F32 + 48 * F32, 48 * F32)
    # a broadcast source (a count of ones): 1 element read, not 100
    count = one_op(
        lambda t, i, s: t.scatter_add_(0, i, s),
        torch.zeros(3),
        torch.randint(0, 3, (100,)),
        torch.ones(1).expand(100),
        real=real,
    )
    assert count.bytes_read == 800 + F32 + 3 * F32


def put_at(t: torch.Tensor, i: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    t[i] = v  # index_put_ with indices (i,)
    return t


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize(
    ("fn", "inputs", "read", "written"),
    [
        # a long destination (4 x 5): the 2 int64 indices are read, not the
        # destination; 2 columns of 4 rows written
        (
            lambda t, i: t.index_fill_(1, i, 3),
            (torch.zeros(4, 5, dtype=torch.long), torch.tensor([0, 2])),
            2 * 8,
            8 * 8,
        ),
        # the fill value as a 0-dim long tensor: read once, as the value
        (
            lambda t, i, v: t.index_fill_(1, i, v),
            (torch.zeros(4, 5, dtype=torch.long), torch.tensor([0, 2]), torch.tensor(3)),
            2 * 8 + 8,
            8 * 8,
        ),
        # a long source: its 3 elements read once, with the 3 destination elements
        # it adds into
        (
            lambda t, i, s: t.scatter_add_(0, i, s),
            (torch.zeros(6, dtype=torch.long), torch.tensor([0, 2, 4]), torch.ones(3).long()),
            3 * 8 + 3 * 8 + 3 * 8,
            3 * 8,
        ),
        # a boolean destination and value (1 byte each): rows 1 and 2 of 5 written
        (
            put_at,
            (torch.zeros(4, 5, dtype=torch.bool), torch.tensor([1, 2]), torch.tensor(True)),
            2 * 8 + 1,
            2 * 5,
        ),
    ],
)
def test_an_in_place_scatter_reads_its_indices_whatever_the_destination_dtype(
    fn, inputs, read, written, real
):
    # the indices are the index arguments, not every tensor that is not floating
    # point: an integer or boolean destination was read whole, an integer source twice
    op = one_op(fn, *inputs, real=real)
    assert (op.bytes_read, op.bytes_written) == (read, written)


def test_cat_and_copies_are_bytes_only():
    a, b = torch.randn(3, 4), torch.randn(5, 4)
    t = count_fn(lambda x, y: torch.cat([x, y]), a, b)
    assert t.flops == 0 and t.bytes_read == 32 * F32 and t.bytes_written == 32 * F32


def test_views_are_free():
    prof = roofline.profile(
        Fn(lambda t: t.view(4, 6).transpose(0, 1).unsqueeze(0)), (torch.randn(24),)
    )
    assert prof.ops == ()


def test_uncounted_ops_are_listed_with_bytes():
    from tests.fixtures.models import Uncounted

    prof = roofline.profile(Uncounted(), torch.randn(5, 3))
    assert prof.uncounted_ops == {"aten.special_chebyshev_polynomial_t.default": 1}
    cross = next(o for o in prof.ops if o.op == "aten.special_chebyshev_polynomial_t.default")
    assert not cross.counted and cross.bytes_read > 0 and cross.bytes_written == 15 * F32


def test_registry_and_free_list_are_disjoint():
    assert not set(REGISTRY) & FREE_OPS
    assert all(
        name.startswith(("aten.", "prim.", "torchvision.", "quantized."))
        for name in FREE_OPS | set(REGISTRY)
    )
    for entry in REGISTRY.values():
        assert entry.fn.__doc__, f"{entry.name} has no derivation docstring"


# ----------------------------------------------------------------------------- sorting


def test_sort_comparisons_is_n_ceil_log2_n():
    assert [sort_comparisons(n) for n in (0, 1, 2, 3, 4, 5, 8, 9)] == [
        0,
        0,
        2,  # 2 * 1
        6,  # 3 * 2
        8,  # 4 * 2
        15,  # 5 * 3
        24,  # 8 * 3
        36,  # 9 * 4
    ]


def test_sort_argsort_and_topk():
    x = torch.randn(4, 10)  # 4 rows of 10
    t = count_fn(lambda a: a.sort(dim=1), x)
    assert t.vector_flops == 4 * 10 * 4  # n * ceil(log2 10) = 10 * 4 per row
    # values (float32) and indices (int64) written
    assert t.bytes_read == 40 * F32 and t.bytes_written == 40 * F32 + 40 * 8
    assert count_fn(lambda a: a.argsort(dim=1), x).vector_flops == 160  # runs as sort
    # along dim 0: 10 rows of 4, 4 * 2 comparisons each
    assert count_fn(lambda a: a.sort(dim=0), x).vector_flops == 10 * 8
    # topk 3 of 10: 10 comparisons to select, 3 * ceil(log2 3) = 6 to sort the three
    t = count_fn(lambda a: a.topk(3, dim=1), x)
    assert t.vector_flops == 4 * (10 + 6)
    assert t.bytes_read == 40 * F32 and t.bytes_written == 12 * F32 + 12 * 8
    assert count_fn(lambda a: a.topk(3, dim=1, sorted=False), x).vector_flops == 4 * 10


def test_nonzero_and_unique_over_real_tensors():
    x = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]])
    prof = count_real(torch.nonzero, x)
    t = prof.totals()
    # a compare with zero and a count per input element; 3 hits x 2 dims of int64
    assert t.vector_flops == 2 * 6 and t.bytes_written == 3 * 2 * 8
    assert t.bytes_read == 6 * F32 and prof.uncounted_ops == {}
    y = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0])
    prof = count_real(lambda a: torch.unique(a, return_inverse=True, return_counts=True), y)
    t = prof.totals()
    # sort 5 * ceil(log2 5) = 15, adjacent compares 5, prefix sum 5
    assert t.vector_flops == 15 + 5 + 5 and prof.uncounted_ops == {}
    # 3 unique values, 5 int64 inverse indices, 3 int64 counts
    assert t.bytes_written == 3 * F32 + 5 * 8 + 3 * 8


def test_nonzero_on_fake_tensors_is_a_data_dependent_error():
    from roofline.counting.tracing import is_data_dependent
    from roofline.errors import CountingError

    with pytest.raises(CountingError) as err:
        count_fn(torch.nonzero, torch.ones(3))
    assert is_data_dependent(err.value.__cause__)


class Losses(nn.Module):
    """The detectors' three losses on trainable logits ``[4, 5]`` (20 elements)."""

    def __init__(self) -> None:
        super().__init__()
        self.x = nn.Parameter(torch.randn(4, 5))

    def forward(
        self, target: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        return (
            F.cross_entropy(self.x, target, weight=weight),
            F.smooth_l1_loss(self.x, y),
            F.binary_cross_entropy_with_logits(self.x, y.sigmoid()),
        )


def test_losses_forward_and_backward_by_hand():
    target, y = torch.tensor([0, 1, 4, 2]), torch.randn(4, 5)
    prof = roofline.profile(Losses(), (target, y), mode="training")
    assert prof.uncounted_ops == {}
    ops = {(o.op.rsplit(".", 1)[0], o.phase): o for o in prof.ops}
    # nll: negate each of the 4 gathered log-probabilities, sum them, divide (mean);
    # reads the int64 targets and only the 4 values gathered
    nll = ops["aten.nll_loss_forward", "forward"]
    assert nll.vector_flops == 4 + 4 + 1 and nll.bytes_read == 4 * 8 + 4 * F32
    # its backward: the scale -g / total_weight once; reads the gradient, the targets
    # and the total weight, not the log-probabilities
    nll_b = ops["aten.nll_loss_backward", "backward"]
    assert nll_b.vector_flops == 2 and nll_b.bytes_read == F32 + 4 * 8 + F32
    # smooth L1: 6 per element, then the sum and the mean's divide; backward 6 per
    # element and the 1/n once
    assert ops["aten.smooth_l1_loss", "forward"].vector_flops == 6 * 20 + 20 + 1
    assert ops["aten.smooth_l1_loss_backward", "backward"].vector_flops == 6 * 20 + 1
    # BCE with logits: 9 per element, the sum and the divide
    bce = ops["aten.binary_cross_entropy_with_logits", "forward"]
    assert bce.vector_flops == 9 * 20 + 20 + 1 and bce.op_class == "reduction"
    # class weights: nll multiplies by the weight and sums the weights (2 per target);
    # the backward multiplies each by its weight
    weighted = roofline.profile(Losses(), (target, y, torch.rand(5)), mode="training")
    w_ops = {(o.op.rsplit(".", 1)[0], o.phase): o for o in weighted.ops}
    assert w_ops["aten.nll_loss_forward", "forward"].vector_flops == 4 * 3 + 4 + 1
    assert w_ops["aten.nll_loss_backward", "backward"].vector_flops == 4 + 2


class RegressionLosses(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.x = nn.Parameter(torch.randn(4, 5))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (
            F.mse_loss(self.x, y),
            F.huber_loss(self.x, y),
            F.binary_cross_entropy(self.x.sigmoid(), y.sigmoid()),
        )


def test_mse_huber_and_bce_forward_and_backward_by_hand():
    prof = roofline.profile(RegressionLosses(), (torch.randn(4, 5),), mode="training")
    assert prof.uncounted_ops == {}
    ops = {(o.op.rsplit(".", 1)[0], o.phase): o.vector_flops for o in prof.ops}
    # 20 elements, mean: the sum (20) and the divide (1) on top of the per-element work
    assert ops["aten.mse_loss", "forward"] == 2 * 20 + 21  # subtract, square
    assert ops["aten.mse_loss_backward", "backward"] == 3 * 20 + 1
    assert ops["aten.huber_loss", "forward"] == 5 * 20 + 21  # |x-y|, test, 0.5 z^2
    assert ops["aten.huber_loss_backward", "backward"] == 5 * 20 + 1
    assert ops["aten.binary_cross_entropy", "forward"] == 10 * 20 + 21  # two clamped logs
    assert ops["aten.binary_cross_entropy_backward", "backward"] == 6 * 20 + 1


def test_loss_reduction_none_and_bce_weights():
    from roofline.counting.formulas import T, binary_cross_entropy_with_logits, nll_loss_backward

    f32, x = torch.float32, T((3, 4), torch.float32)
    # no reduction: per element the loss only, class "elementwise"
    c = binary_cross_entropy_with_logits({"self": x, "target": x, "reduction": 0}, [])
    assert c.vector_flops == 9 * 12 and c.op_class == "elementwise"
    # weight and pos_weight: 1 and 3 more per element; the sum, no divide
    args = {"self": x, "target": x, "weight": x, "pos_weight": T((4,), f32), "reduction": 2}
    assert binary_cross_entropy_with_logits(args, []).vector_flops == 13 * 12 + 12
    # nll backward, no reduction: -g_i per target element (3 of them)
    g = {"grad_output": T((3,), f32), "self": x, "target": T((3,), torch.int64)}
    assert (
        nll_loss_backward({**g, "reduction": 0, "total_weight": T((), f32)}, []).vector_flops == 3
    )


# ----------------------------------------------------------------------------- sampling


def test_grid_sample_bilinear_by_hand():
    x = torch.randn(1, 2, 8, 8)  # N=1, C=2, 64 pixels: 128 elements
    grid = torch.rand(1, 3, 5, 2) * 2 - 1  # 15 output locations
    t = count_fn(lambda a, g: F.grid_sample(a, g, align_corners=False), x, grid)
    # per location: unnormalise 2 * 4, floor 2, +1 2, four weights 3 each = 24;
    # per output element (15 locations x 2 channels): 4 multiplies + 3 adds = 7
    assert t.vector_flops == 15 * 24 + 30 * 7  # 570
    assert t.matrix_flops == 0
    # 4 taps x 30 outputs = 120 input elements (< 128), the 15x2 grid; 30 outputs
    assert t.bytes_read == (120 + 30) * F32
    assert t.bytes_written == 30 * F32


def test_grid_sample_modes_and_padding():
    x = torch.randn(1, 2, 8, 8)
    grid = torch.rand(1, 3, 5, 2) * 2 - 1

    def run(**kw):
        return count_fn(lambda a, g: F.grid_sample(a, g, **kw), x, grid)

    # align_corners: unnormalise in 3; border: 2 for the clip of each coordinate
    assert run(align_corners=True, padding_mode="border").vector_flops == (
        15 * (2 * (3 + 2) + 16) + 30 * 7
    )
    # nearest: unnormalise 4 and round 1 per coordinate, a copy per element;
    # 1 tap per output: 30 input elements read
    nearest = run(mode="nearest", align_corners=False)
    assert nearest.vector_flops == 15 * 2 * 5
    assert nearest.bytes_read == (30 + 30) * F32
    # bicubic, reflection (11 per coordinate, 8 tap coordinates): 2*4 + 8*11 + 54 per
    # location; 5 cubic interpolations of 7 per element; 16 taps x 30 > 128: whole input
    bicubic = run(mode="bicubic", padding_mode="reflection", align_corners=False)
    assert bicubic.vector_flops == 15 * (8 + 88 + 54) + 30 * 35
    assert bicubic.bytes_read == (128 + 30) * F32


def test_grid_sample_3d_trilinear():
    x = torch.randn(1, 2, 4, 4, 4)
    grid = torch.rand(1, 2, 3, 3, 3) * 2 - 1  # 18 locations, 36 output elements
    t = count_fn(lambda a, g: F.grid_sample(a, g, align_corners=True), x, grid)
    # per location: unnormalise 3 * 3, floor 3, +1 3, eight weights of 5 = 55;
    # per element 8 multiplies + 7 adds = 15
    assert t.vector_flops == 18 * 55 + 36 * 15
    assert t.bytes_read == (min(8 * 36, 128) + 18 * 3) * F32


class Sampled(nn.Module):
    """``F.grid_sample`` of a trainable input at a trainable grid (training mode
    back-propagates to parameters only); ``grid_grad=False`` keeps the grid a buffer,
    ``input_grad=False`` the input."""

    def __init__(
        self,
        x: torch.Tensor,
        grid: torch.Tensor,
        input_grad: bool = True,
        grid_grad: bool = True,
        **kw: object,
    ) -> None:
        super().__init__()
        self.x = nn.Parameter(x, requires_grad=input_grad)
        self.grid = nn.Parameter(grid, requires_grad=grid_grad)
        self.kw = kw

    def forward(self) -> torch.Tensor:
        return F.grid_sample(self.x, self.grid, **self.kw)  # type: ignore[arg-type]


def backward_totals(module: nn.Module, *inputs: torch.Tensor, real: bool = False):
    """The backward phase of a training profile, checked to have nothing uncounted."""
    prof = roofline.profile(module, inputs, mode="training", real=real)
    assert prof.uncounted_ops == {}
    return prof, prof.totals("backward")


def test_grid_sample_backward_bilinear_by_hand():
    x = torch.randn(1, 2, 8, 8)  # 128 input elements
    grid = torch.rand(1, 3, 5, 2) * 2 - 1  # 15 locations, 30 output elements
    prof, t = backward_totals(Sampled(x, grid, align_corners=False))
    (op,) = [o for o in prof.ops if o.phase == "backward"]
    assert op.op == "aten.grid_sampler_2d_backward.default" and op.op_class == "upsample"
    # per location: the forward's 24 again, and each coordinate's gradient times its
    # multiplier (zeros padding: no multiplier work) 2 -> 26; per element: the input
    # gradient 4 taps x (multiply + add) = 8, the grid gradient 2 x 7 = 14
    assert t.vector_flops == 15 * 26 + 30 * (8 + 14)  # 1050
    assert t.matrix_flops == 0
    # read: the output gradient 30, the grid 30, the 4 taps of each output 120 (< 128);
    # written: the input gradient 128 and the grid gradient 30
    assert t.bytes_read == (30 + 30 + 120) * F32
    assert t.bytes_written == (128 + 30) * F32
    # the grid gradient is computed even when the grid needs none (ATen always does)
    _, no_grid = backward_totals(Sampled(x, grid, grid_grad=False, align_corners=False))
    assert no_grid.vector_flops == t.vector_flops
    # with a fixed input, no input gradient: 14 per element, and only the grid's written
    _, no_input = backward_totals(Sampled(x, grid, input_grad=False, align_corners=False))
    assert no_input.vector_flops == 15 * 26 + 30 * 14
    assert no_input.bytes_written == 30 * F32


def test_grid_sample_backward_modes_and_padding():
    x = torch.randn(1, 2, 8, 8)
    grid = torch.rand(1, 3, 5, 2) * 2 - 1

    def run(**kw):
        return backward_totals(Sampled(x, grid, **kw))[1]

    # border, align_corners: the forward's 2 * (3 + 2) + 16 = 26 per location, the
    # clip's 2 in-range tests and the multiply per coordinate, 2 * 3 = 6
    assert run(align_corners=True, padding_mode="border").vector_flops == (15 * (26 + 6) + 30 * 22)
    # reflection: the forward's 2 * (4 + 11) + 16 = 46, the multiplier 5 + 1 per
    # coordinate
    assert run(align_corners=False, padding_mode="reflection").vector_flops == (
        15 * (46 + 12) + 30 * 22
    )
    # nearest: the forward's position 2 * (4 + 1) per location; an add per element
    # into the input gradient; the grid gradient is zero, and no input is read
    nearest = run(mode="nearest", align_corners=False)
    assert nearest.vector_flops == 15 * 10 + 30 * 1
    assert nearest.bytes_read == (30 + 30) * F32
    # bicubic, reflection: the forward's 8 + 88 + 54 = 150 per location, the
    # coefficients' derivatives 36, the 48 products of tap weights, 2 multiplies: 236;
    # per element 16 taps x 2 for the input gradient, 16 x 5 for the grid's: 112; the
    # 16 taps of 30 outputs cover the whole input
    bicubic = run(mode="bicubic", padding_mode="reflection", align_corners=False)
    assert bicubic.vector_flops == 15 * 236 + 30 * 112  # 6900
    assert bicubic.bytes_read == (30 + 30 + 128) * F32


def test_grid_sample_3d_backward_trilinear():
    x = torch.randn(1, 2, 4, 4, 4)  # 128 input elements
    grid = torch.rand(1, 2, 3, 3, 3) * 2 - 1  # 18 locations, 36 output elements
    prof, t = backward_totals(Sampled(x, grid, align_corners=True))
    assert {o.op for o in prof.ops if o.phase == "backward"} == {
        "aten.grid_sampler_3d_backward.default"
    }
    # per location: the forward's 55, 3 multiplies by the multipliers, the 12 products
    # of two distances the grid gradient weights by; per element 8 taps x 2 = 16 for
    # the input gradient, 3 x 13 = 39 for the grid's
    assert t.vector_flops == 18 * (55 + 3 + 12) + 36 * (16 + 39)  # 3240
    assert t.bytes_read == (36 + 54 + min(8 * 36, 128)) * F32
    assert t.bytes_written == (128 + 54) * F32


def test_grid_sample_backward_cuda_only_ops_by_hand():
    # cuDNN's sampler (bilinear, zeros, align_corners=True) and the CPU fallback,
    # called directly
    from roofline.counting.formulas import T, cudnn_grid_sampler_backward, grid_sampler_backward

    f32 = torch.float32
    x, grid, g = T((1, 2, 8, 8), f32), T((1, 3, 5, 2), f32), T((1, 2, 3, 5), f32)
    c = cudnn_grid_sampler_backward({"self": x, "grid": grid, "grad_output": g}, [])
    # the forward's 2 * 3 + 16 = 22 and 2 multiplies per location; 22 per element
    assert c.vector_flops == 15 * 24 + 30 * 22
    args = {"grad_output": g, "input": x, "grid": grid, "interpolation_mode": 0}
    fallback = grid_sampler_backward({**args, "padding_mode": 0, "align_corners": True}, [])
    # the same work; each names the sampled tensor by its own argument: 4 taps of each
    # of the 30 gradient elements, all within the 128 input elements, 120 · 4 B
    assert fallback.reads == {"input": 480} and c.reads == {"self": 480}
    assert replace(fallback, reads={}) == replace(c, reads={})


# ----------------------------------------------------------------------------- detection


torchvision = pytest.importorskip("torchvision")
BOXES = torch.tensor([[0, 0.0, 0.0, 4.0, 4.0], [0, 1.0, 1.0, 6.0, 7.0]])  # K=2, [K, 5]


def test_roi_align_fixed_sampling_ratio_by_hand():
    x = torch.randn(1, 2, 8, 8)
    align = torchvision.ops.RoIAlign((2, 3), spatial_scale=1.0, sampling_ratio=2)
    prof = roofline.profile(align, (x, BOXES))  # fake tensors: torchvision's fake impl
    t = prof.totals()
    # K=2 boxes x 2x3 bins = 12 bins, 2x2 = 4 samples each: 32 FLOPs per sample point
    # for its position and weights; per output element (2 channels, 24) 8 per sample
    # and a divide
    assert t.vector_flops == 12 * 4 * 32 + 24 * (8 * 4 + 1)  # 2328
    # 4 taps x 4 samples x 24 outputs = 384 > 128: the whole input, and the boxes
    assert t.bytes_read == 128 * F32 + 10 * F32
    assert t.bytes_written == 24 * F32
    assert prof.uncounted_ops == {} and prof.ops[0].op_class == "pool"


def test_roi_align_adaptive_sampling_is_the_whole_map_upper_bound():
    x = torch.randn(1, 2, 8, 8)
    t = count_fn(lambda a, b: torchvision.ops.roi_align(a, b, (2, 3), 1.0, -1), x, BOXES)
    # samples per bin at their bound: ceil(8/2) * ceil(8/3) = 4 * 3 = 12
    assert t.vector_flops == 12 * 12 * 32 + 24 * (8 * 12 + 1)


def test_roi_pool_and_position_sensitive_variants():
    x = torch.randn(1, 2, 8, 8)
    t = count_fn(lambda a, b: torchvision.ops.roi_pool(a, b, (2, 3), 1.0), x, BOXES)
    # upper bound: each box covers the 8x8 map, a comparison per pixel and channel
    assert t.vector_flops == 2 * 2 * 64
    # output and int32 argmax, 24 each
    assert t.bytes_written == 24 * F32 + 24 * 4
    x8 = torch.randn(1, 8, 8, 8)  # 2 output channels x 2x2 bins
    t = count_fn(lambda a, b: torchvision.ops.ps_roi_align(a, b, (2, 2), 1.0, 2), x8, BOXES)
    # 8 bins x 4 samples x 32, and 16 outputs x (8 * 4 + 1)
    assert t.vector_flops == 8 * 4 * 32 + 16 * 33
    # 4 taps x 4 samples x 16 outputs = 256 of the 512 input elements, and the boxes
    assert t.bytes_read == (256 + 10) * F32
    t = count_fn(lambda a, b: torchvision.ops.ps_roi_pool(a, b, (2, 2), 1.0), x8, BOXES)
    assert t.vector_flops == 2 * 2 * 64 + 16  # the pixels, and a divide per output


class Pooled(nn.Module):
    """A torchvision RoI op over a trainable feature map."""

    def __init__(self, op: Callable[..., torch.Tensor], x: torch.Tensor) -> None:
        super().__init__()
        self.op = op
        self.x = nn.Parameter(x)

    def forward(self, boxes: torch.Tensor) -> torch.Tensor:
        return self.op(self.x, boxes)


@pytest.mark.parametrize("real", [False, True])
def test_roi_align_backward_by_hand(real):
    x = torch.randn(1, 2, 8, 8)
    op = torchvision.ops.RoIAlign((2, 3), spatial_scale=1.0, sampling_ratio=2)
    prof, t = backward_totals(Pooled(op, x), BOXES, real=real)
    (bwd,) = [o for o in prof.ops if o.phase == "backward"]
    assert bwd.op == "torchvision._roi_align_backward.default" and bwd.op_class == "pool"
    # the forward's work: per box and sample point the position and 4 weights (12
    # bins x 4 samples x 32), per gradient element g / count once and, per sample, 4
    # weighted adds into the taps (24 x (8 * 4 + 1))
    assert t.vector_flops == 12 * 4 * 32 + 24 * (8 * 4 + 1)  # 2328
    # read: the output gradient and the boxes, not the input; written: its gradient
    assert t.bytes_read == (24 + 10) * F32
    assert t.bytes_written == 128 * F32
    # the adaptive ratio: the whole-map bound of the forward, ceil(8/2) * ceil(8/3)
    adaptive = lambda a, b: torchvision.ops.roi_align(a, b, (2, 3), 1.0, -1)  # noqa: E731
    _, t = backward_totals(Pooled(adaptive, x), BOXES, real=real)
    assert t.vector_flops == 12 * 12 * 32 + 24 * (8 * 12 + 1)


def backward_op(module: nn.Module, name: str, *inputs: torch.Tensor, real: bool = False):
    """The one backward op ``name`` of a training profile with nothing uncounted; the
    only other backward op allowed is autograd's zero gradient for an output the loss
    does not use (RoIPool's argmax, PSRoIPool's channel map), a fill."""
    prof = roofline.profile(module, inputs, mode="training", real=real)
    assert prof.uncounted_ops == {}
    bwd = [o for o in prof.ops if o.phase == "backward"]
    assert {o.op for o in bwd} - {name} <= {"aten.zeros.default"}
    (op,) = [o for o in bwd if o.op == name]
    assert op.counted and op.op_class == "pool"
    return op


@pytest.mark.parametrize("real", [False, True])
def test_roi_pool_and_position_sensitive_backward_by_hand(real):
    x = torch.randn(1, 2, 8, 8)
    pool = lambda a, b: torchvision.ops.roi_pool(a, b, (2, 3), 1.0)  # noqa: E731
    op = backward_op(Pooled(pool, x), "torchvision._roi_pool_backward.default", BOXES, real=real)
    # one add per gradient element, at its saved argmax; read the gradient, the boxes
    # and the int32 argmax (24 each), write the input gradient
    assert op.vector_flops == 24
    assert op.bytes_read == (24 + 10) * F32 + 24 * 4
    assert op.bytes_written == 128 * F32
    x8 = torch.randn(1, 8, 8, 8)  # 2 output channels x 2x2 bins
    ps_align = lambda a, b: torchvision.ops.ps_roi_align(a, b, (2, 2), 1.0, 2)  # noqa: E731
    name = "torchvision._ps_roi_align_backward.default"
    op = backward_op(Pooled(ps_align, x8), name, BOXES, real=real)
    # as the forward: 8 bins x 4 samples x 32, and 16 elements x (8 * 4 + 1)
    assert op.vector_flops == 8 * 4 * 32 + 16 * 33
    assert op.bytes_written == 512 * F32
    ps_pool = lambda a, b: torchvision.ops.ps_roi_pool(a, b, (2, 2), 1.0)  # noqa: E731
    name = "torchvision._ps_roi_pool_backward.default"
    op = backward_op(Pooled(ps_pool, x8), name, BOXES, real=real)
    # the forward's bound: a divide per element, an add per pixel of the whole map
    # for each box and output channel; the gradient, boxes and int32 channel map read
    assert op.vector_flops == 2 * 2 * 64 + 16
    assert op.bytes_read == (16 + 10) * F32 + 16 * 4


class PoolOfParam(nn.Module):
    """A pooling function over a trainable tensor, so a training step runs its backward
    and nothing else (no input, no other op)."""

    def __init__(self, op: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> None:
        super().__init__()
        self.op = op
        self.x = nn.Parameter(x)

    def forward(self) -> torch.Tensor:
        return self.op(self.x)


def pool_backward(op, x, name, real=False):
    prof = roofline.profile(PoolOfParam(op, x), (), mode="training", real=real)
    assert prof.uncounted_ops == {}
    (bwd,) = [o for o in prof.ops if o.phase == "backward" and o.op == name]
    assert bwd.op_class == "pool"
    return bwd


@pytest.mark.parametrize("real", [False, True])
def test_max_pool_backward_is_one_add_per_gradient_element(real):
    # the scatter convention (docs/conventions.md): each output-gradient element is
    # added to the input gradient at its saved argmax, one add; as _roi_pool_backward
    x = torch.randn(2, 3, 9, 9)
    mp = lambda t: F.max_pool2d(t, 3, 2, 1)  # noqa: E731
    op = pool_backward(mp, x, "aten.max_pool2d_with_indices_backward.default", real)
    # output 2x3x5x5 ((9 + 2 - 3) // 2 + 1 = 5): 150 adds, not numel(in) + numel(out)
    assert op.vector_flops == 2 * 3 * 5 * 5
    # bytes: the 150-element gradient (fp32) and its int64 indices read, not the
    # 486-element input (the kernel needs only its shape); the 486-element input
    # gradient written twice, ATen's zero fill and then the kernel's pass
    assert op.bytes_read == 150 * F32 + 150 * 8
    assert op.bytes_written == 2 * 486 * F32
    amp = lambda t: F.adaptive_max_pool2d(t, (2, 4))  # noqa: E731
    op = pool_backward(amp, x, "aten.adaptive_max_pool2d_backward.default", real)
    assert op.vector_flops == 2 * 3 * 2 * 4
    assert (op.bytes_read, op.bytes_written) == (48 * F32 + 48 * 8, 2 * 486 * F32)
    x3 = torch.randn(1, 2, 4, 4, 4)
    mp3 = lambda t: F.max_pool3d(t, 2)  # noqa: E731
    op = pool_backward(mp3, x3, "aten.max_pool3d_with_indices_backward.default", real)
    assert op.vector_flops == 2 * 2 * 2 * 2


@pytest.mark.parametrize("real", [False, True])
def test_avg_pool_backward_adds_each_window_element_it_reaches(real):
    x = torch.randn(2, 3, 9, 9)
    ap = lambda t: F.avg_pool2d(t, 3, 2, 1)  # noqa: E731
    op = pool_backward(ap, x, "aten.avg_pool2d_backward.default", real)
    # 5 windows per dim at -1, 1, 3, 5, 7, 3 wide: the first and the last clipped by
    # the padding to [0, 2) and [7, 9) (2 elements), the others 3 -> 2 + 3 x 3 + 2 = 13
    # per dim, 13 x 13 adds per plane (6 planes), + a divide per output element (6 x 25)
    assert op.vector_flops == 6 * 13 * 13 + 6 * 25
    # bytes: the 150-element gradient read, not the 486-element input, which ATen's
    # kernels take for its shape only (avg_pool2d_backward_out_cpu hands the kernel
    # gradInput and gradOutput alone); the input gradient written. Until 2026-12-06 the
    # input, here a parameter, was read too: 2,544 B, 1,944 of them weight bytes
    assert (op.bytes_read, op.weight_bytes, op.bytes_written) == (150 * F32, 0, 486 * F32)
    # no padding, stride = kernel 2 on 9: 4 windows, the 9th element never reached
    ap2 = lambda t: F.avg_pool2d(t, 2)  # noqa: E731
    op = pool_backward(ap2, x, "aten.avg_pool2d_backward.default", real)
    assert op.vector_flops == 6 * 8 * 8 + 6 * 16
    x3 = torch.randn(1, 2, 4, 4, 4)
    ap3 = lambda t: F.avg_pool3d(t, 2)  # noqa: E731
    op = pool_backward(ap3, x3, "aten.avg_pool3d_backward.default", real)
    assert op.vector_flops == 2 * 64 + 2 * 8  # every element once, a divide per output
    assert (op.bytes_read, op.weight_bytes, op.bytes_written) == (16 * F32, 0, 128 * F32)


@pytest.mark.parametrize("real", [False, True])
def test_adaptive_pool_forward_follows_the_bins(real):
    x = torch.randn(2, 3, 7, 5)

    def flops(fn, t=x):
        prof = roofline.profile(Fn(fn), (t,), real=real)
        assert prof.uncounted_ops == {} and [o.op_class for o in prof.ops] == ["pool"]
        return prof.totals().vector_flops

    # 7 -> 2 bins [0, 4), [3, 7): 8 a column; 5 -> 3 bins [0, 2), [1, 4), [3, 5): 7 a
    # row: 6 planes x 8 x 7 = 336 adds or comparisons (numel(input) would be 210),
    # + an average's 6 x 2 x 3 divides
    assert flops(lambda t: F.adaptive_max_pool2d(t, (2, 3))) == 6 * 8 * 7
    assert flops(lambda t: F.adaptive_avg_pool2d(t, (2, 3))) == 6 * 8 * 7 + 6 * 6
    # bins that divide the input reach each element once: 7 -> 7, 5 -> 5
    assert flops(lambda t: F.adaptive_max_pool2d(t, (7, 5))) == 6 * 7 * 5
    # 1-D (run as 2-D over a unit dim) and 3-D: the same rows of 5 -> 3
    row = x[:, :, 0]
    assert flops(lambda t: F.adaptive_avg_pool1d(t, 3), row) == 6 * 7 + 6 * 3
    assert flops(lambda t: F.adaptive_max_pool3d(t, (1, 2, 3)), x.unsqueeze(2)) == 6 * 8 * 7


@pytest.mark.parametrize("real", [False, True])
def test_adaptive_avg_pool_backward_follows_the_bins(real):
    x = torch.randn(2, 3, 7, 5)
    # to 1x2, bins dividing the input along one dim: [0, 7) and [0, 3), [2, 5) -> 7 x 6
    # adds per plane + a divide per output (a 1x1 output runs as mean, not this op)
    op = pool_backward(
        lambda t: F.adaptive_avg_pool2d(t, (1, 2)),
        x,
        "aten._adaptive_avg_pool2d_backward.default",
        real,
    )
    assert op.vector_flops == 6 * 7 * 6 + 6 * 2
    # the 12-element gradient read, the input (a parameter, 210 elements) not: its
    # shape only, as the fixed windows' backward (until 2026-12-06 read, 888 B)
    assert (op.bytes_read, op.weight_bytes, op.bytes_written) == (12 * F32, 0, 210 * F32)
    # 5 -> 3 bins [0, 2), [1, 4), [3, 5) overlap: 2 + 3 + 2 = 7 per row; 7 -> 2 bins
    # [0, 4), [3, 7): 8 per column; 6 planes x 8 x 7 adds + 6 x 2 x 3 divides
    op = pool_backward(
        lambda t: F.adaptive_avg_pool2d(t, (2, 3)),
        x,
        "aten._adaptive_avg_pool2d_backward.default",
        real,
    )
    assert op.vector_flops == 6 * 8 * 7 + 6 * 6
    x3 = torch.randn(1, 2, 4, 4, 4)
    op = pool_backward(
        lambda t: F.adaptive_avg_pool3d(t, 2),
        x3,
        "aten._adaptive_avg_pool3d_backward.default",
        real,
    )
    assert op.vector_flops == 2 * 64 + 2 * 8


def test_nms_counts_every_pair_and_the_sort():
    boxes = torch.rand(10, 4) * 10
    boxes[:, 2:] += boxes[:, :2]
    scores = torch.rand(10)
    prof = count_real(lambda b, s: torchvision.ops.nms(b, s, 0.5), boxes, scores)
    t = prof.totals()
    # sort 10 * ceil(log2 10) = 40, areas 3 * 10, 45 pairs x 13
    assert t.vector_flops == 40 + 30 + 45 * 13  # 655
    kept = prof.ops[0].output_shapes[0][0]
    assert t.bytes_read == (40 + 10) * F32 and t.bytes_written == kept * 8
    assert prof.uncounted_ops == {} and prof.ops[0].op_class == "reduction"


def test_detection_model_has_no_uncounted_ops():
    model = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=3
    ).eval()
    torch.manual_seed(0)
    prof = roofline.profile(model, ([torch.rand(3, 64, 64)],), real=True)
    assert prof.uncounted_ops == {}
    names = {o.op for o in prof.ops}
    assert {"torchvision.nms.default", "torchvision.roi_align.default"} <= names


def test_bilinear_counts_the_two_products_aten_runs():
    # nn.Bilinear(5, 7 -> 3) on 4 rows: _trilinear unrolls the 3 outputs, each x1·W[o]
    # (4·5·7 MACs) then · x2 (4·7): 3·(140 + 28) = 504 MACs; one add per output into
    # the zeroed result (12), then the bias add (12)
    m = nn.Bilinear(5, 7, 3)
    x1, x2 = torch.randn(4, 5), torch.randn(4, 7)
    t = count_module(m, x1, x2)
    assert (t.matrix_flops, t.vector_flops) == (2 * 504, 12 + 12)
    # a leading batch dimension (2x4 rows) is flattened by F.bilinear: twice the work
    assert count_module(m, torch.randn(2, 4, 5), torch.randn(2, 4, 7)).matrix_flops == 4 * 504
    # the same on real tensors (a cross-check of the expanded shapes)
    real = roofline.profile(m, (x1, x2), real=True).totals()
    assert real.matrix_flops == t.matrix_flops


def test_max_pool_counts_alike_inside_a_callers_inference_mode():
    # inference_mode skips the autograd key that decomposes aten.max_pool2d, so the
    # counter met the undecomposed op and counted no indices; ATen runs
    # max_pool2d_with_indices for it all the same (the profiler shows both), and the
    # output and the int64 indices are written either way
    for m, x in [
        (nn.MaxPool2d(3, 2, 1), torch.randn(1, 4, 16, 16)),
        (nn.MaxPool3d(2), torch.randn(1, 2, 8, 8, 8)),
    ]:
        outside = roofline.profile(m, (x,)).ops
        with torch.inference_mode():
            inside = roofline.profile(m, (x,)).ops
        key = [(o.vector_flops, o.bytes_read, o.bytes_written) for o in outside]
        assert [(o.vector_flops, o.bytes_read, o.bytes_written) for o in inside] == key
    # the 3-D pool: 2x4x4x4 = 128 outputs of 8 comparisons, 128 x (4 + 8) bytes written
    assert key == [(128 * 8, 4096, 128 * (4 + 8))]


# ------------------------------------------------- selection, scans, spectral, linalg
# Each figure derived by hand from the formula's docstring, on a 6 x 10 matrix X
# (rows of 10) unless said otherwise.

X = (6, 10)


def _op_flops(
    fn: Callable[..., torch.Tensor], *shapes: tuple[int, ...], op: str, real: bool = False
) -> int:
    prof = roofline.profile(Fn(fn), tuple(torch.randn(*s) for s in shapes), real=real)
    assert prof.uncounted_ops == {}
    return sum(o.vector_flops for o in prof.ops if op in o.op)


@pytest.mark.parametrize(
    ("fn", "shapes", "op", "flops"),
    [
        # a selection compares each element once: 60
        (lambda x: x.median(dim=1)[0], [X], "median", 60),
        (lambda x: x.median(), [X], "median", 60),
        (lambda x: x.kthvalue(3)[0], [X], "kthvalue", 60),
        # mode: sort a row (10·⌈log₂10⌉ = 40) and count runs (10): 6 x 50
        (lambda x: x.mode(dim=1)[0], [X], "mode", 300),
        # two per element
        (lambda x: torch.aminmax(x, dim=1)[0], [X], "aminmax", 120),
        (lambda x: x.nansum(), [X], "nansum", 120),
        (lambda x: torch.count_nonzero(x, dim=1), [X], "count_nonzero", 120),
        # scans: one compare each; log-add-exp 7 each
        (lambda x: torch.cummax(x, dim=1)[0], [X], "cummax", 60),
        (lambda x: x.logcumsumexp(1), [X], "logcumsumexp", 420),
        # glu halves 10 -> 5 columns: 30 outputs x (sigmoid 4 + multiply 1)
        (lambda x: F.glu(x), [X], "glu", 150),
        # trace: 6 diagonal elements, 5 adds
        (lambda x: x.trace(), [X], "trace", 5),
        # ||x - y||_2: subtract, square, add per element (180), one root
        (lambda x, y: torch.dist(x, y), [X, X], "dist", 181),
        # 6 x 4 pairs of 10 coordinates, direct kernel: 24 x (3 x 10 + 1)
        (
            lambda x, y: torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist"),
            [X, (4, 10)],
            "cdist",
            744,
        ),
        # 15 pairs of rows of 10: 15 x 31
        (lambda x: F.pdist(x), [X], "pdist", 465),
        # 60 queries, 5 boundaries: ⌈log₂ 6⌉ = 3 comparisons each
        (lambda x: torch.bucketize(x, torch.linspace(-1, 1, 5)), [X], "bucketize", 180),
        # FFTs: 6 real transforms of 16 points, 2.5·16·4 = 160 each
        (lambda x: torch.fft.rfft(x).abs(), [(6, 16)], "fft_r2c", 960),
        (lambda x: torch.fft.irfft(x.to(torch.complex64), n=16), [(6, 9)], "fft_c2r", 960),
        # 2 x 3 complex transforms of 8 x 8 = 64 points: 5·64·6 = 1920 each
        (lambda x: torch.fft.fft2(x).real, [(2, 3, 8, 8)], "fft_c2c", 6 * 1920),
        # affine grid, 2-D: 2 x 8 x 8 points x 2 coordinates x (3 MACs less the 1) = 5
        (
            lambda t: F.affine_grid(t, [2, 3, 8, 8], align_corners=False),
            [(2, 2, 3)],
            "affine_grid",
            2 * 64 * 2 * 5,
        ),
        # linear algebra, LAPACK counts on 6 x 6: inverse 2n³, Cholesky n³/3,
        # LU 2n³/3, solve with 10 right-hand sides 2n³/3 + 2n²·10
        (lambda a: torch.linalg.inv(a + 6 * torch.eye(6)), [(6, 6)], "inv_ex", 432),
        (
            lambda a: torch.linalg.cholesky(a @ a.T + torch.eye(6)),
            [(6, 6)],
            "cholesky",
            72,
        ),
        (lambda a: torch.linalg.det(a), [(6, 6)], "linalg_det", 144),
        (
            lambda a, b: torch.linalg.solve(a + 6 * torch.eye(6), b),
            [(6, 6), X],
            "solve_ex",
            144 + 720,
        ),
    ],
)
def test_selection_scan_spectral_and_linalg_by_hand(fn, shapes, op, flops):
    assert _op_flops(fn, *shapes, op=op) == flops


def test_svd_and_eigh_count_what_torch_computes():
    # svdvals and eigvalsh ask for values only, but under a dispatch mode (the
    # counter's) torch computes the vectors too ("may require grad"), and the count
    # follows what ran: the thin U and V, 14mn² + 8n³ = 6768 for 6 x 10 (m = 10,
    # n = 6), 9n³ = 1944 for 6 x 6. Values only: 4mn² − 4n³/3 = 1152 and 4n³/3 = 288
    from roofline.counting import formulas as fm

    svdvals, eigvalsh = torch.linalg.svdvals, lambda a: torch.linalg.eigvalsh(a + a.T)
    assert _op_flops(svdvals, X, op="svd") == 6768
    assert _op_flops(eigvalsh, (6, 6), op="eigh") == 1944
    a, sq = fm.T(X, torch.float32), fm.T((6, 6), torch.float32)
    assert fm.svd({"A": a, "compute_uv": False}, []).vector_flops == 1152
    assert fm.eigh({"A": sq, "compute_v": False}, []).vector_flops == 288


def test_embedding_bag_reads_only_the_rows_it_gathers():
    # 12 indices into a 10 x 4 table, 3 bags: 12 rows of 4 gathered and summed (48
    # adds); read the int64 indices (96 B) and offsets (24 B) and at most the 10 rows
    # of the table (160 B): 12 indices into 10 rows repeat some, read once
    idx, offsets = torch.randint(0, 10, (12,)), torch.tensor([0, 4, 8])
    for mode, flops in (("sum", 48), ("mean", 48 + 3 * 4)):
        bag = nn.EmbeddingBag(10, 4, mode=mode)
        prof = roofline.profile(bag, (idx, offsets))
        (op,) = [o for o in prof.ops if "embedding_bag" in o.op]
        assert op.vector_flops == flops
        assert op.bytes_read == 96 + 24 + 10 * 4 * F32


@pytest.mark.parametrize(
    ("mode", "weighted", "backward_flops"),
    [
        # 12 indices of 6-wide rows into 3 bags: each gathered row's gradient added into
        # the table's (72 adds); the mean scales it first (72 more); per-sample weights
        # multiply it (72 more); max routes each bag's 3 x 6 gradient to one row (18)
        ("sum", False, 72),
        ("mean", False, 144),
        ("sum", True, 144),
        ("max", False, 18),
    ],
)
def test_embedding_bag_backward_is_counted(mode, weighted, backward_flops):
    idx, offsets = torch.randint(0, 10, (12,)), torch.tensor([0, 5, 9])
    args = (idx, offsets) + ((torch.randn(12),) if weighted else ())
    prof = roofline.profile(nn.EmbeddingBag(10, 6, mode=mode), args, mode="training")
    assert not prof.uncounted_ops
    (op,) = [o for o in prof.ops if o.op.startswith("aten._embedding_bag_backward")]
    assert op.vector_flops == backward_flops


def test_histc_is_counted_per_element():
    class Hist(nn.Module):
        def __init__(self, lo: float, hi: float) -> None:
            super().__init__()
            self.lo, self.hi = lo, hi

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.histc(x, bins=10, min=self.lo, max=self.hi)

    # 100 elements: two range checks, scale and floor (3), an increment: 6 each; with
    # min == max the data's min and max come first (2 more)
    for (lo, hi), per in (((-1.0, 1.0), 6), ((0.0, 0.0), 8)):
        prof = roofline.profile(Hist(lo, hi), (torch.randn(100),))
        assert not prof.uncounted_ops and prof.totals().vector_flops == per * 100


def test_every_op_of_the_less_common_functions_is_counted_forward_and_backward():
    # each of these ran with some op uncounted before; in training their backward ops
    # must be counted too
    fns = [
        lambda x: F.logsigmoid(x),
        lambda x: F.softshrink(x) + F.hardshrink(x) + F.celu(x) + F.rrelu(x, training=True),
        lambda x: torch.logit(x.sigmoid()) + x.sinh() + x.asinh() + x.lgamma() + x.digamma(),
        lambda x: torch.hypot(x, x) + torch.atan2(x, x) + x.frac() + x.rot90().T,
        lambda x: F.glu(x).sum() + F.pdist(x).sum() + torch.cdist(x, x).sum(),
        lambda x: F.soft_margin_loss(x, torch.ones_like(x)),
        lambda x: F.multi_margin_loss(x, torch.zeros(6, dtype=torch.long)),
        lambda x: torch.linalg.qr(x)[0].sum() + torch.linalg.det(x[:, :6]),
        lambda x: F.fractional_max_pool2d(x[None, None], 2, output_size=(3, 5)).sum(),
        lambda x: torch.polar(x.abs(), x).abs(),
    ]

    class Train(nn.Module):
        def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
            super().__init__()
            self.fn, self.w = fn, nn.Parameter(torch.randn(*X))

        def forward(self) -> torch.Tensor:
            return self.fn(self.w)

    for fn in fns:
        prof = roofline.profile(Train(fn), (), mode="training")
        assert prof.uncounted_ops == {}, prof.uncounted_ops


@pytest.mark.parametrize(
    ("size", "out", "fwd", "bwd"),
    [
        # 8 -> 4 (scale 2): the bilinear filter's half-width doubles to 2 around
        # centers 1, 3, 5, 7, so the windows hold [3, 4, 4, 3] inputs (sum of 2t - 1:
        # 24). Horizontal pass 8 rows x 24, vertical 4 columns x 24: 288 (the plain
        # kernel's 7 x 16 = 112); backward 2 x 14 x 14 = 392
        (8, 4, 8 * 24 + 4 * 24, 392),
        # 4 -> 8 (upsampling): half-width 1, windows [1, 2, 2, 2, 2, 2, 2, 1] (20):
        # 4 rows x 20 + 8 columns x 20 = 240; backward 2 x 14 x 14
        (4, 8, 4 * 20 + 8 * 20, 392),
    ],
)
def test_antialiased_resize_counts_its_widened_filter(size, out, fwd, bwd):
    from roofline.counting.formulas import aa_taps

    class Resize(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(1, 1, size, size))

        def forward(self) -> torch.Tensor:
            return F.interpolate(self.w, size=(out, out), mode="bilinear", antialias=True)

    assert aa_taps(8, 4, 2) == [3, 4, 4, 3]
    assert aa_taps(4, 8, 2) == [1, 2, 2, 2, 2, 2, 2, 1]
    prof = roofline.profile(Resize(), (), mode="training")
    (f,) = [o for o in prof.ops if o.phase == "forward"]
    (b,) = [o for o in prof.ops if o.phase == "backward"]
    assert (f.vector_flops, b.vector_flops) == (fwd, bwd)


def test_dist_counts_every_element_of_the_broadcast_difference():
    # [6, 1] against [1, 10]: the difference has 60 elements, each subtracted,
    # squared and added (180), then one root
    assert _op_flops(lambda x, y: torch.dist(x, y), (6, 1), (1, 10), op="dist") == 181


@pytest.mark.parametrize(
    ("fn", "shapes", "op", "flops"),
    [
        # X A = B (left=False), B 10 x 6: LU of the 6 x 6 (144) and 10 right-hand
        # sides, 2n²·10 = 720
        (lambda a, b: torch.linalg.solve(a, b, left=False), [(6, 6), (10, 6)], "solve_ex", 864),
        # one A against a batch of 4 B of 3 columns: torch factors A once (its LU
        # output is 6 x 6) and solves 12 right-hand sides
        (lambda a, b: torch.linalg.solve(a, b), [(6, 6), (4, 6, 3)], "solve_ex", 144 + 864),
        # a batch of 2 systems with one vector each
        (lambda a, b: torch.linalg.solve(a, b), [(2, 6, 6), (2, 6)], "solve_ex", 2 * 216),
        # triangular, n²k with k = 10, on either side, and broadcast over B's batch
        (
            lambda a, b: torch.linalg.solve_triangular(a, b, upper=True, left=False),
            [(6, 6), (10, 6)],
            "triangular",
            360,
        ),
        (
            lambda a, b: torch.linalg.solve_triangular(a, b, upper=True),
            [(3, 6, 6), (6, 10)],
            "triangular",
            3 * 360,
        ),
        # with an LU factorisation, 2n²k, k = 10 on either side
        (
            lambda a, b: torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b, left=False),
            [(6, 6), (10, 6)],
            "lu_solve",
            720,
        ),
        (
            lambda a, b: torch.linalg.lu_solve(*torch.linalg.lu_factor(a), b),
            [(3, 6, 6), (6, 10)],
            "lu_solve",
            3 * 720,
        ),
    ],
)
def test_solves_count_the_right_hand_sides_they_solve(fn, shapes, op, flops):
    # the right-hand sides are B's rows when the system is X A = B, and a batch of
    # them may come from either operand: count them from the solution's shape
    assert _op_flops(fn, *shapes, op=op) == flops


@pytest.mark.parametrize("shape", [(10, 6), (6, 10)])
def test_lu_of_a_rectangular_matrix(shape):
    # getrf of m x n, p = min(m, n), q = max(m, n): q·p² − p³/3 = 360 − 72 = 288
    # either way round (2n³/3 when square)
    assert _op_flops(lambda a: torch.linalg.lu_factor(a)[0], shape, op="lu_factor") == 288
    assert _op_flops(lambda a: torch.linalg.lu(a)[1], shape, op="linalg_lu") == 288


@pytest.mark.parametrize(
    ("shape", "mode", "flops"),
    [
        # 10 x 6: R by geqrf, 2·10·36 − 2·216/3 = 576; the reduced Q (10 x 6, orgqr
        # with 6 reflectors) as much again
        ((10, 6), "reduced", 576 + 576),
        ((10, 6), "r", 576),
        # the complete Q is 10 x 10: orgqr(M=10, N=10, K=6) = 4MNK − 2(M + N)K² + 4K³/3
        # = 2400 − 1440 + 288
        ((10, 6), "complete", 576 + 1248),
        # 6 x 10: R as the transpose's, 576; Q is only 6 x 6 from 6 reflectors, 4·6³/3
        ((6, 10), "reduced", 576 + 288),
        ((6, 10), "complete", 576 + 288),
    ],
)
def test_qr_forms_the_q_its_mode_asks_for(shape, mode, flops):
    assert _op_flops(lambda a: torch.linalg.qr(a, mode=mode)[1], shape, op="qr") == flops


@pytest.mark.parametrize(
    ("full_matrices", "flops"),
    [
        # thin U (100 x 4, torch's default) and V: Golub-Reinsch 14mn² + 8n³
        (False, 14 * 100 * 16 + 8 * 64),
        # the full 100 x 100 U: 4m²n + 8mn² + 9n³
        (True, 4 * 100 * 100 * 4 + 8 * 100 * 16 + 9 * 64),
    ],
)
def test_svd_of_a_tall_matrix_prices_the_u_it_forms(full_matrices, flops):
    # the m²n term is only there for the full U: a thin SVD of a tall matrix (PCA of
    # many samples) is linear in m
    fn = lambda a: torch.linalg.svd(a, full_matrices=full_matrices)[1]  # noqa: E731
    assert _op_flops(fn, (100, 4), op="svd") == flops


def test_in_place_forms_take_their_out_of_place_formula():
    # y.addmm_(a, b): 4x5 outputs of 3 MACs each, plus the 20 adds of self; reads
    # self, a and b, writes self; cos_ and cumsum_ one per element
    x, a, b = torch.randn(4, 5), torch.randn(4, 3), torch.randn(3, 5)
    addmm = one_op(lambda y, p, q: y.addmm_(p, q), x.clone(), a, b)
    assert (addmm.matrix_flops, addmm.vector_flops) == (2 * 4 * 5 * 3, 20)
    assert (addmm.bytes_read, addmm.bytes_written) == ((20 + 12 + 15) * F32, 20 * F32)
    assert one_op(lambda y: y.cos_(), x.clone()).vector_flops == 20
    assert one_op(lambda y: y.cumsum_(1), x.clone()).vector_flops == 20


def test_every_in_place_form_of_a_counted_op_is_counted():
    from roofline.counting.formulas import lookup

    missing = []
    for name in REGISTRY:
        base = name.split(".")[1]
        packet = getattr(torch.ops.aten, base + "_", None)
        if base.endswith("_") or packet is None:
            continue
        missing += [
            f"{base}_.{o}" for o in packet.overloads() if lookup(getattr(packet, o)) is None
        ]
    # an out= overload of an in-place op does not exist; anything listed is a gap
    assert missing == []


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize(
    ("fn", "inputs", "read"),
    [
        # an integer source is no index: 4 int64 indices + the 4 int64 elements gathered
        (
            lambda t, i: torch.gather(t, 1, i),
            (torch.arange(20).view(4, 5), torch.tensor([[0], [1], [2], [3]])),
            4 * 8 + 4 * 8,
        ),
        # 12 repeats of one row: the source is read at most whole (10 x 3 floats)
        (
            lambda t, i: t.index_select(0, i),
            (torch.randn(10, 3), torch.tensor([1] * 12)),
            12 * 8 + 30 * F32,
        ),
        (lambda t, i: t[i], (torch.randn(10, 3), torch.tensor([2, 3])), 2 * 8 + 6 * F32),
        # an expanded index is read at its real size (3 int64), the 12 outputs' sources
        (
            lambda t, i: torch.gather(t, 1, i.expand(4, 3)),
            (torch.randn(4, 5), torch.tensor([[0, 1, 2]])),
            3 * 8 + 12 * F32,
        ),
    ],
)
def test_gathers_read_their_indices_by_role_and_the_source_at_most_once(fn, inputs, read, real):
    assert one_op(fn, *inputs, real=real).bytes_read == read


def test_out_of_place_scatters_count_one_op_per_index_element():
    # src holds 4 x 5 values but the index addresses 1 x 3: 3 stores (adds), the rest
    # of src unused; a scalar stored costs nothing, with reduce= one multiply each
    x, idx, src = torch.zeros(4, 5), torch.tensor([[0, 2, 4]]), torch.randn(4, 5)
    assert one_op(lambda t, i, s: torch.scatter(t, 1, i, s), x, idx, src).vector_flops == 3
    assert one_op(lambda t, i, s: torch.scatter_add(t, 1, i, s), x, idx, src).vector_flops == 3
    assert one_op(lambda t, i: torch.scatter(t, 1, i, 2.0), x, idx).vector_flops == 0
    mul = one_op(lambda t, i: torch.scatter(t, 1, i, 2.0, reduce="multiply"), x, idx)
    assert mul.vector_flops == 3
    # index_add adds whole source slices: one add per source element
    assert (
        one_op(
            lambda t, i, s: t.index_add(0, i, s), x, torch.tensor([1]), torch.randn(1, 5)
        ).vector_flops
        == 5
    )


@pytest.mark.parametrize("in_place", [False, True])
def test_index_add_with_alpha_multiplies_each_source_element(in_place):
    x, i, s = torch.zeros(4, 5), torch.tensor([1, 2]), torch.randn(2, 5)
    fn = (
        (lambda t, j, u: t.index_add_(0, j, u, alpha=0.5))
        if in_place
        else (lambda t, j, u: t.index_add(0, j, u, alpha=0.5))
    )
    assert one_op(fn, x, i, s).vector_flops == 2 * 10  # multiply, then add


class SumOf(nn.Module):
    """``fn(w).sum()`` of a trainable ``w``: the sum's backward hands the next backward
    op a broadcast (stride-0) gradient of one stored element."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape))
        self.fn = fn

    def forward(self) -> torch.Tensor:
        return self.fn(self.w).sum()


def test_formulas_that_set_bytes_read_a_broadcast_input_at_its_real_size():
    # x.copy_(row.expand(4, 8)): the 8-float row (32 B) is read, not 4 x 8 (128 B)
    op = one_op(lambda x, b: x.copy_(b.expand(4, 8)), torch.zeros(4, 8), torch.randn(8))
    assert op.op == "aten.copy_.default" and op.bytes_read == 8 * F32
    # the gradient of .sum() is one float broadcast: a max pool's backward reads it
    # (4 B) and the int64 indices (4*4*4 * 8 B), not 64 gradient floats; a reflection
    # pad's backward reads only the gradient, 4 B instead of 4*10*10 floats
    for fn, op_name, read in (
        (lambda w: F.max_pool2d(w, 2), "max_pool2d_with_indices_backward", F32 + 64 * 8),
        (lambda w: F.pad(w, (1, 1, 1, 1), mode="reflect"), "reflection_pad2d_backward", F32),
    ):
        prof = roofline.profile(SumOf(fn, (1, 4, 8, 8)), (), mode="training")
        (back,) = [o for o in prof.ops if op_name in o.op]
        assert back.bytes_read == read


class _Overwrite(nn.Module):
    """``w.copy_(x)`` (or ``x.copy_(w)``) into/from a [4, 8] parameter, as an EMA or a
    weight load does."""

    def __init__(self, into_weight: bool) -> None:
        super().__init__()
        self.w, self.into_weight = nn.Parameter(torch.zeros(4, 8)), into_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.w.copy_(x) if self.into_weight else x.clone().copy_(self.w)


@pytest.mark.parametrize("real", [False, True])
def test_copy_reads_only_its_source_and_counts_only_a_source_weight(real):
    # copy_ reads src only (32 floats, 128 B): copying a batch into the weight reads no
    # weight (it was min(weight, read) = 128 B before), copying the weight out reads it
    x = (torch.randn(4, 8),)
    for into_weight, weight in ((True, 0), (False, 32 * F32)):
        prof = roofline.profile(_Overwrite(into_weight), x, real=real)
        (op,) = [o for o in prof.ops if o.op == "aten.copy_.default"]
        assert (op.bytes_read, op.weight_bytes) == (32 * F32, weight)


def test_fold_and_unfold_backward_count_their_adds():
    # F.fold of 2 channels of 3x3 columns into 5x5 with padding 1: the taps inside
    # each dim are 2 + 3 + 3 + 3 + 2 = 13 (the edge windows hang into the padding), so
    # 2 * 13 * 13 = 338 adds into the zeroed map, as folding ones shows
    cols = torch.randn(1, 2 * 9, 25)
    (op,) = roofline.profile(Fn(lambda c: F.fold(c, (5, 5), 3, padding=1)), (cols,)).ops
    assert op.op == "aten.col2im.default" and op.vector_flops == 2 * 13 * 13 == 338
    assert F.fold(torch.ones_like(cols), (5, 5), 3, padding=1).sum().item() == 338
    # its bytes are the generic rule's: the columns read, the map written
    assert (op.bytes_read, op.bytes_written) == (18 * 25 * F32, 2 * 25 * F32)
    # x.unfold(1, 3, 2) of a [4, 7] tensor: 4 x 3 windows of 3; the backward adds each
    # of the 36 window gradients into the element it viewed (2 and 4 get two each)
    prof = roofline.profile(SumOf(lambda w: w.unfold(1, 3, 2), (4, 7)), (), mode="training")
    (back,) = [o for o in prof.ops if o.op == "aten.unfold_backward.default"]
    assert back.vector_flops == 4 * 3 * 3


def test_norms_without_an_affine_skip_its_flops():
    x = torch.randn(4, 10)  # 40 elements
    # statistics 4 + normalise 1, then ·γ 1 and + β 1 when the norm has them
    assert count_module(nn.LayerNorm(10), x).vector_flops == 7 * 40
    assert count_module(nn.LayerNorm(10, bias=False), x).vector_flops == 6 * 40
    assert count_module(nn.LayerNorm(10, elementwise_affine=False), x).vector_flops == 5 * 40
    y = torch.randn(2, 4, 3, 3)  # 72 elements
    assert count_module(nn.GroupNorm(2, 4, affine=False), y).vector_flops == 5 * 72
    # the fused RMSNorm (CUDA): square, sum, ·rstd, and ·γ only with a weight
    fused = REGISTRY["aten._fused_rms_norm"].fn
    t = T((4, 10), torch.float32)
    assert fused({"input": t, "weight": T((10,), torch.float32)}, []).vector_flops == 4 * 40
    assert fused({"input": t, "weight": None}, []).vector_flops == 3 * 40
    # backward: 9 per element, 8 without γ (g = dy · γ is dy itself)
    back = REGISTRY["aten.native_layer_norm_backward"].fn
    w = T((10,), torch.float32)
    assert back({"input": t, "weight": w}, []).vector_flops == 9 * 40
    assert back({"input": t, "weight": None}, []).vector_flops == 8 * 40


def test_fused_attention_counts_its_mask_add_and_dropout():
    q = torch.randn(2, 4, 16, 8)  # 8 batch-heads, 256 query-key pairs each
    plain = count_fn(F.scaled_dot_product_attention, q, q, q)
    assert plain.vector_flops == 6 * 8 * 256  # scale 1 + softmax 5 per pair
    # an additive mask is one more add per pair (the math path counts it as an add)
    mask = torch.zeros(2, 1, 16, 16)
    masked = count_fn(
        lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m), q, q, q, mask
    )
    assert masked.vector_flops == (6 + 1) * 8 * 256
    assert masked.matrix_flops == plain.matrix_flops
    # dropout in a fused kernel (CUDA's flash/efficient; the CPU runs the math path):
    # draw, compare, zero the dropped probability (the 1/(1 − p) rescale is folded
    # into the per-row output scale): 3 per pair forward, 3 again in the backward
    bhle = T((2, 4, 16, 8), torch.float32)
    args = {"query": bhle, "key": bhle, "value": bhle, "is_causal": False}
    flash = REGISTRY["aten._scaled_dot_product_flash_attention"].fn
    back = REGISTRY["aten._scaled_dot_product_flash_attention_backward"].fn
    assert flash({**args, "dropout_p": 0.1}, []).vector_flops == (6 + 3) * 8 * 256
    # the backward: recompute P = exp(scale·S − lse) (3 per pair), dS = P∘(dP − D)
    # (2 per pair), and D = rowsum(dO∘O), 2·Ev = 16 per query row (8 · 16 rows)
    rows = 16 * 8 * 16
    assert back({**args, "dropout_p": 0.1}, []).vector_flops == (5 + 3) * 8 * 256 + rows
    assert back({**args, "dropout_p": 0.0}, []).vector_flops == 5 * 8 * 256 + rows
    # the efficient kernel takes its mask as attn_bias, added again in the backward
    eff = REGISTRY["aten._scaled_dot_product_efficient_attention"].fn
    eff_back = REGISTRY["aten._scaled_dot_product_efficient_attention_backward"].fn
    bias = T((2, 4, 16, 16), torch.float32)
    assert eff({**args, "attn_bias": bias}, []).vector_flops == 7 * 8 * 256
    assert eff_back({**args, "attn_bias": bias}, []).vector_flops == 6 * 8 * 256 + rows
    # its grad_input_mask (dQ, dK, dV, d bias) is not passed to the kernel, which makes
    # dQ, dK and dV together from every operand: a frozen query costs the same work
    frozen = {**args, "attn_bias": bias, "grad_input_mask": [False, True, True, False]}
    cost = eff_back(frozen, [])
    assert cost.vector_flops == 6 * 8 * 256 + rows and cost.unread == ()
    # on the CPU, the flash kernel's backward in a training step (causal: 8·136 pairs)
    net = _Trainable(lambda t: F.scaled_dot_product_attention(t, t, t, is_causal=True))
    prof = roofline.profile(net, (torch.randn(2, 4, 16, 8),), mode="training")
    (rec,) = [o for o in prof.ops if "attention" in o.op and o.phase == "backward"]
    assert rec.vector_flops == 5 * 8 * 136 + rows


def test_dropout_counts_its_mask_and_both_multiplies():
    # native_dropout (a GPU's fused dropout) on 5×8 = 40 elements: the Bernoulli mask,
    # draw and compare (2), then x·mask·scale (2) → 4 per input element (not per
    # output: it also returns the mask); with train false a copy, 0
    drop = REGISTRY["aten.native_dropout"].fn
    x, mask = T((5, 8), torch.float32), T((5, 8), torch.bool)
    assert drop({"input": x, "p": 0.1, "train": True}, [x, mask]).vector_flops == 4 * 40
    assert drop({"input": x, "p": 0.1, "train": False}, [x, mask]).vector_flops == 0
    # the CPU's composite dropout, as traced: bernoulli_ (2), div_ by 1 − p (1), mul (1)
    prof = roofline.profile(Fn(lambda t: F.dropout(t, 0.1)), (torch.randn(40),))
    ops = [o for o in prof.ops if o.op.split(".")[1] in ("bernoulli_", "div_", "mul")]
    assert sum(o.vector_flops for o in ops) == 4 * 40


def test_complex_products_count_real_flops_and_addbmm_is_a_product():
    c = torch.complex64
    # a complex MAC (a+bi)(c+di) + acc: 4 real multiplies and 4 real adds = 8 FLOPs,
    # as the FFTs count a complex multiply 6 and an add 2
    t = count_fn(torch.mm, torch.randn(3, 4, dtype=c), torch.randn(4, 5, dtype=c))
    assert t.matrix_flops == 8 * 3 * 5 * 4 and t.macs == 4 * 3 * 5 * 4
    t = count_fn(torch.bmm, torch.randn(2, 3, 4, dtype=c), torch.randn(2, 4, 5, dtype=c))
    assert t.matrix_flops == 8 * 2 * 3 * 5 * 4
    # a spectral convolution's channel mix (FNO) runs as a complex bmm
    mix = count_fn(
        lambda x, w: torch.einsum("bixy,ioxy->boxy", x, w),
        torch.randn(2, 3, 4, 4, dtype=c),
        torch.randn(3, 5, 4, 4, dtype=c),
    )
    assert mix.matrix_flops == 8 * (4 * 4) * 2 * 5 * 3  # 16 modes of [2,3] @ [3,5]
    # complex addmm's bias: 2 real adds per element
    ab = count_fn(
        torch.addmm, torch.randn(5, dtype=c), torch.randn(3, 4, dtype=c), torch.randn(4, 5, dtype=c)
    )
    assert (ab.matrix_flops, ab.vector_flops) == (8 * 60, 2 * 15)
    # real ones unchanged; addbmm sums 3 products of [4,5] @ [5,6] into one [4,6]: 2 *
    # 3*4*6*5 matrix FLOPs, + 24 adds of the input (it was uncounted)
    prof = roofline.profile(
        Fn(torch.addbmm), (torch.randn(4, 6), torch.randn(3, 4, 5), torch.randn(3, 5, 6))
    )
    assert not prof.uncounted_ops
    t = prof.totals()
    assert (t.matrix_flops, t.vector_flops) == (2 * 3 * 4 * 6 * 5, 24)


@pytest.mark.parametrize(
    ("fn", "per"),
    [
        # (a+bi) + (c+di): 2 real adds; (a+bi)(c+di): 4 multiplies, 2 adds; division by
        # the conjugate product (6), c² + d² (3) and two divides (2): 11
        (torch.add, 2),
        (torch.sub, 2),
        (torch.mul, 6),
        (torch.div, 11),
    ],
)
def test_complex_elementwise_arithmetic_counts_real_flops(fn, per):
    c = torch.complex64
    z = count_fn(fn, torch.randn(3, 4, dtype=c), torch.randn(3, 4, dtype=c))
    assert z.vector_flops == per * 12
    # a real tensor times a complex one is complex arithmetic too; real ones stay 1
    assert count_fn(fn, torch.randn(3, 4), torch.randn(3, 4, dtype=c)).vector_flops == per * 12
    assert count_fn(fn, torch.randn(3, 4), torch.randn(3, 4)).vector_flops == 12
    # |a+bi|: two squares, an add, a square root; 1/(c+di) = (c-di)/(c²+d²): 3, two
    # divides and a negation
    assert count_fn(torch.abs, torch.randn(3, 4, dtype=c)).vector_flops == 4 * 12
    assert count_fn(torch.reciprocal, torch.randn(3, 4, dtype=c)).vector_flops == 6 * 12


def test_addmm_family_counts_beta_and_alpha():
    # [3,4] @ [4,5] (120 matrix FLOPs) into 15 outputs: beta=0 ignores the input (no
    # add), beta=1 adds it (15), beta=0.5 scales then adds (30), alpha=2 scales the
    # product (15 more)
    bias, a, b = torch.randn(5), torch.randn(3, 4), torch.randn(4, 5)
    for kw, vector in (({"beta": 0}, 0), ({}, 15), ({"beta": 0.5}, 30), ({"alpha": 2}, 30)):
        t = count_fn(lambda x, y, z, kw=kw: torch.addmm(x, y, z, **kw), bias, a, b)
        assert (t.matrix_flops, t.vector_flops) == (120, vector), kw
    # baddbmm with beta=0 (attention scores written into an empty buffer): no adds
    t = count_fn(
        lambda x, y, z: torch.baddbmm(x, y, z, beta=0, alpha=0.125),
        torch.empty(2, 3, 5),
        torch.randn(2, 3, 4),
        torch.randn(2, 4, 5),
    )
    assert (t.matrix_flops, t.vector_flops) == (2 * 2 * 3 * 5 * 4, 30)  # the alpha scale
    # addmv: the same rule over m outputs
    t = count_fn(lambda x, y, z: torch.addmv(x, y, z, beta=0), torch.randn(3), a, torch.randn(4))
    assert (t.matrix_flops, t.vector_flops) == (24, 0)


def test_weight_norm_and_the_remaining_unary_functions_are_counted():
    from torch.nn.utils.parametrizations import weight_norm

    conv = weight_norm(nn.Conv1d(4, 4, 3))  # v [4, 4, 3] (48), one norm per channel (4)
    prof = roofline.profile(conv, (torch.randn(2, 4, 9),), mode="training")
    assert not prof.uncounted_ops
    (fwd,) = [o for o in prof.ops if o.op == "aten._weight_norm_interface.default"]
    (bwd,) = [o for o in prof.ops if o.op == "aten._weight_norm_interface_backward.default"]
    # ‖v‖: square and add per element, sqrt and g/‖v‖ per norm; then · per element
    assert fwd.vector_flops == 3 * 48 + 2 * 4
    # grad_g: multiply, add per element; grad_v: multiply, subtract, multiply
    assert bwd.vector_flops == 5 * 48 + 3 * 4
    x = torch.rand(4, 10) * 0.9  # 40 elements, inside every domain below
    for fn, per in (
        (torch.asin, 1),
        (torch.atan, 1),
        (torch.erfc, 1),
        (torch.sinc, 3),  # π·x, sin, divide
        (lambda t: torch.logaddexp(t, t.flip(0)), 7),  # max, −, |·|, neg, exp, log1p, +
    ):
        (op,) = [o for o in roofline.profile(Fn(fn), (x,)).ops if o.op_class == "elementwise"]
        assert op.counted and op.vector_flops == per * 40


def test_an_overlapping_view_is_read_at_the_memory_it_spans():
    # framing 16,000 samples into 98 windows of 400 with a hop of 160: the windows
    # overlap, and the sum reads each sample once: 1 + 97*160 + 399 = 15,920 of them
    # (the last 80 samples fall in no window), not 98 * 400 = 39,200
    (op,) = roofline.profile(
        Fn(lambda x: x.unfold(-1, 400, 160).sum(-1)), (torch.randn(16000),)
    ).ops
    assert op.bytes_read == 15920 * F32 and op.vector_flops == 98 * 400
    # a transposed or strided view overlaps nothing: its elements as before
    (op,) = roofline.profile(Fn(lambda x: x[:, ::2] * 2), (torch.randn(4, 8),)).ops
    assert op.bytes_read == 16 * F32
    (op,) = roofline.profile(Fn(lambda x: x.t() * 2), (torch.randn(4, 7),)).ops
    assert op.bytes_read == 28 * F32


# A 4 x 6 float input: 96 bytes, 24 elements.
X46 = torch.randn(4, 6)


@pytest.mark.parametrize(
    ("fn", "read", "written"),
    [
        # the *_like and new_* factories take only the shape: they read nothing
        (torch.zeros_like, 0, 96),
        (torch.ones_like, 0, 96),
        (lambda t: torch.full_like(t, 3.0), 0, 96),
        (lambda t: t.new_zeros(2, 6), 0, 48),
        # a view copied out reads what it copies: half the columns, not the input
        (lambda t: t.narrow_copy(1, 0, 3), 48, 48),
        (lambda t: torch.slice_copy(t, 0, 0, 1), 24, 24),
        (lambda t: torch.t_copy(t), 96, 96),
        # a broadcast column read once (4 floats), written 24 times
        (lambda t: torch.expand_copy(t[:, :1], (4, 6)), 16, 96),
        # a Bernoulli draw at a float p reads nothing; in place, its destination is
        # overwritten, not read
        (lambda t: t.bernoulli_(0.3), 0, 96),
        (lambda t: torch.bernoulli(t, 0.3), 0, 96),
        (lambda t: t.exponential_(), 0, 96),
    ],
)
def test_factories_random_fills_and_view_copies_read_only_what_they_use(fn, read, written):
    op = one_op(fn, X46.clone())
    assert (op.bytes_read, op.bytes_written) == (read, written)


def test_bernoulli_reads_its_probabilities():
    probs = torch.rand(4, 6)
    # torch.bernoulli(probs) reads probs; x.bernoulli_(probs) reads probs, not x;
    # a draw and a compare per element
    for fn in (torch.bernoulli, lambda p: torch.empty(4, 6).bernoulli_(p)):
        op = one_op(fn, probs)
        assert (op.bytes_read, op.bytes_written, op.vector_flops) == (96, 96, 48)


@pytest.mark.parametrize(
    ("fn", "flops"),
    [
        # random fills, a draw 1: exponential −log(u)/λ 3 (draw, log, divide),
        # Cauchy μ + σ·tan(π(u − ½)) 6 (draw, subtract, ·π, tan, ·σ, +μ), 4 at its
        # defaults μ = 0, σ = 1; log-normal exp(μ + σ·z) 4 (draw, ·σ, +μ, exp) at its
        # defaults μ = 1, σ = 2, 2 at μ = 0, σ = 1; geometric ⌈log u / log(1 − p)⌉ 4
        (lambda t: t.exponential_(), 3 * 24),
        (lambda t: t.cauchy_(), 4 * 24),
        (lambda t: t.cauchy_(1.0, 2.0), 6 * 24),
        (lambda t: t.log_normal_(), 4 * 24),
        (lambda t: t.log_normal_(0.0, 1.0), 2 * 24),
        (lambda t: t.geometric_(0.5), 4 * 24),
        # mean + std·z on a tensor mean: the draw and the add (std = 1: no multiply)
        (lambda t: torch.normal(t, 1.0), 2 * 24),
        (lambda t: torch.normal(t, 2.0), 3 * 24),
        # one function (or comparison) per element
        (torch.special.bessel_y0, 24),
        (torch.special.scaled_modified_bessel_k1, 24),
        (torch.signbit, 24),
        (torch.angle, 24),
        # mantissa and exponent are one result: 24, not 48
        (lambda t: torch.frexp(t)[0], 24),
        # histc's 6 per element, 2 more for the range from the data; density: 2 a bin
        (lambda t: torch.histogram(t, 5)[0], 8 * 24),
        (lambda t: torch.histogram(t, 5, range=(0.0, 1.0), density=True)[0], 6 * 24 + 2 * 5),
        # the p-th powers summed without the root, as vector_norm: |x|^3 and an add,
        # 3 per element (2 for p = 2: x·x and the add)
        *(
            pytest.param(fn, flops, marks=NEEDS_POWSUM)
            for fn, flops in (
                (lambda t: torch.linalg._powsum(t, 3), 3 * 24),
                (lambda t: torch.linalg._powsum(t, 2), 2 * 24),
            )
        ),
    ],
)
def test_elementwise_special_and_random_ops_from_the_second_sweep(fn, flops):
    op = one_op(fn, X46.clone().abs() + 0.5)
    assert op.flops == flops


def test_conj_physical_negates_only_complex_imaginary_parts():
    z = torch.randn(4, 6, dtype=torch.complex64)
    assert one_op(torch.conj_physical, z).vector_flops == 24
    # of a real tensor a copy (torch runs it as one for a real input)
    ops = [o for o in roofline.profile(Fn(torch.conj_physical), (X46,)).ops if o.counted]
    assert all(o.flops == 0 for o in ops)


S5 = torch.eye(5) * 2


@pytest.mark.parametrize(
    ("fn", "arg", "flops"),
    [
        # slogdet as det: the LU of 5 x 5, 2n³/3 = 250/3 → 83
        (lambda a: torch.linalg.slogdet(a)[1], S5, 250 // 3),
        # geqrf of 6 x 4: R's 2mn² − 2n³/3 = 192 − 128/3 → 192 − 42
        (lambda a: torch.geqrf(a)[0], torch.randn(6, 4), 192 - 42),
        # inverse from the Cholesky factor: trtri n³/3 + lauum n³/3 = 250/3 → 83
        (torch.cholesky_inverse, S5, 250 // 3),
        # Bunch–Kaufman LDLᵀ: n³/3 = 125/3 → 41
        (lambda a: torch.linalg.ldl_factor(a)[0], S5, 125 // 3),
        # general eigen-decomposition, Schur form with Q: 25n³
        (lambda a: torch.linalg.eigvals(a).real, S5, 25 * 125),
        # pinv of 6 x 4 (m = 6, n = 4): thin SVD 14·6·16 + 8·64 = 1856, V·diag(1/σ)
        # 16 + 3·4 = 28, times Uᴴ 2·6·16 = 192
        (torch.linalg.pinv, torch.randn(6, 4), 1856 + 28 + 192),
        # hermitian: eigh 9n³ = 1125 of 5 x 5, then 25 + 15 + 2·5·25 = 290
        (lambda a: torch.linalg.pinv(a, hermitian=True), S5, 1125 + 290),
    ],
)
def test_linear_algebra_from_the_second_sweep(fn, arg, flops):
    prof = roofline.profile(Fn(fn), (arg,))
    assert not prof.uncounted_ops
    big = max((o for o in prof.ops if o.counted), key=lambda o: o.flops)
    assert big.op_class == "reduction" and big.flops == flops


# ------------------------------------------------- the third sweep (multi-tensor ops)

A34, B34, C34 = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4) + 3
Z34, W34 = A34.to(torch.complex64), torch.complex(B34, C34)


@pytest.mark.parametrize(
    ("fn", "args", "flops"),
    [
        # x + alpha·y over 12 outputs: the add 12, and the multiply 12 when alpha ≠ 1
        (torch.add, (A34, B34), 12),
        (lambda x, y: torch.add(x, y, alpha=2), (A34, B34), 24),
        # broadcast row: the output's 12 elements, each a multiply and a subtract
        (lambda x, y: torch.sub(x, y, alpha=0.5), (A34, B34[0]), 24),
        (lambda x, y: torch.rsub(x, y, alpha=3), (A34, B34), 24),
        (lambda x, y: x.clone().add_(y, alpha=-1), (A34, B34), 24),
        # complex: an add 2 real FLOPs, alpha's complex multiply 6: 8 per element. A
        # real alpha too: ATen's add kernel (ufunc/add.h, `self + alpha * other`, and
        # its vector fmadd) runs on alpha cast to the complex type, complex(2, 0), so
        # the full complex multiply is what it computes, not 2 real multiplies
        (
            lambda x, y: torch.add(x, y, alpha=2),
            (A34.to(torch.complex64), B34.to(torch.complex64)),
            8 * 12,
        ),
        # x + value·y·z: product and add 2, the value multiply 1 more when value ≠ 1
        (torch.addcmul, (A34, B34, C34), 24),
        (lambda x, y, z: torch.addcmul(x, y, z, value=0.5), (A34, B34, C34), 36),
        (lambda x, y, z: torch.addcdiv(x, y, z, value=2), (A34, B34, C34), 36),
        (lambda x, y, z: x.clone().addcdiv_(y, z, value=2), (A34, B34, C34), 36),
        # clamp: one comparison per bound given, scalar or tensor
        (lambda x: x.clamp(min=0), (A34,), 12),
        (lambda x: x.clamp(-1, 1), (A34,), 24),
        (lambda x, y: x.clamp(max=y), (A34, B34), 12),
        (lambda x, y, z: x.clamp(y, z), (A34, B34, C34), 24),
        # a divide, and a floor or truncation with rounding_mode (floor_divide, //)
        (torch.div, (A34, C34), 12),
        (lambda x, y: torch.div(x, y, rounding_mode="floor"), (A34, C34), 24),
        (lambda x, y: torch.div(x, y, rounding_mode="trunc"), (A34, C34), 24),
        (torch.floor_divide, (A34, C34), 24),
        # lerp, ATen's Lerp.h: |w| < ½ ? x + w·(y − x) : y − (y − x)·(1 − w). A scalar
        # weight picks its branch once and 1 − w is a constant: subtract, multiply,
        # add 3 per element, 12 · 3 = 36; in place the same
        (lambda x, y: torch.lerp(x, y, 0.3), (A34, B34), 36),
        (lambda x, y: x.clone().lerp_(y, 0.7), (A34, B34), 36),
        # a tensor weight: |w| and the compare per element 2, and the costlier branch
        # (the upper bound: which runs depends on w's values) y − x, 1 − w, multiply,
        # subtract 4: 6 per element, 12 · 6 = 72, whatever w holds; in place the same
        (lambda x, y, w: torch.lerp(x, y, w), (A34, B34, C34), 72),
        (lambda x, y, w: x.clone().lerp_(y, w), (A34, B34, C34), 72),
        # complex (COMPLEX_ELEMENTWISE_FLOPS' prices: add/sub 2, multiply 6). A scalar
        # weight, cast to complex: y − x 2, w·(y − x) 6, + x 2 = 10 per element, 12 · 10
        # = 120 (the real count, 36, was kept before); in place the same
        (lambda x, y: torch.lerp(x, y, 0.3), (Z34, W34), 120),
        (lambda x, y: x.clone().lerp_(y, 0.2 + 0.1j), (Z34, W34), 120),
        # a complex tensor weight: ATen's re² + im² < ¼ (Lerp.h skips |w|'s square
        # root: 2 multiplies, an add, the compare) 4, then the costlier branch y − x
        # 2, 1 − w 2, (y − x)·(1 − w) 6, y − that 2 = 12: 16 per element, 12 · 16 = 192
        (lambda x, y, w: torch.lerp(x, y, w), (Z34, W34, W34 * 0.1), 192),
        # ldexp = x·2^e: exp2 and a multiply; shifts one operation
        (torch.ldexp, (A34, torch.randint(0, 3, (3, 4))), 24),
        (lambda x, y: x << y, (torch.randint(0, 3, (3, 4)), torch.randint(0, 3, (3, 4))), 12),
        # gcd one function; lcm = |a·b| / gcd(a, b): 3; incomplete gamma, zeta: one function
        (torch.gcd, (torch.randint(1, 9, (3, 4)), torch.randint(1, 9, (3, 4))), 12),
        (torch.lcm, (torch.randint(1, 9, (3, 4)), torch.randint(1, 9, (3, 4))), 36),
        (torch.special.gammainc, (A34.abs() + 0.5, C34), 12),
        (torch.special.zeta, (C34, C34), 12),
        # elu: compare, exp, subtract, alpha's multiply 4; SELU's scale one more
        (F.elu, (A34,), 4 * 12),
        (F.selu, (A34,), 5 * 12),
        # softplus log(1 + exp(β·x)) / β: exp, add, log, the threshold compare 4, and
        # β's multiply and divide when β is not 1
        (F.softplus, (A34,), 4 * 12),
        (lambda x: F.softplus(x, beta=2), (A34,), 6 * 12),
        # a complex tensor from two real ones: a copy, no arithmetic
        (torch.complex, (A34, B34), 0),
    ],
)
def test_multi_tensor_elementwise_counts_its_scalars_and_bounds(fn, args, flops):
    prof = roofline.profile(Fn(fn), args)
    assert not prof.uncounted_ops
    assert sum(o.flops for o in prof.ops if o.op != "aten.clone.default") == flops


def test_put_and_index_reduce_are_scatters():
    x, src = torch.randn(3, 4), torch.randn(3)
    idx = torch.tensor([0, 5, 7])
    # out of place: a store per source element (3); bytes generic: self 48 + index
    # 3·8 + source 12 read, the 48-byte copy written
    op = one_op(lambda t, s: t.put(idx, s), x, src)
    assert (op.vector_flops, op.bytes_read, op.bytes_written) == (3, 84, 48)
    # in place, accumulating: index 24 + source 12 + the 3 destination elements 12
    # read, those 3 written
    op = one_op(lambda t, s: t.put_(idx, s, accumulate=True), x.clone(), src)
    assert (op.vector_flops, op.bytes_read, op.bytes_written) == (3, 48, 12)
    # index_reduce 'mean' of 3 rows of 4 into 3 x 4: 12 combines; the counts scattered
    # (12 adds), the zero counts fixed (12 compares) and self divided by them (12)
    op = one_op(
        lambda t, s: t.index_reduce(0, torch.tensor([0, 2, 2]), s, "mean", include_self=False),
        x,
        torch.randn(3, 4),
    )
    assert op.vector_flops == 12 + 12 + 2 * 12
    # scatter_reduce 'mean' of 6 x 4 sources into 6 x 10: 24 combines, 24 count adds,
    # 2·60 for the zero-count fix and the divide; 'sum' only the 24
    y, i, src = torch.randn(6, 10), torch.randint(0, 10, (6, 4)), torch.randn(6, 4)
    assert one_op(lambda t: t.scatter_reduce(1, i, src, "mean"), y).vector_flops == 24 + 24 + 120
    assert one_op(lambda t: t.scatter_reduce(1, i, src, "sum"), y).vector_flops == 24


@pytest.mark.parametrize(
    ("fn", "args", "flops"),
    [
        # triangular solve of 4 x 4 with 3 right-hand sides: n²k = 48 (the second
        # output, A copied out, is no right-hand side)
        (lambda b, a: torch.triangular_solve(b, a)[0], ((4, 3), (4, 4)), 48),
        # two triangular solves with the Cholesky factor: 2n²k = 96
        (torch.cholesky_solve, ((4, 3), (4, 4)), 96),
        # orgqr, m=5, n=4, k=3: 4mnk − 2(m+n)k² + 4k³/3 = 240 − 162 + 36 = 114
        (torch.linalg.householder_product, ((5, 4), (3,)), 114),
        # ormqr applying k=3 reflectors to C of 5 x 2 from the left: 2nk(2m − k) =
        # 2·2·3·7 = 84; to C of 2 x 5 from the right 2mk(2n − k) = 84
        (torch.ormqr, ((5, 4), (3,), (5, 2)), 84),
        (lambda r, t, c: torch.ormqr(r, t, c, left=False), ((5, 4), (3,), (2, 5)), 84),
    ],
)
def test_solves_and_householder_products_by_hand(fn, args, flops):
    prof = roofline.profile(Fn(fn), tuple(torch.randn(s) for s in args))
    assert not prof.uncounted_ops
    assert prof.totals().flops == flops


def test_ops_that_only_run_on_real_tensors_by_hand():
    # lstsq of A 6 x 4 with B 6 x 3 (p = 4, q = 6, k = 3): QR 2·6·16 − 2·64/3 = 192 − 42
    # = 150, Qᴴ·B 2·3·4·(12 − 4) = 192, the triangular solve 16·3 = 48: 390
    prof = count_real(
        lambda a, b: torch.linalg.lstsq(a, b).solution, torch.randn(6, 4), torch.randn(6, 3)
    )
    assert not prof.uncounted_ops and prof.totals().flops == 390
    # bincount: an increment per input element, 20
    prof = count_real(lambda t: torch.bincount(t, minlength=5), torch.randint(0, 5, (20,)))
    assert not prof.uncounted_ops and prof.totals().flops == 20
    # torch.equal of two 4 x 5: a compare per element pair and the and folding it, 2 · 20
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    ops = count_real(lambda x, y: x + float(torch.equal(x, y)), a, b).ops
    assert [o.flops for o in ops if o.op == "aten.equal.default"] == [40]
    # CTC over log-probs T=12, N=2, C=6 and targets 2 x 4: the lattice N·T·(2·4 + 1) =
    # 216 nodes, 13 each forward: 2808 (the mean over the batch is its own ops)
    lp = torch.randn(12, 2, 6).log_softmax(2)
    targets, lengths = torch.randint(1, 6, (2, 4)), (torch.tensor([12, 10]), torch.tensor([4, 3]))
    ops = count_real(lambda x, t: F.ctc_loss(x, t, *lengths, reduction="sum"), lp, targets).ops
    assert [o.flops for o in ops if o.op == "aten._ctc_loss.Tensor"] == [13 * 216]

    # its backward: 21 per lattice node and 6 per log-prob gradient element (12·2·6 =
    # 144): 4536 + 864 = 5400
    class Ctc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return F.ctc_loss(x * self.p, t, *lengths, reduction="sum")

    ops = roofline.profile(Ctc(), (lp, targets), mode="training", real=True).ops
    assert [o.flops for o in ops if o.op == "aten._ctc_loss_backward.Tensor"] == [
        21 * 216 + 6 * 144
    ]


# ------------------------------------------------------- backward ops' output_mask


def _backward_op(prof, op: str):
    (rec,) = [o for o in prof.ops if o.op == op and o.phase == "backward"]
    return rec


def test_convolution_backward_reads_only_the_operands_of_the_gradients_asked_for():
    # Conv2d(3 → 4, 3×3, no bias) on 2×3×8×8: output 2×4×6×6 = 288 elements,
    # MACs 288 · 3 · 9 = 7,776; grad_output 288·4 = 1,152 B, input 384·4 = 1,536 B,
    # weight 108·4 = 432 B
    first = nn.Conv2d(3, 4, 3, bias=False)
    rec = _backward_op(
        roofline.profile(first, (torch.randn(2, 3, 8, 8),), mode="training"),
        "aten.convolution_backward.default",
    )
    # a first layer: the image needs no gradient, only the weight's (input ⋆ grad):
    # grad_output and input read, the weight not (it only feeds the input gradient)
    assert rec.matrix_flops == 2 * 7776
    assert rec.bytes_read == 1152 + 1536 and rec.weight_bytes == 0
    assert rec.bytes_written == 432
    # a frozen layer after a trainable one: only the input gradient (grad ⋆ weightᵀ),
    # which reads the weight but not the input
    frozen = nn.Conv2d(3, 4, 3, bias=False).requires_grad_(False)
    net = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), frozen)
    ops = roofline.profile(net, (torch.randn(2, 3, 8, 8),), mode="training").ops
    (rec,) = [
        o
        for o in ops
        if o.op.startswith("aten.convolution_backward") and o.matrix_flops == 2 * 7776
    ]
    assert rec.bytes_read == 1152 + 432 and rec.weight_bytes == 432
    assert rec.bytes_written == 1536


@pytest.mark.parametrize("real", [False, True])
def test_norm_backward_without_input_gradient_counts_only_the_affine_gradients(real):
    # a first-layer norm: output_mask [False, True, True]. dγ = Σ dy·x̂ recomputes
    # x̂ (2), multiplies (1), sums (1); dβ = Σ dy (1): 5 per element, not dx's 9
    x = torch.randn(2, 3, 8, 8)  # 384 elements, 1,536 B
    prof = roofline.profile(nn.BatchNorm2d(3), (x,), mode="training", real=real)
    rec = _backward_op(prof, "aten.native_batch_norm_backward.default")
    assert rec.vector_flops == 5 * 384
    # read: grad_output and input 2·1,536, the saved mean and invstd 2·3·4; not γ
    # (it only scales dx) nor the running statistics (training uses the saved ones)
    assert rec.bytes_read == 2 * 1536 + 2 * 12 and rec.weight_bytes == 0
    # written: dγ and dβ only, 2·3·4 (the meta kernel also returns a dx: not counted)
    assert rec.bytes_written == 24
    y = torch.randn(2, 3, 8)  # 48 elements, 192 B; LN over the last 8: stats 2·3
    rec = _backward_op(
        roofline.profile(nn.LayerNorm(8), (y,), mode="training", real=real),
        "aten.native_layer_norm_backward.default",
    )
    assert rec.vector_flops == 5 * 48
    # grad_output, input 2·192, mean and rstd 2·6·4; neither γ nor β
    assert rec.bytes_read == 2 * 192 + 48 and rec.weight_bytes == 0
    assert rec.bytes_written == 2 * 8 * 4
    rec = _backward_op(
        roofline.profile(nn.GroupNorm(1, 3), (y,), mode="training", real=real),
        "aten.native_group_norm_backward.default",
    )
    # a group norm's kernels take the per-(N, C) sums Σ dy·x (2) and Σ dy (1), and dγ,
    # dβ come from them per channel: 3 per element
    assert rec.vector_flops == 3 * 48
    assert rec.bytes_read == 2 * 192 + 2 * 2 * 4 and rec.bytes_written == 2 * 3 * 4


def test_layer_norm_backward_adds_its_affine_reductions_over_the_rows():
    # LayerNorm(8) on 2×3×8 = 48 elements with the input's gradient: dx 9 per element
    # (its sums run along each row of 8); dγ = Σ_rows dy·x̂ (multiply, add: 2) and
    # dβ = Σ_rows dy (1) reduce across the rows, sums of their own: 12
    op = "aten.native_layer_norm_backward.default"
    y = (torch.randn(2, 3, 8),)
    prof = roofline.profile(_Trainable(nn.LayerNorm(8)), y, mode="training")
    assert _backward_op(prof, op).vector_flops == 12 * 48
    prof = roofline.profile(_Trainable(nn.LayerNorm(8, bias=False)), y, mode="training")
    assert _backward_op(prof, op).vector_flops == 11 * 48
    prof = roofline.profile(
        _Trainable(nn.LayerNorm(8, elementwise_affine=False)), y, mode="training"
    )
    assert _backward_op(prof, op).vector_flops == 8 * 48
    # a batch norm's dγ, dβ are the per-channel sums dx already takes: 9
    prof = roofline.profile(_Trainable(nn.BatchNorm1d(3)), y, mode="training")
    assert _backward_op(prof, "aten.native_batch_norm_backward.default").vector_flops == 9 * 48


@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_backward_follows_its_kernel(affine):
    # GroupNorm(2, 4) on 2×4×3×3 = 72 elements, as group_norm_kernel.cpp runs it:
    # ds = Σ dy·x (multiply, add: 2) and db = Σ dy (1) per (N, C); then
    # dx = c1·dy + c2·x + c3 (two multiplies, two adds: 4), γ inside c1 = rstd·γ → 7,
    # the same without γ (c1 = rstd); dγ, dβ are per-channel sums of ds, db
    op = "aten.native_group_norm_backward.default"
    y = (torch.randn(2, 4, 3, 3),)
    prof = roofline.profile(_Trainable(nn.GroupNorm(2, 4, affine=affine)), y, mode="training")
    assert _backward_op(prof, op).vector_flops == 7 * 72


def test_fused_rms_norm_backward_has_no_mean_to_subtract():
    # nn.RMSNorm on CUDA runs _fused_rms_norm(_backward) (a CPU decomposes it).
    # On 4×10 = 40 elements: dx = rstd·(g − x̂·mean(g·x̂)), g = dy·γ: x̂ = x·rstd 1,
    # g 1, g·x̂ 1, the row sum 1, x̂·c 1, subtract 1, ·rstd 1 → 7 (6 without γ);
    # dγ = Σ_rows dy·x̂: multiply and add, 2 more (3 alone: x̂ recomputed)
    back = REGISTRY["aten._fused_rms_norm_backward"].fn
    x, w, rstd = T((4, 10), torch.float32), T((10,), torch.float32), T((4, 1), torch.float32)
    args = {"grad_out": x, "input": x, "normalized_shape": [10], "rstd": rstd, "weight": w}
    cost = back({**args, "output_mask": [True, True]}, [x, w])
    assert cost.vector_flops == 9 * 40 and cost.unread == ()
    assert back({**args, "output_mask": [True, False]}, [x]).vector_flops == 7 * 40
    no_w = {**args, "weight": None, "output_mask": [True, False]}
    assert back(no_w, [x]).vector_flops == 6 * 40
    # a first layer (dγ only): γ is not read, only dγ (40 B) written
    cost = back({**args, "output_mask": [False, True]}, [w])
    assert cost.vector_flops == 3 * 40 and cost.unread == ("weight",)
    assert cost.bytes_written == 10 * F32


def test_norm_backward_with_frozen_affine_and_in_eval_mode():
    back = REGISTRY["aten.native_batch_norm_backward"].fn
    x, c = T((2, 3, 8, 8), torch.float32), T((3,), torch.float32)
    args = {"grad_out": x, "input": x, "weight": c, "running_mean": c, "running_var": c}
    args |= {"save_mean": c, "save_invstd": c, "train": True}
    # frozen γ, β: dx alone still needs both sums, 9 per element; γ read, β has no grad
    cost = back({**args, "output_mask": [True, False, False]}, [x, c, c])
    assert cost.vector_flops == 9 * 384 and cost.bytes_written == 384 * F32
    assert set(cost.unread) == {"running_mean", "running_var"}
    # eval mode (running statistics): dx = dy·(γ·rstd), 1 per element; dγ 4, dβ 1
    cost = back({**args, "train": False, "output_mask": [True, True, True]}, [x, c, c])
    assert cost.vector_flops == (1 + 4 + 1) * 384
    assert set(cost.unread) == {"save_mean", "save_invstd"}


class _CudnnBatchNormBackward(nn.Module):
    """``cudnn_batch_norm_backward`` called as autograd calls it for a training-mode
    cuDNN batch norm, with the module's own γ and running statistics."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x, dy, save_mean, save_var, reserve):
        op = torch.ops.aten.cudnn_batch_norm_backward.default
        args = (self.weight, self.running_mean, self.running_var, save_mean, save_var)
        return op(x, dy, *args, 1e-5, reserve)[0]


def test_cudnn_batch_norm_backward_reads_the_saved_statistics_not_the_running_ones():
    # 2×3×4×4 = 96 elements, 384 B; per channel 3 floats, 12 B. cuDNN's backward
    # (cudnn/BatchNorm.cpp) runs only in training and hands cuDNN input, dy, γ,
    # save_mean and save_var; the running pair is passed "Unused" (for double
    # backward). Read 384 + 384 + 3·12 = 804 B (the running pair counted gave 828),
    # of which weight bytes γ's 12 (with the running buffers 36); written dx, dγ, dβ
    # 384 + 2·12 = 408; FLOPs 9 per element (all three gradients), 864
    c = torch.randn(3)
    reserve = torch.empty(0, dtype=torch.uint8)
    x = torch.randn(2, 3, 4, 4)
    dy = torch.randn(2, 3, 4, 4)
    prof = roofline.profile(_CudnnBatchNormBackward(3), (x, dy, c, c.abs(), reserve))
    (rec,) = prof.ops
    assert rec.op == "aten.cudnn_batch_norm_backward.default"
    assert rec.vector_flops == 9 * 96
    assert rec.bytes_read == 2 * 384 + 3 * 12 and rec.weight_bytes == 12
    assert rec.bytes_written == 384 + 2 * 12


class _Trainable(nn.Module):
    """``fn(x · p)`` for a trainable scalar ``p``, so a training step runs fn's backward."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.p = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x * self.p)


def _backward_flops(fn: Callable[[torch.Tensor], torch.Tensor], op: str, n: int = 40) -> int:
    prof = roofline.profile(_Trainable(fn), (torch.randn(n),), mode="training")
    return _backward_op(prof, op).vector_flops


def test_logit_counts_its_range_checks():
    # logit on 40 elements in (0, 1): log(x / (1 − x)) 3; with eps the clamp to
    # [eps, 1 − eps] first (two compares) → 5. Backward g / (x·(1 − x)) 3 behind the
    # kernel's two range compares (0 outside [eps, 1 − eps], NaN outside [0, 1]) → 5
    x = (torch.rand(40) * 0.8 + 0.1,)
    for eps, fwd in ((None, 3), (1e-6, 5)):
        prof = roofline.profile(_Trainable(lambda t, e=eps: torch.logit(t, e)), x, mode="training")
        (op,) = [o for o in prof.ops if o.op == "aten.logit.default"]
        assert op.vector_flops == fwd * 40
        assert _backward_op(prof, "aten.logit_backward.default").vector_flops == 5 * 40


def test_elu_backward_counts_its_scalars():
    op = "aten.elu_backward.default"
    # g·(x ≤ 0 ? α·scale·input_scale·exp(input_scale·x) : scale): compare, exp, the
    # coefficient multiply, ·g = 4; ELU and SELU (scale folds into the constants) 4
    assert _backward_flops(nn.ELU(), op) == 4 * 40
    assert _backward_flops(nn.SELU(), op) == 4 * 40
    # CELU(α=2) is elu with input_scale 1/α: input_scale·x inside the exp, 5
    assert _backward_flops(nn.CELU(2.0), op) == 5 * 40
    # in place, from the saved result: g·(y ≤ 0 ? input_scale·(y + α·scale) : scale):
    # compare, add, the coefficient multiply, ·g = 4, whatever input_scale is
    assert _backward_flops(nn.ELU(inplace=True), op) == 4 * 40
    assert _backward_flops(nn.CELU(2.0, inplace=True), op) == 4 * 40


def test_softplus_backward_counts_beta():
    op = "aten.softplus_backward.default"
    # z = exp(β·x); β·x > threshold ? g : g·z/(z + 1): exp, add, divide, multiply,
    # compare = 5; β ≠ 1 adds the β·x multiply: 6
    assert _backward_flops(nn.Softplus(), op) == 5 * 40
    assert _backward_flops(nn.Softplus(beta=2.0), op) == 6 * 40


def test_vector_norms_take_their_root_per_output():
    x = torch.randn(4, 10)  # 40 elements, 4 rows
    # p = 2 along dim 1: x·x and an add per element (80), a sqrt per row (4)
    assert count_fn(lambda t: torch.norm(t, dim=1), x).vector_flops == 2 * 40 + 4
    assert count_fn(lambda t: torch.linalg.vector_norm(t, dim=1), x).vector_flops == 2 * 40 + 4
    # the whole tensor (norm.Scalar): one sqrt
    assert count_fn(lambda t: t.norm(), x).vector_flops == 2 * 40 + 1
    # p = 1 (|x|, add), inf (|x|, max), 0 (x ≠ 0, add): 2 each, no root
    for p in (1, math.inf, 0):
        assert count_fn(lambda t, p=p: torch.linalg.vector_norm(t, p, dim=1), x).vector_flops == 80
    # p = 3: |x|, ^3, add (3 per element), and ^(1/3) per row
    assert count_fn(lambda t: torch.norm(t, p=3, dim=1), x).vector_flops == 3 * 40 + 4
    # nn.PairwiseDistance runs aten.norm.ScalarOpt_dim (p = 2 over dim 1): 80 + 4 roots
    ops = roofline.profile(nn.PairwiseDistance(), (x, torch.randn(4, 10))).ops
    (rec,) = [o for o in ops if o.op == "aten.norm.ScalarOpt_dim"]
    assert rec.vector_flops == 2 * 40 + 4
    # linalg__powsum, the sum of powers, has no root
    powsum = REGISTRY["aten.linalg__powsum"].fn
    t = T((4, 10), torch.float32)
    assert powsum({"self": t, "ord": 2, "dim": [1]}, [T((4,), torch.float32)]).vector_flops == 80


def test_random_draws_and_computed_sequences_count_their_arithmetic():
    # constant fills: no arithmetic, nothing read
    for fn in (lambda: torch.zeros(4, 6), lambda: torch.full((4, 6), 2.0)):
        op = one_op(lambda _t, fn=fn: fn(), torch.empty(0))
        assert (op.flops, op.bytes_read, op.bytes_written) == (0, 0, 96)
    # one draw per element (as bernoulli's "a draw and a compare" counts it)
    for fn in (lambda: torch.rand(4, 6), lambda: torch.randn(4, 6)):
        op = one_op(lambda _t, fn=fn: fn(), torch.empty(0))
        assert (op.flops, op.bytes_read) == (24, 0)
    # the *_like forms take only the shape: 1 per element, nothing read
    for fn in (torch.rand_like, torch.randn_like):
        op = one_op(fn, torch.empty(4, 6))
        assert (op.flops, op.bytes_read, op.bytes_written) == (24, 0, 96)
    # normal_(mean, std) = mean + std·z: the draw, ·std unless 1, +mean unless 0
    assert one_op(lambda t: t.normal_(), torch.empty(4, 6)).flops == 24
    assert one_op(lambda t: t.normal_(0.0, 0.02), torch.empty(4, 6)).flops == 2 * 24
    assert one_op(lambda t: t.normal_(1.0, 0.02), torch.empty(4, 6)).flops == 3 * 24
    # uniform_(from, to) = from + (to − from)·u: width 1 from 0 is the draw alone
    assert one_op(lambda t: t.uniform_(), torch.empty(4, 6)).flops == 24
    assert one_op(lambda t: t.uniform_(-1.0, 1.0), torch.empty(4, 6)).flops == 3 * 24
    # integers in [low, high): the draw, the remainder, + low unless 0
    op = one_op(lambda _t: torch.randint(10, (4, 6)), torch.empty(0))
    assert (op.flops, op.bytes_read) == (2 * 24, 0)
    assert one_op(lambda _t: torch.randint(3, 10, (4, 6)), torch.empty(0)).flops == 3 * 24
    # arange: start + i·step, the multiply unless step is 1, the add unless start is 0
    assert one_op(lambda _t: torch.arange(24), torch.empty(0)).flops == 0
    assert one_op(lambda _t: torch.arange(2, 26), torch.empty(0)).flops == 24
    assert one_op(lambda _t: torch.arange(1.0, 3.4, 0.1), torch.empty(0)).flops == 2 * 24
    # linspace: start + i·step (or end − (n − 1 − i)·step), 2 per element; logspace 3
    op = one_op(lambda _t: torch.linspace(0, 1, 24), torch.empty(0))
    assert (op.flops, op.bytes_read, op.bytes_written) == (2 * 24, 0, 96)
    assert one_op(lambda _t: torch.logspace(0, 1, 24), torch.empty(0)).flops == 3 * 24


def test_activation_backwards_by_hand():
    # hardswish' : x < −3 ? 0 : x ≤ 3 ? g·(x/3 + ½) : g: 2 compares, /3, +½, ·g = 5
    assert _backward_flops(nn.Hardswish(), "aten.hardswish_backward.default") == 5 * 40
    # hardsigmoid' : −3 < x < 3 ? g/6 : 0: 2 compares and ·g = 3
    assert _backward_flops(nn.Hardsigmoid(), "aten.hardsigmoid_backward.default") == 3 * 40
    # silu' : s = σ(x) (4), g·s·(1 + x·(1 − s)) (5) = 9
    assert _backward_flops(nn.SiLU(), "aten.silu_backward.default") == 9 * 40
    # mish' : g·(t + x·σ(x)·(1 − t²)), t = tanh(log1p(exp x)): 3 + σ 4 + 6 = 13
    assert _backward_flops(nn.Mish(), "aten.mish_backward.default") == 13 * 40


def test_embedding_backward_scaled_by_frequency():
    idx = torch.randint(0, 10, (2, 5))  # 10 indices, gradient 10 × 4 = 40 elements
    op = "aten.embedding_dense_backward.default"
    prof = roofline.profile(nn.Embedding(10, 4), (idx,), mode="training")
    assert _backward_op(prof, op).vector_flops == 40  # one add per gradient element
    # scale_grad_by_freq: count each index (10 adds), 1/count per index (10
    # divides), and each gradient element multiplied before its add: 2·40 + 2·10
    prof = roofline.profile(nn.Embedding(10, 4, scale_grad_by_freq=True), (idx,), mode="training")
    assert _backward_op(prof, op).vector_flops == 2 * 40 + 2 * 10


def test_prelu_and_rrelu_backward_by_hand():
    # PReLU on 2×3×8×8 = 384 elements: per element the compare, g or w·g, and the
    # slope's 0 or x·g: 3 (both gradients at the input's size; the slope's sum over
    # the shared elements is its own sum op)
    x = (torch.randn(2, 3, 8, 8),)
    prof = roofline.profile(nn.PReLU(3), x, mode="training")
    assert _backward_op(prof, "aten._prelu_kernel_backward.default").vector_flops == 3 * 384
    # RReLU training: g·noise (the slope drawn per element, 1 where x > 0): 1
    op = "aten.rrelu_with_noise_backward.default"
    prof = roofline.profile(_Trainable(nn.RReLU()), x, mode="training")
    assert _backward_op(prof, op).vector_flops == 384
    rrelu = REGISTRY["aten.rrelu_with_noise_backward"].fn
    t = T((384,), torch.float32)
    # in eval, leaky ReLU's: compare and multiply, 2
    args = {"grad_output": t, "self": t, "noise": t, "lower": 0.125, "upper": 1 / 3}
    assert rrelu({**args, "training": False}, [t]).vector_flops == 2 * 384


def test_multi_margin_loss_backward_counts_p_and_weight():
    # x [4, 5] = 20 elements, mean reduction (1/n once). Per element: z = margin −
    # x[y] + x[i] (2), z > 0 (1), subtracted into the target column (1), ·grad (1) = 5;
    # p = 2: h = 2g·z, 1 more; a class weight: ·w[y], 1 more
    x, y = torch.randn(4, 5), torch.randint(0, 5, (4,))
    op = "aten.multi_margin_loss_backward.default"

    def back(**kw: object) -> int:
        net = _Trainable(lambda t: F.multi_margin_loss(t, y, **kw))
        return _backward_op(roofline.profile(net, (x,), mode="training"), op).vector_flops

    assert back() == 5 * 20 + 1
    assert back(p=2) == 6 * 20 + 1
    assert back(p=2, weight=torch.ones(5)) == 7 * 20 + 1
    assert back(reduction="sum") == 5 * 20


def test_log_sigmoid_and_glu_backward_by_hand():
    # log σ's backward from the CPU forward's buffer z = exp(−|x|): compare, 1 + z,
    # divide, the sign's multiply, subtract, ·g = 6 per element
    op = "aten.log_sigmoid_backward.default"
    assert _backward_flops(nn.LogSigmoid(), op) == 6 * 40
    # with an empty buffer (CUDA) z is recomputed: abs, negate, exp, 3 more
    back = REGISTRY[op.rsplit(".", 1)[0]].fn
    t = T((40,), torch.float32)
    args = {"grad_output": t, "self": t, "buffer": T((0,), torch.float32)}
    assert back(args, [t]).vector_flops == 9 * 40
    # GLU on 40 → 20 outputs: per output-gradient element σ(b) 4, da 1, db 4 = 9
    assert _backward_flops(nn.GLU(), "aten.glu_backward.default") == 9 * 20


# ------------------------------------------------ what an op reads of each operand
# An op that reads part of an operand says which (``Cost.reads``) and one that reads
# none of it names it (``Cost.unread``), so the weight bytes are the parameters' and
# buffers' part of what it reads. Until 2026-12-06 these ops set a total read and
# their weight bytes were bounded by it, which counted an activation's bytes (the
# boxes, the targets, the indices) as weight bytes whenever the op also read a
# parameter; the "until" figures below are that rule's.


class _CrossEntropy(nn.Module):
    """``nn.CrossEntropyLoss`` with class weights (a buffer of the loss module) on
    logits ``x · p`` (a trainable scalar, so a training step runs the backward)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.ones(()))
        self.loss = nn.CrossEntropyLoss(weight=torch.rand(classes))

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss(x * self.p, target)


@pytest.mark.parametrize("real", [False, True])
def test_nll_loss_reads_the_class_weight_of_each_target(real):
    # logits [4, 10], 4 int64 targets (32 B), class weights a 10-float buffer (40 B).
    # ATen's nll_loss_out_frame loads weight[target[i]] per target: 4 of the 10, 16 B;
    # and of the logits the 4 values gathered, 16 B. Read 32 + 16 + 16 = 64, weight
    # bytes 16 (until: read 32 + 16 + 40 = 88, weight bytes 40)
    x, target = torch.randn(4, 10), torch.tensor([1, 3, 3, 7])
    prof = roofline.profile(_CrossEntropy(10), (x, target), mode="training", real=real)
    (fwd,) = [o for o in prof.ops if o.op == "aten.nll_loss_forward.default"]
    assert (fwd.bytes_read, fwd.weight_bytes) == (32 + 16 + 16, 16)
    # backward: the 0-dim gradient and total weight (4 B each), the targets, and again
    # weight[target[i]] per target (nll_loss_backward_out_frame); the logits lend their
    # shape. Read 4 + 32 + 16 + 4 = 56, weight bytes 16 (until: 80 and 40)
    back = _backward_op(prof, "aten.nll_loss_backward.default")
    assert (back.bytes_read, back.weight_bytes) == (4 + 32 + 16 + 4, 16)


def test_nll_loss2d_reads_at_most_every_class_weight_once():
    # logits [2, 3, 4, 4], targets [2, 4, 4] (32 int64, 256 B): 32 targets over 3
    # classes read all 3 weights once each (12 B), not 32 times; 32 logits (128 B).
    # Read 256 + 128 + 12 = 396, weight bytes 12 (the bound was exact here)
    x, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    prof = roofline.profile(_CrossEntropy(3), (x, target))
    (fwd,) = [o for o in prof.ops if o.op == "aten.nll_loss2d_forward.default"]
    assert (fwd.bytes_read, fwd.weight_bytes) == (256 + 128 + 12, 12)


class _OnParam(nn.Module):
    """``fn(self.x, *inputs)`` for a parameter ``x``: an op reading a weight beside
    activations."""

    def __init__(self, fn: Callable[..., torch.Tensor], x: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        self.x = nn.Parameter(x)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.x, *inputs)


def _op(prof, name: str, phase: str = "forward"):
    (rec,) = [o for o in prof.ops if o.op == name and o.phase == phase]
    return rec


@pytest.mark.parametrize("real", [False, True])
def test_a_sampled_parameter_counts_as_weight_bytes_only_its_taps(real):
    # a learned 1x2x8x8 map (128 floats, 512 B) sampled bilinearly at a 1x3x5 grid
    # (15 points, 30 floats, 120 B; an activation): 30 outputs x 4 taps = 120 of the
    # 128 elements, 480 B. Read 480 + 120 = 600, weight bytes 480 (until 512: the
    # whole map, the bound min(512, 600))
    grid = torch.rand(1, 3, 5, 2) * 2 - 1
    fn = _OnParam(lambda x, g: F.grid_sample(x, g, align_corners=False), torch.randn(1, 2, 8, 8))
    prof = roofline.profile(fn, (grid,), mode="training", real=real)
    fwd = _op(prof, "aten.grid_sampler_2d.default")
    assert (fwd.bytes_read, fwd.weight_bytes) == (480 + 120, 480)
    # backward: the 30-element gradient and the grid (120 B each) and the same taps
    # (the grid gradient's), read 720, weight bytes 480 (until 512)
    back = _op(prof, "aten.grid_sampler_2d_backward.default", "backward")
    assert (back.bytes_read, back.weight_bytes) == (120 + 120 + 480, 480)


@pytest.mark.parametrize("real", [False, True])
def test_a_parameter_pooled_by_boxes_counts_no_box_bytes_as_weight(real):
    # RoIAlign of a learned 1x4x8x8 map (256 floats) by 2 boxes (10 floats, 40 B) to
    # 2x2 bins, 1 sample each: 32 outputs x 4 taps = 128 elements, 512 B. Read 552,
    # weight bytes 512 (until 552: the boxes' 40 B counted as weight)
    align = _OnParam(
        lambda x, b: torchvision.ops.roi_align(x, b, (2, 2), 1.0, 1), torch.randn(1, 4, 8, 8)
    )
    op = _op(roofline.profile(align, (BOXES,), real=real), "torchvision.roi_align.default")
    assert (op.bytes_read, op.weight_bytes) == (512 + 40, 512)
    # RoIPool of a learned 2x4x8x8 map (512 floats) by one box on image 0 (5 floats,
    # 20 B): at most the box's image, K·C·H·W = 1·4·64 = 256 elements, 1,024 B. Read
    # 1,044, weight bytes 1,024 (until 1,044)
    pool = _OnParam(
        lambda x, b: torchvision.ops.roi_pool(x, b, (2, 2), 1.0), torch.randn(2, 4, 8, 8)
    )
    box = BOXES[:1]
    op = _op(roofline.profile(pool, (box,), real=real), "torchvision.roi_pool.default")
    assert (op.bytes_read, op.weight_bytes) == (1024 + 20, 1024)


@pytest.mark.parametrize("real", [False, True])
def test_max_pool_backward_reads_nothing_of_a_pooled_parameter(real):
    # max_pool2d(2) of a learned 1x1x4x4 map (64 B): the backward reads the 2x2
    # gradient (16 B) and the int64 indices (32 B), not the map (an argument for its
    # shape only). Read 48, weight bytes 0 (until 48: the bound min(64, 48))
    fn = _OnParam(lambda x, s: F.max_pool2d(x, 2) * s, torch.randn(1, 1, 4, 4))
    prof = roofline.profile(fn, (torch.ones(()),), mode="training", real=real)
    back = _op(prof, "aten.max_pool2d_with_indices_backward.default", "backward")
    assert (back.bytes_read, back.weight_bytes, back.bytes_written) == (16 + 32, 0, 2 * 64)


class _Fills(nn.Module):
    """Fills and draws over a 4x5 buffer and parameter (80 B each), and a 0-dim
    parameter ``v`` (4 B) to fill from."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.register_buffer("buf", torch.zeros(4, 5))
        self.p = nn.Parameter(torch.ones(4, 5))
        self.v = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


@pytest.mark.parametrize("real", [False, True])
@pytest.mark.parametrize(
    ("fn", "op", "read", "weight"),
    [
        # the destination is overwritten, the template gives only its shape: 0 read
        (lambda m, x: m.buf.zero_(), "aten.zero_.default", 0, 0),
        (lambda m, x: m.buf.fill_(3.0), "aten.fill_.Scalar", 0, 0),
        (lambda m, x: torch.zeros(4, 5, out=m.buf), "aten.zeros.out", 0, 0),
        (lambda m, x: torch.full_like(m.p, 3.0), "aten.full_like.default", 0, 0),
        (lambda m, x: m.p.new_zeros(4, 5), "aten.new_zeros.default", 0, 0),
        (lambda m, x: torch.randn_like(m.p), "aten.randn_like.default", 0, 0),
        (lambda m, x: m.buf.normal_(), "aten.normal_.default", 0, 0),
        (lambda m, x: torch.arange(20.0, out=m.buf.view(-1)), "aten.arange.out", 0, 0),
        # a fill from a 0-dim tensor reads its one element, here a parameter's: 4 B,
        # weight bytes 4 (until: nothing read)
        (lambda m, x: m.buf.fill_(m.v), "aten.fill_.Tensor", 4, 4),
    ],
)
def test_fills_and_draws_read_only_the_operands_that_give_values(fn, op, read, weight, real):
    with torch.no_grad():
        prof = roofline.profile(_Fills(fn), (torch.randn(4, 5),), real=real)
    rec = _op(prof, op)
    assert (rec.bytes_read, rec.weight_bytes, rec.bytes_written) == (read, weight, 80)


class _MiopenBatchNormBackward(_CudnnBatchNormBackward):
    """``miopen_batch_norm_backward`` (ROCm), called as autograd calls it for a
    training-mode MIOpen batch norm."""

    def forward(self, x, dy, save_mean, save_var):
        op = torch.ops.aten.miopen_batch_norm_backward.default
        args = (self.weight, self.running_mean, self.running_var, save_mean, save_var)
        return op(x, dy, *args, 1e-5)[0]


def test_miopen_batch_norm_backward_is_priced_as_cudnns():
    # the cuDNN case's numbers (test above): 2×3×4×4 input and gradient (384 B each),
    # γ, save_mean, save_var 12 B each, the running pair unused ("Unused" in
    # miopen/BatchNorm_miopen.cpp). Read 804, weight bytes γ's 12; written dx, dγ, dβ
    # 384 + 24; 9 FLOPs per element, 864. Until 2026-12-06 it was uncounted
    c = torch.randn(3)
    x, dy = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    prof = roofline.profile(_MiopenBatchNormBackward(3), (x, dy, c, c.abs()))
    assert prof.uncounted_ops == {}
    (rec,) = prof.ops
    assert rec.op == "aten.miopen_batch_norm_backward.default"
    assert rec.vector_flops == 9 * 96
    assert rec.bytes_read == 2 * 384 + 3 * 12 and rec.weight_bytes == 12
    assert rec.bytes_written == 384 + 2 * 12


class _MiopenBatchNorm(_CudnnBatchNormBackward):
    """``miopen_batch_norm`` (ROCm) with the module's γ, β and running statistics."""

    def __init__(self, c: int, training: bool) -> None:
        super().__init__(c)
        self.bias = nn.Parameter(torch.zeros(c))
        self.training_stats = training

    def forward(self, x):
        op = torch.ops.aten.miopen_batch_norm.default
        args = (self.weight, self.bias, self.running_mean, self.running_var)
        return op(x, *args, self.training_stats, 0.1, 1e-5)[0]


@pytest.mark.parametrize(("training", "per"), [(True, 6), (False, 2)])
def test_miopen_batch_norm_counts_its_batch_statistics_in_training(training, per):
    # 2×3×4×4 = 96 elements: with batch statistics 6 FLOPs each (sum; subtract,
    # square, sum; x·scale + shift), 576; with the running ones 2, 192, as cuDNN's
    # batch norm. Until 2026-12-06 it counted 192 in both
    with torch.no_grad():
        prof = roofline.profile(_MiopenBatchNorm(3, training), (torch.randn(2, 3, 4, 4),))
    (rec,) = prof.ops
    assert rec.op == "aten.miopen_batch_norm.default" and rec.op_class == "norm"
    assert rec.vector_flops == per * 96 and rec.dims == {"training": int(training)}
