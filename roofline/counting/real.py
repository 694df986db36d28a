"""The memory guard for building a model for real.

Everything that builds a spec's model with real weights (``profile --real`` and
``--compare-counters``, the real-tensor count ``compare`` and ``bench`` fall back to,
``vram``'s real-tensor trace of a quantized model) asks :func:`check_real_fits` first,
so a 7B-parameter spec cannot exhaust the machine. The model is sized on fake tensors
(:func:`real_build_bytes`), without allocating its weights or running it.
"""

from __future__ import annotations

import os
from typing import Any

from roofline.errors import RooflineError, SpecError


def available_memory(on: str = "cpu") -> int:
    """Free memory in bytes where a real model would be built (``cpu``: this machine's
    RAM; ``cuda``: the current GPU's), or 0 when it cannot be told."""
    if on == "cuda":
        try:
            import torch

            return int(torch.cuda.mem_get_info()[0]) if torch.cuda.is_available() else 0
        except RuntimeError:  # pragma: no cover - a broken CUDA set-up
            return 0
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0


def real_build_bytes(spec: Any) -> int:
    """Bytes of the parameters of ``spec``'s model, built on fake tensors (no memory
    allocated, no forward run), counted as the profile's ``param_bytes`` is.

    A quantized model cannot be built on fake tensors: its builder is stopped where it
    starts quantizing (:func:`~roofline.counting.tracing.refuse_quantization`), and the
    float model it was quantizing is sized instead (parameters and buffers), which its
    real build holds before it quantizes. 0 when the model cannot be sized (a
    constructor that reads tensor values).
    """
    from roofline.counting import build_fake
    from roofline.counting.tracing import needs_real

    try:
        model, _, _ = build_fake(spec)
    except SpecError as exc:
        refused = quantized_build_bytes(exc)
        if refused is not None:
            return refused
        if exc.__cause__ is not None and needs_real(exc.__cause__):
            return 0  # cannot be sized without building it for real
        raise
    return sum(p.numel() * p.element_size() for p in model.parameters())


def quantized_build_bytes(exc: BaseException) -> int | None:
    """The bytes of the float model a quantized model's fake build was quantizing when
    it was refused (``exc`` is that build's error), or None if ``exc`` does not say."""
    from roofline.counting.tracing import QuantizedOnFakeError, error_chain

    for e in error_chain(exc):
        if isinstance(e, QuantizedOnFakeError) and e.float_weight_bytes is not None:
            return e.float_weight_bytes
    return None


def check_real_fits(
    param_bytes: int, what: str, *, on: str = "cpu", instead: str, extra_bytes: int = 0
) -> None:
    """Refuse, with one line, to build a real model whose weights take ``param_bytes``
    when twice that (plus ``extra_bytes``, e.g. the activations a real trace will hold)
    would take more than half the free memory (:func:`available_memory` ``on``).

    ``what`` starts the message (``"--real runs the real model"``); ``instead`` ends
    it with what the user can do.
    """
    from roofline.units import gib

    need = param_bytes * 2 + extra_bytes
    avail = available_memory(on)
    if avail and need > avail * 0.5:
        where = "free" if on == "cpu" else f"free on {on}"
        raise RooflineError(
            f"{what}, which needs about {gib(need)} but only {gib(avail)} is {where}; {instead}"
        )
