"""Roofline analysis: where each layer and op of a profile sits on a device's roofline.

The model (Williams, Waterman & Patterson, 2009): a kernel that does ``F`` FLOPs and
moves ``B`` bytes through device memory cannot finish faster than the slower of its
two limits, ``F / peak`` and ``B / bandwidth``. Here the compute limit is split by
execution unit, because matrix work (conv, matmul, attention) runs on tensor cores
when the device has them while everything else runs on the plain pipes::

    compute_time = matrix_flops / matrix_peak + vector_flops / vector_peak
    memory_time  = bytes / bandwidth
    time         = max(compute_time, memory_time)                       (op_time)

For one op (one eager kernel) this gives:

- ``intensity = flops / bytes`` (FLOPs per byte);
- ``effective_peak = flops / compute_time``: the compute ceiling for *this mix* of
  matrix and vector FLOPs (equal to the matrix peak for a pure GEMM, to the vector
  peak for pure elementwise work, in between otherwise);
- ``attainable = flops / time = min(effective_peak, intensity * bandwidth)``;
- ``bound = "compute"`` when ``compute_time >= memory_time``, i.e. exactly when
  ``intensity >= effective_peak / bandwidth`` (the op's own ridge point; the device's
  ridge point ``matrix_peak / bandwidth`` for pure matrix work), else ``"memory"``.

Layers and the whole model are executed op by op in eager PyTorch, so their time is
the **sum of their ops' times** (never less: the roofline does not let a memory-bound
op hide behind a compute-bound one). Rows at any depth therefore add up to the model
total, and the total does not depend on the depth. For a group of ops:

- ``intensity`` and ``bound`` are those of the group as a whole (sum of compute times
  against sum of memory times), so the bound flips at the group's ridge point;
- ``attainable = flops / time`` (the FLOP rate the roofline allows the group, op by op);
- ``roof = min(effective_peak, intensity * bandwidth)``: the roof above the group's
  intensity on the plot;
- ``roof_fraction = attainable / roof`` (0..1], the *distance from the roof*: 1.0 when
  the group sits on the roof, lower when it mixes memory-bound and compute-bound ops
  whose limits cannot overlap;
- ``peak_fraction = attainable / matrix_peak``: how far below the device's flat roof
  (the chosen precision's peak) the group sits.

The whole model also gets ``roof_time_s = max(compute_time, memory_time)`` of all its
work as if it were a single kernel: the "plain roofline" time of a hand calculation
(seed 003), which is a lower bound of ``time_s``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from roofline.counting.profile import ModelProfile, OpRecord
from roofline.devices import PRECISIONS, Device
from roofline.errors import AnalysisError, DeviceError
from roofline.units import dtype_name, human_bytes, seconds, si

#: which profile dtype gives the bytes each precision means
PRECISION_DTYPES = {
    "fp64": ("float64",),
    "fp32": ("float32",),
    "tf32": ("float32",),
    "fp16": ("float16",),
    "bf16": ("bfloat16",),
    "fp8": ("float8_e4m3fn", "float8_e5m2"),
    # torch's quantized dtypes store 8-bit integers (a quantized model's dtype is qint8)
    "int8": ("int8", "uint8", "qint8", "quint8"),
}


@dataclass(frozen=True)
class Ceiling:
    """A compute ceiling used by the analysis: value, execution unit, where it is from."""

    flops_per_s: float
    pipe: str  #: "tensor" or "plain"
    source: str
    precision: str
    measured: bool = False

    def label(self) -> str:
        """Short display form: ``71.00 TFLOP/s fp16 tensor``."""
        return f"{si(self.flops_per_s, 'FLOP/s')} {self.precision} {self.pipe}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "flops_per_s": self.flops_per_s,
            "pipe": self.pipe,
            "source": self.source,
            "precision": self.precision,
            "measured": self.measured,
        }


#: an fp32 analysis holds dense convolutions to the TF32 tensor roof where that roof is
#: more than this factor above the fp32 matrix roof (A100, H100...; not the RTX 3090,
#: whose dense TF32 equals its fp32 figure)
TF32_CONV_MIN_GAIN = 1.2


@dataclass(frozen=True)
class Ceilings:
    """The three numbers of a roofline: matrix and vector compute ceilings, bandwidth;
    and, where it differs from the matrix ceiling, the one dense convolutions run at."""

    matrix: Ceiling
    vector: Ceiling
    bandwidth_bytes_per_s: float
    precision: str
    #: fp32 on a GPU with TF32 tensor cores: PyTorch runs fp32 convolutions on them by
    #: default (``torch.backends.cudnn.allow_tf32`` is True), while matmuls stay at fp32
    #: (``torch.backends.cuda.matmul.allow_tf32`` is False); None elsewhere
    conv: Ceiling | None = None

    def matrix_for(self, op_class: str | None) -> Ceiling:
        """The ceiling that prices the matrix FLOPs of an op of ``op_class``."""
        if self.conv is not None and op_class == "conv":
            return self.conv
        return self.matrix

    @property
    def ridge_point(self) -> float:
        """FLOPs per byte where the matrix roof meets the memory slope."""
        return self.matrix.flops_per_s / self.bandwidth_bytes_per_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "matrix": self.matrix.as_dict(),
            "vector": self.vector.as_dict(),
            "conv": self.conv.as_dict() if self.conv else None,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "ridge_point": self.ridge_point,
        }


def check_precision(precision: str) -> str:
    """Normalise a precision name; :class:`AnalysisError` (one line) if unknown."""
    p = str(precision).strip().lower()
    if p not in PRECISIONS:
        raise AnalysisError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return p


def default_precision(profile: ModelProfile, device: Device) -> str:
    """The precision a profile runs at when none is asked for: its dtype's
    (``float16`` -> fp16, ``bfloat16`` -> bf16, ``float64`` -> fp64) where ``device``
    has a figure for it, else fp32 (:func:`fallback_reason` says why).

    A 16-bit figure below the device's fp32 one (Pascal's 1/64-rate fp16: PyTorch
    runs fp16 GEMMs and convolutions there with fp32 arithmetic, and elementwise maths
    in fp32) falls back to fp32 as well."""
    return _default_precision(profile, device)[0]


def _default_precision(profile: ModelProfile, device: Device) -> tuple[str, str | None]:
    """(:func:`default_precision`, :func:`fallback_reason` when it fell back to fp32)."""
    p = dtype_precision(profile.dtype)
    why = fallback_reason(p, device) if p is not None else None
    return ("fp32", why) if p is None or why else (p, None)


def dtype_precision(dtype: str) -> str | None:
    """The precision a tensor dtype is (``"bfloat16"`` -> ``"bf16"``), by
    :data:`PRECISION_DTYPES`; None for one no precision stores (integers but int8)."""
    for p, dtypes in PRECISION_DTYPES.items():
        if p != "tf32" and dtype in dtypes:
            return p
    return None


def fallback_reason(precision: str, device: Device) -> str | None:
    """Why a model of ``precision`` is analysed at fp32 on ``device`` by default, or
    None if it is not."""
    if precision not in device.peaks:
        return f"{device.name} has no {precision} figure"
    if precision in ("fp16", "bf16") and "fp32" in device.peaks:
        half, single = device.matrix_peak(precision), device.matrix_peak("fp32")
        if half.flops_per_s < single.flops_per_s:
            return (
                f"{device.name}'s {precision} rate ({si(half.flops_per_s, 'FLOP/s')}) is below "
                f"its fp32 rate, and PyTorch computes 16-bit GEMMs and convolutions in fp32 there"
            )
    return None


def ceilings(device: Device, precision: str = "fp32", *, tf32_conv: bool = True) -> Ceilings:
    """The matrix (tensor-core if any) and vector (plain-pipe) ceilings of ``device``;
    with ``tf32_conv`` (PyTorch's default), an fp32 analysis on a GPU whose TF32 tensor
    roof is well above its fp32 one holds dense convolutions to the TF32 roof
    (:attr:`Ceilings.conv`)."""
    p = check_precision(precision)
    try:
        m = device.matrix_peak(p)
        v = device.vector_peak(p)
    except DeviceError as exc:
        raise AnalysisError(str(exc)) from None
    bw = device.memory_bandwidth_bytes_per_s
    if not (bw and bw > 0 and m.flops_per_s > 0 and v.flops_per_s > 0):
        raise AnalysisError(f"{device.name}: {p} peaks and memory bandwidth must be positive")
    conv = None
    # NVIDIA only: on ROCm, PyTorch keeps fp32 convolutions at fp32 unless TF32 is
    # asked for (pytorch/pytorch#190711: "On ROCm, TF32 is strictly opt-in")
    nvidia = device.vendor.strip().lower() == "nvidia"
    if tf32_conv and p == "fp32" and nvidia and device.kind == "gpu" and "tf32" in device.peaks:
        t = device.matrix_peak("tf32")
        if t.pipe == "tensor" and t.flops_per_s > TF32_CONV_MIN_GAIN * m.flops_per_s:
            conv = Ceiling(t.flops_per_s, t.pipe, t.source, "tf32", t.measured)
    return Ceilings(
        matrix=Ceiling(m.flops_per_s, m.pipe, m.source, p, m.measured),
        vector=Ceiling(v.flops_per_s, v.pipe, v.source, p, v.measured),
        bandwidth_bytes_per_s=bw,
        precision=p,
        conv=conv,
    )


def _times(
    matrix_flops: float,
    vector_flops: float,
    nbytes: float,
    c: Ceilings,
    op_class: str | None = None,
) -> tuple[float, float]:
    compute = (
        matrix_flops / c.matrix_for(op_class).flops_per_s + vector_flops / c.vector.flops_per_s
    )
    memory = nbytes / c.bandwidth_bytes_per_s
    return compute, memory


def op_time(
    matrix_flops: float,
    vector_flops: float,
    bytes: float,
    device: Device,
    precision: str,
    op_class: str | None = None,
    *,
    tf32_conv: bool = True,
) -> float:
    """Roofline time of one kernel, in seconds.

    ``max(matrix_flops / matrix_peak + vector_flops / vector_peak, bytes / bandwidth)``
    with the matrix peak the device's tensor-core figure for ``precision`` when it has
    one (else its plain figure; a dense convolution at fp32: :attr:`Ceilings.conv`
    where it applies) and the vector peak its plain-pipe figure.
    """
    c = ceilings(device, precision, tf32_conv=tf32_conv)
    compute, memory = _times(matrix_flops, vector_flops, bytes, c, op_class)
    return max(compute, memory)


# -- rows -----------------------------------------------------------------------------


def ceiling_text(matrix_flops: int, vector_flops: int, matrix: Ceiling, vector: Ceiling) -> str:
    """The pipes whose ceilings priced some FLOPs: ``tensor``, ``plain``,
    ``tensor+plain`` (matrix FLOPs on tensor cores, vector FLOPs on the plain pipes),
    or ``-`` with no FLOPs at all."""
    parts = []
    if matrix_flops:
        parts.append(matrix.pipe)
    if vector_flops:
        parts.append(vector.pipe)
    return "+".join(dict.fromkeys(parts)) or "-"


@dataclass(frozen=True)
class RowAnalysis:
    """The roofline numbers of one layer or one op (see the module docstring)."""

    name: str  #: module path of the layer (for an op: the module it ran in)
    type: str  #: module class for a layer, op class for an op
    depth: int
    op: str  #: aten op for an op row; "" for a layer
    phase: str  #: op rows: "forward"/"backward"; layer rows: ""
    flops: int
    matrix_flops: int
    vector_flops: int
    bytes: int
    bytes_read: int
    bytes_written: int
    weight_bytes: int
    params: int
    ops: int
    intensity: float  #: FLOPs/byte; inf when there are FLOPs but no bytes
    compute_time_s: float
    memory_time_s: float
    time_s: float
    effective_peak_flops_per_s: float
    attainable_flops_per_s: float
    roof_flops_per_s: float
    ridge_point: float  #: this row's own ridge (effective peak / bandwidth)
    bound: str  #: "memory", "compute", or "none" for a row with no work at all
    share: float  #: of the model's total time
    roof_fraction: float
    peak_fraction: float
    matrix_ceiling: Ceiling
    vector_ceiling: Ceiling
    explanation: str
    #: a layer: the shapes of the tensors its module received (the model's inputs for
    #: the root); an op: those of its tensor arguments
    input_shapes: tuple[Any, ...] = ()
    output_shape: Any = None
    self_only: bool = False
    #: a layer: times its module ran (the shapes are the first call's)
    calls: int = 1

    @property
    def activation_bytes_read(self) -> int:
        return self.bytes_read - self.weight_bytes

    def ceiling_text(self) -> str:
        """Which ceiling(s) the compute side used, for tables."""
        return ceiling_text(
            self.matrix_flops, self.vector_flops, self.matrix_ceiling, self.vector_ceiling
        )

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
        }
        if self.op:
            d["op"] = self.op
            d["phase"] = self.phase
        d.update(
            {
                "flops": self.flops,
                "matrix_flops": self.matrix_flops,
                "vector_flops": self.vector_flops,
                "bytes": self.bytes,
                "bytes_read": self.bytes_read,
                "bytes_written": self.bytes_written,
                "weight_bytes": self.weight_bytes,
                "activation_bytes_read": self.activation_bytes_read,
                "params": self.params,
                "ops": self.ops,
                "intensity": _finite(self.intensity),
                "compute_time_s": self.compute_time_s,
                "memory_time_s": self.memory_time_s,
                "time_s": self.time_s,
                "effective_peak_flops_per_s": self.effective_peak_flops_per_s,
                "attainable_flops_per_s": self.attainable_flops_per_s,
                "roof_flops_per_s": self.roof_flops_per_s,
                "ridge_point": self.ridge_point,
                "bound": self.bound,
                "share": self.share,
                "roof_fraction": self.roof_fraction,
                "peak_fraction": self.peak_fraction,
                "matrix_ceiling": self.matrix_ceiling.as_dict() if self.matrix_flops else None,
                "vector_ceiling": self.vector_ceiling.as_dict() if self.vector_flops else None,
                "explanation": self.explanation,
                "input_shapes": _plain(self.input_shapes),
                "output_shape": _plain(self.output_shape),
            }
        )
        if not self.op:
            d["self_only"] = self.self_only
            d["calls"] = self.calls
        return d


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _plain(shape: Any) -> Any:
    if isinstance(shape, tuple | list):
        return [_plain(s) for s in shape]
    return shape


@dataclass(frozen=True)
class ModelTotals:
    """Whole-model roofline figures."""

    flops: int
    matrix_flops: int
    vector_flops: int
    bytes: int
    bytes_read: int
    bytes_written: int
    weight_bytes: int
    params: int
    intensity: float
    ridge_point: float  #: the device's, for the chosen precision
    compute_time_s: float
    memory_time_s: float
    time_s: float  #: sum of per-op roofline times (eager, one kernel per op)
    roof_time_s: float  #: max(compute, memory) of the whole model as one kernel
    bound: str
    attainable_flops_per_s: float
    roof_flops_per_s: float
    roof_fraction: float
    peak_fraction: float
    batch: int | None
    samples_per_s: float | None  #: batch / time_s
    memory_bound_layers: int
    compute_bound_layers: int

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["intensity"] = _finite(self.intensity)
        return d


@dataclass(frozen=True)
class RooflineAnalysis:
    """A profile analysed on one device at one precision."""

    model: str
    mode: str
    inputs: tuple[Any, ...]
    dtype: str
    device: Device
    precision: str
    ceilings: Ceilings
    depth: int | None
    layers: tuple[RowAnalysis, ...]
    ops: tuple[RowAnalysis, ...]
    totals: ModelTotals
    warnings: tuple[str, ...] = ()
    profile: ModelProfile | None = field(default=None, repr=False, compare=False)

    @property
    def spec(self) -> str | None:
        """What the profile was loaded from, as the command line named it: a spec file,
        or an inline model with its ``--input``/``--kwarg`` (``info["spec"]``, set by the
        CLI); None for a module profiled in code."""
        spec = self.profile.info.get("spec") if self.profile is not None else None
        return str(spec) if spec else None

    @property
    def time_per_op_s(self) -> float:
        """The mean roofline time of an op (0 without ops): set against a kernel launch
        (a few µs on a GPU), it says whether the roofline's time can hold, or the host's
        launches will set it (each op is one launch or more in eager PyTorch)."""
        return self.totals.time_s / len(self.ops) if self.ops else 0.0

    def top(self, n: int = 5) -> tuple[RowAnalysis, ...]:
        """The ``n`` layers with the largest roofline time."""
        return tuple(sorted(self.layers, key=lambda r: -r.time_s)[: max(n, 0)])

    def time_by_type(self) -> dict[str, float]:
        """Roofline time per layer type (module class), largest first."""
        out: dict[str, float] = {}
        for r in self.layers:
            out[r.type] = out.get(r.type, 0.0) + r.time_s
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def time_by_op_class(self) -> dict[str, float]:
        """Roofline time per op class (gemm, conv, elementwise...), largest first."""
        out: dict[str, float] = {}
        for r in self.ops:
            out[r.type] = out.get(r.type, 0.0) + r.time_s
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def as_dict(self) -> dict[str, Any]:
        dev = self.device
        return {
            "model": self.model,
            "mode": self.mode,
            "inputs": [dict(i) for i in self.inputs],
            "dtype": self.dtype,
            "device": {
                "key": dev.key,
                "name": dev.name,
                "memory_bandwidth_bytes_per_s": dev.memory_bandwidth_bytes_per_s,
                "is_measured_view": dev.is_measured_view,
            },
            "precision": self.precision,
            "ceilings": self.ceilings.as_dict(),
            "depth": self.depth,
            "totals": self.totals.as_dict(),
            "warnings": list(self.warnings),
            "time_by_type": self.time_by_type(),
            "time_by_op_class": self.time_by_op_class(),
            "layers": [r.as_dict() for r in self.layers],
            "ops": [r.as_dict() for r in self.ops],
        }


def launch_note(a: RooflineAnalysis, first: RooflineAnalysis, first_name: str) -> str | None:
    """The seed's puzzle, where a comparison's totals show it: ``a`` has less roofline
    time than ``first`` (named ``first_name``) but more ops, kernel launches the
    roofline time does not count, so it may well run slower; None otherwise. The
    sentence follows the row's own name (``"<name>: 0.645× the roofline time ..."``)."""
    if not (len(a.ops) > len(first.ops) and a.totals.time_s < first.totals.time_s):
        return None
    return (
        f"{a.totals.time_s / first.totals.time_s:.3f}× the roofline time of {first_name}, "
        f"but {len(a.ops) / len(first.ops):.2f}× its ops ({len(a.ops):,} against "
        f"{len(first.ops):,}), at {seconds(a.time_per_op_s)} each against "
        f"{seconds(first.time_per_op_s)}. The roofline time counts no kernel launches: where "
        "an op's time is near a launch (a few µs on a GPU), the extra launches can make it "
        "the slower one."
    )


# -- the analysis ---------------------------------------------------------------------


@dataclass
class _Acc:
    compute: float = 0.0
    memory: float = 0.0
    time: float = 0.0


def _op_parts(op: OpRecord, c: Ceilings) -> tuple[float, float, float]:
    compute, memory = _times(op.matrix_flops, op.vector_flops, op.bytes, c, op.op_class)
    return compute, memory, max(compute, memory)


def op_roof_time(op: OpRecord, c: Ceilings) -> float:
    """:func:`op_time` of a counted op on ceilings already looked up."""
    return _op_parts(op, c)[2]


def matrix_ceiling(ops: Iterable[OpRecord], c: Ceilings) -> tuple[Ceiling, float]:
    """The matrix ceiling that prices most of ``ops``' matrix FLOPs, and the matrix
    peak of their mix (matrix FLOPs / matrix compute time; ``c.matrix`` without
    matrix FLOPs)."""
    if c.conv is None:
        return c.matrix, c.matrix.flops_per_s
    mf = conv = 0
    t = 0.0
    for o in ops:
        mf += o.matrix_flops
        t += o.matrix_flops / c.matrix_for(o.op_class).flops_per_s
        if o.op_class == "conv":
            conv += o.matrix_flops
    if not mf:
        return c.matrix, c.matrix.flops_per_s
    return (c.conv if 2 * conv > mf else c.matrix), mf / t


def _row(
    *,
    name: str,
    type_: str,
    depth: int,
    op: str,
    phase: str,
    ops: Sequence[OpRecord],
    params: int,
    c: Ceilings,
    total_time: float,
    input_shapes: tuple[Any, ...] = (),
    output_shape: Any = None,
    self_only: bool = False,
    calls: int = 1,
) -> RowAnalysis:
    mf = sum(o.matrix_flops for o in ops)
    vf = sum(o.vector_flops for o in ops)
    br = sum(o.bytes_read for o in ops)
    bw_ = sum(o.bytes_written for o in ops)
    wb = sum(o.weight_bytes for o in ops)
    acc = _Acc()
    for o in ops:
        cp, mem, t = _op_parts(o, c)
        acc.compute += cp
        acc.memory += mem
        acc.time += t
    flops, nbytes = mf + vf, br + bw_
    g = _group(flops, nbytes, acc, c)
    row_ceiling, matrix_peak = matrix_ceiling(ops, c)
    row = RowAnalysis(
        name=name,
        type=type_,
        depth=depth,
        op=op,
        phase=phase,
        flops=flops,
        matrix_flops=mf,
        vector_flops=vf,
        bytes=nbytes,
        bytes_read=br,
        bytes_written=bw_,
        weight_bytes=wb,
        params=params,
        ops=len(ops),
        intensity=g["intensity"],
        compute_time_s=acc.compute,
        memory_time_s=acc.memory,
        time_s=acc.time,
        effective_peak_flops_per_s=g["effective_peak"],
        attainable_flops_per_s=g["attainable"],
        roof_flops_per_s=g["roof"],
        ridge_point=g["effective_peak"] / c.bandwidth_bytes_per_s,
        bound=g["bound"],
        share=acc.time / total_time if total_time > 0 else 0.0,
        roof_fraction=g["roof_fraction"],
        peak_fraction=g["attainable"] / matrix_peak,
        matrix_ceiling=row_ceiling,
        vector_ceiling=c.vector,
        explanation="",
        input_shapes=input_shapes,
        output_shape=output_shape,
        self_only=self_only,
        calls=calls,
    )
    return _with_explanation(row, c)


def _group(flops: int, nbytes: int, acc: _Acc, c: Ceilings) -> dict[str, Any]:
    """Intensity, effective peak, attainable, roof and bound of a group of ops."""
    bw = c.bandwidth_bytes_per_s
    if nbytes:
        intensity = flops / nbytes
    else:
        intensity = math.inf if flops else 0.0
    # effective compute ceiling of the mix; with no FLOPs, the vector ceiling (nothing to
    # compute, so any choice gives zero compute time; the plain pipes are the honest one)
    effective = flops / acc.compute if acc.compute > 0 else c.vector.flops_per_s
    attainable = flops / acc.time if acc.time > 0 else 0.0
    roof = min(effective, intensity * bw) if flops else 0.0
    if acc.time == 0:
        bound = "none"
    else:
        bound = "compute" if acc.compute >= acc.memory else "memory"
    frac = attainable / roof if roof > 0 else 1.0
    return {
        "intensity": intensity,
        "effective_peak": effective,
        "attainable": attainable,
        "roof": roof,
        "bound": bound,
        "roof_fraction": min(frac, 1.0),
    }


def _dominant_traffic(row: RowAnalysis) -> tuple[str, str, int]:
    """(verb, what, bytes) of the largest of weights / activations in / activations out."""
    parts = [
        ("reads", "weights", row.weight_bytes),
        ("reads", "activations", row.activation_bytes_read),
        ("writes", "activations", row.bytes_written),
    ]
    return max(parts, key=lambda p: p[2])


def _with_explanation(row: RowAnalysis, c: Ceilings) -> RowAnalysis:
    import dataclasses

    return dataclasses.replace(row, explanation=explain(row, c))


def explain(row: RowAnalysis, c: Ceilings) -> str:
    """One plain sentence saying why a row is bound the way it is.

    Memory traffic is split as LLM-Viewer does (weights, activations in, activations
    out) so a memory-bound row says which of the three dominates.
    """
    split = (
        f"traffic {human_bytes(row.bytes)} = weights {human_bytes(row.weight_bytes)} + "
        f"activations in {human_bytes(row.activation_bytes_read)} + "
        f"out {human_bytes(row.bytes_written)}"
    )
    if row.bound == "none":
        return "no work: no FLOPs and no memory traffic"
    if row.bound == "memory":
        verb, what, n = _dominant_traffic(row)
        if row.flops:
            work = (
                f"for {si(row.flops, 'FLOPs')} ({row.intensity:.1f} FLOP/B, "
                f"ridge {row.ridge_point:.1f})"
            )
        else:
            work = "and does no arithmetic (pure data movement)"
        return f"memory-bound: {verb} {human_bytes(n)} of {what} {work}; {split}"
    # compute-bound: say which unit does most of the compute time
    mt = row.matrix_flops / row.matrix_ceiling.flops_per_s
    vt = row.vector_flops / c.vector.flops_per_s
    if mt >= vt:
        unit = f"{si(row.matrix_flops, 'FLOPs')} of matrix work at {row.matrix_ceiling.label()}"
    else:
        unit = f"{si(row.vector_flops, 'FLOPs')} of vector work at {c.vector.label()}"
    intensity = "inf" if math.isinf(row.intensity) else f"{row.intensity:.1f}"
    return f"compute-bound: {unit} ({intensity} FLOP/B, ridge {row.ridge_point:.1f}); {split}"


def precision_warning(profile: ModelProfile, precision: str) -> str | None:
    """A warning when the profile's bytes are not at the precision's size, else None."""
    want = PRECISION_DTYPES.get(precision, ())
    if profile.dtype in want:
        return None
    # the --dtype that stores this precision's bytes (none for fp8/int8: no model cast)
    from roofline.spec import MODEL_DTYPES

    castable = want and any(want[0] == dtype_name(d) for d in MODEL_DTYPES)
    cast = dtype_precision(want[0]) if castable else None
    how = (
        f"profile with --dtype {cast} (or 'dtype: {cast}' in the spec) to count {precision} bytes"
        if cast
        else f"profile a model that stores {precision} tensors to count {precision} bytes"
    )
    return (
        f"bytes are counted at the profile's dtype ({profile.dtype}) while the compute "
        f"ceilings are {precision}: {how}"
    )


def tf32_warning(profile: ModelProfile, device: Device, c: Ceilings) -> str | None:
    """What an fp32 analysis assumed of convolutions on a GPU with TF32 tensor cores:
    that PyTorch runs them there by default (``torch.backends.cudnn.allow_tf32`` is
    True; matmuls are not: ``torch.backends.cuda.matmul.allow_tf32`` is False), so
    they are held to the TF32 roof (:attr:`Ceilings.conv`); None where that does not
    apply or the model has no dense convolution."""
    if c.conv is None:
        return None
    # dense fp32 convolutions only: cuDNN runs depthwise ones on the plain pipes, and
    # TF32 is for fp32 tensors (a model cast to bf16 or fp64 has none)
    conv = sum(
        o.matrix_flops
        for o in profile.ops
        if o.op_class == "conv" and o.dtype in ("float32", "fp32", "")
    )
    if not conv:
        return None
    share = conv / max(1, sum(o.matrix_flops for o in profile.ops))
    # a share that rounds to 0 or 100 without being it reads "<1" or ">99": a ViT's patch
    # embedding is not "0%", nor ResNet-50's convolutions "100%" (its fc is 0.05%)
    percent = (
        "<1"
        if 100 * share < 0.5
        else ">99"
        if share < 1 and 100 * share >= 99.5
        else f"{100 * share:.0f}"
    )
    return (
        f"fp32 convolutions ({percent}% of this model's matrix FLOPs) are held to "
        f"{device.name}'s TF32 tensor roof, {c.conv.flops_per_s / 1e12:.1f} TFLOP/s, not the "
        f"fp32 {c.matrix.flops_per_s / 1e12:.1f}: PyTorch runs them on TF32 tensor cores by "
        f"default (torch.backends.cudnn.allow_tf32), while matmuls stay at fp32 "
        f"(torch.backends.cuda.matmul.allow_tf32 is off); --no-tf32-conv holds them to the "
        f"fp32 roof, --precision tf32 puts matmuls on TF32 too"
    )


def analyze(
    profile: ModelProfile,
    device: Device,
    precision: str | None = None,
    depth: int | None = None,
    *,
    tf32_conv: bool = True,
) -> RooflineAnalysis:
    """Analyse ``profile`` on ``device`` at ``precision`` (layers at ``depth``).

    Every op gets :func:`op_time`; a layer's time is the sum of its ops' times, so the
    layer rows add up to the model total at any depth. The compute side of
    ``attainable`` uses the *effective* peak of the row's mix of matrix and vector FLOPs
    (``flops / compute_time``), so a layer of pure elementwise work is held to the
    plain-pipe ceiling and a pure GEMM to the tensor-core ceiling. Raises
    :class:`AnalysisError` (one line) for an unknown precision or one the device has no
    figure for. The profile's dtype decides the bytes: analysing a float32 profile at
    fp16 keeps float32 bytes (a warning says so). ``precision`` None: the profile's
    own (:func:`default_precision`). ``tf32_conv``: see :func:`ceilings`.
    """
    fallback = None
    if precision is None:
        precision, fallback = _default_precision(profile, device)
    c = ceilings(device, precision, tf32_conv=tf32_conv)
    p = c.precision
    total_time = sum(_op_parts(o, c)[2] for o in profile.ops)

    layer_rows = []
    for layer in profile.layers(depth):
        name = layer.name
        layer_rows.append(
            _row(
                name=name,
                type_=layer.type,
                depth=layer.depth,
                op="",
                phase="",
                ops=layer.ops,
                params=layer.totals.params,
                c=c,
                total_time=total_time,
                input_shapes=layer.input_shapes,
                output_shape=layer.output_shape,
                self_only=layer.self_only,
                calls=layer.calls,
            )
        )
    op_rows = [
        _row(
            name=o.module or "(model)",
            type_=o.op_class,
            depth=o.module.count(".") + 1 if o.module else 0,
            op=o.op,
            phase=o.phase,
            ops=(o,),
            params=0,
            c=c,
            total_time=total_time,
            input_shapes=tuple(o.input_shapes),
            output_shape=o.output_shapes[0] if len(o.output_shapes) == 1 else o.output_shapes,
        )
        for o in profile.ops
    ]
    totals = _totals(profile, c, layer_rows, total_time)
    warnings = []
    bytes_warning = (
        f"{fallback}: the compute ceilings are fp32 (--precision to choose), the bytes stay "
        f"{profile.dtype}"
        if fallback
        else precision_warning(profile, p)
    )
    for w in (bytes_warning, tf32_warning(profile, device, c)):
        if w:
            warnings.append(w)
    if profile.uncounted_ops:
        warnings.append(
            f"{sum(profile.uncounted_ops.values())} ops have no FLOP formula "
            f"({', '.join(profile.uncounted_ops)}): their bytes are counted, their FLOPs are not"
        )
    return RooflineAnalysis(
        model=profile.name,
        mode=profile.mode,
        inputs=tuple(profile.inputs),
        dtype=profile.dtype,
        device=device,
        precision=p,
        ceilings=c,
        depth=depth,
        layers=tuple(layer_rows),
        ops=tuple(op_rows),
        totals=totals,
        warnings=tuple(warnings),
        profile=profile,
    )


def _totals(
    profile: ModelProfile, c: Ceilings, rows: Iterable[RowAnalysis], total_time: float
) -> ModelTotals:
    t = profile.totals()
    acc = _Acc()
    for o in profile.ops:
        cp, mem, tt = _op_parts(o, c)
        acc.compute += cp
        acc.memory += mem
        acc.time += tt
    g = _group(t.flops, t.bytes, acc, c)
    _, matrix_peak = matrix_ceiling(profile.ops, c)
    rows = list(rows)
    batch = profile.batch
    return ModelTotals(
        flops=t.flops,
        matrix_flops=t.matrix_flops,
        vector_flops=t.vector_flops,
        bytes=t.bytes,
        bytes_read=t.bytes_read,
        bytes_written=t.bytes_written,
        weight_bytes=t.weight_bytes,
        params=t.params,
        intensity=g["intensity"],
        ridge_point=c.ridge_point,
        compute_time_s=acc.compute,
        memory_time_s=acc.memory,
        time_s=total_time,
        roof_time_s=max(acc.compute, acc.memory),
        bound=g["bound"],
        attainable_flops_per_s=g["attainable"],
        roof_flops_per_s=g["roof"],
        roof_fraction=g["roof_fraction"],
        peak_fraction=g["attainable"] / matrix_peak,
        batch=batch,
        samples_per_s=(batch / total_time) if batch and total_time > 0 else None,
        memory_bound_layers=sum(r.bound == "memory" for r in rows),
        compute_bound_layers=sum(r.bound == "compute" for r in rows),
    )
