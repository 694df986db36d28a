"""The self-contained HTML roofline report (plotly.js embedded, works offline).

:func:`roofline_report` turns one or more :class:`~roofline.analysis.RooflineAnalysis`
into one HTML page: header, summary cards, an interactive log-log roofline, the time
breakdown, the bottleneck list and a sortable per-layer table. One analysis is the
``roofline profile --html`` report; several are ``roofline compare --html``.

Every piece of text that comes from the model (module names, class names, the model
name) is escaped with :func:`html.escape` before it reaches the page, both in the HTML
and in the data handed to plotly (which renders a subset of HTML in hover labels and
legends); data for scripts is JSON with ``<``, ``>`` and ``&`` written as ``\\uXXXX``
so no string can close the ``<script>`` element.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from roofline import __version__
from roofline.analysis import RooflineAnalysis, RowAnalysis, launch_note
from roofline.devices import PRECISIONS
from roofline.report.output import GENERATOR
from roofline.report.text import calls_text, compare_note, row_name, shape_text
from roofline.units import human_bytes, plural, seconds, si

#: qualitative palette (Tableau 10) for layer types / compared models
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
BOUND_COLOURS = {"memory": "#e15759", "compute": "#4e79a7", "none": "#bab0ac"}
#: a profile report's layer types: the palette without the bound colours (the page's
#: memory and compute pills are red and blue, and a red ReLU or a blue Bottleneck
#: read as memory- or compute-bound) and its grey (the "other types"' look), with two
#: more from Tableau 20 (olive, dark teal) for MAX_TYPES types
TYPE_PALETTE = (*(c for c in PALETTE if c not in BOUND_COLOURS.values()), "#b6992d", "#499894")
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross", "x", "star", "pentagon")
#: each marker as a character, for the swatch that ties a table row to its points
GLYPHS = dict(zip(SYMBOLS, "●◆■▲✚✖★⬟", strict=True))
#: at most this many layer types get their own colour; the rest share "other types"
MAX_TYPES = 9
#: marker diameter (px) of the largest layer by time
MAX_MARKER_PX = 42
#: a compare report over more devices than this names them in the title and labels
#: their ridges only through the legend ("ResNet-50 on 46 devices")
MAX_LABELLED_DEVICES = 3
#: warnings shown open at the top of the page; the rest fold under "N more"
OPEN_WARNINGS = 2
#: a compare report's header lists its analyses one a line up to this many; more fold;
#: and its plot, over more than MAX_LABELLED_DEVICES devices, draws this many at first
#: (the others are listed in the legend, greyed, and drawn on a click)
OPEN_ANALYSES = 6
#: a compare report's title and folded header name this many models, then "+N more"
NAMED_MODELS = 3


def analysis_style(ai: int) -> tuple[str, str]:
    """The colour and marker of a compare report's ``ai``-th analysis (and of its
    device's roof). Each shape goes round the palette once in a shifted order, so the
    first ``len(PALETTE) * len(SYMBOLS)`` (80) analyses have distinct pairs:
    ``compare --gpu all`` (46 devices) repeated both colour and shape every 40."""
    colour = PALETTE[ai % len(PALETTE)]
    return colour, SYMBOLS[(ai + ai // len(PALETTE)) % len(SYMBOLS)]


def esc(text: Any) -> str:
    """Escape model-derived text for HTML (and for plotly's pseudo-HTML labels)."""
    return html.escape(str(text), quote=True)


def script_json(data: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (no ``</script>`` break-out)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _template(name: str) -> str:
    return resources.files("roofline").joinpath("templates", name).read_text(encoding="utf-8")


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{{ key }}`` placeholders in one pass (filled text is never rescanned)."""

    def sub(m: re.Match[str]) -> str:
        return values[m.group(1)]

    return re.sub(r"\{\{ (\w+) \}\}", sub, template)


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    # plotly.js holds no "</script"; guard anyway so the page can never break
    return get_plotlyjs().replace("</script", "<\\/script")


# -- the plot ---------------------------------------------------------------------------


def _plottable(r: RowAnalysis) -> bool:
    """A row can sit on a log-log plot only with FLOPs and bytes both non-zero."""
    return r.flops > 0 and r.bytes > 0 and r.attainable_flops_per_s > 0


def _label(a: RooflineAnalysis) -> str:
    return f"{a.model} @ {a.device.name}"


def _hover_row(r: RowAnalysis, label: str | None = None) -> list[str]:
    shapes = shape_text(list(r.input_shapes)) if r.input_shapes else ""
    out = shape_text(r.output_shape)
    name = row_name(r.name, r.self_only)
    return [
        esc(name if label is None else f"{label}: {name}"),
        esc(r.type),
        # a self row has inputs but no output of its own: no dangling arrow
        esc((f"{shapes} -> {out}" if shapes and out else shapes or out) + calls_text(r.calls)),
        si(r.flops, "FLOPs"),
        human_bytes(r.bytes),
        f"{r.intensity:.2f}",
        seconds(r.time_s),
        f"{100 * r.share:.1f}%",
        r.bound,
        _attainable_text(r.attainable_flops_per_s, r.roof_fraction),
    ]


def _attainable_text(flops_per_s: float, roof_fraction: float) -> str:
    """The point's height in words: ``9.63 TFLOP/s, 99% of the roof``."""
    return f"{si(flops_per_s, 'FLOP/s')}, {100 * roof_fraction:.0f}% of the roof"


#: a point's hover label; its height (attainable FLOP/s) is spelled out, since a log
#: axis gives it only to the nearest gridline
HOVER = (
    "<b>%{customdata[0]}</b><br>%{customdata[1]}  %{customdata[2]}<br>"
    "%{customdata[3]}, %{customdata[4]}, %{customdata[5]} FLOP/B<br>"
    "attainable %{customdata[9]}<br>"
    "roofline time %{customdata[6]} (%{customdata[7]} of total), %{customdata[8]}-bound"
    "<extra></extra>"
)


def _sizes(times: list[float], tmax: float) -> dict[str, Any]:
    # marker *area* proportional to time: plotly's sizemode "area" with a sizeref that
    # maps the largest time to MAX_MARKER_PX
    return {
        "size": times,
        "sizemode": "area",
        "sizeref": (tmax / MAX_MARKER_PX**2) if tmax > 0 else 1.0,
        "sizemin": 3,
    }


def roof_points(peak: float, bw: float, x_lo: float, x_hi: float) -> tuple[list, list]:
    """The corners of ``min(peak, x * bw)`` over ``[x_lo, x_hi]``, in order: the ridge
    is a corner only where it lies inside the range (one left of it leaves the flat
    part alone; a line through it would start above the peak at ``x_lo``)."""
    r = peak / bw
    xs = [x_lo] + ([r] if x_lo < r < x_hi else []) + [x_hi]
    return xs, [min(peak, x * bw) for x in xs]


def _roof(
    name: str,
    peak: float,
    bw: float,
    x_lo: float,
    x_hi: float,
    line: dict[str, Any],
    series: str,
) -> dict[str, Any]:
    """One roof: the memory slope up to ``peak / bw``, then flat at ``peak``."""
    xs, ys = roof_points(peak, bw, x_lo, x_hi)
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": xs,
        "y": ys,
        "line": line,
        "hoverinfo": "skip",
        "meta": {"series": series},
    }


def _roof_traces(
    analyses: Sequence[RooflineAnalysis], x_lo: float, x_hi: float
) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    devices = len({a.device.key for a in analyses})
    many = devices > 1
    # a text label beside each ridge reads with a device or two; with more (compare
    # --gpu all: 46) the labels pile into one unreadable blot: legend and hover only
    labelled = devices <= MAX_LABELLED_DEVICES
    for di, a in enumerate(analyses):
        dev, c = a.device, a.ceilings
        bw = c.bandwidth_bytes_per_s
        if (dev.key, c.precision) in seen:
            continue
        seen.add((dev.key, c.precision))
        prefix = f"{esc(dev.name)} " if many else ""
        colour = "#222" if not many else analysis_style(di)[0]
        first = len(traces)
        # the chosen precision's roof: memory slope up to the ridge, then flat
        p = c.matrix.flops_per_s
        traces.append(
            _roof(
                f"{prefix}{c.precision} roof: {si(p, 'FLOP/s')} {c.matrix.pipe}, "
                f"{human_bytes(bw)}/s",
                p,
                bw,
                x_lo,
                x_hi,
                {"color": colour, "width": 2.5},
                "roof",
            )
        )
        v = c.vector.flops_per_s
        if not math.isclose(v, p):
            traces.append(
                _roof(
                    f"{prefix}{c.precision} {c.vector.pipe} pipes (vector FLOPs): "
                    f"{si(v, 'FLOP/s')}",
                    v,
                    bw,
                    x_lo,
                    x_hi,
                    {"color": colour, "width": 1.5, "dash": "dot"},
                    "vector roof",
                )
            )
        if c.conv is not None:
            # fp32 convolutions on TF32 tensor cores (cuDNN's default): their own roof
            k = c.conv.flops_per_s
            traces.append(
                _roof(
                    f"{prefix}fp32 convolutions: {si(k, 'FLOP/s')} tf32 tensor (cudnn.allow_tf32)",
                    k,
                    bw,
                    x_lo,
                    x_hi,
                    {"color": colour, "width": 2, "dash": "dash"},
                    "conv roof",
                )
            )
            # and their own ridge: a conv layer is memory-bound left of *this* one, so
            # without it conv layers right of the fp32 ridge read as misplaced
            traces.append(
                _ridge(
                    prefix,
                    "fp32 convolutions' ridge",
                    k / bw,
                    k,
                    f"conv ridge {k / bw:.1f}",
                    colour,
                    "conv ridge",
                    labelled,
                )
            )
        # the other precisions: faint flat roofs from their own ridge on (not with many
        # devices: 46 devices' five other roofs each were a mesh over the whole plot)
        for other in PRECISIONS if labelled else ():
            if other == c.precision or other not in dev.peaks:
                continue
            if other == "tf32" and c.conv is not None:
                continue  # drawn above as the convolutions' roof
            pk = dev.peaks[other].flops_per_s
            if pk <= 0:
                continue
            xs, ys = roof_points(pk, bw, x_lo, x_hi)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{prefix}{other}: {si(pk, 'FLOP/s')} {dev.peaks[other].pipe}",
                    "x": xs,
                    "y": ys,
                    "line": {"color": colour, "width": 1, "dash": "dash"},
                    "opacity": 0.35,
                    "hoverinfo": "name",
                    "legendgroup": "other",
                    "meta": {"series": "other roof"},
                }
            )
        traces.append(
            _ridge(
                prefix,
                "ridge point",
                c.ridge_point,
                p,
                f"ridge {c.ridge_point:.1f}",
                colour,
                "ridge",
                labelled,
            )
        )
        for t in traces[first:]:
            if not labelled:
                # many devices: a device's roofs and ridges go in one legend group with
                # its points (_points), and out of the legend, which keeps one entry per
                # model @ device with its marker; a click on one hides the device's roof
                t["legendgroup"] = f"device {dev.key}"
                t["showlegend"] = False
            elif t["meta"]["series"] != "other roof":
                # a device's roofs at this precision and their ridges (with the ridges'
                # labels, _ridge_labels) are one legend group: a click on any of them
                # hides them together, and no × or label is left without its roof
                t["legendgroup"] = f"roofs {dev.key} {c.precision}"
    return traces


def _ridge(
    prefix: str,
    what: str,
    x: float,
    y: float,
    text: str,
    colour: str,
    series: str,
    labelled: bool = True,
) -> dict[str, Any]:
    """The × where a roof's memory slope meets its flat compute part.

    Its text label (``text``, where ``labelled``) is not drawn by this trace: a trace's
    text lies under the layer traces drawn after it, and a big bubble at the ridge hid
    it. :func:`_ridge_labels` makes it a text trace of its own, drawn after the data."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{prefix}{what} {x:.1f} FLOP/B",
        "x": [x],
        "y": [y],
        "marker": {"symbol": "x-thin", "size": 12, "line": {"width": 2, "color": colour}},
        "hovertemplate": f"{what}: {x:.2f} FLOP/B<extra></extra>",
        "meta": {"series": series, **({"label": text} if labelled else {})},
    }


def _ridge_labels(traces: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ridges' text labels, just above each ×: text traces placed after every
    other trace, so drawn above the bubbles (with a white halo, so a bubble under one
    leaves it readable), each in its ridge's legend group, so hiding the ridge or its
    roof in the legend hides the label too (a layout annotation stayed on the plot)."""
    return [
        {
            "type": "scatter",
            # (an invisible marker the size of the ×: plotly sets the text off by its
            # marker's radius, and a text-only trace's text sat on the ×)
            "mode": "markers+text",
            "name": t["meta"]["label"],
            "x": t["x"],
            "y": t["y"],
            "marker": {"size": 14, "opacity": 0},
            "text": [t["meta"]["label"]],
            "textposition": "top center",
            "textfont": {"size": 12, "color": "#222", "shadow": "auto"},
            "hoverinfo": "skip",
            "showlegend": False,
            "legendgroup": t["legendgroup"],
            "meta": {"series": "ridge label"},
        }
        for t in traces
        if "label" in (t.get("meta") or {})
    ]


def _type_groups(rows: Sequence[RowAnalysis]) -> list[str]:
    """Layer types by total time, the top MAX_TYPES (the rest become "other types")."""
    totals: dict[str, float] = {}
    for r in rows:
        totals[r.type] = totals.get(r.type, 0.0) + r.time_s
    ordered = sorted(totals, key=lambda k: -totals[k])
    return ordered if len(ordered) <= MAX_TYPES + 1 else ordered[:MAX_TYPES]


def _points(
    rows: Sequence[RowAnalysis],
    name: str,
    colour: str,
    symbol: str,
    tmax: float,
    visible: bool,
    series: str,
    label: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    return {
        **({"legendgroup": group} if group else {}),
        "type": "scatter",
        "mode": "markers",
        "name": name,
        "x": [r.intensity for r in rows],
        "y": [r.attainable_flops_per_s for r in rows],
        "customdata": [_hover_row(r, label) for r in rows],
        "hovertemplate": HOVER,
        "marker": {
            "color": colour,
            "symbol": symbol,
            "opacity": 0.8,
            "line": {"color": "white", "width": 0.5},
            **_sizes([r.time_s for r in rows], tmax),
        },
        "visible": True if visible else False,
        "meta": {"series": series, "points": len(rows)},
    }


def _model_point(
    a: RooflineAnalysis, colour: str, symbol: str, label: str, group: str | None = None
) -> dict[str, Any]:
    t = a.totals
    data = [
        esc(label),
        "whole model",
        esc(", ".join(shape_text(i["shape"]) for i in a.inputs)),
        si(t.flops, "FLOPs"),
        human_bytes(t.bytes),
        f"{t.intensity:.2f}",
        seconds(t.time_s),
        "100%",
        t.bound,
        _attainable_text(t.attainable_flops_per_s, t.roof_fraction),
    ]
    return {
        **({"legendgroup": group, "showlegend": False} if group else {}),
        "type": "scatter",
        "mode": "markers",
        "name": f"whole model: {esc(label)}",
        "x": [t.intensity],
        "y": [t.attainable_flops_per_s],
        "customdata": [data],
        "hovertemplate": HOVER,
        "marker": {
            "color": colour,
            "symbol": symbol,
            "size": 22,
            "line": {"color": "#111", "width": 2},
        },
        "meta": {"series": "model", "points": 1},
    }


def flops_tick(exponent: int) -> str:
    """The y label of ``10**exponent`` FLOP/s: ``1P``, ``100T``, ``10G``, ``1``, ``10m``.

    plotly's own SI format stops at T and writes 10^15 above it, so an H100's or a
    B200's roofs (PFLOP/s) would get a label in another notation than the rest."""
    if exponent < 0:
        return f"{10.0**exponent:g}"
    prefix = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")
    if exponent >= 3 * len(prefix):
        return f"1e{exponent}"
    return f"{10 ** (exponent % 3)}{prefix[exponent // 3]}"


def intensity_tick(exponent: int) -> str:
    """The x label of ``10**exponent`` FLOP/B: ``0.01``, ``1``, ``1,000``, ``10,000``."""
    return f"{10**exponent:,}" if exponent >= 0 else f"{10.0**exponent:g}"


def decade_ticks(lo: float, hi: float, label: Callable[[int], str]) -> dict[str, Any]:
    """plotly axis settings for a label at every power of ten from ``10**lo`` to
    ``10**hi`` (log10 bounds), each written by ``label(exponent)``."""
    exps = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    return {
        "tickmode": "array",
        "tickvals": [10.0**e for e in exps],
        "ticktext": [label(e) for e in exps],
    }


def plot_figure(analyses: Sequence[RooflineAnalysis], latency: Any = None) -> dict[str, Any]:
    """The roofline figure as plotly JSON data (``data``, ``layout``, ``buttons``).

    With a latency report (``profile --measure``), each layer also gets its measured
    point (FLOPs / measured time) and its calibrated prediction (FLOPs / predicted
    time) at the same intensity, so the gap to the roof is visible.
    """
    rows = [r for a in analyses for r in a.layers if _plottable(r)]
    xs = [r.intensity for r in rows] + [a.totals.intensity for a in analyses]
    xs += [a.ceilings.ridge_point for a in analyses]
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    x_lo = 10 ** math.floor(math.log10(min(xs) / 2)) if xs else 0.01
    x_hi = 10 ** math.ceil(math.log10(max(xs) * 4)) if xs else 1e4
    traces = _roof_traces(analyses, x_lo, x_hi)
    tmax = max((r.time_s for r in rows), default=0.0)
    single = len(analyses) == 1
    layer_traces: list[dict[str, Any]] = []
    bound_traces: list[dict[str, Any]] = []
    if single:
        a = analyses[0]
        plotted = [r for r in a.layers if _plottable(r)]
        groups = _type_groups(plotted)
        for gi, g in enumerate(groups):
            members = [r for r in plotted if r.type == g]
            layer_traces.append(
                _points(
                    members,
                    esc(g),
                    TYPE_PALETTE[gi % len(TYPE_PALETTE)],
                    "circle",
                    tmax,
                    True,
                    "type",
                )
            )
        rest = [r for r in plotted if r.type not in groups]
        if rest:
            layer_traces.append(
                _points(rest, "other types", "#999999", "circle", tmax, True, "type")
            )
        for bound in ("memory", "compute"):
            members = [r for r in plotted if r.bound == bound]
            if members:
                bound_traces.append(
                    _points(
                        members,
                        f"{bound}-bound",
                        BOUND_COLOURS[bound],
                        "circle",
                        tmax,
                        False,
                        "bound",
                    )
                )
        model_traces = [_model_point(a, "#111111", "star", a.model)]
    else:
        model_traces = []
        grouped = len({a.device.key for a in analyses}) > MAX_LABELLED_DEVICES
        for ai, a in enumerate(analyses):
            plotted = [r for r in a.layers if _plottable(r)]
            colour, symbol = analysis_style(ai)
            label = _label(a)
            group = f"device {a.device.key}" if grouped else None
            pts = _points(plotted, esc(label), colour, symbol, tmax, True, "analysis", label, group)
            point = _model_point(a, colour, symbol, label, group)
            if grouped and ai >= OPEN_ANALYSES:
                # `compare --gpu all`: 46 devices' roofs and points were one tangle;
                # the first rows' are drawn, every other stays one click away
                pts["visible"] = point["visible"] = "legendonly"
            layer_traces.append(pts)
            model_traces.append(point)
        if grouped:
            drawn = {f"device {a.device.key}" for a in analyses[:OPEN_ANALYSES]}
            for t in traces:  # a device's roofs and ridges: drawn with its first points
                if t["legendgroup"] not in drawn:
                    t["visible"] = "legendonly"
    model_traces += _latency_traces(latency, tmax) if latency is not None else []
    labels = _ridge_labels(traces)
    data = traces + layer_traces + bound_traces + model_traces + labels
    n_fixed = len(traces)
    buttons = []
    if bound_traces:
        vis_type = [True] * n_fixed + [True] * len(layer_traces) + [False] * len(bound_traces)
        vis_bound = [True] * n_fixed + [False] * len(layer_traces) + [True] * len(bound_traces)
        vis_type += [True] * (len(model_traces) + len(labels))
        vis_bound += [True] * (len(model_traces) + len(labels))
        buttons = [
            {"label": "colour by layer type", "method": "restyle", "args": [{"visible": vis_type}]},
            {"label": "colour by bound", "method": "restyle", "args": [{"visible": vis_bound}]},
        ]
    axis = {
        "type": "log",
        "gridcolor": "#e6e6e6",
        "zeroline": False,
        # a label per decade (plotly's default labels 2 and 5 between them too, which
        # read as bare numbers), with the 2..9 gridlines kept faint; the labels are
        # written here (see decade_ticks), not left to plotly's SI format
        "minor": {"showgrid": True, "gridcolor": "#f4f4f4", "dtick": "D1"},
        "linecolor": "#999",
        "mirror": True,
        "ticks": "outside",
    }
    ys = [r.attainable_flops_per_s for r in rows] + [
        a.totals.attainable_flops_per_s for a in analyses
    ]
    ys += [y for t in data if t.get("meta") == "latency" for y in t["y"]]
    peaks = [pk.flops_per_s for a in analyses for pk in a.device.peaks.values()]
    y_lo = min(
        [y for y in ys if y > 0] + [x_lo * min(a.ceilings.bandwidth_bytes_per_s for a in analyses)]
    )
    y_hi = max(peaks + ys)
    layout: dict[str, Any] = {
        "xaxis": {
            **axis,
            **decade_ticks(math.log10(x_lo), math.log10(x_hi), intensity_tick),
            "title": {"text": "arithmetic intensity (FLOP / byte of memory traffic)"},
            "range": [math.log10(x_lo), math.log10(x_hi)],
        },
        "yaxis": {
            **axis,
            **decade_ticks(math.log10(y_lo) - 0.3, math.log10(y_hi) + 0.35, flops_tick),
            "title": {"text": "attainable performance (FLOP/s)"},
            "range": [math.log10(y_lo) - 0.3, math.log10(y_hi) + 0.35],
        },
        "legend": {
            "font": {"size": 11},
            "itemsizing": "constant",
            # each ungrouped trace is a group of its own: plotly's default 10 px between
            # groups would push a 15-entry legend past the plot's height
            "tracegroupgap": 2,
            # plotly's defaults, spelled out: the page puts the legend below the plot
            # in a narrow window and must be able to put it back
            "orientation": "v",
            "x": 1.02,
            "xanchor": "left",
            "y": 1,
            "yanchor": "auto",
            "bgcolor": "rgba(255,255,255,0.85)",
        },
        "margin": {"l": 70, "r": 20, "t": 40, "b": 60},
        "hovermode": "closest",
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 13},
        "height": 560,
    }
    if buttons:
        layout["updatemenus"] = [
            {
                "type": "buttons",
                "direction": "right",
                "x": 0,
                "y": 1.09,
                "xanchor": "left",
                "yanchor": "bottom",
                "buttons": buttons,
                "showactive": True,
                "pad": {"r": 4, "t": 0},
                "font": {"size": 12},
            }
        ]
    return {"data": data, "layout": layout}


def _latency_traces(report: Any, tmax: float) -> list[dict[str, Any]]:
    """Measured and calibrated points per layer, and the whole model's two."""
    traces = []
    rows = [r for r in report.layers if r.flops > 0 and r.bytes > 0]
    for attr, name, symbol, colour in (
        ("measured_s", "measured (this machine)", "diamond-open", "#111111"),
        ("predicted_s", "calibrated prediction", "x-thin-open", "#9c755f"),
    ):
        pts = [r for r in rows if getattr(r, attr)]
        if not pts:
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "meta": "latency",
                "name": name,
                "x": [r.flops / r.bytes for r in pts],
                "y": [r.flops / getattr(r, attr) for r in pts],
                "marker": {"symbol": symbol, "size": 9, "color": colour, "line": {"width": 1.5}},
                "text": [
                    f"<b>{esc(row_name(r.name, r.self_only))}</b> ({esc(r.type)})"
                    f"<br>{name}: {seconds(getattr(r, attr))}"
                    f"<br>naive roofline: {seconds(r.naive_s)}"
                    + "".join(f"<br>{esc(e)}" for e in r.explanation[:2])
                    for r in pts
                ],
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    m = report.model
    # the whole model at its intensity: measured (its achieved FLOP/s) and calibrated
    for attr, what, symbol, colour in (
        ("measured_s", "measured", "star-open", "#111111"),
        ("predicted_s", "calibrated", "x-thin-open", "#9c755f"),
    ):
        t = getattr(m, attr)
        if not (t and m.flops and m.bytes):
            continue
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "meta": "latency",
                "name": f"whole model, {what}: {seconds(t)}",
                "x": [m.flops / m.bytes],
                "y": [m.flops / t],
                "marker": {"symbol": symbol, "size": 20, "color": colour, "line": {"width": 2}},
                "hovertemplate": f"whole model, {what}: {seconds(t)}"
                f", {si(m.flops / t, 'FLOP/s')}<extra></extra>",
            }
        )
    return traces


def _err_text(x: float | None, *, inline: bool = False) -> str:
    """An error as the terminal writes it (the factor too beyond 2x), with "×"
    (``inline``: inside parentheses already, the factor after a comma)."""
    from roofline.latency.compare import error_text

    return error_text(x, "×", inline=inline)


def _layer_words(meas: Any) -> str:
    """How the measurement timed its layers (``layer_method``), or that it timed none."""
    from roofline.latency.measure import LAYER_METHOD_WORDS

    method = getattr(meas, "layer_method", None)
    if not method:
        return "no layer timed"
    words = LAYER_METHOD_WORDS.get(method, method)
    if method == "profiler" and str(getattr(meas, "device", "")).startswith("cuda"):
        words += ": the kernels' device time"
    return f"per layer: {esc(words)}"


def _error_legend() -> str:
    """The latency errors' convention, as the terminal states it (capitalised)."""
    from roofline.latency.compare import ERROR_LEGEND, FACTOR_SHOWN

    text = ERROR_LEGEND.format(f=FACTOR_SHOWN, x="×")
    return esc(text[:1].upper() + text[1:])


def _fit_words(report: Any) -> str:
    """`` (fp32 kernels, fitted 2026-12-02 03:28 UTC)``: which calibration priced it
    (:func:`roofline.latency.compare.fit_words`: a quick one says so)."""
    from roofline.latency.compare import fit_words

    words = fit_words(getattr(getattr(report, "prediction", None), "efficiency", None))
    return f" ({esc(words)})" if words else ""


# -- page parts -------------------------------------------------------------------------


def _card(label: str, value: str, sub: str = "", cls: str = "") -> str:
    return (
        f'<div class="card {cls}"><div class="label">{label}</div>'
        f'<div class="value">{value}</div><div class="sub">{sub}</div></div>'
    )


def _phases_text(a: RooflineAnalysis) -> str:
    """A training profile's split, as the terminal report gives it:
    `` · forward 8.26 G + backward 16.24 G FLOPs (2.97× forward)``."""
    if a.mode != "training":
        return ""
    fwd = sum(o.flops for o in a.ops if o.phase == "forward")
    bwd = sum(o.flops for o in a.ops if o.phase == "backward")
    ratio = f" ({a.totals.flops / fwd:.2f}× forward)" if fwd else ""
    return f" · forward {si(fwd)} + backward {si(bwd)} FLOPs{ratio}"


def _fused_text(a: RooflineAnalysis) -> str:
    """The second, labelled traffic figure of an inference profile: `` · fused
    estimate 205.62 MB (48% of eager)`` (elementwise chains folded into their producer)."""
    if a.profile is None or a.mode != "inference":
        return ""
    t = a.profile.totals()
    if not 0 < t.fused_bytes < t.bytes:
        return ""
    return (
        f' · <span title="elementwise chains folded into their producer, as torch.compile '
        f'does">fused estimate {human_bytes(t.fused_bytes)} ({t.fused_bytes / t.bytes:.0%} '
        "of eager)</span>"
    )


def _cards(a: RooflineAnalysis) -> str:
    t, c, dev = a.totals, a.ceilings, a.device
    intensity = "∞" if not math.isfinite(t.intensity) else f"{t.intensity:.1f}"
    tput = "" if t.samples_per_s is None else f"{t.samples_per_s:,.0f} samples/s at batch {t.batch}"
    mem_share = sum(r.share for r in a.layers if r.bound == "memory")
    return "".join(
        [
            _card(
                "device",
                esc(dev.name),
                f"{human_bytes(c.bandwidth_bytes_per_s)}/s"
                + (
                    " · measured ceilings"
                    if dev.is_measured_view or dev.kind == "cpu"
                    else " · datasheet"
                )
                + f" · {dev.memory_bytes / 2**30:.0f} GiB",
                cls="wide",
            ),
            _card(
                "precision",
                esc(c.precision),
                f"matrix {si(c.matrix.flops_per_s, 'FLOP/s')} {c.matrix.pipe} · vector "
                f"{si(c.vector.flops_per_s, 'FLOP/s')} {c.vector.pipe}"
                + (f" · conv {si(c.conv.flops_per_s, 'FLOP/s')} tf32" if c.conv else ""),
            ),
            _card(
                "work",
                f"{si(t.flops)} <small>FLOPs</small>",
                f"{si(t.matrix_flops // 2)} MACs · {si(t.params)} params" + _phases_text(a),
            ),
            _card(
                "memory traffic",
                human_bytes(t.bytes),
                f"weights {human_bytes(t.weight_bytes)} · activations "
                f"{human_bytes(t.bytes - t.weight_bytes)}" + _fused_text(a),
            ),
            _card(
                "intensity",
                f"{intensity} <small>FLOP/B</small>",
                f"ridge point {c.ridge_point:.1f} FLOP/B"
                + (
                    f" · fp32 convolutions {c.conv.flops_per_s / c.bandwidth_bytes_per_s:.1f}"
                    if c.conv
                    else ""
                ),
            ),
            _card(
                "bound",
                t.bound,
                f"{t.memory_bound_layers} memory- / {t.compute_bound_layers} compute-bound layers "
                f"({100 * mem_share:.0f}% of time memory-bound)",
                cls=f"bound-{t.bound}",
            ),
            _card(
                "roofline time",
                seconds(t.time_s),
                (tput or f"as one kernel: {seconds(t.roof_time_s)}")
                + (
                    f' · <span title="each op is at least one kernel launch in eager PyTorch, '
                    'which the roofline time does not count">'
                    f"{plural(len(a.ops), 'op')}, {seconds(a.time_per_op_s)} each</span>"
                    if a.ops
                    else ""
                ),
            ),
        ]
    )


def _bars(
    items: dict[str, float], total: float, title: str, colours: dict[str, str] | None = None
) -> str:
    """A bar per item (time, share of ``total``), in the accent colour or the item's
    own in ``colours`` (the bound bars: blue "memory-bound layers" read as compute)."""
    if not items:
        return ""
    biggest = max(items.values()) or 1.0
    lines = [f'<div class="bars"><h3>{title}</h3>']
    for k, v in list(items.items())[:12]:
        share = v / total if total > 0 else 0.0
        lines.append(
            f'<div class="bar-row"><span class="bar-label" title="{esc(k)}">{esc(k)}</span>'
            f'<span class="bar-track"><span class="bar" style="width:{100 * v / biggest:.1f}%'
            + (f";background:{colours[k]}" if colours and k in colours else "")
            + '">'
            f'</span></span><span class="bar-value">{seconds(v)} · {100 * share:.1f}%</span></div>'
        )
    if len(items) > 12:
        rest = sum(list(items.values())[12:])
        lines.append(
            f'<div class="bar-row muted"><span class="bar-label">{len(items) - 12} more</span>'
            f'<span class="bar-track"></span><span class="bar-value">{seconds(rest)}</span></div>'
        )
    lines.append("</div>")
    return "\n".join(lines)


def _breakdown(a: RooflineAnalysis) -> str:
    t = a.totals.time_s
    bound = {
        f"{b}-bound layers": sum(r.time_s for r in a.layers if r.bound == b)
        for b in ("memory", "compute")
    }
    return (
        '<div class="breakdown">'
        + _bars(a.time_by_type(), t, "by layer type")
        + _bars(a.time_by_op_class(), t, "by op class")
        + _bars(
            {k: v for k, v in bound.items() if v > 0},
            t,
            "by bound",
            {f"{b}-bound layers": BOUND_COLOURS[b] for b in ("memory", "compute")},
        )
        + "</div>"
    )


def _bottlenecks(a: RooflineAnalysis, top: int, label: str = "") -> str:
    items = []
    for r in a.top(top):
        name = row_name(r.name, r.self_only)
        items.append(
            f'<li><span class="bn-head"><code>{esc(name)}</code> <span class="muted">'
            f'{esc(r.type)}</span> <span class="pill bound-{r.bound}">{r.bound}</span> '
            f'<b>{seconds(r.time_s)}</b> <span class="muted">({100 * r.share:.1f}% of time)'
            f'</span></span><br><span class="bn-why">{esc(r.explanation)}</span></li>'
        )
    head = f"<h3>{esc(label)}</h3>" if label else ""
    return f'{head}<ol class="bottlenecks">{"".join(items)}</ol>'


@dataclass(frozen=True)
class Column:
    """A column of the per-layer table: its header, tooltip, and cell."""

    header: str
    tip: str
    #: the cell of a row: ``(sort value, html)``; ``None`` for a text column's cells
    cell: Callable[[RowAnalysis], tuple[Any, str]]
    #: sorted by value and aligned right; text columns sort by text, aligned left
    numeric: bool = True
    #: held at the table's left edge as it scrolls sideways (see :func:`_th`)
    pin: str = ""


def _finite_intensity(r: RowAnalysis) -> tuple[Any, str]:
    if not math.isfinite(r.intensity):
        return 1e300, "∞"
    return r.intensity, f"{r.intensity:.2f}"


def breakable(text: Any) -> str:
    """Escaped ``text`` that may wrap after ``.`` and ``_`` (module paths, class names)
    when its column is narrow, instead of widening the table, but not at a hyphen: a
    browser breaks after one, and "ResNet-50" took a line for each half (with the
    params under it, 4 lines a row in a compare over 46 devices)."""
    # odd pieces: the words with a hyphen, each kept on one line (white-space: nowrap)
    pieces = re.split(r"([^\s._]*-[^\s._]*)", str(text))
    return "".join(
        f'<span class="nb">{_wbr(esc(p))}</span>' if i % 2 else _wbr(esc(p))
        for i, p in enumerate(pieces)
    )


def _wbr(escaped: str) -> str:
    return re.sub(r"([._])(?=\w)", r"\1<wbr>", escaped)


def breakable_shape(text: str) -> str:
    """Escaped shape text: one shape whole, several (``1x25200x85, 1x3x80x80x85, ...``)
    each a ``shape`` span that may wrap after its ``x`` (``1x3x80x<wbr>80x85``) where
    the stylesheet lets it, in a compare's table: there a detection head's outputs set
    the output column as wide as ``1x3x80x80x85,`` and the table ran past a 1366 px
    window, while a single 4-d shape (``1x32x320x320``) wrapped would double every
    row's height. (A profile's table keeps its shapes whole: ResNet-50's fits 1366 px
    unwrapped, but only without the box's scrollbar, and wrapping made its rows tall
    enough to need one.)"""
    parts = text.split(", ")
    if len(parts) == 1:
        return esc(text)
    wrapped = (re.sub(r"(?<=\d)x(?=\d)", "x<wbr>", esc(p)) for p in parts)
    return ", ".join(f'<span class="shape">{p}</span>' for p in wrapped)


def _name_cell(r: RowAnalysis) -> tuple[Any, str]:
    name = row_name(r.name, r.self_only)
    return None, f'<code class="name">{breakable(name)}</code>'


#: the per-layer table, in order: what a reader looks for first (where the time goes
#: and why) on the left, so it is on screen without scrolling; the details after
TABLE_COLUMNS = (
    Column("layer", "module path", _name_cell, numeric=False, pin="always"),
    Column("type", "module class", lambda r: (None, breakable(r.type)), numeric=False),
    Column("time", "roofline time (sum over its ops)", lambda r: (r.time_s, seconds(r.time_s))),
    Column(
        "%&nbsp;time",
        "share of the model's roofline time",
        lambda r: (r.share, f"{100 * r.share:.1f}"),
    ),
    Column(
        "bound",
        "which limit dominates: memory or compute",
        lambda r: (None, f'<span class="pill bound-{r.bound}">{r.bound}</span>'),
        numeric=False,
    ),
    Column("FLOP/B", "arithmetic intensity: FLOPs per byte of memory traffic", _finite_intensity),
    Column(
        "attainable FLOP/s",
        "FLOP/s the roofline allows this layer (op by op)",
        lambda r: (r.attainable_flops_per_s, si(r.attainable_flops_per_s) if r.flops else "-"),
    ),
    Column(
        "of&nbsp;roof",
        "attainable / roof at this intensity (100% = on the roof)",
        lambda r: (r.roof_fraction, f"{100 * r.roof_fraction:.0f}%" if r.flops else "-"),
    ),
    Column(
        "ceiling",
        "compute ceiling(s) used: tensor cores or plain pipes",
        lambda r: (None, r.ceiling_text()),
        numeric=False,
    ),
    Column(
        "FLOPs", "1 multiply or add = 1 FLOP; matrix + vector", lambda r: (r.flops, si(r.flops))
    ),
    Column(
        "bytes",
        "memory traffic, eager and unfused: read + written",
        lambda r: (r.bytes, human_bytes(r.bytes)),
    ),
    Column(
        "weights",
        "bytes of parameters/buffers read",
        lambda r: (r.weight_bytes, human_bytes(r.weight_bytes)),
    ),
    Column(
        "act.&nbsp;in",
        "bytes of activations read",
        lambda r: (r.activation_bytes_read, human_bytes(r.activation_bytes_read)),
    ),
    Column(
        "act.&nbsp;out", "bytes written", lambda r: (r.bytes_written, human_bytes(r.bytes_written))
    ),
    Column("params", "parameters", lambda r: (r.params, si(r.params) if r.params else "0")),
    Column(
        "output",
        "output shape",
        lambda r: (None, breakable_shape(shape_text(r.output_shape))),
        numeric=False,
    ),
)


def _th(header: str, tip: str, numeric: bool, pin: str = "") -> str:
    """A sortable header; ``pin`` marks a column that tells the rows apart, held at the
    left edge while the table scrolls sideways: ``always``, or ``if-room`` (only where
    the pinned columns still leave most of the box to the rest; the report's script
    decides)."""
    kind = "num" if numeric else "text"
    cls = "" if numeric else ' class="t"'
    pinned = f' data-pin="{pin}"' if pin else ""
    return f'<th data-type="{kind}"{cls}{pinned} title="{tip}">{header}</th>'


def _td(value: Any, text: str) -> str:
    return f'<td class="t">{text}</td>' if value is None else f'<td data-v="{value!r}">{text}</td>'


def _latency_cell(x: float | None, text: Callable[[float | None], str]) -> tuple[float, str]:
    """A latency cell (a time, an error): sorted by its value, a missing one ("-")
    below every real one."""
    return (-1e300 if x is None else x), text(x)


#: the latency table, as the terminal's: what was predicted, what was measured (with
#: its spread), the errors, and why a layer runs far from its roof
LATENCY_COLUMNS = (
    Column(
        "layer",
        "module path",
        lambda r: (None, f'<code class="name">{breakable(row_name(r.name, r.self_only))}</code>'),
        numeric=False,
    ),
    Column("type", "module class", lambda r: (None, breakable(r.type)), numeric=False),
    Column(
        "naive", "roofline time on the ceilings above", lambda r: _latency_cell(r.naive_s, seconds)
    ),
    Column(
        "calibrated",
        "time at the efficiencies fitted on this machine",
        lambda r: _latency_cell(r.predicted_s, seconds),
    ),
    Column(
        "measured", "median of the timed passes", lambda r: _latency_cell(r.measured_s, seconds)
    ),
    Column(
        "±&nbsp;IQR",
        "spread of the measured passes: 75th minus 25th percentile",
        lambda r: _latency_cell(r.measured_spread_s, seconds),
    ),
    Column(
        "naive error",
        "(naive − measured) / measured",
        lambda r: _latency_cell(r.naive_error, _err_text),
    ),
    Column(
        "calibrated error",
        "(calibrated − measured) / measured",
        lambda r: _latency_cell(r.predicted_error, _err_text),
    ),
    Column(
        "why",
        "what puts the layer far from its roof",
        lambda r: (None, esc("; ".join(r.explanation))),
        numeric=False,
    ),
)


def _latency_section(report: Any) -> str:
    """Naive, calibrated and measured latency, end to end and per layer."""
    m = report.model
    meas = report.measurement
    head = (
        f"<p>End to end: naive roofline <b>{seconds(m.naive_s)}</b> "
        f"({_err_text(m.naive_error, inline=True)}), "
        + (
            "no calibrated time (below: why)"
            if m.predicted_s is None
            else f"calibrated <b>{seconds(m.predicted_s)}</b> "
            f"({_err_text(m.predicted_error, inline=True)})"
        )
        + f", measured <b>{seconds(m.measured_s)}</b>"
        + (f" ± {seconds(m.measured_spread_s)} (IQR)" if m.measured_spread_s else "")
        + (f" on {esc(meas.device_name)}" if meas is not None else "")
        + ".</p>"
    )
    if meas is not None and meas.per_layer_sum_s and meas.median_s:
        # how far the instrumented layer times add up to the uninstrumented run
        head += (
            f"<p>Per-layer times from {esc(meas.layer_method)} ({plural(meas.layer_passes, 'pass', 'passes')}): "
            f"they add up to {seconds(meas.per_layer_sum_s)}, "
            f"{meas.per_layer_sum_s / meas.median_s:.2f}× the end-to-end median.</p>"
        )
    note = getattr(getattr(report, "prediction", None), "note", None)
    if note and note not in m.explanation:  # (naive only: the note is the explanation)
        head += f'<p class="muted">note: {esc(note)}</p>'
    if meas is not None and meas.unsteady_note:
        head += f'<p class="warn">note: {esc(meas.unsteady_note)}</p>'
    why = "".join(f"<li>{esc(e)}</li>" for e in m.explanation)
    head_cells = "".join(_th(c.header, c.tip, c.numeric) for c in LATENCY_COLUMNS)
    body = "".join(
        "<tr>" + "".join(_td(*c.cell(r)) for c in LATENCY_COLUMNS) + "</tr>" for r in report.layers
    )
    table = (
        f'<table id="latency" class="sortable latency"><thead><tr>{head_cells}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return (
        "<section><h2>Predicted and measured latency "
        '<small class="muted">(click a header to sort)</small></h2>'
        + head
        # (a bullet under the per-layer coverage, with no word of what it explained)
        + (
            (
                "<p>Why the calibrated time differs from the naive one:</p>"
                if m.predicted_s is not None
                else "<p>Why there is no calibrated time:</p>"
            )
            + f'<ul class="why">{why}</ul>'
            if why
            else ""
        )
        + '<p class="muted">naive: roofline time on the ceilings above; calibrated: per op, '
        "time at the efficiencies fitted by <code>roofline calibrate</code> on this machine"
        + _fit_words(report)
        + f", plus per-op overhead; measured: median of timed runs ({_layer_words(meas)}). "
        + f"{_error_legend()}.</p>"
        f'<div class="table-wrap">{table}</div></section>'
    )


def _short_labels(analyses: Sequence[RooflineAnalysis]) -> list[str]:
    """What tells the analyses apart: the model when every one is on the same device,
    the device when every one is the same model, otherwise ``model @ device``."""
    if len({a.device.key for a in analyses}) == 1:
        return [a.model for a in analyses]
    if len({a.model for a in analyses}) == 1:
        return [a.device.name for a in analyses]
    return [_label(a) for a in analyses]


def _table(analyses: Sequence[RooflineAnalysis]) -> str:
    many = len(analyses) > 1
    labels = _short_labels(analyses)
    # the row number and the layer's name stay on screen as a phone scrolls the table
    # sideways; a compare's analysis too where there is room (on a phone the three took
    # 240 of the box's 316 px)
    head = _th("#", "execution order", True, pin="always")
    if many:
        head += _th(
            "analysis",
            "which model @ device (its colour and marker on the plot)",
            False,
            pin="if-room",
        )
    head += "".join(_th(c.header, c.tip, c.numeric, c.pin) for c in TABLE_COLUMNS)
    body = []
    for ai, a in enumerate(analyses):
        for i, r in enumerate(a.layers, 1):
            cells = [_td(i, str(i))]
            if many:
                cells.append(_td(None, _analysis_key(ai, labels[ai], _label(a))))
            cells += [_td(*c.cell(r)) for c in TABLE_COLUMNS]
            body.append(f'<tr title="{esc(r.explanation)}">{"".join(cells)}</tr>')
    return (
        # a compare report's extra "analysis" column: a smaller font so that every
        # column fits a 1400 px window
        f'<table id="layers" class="sortable{" dense" if many else ""}"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table>"
    )


def _analysis_key(ai: int, label: str, full: str) -> str:
    """A swatch, the analysis's plot marker in its colour, then its short label (full
    on hover)."""
    colour, symbol = analysis_style(ai)
    return (
        f'<span class="key" style="color:{colour}" data-symbol="{symbol}">{GLYPHS[symbol]}</span>'
        f'<span title="{esc(full)}">{breakable(label)}</span>'
    )


def _ops_notes(analyses: Sequence[RooflineAnalysis]) -> str:
    """The seed's puzzle, where the totals show it (:func:`~roofline.analysis.launch_note`):
    a row with less roofline time than the first but more ops."""
    first = analyses[0]
    lines = [
        f"<p>⚠ <b>{esc(_label(a))}</b>: {esc(note)}</p>"
        for a in analyses[1:]
        if (note := launch_note(a, first, _label(first)))
    ]
    return f'<div class="warn">{"".join(lines)}</div>' if lines else ""


def _compare_table(analyses: Sequence[RooflineAnalysis]) -> str:
    """Totals side by side: what differs and the two times with their ratios to the
    first row come first, the work and traffic behind them after."""
    base = analyses[0].totals
    labels = [
        ("model", "model and its parameters", False),
        ("device", "device and precision", False),
        ("input", "input shapes", False),
        ("bound", "what bounds the whole model", False),
        ("roofline time", "sum of per-op times (eager, one kernel per op)", True),
        ("×&nbsp;first", "roofline time / the first row's", True),
        ("as one kernel", "max(FLOPs / peak, bytes / bandwidth) of the whole model", True),
        ("×&nbsp;first", "as one kernel / the first row's", True),
        ("ops", "ops counted: each is at least one kernel launch in eager PyTorch", True),
        (
            "time&nbsp;/ op",
            "roofline time / ops: below a kernel launch (a few µs on a GPU), the GPU waits "
            "for the host, which the roofline does not count",
            True,
        ),
        ("FLOPs", "1 multiply or add = 1 FLOP (MACs below)", True),
        ("traffic", "memory traffic, eager and unfused", True),
        ("FLOP/B", "arithmetic intensity of the whole model", True),
        ("ridge", "the device's ridge point at this precision (FLOP/B)", True),
        ("samples/s", "batch / roofline time", True),
        ("mem. / comp. layers", "memory- and compute-bound layers (sorted by the first)", True),
        ("note", "", False),
    ]
    head = "<tr>" + "".join(_th(h, tip, num) for h, tip, num in labels) + "</tr>"
    rows = []
    for ai, a in enumerate(analyses):
        t = a.totals
        intensity = t.intensity if math.isfinite(t.intensity) else 1e300
        cells = [
            _td(
                None,
                f"{_analysis_key(ai, a.model, _label(a))}"
                f'<br><small class="muted">{si(t.params)} params</small>',
            ),
            _td(None, f'{esc(a.device.name)} <span class="muted">{a.precision}</span>'),
            _td(None, esc(", ".join(shape_text(i["shape"]) for i in a.inputs))),
            _td(None, f'<span class="pill bound-{t.bound}">{t.bound}</span>'),
            _td(t.time_s, seconds(t.time_s)),
            _td(t.time_s / base.time_s, f"<b>{t.time_s / base.time_s:.3f}</b>"),
            _td(t.roof_time_s, seconds(t.roof_time_s)),
            _td(t.roof_time_s / base.roof_time_s, f"<b>{t.roof_time_s / base.roof_time_s:.3f}</b>"),
            _td(len(a.ops), f"{len(a.ops):,}"),
            _td(a.time_per_op_s, seconds(a.time_per_op_s) if a.ops else "-"),
            # MACs under the FLOPs: what torchinfo, thop and the seed's tables give
            _td(
                t.flops,
                f'{si(t.flops)}<br><small class="muted">{si(t.matrix_flops // 2)} MACs</small>',
            ),
            _td(t.bytes, human_bytes(t.bytes)),
            _td(intensity, f"{t.intensity:.1f}"),
            _td(t.ridge_point, f"{t.ridge_point:.1f}"),
            _td(
                -1e300 if t.samples_per_s is None else t.samples_per_s,
                "-" if t.samples_per_s is None else f"{t.samples_per_s:,.0f}",
            ),
            _td(t.memory_bound_layers, f"{t.memory_bound_layers} / {t.compute_bound_layers}"),
            _td(None, esc(compare_note(a))),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="totals" class="sortable compare"><thead>{head}</thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _roof_help(analyses: Sequence[RooflineAnalysis]) -> str:
    """The plot help's first words about the roof(s): one device or several."""
    if len({a.device.key for a in analyses}) > 1:
        return "Each device has its solid line, in its own colour, at this precision:"
    return "The solid line is the device at this precision:"


def _points_help(analyses: Sequence[RooflineAnalysis], latency: Any = None) -> str:
    """What the markers mean, for the kind of report: one analysis (a star for the
    model, buttons to colour by type or bound) or several (a colour and a marker per
    analysis, the whole model as the large outlined marker)."""
    if len(analyses) == 1:
        text = (
            "The star is the whole model. Colours are layer types; the buttons above the "
            "plot switch the colour between layer type and bound."
        )
    else:
        text = (
            "Each model @ device has its own colour and marker shape (the legend, and the "
            "swatch in the tables); its whole model is the large marker of that shape "
            "with a dark outline. Click a legend entry to hide or show it."
        )
        if len({a.device.key for a in analyses}) > MAX_LABELLED_DEVICES:
            text += (
                " With this many devices each roof takes the colour of its device's "
                "first entry, a legend click hides or shows a device's roof with its "
                "points (a double click shows that device alone), and the other "
                "precisions' roofs are left out."
            )
            if len(analyses) > OPEN_ANALYSES:
                text += (
                    f" Only the first {OPEN_ANALYSES} rows of the totals table are drawn "
                    f"at first: the other {len(analyses) - OPEN_ANALYSES} are greyed in the "
                    "legend, a click draws one."
                )
    if any(a.ceilings.conv is not None for a in analyses):
        text += (
            " Convolutions have their own ridge, the × on the thick dashed roof: a conv "
            "layer left of that one is memory-bound, even right of the solid roof's ridge."
        )
    if latency is not None:
        text += (
            " Open diamonds: each layer as measured on this machine (FLOPs / measured "
            "time); thin crosses: the calibrated prediction; the open star and the large "
            "thin cross: the whole model, measured and calibrated."
        )
    return text


def _inputs_text(a: RooflineAnalysis) -> str:
    return ", ".join(
        (f"{i['name']}=" if i.get("name") else "") + f"{shape_text(i['shape'])} {i['dtype']}"
        for i in a.inputs
    )


def _meta_rows(analyses: Sequence[RooflineAnalysis], date: str) -> str:
    import torch

    rows: list[tuple[str, str]] = []
    for a in analyses if len(analyses) > 1 else analyses[:1]:
        prefix = len(analyses) > 1
        batch = a.totals.batch
        spec = a.spec
        rows.append(
            (
                "model" if not prefix else "analysis",
                f"<b>{esc(a.model)}</b> · inputs {esc(_inputs_text(a))} · batch "
                f"{batch if batch is not None else '-'} · {esc(a.mode)} · {esc(a.device.name)}"
                f" · {a.precision}" + (f" · from <code>{esc(spec)}</code>" if spec else ""),
            )
        )
    lines = "".join(f'<div><span class="k">{k}</span> {v}</div>' for k, v in rows)
    if len(rows) > OPEN_ANALYSES:
        # `compare --gpu all`: 46 lines pushed the report a screen down; folded, with
        # the title's words and a count, listed on a click
        lines = (
            f'<details class="analyses"><summary><span class="k">analyses</span> '
            f"{len(rows)}: {esc(_models_text(analyses))} on {esc(_devices_text(analyses))} "
            f"(list)</summary>{lines}</details>"
        )
    tool = f"roofline {esc(__version__)} · torch {esc(torch.__version__)} · {date}"
    return lines + f'<div><span class="k">tool</span> {tool}</div>'


def _warnings(analyses: Sequence[RooflineAnalysis]) -> str:
    ws = list(dict.fromkeys(w for a in analyses for w in a.warnings))
    if not ws:
        return ""
    shown, folded = ws[:OPEN_WARNINGS], ws[OPEN_WARNINGS:]
    if len(folded) == 1:
        shown, folded = ws, []
    more = (
        f"<details><summary>{len(folded)} more warnings</summary>"
        + "".join(f"<p>⚠ {esc(w)}</p>" for w in folded)
        + "</details>"
        if folded
        else ""
    )
    return '<div class="warn">' + "".join(f"<p>⚠ {esc(w)}</p>" for w in shown) + more + "</div>"


def _models_text(analyses: Sequence[RooflineAnalysis]) -> str:
    """The models of a compare report's title: ``A vs B vs C``, and past NAMED_MODELS
    ``A vs B vs C +7 more`` (each is named in the header's list; a fourth name is
    written rather than "+1 more")."""
    names = list(dict.fromkeys(a.model for a in analyses))
    if len(names) <= NAMED_MODELS + 1:
        return " vs ".join(names)
    return " vs ".join(names[:NAMED_MODELS]) + f" +{len(names) - NAMED_MODELS} more"


def _devices_text(analyses: Sequence[RooflineAnalysis]) -> str:
    """The devices of a compare report's title: named when a few, counted when many
    (each is named in the lines below the title)."""
    names = list(dict.fromkeys(a.device.name for a in analyses))
    return ", ".join(names) if len(names) <= MAX_LABELLED_DEVICES else f"{len(names)} devices"


def _fold_after_the_first(parts: Sequence[str]) -> str:
    """A compare report's per-analysis parts (time breakdowns, bottlenecks): the first
    OPEN_ANALYSES shown, the rest folded under one line, as the plot draws the first
    rows only (`compare --gpu all`: 46 of each made the page 27,000 px tall at 1366 px)."""
    shown, folded = parts[:OPEN_ANALYSES], parts[OPEN_ANALYSES:]
    if len(folded) <= 1:
        return "".join(parts)
    return (
        "".join(shown)
        + f'<details class="more"><summary>{len(folded)} more analyses, in the order of the '
        f"totals table</summary>{''.join(folded)}</details>"
    )


def roofline_report(
    analyses: Sequence[RooflineAnalysis],
    *,
    top: int = 5,
    title: str | None = None,
    date: str | None = None,
    latency: Any = None,
) -> str:
    """The whole HTML page for one analysis (profile) or several (compare).

    ``latency`` (a :class:`roofline.latency.compare.LatencyReport`, from
    ``profile --measure``) adds measured and calibrated points and a latency section.
    """
    if not analyses:
        raise ValueError("roofline_report needs at least one analysis")
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    single = len(analyses) == 1
    a0 = analyses[0]
    if title is None:
        # a training profile's report had the inference one's title word for word (two
        # tabs, one name): the mode is in it where every analysis is of training
        training = " (training)" if all(a.mode == "training" for a in analyses) else ""
        title = (
            f"{a0.model}{training} on {a0.device.name}"
            if single
            else f"{_models_text(analyses)}{training} on {_devices_text(analyses)}"
        )
    fig = plot_figure(analyses, latency)
    if single:
        summary = f'<div class="cards">{_cards(a0)}</div>'
        breakdown = _breakdown(a0)
        bottlenecks = _bottlenecks(a0, top)
    else:
        summary = (
            "<section><h2>Totals side by side "
            '<small class="muted">(click a header to sort)</small></h2><div class="table-wrap">'
            + _compare_table(analyses)
            + "</div>"
            + _ops_notes(analyses)
            + '<p class="muted">roofline time: sum of per-op times (eager, one kernel '
            "per op); as one kernel: max(FLOPs / peak, bytes / bandwidth) of the whole model; "
            "ratios against the first row. ops: the ops counted, each one kernel launch or more "
            "in eager PyTorch, whose cost the roofline time leaves out: where time / op comes "
            "near a launch (a few µs on a GPU) the launches, not the FLOPs and bytes, set the "
            "time (<code>roofline profile --measure</code> times them, and its calibrated "
            "prediction prices them).</p></section>"
        )
        breakdown = _fold_after_the_first(
            [f"<h3>{esc(_label(a))}</h3>{_breakdown(a)}" for a in analyses]
        )
        bottlenecks = _fold_after_the_first([_bottlenecks(a, top, _label(a)) for a in analyses])
    skipped = sum(1 for a in analyses for r in a.layers if not _plottable(r))
    plotted = sum(1 for a in analyses for r in a.layers if _plottable(r))
    note = (
        f"{plotted} layers plotted"
        + (f"; {skipped} with no FLOPs or no bytes are not on the log-log plot" if skipped else "")
        + "."
    )
    values = {
        "roof_help": _roof_help(analyses),
        "points_help": _points_help(analyses, latency),
        "generator": esc(GENERATOR),
        "title": esc(title),
        "meta": _meta_rows(analyses, esc(date)),
        "warnings": _warnings(analyses),
        "latency": _latency_section(latency) if latency is not None else "",
        "summary": summary,
        "plot_note": note,
        "breakdown": breakdown,
        "bottlenecks": bottlenecks,
        "top": str(top),
        "table": _table(analyses),
        "rows": str(sum(len(a.layers) for a in analyses)),
        "figure": script_json(fig),
        "plotly": _plotly_js(),
    }
    return _fill(_template("report.html"), values)
