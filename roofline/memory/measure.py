"""Measure the memory a real step holds: the number ``MemoryEstimate.allocated`` predicts.

``roofline vram model.yaml --measure cpu|cuda`` runs the model on real random inputs
and puts the measured peak beside the prediction; ``benchmarks/vram_accuracy.py`` runs
the same measurement over a set of models.

The step is the one the estimate models: an inference forward under ``no_grad``, or a
training step (forward, backward from ones, the named optimizer's step in torch.optim's
``foreach`` implementation, ``zero_grad(set_to_none=True)``), with the same frozen
modules, activation checkpointing, dtype and autocast. A few steps run first, so the
optimizer state exists and the peak is the steady state's.

* **CUDA**: ``torch.cuda.max_memory_allocated`` over the measured steps, reset after
  the warm-up (and ``max_memory_reserved`` beside it).
* **CPU**: the CPU allocator has no peak counter, so the measured step runs under the
  profiler with ``profile_memory=True`` and its allocation and free events are
  replayed, each rounded up to the 512-byte block the CUDA caching allocator would
  hand out, on top of what the step starts with (parameters, buffers, inputs,
  optimizer state: the distinct storages, block-rounded; a quantized model's packed
  weights at their packed size). An allocation freed before the innermost op that made
  it returns (any dispatcher op, ``aten::``, ``quantized::`` ...; an op that only
  allocates, such as ``aten::empty``, stands for its caller) is that kernel's own
  scratch (oneDNN weight reorders and workspaces, im2col buffers; on a GPU the cuDNN
  workspace); the estimate does not model it, so ``allocated`` leaves it out and
  ``with_scratch`` is the peak with it. Everything an op returns counts, also when the composite op around it
  frees it again (``aten::lstm``'s per-layer outputs, ``max_pool2d``'s indices), and so
  does what a composite op (every overload ``CompositeImplicitAutograd``: ``dropout``)
  allocates itself: its body runs op by op, on fake tensors too, so the trace counts
  it (``dropout``'s noise, made by ``empty_like`` and filled in place).

The library measures and returns; the CLI prints.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_map

from roofline.counting.tracing import differentiable_outputs, train_mode
from roofline.errors import MeasurementError
from roofline.memory.tracker import (
    _checkpointed,
    block_size,
    is_frozen,
    nothing_to_train,
    split_prefixes,
)

#: profiler ops that only hand out memory: an allocation made in one belongs to the op
#: that called it
ALLOCATING_OPS = frozenset(
    {
        "aten::empty",
        "aten::empty_like",
        "aten::empty_strided",
        "aten::new_empty",
        "aten::new_empty_strided",
        "aten::resize_",
    }
)

#: a profiler event of a dispatcher op, ``namespace::name`` (``aten::addmm``,
#: ``quantized::conv2d_relu``, ``torchvision::roi_align``): the ops whose own scratch
#: is left out. Autograd's nodes (``AddmmBackward0``,
#: ``autograd::engine::evaluate_function: ...``, ``torch::autograd::AccumulateGrad``)
#: and ``record_function`` ranges are not ops.
_OP_NAME = re.compile(r"[A-Za-z_]\w*::[A-Za-z_][\w.]*")

#: steps run before the measured one (the first creates the optimizer state, caches
#: and lazily made workspaces)
WARMUP_STEPS = 2


@dataclass(frozen=True)
class MemoryMeasurement:
    """The peak of allocated bytes during one steady-state step on a real device."""

    device: str  # "cpu", "cuda:0"
    device_name: str
    mode: str
    #: the peak of allocated bytes, 512-byte blocks: what ``MemoryEstimate.allocated``
    #: predicts (CPU: kernel scratch left out)
    allocated: int
    #: what the step starts with: parameters, buffers, inputs, optimizer state
    held: int
    #: CUDA: ``torch.cuda.max_memory_reserved`` (allocated + the allocator's cache)
    reserved: int | None = None
    #: CPU: the peak with the kernels' own scratch counted too
    with_scratch: int | None = None
    method: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(name: str, params: Sequence[torch.nn.Parameter]) -> torch.optim.Optimizer | None:
    """The optimizer ``--optimizer NAME`` stands for, in torch.optim's ``foreach``
    implementation (the CUDA default, and what the estimate's step temporaries
    model; on the CPU torch would pick the per-parameter loop). None for ``none`` or
    nothing to train."""
    if name == "none" or not params:
        return None
    lr = 1e-6  # the values do not matter; a tiny step keeps them finite
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, foreach=True)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=True)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, foreach=True)
    raise MeasurementError(f"unknown optimizer {name!r}")


@dataclass
class MemoryStep:
    """One step as the estimate models it (see the module docstring): call it to run
    it; ``optimizer`` is the training step's optimizer (its state is held between
    steps)."""

    run: Callable[[], None]
    optimizer: torch.optim.Optimizer | None = None

    def __call__(self) -> None:
        self.run()

    def state(self) -> list[Any]:
        """The optimizer's state tensors' containers, as held now."""
        return [] if self.optimizer is None else list(self.optimizer.state.values())


def memory_step(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    mode: str = "inference",
    optimizer: str = "adamw",
    autocast: tuple[str, torch.dtype] | None = None,
) -> MemoryStep:
    """The step :func:`measure_memory` measures. ``autocast``: (device type, dtype)
    of the forward's autocast; backward and the optimizer step run outside it, as in
    a training loop. Each call runs the model in train (training) or eval mode and
    gives every module its own flag back after."""
    kwargs = dict(kwargs or {})
    training = mode == "training"

    def cast() -> contextlib.AbstractContextManager[Any]:
        if autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(autocast[0], dtype=autocast[1])

    if not training:

        def infer() -> None:
            with train_mode(model, False), torch.no_grad(), cast():
                out = model(*args, **kwargs)
            del out

        return MemoryStep(infer)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params)

    def train() -> None:
        # the backward inside train mode too: a checkpointed block runs its forward again
        with train_mode(model, True):
            with cast():
                out = model(*args, **kwargs)
            outs = differentiable_outputs(out)
            if not outs:
                raise MeasurementError(
                    "training mode needs an output that depends on trainable parameters"
                )
            torch.autograd.backward(outs, [torch.ones_like(t) for t in outs])
            del out, outs
            if opt is not None:
                opt.step()
            model.zero_grad(set_to_none=True)

    return MemoryStep(train, opt)


def _storages_bytes(tensors: Sequence[torch.Tensor]) -> int:
    """Block-rounded bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            continue
        seen.setdefault(st.data_ptr(), int(st.nbytes()))
    return sum(block_size(n) for n in seen.values())


def held_bytes(model: torch.nn.Module, args: Any, opt_state: Any = ()) -> int:
    """What a step starts with: parameters (and gradients still held), buffers, the
    input tensors and the optimizer's state, as distinct block-rounded storages, and a
    quantized model's packed int8 weights at their packed size (the estimate's
    ``weights``: the quantized engine keeps them in its own memory, outside any
    tensor storage, so they cannot be read as storages).

    The optimizer's 0-dim state (Adam's ``step`` counters) is left out: with the
    parameters on a GPU torch keeps it on the CPU (unless ``capturable``/``fused``),
    outside the memory the estimate predicts."""
    from roofline.counting.quantized import packed_params, unpack

    tensors = [*model.parameters(), *model.buffers()]
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    tensors += [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]
    tensors += [
        t for t in tree_flatten(opt_state)[0] if isinstance(t, torch.Tensor) and t.dim() > 0
    ]
    packed = sum(unpack(obj).nbytes for _, obj in packed_params(model))
    return _storages_bytes(tensors) + packed


@functools.cache
def is_composite(name: str) -> bool:
    """Whether profiler op ``name`` (``aten::dropout``) is a composite of other ops
    (every overload ``CompositeImplicitAutograd``): its body runs op by op through the
    dispatcher, also on fake tensors, so what it allocates itself (``dropout``'s noise,
    ``empty_like`` then filled in place) is a tensor the trace counts, not a kernel's
    own scratch."""
    ns, _, op = name.partition("::")
    packet = getattr(getattr(torch.ops, ns, None), op, None)
    if not isinstance(packet, torch._ops.OpOverloadPacket):
        return False
    try:
        overloads = packet.overloads()
        return bool(overloads) and all(
            torch._C._dispatch_has_kernel_for_dispatch_key(
                name if ov == "default" else f"{name}.{ov}", "CompositeImplicitAutograd"
            )
            for ov in overloads
        )
    except RuntimeError:
        return False


def replay_profile(events: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(peak without kernel scratch, peak with it) of a Chrome trace's allocator events,
    relative to the allocated bytes when the trace began (see the module docstring)."""
    ops = sorted(
        (e for e in events if e.get("ph") == "X" and _OP_NAME.fullmatch(str(e.get("name", "")))),
        key=lambda e: (e["ts"], -e["dur"]),
    )
    mem = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])

    def end(o: Mapping[str, Any]) -> float:
        return o["ts"] + o["dur"]

    # the ops running at each allocator event (nested, so a stack), innermost last
    owner: dict[int, Mapping[str, Any] | None] = {}
    stack: list[Mapping[str, Any]] = []
    i = 0
    for e in mem:
        while i < len(ops) and ops[i]["ts"] <= e["ts"]:
            while stack and end(stack[-1]) < ops[i]["ts"]:
                stack.pop()
            stack.append(ops[i])
            i += 1
        while stack and end(stack[-1]) < e["ts"]:
            stack.pop()
        owner[id(e)] = next((o for o in reversed(stack) if o["name"] not in ALLOCATING_OPS), None)
    pending: dict[int, Mapping[str, Any]] = {}
    scratch: set[int] = set()
    for e in mem:
        addr, nbytes = e["args"]["Addr"], e["args"]["Bytes"]
        if nbytes > 0:
            pending[addr] = e
        elif addr in pending:
            a = pending.pop(addr)
            o = owner[id(a)]
            if o is not None and e["ts"] <= end(o) and not is_composite(str(o["name"])):
                scratch.update((id(a), id(e)))
    cur = peak = cur_all = peak_all = 0
    for e in mem:
        nbytes = e["args"]["Bytes"]
        step = block_size(nbytes) if nbytes > 0 else -block_size(-nbytes)
        cur_all += step
        peak_all = max(peak_all, cur_all)
        if id(e) not in scratch:
            cur += step
            peak = max(peak, cur)
    return peak, peak_all


def _profiled(step: Callable[[], None]) -> tuple[int, int]:
    """Run ``step`` under the CPU profiler and replay its allocator events."""
    from torch.profiler import ProfilerActivity, profile

    from roofline.latency.measure import quiet_kineto

    quiet_kineto()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    finally:
        os.unlink(path)
    return replay_profile(events)


@dataclass
class CudaCounters:
    """The CUDA allocator's counters the measurement reads (tests pass fakes)."""

    synchronize: Callable[[], None]
    reset_peak: Callable[[], None]
    max_allocated: Callable[[], int]
    max_reserved: Callable[[], int]

    @classmethod
    def of(cls, dev: torch.device) -> CudaCounters:
        return cls(
            synchronize=lambda: torch.cuda.synchronize(dev),
            reset_peak=lambda: torch.cuda.reset_peak_memory_stats(dev),
            max_allocated=lambda: int(torch.cuda.max_memory_allocated(dev)),
            max_reserved=lambda: int(torch.cuda.max_memory_reserved(dev)),
        )


def measure_step_memory(
    step: Callable[[], None],
    dev: torch.device,
    held: Callable[[], int],
    *,
    warmup: int = WARMUP_STEPS,
    steps: int = 1,
    after_step: Callable[[], None] | None = None,
    counters: CudaCounters | None = None,
) -> tuple[int, int, int | None, int | None]:
    """(allocated peak, held, reserved, with scratch) of ``step`` on ``dev`` after
    ``warmup`` unmeasured steps; ``held()`` says what a step starts with (read after
    the warm-up). ``after_step`` runs after every step (a device-level sampler).
    On CUDA the peak is over ``steps`` measured steps; the CPU measures one (the
    profiler's replay)."""
    cuda = dev.type == "cuda"
    c = counters or (CudaCounters.of(dev) if cuda else None)
    for _ in range(warmup):
        step()
        if c is not None:
            c.synchronize()
        if after_step is not None:
            after_step()
    start = held()
    if c is not None:
        c.reset_peak()
        for _ in range(max(steps, 1)):
            step()
            c.synchronize()
            if after_step is not None:
                after_step()
        return c.max_allocated(), start, c.max_reserved(), None
    peak, peak_all = _profiled(step)
    if after_step is not None:
        after_step()
    return start + peak, start, None, start + peak_all


@contextlib.contextmanager
def _frozen(model: torch.nn.Module, frozen: Sequence[str]) -> Iterator[None]:
    """Parameters under ``frozen`` modules stop requiring grad (restored after)."""
    changed = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and frozen and is_frozen(n, frozen)
    ]
    for p in changed:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in changed:
            p.requires_grad_(True)


def measure_memory(
    model: torch.nn.Module,
    inputs: Sequence[Any] | torch.Tensor = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    device: str = "cpu",
    mode: str = "inference",
    dtype: str | torch.dtype | None = None,
    optimizer: str = "adamw",
    amp: bool = False,
    freeze: str | int | Sequence[str] | None = None,
    checkpoint: str | Sequence[str] | None = None,
    warmup: int = WARMUP_STEPS,
    after_step: Callable[[], None] | None = None,
    counters: CudaCounters | None = None,
) -> MemoryMeasurement:
    """Run ``model`` on real tensors on ``device`` and measure its step's peak.

    The options mean what they mean to :func:`~roofline.memory.estimate_from_model`:
    the model and its floating inputs are cast to ``dtype``, ``amp`` keeps fp32
    parameters and autocasts the forward (fp16, or ``dtype`` when given), ``freeze``
    and ``checkpoint`` name modules. The model is moved to ``device`` (and cast to
    ``dtype``) and, in training, its parameters are updated by the step (a tiny learning
    rate); gradients it held are cleared, before and after, and every module's
    train/eval flag, the parameters' ``requires_grad`` and the forwards are restored,
    also when the step fails.
    """
    from roofline.latency.measure import _translate_errors, check_device, device_name
    from roofline.memory.estimate import _resolve_dtypes, check_mode, check_optimizer

    dev = check_device(device)
    mode = check_mode(mode)
    optimizer = check_optimizer(optimizer)
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    own = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    stored, compute = _resolve_dtypes(dtype if dtype is not None else own, amp)
    training = mode == "training"
    frozen = split_prefixes(model, freeze) if training and freeze not in (None, "", ()) else ()
    ckpt = (
        split_prefixes(model, checkpoint, "--checkpoint")
        if training and checkpoint not in (None, "", ())
        else ()
    )
    if training and not any(
        p.requires_grad and not (frozen and is_frozen(n, frozen))
        for n, p in model.named_parameters()
    ):
        # the estimate's refusal, before anything runs (the step would fail on an
        # output without a gradient, or train nothing)
        has_params = any(True for _ in model.parameters())
        raise MeasurementError(nothing_to_train(has_params, bool(frozen), cli=False))
    target = torch.float32 if amp else stored

    def move(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        # detached, as the estimate traces them: an input that requires grad would get
        # a gradient of its own every step (kept on the caller's tensor)
        t = t.detach().to(dev)
        return t.to(target) if t.is_floating_point() and t.dtype != target else t

    what = f"measuring the memory of {type(model).__name__!r} ({mode}) on {dev}"
    with _translate_errors(what, (inputs, kwargs)):
        model = model.to(dev)
        # buffers too (the estimate casts both): a model with no float parameter left
        # to tell by, BatchNorm's running stats beside already-cast weights
        if any(
            t.is_floating_point() and t.dtype != target
            for t in (*model.parameters(), *model.buffers())
        ):
            model = model.to(target)
        args = tree_map(move, list(inputs))
        kw = tree_map(move, dict(kwargs or {}))
        # gradients the caller left are not part of the step (a training step starts
        # without them, an inference one never has them)
        model.zero_grad(set_to_none=True)
        try:
            with train_mode(model, training), _frozen(model, frozen), _checkpointed(model, ckpt):
                step = memory_step(
                    model,
                    args,
                    kw,
                    mode=mode,
                    optimizer=optimizer,
                    autocast=(dev.type, compute) if amp else None,
                )
                peak, held, reserved, with_scratch = measure_step_memory(
                    step,
                    dev,
                    lambda: held_bytes(model, (args, kw), step.state()),
                    warmup=warmup,
                    after_step=after_step,
                    counters=counters,
                )
        finally:
            # also when the step failed half-way (after backward, say)
            model.zero_grad(set_to_none=True)
    method = (
        "torch.cuda.max_memory_allocated over a steady-state step"
        if dev.type == "cuda"
        else "CPU profiler allocator events of a steady-state step, 512-byte blocks, "
        "kernel scratch left out"
    )
    return MemoryMeasurement(
        device=str(dev),
        device_name=device_name(dev),
        mode=mode,
        allocated=peak,
        held=held,
        reserved=reserved,
        with_scratch=with_scratch,
        method=method,
    )
