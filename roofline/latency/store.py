"""Keeping the latency calibration with the device's measured ceilings.

The fit lives in ``MeasuredCeilings.extra`` of the device's cache record
(``roofline.devices.cache``), one per dtype (``extra["efficiency"]`` for float32,
``extra["efficiency.bfloat16"]`` ...: :func:`~roofline.latency.predict.efficiency_key`):
per CPU model and thread count for the host, per GPU for a CUDA card. :func:`predict`
finds it through ``Device.measured``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from roofline.devices import Device, get_device, is_cpu_name, is_local_name, local_index
from roofline.devices.bench import speed_words
from roofline.devices.cache import load_measured, save_measured
from roofline.devices.model import MeasuredCeilings
from roofline.errors import MeasurementError, StaleCalibrationError
from roofline.latency.calibrate import (
    EfficiencyModel,
    calibrate_command,
    calibrate_efficiency,
    can_calibrate,
    reference_time,
    warm_up_gpu,
)
from roofline.latency.predict import efficiency_key, efficiency_of
from roofline.units import dtype_short

Progress = Callable[[str], None]


def _with_efficiency(m: MeasuredCeilings, eff: EfficiencyModel) -> MeasuredCeilings:
    return dataclasses.replace(m, extra={**dict(m.extra), efficiency_key(eff.dtype): eff.as_dict()})


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
    target: str = "cpu",
    *,
    quick: bool = False,
    progress: Progress | None = None,
    dtype: str = "float32",
) -> tuple[Device, EfficiencyModel]:
    """Fit the latency model for models of ``dtype`` on ``target`` (a name of the host
    CPU, "cpu", or of the CUDA GPU, "local"/"local:N": the names ``get_device`` and
    ``roofline calibrate --gpu`` take), store it beside the device's other fits, and
    return the device (with the fit attached) and the fit."""
    if is_cpu_name(target):
        eff = calibrate_efficiency("cpu", quick=quick, progress=progress, dtype=dtype)
        store_efficiency(eff)
        return get_device("cpu"), eff
    if is_local_name(target):
        index = local_index(target)
        low = f"local:{index}"
        device = get_device(low)
        if device.measured is None:
            # the fit is stored beside the GPU's measured ceilings: measure those first
            # (seconds), as the host's are, rather than refuse to store a fit that took
            # minutes (`bench --device cuda` before any `roofline calibrate`)
            from roofline.devices.calibrate import calibrate_cuda

            if progress:
                progress(f"no measured ceilings for {device.name}: measuring them first")
            calibrate_cuda(device, index=index, quick=quick, progress=progress)
        eff = calibrate_efficiency(
            f"cuda:{index}", quick=quick, progress=progress, device_key=device.key, dtype=dtype
        )
        store_efficiency(eff, device)
        return get_device(low), eff
    raise MeasurementError(f"calibration measures this machine: use cpu or local, got {target!r}")


def device_name(target: str) -> str:
    """The device name (``get_device``'s, ``calibrate_and_store``'s) of the measurement
    target ``target`` ("cpu" or "cuda[:N]", as ``check_device`` reads it): "cpu", or
    "local:N" for the CUDA GPU N (0 for "cuda")."""
    kind = str(target).strip().lower().partition(":")[0]
    return "cpu" if kind == "cpu" else f"local:{local_index(target)}"


def device_for(target: str) -> Device:
    """The device to predict for when measuring on ``target`` ("cpu" or "cuda[:N]")."""
    return get_device(device_name(target))


def calibratable(target: str, dtype: str) -> bool:
    """Whether a latency calibration on ``target`` ("cpu"/"cuda[:N]") can time models
    of ``dtype`` (:data:`~roofline.latency.calibrate.CALIBRATION_DTYPES`)."""
    return can_calibrate("cpu" if is_cpu_name(device_name(target)) else "gpu", dtype)


#: how far this machine's speed may be from the calibration's before it is said
SPEED_CHECK = 0.15


def speed_check(
    eff: EfficiencyModel, target: str, timer: Callable[[], float] | None = None
) -> str | None:
    """A note when ``target`` ("cpu"/"cuda[:N]") now runs the calibration's reference
    GEMM more than :data:`SPEED_CHECK` faster or slower than it did when ``eff`` was
    fitted (``info["reference_s"]``): other load then or now, or clocks, and every
    calibrated prediction carries the difference. ``timer`` (tests) replaces the
    measurement. None when the two agree or the calibration has no reference."""
    then = eff.info.get("reference_s")
    if not then:
        return None
    if timer is None:
        from roofline.latency.measure import check_device, device_sync

        dev = check_device(target)
        sync = device_sync(dev)
        if dev.type == "cuda":
            warm_up_gpu(dev, sync, 0.2)  # an idle GPU's clock is low
        now = reference_time(dev, sync)
    else:
        now = timer()
    ratio = now / float(then)
    if abs(ratio - 1.0) <= SPEED_CHECK:
        return None
    how = speed_words(ratio)
    return (
        f"this machine now runs {how} than when it was calibrated ({eff.measured_at}; a "
        f"reference GEMM: {now * 1e3:.2f} ms now, {float(then) * 1e3:.2f} ms then), and the "
        "calibrated predictions carry the difference: calibrate again "
        f"(`{calibrate_command(eff.kind, eff.dtype, local_index(target))}`) for this state"
    )


def ensure_efficiency(
    target: str,
    *,
    quick: bool = False,
    progress: Progress | None = None,
    dtype: str = "float32",
) -> tuple[Device, EfficiencyModel]:
    """The device for ``target`` ("cpu"/"cuda[:N]") with its latency fit for models of
    ``dtype``, calibrating (and storing) first when none is stored (``quick``: on the
    quick grid; a stored fit is used as it is, which ``progress`` is told when it is a
    full one)."""
    device = device_for(target)
    try:
        eff = efficiency_of(device, dtype)
        what = "" if dtype == "float32" else f"{dtype_short(dtype)} "
        why = f"no {what}latency calibration stored for {device.name}"
    except StaleCalibrationError as exc:
        eff, why = None, exc.reason
    if eff is not None:
        if progress:
            if quick and not eff.quick:
                progress(
                    f"note: a full latency calibration is stored ({eff.measured_at}): used as "
                    "it is (a quick one is run only where none is)"
                )
            warning = speed_check(eff, target)
            if warning:
                progress(f"note: {warning}")
        return device, eff
    if progress:
        progress(f"{why}: calibrating now (once)")
    return calibrate_and_store(device_name(target), quick=quick, progress=progress, dtype=dtype)
