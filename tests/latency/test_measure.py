"""The measurement harness: warm-up, synchronisation around the region, median/IQR."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from roofline.errors import MeasurementError
from roofline.latency.measure import (
    Timing,
    _self_times,
    check_device,
    measure,
    time_modules,
    time_region,
)
from tests.fixtures.models import Nested, TinyCNN


class FakeClock:
    """Each read returns the next value of ``ticks``; logs reads in ``log``."""

    def __init__(self, ticks, log):
        self.ticks = list(ticks)
        self.log = log

    def __call__(self):
        self.log.append("clock")
        return self.ticks.pop(0)


def test_time_region_warmup_sync_and_samples():
    log = []
    clock = FakeClock([0.0, 1.0, 10.0, 13.0, 20.0, 22.0], log)

    def step():
        log.append("step")

    def sync():
        log.append("sync")

    t = time_region(step, warmup=2, repeat=3, clock=clock, sync=sync)
    # two warm-up steps (each followed by a sync) happen before the clock is read
    assert log[:4] == ["step", "sync", "step", "sync"]
    # each timed run: sync, clock, step, sync, clock
    assert log[4:] == ["sync", "clock", "step", "sync", "clock"] * 3
    # samples are the clock differences: 1-0, 13-10, 22-20
    assert t.samples == (1.0, 3.0, 2.0)
    assert t.median == 2.0


def test_timing_median_and_iqr_by_hand():
    # sorted 1, 2, 3, 4, 100: median 3; quartiles at positions 1 and 3 -> 2 and 4; IQR 2
    t = Timing((4.0, 1.0, 100.0, 3.0, 2.0))
    assert t.median == 3.0
    assert t.spread == 2.0
    assert (t.min, t.max) == (1.0, 100.0)
    # even count 1, 2, 3, 4: median 2.5; q25 at pos 0.75 -> 1.75, q75 at 2.25 -> 3.25
    t4 = Timing((1.0, 2.0, 3.0, 4.0))
    assert t4.median == 2.5
    assert t4.spread == pytest.approx(1.5)


def test_time_region_rejects_bad_counts():
    with pytest.raises(MeasurementError):
        time_region(lambda: None, repeat=0)
    with pytest.raises(MeasurementError):
        time_region(lambda: None, warmup=-1)


def test_self_times_subtract_direct_children():
    # root 10 = a 6 + b 3 + 1 of its own; a 6 = a.x 2 + 4 own; b.y not timed under b? it is.
    inc = {"": 10.0, "a": 6.0, "a.x": 2.0, "b": 3.0, "b.y": 3.0}
    st = _self_times(inc)
    assert st == {"": 1.0, "a": 4.0, "a.x": 2.0, "b": 0.0, "b.y": 3.0}
    assert sum(st.values()) == inc[""]


def test_hooks_sync_at_every_module_boundary_and_partition():
    model = Nested().eval()
    x = torch.randn(3, 16)
    syncs = []
    now = [0.0]

    def clock():
        now[0] += 1.0  # every read advances one "second"
        return now[0]

    def step():
        with torch.inference_mode():
            model(x)

    times = time_modules(model, step, passes=2, clock=clock, sync=lambda: syncs.append(1))
    modules = {n for n, _ in model.named_modules()}
    assert set(times) == modules
    # a pre and a post hook per module call, each syncing once, per pass
    calls = sum(t.calls for t in times.values())
    assert len(syncs) >= 2 * calls
    # self times partition the root's inclusive time
    assert sum(t.self_s for t in times.values()) == pytest.approx(times[""].inclusive_s)
    # a leaf: pre reads the clock, post reads it once: 1 tick
    assert times["block1.a"].inclusive_s == 1.0


def test_measure_tiny_cnn_end_to_end_and_per_layer():
    model = TinyCNN()
    x = torch.randn(2, 3, 8, 8)
    m = measure(model, inputs=((x,), {}), warmup=1, repeat=3, layer_passes=2)
    assert m.batch == 2 and m.mode == "inference"
    assert len(m.timing.samples) == 3 and m.median_s > 0
    assert {"", "conv", "bn", "pool", "fc"} <= set(m.modules)
    assert m.layer_time("conv") is not None
    assert m.layer_time("(model)", self_only=True) is not None
    assert m.as_dict()["end_to_end"]["samples"] == 3


def test_measure_training_runs_backward_and_clears_grads():
    model = TinyCNN()
    x = torch.randn(2, 3, 8, 8)
    m = measure(
        model,
        inputs=((x,), {}),
        mode="training",
        warmup=1,
        repeat=2,
        layer_method=None,
        optimizer_step=True,
    )
    assert m.mode == "training" and m.optimizer_step
    assert all(p.grad is None for p in model.parameters())  # zeroed after each step


def test_measure_profiler_method():
    model = TinyCNN()
    x = torch.randn(2, 3, 8, 8)
    m = measure(
        model, inputs=((x,), {}), warmup=1, repeat=2, layer_method="profiler", layer_passes=1
    )
    assert m.layer_method == "profiler"
    assert "conv" in m.modules and m.modules[""].inclusive_s > 0


def test_measure_model_failing_on_real_tensors():
    class Bad(nn.Module):
        def forward(self, x):
            return x @ torch.randn(5, 5)  # shape mismatch on real data

    with pytest.raises(MeasurementError, match="failed on real tensors"):
        measure(Bad(), inputs=((torch.randn(2, 3),), {}), warmup=1, repeat=1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(MeasurementError, match="CUDA is not available"):
        check_device("cuda")


def test_unknown_device():
    with pytest.raises(MeasurementError, match="unknown device"):
        check_device("tpu")


def test_layer_time_of_a_container_never_called_sums_its_children():
    from roofline.latency.measure import Measurement, ModuleTime

    mods = {
        "": ModuleTime("", 10.0, 1.0, 0.0, 0.0, 1),
        "model.0": ModuleTime("model.0", 4.0, 4.0, 0.5, 0.5, 1),
        "model.1": ModuleTime("model.1", 5.0, 3.0, 0.25, 0.25, 1),
        "model.1.cv": ModuleTime("model.1.cv", 2.0, 2.0, 0.0, 0.0, 1),
    }
    m = Measurement("x", "cpu", "cpu", 1, "inference", Timing((10.0,)), 0, 1, "x", "hooks", mods)
    # "model" never ran its forward: 4 + 5 from model.0 and model.1 (not model.1.cv again)
    assert m.layer_time("model") == (9.0, 0.75)
    assert m.layer_time("absent") is None


def test_allocator_note_only_for_cpu_timings_under_default_glibc():
    from roofline.latency.measure import allocator_note

    glibc = ("glibc", "2.36")
    note = allocator_note("cpu", environ={}, libc=glibc)
    assert note is not None and "MALLOC_TRIM_THRESHOLD_" in note and "\n" not in note
    # both tunables set, or a caching allocator preloaded: nothing to say
    tuned = {"MALLOC_TRIM_THRESHOLD_": "4000000000", "MALLOC_MMAP_THRESHOLD_": "4000000000"}
    assert allocator_note("cpu", environ=tuned, libc=glibc) is None
    only_one = {"MALLOC_TRIM_THRESHOLD_": "4000000000"}
    assert allocator_note("cpu", environ=only_one, libc=glibc) is not None
    jemalloc = {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}
    assert allocator_note("cpu", environ=jemalloc, libc=glibc) is None
    # CUDA timings go through the caching allocator; musl or macOS: not glibc
    assert allocator_note("cuda", environ={}, libc=glibc) is None
    assert allocator_note("cpu", environ={}, libc=("", "")) is None
