"""Counting: per-op FLOPs and bytes, attributed to the module hierarchy."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from roofline.counting.counter import count
from roofline.counting.formulas import FREE_OPS, REGISTRY, Cost, T
from roofline.counting.profile import Layer, ModelProfile, ModuleInfo, OpRecord, Totals
from roofline.errors import CountingError
from roofline.spec import ModelSpec

__all__ = [
    "FREE_OPS",
    "REGISTRY",
    "Cost",
    "Layer",
    "ModelProfile",
    "ModuleInfo",
    "OpRecord",
    "T",
    "Totals",
    "build_fake",
    "count",
    "profile",
    "profile_spec",
    "profile_spec_any",
]


def profile(
    model: torch.nn.Module,
    example_inputs: Sequence[Any] | torch.Tensor = (),
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    mode: str = "inference",
    real: bool = False,
    name: str | None = None,
) -> ModelProfile:
    """Count per-layer parameters, FLOPs and bytes of ``model`` on ``example_inputs``.

    By default the count runs on fake tensors made from the model's parameters and
    the inputs (same shapes and dtypes, no data, no arithmetic), so it is fast at any
    batch size and never touches the real weights. ``real=True`` runs the real model
    on the real inputs instead (a cross-check). ``mode="training"`` counts the forward
    and the backward pass.
    """
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    return count(model, tuple(example_inputs), example_kwargs, mode=mode, real=real, name=name)


def build_fake(spec: ModelSpec) -> tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]:
    """Build ``spec``'s model and inputs on fake tensors: no weight memory allocated.

    A constructor that reads tensor values (timm's ``linspace(...).tolist()``
    drop-path schedules, RegNet's widths) fails on a plain fake build; it is built a
    second time under :class:`~roofline.counting.tracing.BuildValues`, which
    computes small weight-free tensors for real. Only then: a model that builds on
    plain fake tensors is built exactly as before, since mixing real and fake
    tensors has edges (deep-copying a model that holds both is not reliable). If
    the second build fails too, the first build's error is raised (its cause kept, so
    callers still see a data-dependent build and suggest ``--real``), with the second
    one's appended when that is not data-dependent, unless the second reached a
    quantizer: its refusal says what the model is and how large its float weights are
    (:func:`~roofline.counting.real.quantized_build_bytes`)."""
    from roofline.counting.tracing import is_data_dependent, is_quantized_failure
    from roofline.errors import SpecError, error_line

    try:
        return _build_fake(spec, values=False)
    except SpecError as exc:
        if exc.__cause__ is None or not is_data_dependent(exc.__cause__):
            raise
        first = exc
    try:
        return _build_fake(spec, values=True)
    except Exception as exc:
        # a constructor that computes values and then quantizes: the second build
        # reached the quantizer, whose refusal carries the float model's size
        cause = exc.__cause__ if isinstance(exc, SpecError) else None
        if cause is not None and is_quantized_failure(cause):
            raise
        second = cause if cause is not None else exc
        if is_data_dependent(second):  # a value of a larger tensor: the first error says it
            raise first from first.__cause__
        # it got further and failed for a reason of its own (a fusion that insists on
        # eval mode, say): say both, keeping the first cause so --real is suggested
        raise SpecError(
            f"{first}; with those values computed, the build then failed: {error_line(second)}"
        ) from first.__cause__


def _build_fake(
    spec: ModelSpec, *, values: bool
) -> tuple[torch.nn.Module, tuple[Any, ...], dict[str, Any]]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from roofline.counting.tracing import (
        BuildValues,
        FakeDeepcopy,
        fakeify_module,
        quiet_fake_tensor_log,
        refuse_quantization,
        skip_init,
    )

    # with values, real inputs are allowed: the few small tensors the constructor
    # computed for real meet fake ones in later ops, here and in the model's forward
    fake_mode = FakeTensorMode(allow_non_fake_inputs=values)
    with (
        fake_mode,
        skip_init(),
        refuse_quantization(),
        FakeDeepcopy(),
        # a failed op is reported in one line (SpecError), not as torch's logged traceback
        quiet_fake_tensor_log(),
        warnings.catch_warnings(),
    ):
        # deep-copying a module (nn.TransformerEncoder clones its layer) touches the
        # fake weights' data pointers; torch warns, harmlessly for a count
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        with BuildValues() if values else contextlib.nullcontext():
            model = spec.build()
        args, kwargs = spec.example_inputs("cpu")
    if values and isinstance(model, torch.nn.Module):
        fakeify_module(model, fake_mode)
    return model, args, kwargs


def profile_spec_any(
    spec: ModelSpec, device: str = "cpu", *, command: str = "this command"
) -> ModelProfile:
    """:func:`profile_spec` on fake tensors, or over real tensors on ``device`` for a
    model that cannot run on fake tensors (data-dependent shapes, quantized kernels:
    :func:`~roofline.counting.tracing.needs_real`), for the commands without
    ``--real`` (bench, compare), where the counter's "try --real" would name a flag
    they do not have.

    The real build is behind the guard ``profile --real`` has
    (:func:`~roofline.counting.real.check_real_fits`); ``command`` names the command
    in its one-line refusal."""
    from roofline.counting.real import check_real_fits, quantized_build_bytes, real_build_bytes
    from roofline.counting.tracing import needs_real
    from roofline.errors import SpecError

    try:
        return profile_spec(spec)
    except (CountingError, SpecError) as exc:
        if not needs_real(exc):
            raise
        refused = quantized_build_bytes(exc)
    check_real_fits(
        real_build_bytes(spec) if refused is None else refused,
        f"{command} counts this model over real tensors (fake tensors cannot run it)",
        on=device,
        instead="count it where more memory is free",
    )
    return profile_spec(spec, real=device)


#: torch's deprecation of its quantized dtypes (quint8, qint8, qint32), warned once by
#: the first quantize_per_tensor/_per_channel a quantized model's build (torch.ao's
#: convert) or forward makes: the model's own choice, nothing to act on when counting it
QUANTIZED_DTYPE_DEPRECATION = (
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor "
    r"creation functions"
)


def profile_spec(spec: ModelSpec, *, real: bool | str = False) -> ModelProfile:
    """Build the model a spec describes and count it.

    On fake tensors by default. ``real=True`` (or a device name, ``"cpu"`` or
    ``"cuda"``) builds the real model on that device and counts over real tensors
    (without torch's quantized-dtype deprecation warning, which a quantized model,
    the usual reason for ``--real``, raises).
    """
    if not real:
        model, args, kwargs = build_fake(spec)
        return _count_spec(spec, model, args, kwargs, real=False)
    device = torch.device("cpu" if real is True else real)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CountingError(
            "--real cuda: CUDA is not available to torch here; use --real cpu, or count "
            "on fake tensors (the default)"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", QUANTIZED_DTYPE_DEPRECATION, UserWarning)
        with device:
            model = spec.build()
        args, kwargs = spec.example_inputs(device)
        return _count_spec(spec, model, args, kwargs, real=True)


def _count_spec(spec: ModelSpec, model: Any, args: Any, kwargs: Any, *, real: bool) -> ModelProfile:
    info = {"spec_format": spec.format, **dict(spec.info)}
    if spec.source is not None:
        info["source"] = str(spec.source)
    return count(model, args, kwargs, mode=spec.mode, real=real, name=spec.name, info=info)
