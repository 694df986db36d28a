"""Prediction on a hand-made device and calibration, numbers derived by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.counting.profile import ModelProfile, ModuleInfo, OpRecord
from roofline.devices.model import Device, MeasuredCeilings, Peak
from roofline.latency.calibrate import CurveFit, EfficiencyModel, GridFit
from roofline.latency.compare import compare_latency, latency_summary, latency_table, rel_error
from roofline.latency.measure import Measurement, ModuleTime, Timing
from roofline.latency.predict import efficiency_of, predict

# 1 TFLOP/s on every pipe, 100 GB/s
DEVICE = Device(
    key="hand",
    name="Hand-made",
    vendor="test",
    kind="cpu",
    aliases=(),
    memory_bytes=0,
    memory_bandwidth_bytes_per_s=1e11,
    peaks={"fp32": Peak(1e12, "plain", "hand")},
    plain_peaks={"fp32": Peak(1e12, "plain", "hand")},
)


def eff(async_launch: bool = False, dw_rate: float = 1e10) -> EfficiencyModel:
    """GEMMs at 250 GFLOP/s, depthwise at ``dw_rate``, elementwise at 40 GB/s, copies
    at 20 GB/s; 10 µs per op, 1 µs per module call (one grid point: constant fits)."""
    return EfficiencyModel(
        device="hand",
        kind="cpu",
        launch_overhead_s=1e-5,
        module_overhead_s=1e-6,
        matrix={
            "gemm": GridFit(((6.0, 6.0, 6.0),), (2.5e11,)),
            "depthwise_conv": GridFit(((10.0, 5.0, 3.0),), (dw_rate,)),
        },
        memory={"elementwise": CurveFit((1e3,), (4e10,)), "copy": CurveFit((1e3,), (2e10,))},
        async_launch=async_launch,
    )


def op(name, module, cls, matrix=0, vector=0, read=0, written=0, dims=None):
    return OpRecord(
        name, module, "forward", cls, matrix, vector, read, written, 0, "float32", dims=dims or {}
    )


def hand_profile(extra_ops=()):
    modules = (
        ModuleInfo("", "Net", 0, 0, 0, 0, 0, False, calls=1),
        ModuleInfo("fc", "Linear", 1, 0, 0, 0, 0, True, calls=1),
        ModuleInfo("act", "ReLU", 1, 0, 0, 0, 0, True, calls=1),
    )
    ops = (
        # 1 GFLOP GEMM moving 10 MB
        op(
            "aten.addmm.default",
            "fc",
            "gemm",
            matrix=10**9,
            read=8 * 10**6,
            written=2 * 10**6,
            dims={"m": 1000, "n": 1000, "k": 500},
        ),
        # ReLU: 1 MFLOP, 8 MB
        op(
            "aten.relu.default",
            "act",
            "elementwise",
            vector=10**6,
            read=4 * 10**6,
            written=4 * 10**6,
        ),
        *extra_ops,
    )
    return ModelProfile("hand", "inference", ({"shape": [4, 500]},), "float32", modules, ops)


def test_naive_is_the_plain_roofline():
    p = predict(hand_profile(), DEVICE, efficiency=None)
    # GEMM: max(1e9 / 1e12, 1e7 / 1e11) = max(1e-3, 1e-4) = 1e-3 s
    # ReLU: max(1e6 / 1e12, 8e6 / 1e11) = max(1e-6, 8e-5) = 8e-5 s
    assert p.naive_s == pytest.approx(1.08e-3)
    assert p.predicted_s is None and not p.calibrated
    assert "calibrate" in p.explanation()[0]


def test_calibrated_cpu_sums_kernel_and_overhead():
    p = predict(hand_profile(), DEVICE, efficiency=eff())
    # GEMM: compute 1e9 / 2.5e11 = 4e-3; memory 1e7 / 2e10 (copy curve) = 5e-4;
    #       4e-3 + 1e-5 launch = 4.01e-3
    # ReLU: compute 1e6 / 1e12 = 1e-6; memory 8e6 / 4e10 = 2e-4; 2e-4 + 1e-5 = 2.1e-4
    # 3 module calls x 1e-6 = 3e-6
    assert p.ops[0].predicted_s == pytest.approx(4.01e-3)
    assert p.ops[0].limiter == "compute"
    assert p.ops[0].efficiency == pytest.approx(0.25)  # 2.5e11 / 1e12
    assert p.ops[1].predicted_s == pytest.approx(2.1e-4)
    assert p.ops[1].limiter == "memory"
    assert p.ops[1].efficiency == pytest.approx(0.4)  # 4e10 / 1e11
    assert p.predicted_s == pytest.approx(4.223e-3)
    rows = {r.name: r for r in p.layers(1)}
    assert rows["fc"].predicted_s == pytest.approx(4.011e-3)  # + its own module call
    assert rows["act"].predicted_s == pytest.approx(2.11e-4)
    assert "gemm: compute-bound at 25% of peak" in rows["fc"].explanation
    # ReLU: 2e-4 of its 2.11e-4 s is memory at 40 GB/s of the device's 100 GB/s
    assert "elementwise: memory-bound at 40% of bandwidth, 100% of the time" in (
        rows["act"].explanation
    )


def test_batch_norm_in_training_runs_at_its_own_curve():
    import dataclasses

    def bn(training):
        # 8 MB moved: at 40 GB/s 2e-4 s, at 5 GB/s 1.6e-3 s
        return op(
            "aten.native_batch_norm.default",
            "act",
            "norm",
            read=4 * 10**6,
            written=4 * 10**6,
            dims={"training": training},
        )

    curves = {"norm": CurveFit((1e3,), (4e10,)), "norm.train": CurveFit((1e3,), (5e9,))}
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves})
    p = predict(hand_profile((bn(0), bn(1))), DEVICE, efficiency=fitted)
    eval_op, train_op = p.ops[2], p.ops[3]
    assert eval_op.kernel_s == pytest.approx(2e-4)  # running statistics: the class curve
    assert train_op.kernel_s == pytest.approx(1.6e-3)  # batch statistics: norm.train
    assert train_op.efficiency == pytest.approx(0.05)  # 5 GB/s of 100
    # a calibration without the variant (another device's plan) falls back to the class
    p = predict(
        hand_profile((bn(1),)),
        DEVICE,
        efficiency=dataclasses.replace(eff(), memory={**eff().memory, "norm": curves["norm"]}),
    )
    assert p.ops[2].kernel_s == pytest.approx(2e-4)


def test_pooling_backward_runs_at_its_own_curve():
    import dataclasses

    # 8 MB: the forward at 1 GB/s (8e-3 s), the backward's scatter at 25 GB/s (3.2e-4 s)
    fwd = op(
        "aten.max_pool2d_with_indices.default", "act", "pool", read=6 * 10**6, written=2 * 10**6
    )
    bwd = dataclasses.replace(
        fwd, op="aten.max_pool2d_with_indices_backward.default", phase="backward"
    )
    curves = {"pool": CurveFit((1e3,), (1e9,)), "pool.backward": CurveFit((1e3,), (2.5e10,))}
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves})
    p = predict(hand_profile((fwd, bwd)), DEVICE, efficiency=fitted)
    assert p.ops[2].kernel_s == pytest.approx(8e-3)
    assert p.ops[3].kernel_s == pytest.approx(3.2e-4)


def test_pools_are_priced_by_comparisons_per_byte_between_the_family_curves():
    import dataclasses

    # three pool curves, timed at 0.1, 0.3 and 1.5 comparisons per byte: 0.5, 1 and
    # 4 ns per byte (2, 1 and 0.25 GB/s). An 8 MB pool op at c comparisons per byte:
    #   c = 0.3  -> on the pool curve: 1 ns/B -> 8 ms
    #   c = 0.2  -> halfway between 0.5 and 1 ns/B: 0.75 -> 6 ms
    #   c = 0.9  -> 1 + (0.9 - 0.3) * (4 - 1) / 1.2 = 2.5 ns/B -> 20 ms
    #   c = 2.7  -> beyond the widest, along the last segment: 4 + 1.2 * 2.5 = 7 -> 56 ms
    #   c = 0.05 -> below the lightest: flat at 0.5 ns/B -> 4 ms
    # (compute at the device's 1 TFLOP/s vector peak stays under 22 µs: memory governs)
    pool = op(
        "aten.max_pool2d_with_indices.default", "act", "pool", read=6 * 10**6, written=2 * 10**6
    )
    works = (0.3, 0.2, 0.9, 2.7, 0.05)
    pools = [dataclasses.replace(pool, vector_flops=round(c * 8 * 10**6)) for c in works]
    curves = {
        "pool.small": CurveFit((1e3,), (2e9,)),
        "pool": CurveFit((1e3,), (1e9,)),
        "pool.wide": CurveFit((1e3,), (2.5e8,)),
    }
    work = {"pool.small": 0.1, "pool": 0.3, "pool.wide": 1.5}
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves}, memory_work=work)
    p = predict(hand_profile(pools), DEVICE, efficiency=fitted)
    assert [o.kernel_s for o in p.ops[2:]] == pytest.approx([8e-3, 6e-3, 2e-2, 5.6e-2, 4e-3])
    # a pool without a comparison count, and every pool of a calibration without the
    # family's work per byte, run on the class's own curve
    bare = predict(hand_profile((pool,)), DEVICE, efficiency=fitted).ops[2].kernel_s
    older = dataclasses.replace(fitted, memory_work={})
    assert [o.kernel_s for o in predict(hand_profile(pools), DEVICE, efficiency=older).ops[2:]] == (
        pytest.approx([8e-3] * 5)
    )
    assert bare == pytest.approx(8e-3)


def test_average_pools_are_priced_on_their_own_family():
    import dataclasses

    # an 8 MB average pool at 0.25 adds per byte: on the average family (4 GB/s at
    # 0.25, 1 GB/s at 1.25) 2 ms; a max pool at the same work per byte stays on the
    # max family (1 GB/s): 8 ms; without the average curves the average pool falls
    # back to the max family too
    avg = op("aten.avg_pool2d.default", "act", "pool", read=6 * 10**6, written=2 * 10**6)
    avg = dataclasses.replace(avg, vector_flops=2 * 10**6)
    mx = dataclasses.replace(avg, op="aten.max_pool2d_with_indices.default")
    curves = {
        "pool": CurveFit((1e3,), (1e9,)),
        "pool.wide": CurveFit((1e3,), (1e9,)),
        "avg_pool": CurveFit((1e3,), (4e9,)),
        "avg_pool.wide": CurveFit((1e3,), (1e9,)),
    }
    work = {"pool": 0.1, "pool.wide": 1.5, "avg_pool": 0.25, "avg_pool.wide": 1.25}
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves}, memory_work=work)
    p = predict(hand_profile((avg, mx)), DEVICE, efficiency=fitted)
    assert [o.kernel_s for o in p.ops[2:]] == pytest.approx([2e-3, 8e-3])
    no_avg = dataclasses.replace(
        fitted, memory={k: v for k, v in fitted.memory.items() if not k.startswith("avg")}
    )
    assert predict(hand_profile((avg,)), DEVICE, efficiency=no_avg).ops[2].kernel_s == (
        pytest.approx(8e-3)
    )


def test_reductions_are_priced_by_rows_per_byte_between_the_family_curves():
    import dataclasses

    # two reduction curves: long rows (1e-6 rows per byte) at 80 GB/s = 0.0125 ns/B,
    # rows of 49 fp32 (1/200 per byte) at 40 GB/s = 0.025 ns/B. A global average pool
    # of 32x1280 rows of 49 (8,028,160 B read, 163,840 written: 8,192,000 B, 40,960
    # rows, 1/200 per byte) runs on the short curve: 8.192e6 * 0.025e-9 = 204.8 µs; the
    # same bytes in rows of 4x49 (10,240 rows, 1/800 per byte), between the two:
    # 0.0125 + (1/800 - 1e-6) / (1/200 - 1e-6) * 0.0125 = 0.015622 ns/B -> 127.98 µs;
    # reduced over an outer dim (no rows), and without the family, on the long curve:
    # 8.192e6 * 0.0125e-9 = 102.4 µs
    gap = op("aten.mean.dim", "act", "reduction", read=8_028_160, written=163_840)
    gap = dataclasses.replace(gap, vector_flops=8_028_160 + 40_960, dims={"rows": 40_960})
    coarse = dataclasses.replace(gap, dims={"rows": 10_240})
    outer = dataclasses.replace(gap, dims={})
    curves = {
        "reduction": CurveFit((1e3,), (8e10,)),
        "reduction.short": CurveFit((1e3,), (4e10,)),
    }
    work = {"reduction": 1e-6, "reduction.short": 1 / 200}
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves}, memory_work=work)
    p = predict(hand_profile((gap, coarse, outer)), DEVICE, efficiency=fitted)
    between = 0.0125e-9 + (1 / 800 - 1e-6) / (1 / 200 - 1e-6) * 0.0125e-9
    assert [o.kernel_s for o in p.ops[2:]] == pytest.approx([204.8e-6, 8.192e6 * between, 102.4e-6])
    assert 8.192e6 * between == pytest.approx(127.98e-6, rel=1e-4)
    older = dataclasses.replace(fitted, memory_work={})
    assert predict(hand_profile((gap,)), DEVICE, efficiency=older).ops[2].kernel_s == (
        pytest.approx(102.4e-6)
    )


def test_elementwise_functions_run_at_their_own_curves_where_calibrated():
    import dataclasses

    # 8 MB each: an add on the elementwise curve (40 GB/s: 0.2 ms), a SiLU on its own
    # curve (10 GB/s: 0.8 ms), GELU's tanh form on gelu_tanh (4 GB/s: 2 ms) while the
    # erf form has no curve here and stays on the elementwise one (0.2 ms)
    base = op("aten.add.Tensor", "act", "elementwise", read=6 * 10**6, written=2 * 10**6)
    silu = dataclasses.replace(base, op="aten.silu_.default")
    tanh_gelu = dataclasses.replace(base, op="aten.gelu.default", dims={"tanh": 1})
    erf_gelu = dataclasses.replace(base, op="aten.gelu.default")
    curves = {
        "elementwise.silu": CurveFit((1e3,), (1e10,)),
        "elementwise.gelu_tanh": CurveFit((1e3,), (4e9,)),
    }
    fitted = dataclasses.replace(eff(), memory={**eff().memory, **curves})
    p = predict(hand_profile((base, silu, tanh_gelu, erf_gelu)), DEVICE, efficiency=fitted)
    assert [o.kernel_s for o in p.ops[2:]] == pytest.approx([2e-4, 8e-4, 2e-3, 2e-4])


def family_points(min_size: int) -> st.SearchStrategy:
    """1 to 5 curves of a family: (work per byte, a constant rate), distinct works."""
    pair = st.tuples(st.floats(0.01, 100), st.floats(1e6, 1e12))
    return st.lists(pair, min_size=min_size, max_size=5, unique_by=lambda t: t[0])


def family_of(points) -> list:
    return sorted((w, CurveFit((1e3,), (r,))) for w, r in points)


@given(family_points(2), st.floats(0.0, 200))
def test_a_family_rate_is_positive_and_never_faster_than_its_fastest_curve(points, c):
    from roofline.latency.calibrate import family_rate

    family = family_of(points)
    rate = family_rate(family, 1e6, c)
    assert 0 < rate <= max(r for _, r in points) * (1 + 1e-9)


@given(family_points(1), st.floats(0.0, 50))
def test_beyond_the_heaviest_curve_more_work_per_byte_never_runs_faster(points, extra):
    from roofline.latency.calibrate import family_rate

    family = family_of(points)
    heaviest = family[-1][0]
    at, beyond = family_rate(family, 1e6, heaviest), family_rate(family, 1e6, heaviest + extra)
    assert beyond <= at * (1 + 1e-9) and at == pytest.approx(family[-1][1].rate(1e6))


def test_a_family_prices_by_its_remaining_curves():
    import dataclasses

    from roofline.latency.calibrate import family_rate

    # the 2x2, 3x3, 5x5 and 13x13 curves at 0.14, 0.32, 1.56 and 10.6 comparisons per
    # byte, all near memory speed as on a GPU: 1.2, 1.0, 0.9 and 0.95 TB/s, i.e. 0.833,
    # 1.0, 1.111 and 1.053 ps per byte. A 31x31 pool (60 per byte) went on along the
    # last segment, which slopes down by (1.053 - 1.111) / 9.04 = -0.0065 ps/B per
    # comparison: 1.053 - 0.0065 * 49.4 = 0.73 ps/B, clamped at the 2x2 curve's 0.833
    # (1.2 TB/s): the widest pool priced as fast as the narrowest. Beyond the heaviest
    # the time per byte no longer falls: the 13x13 curve's 0.95 TB/s
    fam = [
        (w, CurveFit((1e3,), (r,)))
        for w, r in ((0.14, 1.2e12), (0.32, 1e12), (1.56, 9e11), (10.6, 9.5e11))
    ]
    assert family_rate(fam, 1e6, 60.0) == pytest.approx(9.5e11)
    assert family_rate(fam, 1e6, 10.6) == pytest.approx(9.5e11)
    # a pool of 0.3 comparisons per byte, 8 MB (read 6, written 2)
    pool = op(
        "aten.max_pool2d_with_indices.default",
        "act",
        "pool",
        vector=round(0.3 * 8e6),
        read=6 * 10**6,
        written=2 * 10**6,
    )
    # the 3x3 curve failed at every size on the GPU and is not stored: the 2x2 (0.5
    # ns/B at 0.1) and 5x5 (4 ns/B at 1.5) curves price it, 0.5 + 0.2 * 3.5 / 1.4 =
    # 1 ns/B -> 8 ms (it was priced as an add on the elementwise curve, 0.2 ms)
    curves = {"pool.small": CurveFit((1e3,), (2e9,)), "pool.wide": CurveFit((1e3,), (2.5e8,))}
    two = dataclasses.replace(
        eff(),
        memory={**eff().memory, **curves},
        memory_work={"pool.small": 0.1, "pool.wide": 1.5},
    )
    assert predict(hand_profile((pool,)), DEVICE, efficiency=two).ops[2].kernel_s == (
        pytest.approx(8e-3)
    )
    # a family of one curve is that curve (4 ns/B -> 32 ms), with or without comparisons
    one = dataclasses.replace(
        eff(),
        memory={**eff().memory, "pool.wide": curves["pool.wide"]},
        memory_work={"pool.wide": 1.5},
    )
    bare = dataclasses.replace(pool, vector_flops=0)
    p = predict(hand_profile((pool, bare)), DEVICE, efficiency=one)
    assert [o.kernel_s for o in p.ops[2:]] == pytest.approx([3.2e-2, 3.2e-2])


def test_a_memory_op_faster_than_memory_is_said_to_run_from_cache():
    import dataclasses

    # elementwise at 250 GB/s on a 100 GB/s device: 2.5x, cache-resident data
    fast = dataclasses.replace(eff(), memory={"elementwise": CurveFit((1e3,), (2.5e11,))})
    act = {r.name: r for r in predict(hand_profile(), DEVICE, efficiency=fast).layers(1)}["act"]
    # the op: 8e6 / 2.5e11 = 3.2e-5 s of memory + 1e-5 launch = 4.2e-5 s; the layer adds
    # its 1e-6 module call: the op class holds 4.2e-5 / 4.3e-5 = 98% of the time
    assert "elementwise: served from cache at 2.5x the memory bandwidth, 98% of the time" in (
        act.explanation
    )


def test_calibrated_cuda_overlaps_launch_with_kernels():
    p = predict(hand_profile(), DEVICE, efficiency=eff(async_launch=True))
    # host: the root and fc calls (2 x 1e-6) and the GEMM's issue (1e-5) before the GPU
    # can start: stall 1.2e-5, GEMM 4e-3 (no launch added to it). The ReLU is issued at
    # 1.2e-5 + 1e-6 (act's call) + 1e-5 = 2.3e-5, long before the GEMM ends: no stall,
    # 2e-4 of kernel. Module calls are inside the schedule, not added again.
    assert [o.overhead_s for o in p.ops] == pytest.approx([1.2e-5, 0.0])
    assert [o.predicted_s for o in p.ops] == pytest.approx([4.012e-3, 2e-4])
    assert [o.host_s for o in p.ops] == pytest.approx([1.2e-5, 1.1e-5])
    assert p.predicted_s == pytest.approx(4.212e-3)
    assert p.module_overhead_s == 0.0
    rows = {r.name: r for r in p.layers(1)}
    assert rows["fc"].predicted_s == pytest.approx(4.012e-3)
    assert rows["act"].predicted_s == pytest.approx(2e-4)
    assert sum(r.predicted_s for r in p.layers(1)) == pytest.approx(p.predicted_s)


def test_cuda_host_bound_ops_are_limited_by_issue_and_use_the_class_cost():
    import dataclasses

    tiny = [
        op("aten.add.Tensor", "act", "elementwise", vector=100, read=800, written=400)
        for _ in range(10)
    ]
    # elementwise issue 2e-5 s each (the class's own cost), kernels 1200 / 4e10 = 3e-8 s
    e = dataclasses.replace(eff(async_launch=True), host_s={"elementwise": 2e-5})
    p = predict(hand_profile(tiny), DEVICE, efficiency=e)
    # the GEMM (host 1.2e-5, gemm has no class entry: launch_overhead_s) runs 4e-3 s, the
    # ReLU 2e-4 s; the host issues the 11 elementwise ops in 1e-6 + 11 x 2e-5 = 2.21e-4
    # from 1.2e-5, long before the GPU is done with the GEMM: every one queues
    assert all(o.overhead_s == 0.0 for o in p.ops[1:])
    assert p.predicted_s == pytest.approx(1.2e-5 + 4e-3 + 2e-4 + 10 * 3e-8)
    # without the GEMM the same ops are host-bound: each waits 2e-5 for its issue
    host_only = ModelProfile(
        "tiny",
        "inference",
        (),
        "float32",
        (ModuleInfo("", "Net", 0, 0, 0, 0, 0, False, calls=1),),
        tuple(tiny),
    )
    q = predict(host_only, DEVICE, efficiency=e)
    # first op: the root's call 1e-6 + issue 2e-5; then 2e-5 - 3e-8 stall each
    assert q.ops[0].overhead_s == pytest.approx(2.1e-5)
    assert q.ops[1].overhead_s == pytest.approx(2e-5 - 3e-8)
    assert q.predicted_s == pytest.approx(1e-6 + 10 * 2e-5 + 3e-8)
    assert all(o.limiter == "overhead" for o in q.ops)
    assert any("GPU waits for the host" in t for t in q.explanation())


def test_schedule_by_hand():
    from roofline.latency.predict import schedule

    # a long kernel lets the host run ahead: the next ops queue behind it
    assert schedule([1.0, 1.0, 1.0], [10.0, 1.0, 1.0]) == ([1.0, 0.0, 0.0], 13.0)
    # a slow host: the GPU waits for every issue
    assert schedule([1.0, 5.0, 5.0], [1.0, 1.0, 1.0]) == ([1.0, 4.0, 4.0], 12.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e-3), st.floats(0, 1e-3)),
        min_size=1,
        max_size=30,
    )
)
def test_schedule_lies_between_overlap_and_serial(pairs):
    from roofline.latency.predict import schedule

    host = [h for h, _ in pairs]
    kernel = [k for _, k in pairs]
    stalls, end = schedule(host, kernel)
    # ops add up to the end; never faster than either stage alone; never slower
    # than running them one after the other
    assert sum(stalls) + sum(kernel) == pytest.approx(end, abs=1e-12)
    assert end >= max(sum(kernel), sum(host) + kernel[-1]) - 1e-12
    assert end <= sum(host) + sum(kernel) + 1e-12


def test_module_entries_place_calls_before_the_first_op_they_run():
    from roofline.latency.predict import module_entries

    modules = (
        ModuleInfo("", "Net", 0, 0, 0, 0, 0, False, calls=1),
        ModuleInfo("a", "Seq", 0, 0, 0, 0, 0, False, calls=1),
        ModuleInfo("a.conv", "Conv2d", 0, 0, 0, 0, 0, True, calls=1),
        ModuleInfo("a.drop", "Dropout", 0, 0, 0, 0, 0, True, calls=1),  # runs no op
        ModuleInfo("b", "ReLU", 0, 0, 0, 0, 0, True, calls=2),
    )
    ops = (
        op("aten.convolution.default", "a.conv", "conv"),
        op("aten.relu.default", "b", "elementwise"),
        op("aten.relu.default", "b", "elementwise"),
    )
    prof = ModelProfile("m", "inference", (), "float32", modules, ops)
    # root, a, a.conv and a.drop (goes with its parent a) before op 0; b's 2 calls
    # before op 1
    assert module_entries(prof) == [4, 2, 0]


def test_launch_bound_and_depthwise_tags():
    tiny = op("aten.add.Tensor", "act", "elementwise", vector=100, read=800, written=400)
    dw = op(
        "aten.convolution.default",
        "fc",
        "depthwise_conv",
        matrix=10**7,
        read=10**5,
        written=10**5,
        dims={"n": 1, "c_in": 32, "c_out": 32, "kernel": 9, "out_spatial": 1024, "groups": 32},
    )
    p = predict(hand_profile((tiny, dw)), DEVICE, efficiency=eff(dw_rate=1e10))
    # the tiny add: 1200 B / 4e10 = 3e-8 s of work against 1e-5 s of dispatch
    assert p.ops[2].limiter == "overhead"
    # depthwise: 1e7 / 1e10 = 1e-3 s, i.e. 1% of the 1 TFLOP/s peak
    assert p.ops[3].predicted_s == pytest.approx(1e-3 + 1e-5)
    fc = next(r for r in p.layers(1) if r.name == "fc")
    assert any(t.startswith("depthwise conv: low efficiency (1% of peak)") for t in fc.explanation)


def test_efficiency_stored_with_the_device_is_used():
    m = MeasuredCeilings(
        {"fp32": 1e12},
        {"fp32": 1e12},
        1e11,
        1e-5,
        "now",
        "x",
        "h",
        extra={"efficiency": eff().as_dict()},
    )
    dev = Device(**{**DEVICE.__dict__, "measured": m})
    assert efficiency_of(dev) == eff()
    assert predict(hand_profile(), dev).predicted_s == pytest.approx(4.223e-3)


def test_compare_latency_rows_and_json_keys():
    p = predict(hand_profile(), DEVICE, efficiency=eff(), depth=1)
    meas = Measurement(
        model="hand",
        device="cpu",
        device_name="cpu",
        batch=4,
        mode="inference",
        timing=Timing((4e-3, 5e-3, 6e-3)),
        warmup=1,
        threads=1,
        torch_version="x",
        layer_method="hooks",
        modules={
            "": ModuleTime("", 5e-3, 0.0, 0, 0, 1),
            "fc": ModuleTime("fc", 4.5e-3, 4.5e-3, 1e-4, 1e-4, 1),
            "act": ModuleTime("act", 5e-4, 5e-4, 0, 0, 1),
        },
    )
    r = compare_latency(p, meas)
    d = r.as_dict()
    keys = {"naive_s", "predicted_s", "measured_s", "measured_spread_s"}
    assert set(d["latency"]) == keys
    assert all(set(row["latency"]) == keys for row in d["layers"])
    assert d["latency"]["measured_s"] == 5e-3
    # IQR of 4, 5, 6 ms: q25 4.5, q75 5.5 -> 1 ms
    assert d["latency"]["measured_spread_s"] == pytest.approx(1e-3)
    # naive error (1.08e-3 - 5e-3) / 5e-3 = -0.784
    assert d["error"]["naive"] == pytest.approx(-0.784)
    fc = next(row for row in d["layers"] if row["name"] == "fc")
    assert fc["latency"]["measured_s"] == 4.5e-3
    assert "total (end to end)" in latency_table(r)
    assert rel_error(None, 1.0) is None and rel_error(1.0, 0.0) is None
    # the naive roofline is 5 / 1.08 = 4.6 times short of the measurement: said so,
    # beside the -78%, with the convention under the table
    total = next(line for line in latency_table(r).splitlines() if "total" in line)
    assert "-78% (4.6x under)" in total
    assert "beyond a factor of 2 the factor too" in latency_summary(r)


def test_errors_beyond_a_factor_of_two_show_the_factor():
    from roofline.latency.compare import error_text

    # predicted 0.08 of measured: 12.5 times short; 3.5 times measured: 3.5 times long
    assert error_text(-0.92) == "-92% (12.5x under)"
    assert error_text(2.5) == "+250% (3.5x over)"
    assert error_text(-0.92, "×") == "-92% (12.5× under)"
    # inside parentheses already (the HTML's end-to-end line): after a comma
    assert error_text(-0.92, inline=True) == "-92%, 12.5x under"
    assert error_text(0.12, inline=True) == "+12%"
    # within a factor of 2 (its limits included): the percentage alone
    assert [error_text(e) for e in (0.12, -0.5, 1.0, -0.3)] == ["+12%", "-50%", "+100%", "-30%"]
    # a prediction 250 times short rounds to -100%: the factor tells it from 0
    assert error_text(-0.996) == "-100% (250x under)"
    assert error_text(-1.0) == "-100%"  # a prediction of 0: no factor to give
    assert error_text(None) == "-"


@settings(max_examples=40, deadline=None)
@given(
    flops=st.integers(0, 10**12),
    nbytes=st.integers(0, 10**10),
    more=st.integers(1, 10**9),
)
def test_prediction_grows_with_work(flops, nbytes, more):
    def t(f, b):
        prof = hand_profile((op("aten.mm.default", "fc", "gemm", matrix=f, read=b),))
        return predict(prof, DEVICE, efficiency=eff()).predicted_s

    assert t(flops + more, nbytes) >= t(flops, nbytes)
    assert t(flops, nbytes + more) >= t(flops, nbytes)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["fc", "act", ""]), st.integers(0, 10**9), st.integers(1, 10**8)),
        max_size=6,
    )
)
def test_layer_rows_add_up_to_the_model(extra):
    ops = tuple(op("aten.mm.default", m, "gemm", matrix=f, read=b) for m, f, b in extra)
    p = predict(hand_profile(ops), DEVICE, efficiency=eff())
    rows = p.layers(1)
    assert sum(r.naive_s for r in rows) == pytest.approx(p.naive_s)
    # rows hold every op; only the call overhead of a container that runs no op
    # itself (the root here: 1 µs) can be outside them
    gap = p.predicted_s - sum(r.predicted_s for r in rows)
    assert gap == pytest.approx(0.0, abs=1e-6 + 1e-12) or gap == pytest.approx(1e-6)


def test_fresh_output_cost_by_hand():
    import dataclasses

    from roofline.latency.calibrate import CostCurve
    from roofline.latency.predict import fresh_output_s

    # 0.5 ns per byte for any fresh output: a 40 MB output costs 20 ms more
    e = dataclasses.replace(eff(), fresh=CostCurve((1e3,), (5e-10,)))
    add = OpRecord(
        "aten.add.Tensor",
        "act",
        "forward",
        "elementwise",
        0,
        10**7,
        8 * 10**7,
        4 * 10**7,
        0,
        "float32",
        output_shapes=((10**7,),),
    )
    assert fresh_output_s(e, add) == pytest.approx(0.02)
    # in-place and out= variants allocate nothing
    assert fresh_output_s(e, dataclasses.replace(add, op="aten.add_.Tensor")) == 0.0
    assert fresh_output_s(e, dataclasses.replace(add, op="aten.add.out")) == 0.0
    # two outputs of 3:1 elements: 30 MB and 10 MB, 15 ms + 5 ms
    two = dataclasses.replace(add, output_shapes=((3, 10**6), (10**6,)))
    assert fresh_output_s(e, two) == pytest.approx(0.02)
    # bytes written over two passes of one output (max pooling's backward: the zero
    # fill, then the scatter): 80 MB written, one 40 MB allocation, 20 ms
    twice = dataclasses.replace(add, bytes_written=8 * 10**7, dims={"write_passes": 2})
    assert fresh_output_s(e, twice) == pytest.approx(0.02)
    # the prediction adds it to the op's time: 120 MB at 40 GB/s = 3 ms, + 20 ms for
    # the fresh output, + 10 µs launch
    p = predict(hand_profile((add,)), DEVICE, efficiency=e)
    assert p.ops[-1].predicted_s == pytest.approx(0.003 + 0.02 + 1e-5)
    assert fresh_output_s(eff(), add) == 0.0  # no curve: no cost
    # the layer's explanation says where that time goes. Layer "act" also holds the
    # ReLU: 8 MB at 40 GB/s = 0.2 ms + 4 MB fresh = 2 ms + 10 µs; with the add's
    # 23.01 ms and one 1 µs module call: 25.221 ms, of which 22 ms fresh = 87%
    act = next(r for r in p.layers(depth=1) if r.name == "act")
    assert act.predicted_s == pytest.approx(0.025221)
    assert any(t.startswith("fresh outputs: 87% of the time") for t in act.explanation)
    assert p.ops[-1].fresh_s == pytest.approx(0.02)


def test_ops_issued_from_cpp_inside_a_recurrent_module_cost_the_internal_dispatch():
    import dataclasses

    from roofline.latency.predict import internal_ops

    # a GRU on the CPU: aten::gru loops in C++ over tiny ops; an LSTM's fused oneDNN
    # kernel is one call from Python like any op
    modules = (
        ModuleInfo("", "Net", 0, 0, 0, 0, 0, False, calls=1),
        ModuleInfo("gru", "GRU", 1, 0, 0, 0, 0, True, calls=1),
        ModuleInfo("lstm", "LSTM", 1, 0, 0, 0, 0, True, calls=1),
    )
    step = op("aten.sigmoid_.default", "gru", "elementwise", vector=400, read=400, written=400)
    fused = op("aten.mkldnn_rnn_layer.default", "lstm", "gemm", matrix=10**6, read=10**4)
    prof = ModelProfile("rnn", "inference", (), "float32", modules, (step, step, fused))
    assert internal_ops(prof) == [True, True, False]
    e = dataclasses.replace(eff(), internal_op_s=5e-7, network_op_overhead_s=4e-6)
    p = predict(prof, DEVICE, efficiency=e)
    # sigmoid_: 800 B / 4e10 = 2e-8 s of kernel + 5e-7 of internal dispatch, none of the
    # 1e-5 dispatch from Python or the 4e-6 in-network term
    assert p.ops[0].predicted_s == pytest.approx(2e-8 + 5e-7)
    # the fused LSTM op: 1e6 / 2.5e11 = 4e-6 + 1e-5 launch + 4e-6 in-network
    assert p.ops[2].predicted_s == pytest.approx(4e-6 + 1e-5 + 4e-6)
    # not measured (0): the Python-side dispatch cost stands in, still without the
    # in-network term
    p0 = predict(prof, DEVICE, efficiency=dataclasses.replace(e, internal_op_s=0.0))
    assert p0.ops[0].predicted_s == pytest.approx(2e-8 + 1e-5)


def test_cuda_recurrent_op_issues_per_step():
    import dataclasses

    # cuDNN's LSTM over 32 steps of batch 2: the host issues it step by step
    lstm = op(
        "aten._cudnn_rnn.default",
        "fc",
        "rnn",
        matrix=10**6,
        read=10**4,
        dims={"m": 64, "n": 256, "k": 128, "batch": 2},
    )
    e = dataclasses.replace(
        eff(async_launch=True),
        matrix={**eff().matrix, "rnn": GridFit(((1.0, 8.0, 7.0, 5.0),), (1e11,))},
        host_s={"rnn": 3e-6},
    )
    p = predict(hand_profile((lstm,)), DEVICE, efficiency=e)
    rnn = p.ops[2]
    # issue: 32 steps x 3e-6 = 9.6e-5 s; kernel 1e6 / 1e11 = 1e-5 s (the rnn rate)
    assert rnn.host_s == pytest.approx(9.6e-5)
    assert rnn.kernel_s == pytest.approx(1e-5)


def test_a_calibration_without_the_ops_class_says_so():
    lstm = op(
        "aten.mkldnn_rnn_layer.default",
        "fc",
        "rnn",
        matrix=10**6,
        dims={"m": 64, "n": 256, "k": 128, "batch": 2},
    )
    p = predict(hand_profile((lstm,)), DEVICE, efficiency=eff())
    # eff() has no "rnn" fit: the op is priced by the GEMM fit (2.5e11) at its m, n, k
    assert p.ops[2].compute_s == pytest.approx(10**6 / 2.5e11)
    assert "no fit for rnn ops" in p.note and "roofline calibrate" in p.note
    assert "no fit" not in predict(hand_profile(), DEVICE, efficiency=eff()).note


def test_cuda_profiler_layers_are_compared_on_kernel_time():
    import dataclasses

    # the CUDA schedule of the hand profile: fc = stall 1.2e-5 + GEMM 4e-3; the
    # profiler measures device-kernel time per module, so fc's row is its 4e-3 of
    # kernels; the model row keeps the whole schedule (4.212e-3)
    p = predict(hand_profile(), DEVICE, efficiency=eff(async_launch=True), depth=1)
    meas = Measurement(
        model="hand",
        device="cuda:0",
        device_name="gpu",
        batch=4,
        mode="inference",
        timing=Timing((4.3e-3,)),
        warmup=1,
        threads=1,
        torch_version="x",
        layer_method="profiler",
        modules={"fc": ModuleTime("fc", 4.1e-3, 4.1e-3, 0, 0, 1)},
    )
    rows = {r.name: r for r in compare_latency(p, meas).layers}
    assert rows["fc"].predicted_s == pytest.approx(4e-3)
    assert compare_latency(p, meas).model.predicted_s == pytest.approx(4.212e-3)
    # hooks (or the CPU): the layer's whole share of the schedule
    hooks = dataclasses.replace(meas, layer_method="hooks")
    rows = {r.name: r for r in compare_latency(p, hooks).layers}
    assert rows["fc"].predicted_s == pytest.approx(4.012e-3)


def test_a_backward_convolution_uses_its_own_fit():
    import dataclasses

    # depthwise forward at 1e10 FLOP/s, its backward measured at 1e9
    dw = dict(
        matrix=10**7,
        read=10**5,
        written=10**5,
        dims={"n": 1, "c_in": 32, "c_out": 32, "kernel": 9, "out_spatial": 1024, "groups": 32},
    )
    fwd = op("aten.convolution.default", "fc", "depthwise_conv", **dw)
    bwd = dataclasses.replace(
        op("aten.convolution_backward.default", "fc", "depthwise_conv", **dw), phase="backward"
    )
    e = dataclasses.replace(
        eff(dw_rate=1e10),
        matrix={**eff().matrix, "depthwise_conv.backward": GridFit(((10.0, 5.0, 3.0),), (1e9,))},
    )
    p = predict(hand_profile((fwd, bwd)), DEVICE, efficiency=e)
    assert p.ops[2].compute_s == pytest.approx(1e7 / 1e10)
    assert p.ops[3].compute_s == pytest.approx(1e7 / 1e9)
    # without a backward fit the forward's rate stands in
    p0 = predict(hand_profile((bwd,)), DEVICE, efficiency=eff(dw_rate=1e10))
    assert p0.ops[2].compute_s == pytest.approx(1e7 / 1e10)


def test_sgd_step_ops_by_hand():
    import torch

    from roofline.latency.predict import with_sgd_step

    lin = torch.nn.Linear(4, 3)  # weight 12 floats (48 B), bias 3 (12 B)
    frozen = torch.nn.Parameter(torch.zeros(5), requires_grad=False)
    prof = hand_profile()
    cpu = with_sgd_step(prof, [*lin.parameters(), frozen], foreach=False)
    step = cpu.ops[len(prof.ops) :]
    # p.add_(grad, alpha=-lr): reads p and grad, writes p; a multiply-add per element;
    # the frozen parameter has no gradient and no update
    assert [(o.op, o.phase, o.bytes_read, o.bytes_written, o.vector_flops) for o in step] == [
        ("aten.add_.Tensor", "optimizer", 96, 48, 24),
        ("aten.add_.Tensor", "optimizer", 24, 12, 6),
    ]
    (one,) = with_sgd_step(prof, list(lin.parameters()), foreach=True).ops[len(prof.ops) :]
    assert (one.op, one.bytes_read, one.bytes_written) == ("aten._foreach_add_.List", 120, 60)
    # priced like any memory-bound op: 180 B / 4e10 B/s + 1e-5 s of dispatch
    p = predict(with_sgd_step(prof, list(lin.parameters()), foreach=True), DEVICE, efficiency=eff())
    assert p.ops[-1].predicted_s == pytest.approx(180 / 4e10 + 1e-5)
    assert with_sgd_step(prof, [frozen], foreach=False) is prof


def test_a_fused_fast_path_issues_its_later_kernels_from_cpp():
    import dataclasses

    # nn.TransformerEncoderLayer's fused op: 11 kernels (src 1x4x64, FFN 128)
    shapes = ((1, 4, 64), (192, 64), (192,), (64, 64), (64,), (64,), (64,), (64,), (64,))
    shapes += ((128, 64), (128,), (64, 128), (64,))
    enc = dataclasses.replace(
        op("aten._transformer_encoder_layer_fwd.default", "fc", "attention", matrix=10**3),
        input_shapes=shapes,
    )
    prof = hand_profile((enc,))
    base = dataclasses.replace(eff(), network_op_overhead_s=3e-6)
    p0 = predict(prof, DEVICE, efficiency=base)
    # without an internal cost: one 1e-5 dispatch per kernel (11) + the in-network term
    assert p0.ops[2].overhead_s == pytest.approx(11 * 1e-5 + 3e-6)
    # measured: the Python call's dispatch once, then 10 kernels at 5e-7 from C++
    p1 = predict(prof, DEVICE, efficiency=dataclasses.replace(base, internal_op_s=5e-7))
    assert p1.ops[2].overhead_s == pytest.approx(1e-5 + 10 * 5e-7 + 3e-6)
    assert p1.ops[2].predicted_s - p1.ops[2].overhead_s == pytest.approx(
        p0.ops[2].predicted_s - p0.ops[2].overhead_s
    )


def test_a_fused_encoder_layers_gelu_runs_at_gelus_curve():
    import dataclasses

    import torch

    import roofline

    # nn.TransformerEncoderLayer(128, 4, 256) in eval on 2x32 tokens: one fused op,
    # whose FFN activation (64 rows x 256) is ATen's gelu_ in place: 16384 elements
    # read and written, 2 x 65536 B. With GELU's curve at 0.4 GB/s that kernel takes
    # 131072 / 4e8 = 327.7 us (the slow path's aten.gelu, the same bytes, the same),
    # where the fused op priced it as ReLU on the add's curve (40 GB/s: 3.3 us)
    gelu_curve = {"elementwise.gelu": CurveFit((1e3,), (4e8,))}
    fitted = dataclasses.replace(
        eff(),
        memory={**eff().memory, **gelu_curve},
        matrix={**eff().matrix, "attention": eff().matrix["gemm"]},
    )

    def fused(activation: str) -> tuple[float, float]:
        layer = torch.nn.TransformerEncoderLayer(
            128, 4, 256, batch_first=True, activation=activation
        )
        prof = roofline.profile(layer.eval(), torch.randn(2, 32, 128))
        assert [o.op for o in prof.ops] == ["aten._transformer_encoder_layer_fwd.default"]
        return prof.ops[0].vector_flops, predict(prof, DEVICE, efficiency=fitted).ops[0].kernel_s

    (relu_flops, relu), (gelu_flops, gelu) = fused("relu"), fused("gelu")
    assert gelu_flops - relu_flops == (5 - 1) * 16384  # GELU's erf form: 5 per element
    # the kernels differ by the activation's curve, and by its 4 FLOPs more per element
    # in the components (65536 / 1e12 = 66 ns, under the memory time of either)
    assert gelu - relu == pytest.approx(131072 / 4e8 - 131072 / 4e10, rel=1e-3)


def test_each_dtype_is_priced_by_its_own_calibration():
    # a device keeps one fit per dtype; a model gets the fit of its dtype, never another
    import dataclasses

    fast = dataclasses.replace(
        eff(), dtype="bfloat16", matrix={"gemm": GridFit(((6.0, 6.0, 6.0),), (1e12,))}
    )
    extra = {"efficiency": eff().as_dict(), "efficiency.bfloat16": fast.as_dict()}
    m = MeasuredCeilings({"fp32": 1e12}, {"fp32": 1e12}, 1e11, 1e-5, "now", "x", "h", extra=extra)
    dev = Device(**{**DEVICE.__dict__, "measured": m})
    assert efficiency_of(dev) == eff() and efficiency_of(dev, "bfloat16") == fast
    assert efficiency_of(dev, "float64") is None
    bf16 = dataclasses.replace(hand_profile(), dtype="bfloat16")
    fp32_time = predict(hand_profile(), dev).predicted_s
    assert fp32_time == pytest.approx(4.223e-3)
    p = predict(bf16, dev)
    assert p.efficiency == fast
    # the 1 GFLOP GEMM at 1 TFLOP/s instead of 250 GFLOP/s: 3 ms less
    assert p.predicted_s == pytest.approx(fp32_time - 3e-3)
    # a fit of another dtype, given explicitly, is not used: naive only, and why
    q = predict(bf16, dev, efficiency=eff())
    assert q.predicted_s is None and q.naive_s > 0
    assert q.note == (
        "the latency calibration times fp32 kernels and this model is bf16: naive roofline "
        "time only; `roofline calibrate --gpu cpu --dtype bf16` fits its own"
    )
    # a quantized model (bench calibrates by the spec's dtype, fp32): no command to
    # name, `calibrate --dtype qint8` is refused
    qint8 = dataclasses.replace(hand_profile(), dtype="qint8")
    assert predict(qint8, dev, efficiency=eff()).note.endswith(
        "this model is qint8: naive roofline time only; no calibration can time qint8 "
        "kernels on the CPU"
    )
    # none stored for the dtype: naive only, with the command that fits one
    r = predict(dataclasses.replace(hand_profile(), dtype="float64"), dev)
    assert r.predicted_s is None
    assert r.note == (
        "no fp64 latency calibration stored for Hand-made: naive roofline time only (run "
        "`roofline calibrate --gpu cpu --dtype fp64` on that machine for the calibrated "
        "prediction)"
    )
    assert r.explanation() == (r.note,)


def test_the_fit_that_priced_a_prediction_is_named_and_a_quick_one_says_so():
    from dataclasses import replace

    from roofline.latency.compare import fit_words

    full = replace(eff(), measured_at="2026-12-03 20:00 UTC")
    assert fit_words(full) == "fp32 kernels, fitted 2026-12-03 20:00 UTC"
    # a stored quick fit is used by later runs as a full one would be: said so
    assert fit_words(replace(full, quick=True)) == (
        "fp32 kernels, fitted 2026-12-03 20:00 UTC, quick grid"
    )
    assert fit_words(replace(full, dtype="bfloat16", measured_at="")) == "bf16 kernels"
    assert fit_words(None) == ""


def test_the_json_names_the_fit_that_priced_a_prediction():
    # scripts reading bench --json / profile --measure --json can tell a quick-grid
    # fit from a full one, as the terminal's and the HTML's words do
    from dataclasses import replace

    quick = replace(eff(), measured_at="2026-12-03 20:00 UTC", quick=True)
    d = compare_latency(predict(hand_profile(), DEVICE, efficiency=quick, depth=1), None)
    assert d.as_dict()["fit"] == {
        "dtype": "fp32",
        "fitted_at": "2026-12-03 20:00 UTC",
        "quick": True,
    }
    naive = compare_latency(predict(hand_profile(), DEVICE, depth=1), None).as_dict()
    assert naive["fit"] is None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.floats(1e3, 1e10), st.floats(1e6, 1e12)), min_size=1, max_size=8),
    st.floats(1.0, 1e11),
    st.floats(1.0, 1e11),
)
def test_a_fitted_memory_curve_never_moves_more_bytes_in_less_time(samples, a, b):
    from roofline.latency.calibrate import curve_from_samples

    curve = curve_from_samples(samples)  # noisy (bytes, rate) samples, any order
    lo, hi = sorted((a, b))
    assert curve.rate(lo) > 0 and curve.rate(hi) > 0
    assert hi / curve.rate(hi) >= lo / curve.rate(lo) * (1 - 1e-9)


@settings(max_examples=40, deadline=None)
@given(
    cls=st.sampled_from(["elementwise", "copy", "gemm", "norm", "softmax"]),
    flops=st.integers(0, 10**11),
    nbytes=st.integers(1, 10**9),
    k=st.integers(2, 64),
)
def test_calibrated_prediction_is_positive_and_grows_with_the_batch(cls, flops, nbytes, k):
    def t(scale: int) -> float:
        matrix = flops * scale if cls == "gemm" else 0
        vector = 0 if cls == "gemm" else flops * scale
        o = op("aten.x.default", "fc", cls, matrix=matrix, vector=vector, read=nbytes * scale)
        return predict(hand_profile((o,)), DEVICE, efficiency=eff()).ops[-1].predicted_s

    assert t(1) > 0
    assert t(k) >= t(1)
