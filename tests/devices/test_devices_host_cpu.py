"""The host CPU as a measured device, the measurement cache, and the calibration loop."""

from __future__ import annotations

import json

import pytest
import torch

from roofline.devices import MeasuredCeilings, get_device, host_cpu
from roofline.devices.cache import cache_dir, load_measured, measured_path, save_measured
from roofline.devices.calibrate import (
    calibrate_cuda,
    comparison_rows,
    cuda_precisions,
    run_calibration,
)
from roofline.errors import DeviceError, MeasurementError


def test_cache_dir_from_env(tmp_path):
    assert cache_dir() == tmp_path / "cache"


def test_quick_measurement_is_positive():
    m = host_cpu.measure(quick=True)
    assert m.gemm_flops_per_s["fp32"] > 0
    assert m.copy_bandwidth_bytes_per_s > 0
    assert m.launch_overhead_s > 0
    assert m.extra["quick"] is True
    assert m.torch_version == torch.__version__
    # the ceiling is the best dense rate torch reached: matmul or convolution
    rates = m.extra["dense_rates"]
    assert set(rates) >= {"matmul", "conv3x3"}
    assert m.gemm_flops_per_s["fp32"] == max(rates.values())
    # bf16 likewise (what a bf16 model's layers get: native or emulated)
    bf16 = m.extra["dense_rates_bf16"]
    assert set(bf16) == set(rates) and m.gemm_flops_per_s["bf16"] == max(bf16.values()) > 0
    dev = host_cpu.device_from_ceilings(m)
    assert dev.matrix_peak("bf16").flops_per_s == m.gemm_flops_per_s["bf16"]
    assert "bf16 matmul" in dev.peaks["bf16"].source or "bf16 conv" in dev.peaks["bf16"].source
    assert "fp32 and bf16 only" in dev.notes[0]


def test_a_record_without_bf16_gives_fp32_only():
    # records stored by earlier versions measured fp32 alone
    m = _ceilings()
    dev = host_cpu.device_from_ceilings(m)
    assert set(dev.peaks) == {"fp32"} and "fp32 only" in dev.notes[0]


def test_get_device_cpu_measures_once_and_caches(monkeypatch):
    calls = []
    real = host_cpu.measure

    def counting(quick=False, progress=None):
        calls.append(quick)
        return real(quick=True, progress=progress)

    monkeypatch.setattr(host_cpu, "measure", counting)
    d1 = get_device("cpu")
    d2 = get_device("cpu")
    assert len(calls) == 1
    assert d1.kind == "cpu" and d1.key == "cpu"
    assert d1.peak("fp32").measured and d1.peak("fp32").pipe == "plain"
    assert d1.peak("fp32").flops_per_s == d2.peak("fp32").flops_per_s
    assert d1.memory_bandwidth_bytes_per_s == d1.measured.copy_bandwidth_bytes_per_s
    assert d1.with_measured().peak("fp32").flops_per_s == d1.peak("fp32").flops_per_s
    assert d1.vector_peak("fp16") == d1.peak("fp32")  # falls back to the fp32 plain figure
    assert d1.ridge_point() > 0


def test_cache_is_keyed_by_cpu_model_and_threads(monkeypatch):
    calls = []
    real = host_cpu.measure
    monkeypatch.setattr(
        host_cpu, "measure", lambda quick=False, progress=None: calls.append(1) or real(quick=True)
    )
    monkeypatch.setattr(host_cpu, "cpu_model", lambda: "Test CPU 9000")
    monkeypatch.setattr(host_cpu, "threads", lambda: 2)
    get_device("cpu")
    assert measured_path("cpu-Test CPU 9000-2t").is_file()
    assert measured_path("cpu-Test CPU 9000-2t").name == "cpu-test-cpu-9000-2t.json"
    get_device("cpu")
    assert len(calls) == 1
    monkeypatch.setattr(host_cpu, "threads", lambda: 4)  # another thread count: measured again
    get_device("cpu")
    assert len(calls) == 2
    monkeypatch.setattr(host_cpu, "cpu_model", lambda: "Other CPU")
    get_device("cpu")
    assert len(calls) == 3


def _ceilings(**kw):
    base = dict(
        gemm_flops_per_s={"fp32": 1e11},
        gemm_flops_per_s_no_tensor={"fp32": 1e11},
        copy_bandwidth_bytes_per_s=1e10,
        launch_overhead_s=2e-6,
        measured_at="2026-01-01 00:00 UTC",
        torch_version="2.15",
        host="h",
        extra={"note": "x"},
    )
    base.update(kw)
    return MeasuredCeilings(**base)


def test_measuring_ceilings_again_keeps_the_latency_model():
    # `calibrate --ceilings-only` re-measures the ceilings; the latency fit stored on
    # top of the old ones (minutes of calibration) must survive it
    fits = {"efficiency": {"fit": 1}, "efficiency.bfloat16": {"fit": "bf16"}}
    save_measured("cpu-x-1t", _ceilings(extra={**fits, "note": "old"}))
    save_measured("cpu-x-1t", _ceilings(copy_bandwidth_bytes_per_s=2e10))
    m = load_measured("cpu-x-1t")
    assert m.copy_bandwidth_bytes_per_s == 2e10  # the new ceilings
    assert m.extra == {**fits, "note": "x"}  # the fits (every dtype's) kept, the rest new
    # a new latency fit replaces the old one
    save_measured("cpu-x-1t", _ceilings(extra={"efficiency": {"fit": 2}}))
    assert load_measured("cpu-x-1t").extra["efficiency"] == {"fit": 2}


def test_save_and_load_roundtrip():
    m = _ceilings()
    path = save_measured("gpu-rtx-3090", m)
    assert json.loads(path.read_text())["ceilings"]["copy_bandwidth_bytes_per_s"] == 1e10
    assert load_measured("gpu-rtx-3090") == m
    assert load_measured("gpu-none") is None


def test_calibrated_gpu_carries_measured_ceilings():
    save_measured(
        "gpu-rtx-3090",
        _ceilings(
            gemm_flops_per_s={"fp16": 60e12, "fp32": 25e12}, copy_bandwidth_bytes_per_s=850e9
        ),
    )
    d = get_device("3090")
    assert d.measured is not None
    md = d.with_measured()
    assert md.peak("fp16").flops_per_s == 60e12 and md.peak("fp16").pipe == "tensor"
    assert md.memory_bandwidth_bytes_per_s == 850e9


def test_malformed_cache_file():
    path = measured_path("gpu-rtx-3090")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(DeviceError, match="malformed measured-ceilings file"):
        get_device("3090")


def test_run_calibration_loop_on_cpu():
    # the device-agnostic loop CUDA calibration uses, run on CPU with tiny sizes
    msgs = []
    m = run_calibration(
        "cpu",
        ["fp32", "tf32", "fp16", "fp4"],
        n=64,
        copy_bytes=2**20,
        repeats=2,
        progress=msgs.append,
    )
    assert (
        m.gemm_flops_per_s["fp32"] > 0
        and m.gemm_flops_per_s_no_tensor["fp32"] == m.gemm_flops_per_s["fp32"]
    )
    assert m.extra["skipped"]["fp4"] == "unknown precision"
    assert any("gemm fp32" in x for x in msgs)
    assert torch.backends.cuda.matmul.allow_tf32 is False  # restored


def fake_benchmarks(monkeypatch, copies):
    """Instant microbenchmarks: fixed dense rates and overhead, and the copy
    bandwidths ``copies`` in the order they are asked for (the copies asked for are
    counted in the list returned)."""
    from roofline.devices import bench

    asked = []

    def copy(*_a, **_k):
        asked.append(1)
        return copies[len(asked) - 1]

    monkeypatch.setattr(bench, "copy_bytes_per_s", copy)
    monkeypatch.setattr(bench, "gemm_flops_per_s", lambda *a, **k: 1e11)
    monkeypatch.setattr(bench, "conv_flops_per_s", lambda *a, **k: 2e11)
    monkeypatch.setattr(bench, "launch_overhead_s", lambda *a, **k: 5e-6)
    return asked


def test_a_copy_bandwidth_that_moved_during_the_measurement_is_warned_of(monkeypatch):
    # the review's two quick runs read 2.8 and 45.9 GB/s: a machine busy for part of
    # one measurement now says so, and the faster copy is the ceiling
    from roofline.cli.calibrate_cmd import render

    asked = fake_benchmarks(monkeypatch, [2.8e9, 45.9e9])
    msgs = []
    m = host_cpu.measure(quick=True, progress=msgs.append)
    assert len(asked) == 2  # at the start and at the end
    assert m.copy_bandwidth_bytes_per_s == 45.9e9
    assert list(m.extra["copy_bytes_per_s_start_end"]) == [2.8e9, 45.9e9]
    # the last copy took 2.8 / 45.9 of the first's time: 45.9 / 2.8 = 16.4x faster
    warning = next(x for x in msgs if x.startswith("warning: "))
    assert "2.8 GB/s at the start, 45.9 GB/s at the end (16.4x faster;" in warning
    shown = render(host_cpu.device_from_ceilings(m), m)
    assert "warning: the copy bandwidth changed during the measurement" in shown
    # the GPU's loop checks its copy the same way
    fake_benchmarks(monkeypatch, [1e11, 8e10])
    g = run_calibration("cpu", ["fp32"], n=8, copy_bytes=2**10, repeats=1)
    assert g.copy_bandwidth_bytes_per_s == 1e11
    from roofline.devices.bench import copy_drift_text

    # 1e11 / 8e10 - 1 = 25% slower at the end
    assert "(25% slower;" in copy_drift_text(g.extra)


def test_a_steady_copy_bandwidth_gets_no_warning(monkeypatch):
    from roofline.cli.calibrate_cmd import render
    from roofline.devices.bench import copy_drift_text

    # 40 / 44 - 1 = -9%: within the 10% the reference GEMM is allowed too
    fake_benchmarks(monkeypatch, [40e9, 44e9])
    msgs = []
    m = host_cpu.measure(quick=True, progress=msgs.append)
    assert m.copy_bandwidth_bytes_per_s == 44e9
    assert not any(x.startswith("warning") for x in msgs)
    assert "warning" not in render(host_cpu.device_from_ceilings(m), m)
    assert copy_drift_text({}) is None  # a record of a version that copied once


def test_cuda_precisions():
    assert "bf16" not in cuda_precisions((7, 0))  # V100
    assert {"tf32", "bf16", "int8"} <= set(cuda_precisions((8, 0)))
    assert "fp8" in cuda_precisions((8, 9)) and "fp8" not in cuda_precisions((8, 6))


def test_calibrate_cuda_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(MeasurementError, match="CUDA is not available"):
        calibrate_cuda(get_device("3090"))


def test_comparison_rows():
    d = get_device("3090")
    rows = comparison_rows(
        d, _ceilings(gemm_flops_per_s={"fp16": 60e12}, gemm_flops_per_s_no_tensor={"fp32": 30e12})
    )
    by = {r["ceiling"]: r for r in rows}
    assert by["gemm fp16"]["datasheet"] == pytest.approx(71e12)
    assert by["gemm fp32 (no tensor cores)"]["datasheet"] == pytest.approx(35.6e12)
    assert by["copy bandwidth"]["datasheet"] == pytest.approx(936e9)


def test_comparison_rows_of_the_host_cpu_have_no_datasheet_row():
    # the host's bf16 peak is measured, not looked up: no "(no tensor cores)" twin
    # row comparing it with itself as "100% of datasheet"
    m = _ceilings(
        gemm_flops_per_s={"fp32": 1e11, "bf16": 3e11},
        gemm_flops_per_s_no_tensor={"fp32": 1e11, "bf16": 3e11},
    )
    rows = comparison_rows(host_cpu.device_from_ceilings(m), m)
    assert [r["ceiling"] for r in rows] == [
        "gemm fp32",
        "gemm bf16",
        "copy bandwidth",
        "launch overhead",
    ]
    assert all(r["datasheet"] is None for r in rows)


def test_gpus_show_cpu_lists_each_measured_figure_once(capsys):
    # a CPU has no tensor cores: its "no tensor cores" figures are the same numbers
    from roofline.cli import main

    save_measured(host_cpu.cache_name(), _ceilings(), {"kind": "cpu"})
    assert main(["gpus", "show", "cpu"]) == 0
    out = capsys.readouterr().out
    measured = out.split("Measured ceilings", 1)[1].split("Sources:", 1)[0]
    assert "gemm fp32" in measured and "no tensor cores" not in measured


#: lscpu of a two-socket Xeon with hyper-threading (abridged; the real output has more
#: fields, all ignored)
LSCPU_XEON = """\
Architecture:                    x86_64
CPU(s):                          112
On-line CPU(s) list:             0-111
Vendor ID:                       GenuineIntel
Model name:                      Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz
CPU family:                      6
Model:                           106
Thread(s) per core:              2
Core(s) per socket:              28
Socket(s):                       2
NUMA node0 CPU(s):               0-27,56-83
"""

#: lscpu of an Arm big.LITTLE CPU: one model block per core type
LSCPU_ARM = """\
Architecture:           aarch64
CPU(s):                 8
Vendor ID:              ARM
Model name:             Cortex-A55
Thread(s) per core:     1
Core(s) per socket:     4
Socket(s):              1
Model name:             Cortex-A76
Thread(s) per core:     1
Core(s) per socket:     4
Socket(s):              1
"""


def test_cpu_description_from_lscpu():
    d = host_cpu.cpu_description(LSCPU_XEON)
    assert d.model == "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz"
    # 2 sockets x 28 cores = 56 cores, x 2 threads = the 112 CPUs lscpu lists
    assert (d.cpus, d.sockets, d.cores_per_socket, d.threads_per_core) == (112, 2, 28, 2)
    assert d.cores == 56 and d.cores * d.threads_per_core == d.cpus
    assert d.summary() == (
        "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz, 56 cores, 2 threads per core (112 CPUs)"
    )
    assert d.lscpu_fields() == {
        "Model name": "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz",
        "CPU(s)": "112",
        "Socket(s)": "2",
        "Core(s) per socket": "28",
        "Thread(s) per core": "2",
    }


def test_cpu_description_takes_the_first_of_repeated_blocks():
    d = host_cpu.cpu_description(LSCPU_ARM)
    assert (d.model, d.cpus, d.cores, d.threads_per_core) == ("Cortex-A55", 8, 4, 1)
    assert d.summary() == "Cortex-A55, 4 cores, 1 thread per core (8 CPUs)"


def test_cpu_description_without_lscpu(monkeypatch):
    # no lscpu (macOS, a minimal container): the model from cpu_model(), the CPU count
    # from os.cpu_count(), no topology
    monkeypatch.setattr(host_cpu, "cpu_model", lambda: "Some CPU")
    monkeypatch.setattr(host_cpu.os, "cpu_count", lambda: 6)
    d = host_cpu.cpu_description("")
    assert (d.model, d.cpus, d.cores, d.threads_per_core) == ("Some CPU", 6, None, None)
    assert d.summary() == "Some CPU (6 CPUs)"
    assert d.lscpu_fields() == {"Model name": "Some CPU", "CPU(s)": "6"}


def test_benchmarks_describe_the_machine_with_host_cpu(monkeypatch):
    from tests.fixtures.scripts import load_benchmark

    monkeypatch.setattr(host_cpu, "_lscpu", lambda: LSCPU_XEON)
    info = load_benchmark("latency_accuracy").machine()
    assert info["Model name"].startswith("Intel(R) Xeon(R) Gold 6330")
    assert (info["Thread(s) per core"], info["Core(s) per socket"]) == ("2", "28")
    pytest.importorskip("torchvision")  # profiling_speed.py imports it at the top
    text = load_benchmark("profiling_speed").machine()
    assert text.startswith("Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz, 56 cores, 2 threads per core")
