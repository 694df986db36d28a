"""Latency: measured timings, naive and calibrated predictions, and their comparison.

* :func:`measure` times a real model (end to end: warm-up, median and spread of many
  runs; per module: hooks or profiler ranges).
* :func:`calibrate_efficiency` runs microbenchmarks on a device and fits the
  efficiency model; :func:`store_efficiency` keeps it with the device's measured
  ceilings, where :func:`predict` finds it.
* :func:`predict` gives naive (plain roofline) and calibrated times per op, layer and
  model, with tags explaining each layer.
* :func:`compare_latency` puts prediction and measurement side by side.
"""

from __future__ import annotations

from roofline.latency.calibrate import EfficiencyModel, calibrate_efficiency
from roofline.latency.measure import Measurement, Timing, measure, time_region
from roofline.latency.predict import LatencyPrediction, efficiency_of, predict

__all__ = [
    "EfficiencyModel",
    "LatencyPrediction",
    "Measurement",
    "Timing",
    "calibrate_efficiency",
    "efficiency_of",
    "measure",
    "predict",
    "time_region",
]
