"""Measured ceilings on a CUDA GPU (``roofline calibrate --gpu local``).

Measures, on the real card: GEMM throughput per precision (fp32 with TF32 off = no
tensor cores, tf32, fp16, bf16, fp64, and fp8 / int8 where torch and the card support
them), large-copy bandwidth (bytes read + written), and the cost of a tiny kernel
launched back to back. The result is stored per device in the cache folder and
attached to that device by :func:`roofline.devices.get_device` as ``measured``.

The measuring loop is :func:`run_calibration`, device-agnostic so the tests exercise it
on CPU; :func:`calibrate_cuda` adds the CUDA specifics (synchronisation, TF32 switch,
the NVML match).
"""

from __future__ import annotations

import datetime as _dt
import socket
from collections.abc import Callable, Sequence

import torch

from roofline.devices import bench
from roofline.devices.cache import save_measured
from roofline.devices.model import Device, MeasuredCeilings
from roofline.errors import MeasurementError, first_line

Progress = Callable[[str], None]

_DTYPES = {
    "fp64": torch.float64,
    "fp32": torch.float32,
    "tf32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}

#: (gemm n, copy bytes, repeats): full and quick settings on CUDA
CUDA_FULL = (8192, 2**30, 10)
CUDA_QUICK = (4096, 256 * 2**20, 4)


def _set_tf32(on: bool) -> bool:
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = on
    return old


def run_calibration(
    device: torch.device | str,
    precisions: Sequence[str],
    n: int,
    copy_bytes: int,
    repeats: int,
    sync: bench.Sync = lambda: None,
    progress: Progress | None = None,
    n_for: Callable[[str], int] | None = None,
) -> MeasuredCeilings:
    """Measure GEMM per precision, copy bandwidth and launch overhead on ``device``.

    ``fp32`` is measured with TF32 off and recorded both as the fp32 ceiling and as
    the no-tensor-core ceiling; ``tf32`` with TF32 on. A precision the device or torch
    cannot run is skipped and listed in ``extra["skipped"]`` with the reason.
    """
    say = progress or (lambda _m: None)
    # the copy at the start and again at the end (bench.copy_drift_text)
    say(f"copy {copy_bytes / 2**20:.0f} MiB, best of {repeats}")
    copy_start = bench.copy_bytes_per_s(copy_bytes, device, repeats, sync)
    gemm: dict[str, float] = {}
    no_tensor: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for p in precisions:
        size = n_for(p) if n_for else n
        say(f"gemm {p} {size}x{size}, best of {repeats}")
        try:
            if p == "int8":
                gemm[p] = bench.int8_gemm_ops_per_s(size, device, repeats, sync)
            elif p == "fp8":
                gemm[p] = bench.fp8_gemm_flops_per_s(size, device, repeats, sync)
            elif p in _DTYPES:
                old = _set_tf32(p == "tf32")
                try:
                    gemm[p] = bench.gemm_flops_per_s(size, _DTYPES[p], device, repeats, sync)
                finally:
                    _set_tf32(old)
                if p == "fp32":
                    no_tensor[p] = gemm[p]
            else:
                skipped[p] = "unknown precision"
        except (RuntimeError, NotImplementedError, TypeError, AttributeError) as exc:
            skipped[p] = first_line(exc)[:200]
    say("launch overhead")
    launch = bench.launch_overhead_s(device, repeats, sync)
    say(f"copy {copy_bytes / 2**20:.0f} MiB again, best of {repeats}")
    copy_end = bench.copy_bytes_per_s(copy_bytes, device, repeats, sync)
    runs = {bench.COPY_RUNS: [copy_start, copy_end]}
    warning = bench.copy_drift_text(runs)
    if warning:
        say(f"warning: {warning}")
    return MeasuredCeilings(
        gemm_flops_per_s=gemm,
        gemm_flops_per_s_no_tensor=no_tensor,
        copy_bandwidth_bytes_per_s=max(copy_start, copy_end),
        launch_overhead_s=launch,
        measured_at=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        torch_version=torch.__version__,
        host=socket.gethostname(),
        extra={
            "skipped": skipped,
            "gemm_n": n,
            "copy_bytes": copy_bytes,
            **runs,
            "repeats": repeats,
        },
    )


def cuda_precisions(capability: tuple[int, int]) -> list[str]:
    """Precisions worth measuring on a card of this compute capability."""
    out = ["fp32", "fp64", "fp16"]
    if capability >= (8, 0):
        out += ["tf32", "bf16"]
    if capability >= (7, 5):
        out.append("int8")
    if capability >= (8, 9):
        out.append("fp8")
    return out


def calibrate_cuda(
    device: Device, index: int = 0, quick: bool = False, progress: Progress | None = None
) -> MeasuredCeilings:
    """Calibrate CUDA GPU ``index`` (matched to ``device``) and store the result."""
    if not torch.cuda.is_available():
        raise MeasurementError(
            "CUDA is not available to torch here (no GPU, no driver, or a CPU-only torch); "
            "calibrate the host with `roofline calibrate --gpu cpu`"
        )
    if index >= torch.cuda.device_count():
        raise MeasurementError(f"CUDA device {index} does not exist")
    cuda = torch.device("cuda", index)
    cap = torch.cuda.get_device_capability(index)
    n, copy_bytes, repeats = CUDA_QUICK if quick else CUDA_FULL
    # FP64 is 1/32-1/64 rate on consumer cards: a smaller problem keeps it to seconds.
    fp64_plain = "fp64" in device.peaks and device.peaks["fp64"].flops_per_s < 2e12

    def n_for(p: str) -> int:
        return n // 4 if (p == "fp64" and fp64_plain) else n

    with torch.cuda.device(index):
        try:
            m = run_calibration(
                cuda,
                cuda_precisions(cap),
                n,
                copy_bytes,
                repeats,
                sync=torch.cuda.synchronize,
                progress=progress,
                n_for=n_for,
            )
        except torch.cuda.OutOfMemoryError:
            raise MeasurementError(
                "out of GPU memory while calibrating; free the GPU or use --quick"
            ) from None
    extra = dict(m.extra)
    extra.update(
        {
            "cuda_device_name": torch.cuda.get_device_name(index),
            "compute_capability": f"{cap[0]}.{cap[1]}",
            "datasheet_key": device.key,
            "quick": quick,
        }
    )
    if (
        "fp64" in m.gemm_flops_per_s
        and "fp64" in device.peaks
        and device.peaks["fp64"].pipe == "plain"
    ):
        extra["fp64_no_tensor"] = True
    m = MeasuredCeilings(
        gemm_flops_per_s=m.gemm_flops_per_s,
        gemm_flops_per_s_no_tensor={
            **m.gemm_flops_per_s_no_tensor,
            **({"fp64": m.gemm_flops_per_s["fp64"]} if extra.get("fp64_no_tensor") else {}),
        },
        copy_bandwidth_bytes_per_s=m.copy_bandwidth_bytes_per_s,
        launch_overhead_s=m.launch_overhead_s,
        measured_at=m.measured_at,
        torch_version=m.torch_version,
        host=m.host,
        extra=extra,
    )
    save_measured(gpu_cache_name(device.key), m, {"kind": "gpu", "device": device.key})
    return m


def gpu_cache_name(key: str) -> str:
    """Cache key of a GPU's calibration."""
    return f"gpu-{key}"


def comparison_rows(device: Device, m: MeasuredCeilings) -> list[dict[str, object]]:
    """Datasheet vs achieved, one row per measured ceiling (for display)."""
    rows: list[dict[str, object]] = []
    for p, achieved in m.gemm_flops_per_s.items():
        sheet = device.peaks.get(p) if device.kind != "cpu" else None
        rows.append(
            {
                "ceiling": f"gemm {p}",
                "pipe": sheet.pipe if sheet else "",
                "datasheet": sheet.flops_per_s if sheet else None,
                "achieved": achieved,
                "unit": "OP/s" if p == "int8" else "FLOP/s",
            }
        )
    for p, achieved in m.gemm_flops_per_s_no_tensor.items():
        if device.kind == "cpu":  # one pipe: the same figure as the row above, no datasheet
            continue
        sheet = device.plain_peaks.get(p)
        rows.append(
            {
                "ceiling": f"gemm {p} (no tensor cores)",
                "pipe": "plain",
                "datasheet": sheet.flops_per_s if sheet else None,
                "achieved": achieved,
                "unit": "FLOP/s",
            }
        )
    rows.append(
        {
            "ceiling": "copy bandwidth",
            "pipe": "",
            "datasheet": None if device.kind == "cpu" else device.memory_bandwidth_bytes_per_s,
            "achieved": m.copy_bandwidth_bytes_per_s,
            "unit": "B/s",
        }
    )
    rows.append(
        {
            "ceiling": "launch overhead",
            "pipe": "",
            "datasheet": None,
            "achieved": m.launch_overhead_s,
            "unit": "s",
        }
    )
    return rows
