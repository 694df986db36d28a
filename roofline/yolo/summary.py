"""YOLOv5's own views of a model: the row table and its "GFLOPs" figure, explained.

:func:`yolo_rows_table` prints the per-row table in the form YOLOv5 prints when it
builds a model (``from  n  params  module  arguments``) and a totals line, so the two
can be compared line by line.

:func:`yolo_gflops` reproduces the "GFLOPs" YOLOv5 prints and says why it differs from
roofline's convolution FLOPs. YOLOv5 computes it with thop:

1. run thop on a ``stride × stride`` input (32×32 for the usual models), giving
   multiply-accumulates (MACs) of the modules thop has hooks for: convolutions
   (without bias), BatchNorm, nearest upsampling (thop ≥ 0.1 only) ...;
2. multiply by 2 (FLOPs per MAC) and by ``(H/stride) × (W/stride)`` to scale to the
   real image size.

Everything is derived from roofline's own count at the stride-sized input; the scaling
is then compared with the count at the real size. Two things make YOLOv5's figure
larger than the matrix (conv) FLOPs: BatchNorm (and upsampling) counted as MACs, and
branches whose cost does not grow with the image (squeeze-and-excitation works on a
1×1 pooled map) being multiplied by the image-area ratio anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from roofline.errors import SpecError
from roofline.spec import InputSpec, ModelSpec

if TYPE_CHECKING:
    from roofline.counting import ModelProfile

#: thop's cost per element, by version: (BatchNorm with affine, nearest upsample).
#: 0.1.x: ``2 * numel`` doubled for affine, upsample ``numel``; 0.0.31 (2021, what the
#: seed's YOLOv5 v6.0 used): ``2 * numel`` for BatchNorm in eval, nearest upsample free.
THOP_RULES: dict[str, tuple[int, int]] = {"0.1": (4, 1), "0.0.31": (2, 0)}

#: the module types whose convolutions and matrix products thop counts. It looks a
#: module's exact type up in its table, so matrix work done elsewhere is invisible to
#: it: nn.MultiheadAttention (C3TR's attention: no rule, and its projections run
#: functionally), subclasses such as DWConvTranspose2d, functional convs in user blocks.
THOP_MATRIX_MODULES = frozenset(
    {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
    | {"Linear"}
)

_CONV_CLASSES = ("conv", "depthwise_conv", "gemm")


def yolo_rows_table(
    source: ModelSpec | ModelProfile | Mapping[str, Any],
    profile: ModelProfile | None = None,
    *,
    yolo: YoloGflops | None = None,
) -> str:
    """YOLOv5's row table (``from n params module arguments``) and a totals line.

    ``source`` is a YOLO-format :class:`ModelSpec`, a profile of one, or the spec's
    ``info`` mapping. With a ``profile`` (or when ``source`` is one) the per-row
    parameters come from the counter's module list and the totals line gives the
    profile's conv/matmul FLOPs; ``yolo`` (from :func:`yolo_gflops`) adds the figure
    YOLOv5 itself would print.
    """
    info, prof = _info_and_profile(source, profile)
    rows = info.get("yolo_rows")
    if not rows:
        raise SpecError("not a YOLO-format model: its spec has no 'yolo_rows' (load a YOLO yaml)")
    lines = [f"{'':>3}{'from':>18}{'n':>3}{'params':>10}  {'module':<40}arguments"]
    for r in rows:
        params = r.get("params", 0)
        if prof is not None:
            m = prof.module(f"model.{r['index']}")
            if m is not None:
                params = m.params
        lines.append(
            f"{r['index']:>3}{r['from']!s:>18}{r['n']:>3}{params:10.0f}  "
            f"{r['module']:<40}{r['args']!s}"
        )
    total_params = prof.params if prof is not None else info.get("params", 0)
    layers = info.get("layers")
    if layers is None and prof is not None:
        layers = len(prof.modules)
    tail = [f"{layers} layers", f"{total_params:,} parameters"]
    h, w = info.get("imgsz", [0, 0])
    if prof is not None:
        batch = prof.batch or 1
        g = prof.totals().matrix_flops / batch / 1e9
        tail.append(f"{g:.1f} GFLOPs")
    summary = ", ".join(tail)
    if info.get("fused"):
        summary += " (Conv+BN fused)"
    lines.append(summary)
    if prof is not None:
        lines.append(
            f"  layers: modules in the model, as YOLOv5 counts them; GFLOPs: convolution and "
            f"matrix FLOPs (2 per multiply-add) for one {h}x{w} image, counted by roofline"
        )
    if yolo is not None:
        lines.append(
            f"  YOLOv5 would print {yolo.yolo_gflops:.1f} GFLOPs (thop {yolo.thop_version} "
            f"style: {yolo.describe_short()})"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class YoloGflops:
    """YOLOv5's "GFLOPs" for a model, rebuilt from roofline's counts, and the gap.

    All ``*_flops`` are FLOPs (2 per MAC) for one image of ``imgsz``.
    """

    imgsz: tuple[int, int]
    stride: int
    thop_version: str
    #: what thop sees at the stride-sized input, in MACs
    conv_macs_at_stride: int
    norm_elements_at_stride: int
    upsample_elements_at_stride: int
    thop_macs_at_stride: int
    #: (H/stride) * (W/stride)
    scale: float
    #: thop MACs × 2 × scale / 1e9: the number YOLOv5 prints (before its rounding)
    yolo_gflops: float
    #: roofline's conv/matmul FLOPs at the real size (the honest figure)
    matrix_flops: int
    #: the parts of the gap, scaled to the real size
    norm_flops: float
    upsample_flops: float
    #: conv FLOPs from scaling the small input minus the true conv FLOPs at full size:
    #: branches that do not grow with the image (squeeze-and-excitation), over-counted
    non_scaling_flops: float
    #: matrix FLOPs at the real size that thop does not see (attention, see
    #: THOP_MATRIX_MODULES); they make YOLOv5's figure smaller
    unseen_flops: int = 0

    @property
    def matrix_gflops(self) -> float:
        return self.matrix_flops / 1e9

    def describe_short(self) -> str:
        # a fused model has no BatchNorm left for thop to count
        norm = "BatchNorm counted" if self.norm_elements_at_stride else "no BatchNorm (fused)"
        return (
            f"MACs x 2 at {self.stride}x{self.stride}, scaled by "
            f"({self.imgsz[0]}/{self.stride})x({self.imgsz[1]}/{self.stride}), {norm}"
        )

    def explain(self) -> str:
        """A few lines for the report: the number YOLOv5 prints, and where it comes from."""
        gap = self.yolo_gflops * 1e9 - self.matrix_flops
        s = self.stride
        lines = [
            f"YOLOv5 would print {self.yolo_gflops:.1f} GFLOPs; roofline counts "
            f"{self.matrix_gflops:.3f} G convolution FLOPs at {self.imgsz[0]}x{self.imgsz[1]}.",
            f"YOLOv5's figure is thop's multiply-adds x 2, measured on a {s}x{s} input and "
            f"scaled by {self.scale:g} = ({self.imgsz[0]}/{s})x({self.imgsz[1]}/{s}) "
            f"(thop {self.thop_version} rules):",
            f"  convolutions at {s}x{s}: {self.conv_macs_at_stride:,} MACs",
            f"  BatchNorm: {self.norm_elements_at_stride:,} elements x "
            f"{THOP_RULES[self.thop_version][0]} = "
            f"{self.norm_elements_at_stride * THOP_RULES[self.thop_version][0]:,} MACs",
        ]
        if self.upsample_elements_at_stride and THOP_RULES[self.thop_version][1]:
            lines.append(
                f"  nearest upsampling: {self.upsample_elements_at_stride:,} elements x "
                f"{THOP_RULES[self.thop_version][1]} MACs"
            )
        parts = []  # what makes up the gap, the parts that are there
        if self.norm_flops:
            parts.append(f"BatchNorm counted as work ({self.norm_flops / 1e9:.3f} G)")
        if self.upsample_flops:
            parts.append(f"upsampling ({self.upsample_flops / 1e9:.3f} G)")
        if self.non_scaling_flops:
            parts.append(
                "branches that do not grow with the image but were scaled as if they did "
                f"({self.non_scaling_flops / 1e9:.3f} G, e.g. squeeze-and-excitation on 1x1 "
                "pooled maps)"
            )
        if self.unseen_flops:
            parts.append(
                f"less matrix work thop does not see ({self.unseen_flops / 1e9:.3f} G: "
                "attention, modules without a thop rule)"
            )
        gap_text = (
            f"The gap of {gap / 1e9:+.3f} G is " + ", ".join(parts) + "."
            if parts
            else f"The two agree (gap {gap / 1e9:+.3f} G): this model has nothing that thop "
            "counts differently."
        )
        lines += [
            gap_text,
            "roofline's matrix FLOPs count each convolution at its real size, 2 FLOPs per "
            "multiply-add, and leave BatchNorm and activations to the vector (elementwise) "
            "FLOPs.",
        ]
        return "\n".join(lines)


def yolo_gflops(
    spec: ModelSpec,
    profile: ModelProfile | None = None,
    *,
    thop_version: str = "0.0.31",
) -> YoloGflops:
    """Rebuild YOLOv5's "GFLOPs" for a YOLO-format ``spec`` from roofline's counts.

    ``profile`` is the count at the spec's real input (computed if not given); this
    function also counts the model at the stride-sized input YOLOv5 uses.
    ``thop_version`` picks the thop rules: "0.0.31" (default), the 2021 release that
    YOLOv5 v5.0/v6.0 ran with, which gives the figures YOLOv5 printed then (17.1, 16.5,
    6.3 for the bundled yolov5s v5.0, yolov5s v6/v7 and the seed's model); "0.1" for
    thop 0.1.x, what pip installs today (about 0.1 G more: BatchNorm doubled for its
    affine part, nearest upsampling counted).
    """
    from roofline.counting import profile_spec

    if thop_version not in THOP_RULES:
        raise SpecError(
            f"unknown thop version {thop_version!r}: use one of {', '.join(THOP_RULES)}"
        )
    info = spec.info
    if "yolo_rows" not in info:
        raise SpecError(f"{spec.name!r} is not a YOLO-format model (no 'yolo_rows' in its spec)")
    h, w = info.get("imgsz", spec.inputs[0].shape[-2:])
    strides = info.get("strides") or [32]
    flat = _flatten(strides)
    stride = max(int(max(flat)), 32)  # YOLOv5: max(int(model.stride.max()), 32)
    ch = spec.inputs[0].shape[1]
    small = replace(spec, inputs=(InputSpec((1, ch, stride, stride)),), mode="inference")
    p_small = profile_spec(small)
    if profile is None:
        profile = profile_spec(replace(spec.with_batch(1), mode="inference"))
    batch = profile.batch or 1

    conv_macs = sum(o.matrix_flops for o in _thop_matrix_ops(p_small)) // 2
    norm_el = sum(_numel(o.output_shapes[0]) for o in p_small.ops if o.op_class == "norm")
    up_el = sum(
        _numel(o.output_shapes[0])
        for o in p_small.ops
        if o.op_class == "upsample" and "nearest" in o.op
    )
    per_norm, per_up = THOP_RULES[thop_version]
    thop_macs = conv_macs + per_norm * norm_el + per_up * up_el
    scale = (h / stride) * (w / stride)
    matrix = sum(o.matrix_flops for o in profile.ops if o.op_class in _CONV_CLASSES) // batch
    seen = sum(o.matrix_flops for o in _thop_matrix_ops(profile)) // batch
    return YoloGflops(
        imgsz=(int(h), int(w)),
        stride=stride,
        thop_version=thop_version,
        conv_macs_at_stride=conv_macs,
        norm_elements_at_stride=norm_el,
        upsample_elements_at_stride=up_el,
        thop_macs_at_stride=thop_macs,
        scale=scale,
        yolo_gflops=thop_macs * 2 * scale / 1e9,
        matrix_flops=matrix,
        norm_flops=per_norm * norm_el * 2 * scale,
        upsample_flops=per_up * up_el * 2 * scale,
        non_scaling_flops=conv_macs * 2 * scale - seen,
        unseen_flops=matrix - seen,
    )


def _thop_matrix_ops(profile: ModelProfile) -> list[Any]:
    """The conv/matmul ops thop counts: those run by a module type it has a rule for."""
    types = {m.name: m.type for m in profile.modules}
    return [
        o
        for o in profile.ops
        if o.op_class in _CONV_CLASSES and types.get(o.module) in THOP_MATRIX_MODULES
    ]


def _info_and_profile(
    source: Any, profile: ModelProfile | None
) -> tuple[Mapping[str, Any], ModelProfile | None]:
    if isinstance(source, ModelSpec):
        return source.info, profile
    if isinstance(source, Mapping):
        return source, profile
    info = getattr(source, "info", None)
    if isinstance(info, Mapping) and hasattr(source, "ops"):
        return info, profile if profile is not None else source
    raise SpecError(f"expected a YOLO-format spec or profile, got {type(source).__name__}")


def _flatten(x: Any) -> list[float]:
    if isinstance(x, Sequence) and not isinstance(x, str):
        out: list[float] = []
        for v in x:
            out += _flatten(v)
        return out
    return [float(x)]


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)
