"""The device data types: a dense peak, measured ceilings, and the device itself.

Everything is in SI base units: FLOP/s (or integer op/s for ``int8``), bytes/s,
bytes, Hz, watts. A datasheet peak and a measured ceiling are two different,
labelled ceilings: :meth:`Device.with_measured` swaps one for the other and says so
in every ``source``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from roofline.errors import DeviceError

#: Precisions a peak table may hold, in display order.
PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

#: The two kinds of execution unit a peak can be for.
PIPES = ("tensor", "plain")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def check_precision(precision: str) -> str:
    """Normalise a precision name; :class:`DeviceError` for an unknown one."""
    p = str(precision).strip().lower()
    aliases = {
        "float64": "fp64",
        "double": "fp64",
        "float32": "fp32",
        "float": "fp32",
        "float16": "fp16",
        "half": "fp16",
        "bfloat16": "bf16",
        "float8": "fp8",
        "float8_e4m3fn": "fp8",
        "float8_e5m2": "fp8",
    }
    p = aliases.get(p, p)
    if p not in PRECISIONS:
        raise DeviceError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return p


@dataclass(frozen=True)
class Peak:
    """One dense peak throughput figure."""

    flops_per_s: float  #: dense operations per second
    pipe: str  #: "tensor" (tensor/matrix cores) or "plain" (CUDA cores / SIMD pipes)
    source: str  #: where the figure comes from (document name, or "measured ...")
    note: str = ""
    measured: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MeasuredCeilings:
    """Ceilings measured on the real device (``roofline calibrate``, host CPU).

    ``gemm_flops_per_s`` holds the best achieved matrix-multiply throughput per
    precision with tensor cores allowed; ``gemm_flops_per_s_no_tensor`` the same with
    tensor cores off (fp32 with TF32 disabled, fp64 on the plain pipes where the card
    has no FP64 tensor cores). ``extra`` is for later fits (per-op-class efficiency).
    """

    gemm_flops_per_s: Mapping[str, float]
    gemm_flops_per_s_no_tensor: Mapping[str, float]
    copy_bandwidth_bytes_per_s: float
    launch_overhead_s: float
    measured_at: str
    torch_version: str
    host: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gemm_flops_per_s", _frozen(self.gemm_flops_per_s))
        object.__setattr__(
            self, "gemm_flops_per_s_no_tensor", _frozen(self.gemm_flops_per_s_no_tensor)
        )
        object.__setattr__(self, "extra", _frozen(self.extra))

    def as_dict(self) -> dict[str, Any]:
        return {
            "gemm_flops_per_s": dict(self.gemm_flops_per_s),
            "gemm_flops_per_s_no_tensor": dict(self.gemm_flops_per_s_no_tensor),
            "copy_bandwidth_bytes_per_s": self.copy_bandwidth_bytes_per_s,
            "launch_overhead_s": self.launch_overhead_s,
            "measured_at": self.measured_at,
            "torch_version": self.torch_version,
            "host": self.host,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MeasuredCeilings:
        """Inverse of :meth:`as_dict`; :class:`DeviceError` if a field is missing."""
        try:
            return cls(
                gemm_flops_per_s={k: float(v) for k, v in data["gemm_flops_per_s"].items()},
                gemm_flops_per_s_no_tensor={
                    k: float(v) for k, v in data.get("gemm_flops_per_s_no_tensor", {}).items()
                },
                copy_bandwidth_bytes_per_s=float(data["copy_bandwidth_bytes_per_s"]),
                launch_overhead_s=float(data["launch_overhead_s"]),
                measured_at=str(data["measured_at"]),
                torch_version=str(data["torch_version"]),
                host=str(data["host"]),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DeviceError(f"malformed measured-ceilings record: {exc!r}") from None


@dataclass(frozen=True)
class Interconnect:
    """Host link and GPU-to-GPU link."""

    pcie_generation: int | None = None
    pcie_lanes: int | None = None
    nvlink_bandwidth_bytes_per_s: float | None = None  #: total, both directions
    other: str = ""


@dataclass(frozen=True)
class Price:
    """Launch price and/or a typical hourly cloud price, each with its date."""

    launch_usd: float | None = None
    launch_date: str | None = None
    cloud_usd_per_hour: float | None = None
    cloud_date: str | None = None
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class Device:
    """A device's roofline figures: peaks per precision and memory bandwidth."""

    key: str
    name: str
    vendor: str
    kind: str  #: "gpu" | "cpu"
    aliases: tuple[str, ...]
    memory_bytes: int
    memory_bandwidth_bytes_per_s: float
    peaks: Mapping[str, Peak]  #: precision -> matrix (best dense) peak
    measured: MeasuredCeilings | None = None
    plain_peaks: Mapping[str, Peak] = field(default_factory=dict)  #: precision -> plain pipe
    architecture: str = ""
    compute_capability: str | None = None
    sm_count: int | None = None  #: SMs (NVIDIA) or compute units (AMD)
    fp32_lanes: int | None = None  #: FP32 lanes (CUDA cores / stream processors)
    boost_clock_hz: float | None = None
    memory_type: str = ""
    bus_width_bits: int | None = None
    memory_data_rate_bits_per_s: float | None = None  #: per pin
    l2_bytes: int | None = None
    tdp_watts: float | None = None
    interconnect: Interconnect = field(default_factory=Interconnect)
    price: Price | None = None
    sources: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    #: raw, as-stated vendor figures with their units (memory_gb, ...) and anything
    #: else the file holds that has no typed field
    extra: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""  #: the file it came from, or "nvml", "measured"
    is_measured_view: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "peaks", _frozen(self.peaks))
        object.__setattr__(self, "plain_peaks", _frozen(self.plain_peaks))
        object.__setattr__(self, "extra", _frozen(self.extra))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    # -- ceilings -------------------------------------------------------------------

    def peak(self, precision: str) -> Peak:
        """The dense peak for ``precision`` (the matrix figure, see :meth:`matrix_peak`)."""
        p = check_precision(precision)
        if p in self.peaks:
            return self.peaks[p]
        have = ", ".join(k for k in PRECISIONS if k in self.peaks) or "none"
        raise DeviceError(
            f"{self.name} has no {p} peak in its spec (it has: {have}); "
            "choose another precision or add the figure to its spec file"
        )

    def matrix_peak(self, precision: str) -> Peak:
        """Ceiling for conv/matmul/attention: the tensor-core figure when the device
        has one for ``precision``, else the plain-pipe figure."""
        return self.peak(precision)

    def vector_peak(self, precision: str) -> Peak:
        """Ceiling for elementwise/norm/reduction work: the plain-pipe figure.

        fp64 uses the fp64 plain figure; other precisions use the plain figure for
        that precision if the spec has one, else the fp32 plain figure.
        """
        p = check_precision(precision)
        if p in self.plain_peaks:
            return self.plain_peaks[p]
        if p == "fp64":
            raise DeviceError(
                f"{self.name} has no plain-pipe fp64 peak in its spec; "
                "add it to the spec file or use fp32"
            )
        if "fp32" in self.plain_peaks:
            return self.plain_peaks["fp32"]
        raise DeviceError(f"{self.name} has no plain-pipe fp32 peak in its spec")

    def ridge_point(self, precision: str = "fp32") -> float:
        """Arithmetic intensity (FLOPs per byte) where the roofline bends."""
        return self.matrix_peak(precision).flops_per_s / self.memory_bandwidth_bytes_per_s

    def with_measured(self) -> Device:
        """The same device with its measured ceilings in place of the datasheet ones.

        Peaks that were measured replace the datasheet figure (pipe kept,
        ``measured=True``, source says "measured ..."); bandwidth becomes the measured
        copy bandwidth. Precisions that were not measured are dropped, so nothing
        mixes the two kinds of ceiling silently.
        """
        if self.is_measured_view:
            return self
        m = self.measured
        if m is None:
            raise DeviceError(
                f"no measured ceilings for {self.name}: run `roofline calibrate --gpu "
                f"{'cpu' if self.kind == 'cpu' else 'local'}` on that machine first"
            )
        label = f"measured {m.measured_at}, torch {m.torch_version} on {m.host}"
        peaks: dict[str, Peak] = {}
        plain: dict[str, Peak] = {}
        for p in PRECISIONS:
            if p in m.gemm_flops_per_s:
                old = self.peaks.get(p)
                pipe = old.pipe if old else "plain"
                peaks[p] = Peak(m.gemm_flops_per_s[p], pipe, f"{label}, matmul", "", True)
            if p in m.gemm_flops_per_s_no_tensor:
                plain[p] = Peak(
                    m.gemm_flops_per_s_no_tensor[p],
                    "plain",
                    f"{label}, matmul, no tensor cores",
                    "",
                    True,
                )
            elif p in peaks and peaks[p].pipe == "plain":
                plain[p] = peaks[p]
        return dataclasses.replace(
            self,
            peaks=peaks,
            plain_peaks=plain,
            memory_bandwidth_bytes_per_s=m.copy_bandwidth_bytes_per_s,
            is_measured_view=True,
        )

    # -- output ---------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: SI units, ``peak_flops`` in dense op/s per precision."""
        d: dict[str, Any] = {
            "key": self.key,
            "name": self.name,
            "vendor": self.vendor,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "architecture": self.architecture,
            "compute_capability": self.compute_capability,
            "sm_count": self.sm_count,
            "fp32_lanes": self.fp32_lanes,
            "boost_clock_hz": self.boost_clock_hz,
            "memory_bytes": self.memory_bytes,
            "memory_type": self.memory_type,
            "bus_width_bits": self.bus_width_bits,
            "memory_data_rate_bits_per_s": self.memory_data_rate_bits_per_s,
            "memory_bandwidth_bytes_per_s": self.memory_bandwidth_bytes_per_s,
            "l2_bytes": self.l2_bytes,
            "tdp_watts": self.tdp_watts,
            "peak_flops": {p: pk.flops_per_s for p, pk in self.peaks.items()},
            "peaks": {p: pk.as_dict() for p, pk in self.peaks.items()},
            "plain_peak_flops": {p: pk.flops_per_s for p, pk in self.plain_peaks.items()},
            "plain_peaks": {p: pk.as_dict() for p, pk in self.plain_peaks.items()},
            "ridge_point_fp32": self.ridge_point("fp32") if "fp32" in self.peaks else None,
            "interconnect": dataclasses.asdict(self.interconnect),
            "price": dataclasses.asdict(self.price) if self.price else None,
            "measured": self.measured.as_dict() if self.measured else None,
            "is_measured_view": self.is_measured_view,
            "sources": [dict(s) for s in self.sources],
            "notes": list(self.notes),
            "origin": self.origin,
        }
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d
