"""Terminal tables (tabulate) for profiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from roofline.analysis import ceiling_text, matrix_ceiling
from roofline.counting.profile import Layer, ModelProfile, Totals
from roofline.units import human_bytes, plural, seconds, si

LAYER_COLUMNS = (
    "name",
    "type",
    "depth",
    "output_shape",
    "params",
    "flops",
    "matrix_flops",
    "vector_flops",
    "macs",
    "bytes_read",
    "bytes_written",
    "weight_bytes",
    "ops",
    "self_only",
)


def shape_text(shape: Any) -> str:
    """``(1, 64, 112, 112)`` -> ``1x64x112x112``; several outputs joined by commas."""
    if shape is None:
        return ""
    if isinstance(shape, tuple | list) and shape and all(isinstance(s, int) for s in shape):
        return "x".join(str(s) for s in shape)
    if isinstance(shape, tuple | list):
        parts = [shape_text(s) for s in shape]
        parts = [p for p in parts if p]
        if len(parts) > 4:  # four in full (a decoder block: x, cos, sin, its cache)
            return ", ".join(parts[:3]) + f", … ({len(parts)})"
        return ", ".join(parts)
    return str(shape)


def row_name(name: str, self_only: bool) -> str:
    """A layer row's label: ``"layer1 (self)"`` for a module's own ops beside its
    children's rows; the model's own row is ``"(model)"`` either way."""
    return name + " (self)" if self_only and name != "(model)" else name


def calls_text(calls: int) -> str:
    """`` (x3, first call)`` beside the shapes of a module that ran more than once (its
    counts are every call's; the shapes are the first call's), else ``""``."""
    return f" (x{calls}, first call)" if calls > 1 else ""


def _intensity(t: Totals) -> str:
    return "-" if not t.bytes else f"{t.intensity:.1f}"


def layer_row(layer: Layer) -> list[str]:
    """One table row for a layer (the shared columns of every profile table)."""
    t = layer.totals
    return [
        row_name(layer.name, layer.self_only),
        layer.type,
        shape_text(layer.output_shape) + calls_text(layer.calls),
        si(t.params, digits=2) if t.params else "0",
        si(t.flops),
        si(t.macs),
        human_bytes(t.bytes_read),
        human_bytes(t.bytes_written),
        _intensity(t),
    ]


HEADERS = ["layer", "type", "output", "params", "FLOPs", "MACs", "read", "written", "FLOP/B"]


def totals_row(profile: ModelProfile) -> list[str]:
    t = profile.totals()
    return [
        "total",
        "",
        "",
        si(t.params),
        si(t.flops),
        si(t.macs),
        human_bytes(t.bytes_read),
        human_bytes(t.bytes_written),
        _intensity(t),
    ]


def profile_table(profile: ModelProfile, depth: int | None = None) -> str:
    """The per-layer table with a totals row."""
    rows = [layer_row(layer) for layer in profile.layers(depth)]
    rows.append(totals_row(profile))
    return tabulate(rows, headers=HEADERS, tablefmt="simple", disable_numparse=True)


def profile_header(profile: ModelProfile) -> str:
    """Title lines: model, inputs, mode, counter."""
    inputs = ", ".join(
        (f"{i['name']}=" if i.get("name") else "")
        + "x".join(map(str, i["shape"]))
        + f" {i['dtype']}"
        for i in profile.inputs
    )
    counter = "fake tensors (no weights allocated)" if profile.counter == "fake" else "real tensors"
    return f"{profile.name} | inputs {inputs} | {profile.mode} | counted on {counter}"


def profile_summary(profile: ModelProfile) -> str:
    """Totals explained: FLOPs split, MACs, bytes, intensity, and uncounted ops."""
    t = profile.totals()
    lines = [
        f"params {t.params:,} ({human_bytes(profile.param_bytes)})   "
        f"FLOPs {si(t.flops)} = matrix {si(t.matrix_flops)} + vector {si(t.vector_flops)}   "
        f"MACs {si(t.macs)} (= matrix FLOPs / 2)",
        f"memory traffic {human_bytes(t.bytes)} = read {human_bytes(t.bytes_read)} "
        f"(of which weights {human_bytes(t.weight_bytes)}) + written {human_bytes(t.bytes_written)}"
        f"   intensity {_intensity(t)} FLOP/B   {plural(t.ops, 'op')}",
    ]
    if profile.mode == "inference" and t.fused_bytes < t.bytes:
        fused_intensity = t.flops / t.fused_bytes if t.fused_bytes else float("inf")
        lines.append(
            f"fused estimate (elementwise chains folded into their producer, as torch.compile "
            f"does): {human_bytes(t.fused_bytes)} = {t.fused_bytes / t.bytes:.0%} of eager, "
            f"intensity {fused_intensity:.1f} FLOP/B"
        )
    if profile.mode == "training":
        f, b = profile.totals("forward"), profile.totals("backward")
        ratio = t.flops / f.flops if f.flops else float("nan")
        lines.append(
            f"forward {si(f.flops, 'FLOPs')}, backward {si(b.flops, 'FLOPs')}: "
            f"training = {ratio:.2f}x forward"
        )
    if profile.uncounted_ops:
        items = ", ".join(f"{k} x{v}" for k, v in profile.uncounted_ops.items())
        lines.append(f"uncounted ops (no FLOP formula; bytes still counted): {items}")
    else:
        lines.append("uncounted ops: none")
    return "\n".join(lines)


def simple_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain tabulate table with our house style."""
    return tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True)


# -- roofline analysis ----------------------------------------------------------------

#: ``ceiling``: the compute ceiling(s) the row's FLOPs were priced at: ``tensor``
#: (tensor cores), ``plain`` (the FP32 pipes), ``tensor+plain`` (matrix FLOPs on tensor
#: cores, vector FLOPs on the plain pipes), ``-`` (no FLOPs)
ANALYSIS_HEADERS = [*HEADERS, "bound", "ceiling", "attainable", "time", "% time"]

#: CSV columns of a per-layer row with the analysis (``roofline profile --gpu --csv``)
ANALYSIS_COLUMNS = (
    *LAYER_COLUMNS,
    "intensity",
    "bound",
    "attainable_flops_per_s",
    "time_s",
    "share",
    "roof_fraction",
    "peak_fraction",
    "ceiling",
    "explanation",
)

#: every column set roofline writes as CSV; a CSV whose header row is exactly one of
#: these is recognised as roofline's own (and may be replaced, see report.output)
CSV_COLUMN_SETS = (LAYER_COLUMNS, ANALYSIS_COLUMNS)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _analysis_cells(row: Any) -> list[str]:
    return [
        row.bound,
        row.ceiling_text(),
        si(row.attainable_flops_per_s, "FLOP/s") if row.flops else "-",
        seconds(row.time_s),
        _pct(row.share),
    ]


def analysis_table(analysis: Any) -> str:
    """The profile table with the roofline columns, from a :class:`RooflineAnalysis`."""
    prof = analysis.profile
    layers = prof.layers(analysis.depth)
    rows = [
        layer_row(layer) + _analysis_cells(r)
        for layer, r in zip(layers, analysis.layers, strict=True)
    ]
    t, c = analysis.totals, analysis.ceilings
    rows.append(
        [
            *totals_row(prof),
            t.bound,
            ceiling_text(
                t.matrix_flops,
                t.vector_flops,
                matrix_ceiling(analysis.profile.ops, c)[0],
                c.vector,
            ),
            si(t.attainable_flops_per_s, "FLOP/s"),
            seconds(t.time_s),
            "100.0",
        ]
    )
    return tabulate(rows, headers=ANALYSIS_HEADERS, tablefmt="simple", disable_numparse=True)


def device_line(analysis: Any) -> str:
    """``NVIDIA GeForce RTX 3090 | fp32 | matrix 35.60 TFLOP/s plain ...``."""
    c = analysis.ceilings
    dev = analysis.device
    measured = " (measured ceilings)" if dev.is_measured_view else ""
    return (
        f"device {dev.name}{measured} | precision {c.precision} | matrix ceiling "
        f"{si(c.matrix.flops_per_s, 'FLOP/s')} ({c.matrix.pipe}) | vector ceiling "
        f"{si(c.vector.flops_per_s, 'FLOP/s')} ({c.vector.pipe})"
        + (
            f" | fp32 convolutions {si(c.conv.flops_per_s, 'FLOP/s')} (tf32 tensor)"
            if c.conv
            else ""
        )
        + " | bandwidth "
        f"{human_bytes(c.bandwidth_bytes_per_s)}/s | ridge point {c.ridge_point:.1f} FLOP/B"
        # the ridge a convolution-heavy model is judged against is the TF32 roof's
         + (f" (convolutions {c.conv.flops_per_s / c.bandwidth_bytes_per_s:.1f})" if c.conv else "")
    )


def analysis_summary(analysis: Any, top: int = 5) -> str:
    """Device, precision, ridge point, totals, the top layers, bound counts, warnings."""
    t = analysis.totals
    intensity = "-" if not math.isfinite(t.intensity) else f"{t.intensity:.1f}"
    throughput = "" if t.samples_per_s is None else f" = {t.samples_per_s:,.1f} samples/s"
    lines = [
        device_line(analysis),
        f"model: {si(t.flops, 'FLOPs')}, {human_bytes(t.bytes)} traffic, intensity "
        f"{intensity} FLOP/B -> {t.bound}-bound; roofline time {seconds(t.time_s)} "
        f"(sum over ops){throughput} at batch {t.batch}",
        f"as one kernel (plain roofline): {seconds(t.roof_time_s)}; op by op the model "
        f"reaches {si(t.attainable_flops_per_s, 'FLOP/s')} = {100 * t.peak_fraction:.1f}% "
        + (
            f"of the {analysis.precision} peak"
            if analysis.ceilings.conv is None
            else "of its matrix roofs (fp32 convolutions at TF32)"
        ),
        f"layers: {t.memory_bound_layers} memory-bound, {t.compute_bound_layers} compute-bound"
        + (
            f", {len(analysis.layers) - t.memory_bound_layers - t.compute_bound_layers} no work"
            if len(analysis.layers) > t.memory_bound_layers + t.compute_bound_layers
            else ""
        ),
    ]
    tops = analysis.top(top)
    if tops:
        lines.append(f"top {plural(len(tops), 'layer')} by roofline time:")
        for i, r in enumerate(tops, 1):
            lines.append(
                f"  {i}. {r.name} ({r.type}) {seconds(r.time_s)}, {_pct(r.share)}%: {r.explanation}"
            )
    for w in analysis.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def analysis_csv_rows(analysis: Any) -> list[dict[str, Any]]:
    """Per-layer dicts for CSV: the profile columns plus the analysis columns."""
    out = []
    layers = analysis.profile.layers(analysis.depth)
    for layer, r in zip(layers, analysis.layers, strict=True):
        d = layer.as_dict()
        d.update(
            {
                "intensity": r.intensity if math.isfinite(r.intensity) else "",
                "bound": r.bound,
                "attainable_flops_per_s": r.attainable_flops_per_s,
                "time_s": r.time_s,
                "share": r.share,
                "roof_fraction": r.roof_fraction,
                "peak_fraction": r.peak_fraction,
                "ceiling": r.ceiling_text(),
                "explanation": r.explanation,
            }
        )
        out.append(d)
    return out


def compare_table(analyses: Sequence[Any]) -> str:
    """Whole-model totals of several (model, device) analyses side by side.

    Ratios are against the first analysis: ``time`` is the op-by-op roofline time,
    ``plain`` the whole-model-as-one-kernel roofline time.
    """
    base = analyses[0].totals if analyses else None
    rows = []
    for a in analyses:
        t = a.totals
        intensity = "-" if not math.isfinite(t.intensity) else f"{t.intensity:.1f}"
        rows.append(
            [
                a.model,
                a.device.name,
                a.precision,
                shape_text([tuple(i["shape"]) for i in a.inputs]) if a.inputs else "",
                si(t.params, digits=2),
                si(t.flops),
                si(t.matrix_flops // 2),
                human_bytes(t.bytes),
                intensity,
                f"{t.ridge_point:.1f}",
                t.bound,
                seconds(t.time_s),
                f"{t.time_s / base.time_s:.3f}" if base and base.time_s else "-",
                seconds(t.roof_time_s),
                f"{t.roof_time_s / base.roof_time_s:.3f}" if base and base.roof_time_s else "-",
                f"{len(a.ops):,}",
                seconds(a.time_per_op_s) if a.ops else "-",
                "-" if t.samples_per_s is None else f"{t.samples_per_s:,.1f}",
                f"{t.memory_bound_layers}/{t.compute_bound_layers}",
                compare_note(a),
            ]
        )
    headers = [
        "model",
        "device",
        "prec",
        "input",
        "params",
        "FLOPs",
        "MACs",
        "traffic",
        "FLOP/B",
        "ridge",
        "bound",
        "time",
        "ratio",
        "plain time",
        "ratio",
        "ops",
        "time/op",
        "samples/s",
        "mem/comp layers",
        "note",
    ]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)


def compare_launch_notes(analyses: Sequence[Any]) -> list[str]:
    """Under the compare table, a line for each row that has less roofline time than
    the first row but more ops (:func:`roofline.analysis.launch_note`)."""
    from roofline.analysis import launch_note

    if not analyses:
        return []
    first = analyses[0]
    name = f"{first.model} on {first.device.name}"
    return [
        f"note: {a.model} on {a.device.name}: {note}"
        for a in analyses[1:]
        if (note := launch_note(a, first, name))
    ]


def compare_note(a: Any) -> str:
    """What a ranking by time must not hide: weights the device cannot hold, and bytes
    at another dtype than the roofs (a device without the model's precision)."""
    from roofline.analysis import PRECISION_DTYPES

    notes = []
    weights, memory = a.profile.param_bytes, a.device.memory_bytes
    if memory and weights > memory:
        notes.append(f"weights {human_bytes(weights)} > {human_bytes(memory)} memory")
    if a.dtype not in PRECISION_DTYPES.get(a.precision, ()):
        notes.append(f"{a.dtype} bytes, {a.precision} roofs")
    return "; ".join(notes)
