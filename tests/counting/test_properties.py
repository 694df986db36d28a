"""Invariants of the counter over small random models (hypothesis).

Each property is one a user relies on when reading the per-layer table: the rows add
up to the totals at every depth, the work scales with the batch as the formulas say,
a dtype cast changes the bytes and not the FLOPs, and repeated blocks count as
repeats. Example counts are small: each example traces a model.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import roofline

FIELDS = (
    "params",
    "flops",
    "matrix_flops",
    "vector_flops",
    "macs",
    "bytes_read",
    "bytes_written",
    "weight_bytes",
    "ops",
    "fused_bytes",
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_stacks(draw):
    """A random CNN: blocks of (conv, [bn], [act], [pool]), nested for depth, then a
    flatten and a linear head; and the spatial size it is fed."""
    size = draw(st.integers(6, 12))
    channels = draw(st.sampled_from([2, 4]))
    blocks = []
    for _ in range(draw(st.integers(1, 3))):
        groups = draw(st.sampled_from([1, 2]))
        out = draw(st.sampled_from([2, 4, 6]))
        k = draw(st.integers(1, 3))
        conv = nn.Conv2d(
            channels,
            out,
            k,
            stride=draw(st.integers(1, 2)),
            padding=draw(st.integers(0, 1)),
            groups=groups,
            bias=draw(st.booleans()),
        )
        layers: list[nn.Module] = [conv]
        if draw(st.booleans()):
            layers.append(nn.BatchNorm2d(out))
        layers.append(draw(st.sampled_from([nn.ReLU, nn.SiLU, nn.Hardswish, nn.Identity]))())
        pool = draw(st.sampled_from([None, "max", "avg"]))
        if pool == "max":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        elif pool == "avg":
            layers.append(nn.AvgPool2d(2, ceil_mode=True))
        block = nn.Sequential(*layers)
        blocks.append(block if draw(st.booleans()) else nn.Sequential(block))
        channels = out
    body = nn.Sequential(*blocks).eval()
    try:
        with torch.no_grad():
            probe = body(torch.zeros(1, _in(blocks), size, size))
    except RuntimeError:  # the spatial size shrank below a kernel
        assume(False)
    head = nn.Sequential(nn.Flatten(), nn.Linear(probe[0].numel(), draw(st.integers(1, 5))))
    return nn.Sequential(*blocks, head).eval(), size


def _in(blocks: list[nn.Module]) -> int:
    first = next(m for m in blocks[0].modules() if isinstance(m, nn.Conv2d))
    return first.in_channels


def _inputs(model: nn.Module, batch: int, size: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, _in(list(model)), size, size, dtype=dtype)


def _sum_rows(rows, name: str) -> int:
    return sum(getattr(r.totals, name) for r in rows)


def _assert_scales_with_batch(one, many, batch: int) -> None:
    """``many`` (totals at ``batch`` times ``one``'s batch) holds ``batch`` times the
    per-sample work of ``one``: the same parameters and weight bytes, every FLOP and
    every activation byte read or written multiplied by ``batch``."""
    assert many.params == one.params
    assert many.matrix_flops == batch * one.matrix_flops
    assert many.vector_flops == batch * one.vector_flops
    assert many.weight_bytes == one.weight_bytes
    assert many.bytes_read - many.weight_bytes == batch * (one.bytes_read - one.weight_bytes)
    assert many.bytes_written == batch * one.bytes_written


@SETTINGS
@given(conv_stacks(), st.integers(2, 3), st.sampled_from(["inference", "training"]))
def test_rows_add_up_to_totals_at_every_depth(model_size, batch, mode):
    model, size = model_size
    prof = roofline.profile(model, _inputs(model, batch, size), mode=mode)
    totals = prof.totals()
    assert totals.params == sum(p.numel() for p in model.parameters())
    assert totals.macs * 2 == totals.matrix_flops  # MACs are the matrix FLOPs / 2
    for depth in [*range(1, prof.max_depth + 1), None]:
        rows = prof.layers(depth)
        for name in FIELDS:
            assert _sum_rows(rows, name) == getattr(totals, name), (depth, name)
        for r in rows:
            assert r.totals.macs * 2 == r.totals.matrix_flops, r.name


@SETTINGS
@given(conv_stacks(), st.integers(2, 5))
def test_inference_scales_linearly_with_batch(model_size, batch):
    model, size = model_size
    one = roofline.profile(model, _inputs(model, 1, size)).totals()
    many = roofline.profile(model, _inputs(model, batch, size)).totals()
    # every FLOP is per sample; weights are read once per op whatever the batch,
    # so bytes = weight bytes + batch * activation bytes
    _assert_scales_with_batch(one, many, batch)


@SETTINGS
@given(conv_stacks(), st.integers(1, 3))
def test_bf16_halves_bytes_and_keeps_flops(model_size, batch):
    model, size = model_size
    x = _inputs(model, batch, size)
    fp32 = roofline.profile(model, x)
    bf16 = roofline.profile(model.to(torch.bfloat16), x.to(torch.bfloat16))
    assert bf16.totals().matrix_flops == fp32.totals().matrix_flops
    assert bf16.totals().vector_flops == fp32.totals().vector_flops
    assert [o.op for o in bf16.ops] == [o.op for o in fp32.ops]
    for half, full in zip(bf16.ops, fp32.ops, strict=True):
        assert 2 * half.weight_bytes == full.weight_bytes, full.op
        assert 2 * half.bytes_read == full.bytes_read, full.op
        if "with_indices" in full.op:
            # a max pool also writes int64 indices (docs/conventions.md), which a cast
            # leaves at 8 bytes: only the values written halve
            (out, idx) = full.output_shapes
            assert out == idx
            n = math.prod(out)
            assert full.bytes_written == 4 * n + 8 * n
            assert half.bytes_written == 2 * n + 8 * n
        else:
            assert 2 * half.bytes_written == full.bytes_written, full.op


@st.composite
def repeated_blocks(draw):
    """A block that keeps its input's shape, and a fresh copy maker for it."""
    kind = draw(st.sampled_from(["conv", "mlp"]))
    c = draw(st.sampled_from([2, 4, 8]))
    act = draw(st.sampled_from([nn.ReLU, nn.GELU, nn.SiLU]))
    bias = draw(st.booleans())
    if kind == "conv":
        k = draw(st.sampled_from([1, 3]))

        def make() -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(c, c, k, padding=k // 2, bias=bias), nn.BatchNorm2d(c), act()
            )

        shape = (c, draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    else:

        def make() -> nn.Module:
            return nn.Sequential(nn.Linear(c, c, bias=bias), nn.LayerNorm(c), act())

        shape = (draw(st.integers(1, 5)), c)
    return make, shape


@SETTINGS
@given(
    repeated_blocks(),
    st.integers(2, 4),
    st.integers(2, 3),
    st.sampled_from(["inference", "training"]),
)
def test_n_identical_blocks_count_n_times_one(block, n, batch, mode):
    make, shape = block
    x = torch.randn(batch, *shape)
    single = roofline.profile(nn.Sequential(make()).eval(), x, mode=mode)
    model = nn.Sequential(*[make() for _ in range(n)])
    model.train(mode == "training")
    prof = roofline.profile(model, x, mode=mode)
    rows = prof.layers(1)
    assert [r.name for r in rows] == [str(i) for i in range(n)]
    assert rows[0].totals == single.layers(1)[0].totals
    # the first block's backward computes no gradient for the model's input; every
    # later block does, so blocks 1..n-1 are alike, and in inference all n are
    for r in rows[1:]:
        assert r.totals == rows[1].totals
    if mode == "inference":
        assert rows[1].totals == rows[0].totals
        for name in FIELDS:
            assert getattr(prof.totals(), name) == n * getattr(single.totals(), name), name
    else:
        assert rows[1].totals.flops > rows[0].totals.flops


@SETTINGS
@given(
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([2, 4]),
    seq=st.integers(1, 6),
    batch=st.integers(2, 4),
    layer=st.sampled_from(["mha", "encoder"]),
)
def test_attention_scales_linearly_with_batch(heads, head_dim, seq, batch, layer):
    e = heads * head_dim
    if layer == "mha":

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.attn = nn.MultiheadAttention(e, heads, batch_first=True)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.attn(x, x, x)[0]

        model = Net().eval()
    else:
        model = nn.TransformerEncoderLayer(e, heads, 2 * e, dropout=0.0, batch_first=True).eval()
    # from batch 2: at batch 1 (or a sequence of 1) the slow path's packed in-projection
    # happens to be contiguous already, and torch skips a copy (aten.clone) it makes
    # at every larger batch
    one = roofline.profile(model, torch.randn(2, seq, e)).totals()
    many = roofline.profile(model, torch.randn(2 * batch, seq, e)).totals()
    _assert_scales_with_batch(one, many, batch)


@SETTINGS
@given(conv_stacks(), st.integers(4, 6))
def test_training_is_affine_in_batch(model_size, batch):
    model, size = model_size
    model.train()

    def totals(b: int):
        return roofline.profile(model, _inputs(model, b, size), mode="training").totals()

    two, three, many = totals(2), totals(3), totals(batch)
    # a few per-parameter ops (bias-gradient sums, BatchNorm's statistics update) add
    # a batch-free constant; everything else is per sample: f(B) = f(2) + (B - 2) * step
    assert many.matrix_flops * 2 == batch * two.matrix_flops
    for name in ("vector_flops", "bytes_read", "bytes_written", "weight_bytes", "ops"):
        f2, f3, fb = (getattr(t, name) for t in (two, three, many))
        assert fb == f2 + (batch - 2) * (f3 - f2), name
    assert many.weight_bytes == two.weight_bytes
    assert many.ops == two.ops


@st.composite
def single_layers(draw):
    """One layer of many kinds and its input for one sample (no batch dim)."""
    kind = draw(
        st.sampled_from(
            [
                "convT",
                "dilated",
                "conv1d",
                "conv3d",
                "adaptive_avg",
                "adaptive_max",
                "upsample",
                "layernorm",
                "groupnorm",
                "embedding",
                "sdpa",
                "linear3d",
                "softmax",
            ]
        )
    )
    c = draw(st.sampled_from([2, 4]))
    s = draw(st.integers(3, 7))
    if kind == "convT":
        m = nn.ConvTranspose2d(
            c,
            draw(st.sampled_from([2, 4])),
            draw(st.integers(1, 3)),
            stride=draw(st.integers(1, 2)),
        )
        return m, (c, s, s)
    if kind == "dilated":
        return nn.Conv2d(c, c, 3, padding=2, dilation=2, groups=draw(st.sampled_from([1, c]))), (
            c,
            s,
            s,
        )
    if kind == "conv1d":
        return nn.Conv1d(c, 3, draw(st.integers(1, 3)), padding=1), (c, s)
    if kind == "conv3d":
        return nn.Conv3d(c, 2, 2), (c, s, s, s)
    if kind == "adaptive_avg":
        return nn.AdaptiveAvgPool2d(draw(st.integers(1, 3))), (c, s, s)
    if kind == "adaptive_max":
        return nn.AdaptiveMaxPool2d(draw(st.integers(1, 3))), (c, s, s)
    if kind == "upsample":
        mode = draw(st.sampled_from(["nearest", "bilinear"]))
        return nn.Upsample(scale_factor=2, mode=mode), (c, s, s)
    if kind == "layernorm":
        return nn.LayerNorm(c, elementwise_affine=draw(st.booleans())), (s, c)
    if kind == "groupnorm":
        return nn.GroupNorm(2, c), (c, s, s)
    if kind == "embedding":
        return _Embed(), (s,)
    if kind == "sdpa":
        return _Sdpa(draw(st.booleans())), (2, s, c)
    if kind == "linear3d":
        return nn.Linear(c, 3), (s, c)
    return nn.Softmax(-1), (s, c)


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(50, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.table((x.abs() * 10).long() % 50)


class _Sdpa(nn.Module):
    def __init__(self, causal: bool) -> None:
        super().__init__()
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.scaled_dot_product_attention(x, x, x, is_causal=self.causal)


@SETTINGS
@given(single_layers(), st.integers(2, 4))
def test_single_layers_scale_linearly_with_batch(layer, batch):
    model, shape = layer
    model.eval()
    one = roofline.profile(model, torch.randn(1, *shape))
    many = roofline.profile(model, torch.randn(batch, *shape))
    t1, tb = one.totals(), many.totals()
    assert [o.op for o in many.ops] == [o.op for o in one.ops]
    assert tb.params == t1.params
    assert tb.matrix_flops == batch * t1.matrix_flops
    assert tb.vector_flops == batch * t1.vector_flops
    assert tb.weight_bytes <= t1.weight_bytes * batch
    assert tb.bytes_written == batch * t1.bytes_written
    assert tb.bytes_read - tb.weight_bytes == batch * (t1.bytes_read - t1.weight_bytes)
    assert t1.macs * 2 == t1.matrix_flops
    for depth in (1, None):
        for name in FIELDS:
            assert _sum_rows(many.layers(depth), name) == getattr(tb, name)
