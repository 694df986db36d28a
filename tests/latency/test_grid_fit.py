"""The matrix classes' grid fit (``calibrate.GridFit``): it reproduces the measured
points, interpolates log(time) multilinearly in log(size) between them, and never
predicts a larger op faster than a smaller one."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roofline.latency.calibrate import (
    CPU_FULL,
    EfficiencyModel,
    GridFit,
    grid_from_samples,
    monotone_times,
)
from tests.latency.test_predict import eff

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NK = 768


def ideal_gemm_fit() -> GridFit:
    """The CPU grid's GEMM points (m, n, k; above ``max_flops`` not measured, as
    ``fit_matrix`` skips them) timed by an ideal law: 5 µs + FLOPs / 1 TFLOP/s."""
    pts, rates = [], []
    for m, n, k in itertools.product(CPU_FULL.gemm_m, CPU_FULL.gemm_nk, CPU_FULL.gemm_nk):
        fl = 2.0 * m * n * k
        if fl <= CPU_FULL.max_flops:
            pts.append((math.log2(m), math.log2(n), math.log2(k)))
            rates.append(fl / (5e-6 + fl / 1e12))
    return grid_from_samples(pts, rates, "gemm")


def gemm_us(fit: GridFit, m: float, n: float = NK, k: float = NK) -> float:
    return 2.0 * m * n * k / fit.rate((m, n, k)) * 1e6


def test_the_ideal_gemm_law_grows_with_m_where_the_nearest_points_change():
    # the defect: inverse-distance weighting of the 6 nearest points put m = 21 at
    # 37.35 µs and m = 22 at 31.0 µs, m = 2 at 11.3 µs and m = 3 at 7.5 µs
    fit = ideal_gemm_fit()
    assert fit.idw_rate((21, NK, NK)) < fit.idw_rate((22, NK, NK)) * 21 / 22  # the old fall
    times = [gemm_us(fit, m) for m in range(1, 4097)]
    assert all(b >= a for a, b in itertools.pairwise(times))


def test_the_ideal_gemm_law_at_and_between_grid_points_by_hand():
    fit = ideal_gemm_fit()
    # at m = 8 and 64: 5 µs + 2·m·768² / 1e12 s = 5 + 9.437 = 14.437 µs and
    # 5 + 75.497 = 80.497 µs, exactly the points
    assert gemm_us(fit, 8) == pytest.approx(5 + 2 * 8 * NK**2 / 1e6, rel=1e-12)
    assert gemm_us(fit, 64) == pytest.approx(80.497, abs=1e-3)
    # halfway in log2(m) (m = 8·2^1.5 = 22.63), log(time) is halfway:
    # sqrt(14.437 · 80.497) = 34.09 µs (the law itself: 31.7 µs)
    assert gemm_us(fit, 8 * 2**1.5) == pytest.approx(math.sqrt(14.437 * 80.497), rel=1e-4)
    assert gemm_us(fit, 8 * 2**1.5) == pytest.approx(34.09, abs=0.01)
    # beyond the grid the rate is the face's: m = 8192 at twice m = 4096's time,
    # 2 · (5 µs + 2·4096·768²/1e12 s) = 2 · 4836.6 µs = 9673.3 µs; below m = 1, m = 1
    assert gemm_us(fit, 8192) == pytest.approx(2 * (5 + 2 * 4096 * NK**2 / 1e6), rel=1e-12)
    assert fit.rate((0.25, NK, NK)) == pytest.approx(fit.rate((1, NK, NK)), rel=1e-12)


def test_bilinear_log_rate_between_four_points_by_hand():
    # log2 sizes (0|2, 0|1); times 2^(x0+x1)/rate: 1, 2, 2, 2 ns,
    # non-decreasing, so kept; at (2, 2^0.5), halfway both ways, log(rate) is the mean
    # of the four: (1·2·1·4)^(1/4) · 1e9 = 8^0.25 · 1e9 = 1.6818e9
    g = GridFit(((0.0, 0.0), (2.0, 0.0), (0.0, 1.0), (2.0, 1.0)), (1e9, 2e9, 1e9, 4e9))
    for p, r in zip(g.points, g.rates, strict=True):
        assert g.rate(tuple(2**v for v in p)) == pytest.approx(r, rel=1e-12)
    assert g.rate((2.0, 2**0.5)) == pytest.approx(1.6818e9, rel=1e-4)


def test_a_smaller_size_slower_than_a_larger_one_is_capped_at_its_time():
    # size 1 at 1e9 FLOP/s (work 1: 1 ns) but size 2 at 4e9 (2/4e9 = 0.5 ns):
    # the smaller one takes the larger's 0.5 ns -> rate 1 / 0.5e-9 = 2e9; the larger
    # is kept; between them the time is flat: at size 2^0.5, 2^0.5 / 0.5e-9 = 2.828e9
    g = GridFit(((0.0,), (1.0,)), (1e9, 4e9))
    assert g.rate((1.0,)) == pytest.approx(2e9)
    assert g.rate((2.0,)) == pytest.approx(4e9)
    assert g.rate((2**0.5,)) == pytest.approx(2**0.5 / 0.5e-9)


def test_a_categorical_axis_keeps_its_slices_apart():
    # a conv's 1x1 (0) and larger-kernel (3 = log2 8) slices at one M, N, K: 1e9 and
    # 1e10 FLOP/s. As a size axis the second would take 8/1e10 = 0.8 ns per unit and
    # cap the first's 1 ns (rate 1.25e9); as a code path each keeps its own rate
    pts = ((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 3.0))
    conv = GridFit(pts, (1e9, 1e10), categorical=(3,))
    assert conv.rate((1, 1, 1, 1.0)) == pytest.approx(1e9)
    assert conv.rate((1, 1, 1, 8.0)) == pytest.approx(1e10)
    assert GridFit(pts, (1e9, 1e10)).rate((1, 1, 1, 1.0)) == pytest.approx(1.25e9)


def test_a_stored_calibration_rebuilds_the_fit_with_the_class_axes():
    # what a calibration stores is unchanged (points, rates, k): an old record reads,
    # and the conv fits get their categorical axis from the class name
    d = eff().as_dict()
    pts = [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]]
    d["matrix"]["conv.backward"] = {"points": pts, "rates": [1e9, 1e10], "k": 6}
    model = EfficiencyModel.from_dict(d)
    assert model.matrix["conv.backward"].categorical == (3,)
    assert model.matrix["gemm"].categorical == ()
    assert set(model.matrix["conv.backward"].as_dict()) == {"points", "rates", "k"}
    assert model.compute_rate("conv.backward", (1, 1, 1, 1.0)) == pytest.approx(1e9)


axis = st.lists(st.floats(0.5, 3.0), min_size=1, max_size=3)


@SETTINGS
@given(
    steps=st.tuples(axis, axis, axis),
    growth=st.lists(st.floats(0.0, 2.0), min_size=64, max_size=64),
    drop=st.lists(st.booleans(), min_size=64, max_size=64),
    query=st.tuples(*[st.floats(0.0, 12.0)] * 3),
    along=st.integers(0, 2),
    further=st.floats(0.01, 4.0),
)
def test_time_is_monotone_in_every_size_for_a_monotone_grid(
    steps, growth, drop, query, along, further
):
    # a product grid whose log(time) grows along each axis (0.3 · log(work) plus, per
    # axis, a term that grows with the node's index), some nodes not measured (a corner above max_flops, a
    # scattered conv grid); time = 2^sum(x) / rate must not fall as any size grows
    axes = [[0.0] + [sum(s[: i + 1]) for i in range(len(s))] for s in steps]
    # per axis, a non-negative extra log(time) that grows with the node's index
    extra = [list(itertools.accumulate(growth[8 * a : 8 * a + 4])) for a in range(3)]
    pts, rates = [], []
    for n, (i, j, k) in enumerate(itertools.product(*[range(len(a)) for a in axes])):
        if drop[n % 64] and n:
            continue
        x = (axes[0][i], axes[1][j], axes[2][k])
        log_t = 0.3 * sum(x) + extra[0][i] + extra[1][j] + extra[2][k]
        pts.append(x)
        rates.append(2 ** sum(x) / math.exp(log_t))
    g = GridFit(tuple(pts), tuple(rates))
    for p, r in zip(pts, rates, strict=True):  # the points exactly
        assert g.rate(tuple(2**v for v in p)) == pytest.approx(r, rel=1e-9)

    def seconds(x):
        return 2 ** sum(x) / g.rate(tuple(2**v for v in x))

    bigger = list(query)
    bigger[along] += further
    assert seconds(bigger) >= seconds(query) * (1 - 1e-12)


def ns_at(fit: GridFit, log2_size: float) -> float:
    """A 1-d fit's time at size 2^log2_size, in ns (work = the size)."""
    return 2**log2_size / fit.rate((2**log2_size,)) * 1e9


def test_one_fast_outlier_lowers_none_of_the_smaller_nodes():
    # log2 sizes 0..3 (work 1, 2, 4, 8) measured at 10, 10, 11 ns and, at size 8, at
    # 4 ns: a third of the 12 ns it would take (3x too fast). The least-time-above cap
    # alone put sizes 1, 2 and 4 at 4 ns (2.5x, 2.5x, 2.75x too fast). Sizes 1, 2, 4
    # each contradict size 8 and nothing else: size 8 is the outlier, raised to the
    # greatest of their times, 11 ns; they keep their own
    times = (10.0, 10.0, 11.0, 4.0)
    g = GridFit(
        tuple((float(x),) for x in range(4)), tuple(2**x / (t * 1e-9) for x, t in enumerate(times))
    )
    assert [ns_at(g, x) for x in range(4)] == pytest.approx([10.0, 10.0, 11.0, 11.0], rel=1e-12)


def test_a_fast_outlier_only_one_node_contradicts_lowers_that_one_by_its_own_factor():
    # times 1, 2, 4 ns, then 8/3 ns at size 8 (3x fast, its 8 ns / 3): only size 4
    # (4 ns) contradicts it, nothing takes sides, and the smaller is capped: 2.667 ns,
    # 1.5x low, within the outlier's own 3x; sizes 1 and 2 are untouched
    times = (1.0, 2.0, 4.0, 8.0 / 3)
    g = GridFit(
        tuple((float(x),) for x in range(4)), tuple(2**x / (t * 1e-9) for x, t in enumerate(times))
    )
    assert [ns_at(g, x) for x in range(4)] == pytest.approx([1.0, 2.0, 8 / 3, 8 / 3], rel=1e-12)


def test_a_slow_node_two_larger_ones_contradict_is_still_capped():
    # times 30, 10, 11, 12 ns: size 1 contradicts three larger nodes (interference):
    # capped at the least of them, 10 ns, as before; no larger node is moved
    times = (30.0, 10.0, 11.0, 12.0)
    g = GridFit(
        tuple((float(x),) for x in range(4)), tuple(2**x / (t * 1e-9) for x, t in enumerate(times))
    )
    assert [ns_at(g, x) for x in range(4)] == pytest.approx([10.0, 10.0, 11.0, 12.0], rel=1e-12)


def test_monotone_times_keeps_a_growing_grid_exactly():
    # a 3x3 grid, log time 10 + i + j: nothing contradicts, every value kept bit for bit
    nodes = [(float(i), float(j)) for i, j in itertools.product(range(3), range(3))]
    times = [10.0 + i + j for i, j in nodes]
    assert monotone_times(nodes, times) == times
    # the centre 3x fast in time (log time 11 - ln 3 = 9.90): (0,0) at 10, (0,1) and
    # (1,0) at 11 contradict it alone, so it comes up to 11 and they keep theirs
    # (the least-time-above cap put all three at 9.90)
    bad = [t - math.log(3) if n == (1.0, 1.0) else t for n, t in zip(nodes, times, strict=True)]
    out = monotone_times(nodes, bad)
    assert out == [10.0, 11.0, 12.0, 11.0, 11.0, 13.0, 12.0, 13.0, 14.0]


def test_a_3x_fast_gemm_node_leaves_the_ideal_law_elsewhere():
    # the ideal 5 µs + FLOPs / 1 TFLOP/s law on the CPU grid, m = n = k = 64 measured
    # 3x fast: 5 + 2·64³/1e6 = 5.524 µs, / 3 = 1.841 µs. The nodes below it, m = 1 and
    # 8 at n = k = 64 (5.008 and 5.066 µs), took longer: the least-time-above cap put
    # both at 1.841 µs (2.7x fast). Now they keep the law, and the outlier takes the
    # greater of their times, 5 + 2·8·64²/1e6 = 5.0655 µs
    fit = ideal_gemm_fit()
    rates = list(fit.rates)
    i = fit.points.index((6.0, 6.0, 6.0))
    rates[i] *= 3
    g = GridFit(fit.points, tuple(rates))
    assert gemm_us(g, 1, 64, 64) == pytest.approx(5 + 2 * 64**2 / 1e6, rel=1e-12)
    assert gemm_us(g, 8, 64, 64) == pytest.approx(5 + 2 * 8 * 64**2 / 1e6, rel=1e-12)
    assert gemm_us(g, 64, 64, 64) == pytest.approx(5.0655, abs=1e-4)
    for p, r in zip(fit.points, fit.rates, strict=True):  # every other point exactly
        if p != (6.0, 6.0, 6.0):
            assert g.rate(tuple(2**v for v in p)) == pytest.approx(r, rel=1e-12)
    # and still monotone along each axis through the outlier
    for along in range(3):
        sizes = [64.0, 64.0, 64.0]
        times = []
        for v in range(1, 4097, 7):
            sizes[along] = float(v)
            times.append(gemm_us(g, *sizes))
        assert all(b >= a * (1 - 1e-12) for a, b in itertools.pairwise(times))


@SETTINGS
@given(
    logs=st.lists(st.floats(0.0, 2.0), min_size=27, max_size=27),
    fast=st.integers(0, 26),
    factor=st.floats(1.0, 30.0),
    query=st.tuples(*[st.floats(0.0, 5.0)] * 3),
    along=st.integers(0, 2),
    further=st.floats(0.01, 3.0),
)
def test_time_stays_monotone_with_one_fast_outlier(logs, fast, factor, query, along, further):
    # a 3x3x3 grid (log2 sizes 0, 1, 2) whose log(time) grows along each axis (a
    # running sum of non-negative steps), one node `factor` times too fast: the
    # predicted time still never falls as a size grows
    pts = list(itertools.product((0.0, 1.0, 2.0), repeat=3))
    log_t = [0.2 * sum(p) + logs[n] * sum(p) / 6 for n, p in enumerate(pts)]
    log_t = [
        max(log_t[m] for m, q in enumerate(pts) if all(a <= b for a, b in zip(q, p, strict=True)))
        for p in pts
    ]
    log_t[fast] -= math.log(factor)
    g = GridFit(
        tuple(pts), tuple(2 ** sum(p) / math.exp(t) for p, t in zip(pts, log_t, strict=True))
    )

    def seconds(x):
        return 2 ** sum(x) / g.rate(tuple(2**v for v in x))

    bigger = list(query)
    bigger[along] += further
    assert seconds(bigger) >= seconds(query) * (1 - 1e-12)
