"""Code paths that only run on a CUDA machine, run on the CPU: NVML faked (tests/devices'
fake pynvml), torch.cuda and the measurements replaced where they would touch a GPU."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from roofline.devices import calibrate as gpu_calibrate
from roofline.devices.cache import save_measured
from roofline.devices.model import MeasuredCeilings
from roofline.latency import store
from roofline.latency.predict import efficiency_of
from tests.devices.test_devices_nvml import fake_pynvml
from tests.fixtures.models import TINY_SPEC
from tests.latency.test_predict import DEVICE, eff

H200 = {
    "name": "NVIDIA H200",
    "memory": 143771 * 2**20,
    "cc": (9, 0),
    "sm_clock": 1980,
    "mem_clock": 3201,
    "bus": 6144,
    "power_mw": 700_000,
    "mig": 0,
}


@pytest.fixture
def h200(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H200]))
    measured: list[int] = []

    def calibrate_cuda(device, index=0, quick=False, progress=None):
        # what the real one stores (seconds of GEMMs and copies on the card)
        m = MeasuredCeilings({"fp16": 7e14}, {"fp32": 5e13}, 4e12, 5e-6, "now", "t", "h")
        save_measured(gpu_calibrate.gpu_cache_name(device.key), m, {"kind": "gpu"})
        measured.append(index)
        return m

    monkeypatch.setattr(gpu_calibrate, "calibrate_cuda", calibrate_cuda)
    fits: list[str] = []

    def calibrate_efficiency(target, **kw):
        fits.append(target)
        return dataclasses.replace(eff(True), kind="gpu", device=kw["device_key"])

    monkeypatch.setattr(store, "calibrate_efficiency", calibrate_efficiency)
    return measured, fits


def test_a_gpu_fit_without_stored_ceilings_measures_them_first(h200):
    # `bench --device cuda` before any `roofline calibrate`: the fit (minutes on the
    # card) used to be refused at the end for want of ceilings to store it beside
    measured, fits = h200
    said: list[str] = []
    device, fit = store.calibrate_and_store("local", progress=said.append)
    assert measured == [0] and fits == ["cuda:0"]
    assert "no measured ceilings for NVIDIA H200" in said[0]
    assert device.key == "h200-sxm" and efficiency_of(device) == fit
    # stored: the next one measures the ceilings no more
    store.calibrate_and_store("local")
    assert measured == [0] and len(fits) == 2


@pytest.mark.parametrize("name", ["nvml", "this", "LOCAL", "ｌｏｃａｌ", "local:0", " local "])
def test_a_gpu_fit_takes_every_name_of_the_local_gpu(h200, name):
    # calibrate_and_store matched "local" and "local:N" only: "nvml" and "this", which
    # get_device and `roofline calibrate --gpu` take for the local GPU, were refused
    # ("calibration measures this machine") and full-width ｌｏｃａｌ was not read
    measured, fits = h200
    device, fit = store.calibrate_and_store(name)
    assert measured == [0] and fits == ["cuda:0"]  # GPU 0, the one the fake NVML has
    assert device.key == "h200-sxm" and efficiency_of(device) == fit


@pytest.mark.parametrize(
    ("target", "name"), [("cpu", "cpu"), ("cuda", "local:0"), ("cuda:1", "local:1")]
)
def test_a_measurement_target_names_its_device(target, name):
    # the one mapping from check_device's targets to get_device's names (device_for,
    # calibratable and ensure_efficiency each spelled it out by hand)
    assert store.device_name(target) == name


def test_profile_measure_runs_on_the_gpu_it_was_given(monkeypatch):
    # --gpu local:1 --measure: the second GPU's model is measured on the second GPU
    from roofline.cli.profile_cmd import _measure_target
    from roofline.devices import get_device

    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H200, H200]))
    assert _measure_target(get_device("local:1")) == "cuda:1"
    assert _measure_target(get_device("local")) == "cuda:0"
    assert _measure_target(DEVICE) == "cpu"  # the host CPU (kind cpu)


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda as an H200 would answer, with the GPU's measurements run on the CPU at
    toy sizes (the device-agnostic loop, :func:`run_calibration`, is the real one)."""
    import contextlib

    import torch

    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([H200]))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "device", lambda *a: contextlib.nullcontext())
    synced: list[int] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: synced.append(1))
    real = gpu_calibrate.run_calibration
    ran: list[tuple] = []

    def on_cpu(device, precisions, n, copy_bytes, repeats, sync, progress=None, n_for=None):
        ran.append((str(device), tuple(precisions), n, copy_bytes, repeats, sync))
        return real("cpu", precisions, 32, 1 << 12, 1, sync, progress, lambda p: 32)

    monkeypatch.setattr(gpu_calibrate, "run_calibration", on_cpu)
    return ran, synced


def test_calibrate_local_ceilings_only_on_a_faked_h200(fake_cuda, capsys, tmp_path):
    # the calibrate step of benchmarks/gpu_session.sh, all but the GEMMs and copies themselves
    import torch

    from roofline.cli import main
    from roofline.devices import get_device

    ran, synced = fake_cuda
    assert main(["calibrate", "--gpu", "local", "--ceilings-only"]) == 0
    out = capsys.readouterr().out
    (device, precisions, n, copy_bytes, repeats, sync) = ran[0]
    # the full settings, on GPU 0, synchronised by CUDA, every precision sm90 has
    assert (device, n, copy_bytes, repeats) == ("cuda:0", 8192, 2**30, 10)
    assert sync is torch.cuda.synchronize and synced
    assert set(precisions) == {"fp32", "fp64", "fp16", "tf32", "bf16", "int8", "fp8"}
    assert "NVIDIA H200 SXM 141GB: measured" in out and "gemm tf32" in out
    assert "use it with --gpu h200-sxm --measured" in out
    assert "latency model" not in out  # --ceilings-only fits none
    m = get_device("local").measured
    assert m is not None and m.extra["datasheet_key"] == "h200-sxm"
    assert m.extra["compute_capability"] == "9.0" and m.extra["cuda_device_name"] == "NVIDIA H200"
    assert torch.backends.cuda.matmul.allow_tf32 is False  # restored after the tf32 GEMM
    # and the stored ceilings are what `--measured` analyses read
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    assert main(["profile", str(spec), "--gpu", "local", "--measured"]) == 0
    assert "device NVIDIA H200 SXM 141GB (measured ceilings)" in capsys.readouterr().out


def test_a_microbenchmark_the_gpu_has_no_memory_for_is_left_out():
    # a 24 GB card cannot hold the memory kernels' largest (4^15-element) working set:
    # that size is skipped, saying so, and the calibration goes on
    import torch

    from roofline.latency.calibrate import _unless_it_fails_on_the_gpu

    said: list[str] = []
    done: list[str] = []
    with _unless_it_fails_on_the_gpu(
        torch.device("cuda", 0), said.append, "memory kernels at 4^15"
    ):
        done.append("before")
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
    assert done == ["before"]
    assert said == ["memory kernels at 4^15: out of GPU memory, left out of the fit"]
    # an op this GPU or torch build lacks at the dtype: the same
    with _unless_it_fails_on_the_gpu(torch.device("cuda", 0), said.append, "pool.backward"):
        raise RuntimeError("\"max_pool2d_with_indices_backward\" not implemented for 'Float8'")
    assert said[-1].startswith('pool.backward: failed on the GPU ("max_pool2d_with')
    # errors that are not torch's, and every error on the CPU, are not swallowed
    with pytest.raises(KeyError):
        with _unless_it_fails_on_the_gpu(torch.device("cuda", 0), said.append, "x"):
            raise KeyError("a bug of ours")
    with pytest.raises(torch.cuda.OutOfMemoryError):
        with _unless_it_fails_on_the_gpu(torch.device("cpu"), said.append, "x"):
            raise torch.cuda.OutOfMemoryError("out of memory")
    assert len(said) == 2


def test_a_kernel_failing_on_the_gpu_loses_its_grid_point_not_the_calibration(monkeypatch):
    # Bench.skip_failures (set on CUDA): attention failing at every size leaves no
    # attention fit (predict then prices those ops as GEMMs, and says so), the other
    # classes are fitted; on the CPU (skip_failures off) the error still propagates
    import torch
    import torch.nn.functional as F

    from roofline.latency.calibrate import Bench, fit_matrix, grid_from_samples
    from tests.latency.test_calibrate import TINY

    def no_attention(*a, **k):
        raise RuntimeError("No available kernel. Aborting execution.")

    monkeypatch.setattr(F, "scaled_dot_product_attention", no_attention)
    said: list[str] = []
    bench = Bench(1, skip_failures=True, say=said.append)
    with torch.inference_mode():
        fits = fit_matrix(torch.device("cpu"), TINY, bench)
    assert "attention" not in fits and {"gemm", "conv", "depthwise_conv"} <= set(fits)
    assert any(m.startswith("attention: one size failed (No available kernel") for m in said)
    with pytest.raises(RuntimeError, match="No available kernel"):
        with torch.inference_mode():
            fit_matrix(torch.device("cpu"), TINY, Bench(1))
    # a NaN rate (a failed size) is left out of a grid
    g = grid_from_samples([(1.0,), (2.0,)], [float("nan"), 5.0])
    assert g.points == ((2.0,),) and g.rates == (5.0,)


def test_a_second_gpus_calibration_runs_with_that_gpu_current(monkeypatch):
    # torch.cuda.Event.record and torch.cuda._sleep act on the current device: the queue
    # timer of a cuda:1 calibration must run with cuda:1 current, not GPU 0
    import contextlib

    import torch

    from roofline.latency import calibrate

    measure = sys.modules["roofline.latency.measure"]  # the package's `measure` is a function
    current: list[object] = [None]

    @contextlib.contextmanager
    def device(d):
        old, current[0] = current[0], d
        try:
            yield
        finally:
            current[0] = old

    monkeypatch.setattr(torch.cuda, "device", device)
    monkeypatch.setattr(measure, "check_device", lambda name: torch.device(name))
    seen: list[tuple[object, object]] = []

    def fit(dev, *args):
        seen.append((dev, current[0]))
        return "fitted"

    monkeypatch.setattr(calibrate, "_calibrate_efficiency", fit)
    assert calibrate.calibrate_efficiency("cuda:1") == "fitted"
    assert seen == [(torch.device("cuda", 1), torch.device("cuda", 1))]
    assert current[0] is None  # left again afterwards
    seen.clear()
    calibrate.calibrate_efficiency("cpu")
    assert seen == [(torch.device("cpu"), None)]


def test_internal_dispatch_counts_the_ops_without_a_formula_too(monkeypatch):
    # CUDA's cuDNN-off GRU issues two GEMMs and a fused cell per step; the cell has no
    # cost formula (an uncounted op), but it is issued all the same
    import types

    import roofline.counting
    from roofline.latency import calibrate

    counted = types.SimpleNamespace(
        ops=[object()] * 128, uncounted_ops={"aten._thnn_fused_gru_cell.default": 64}
    )
    monkeypatch.setattr(roofline.counting, "profile", lambda *a, **k: counted)
    monkeypatch.setattr(calibrate, "_median_time", lambda *a, **k: 1.92e-3)
    import torch

    assert calibrate.measure_internal(torch.device("cpu"), 1) == pytest.approx(1e-5)


def test_cuda_queue_timer_converts_the_busy_wait_to_seconds(monkeypatch):
    # torch.cuda._sleep spins a number of GPU clock cycles: the timer measures the rate
    # with events once, then asks for cycles = seconds x that rate
    import contextlib

    import torch

    from roofline.latency.calibrate import cuda_queue_timer

    gpu = {"t": 0.0}  # the GPU's clock, seconds
    spins: list[int] = []

    def sleep(cycles: int) -> None:
        spins.append(cycles)
        gpu["t"] += cycles / 1.98e9  # an H200 at boost

    class Event:
        def __init__(self, enable_timing: bool = False) -> None:
            assert enable_timing  # elapsed_time needs it
            self.t = 0.0

        def record(self) -> None:
            self.t = gpu["t"]

        def elapsed_time(self, end: Event) -> float:
            return (end.t - self.t) * 1e3  # milliseconds, as CUDA events report

    monkeypatch.setattr(torch.cuda, "_sleep", sleep)
    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
    q = cuda_queue_timer(torch.device("cuda", 0), lambda: None)
    spins.clear()
    q.sleep(1e-3)
    assert spins == [pytest.approx(1.98e6, rel=1e-6)]  # 1 ms at 1.98 GHz
    assert isinstance(q.event(), Event)


def test_a_memory_kernel_failing_while_timed_leaves_no_curve_and_no_work(monkeypatch):
    # on the GPU (Bench.skip_failures) a kernel whose first call ran but whose timed
    # loop failed came back as NaN: its point was dropped but its comparisons per byte
    # were kept, and a class that failed at every size was stored as an empty curve,
    # which raised ("empty calibration curve") for every pool and SiLU priced with it
    import torch

    from roofline.latency import calibrate
    from roofline.latency.calibrate import Bench, EfficiencyModel, fit_memory
    from tests.latency.test_calibrate import TINY

    real = calibrate._memory_kernels
    failing = {"pool.wide", "elementwise.silu"}

    def flaky(*args, **kw):
        kernels = real(*args, **kw)
        for name in failing:
            calls = [0]

            def fn(first=kernels[name].fn, calls=calls):
                calls[0] += 1
                if calls[0] > 1:  # the timed calls
                    raise RuntimeError("CUDA error: an illegal memory access was encountered")
                return first()

            kernels[name] = kernels[name]._replace(fn=fn)
        return kernels

    monkeypatch.setattr(calibrate, "_memory_kernels", flaky)
    said: list[str] = []
    with torch.inference_mode():
        curves, work = fit_memory(
            torch.device("cpu"), TINY, Bench(1, skip_failures=True, say=said.append)
        )
    assert failing.isdisjoint(curves) and failing.isdisjoint(work)
    assert {"pool.small", "pool", "pool.wider"} <= set(work) <= set(curves)
    assert any(m.startswith("pool.wide: one size failed") for m in said)
    # priced: a 5x5 pool between the surviving curves, a SiLU on the add's curve
    m = EfficiencyModel("gpu", "gpu", 1e-6, 1e-7, {}, curves, memory_work=work)
    assert m.memory_rate("pool", 1e6, 1.56e6) > 0
    assert m.memory_rate("elementwise.silu", 1e6) == m.memory_rate("elementwise", 1e6)
