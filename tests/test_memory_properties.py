"""Invariants of the VRAM estimates (hypothesis): breakdowns add up to their totals,
the per-parameter rule holds for any count, training needs at least what inference
does, freezing never costs memory, and the largest batch found fits while the next
does not. Example counts are small: a model example traces it."""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from roofline.memory import (
    STATE_TENSORS,
    estimate_from_model,
    estimate_from_params,
    fit_devices,
    max_batch,
    with_headroom,
)
from roofline.memory.estimate import headroom_budget, memory_needed

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}

counts = st.integers(1, 10**12)
optimizers = st.sampled_from(sorted(STATE_TENSORS))
dtypes = st.sampled_from(sorted(BYTES))
headrooms = st.sampled_from([1.0, 0.95, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.3, 0.1])


def _parts_add_up(e) -> None:
    assert e.allocated == (
        e.weights
        + e.gradients
        + e.optimizer
        + (e.activations or 0)
        + e.workspace
        + e.block_rounding
        - e.not_live_at_peak
    )
    assert e.total == e.allocated + e.overhead
    assert e.overhead == e.cuda_context + e.allocator_slack
    assert e.model_state == e.weights + e.gradients + e.optimizer
    assert e.total_with_headroom == memory_needed(e.total, e.assumptions.headroom)
    assert math.isclose(e.total_with_headroom, e.total / e.assumptions.headroom, abs_tol=1)
    if e.phases:
        assert max(p.allocated for p in e.phases) == e.allocated
    d = e.as_dict()
    for key in ("allocated", "total", "total_with_headroom", "weights", "workspace"):
        assert d[key] == getattr(e, key)


@SETTINGS
@given(
    p=counts,
    frac=st.fractions(0, 1),
    optimizer=optimizers,
    dtype=dtypes,
    amp=st.booleans(),
    mode=st.sampled_from(["inference", "training"]),
    headroom=headrooms,
)
def test_per_parameter_rule_for_any_count(p, frac, optimizer, dtype, amp, mode, headroom):
    trainable = math.floor(p * frac)
    e = estimate_from_params(
        p,
        mode=mode,
        dtype=dtype,
        optimizer=optimizer,
        amp=amp,
        trainable_params=trainable,
        headroom=headroom,
    )
    # AMP stores fp32 master weights; gradients and state are at the stored dtype
    ws = 4 if amp else BYTES[dtype]
    assert e.weights == p * ws
    if mode == "training":
        assert e.gradients == trainable * ws
        assert e.optimizer == trainable * ws * STATE_TENSORS[optimizer]
    else:
        assert e.gradients == e.optimizer == 0
    _parts_add_up(e)
    if amp and optimizer == "adamw" and mode == "training" and trainable == p:
        assert e.weights + e.gradients + e.optimizer == 16 * p


@SETTINGS
@given(p=counts, optimizer=optimizers, dtype=dtypes, amp=st.booleans(), batch=st.integers(1, 64))
def test_training_needs_at_least_inference_from_a_count(p, optimizer, dtype, amp, batch):
    kw = {"dtype": dtype, "amp": amp, "batch": batch}
    inf = estimate_from_params(p, mode="inference", **kw)
    tr = estimate_from_params(p, mode="training", optimizer=optimizer, **kw)
    assert tr.total >= inf.total
    # fewer trainable parameters never cost more
    less = estimate_from_params(
        p, mode="training", optimizer=optimizer, trainable_params=p // 2, **kw
    )
    assert less.total <= tr.total


class Stack(nn.Module):
    """conv-bn-act blocks, then a head: freezing a prefix of blocks is YOLOv5's
    ``--freeze N``."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for w in widths:
            layers.append(
                nn.Sequential(nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.SiLU())
            )
            c = w
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(c, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x).mean((2, 3)))


@SETTINGS
@given(
    widths=st.lists(st.sampled_from([2, 4, 8]), min_size=2, max_size=4),
    batch=st.integers(1, 4),
    size=st.integers(4, 8),
    optimizer=optimizers,
    amp=st.booleans(),
    data=st.data(),
)
def test_training_frozen_and_inference_order(widths, batch, size, optimizer, amp, data):
    model = Stack(widths)
    x = torch.randn(batch, 3, size, size)
    kw = {"amp": amp, "cuda_context_bytes": 0}
    inf = estimate_from_model(model, x, mode="inference", **kw)
    full = estimate_from_model(model, x, mode="training", optimizer=optimizer, **kw)
    for e in (inf, full):
        _parts_add_up(e)
    assert full.total >= inf.total
    # freezing more of the backbone never increases the training memory
    n = len(widths)
    a = data.draw(st.integers(1, n - 1))
    b = data.draw(st.integers(a, n))
    fewer = estimate_from_model(
        model,
        x,
        mode="training",
        optimizer=optimizer,
        freeze=[f"blocks.{i}" for i in range(a)],
        **kw,
    )
    more = estimate_from_model(
        model,
        x,
        mode="training",
        optimizer=optimizer,
        freeze=[f"blocks.{i}" for i in range(b)],
        **kw,
    )
    _parts_add_up(fewer)
    _parts_add_up(more)
    assert more.total <= fewer.total <= full.total
    assert more.trainable_params <= fewer.trainable_params <= full.trainable_params


@SETTINGS
@given(
    p=st.integers(1, 10**9),
    sample=st.lists(st.integers(1, 64), min_size=1, max_size=3),
    dtype=dtypes,
    headroom=headrooms,
    memory=st.integers(1, 2**40),
)
def test_max_batch_fits_and_the_next_does_not(p, sample, dtype, headroom, memory):
    def at(b: int):
        return estimate_from_params(p, batch=b, input_shape=sample, dtype=dtype, headroom=headroom)

    mb = max_batch(at, memory, headroom=headroom)
    fit = lambda e: fit_devices(e, [SimpleNamespace(name="d", key="d", memory_bytes=memory)])[0]  # noqa: E731
    if mb.batch == 0:
        assert at(1).total > mb.budget
        assert not fit(at(1)).fits
        return
    assert at(mb.batch).total <= mb.budget
    # the device table and the solver agree on what fits
    assert fit(at(mb.batch)).fits
    if not mb.capped:
        assert at(mb.batch + 1).total > mb.budget
        assert not fit(at(mb.batch + 1)).fits


@SETTINGS
@given(
    fixed=st.integers(0, 10**9),
    slope=st.integers(1, 10**6),
    block=st.sampled_from([1, 512, 2**20, 2**21]),
    memory=st.integers(1, 2**36),
    headroom=headrooms,
)
def test_max_batch_on_a_stepped_total(fixed, slope, block, memory, headroom):
    # totals that grow in allocator steps (whole blocks) rather than exactly affinely
    def at(b: int):
        t = fixed + block * math.ceil(slope * b / block)
        return SimpleNamespace(total=t, allocated=t)

    mb = max_batch(at, memory, headroom=headroom, limit=1 << 24)
    # floor(memory x headroom), the headroom taken as the decimal it is written as
    ratio = Fraction(repr(headroom))
    budget = memory * ratio.numerator // ratio.denominator
    assert mb.budget == budget
    if mb.batch == 0:
        assert at(1).total > budget
    else:
        assert at(mb.batch).total <= budget
        if not mb.capped:
            assert at(mb.batch + 1).total > budget


@SETTINGS
@given(p=counts, h1=headrooms, h2=headrooms)
def test_with_headroom_only_changes_the_provisioned_total(p, h1, h2):
    e = estimate_from_params(p, headroom=h1)
    f = with_headroom(e, h2)
    assert f.total == e.total
    assert f.total_with_headroom == memory_needed(e.total, h2)


@settings(max_examples=200, deadline=None)
@given(memory=st.integers(1, 2**41), headroom=headrooms, gib=st.booleans())
def test_budget_is_where_the_fit_rule_flips(memory, headroom, gib):
    # whole GiB sizes make memory x headroom an exact integer more often, where
    # floating point can land either side of it
    m = (memory % 256 + 1) * 2**30 if gib else memory
    budget = headroom_budget(m, headroom)
    assert memory_needed(budget, headroom) <= m
    assert memory_needed(budget + 1, headroom) > m
    assert abs(budget - m * headroom) <= 1
