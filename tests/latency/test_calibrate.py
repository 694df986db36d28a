"""Fits: interpolation by hand, storage round trip, and a tiny real calibration run."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from roofline.errors import MeasurementError
from roofline.latency.calibrate import (
    FORMAT_VERSION,
    CostCurve,
    CurveFit,
    EfficiencyModel,
    Grid,
    GridFit,
    calibrate_command,
    calibrate_efficiency,
    calibration_dtype,
    cost_curve_from_samples,
    curve_from_samples,
    fit_summary,
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
    assert g.idw_rate((1.0, 1.0)) == 1e9  # log2 of (1, 1) is (0, 0): the first point
    assert g.rate((1.0, 1.0)) == pytest.approx(1e9, rel=1e-12)
    # (2, 1) -> log2 (1, 0): distance 1 to both points: geometric mean sqrt(1e9 * 4e9);
    # halfway between them in log2 size, the multilinear fit's log(rate) is halfway too
    assert g.idw_rate((2.0, 1.0)) == pytest.approx(2e9)
    assert g.rate((2.0, 1.0)) == pytest.approx(2e9)


def test_op_size_of_a_conv_by_hand():
    dims = {"n": 2, "c_in": 64, "c_out": 128, "kernel": 9, "out_spatial": 196, "groups": 1}
    # M = 2 * 196, N = 128, K = 64 * 9, kernel flag 8 (not 1x1)
    assert op_size("conv", dims, 0) == (392, 128, 576, 8.0)
    dw = {"n": 1, "c_in": 32, "c_out": 32, "kernel": 25, "out_spatial": 49, "groups": 32}
    # (n * out_spatial, channels, kernel, stride flag 1: no input spatial, taken as stride 1)
    assert op_size("depthwise_conv", dw, 0) == (49, 32, 25, 1.0)
    # a 14x14 input to a 7x7 output is strided: flag 8
    assert op_size("depthwise_conv", {**dw, "in_spatial": 196}, 0) == (49, 32, 25, 8.0)
    assert op_size("depthwise_conv", {**dw, "in_spatial": 49}, 0) == (49, 32, 25, 1.0)
    # with the stride recorded, a 'valid' (unpadded) stride-1 conv, whose output is
    # smaller than its input, is not taken for a strided one
    assert op_size("depthwise_conv", {**dw, "in_spatial": 81, "stride": 1}, 0)[3] == 1.0
    assert op_size("depthwise_conv", {**dw, "in_spatial": 196, "stride": 2}, 0)[3] == 8.0
    assert op_size("gemm", {"b": 3, "m": 4, "n": 5, "k": 6}, 0) == (12, 5, 6)
    side = op_size("gemm", {}, 2 * 8**3)
    assert [round(v) for v in side] == [8, 8, 8]


@pytest.mark.parametrize(
    ("op_class", "dims"),
    [
        ("gemm", {"b": 3, "m": 4, "n": 5, "k": 6}),
        ("conv", {"n": 2, "c_in": 64, "c_out": 128, "kernel": 9, "out_spatial": 196, "groups": 1}),
        (
            "depthwise_conv",
            {"n": 1, "c_in": 32, "c_out": 32, "kernel": 25, "out_spatial": 49, "groups": 32},
        ),
        ("attention", {"batch": 2, "lq": 64, "lk": 64, "e": 32}),
        ("rnn", {"batch": 2, "m": 20, "n": 256, "k": 64}),
    ],
)
def test_op_size_without_dims_has_the_grids_axes(op_class, dims):
    # an op whose shape is unknown is priced as a square problem of the same work, on
    # the same grid as the shaped ones: as many coordinates, or the fit cannot place
    # it (the depthwise and rnn fallbacks had 3 for their 4-axis grids)
    assert len(op_size(op_class, {}, 1e9)) == len(op_size(op_class, dims, 1e9))


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
        EfficiencyModel.from_dict({"format": FORMAT_VERSION, "device": "cpu"})


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
    se_c=(8,),
    se_n=(2,),
    fresh_elems=(1024,),
    stems=((8, 4, 3),),
    rnn_b=(2,),
    rnn_h=(8,),
    rnn_t=(4,),
    backward_every=1,
    functions=("silu", "gelu_backward"),
)


def test_tiny_calibration_on_the_cpu():
    m = calibrate_efficiency("cpu", grid=TINY)
    assert set(m.matrix) == {
        "gemm",
        "conv",
        "depthwise_conv",
        "attention",
        "rnn",
        "conv.backward",
        "depthwise_conv.backward",
    }
    # the backward fits sit at the forward's grid points (every shape here)
    assert m.matrix["depthwise_conv.backward"].points == m.matrix["depthwise_conv"].points
    # the recurrent point: batch 2, 4 gates x 8 hidden, input 8 + hidden 8, 4 steps
    assert m.matrix["rnn"].points == ((1.0, 5.0, 4.0, 2.0),)
    memory = {"elementwise", "norm", "norm.train", "pool", "pool.backward", "pool.wide", "copy"}
    assert memory <= set(m.memory)
    # the pool family and its comparisons per byte (the median over the grid's two
    # sizes, 16 planes of 2x2 and of 8x8): 2x2/s2 (fp32, int64 indices) 4 per output
    # over 4·4 + 4 + 8 bytes = 1/7 at both; 5x5/s1/p2, one output per input (4 + 4 + 8
    # bytes), counts the taps inside the input: on 2 each window reaches both
    # elements, 2 x 2 = 4 per output, 4/16; on 8, 3 + 4 + 5·4 + 4 + 3 = 34 a dim,
    # 34² per 64 outputs -> 34²/(64·16); 3x3/s2/p1 in between
    assert set(m.memory_work) == {
        "pool.small",
        "pool",
        "pool.wide",
        "pool.wider",
        "avg_pool",
        "avg_pool.wide",
        "reduction",
        "reduction.short",
    }
    # the reduction family by rows per byte: one row of every element (64 or 1024
    # fp32 elements read, one written: 1/260 and 1/4100, the median their mean); rows of
    # 49 (one row of 49 at 64 elements, 20 at 1024): 1 / (50 · 4) at both
    assert m.memory_work["reduction"] == pytest.approx((1 / 260 + 1 / 4100) / 2)
    assert m.memory_work["reduction.short"] == pytest.approx(1 / 200)
    assert m.memory_work["pool.small"] == pytest.approx(1 / 7)
    # 2x2/s2 average: 4 adds and a divide per output over 4·4 + 4 bytes
    assert m.memory_work["avg_pool"] == pytest.approx(5 / 20)
    assert m.memory_work["pool.small"] < m.memory_work["pool"] < m.memory_work["pool.wide"]
    assert m.memory_work["pool.wide"] == pytest.approx((4 / 16 + 34**2 / (64 * 16)) / 2)
    # the elementwise functions the grid lists, each on its own curve
    assert {"elementwise.silu", "elementwise.gelu_backward"} <= set(m.memory)
    assert "elementwise.tanh" not in m.memory
    assert m.launch_overhead_s > 0 and m.module_overhead_s > 0
    rates = [r for f in m.matrix.values() for r in f.rates]
    rates += [r for c in m.memory.values() for r in c.rates]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert m.kind == "cpu" and not m.async_launch
    # a reference GEMM timed at the start and the end says whether the machine held still
    assert math.isfinite(m.info["speed_drift"]) and m.info["speed_drift"] > -1
    # a GRU on the CPU runs as C++-issued aten ops: their dispatch is measured (how it
    # compares with a call from Python is a timing, not a test: docs/latency.md; a
    # loaded machine made the old "< 5x launch" check fail)
    assert 0 < m.internal_op_s and math.isfinite(m.internal_op_s)
    assert m.fresh.sizes == (4096.0,)  # 1024 fp32 elements
    # the squeeze-excitation shapes (1x1 on a 1x1 map: M = n = 2) are grid points
    assert any(p[0] == 1.0 and p[3] == 0.0 for p in m.matrix["conv"].points)
    # the stem: 3 input channels x 3x3 = K 27; an 8x8 input at stride 2 -> M = 1 * 4 * 4
    assert any(
        p[2] == pytest.approx(math.log2(27)) and p[0] == pytest.approx(math.log2(16))
        for p in m.matrix["conv"].points
    )
    # strided depthwise points sit on their own axis (flag 8 -> log2 3)
    assert {p[3] for p in m.matrix["depthwise_conv"].points} == {0.0, 3.0}


def test_cold_copies_are_distinct_views_that_cover_the_pool():
    from roofline.latency.calibrate import COLD_MAX_COPIES, cold_copies

    pool = torch.arange(100.0)
    # 3 x 4 = 12 elements: 8 copies fit in 100, at offsets 0, 12, ..., 84
    copies = cold_copies(pool, (3, 4))
    assert len(copies) == 8 and all(c.shape == (3, 4) and c.is_contiguous() for c in copies)
    assert [int(c[0, 0]) for c in copies] == list(range(0, 96, 12))
    assert len({c.data_ptr() for c in copies}) == 8  # distinct memory, read in turn
    # a shape larger than the pool: one fresh tensor of it
    (big,) = cold_copies(pool, (20, 10))
    assert big.shape == (20, 10) and big.data_ptr() != pool.data_ptr()
    # tiny shapes stop at the cap
    assert len(cold_copies(torch.zeros(COLD_MAX_COPIES * 2), (1,))) == COLD_MAX_COPIES


def test_gemm_and_conv_microbenchmarks_rotate_their_weights(monkeypatch):
    from roofline.latency import calibrate

    seen: list[int] = []
    mm = torch.mm

    def spy(a, b):
        seen.append(b.data_ptr())
        return mm(a, b)

    conv_weights: list[int] = []
    conv2d = calibrate.F.conv2d

    def conv_spy(x, w, *args, **kwargs):
        if kwargs.get("groups", 1) == 1:  # dense; depthwise weights stay as they are
            conv_weights.append(w.data_ptr())
        return conv2d(x, w, *args, **kwargs)

    monkeypatch.setattr(torch, "mm", spy)
    monkeypatch.setattr(calibrate.F, "conv2d", conv_spy)
    grid = dataclasses.replace(TINY, gemm_m=(2,), gemm_nk=(8,), se_c=(), stems=())
    bench = calibrate.Bench(repeat=3)
    calibrate.fit_matrix(torch.device("cpu"), grid, bench)
    # one GEMM size, 8 x 8 weights: every timed call read a different copy
    assert len(seen) >= 3 and len(set(seen)) == len(seen)
    # and no dense convolution call read the weights the call before it read (copies
    # of one shape recur once the pool's are used up, and the pool serves every shape)
    assert len(conv_weights) >= 3
    assert all(a != b for a, b in itertools.pairwise(conv_weights))


def test_cost_curve_by_hand():
    # 1 MB costs nothing extra, 64 MB costs 0.4 ns/B (page faults beyond the mmap
    # threshold); in log space 8 MB is halfway: 0.2 ns/B * 8e6 B = 1.6 ms
    c = CostCurve((1e6, 64e6), (0.0, 4e-10))
    assert c.seconds(1e6) == 0.0 and c.seconds(5e5) == 0.0
    assert c.seconds(8e6) == pytest.approx(0.2e-9 * 8e6)
    assert c.seconds(128e6) == pytest.approx(4e-10 * 128e6)  # the last value beyond the end
    assert CostCurve().seconds(1e9) == 0.0
    assert CostCurve.from_dict(c.as_dict()) == c


def test_cost_curve_from_samples_clamps_noise_and_is_monotone():
    # a negative difference is noise (0); 2 MB measured at 3 ms but 4 MB at 1 ms: the
    # smaller one is capped at 1 ms (an extra cost never falls with size)
    c = cost_curve_from_samples([(4e6, 1e-3), (1e6, -1e-4), (2e6, 3e-3)])
    assert c.sizes == (1e6, 2e6, 4e6)
    assert c.seconds(1e6) == 0.0
    assert c.seconds(2e6) == pytest.approx(1e-3)
    assert c.seconds(4e6) == pytest.approx(1e-3)


def test_fit_network_terms_by_hand():
    from roofline.latency.calibrate import fit_network_terms

    # rows made by T = f*K + O + c*N with f = 1.5, c = 2 µs: the fit recovers both
    rows = [
        (k, o, n, 1.5 * k + o + 2e-6 * n)
        for k, o, n in ((1e-3, 1e-4, 50), (4e-3, 2e-4, 80), (2e-3, 5e-4, 400), (8e-3, 1e-4, 120))
    ]
    f, c = fit_network_terms(rows)
    assert f == pytest.approx(1.5) and c == pytest.approx(2e-6)
    # without the per-op term, c is 0 and f alone absorbs what it can
    f0, c0 = fit_network_terms(rows, per_op=False)
    assert c0 == 0.0 and f0 > 1.5


class FakeGpu:
    """A host clock and a GPU stream: ``op`` costs the host ``h`` and queues ``g`` of GPU
    work; the GPU starts queued work when it is free and the work has been issued."""

    def __init__(self, h: float, g: float) -> None:
        self.now = 0.0  # host clock
        self.free = 0.0  # when the GPU has finished everything queued
        self.h, self.g = h, g
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    def op(self) -> None:
        self.now += self.h
        self.free = max(self.free, self.now) + self.g

    def sleep(self, s: float) -> None:
        self.sleeps += 1
        self.free = max(self.free, self.now) + s

    def sync(self) -> None:
        self.now = max(self.now, self.free)

    def event(self) -> FakeEvent:
        return FakeEvent(self)


class FakeEvent:
    def __init__(self, gpu: FakeGpu) -> None:
        self.gpu, self.t = gpu, 0.0

    def record(self) -> None:
        # the stream reaches the event after all the work queued before it
        self.t = max(self.gpu.free, self.gpu.now)

    def elapsed_time(self, end: FakeEvent) -> float:
        return (end.t - self.t) * 1e3


@pytest.mark.parametrize(("h", "g"), [(1e-5, 2e-6), (2e-6, 3e-5), (5e-6, 5e-6)])
def test_queue_timer_separates_gpu_and_host_time(h, g):
    from roofline.latency.calibrate import QueueTimer

    gpu = FakeGpu(h, g)
    t_gpu, t_host = QueueTimer(gpu.sleep, gpu.event, gpu.sync, gpu.clock).time(gpu.op, 5)
    assert t_gpu == pytest.approx(g) and t_host == pytest.approx(h)
    # a plain loop timed by the clock measures the slower of the two
    t0 = gpu.clock()
    for _ in range(100):
        gpu.op()
    gpu.sync()
    assert (gpu.clock() - t0) / 100 == pytest.approx(max(h, g), rel=0.05)


def test_queue_timer_lengthens_the_busy_wait_when_the_host_was_slower():
    from roofline.latency.calibrate import QueueTimer

    # the probe sees a quick issue (1 µs); afterwards the host needs 40 µs per call
    gpu = FakeGpu(1e-6, 2e-6)
    calls = 0

    def op() -> None:
        nonlocal calls
        calls += 1
        gpu.h = 1e-6 if calls <= 2 else 4e-5
        gpu.op()

    timer = QueueTimer(gpu.sleep, gpu.event, gpu.sync, gpu.clock)
    t_gpu, t_host = timer.time(op, 3)
    # the first sample's busy-wait ended before the host had issued everything (the
    # GPU idled): it is retried with a longer one, so every sample times the GPU alone
    assert t_gpu == pytest.approx(2e-6) and t_host == pytest.approx(4e-5)
    assert gpu.sleeps > 3
    # without a busy-wait the events would have timed the host
    no_sleep = QueueTimer(lambda _s: None, gpu.event, gpu.sync, gpu.clock)
    assert no_sleep.time(op, 3)[0] == pytest.approx(4e-5, rel=0.01)


def test_bench_kernel_time_cpu_and_queued():
    from roofline.latency.calibrate import Bench, QueueTimer

    # CPU: loop time minus the per-op overhead and the fresh-output cost, never below
    # 10% of the sample
    gpu = FakeGpu(1e-5, 0.0)  # a serial "CPU": the host does the work
    fresh = CostCurve((1e3,), (1e-9,))  # 1 ns/B beyond 1 kB
    cpu = Bench(3, gpu.sync, launch=2e-6, fresh=fresh)
    import roofline.latency.calibrate as cal

    orig = cal._median_time
    cal._median_time = lambda fn, repeat, sync, **kw: 1e-5
    try:
        assert cpu.kernel(gpu.op, "gemm", 4e3) == pytest.approx(1e-5 - 2e-6 - 4e-6)
        assert cpu.kernel(gpu.op, "gemm", 4e4) == pytest.approx(1e-6)  # 10% floor
    finally:
        cal._median_time = orig
    # CUDA: the GPU time alone (the launch is host time, not subtracted), the host's
    # issue time collected per class
    g = FakeGpu(8e-6, 3e-5)
    q = Bench(3, g.sync, launch=8e-6, queue=QueueTimer(g.sleep, g.event, g.sync, g.clock))
    assert q.kernel(g.op, "conv", 0.0) == pytest.approx(3e-5)
    g.h = 1.2e-5
    q.kernel(g.op, "conv", 0.0)
    q.kernel(g.op, "elementwise", 0.0)
    # a fused recurrent call issues its kernels step by step: host time per step
    q.kernel(g.op, "rnn", 0.0, host_units=4)
    assert q.host_costs() == pytest.approx({"conv": 1e-5, "elementwise": 1.2e-5, "rnn": 3e-6})
    from roofline.latency.calibrate import host_units

    assert host_units("rnn", {"m": 64, "batch": 2}) == 32  # 64 rows of 2: 32 steps
    assert host_units("gemm", {"m": 64}) == 1


def test_fit_queue_terms_recovers_factor_and_per_op_overhead():
    from roofline.latency.calibrate import QueuedNetwork, fit_queue_terms

    # two networks measured as the pipeline with f = 1.6 and c = 4 µs would run them:
    # one host-bound (tiny kernels), one GPU-bound (long kernels), 60 ops each
    def net(kernel: float) -> QueuedNetwork:
        base = QueuedNetwork((5e-6,) * 60, (kernel,) * 60, (0.0,) * 60, 0.0)
        return QueuedNetwork(base.host, base.kernel, base.fresh, base.predicted(1.6, 4e-6))

    nets = [net(1e-6), net(2e-4), net(3e-5)]
    f, c = fit_queue_terms(nets)
    assert f == pytest.approx(1.6, rel=0.03)
    assert c == pytest.approx(4e-6, rel=0.1)
    assert all(n.predicted(f, c) == pytest.approx(n.measured_s, rel=0.03) for n in nets)
    assert fit_queue_terms([]) == (1.0, 0.0)


def test_tiny_calibration_through_the_asynchronous_path():
    """The CUDA code path (queue timing, per-class issue costs, the scheduled fit of the
    in-network terms) run on the CPU: a synchronous "GPU" whose events read the clock."""
    import time

    from roofline.latency.calibrate import QueueTimer

    class ClockEvent:
        def record(self) -> None:
            self.t = time.perf_counter()

        def elapsed_time(self, end: ClockEvent) -> float:
            return (end.t - self.t) * 1e3

    queue = QueueTimer(lambda _s: None, ClockEvent, lambda: None, target_s=2e-4)
    m = calibrate_efficiency("cpu", grid=TINY, queue=queue, quick=True)
    assert m.async_launch
    assert {"gemm", "conv", "depthwise_conv", "elementwise"} <= set(m.host_s)
    assert all(v > 0 for v in m.host_s.values())
    assert 0.5 <= m.context_factor <= 4.0 and 0.0 <= m.network_op_overhead_s <= 1e-4
    assert EfficiencyModel.from_dict(m.as_dict()).host_s == m.host_s


def test_queue_timer_stretches_a_busy_wait_that_ran_short():
    from roofline.latency.calibrate import QueueTimer

    # the GPU's clock rose after the busy-wait was converted to seconds: it holds the
    # GPU for a fifth of what was asked. The host (40 us per call) would fall behind
    # the GPU (2 us per call) if nothing noticed
    gpu = FakeGpu(4e-5, 2e-6)
    short = lambda s: gpu.sleep(0.2 * s)  # noqa: E731
    timer = QueueTimer(short, gpu.event, gpu.sync, gpu.clock)
    t_gpu, t_host = timer.time(gpu.op, 5)
    assert t_gpu == pytest.approx(2e-6) and t_host == pytest.approx(4e-5)
    assert timer._stretch == pytest.approx(5.0)


def test_fit_summary_says_when_the_machine_changed_under_the_calibration():
    import dataclasses

    from roofline.latency.calibrate import fit_summary

    m = EfficiencyModel("cpu", "cpu", 1e-6, 1e-7, {}, {"elementwise": CurveFit((1.0,), (1e9,))})
    moved = fit_summary(dataclasses.replace(m, info={"speed_drift": 0.3}))
    assert "warning: the machine's speed changed during the calibration" in moved
    assert "30% slower at the end" in moved
    assert "25% faster" in fit_summary(dataclasses.replace(m, info={"speed_drift": -0.25}))
    steady = fit_summary(dataclasses.replace(m, info={"speed_drift": 0.04}))
    assert "warning" not in steady and "steady: a reference GEMM ran within 4%" in steady
    assert "steady" not in fit_summary(m)  # older calibrations did not measure it
    # the memory line is what the prediction charges a kernel: the fitted rate plus the
    # fresh allocation of its output (the rates are fitted net of it)
    assert "elementwise 1 MiB 1 GB/s (1.049 ms)" in fit_summary(m)
    faulting = dataclasses.replace(m, fresh=CostCurve((1.0,), (3e-9,)))  # 3 ns per byte
    # 2^20 B at 1 GB/s + a third of them at 3 ns: 1.049 + 1.049 ms
    assert "elementwise 1 MiB 0.5 GB/s (2.097 ms)" in fit_summary(faulting)


def test_tiny_calibration_at_bf16_times_bf16_kernels(monkeypatch):
    # every microbenchmark and synthetic network runs at the calibration's dtype: the
    # GEMMs, convolutions and adds are spied on; the overheads (no dtype moves them)
    # and the speed check's reference GEMM stay fp32
    import torch
    import torch.nn.functional as F

    seen: dict[str, set[torch.dtype]] = {"mm": set(), "conv2d": set(), "add": set()}
    real = {"mm": torch.mm, "conv2d": F.conv2d, "add": torch.add}

    def spy(name):
        def call(*a, **k):
            seen[name].add(a[0].dtype)
            return real[name](*a, **k)

        return call

    monkeypatch.setattr(torch, "mm", spy("mm"))
    monkeypatch.setattr(F, "conv2d", spy("conv2d"))
    monkeypatch.setattr(torch, "add", spy("add"))
    m = calibrate_efficiency("cpu", grid=TINY, dtype="bf16")
    assert m.dtype == "bfloat16" and "bf16 kernels" in fit_summary(m)
    assert seen["conv2d"] == {torch.bfloat16}
    assert seen["mm"] == {torch.bfloat16, torch.float32}  # the reference GEMM is fp32
    assert torch.bfloat16 in seen["add"]
    assert m.fresh.sizes == (2048.0,)  # 1024 bf16 elements
    rates = [r for f in m.matrix.values() for r in f.rates]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert EfficiencyModel.from_dict(m.as_dict()) == m


def test_calibration_dtypes_per_device_kind():
    import torch

    assert calibration_dtype("cpu", "bf16") is torch.bfloat16
    assert calibration_dtype("gpu", "half") is torch.float16
    with pytest.raises(MeasurementError) as exc:
        calibration_dtype("cpu", "fp16")
    assert str(exc.value) == (
        "a latency calibration on the CPU cannot time fp16 kernels: use one of fp32, bf16, fp64"
    )
    with pytest.raises(MeasurementError, match="cannot time int8 kernels"):
        calibration_dtype("gpu", "int8")
    assert calibrate_command("gpu", "bfloat16") == "roofline calibrate --gpu local --dtype bf16"
    assert calibrate_command("cpu") == "roofline calibrate --gpu cpu"


def test_calibrate_command_names_the_local_gpu():
    import dataclasses

    from roofline.latency.predict import nvml_index
    from tests.latency.test_predict import DEVICE

    assert (
        calibrate_command("gpu", "bfloat16", 1) == "roofline calibrate --gpu local:1 --dtype bf16"
    )
    assert calibrate_command("gpu", "float32", 0) == "roofline calibrate --gpu local"
    second = dataclasses.replace(DEVICE, kind="gpu", origin="nvml:1:NVIDIA H200")
    assert nvml_index(second) == 1 and nvml_index(DEVICE) is None


def test_fit_summary_says_when_the_in_network_terms_hit_their_limits():
    import dataclasses

    # under load the synthetic networks ran 8-18x the prediction: the fit ended at the
    # factor's lower limit and the per-op term's upper one, and nothing said so
    m = EfficiencyModel("cpu", "cpu", 1e-6, 1e-7, {}, {"elementwise": CurveFit((1.0,), (1e9,))})
    fine = dataclasses.replace(m, context_factor=1.2, network_op_overhead_s=1.2e-5)
    assert "limits" not in fit_summary(fine)
    stuck = dataclasses.replace(m, context_factor=0.5, network_op_overhead_s=1e-4)
    text = fit_summary(stuck)
    assert "warning: the fit hit its limits: in-network factor 0.50 (limits 0.5-4.0)" in text
    assert "per-op term 100.00 µs" in text and "calibrate again on a quiet one" in text
    assert "limits" in fit_summary(dataclasses.replace(fine, context_factor=4.0))


@pytest.mark.parametrize("elems", [64, 1024, 5000])
def test_pool_microbenchmarks_carry_the_counters_figures(elems):
    # a pool op is priced by its counted vector FLOPs per counted byte against the
    # curves' work per byte: each pool microbenchmark's work and bytes must be what the
    # counter counts for that very op (the same formulas, not a copy of them)
    import torch
    from torch import nn

    import roofline
    from roofline.latency.calibrate import POOL_FAMILY, _memory_kernels

    class Call(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self):
            return self.fn()

    gen = torch.Generator().manual_seed(0)
    kernels = _memory_kernels(torch.device("cpu"), elems, gen)
    names = [n for n in POOL_FAMILY if n in kernels] + ["pool.backward"]
    assert {"pool.small", "pool", "pool.wide", "pool.backward"} <= set(names)
    for name in names:
        kernel = kernels[name]
        (op,) = roofline.profile(Call(kernel.fn), (), real=True).ops
        assert op.op_class == "pool"
        assert kernel.work == (op.vector_flops if name in POOL_FAMILY else 0), name
        assert kernel.nbytes == op.bytes_read + op.bytes_written, name


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_each_memory_curve_is_timed_on_what_the_counter_counts_for_its_ops(dtype):
    # a curve is priced per counted byte (and the pool family per counted comparison
    # per byte): the microbenchmark's bytes and work must be the counter's for the same
    # op, or every op on that curve is biased by the ratio. Each elementwise function
    # counted as the op the model runs, then looked up by memory_variant: the curve
    # named after it, at (inputs + output) x elements x element size, as timed
    import torch
    import torch.nn as nn

    import roofline
    from roofline.latency.calibrate import (
        AVG_POOL_FAMILY,
        ELEMENTWISE_FUNCTIONS,
        POOL_FAMILY,
        _memory_kernels,
        memory_variant,
    )

    dt = getattr(torch, dtype)
    elems = 4**6

    class Call(nn.Module):
        def __init__(self, fn) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, *args):
            return self.fn(*args)

    for name, (fn, reads) in ELEMENTWISE_FUNCTIONS.items():
        args = tuple(torch.randn(elems, dtype=dt) for _ in range(reads))
        backward = name.endswith("_backward")
        (o,) = roofline.profile(Call(fn), args).ops
        assert memory_variant(o.op_class, o.dims, backward, o.op) == f"elementwise.{name}"
        assert o.bytes_read + o.bytes_written == (reads + 1) * elems * args[0].element_size()
    # the pool families: the counter's max (average) pool of the same image (16 x 16 x 16)
    kernels = _memory_kernels(torch.device("cpu"), elems, torch.Generator().manual_seed(1), dt)
    pools = [(n, nn.MaxPool2d(*kp, return_indices=True)) for n, kp in POOL_FAMILY.items()]
    pools += [(n, nn.AvgPool2d(*kp)) for n, kp in AVG_POOL_FAMILY.items()]
    for name, pool in pools:
        (o,) = roofline.profile(pool, (torch.randn(1, 16, 16, 16, dtype=dt),)).ops
        assert (o.bytes_read + o.bytes_written, o.vector_flops) == (
            kernels[name].nbytes,
            kernels[name].work,
        ), name
        # and each is priced on its own family
        family = "avg_pool" if name in AVG_POOL_FAMILY else None
        assert memory_variant(o.op_class, o.dims, False, o.op) == family, name


def test_the_synthetic_networks_are_timed_in_interleaved_rounds(monkeypatch):
    # timed one after the other, a few seconds of load hit one network's median; in
    # rounds over all of them it touches each a little. Every network is timed once a
    # round, round after round (2 warm-ups in the first, 1 after), and its time is the
    # median of all its samples
    import sys

    import torch

    from roofline.latency import calibrate
    from roofline.latency.measure import Timing

    measure = sys.modules["roofline.latency.measure"]  # the package's `measure` is a function

    calls: list[tuple[int, int]] = []

    def fake_time_region(step, *, warmup, repeat, sync, **_):
        calls.append((warmup, repeat))
        return Timing(tuple([1e-3] * repeat))

    monkeypatch.setattr(measure, "time_region", fake_time_region)
    m = EfficiencyModel("cpu", "cpu", 1e-6, 1e-7, {}, {"elementwise": CurveFit((1.0,), (1e9,))})
    nets = len(calibrate.synthetic_networks(True))
    _, ratios = calibrate.fit_context(m, torch.device("cpu"), quick=True)
    repeat = calibrate.CONTEXT_REPEAT[1]
    assert calls == [(2, repeat)] * nets + [(1, repeat)] * nets * (calibrate.CONTEXT_ROUNDS - 1)
    assert len(ratios) == nets


def test_the_microbenchmark_timers_run_with_the_collector_off():
    import gc

    from roofline.devices.bench import best_time
    from roofline.latency.calibrate import QueueTimer, _median_time

    was = gc.isenabled()
    gc.enable()
    try:
        seen: list[bool] = []

        def fn() -> None:
            seen.append(gc.isenabled())

        best_time(fn, 2)
        # the first call of each is an untimed warm-up (the collector as it was)
        assert seen == [True, False, False]
        seen.clear()
        _median_time(fn, 2, lambda: None, target_s=0.0)
        assert seen[:2] == [True, True] and seen[2:] and not any(seen[2:])
        seen.clear()
        gpu = FakeGpu(1e-6, 1e-6)

        def op() -> None:
            fn()
            gpu.op()

        QueueTimer(gpu.sleep, gpu.event, gpu.sync, gpu.clock, target_s=0.0).time(op, 2)
        assert seen[:2] == [True, True] and seen[2:] and not any(seen[2:])
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
