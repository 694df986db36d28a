"""Devices: the GPU spec database, the local GPU (NVML), the host CPU, calibration.

>>> from roofline.devices import get_device
>>> d = get_device("3090")
>>> round(d.ridge_point("fp32"), 1)
38.0

``get_device`` accepts any reasonable spelling of a database device (``3090``,
``rtx 3090``, ``NVIDIA GeForce RTX 3090``, ``a100-80gb``), ``local`` (the GPU in this
machine via NVML), ``cpu`` (the host CPU, measured and cached), or a path to a user
``.yaml`` spec file. A database device carries its measured ceilings (``measured``)
when it has been calibrated on this machine.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from collections.abc import Sequence

from roofline.devices.cache import load_measured
from roofline.devices.calibrate import gpu_cache_name
from roofline.devices.database import (
    ENV_SPECS,
    bundled_specs_dir,
    find_device,
    load_database,
    normalize,
)
from roofline.devices.database import all_devices as _all_devices
from roofline.devices.model import (
    PIPES,
    PRECISIONS,
    Device,
    Interconnect,
    MeasuredCeilings,
    Peak,
    Price,
    check_precision,
)
from roofline.errors import DeviceError, RooflineError
from roofline.units import plain_number

LOCAL_NAMES = ("local", "nvml", "this")
CPU_NAMES = ("cpu", "host", "host-cpu")


def plain_name(name: str) -> str:
    """``name`` as the special names (:data:`CPU_NAMES`, :data:`LOCAL_NAMES`,
    ``local:N``) are matched: stripped, compatibility characters as their plain forms
    (NFKC: full-width ``ｃｐｕ`` is ``cpu``), lower case."""
    return unicodedata.normalize("NFKC", str(name)).strip().lower()


def is_cpu_name(name: str) -> bool:
    """Whether ``name`` names the host CPU (:data:`CPU_NAMES`, read as :func:`plain_name`
    reads them): the one test every command and library function makes."""
    return plain_name(name) in CPU_NAMES


def is_local_name(name: str) -> bool:
    """Whether ``name`` names this machine's GPU (:data:`LOCAL_NAMES`, or ``local:N``
    for the GPU of index N, read as :func:`plain_name` reads them; :func:`local_index`
    says which GPU): the one test every command and library function makes."""
    low = plain_name(name)
    return low in LOCAL_NAMES or low.startswith("local:")


def get_device(name: str, spec_dirs: Sequence[str | os.PathLike[str]] | None = None) -> Device:
    """Resolve a device name (see the module docstring); :class:`DeviceError` if not."""
    text = str(name).strip()
    if is_cpu_name(text):
        from roofline.devices.host_cpu import host_device

        return host_device()
    if is_local_name(text):
        from roofline.devices.nvml import local_device

        dev = local_device(local_index(text), spec_dirs)
    else:
        dev = find_device(text, spec_dirs)
    if dev.measured is None and dev.kind == "gpu":
        m = load_measured(gpu_cache_name(dev.key))
        if m is not None:
            dev = dataclasses.replace(dev, measured=m)
    return dev


def local_index(name: str) -> int:
    """The GPU index ``local:N`` names (``local``: 0); :class:`DeviceError` for an index
    that is not a number (``local:x`` used to mean GPU 0 without a word)."""
    _, sep, index = plain_name(name).partition(":")
    if not sep:
        return 0
    index = index.strip()
    # digits 0-9 only, as every number is read (isdigit() passes ٣, and NFKC turns ²
    # into 2): the name's width forms (ｌｏｃａｌ：１) are plain_number's too
    try:
        plain_number(name)
    except RooflineError:
        index = ""
    if not (index.isascii() and index.isdigit()):
        raise DeviceError(
            f"{name!r}: local:N takes this machine's GPU index, a number from 0 (nvidia-smi's)"
        )
    return int(index)


def all_devices(spec_dirs: Sequence[str | os.PathLike[str]] | None = None) -> tuple[Device, ...]:
    """Every device in the database (bundled plus user folders), by vendor and name."""
    return _all_devices(spec_dirs)


__all__ = [
    "ENV_SPECS",
    "PIPES",
    "PRECISIONS",
    "Device",
    "Interconnect",
    "MeasuredCeilings",
    "Peak",
    "Price",
    "all_devices",
    "bundled_specs_dir",
    "check_precision",
    "get_device",
    "is_cpu_name",
    "is_local_name",
    "load_database",
    "local_index",
    "normalize",
]
