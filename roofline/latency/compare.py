"""Prediction beside measurement: per layer and end to end, with the error of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from roofline.latency.measure import Measurement
from roofline.latency.predict import LatencyPrediction, LayerPrediction
from roofline.report.text import row_name
from roofline.units import dtype_short, plural


def rel_error(predicted: float | None, measured: float | None) -> float | None:
    """(predicted − measured) / measured; None when either is missing or measured is 0."""
    if predicted is None or not measured:
        return None
    return (predicted - measured) / measured


@dataclass(frozen=True)
class LatencyRow:
    """One layer (or the model): naive, calibrated and measured seconds."""

    name: str
    type: str
    naive_s: float
    predicted_s: float | None
    measured_s: float | None
    measured_spread_s: float | None
    explanation: tuple[str, ...] = ()
    self_only: bool = False
    flops: int = 0
    bytes: int = 0

    @property
    def naive_error(self) -> float | None:
        return rel_error(self.naive_s, self.measured_s)

    @property
    def predicted_error(self) -> float | None:
        return rel_error(self.predicted_s, self.measured_s)

    def latency(self) -> dict[str, float | None]:
        return {
            "naive_s": self.naive_s,
            "predicted_s": self.predicted_s,
            "measured_s": self.measured_s,
            "measured_spread_s": self.measured_spread_s,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "self_only": self.self_only,
            "flops": self.flops,
            "bytes": self.bytes,
            "latency": self.latency(),
            "error": {"naive": self.naive_error, "predicted": self.predicted_error},
            "explanation": list(self.explanation),
        }


@dataclass(frozen=True)
class LatencyReport:
    """The model row and the layer rows of a prediction compared with a measurement."""

    model: LatencyRow
    layers: tuple[LatencyRow, ...]
    prediction: LatencyPrediction
    measurement: Measurement | None
    depth: int | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``latency: {naive_s, predicted_s, measured_s, measured_spread_s}``
        for the model and on every layer row."""
        m = self.measurement
        return {
            "model": self.prediction.model,
            "device": self.prediction.device,
            "precision": self.prediction.precision,
            "batch": self.prediction.batch,
            "mode": self.prediction.mode,
            "latency": self.model.latency(),
            "error": {"naive": self.model.naive_error, "predicted": self.model.predicted_error},
            "explanation": list(self.model.explanation),
            "calibrated": self.prediction.calibrated,
            "fit": _fit_dict(getattr(self.prediction, "efficiency", None)),
            "note": self.prediction.note,
            "measurement": m.as_dict() if m else None,
            "depth": self.depth,
            "layers": [r.as_dict() for r in self.layers],
        }


def kernel_time_only(prediction: LatencyPrediction, measurement: Measurement | None) -> bool:
    """Whether per-layer measurements are device-kernel time alone: the profiler on
    CUDA sums the kernels inside each module's range, so the GPU's waits for the host
    (the schedule's stalls) are in no layer; the layers are then compared on their
    predicted kernel time."""
    return bool(
        measurement is not None
        and measurement.layer_method == "profiler"
        and measurement.device.startswith("cuda")
        and prediction.efficiency is not None
        and prediction.efficiency.async_launch
    )


def _row(
    layer: LayerPrediction, measurement: Measurement | None, kernels_only: bool = False
) -> LatencyRow:
    mt = measurement.layer_time(layer.name, layer.self_only) if measurement else None
    predicted = layer.predicted_s
    if kernels_only and predicted is not None:
        predicted -= layer.overhead_s
    return LatencyRow(
        name=layer.name,
        type=layer.type,
        naive_s=layer.naive_s,
        predicted_s=predicted,
        measured_s=mt[0] if mt else None,
        measured_spread_s=mt[1] if mt else None,
        explanation=layer.explanation,
        self_only=layer.self_only,
        flops=layer.flops,
        bytes=layer.bytes,
    )


def compare_latency(
    prediction: LatencyPrediction,
    measurement: Measurement | None,
    depth: int | None = None,
) -> LatencyReport:
    """Put ``prediction`` beside ``measurement`` (None: prediction only), per layer at
    ``depth`` (default: the prediction's depth) and end to end.

    Per-layer measured times are the instrumented per-module times (hooks or profiler,
    ``Measurement.layer_method``); the model's measured time is the uninstrumented
    end-to-end median and its interquartile range. With the profiler on CUDA a layer's
    calibrated time is its kernels' (:func:`kernel_time_only`); the model row keeps the
    whole schedule.
    """
    d = prediction.depth if depth is None else depth
    total = LatencyRow(
        name="(model)",
        type=prediction.model,
        naive_s=prediction.naive_s,
        predicted_s=prediction.predicted_s,
        measured_s=measurement.median_s if measurement else None,
        measured_spread_s=measurement.spread_s if measurement else None,
        explanation=prediction.explanation(),
        flops=prediction.profile.totals().flops,
        bytes=prediction.profile.totals().bytes,
    )
    kernels_only = kernel_time_only(prediction, measurement)
    rows = tuple(_row(layer, measurement, kernels_only) for layer in prediction.layers(d))
    return LatencyReport(total, rows, prediction, measurement, d)


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.3f}"


#: a prediction off by more than this factor gets the factor beside its error
FACTOR_SHOWN = 2.0


def factor_words(x: float | None, times: str = "x") -> str | None:
    """How many times too long or too short a prediction with relative error ``x`` is,
    in words (``"12.5x under"``, ``"3.5x over"``), where that is more than
    :data:`FACTOR_SHOWN`; else None (None too for a prediction of 0: no factor)."""
    if x is None:
        return None
    ratio = 1.0 + x  # predicted / measured
    if ratio > FACTOR_SHOWN:
        return f"{_factor(ratio)}{times} over"
    if 0 < ratio < 1 / FACTOR_SHOWN:
        return f"{_factor(1 / ratio)}{times} under"
    return None


def error_text(x: float | None, times: str = "x", *, inline: bool = False) -> str:
    """A relative error (:func:`rel_error`) as a percentage; beyond :data:`FACTOR_SHOWN`
    also the factor, which reads better than an error near −100 %: ``-92% (12.5x
    under)`` is a prediction 12.5 times shorter than the measurement, ``+250% (3.5x
    over)`` 3.5 times longer (``times``: the sign, ``×`` in HTML). ``inline`` joins the
    factor with a comma, for text that is in parentheses already: ``-92%, 12.5x
    under``."""
    if x is None:
        return "-"
    factor = factor_words(x, times)
    if not factor:
        return f"{100 * x:+.0f}%"
    return f"{100 * x:+.0f}%" + (f", {factor}" if inline else f" ({factor})")


def _factor(r: float) -> str:
    return f"{r:.1f}" if r < 100 else f"{r:,.0f}"


def has_factor(report: LatencyReport) -> bool:
    """Whether any error of ``report`` (a layer's or the model's) shows its factor."""
    return any(
        factor_words(e) is not None
        for r in (report.model, *report.layers)
        for e in (r.naive_error, r.predicted_error)
    )


#: what the errors mean, for the terminal's summary and the HTML section
ERROR_LEGEND = (
    "errors are (predicted − measured) / measured: negative, the prediction is shorter "
    "than the measurement; beyond a factor of {f:g} the factor too ('12.5{x} under': "
    "predicted 12.5 times shorter than measured, '3.5{x} over': 3.5 times longer)"
)


#: the "why" column wraps at this width, so a row fits a terminal beside the numbers
WHY_WIDTH = 60


def latency_table(report: LatencyReport, max_rows: int | None = None) -> str:
    """Per-layer naive / calibrated / measured milliseconds, errors and the reason (the
    reason wrapped at :data:`WHY_WIDTH` characters)."""
    headers = [
        "layer",
        "type",
        "naive ms",
        "calibrated ms",
        "measured ms",
        "± (IQR)",
        "naive err",
        "calib. err",
        "why",
    ]
    rows = []
    layers = report.layers if max_rows is None else report.layers[:max_rows]
    for r in layers:
        rows.append(
            [
                row_name(r.name, r.self_only),
                r.type,
                _ms(r.naive_s),
                _ms(r.predicted_s),
                _ms(r.measured_s),
                _ms(r.measured_spread_s),
                error_text(r.naive_error),
                error_text(r.predicted_error),
                "; ".join(r.explanation[:2]),
            ]
        )
    m = report.model
    rows.append(
        [
            "total (end to end)",
            "",
            _ms(m.naive_s),
            _ms(m.predicted_s),
            _ms(m.measured_s),
            _ms(m.measured_spread_s),
            error_text(m.naive_error),
            error_text(m.predicted_error),
            "",
        ]
    )
    widths = [None] * (len(headers) - 1) + [WHY_WIDTH]
    return tabulate(rows, headers=headers, disable_numparse=True, maxcolwidths=widths)


def measured_layers_table(measurement: Measurement, depth: int | None = 1) -> str:
    """Measured per-layer times alone (``bench --no-predict``): each timed module at
    ``depth`` (None: the leaves), and shallower ones with no timed module inside, with
    calls, median, IQR and share of the end-to-end median, slowest first; "" when
    none was timed. A container whose forward never ran (YOLOv5's ``model``: its parent
    iterates over its children) is a row too, timed as the predicted table times it
    (:meth:`Measurement.layer_time`: its top-most timed descendants), with no calls."""
    timed = [n for n in measurement.modules if n]
    names = set(timed)
    for n in timed:
        parts = n.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))

    def level(n: str) -> int:
        return n.count(".") + 1

    def leaf(n: str) -> bool:
        return not any(o.startswith(n + ".") for o in names)

    rows = []
    for n in sorted(names):
        if (depth is None and leaf(n)) or (
            depth is not None and (level(n) == depth or (level(n) < depth and leaf(n)))
        ):
            mt = measurement.layer_time(n)
            if mt is None:
                continue
            t = measurement.modules.get(n)
            share = mt[0] / measurement.median_s if measurement.median_s else 0.0
            rows.append(
                (
                    mt[0],
                    [n, str(t.calls) if t else "-", _ms(mt[0]), _ms(mt[1]), f"{100 * share:.1f}"],
                )
            )
    if not rows:
        return ""
    rows.sort(key=lambda r: -r[0])  # slowest first
    headers = ["layer", "calls", "measured ms", "± (IQR)", "% of end to end"]
    return tabulate([r for _, r in rows], headers=headers, disable_numparse=True)


def fit_words(efficiency: Any) -> str:
    """Which calibration priced a prediction: ``"fp32 kernels, fitted 2026-12-02 03:28
    UTC"``, with ``", quick grid"`` for a fit from ``--quick``'s smaller grid (later
    runs use a stored quick fit as they would a full one); "" without one."""
    if efficiency is None:
        return ""
    words = [f"{dtype_short(efficiency.dtype)} kernels"]
    if efficiency.measured_at:
        words.append(f"fitted {efficiency.measured_at}")
    if getattr(efficiency, "quick", False):
        words.append("quick grid")
    return ", ".join(words)


def _fit_dict(efficiency: Any) -> dict[str, Any] | None:
    """The JSON's ``fit``: the calibration that priced the prediction, as
    :func:`fit_words` names it in the terminal and the HTML (``quick``: a fit of
    ``--quick``'s smaller grid); None without one."""
    if efficiency is None:
        return None
    return {
        "dtype": dtype_short(efficiency.dtype),
        "fitted_at": efficiency.measured_at or None,
        "quick": bool(getattr(efficiency, "quick", False)),
    }


def latency_summary(report: LatencyReport) -> str:
    """A few lines: end-to-end figures, per-layer coverage, and the model's explanation."""
    m, meas = report.model, report.measurement
    lines = [
        f"{report.prediction.model} on {report.prediction.device}, batch "
        f"{report.prediction.batch}, {report.prediction.mode}:"
        f" naive {_ms(m.naive_s)} ms, calibrated {_ms(m.predicted_s)} ms"
        + (
            f", measured {_ms(m.measured_s)} ms ± {_ms(m.measured_spread_s)} (IQR)"
            if m.measured_s is not None
            else ""
        )
    ]
    fit = fit_words(getattr(report.prediction, "efficiency", None))
    if fit and m.predicted_s is not None:
        lines.append(f"calibrated by the latency fit of {fit}")
    if meas is not None and meas.per_layer_sum_s:
        lines.append(
            f"per-layer times from {meas.layer_method} "
            f"({plural(meas.layer_passes, 'pass', 'passes')}); "
            f"instrumented total {_ms(meas.per_layer_sum_s)} ms "
            f"= {meas.per_layer_sum_s / meas.median_s:.2f}x the end-to-end median"
        )
    if meas is not None and meas.unsteady_note:
        lines.append(f"note: {meas.unsteady_note}")
    if has_factor(report):
        lines.append(ERROR_LEGEND.format(f=FACTOR_SHOWN, x="x"))
    for tag in m.explanation:
        lines.append(f"  - {tag}")
    if report.prediction.note and report.prediction.note not in m.explanation:
        lines.append(f"note: {report.prediction.note}")  # (naive only: it is the explanation)
    return "\n".join(lines)
