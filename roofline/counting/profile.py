"""What the counter returns: per-op records, per-module facts, and layer roll-ups.

All numbers are plain integers in SI base units (FLOPs, bytes). A FLOP is one
multiply or one add; a multiply-accumulate (MAC) is 2 FLOPs. ``macs`` is defined as
``matrix_flops // 2``: the multiply-accumulates of convolutions, matrix products and
attention, which is what thop, torchinfo and fvcore report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

PHASES = ("forward", "backward")

#: Op classes, used by the roofline (which ceiling applies) and by latency prediction
#: (which fitted efficiency applies).
OP_CLASSES = (
    "gemm",  # mm, addmm, bmm, baddbmm (from linear and matmul)
    "conv",  # dense or grouped convolution
    "depthwise_conv",  # groups == in_channels
    "attention",  # fused scaled-dot-product attention kernels
    "rnn",  # fused recurrent layers (oneDNN, cuDNN): input and recurrent GEMMs, gates
    "norm",  # batch/layer/group/instance norm and their backward
    "elementwise",  # arithmetic, activations, comparisons
    "reduction",  # sum, mean, max, softmax-like reductions
    "softmax",
    "pool",
    "upsample",
    "embedding",  # gathers and scatters
    "copy",  # cat, clone, dtype casts, fills: bytes only
    "other",  # an op without a formula (uncounted)
)


@dataclass(frozen=True)
class OpRecord:
    """One executed aten op: what it cost and where it ran.

    ``bytes_read`` counts each distinct input tensor once at its dtype's size (broadcast
    dimensions, stride 0, read once); ``weight_bytes`` is the part of ``bytes_read``
    that came from parameters and buffers. ``counted`` is False when the op has no
    FLOP formula: its bytes are still counted and it is listed in ``uncounted_ops``.
    """

    op: str
    module: str
    phase: str
    op_class: str
    matrix_flops: int
    vector_flops: int
    bytes_read: int
    bytes_written: int
    weight_bytes: int
    dtype: str
    counted: bool = True
    input_shapes: tuple[tuple[int, ...], ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()
    #: op-specific size facts for prediction, e.g. {"m":..,"n":..,"k":..} for a GEMM
    dims: Mapping[str, int] = field(default_factory=dict)
    #: bytes this op would not move if elementwise chains were fused into their
    #: producer (the *fused* estimate; inference only, see counter._with_fused_savings)
    fused_saved: int = 0

    @property
    def flops(self) -> int:
        return self.matrix_flops + self.vector_flops

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


@dataclass(frozen=True)
class ModuleInfo:
    """One ``nn.Module`` in the model, by its qualified name (``""`` is the root)."""

    name: str
    type: str
    depth: int
    #: parameters held by this module and its descendants (shared ones once)
    params: int
    #: parameters held directly by this module (not by children)
    own_params: int
    trainable_params: int
    buffers: int
    is_leaf: bool
    output_shape: tuple[Any, ...] | None = None
    #: shapes of the tensors the first call received (positional, then keyword);
    #: for the root, the model's inputs
    input_shape: tuple[Any, ...] | None = None
    #: times the module's forward was called
    calls: int = 0


@dataclass(frozen=True)
class Totals:
    """Sums over a set of ops (a layer, or the whole model)."""

    params: int = 0
    flops: int = 0
    matrix_flops: int = 0
    vector_flops: int = 0
    macs: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    weight_bytes: int = 0
    ops: int = 0
    #: bytes moved under the fused estimate (elementwise chains folded into producers)
    fused_bytes: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte of memory traffic."""
        return self.flops / self.bytes if self.bytes else float("inf")

    def as_dict(self) -> dict[str, int]:
        return {
            "params": self.params,
            "flops": self.flops,
            "matrix_flops": self.matrix_flops,
            "vector_flops": self.vector_flops,
            "macs": self.macs,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "weight_bytes": self.weight_bytes,
            "ops": self.ops,
            "fused_bytes": self.fused_bytes,
        }


def sum_ops(ops: list[OpRecord] | tuple[OpRecord, ...], params: int = 0) -> Totals:
    """Add up a group of ops."""
    mf = sum(o.matrix_flops for o in ops)
    vf = sum(o.vector_flops for o in ops)
    return Totals(
        params=params,
        flops=mf + vf,
        matrix_flops=mf,
        vector_flops=vf,
        macs=mf // 2,
        bytes_read=sum(o.bytes_read for o in ops),
        bytes_written=sum(o.bytes_written for o in ops),
        weight_bytes=sum(o.weight_bytes for o in ops),
        ops=len(ops),
        fused_bytes=sum(o.bytes - o.fused_saved for o in ops),
    )


@dataclass(frozen=True)
class Layer:
    """A row of the per-layer table at some depth.

    At depth ``d`` the rows partition the model: every module at depth ``d`` with all
    its descendants' ops, every shallower leaf module, and for a shallower module with
    children, a row holding only the ops it runs itself (``self_only``). The rows
    therefore always add up to the model totals.
    """

    name: str
    type: str
    depth: int
    totals: Totals
    ops: tuple[OpRecord, ...]
    output_shape: tuple[Any, ...] | None = None
    self_only: bool = False
    #: shapes of the tensors the module received (:attr:`ModuleInfo.input_shape`);
    #: a ``self_only`` row keeps its module's, as its own ops work on what it received
    input_shapes: tuple[Any, ...] = ()
    #: times the module ran (its ops are every call's; the shapes are the first call's)
    calls: int = 1

    @property
    def params(self) -> int:
        return self.totals.params

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "depth": self.depth}
        d.update(self.totals.as_dict())
        d["input_shapes"] = _plain_shape(self.input_shapes)
        d["output_shape"] = _plain_shape(self.output_shape)
        d["self_only"] = self.self_only
        d["calls"] = self.calls
        return d


def _plain_shape(shape: Any) -> Any:
    if shape is None:
        return None
    if isinstance(shape, tuple | list):
        return [_plain_shape(s) for s in shape]
    return shape


def _is_under(path: str, prefix: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


@dataclass(frozen=True)
class ModelProfile:
    """The full count for one model, one set of inputs, one mode."""

    name: str
    mode: str
    inputs: tuple[Mapping[str, Any], ...]
    dtype: str
    modules: tuple[ModuleInfo, ...]
    ops: tuple[OpRecord, ...]
    uncounted_ops: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    param_bytes: int = 0
    counter: str = "fake"
    torch_version: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> int | None:
        """The first dimension of the first input that has one; ``inputs`` lists the
        positional tensors, then the keyword ones, so a model fed only by keyword
        (``input_ids=...``) has a batch too. None when no input has a dimension."""
        return next((i["shape"][0] for i in self.inputs if i.get("shape")), None)

    def module(self, name: str) -> ModuleInfo | None:
        for m in self.modules:
            if m.name == name:
                return m
        return None

    def totals(self, phase: str | None = None) -> Totals:
        """Model totals, optionally for one phase (``forward``/``backward``) only."""
        ops = self.ops if phase is None else tuple(o for o in self.ops if o.phase == phase)
        return sum_ops(ops, self.params)

    @property
    def max_depth(self) -> int:
        return max((m.depth for m in self.modules), default=0)

    def layers(self, depth: int | None = None) -> tuple[Layer, ...]:
        """The per-layer table at ``depth`` (``None``: down to the leaves).

        Depth 1 is the model's direct children. Rows come in execution order of each
        module's first op (modules that ran no op follow in definition order).
        """
        if depth is None:
            depth = self.max_depth
        depth = max(depth, 1)
        by_name = {m.name: m for m in self.modules}
        rows: list[tuple[str, bool]] = []  # (module name, self_only)
        for m in self.modules:
            if m.depth == depth or (m.depth < depth and m.is_leaf):
                rows.append((m.name, False))
            elif m.depth < depth:
                rows.append((m.name, True))
        row_set = {name for name, _ in rows}

        def owner(path: str) -> str:
            # deepest row that contains this path
            parts = path.split(".") if path else []
            for k in range(min(len(parts), depth), -1, -1):
                cand = ".".join(parts[:k])
                if cand in row_set:
                    return cand
            return ""

        grouped: dict[str, list[OpRecord]] = {name: [] for name, _ in rows}
        first_seen: dict[str, int] = {}
        for i, op in enumerate(self.ops):
            name = owner(op.module)
            grouped.setdefault(name, []).append(op)
            first_seen.setdefault(name, i)
        out = []
        for name, self_only in rows:
            info = by_name[name]
            ops = grouped.get(name, [])
            params = info.own_params if self_only else info.params
            if self_only and not ops and not params:
                continue
            if not self_only and not ops and not params:
                continue
            out.append(
                Layer(
                    name=name or "(model)",
                    type=info.type,
                    depth=info.depth,
                    totals=sum_ops(ops, params),
                    ops=tuple(ops),
                    output_shape=None if self_only else info.output_shape,
                    self_only=self_only,
                    input_shapes=tuple(info.input_shape or ()),
                    calls=max(1, info.calls),
                )
            )
        order = {name: i for i, (name, _) in enumerate(rows)}
        out.sort(
            key=lambda r: (
                first_seen.get("" if r.name == "(model)" else r.name, len(self.ops)),
                order["" if r.name == "(model)" else r.name],
            )
        )
        return tuple(out)

    def ops_under(self, prefix: str) -> tuple[OpRecord, ...]:
        """All ops attributed to module ``prefix`` or its descendants."""
        return tuple(o for o in self.ops if _is_under(o.module, prefix))

    def as_dict(self, depth: int | None = None) -> dict[str, Any]:
        """The JSON form: model, inputs, mode, totals, layers, uncounted_ops."""
        return {
            "model": self.name,
            "inputs": [dict(i) for i in self.inputs],
            "mode": self.mode,
            "dtype": self.dtype,
            "batch": self.batch,
            "counter": self.counter,
            "torch_version": self.torch_version,
            "totals": self.totals().as_dict(),
            "totals_by_phase": {p: self.totals(p).as_dict() for p in PHASES}
            if self.mode == "training"
            else None,
            "trainable_params": self.trainable_params,
            "buffers": self.buffers,
            "param_bytes": self.param_bytes,
            "layers": [layer.as_dict() for layer in self.layers(depth)],
            "uncounted_ops": dict(self.uncounted_ops),
        }
