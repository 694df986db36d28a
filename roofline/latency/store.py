"""Keeping the latency calibration with the device's measured ceilings.

The fit lives in ``MeasuredCeilings.extra["efficiency"]`` of the device's cache record
(``roofline.devices.cache``): per CPU model and thread count for the host, per GPU
for a CUDA card. :func:`predict` finds it through ``Device.measured``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from roofline.devices import Device, get_device
from roofline.devices.cache import load_measured, save_measured
from roofline.devices.model import MeasuredCeilings
from roofline.errors import MeasurementError, StaleCalibrationError
from roofline.latency.calibrate import EfficiencyModel, calibrate_efficiency
from roofline.latency.predict import efficiency_of

Progress = Callable[[str], None]


def _with_efficiency(m: MeasuredCeilings, eff: EfficiencyModel) -> MeasuredCeilings:
    return dataclasses.replace(m, extra={**dict(m.extra), "efficiency": eff.as_dict()})


def store_efficiency(eff: EfficiencyModel, device: Device | None = None) -> None:
    """Save ``eff`` beside the measured ceilings of the host CPU (``eff.kind == "cpu"``)
    or of the GPU ``device``. The host's ceilings are measured first if absent."""
    if eff.kind == "cpu":
        from roofline.devices.host_cpu import cache_name, measure

        name = cache_name()
        m = load_measured(name) or measure(quick=eff.quick)
        save_measured(name, _with_efficiency(m, eff), {"kind": "cpu"})
        return
    if device is None:
        raise MeasurementError("storing a GPU calibration needs the device it was measured on")
    from roofline.devices.calibrate import gpu_cache_name

    name = gpu_cache_name(device.key)
    m = load_measured(name) or device.measured
    if m is None:
        raise MeasurementError(
            f"no measured ceilings for {device.name}: run `roofline calibrate --gpu local` first"
        )
    save_measured(name, _with_efficiency(m, eff), {"kind": "gpu", "device": device.key})


def calibrate_and_store(
    target: str = "cpu", *, quick: bool = False, progress: Progress | None = None
) -> tuple[Device, EfficiencyModel]:
    """Fit the latency model on ``target`` ("cpu", or "local"/"local:N" for the CUDA GPU),
    store it, and return the device (with the fit attached) and the fit."""
    low = target.strip().lower()
    if low in ("cpu", "host"):
        eff = calibrate_efficiency("cpu", quick=quick, progress=progress)
        store_efficiency(eff)
        return get_device("cpu"), eff
    if low == "local" or low.startswith("local:"):
        index = int(low.split(":", 1)[1]) if ":" in low else 0
        device = get_device(low)
        eff = calibrate_efficiency(
            f"cuda:{index}", quick=quick, progress=progress, device_key=device.key
        )
        store_efficiency(eff, device)
        return get_device(low), eff
    raise MeasurementError(f"calibration measures this machine: use cpu or local, got {target!r}")


def device_for(target: str) -> Device:
    """The device to predict for when measuring on ``target`` ("cpu" or "cuda[:N]")."""
    low = target.strip().lower()
    if low == "cpu":
        return get_device("cpu")
    index = low.split(":", 1)[1] if ":" in low else "0"
    return get_device(f"local:{index}")


def ensure_efficiency(
    target: str, *, quick: bool = False, progress: Progress | None = None
) -> tuple[Device, EfficiencyModel]:
    """The device for ``target`` ("cpu"/"cuda[:N]") with its latency fit, calibrating
    (and storing) first when none is stored."""
    device = device_for(target)
    try:
        eff = efficiency_of(device)
        why = f"no latency calibration stored for {device.name}"
    except StaleCalibrationError as exc:
        eff, why = None, exc.reason
    if eff is not None:
        return device, eff
    if progress:
        progress(f"{why}: calibrating now (once)")
    low = target.strip().lower()
    return calibrate_and_store(
        "cpu" if low == "cpu" else "local" + (low[4:] if ":" in low else ""),
        quick=quick,
        progress=progress,
    )
