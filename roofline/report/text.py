"""Terminal tables (tabulate) for profiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from roofline.counting.profile import Layer, ModelProfile, Totals
from roofline.units import human_bytes, si

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
        if len(parts) > 3:
            return ", ".join(parts[:3]) + f", … ({len(parts)})"
        return ", ".join(parts)
    return str(shape)


def _intensity(t: Totals) -> str:
    return "-" if not t.bytes else f"{t.intensity:.1f}"


def layer_row(layer: Layer) -> list[str]:
    """One table row for a layer (the shared columns of every profile table)."""
    t = layer.totals
    name = layer.name
    if layer.self_only and name != "(model)":
        name += " (self)"
    return [
        name,
        layer.type,
        shape_text(layer.output_shape),
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
        f"   intensity {_intensity(t)} FLOP/B   {t.ops} ops",
    ]
    if profile.mode == "training":
        f, b = profile.totals("forward"), profile.totals("backward")
        ratio = t.flops / f.flops if f.flops else float("nan")
        lines.append(
            f"forward {si(f.flops)}FLOPs, backward {si(b.flops)}FLOPs: "
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
