"""The GPU in this machine, read through NVML (``pynvml`` from nvidia-ml-py).

:func:`read_local_gpus` reads what NVML knows (name, memory, compute capability, max
SM and memory clocks, bus width, power limit, MIG mode); a field the driver does not
support is left ``None`` and listed in ``unsupported``. :func:`local_device` matches
the card to the database and reports where the live card differs from the datasheet.
NVML missing, no driver, or no GPU: a :class:`DeviceError` with a clear message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from roofline.devices.database import _names, load_database, lookup, normalize
from roofline.devices.model import Device
from roofline.errors import DeviceError

T = TypeVar("T")

#: relative difference above which the live card is reported as differing
DIFF_TOLERANCE = 0.03


@dataclass(frozen=True)
class LocalGpu:
    """What NVML reports about one GPU (SI units; None where unsupported)."""

    index: int
    name: str
    memory_bytes: int | None
    compute_capability: str | None
    max_sm_clock_hz: float | None
    max_memory_clock_hz: float | None
    bus_width_bits: int | None
    power_limit_watts: float | None
    mig_enabled: bool | None
    driver_version: str | None
    unsupported: tuple[str, ...] = ()

    @property
    def derived_bandwidth_bytes_per_s(self) -> float | None:
        """2 (double data rate) × max memory clock × bus width / 8."""
        if self.max_memory_clock_hz and self.bus_width_bits:
            return 2 * self.max_memory_clock_hz * self.bus_width_bits / 8
        return None


def _import_pynvml() -> Any:
    try:
        import pynvml
    except ImportError:
        raise DeviceError(
            "NVML is not available (install nvidia-ml-py); use --gpu NAME or --gpu cpu"
        ) from None
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_local_gpus() -> list[LocalGpu]:
    """Every GPU NVML sees; :class:`DeviceError` if NVML/driver/GPU is missing."""
    nv = _import_pynvml()
    try:
        nv.nvmlInit()
    except nv.NVMLError as exc:
        raise DeviceError(
            f"cannot talk to an NVIDIA driver (NVML: {_text(exc)}); is this a GPU machine? "
            "--gpu cpu uses this CPU; profile, compare and vram also take a datasheet "
            "device (--gpu h100, see `roofline gpus`)"
        ) from None
    try:
        try:
            count = nv.nvmlDeviceGetCount()
        except nv.NVMLError as exc:
            raise DeviceError(f"NVML cannot count GPUs ({_text(exc)})") from None
        if count == 0:
            raise DeviceError("no NVIDIA GPU found by NVML; use --gpu NAME or --gpu cpu")
        driver = None
        try:
            driver = _text(nv.nvmlSystemGetDriverVersion())
        except nv.NVMLError:
            pass
        return [_read_one(nv, i, driver) for i in range(count)]
    finally:
        try:
            nv.nvmlShutdown()
        except nv.NVMLError:
            pass


def _read_one(nv: Any, index: int, driver: str | None) -> LocalGpu:
    unsupported: list[str] = []

    def get(field: str, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except nv.NVMLError:
            unsupported.append(field)
            return None

    try:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        name = _text(nv.nvmlDeviceGetName(h))
    except nv.NVMLError as exc:
        raise DeviceError(f"NVML cannot read GPU {index} ({_text(exc)})") from None
    mem = get("memory", lambda: int(nv.nvmlDeviceGetMemoryInfo(h).total))
    cc = get(
        "compute_capability", lambda: "{}.{}".format(*nv.nvmlDeviceGetCudaComputeCapability(h))
    )
    sm = get("max_sm_clock", lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM) * 1e6)
    memclk = get(
        "max_memory_clock", lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM) * 1e6
    )
    bus = get("bus_width", lambda: int(nv.nvmlDeviceGetMemoryBusWidth(h)))
    power = get("power_limit", lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0)
    mig = get("mig_mode", lambda: bool(nv.nvmlDeviceGetMigMode(h)[0]))
    return LocalGpu(index, name, mem, cc, sm, memclk, bus, power, mig, driver, tuple(unsupported))


def match(gpu: LocalGpu, devices: Sequence[Device]) -> Device:
    """The database entry for a live GPU; ties broken by the closest memory size."""
    try:
        return lookup(gpu.name, devices)
    except DeviceError:
        q = normalize(gpu.name)
        cands = [
            d
            for d in devices
            if d.kind == "gpu" and any(q in n or (len(n) >= 4 and n in q) for n in _names(d))
        ]
        if not cands:
            raise DeviceError(
                f"the local GPU {gpu.name!r} is not in the spec database; add a spec file "
                "for it with --specs DIR (see docs/devices.md) or use --gpu NAME"
            ) from None
        if gpu.memory_bytes:
            return min(cands, key=lambda d: abs(d.memory_bytes - gpu.memory_bytes))
        return cands[0]


def differences(gpu: LocalGpu, dev: Device) -> list[str]:
    """Where the live card differs from its datasheet entry, one line each."""
    out: list[str] = []

    def off(a: float, b: float) -> bool:
        return abs(a / b - 1) > DIFF_TOLERANCE

    if gpu.mig_enabled:
        out.append("MIG is enabled: a process sees one slice; peaks are for the whole GPU")
    if gpu.memory_bytes and off(gpu.memory_bytes, dev.memory_bytes):
        out.append(
            f"memory {gpu.memory_bytes / 2**30:.1f} GiB differs from the datasheet "
            f"{dev.memory_bytes / 2**30:.1f} GiB (another variant, a MIG slice, or reserved memory)"
        )
    if (
        gpu.power_limit_watts
        and dev.tdp_watts
        and gpu.power_limit_watts < dev.tdp_watts * (1 - DIFF_TOLERANCE)
    ):
        out.append(
            f"power-capped: limit {gpu.power_limit_watts:.0f} W below the datasheet "
            f"{dev.tdp_watts:.0f} W; sustained clocks and peaks will be lower"
        )
    if gpu.max_sm_clock_hz and dev.boost_clock_hz and off(gpu.max_sm_clock_hz, dev.boost_clock_hz):
        out.append(
            f"max SM clock {gpu.max_sm_clock_hz / 1e6:.0f} MHz vs datasheet boost "
            f"{dev.boost_clock_hz / 1e6:.0f} MHz"
        )
    bw = gpu.derived_bandwidth_bytes_per_s
    if bw and off(bw, dev.memory_bandwidth_bytes_per_s):
        out.append(
            f"bandwidth from NVML clocks {bw / 1e9:.0f} GB/s vs datasheet "
            f"{dev.memory_bandwidth_bytes_per_s / 1e9:.0f} GB/s"
        )
    if (
        gpu.compute_capability
        and dev.compute_capability
        and gpu.compute_capability != dev.compute_capability
    ):
        out.append(
            f"compute capability {gpu.compute_capability} vs datasheet {dev.compute_capability}"
        )
    return out


def local_device(index: int = 0, spec_dirs: Sequence[str] | None = None) -> Device:
    """The local GPU ``index`` as a database device, annotated with the live figures.

    The datasheet peaks are kept (NVML does not report them); memory becomes the live
    total; every difference is added to ``notes`` and to ``extra["local_differences"]``.
    """
    gpus = read_local_gpus()
    if index >= len(gpus):
        raise DeviceError(f"GPU index {index} out of range: NVML sees {len(gpus)} GPU(s)")
    gpu = gpus[index]
    dev = match(gpu, load_database(spec_dirs))
    diffs = differences(gpu, dev)
    extra = dict(dev.extra)
    extra["local"] = {
        **dataclasses.asdict(gpu),
        "derived_bandwidth_bytes_per_s": gpu.derived_bandwidth_bytes_per_s,
    }
    extra["local_differences"] = diffs
    return dataclasses.replace(
        dev,
        memory_bytes=gpu.memory_bytes or dev.memory_bytes,
        notes=(*dev.notes, *(f"local GPU: {d}" for d in diffs)),
        extra=extra,
        origin=f"nvml:{gpu.index}:{gpu.name}",
    )
