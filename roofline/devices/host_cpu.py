"""The host CPU as a device: its roofline measured, not looked up.

Peak FP/s comes from the best of several large matrix products and dense convolutions
through torch (the same paths a model's convolutions and linears take on CPU), in fp32
and in bf16 (which CPUs with AVX-512 BF16 or AMX run several times faster, and others
emulate, slower: either way what a bf16 model's layers get); bandwidth from the
best of several large copies (bytes read + bytes written), timed at the start and at
the end, with a warning when the two disagree. The whole measurement takes
a couple of seconds (a fraction of a second with ``quick=True``) and is cached per CPU
model and torch thread count, so later runs are instant.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import torch

from roofline.devices import bench
from roofline.devices.cache import load_measured, save_measured
from roofline.devices.model import Device, MeasuredCeilings, Peak
from roofline.units import dtype_short, plural

Progress = Callable[[str], None]

#: (matrix size n, copy size in bytes, repeats): default and quick settings
FULL = (2048, 256 * 2**20, 5)
QUICK = (384, 16 * 2**20, 3)
#: convolutions measured beside the matmul: (input shape, kernel), default and quick
FULL_CONVS = (((8, 256, 14, 14), 3), ((8, 256, 28, 28), 1))
QUICK_CONVS = (((2, 64, 14, 14), 3),)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    value = line.split(":", 1)[1].strip()
                    if value:
                        return value
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: the lscpu fields a :class:`CpuDescription` reads, as lscpu names them
LSCPU_FIELDS = ("Model name", "CPU(s)", "Socket(s)", "Core(s) per socket", "Thread(s) per core")


@dataclass(frozen=True)
class CpuDescription:
    """What a benchmark records of the machine's CPU: its model, logical CPUs and
    topology (None where it could not be told)."""

    model: str
    cpus: int  #: logical CPUs (hardware threads)
    sockets: int | None = None
    cores_per_socket: int | None = None
    threads_per_core: int | None = None

    @property
    def cores(self) -> int | None:
        """Physical cores: sockets x cores per socket."""
        if self.sockets is None or self.cores_per_socket is None:
            return None
        return self.sockets * self.cores_per_socket

    def lscpu_fields(self) -> dict[str, str]:
        """The known fields under lscpu's own names (the keys benchmark results use)."""
        values = {
            "Model name": self.model,
            "CPU(s)": self.cpus,
            "Socket(s)": self.sockets,
            "Core(s) per socket": self.cores_per_socket,
            "Thread(s) per core": self.threads_per_core,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def summary(self) -> str:
        """``AMD EPYC, 2 cores, 1 thread per core (2 CPUs)``, or as much as is known."""
        if self.cores is None or self.threads_per_core is None:
            return f"{self.model} ({plural(self.cpus, 'CPU')})"
        return (
            f"{self.model}, {plural(self.cores, 'core')}, "
            f"{plural(self.threads_per_core, 'thread')} per core ({plural(self.cpus, 'CPU')})"
        )


def parse_lscpu(text: str) -> dict[str, str]:
    """``lscpu``'s ``Key: value`` lines as a dict (the first of a repeated key: lscpu
    repeats the model block per core type on hybrid and Arm CPUs)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def _lscpu() -> str:
    try:
        return subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):  # no lscpu (macOS, Windows, containers)
        return ""


def cpu_description(lscpu: str | None = None) -> CpuDescription:
    """The CPU's description, from ``lscpu`` output (run here when not given). The
    model is lscpu's ``Model name`` (on Linux the text of /proc/cpuinfo's, which
    :func:`cpu_model` reads), else :func:`cpu_model`; the logical CPU count falls back
    to ``os.cpu_count()``; the topology is None without lscpu."""
    fields = parse_lscpu(_lscpu() if lscpu is None else lscpu)

    def number(key: str) -> int | None:
        try:
            value = int(fields.get(key, ""))
        except ValueError:
            return None
        return value if value > 0 else None

    return CpuDescription(
        model=fields.get("Model name") or cpu_model(),
        cpus=number("CPU(s)") or os.cpu_count() or 1,
        sockets=number("Socket(s)"),
        cores_per_socket=number("Core(s) per socket"),
        threads_per_core=number("Thread(s) per core"),
    )


def threads() -> int:
    """The number of threads torch uses for CPU ops."""
    return torch.get_num_threads()


def cache_name(model: str | None = None, nthreads: int | None = None) -> str:
    """Cache key of a measurement: CPU model and thread count."""
    return f"cpu-{model or cpu_model()}-{nthreads or threads()}t"


def _memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0


def _dense_rates(
    dtype: torch.dtype,
    n: int,
    convs: tuple[tuple[tuple[int, int, int, int], int], ...],
    repeats: int,
    say: Progress,
) -> dict[str, float]:
    """FLOP/s of an ``n×n`` matmul and the dense ``convs`` at ``dtype``, by name."""
    name = dtype_short(dtype)
    say(f"host CPU: {name} matmul {n}x{n}, best of {repeats}")
    rates = {"matmul": bench.gemm_flops_per_s(n, dtype, "cpu", repeats)}
    for shape, k in convs:
        say(f"host CPU: {name} {k}x{k} convolution on {'x'.join(map(str, shape))}")
        rates[f"conv{k}x{k}"] = bench.conv_flops_per_s(shape, k, "cpu", repeats, dtype=dtype)
    return rates


def measure(quick: bool = False, progress: Progress | None = None) -> MeasuredCeilings:
    """Measure the host CPU's fp32 and bf16 dense peaks, copy bandwidth and op overhead.

    Each peak is the best of a matmul and dense convolutions: on some CPUs the
    convolution library outruns the matmul library by 2x (MKL's sgemm skips AVX-512
    on AMD processors while oneDNN uses it), and a ceiling that the model's own
    layers beat would not be a ceiling. fp16 is not measured: ATen runs it on
    reference kernels (~1 GFLOP/s), no ceiling of anything a model would run.
    """
    n, nbytes, repeats = QUICK if quick else FULL
    say = progress or (lambda _msg: None)
    convs = QUICK_CONVS if quick else FULL_CONVS
    # the copy at the start and again at the end: a machine whose speed changed in
    # between (other load) is said (bench.copy_drift_text), as the latency
    # calibration's reference GEMM is
    say(f"host CPU: copy {nbytes / 2**20:.0f} MiB, best of {repeats}")
    copy_start = bench.copy_bytes_per_s(nbytes, "cpu", repeats)
    rates = _dense_rates(torch.float32, n, convs, repeats, say)
    gemm = max(rates.values())
    rates_bf16 = _dense_rates(torch.bfloat16, n, convs, repeats, say)
    bf16 = max(rates_bf16.values())
    say("host CPU: per-op overhead")
    overhead = bench.launch_overhead_s("cpu", repeats, inner=100 if quick else 500)
    say(f"host CPU: copy {nbytes / 2**20:.0f} MiB again, best of {repeats}")
    copy_end = bench.copy_bytes_per_s(nbytes, "cpu", repeats)
    runs = {bench.COPY_RUNS: [copy_start, copy_end]}
    warning = bench.copy_drift_text(runs)
    if warning:
        say(f"warning: {warning}")
    return MeasuredCeilings(
        gemm_flops_per_s={"fp32": gemm, "bf16": bf16},
        gemm_flops_per_s_no_tensor={"fp32": gemm, "bf16": bf16},
        copy_bandwidth_bytes_per_s=max(copy_start, copy_end),
        launch_overhead_s=overhead,
        measured_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        torch_version=torch.__version__,
        host=socket.gethostname(),
        extra={
            "cpu_model": cpu_model(),
            "threads": threads(),
            "quick": quick,
            "gemm_n": n,
            "dense_rates": rates,
            "dense_rates_bf16": rates_bf16,
            "copy_bytes": nbytes,
            **runs,
            "repeats": repeats,
        },
    )


def device_from_ceilings(m: MeasuredCeilings) -> Device:
    """A :class:`Device` whose only ceilings are the measured ones."""
    model = str(m.extra.get("cpu_model", cpu_model()))
    n = m.extra.get("threads", threads())
    size = m.extra.get("gemm_n", "?")
    label = f"measured {m.measured_at}, torch {m.torch_version}"

    def peak(precision: str, rates_key: str) -> Peak:
        flops = m.gemm_flops_per_s[precision]
        rates = m.extra.get(rates_key) or {"matmul": flops}
        best = max(rates, key=lambda k: rates[k])
        what = f"matmul {size}³" if best == "matmul" else f"{best} convolution"
        return Peak(
            flops,
            "plain",
            f"{label}, best dense rate: {precision} {what}, best of {m.extra.get('repeats', '?')}",
            "host CPU: measured, not a datasheet figure",
            True,
        )

    peaks = {"fp32": peak("fp32", "dense_rates")}
    if "bf16" in m.gemm_flops_per_s:  # records of older versions have fp32 only
        peaks["bf16"] = peak("bf16", "dense_rates_bf16")
    vendor = next((v for v in ("AMD", "Intel", "Apple", "ARM") if v.lower() in model.lower()), "")
    return Device(
        key="cpu",
        name=f"{model} ({plural(n, 'thread')})",
        vendor=vendor or "host",
        kind="cpu",
        aliases=("cpu", "host"),
        memory_bytes=_memory_bytes(),
        memory_bandwidth_bytes_per_s=m.copy_bandwidth_bytes_per_s,
        peaks=peaks,
        plain_peaks=dict(peaks),
        measured=m,
        architecture=platform.machine(),
        sources=({"id": "measured", "title": f"{label} on {m.host}"},),
        notes=(
            f"Measured on this machine: {' and '.join(peaks)} only. Memory is the host's RAM.",
            *(
                ["quick measurement (smaller sizes): may understate the peak"]
                if m.extra.get("quick")
                else []
            ),
        ),
        origin="measured",
    )


def host_device(
    refresh: bool = False, quick: bool = False, progress: Progress | None = None
) -> Device:
    """The host CPU as a device: cached measurement, or measure (and cache) now."""
    name = cache_name()
    m = None if refresh else load_measured(name)
    if m is None:
        m = measure(quick=quick, progress=progress)
        save_measured(name, m, {"kind": "cpu"})
    return device_from_ceilings(m)
