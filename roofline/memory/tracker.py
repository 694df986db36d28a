"""The live-tensor tracker: the bytes of every tensor alive, op by op, on fake tensors.

A :class:`TorchDispatchMode` sees every aten op. Each output tensor's *storage* is
counted once, from the op that creates it until Python and autograd drop the last
reference to it (a ``weakref.finalize`` on the storage object fires then: PyTorch
keeps one Python object per storage for as long as the storage lives). Views and
in-place ops return an existing storage and add nothing. So the running sum is what a
caching allocator would hand out at that moment, and its maximum is the peak.

Sizes are rounded as PyTorch's CUDA caching allocator rounds them
(``c10/cuda/CUDACachingAllocator.cpp``): every block is a multiple of 512 bytes
(``kMinBlockSize``), which is what ``torch.cuda.max_memory_allocated`` counts. The
allocator also carves blocks out of cudaMalloc'd *segments* (2 MiB for requests up to
1 MiB, 20 MiB for 1-10 MiB, larger ones rounded up to 2 MiB: ``kSmallBuffer``,
``kLargeBuffer``, ``kRoundLarge``); the round-up of large blocks is tracked as
``slack`` and reported as allocator overhead, not as allocated bytes.

The running module is found the way the counter finds it (global module hooks for the
forward, autograd nodes tagged with their module for the backward), by reusing the
counter's pieces rather than copying them.

Training is traced as one steady-state step of a real loop: forward (under autocast
for AMP), a unit gradient per output, ``backward`` accumulating into ``.grad`` of the
trainable parameters, then the outputs dropped. The optimizer step itself is added
by :mod:`roofline.memory.estimate` from the optimizer's known temporaries.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from roofline.counting.tracing import (
    FAKE_OUTPUTS,
    NO_TRAINABLE_OUTPUT,
    ModuleStack,
    TagMode,
    differentiable_outputs,
    failure_detail,
    find_fake_mode,
    module_hooks,
    op_name,
    preserve_module_state,
    quiet_fake_tensor_log,
    reparametrized,
    to_fake,
    train_mode,
)
from roofline.errors import MemoryEstimateError, RooflineError
from roofline.memory.fused import (
    REAL_SIZED_OUTPUTS,
    EagerLinear,
    is_rnn_input_bias_add,
    rnn_modules,
    steps_for,
)
from roofline.units import plain_number

#: what to do when a forward needs tensor values (the estimate has no real-tensor mode)
VRAM_DATA_DEPENDENT_FIX = (
    "vram traces on fake tensors only, so it cannot size this model: `roofline profile "
    "--real` still counts its FLOPs and bytes, and making the data-dependent part "
    "static (a fixed-size output instead of x[mask] or nonzero, no Python branch on "
    ".item()) lets vram trace it"
)

#: CUDA caching allocator constants (c10/cuda/CUDACachingAllocator.cpp)
MIN_BLOCK = 512  # kMinBlockSize: every allocation is rounded up to 512 bytes
SMALL_SIZE = 1 << 20  # kSmallSize: requests up to 1 MiB come from the small pool
ROUND_LARGE = 2 << 20  # kRoundLarge: segments for large requests are multiples of 2 MiB


def _storage_sizes(out: Any) -> dict[int, int]:
    """The bytes of each distinct storage behind the tensors in ``out``, by key."""
    sizes: dict[int, int] = {}
    for t in tree_flatten(out)[0]:
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            sizes[storage._cdata] = int(storage.nbytes())
    return sizes


def _storage_bytes(out: Any) -> int:
    """The bytes of the tensors in ``out``, each storage counted once."""
    return sum(_storage_sizes(out).values())


def nothing_to_train(has_params: bool, by_freeze: bool, *, cli: bool = True) -> str:
    """The one-line refusal of a training step with nothing to train, naming the options
    as the CLI spells them (``--freeze``) or, with ``cli=False``, as keywords."""
    opt = "--" if cli else ""
    if not has_params:
        return (
            "the model has no parameters: a training step has nothing to update; "
            f"use {opt}mode inference"
        )
    return (
        "training with every parameter frozen"
        + (f" (by {opt}freeze)" if by_freeze else " (none requires a gradient)")
        + ": nothing gets a gradient; "
        + ("freeze fewer modules" if by_freeze else "unfreeze some")
        + f" or use {opt}mode inference"
    )


def block_size(nbytes: int) -> int:
    """Bytes the CUDA caching allocator hands out for a request of ``nbytes``."""
    if nbytes <= 0:
        return 0
    return -(-nbytes // MIN_BLOCK) * MIN_BLOCK


def segment_slack(nbytes: int) -> int:
    """Expected bytes a large request leaves unused in its cudaMalloc segment.

    Requests up to 1 MiB share 2 MiB segments (``kSmallBuffer``) and waste little.
    Larger ones get segments rounded up to a multiple of 2 MiB (``kRoundLarge``), and a
    block is only split when more than 1 MiB would be left over: the round-up is
    between 0 and 2 MiB, 1 MiB on average for sizes that are not aligned. We use that
    mean (a smooth, batch-monotone figure) rather than the exact remainder, which
    jumps with every shape change and depends on how blocks are reused.
    """
    b = block_size(nbytes)
    if b <= SMALL_SIZE or b % ROUND_LARGE == 0:
        return 0
    return ROUND_LARGE // 2


@dataclass(frozen=True)
class Trace:
    """What one traced step held, in allocator bytes (see the module docstring)."""

    peak: int  #: the most bytes alive at once, beyond weights (inputs included)
    peak_module: str  #: the module running when the peak was reached ("" = root)
    peak_phase: str  #: "forward" or "backward"
    saved: int  #: bytes alive at the end of the forward (training), or at the peak
    inputs: int  #: the model inputs
    grads: int  #: the .grad tensors after backward (0 for inference)
    after_backward: int  #: bytes alive once the step's outputs are dropped
    grads_at_peak: int  #: of the bytes at the peak, those that became .grad
    saved_at_peak: int  #: of the bytes at the peak, those alive since the forward
    slack_at_peak: int  #: segment round-up of the large blocks alive at the peak
    ops: int  #: ops traced
    #: the model's inputs and outputs in raw bytes (each storage once, no allocator
    #: rounding): the seed formula's "input" and "output"
    raw_inputs: int = 0
    outputs: int = 0
    by_module: Mapping[str, int] = field(default_factory=dict)  #: bytes saved per module


class _Live:
    """Running set of live storages, with an event log to rebuild the set at the peak."""

    def __init__(self) -> None:
        self.keys: dict[int, int] = {}  # storage key -> serial
        self.entries: dict[
            int, tuple[int, int, str, str]
        ] = {}  # serial -> (bytes, slack, phase, module)
        self.events: list[int] = []  # +serial allocated, -serial freed
        self.current = 0
        self.slack = 0
        self.peak = 0
        self.peak_module = ""
        self.peak_phase = "forward"
        self.peak_event = 0
        self.peak_slack = 0
        self.ignored: set[int] = set()
        self.finalizers: list[weakref.finalize] = []
        #: a peak held back: (the storage key whose free cancels it, (bytes, module,
        #: phase, event, slack) at the moment it would have been reached)
        self.pending: tuple[int, tuple[int, str, str, int, int]] | None = None

    def add(self, storage: Any, phase: str, module: str, replaces: int | None = None) -> None:
        """Count ``storage`` from now on. With ``replaces`` (a live storage's key), the
        bytes are counted but the peak is held back until the next event: if that
        storage is freed first, the two never coexisted (gradient accumulation, see
        :class:`_LiveMode`) and the held-back peak is dropped."""
        self.settle()
        key = storage._cdata
        if key in self.keys or key in self.ignored:
            return
        serial = len(self.entries) + 1
        nbytes = int(storage.nbytes())
        n, s = block_size(nbytes), segment_slack(nbytes)
        self.keys[key] = serial
        self.entries[serial] = (n, s, phase, module)
        self.events.append(serial)
        self.current += n
        self.slack += s
        self.finalizers.append(weakref.finalize(storage, self._free, key))
        if replaces is not None:
            self.pending = (replaces, (self.current, module, phase, len(self.events), self.slack))
        elif self.current > self.peak:
            self._set_peak(self.current, module, phase, len(self.events), self.slack)

    def _set_peak(self, current: int, module: str, phase: str, event: int, slack: int) -> None:
        self.peak = current
        self.peak_module = module
        self.peak_phase = phase
        self.peak_event = event
        self.peak_slack = slack

    def settle(self) -> None:
        """Commit a held-back peak: the storage it waited on outlived the next event."""
        if self.pending is not None:
            (current, module, phase, event, slack) = self.pending[1]
            self.pending = None
            if current > self.peak:
                self._set_peak(current, module, phase, event, slack)

    def _free(self, key: int) -> None:
        if self.pending is not None:
            if key == self.pending[0]:
                self.pending = None  # freed at once: it could have held the result
            else:
                self.settle()
        serial = self.keys.pop(key, None)
        if serial is not None:
            n, s, _, _ = self.entries[serial]
            self.current -= n
            self.slack -= s
            self.events.append(-serial)

    def live_at_peak(self) -> set[int]:
        """Serials of the storages alive at the peak."""
        alive: set[int] = set()
        for e in self.events[: self.peak_event]:
            if e > 0:
                alive.add(e)
            else:
                alive.discard(-e)
        return alive

    def close(self) -> None:
        for f in self.finalizers:
            f.detach()
        self.finalizers.clear()


#: out-of-place ops that autograd's backward formulas run in place on a buffer they
#: just made (``zeros(...).scatter_(...)``) unless an operand "is tensor-subclass-like"
#: (``areAnyTensorSubclassLike``), which a fake tensor always is:
#: ``value_selecting_reduction_backward`` (max/min/topk/sort/median/kthvalue along a
#: dim), ``gather_backward``, ``index_backward`` (``x[idx]``), ``masked_select_backward``
#: (``torch/csrc/autograd/FunctionsManual.cpp``, ``ReduceOps.cpp``), and
#: ``index_select_backward`` (``TensorAdvancedIndexing.cpp``: ``new_zeros().index_add_``)
IN_PLACE_UNLESS_SUBCLASS = frozenset(
    {
        "aten.scatter.src",
        "aten.scatter.value",
        "aten.scatter_add.default",
        "aten.index_put.default",
        "aten.index_add.default",
        "aten.masked_scatter.default",
    }
)


class _LiveMode(TorchDispatchMode):
    """Counts each op's output storages in ``live``.

    Gradient accumulation: where two gradients flow into one tensor (a residual
    connection, q/k/v projected from one input), autograd's engine sums them into the
    buffer it holds for the next node, in place when that buffer is a dense tensor it
    alone references (``InputBuffer::accumulate``, torch/csrc/autograd/input_buffer.cpp),
    so the sum costs no new block. For a tensor subclass, which fake tensors are, it
    always adds out of place, and the sum and the old buffer would both be counted. So
    an out-of-place add in backward whose first operand is such a buffer (made in the
    backward, not a view, whose base would hold the storage too, and not one of the
    running node's own inputs) is counted with its peak held back: if the old buffer
    is freed right after, as it is when the engine alone held it, the real engine
    would have reused it, and the two never coexist. The same holds for the backward
    formulas that scatter a gradient into zeros they just made, in place unless an
    operand is a tensor subclass (:data:`IN_PLACE_UNLESS_SUBCLASS`).
    """

    def __init__(
        self, state: ModuleStack, live: _Live, fake: bool, rnns: frozenset[str] = frozenset()
    ) -> None:
        super().__init__()
        self.state = state
        self.live = live
        self.fake = fake
        self.ops = 0
        #: the recurrent layers' module names, and the storage of the last ``mm``
        #: output made inside one (:func:`roofline.memory.fused.is_rnn_input_bias_add`)
        self.rnns = rnns
        self.last_mm: int | None = None
        #: storage keys of the gradients the running backward node was called with
        self.node_inputs: set[int] = set()

    def node_prehook(self, grad_outputs: Sequence[torch.Tensor | None]) -> None:
        """A backward node's pre-hook: remember the gradients it runs on."""
        self.node_inputs = {
            g.untyped_storage()._cdata for g in grad_outputs if isinstance(g, torch.Tensor)
        }

    def _accumulated_buffer(self, name: str, args: Any, kwargs: Any, out: Any) -> int | None:
        """The key of the buffer the real step would have written into in place for
        this op, or None (see the class docstring): the engine's gradient sums
        (``add``), and the scatters of autograd's formulas that run in place unless an
        operand is a tensor subclass (:data:`IN_PLACE_UNLESS_SUBCLASS`)."""
        if torch.is_grad_enabled() or torch._C._current_autograd_node() is None:
            return None
        if name == "aten.add.Tensor":
            if len(args) != 2 or kwargs.get("alpha", 1) != 1:
                return None
            a, b = args
            if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
                return None
            if not (a.shape == b.shape and a.dtype == b.dtype):
                return None
        elif name in IN_PLACE_UNLESS_SUBCLASS and args and isinstance(args[0], torch.Tensor):
            a = args[0]
        else:
            return None
        if not (isinstance(out, torch.Tensor) and a.shape == out.shape and a.dtype == out.dtype):
            return None
        if a._is_view():
            return None  # its base holds the storage too: the engine adds out of place
        key = a.untyped_storage()._cdata
        serial = self.live.keys.get(key)
        if serial is None or key in self.node_inputs:
            return None
        others = tree_flatten((args[1:], kwargs))[0]
        if any(isinstance(t, torch.Tensor) and t.untyped_storage()._cdata == key for t in others):
            return None
        nbytes, _slack, phase, _module = self.live.entries[serial]
        if phase != "backward" or nbytes != block_size(int(out.untyped_storage().nbytes())):
            return None
        return key

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        self.live.settle()
        kwargs = kwargs or {}
        name = op_name(func)
        steps = steps_for(name, args, kwargs) if self.fake else None
        if steps is not None:
            # a fused kernel, run as its steps: they come back through this mode
            with self:
                out = steps(*args, **kwargs)
        elif self.fake and name in FAKE_OUTPUTS:
            out = FAKE_OUTPUTS[name](args, kwargs)
        elif (
            self.fake
            and name == "aten.add.Tensor"
            and self.state.where()[1] in self.rnns
            and is_rnn_input_bias_add(args, kwargs, self.last_mm)
        ):
            # in place, as the real kernel adds it: the gates' storage, nothing new
            out = torch.ops.aten.add_.Tensor(*args)
        else:
            out = func(*args, **kwargs)
            if self.fake and name in REAL_SIZED_OUTPUTS:
                out = REAL_SIZED_OUTPUTS[name](args, kwargs, out)
            if name == "aten.mm.default" and self.rnns:
                self.last_mm = out.untyped_storage()._cdata
        self.ops += 1
        phase, module = self.state.where()
        replaces = self._accumulated_buffer(name, args, kwargs, out)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                try:
                    st = t.untyped_storage()
                except (RuntimeError, NotImplementedError):
                    continue  # sparse / nested layouts: no plain storage
                self.live.add(st, phase, module, replaces)
        return out


# --------------------------------------------------------------------------- model set-up


def split_prefixes(
    model: torch.nn.Module, spec: str | int | Sequence[str], option: str = "--freeze"
) -> tuple[str, ...]:
    """Resolve a ``--freeze``/``--checkpoint`` value to module names (``option``: the
    option it came from, for the errors).

    * an integer N (or a string of digits): the first N *blocks* (see :func:`blocks`),
      YOLOv5's ``--freeze N`` (rows ``model.0`` ... ``model.N-1``);
    * otherwise comma-separated names; each names a module (and so everything under
      it), or a *section*: the blocks whose ``section`` attribute is that name (a
      YOLO-format model records ``backbone`` or ``head`` on each row).
    """
    names = {n for n, _ in model.named_modules() if n}
    # an integer, also a negative one ("-1"), which no module name can be
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().lstrip("-").isdigit()):
        # digits as every numeric option reads them (full-width ３ is 3; the superscript
        # ² that isdigit() passes, and on which int() crashed, is refused)
        try:
            n = spec if isinstance(spec, int) else int(plain_number(spec, option))
        except RooflineError as exc:
            raise MemoryEstimateError(str(exc)) from None
        rows = blocks(model)
        if n < 1 or n > len(rows):
            raise MemoryEstimateError(
                f"{option} {n}: this model has {len(rows)} blocks ({rows[0]} ... {rows[-1]}); "
                f"give 1..{len(rows)} or module names"
                if rows
                else f"{option} {n}: this model has no child modules to {option.lstrip('-')}"
            )
        return tuple(rows[:n])
    items = [s.strip().rstrip(".") for s in ([spec] if isinstance(spec, str) else spec)]
    items = [p for part in items for p in part.split(",") if p.strip()]
    sections = _sections(model)
    out: list[str] = []
    for p in items:
        p = p.strip()
        if p in names:
            out.append(p)
        elif p in sections:
            out.extend(sections[p])
        else:
            close = sorted(n for n in names if "." not in n)[:8]
            groups = f"; sections: {', '.join(sections)}" if sections else ""
            listing = (
                f"top-level modules: {', '.join(close)}" if close else "it has no child modules"
            )
            raise MemoryEstimateError(f"no module named {p!r} in this model; {listing}{groups}")
    return tuple(dict.fromkeys(out))


def _sections(model: torch.nn.Module) -> dict[str, list[str]]:
    """Section name -> the blocks that carry it (``section`` attribute), in order."""
    mods = dict(model.named_modules())
    out: dict[str, list[str]] = {}
    for name in blocks(model):
        section = getattr(mods[name], "section", None)
        if isinstance(section, str) and section:
            out.setdefault(section, []).append(name)
    return out


def blocks(model: torch.nn.Module) -> list[str]:
    """The model's rows, the units ``--freeze N`` counts and FSDP wraps.

    The children of the root, where a container child (``nn.Sequential`` /
    ``nn.ModuleList``) is replaced by its own children when it is the root's only child
    (YOLOv5's ``model``: ``model.0``, ``model.1`` ...) or when it holds repeated blocks
    (two or more children of one class: a transformer's ``layers.0`` ...
    ``layers.31``, a ResNet stage's bottlenecks), as FSDP's auto-wrap policies wrap
    each decoder layer. One level only: a YOLOv5 row stays one row.
    """
    children = list(model.named_children())
    out: list[str] = []
    for name, child in children:
        if _is_container(child) and (len(children) == 1 or is_block_stack(child)):
            out.extend(f"{name}.{n}" for n, _ in child.named_children())
        else:
            out.append(name)
    return out


def _is_container(m: torch.nn.Module) -> bool:
    return isinstance(m, torch.nn.Sequential | torch.nn.ModuleList)


def is_block_stack(m: torch.nn.Module) -> bool:
    """A stack of repeated blocks: an ``nn.Sequential`` / ``nn.ModuleList`` of two or
    more children, all of one class."""
    if not _is_container(m):
        return False
    kinds = [type(c) for c in m.children()]
    return len(kinds) >= 2 and len(set(kinds)) == 1


def _under(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_frozen(param_name: str, frozen: Sequence[str]) -> bool:
    """Whether the parameter ``param_name`` (``a.b.weight``) lies under one of the
    ``frozen`` module names (or is named itself)."""
    return _under(param_name.rpartition(".")[0], frozen) or _under(param_name, frozen)


@contextlib.contextmanager
def _checkpointed(model: torch.nn.Module, names: Sequence[str]) -> Iterator[None]:
    """Wrap the forward of each named module (each child, for a container) in
    non-reentrant activation checkpointing, and restore it after."""
    from torch.utils.checkpoint import checkpoint

    mods = dict(model.named_modules())
    targets: list[torch.nn.Module] = []
    for n in names:
        m = mods[n]
        if isinstance(m, torch.nn.Sequential | torch.nn.ModuleList):
            targets.extend(m.children())
        else:
            targets.append(m)
    saved = []
    try:
        for m in targets:
            original = m.forward
            saved.append((m, "forward" in m.__dict__, original))

            def wrapped(*a: Any, _f: Callable[..., Any] = original, **k: Any) -> Any:
                if not torch.is_grad_enabled():
                    return _f(*a, **k)
                return checkpoint(_f, *a, use_reentrant=False, preserve_rng_state=False, **k)

            m.forward = wrapped  # type: ignore[method-assign]
        yield
    finally:
        for m, had, original in saved:
            if had:
                m.forward = original  # type: ignore[method-assign]
            else:
                del m.forward


@contextlib.contextmanager
def _node_prehooks(
    outs: Sequence[torch.Tensor], hook: Callable[[Sequence[Any]], None]
) -> Iterator[None]:
    """Register ``hook`` as a pre-hook on every backward node behind ``outs``."""
    handles = []
    seen: dict[int, Any] = {}  # the nodes themselves, so that their ids stay unique
    todo = [t.grad_fn for t in outs]
    try:
        while todo:
            node = todo.pop()
            if node is None or id(node) in seen:
                continue
            seen[id(node)] = node
            handles.append(node.register_prehook(hook))
            todo.extend(n for n, _ in node.next_functions)
        seen.clear()
        yield
    finally:
        for h in handles:
            h.remove()


# --------------------------------------------------------------------------- the trace


def trace(
    model: torch.nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    mode: str = "inference",
    dtype: torch.dtype | None = None,
    amp_dtype: torch.dtype | None = None,
    frozen: Sequence[str] = (),
    checkpoint: Sequence[str] = (),
    real: bool = False,
) -> tuple[Trace, dict[str, Any]]:
    """Trace one inference forward or one training step and return its live-bytes peak.

    ``model`` may hold real, meta or fake tensors; unless ``real`` is set, parameters
    and inputs are converted to fake tensors (no memory, no arithmetic) and the
    model's own tensors are untouched. ``dtype`` casts floating parameters, buffers
    and inputs (pure low-precision runs); ``amp_dtype`` runs the forward under
    ``torch.autocast`` with fp32 parameters. ``frozen`` module names get no gradients;
    ``checkpoint`` module names are recomputed in backward.

    Returns the :class:`Trace` and facts about the parameters as run:
    ``{"params": {name: (numel, element_size, trainable)}, "buffers": bytes,
    "buffer_sizes": [bytes of each buffer], "no_gradient": elements}``: in training,
    ``trainable`` is whether the parameter got a gradient in the traced step, and
    ``no_gradient`` counts the elements of those that require grad but got none.
    """
    if mode not in ("inference", "training"):
        raise MemoryEstimateError(f"unknown mode {mode!r}: use inference or training")
    training = mode == "training"
    kwargs = dict(kwargs or {})
    named = dict(model.named_parameters(remove_duplicate=False))
    named_buffers = dict(model.named_buffers(remove_duplicate=False))
    frozen_names = {n for n in named if is_frozen(n, frozen)}
    all_inputs = [t for t in tree_flatten((list(args), kwargs))[0] if isinstance(t, torch.Tensor)]

    fake_mode = None
    if not real:
        from torch._subclasses.fake_tensor import FakeTensorMode

        # a model's tensors that are neither parameters nor buffers (a positional
        # table kept as a plain attribute, torchvision's anchor cache) stay real: the
        # mode converts each where the forward meets it, as the spec builds' mode does
        fake_mode = find_fake_mode([*named.values(), *all_inputs]) or FakeTensorMode(
            allow_non_fake_inputs=True
        )
    outer = fake_mode if fake_mode is not None else contextlib.nullcontext()

    converted: dict[int, torch.Tensor] = {}

    def convert(t: torch.Tensor, trainable: bool | None) -> torch.Tensor:
        if id(t) in converted:
            return converted[id(t)]
        f = to_fake(fake_mode, t) if fake_mode is not None else t
        with outer:
            f = f.detach()
            if dtype is not None and f.is_floating_point() and f.dtype != dtype:
                f = f.to(dtype)
            if trainable is not None:
                # the model's own flag, in inference too: the forward runs under
                # no_grad, but kernels read the flag (autocast caches its cast of a
                # leaf that requires grad until autocast exits; matmul folds a batched
                # input into one mm when an operand requires grad)
                f.requires_grad_(trainable)
        converted[id(t)] = f
        return f

    state_dict: dict[str, torch.Tensor] = {}
    facts: dict[str, tuple[int, int, bool]] = {}
    for n, p in named.items():
        trainable = p.requires_grad and n not in frozen_names
        f = convert(p, trainable)
        state_dict[n] = f
        facts.setdefault(n, (f.numel(), f.element_size(), bool(f.requires_grad) and training))
    for n, b in named_buffers.items():
        state_dict[n] = convert(b, None)
    run_args = tree_map(
        lambda x: convert(x, None) if isinstance(x, torch.Tensor) else x, list(args)
    )
    run_kwargs = tree_map(lambda x: convert(x, None) if isinstance(x, torch.Tensor) else x, kwargs)
    unique_facts: dict[int, tuple[int, int, bool]] = {}
    for n, f in state_dict.items():
        if n in facts:
            unique_facts.setdefault(id(f), facts[n])
    buffer_sizes = [
        b.numel() * b.element_size()
        for b in {id(state_dict[n]): state_dict[n] for n in named_buffers}.values()
    ]
    if training and not any(f.requires_grad for f in state_dict.values()):
        raise MemoryEstimateError(nothing_to_train(bool(named), bool(frozen_names)))

    state = ModuleStack()
    live = _Live()
    for t in state_dict.values():
        with contextlib.suppress(RuntimeError, NotImplementedError):
            live.ignored.add(t.untyped_storage()._cdata)
    input_sizes = _storage_sizes((run_args, run_kwargs))
    input_bytes = sum(block_size(n) for n in input_sizes.values())
    # the inputs are live for the whole step (the training loop holds the batch)
    live.current = input_bytes
    live.peak = input_bytes
    live.ignored.update(input_sizes)

    def forward() -> Any:
        return model(*run_args, **run_kwargs)

    autocast = (
        torch.autocast("cpu", dtype=amp_dtype)
        if amp_dtype is not None
        else contextlib.nullcontext()
    )
    shapes: dict[str, Any] = {}
    saved = grads_bytes = after = output_bytes = 0
    saved_serials: set[int] = set()  # the storages alive when the forward ended
    by_module: dict[str, int] = {}
    counter = _LiveMode(state, live, fake=not real, rnns=rnn_modules(model))
    try:
        with (
            train_mode(model, training),
            preserve_module_state(model),
            module_hooks(model, state, shapes),
            _checkpointed(model, checkpoint if training else ()),
            # a failed shape check is reported in one line below, not as torch's log
            quiet_fake_tensor_log(),
            outer,
            # the fake parameters stay in place through backward: checkpointed
            # modules run their forward again there
            reparametrized(model, state_dict),
        ):
            if not training:
                # EagerLinear steps aside while the transformer fast paths run
                # (an active function mode would switch them off)
                with torch.no_grad(), EagerLinear(), counter, autocast:
                    out = forward()
                saved = live.peak
                output_bytes = _storage_bytes(out)
                del out
                after = live.current
            else:
                with torch.enable_grad(), TagMode(state), EagerLinear(), counter:
                    with autocast:
                        out = forward()
                    saved = live.current
                    output_bytes = _storage_bytes(out)
                    saved_serials = set(live.keys.values())
                    for serial in saved_serials:
                        n, _s, _ph, mod = live.entries[serial]
                        by_module[mod] = by_module.get(mod, 0) + n
                    outs = differentiable_outputs(out)
                    if not outs:
                        raise MemoryEstimateError(NO_TRAINABLE_OUTPUT)
                    seeds = [torch.ones_like(t) for t in outs]
                    with _node_prehooks(outs, counter.node_prehook):
                        torch.autograd.backward(outs, seeds)
                    del outs, seeds, out
                live.settle()
                grad_keys = set()
                for f in state_dict.values():
                    if f.grad is not None:
                        key = f.grad.untyped_storage()._cdata
                        if key not in grad_keys:
                            grad_keys.add(key)
                            grads_bytes += block_size(int(f.grad.untyped_storage().nbytes()))
                after = live.current
    except MemoryEstimateError:
        raise
    except Exception as exc:
        detail = failure_detail(state, exc, VRAM_DATA_DEPENDENT_FIX)
        raise MemoryEstimateError(f"tracing the model failed{detail}") from exc
    finally:
        live.close()

    grads_at_peak = saved_at_peak = 0
    if training:
        grad_serials = {
            live.keys[f.grad.untyped_storage()._cdata]
            for f in state_dict.values()
            if f.grad is not None and f.grad.untyped_storage()._cdata in live.keys
        }
        for serial in live.live_at_peak():
            n, _s, _phase, _m = live.entries[serial]
            if serial in grad_serials:
                grads_at_peak += n
            elif serial in saved_serials:
                # saved by the forward (backward's seeds, made after it, are not; nor
                # are the forward's own temporaries when the peak falls inside it)
                saved_at_peak += n
        saved_at_peak += input_bytes
    else:
        saved_at_peak = live.peak
    result = Trace(
        peak=live.peak,
        peak_module=live.peak_module,
        peak_phase=live.peak_phase,
        saved=saved,
        inputs=input_bytes,
        grads=grads_bytes,
        after_backward=after,
        grads_at_peak=grads_at_peak,
        saved_at_peak=saved_at_peak,
        slack_at_peak=live.peak_slack,
        ops=counter.ops,
        raw_inputs=sum(input_sizes.values()),
        outputs=output_bytes,
        by_module=by_module,
    )
    # a parameter that requires grad but got none in the step (unused, or used under
    # no_grad) holds no gradient, and torch's optimizers keep no state for it
    unused = 0
    if training:
        for f in state_dict.values():
            facts_f = unique_facts.get(id(f))
            if facts_f is not None and facts_f[2] and f.grad is None:
                unique_facts[id(f)] = (facts_f[0], facts_f[1], False)
                unused += facts_f[0]
    for f in state_dict.values():
        f.grad = None
    return result, {
        "params": unique_facts,
        "buffers": sum(buffer_sizes),
        "buffer_sizes": buffer_sizes,
        "no_gradient": unused,
    }
