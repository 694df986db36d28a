"""Reading and checking one device spec file (``gpu_specs/<key>.yaml``).

The file format is documented in ``docs/devices.md``. Figures are stored with their
unit in the field name, as the vendor states them (``memory_gb``,
``memory_bandwidth_gb_per_s``, ``boost_clock_mhz``, ``tflops``/``tops``); this module
converts them to SI base units. Every check raises :class:`DeviceError` with a
one-line message naming the file and the field.

Two arithmetic checks tie the figures together (each within 2 %, or an explained
entry in ``consistency_exceptions``):

* ``fp32_peak``: FP32 plain peak ≈ ``fp32_lanes`` × 2 (FMA) × boost clock;
* ``bandwidth``: bandwidth ≈ ``bus_width_bits`` / 8 × ``memory_data_rate_gbps``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from roofline.devices.model import PIPES, PRECISIONS, Device, Interconnect, Peak, Price
from roofline.errors import DeviceError
from roofline.yamlio import TooLargeError, error_message, read_yaml_text, safe_load_unique

#: relative tolerance of the two arithmetic consistency checks
CONSISTENCY_TOLERANCE = 0.02

REQUIRED = (
    "key",
    "name",
    "vendor",
    "kind",
    "aliases",
    "architecture",
    "memory_gb",
    "memory_bandwidth_gb_per_s",
    "tdp_watts",
    "peaks",
    "sources",
)

#: numeric figure fields: each one present must be positive and covered by a source
FIGURES = (
    "sm_count",
    "fp32_lanes",
    "boost_clock_mhz",
    "memory_gb",
    "bus_width_bits",
    "memory_data_rate_gbps",
    "memory_bandwidth_gb_per_s",
    "l2_mib",
    "tdp_watts",
)
INTEGER_FIGURES = ("sm_count", "fp32_lanes", "bus_width_bits")

OPTIONAL = (
    "compute_capability",
    "memory_type",
    "interconnect",
    "price",
    "notes",
    "default_for",
    "consistency_exceptions",
    "memory_bytes",
)
KNOWN = set(REQUIRED) | set(FIGURES) | set(OPTIONAL)
CONSISTENCY_CHECKS = ("fp32_peak", "bandwidth")
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def _fail(origin: str, field: str, message: str) -> DeviceError:
    return DeviceError(f"{origin}: field {field!r}: {message}")


def _positive(origin: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(origin, field, f"must be a number (got {value!r})")
    if not math.isfinite(value) or value <= 0:
        raise _fail(origin, field, f"must be a positive number (got {value!r})")
    return float(value)


def _text(origin: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(origin, field, f"must be a non-empty string (got {value!r})")
    return value.strip()


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one spec file (``yaml.safe_load``, refusing a repeated key); :class:`DeviceError`
    if unreadable."""
    try:
        data = safe_load_unique(read_yaml_text(path))
    except TooLargeError as exc:
        raise DeviceError(f"{path}: {exc}; a spec file is a small YAML text file") from None
    except OSError as exc:
        raise DeviceError(f"{path}: cannot read spec file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise DeviceError(
            f"{path}: not UTF-8 text (byte {exc.start}); a spec file is YAML text"
        ) from None
    except yaml.YAMLError as exc:
        raise DeviceError(error_message(exc, path, "device spec files")) from None
    if not isinstance(data, dict):
        raise DeviceError(f"{path}: a spec file must be a YAML mapping of fields")
    return data


def _source_ids(origin: str, sources: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(sources, list) or not sources:
        raise _fail(origin, "sources", "must be a non-empty list of {id, title, covers}")
    ids: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(sources):
        where = f"sources[{i}]"
        if not isinstance(s, dict):
            raise _fail(origin, where, "must be a mapping with id and title")
        sid = _text(origin, f"{where}.id", s.get("id"))
        _text(origin, f"{where}.title", s.get("title"))
        covers = s.get("covers", [])
        if not isinstance(covers, list) or not all(isinstance(c, str) for c in covers):
            raise _fail(origin, f"{where}.covers", "must be a list of field names")
        if sid in ids:
            raise _fail(origin, where, f"duplicate source id {sid!r}")
        ids[sid] = s
    return ids


def _peaks(
    origin: str, raw: Any, source_ids: Mapping[str, Any]
) -> tuple[dict[str, Peak], dict[str, Peak]]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(origin, "peaks", "must map precisions to {tensor: ..., plain: ...}")
    matrix: dict[str, Peak] = {}
    plain: dict[str, Peak] = {}
    for precision, entry in raw.items():
        if precision not in PRECISIONS:
            raise _fail(
                origin,
                f"peaks.{precision}",
                f"unknown precision; use one of {', '.join(PRECISIONS)}",
            )
        if not isinstance(entry, dict) or not entry:
            raise _fail(origin, f"peaks.{precision}", "must map 'tensor'/'plain' to a figure")
        found: dict[str, Peak] = {}
        for pipe, fig in entry.items():
            where = f"peaks.{precision}.{pipe}"
            if pipe not in PIPES:
                raise _fail(origin, where, "pipe must be 'tensor' or 'plain'")
            if not isinstance(fig, dict):
                raise _fail(origin, where, "must be a mapping {tflops|tops, source, note}")
            unit = "tops" if precision == "int8" else "tflops"
            wrong = "tflops" if unit == "tops" else "tops"
            if wrong in fig:
                raise _fail(
                    origin, f"{where}.{wrong}", f"{precision} figures are given in {unit!r}"
                )
            if unit not in fig:
                raise _fail(origin, f"{where}.{unit}", "missing")
            value = _positive(origin, f"{where}.{unit}", fig[unit])
            src = fig.get("source")
            if src not in source_ids:
                raise _fail(
                    origin,
                    f"{where}.source",
                    f"must be the id of an entry in 'sources' (got {src!r})",
                )
            unknown = set(fig) - {unit, "source", "note"}
            if unknown:
                raise _fail(origin, where, f"unknown keys {sorted(unknown)}")
            found[pipe] = Peak(
                flops_per_s=value * 1e12,
                pipe=pipe,
                source=str(source_ids[src]["title"]),
                note=str(fig.get("note", "")),
            )
        if "plain" in found:
            plain[precision] = found["plain"]
        matrix[precision] = found.get("tensor", found.get("plain"))  # type: ignore[assignment]
    if "fp32" not in matrix:
        raise _fail(origin, "peaks.fp32", "missing: every device needs an fp32 peak")
    return matrix, plain


def consistency_problems(data: Mapping[str, Any], origin: str = "<spec>") -> list[str]:
    """The arithmetic checks that fail without an explained exception (empty = fine).

    Checks only what the file has the fields for; ``consistency_exceptions`` entries
    must be non-empty explanations, and only for checks that actually fail (a stale
    exception is reported too).
    """
    problems: list[str] = []
    exceptions = data.get("consistency_exceptions") or {}
    if not isinstance(exceptions, dict):
        return [f"{origin}: field 'consistency_exceptions': must map a check name to why"]
    for name, why in exceptions.items():
        if name not in CONSISTENCY_CHECKS:
            problems.append(
                f"{origin}: field 'consistency_exceptions.{name}': unknown check; "
                f"use {' or '.join(CONSISTENCY_CHECKS)}"
            )
        elif not isinstance(why, str) or len(why.strip()) < 20:
            problems.append(
                f"{origin}: field 'consistency_exceptions.{name}': needs a written explanation"
            )
    failing: dict[str, str] = {}
    fp32 = ((data.get("peaks") or {}).get("fp32") or {}).get("plain") or {}
    lanes, clock = data.get("fp32_lanes"), data.get("boost_clock_mhz")
    if lanes and clock and isinstance(fp32.get("tflops"), int | float):
        expected = lanes * 2 * clock * 1e6 / 1e12
        dev = fp32["tflops"] / expected - 1
        if abs(dev) > CONSISTENCY_TOLERANCE:
            failing["fp32_peak"] = (
                f"fp32 plain peak {fp32['tflops']} TFLOP/s differs from fp32_lanes × 2 × "
                f"boost clock = {expected:.2f} TFLOP/s by {dev:+.1%}"
            )
    bus, rate = data.get("bus_width_bits"), data.get("memory_data_rate_gbps")
    bw = data.get("memory_bandwidth_gb_per_s")
    if bus and rate and isinstance(bw, int | float):
        expected = bus / 8 * rate
        dev = bw / expected - 1
        if abs(dev) > CONSISTENCY_TOLERANCE:
            failing["bandwidth"] = (
                f"bandwidth {bw} GB/s differs from bus_width_bits / 8 × data rate = "
                f"{expected:.1f} GB/s by {dev:+.1%}"
            )
    for name, msg in failing.items():
        if name not in exceptions:
            problems.append(
                f"{origin}: {msg}; fix the figures or explain in 'consistency_exceptions.{name}'"
            )
    for name in exceptions:
        if (
            name in CONSISTENCY_CHECKS
            and name not in failing
            and (
                (name == "fp32_peak" and lanes and clock) or (name == "bandwidth" and bus and rate)
            )
        ):
            problems.append(
                f"{origin}: field 'consistency_exceptions.{name}': the check passes; "
                "remove the stale exception"
            )
    return problems


def device_from_dict(data: Mapping[str, Any], origin: str = "<spec>") -> Device:
    """Validate a parsed spec file and build the :class:`Device` (SI units)."""
    for f in REQUIRED:
        if f not in data or data[f] is None:
            raise _fail(origin, f, "missing (required)")
    unknown = set(data) - KNOWN
    if unknown:
        raise _fail(
            origin, sorted(unknown)[0], f"unknown field; known fields: {', '.join(sorted(KNOWN))}"
        )
    key = _text(origin, "key", data["key"])
    if not _KEY_RE.match(key):
        raise _fail(origin, "key", "use lower-case letters, digits, '-', '_' or '.'")
    name = _text(origin, "name", data["name"])
    vendor = _text(origin, "vendor", data["vendor"])
    kind = _text(origin, "kind", data["kind"])
    if kind not in ("gpu", "cpu"):
        raise _fail(origin, "kind", "must be 'gpu' or 'cpu'")
    aliases = data["aliases"]
    if not isinstance(aliases, list) or not all(isinstance(a, str | int) for a in aliases):
        raise _fail(origin, "aliases", "must be a list of strings")
    architecture = _text(origin, "architecture", data["architecture"])
    figures: dict[str, float] = {}
    for f in FIGURES:
        if data.get(f) is not None:
            figures[f] = _positive(origin, f, data[f])
            if f in INTEGER_FIGURES and not float(figures[f]).is_integer():
                raise _fail(origin, f, f"must be a whole number (got {data[f]!r})")
    source_ids = _source_ids(origin, data["sources"])
    covered = {c for s in source_ids.values() for c in s.get("covers", [])}
    for f in figures:
        if f not in covered:
            raise _fail(
                origin, f, "no source covers this figure; list it under a source's 'covers'"
            )
    peaks, plain = _peaks(origin, data["peaks"], source_ids)

    inter = data.get("interconnect") or {}
    if not isinstance(inter, dict):
        raise _fail(origin, "interconnect", "must be a mapping")
    for f in ("pcie_generation", "pcie_lanes", "nvlink_gb_per_s"):
        if inter.get(f) is not None:
            _positive(origin, f"interconnect.{f}", inter[f])
    interconnect = Interconnect(
        pcie_generation=inter.get("pcie_generation"),
        pcie_lanes=inter.get("pcie_lanes"),
        nvlink_bandwidth_bytes_per_s=(
            inter["nvlink_gb_per_s"] * 1e9 if inter.get("nvlink_gb_per_s") else None
        ),
        other=str(inter.get("other", "")),
    )

    price = None
    if data.get("price") is not None:
        p = data["price"]
        if not isinstance(p, dict):
            raise _fail(origin, "price", "must be a mapping")
        for amount, date in (("launch_usd", "launch_date"), ("cloud_usd_per_hour", "cloud_date")):
            if p.get(amount) is not None:
                _positive(origin, f"price.{amount}", p[amount])
                if not _DATE_RE.match(str(p.get(date, ""))):
                    raise _fail(
                        origin, f"price.{date}", "every price needs a date (YYYY-MM or YYYY-MM-DD)"
                    )
                if p.get("source") not in source_ids:
                    raise _fail(origin, "price.source", "must be the id of an entry in 'sources'")
        price = Price(
            launch_usd=p.get("launch_usd"),
            launch_date=str(p["launch_date"]) if p.get("launch_date") else None,
            cloud_usd_per_hour=p.get("cloud_usd_per_hour"),
            cloud_date=str(p["cloud_date"]) if p.get("cloud_date") else None,
            source=str(source_ids[p["source"]]["title"]) if p.get("source") in source_ids else "",
            note=str(p.get("note", "")),
        )

    problems = consistency_problems(data, origin)
    if problems:
        raise DeviceError(problems[0])

    notes = data.get("notes") or []
    if isinstance(notes, str):
        notes = [notes]
    memory_bytes = data.get("memory_bytes")
    if memory_bytes is not None:
        memory_bytes = int(_positive(origin, "memory_bytes", memory_bytes))
    else:
        memory_bytes = round(figures["memory_gb"] * 2**30)
    extra = {
        f: data[f]
        for f in (
            "memory_gb",
            "memory_bandwidth_gb_per_s",
            "boost_clock_mhz",
            "l2_mib",
            "memory_data_rate_gbps",
            "default_for",
            "consistency_exceptions",
        )
        if data.get(f) is not None
    }
    return Device(
        key=key,
        name=name,
        vendor=vendor,
        kind=kind,
        aliases=tuple(str(a) for a in aliases),
        memory_bytes=memory_bytes,
        memory_bandwidth_bytes_per_s=figures["memory_bandwidth_gb_per_s"] * 1e9,
        peaks=peaks,
        plain_peaks=plain,
        architecture=architecture,
        compute_capability=(
            str(data["compute_capability"]) if data.get("compute_capability") is not None else None
        ),
        sm_count=int(figures["sm_count"]) if "sm_count" in figures else None,
        fp32_lanes=int(figures["fp32_lanes"]) if "fp32_lanes" in figures else None,
        boost_clock_hz=figures["boost_clock_mhz"] * 1e6 if "boost_clock_mhz" in figures else None,
        memory_type=str(data.get("memory_type", "")),
        bus_width_bits=int(figures["bus_width_bits"]) if "bus_width_bits" in figures else None,
        memory_data_rate_bits_per_s=(
            figures["memory_data_rate_gbps"] * 1e9 if "memory_data_rate_gbps" in figures else None
        ),
        l2_bytes=round(figures["l2_mib"] * 2**20) if "l2_mib" in figures else None,
        tdp_watts=figures["tdp_watts"],
        interconnect=interconnect,
        price=price,
        sources=tuple(dict(s) for s in data["sources"]),
        notes=tuple(str(n) for n in notes),
        extra=extra,
        origin=origin,
    )


def load_device_file(path: Path) -> Device:
    """Read, validate and convert one spec file.

    The ``key`` need not match the file name (``my_card.yaml`` may hold ``key:
    my-card``), so a file behaves the same given directly (``--gpu my_card.yaml``) or
    found in a folder; the bundled files keep key = file name by convention (tested).
    """
    return device_from_dict(load_yaml(path), str(path))
