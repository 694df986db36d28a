"""Micro-benchmarks shared by the host-CPU measurement and CUDA calibration.

Each returns the *best* of several timed repeats (the honest estimate of a peak: slower
runs are interference, never the hardware going faster than it can). Timing uses
``time.perf_counter`` around the work and a ``sync`` call (``torch.cuda.synchronize``
on CUDA), so the same code measures either device. Python's garbage collector is off
inside every timed loop (:func:`gc_paused`).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

Sync = Callable[[], None]


def _nosync() -> None:
    return None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's garbage collector off for a timed region, as ``timeit`` does: a
    collection that falls inside one timed run adds its pause to that run alone. Its
    previous state comes back afterwards, also when the region raises (a collector the
    caller had switched off stays off)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def best_time(
    fn: Callable[[], object], repeats: int, sync: Sync = _nosync, inner: int = 1
) -> float:
    """Seconds per call of ``fn``: one warm-up, then the best of ``repeats`` timings of
    ``inner`` back-to-back calls each."""
    fn()
    sync()
    best = float("inf")
    with gc_paused():
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            for _ in range(max(1, inner)):
                fn()
            sync()
            best = min(best, (time.perf_counter() - t0) / max(1, inner))
    return best


def gemm_flops_per_s(
    n: int, dtype: torch.dtype, device: torch.device | str, repeats: int, sync: Sync = _nosync
) -> float:
    """Achieved FLOP/s of an ``n×n @ n×n`` matrix product (2·n³ FLOPs)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    t = best_time(lambda: torch.mm(a, b, out=out), repeats, sync)
    return 2.0 * n**3 / t


def conv_flops_per_s(
    shape: tuple[int, int, int, int],
    kernel: int,
    device: torch.device | str,
    repeats: int,
    sync: Sync = _nosync,
    dtype: torch.dtype = torch.float32,
) -> float:
    """Achieved FLOP/s of a dense ``kernel×kernel`` convolution on an ``(n, c, h, w)``
    input of ``dtype`` with ``c`` output channels, padded to keep the size:
    2·n·c·h·w·c·k² FLOPs.

    On CPUs the convolution library (oneDNN) can outrun the BLAS behind ``torch.mm``
    (MKL skips AVX-512 on AMD processors), so a CPU's dense ceiling needs both."""
    n, c, h, w = shape
    x = torch.randn(n, c, h, w, device=device).to(dtype)
    weight = torch.randn(c, c, kernel, kernel, device=device).to(dtype)
    pad = kernel // 2
    t = best_time(lambda: torch.nn.functional.conv2d(x, weight, padding=pad), repeats, sync)
    return 2.0 * n * c * h * w * c * kernel * kernel / t


def int8_gemm_ops_per_s(
    n: int, device: torch.device | str, repeats: int, sync: Sync = _nosync
) -> float:
    """Achieved op/s of an int8 ``n×n @ n×n`` product through ``torch._int_mm``."""
    a = torch.randint(-8, 8, (n, n), device=device, dtype=torch.int8)
    b = torch.randint(-8, 8, (n, n), device=device, dtype=torch.int8)
    t = best_time(lambda: torch._int_mm(a, b), repeats, sync)
    return 2.0 * n**3 / t


def fp8_gemm_flops_per_s(
    n: int, device: torch.device | str, repeats: int, sync: Sync = _nosync
) -> float:
    """Achieved FLOP/s of an fp8 (e4m3) product through ``torch._scaled_mm``."""
    a = torch.randn(n, n, device=device).to(torch.float8_e4m3fn)
    b = torch.randn(n, n, device=device).to(torch.float8_e4m3fn).t()  # column-major
    one = torch.ones((), device=device, dtype=torch.float32)
    t = best_time(
        lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16),
        repeats,
        sync,
    )
    return 2.0 * n**3 / t


def copy_bytes_per_s(
    nbytes: int, device: torch.device | str, repeats: int, sync: Sync = _nosync
) -> float:
    """Achieved bandwidth of a large copy: bytes read + bytes written per second."""
    n = max(1, nbytes // 4)
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    t = best_time(lambda: dst.copy_(src), repeats, sync)
    return 2.0 * n * 4 / t


#: |speed drift| above which a measurement says the machine changed under it: the
#: latency calibration's reference GEMM (``roofline.latency.calibrate.drift_text``)
#: and the ceilings' copy bandwidth, timed at the start and at the end of each
DRIFT_WARN = 0.10

#: ``MeasuredCeilings.extra`` key of the copy bandwidth at the start and at the end
COPY_RUNS = "copy_bytes_per_s_start_end"


def speed_words(ratio: float) -> str:
    """``now / then`` of a reference time in words: "12% slower", "3.1x slower"."""
    if ratio < 1:
        return f"{1 / ratio - 1:.0%} faster" if 1 / ratio < 2 else f"{1 / ratio:.1f}x faster"
    return f"{ratio - 1:.0%} slower" if ratio < 2 else f"{ratio:.1f}x slower"


def copy_drift(start_bps: float, end_bps: float) -> float:
    """How much slower the last copy ran than the first, as the reference GEMM's drift
    is told: end time / start time − 1 (positive: slower at the end)."""
    return start_bps / end_bps - 1.0


def copy_drift_text(extra: Mapping[str, Any]) -> str | None:
    """A warning when the copy bandwidth of a ceilings measurement (``extra``: its
    ``MeasuredCeilings.extra``), timed at its start and at its end, moved by more
    than :data:`DRIFT_WARN` between the two; None when they agree, or for a record
    of a version that timed it once."""
    runs = extra.get(COPY_RUNS)
    if not runs or len(runs) != 2 or min(runs) <= 0:
        return None
    start, end = float(runs[0]), float(runs[1])
    drift = copy_drift(start, end)
    if abs(drift) <= DRIFT_WARN:
        return None
    return (
        f"the copy bandwidth changed during the measurement: {start / 1e9:.1f} GB/s at the "
        f"start, {end / 1e9:.1f} GB/s at the end ({speed_words(1.0 + drift)}; other load, "
        "or clocks); the faster is "
        "stored, but measure again on a quiet machine for a figure to trust"
    )


def launch_overhead_s(
    device: torch.device | str, repeats: int, sync: Sync = _nosync, inner: int = 200
) -> float:
    """Seconds per tiny op issued back to back (kernel launch / op dispatch cost)."""
    x = torch.zeros(1, device=device)
    return best_time(lambda: x.add_(1.0), repeats, sync, inner=inner)
