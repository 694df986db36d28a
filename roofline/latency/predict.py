"""Latency prediction: the naive roofline and the calibrated model, per op, layer, model.

Naive: each op takes :func:`roofline.analysis.op_time` on the device's ceilings
(datasheet peaks on a GPU, the measured peak and bandwidth for the host CPU); the
model is the sum of its ops. It is always reported, for contrast.

Calibrated (``EfficiencyModel`` from ``roofline calibrate``, :mod:`.calibrate`)::

    compute = matrix_flops / rate(op_class, size) + vector_flops / vector_peak
    memory  = bytes / bandwidth(op_class, bytes)
    kernel  = factor · max(compute, memory) + fresh(bytes of each new output)
    launch  = dispatch + per-op in-network overhead
    op      = kernel + launch               (CPU: dispatch and compute are serial)
    layer   = Σ op + calls · module_overhead

On CUDA the host issues kernels ahead of the GPU, so host and GPU are two stages of a
pipeline (:func:`schedule`): the host spends ``host_i`` on op ``i`` (the module calls
entered just before it, and the op's issue cost for its class, ``host_s``), the GPU
starts the kernel when both it and the kernel are ready::

    issued_i = issued_{i-1} + host_i
    start_i  = max(end_{i-1}, issued_i)          end_i = start_i + kernel_i
    op_i     = end_i − end_{i-1} = stall_i + kernel_i

``stall_i`` is the time the GPU waits for the host (the op's overhead); a long kernel
lets the host run ahead and hides the overheads of the ops after it. The model's time
is ``end`` of the last op, and its ops add up to it.

A fused inference fast path (``nn.TransformerEncoderLayer`` and
``nn.MultiheadAttention`` in eval) is priced as the sum of the kernels it runs
(:func:`components`), each at its own fitted rate: one dispatch from Python for the
first, the internal (C++) dispatch cost for the others where it was measured.

where ``rate`` is the FLOP rate microbenchmarks achieved at the op's size and
``bandwidth`` the byte rate the op class achieved at that many bytes. A layer is
explained with tags saying what its time goes to (see :func:`explain_layer`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from roofline.analysis import Ceilings, ceilings, default_precision, op_roof_time
from roofline.counting.formulas import GELU_FLOPS
from roofline.counting.profile import Layer, ModelProfile, OpRecord
from roofline.devices import Device
from roofline.errors import MeasurementError, StaleCalibrationError
from roofline.latency.calibrate import (
    MATRIX_CLASSES,
    EfficiencyModel,
    calibrate_command,
    can_calibrate,
    family_work,
    host_units,
    memory_variant,
    op_size,
)
from roofline.units import dtype_name, dtype_short, parse_dtype, plural, seconds

#: thresholds for the explanation tags (fractions of a layer's predicted time)
LAUNCH_BOUND = 0.5
#: CUDA: share of the time the GPU idles waiting for the host (a host-bound network's
#: kernels still run while the host issues the next ones, so its idle share is below
#: its overhead share on a serial device)
GPU_IDLE = 0.25
DOMINANT = 0.4
LOW_EFFICIENCY = 0.15
FRESH_SHARE = 0.2


@dataclass(frozen=True)
class OpPrediction:
    """One op: naive and calibrated time and what limits it (seconds)."""

    index: int  #: position in ``profile.ops``
    op: str
    module: str
    op_class: str
    naive_s: float
    predicted_s: float | None
    compute_s: float | None = None  #: at the fitted rate
    memory_s: float | None = None  #: at the fitted bandwidth
    overhead_s: float = 0.0
    #: "compute" | "memory" | "overhead" for the calibrated time
    limiter: str | None = None
    #: fitted rate as a fraction of the device's peak (compute) or bandwidth (memory)
    efficiency: float | None = None
    #: part of the kernel time that is the fresh allocation of its outputs
    fresh_s: float = 0.0
    #: kernel time (factor · max(compute, memory) + fresh), without overheads
    kernel_s: float = 0.0
    #: host time spent on the op before its kernel can start (CPU: the dispatch;
    #: CUDA: the module calls entered before it plus its issue cost)
    host_s: float = 0.0


@dataclass(frozen=True)
class LayerPrediction:
    """A layer row (as :meth:`ModelProfile.layers` makes it) with its predictions."""

    name: str
    type: str
    depth: int
    self_only: bool
    flops: int
    bytes: int
    ops: int
    module_calls: int
    naive_s: float
    predicted_s: float | None
    overhead_s: float
    #: calibrated time by limiter: {"compute": s, "memory": s, "overhead": s}
    breakdown: Mapping[str, float] = field(default_factory=dict)
    #: calibrated time by op class
    by_class: Mapping[str, float] = field(default_factory=dict)
    explanation: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "self_only": self.self_only,
            "flops": self.flops,
            "bytes": self.bytes,
            "ops": self.ops,
            "module_calls": self.module_calls,
            "naive_s": self.naive_s,
            "predicted_s": self.predicted_s,
            "overhead_s": self.overhead_s,
            "breakdown": dict(self.breakdown),
            "by_class": dict(self.by_class),
            "explanation": list(self.explanation),
        }


@dataclass(frozen=True)
class LatencyPrediction:
    """Naive and calibrated latency of a profile on a device."""

    model: str
    device: str
    precision: str
    batch: int | None
    mode: str
    naive_s: float
    predicted_s: float | None
    ops: tuple[OpPrediction, ...]
    profile: ModelProfile
    efficiency: EfficiencyModel | None
    #: the device's ceilings used to express efficiencies
    peak_flops: float = 0.0
    bandwidth: float = 0.0
    depth: int | None = 2
    note: str = ""

    @property
    def calibrated(self) -> bool:
        return self.efficiency is not None

    def layers(self, depth: int | None = None) -> tuple[LayerPrediction, ...]:
        """Per-layer predictions at ``depth`` (default: the depth given to :func:`predict`;
        ``None`` in :func:`predict` means the leaves). Rows add up to the model total."""
        d = self.depth if depth is None else depth
        return tuple(self._layer(row) for row in self.profile.layers(d))

    @property
    def module_overhead_s(self) -> float:
        """Module-call overhead added on top of the ops (:func:`module_calls_s`)."""
        if self.efficiency is None:
            return 0.0
        return module_calls_s(self.efficiency, sum(m.calls for m in self.profile.modules))

    def _layer(self, row: Layer) -> LayerPrediction:
        index = {id(o): i for i, o in enumerate(self.profile.ops)}
        preds = [self.ops[index[id(o)]] for o in row.ops if id(o) in index]
        key = "" if row.name == "(model)" else row.name
        if row.self_only:
            m = self.profile.module(key)
            calls = m.calls if m else 0
        else:
            calls = sum(
                m.calls
                for m in self.profile.modules
                if key == "" or m.name == key or m.name.startswith(key + ".")
            )
        naive = sum(p.naive_s for p in preds)
        predicted: float | None = None
        breakdown: dict[str, float] = {}
        by_class: dict[str, float] = {}
        overhead = 0.0
        if self.efficiency is not None:
            mod = module_calls_s(self.efficiency, calls)
            predicted = sum(p.predicted_s or 0.0 for p in preds) + mod
            overhead = sum(p.overhead_s for p in preds) + mod
            for p in preds:
                kernel = (p.predicted_s or 0.0) - p.overhead_s
                if p.limiter in ("compute", "memory"):
                    breakdown[p.limiter] = breakdown.get(p.limiter, 0.0) + kernel
                by_class[p.op_class] = by_class.get(p.op_class, 0.0) + (p.predicted_s or 0.0)
            breakdown["overhead"] = overhead
        layer = LayerPrediction(
            name=row.name,
            type=row.type,
            depth=row.depth,
            self_only=row.self_only,
            flops=row.totals.flops,
            bytes=row.totals.bytes,
            ops=len(preds),
            module_calls=calls,
            naive_s=naive,
            predicted_s=predicted,
            overhead_s=overhead,
            breakdown=MappingProxyType(breakdown),
            by_class=MappingProxyType(by_class),
        )
        return _with_tags(layer, preds, self)

    def explanation(self) -> tuple[str, ...]:
        """Why the model's calibrated time differs from its naive time (model level)."""
        if self.efficiency is None or self.predicted_s is None:
            return (
                self.note
                or "no calibration for this device: run `roofline calibrate` for the "
                "calibrated prediction",
            )
        overhead = sum(p.overhead_s for p in self.ops) + self.module_overhead_s
        root = LayerPrediction(
            "(model)",
            "",
            0,
            False,
            0,
            0,
            len(self.ops),
            0,
            self.naive_s,
            self.predicted_s,
            overhead,
        )
        return _with_tags(root, list(self.ops), self).explanation

    def as_dict(self, depth: int | None = None) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "precision": self.precision,
            "batch": self.batch,
            "mode": self.mode,
            "naive_s": self.naive_s,
            "predicted_s": self.predicted_s,
            "calibrated": self.calibrated,
            "explanation": list(self.explanation()),
            "note": self.note,
            "layers": [r.as_dict() for r in self.layers(depth)],
        }


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 else f"{100 * x:.1f}%"


def _with_tags(
    layer: LayerPrediction,
    preds: list[OpPrediction],
    pred: LatencyPrediction,
) -> LayerPrediction:
    """Explanation tags: what the layer's calibrated time goes to."""
    total = layer.predicted_s
    if not total or pred.efficiency is None:
        return layer
    tags: list[str] = []
    overhead = layer.overhead_s
    if pred.efficiency.async_launch:
        if overhead / total >= GPU_IDLE:
            host = sum(p.host_s for p in preds)
            kernels = sum(p.kernel_s for p in preds)
            tags.append(
                f"launch-bound: the GPU waits for the host to issue kernels "
                f"{_pct(overhead / total)} of the time ({plural(len(preds), 'op')}: "
                f"{seconds(host)} of issue against {seconds(kernels)} of kernels)"
            )
    elif overhead / total >= LAUNCH_BOUND:
        tags.append(
            f"launch-bound: {_pct(overhead / total)} of the time is per-op dispatch "
            f"({plural(len(preds), 'op')})"
        )
    fresh = sum(p.fresh_s for p in preds)
    if fresh / total >= FRESH_SHARE:
        new_bytes = sum(pred.profile.ops[p.index].bytes_written for p in preds if p.fresh_s)
        tags.append(
            f"fresh outputs: {_pct(fresh / total)} of the time is first-touch of "
            f"{new_bytes / 1e6:,.0f} MB of newly allocated outputs (beyond the allocator's reuse)"
        )
    groups: dict[str, list[OpPrediction]] = {}
    for p in preds:
        groups.setdefault(p.op_class, []).append(p)
    for cls, ps in sorted(groups.items(), key=lambda kv: -sum(p.predicted_s or 0 for p in kv[1])):
        t = sum(p.predicted_s or 0.0 for p in ps)
        if t / total < DOMINANT and not (cls == "depthwise_conv" and t / total >= 0.2):
            continue
        kernel = sum((p.predicted_s or 0.0) - p.overhead_s - p.fresh_s for p in ps)
        if cls in MATRIX_CLASSES:
            flops = sum(pred.profile.ops[p.index].matrix_flops for p in ps)
            eff = flops / kernel / pred.peak_flops if kernel > 0 and pred.peak_flops else None
            if eff is None:
                continue
            if cls == "depthwise_conv":
                tags.append(
                    f"depthwise conv: low efficiency ({_pct(eff)} of peak), "
                    f"{_pct(t / total)} of the time"
                )
            elif eff < LOW_EFFICIENCY:
                tags.append(f"{cls}: small or thin shapes, low efficiency ({_pct(eff)} of peak)")
            else:
                tags.append(f"{cls}: compute-bound at {_pct(eff)} of peak")
        else:
            nbytes = sum(pred.profile.ops[p.index].bytes for p in ps)
            bw = nbytes / kernel / pred.bandwidth if kernel > 0 and pred.bandwidth else None
            if bw is None:
                continue
            if bw > 1.0:  # faster than the device's memory: the data sits in a cache
                tags.append(
                    f"{cls}: served from cache at {bw:.1f}x the memory bandwidth, "
                    f"{_pct(t / total)} of the time"
                )
            else:
                tags.append(
                    f"{cls}: memory-bound at {_pct(bw)} of bandwidth, {_pct(t / total)} of the time"
                )
    if layer.naive_s > 0 and total / layer.naive_s >= 3:
        tags.append(f"predicted at {total / layer.naive_s:.1f}x the naive roofline time")
    return LayerPrediction(**{**layer.__dict__, "explanation": tuple(tags)})


def nvml_index(device: Device) -> int | None:
    """Which local GPU ``device`` is (its NVML ``origin``, ``nvml:1:...``), or None."""
    kind, _, rest = device.origin.partition(":")
    index = rest.split(":", 1)[0]
    return int(index) if kind == "nvml" and index.isdigit() else None


def _command(device: Device, dtype: str) -> str:
    return calibrate_command(device.kind, dtype, nvml_index(device))


def no_calibration_text(device: Device, dtype: str) -> str:
    """Why a model of ``dtype`` gets the naive time only on ``device``, where no
    calibration for it is stored, and how to get one where one can be made."""
    head = (
        f"no {dtype_short(dtype)} latency calibration stored for {device.name}: naive roofline "
        "time only"
    )
    if can_calibrate(device.kind, dtype):
        return (
            f"{head} (run `{_command(device, dtype)}` on that machine for the "
            "calibrated prediction)"
        )
    return f"{head}; {cannot_time_text(device.kind, dtype)}"


def cannot_time_text(kind: str, dtype: str) -> str:
    """``no calibration can time fp16 kernels on the CPU``: for a dtype outside
    :data:`~roofline.latency.calibrate.CALIBRATION_DTYPES` of a device ``kind``."""
    where = "the CPU" if kind == "cpu" else "a GPU" if kind == "gpu" else f"a {kind}"
    return f"no calibration can time {dtype_short(dtype)} kernels on {where}"


def module_calls_s(eff: EfficiencyModel, calls: int) -> float:
    """What ``calls`` module calls add on top of the ops: their Python cost, serially
    (CPU); nothing under asynchronous launches (CUDA), where it is host time already
    inside the ops' schedule (:func:`module_entries`)."""
    return 0.0 if eff.async_launch else calls * eff.module_overhead_s


def efficiency_key(dtype: str = "float32") -> str:
    """Where the calibration for models of ``dtype`` is kept in the device's measured
    record (``MeasuredCeilings.extra``): ``efficiency`` for float32 (the key older
    versions wrote), ``efficiency.bfloat16`` and so on for the others."""
    return "efficiency" if dtype == "float32" else f"efficiency.{dtype}"


def efficiency_of(device: Device, dtype: str = "float32") -> EfficiencyModel | None:
    """The stored latency calibration of ``device`` for models of ``dtype``
    (``measured.extra[efficiency_key(dtype)]``), or None."""
    m = device.measured
    if m is None:
        return None
    raw = m.extra.get(efficiency_key(dtype))
    if not raw:
        return None
    try:
        eff = EfficiencyModel.from_dict(raw)
    except StaleCalibrationError as exc:
        raise StaleCalibrationError(
            f"{exc.reason} for {device.name}",
            f"run `{_command(device, dtype)}` to measure it again",
        ) from None
    return eff if eff.dtype == dtype else None


@dataclass(frozen=True)
class Component:
    """One kernel inside a fused op (see :func:`components`)."""

    op_class: str
    matrix_flops: float
    vector_flops: float
    bytes: float
    dims: Mapping[str, int] = field(default_factory=dict)
    #: the aten op, where the kernel is one (an elementwise function's own curve)
    op: str = ""


#: fused inference fast paths of PyTorch that run a sequence of kernels in one aten op
FUSED_OPS = (
    "aten._transformer_encoder_layer_fwd.default",
    "aten._native_multi_head_attention.default",
)
#: head size assumed for the fused ops (their head count is an int argument, which the
#: op record does not keep): 64, the common choice, or the whole width if it is smaller
FUSED_HEAD_DIM = 64


def _gemm(m: int, k: int, n: int, elem: int) -> Component:
    # X (m×k) @ W^T (k×n) + bias: reads X, W and bias, writes the m×n result
    return Component(
        "gemm",
        2.0 * m * n * k,
        float(m * n),
        float(elem * (m * k + k * n + n + m * n)),
        {"m": m, "n": n, "k": k},
    )


def _sdpa(batch: int, heads: int, lq: int, lk: int, hd: int, elem: int) -> Component:
    # softmax(Q K^T / sqrt(d)) V: 2·lq·lk·hd FLOPs for each of the two products;
    # reads Q, K, V, writes the output
    return Component(
        "attention",
        4.0 * batch * heads * lq * lk * hd,
        5.0 * batch * heads * lq * lk,
        float(elem * batch * heads * hd * (2 * lq + 2 * lk)),
        {"batch": batch * heads, "lq": lq, "lk": lk, "e": hd},
    )


def _pointwise(cls: str, elems: int, flops_per: int, tensors: int, elem: int) -> Component:
    # ``tensors`` tensors of ``elems`` elements read or written once each
    return Component(cls, 0.0, float(flops_per * elems), float(elem * tensors * elems))


def components(op: OpRecord) -> tuple[Component, ...] | None:
    """The kernels a fused inference fast path runs, or None for any other op.

    ``aten._transformer_encoder_layer_fwd`` (one ``nn.TransformerEncoderLayer`` in eval):
    the packed QKV GEMM (rows×E @ E×3E), the split of QKV into heads (a copy of the
    rows×3E result), scaled-dot-product attention per head, the output projection
    (E×E), a residual add and a layer norm, the two feed-forward GEMMs (E×F, F×E) with
    the activation between them, and a second residual add and layer norm — the
    decomposition of the counter's ``transformer_encoder_layer`` formula. Shapes come
    from the op's tensor arguments in schema order: src (B, L, E), qkv_weight (3E, E),
    qkv_bias, proj_weight, proj_bias, the norms' weights and biases, ffn_weight_1 (F, E).

    ``aten._native_multi_head_attention`` (``nn.MultiheadAttention`` in eval): the Q/K/V
    projections (one packed GEMM when query, key and value have one shape), the split,
    attention, and the output projection (:func:`roofline.counting.formulas.mha_cost`).
    """
    shapes = op.input_shapes
    elem = parse_dtype(op.dtype or "float32").itemsize
    if op.op == FUSED_OPS[0] and len(shapes) >= 11 and len(shapes[0]) == 3:
        b, length, e = shapes[0]
        ff = shapes[9][0]
        gelu = bool(op.dims.get("gelu"))
        rows = b * length
        hd = FUSED_HEAD_DIM if e % FUSED_HEAD_DIM == 0 else e
        heads = e // hd
        return (
            _gemm(rows, e, 3 * e, elem),
            _pointwise("copy", 3 * rows * e, 0, 2, elem),
            _sdpa(b, heads, length, length, hd, elem),
            _gemm(rows, e, e, elem),
            _pointwise("elementwise", rows * e, 1, 3, elem),
            _pointwise("norm", rows * e, 7, 2, elem),
            _gemm(rows, e, ff, elem),
            # the activation, at its function's own curve where one is fitted
            dataclasses.replace(
                _pointwise("elementwise", rows * ff, GELU_FLOPS["none"] if gelu else 1, 2, elem),
                op="aten.gelu_.default" if gelu else "aten.relu_.default",
            ),
            _gemm(rows, ff, e, elem),
            _pointwise("elementwise", rows * e, 1, 3, elem),
            _pointwise("norm", rows * e, 7, 2, elem),
        )
    if op.op == FUSED_OPS[1] and len(shapes) >= 4 and len(shapes[0]) == 3:
        (b, lq, e), (_, lk, _) = shapes[0], shapes[1]
        rows_q, rows_k = b * lq, b * lk
        hd = FUSED_HEAD_DIM if e % FUSED_HEAD_DIM == 0 else e
        heads = e // hd
        if shapes[0] == shapes[1] == shapes[2]:
            proj: tuple[Component, ...] = (_gemm(rows_q, e, 3 * e, elem),)
        else:
            proj = (_gemm(rows_q, e, e, elem), _gemm(rows_k, e, e, elem), _gemm(rows_k, e, e, elem))
        return (
            *proj,
            _pointwise("copy", (rows_q + 2 * rows_k) * e, 0, 2, elem),
            _sdpa(b, heads, lq, lk, hd, elem),
            _gemm(rows_q, e, e, elem),
        )
    return None


def _kernel(
    eff: EfficiencyModel,
    cls: str,
    matrix_flops: float,
    vector_flops: float,
    nbytes: float,
    dims: Mapping[str, int],
    vector_peak: float,
    backward: bool = False,
    op: str = "",
) -> tuple[float, float, float | None, float]:
    """(compute s, memory s, FLOP rate, byte rate) of one kernel (the aten ``op``, where
    known) at the fitted rates, before the in-network factor."""
    vector = vector_flops / vector_peak if vector_peak else 0.0
    variant = memory_variant(cls, dims, backward, op)
    memory_class = (
        variant
        if variant in eff.memory or (variant and eff.memory_family(variant))
        else cls
        if cls in eff.memory or eff.memory_family(cls)
        else ("copy" if cls in MATRIX_CLASSES else "elementwise")
    )
    # a pool's comparisons, a reduction's rows, pick its place in its family
    work = family_work(memory_class, vector_flops, dims)
    mem_rate = eff.memory_rate(memory_class, nbytes, work) if nbytes else 0.0
    memory = nbytes / mem_rate if mem_rate else 0.0
    compute = vector
    rate = None
    if cls in MATRIX_CLASSES and matrix_flops:
        size = op_size(cls, dims, matrix_flops)
        # a training backward kernel at its own fitted rate where one was measured
        # (a depthwise convolution's backward runs far slower than its forward)
        rate = eff.compute_rate(f"{cls}.backward", size) if backward else None
        if rate is None:
            rate = eff.compute_rate(cls, size)
        if rate is None:  # class not calibrated (e.g. rnn on an old fit): use gemm,
            # at the op's own m, n, k where it has them
            rate = eff.compute_rate("gemm", op_size("gemm", dims, matrix_flops))
        if rate:
            compute += matrix_flops / rate
    return compute, memory, rate, mem_rate


def fresh_output_s(eff: EfficiencyModel, op: OpRecord) -> float:
    """The fresh-allocation cost of an op's outputs (``EfficiencyModel.fresh``): each
    output tensor is one allocation, so the cost is taken per tensor, at its share of
    the bytes written (divided by the op's ``write_passes`` where its bytes written
    count more than one pass over its outputs: max pooling's backward zero-fills the
    input gradient, then writes it). In-place ops (``aten.add_``) and ``out=`` variants
    allocate nothing."""
    overload = op.op.split(".")
    if len(overload) > 1 and (overload[1].endswith("_") or overload[-1].startswith("out")):
        return 0.0
    if not op.bytes_written or not eff.fresh.sizes:
        return 0.0
    elems = [math.prod(s) for s in op.output_shapes] or [1]
    total = sum(elems) or 1
    allocated = op.bytes_written / max(1, op.dims.get("write_passes", 1))
    return sum(eff.fresh.seconds(allocated * e / total) for e in elems)


def predict_op(
    index: int,
    op: OpRecord,
    c: Ceilings,
    eff: EfficiencyModel | None,
    internal: bool = False,
) -> OpPrediction:
    """One op's naive time (the roofline on ceilings ``c``) and calibrated time. A
    fused fast path (:func:`components`) is priced as the sum of its kernels, each at
    its own fitted rate; it is one call from Python, its later kernels are issued from
    C++ (``internal_op_s`` each where it was measured). ``internal``: the op itself is
    issued from C++ inside another op (:func:`internal_ops`), so it costs
    ``internal_op_s`` to issue and none of the Python-side terms."""
    naive = op_roof_time(op, c)
    vector_peak, bandwidth, peak = (
        c.vector.flops_per_s,
        c.bandwidth_bytes_per_s,
        c.matrix.flops_per_s,
    )
    if eff is None:
        return OpPrediction(index, op.op, op.module, op.op_class, naive, None)
    cls = op.op_class
    # an ordinary op is one kernel; a fused fast path is the kernels it runs
    parts = components(op) or (
        Component(cls, op.matrix_flops, op.vector_flops, op.bytes, op.dims, op.op),
    )
    compute = memory = kernel = 0.0
    for part in parts:
        c, m, rate, mem_rate = _kernel(
            eff,
            part.op_class,
            part.matrix_flops,
            part.vector_flops,
            part.bytes,
            part.dims,
            vector_peak,
            op.phase == "backward",
            part.op,
        )
        factor = (
            eff.context_factor if part.op_class in MATRIX_CLASSES else eff.memory_context_factor
        )
        compute += factor * c
        memory += factor * m
        kernel += factor * max(c, m)
    launches = len(parts)
    if launches > 1:
        factor = eff.context_factor
        # effective rates of the whole op, for the efficiency shown in the tags
        rate = op.matrix_flops * factor / compute if compute and op.matrix_flops else None
        mem_rate = op.bytes * factor / memory if memory and op.bytes else 0.0
    fresh = fresh_output_s(eff, op)
    kernel += fresh
    if internal:
        launch = (eff.internal_op_s or eff.launch_overhead_s) * launches
    else:
        # each kernel's issue cost: CUDA by its class (the stall is set by
        # :func:`schedule`), the CPU's dispatch; a fused fast path is one call from
        # Python, its later kernels are issued from C++ where that cost was measured
        issue = [
            eff.host_cost(p.op_class) * host_units(p.op_class, p.dims)
            if eff.async_launch
            else eff.launch_overhead_s
            for p in parts
        ]
        later = [eff.internal_op_s] * (launches - 1) if eff.internal_op_s else issue[1:]
        launch = issue[0] + sum(later) + eff.network_op_overhead_s
    if eff.async_launch:
        total = max(kernel, launch)
        overhead = max(0.0, launch - kernel)
    else:
        total = kernel + launch
        overhead = launch
    if overhead >= kernel:
        limiter = "overhead"
    else:
        limiter = "compute" if compute >= memory else "memory"
    if compute >= memory and rate and peak:
        efficiency = rate / factor / peak
    elif mem_rate and bandwidth:
        efficiency = mem_rate / factor / bandwidth
    else:
        efficiency = None
    return OpPrediction(
        index,
        op.op,
        op.module,
        cls,
        naive,
        total,
        compute,
        memory,
        overhead,
        limiter,
        efficiency,
        fresh,
        kernel,
        launch,
    )


#: module types whose forward is one call into C++ that may loop over many aten ops
#: (``aten::gru`` / ``aten::rnn_tanh`` / ``aten::lstm`` where no fused kernel takes it)
RECURRENT_MODULES = ("RNN", "GRU", "LSTM")
#: the fused recurrent ops themselves (one kernel call from Python)
FUSED_RNN_OPS = (
    "aten.mkldnn_rnn_layer.default",
    "aten.mkldnn_rnn_layer_backward.default",
    "aten._cudnn_rnn.default",
    "aten._cudnn_rnn_backward.default",
)


def internal_ops(profile: ModelProfile) -> list[bool]:
    """Per op: issued from C++ inside another op rather than from Python — the ops of
    a recurrent module (:data:`RECURRENT_MODULES`) other than a fused recurrent kernel,
    in the forward (the backward is issued by the autograd engine, in C++, either way)."""
    rnn = {m.name for m in profile.modules if m.type in RECURRENT_MODULES}
    if not rnn:
        return [False] * len(profile.ops)
    return [
        o.module in rnn and o.op not in FUSED_RNN_OPS and o.phase == "forward" for o in profile.ops
    ]


def module_entries(profile: ModelProfile) -> list[int]:
    """Per op, how many module calls are entered just before it: each module's calls
    are placed before the first op it (or a submodule) runs; a module that runs no op
    goes with its nearest ancestor that does (the root's before the first op)."""
    first: dict[str, int] = {}
    for i, o in enumerate(profile.ops):
        name = o.module
        while True:
            if name in first:
                break
            first[name] = i
            if not name:
                break
            name = name.rpartition(".")[0]
    entries = [0] * len(profile.ops)
    if not entries:
        return entries
    for m in profile.modules:
        name = m.name
        while name not in first and name:
            name = name.rpartition(".")[0]
        entries[first.get(name, 0)] += m.calls
    return entries


def schedule(host: list[float], kernel: list[float]) -> tuple[list[float], float]:
    """The host/GPU pipeline of asynchronous launches (see the module docstring): per
    op the GPU's stall waiting for the host, and the time the last kernel ends."""
    issued = end = 0.0
    stalls = []
    for h, k in zip(host, kernel, strict=True):
        issued += h
        stall = max(0.0, issued - end)
        end += stall + k
        stalls.append(stall)
    return stalls, end


def _scheduled(
    ops: tuple[OpPrediction, ...], profile: ModelProfile, eff: EfficiencyModel
) -> tuple[OpPrediction, ...]:
    """The ops of an asynchronous (CUDA) prediction with their stalls from
    :func:`schedule`: host time = module calls entered + issue cost."""
    entries = module_entries(profile)
    host = [o.host_s + n * eff.module_overhead_s for o, n in zip(ops, entries, strict=True)]
    stalls, _ = schedule(host, [o.kernel_s for o in ops])
    out = []
    for o, h, stall in zip(ops, host, stalls, strict=True):
        limiter = o.limiter
        if stall >= o.kernel_s:
            limiter = "overhead"
        elif limiter == "overhead":
            limiter = "compute" if (o.compute_s or 0.0) >= (o.memory_s or 0.0) else "memory"
        out.append(
            dataclasses.replace(
                o, predicted_s=stall + o.kernel_s, overhead_s=stall, host_s=h, limiter=limiter
            )
        )
    return tuple(out)


def predict(
    profile: ModelProfile,
    device: Device,
    precision: str | None = None,
    *,
    efficiency: EfficiencyModel | None = None,
    depth: int | None = 2,
    tf32_conv: bool = True,
) -> LatencyPrediction:
    """Naive and calibrated latency of ``profile`` on ``device``.

    The calibration is ``efficiency`` if given, else the one stored with the device
    (``roofline calibrate``); without one only the naive time is predicted
    (``predicted_s`` is None and :meth:`LatencyPrediction.explanation` says how to get it).
    ``depth`` is the default depth of :meth:`LatencyPrediction.layers`; ``tf32_conv``
    as in :func:`roofline.analysis.ceilings` (the naive time of fp32 convolutions);
    ``precision`` None: the profile's own (:func:`roofline.analysis.default_precision`).
    A calibration prices models of its own dtype only (its microbenchmarks ran at it):
    a model of another dtype, or one no calibration is stored for, gets the naive time
    only, and the note says how to calibrate for it.
    """
    stale = ""
    eff = efficiency
    if eff is None:
        try:
            eff = efficiency_of(device, profile.dtype)
        except StaleCalibrationError as exc:
            stale = str(exc)  # naive only, and the note says why
        if eff is None and not stale:
            stale = no_calibration_text(device, profile.dtype)
    elif eff.dtype != profile.dtype:
        # a quantized (qint8) model has no calibration to point to: the command
        # `calibrate --dtype qint8` would be refused
        fix = (
            f"`{_command(device, profile.dtype)}` fits its own"
            if can_calibrate(device.kind, profile.dtype)
            else cannot_time_text(device.kind, profile.dtype)
        )
        stale = (
            f"the latency calibration times {dtype_short(eff.dtype)} kernels and this model "
            f"is {dtype_short(profile.dtype)}: naive roofline time only; {fix}"
        )
        eff = None
    if precision is None:
        precision = default_precision(profile, device)
    c = ceilings(device, precision, tf32_conv=tf32_conv)
    internal = internal_ops(profile)
    ops = tuple(predict_op(i, op, c, eff, internal[i]) for i, op in enumerate(profile.ops))
    if eff is not None and eff.async_launch:
        ops = _scheduled(ops, profile, eff)
    naive = sum(o.naive_s for o in ops)
    predicted = None
    note = stale
    if eff is not None:
        calls = sum(m.calls for m in profile.modules)
        predicted = sum(o.predicted_s or 0.0 for o in ops) + module_calls_s(eff, calls)
        if eff.kind != device.kind:
            raise MeasurementError(
                f"the latency calibration is for a {eff.kind}, the device is a {device.kind}"
            )
        notes = []
        if eff.kind == "cpu" and eff.threads != torch.get_num_threads():
            notes.append(
                f"calibrated with {eff.threads} threads, torch now uses "
                f"{torch.get_num_threads()}: calibrate again for this thread count"
            )
        missing = sorted(
            {o.op_class for o in profile.ops if o.op_class in MATRIX_CLASSES} - set(eff.matrix)
        )
        if missing:
            notes.append(
                f"the calibration has no fit for {', '.join(missing)} ops (its grid measured "
                "none): they are priced as GEMMs; run `roofline calibrate` (full grid) again"
            )
        note = "; ".join(notes)
    return LatencyPrediction(
        model=profile.name,
        device=device.name,
        precision=c.precision,
        batch=profile.batch,
        mode=profile.mode,
        naive_s=naive,
        predicted_s=predicted,
        ops=ops,
        profile=profile,
        efficiency=eff,
        peak_flops=c.matrix.flops_per_s,
        bandwidth=c.bandwidth_bytes_per_s,
        depth=depth,
        note=note,
    )


def with_sgd_step(
    profile: ModelProfile, params: list[torch.Tensor], *, foreach: bool
) -> ModelProfile:
    """``profile`` with the ops of a plain SGD step appended (``bench --optimizer-step``
    measures one): ``p.add_(grad, alpha=-lr)`` for each trainable parameter, reading the
    parameter and its gradient and writing the parameter, one multiply-add per element.
    ``foreach`` (torch.optim's default on CUDA): one ``_foreach_add_`` over all of them;
    else (the CPU) one op per parameter. Phase ``"optimizer"``, at the root module."""
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        return profile

    def record(op: str, ps: list[torch.Tensor]) -> OpRecord:
        nbytes = sum(p.numel() * p.element_size() for p in ps)
        elems = sum(p.numel() for p in ps)
        return OpRecord(
            op,
            "",
            "optimizer",
            "elementwise",
            0,
            2 * elems,
            2 * nbytes,
            nbytes,
            nbytes,
            dtype_name(ps[0].dtype),
            input_shapes=tuple(tuple(p.shape) for p in ps),
            output_shapes=(),
        )

    if foreach:
        extra: tuple[OpRecord, ...] = (record("aten._foreach_add_.List", trainable),)
    else:
        extra = tuple(record("aten.add_.Tensor", [p]) for p in trainable)
    return dataclasses.replace(profile, ops=profile.ops + extra)
