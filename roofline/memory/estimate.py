"""VRAM estimates: what a batch needs, which devices it fits, the largest batch that fits.

Terms (all in bytes; docs/vram.md derives each one):

* ``weights``: parameters and buffers at the dtype they are stored in (fp32 under AMP:
  PyTorch's autocast keeps fp32 parameters, which are the "master weights").
* ``gradients``: one per *trainable* parameter, at the parameter's dtype.
* ``optimizer``: the optimizer's state per trainable parameter, at the parameter's
  dtype as PyTorch creates it (``zeros_like(p)``): none/SGD 0, momentum 1 buffer,
  Adam/AdamW 2 (exp_avg, exp_avg_sq).
* ``activations``: training: what is alive at the end of the forward (tensors saved
  for backward, the outputs, the input batch); inference: the peak of live tensors.
* ``workspace``: temporaries on top: backward temporaries at the peak, the foreach
  optimizer's temporary, cuBLAS workspaces, autocast's low-precision weight copies.
* ``block_rounding``: the weights, gradients and optimizer state (and the step's
  temporary when it makes the peak) in whole 512-byte allocator blocks, beyond their
  exact bytes above (traced tensors are counted in blocks already).
* ``not_live_at_peak`` (subtracted): gradients not yet created and saved activations
  already freed when the peak happens; the parts above are sizes, the total is the
  peak the trace measured.
* ``overhead``: outside PyTorch's allocated bytes: the CUDA context and the caching
  allocator's segment rounding.

``total = weights + gradients + optimizer + activations + workspace + block_rounding
- not_live_at_peak + overhead``, and ``total_with_headroom = total / headroom``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import torch

from roofline.errors import MemoryEstimateError, RooflineError
from roofline.memory.tracker import (
    Trace,
    blocks,
    is_block_stack,
    is_frozen,
    split_prefixes,
    trace,
)
from roofline.units import binary_bytes, dtype_name, parse_count, parse_dtype

MODES = ("inference", "training")
OPTIMIZERS = ("none", "sgd", "momentum", "adam", "adamw")

#: state tensors the optimizer keeps per trainable parameter (torch.optim creates each
#: with ``torch.zeros_like(param)``, so at the parameter's dtype)
STATE_TENSORS = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}

#: parameter-sized temporaries of the step in torch.optim's default ``foreach``
#: implementation: Adam/AdamW compute ``exp_avg_sq_sqrt = _foreach_sqrt(exp_avg_sq)``
#: for every parameter at once (torch/optim/adam.py, ``_multi_tensor_adam``);
#: SGD with or without momentum updates in place. ``fused=True`` needs none.
STEP_TEMPORARIES = {"none": 0, "sgd": 0, "momentum": 0, "adam": 1, "adamw": 1}

#: default size of the CUDA context (driver, kernels, cuBLAS/cuDNN handles) outside
#: PyTorch's allocator. Reports range from ~300 MiB (CUDA >= 12.2 lazy module loading)
#: to 700+ MiB (older CUDA, eager loading); see docs/vram.md. Override per run.
CUDA_CONTEXT_BYTES = 512 * 2**20

#: cuBLAS workspace PyTorch allocates through its caching allocator, per (handle,
#: stream), aten/src/ATen/cuda/CublasHandlePool.cpp: ``:4096:2:16:8`` (4 MiB x 2 +
#: 16 KiB x 8 = 8,519,680 bytes) before Hopper, ``:4096:8`` (32 MiB) on sm90+.
CUBLAS_WORKSPACE_BYTES = 4096 * 1024 * 2 + 16 * 1024 * 8
CUBLAS_WORKSPACE_BYTES_SM90 = 4096 * 1024 * 8

DEFAULT_HEADROOM = 0.8  # seed 001: size memory for 80 % utilisation

#: DDP copies gradients into flat communication buckets (``gradient_as_bucket_view``
#: is False by default): one more gradient-sized buffer per device.
DDP_BUCKET_COPIES = 1


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Assumptions:
    """What an estimate assumed; every field is shown beside the numbers."""

    mode: str
    dtype: str  #: parameter dtype as stored
    compute_dtype: str  #: the dtype the maths runs in (differs under AMP)
    optimizer: str
    amp: bool
    batch: int | None
    headroom: float
    frozen: tuple[str, ...] = ()
    checkpoint: tuple[str, ...] = ()
    cuda_context_bytes: int = CUDA_CONTEXT_BYTES
    cublas_workspace_bytes: int = CUBLAS_WORKSPACE_BYTES
    input_shape: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "dtype": self.dtype,
            "compute_dtype": self.compute_dtype,
            "optimizer": self.optimizer,
            "amp": self.amp,
            "batch": self.batch,
            "headroom": self.headroom,
            "frozen": list(self.frozen),
            "checkpoint": list(self.checkpoint),
            "cuda_context_bytes": self.cuda_context_bytes,
            "cublas_workspace_bytes": self.cublas_workspace_bytes,
            "input_shape": list(self.input_shape) if self.input_shape else None,
        }


@dataclass(frozen=True)
class PhasePeak:
    """The allocated bytes at the peak of one phase of the step, split by what
    sharding (FSDP/ZeRO-3) divides: ``sharded`` (parameters, the gradients and
    optimizer state live then, the step's temporary) and ``unsharded`` (activations,
    other temporaries, the input batch, cuBLAS workspaces). ``sharded + unsharded`` is
    the phase's allocated peak; the estimate's ``allocated`` is the largest phase."""

    phase: str  #: "forward/backward" (or "forward" for inference) or "optimizer step"
    sharded: int
    unsharded: int
    gathers: bool  #: the phase runs modules, so FSDP gathers their full parameters

    @property
    def allocated(self) -> int:
        return self.sharded + self.unsharded

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "sharded": self.sharded,
            "unsharded": self.unsharded,
            "allocated": self.allocated,
        }


@dataclass(frozen=True)
class MemoryEstimate:
    """A VRAM breakdown in bytes. ``total`` is the device-level peak we predict;
    ``allocated`` is the part PyTorch's allocator counts (``max_memory_allocated``)."""

    name: str
    source: str  #: "params" (a count only) or "model" (traced)
    params: int
    trainable_params: int
    weights: int
    gradients: int
    optimizer: int
    activations: int | None  #: None: not estimated (see notes)
    workspace: int
    not_live_at_peak: int
    overhead: int
    assumptions: Assumptions
    cuda_context: int = 0
    allocator_slack: int = 0
    #: the 512-byte allocator blocks of the weights, gradients, optimizer state (and
    #: the step's temporary when it makes the peak) beyond their exact bytes: part of
    #: ``allocated``, since ``max_memory_allocated`` counts whole blocks
    block_rounding: int = 0
    peak_module: str | None = None
    peak_phase: str | None = None
    naive_seed: int | None = None  #: seed 001's (input + output + params x 4) / 0.8
    notes: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: the allocated peak of each phase (their maximum is ``allocated``)
    phases: tuple[PhasePeak, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))

    @property
    def allocated(self) -> int:
        """Predicted ``torch.cuda.max_memory_allocated`` (no context, no slack)."""
        return (
            self.weights
            + self.gradients
            + self.optimizer
            + (self.activations or 0)
            + self.workspace
            + self.block_rounding
            - self.not_live_at_peak
        )

    @property
    def total(self) -> int:
        return self.allocated + self.overhead

    @property
    def total_with_headroom(self) -> int:
        return memory_needed(self.total, self.assumptions.headroom)

    @property
    def model_state(self) -> int:
        """Weights + gradients + optimizer state: what sharding divides."""
        return self.weights + self.gradients + self.optimizer

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "activations": self.activations,
            "workspace": self.workspace,
            "block_rounding": self.block_rounding,
            "not_live_at_peak": self.not_live_at_peak,
            "overhead": self.overhead,
            "overhead_detail": {
                "cuda_context": self.cuda_context,
                "allocator_slack": self.allocator_slack,
            },
            "allocated": self.allocated,
            "total": self.total,
            "total_with_headroom": self.total_with_headroom,
            "peak_module": self.peak_module,
            "peak_phase": self.peak_phase,
            "naive_seed_formula": self.naive_seed,
            "assumptions": self.assumptions.as_dict(),
            "notes": list(self.notes),
            "phases": [p.as_dict() for p in self.phases],
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class DeviceFit:
    """Whether an estimate fits one device, and the largest batch that does."""

    device: str  #: display name
    key: str
    memory_bytes: int
    required_bytes: int  #: total / headroom
    fits: bool
    max_batch: int | None = None  #: None when not asked; 0 when even batch 1 fails
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "key": self.key,
            "memory_bytes": self.memory_bytes,
            "required_bytes": self.required_bytes,
            "fits": self.fits,
            "max_batch": self.max_batch,
            "note": self.note,
        }


@dataclass(frozen=True)
class MaxBatch:
    """The solved largest batch and how it was found."""

    batch: int  #: 0 if batch 1 does not fit
    budget: int  #: bytes the total may use (memory x headroom: :func:`headroom_budget`)
    fixed: float  #: affine fit: total(b) = fixed + per_sample * b
    per_sample: float
    affine: bool  #: True if the third measurement agreed with the fit
    measurements: tuple[tuple[int, int], ...]  #: (batch, total) pairs measured
    estimate: MemoryEstimate | None  #: at ``batch`` (None if 0)
    #: the search stopped at its limit with room to spare: at least ``batch`` fits
    capped: bool = False


@dataclass(frozen=True)
class ParallelPlan:
    """How many devices a training run needs under one strategy."""

    strategy: str  #: "ddp" or "fsdp"
    devices: int | None  #: None: cannot fit at any count tried
    per_device_bytes: int | None  #: total / headroom on each device at that count
    per_device_batch: int | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "devices": self.devices,
            "per_device_bytes": self.per_device_bytes,
            "per_device_batch": self.per_device_batch,
            "note": self.note,
        }


# --------------------------------------------------------------------------- checks


def check_optimizer(name: str) -> str:
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        raise MemoryEstimateError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    return key


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise MemoryEstimateError(f"unknown mode {mode!r}: use inference or training")
    return mode


def _check_float_dtype(dtype: str | torch.dtype) -> torch.dtype:
    try:
        d = parse_dtype(dtype)
    except RooflineError as exc:
        raise MemoryEstimateError(str(exc)) from None
    if not d.is_floating_point:
        raise MemoryEstimateError(
            f"dtype {dtype_name(d)} is not a floating-point type: use fp32, fp16, bf16 or fp8"
        )
    return d


def _check_headroom(headroom: float) -> float:
    if not (0 < headroom <= 1):
        raise MemoryEstimateError(
            f"headroom must be in (0, 1], got {headroom}: the share of memory you let "
            "the run use (0.8 = 80 %)"
        )
    return float(headroom)


def _headroom_ratio(headroom: float) -> Fraction:
    """``headroom`` as the decimal it was written as (``0.7`` is 7/10, not the binary
    float just under it), so that sizes divided by it or multiplied by it are exact."""
    return Fraction(repr(_check_headroom(headroom)))


def memory_needed(total: int, headroom: float) -> int:
    """``ceil(total / headroom)``, the memory a total needs under ``headroom``, in exact
    arithmetic: 40,747 B at 0.7 needs 58,210 B (in floating point 40,747 / 0.7 comes
    out as 58,210.00000000001, and would round up to 58,211)."""
    r = _headroom_ratio(headroom)
    return -(-int(total) * r.denominator // r.numerator)


def _resolve_dtypes(dtype: str | torch.dtype, amp: bool) -> tuple[torch.dtype, torch.dtype]:
    """(stored dtype, compute dtype). AMP keeps fp32 parameters and computes in
    ``dtype`` if it is 16-bit, else in fp16 (``torch.autocast``'s CUDA default)."""
    d = _check_float_dtype(dtype)
    if not amp:
        return d, d
    compute = d if d in (torch.float16, torch.bfloat16) else torch.float16
    return torch.float32, compute


def _amp_note(dtype: str | torch.dtype, amp: bool) -> list[str]:
    """A note when ``dtype`` cannot be autocast's compute dtype (fp8: autocast has no
    fp8 mode), saying what AMP uses instead."""
    d = _check_float_dtype(dtype)
    if not amp or d in (torch.float16, torch.bfloat16, torch.float32):
        return []
    return [
        f"AMP with dtype {dtype_name(d)}: torch.autocast has no {dtype_name(d)} mode; "
        "AMP keeps fp32 parameters and autocasts to float16 (bfloat16 only when bf16 "
        "is the dtype asked for)"
    ]


#: the most parameters ``parse_params`` takes: 10^15 (a thousand times the largest
#: published models' few trillion; 4 PB of fp32 weights), so a slipped exponent
#: (``--params 7e90``) is refused instead of sized
MAX_PARAMS = 10**15


def parse_params(text: str | int | float) -> int:
    """``100M``, ``7B``, ``1.5e9``, ``350k`` -> an integer parameter count."""
    try:
        count = parse_count(text, "parameter count")
    except RooflineError as exc:
        raise MemoryEstimateError(str(exc)) from None
    if count > MAX_PARAMS:
        raise MemoryEstimateError(
            f"invalid parameter count {text!r}: more than {MAX_PARAMS:.0e} parameters "
            "(the largest published models have a few trillion); check the suffix or "
            "exponent (7B, 1.5e9)"
        )
    return count


def naive_seed_formula(params: int, input_bytes: int = 0, output_bytes: int = 0) -> int:
    """Seed 001's sizing: (input + output + params x 4 bytes) / 0.8."""
    return math.ceil((input_bytes + output_bytes + params * 4) / 0.8)


def _short_count(n: int) -> str:
    """A parameter count as people write it: 350K, 100M, 7B, 1.5B, 1T. A count that
    rounds up to 1000 of a unit takes the next one (999,999 is 1M, not 1e+03K)."""
    units = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K"))
    for i, (scale, suffix) in enumerate(units):
        if n >= scale:
            text = f"{n / scale:.3g}"
            if float(text) < 1000:
                return f"{text}{suffix}"
            if i == 0:  # past the largest unit: whole T
                return f"{n / scale:.0f}{suffix}"
            bigger, bigger_suffix = units[i - 1]
            return f"{n / bigger:.3g}{bigger_suffix}"
    return str(n)


def _element_size(d: torch.dtype) -> int:
    return torch.empty((), dtype=d).element_size()


def cublas_workspace_for(device: Any) -> int:
    """The cuBLAS workspace PyTorch allocates per handle on ``device``: 32 MiB on
    NVIDIA sm90+ (Hopper, Blackwell), else the pre-Hopper figure (also for devices
    whose compute capability is not known); 0 on a CPU."""
    if getattr(device, "kind", "gpu") == "cpu":
        return 0
    vendor = str(getattr(device, "vendor", "") or "").strip().lower()
    cap = str(getattr(device, "compute_capability", "") or "")
    try:
        major = int(cap.split(".")[0])
    except ValueError:
        return CUBLAS_WORKSPACE_BYTES
    return cublas_workspace_bytes(major) if vendor == "nvidia" else CUBLAS_WORKSPACE_BYTES


def cuda_context_for(device: Any) -> int:
    """The CUDA context assumed on ``device``: :data:`CUDA_CONTEXT_BYTES` on a GPU,
    0 on a CPU (no CUDA there)."""
    return 0 if getattr(device, "kind", "gpu") == "cpu" else CUDA_CONTEXT_BYTES


def cublas_workspace_bytes(major: int) -> int:
    """The cuBLAS workspace per handle for an NVIDIA GPU of compute capability
    ``major``.x (``torch.cuda.get_device_capability()[0]``)."""
    return CUBLAS_WORKSPACE_BYTES_SM90 if major >= 9 else CUBLAS_WORKSPACE_BYTES


def _gpu_defaults(
    cuda_context_bytes: int | None, cublas_workspace_bytes: int | None, *, gpu: bool
) -> tuple[int, int]:
    """The CUDA context and cuBLAS workspace to count, where None asks for the
    default: :data:`CUDA_CONTEXT_BYTES` and :data:`CUBLAS_WORKSPACE_BYTES` for a model
    that runs on a GPU, 0 for one that cannot (``gpu`` False: a quantized model)."""
    return (
        (CUDA_CONTEXT_BYTES if gpu else 0) if cuda_context_bytes is None else cuda_context_bytes,
        (CUBLAS_WORKSPACE_BYTES if gpu else 0)
        if cublas_workspace_bytes is None
        else cublas_workspace_bytes,
    )


def _context_note(cuda_context_bytes: int) -> str:
    if not cuda_context_bytes:
        return (
            "no CUDA context counted (a CPU, a quantized model, or --context-mib 0); the "
            "allocator rounding is that of PyTorch's CUDA caching allocator"
        )
    return (
        f"CUDA context assumed {cuda_context_bytes / 2**20:.0f} MiB (varies with GPU, "
        "driver and CUDA version; see docs/vram.md)"
    )


def _cublas(training: bool, workspace: int) -> int:
    # one workspace per (thread, stream): the forward runs on the Python thread, the
    # backward on the autograd engine's device thread, so training holds two
    return workspace * (2 if training else 1)


# --------------------------------------------------------------------------- from a count


def estimate_from_params(
    params: int | str,
    *,
    batch: int = 1,
    mode: str = "inference",
    dtype: str | torch.dtype = "fp32",
    optimizer: str = "adamw",
    amp: bool = False,
    trainable_params: int | str | None = None,
    input_shape: Sequence[int] | None = None,
    headroom: float = DEFAULT_HEADROOM,
    cuda_context_bytes: int | None = None,
    cublas_workspace_bytes: int | None = None,
    name: str | None = None,
) -> MemoryEstimate:
    """Estimate from a parameter count: weights, gradients and optimizer state exactly;
    activations only from ``input_shape`` (one sample, e.g. ``(3, 224, 224)``) by the
    stated rule, else left out with a note.

    Hand-worked: 100M parameters, AdamW, AMP, training -> weights 4 B (fp32 master
    parameters) + gradients 4 B + exp_avg 4 B + exp_avg_sq 4 B = 16 B per parameter,
    the same 16 B as the mixed-precision accounting of the ZeRO paper (2 + 2 + 12).
    """
    cuda_context_bytes, cublas_workspace_bytes = _gpu_defaults(
        cuda_context_bytes, cublas_workspace_bytes, gpu=True
    )
    p = parse_params(params) if isinstance(params, str) else int(params)
    if p < 1:
        raise MemoryEstimateError(f"invalid parameter count {params!r}: must be positive")
    mode = check_mode(mode)
    optimizer = check_optimizer(optimizer)
    headroom = _check_headroom(headroom)
    if batch < 1:
        raise MemoryEstimateError(f"batch must be a positive integer, got {batch}")
    stored, compute = _resolve_dtypes(dtype, amp)
    training = mode == "training"
    trainable = (
        p
        if trainable_params is None
        else (
            parse_params(trainable_params)
            if isinstance(trainable_params, str)
            else int(trainable_params)
        )
    )
    if trainable > p:
        raise MemoryEstimateError("trainable parameters cannot exceed the parameter count")
    ws, cs = _element_size(stored), _element_size(compute)
    weights = p * ws
    gradients = trainable * ws if training else 0
    optimizer_bytes = trainable * ws * STATE_TENSORS[optimizer] if training else 0
    notes: list[str] = _amp_note(dtype, amp)
    step_temp = trainable * ws * STEP_TEMPORARIES[optimizer] if training else 0
    amp_copies = trainable * cs if (training and amp) else 0
    workspace = _cublas(training, cublas_workspace_bytes) + max(step_temp, amp_copies)
    if step_temp:
        notes.append(
            f"workspace includes the {optimizer} step's foreach temporary "
            f"(one parameter-sized buffer); fused=True avoids it"
        )
    if amp_copies and amp_copies >= step_temp:
        notes.append(
            "workspace includes autocast's low-precision weight copies (kept for backward)"
        )
    activations: int | None = None
    input_bytes = output_bytes = 0
    shape = tuple(int(d) for d in input_shape) if input_shape else None
    if shape:
        if any(d < 1 for d in shape):
            raise MemoryEstimateError(f"input shape must be positive integers, got {shape}")
        input_bytes = batch * math.prod(shape) * cs
        output_bytes = input_bytes
        if training:
            notes.append(
                "activations for training are not estimated from a count: they depend on "
                "every layer's output size; give a model spec to trace them"
            )
        else:
            activations = input_bytes + output_bytes
            notes.append(
                "activations by rule of thumb (the seed's): input batch + an output of the "
                "same size; a lower bound, a model spec traces the real peak"
            )
    else:
        notes.append(
            "activations left out: a parameter count says nothing about layer outputs; "
            "give --input SHAPE for a rule-of-thumb figure or a model spec to trace them"
        )
    notes.append(_context_note(cuda_context_bytes))
    return MemoryEstimate(
        name=name or f"{_short_count(p)}-parameter model",
        source="params",
        params=p,
        trainable_params=trainable if training else 0,
        weights=weights,
        gradients=gradients,
        optimizer=optimizer_bytes,
        activations=activations,
        workspace=workspace,
        not_live_at_peak=0,
        overhead=cuda_context_bytes,
        cuda_context=cuda_context_bytes,
        allocator_slack=0,
        assumptions=Assumptions(
            mode=mode,
            dtype=dtype_name(stored),
            compute_dtype=dtype_name(compute),
            optimizer=optimizer if training else "none",
            amp=amp,
            batch=batch,
            headroom=headroom,
            cuda_context_bytes=cuda_context_bytes,
            cublas_workspace_bytes=cublas_workspace_bytes,
            input_shape=shape,
        ),
        detail={"step_temporary_in_total": step_temp if step_temp >= amp_copies else 0},
        phases=_count_phases(
            training,
            state=weights + gradients + optimizer_bytes,
            step_temp=step_temp,
            activations=activations or 0,
            amp_copies=amp_copies,
            cublas=_cublas(training, cublas_workspace_bytes),
        ),
        naive_seed=naive_seed_formula(
            p,
            batch * math.prod(shape) * 4 if shape else 0,
            batch * math.prod(shape) * 4 if shape else 0,
        ),
        notes=tuple(notes),
    )


def _count_phases(
    training: bool, *, state: int, step_temp: int, activations: int, amp_copies: int, cublas: int
) -> tuple[PhasePeak, ...]:
    """Phases of an estimate from a count: the forward/backward holds the model state,
    the activations and autocast's weight copies; the step holds the state and its
    temporary (activations and autocast's copies are gone by then)."""
    if not training:
        return (PhasePeak("forward", state, activations + cublas, True),)
    return (
        PhasePeak("forward/backward", state, activations + amp_copies + cublas, True),
        PhasePeak("optimizer step", state + step_temp, cublas, False),
    )


# --------------------------------------------------------------------------- from a model


def estimate_from_model(
    model: torch.nn.Module,
    inputs: Sequence[Any] | torch.Tensor = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    mode: str = "inference",
    dtype: str | torch.dtype | None = None,
    optimizer: str = "adamw",
    amp: bool = False,
    freeze: str | int | Sequence[str] | None = None,
    checkpoint: str | Sequence[str] | None = None,
    headroom: float = DEFAULT_HEADROOM,
    cuda_context_bytes: int | None = None,
    cublas_workspace_bytes: int | None = None,
    name: str | None = None,
) -> MemoryEstimate:
    """Trace ``model`` on fake tensors and build the breakdown (see module docstring).

    ``dtype`` None keeps the model's own dtype. ``freeze``: module names, or an integer
    N for the first N blocks (YOLOv5's ``--freeze N``). ``checkpoint``: module names
    whose forward is recomputed in backward (a container: each of its children).
    """
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    mode = check_mode(mode)
    optimizer = check_optimizer(optimizer)
    headroom = _check_headroom(headroom)
    packed = _packed_weights(model)
    if packed:
        _check_quantized(model, mode, dtype, amp)
    # a quantized model runs on the CPU only: no CUDA context or cuBLAS by default
    cuda_context_bytes, cublas_workspace_bytes = _gpu_defaults(
        cuda_context_bytes, cublas_workspace_bytes, gpu=not packed
    )
    own = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    stored, compute = _resolve_dtypes(dtype if dtype is not None else own, amp)
    frozen = split_prefixes(model, freeze) if freeze not in (None, "", ()) else ()
    ckpt = (
        split_prefixes(model, checkpoint, "--checkpoint")
        if checkpoint not in (None, "", ())
        else ()
    )
    notes = _amp_note(dtype if dtype is not None else own, amp)
    if mode == "inference" and (frozen or ckpt):
        # validated above (a bad name is still an error), but nothing is trained
        ignored = " and ".join(w for w, v in (("freeze", frozen), ("checkpoint", ckpt)) if v)
        notes.append(
            f"{ignored} ignored in inference: nothing is trained and nothing is saved "
            "for backward (use training mode)"
        )
        frozen = ckpt = ()
    if amp:
        # AMP keeps fp32 parameters (the master weights) and autocasts the maths
        trace_dtype = None if own == torch.float32 else torch.float32
    else:
        trace_dtype = None if stored == own else stored
    tr, facts = trace(
        model,
        tuple(inputs),
        kwargs,
        mode=mode,
        dtype=trace_dtype,
        amp_dtype=compute if amp else None,
        frozen=frozen,
        checkpoint=ckpt,
        # quantized kernels run on real (CPU) tensors only
        real=bool(packed),
    )
    if packed:
        facts = {**facts, "packed": [(p.numel, p.nbytes) for p in packed]}
        # the weights are int8 (the packed ones' dtype, as `profile` reports it)
        stored = compute = packed[0].weight.dtype
        notes.append(QUANTIZED_NOTE)
    rnns = sorted({type(m).__name__ for m in model.modules() if isinstance(m, torch.nn.RNNBase)})
    if rnns and mode == "training":
        notes.append(
            f"{'/'.join(rnns)}: cuDNN's training reserve for the fused RNN kernels is "
            "not modelled, so on a GPU expect more than predicted (the CPU LSTM's "
            "oneDNN workspace is counted, sized by one real run of its kernel; "
            "see docs/vram.md)"
        )
    return _from_trace(
        tr,
        facts,
        name=name or type(model).__name__,
        mode=mode,
        stored=stored,
        compute=compute,
        optimizer=optimizer,
        amp=amp,
        batch=_batch_of(inputs, kwargs),
        headroom=headroom,
        frozen=frozen,
        checkpoint=ckpt,
        cuda_context_bytes=cuda_context_bytes,
        cublas_workspace_bytes=cublas_workspace_bytes,
        notes=notes,
    )


#: the note on every estimate of a quantized model
QUANTIZED_NOTE = (
    "quantized: the weights are the packed int8 params (1 byte an element) and their "
    "fp32 biases, as `profile` counts them; traced over real tensors on the CPU, since "
    "quantized kernels have no fake-tensor implementation"
)

#: the note for a quantized model fitted to a GPU
QUANTIZED_GPU_NOTE = (
    "quantized kernels run on the CPU only in PyTorch (no CUDA backend for "
    "quantized::conv2d, quantized::linear ...): this model cannot run on a GPU as it "
    "is; the fit shows what its tensors would take there"
)


def _packed_weights(model: torch.nn.Module) -> list[Any]:
    """The :class:`~roofline.counting.quantized.Packed` weights of a quantized model's
    conv and linear layers (empty for a float model)."""
    from roofline.counting.quantized import packed_params, unpack

    return [unpack(obj) for _, obj in packed_params(model)]


def _check_quantized(
    model: torch.nn.Module, mode: str, dtype: str | torch.dtype | None, amp: bool
) -> None:
    """What a quantized model cannot be asked: a cast, autocast, or a training step
    when no float parameter is left to train (its packed weights have no gradient)."""
    if dtype is not None or amp:
        raise MemoryEstimateError(
            f"{'--amp' if amp else '--dtype'} does not apply to a quantized model: its "
            "weights are packed int8 params and its kernels run in int8; drop the option"
        )
    if mode == "training" and not any(p.requires_grad for p in model.parameters()):
        raise MemoryEstimateError(
            "a quantized model cannot be traced in training: its weights are packed int8 "
            "params, without gradients, and its kernels have no backward; quantization-"
            "aware training trains the float model (size its spec with --mode training), "
            "or use --mode inference"
        )


def estimate_from_spec(
    spec: Any,
    *,
    batch: int | None = None,
    mode: str | None = None,
    dtype: str | torch.dtype | None = None,
    optimizer: str = "adamw",
    amp: bool = False,
    freeze: str | int | Sequence[str] | None = None,
    checkpoint: str | Sequence[str] | None = None,
    headroom: float = DEFAULT_HEADROOM,
    cuda_context_bytes: int | None = None,
    cublas_workspace_bytes: int | None = None,
) -> MemoryEstimate:
    """Build a :class:`~roofline.spec.ModelSpec` on fake tensors and estimate it.

    A quantized model cannot be built on fake tensors: it is built for real on the CPU
    and traced over real tensors there, behind the memory guard of every real build
    (:func:`~roofline.counting.real.check_real_fits`): twice its float weights, then,
    above batch 1, its batch-1 activations times the batch, must fit in half the free
    memory.
    """
    from roofline.counting import build_fake
    from roofline.counting.tracing import is_quantized_failure
    from roofline.errors import SpecError

    spec = spec.with_batch(batch).with_mode(mode)
    options: dict[str, Any] = {
        "mode": spec.mode,
        "dtype": dtype,
        "optimizer": optimizer,
        "amp": amp,
        "freeze": freeze,
        "checkpoint": checkpoint,
        "headroom": headroom,
        "cuda_context_bytes": cuda_context_bytes,
        "cublas_workspace_bytes": cublas_workspace_bytes,
        "name": spec.name,
    }
    try:
        model, args, kwargs = build_fake(spec)
    except SpecError as exc:
        if not is_quantized_failure(exc):
            raise
        return _estimate_quantized(spec, options, exc)
    return estimate_from_model(model, args, kwargs, **options)


def _estimate_quantized(
    spec: Any, options: dict[str, Any], refused: BaseException
) -> MemoryEstimate:
    """:func:`estimate_from_spec` of a quantized model, whose fake build was
    ``refused``: built and traced for real on the CPU, each step behind the memory
    guard."""
    from roofline.counting.real import check_real_fits, quantized_build_bytes

    what = "vram traces this quantized model over real tensors (fake tensors cannot run it)"
    check_real_fits(
        quantized_build_bytes(refused) or 0,
        what,
        instead="size it on a machine with more free memory",
    )
    with torch.device("cpu"):
        model = spec.build()
    _check_quantized(model, options["mode"], options["dtype"], options["amp"])
    b = spec.batch or 1
    if b > 1:
        # the real trace holds the activations: size them from batch 1 first (an
        # affine peak fixed + per_sample x b is at most b times its batch-1 value)
        one = estimate_from_model(model, *spec.with_batch(1).example_inputs("cpu"), **options)
        check_real_fits(
            one.weights,
            f"{what} at batch {b}",
            extra_bytes=(one.activations or 0) * b,
            instead="trace a smaller batch (--max-batch traces each batch it tries)",
        )
    args, kwargs = spec.example_inputs("cpu")
    return estimate_from_model(model, args, kwargs, **options)


def _batch_of(inputs: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> int | None:
    """The first dimension of the first input tensor that has one, positional then
    keyword (a spec whose inputs are all named, as Llama's ``input_ids``, passes them
    as keywords); None without one. As :attr:`ModelProfile.batch`."""
    for t in (*inputs, *(kwargs or {}).values()):
        if isinstance(t, torch.Tensor) and t.dim() > 0:
            return int(t.shape[0])
    return None


def _from_trace(
    tr: Trace,
    facts: Mapping[str, Any],
    *,
    name: str,
    mode: str,
    stored: torch.dtype,
    compute: torch.dtype,
    optimizer: str,
    amp: bool,
    batch: int | None,
    headroom: float,
    frozen: tuple[str, ...],
    checkpoint: tuple[str, ...],
    cuda_context_bytes: int,
    cublas_workspace_bytes: int,
    notes: Sequence[str] = (),
) -> MemoryEstimate:
    from roofline.memory.tracker import block_size, segment_slack

    def rounding(nbytes: int) -> int:
        return block_size(nbytes) - nbytes

    training = mode == "training"
    params = facts["params"].values()
    # a quantized model's packed weights: (elements, bytes), never trainable
    packed = facts.get("packed", ())
    n_params = sum(n for n, _, _ in params) + sum(n for n, _ in packed)
    n_train = sum(n for n, _, t in params if t)
    weights = sum(n * es for n, es, _ in params) + facts["buffers"] + sum(b for _, b in packed)
    train_bytes = sum(n * es for n, es, t in params if t)
    gradients = train_bytes if training else 0
    opt = train_bytes * STATE_TENSORS[optimizer] if training else 0
    step_temp = train_bytes * STEP_TEMPORARIES[optimizer] if training else 0
    cublas = _cublas(training, cublas_workspace_bytes)
    # the persistent tensors' 512-byte blocks beyond their exact bytes: weights (and
    # buffers) always; gradients, optimizer state and the step's temporary in training
    train_rounding = sum(rounding(n * es) for n, es, t in params if t) if training else 0
    weights_rounding = sum(rounding(n * es) for n, es, _ in params)
    weights_rounding += sum(rounding(b) for b in facts.get("buffer_sizes", ()))
    opt_rounding = train_rounding * STATE_TENSORS[optimizer]
    step_rounding = train_rounding * STEP_TEMPORARIES[optimizer]
    # the traced grads are allocator blocks, as the exact gradients plus their rounding
    grad_blocks = gradients + train_rounding
    block_rounding = weights_rounding + opt_rounding + train_rounding
    # allocator segment rounding of the persistent tensors (weights, grads, state)
    persistent_slack = sum(segment_slack(n * es) for n, es, _ in params)
    if training:
        persistent_slack += sum(
            segment_slack(n * es) * STATE_TENSORS[optimizer] for n, es, t in params if t
        )
    notes = list(notes)
    detail: dict[str, Any] = {
        "trace_peak": tr.peak,
        "trace_peak_phase": tr.peak_phase,
        "inputs": tr.inputs,
        "ops_traced": tr.ops,
    }
    if packed:
        detail["quantized"] = True  # traced over real tensors, on the CPU
    if not training:
        activations = tr.peak
        temporaries = 0
        not_live = 0
        slack = persistent_slack + tr.slack_at_peak
        peak_module, peak_phase = tr.peak_module, tr.peak_phase
        phases: tuple[PhasePeak, ...] = (
            PhasePeak("forward", weights + weights_rounding, tr.peak + cublas, True),
        )
    else:
        # the allocated peak of each phase (the breakdown below adds up to the larger):
        # forward/backward: weights + state + everything the trace held at its peak
        # (the grads made by then are model state: sharding divides them); the step:
        # weights + state + what outlived backward (all grads, the inputs) + its
        # temporary (each in whole allocator blocks)
        state = weights + weights_rounding + opt + opt_rounding
        phases = (
            PhasePeak(
                "forward/backward",
                state + tr.grads_at_peak,
                tr.peak - tr.grads_at_peak + cublas,
                True,
            ),
            PhasePeak(
                "optimizer step",
                state + tr.grads + step_temp + step_rounding,
                tr.after_backward - tr.grads + cublas,
                False,
            ),
        )
        activations = tr.saved
        step_peak = tr.after_backward + step_temp + step_rounding
        if tr.peak >= step_peak:
            temporaries = tr.peak - tr.grads_at_peak - tr.saved_at_peak
            not_live = (tr.grads - tr.grads_at_peak) + (tr.saved - tr.saved_at_peak)
            peak_module, peak_phase = tr.peak_module, tr.peak_phase
            slack = persistent_slack + tr.slack_at_peak
        else:
            left = tr.after_backward - tr.grads  # inputs and anything the step kept
            temporaries = step_temp
            block_rounding += step_rounding
            not_live = tr.saved - left
            peak_module, peak_phase = "", "optimizer step"
            detail["step_temporary_in_total"] = step_temp
            slack = persistent_slack + sum(segment_slack(n * es) for n, es, t in params if t)
        # reconcile the traced grads with their blocks as counted above
        temporaries += tr.grads - grad_blocks if tr.grads > grad_blocks else 0
        not_live += grad_blocks - tr.grads if grad_blocks > tr.grads else 0
        detail.update(
            {
                "saved_for_backward": tr.saved,
                "grads_at_peak": tr.grads_at_peak,
                "saved_at_peak": tr.saved_at_peak,
                "optimizer_step_peak": step_peak,
                "optimizer_step_temporary": step_temp,
                "saved_by_module": dict(sorted(tr.by_module.items(), key=lambda kv: -kv[1])[:10]),
            }
        )
        if step_temp:
            notes.append(
                f"{optimizer} (foreach, PyTorch's default) allocates one parameter-sized "
                "temporary in its step; fused=True avoids it"
            )
        if facts.get("no_gradient"):
            notes.append(
                f"{_short_count(facts['no_gradient'])} parameters require grad but got "
                "none in the traced step (unused, or used under no_grad): no gradients "
                "or optimizer state for them, as torch's optimizers skip them"
            )
        if frozen:
            notes.append(
                f"frozen ({len(frozen)} module(s)): no gradients or optimizer state, and "
                "no activations kept for their own backward"
            )
        if checkpoint:
            notes.append(
                f"activation checkpointing on {len(checkpoint)} module(s): their insides "
                "are recomputed in backward"
            )
    if amp:
        notes.append(
            "AMP: fp32 parameters, gradients and optimizer state (the master weights); "
            f"autocast computes in {dtype_name(compute)} (traced with CPU autocast's op list)"
        )
    notes.append(
        _context_note(cuda_context_bytes) + "; cuDNN convolution workspaces are not modelled"
    )
    return MemoryEstimate(
        name=name,
        source="model",
        params=n_params,
        trainable_params=n_train if training else 0,
        weights=weights,
        gradients=gradients,
        optimizer=opt,
        activations=activations,
        workspace=temporaries + cublas,
        not_live_at_peak=max(not_live, 0),
        overhead=cuda_context_bytes + slack,
        cuda_context=cuda_context_bytes,
        allocator_slack=slack,
        block_rounding=block_rounding,
        peak_module=peak_module,
        peak_phase=peak_phase,
        naive_seed=naive_seed_formula(n_params, tr.raw_inputs, tr.outputs),
        notes=tuple(notes),
        detail=detail,
        phases=phases,
        assumptions=Assumptions(
            mode=mode,
            dtype=dtype_name(stored),
            compute_dtype=dtype_name(compute),
            optimizer=optimizer if training else "none",
            amp=amp,
            batch=batch,
            headroom=headroom,
            frozen=frozen,
            checkpoint=checkpoint,
            cuda_context_bytes=cuda_context_bytes,
            cublas_workspace_bytes=cublas_workspace_bytes,
        ),
    )


# --------------------------------------------------------------------------- devices


def headroom_budget(memory_bytes: int, headroom: float) -> int:
    """The largest total that fits ``memory_bytes`` under ``headroom``:
    ``floor(memory x headroom)`` in exact arithmetic, the largest ``t`` with
    :func:`memory_needed` ``(t) <= memory_bytes``, the rule :func:`fit_devices` applies
    to :attr:`MemoryEstimate.total_with_headroom`. In floating point the product can
    fall one byte short (180 GiB x 0.7 is 126 GiB exactly, but comes out as
    135,291,469,823.99998), and then the solver refused a total the device table said
    fits."""
    r = _headroom_ratio(headroom)
    return int(memory_bytes) * r.numerator // r.denominator


def _device_memory(device: Any) -> int:
    mem = int(getattr(device, "memory_bytes", 0) or 0)
    if mem <= 0:
        raise MemoryEstimateError(f"{getattr(device, 'name', device)}: no memory size in its spec")
    return mem


def fit_devices(
    estimate: MemoryEstimate,
    devices: Sequence[Any],
    *,
    max_batches: Mapping[str, MaxBatch] | None = None,
) -> list[DeviceFit]:
    """For each device: does ``estimate`` (with headroom) fit, and its max batch if solved."""
    out = []
    for d in devices:
        mem = _device_memory(d)
        need = estimate.total_with_headroom
        mb = (max_batches or {}).get(d.key)
        out.append(
            DeviceFit(
                device=d.name,
                key=d.key,
                memory_bytes=mem,
                required_bytes=need,
                fits=need <= mem,
                max_batch=mb.batch if mb else None,
                note="" if need <= mem else f"short by {binary_bytes(need - mem)}",
            )
        )
    return out


#: where the largest-batch search stops (a tiny input on a large device); past it the
#: answer is reported as "at least" (:attr:`MaxBatch.capped`)
MAX_BATCH_LIMIT = 1 << 31
#: growth (bytes) between two batch sizes that the slope of :func:`max_batch` is read
#: from at least: 2048 allocator blocks, so their rounding moves it by < 0.1%
ROUNDING_SPAN = 1 << 20


def max_batch(
    estimate_at: Callable[[int], MemoryEstimate],
    memory_bytes: int,
    *,
    headroom: float = DEFAULT_HEADROOM,
    progress: Callable[[str], None] | None = None,
    limit: int = MAX_BATCH_LIMIT,
) -> MaxBatch:
    """The largest batch whose total fits ``memory_bytes x headroom``.

    ``estimate_at(b)`` builds the estimate at batch ``b`` (a trace, for a model). The
    total is affine in the batch for these models (fixed weights and state, activations
    proportional to the batch): measured at batches 2 and 4 (further out, doubling,
    while the growth is within the allocator's rounding), checked at 8, solved
    exactly, then confirmed by measuring the answer and the answer + 1. If a check
    fails, a bisection over measured points finds the boundary. Nothing is guessed.
    """
    budget = headroom_budget(memory_bytes, headroom)
    cache: dict[int, MemoryEstimate] = {}

    def total(b: int) -> int:
        if b not in cache:
            if progress:
                progress(f"tracing batch {b} ...")
            cache[b] = estimate_at(b)
        return cache[b].total

    def result(b: int, fixed: float, slope: float, affine: bool) -> MaxBatch:
        meas = tuple(sorted((k, v.total) for k, v in cache.items()))
        capped = b >= limit and total(b) <= budget
        return MaxBatch(b, budget, fixed, slope, affine, meas, cache.get(b) if b else None, capped)

    if total(1) > budget:
        return result(0, float(total(1)), 0.0, False)
    t2 = total(2)
    # the allocator's 512-byte blocks hide or coarsen a tiny model's growth at small
    # batches (a 4x4 Linear grows 64 B per sample): look further out, doubling, until
    # the growth dwarfs the rounding; a model that never grows fits at any batch
    far = 4
    while total(far) - t2 < ROUNDING_SPAN and far < limit:
        far = min(limit, far * 2)
    if total(far) <= t2 <= budget:
        return result(limit, float(t2), 0.0, False)
    slope = (total(far) - t2) / (far - 2)
    fixed = t2 - 2 * slope
    # affinity check on the allocated bytes (the allocator's segment rounding in the
    # overhead moves in small steps); the answer is confirmed by measurement anyway
    total(8)
    a2, a4, a8 = (cache[b].allocated for b in (2, 4, 8))
    affine = abs(a8 - (a2 + 3 * (a4 - a2))) <= 0.01 * a8
    if slope <= 0:
        raise MemoryEstimateError(
            "memory does not grow with the batch for this model; cannot solve a max batch"
        )
    guess = max(1, min(int((budget - fixed) // slope), limit))
    # refine with secant steps through measured points near the answer (the fixed
    # part measured at small batches carries allocator rounding that shifts a little)
    anchor = 4
    for _ in range(3):
        t = total(guess)
        if guess == anchor or t == total(anchor):
            break
        s = (t - total(anchor)) / (guess - anchor)
        if s <= 0:
            break
        nxt = max(1, min(int(anchor + (budget - total(anchor)) // s), limit))
        anchor = guess
        if nxt == guess:
            break
        guess = nxt
    # confirm: guess fits and guess + 1 does not; otherwise bisect on measurements
    lo, hi = 1, None
    if total(guess) <= budget:
        lo = guess
        if guess >= limit:
            return result(limit, fixed, slope, affine)
        if total(guess + 1) > budget:
            return result(guess, fixed, slope, affine)
        hi_try = guess + 1
        step = max(1, guess // 64)
        while total(hi_try) <= budget:
            lo = hi_try
            hi_try = min(limit, hi_try + step)
            step *= 2
            if lo >= limit:
                return result(limit, fixed, slope, False)
        hi = hi_try
    else:
        hi = guess
        step = max(1, guess // 64)
        probe = max(1, guess - step)
        while total(probe) > budget:
            hi = probe
            if probe == 1:
                return result(0, fixed, slope, False)
            step *= 2
            probe = max(1, probe - step)
        lo = probe
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return result(lo, fixed, slope, affine)


def devices_needed(
    estimate_at: Callable[[int], MemoryEstimate],
    memory_bytes: int,
    global_batch: int,
    *,
    headroom: float = DEFAULT_HEADROOM,
    unit_params_bytes: int = 0,
    root_params_bytes: int = 0,
    root_grads_bytes: int = 0,
    max_devices: int = 4096,
    progress: Callable[[str], None] | None = None,
) -> tuple[ParallelPlan, ParallelPlan]:
    """Devices needed to train ``global_batch`` with data parallelism (DDP) and fully
    sharded data parallelism (FSDP / ZeRO-3).

    DDP (each device a full replica, ``ceil(B/N)`` samples): weights + gradients +
    optimizer + a gradient-sized bucket copy + activations at ``B/N``. It helps only
    through the smaller per-device batch.

    FSDP/ZeRO-3 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
    Trillion Parameter Models", P_os+g+p: model states (2 + 2 + K)Ψ / N_d): the
    largest over the step's phases (:attr:`MemoryEstimate.phases`) of the phase's
    sharded bytes divided by N plus its unsharded bytes at ``B/N``, plus, in the
    forward/backward, the full parameters and gradients of the unit being computed and
    the one prefetched (2 x ``unit_params_bytes`` each) and the root unit's parameters
    (``root_params_bytes``: what no wrapped unit holds, gathered through the forward, see
    :func:`fsdp_units`) with their unsharded gradients (``root_grads_bytes``, the
    trainable part: the root's gradients are reduce-scattered only when its backward
    ends, after every other unit's, so a head's gradient is alive at the backward's
    activation peak; :func:`fsdp_root_grad_bytes`). Activations are not sharded,
    so the forward/backward peak (state / N + activations + gathered units) can need
    more devices than the step peak (state / N), where the replica's ``total`` peaks.

    A DDP replica holds every phase's bytes unsharded, so its peak is ``total`` (the
    largest phase) plus the bucket copy, which lives through every phase.
    """
    budget = headroom_budget(memory_bytes, headroom)
    # gathered by every sharded device in the forward/backward: the root unit's
    # parameters and gradients, and parameters and gradients of two units (the one
    # computed and the one prefetched)
    units_gathered = root_params_bytes + root_grads_bytes + 2 * 2 * unit_params_bytes
    cache: dict[int, MemoryEstimate] = {}

    def at(b: int) -> MemoryEstimate:
        if b not in cache:
            if progress:
                progress(f"tracing per-device batch {b} ...")
            cache[b] = estimate_at(b)
        return cache[b]

    def ddp(n: int) -> int:
        e = at(math.ceil(global_batch / n))
        return e.total + e.gradients * DDP_BUCKET_COPIES

    def fsdp(n: int) -> int:
        e = at(math.ceil(global_batch / n))
        if not e.phases:
            raise MemoryEstimateError(f"{e.name}: the estimate has no phase peaks to shard")
        # each device keeps 1/n of the weights, gradients and optimizer state, and runs
        # the optimizer step (and its temporary) on its shard only; activations stay
        gathered = units_gathered if n > 1 else 0
        return e.overhead + max(
            math.ceil(p.sharded / n) + p.unsharded + (gathered if p.gathers else 0)
            for p in e.phases
        )

    def smallest(cost: Callable[[int], int], name: str) -> ParallelPlan:
        # cost falls with n (activations at B/n, state / n); search powers of two,
        # then bisect between the last failing and the first fitting count
        n, prev = 1, 0
        limit = min(max_devices, max(1, global_batch) if name == "ddp" else max_devices)
        while n <= limit:
            if cost(n) <= budget:
                lo, hi = prev, n
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if cost(mid) <= budget:
                        hi = mid
                    else:
                        lo = mid
                need = cost(hi)
                return ParallelPlan(
                    name,
                    hi,
                    memory_needed(need, headroom),
                    math.ceil(global_batch / hi),
                )
            prev, n = n, n * 2
        e = at(math.ceil(global_batch / max(1, min(limit, global_batch))))
        if name == "ddp" and e.model_state > budget:
            note = (
                f"the model state alone ({binary_bytes(e.model_state)}) exceeds one "
                f"device's budget, {binary_bytes(budget)}; replicas cannot shrink it"
            )
        elif name == "ddp":
            # the state fits: the step's temporaries, activations or the bucket do not
            note = (
                f"a replica at {e.assumptions.batch} sample(s) needs "
                f"{binary_bytes(cost(limit))} of {binary_bytes(budget)}: the model state "
                f"({binary_bytes(e.model_state)}) and DDP's gradient bucket "
                f"({binary_bytes(e.gradients * DDP_BUCKET_COPIES)}) with the peak's "
                "temporaries and activations; replicas cannot shrink the state"
            )
        else:
            # what sharding cannot divide: the unsharded bytes of the worst phase at
            # one sample per device, plus the gathered units
            floor = e.overhead + max(
                p.unsharded + (units_gathered if p.gathers else 0) for p in e.phases
            )
            note = f"no count up to {limit} fits"
            if floor > budget:
                note = (
                    f"one sample's activations and temporaries, the gathered units and the "
                    f"context, which sharding cannot divide, need {binary_bytes(floor)} of "
                    f"{binary_bytes(budget)}; try activation checkpointing (--checkpoint)"
                )
        return ParallelPlan(name, None, None, None, note)

    return smallest(ddp, "ddp"), smallest(fsdp, "fsdp")


def _param_bytes(m: torch.nn.Module, dtype_bytes: int | None) -> int:
    """Bytes of ``m``'s parameters, at ``dtype_bytes`` each if given."""
    return sum(p.numel() * (dtype_bytes or p.element_size()) for p in m.parameters())


def largest_unit_bytes(model: torch.nn.Module, dtype_bytes: int | None = None) -> int:
    """Parameter bytes of the largest FSDP wrapping unit we assume.

    The units are the model's rows (:func:`~roofline.memory.tracker.blocks`), except
    that a row holding a stack of repeated blocks deeper down (a Hugging Face-style
    ``model.layers`` under a ``LlamaModel`` row) is split as FSDP's layer-wise auto-wrap
    splits it: each repeated block is a unit, and what remains of the row (embeddings,
    norms) is one more unit.
    """

    mods = dict(model.named_modules())
    best = 0
    for name in blocks(model):
        row = mods[name]
        units = [_param_bytes(b, dtype_bytes) for b in repeated_blocks(row)]
        best = max(best, _param_bytes(row, dtype_bytes) - sum(units), *units)
    return best


def fsdp_units(model: torch.nn.Module, dtype_bytes: int | None = None) -> tuple[int, int]:
    """(root unit, largest unit) parameter bytes of the FSDP wrapping we assume.

    Where stacks of repeated blocks hold at least half the parameters (a transformer's
    decoder layers), FSDP's layer-wise auto-wrap: each block is a unit, and everything
    else (embeddings, final norm, head) is the root unit, which stays gathered through
    the forward. Otherwise (a CNN) each row is a unit (:func:`largest_unit_bytes`) and
    the root holds nothing of its own.
    """

    blocks_ = _layerwise_blocks(model)
    if blocks_:
        stacked = [_param_bytes(b, dtype_bytes) for b in blocks_]
        return max(0, _param_bytes(model, dtype_bytes) - sum(stacked)), max(stacked)
    return 0, largest_unit_bytes(model, dtype_bytes)


def _layerwise_blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated blocks FSDP's layer-wise auto-wrap makes units of, where they hold
    at least half the parameters; else []."""
    stacked = repeated_blocks(model)
    held = sum(_param_bytes(b, None) for b in stacked)
    return stacked if stacked and 2 * held >= _param_bytes(model, None) else []


def fsdp_root_grad_bytes(
    model: torch.nn.Module, dtype_bytes: int | None = None, frozen: Sequence[str] = ()
) -> int:
    """Gradient bytes of the root unit's trainable parameters (those outside the
    layer-wise units of :func:`fsdp_units`; none for a model wrapped per row), at
    ``dtype_bytes`` each if given. ``frozen``: module names whose parameters get no
    gradient (``Assumptions.frozen``)."""
    blocks_ = _layerwise_blocks(model)
    if not blocks_:
        return 0
    in_units = {id(p) for b in blocks_ for p in b.parameters()}
    total = 0
    for name, p in model.named_parameters():
        if id(p) in in_units or not p.requires_grad or is_frozen(name, frozen):
            continue
        total += p.numel() * (dtype_bytes or p.element_size())
    return total


def repeated_blocks(module: torch.nn.Module) -> list[torch.nn.Module]:
    """The blocks of every stack of repeated blocks (a Sequential / ModuleList of two
    or more children of one class) inside ``module``, outermost stacks first; the
    blocks themselves are not searched further."""
    found: list[torch.nn.Module] = []

    def walk(m: torch.nn.Module) -> None:
        for child in m.children():
            if is_block_stack(child):
                found.extend(child.children())
            else:
                walk(child)

    walk(module)
    return found


def with_headroom(estimate: MemoryEstimate, headroom: float) -> MemoryEstimate:
    """The same estimate under another headroom factor."""
    return replace(
        estimate, assumptions=replace(estimate.assumptions, headroom=_check_headroom(headroom))
    )
