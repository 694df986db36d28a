"""Calibration of the latency model: microbenchmarks on this device, and their fits.

``roofline calibrate`` measures the device's ceilings (GEMM peak, copy bandwidth,
launch latency: :mod:`roofline.devices.calibrate`); this module adds what the
latency prediction needs on top, all measured with microbenchmarks, never with the
models being predicted:

* **Matrix ops** (``gemm``, ``conv``, ``depthwise_conv``, ``attention``): the achieved
  FLOP/s of each op class over a grid of sizes. A size is a point in log2 space —
  ``(M, N, K)`` of the implicit GEMM (conv: ``M = n·out_spatial``, ``N = c_out``,
  ``K = c_in/groups·kernel``, plus whether the kernel is 1×1); depthwise conv:
  ``(n·out_spatial, channels, kernel)``; attention: ``(batch·heads, L, head_dim)``;
  a fused recurrent layer (``rnn``: oneDNN's LSTM, cuDNN's LSTM/GRU/RNN):
  ``(batch, gates·hidden, input + hidden, steps)``: one time step's GEMMs, and the
  number of steps (a fused call's fixed set-up cost is spread over them).
  The prediction for an op interpolates log(time) multilinearly in log(size) over the
  product grid of the measured coordinates, the grid's times made non-decreasing in
  every size axis and its unmeasured nodes filled from the nearest points
  (:class:`GridFit`): efficiency is a function of the op's size, which is what makes
  small and depthwise convolutions slow, and a larger op never comes out faster. Training's convolution
  backward has its own fits (``conv.backward``, ``depthwise_conv.backward``) on a
  subset of the same shapes.
* **Memory ops** (elementwise, norm, reduction, pool, upsample, copy, softmax,
  embedding): the achieved bytes/s of a representative kernel of each class over
  sizes from a few KiB to far beyond the last-level cache, interpolated in log(bytes).
* **Overheads**: the time of an almost empty aten op issued back to back (on CPU the
  dispatcher cost per op; on CUDA the host's issue time, and per op class
  ``host_s``), of an ``nn.Module`` call that runs no op (Python cost of the module
  machinery, per call), and of an op issued from C++ inside another op
  (``internal_op_s``, a tiny GRU's loop on the CPU).
* **In-network terms**: a factor on kernel time and a per-op overhead, fitted on small
  synthetic networks (:func:`fit_context`).

On the CPU each rate is ``work / (median time − op overhead − fresh output)``, so
that the prediction, which adds those back, reproduces the microbenchmark; on CUDA
``work / (GPU time − fresh output)`` with the GPU time from :class:`QueueTimer` (the
issue cost is host time, which the prediction's schedule accounts for). The fits are
stored per device in the measured-ceilings cache, under ``extra["efficiency"]``.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as _dt
import functools
import gc
import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
import torch.nn.functional as F

from roofline import units
from roofline.devices.bench import DRIFT_WARN, gc_paused
from roofline.errors import MeasurementError, RooflineError, StaleCalibrationError, first_line

Progress = Callable[[str], None]
Sync = Callable[[], None]

#: op classes whose time is governed by a FLOP rate fitted on an n-d size grid
MATRIX_CLASSES = ("gemm", "conv", "depthwise_conv", "attention", "rnn")
#: op classes whose time is governed by a byte rate fitted against bytes moved
MEMORY_CLASSES = (
    "elementwise",
    "norm",
    "reduction",
    "softmax",
    "pool",
    "upsample",
    "copy",
    "embedding",
)
#: memory curves of an op class that some of its ops run at instead of the class's
#: (:func:`memory_variant` says which). On a CPU thread: batch norm's training forward
#: computes the batch statistics in a pass of its own, ~10x slower per byte than with
#: running statistics; max pooling's backward scatters the gradients through the saved
#: indices 15-50x faster per byte than its forward compares the windows.
#: The pool forward curves (``pool`` and ``pool.*`` but the backward) are one *family*
#: (:data:`POOL_FAMILY`): each is timed on a window of its own, and a pooling op is
#: priced between the two whose comparisons per byte are nearest its own
#: (:meth:`EfficiencyModel.memory_rate`)
MEMORY_VARIANTS = (
    "norm.train",
    "reduction.short",
    "pool.backward",
    "pool.small",
    "pool.wide",
    "pool.wider",
    "avg_pool",
    "avg_pool.wide",
)
#: the max pools the pool family is timed on: (kernel, stride, padding). A CPU thread
#: compares every window element of every output in turn, so a pool's time per byte
#: grows with its comparisons per byte: 2x2 at stride 2 (VGG, U-Net: 4 per output, 1
#: per input) runs ~1.4x faster per byte than ResNet's 3x3 stride-2 stem pool (9 per
#: output, 2.25 per input), YOLOv5's SPPF 5x5 at stride 1 (25 per input) ~4x slower,
#: the 13x13 of YOLOv3/v5's SPP (169 per input) ~3x slower again
POOL_FAMILY: Mapping[str, tuple[int, int, int]] = {
    "pool.small": (2, 2, 0),
    "pool": (3, 2, 1),
    "pool.wide": (5, 1, 2),
    "pool.wider": (13, 1, 6),
}
#: average pools are a family of their own (``avg_pool``, ``avg_pool.*``): ATen sums a
#: window with vector adds and no indices, ~3x faster per byte on a CPU thread than a
#: max pool at the same taps per byte (priced on the max family, DenseNet's 2x2 and
#: Inception's 3x3 stride-1 average pools were +180..+220% in benchmarks/pool_latency.py)
AVG_POOL_FAMILY: Mapping[str, tuple[int, int, int]] = {
    "avg_pool": (2, 2, 0),
    "avg_pool.wide": (3, 1, 1),
}
#: the largest plane (side) the pool microbenchmarks run on: larger sizes add channels
POOL_PLANE = 112
#: reductions are a family too (``reduction``, ``reduction.short``), placed by the
#: rows they reduce per byte (:func:`~roofline.counting.formulas.reduced_rows`): a CPU
#: thread ends each row with a horizontal add and a store, ~3.5 ns on this project's
#: EPYC, so global average pooling's 49-element rows (a 7x7 map) run at half the bytes/s
#: of long rows (ResNet-50's and MobileNet's pooled heads were -49% at batch 32, priced
#: on long rows). ``reduction.short`` is timed on rows of this many elements
SHORT_ROW = 49
#: the aten ops (base names) priced on the average-pool family
AVG_POOL_OPS = ("avg_pool1d", "avg_pool2d", "avg_pool3d")
#: the widest pool runs ~170 comparisons per element: timed up to this many input
#: elements only (its curve is flat beyond its largest size, where it is compute-bound)
WIDER_POOL_MAX_ELEMS = 1 << 20


#: elementwise functions whose kernels run slower per byte than an add's (a CPU
#: evaluates transcendentals in software: on one thread of this project's EPYC, per
#: byte, silu and sigmoid ~1.5x an add's time, gelu ~3x, exp ~4x, erf and softplus
#: ~6x, gelu's tanh form ~8x, tanh ~14x): each has a curve of its own,
#: ``elementwise.<name>``, timed on the function itself on devices whose grid lists it
#: (``Grid.functions``: the CPU grids; a GPU runs them at memory speed). Per name: the
#: function and how many tensors it reads (the backward ops read the gradient and the
#: input)
ELEMENTWISE_FUNCTIONS: Mapping[str, tuple[Callable[..., torch.Tensor], int]] = {
    "silu": (F.silu, 1),
    "sigmoid": (torch.sigmoid, 1),
    "gelu": (F.gelu, 1),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), 1),
    "tanh": (torch.tanh, 1),
    "exp": (torch.exp, 1),
    "erf": (torch.erf, 1),
    "softplus": (F.softplus, 1),
    "mish": (F.mish, 1),
    "silu_backward": (torch.ops.aten.silu_backward, 2),
    "gelu_backward": (torch.ops.aten.gelu_backward, 2),
    "gelu_tanh_backward": (lambda g, x: torch.ops.aten.gelu_backward(g, x, approximate="tanh"), 2),
    "mish_backward": (torch.ops.aten.mish_backward, 2),
}


def family_work(op_class: str, vector_flops: float, dims: Mapping[str, int]) -> float:
    """What places an op of ``op_class`` in its class's family of memory curves
    (:meth:`EfficiencyModel.memory_rate`, per byte): a reduction's rows
    (``dims['rows']``, :data:`SHORT_ROW`), a pool's comparisons (its vector FLOPs)."""
    if op_class.split(".")[0] == "reduction":
        return float(dims.get("rows", 0))
    return vector_flops


def memory_variant(
    op_class: str, dims: Mapping[str, int], backward: bool = False, op: str = ""
) -> str | None:
    """The variant of :data:`MEMORY_VARIANTS` (or, by the aten op's name ``op``, of
    :data:`ELEMENTWISE_FUNCTIONS`) an op of ``op_class`` with ``dims`` (in a backward
    pass when ``backward``) runs at, or None for the class's curve (or family: a
    pool's forward)."""
    if op_class == "norm" and dims.get("training") and not backward:
        return "norm.train"
    if op_class == "pool" and backward:
        return "pool.backward"
    parts = op.split(".")
    name = (parts[1] if parts[0] == "aten" and len(parts) > 1 else parts[0]).rstrip("_")
    if op_class == "pool" and name in AVG_POOL_OPS:
        return "avg_pool"
    if op_class == "elementwise" and op:
        if name in ("gelu", "gelu_backward") and dims.get("tanh"):
            name = name.replace("gelu", "gelu_tanh")
        if name in ELEMENTWISE_FUNCTIONS:
            return f"elementwise.{name}"
    return None


#: version of what a calibration holds and how :mod:`roofline.latency.predict` reads it.
#: Bump it whenever the microbenchmark plan (the grids), the fitted terms or the way they
#: are measured change: a stored calibration of another format is stale
#: (:class:`StaleCalibrationError`) and is measured again instead of being read with
#: defaults for the terms it lacks. ``tests/latency/test_calibration_format.py`` fails
#: when the plan or the model's fields change and this number does not.
#: 2: per-class host issue costs, internal (C++) dispatch, the ``rnn`` class, convolution
#: backward fits, queue-timed CUDA microbenchmarks (2026-12-01)
#: 3: batch norm in training mode has its own memory curve (``norm.train``)
#: 4: and pooling's backward (``pool.backward``)
#: 5: one calibration per dtype (``dtype``; the microbenchmarks run at it)
#: 6: the pool curve measured on a 3x3 stride-2 max pool with indices (was 2x2)
#: 7: and wide windows' own (``pool.wide``, 5x5 at stride 1)
#: 8: the pool family: 2x2, 3x3, 5x5 and 13x13 windows, priced by comparisons per byte
#: (``memory_work``)
#: 9: elementwise functions' own curves on the CPU (``elementwise.silu``, ...)
#: 10: the pool family's work is the comparisons inside the input (padding clipped, as
#: the counter now counts a pool), not every window element: the padded pools' curves
#: sit at fewer comparisons per byte
#: 11: and the backward ops of GELU's tanh form and of mish
#: 12: average pools' own family (``avg_pool``: 2x2 stride 2, 3x3 stride 1)
#: 13: the pool families timed on feature maps of planes up to ``POOL_PLANE``² (more
#: channels as the size grows), not on one 16-channel image of ever larger planes
#: 14: the synthetic networks timed in interleaved rounds (``CONTEXT_ROUNDS``)
#: 15: reductions a family placed by rows per byte (``reduction.short``: rows of 49)
#: 16: the GEMMs and dense convolutions timed with cold weights (``COLD_BYTES``)
FORMAT_VERSION = 16

#: the dtypes a latency calibration can time, per device kind. CPUs run float16 on
#: ATen's reference kernels (a 1024³ GEMM at ~1 GFLOP/s on an AVX-512 EPYC, ~80x below
#: float32 and ~400x below bfloat16): a model in float16 is not what a CPU runs, and
#: the grid would take hours
CALIBRATION_DTYPES: Mapping[str, tuple[str, ...]] = {
    "cpu": ("float32", "bfloat16", "float64"),
    "gpu": ("float32", "bfloat16", "float16", "float64"),
}


def can_calibrate(kind: str, dtype: str) -> bool:
    """Whether a calibration on a device of ``kind`` ("cpu" or "gpu") can time kernels
    of ``dtype`` (a dtype name, ``"bfloat16"``): :data:`CALIBRATION_DTYPES`."""
    return dtype in CALIBRATION_DTYPES.get(kind, ())


def calibration_dtype(kind: str, dtype: str | torch.dtype) -> torch.dtype:
    """``dtype`` as a torch dtype if a calibration on a device of ``kind`` ("cpu" or
    "gpu") can time it (:data:`CALIBRATION_DTYPES`), else a :class:`MeasurementError`
    saying which it can."""
    dt = units.parse_dtype(dtype)
    if not can_calibrate(kind, units.dtype_name(dt)):
        allowed = CALIBRATION_DTYPES[kind]
        where = "the CPU" if kind == "cpu" else "a GPU"
        raise MeasurementError(
            f"a latency calibration on {where} cannot time {units.dtype_short(dt)} kernels: "
            f"use one of {', '.join(units.dtype_short(d) for d in allowed)}"
        )
    return dt


def _nosync() -> None:
    return None


# ------------------------------------------------------------------------------ fits


def monotone_times(
    nodes: Sequence[Sequence[float]], times: Sequence[float], categorical: Sequence[int] = ()
) -> list[float]:
    """``times`` (log times, one per node of a grid: ``nodes`` are their coordinates)
    made non-decreasing in every axis but the ``categorical`` ones (whose slices are
    kept apart), without letting one fast outlier lower the nodes below it.

    A node *contradicts* a larger one (at least as large in every size axis, same
    categorical slice) that took less time.

    1. A node that two or more smaller nodes contradict, each of them contradicting
       no other node, is a fast outlier (a cache left warm, a timer glitch): those
       smaller nodes agree with everything else. It is raised to the greatest time of
       the smaller nodes that contradict nothing but it.
    2. Every node then takes the least time of the nodes at least as large (itself
       included), which makes the result monotone: a smaller node slower than a larger
       one (interference, as :func:`curve_from_samples` assumes of the memory curves)
       is capped at the larger's time.

    So a fast outlier lowers none of the smaller nodes that only it contradicts,
    unless it is the only one they contradict (then that one node, at most by the
    outlier's own error); times that already grow are kept exactly."""
    if not times:
        return []
    p = torch.tensor([list(n) for n in nodes], dtype=torch.float64)
    t = torch.tensor(list(times), dtype=torch.float64)
    cat = [i for i in range(p.shape[1]) if i in categorical]
    sizes = [i for i in range(p.shape[1]) if i not in categorical]
    # ge[i, j]: node j at least as large as node i in every size axis, same slice
    ge = (p[None, :, sizes] >= p[:, None, sizes]).all(-1)
    ge &= (p[None, :, cat] == p[:, None, cat]).all(-1)
    # against[i, j]: node i contradicts node j (j larger, less time)
    against = ge & (t[None, :] < t[:, None])
    count = against.sum(1)
    # alone[i, j]: j is the only node i contradicts
    alone = against & (count == 1)[:, None]
    fast = alone.sum(0) >= 2
    # the smaller nodes that contradict nothing but j: j's floor
    agree = ge.T & ((count == 0)[None, :] | alone.T)
    floor = torch.where(agree, t[None, :], -math.inf).max(1).values
    u = torch.where(fast, torch.maximum(t, floor), t)
    return torch.where(ge, u[None, :], math.inf).min(1).values.tolist()


@dataclass(frozen=True)
class GridFit:
    """Rates measured at points of a log2-size grid, interpolated so that the predicted
    time never falls as an op grows. ``rates`` are in FLOP/s (matrix classes) or B/s;
    ``points`` are log2 sizes whose work is proportional to the product of the sizes
    (``2^sum(x)``: a GEMM's ``2·m·n·k``, a convolution's ``2·M·N·K``), except along the
    ``categorical`` axes (a convolution's 1×1-or-not, a depthwise kernel's strided-or-not:
    :data:`CATEGORICAL_AXES`), which name a code path, not a size.

    The fit (:meth:`rate`) is built once from the points, on the product grid of the
    coordinates measured along each axis:

    1. a node that was measured takes its log(time), log(work) − log(rate) (the time up
       to the constant of work's units); several points at one node, the median;
    2. the measured nodes are made monotone (:func:`monotone_times`): each takes the
       least time of the measured nodes at least as large in every size axis (in the
       same categorical slice), so a smaller size that was slower than a larger one
       (interference, as :func:`curve_from_samples` assumes of the memory curves) is
       capped at the larger's time; but first a fast outlier, a node that two or more
       smaller nodes contradict (took longer) while agreeing with every other node, is
       raised to the greatest of their times, so that one measurement too fast does
       not pull down the nodes below it; a grid whose times already grow is kept
       exactly;
    3. a node not measured (a GEMM above ``Grid.max_flops``, most of the scattered
       convolution shapes' product grid) takes the inverse-distance weighting of log(rate)
       of its ``k`` nearest measured points (the fit before 2026-12-04:
       :meth:`idw_rate`), clamped between the times of the measured nodes below and
       above it, and then the least time of the nodes above it;
    4. a query interpolates log(time) multilinearly in log2(size) between the ``2^d``
       nodes around it; outside the grid each coordinate is clamped to the measured
       range, i.e. the rate is that of the nearest face (flat rate, time ∝ work), as
       the inverse-distance fit extrapolated too (its nearest points all lie on that
       face's side). Sizes below 1 count as 1.

    Multilinear interpolation of node values that grow along an axis grows along it,
    and a flat rate beyond the grid makes time grow with work: the predicted time is
    non-decreasing in every size axis."""

    points: tuple[tuple[float, ...], ...]
    rates: tuple[float, ...]
    k: int = 6
    #: axes that name a code path (not stored: given by the op class, CATEGORICAL_AXES)
    categorical: tuple[int, ...] = field(default=(), compare=False)

    def idw_rate(self, x: Sequence[float]) -> float:
        """The inverse-distance weighting of log(rate) of the ``k`` nearest points (used
        for the nodes that were not measured; the whole fit before 2026-12-04)."""
        if not self.points:
            raise MeasurementError("empty calibration fit")
        q = [math.log2(max(v, 1.0)) for v in x]
        return self._idw(q)

    def _idw(self, q: Sequence[float]) -> float:
        dists = []
        for p, r in zip(self.points, self.rates, strict=True):
            d = math.sqrt(sum((a - b) ** 2 for a, b in zip(p, q, strict=False)))
            dists.append((d, r))
        dists.sort(key=lambda t: t[0])
        near = dists[: self.k]
        if near[0][0] < 1e-9:
            return near[0][1]
        w = [1.0 / (d * d) for d, _ in near]
        return math.exp(sum(wi * math.log(r) for wi, (_, r) in zip(w, near, strict=True)) / sum(w))

    def _work(self, q: Sequence[float]) -> float:
        """log(work) of log2 size ``q``, up to a constant: ln 2 · the size axes' sum."""
        return math.log(2.0) * sum(v for i, v in enumerate(q) if i not in self.categorical)

    @functools.cached_property
    def _nodes(self) -> tuple[tuple[tuple[float, ...], ...], list[float]]:
        """(axis coordinates, log(rate) at every node of their product, row-major)."""
        dims = len(self.points[0])
        axes = tuple(tuple(sorted({p[i] for p in self.points})) for i in range(dims))
        shape = [len(a) for a in axes]
        index = [{v: j for j, v in enumerate(a)} for a in axes]
        strides = [math.prod(shape[i + 1 :]) for i in range(dims)]
        size = math.prod(shape)
        measured: dict[int, list[float]] = {}
        for p, r in zip(self.points, self.rates, strict=True):
            flat = sum(index[i][v] * strides[i] for i, v in enumerate(p))
            measured.setdefault(flat, []).append(self._work(p) - math.log(r))
        size_axes = [i for i in range(dims) if i not in self.categorical and shape[i] > 1]
        inf = math.inf

        def sweep(vals: list[float], lower: bool) -> list[float]:
            # the max over the nodes below (lower) or the min over the nodes above each
            # node, in the size axes: a running max / min along each axis in turn
            out = list(vals)
            for ax in size_axes:
                st, n = strides[ax], shape[ax]
                for flat in range(size):
                    j = (flat // st) % n
                    if lower and j > 0:
                        out[flat] = max(out[flat], out[flat - st])
                    elif not lower and j == 0:
                        for jj in range(n - 2, -1, -1):
                            f = flat + jj * st
                            out[f] = min(out[f], out[f + st])
            return out

        median = {f: statistics.median(v) for f, v in measured.items()}
        coords = [
            [axes[i][(flat // strides[i]) % shape[i]] for i in range(dims)] for flat in range(size)
        ]
        # step 2: made monotone, a fast outlier raised first
        flats = sorted(median)
        mono = dict(
            zip(
                flats,
                monotone_times(
                    [coords[f] for f in flats], [median[f] for f in flats], self.categorical
                ),
                strict=True,
            )
        )
        below = sweep([mono.get(f, -inf) for f in range(size)], lower=True)
        upper = sweep([mono.get(f, inf) for f in range(size)], lower=False)
        missing = [flat for flat in range(size) if flat not in mono]
        fill = dict(zip(missing, self._idw_many([coords[f] for f in missing]), strict=True))
        times = []
        for flat in range(size):
            if flat in mono:
                times.append(mono[flat])
                continue
            t = self._work(coords[flat]) - fill[flat]
            times.append(min(max(t, below[flat]), upper[flat]))
        times = sweep(times, lower=False)
        log_rates = [self._work(coords[f]) - times[f] for f in range(size)]
        return axes, log_rates

    def _idw_many(self, qs: Sequence[Sequence[float]]) -> list[float]:
        """log(:meth:`_idw`) at many log2 sizes (none of them a point), vectorized."""
        if not qs:
            return []
        pts = torch.tensor(self.points, dtype=torch.float64)
        d2 = torch.cdist(torch.tensor(qs, dtype=torch.float64), pts).square()
        near, idx = d2.topk(min(self.k, len(self.points)), dim=1, largest=False)
        w = 1.0 / near
        logs = torch.tensor(self.rates, dtype=torch.float64).log()[idx]
        return ((w * logs).sum(1) / w.sum(1)).tolist()

    def rate(self, x: Sequence[float]) -> float:
        if not self.points:
            raise MeasurementError("empty calibration fit")
        axes, log_rates = self._nodes
        q = [math.log2(max(v, 1.0)) for v in x]
        # per axis: the two nodes around the (clamped) coordinate and the weight of the
        # upper one; log(time) = log(work) - log(rate) and log(work) is linear in q, so
        # interpolating log(rate) multilinearly is interpolating log(time)
        around = []
        for a, v in zip(axes, q, strict=False):
            v = min(max(v, a[0]), a[-1])
            j = min(bisect.bisect_right(a, v), len(a) - 1)
            i = max(j - 1, 0)
            w = (v - a[i]) / (a[j] - a[i]) if a[j] > a[i] else 0.0
            around.append(((i, 1.0 - w), (j, w)))
        shape = [len(a) for a in axes]
        total = 0.0
        for corner in itertools.product(*around):
            weight = math.prod(w for _, w in corner)
            if weight == 0.0:
                continue
            flat = 0
            for (j, _), n in zip(corner, shape, strict=True):
                flat = flat * n + j
            total += weight * log_rates[flat]
        return math.exp(total)

    def as_dict(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self.points], "rates": list(self.rates), "k": self.k}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], categorical: tuple[int, ...] = ()) -> GridFit:
        return cls(
            tuple(tuple(float(v) for v in p) for p in d["points"]),
            tuple(float(r) for r in d["rates"]),
            int(d.get("k", 6)),
            categorical,
        )


@dataclass(frozen=True)
class CurveFit:
    """Rate against one size (bytes): piecewise linear in log-log, flat beyond the ends."""

    sizes: tuple[float, ...]
    rates: tuple[float, ...]

    def rate(self, size: float) -> float:
        if not self.sizes:
            raise MeasurementError("empty calibration curve")
        x = math.log(max(size, 1.0))
        xs = [math.log(s) for s in self.sizes]
        ys = [math.log(r) for r in self.rates]
        if x <= xs[0]:
            return self.rates[0]
        if x >= xs[-1]:
            return self.rates[-1]
        for i in range(1, len(xs)):
            if x <= xs[i]:
                f = (x - xs[i - 1]) / (xs[i] - xs[i - 1]) if xs[i] > xs[i - 1] else 0.0
                return math.exp(ys[i - 1] + f * (ys[i] - ys[i - 1]))
        return self.rates[-1]  # pragma: no cover

    def as_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "rates": list(self.rates)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CurveFit:
        return cls(tuple(float(s) for s in d["sizes"]), tuple(float(r) for r in d["rates"]))


#: the axes of a matrix class's size (:func:`op_size`) that name a code path, not a size
#: (a convolution's kernel 1x1 or larger, a depthwise kernel's stride 1 or larger): the
#: :class:`GridFit` keeps their slices apart and does not make time grow along them.
#: A backward fit (``conv.backward``) has its class's axes
CATEGORICAL_AXES: Mapping[str, tuple[int, ...]] = {"conv": (3,), "depthwise_conv": (3,)}


def categorical_axes(key: str) -> tuple[int, ...]:
    """:data:`CATEGORICAL_AXES` of a matrix fit's key (``conv``, ``conv.backward``)."""
    return tuple(CATEGORICAL_AXES.get(key.split(".")[0], ()))


def grid_from_samples(
    points: Sequence[tuple[float, ...]], rates: Sequence[float], key: str = ""
) -> GridFit:
    """A :class:`GridFit` of the points whose rate was measured (a failed
    microbenchmark's rate is NaN, :attr:`Bench.skip_failures`: left out), with the
    categorical axes of the fit ``key`` (:func:`categorical_axes`)."""
    kept = [(p, r) for p, r in zip(points, rates, strict=True) if math.isfinite(r) and r > 0]
    return GridFit(
        tuple(p for p, _ in kept), tuple(r for _, r in kept), categorical=categorical_axes(key)
    )


def curve_from_samples(samples: Sequence[tuple[float, float]]) -> CurveFit:
    """A curve from (bytes, rate) samples: sorted, duplicates merged, and the time
    ``bytes / rate`` made non-decreasing in bytes (moving more bytes never takes less
    time; a small size that was slower than a larger one was interference)."""
    by: dict[float, list[float]] = {}
    for s, r in samples:
        if r > 0:
            by.setdefault(float(s), []).append(r)
    sizes = sorted(by)
    times = [s / statistics.median(by[s]) for s in sizes]
    for i in range(len(times) - 2, -1, -1):
        times[i] = min(times[i], times[i + 1])
    return CurveFit(tuple(sizes), tuple(s / t for s, t in zip(sizes, times, strict=True)))


@dataclass(frozen=True)
class CostCurve:
    """Seconds per byte against a size in bytes: linear in log(size) between samples,
    the last value beyond them, and nothing below the smallest (small allocations come
    from memory the allocator keeps). Used for the cost of a freshly allocated output."""

    sizes: tuple[float, ...] = ()
    per_byte_s: tuple[float, ...] = ()

    def seconds(self, nbytes: float) -> float:
        if not self.sizes or nbytes <= 0:
            return 0.0
        x = math.log(max(nbytes, 1.0))
        xs = [math.log(s) for s in self.sizes]
        if x < xs[0]:
            # below the smallest size measured the allocator reuses its heap: no cost
            return 0.0
        if x == xs[0]:
            c = self.per_byte_s[0]
        elif x >= xs[-1]:
            c = self.per_byte_s[-1]
        else:
            i = next(j for j in range(1, len(xs)) if x <= xs[j])
            w = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
            c = self.per_byte_s[i - 1] + w * (self.per_byte_s[i] - self.per_byte_s[i - 1])
        return max(c, 0.0) * nbytes

    def as_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "per_byte_s": list(self.per_byte_s)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostCurve:
        return cls(
            tuple(float(v) for v in d.get("sizes", ())),
            tuple(float(v) for v in d.get("per_byte_s", ())),
        )


def cost_curve_from_samples(samples: Sequence[tuple[float, float]]) -> CostCurve:
    """A curve from (bytes, seconds) samples of an extra cost: negative differences
    (noise) become 0, and the cost is made non-decreasing in bytes."""
    pts = sorted((float(b), max(float(t), 0.0)) for b, t in samples if b > 0)
    times = [t for _, t in pts]
    for i in range(len(times) - 2, -1, -1):
        times[i] = min(times[i], times[i + 1])
    return CostCurve(
        tuple(b for b, _ in pts), tuple(t / b for (b, _), t in zip(pts, times, strict=True))
    )


def family_rate(
    family: Sequence[tuple[float, CurveFit]], nbytes: float, work_per_byte: float
) -> float:
    """Bytes/s at ``nbytes`` of a kernel doing ``work_per_byte`` (its family's
    coordinate, :func:`family_work`: a pool's comparisons, a reduction's rows) per byte,
    from curves measured at other works per byte ((work per byte, curve), sorted; one
    curve is that curve): time per byte linear in work per byte between the two nearest
    curves, extended along the last segment beyond the heaviest but never below the
    heaviest's time per byte (more work per byte never runs faster: a last segment
    sloping down is noise, as on a GPU, where every curve runs near memory speed), and
    flat below the lightest."""
    works = [w for w, _ in family]
    per_byte = [1.0 / fit.rate(nbytes) for _, fit in family]
    if len(family) == 1 or work_per_byte <= works[0]:
        return 1.0 / per_byte[0]
    i = next((j for j in range(1, len(works)) if work_per_byte <= works[j]), len(works) - 1)
    span = works[i] - works[i - 1]
    slope = (per_byte[i] - per_byte[i - 1]) / span if span > 0 else 0.0
    if work_per_byte > works[-1]:
        slope = max(slope, 0.0)
    return 1.0 / (per_byte[i] + slope * (work_per_byte - works[i]))


@dataclass(frozen=True)
class EfficiencyModel:
    """The fitted latency model of one device (see the module docstring)."""

    device: str  #: "cpu" or the GPU's database key
    kind: str  #: "cpu" | "gpu"
    launch_overhead_s: float  #: per aten op (CPU dispatch / CUDA launch)
    module_overhead_s: float  #: per nn.Module call
    matrix: Mapping[str, GridFit]
    memory: Mapping[str, CurveFit]
    #: True on CUDA: the host issues kernels asynchronously, so an op costs
    #: max(kernel time, issue time) rather than their sum
    async_launch: bool = False
    #: measured / predicted kernel time on synthetic networks (see :func:`fit_context`):
    #: what running inside a network (cold caches, fresh activations) costs over
    #: running one op in a hot loop
    context_factor: float = 1.0
    #: the same for memory-bound op classes (elementwise, norm, ...)
    memory_context_factor: float = 1.0
    #: extra time per op inside a network, over the hot-loop dispatch cost (CPU: Python
    #: module code around each op, cold instruction and weight caches); fitted with the
    #: factors on the synthetic networks
    network_op_overhead_s: float = 0.0
    #: what a freshly allocated output costs over writing into reused memory, by its
    #: size (CPU: allocations beyond the C allocator's mmap threshold get new pages
    #: that fault on first touch; CUDA: ~0 behind the caching allocator)
    fresh: CostCurve = field(default_factory=CostCurve)
    #: CUDA: the host's time to issue one op of each class (Python binding, dispatcher,
    #: library set-up such as cuDNN's plan lookup, the launch itself), measured while
    #: the GPU is busy so that only the host's share is timed; a class without an entry
    #: costs ``launch_overhead_s``. Empty on the CPU, where issuing and running are serial
    host_s: Mapping[str, float] = field(default_factory=dict)
    #: per op issued by C++ inside another op rather than from Python (a GRU or plain
    #: RNN on the CPU loops over time steps in ``aten::gru``, ~22 aten ops per step,
    #: with no Python in between; the kernels after the first of a fused fast path):
    #: measured on a tiny ``nn.GRU``; 0 = not measured
    internal_op_s: float = 0.0
    threads: int = 1
    #: the dtype every microbenchmark and synthetic network ran at: the fit prices
    #: models of that dtype only (one calibration per dtype, :data:`CALIBRATION_DTYPES`)
    dtype: str = "float32"
    measured_at: str = ""
    torch_version: str = ""
    quick: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)
    #: work per byte of the microbenchmark behind each memory curve of a family (the
    #: pool curves: comparisons per byte moved, :data:`POOL_FAMILY`; the reduction
    #: curves: rows per byte, :data:`SHORT_ROW`; :func:`family_work`); an op of the
    #: family's class is priced between the curves nearest its own (:meth:`memory_rate`)
    memory_work: Mapping[str, float] = field(default_factory=dict)

    def compute_rate(self, op_class: str, size: Sequence[float]) -> float | None:
        fit = self.matrix.get(op_class)
        return fit.rate(size) if fit else None

    def host_cost(self, op_class: str) -> float:
        """Seconds the host spends issuing one op of ``op_class`` (``rnn``: per time
        step, see :func:`host_units`)."""
        return self.host_s.get(op_class, self.launch_overhead_s)

    def memory_family(self, op_class: str) -> tuple[tuple[float, CurveFit], ...]:
        """The curves of ``op_class``'s family (``op_class`` and its ``op_class.*``
        variants that have a :attr:`memory_work`), as (work per byte, curve) sorted by
        work per byte; empty when the class has no family."""
        members = [
            (float(w), self.memory[k])
            for k, w in self.memory_work.items()
            if (k == op_class or k.startswith(op_class + ".")) and k in self.memory and w > 0
        ]
        return tuple(sorted(members, key=lambda m: m[0]))

    def memory_rate(self, op_class: str, nbytes: float, work: float = 0.0) -> float:
        """Bytes/s of a memory-bound kernel of ``op_class`` moving ``nbytes``. With
        ``work`` (its family's coordinate, :func:`family_work`: a pool's vector FLOPs,
        a reduction's rows) and a family of curves for the class
        (:meth:`memory_family`), the time per byte is interpolated linearly in work per
        byte between the two nearest curves (each at ``nbytes``): time = bytes / bandwidth
        + work / work rate, the two-term cost of a kernel that streams its bytes and
        spends a fixed time per operation, fitted piecewise (:func:`family_rate`). An op
        without ``work`` runs on the class's own curve; where that curve is missing (it
        failed at every size on the GPU) the family prices it all the same, from the
        curves that remain."""
        family = self.memory_family(op_class) if nbytes > 0 else ()
        if family and (work > 0 or op_class not in self.memory):
            return family_rate(family, nbytes, work / nbytes)
        fit = self.memory.get(op_class) or self.memory.get("elementwise")
        if fit is None:
            raise MeasurementError("calibration has no memory curve")
        return fit.rate(nbytes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "device": self.device,
            "kind": self.kind,
            "launch_overhead_s": self.launch_overhead_s,
            "module_overhead_s": self.module_overhead_s,
            "async_launch": self.async_launch,
            "context_factor": self.context_factor,
            "memory_context_factor": self.memory_context_factor,
            "network_op_overhead_s": self.network_op_overhead_s,
            "fresh": self.fresh.as_dict(),
            "host_s": dict(self.host_s),
            "internal_op_s": self.internal_op_s,
            "threads": self.threads,
            "dtype": self.dtype,
            "measured_at": self.measured_at,
            "torch_version": self.torch_version,
            "quick": self.quick,
            "info": dict(self.info),
            "matrix": {k: v.as_dict() for k, v in self.matrix.items()},
            "memory": {k: v.as_dict() for k, v in self.memory.items()},
            "memory_work": dict(self.memory_work),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EfficiencyModel:
        try:
            fmt = int(d.get("format", 0))
        except (TypeError, ValueError):
            fmt = -1
        if fmt != FORMAT_VERSION:
            age = "an older" if fmt < FORMAT_VERSION else "a newer"
            raise StaleCalibrationError(
                f"the stored latency calibration was made by {age} version of roofline "
                f"(format {fmt}, this one reads {FORMAT_VERSION})"
            )
        try:
            return cls(
                device=str(d["device"]),
                kind=str(d["kind"]),
                launch_overhead_s=float(d["launch_overhead_s"]),
                module_overhead_s=float(d["module_overhead_s"]),
                matrix={
                    k: GridFit.from_dict(v, categorical_axes(k)) for k, v in d["matrix"].items()
                },
                memory={k: CurveFit.from_dict(v) for k, v in d["memory"].items()},
                memory_work={str(k): float(v) for k, v in d.get("memory_work", {}).items()},
                async_launch=bool(d.get("async_launch", False)),
                context_factor=float(d.get("context_factor", 1.0)),
                memory_context_factor=float(d.get("memory_context_factor", 1.0)),
                network_op_overhead_s=float(d.get("network_op_overhead_s", 0.0)),
                fresh=CostCurve.from_dict(d.get("fresh", {})),
                host_s={str(k): float(v) for k, v in d.get("host_s", {}).items()},
                internal_op_s=float(d.get("internal_op_s", 0.0)),
                threads=int(d.get("threads", 1)),
                dtype=str(d.get("dtype", "float32")),
                measured_at=str(d.get("measured_at", "")),
                torch_version=str(d.get("torch_version", "")),
                quick=bool(d.get("quick", False)),
                info=dict(d.get("info", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MeasurementError(
                f"stored latency calibration is malformed or from another version ({exc}); "
                "run `roofline calibrate` again"
            ) from None


# ---------------------------------------------------------------------- sizes of ops


def _rnn_steps(dims: Mapping[str, int]) -> int:
    """Time steps of a fused recurrent op: all its rows over the rows of one step."""
    b = max(1, dims.get("batch", 1))
    return max(1, dims.get("m", b) // b)


def host_units(op_class: str, dims: Mapping[str, int]) -> int:
    """How many times an op's issue cost is paid: once, or per time step for a fused
    recurrent layer (cuDNN launches its kernels step by step)."""
    if op_class == "rnn" and "m" in dims:
        return _rnn_steps(dims)
    return 1


def op_size(op_class: str, dims: Mapping[str, int], flops: float) -> tuple[float, ...]:
    """The grid coordinates of an op (see the module docstring)."""
    if op_class == "gemm" and {"m", "n", "k"} <= set(dims):
        return (dims["m"] * dims.get("b", 1), dims["n"], dims["k"])
    if op_class == "gemm" and {"m", "k"} <= set(dims):  # matrix-vector
        return (1, dims["m"], dims["k"])
    if op_class in ("conv", "depthwise_conv") and "c_out" in dims:
        n = dims.get("n", 1)
        spatial = dims.get("out_spatial", 1)
        groups = max(dims.get("groups", 1), 1)
        kernel = dims.get("kernel", 1)
        if op_class == "depthwise_conv":
            # strided depthwise kernels take slower code paths: a separate axis (older
            # profiles without a stride: a smaller output than input)
            if "stride" in dims:
                strided = dims["stride"] > 1
            else:
                strided = dims.get("in_spatial", spatial) > spatial
            return (n * spatial, dims["c_out"], kernel, 8.0 if strided else 1.0)
        k = dims.get("c_in", 1) // groups * kernel
        # 1x1 vs larger kernels take different code paths: a separate axis (2^3 apart)
        return (n * spatial, dims["c_out"] // groups * 1, k, 8.0 if kernel > 1 else 1.0)
    if op_class == "attention" and {"batch", "lq", "lk", "e"} <= set(dims):
        return (dims["batch"], dims["lq"], dims["lk"], dims["e"])
    if op_class == "rnn" and {"n", "k"} <= set(dims):
        # time steps: a fused recurrent call has a fixed cost (the library's set-up)
        # on top of its per-step cost, so the rate rises with the steps
        return (dims.get("batch", 1), dims["n"], dims["k"], _rnn_steps(dims))
    # unknown dims: a square GEMM of the same work
    side = max(1.0, (flops / 2.0) ** (1 / 3))
    # as many coordinates as the class's grid has axes (a GridFit needs them all)
    if op_class in ("conv", "depthwise_conv"):
        return (side, side, side, 1.0)  # unstrided / 1x1-or-not axis at its first value
    if op_class == "attention":
        return (1.0, side, side, 64.0)
    if op_class == "rnn":
        return (1.0, side, side, 1.0)  # batch 1, one step
    return (side, side, side)


# ---------------------------------------------------------------------- measurement


def _median_time(
    fn: Callable[[], object],
    repeat: int,
    sync: Sync,
    target_s: float = 2e-3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per call: the lower quartile of ``repeat`` samples (robust to the
    interference of other processes, which only ever adds time); tiny ops run in an
    inner loop of about ``target_s``."""
    fn()
    sync()
    t0 = clock()
    fn()
    sync()
    once = max(clock() - t0, 1e-7)
    inner = max(1, min(1000, int(target_s / once)))
    samples = []
    with gc_paused():
        for _ in range(max(1, repeat)):
            sync()
            t0 = clock()
            for _ in range(inner):
                fn()
            sync()
            samples.append((clock() - t0) / inner)
    samples.sort()
    return samples[(len(samples) - 1) // 4]


class GpuEvent(Protocol):
    """What :class:`QueueTimer` needs of a CUDA event (``torch.cuda.Event``)."""

    def record(self) -> None: ...

    def elapsed_time(self, end: Any) -> float: ...  #: milliseconds


@dataclass
class QueueTimer:
    """The GPU's time for an op, and the host's time to issue it, measured apart.

    A loop of small kernels timed by the wall clock measures whichever is slower, the
    host issuing them or the GPU running them. Here a busy-wait kernel (``sleep``)
    holds the GPU while the host enqueues ``inner`` calls, so the CUDA events around
    them time the GPU alone, with the launch queue full (as in a GPU-bound network),
    and the host clock around the loop times the host alone. The busy-wait is made to
    outlast the enqueueing (checked on every sample against how long it really held
    the GPU, by an event before it; doubled and retried when the host was slower), so
    the GPU never idles between the events.
    """

    sleep: Callable[[float], None]  #: enqueue a GPU busy-wait of about this many seconds
    event: Callable[[], GpuEvent]  #: a new timing event
    sync: Sync
    clock: Callable[[], float] = time.perf_counter
    #: calls per sample at most (well under the ~1000 launches a CUDA queue holds)
    inner_max: int = 200
    target_s: float = 2e-3
    #: requested busy-wait / wanted: raised when a busy-wait held the GPU for less than
    #: asked (its cycles were converted to seconds at a lower clock)
    _stretch: float = 1.0

    def time(self, fn: Callable[[], object], repeat: int) -> tuple[float, float]:
        """(GPU seconds per call: lower quartile, host seconds per call: median)."""
        fn()
        self.sync()
        t0 = self.clock()
        fn()
        issue = self.clock() - t0
        self.sync()
        once = max(self.clock() - t0, 1e-7)
        inner = max(1, min(self.inner_max, int(self.target_s / once)))
        cover = 2.0 * inner * max(issue, 1e-6) + 2e-4
        gpu: list[float] = []
        host: list[float] = []
        with gc_paused():
            for _ in range(max(1, repeat)):
                for attempt in range(4):
                    self.sync()
                    before, start, end = self.event(), self.event(), self.event()
                    ts = self.clock()
                    before.record()
                    self.sleep(cover * self._stretch)
                    start.record()
                    th = self.clock()
                    for _ in range(inner):
                        fn()
                    te = self.clock()
                    end.record()
                    self.sync()
                    # how long the busy-wait really held the GPU (its clock may have
                    # changed since it was converted to seconds): the host must have
                    # issued everything before it ended
                    held = before.elapsed_time(start) / 1e3
                    if 0 < held < cover:
                        self._stretch = min(64.0, self._stretch * cover / held)
                    if te - ts < held or attempt == 3:
                        break
                    cover = 2.0 * (te - ts)
                gpu.append(start.elapsed_time(end) / 1e3 / inner)
                host.append((te - th) / inner)
        gpu.sort()
        return gpu[(len(gpu) - 1) // 4], statistics.median(host)


def warm_up_gpu(dev: torch.device, sync: Sync, seconds: float = 0.5) -> None:
    """Run GEMMs on ``dev`` for about ``seconds`` (clocks ramp up under load)."""
    a = torch.randn(2048, 2048, device=dev)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(8):
            a = torch.mm(a, a).clamp_(-1.0, 1.0)
        sync()


def cuda_queue_timer(dev: torch.device, sync: Sync) -> QueueTimer:
    """A :class:`QueueTimer` on a CUDA device: ``torch.cuda._sleep`` (a spin of N GPU
    clock cycles) converted to seconds by timing it with events once."""
    with torch.cuda.device(dev):

        def event() -> GpuEvent:
            return torch.cuda.Event(enable_timing=True)  # type: ignore[return-value]

        spin = getattr(torch.cuda, "_sleep", None)
        if spin is None:  # pragma: no cover - every CUDA build since 1.x has it
            return QueueTimer(lambda _s: None, event, sync)
        cycles = 2_000_000
        per_s = 0.0
        for _ in range(3):
            a, b = event(), event()
            a.record()
            spin(cycles)
            b.record()
            sync()
            per_s = max(per_s, cycles / max(a.elapsed_time(b) / 1e3, 1e-9))
    return QueueTimer(lambda s: spin(max(1, int(s * per_s))), event, sync)


@dataclass
class Bench:
    """How a microbenchmark's kernel time is obtained.

    CPU (no ``queue``): issuing and running are serial, so the kernel time is the
    loop time (:func:`_median_time`) minus the per-op overhead the prediction adds
    back. CUDA (``queue``): the GPU time from :class:`QueueTimer`; the host's issue
    time of each call is collected per op class (:attr:`host`) for
    ``EfficiencyModel.host_s``. Both subtract the fresh-output cost of the result,
    which the prediction also adds back, and never let the subtraction eat more than
    90% of a sample (rates stay finite).
    """

    repeat: int
    sync: Sync = _nosync
    launch: float = 0.0
    fresh: CostCurve = field(default_factory=CostCurve)
    queue: QueueTimer | None = None
    host: dict[str, list[float]] = field(default_factory=dict)
    #: a kernel that raises (out of memory, an op this GPU or torch build lacks at the
    #: dtype) loses its grid point, said on ``say``, instead of the whole calibration:
    #: True on CUDA, whose kernels the CPU tests cannot run; the CPU's errors propagate
    skip_failures: bool = False
    say: Progress | None = None

    def raw(
        self, fn: Callable[[], object], op_class: str | None = None, host_units: int = 1
    ) -> float:
        """Seconds per call: the loop time (CPU) or the GPU time (CUDA). The host's
        issue time is recorded per ``host_units`` (a fused recurrent call issues its
        kernels step by step: per step). NaN for a kernel that failed (``skip_failures``)."""
        try:
            if self.queue is None:
                return _median_time(fn, self.repeat, self.sync)
            gpu, host = self.queue.time(fn, self.repeat)
        except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one
            if not self.skip_failures:
                raise
            if self.say:
                what = op_class or "a kernel"
                self.say(f"{what}: one size failed ({first_line(exc)[:160]}), left out")
            gpu = math.nan
        if math.isnan(gpu):
            # out of the handler, the failed call's traceback (and the tensors its frames
            # held) is gone: hand the memory back before the next size
            gc.collect()
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()
            return gpu
        if op_class:
            self.host.setdefault(op_class, []).append(host / max(1, host_units))
        return gpu

    def kernel(
        self, fn: Callable[[], object], op_class: str, out_bytes: float, host_units: int = 1
    ) -> float:
        """Seconds of kernel work per call, net of what the prediction adds back (NaN
        for a kernel that failed: the fits leave its point out)."""
        t = self.raw(fn, op_class, host_units)
        if math.isnan(t):
            return t
        overhead = self.fresh.seconds(out_bytes) + (0.0 if self.queue else self.launch)
        return max(t - overhead, 0.1 * t, 1e-9)

    def host_costs(self) -> dict[str, float]:
        """Median issue time per op class (CUDA), for ``EfficiencyModel.host_s``."""
        return {k: statistics.median(v) for k, v in sorted(self.host.items()) if v}


@dataclass(frozen=True)
class Grid:
    """The microbenchmark sizes (quick mode runs a subset)."""

    gemm_m: tuple[int, ...]
    gemm_nk: tuple[int, ...]
    conv_c: tuple[int, ...]
    conv_hw: tuple[int, ...]
    conv_n: tuple[int, ...]
    dw_c: tuple[int, ...]
    dw_hw: tuple[int, ...]
    attn_l: tuple[int, ...]
    attn_bh: tuple[int, ...]
    mem_elems: tuple[int, ...]
    max_flops: float
    repeat: int
    #: squeeze-excitation convolutions (1x1 on a 1x1 map): channels and batch sizes
    se_c: tuple[int, ...] = ()
    se_n: tuple[int, ...] = ()
    #: output sizes (elements) at which the cost of a fresh output allocation is measured
    fresh_elems: tuple[int, ...] = ()
    #: large batch sizes, measured on a few inverted-residual shapes only (1x1 expand
    #: and project convolutions, depthwise), where activations leave the caches
    big_n: tuple[int, ...] = ()
    big_c: tuple[int, ...] = ()
    big_hw: tuple[int, ...] = ()
    #: stem convolutions (3 input channels, stride 2): (input size, c_out, kernel)
    stems: tuple[tuple[int, int, int], ...] = ()
    #: fused recurrent layers: batch sizes, hidden sizes (input = hidden), time steps
    rnn_b: tuple[int, ...] = ()
    rnn_h: tuple[int, ...] = ()
    rnn_t: tuple[int, ...] = (8, 64, 256)
    #: convolution backward (training) measured at every Nth conv and depthwise shape;
    #: 0: not measured (the forward rate stands in)
    backward_every: int = 0
    #: the functions of :data:`ELEMENTWISE_FUNCTIONS` timed on their own curves
    functions: tuple[str, ...] = ()


CPU_FULL = Grid(
    gemm_m=(1, 8, 64, 256, 1024, 4096),
    gemm_nk=(64, 256, 768, 2048),
    conv_c=(16, 48, 128, 384),
    conv_hw=(7, 14, 28, 56, 112),
    conv_n=(1, 8),
    dw_c=(16, 64, 240, 960),
    dw_hw=(7, 14, 28, 56, 112),
    attn_l=(64, 197, 512),
    attn_bh=(4, 32),
    mem_elems=tuple(4**i for i in range(5, 14)),
    max_flops=1.2e10,
    repeat=5,
    se_c=(16, 64, 240, 960),
    se_n=(1, 8, 32),
    fresh_elems=tuple(2**i for i in range(18, 27)),
    big_n=(32,),
    big_c=(16, 64),
    big_hw=(28, 56, 112),
    stems=((224, 32, 3), (224, 64, 7), (320, 16, 3), (640, 32, 6)),
    rnn_b=(1, 2, 4, 8, 16, 32),
    rnn_h=(64, 128, 256, 512, 1024),
    backward_every=3,
    functions=tuple(ELEMENTWISE_FUNCTIONS),
)
CPU_QUICK = Grid(
    gemm_m=(1, 64, 1024),
    gemm_nk=(64, 512),
    conv_c=(16, 128),
    conv_hw=(7, 28),
    conv_n=(1,),
    dw_c=(32, 256),
    dw_hw=(7, 28),
    attn_l=(64,),
    attn_bh=(4,),
    mem_elems=(256, 16384, 1048576),
    max_flops=2e8,
    repeat=2,
    se_c=(64,),
    se_n=(1,),
    fresh_elems=(2**18, 2**24),
    stems=((224, 32, 3),),
    rnn_b=(4,),
    rnn_h=(128,),
    backward_every=2,
    functions=tuple(ELEMENTWISE_FUNCTIONS),
)
CUDA_FULL = Grid(
    gemm_m=(1, 16, 128, 1024, 8192, 32768),
    gemm_nk=(64, 256, 1024, 4096),
    conv_c=(16, 64, 256, 512),
    conv_hw=(7, 14, 28, 56, 112, 224),
    conv_n=(1, 8, 32),
    dw_c=(16, 64, 240, 960),
    dw_hw=(7, 14, 28, 56, 112),
    attn_l=(64, 197, 1024, 4096),
    attn_bh=(12, 96, 384),
    mem_elems=tuple(4**i for i in range(5, 16)),
    max_flops=2e12,
    repeat=6,
    se_c=(64, 240, 960),
    se_n=(1, 32),
    fresh_elems=(2**20, 2**24, 2**27),
    stems=((224, 32, 3), (224, 64, 7), (640, 32, 6)),
    rnn_b=(1, 8, 64),
    rnn_h=(128, 512, 1024),
    backward_every=3,
)
CUDA_QUICK = Grid(
    gemm_m=(1, 128, 4096),
    gemm_nk=(256, 2048),
    conv_c=(32, 256),
    conv_hw=(14, 56),
    conv_n=(1, 8),
    dw_c=(64, 512),
    dw_hw=(14, 56),
    attn_l=(197, 1024),
    attn_bh=(12,),
    mem_elems=(4096, 1048576, 67108864),
    max_flops=1e11,
    repeat=3,
    se_c=(240,),
    se_n=(1,),
    fresh_elems=(2**20, 2**26),
    rnn_b=(8,),
    rnn_h=(256,),
    backward_every=2,
)


def measure_overheads(
    dev: torch.device, repeat: int, sync: Sync = _nosync, queue: QueueTimer | None = None
) -> tuple[float, float]:
    """(per-op overhead, per-module-call overhead) in seconds. The per-op overhead is
    a tiny ``add``'s loop time on the CPU; on CUDA (``queue``) the host's time to
    issue it, the GPU held busy meanwhile. A module call runs no kernel: its Python
    cost is the loop time of a chain of ``nn.Identity`` either way."""
    x = torch.randn(8, device=dev)
    if queue is None:
        op = _median_time(lambda: torch.add(x, 1.0), repeat * 3, sync, target_s=5e-3)
    else:
        op = queue.time(lambda: torch.add(x, 1.0), repeat * 3)[1]
    chain = torch.nn.Sequential(*[torch.nn.Identity() for _ in range(50)])
    module = _median_time(lambda: chain(x), repeat * 3, sync, target_s=5e-3) / 50
    return op, module


def measure_internal(
    dev: torch.device, repeat: int, sync: Sync = _nosync, queue: QueueTimer | None = None
) -> float:
    """Seconds per aten op issued from C++ inside another op: a tiny ``nn.GRU`` (8
    features, 64 steps, batch 1), which runs as a C++ loop of small aten ops (on the
    CPU; on CUDA with cuDNN switched off), timed and divided by the ops it runs (counted
    on fake tensors on the CPU, on the real ones on CUDA, whose loop differs). Its kernels are a few hundred FLOPs, so on the CPU the time is the
    dispatch; on CUDA (``queue``) the host's issue time is taken, the GPU held busy. 0
    where the GRU is one fused op (oneDNN): nothing issued from C++ to measure there."""
    from roofline.counting import profile as count_profile

    gen = torch.Generator().manual_seed(3)
    gru = torch.nn.GRU(8, 8, batch_first=True).eval()
    x = torch.randn(1, 64, 8, generator=gen)
    gru, x = gru.to(dev), x.to(dev)
    # the ops this device's GRU runs: CUDA's cuDNN-off GRU is a fused cell per step, not
    # the CPU's ~22 ops, so it is counted there, on the real tensors, as it is timed
    with torch.backends.cudnn.flags(enabled=False):
        counted = count_profile(gru, (x,), real=dev.type == "cuda")
    # every op it issues, those without a cost formula too: CUDA's fused cell
    # (aten._thnn_fused_gru_cell, one of the ~3 ops per step there) has none, and left
    # out it made each op's issue time 1.5x what it is
    ops = len(counted.ops) + sum(counted.uncounted_ops.values())
    if ops < 16:
        return 0.0
    with torch.inference_mode():
        if queue is None:
            t = _median_time(lambda: gru(x), repeat * 3, sync, target_s=5e-3)
        else:
            with torch.backends.cudnn.flags(enabled=False):
                t = queue.time(lambda: gru(x), repeat)[1]
    return t / ops


def measure_fresh(
    dev: torch.device,
    grid: Grid,
    bench: Bench,
    progress: Progress | None = None,
    dtype: torch.dtype = torch.float32,
) -> CostCurve:
    """The cost of a fresh output allocation by size: ``add(x, y)`` (allocates its
    output, as every eager op does) minus ``add(x, y, out=z)`` (writes into memory it
    reused), at each of ``grid.fresh_elems``, on tensors of ``dtype``."""
    if not grid.fresh_elems:
        return CostCurve()
    if progress:
        progress(f"fresh-output cost over {len(grid.fresh_elems)} sizes")
    samples = []
    for elems in grid.fresh_elems:
        x = torch.randn(elems, device=dev, dtype=dtype)
        y = torch.randn(elems, device=dev, dtype=dtype)
        z = torch.empty_like(x)
        t_new = bench.raw(lambda x=x, y=y: torch.add(x, y))
        t_out = bench.raw(lambda x=x, y=y, z=z: torch.add(x, y, out=z))
        if math.isfinite(t_new - t_out):
            samples.append((elems * x.element_size(), t_new - t_out))
        del x, y, z
    return cost_curve_from_samples(samples)


def _conv_backward(
    bench: Bench, x: torch.Tensor, w: torch.Tensor, stride: int, padding: int, groups: int
) -> float:
    """Seconds of ``aten.convolution_backward`` (gradients of input and weight, as in
    training) for a convolution of ``x`` by ``w``."""
    out = F.conv2d(x, w, None, stride=stride, padding=padding, groups=groups)
    g = torch.randn_like(out)
    cls = "depthwise_conv" if groups > 1 and groups == x.shape[1] else "conv"

    def run() -> object:
        return torch.ops.aten.convolution_backward(
            g,
            x,
            w,
            None,
            [stride] * 2,
            [padding] * 2,
            [1, 1],
            False,
            [0, 0],
            groups,
            [True, True, False],
        )

    return bench.kernel(run, cls, float(x.element_size() * (x.numel() + w.numel())))


#: a backward microbenchmark: (grid point, input shape, weight shape, stride, padding,
#: groups, the forward's FLOPs)
BackwardShape = tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...], int, int, int, float]


def fit_backward(
    dev: torch.device,
    shapes: Mapping[str, Sequence[BackwardShape]],
    bench: Bench,
    progress: Progress | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, GridFit]:
    """Convolution backward rates at forward grid points (collected by
    :func:`fit_matrix`); input and weight gradients are twice the forward's FLOPs.
    Run after every forward microbenchmark: large gradient buffers change what the
    allocator holds, which forward measurements taken after them would feel."""
    say = progress or (lambda _m: None)
    gen = torch.Generator(device=dev).manual_seed(5)
    out: dict[str, GridFit] = {}
    for key, todo in shapes.items():
        if not todo:
            continue
        say(f"{key.replace('.', ' ')} over {len(todo)} sizes")
        rates = []
        for _pt, xs, ws, stride, pad, groups, fl in todo:
            x = torch.randn(*xs, generator=gen, device=dev, dtype=dtype)
            w = torch.randn(*ws, generator=gen, device=dev, dtype=dtype)
            rates.append(2 * fl / _conv_backward(bench, x, w, stride, pad, groups))
            del x, w
        out[key] = grid_from_samples([sh[0] for sh in todo], rates, key)
    return {k: v for k, v in out.items() if v.points}  # a class all of whose sizes failed: none


#: the bytes the GEMM microbenchmarks rotate their weight operand through, above any
#: last-level cache they run on (a CPU's L3, a GPU's L2: 32 MiB on this project's EPYC,
#: 50 MiB on an H100): timed in a hot loop, one weight stays in the cache, while a
#: network reads each of its weights once per forward, from memory. On one EPYC thread
#: a 2048² fp32 matrix-vector product (m = 1) ran at 46.8 GB/s hot and 21.2 GB/s cold,
#: and a decode step's 4096 x 11008 one, too large for any cache, at 22.9 GB/s: priced
#: from hot points, batch-1 classifier heads and decode steps came out ~2-4x fast; from
#: m = 64 on, hot and cold agree within 10%
COLD_BYTES = 256 * 2**20
#: at most this many copies of one weight (the smallest stay launch-bound regardless)
COLD_MAX_COPIES = 4096


def cold_copies(pool: torch.Tensor, shape: Sequence[int]) -> list[torch.Tensor]:
    """Distinct, non-overlapping contiguous views of the flat tensor ``pool``, each of
    ``shape``: as many as fit (at most :data:`COLD_MAX_COPIES`), so that a loop taking
    them in turn reads its operand from memory, not from the cache; one fresh tensor
    when ``shape`` is larger than ``pool``."""
    size = math.prod(shape)
    count = min(COLD_MAX_COPIES, pool.numel() // size) if size else 0
    if count < 1:
        return [torch.empty(tuple(shape), dtype=pool.dtype, device=pool.device).normal_()]
    return [pool[i * size : (i + 1) * size].view(*shape) for i in range(count)]


def fit_matrix(
    dev: torch.device,
    grid: Grid,
    bench: Bench,
    progress: Progress | None = None,
    backward_shapes: dict[str, list[BackwardShape]] | None = None,
    dtype: torch.dtype = torch.float32,
) -> dict[str, GridFit]:
    """GEMM, conv, depthwise conv and attention rates over the grid (each rate is
    work / :meth:`Bench.kernel`), every tensor of ``dtype``."""
    say = progress or (lambda _m: None)
    out: dict[str, GridFit] = {}
    gen = torch.Generator(device=dev).manual_seed(0)
    elem = float(dtype.itemsize)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=dev, dtype=dtype)

    # GEMM: (m x k) @ (k x n), the weights (k x n) cold: each call takes the next of
    # cold_copies() of them, as a network reads each weight once per forward
    pts, rates = [], []
    say(f"gemm over {len(grid.gemm_m) * len(grid.gemm_nk) ** 2} sizes")
    largest = max(grid.gemm_nk, default=1) ** 2
    pool = rnd(min(COLD_BYTES // dtype.itemsize, COLD_MAX_COPIES * largest))
    for m in grid.gemm_m:
        for n in grid.gemm_nk:
            for k in grid.gemm_nk:
                fl = 2.0 * m * n * k
                if fl > grid.max_flops:
                    continue
                a, weights = rnd(m, k), itertools.cycle(cold_copies(pool, (k, n)))
                t = bench.kernel(lambda a=a, w=weights: torch.mm(a, next(w)), "gemm", elem * m * n)
                pts.append((math.log2(m), math.log2(n), math.log2(k)))
                rates.append(fl / t)
    out["gemm"] = grid_from_samples(pts, rates)

    # dense conv, stride 1, "same" padding; c_in == c_out and c_out = 2 c_in; and the
    # squeeze-excitation shapes: 1x1 on a 1x1 map, c -> c/4 and back
    pts, rates = [], []
    say("convolutions")
    shapes = [
        (n, hw, c, c_out, kernel, 1)
        for n in grid.conv_n
        for hw in grid.conv_hw
        for c in grid.conv_c
        for c_out in (c, 2 * c)
        for kernel in (1, 3)
    ]
    for n in grid.se_n:
        for c in grid.se_c:
            r = max(4, c // 4)
            shapes += [(n, 1, c, r, 1, 1), (n, 1, r, c, 1, 1)]
    for n in grid.big_n:
        for hw in grid.big_hw:
            for c in grid.big_c:
                # expand (c -> 6c), project (6c -> c), and a plain 3x3
                shapes += [
                    (n, hw, c, 6 * c, 1, 1),
                    (n, hw, 6 * c, c, 1, 1),
                    (n, hw, c, c, 3, 1),
                ]
    # the stems of image networks: 3 input channels, stride 2 (their K = 3·k² is far
    # from every other grid point, and the library runs them on a slower path)
    shapes += [(n, hw, 3, c_out, k, 2) for n in grid.conv_n for hw, c_out, k in grid.stems]
    # backward shapes are measured after every forward one: their large gradient
    # buffers would change what the allocator holds for the forward measurements
    backward: list[BackwardShape] = []
    for i, (n, hw, c, c_out, kernel, stride) in enumerate(shapes):
        out_hw = (hw + 2 * (kernel // 2) - kernel) // stride + 1
        fl = 2.0 * n * c * c_out * kernel * kernel * out_hw * out_hw
        if fl > grid.max_flops:
            continue
        x = rnd(n, c, hw, hw)
        # cold weights, as the GEMMs' (cold_copies): a 576 -> 1024 1x1 convolution on a
        # 1x1 map (a classifier head as a conv) ran 5.8x slower cold than hot, on 7x7
        # maps 960 -> 160 1.35x; from 14x14 on, or at 3x3, within 3%
        weights = itertools.cycle(cold_copies(pool, (c_out, c, kernel, kernel)))
        bias = rnd(c_out)
        out_bytes = elem * n * c_out * out_hw * out_hw
        t = bench.kernel(
            lambda x=x, w=weights, bias=bias, p=kernel // 2, s=stride: F.conv2d(
                x, next(w), bias, stride=s, padding=p
            ),
            "conv",
            out_bytes,
        )
        size = op_size(
            "conv",
            {
                "n": n,
                "c_in": c,
                "c_out": c_out,
                "kernel": kernel * kernel,
                "out_spatial": out_hw * out_hw,
                "groups": 1,
            },
            fl,
        )
        pts.append(tuple(math.log2(v) for v in size))
        rates.append(fl / t)
        if grid.backward_every and i % grid.backward_every == 0:
            backward.append(
                (pts[-1], tuple(x.shape), (c_out, c, kernel, kernel), stride, kernel // 2, 1, fl)
            )
    out["conv"] = grid_from_samples(pts, rates, "conv")
    if backward_shapes is not None:
        backward_shapes["conv.backward"] = backward

    # depthwise conv, kernels 3x3 and 5x5, strides 1 and 2; 7x7 at stride 1
    pts, rates = [], []
    say("depthwise convolutions")
    dw_shapes = [
        (n, hw, c, kernel, stride)
        for n in grid.conv_n
        for hw in grid.dw_hw
        for c in grid.dw_c
        for kernel in (3, 5)
        for stride in (1, 2)
    ]
    # ConvNeXt's 7x7 depthwise kernels, stride 1
    dw_shapes += [(n, hw, c, 7, 1) for n in grid.conv_n for hw in grid.dw_hw for c in grid.dw_c]
    dw_shapes += [
        (n, hw, 6 * c, kernel, stride)
        for n in grid.big_n
        for hw in grid.big_hw
        for c in grid.big_c
        for kernel in (3, 5)
        for stride in (1, 2)
    ]
    backward = []
    for i, (n, hw, c, kernel, stride) in enumerate(dw_shapes):
        out_hw = (hw - 1) // stride + 1
        fl = 2.0 * n * c * kernel * kernel * out_hw * out_hw
        if n * c * hw * hw > (2e7 if n not in grid.big_n else 1e8):
            continue
        x = rnd(n, c, hw, hw)
        w = rnd(c, 1, kernel, kernel)
        out_bytes = elem * n * c * out_hw * out_hw
        t = bench.kernel(
            lambda x=x, w=w, p=kernel // 2, g=c, s=stride: F.conv2d(
                x, w, None, stride=s, padding=p, groups=g
            ),
            "depthwise_conv",
            out_bytes,
        )
        size = op_size(
            "depthwise_conv",
            {
                "n": n,
                "c_out": c,
                "kernel": kernel * kernel,
                "out_spatial": out_hw * out_hw,
                "in_spatial": hw * hw,
                "stride": stride,
            },
            fl,
        )
        pts.append(tuple(math.log2(v) for v in size))
        rates.append(fl / t)
        if grid.backward_every and i % grid.backward_every == 0:
            backward.append((pts[-1], tuple(x.shape), tuple(w.shape), stride, kernel // 2, c, fl))
    out["depthwise_conv"] = grid_from_samples(pts, rates, "depthwise_conv")
    if backward_shapes is not None:
        backward_shapes["depthwise_conv.backward"] = backward

    # attention: scaled_dot_product_attention, head_dim 64
    pts, rates = [], []
    say("attention")
    for bh in grid.attn_bh:
        for seq in grid.attn_l:
            e = 64
            fl = 4.0 * bh * seq * seq * e
            if fl > grid.max_flops:
                continue
            # fp64 has no fused kernel on CUDA: the math path holds the bh·L² scores
            with _unless_it_fails_on_the_gpu(dev, say, f"attention {bh}x{seq}x{e}"):
                q, k, v = rnd(1, bh, seq, e), rnd(1, bh, seq, e), rnd(1, bh, seq, e)
                t = bench.kernel(
                    lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v),
                    "attention",
                    elem * bh * seq * e,
                )
                pts.append(tuple(math.log2(x) for x in (bh, seq, seq, e)))
                rates.append(fl / t)
    if pts:
        out["attention"] = grid_from_samples(pts, rates)

    # fused recurrent layers: one nn.LSTM layer (input = hidden) over each of rnn_t
    # steps (the CPU runs it as oneDNN's fused kernel; on CUDA cuDNN runs GRUs fused
    # too). Work: the counter's formula (roofline.counting.formulas.rnn_layer_cost)
    from roofline.counting.formulas import rnn_layer_cost

    pts, rates = [], []
    kinds = (("LSTM", 4), ("GRU", 3)) if dev.type == "cuda" else (("LSTM", 4),)
    shapes = [
        (k, b, h, t) for k in kinds for b in grid.rnn_b for h in grid.rnn_h for t in grid.rnn_t
    ]
    if shapes:
        say(f"recurrent layers over {len(shapes)} sizes")
    for (kind, gates), b, h, steps in shapes:
        cost = rnn_layer_cost(steps * b, h, h, h, gates, True, b)
        if cost.matrix_flops > grid.max_flops:
            continue
        layer = getattr(torch.nn, kind)(h, h, batch_first=True).to(dev, dtype).eval()
        x = rnd(b, steps, h)
        t = bench.kernel(lambda layer=layer, x=x: layer(x), "rnn", elem * x.numel(), steps)
        pts.append(tuple(math.log2(v) for v in op_size("rnn", cost.dims, 0)))
        rates.append(cost.matrix_flops / t)
    if pts:
        out["rnn"] = grid_from_samples(pts, rates)
    return {k: v for k, v in out.items() if v.points}  # a class all of whose sizes failed: none


class MemoryKernel(NamedTuple):
    """One memory microbenchmark: the call, the bytes it moves (as the counter counts
    them for that op) and its vector FLOPs (the pool family's comparisons; 0 where no
    curve of a family needs them)."""

    fn: Callable[[], object]
    nbytes: int
    work: int = 0


def _memory_kernels(
    dev: torch.device,
    elems: int,
    gen: torch.Generator,
    dtype: torch.dtype = torch.float32,
    functions: Sequence[str] = (),
) -> dict[str, MemoryKernel]:
    """One representative kernel per memory op class and per variant of
    :data:`MEMORY_VARIANTS`, and one per function of :data:`ELEMENTWISE_FUNCTIONS` in
    ``functions``, on tensors of ``dtype``."""
    from roofline.counting.formulas import T, avg_pool_cost, max_pool_backward_cost, max_pool_cost

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=dev, dtype=dtype)

    x, y = rnd(elems), rnd(elems)
    c = 16 if elems >= 16 * 4 else 1
    hw = max(1, int(math.sqrt(elems // c)))
    img = rnd(1, c, hw, hw)
    rm, rv = torch.randn(c).to(dev, dtype), (torch.rand(c) + 0.5).to(dev, dtype)
    wt, bs = torch.randn(c).to(dev, dtype), torch.randn(c).to(dev, dtype)
    rows = max(1, elems // 256)
    mat = rnd(rows, min(256, elems))
    table = rnd(max(2, elems // 64), 64)
    idx = torch.randint(0, table.shape[0], (max(1, elems // 64),), generator=gen, device=dev)
    b = x.element_size()
    n_img = img.numel()
    pooled, pool_idx = torch.ops.aten.max_pool2d_with_indices(img, [2, 2], [2, 2])
    pool_grad = rnd(*pooled.shape)
    backward = max_pool_backward_cost(T(tuple(pool_grad.shape), dtype), T(tuple(img.shape), dtype))
    assert backward.unread == ("self",) and backward.bytes_written is not None
    # read, as the counter's generic rule reads the operands the formula leaves read:
    # the gradient and the int64 indices (the input, ``self``, is unread)
    backward_read = pool_grad.nbytes + pool_idx.nbytes
    small_hw = max(1, hw // 2)
    side = math.isqrt(SHORT_ROW)
    short_rows = max(1, elems // SHORT_ROW)
    short = rnd(1, short_rows, side, side)
    kernels = {
        "elementwise": MemoryKernel(lambda: torch.add(x, y), 3 * elems * b),
        "norm": MemoryKernel(lambda: F.batch_norm(img, rm, rv, wt, bs, False), 2 * n_img * b),
        # training: batch statistics first (updating the running ones in place)
        "norm.train": MemoryKernel(lambda: F.batch_norm(img, rm, rv, wt, bs, True), 2 * n_img * b),
        # the counter's bytes: the input read, one output per row written; the rows
        # place the curve in the reduction family (family_work): one row of every
        # element (as fast per byte as a few long rows: 16 planes of 362² ran at the
        # same 86 GB/s), and rows of SHORT_ROW
        "reduction": MemoryKernel(lambda: x.mean(), (elems + 1) * b, 1),
        "reduction.short": MemoryKernel(
            lambda: short.mean((2, 3)), (short.numel() + short_rows) * b, short_rows
        ),
        "softmax": MemoryKernel(lambda: torch.softmax(mat, -1), 2 * mat.numel() * b),
        # the counter's bytes (formulas.max_pool_backward_cost): gradient and int64
        # indices read, the input gradient written twice (zero fill, then the scatter);
        # the same total as the generic rule's (the input read, the gradient written
        # once), which it replaced: stored curves keep their meaning
        "pool.backward": MemoryKernel(
            lambda: torch.ops.aten.max_pool2d_with_indices_backward(
                pool_grad, img, [2, 2], [2, 2], [0, 0], [1, 1], False, pool_idx
            ),
            backward_read + backward.bytes_written,
        ),
        "upsample": MemoryKernel(
            lambda: F.interpolate(img[:, :, :small_hw, :small_hw], scale_factor=2.0),
            (c * small_hw**2 + c * (2 * small_hw) ** 2) * b,
        ),
        "copy": MemoryKernel(lambda: torch.cat([x, y]), 4 * elems * b),
        "embedding": MemoryKernel(lambda: F.embedding(idx, table), 2 * idx.numel() * 64 * b),
    }
    for name in functions:
        fn, reads = ELEMENTWISE_FUNCTIONS[name]
        # the backward ops take (gradient, input): y is the gradient, x the input
        args = (y, x) if reads == 2 else (x,)
        kernels[f"elementwise.{name}"] = MemoryKernel(
            lambda fn=fn, args=args: fn(*args), (reads + 1) * elems * b
        )
    # the pool families, as the ops the counter sees: input read, output (and a max
    # pool's int64 indices) written; their work what the counter counts for the op,
    # one comparison or add per window tap inside the input (padding clipped), and an
    # average pool's divide per output (formulas.max_pool_cost, avg_pool_cost)
    families = (
        (POOL_FAMILY, torch.ops.aten.max_pool2d_with_indices, max_pool_cost, True),
        (AVG_POOL_FAMILY, torch.ops.aten.avg_pool2d, avg_pool_cost, False),
    )
    # The pools run on feature maps as CNNs hold them, planes of at most
    # POOL_PLANE² with more channels as the size grows: one 16-channel image of 1024²
    # planes ran a 2x2 average pool at 2.0 GB/s, 128 channels of 56² at 3.3 GB/s
    ph = min(hw, POOL_PLANE)
    pc = max(c, elems // (ph * ph))
    fmap = rnd(1, pc, ph, ph)
    for family, pool_op, cost, indices in families:
        for name, (k, stride, pad) in family.items():
            if name == "pool.wider" and elems > WIDER_POOL_MAX_ELEMS:
                continue
            side = (ph + 2 * pad - k) // stride + 1
            out = pc * side**2
            args = {"self": T(tuple(fmap.shape), dtype), "kernel_size": [k, k]}
            args.update(stride=[stride, stride], padding=[pad, pad])
            work = cost(args, [T((1, pc, side, side), dtype)], 2).vector_flops
            written = out * b + (out * pool_idx.element_size() if indices else 0)
            kernels[name] = MemoryKernel(
                lambda op=pool_op, k=k, stride=stride, pad=pad: op(
                    fmap, [k, k], [stride, stride], [pad, pad]
                ),
                fmap.numel() * b + written,
                work,
            )
    return kernels


def fit_memory(
    dev: torch.device,
    grid: Grid,
    bench: Bench,
    progress: Progress | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[dict[str, CurveFit], dict[str, float]]:
    """Bytes/s of each memory op class over sizes (bytes / :meth:`Bench.kernel`), on
    tensors of ``dtype``, and the work per byte of the curves of a family (the median
    over sizes: ``EfficiencyModel.memory_work``)."""
    say = progress or (lambda _m: None)
    gen = torch.Generator(device=dev).manual_seed(1)
    samples: dict[str, list[tuple[float, float]]] = {}
    work: dict[str, list[float]] = {}
    say(f"memory kernels over {len(grid.mem_elems)} sizes")
    for elems in grid.mem_elems:
        kernels: dict[str, MemoryKernel] = {}
        with _unless_it_fails_on_the_gpu(dev, say, f"memory kernels at {elems} elements"):
            with torch.inference_mode():
                kernels = _memory_kernels(dev, elems, gen, dtype, grid.functions)
        for cls, kernel in kernels.items():
            with _unless_it_fails_on_the_gpu(dev, say, f"{cls} at {elems} elements"):
                with torch.inference_mode():
                    result = kernel.fn()
                    outs = result if isinstance(result, tuple) else (result,)
                    out_bytes = sum(t.numel() * t.element_size() for t in outs)
                    del result, outs
                    t = bench.kernel(kernel.fn, cls, out_bytes)
                    if math.isnan(t):
                        # failed while timed (Bench.skip_failures): neither its point
                        # nor its work per byte is recorded
                        continue
                    samples.setdefault(cls, []).append((kernel.nbytes, kernel.nbytes / t))
                    if kernel.work:
                        work.setdefault(cls, []).append(kernel.work / kernel.nbytes)
        kernels = {}  # this size's tensors go before the next size's are made
    # a class that failed at every size has no curve (an empty one would raise when
    # priced) and no place in its family
    curves = {cls: curve_from_samples(s) for cls, s in samples.items()}
    curves = {cls: c for cls, c in curves.items() if c.sizes}
    return curves, {cls: statistics.median(w) for cls, w in work.items() if cls in curves}


@contextlib.contextmanager
def _unless_it_fails_on_the_gpu(dev: torch.device, say: Progress, what: str) -> Iterator[None]:
    """Skip a microbenchmark that fails on the GPU, saying so, instead of losing the
    whole calibration: the grids are sized for the largest cards (the memory kernels'
    4^15-element fp32 working set takes ~40 GB; a 24 GB card holds 4^14), and an op
    may be missing on a GPU or torch build at the calibration's dtype; the fit simply
    has no point there. On the CPU, and for errors that are not torch's runtime errors,
    it propagates."""
    try:
        yield
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one
        if dev.type != "cuda":
            raise
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            say(f"{what}: out of GPU memory, left out of the fit")
        else:
            say(f"{what}: failed on the GPU ({first_line(exc)[:160]}), left out of the fit")
    else:
        return
    gc.collect()  # the failed benchmark's tensors, freed with its traceback
    torch.cuda.empty_cache()


def calibrate_command(kind: str, dtype: str = "float32", index: int | None = None) -> str:
    """The command that (re)calibrates a device of ``kind`` ("cpu" or "gpu") here, for
    models of ``dtype``; ``index``: which local GPU (``local:1`` for the second)."""
    extra = "" if dtype == "float32" else f" --dtype {units.dtype_short(dtype)}"
    gpu = "local" if not index else f"local:{index}"
    return f"roofline calibrate --gpu {'cpu' if kind == 'cpu' else gpu}{extra}"


def reference_time(dev: torch.device, sync: Sync, repeat: int = 5) -> float:
    """Seconds of a fixed GEMM (384³ on a CPU, 4096³ on a GPU), timed at the start and
    the end of a calibration: if the two differ, the machine's speed changed while the
    microbenchmarks ran (other load, clocks) and their rates do not all describe the
    same machine."""
    n = 4096 if dev.type == "cuda" else 384
    gen = torch.Generator(device=dev).manual_seed(7)
    a = torch.randn(n, n, generator=gen, device=dev)
    b = torch.randn(n, n, generator=gen, device=dev)
    with torch.inference_mode():
        return _median_time(lambda: torch.mm(a, b), repeat, sync, target_s=2e-2)


def drift_text(drift: float | None) -> str | None:
    """A warning when a calibration's reference GEMM moved by more than
    :data:`DRIFT_WARN` from its start to its end (``info["speed_drift"]``), else None."""
    if drift is None or abs(float(drift)) <= DRIFT_WARN:
        return None
    how = "slower" if drift > 0 else "faster"
    return (
        f"the machine's speed changed during the calibration: a reference GEMM ran "
        f"{abs(float(drift)):.0%} {how} at the end than at the start (other load, or "
        "clocks); calibrate again on a quiet machine for a steadier fit"
    )


def bounds_text(factor: float, per_op_s: float) -> str | None:
    """A warning when a fit's in-network terms landed on their limits
    (:data:`FACTOR_RANGE`, the upper end of :data:`PER_OP_RANGE`): the synthetic
    networks ran far from what the microbenchmarks predict, which is interference
    (a busy machine), not a property of the device. None when both are inside."""
    hit = []
    if not FACTOR_RANGE[0] < factor < FACTOR_RANGE[1]:
        hit.append(f"in-network factor {factor:.2f} (limits {FACTOR_RANGE[0]}-{FACTOR_RANGE[1]})")
    if per_op_s >= PER_OP_RANGE[1]:
        hit.append(
            f"per-op term {units.seconds(per_op_s)} (limit {units.seconds(PER_OP_RANGE[1])})"
        )
    if not hit:
        return None
    return (
        f"the fit hit its limits: {' and '.join(hit)}; the synthetic networks ran far from "
        "what the microbenchmarks predict, as on a busy machine: calibrate again on a quiet one"
    )


def calibrate_efficiency(
    device: str = "cpu",
    *,
    quick: bool = False,
    grid: Grid | None = None,
    progress: Progress | None = None,
    device_key: str | None = None,
    queue: QueueTimer | None = None,
    dtype: str | torch.dtype = torch.float32,
) -> EfficiencyModel:
    """Run the microbenchmarks on ``device`` ("cpu" or "cuda[:N]") and fit the model
    for models of ``dtype`` (every microbenchmark runs at it; the overheads, which no
    dtype moves, and the reference GEMM of the speed checks stay float32).
    ``queue`` times as on CUDA, with asynchronous launches (the default on CUDA; given
    explicitly, it lets the asynchronous path run on the CPU in tests)."""
    from roofline.latency.measure import check_device

    dev = check_device(device)
    if dev.type != "cuda":
        return _calibrate_efficiency(dev, quick, grid, progress, device_key, queue, dtype)
    # CUDA events record on the current device's stream, and torch.cuda._sleep holds the
    # current device: on cuda:1 they must be that GPU, not GPU 0, or every GPU time of
    # the queue timer would be GPU 0's (nothing) while the kernels ran on GPU 1
    with torch.cuda.device(dev):
        return _calibrate_efficiency(dev, quick, grid, progress, device_key, queue, dtype)


def _calibrate_efficiency(
    dev: torch.device,
    quick: bool,
    grid: Grid | None,
    progress: Progress | None,
    device_key: str | None,
    queue: QueueTimer | None,
    dtype: str | torch.dtype,
) -> EfficiencyModel:
    """:func:`calibrate_efficiency` on the checked device ``dev`` (on CUDA, the current
    device)."""
    from roofline.latency.measure import device_sync

    is_cuda = dev.type == "cuda"
    dt = calibration_dtype("gpu" if is_cuda else "cpu", dtype)
    if grid is None:
        grid = (
            (CUDA_QUICK if quick else CUDA_FULL) if is_cuda else (CPU_QUICK if quick else CPU_FULL)
        )
    sync = device_sync(dev)
    say = progress or (lambda _m: None)
    say("per-op and per-module overhead")
    # CUDA: GPU and host times measured apart (the GPU held busy while the host issues)
    if is_cuda:
        # idle GPUs run at a fraction of their clock (an H200 idles at 345 MHz): keep it
        # busy for a moment so that the microbenchmarks see the clock the models will
        warm_up_gpu(dev, sync)
    if queue is None and is_cuda:
        queue = cuda_queue_timer(dev, sync)
    ref_start = reference_time(dev, sync)
    with torch.inference_mode():
        launch, module = measure_overheads(dev, grid.repeat, sync, queue)
    try:
        internal = measure_internal(dev, grid.repeat, sync, queue)
    except (RuntimeError, RooflineError) as exc:
        if not is_cuda:
            raise
        # 0 is "not measured": the fast paths' later kernels then cost a launch each
        say(f"internal dispatch: failed on the GPU ({first_line(exc)[:160]}), not measured")
        internal = 0.0
    with torch.inference_mode():
        bench = Bench(grid.repeat, sync, launch, queue=queue, skip_failures=is_cuda, say=say)
        bench.fresh = measure_fresh(dev, grid, bench, progress, dt)
        backward_shapes: dict[str, list[BackwardShape]] = {}
        matrix = fit_matrix(dev, grid, bench, progress, backward_shapes, dt)
    memory, memory_work = fit_memory(dev, grid, bench, progress, dt)
    info: dict[str, Any] = {"grid": "quick" if quick else "full"}
    model = EfficiencyModel(
        device=device_key or ("cpu" if not is_cuda else str(dev)),
        kind="gpu" if is_cuda else "cpu",
        launch_overhead_s=launch,
        module_overhead_s=module,
        matrix=matrix,
        memory=memory,
        memory_work=memory_work,
        async_launch=queue is not None,
        fresh=bench.fresh,
        host_s=bench.host_costs(),
        internal_op_s=internal,
        threads=torch.get_num_threads(),
        dtype=units.dtype_name(dt),
    )
    (factor, mem_factor, per_op), ratios = fit_context(
        model, dev, sync, quick=quick, progress=progress
    )
    info["context_ratios"] = ratios
    # training's convolution backward, last (see fit_backward)
    with torch.inference_mode():
        matrix = {**matrix, **fit_backward(dev, backward_shapes, bench, progress, dt)}
    if is_cuda:
        info["cuda_device_name"] = torch.cuda.get_device_name(dev)
    else:
        from roofline.devices.host_cpu import cpu_model

        info["cpu_model"] = cpu_model()
    # positive: the reference ran slower at the end than at the start
    ref_end = reference_time(dev, sync)
    info["speed_drift"] = ref_end / ref_start - 1.0
    # the machine's speed the fit describes, to compare with later (store.speed_check)
    info["reference_s"] = ref_end
    for warning in (drift_text(info["speed_drift"]), bounds_text(factor, per_op)):
        if warning:
            say(f"warning: {warning}")
    return dataclasses.replace(
        model,
        matrix=matrix,
        context_factor=factor,
        memory_context_factor=mem_factor,
        network_op_overhead_s=per_op,
        measured_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        torch_version=torch.__version__,
        quick=quick,
        info=info,
    )


# ------------------------------------------------------------------ in-network factor


def synthetic_networks(
    quick: bool = False, batches: Sequence[int] | None = None
) -> list[tuple[str, torch.nn.Module, torch.Tensor]]:
    """Small random networks built from the calibrated op classes (never the models
    being evaluated): a plain conv stack, an inverted-residual (depthwise) stack, one
    with squeeze-excitation and an MLP, at each of ``batches`` (default 1 and 4; quick:
    1). Two batch sizes far apart separate the per-op term from the factor."""
    from torch import nn

    gen = torch.Generator().manual_seed(2)

    def conv_stack() -> nn.Module:
        layers: list[nn.Module] = []
        c = 3
        for c_out, stride in ((32, 2), (64, 1), (64, 2), (128, 1), (128, 2), (256, 1)):
            layers += [nn.Conv2d(c, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    class SE(nn.Module):
        # squeeze-excitation: many small ops (pooling, 1x1 convs on a 1x1 map, a gate)
        def __init__(self, c: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(c, max(8, c // 4), 1)
            self.fc2 = nn.Conv2d(max(8, c // 4), c, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = F.adaptive_avg_pool2d(x, 1)
            s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
            return x * s

    def inverted_residuals(
        stem: int,
        stages: Sequence[tuple[int, int, int]],
        expand: int,
        act: type[nn.Module],
        dw_act: type[nn.Module],
        se: bool,
    ) -> nn.Module:
        # a stem conv, then per stage (c_out, kernel, stride): 1x1 expand, depthwise
        # kxk, optional squeeze-excitation, 1x1 project
        layers: list[nn.Module] = [nn.Conv2d(3, stem, 3, 2, 1), nn.BatchNorm2d(stem), act()]
        c = stem
        for c_out, k, stride in stages:
            e = expand * c
            layers += [
                nn.Conv2d(c, e, 1),
                nn.BatchNorm2d(e),
                act(),
                nn.Conv2d(e, e, k, stride, k // 2, groups=e),
                nn.BatchNorm2d(e),
                dw_act(),
                *([SE(e)] if se else []),
                nn.Conv2d(e, c_out, 1),
                nn.BatchNorm2d(c_out),
            ]
            c = c_out
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    def dw_stack() -> nn.Module:
        stages = ((24, 3, 2), (40, 5, 2), (80, 3, 1), (112, 5, 2))
        return inverted_residuals(16, stages, 4, nn.Hardswish, nn.ReLU, se=False)

    def se_stack() -> nn.Module:
        stages = ((32, 3, 2), (48, 5, 1), (64, 3, 2), (96, 5, 1), (128, 3, 2))
        return inverted_residuals(24, stages, 3, nn.SiLU, nn.SiLU, se=True)

    def mlp() -> nn.Module:
        return nn.Sequential(
            nn.Linear(256, 1024),
            nn.GELU(),
            nn.LayerNorm(1024),
            nn.Linear(1024, 1024),
            nn.GELU(),
            nn.Linear(1024, 256),
            nn.Softmax(-1),
        )

    res = 64 if quick else 128
    nets = []
    for bs in batches or ((1,) if quick else (1, 4)):
        nets += [
            (f"conv stack b{bs}", conv_stack(), torch.randn(bs, 3, res, res, generator=gen)),
            (f"depthwise stack b{bs}", dw_stack(), torch.randn(bs, 3, res, res, generator=gen)),
            (f"se stack b{bs}", se_stack(), torch.randn(bs, 3, res, res, generator=gen)),
            (f"mlp b{bs}", mlp(), torch.randn(8 * bs, 64, 256, generator=gen)),
        ]
    return nets


#: interleaved rounds over the synthetic networks, and timed runs of each network per
#: round (full, quick grid): see :func:`fit_context`
CONTEXT_ROUNDS = 3
CONTEXT_REPEAT = (7, 2)
#: bounds of the in-network terms (a fit outside them is interference, not a property)
FACTOR_RANGE = (0.5, 4.0)
PER_OP_RANGE = (0.0, 1e-4)


def fit_network_terms(
    rows: Sequence[tuple[float, float, int, float]],
    per_op: bool = True,
) -> tuple[float, float]:
    """The in-network factor ``f`` and per-op overhead ``c`` from synthetic networks.

    Each row is (predicted kernel time K, predicted overheads O, ops N, measured T) of
    one network with factor 1 and no per-op term; the model is ``T ≈ f·K + O + c·N``.
    ``f`` and ``c`` minimise the squared *relative* error Σ ((f·K + c·N − (T − O)) / T)²
    (the 2×2 normal equations), then are clamped to :data:`FACTOR_RANGE` and
    :data:`PER_OP_RANGE`; when ``c`` is clamped, ``f`` is refitted alone. With fewer
    than two rows, or rows that cannot separate the two, or ``per_op`` False, ``c`` is 0.
    This is the serial (CPU) model; under asynchronous launches the terms do not add
    and :func:`fit_queue_terms` fits them.
    """
    pts = [(k / t, n / t, (t - o) / t) for k, o, n, t in rows if t > 0 and k > 0]
    if not pts:
        return 1.0, 0.0

    def f_only(c: float) -> float:
        # least squares of f·a = y − c·b
        num = sum(a * (y - c * b) for a, b, y in pts)
        den = sum(a * a for a, _, _ in pts)
        return num / den if den > 0 else 1.0

    saa = sum(a * a for a, _, _ in pts)
    sbb = sum(b * b for _, b, _ in pts)
    sab = sum(a * b for a, b, _ in pts)
    say = sum(a * y for a, _, y in pts)
    sby = sum(b * y for _, b, y in pts)
    det = saa * sbb - sab * sab
    if per_op and len(pts) >= 2 and det > 1e-12 * max(saa * sbb, 1e-300):
        f = (say * sbb - sby * sab) / det
        c = (saa * sby - sab * say) / det
    else:
        f, c = f_only(0.0), 0.0
    if not PER_OP_RANGE[0] <= c <= PER_OP_RANGE[1]:
        c = min(PER_OP_RANGE[1], max(PER_OP_RANGE[0], c))
        f = f_only(c)
    f = min(FACTOR_RANGE[1], max(FACTOR_RANGE[0], f))
    return f, c


def fit_context(
    model: EfficiencyModel,
    dev: torch.device,
    sync: Sync = _nosync,
    *,
    quick: bool = False,
    progress: Progress | None = None,
) -> tuple[tuple[float, float, float], dict[str, float]]:
    """How much slower ops run inside a network than in a hot loop.

    Each synthetic network, cast to the calibration's dtype (``model.dtype``), is
    counted, predicted with ``model`` (factor 1, no per-op term) and timed end to end; :func:`fit_network_terms` (CPU) or
    :func:`fit_queue_terms` (CUDA) fits the in-network factor on kernel time and the
    extra per-op overhead. Returns (factor for matrix-op kernels,
    factor for memory-op kernels — the same, for now —, per-op overhead) and, per
    network, measured / predicted.
    """
    from roofline.counting import profile as count_profile
    from roofline.devices.model import Device, Peak
    from roofline.latency.measure import time_region
    from roofline.latency.predict import predict

    say = progress or (lambda _m: None)
    # a neutral device: efficiencies are absolute rates, only the vector pipe matters
    neutral = Device(
        key="calibration",
        name="calibration",
        vendor="",
        kind=model.kind,
        aliases=(),
        memory_bytes=0,
        memory_bandwidth_bytes_per_s=1e11,
        peaks={"fp32": Peak(1e12, "plain", "calibration")},
        plain_peaks={"fp32": Peak(1e15, "plain", "calibration")},
    )
    base = dataclasses.replace(
        model, context_factor=1.0, memory_context_factor=1.0, network_op_overhead_s=0.0
    )
    ratios: dict[str, float] = {}
    rows: list[tuple[float, float, int, float]] = []
    queued: list[QueuedNetwork] = []
    cuda = dev.type == "cuda"
    # on a GPU, batch 1 (host-bound) and 32 (GPU-bound) tell the two terms apart
    batches = ((8,) if quick else (1, 32)) if cuda else None
    dtype = units.parse_dtype(model.dtype)
    built = []
    for name, net, x in synthetic_networks(quick, batches):
        say(f"in-network terms: {name}")
        net, x = net.eval().to(dtype), x.to(dtype)
        prof = count_profile(net, (x,))
        pred = predict(prof, neutral, efficiency=base)
        with _unless_it_fails_on_the_gpu(dev, say, f"in-network terms: {name}"):
            net, xd = net.to(dev), x.to(dev)
            built.append((name, pred, lambda net=net, xd=xd: net(xd)))
    # timed in CONTEXT_ROUNDS interleaved rounds, the median over all of a network's
    # samples: a few seconds of outside load then touch every network a little rather
    # than one network a lot (timed one after the other, 11 runs each, one network's
    # median moved by up to 40% between two fits a few seconds apart)
    samples: dict[str, list[float]] = {}
    failed: set[str] = set()
    for r in range(CONTEXT_ROUNDS):
        for name, _pred, step in built:
            if name in failed:
                continue
            failed.add(name)  # until this round's timing is through
            with _unless_it_fails_on_the_gpu(dev, say, f"in-network terms: {name}"):
                with torch.inference_mode():
                    timing = time_region(
                        step,
                        warmup=2 if r == 0 else 1,
                        repeat=CONTEXT_REPEAT[1 if quick else 0],
                        sync=sync,
                    )
                samples.setdefault(name, []).extend(timing.samples)
                failed.discard(name)
    for name, pred, _step in built:
        t = statistics.median(samples[name]) if name not in failed and name in samples else None
        if t is None:  # failed on the GPU: the terms are fitted on the other networks
            continue
        if model.async_launch:
            if pred.predicted_s:
                ratios[name] = t / pred.predicted_s
                queued.append(
                    QueuedNetwork(
                        tuple(o.host_s for o in pred.ops),
                        tuple(o.kernel_s - o.fresh_s for o in pred.ops),
                        tuple(o.fresh_s for o in pred.ops),
                        t,
                    )
                )
            continue
        # the factor scales kernel time only: the fresh-output cost, which the
        # prediction adds unscaled, goes with the overheads
        fresh = sum(o.fresh_s for o in pred.ops)
        overhead = sum(o.overhead_s for o in pred.ops) + pred.module_overhead_s + fresh
        kernel = sum((o.predicted_s or 0.0) - o.overhead_s - o.fresh_s for o in pred.ops)
        if kernel > 0:
            ratios[name] = t / (kernel + overhead)
            rows.append((kernel, overhead, len(pred.ops), t))
    if model.async_launch:
        f, c = fit_queue_terms(queued)
        return (f, f, c), ratios
    if not rows:
        return (1.0, 1.0, 0.0), ratios
    f, c = fit_network_terms(rows)
    return (f, f, c), ratios


@dataclass(frozen=True)
class QueuedNetwork:
    """A synthetic network predicted with factor 1 and no per-op term, per op: host
    time (module calls + issue), kernel time (without the fresh-output cost), fresh
    cost; and its measured time."""

    host: tuple[float, ...]
    kernel: tuple[float, ...]
    fresh: tuple[float, ...]
    measured_s: float

    def predicted(self, factor: float, per_op: float) -> float:
        from roofline.latency.predict import schedule

        _, end = schedule(
            [h + per_op for h in self.host],
            [factor * k + f for k, f in zip(self.kernel, self.fresh, strict=True)],
        )
        return end


def fit_queue_terms(nets: Sequence[QueuedNetwork]) -> tuple[float, float]:
    """The in-network factor ``f`` (on kernel time) and per-op host overhead ``c`` of
    asynchronous launches (CUDA), where the two do not add (the host/GPU pipeline of
    :func:`roofline.latency.predict.schedule`): a search over :data:`FACTOR_RANGE` ×
    :data:`PER_OP_RANGE` minimising Σ (relative error)², on a coarse grid and then a
    finer one around the best point. Host-bound networks (batch 1) fix ``c``,
    GPU-bound ones ``f``; of near-equal fits the smaller ``c`` wins."""
    nets = [n for n in nets if n.measured_s > 0 and n.kernel]
    if not nets:
        return 1.0, 0.0

    def loss(f: float, c: float) -> float:
        err = sum(((n.predicted(f, c) - n.measured_s) / n.measured_s) ** 2 for n in nets)
        return err * (1.0 + 1e-3 * c / PER_OP_RANGE[1])

    lo, hi = math.log(FACTOR_RANGE[0]), math.log(FACTOR_RANGE[1])
    fs = [math.exp(lo + (hi - lo) * i / 24) for i in range(25)]
    cs = [PER_OP_RANGE[1] * (i / 20) ** 2 for i in range(21)]  # finer near 0
    best = min(((loss(f, c), f, c) for f in fs for c in cs), key=lambda t: t[0])
    _, f0, c0 = best
    step_f = (hi - lo) / 24
    step_c = max(c0 * 0.3, PER_OP_RANGE[1] / 400)
    fine_f = [f0 * math.exp(step_f * (i - 5) / 5) for i in range(11)]
    fine_c = [max(0.0, c0 + step_c * (i - 5) / 5) for i in range(11)]
    _, f, c = min([best] + [(loss(f, c), f, c) for f in fine_f for c in fine_c], key=lambda t: t[0])
    return min(FACTOR_RANGE[1], max(FACTOR_RANGE[0], f)), min(PER_OP_RANGE[1], c)


def fit_summary(eff: EfficiencyModel) -> str:
    """A few lines showing the fitted model at typical sizes (for ``roofline calibrate``)."""
    lines = [
        f"latency model ({units.dtype_short(eff.dtype)} kernels, "
        f"{'quick' if eff.quick else 'full'} grid, {eff.threads} threads): "
        f"{eff.launch_overhead_s * 1e6:.2f} µs per op, {eff.module_overhead_s * 1e6:.2f} µs "
        f"per module call, in-network factor {eff.context_factor:.2f} and "
        f"{eff.network_op_overhead_s * 1e6:.2f} µs more per op"
    ]
    probes = [
        ("gemm 256³", "gemm", (256, 256, 256)),
        ("gemm 2048³", "gemm", (2048, 2048, 2048)),
        ("conv 3x3 64ch 56²", "conv", (3136, 64, 576, 8.0)),
        ("conv 1x1 256ch 14²", "conv", (196, 256, 256, 1.0)),
        ("depthwise 3x3 144ch 56²", "depthwise_conv", (3136, 144, 9, 1)),
        ("depthwise 3x3 144ch 56² backward", "depthwise_conv.backward", (3136, 144, 9, 1)),
        ("LSTM b1 h256 64 steps", "rnn", (1, 1024, 512, 64)),
        ("LSTM b32 h256 64 steps", "rnn", (32, 1024, 512, 64)),
    ]
    parts = []
    for label, cls, size in probes:
        r = eff.compute_rate(cls, size)
        if r:
            parts.append(f"{label} {r / 1e9:.0f} GFLOP/s")
    if parts:
        lines.append("  achieved: " + ", ".join(parts))
    mem = []
    for nbytes in (2**20, 2**27):
        # what an add moving ``nbytes`` is predicted to take as a kernel: its fitted
        # byte rate plus the fresh allocation of its output (a third of the bytes),
        # which the rates are fitted net of (the per-op overhead is shown above)
        kernel = nbytes / eff.memory_rate("elementwise", nbytes) + eff.fresh.seconds(nbytes / 3)
        mem.append(
            f"elementwise {nbytes / 2**20:.0f} MiB {nbytes / kernel / 1e9:.3g} GB/s "
            f"({units.seconds(kernel)})"
        )
    lines.append("  " + ", ".join(mem) + " (kernel time with its output's allocation)")
    if eff.host_s:
        lines.append(f"  host issue time per op: {host_issue_text(eff)}")
    bounds = bounds_text(eff.context_factor, eff.network_op_overhead_s)
    if bounds:
        lines.append(f"  warning: {bounds}")
    warning = drift_text(eff.info.get("speed_drift"))
    if warning:
        lines.append(f"  warning: {warning}")
    elif "speed_drift" in eff.info:
        lines.append(
            f"  steady: a reference GEMM ran within {abs(eff.info['speed_drift']):.0%} "
            "of its start-time speed at the end"
        )
    return "\n".join(lines)


def host_issue_text(eff: EfficiencyModel) -> str:
    """``conv 12.0 µs, gemm 7.0 µs, ...``: the host's issue time per op class (CUDA),
    slowest first."""
    ranked = sorted(eff.host_s.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in ranked)
