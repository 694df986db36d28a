"""Fits: interpolation by hand, storage round trip, and a tiny real calibration run."""

from __future__ import annotations

import math

import pytest

from roofline.errors import MeasurementError
from roofline.latency.calibrate import (
    CurveFit,
    EfficiencyModel,
    Grid,
    GridFit,
    calibrate_efficiency,
    curve_from_samples,
    op_size,
)


def test_curve_interpolates_log_log_and_is_flat_outside():
    c = CurveFit((1e3, 1e5), (1e9, 1e11))
    # halfway in log(size) (1e4) is halfway in log(rate): sqrt(1e9 * 1e11) = 1e10
    assert c.rate(1e4) == pytest.approx(1e10)
    assert c.rate(10) == 1e9 and c.rate(1e9) == 1e11


def test_curve_from_samples_makes_time_monotone():
    # 1 kB at 1e6 B/s takes 1 ms but 10 kB at 1e8 B/s takes 0.1 ms: the small one was
    # interference; its time is capped at 0.1 ms -> rate 1e3 / 1e-4 = 1e7
    c = curve_from_samples([(1e3, 1e6), (1e4, 1e8)])
    assert c.rates == (pytest.approx(1e7), pytest.approx(1e8))


def test_grid_exact_point_and_inverse_distance_weighting():
    g = GridFit(((0.0, 0.0), (2.0, 0.0)), (1e9, 4e9), k=2)
    assert g.rate((1.0, 1.0)) == 1e9  # log2 of (1, 1) is (0, 0): the first point
    # (2, 1) -> log2 (1, 0): distance 1 to both points: geometric mean sqrt(1e9 * 4e9)
    assert g.rate((2.0, 1.0)) == pytest.approx(2e9)


def test_op_size_of_a_conv_by_hand():
    dims = {"n": 2, "c_in": 64, "c_out": 128, "kernel": 9, "out_spatial": 196, "groups": 1}
    # M = 2 * 196, N = 128, K = 64 * 9, kernel flag 8 (not 1x1)
    assert op_size("conv", dims, 0) == (392, 128, 576, 8.0)
    dw = {"n": 1, "c_in": 32, "c_out": 32, "kernel": 25, "out_spatial": 49, "groups": 32}
    assert op_size("depthwise_conv", dw, 0) == (49, 32, 25)
    assert op_size("gemm", {"b": 3, "m": 4, "n": 5, "k": 6}, 0) == (12, 5, 6)
    side = op_size("gemm", {}, 2 * 8**3)
    assert [round(v) for v in side] == [8, 8, 8]


def test_efficiency_model_round_trip_and_bad_record():
    m = EfficiencyModel(
        "cpu",
        "cpu",
        1e-6,
        1e-7,
        {"gemm": GridFit(((1.0, 2.0, 3.0),), (5e9,))},
        {"elementwise": CurveFit((1.0, 2.0), (3.0, 4.0))},
        threads=2,
    )
    assert EfficiencyModel.from_dict(m.as_dict()) == m
    with pytest.raises(MeasurementError, match="calibrate"):
        EfficiencyModel.from_dict({"format": 1, "device": "cpu"})


TINY = Grid(
    gemm_m=(1, 16),
    gemm_nk=(16,),
    conv_c=(4,),
    conv_hw=(4,),
    conv_n=(1,),
    dw_c=(4,),
    dw_hw=(4,),
    attn_l=(8,),
    attn_bh=(1,),
    mem_elems=(64, 1024),
    max_flops=1e6,
    repeat=1,
)


def test_tiny_calibration_on_the_cpu():
    m = calibrate_efficiency("cpu", grid=TINY)
    assert set(m.matrix) == {"gemm", "conv", "depthwise_conv", "attention"}
    assert {"elementwise", "norm", "pool", "copy"} <= set(m.memory)
    assert m.launch_overhead_s > 0 and m.module_overhead_s > 0
    rates = [r for f in m.matrix.values() for r in f.rates]
    rates += [r for c in m.memory.values() for r in c.rates]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert m.kind == "cpu" and not m.async_launch
