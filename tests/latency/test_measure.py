"""The measurement harness: warm-up, synchronisation around the region, median/IQR."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensor

from roofline.errors import MeasurementError
from roofline.latency.measure import (
    Measurement,
    Timing,
    _self_times,
    check_device,
    measure,
    time_modules,
    time_region,
)
from roofline.spec import ModelSpec, load_spec
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
    # the JSON keeps the count and has the samples themselves, in the order run
    d = t.as_dict()
    assert d["samples"] == 3 and d["samples_s"] == [1.0, 3.0, 2.0]
    assert (d["median_s"], d["min_s"], d["max_s"]) == (2.0, 1.0, 3.0)
    assert d["spread_s"] == 1.0  # quartiles of 1, 2, 3: 1.5 and 2.5


@pytest.fixture
def gc_on():
    """The collector on for the test, and as it was afterwards."""
    import gc

    was = gc.isenabled()
    gc.enable()
    yield gc
    (gc.enable if was else gc.disable)()


def test_time_region_turns_the_collector_off_for_the_timed_runs_only(gc_on):
    seen = []
    t = time_region(lambda: seen.append(gc_on.isenabled()), warmup=2, repeat=3)
    assert seen == [True, True, False, False, False]  # warm-ups as they were, timed runs off
    assert len(t.samples) == 3
    assert gc_on.isenabled()  # back on afterwards


def test_the_collector_comes_back_when_a_timed_run_raises(gc_on):
    def step():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        time_region(step, warmup=0, repeat=2)
    assert gc_on.isenabled()
    with pytest.raises(RuntimeError):
        time_modules(Nested(), step, passes=1)
    assert gc_on.isenabled()


def test_a_collector_the_caller_turned_off_stays_off(gc_on):
    gc_on.disable()
    time_region(lambda: None, warmup=0, repeat=1)
    assert not gc_on.isenabled()


def test_per_layer_passes_run_with_the_collector_off(gc_on):
    model = Nested().eval()
    x = torch.randn(3, 16)
    seen = []

    def step():
        seen.append(gc_on.isenabled())
        with torch.inference_mode():
            model(x)

    time_modules(model, step, passes=2)
    assert seen == [False, False]
    assert gc_on.isenabled()


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


def _measurement(samples, device="cpu", threads=2):
    return Measurement(
        model="m",
        device=device,
        device_name="a CPU",
        batch=1,
        mode="inference",
        timing=Timing(tuple(samples)),
        warmup=0,
        threads=threads,
        torch_version="x",
    )


def test_widely_spread_runs_get_a_note():
    # a busy 2-core machine gave "measured 951 ms ± 2847 ms (IQR)" with nothing said;
    # sorted 1, 1, 1, 2, 2: median 1 ms, quartiles at positions 1 and 3 -> IQR 1 ms (100%)
    busy = _measurement((1e-3, 2e-3, 1e-3, 2e-3, 1e-3))
    note = busy.unsteady_note
    assert note is not None and "IQR 1.000 ms, 100% of the median 1.000 ms" in note
    assert "2 torch threads" in note and "--threads 1" in note
    assert "--threads" not in _measurement((1e-3, 2e-3, 1e-3, 2e-3, 1e-3), threads=1).unsteady_note
    assert "--threads" not in _measurement((1, 2, 1, 2, 1), device="cuda:0").unsteady_note
    assert busy.as_dict()["note"] == note  # in the JSON too (`bench --json -` prints no text)
    # sorted 1.0, 1.1, 1.2, 1.2, 1.3: IQR 1.2 - 1.1 = 0.1 of a median 1.2 (8%): quiet
    quiet = _measurement((1.0, 1.1, 1.2, 1.2, 1.3))
    assert quiet.unsteady_note is None and quiet.as_dict()["note"] is None
    # the spread limit itself: 25% of the median is still quiet
    assert _measurement((0.75, 0.875, 1.0, 1.125, 1.25)).unsteady_note is None


def test_the_busy_note_reaches_the_summary():
    from roofline.latency.compare import latency_summary

    report = SimpleNamespace(
        model=SimpleNamespace(
            naive_s=1e-3,
            predicted_s=1e-3,
            measured_s=1e-3,
            measured_spread_s=1e-3,
            naive_error=0.0,
            predicted_error=0.0,
            explanation=(),
        ),
        layers=(),
        measurement=_measurement((1e-3, 2e-3, 1e-3, 2e-3, 1e-3)),
        prediction=SimpleNamespace(model="m", device="a CPU", batch=1, mode="inference", note=None),
    )
    assert "note: the timed runs spread widely" in latency_summary(report)


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


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_measure_gives_the_callers_model_its_train_eval_flags_back(mode):
    # measure(model) put the model in eval() (or train()) for good: a caller who
    # timed a training model in inference found its batch norm frozen afterwards
    model = TinyCNN()
    model.train(mode == "inference")  # the opposite of what the run needs
    model.bn.train(mode == "training")  # and one module unlike the others
    before = {name: m.training for name, m in model.named_modules()}
    measure(model, inputs=((torch.randn(2, 3, 8, 8),), {}), mode=mode, warmup=0, repeat=1)
    assert {name: m.training for name, m in model.named_modules()} == before


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


def _yolo_like_measurement():
    """A YOLO-shaped timing: ``model`` (never called: its parent iterates over its
    children) holds model.0 (4 s) and model.1 (5 s, of which model.1.cv 2 s)."""
    from roofline.latency.measure import Measurement, ModuleTime

    mods = {
        "": ModuleTime("", 10.0, 1.0, 0.0, 0.0, 1),
        "model.0": ModuleTime("model.0", 4.0, 4.0, 0.5, 0.5, 1),
        "model.1": ModuleTime("model.1", 5.0, 3.0, 0.25, 0.25, 1),
        "model.1.cv": ModuleTime("model.1.cv", 2.0, 2.0, 0.0, 0.0, 1),
    }
    return Measurement("x", "cpu", "cpu", 1, "inference", Timing((10.0,)), 0, 1, "x", "hooks", mods)


def test_layer_time_of_a_container_never_called_sums_its_children():
    m = _yolo_like_measurement()
    # "model" never ran its forward: 4 + 5 from model.0 and model.1 (not model.1.cv again)
    assert m.layer_time("model") == (9.0, 0.75)
    assert m.layer_time("absent") is None


def test_measured_layers_table_shows_a_container_never_called():
    # bench --no-predict --depth 1 on a YOLO spec: "model" is the only depth-1 module
    # and its forward never runs; its row is its children's 4 + 5 s
    from roofline.latency.compare import measured_layers_table

    m = _yolo_like_measurement()
    rows = measured_layers_table(m, 1).splitlines()[2:]
    assert [r.split() for r in rows] == [["model", "-", "9000.000", "750.000", "90.0"]]
    # one level down the timed blocks, slowest first, with their calls
    rows = measured_layers_table(m, 2).splitlines()[2:]
    assert [r.split()[:3] for r in rows] == [
        ["model.1", "1", "5000.000"],
        ["model.0", "1", "4000.000"],
    ]


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


# ------------------------------------------------------------- backward per layer

NOW = [0.0]


class Tick(torch.autograd.Function):
    """Identity whose forward and backward take a known time on the fake clock."""

    @staticmethod
    def forward(ctx, x, fwd_s, bwd_s):
        ctx.bwd_s = bwd_s
        NOW[0] += fwd_s
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        NOW[0] += ctx.bwd_s
        return grad, None, None


class Work(nn.Module):
    def __init__(self, fwd_s, bwd_s):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))
        self.fwd_s, self.bwd_s = fwd_s, bwd_s

    def forward(self, x):
        return Tick.apply(x * self.w, self.fwd_s, self.bwd_s)


class TwoWorks(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Work(1.0, 10.0)
        # an in-place module after it: module backward hooks would refuse this
        self.b = nn.Sequential(Work(2.0, 20.0), nn.ReLU(inplace=True))

    def forward(self, x):
        return Tick.apply(self.b(self.a(x)), 0.5, 5.0)  # the root's own op


def test_training_layer_times_hold_each_modules_backward():
    NOW[0] = 0.0
    model = TwoWorks()
    x = torch.randn(3, 4)

    def step():
        model(x).sum().backward()
        model.zero_grad(set_to_none=True)

    times = time_modules(model, step, passes=3, clock=lambda: NOW[0])
    # forward + backward of each module's own ops, nothing of the others'
    assert times["a"].inclusive_s == pytest.approx(1.0 + 10.0)
    assert times["b.0"].inclusive_s == pytest.approx(2.0 + 20.0)
    assert times["b"].inclusive_s == pytest.approx(22.0)  # ReLU's are instant
    assert times[""].inclusive_s == pytest.approx(1 + 10 + 2 + 20 + 0.5 + 5)
    assert times[""].self_s == pytest.approx(5.5)
    assert sum(t.self_s for t in times.values()) == pytest.approx(times[""].inclusive_s)


def test_profiler_layer_times_in_training_add_the_backward_ranges():
    model = TinyCNN()
    x = torch.randn(2, 3, 8, 8)
    m = measure(
        model,
        inputs=((x,), {}),
        mode="training",
        warmup=1,
        repeat=2,
        layer_method="profiler",
        layer_passes=1,
    )
    # the backward ranges are folded into their modules, not listed as modules
    assert set(m.modules) == {n for n, _ in model.named_modules()}
    assert all(t.inclusive_s > 0 for t in m.modules.values())


def test_backward_hooks_do_not_pile_up_on_parameters():
    from roofline.latency.measure import _BackwardClaims

    model = TwoWorks()
    x = torch.randn(3, 4)
    starts: list[str] = []
    claims = _BackwardClaims(lambda _n, name: starts.append(name), lambda _n, _name: None)
    handles = []
    for name, m in model.named_modules():
        bound: dict = {}
        handles.append(
            m.register_forward_pre_hook(lambda m, i, b=bound: b.update(s=claims.boundary(i)))
        )
        handles.append(
            m.register_forward_hook(lambda m, i, o, n=name, b=bound: claims.claim(n, o, b["s"]))
        )
    counts = []
    for _ in range(3):
        claims.reset()
        starts.clear()
        model(x).sum().backward()
        counts.append(len(starts))
    # the parameters' AccumulateGrad nodes live from step to step: reset removes their
    # hooks, so every step times the same nodes once
    assert counts[0] == counts[1] == counts[2] > 0
    assert starts.count("a") == 3  # Tick, mul, AccumulateGrad(w)
    for h in handles:
        h.remove()


def test_inference_layer_times_claim_no_backward():
    from roofline.latency.measure import _BackwardClaims

    claims = _BackwardClaims(lambda *_: None, lambda *_: None)
    with torch.inference_mode():
        y = nn.Linear(4, 4)(torch.randn(2, 4))
    claims.claim("x", y, claims.boundary(()))
    assert not claims.claimed


def test_profiler_ranges_count_once_on_cuda():
    # with CUDA activity on, Kineto reports every record_function range twice: the CPU
    # range (its device_time_total = the kernels it launched) and a gpu_user_annotation
    # of the same name on the device (pytorch/pytorch#130730); only the first counts
    from types import SimpleNamespace

    from roofline.latency.measure import _range_times

    cpu, gpu = torch.autograd.DeviceType.CPU, torch.autograd.DeviceType.CUDA

    def ev(name, device, dev_us, cpu_us=0.0):
        return SimpleNamespace(
            name="roofline::" + name,
            device_type=device,
            device_time_total=dev_us,
            cpu_time_total=cpu_us,
        )

    events = [
        ev("", cpu, 30.0, 100.0),
        ev("", gpu, 31.0),  # the annotation spans a little more than the kernels
        ev("fc", cpu, 20.0, 40.0),
        ev("fc", gpu, 20.5),
        ev("fc [backward]", cpu, 12.0, 8.0),
        ev("fc [backward]", gpu, 12.0),
        SimpleNamespace(
            name="aten::mm", device_type=cpu, device_time_total=5.0, cpu_time_total=1.0
        ),
    ]
    inclusive, calls = _range_times(events, cuda=True)
    assert calls == {"": 1, "fc": 1}
    assert inclusive["fc"] == pytest.approx((20.0 + 12.0) * 1e-6)  # forward + its backward
    assert inclusive[""] == pytest.approx((30.0 + 12.0) * 1e-6)
    inclusive, _ = _range_times(events, cuda=False)  # the CPU: host times
    assert inclusive["fc"] == pytest.approx((40.0 + 8.0) * 1e-6)


LINEAR = """\
name: lin
model: torch.nn:Linear
kwargs: {in_features: 1000, out_features: 1000}
inputs:
  - shape: [8, 1000]
"""


def test_run_bytes_of_a_linear_layer_by_hand(tmp_path):
    from roofline.counting.real import run_bytes

    p = tmp_path / "lin.yaml"
    p.write_text(LINEAR)
    spec = load_spec(p)
    weights = (1000 * 1000 + 1000) * 4  # 4,004,000
    act = 8 * 1000 * 4  # one 8x1000 fp32 tensor: 32,000
    rounding = 4 * 512  # the allocator's 512-byte blocks, four tensors at most
    # inference: the weights, the input and the output live at once
    assert weights + 2 * act <= run_bytes(spec) <= weights + 2 * act + rounding
    # training: + the weights' gradients, and the output's gradient beside the input
    need = 2 * weights + 3 * act
    assert need <= run_bytes(spec.with_mode("training")) <= need + rounding


def test_cpu_run_that_would_not_fit_is_never_started(tmp_path, monkeypatch):
    from roofline.counting import real
    from roofline.errors import OutOfMemory

    p = tmp_path / "lin.yaml"
    p.write_text(LINEAR)
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 4_000_000)
    built = []  # per build: whether its weights were real (not fake tensors)
    build = ModelSpec.build

    def watch(self):
        model = build(self)
        built.append(not isinstance(model.weight, FakeTensor))
        return model

    monkeypatch.setattr(ModelSpec, "build", watch)
    with pytest.raises(OutOfMemory) as err:
        measure(load_spec(p), repeat=1, layer_method=None)
    msg = str(err.value)
    assert "running 'lin' (batch 8, inference) on cpu needs about" in msg
    assert "not started" in msg and "smaller batch" in msg
    assert built == [False]  # sized on fake tensors, refused before a real build
    # 5 MB free, 80% of it usable: the 4.07 MB run fits and runs
    monkeypatch.undo()
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 5_200_000)
    assert measure(load_spec(p), repeat=1, layer_method=None).batch == 8
    # and a caller who knows better can run it anyway
    monkeypatch.setattr(real, "available_memory", lambda on="cpu": 1000)
    assert measure(load_spec(p), repeat=1, layer_method=None, check_memory=False).batch == 8
    # at batch 1 (the weights alone are 4 MB) a smaller batch is no way out
    with pytest.raises(OutOfMemory) as err:
        measure(load_spec(p), batch=1, repeat=1, layer_method=None)
    msg = str(err.value)
    assert "(batch 1, inference)" in msg and "smaller batch" not in msg
    assert msg.endswith("not started: measure where there is more memory")


def test_free_cpu_memory_counts_the_page_cache_the_kernel_would_drop(tmp_path, monkeypatch):
    from roofline.counting import real

    # a machine that has read its data set: 1 GiB unused, 29 more in the page cache.
    # MemFree (sysconf's SC_AVPHYS_PAGES) would refuse a 3 GiB run that the kernel
    # makes room for by dropping cache: what is free is MemAvailable, 30 GiB
    info = tmp_path / "meminfo"
    info.write_text(
        "MemTotal:       32768000 kB\nMemFree:         1048576 kB\n"
        "MemAvailable:   31457280 kB\nCached:         30408704 kB\n"
    )
    monkeypatch.setattr(real, "MEMINFO", str(info))
    # this machine's limits aside
    monkeypatch.setattr(real, "CGROUP_MEMORY", ())
    monkeypatch.setattr(real, "CGROUP_SELF", str(tmp_path / "absent"))
    assert real.available_memory("cpu") == 31457280 * 1024
    # a kernel without the line (before Linux 3.14), or no /proc: sysconf's free pages
    info.write_text("MemTotal:       32768000 kB\nMemFree:         1048576 kB\n")
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert abs(real.available_memory("cpu") - free) < 1 << 30  # (it moves meanwhile)
    monkeypatch.setattr(real, "MEMINFO", str(tmp_path / "absent"))
    assert abs(real.available_memory("cpu") - free) < 1 << 30


@pytest.mark.parametrize("version", [2, 1])
def test_free_cpu_memory_is_bounded_by_the_containers_cgroup(tmp_path, monkeypatch, version):
    from roofline.counting import real

    # the host has 30 GiB available, the container a 2 GiB limit of which 1.5 GiB is
    # charged, 0.25 GiB of that inactive page cache the kernel reclaims first:
    # 2 - 1.5 + 0.25 = 0.75 GiB for a new allocation
    gib = 1 << 30
    info = tmp_path / "meminfo"
    info.write_text("MemAvailable:   31457280 kB\n")
    limit, usage, stat = (tmp_path / n for n in ("limit", "usage", "stat"))
    limit.write_text(f"{2 * gib}\n")
    usage.write_text(f"{3 * gib // 2}\n")
    key = "inactive_file" if version == 2 else "total_inactive_file"
    stat.write_text(f"active_file 123\n{key} {gib // 4}\n")
    absent = str(tmp_path / "absent")
    files = (str(limit), str(usage), str(stat))
    monkeypatch.setattr(real, "MEMINFO", str(info))
    monkeypatch.setattr(real, "CGROUP_MEMORY", (files,) if version == 2 else ((absent,) * 3, files))
    monkeypatch.setattr(real, "CGROUP_SELF", absent)  # this process's own cgroup aside
    assert real.available_memory("cpu") == 3 * gib // 4
    # no limit: v2 says "max", v1 a page-rounded LONG_MAX; the host's figure stands
    limit.write_text("max\n" if version == 2 else "9223372036854771712\n")
    assert real.available_memory("cpu") == 31457280 * 1024
    # a limit larger than what the host has: the host's figure, the smaller
    limit.write_text(f"{64 * gib}\n")
    assert real.available_memory("cpu") == 31457280 * 1024


@pytest.mark.parametrize("version", [2, 1])
def test_free_cpu_memory_is_bounded_by_the_limit_of_the_processs_own_cgroup(
    tmp_path, monkeypatch, version
):
    from roofline.counting import real

    # no cgroup namespace (a Slurm job, systemd-run -p MemoryMax=): the mount's root
    # has no limit, the job's cgroup (/proc/self/cgroup names it) 2 GiB, of which
    # 1.5 GiB is charged and 0.25 GiB inactive cache; the job step below it none
    gib = 1 << 30
    info = tmp_path / "meminfo"
    info.write_text("MemAvailable:   31457280 kB\n")
    root = tmp_path / "cgroup"
    mount = root if version == 2 else root / "memory"
    names = (
        ("memory.max", "memory.current")
        if version == 2
        else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    )
    unlimited = "max" if version == 2 else "9223372036854771712"
    for d, limit in (
        (mount, unlimited),
        (mount / "job", str(2 * gib)),
        (mount / "job" / "step", unlimited),
    ):
        d.mkdir(parents=True, exist_ok=True)
        (d / names[0]).write_text(limit + "\n")
        (d / names[1]).write_text(f"{3 * gib // 2}\n")
        (d / "memory.stat").write_text(f"inactive_file {gib // 4}\n")
    own = tmp_path / "self_cgroup"
    own.write_text(
        "0::/job/step\n" if version == 2 else "5:cpu,cpuacct:/job/step\n4:memory:/job/step\n"
    )
    monkeypatch.setattr(real, "MEMINFO", str(info))
    monkeypatch.setattr(real, "CGROUP_ROOT", str(root))
    monkeypatch.setattr(real, "CGROUP_SELF", str(own))
    monkeypatch.setattr(
        real, "CGROUP_MEMORY", (tuple(str(mount / n) for n in (*names, "memory.stat")),)
    )
    assert real.available_memory("cpu") == 3 * gib // 4
    # in a container whose namespace makes its cgroup the root, /proc/self/cgroup
    # says "/" (v2), or names a path the container does not see (v1's bind mount):
    # the root's files are the container's own
    own.write_text("0::/\n" if version == 2 else "4:memory:/docker/abc\n")
    (mount / names[0]).write_text(f"{2 * gib}\n")
    assert real.available_memory("cpu") == 3 * gib // 4


def test_a_run_fake_tensors_cannot_size_is_traced_once(tmp_path, monkeypatch):
    from roofline.counting import real
    from roofline.memory import estimate

    # ValueDependent branches on a value: its trace fails at any batch, so the batch-1
    # and batch-2 fallback (for a quantized model's refused real trace) is not tried
    p = tmp_path / "vd.yaml"
    p.write_text(
        "name: vd\nmodel: tests.fixtures.models:value_dependent\ninputs: [{shape: [8, 4]}]\n"
    )
    traced = []
    estimate_from_spec = estimate.estimate_from_spec
    monkeypatch.setattr(
        estimate,
        "estimate_from_spec",
        lambda s, **k: traced.append(s.batch) or estimate_from_spec(s, **k),
    )
    assert real.run_bytes(load_spec(p)) is None
    assert traced == [8]
