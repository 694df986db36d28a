"""Shared tracing machinery: run a model on fake tensors and know which module runs.

Two tracers use this: the counter (FLOPs and bytes per op, :mod:`.counter`) and the
memory tracker (live bytes per op, :mod:`roofline.memory.tracker`).

* :class:`ModuleStack` knows where execution is: the innermost running module during
  forward (kept by :func:`module_hooks`, *global* module hooks), and during backward
  the module that created the autograd node being run (nodes are tagged at creation
  by :class:`TagMode` and read back with ``torch._C._current_autograd_node()``).
* :func:`to_fake` / :func:`find_fake_mode` turn real or meta weights into fake tensors
  without copying data; :data:`FAKE_OUTPUTS` builds the outputs of fused fast-path ops
  that FakeTensorMode would otherwise run for real on zeros.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from roofline.errors import first_line

#: autograd-node metadata key holding the module path that created the node
MODULE_TAG = "roofline_module"


def op_name(func: Any) -> str:
    """``aten.convolution.default`` for an OpOverload."""
    return f"{func.namespace}.{func._schema.name.split('::')[-1]}.{func._overloadname}"


@dataclass
class ModuleStack:
    """Where execution is: the stack of running modules, and where a forward failed."""

    stack: list[str] = field(default_factory=lambda: [""])
    #: the innermost module whose forward raised (None: none did, or the error came
    #: from the model's own forward, outside its submodules)
    failed: str | None = None

    def where(self) -> tuple[str, str]:
        """``(phase, module)`` of the op being dispatched right now."""
        node = torch._C._current_autograd_node()
        if node is None:
            return "forward", self.stack[-1]
        return "backward", node.metadata.get(MODULE_TAG, self.stack[-1])


def differentiable_outputs(out: Any) -> list[torch.Tensor]:
    """The floating-point outputs a training step back-propagates from (those that
    require grad); a training trace seeds each with a unit gradient."""
    return [
        t
        for t in tree_flatten(out)[0]
        if isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
    ]


#: the error both tracers give when training mode has nothing to back-propagate
NO_TRAINABLE_OUTPUT = (
    "training mode needs an output that depends on trainable parameters; "
    "this model's outputs do not require grad"
)


def input_shapes_of(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> Any:
    """Shapes of the tensors a module was called with, positional then keyword (in
    call order), nested containers flattened; None when it got no tensor."""
    if not kwargs and all(isinstance(a, torch.Tensor) for a in args):
        # the common call, tensors only: what flattening gives, without the pytree walk
        # that ran on every module call (the counter's hot path)
        return tuple(tuple(a.shape) for a in args) or None
    leaves = tree_flatten((tuple(args), dict(kwargs or {})))[0]
    shapes = tuple(tuple(t.shape) for t in leaves if isinstance(t, torch.Tensor))
    return shapes or None


#: the errors of a forward that needs tensor *values*, which fake tensors do not have:
#: an op whose output shape depends on them (nonzero, boolean masks, unique), reading
#: one out (``.item()``, ``.tolist()``, branching on a tensor), or a guard on a size
#: built from one (symbolic shapes)
DATA_DEPENDENT_ERRORS = frozenset(
    {
        "DataDependentOutputException",
        "DynamicOutputShapeException",
        "GuardOnDataDependentSymNode",
        "PendingUnbackedSymbolNotFound",
    }
)


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it was raised from or while handling, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend((e.__cause__, e.__context__))


def is_data_dependent(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from or while handling, is a
    :data:`DATA_DEPENDENT_ERRORS` failure (by class name, subclasses included, so
    private torch modules need not be imported), or says "data-dependent"."""
    return any(
        any(c.__name__ in DATA_DEPENDENT_ERRORS for c in type(e).__mro__)
        or "data-dependent" in str(e).lower()
        for e in error_chain(exc)
    )


class QuantizedOnFakeError(RuntimeError):
    """Quantization on fake tensors: a quantized kernel (``quantized::*``), which has
    no fake-tensor implementation and whose real one must not run on fake data, or
    ``torch.ao.quantization`` quantizing a model being built on them."""

    def __init__(self, what: str, float_weight_bytes: int | None = None) -> None:
        super().__init__(f"{what} called on fake tensors")
        #: bytes of the parameters and buffers of the (float) model handed to the
        #: refused entry point, which the real build quantizes: what that build holds
        #: at least (None: not known)
        self.float_weight_bytes = float_weight_bytes


#: the code a quantized model fails in when built or run on fake tensors: torch's
#: eager-mode quantization (fusing conv and batch norm, observers, convert, the
#: quantized modules) and torchvision's quantized models
QUANTIZATION_CODE = (
    "/torch/ao/quantization/",
    "/torch/ao/nn/quantized/",
    "/torch/ao/nn/intrinsic/quantized/",
    "/torchvision/models/quantization/",
)


def is_quantized_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from or while handling) is a
    quantized model failing on fake tensors: a :class:`QuantizedOnFakeError`, or an
    error raised inside :data:`QUANTIZATION_CODE` (torchvision's ``quantize_model``
    fuses conv and batch norm on fake weights and fails: "Mixing fake modes NYI")."""
    for e in error_chain(exc):
        if isinstance(e, QuantizedOnFakeError):
            return True
        tb = e.__traceback__
        while tb is not None:
            path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
            if any(part in path for part in QUANTIZATION_CODE):
                return True
            tb = tb.tb_next
    return False


def needs_real(exc: BaseException) -> bool:
    """Whether ``exc`` says the model cannot run on fake tensors at all: it is
    data-dependent (:func:`is_data_dependent`) or quantized (:func:`is_quantized_failure`)."""
    return is_data_dependent(exc) or is_quantized_failure(exc)


#: the eager-mode quantization entry points a model builder calls (torchvision's
#: ``quantize_model`` calls the first three): on fake tensors they fail, and
#: ``fuse_modules`` corrupts the heap as it fails (a later real build of the model in
#: the same process crashes), so :func:`refuse_quantization` stops them first
QUANTIZATION_ENTRY_POINTS = (
    "fuse_modules",
    "prepare",
    "convert",
    "fuse_modules_qat",
    "prepare_qat",
    "quantize",
    "quantize_dynamic",
    "quantize_qat",
)


@contextlib.contextmanager
def refuse_quantization() -> Iterator[None]:
    """While a model is built on fake tensors, make ``torch.ao.quantization``'s entry
    points (:data:`QUANTIZATION_ENTRY_POINTS`) raise :class:`QuantizedOnFakeError`
    instead of running; the error carries the bytes of the float model it was handed
    (its first argument), so a real build can be sized before it is made. Only calls through the module attribute are stopped (``from
    torch.ao.quantization import convert`` binds the original); those still fail, and
    :func:`is_quantized_failure` still recognises them by where they failed."""
    import torch.ao.quantization as tq

    saved = {name: getattr(tq, name) for name in QUANTIZATION_ENTRY_POINTS if hasattr(tq, name)}

    def refuse(name: str) -> Any:
        def fn(*args: Any, **kwargs: Any) -> Any:
            model = args[0] if args else kwargs.get("model", kwargs.get("module"))
            raise QuantizedOnFakeError(
                f"torch.ao.quantization.{name}",
                module_bytes(model) if isinstance(model, torch.nn.Module) else None,
            )

        return fn

    for name in saved:
        setattr(tq, name, refuse(name))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(tq, name, fn)


def module_bytes(model: torch.nn.Module) -> int:
    """Bytes of ``model``'s parameters and buffers (each tensor once), at their dtypes'
    sizes; shapes only, so fake and meta tensors are sized as real ones."""
    tensors = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return sum(t.numel() * t.element_size() for t in tensors.values())


#: why a quantized model cannot be counted on fake tensors, for the one-line errors
QUANTIZED_WHY = (
    "a quantized model: its quantized kernels and packed weights have no fake-tensor implementation"
)


def data_dependent_hint(exc: BaseException, fix: str) -> str:
    """``" (why; fix)"`` to append to a one-line error when ``exc`` is a data-dependent
    failure (:func:`is_data_dependent`) or a quantized model's
    (:func:`is_quantized_failure`), else ``""``. Both tracers use it; ``fix`` says what
    the user can do with the command that failed."""
    # a quantized model's stubs read their scale (``.item()``): say quantized, not that
    if is_quantized_failure(exc):
        return f" ({QUANTIZED_WHY}; {fix})"
    if is_data_dependent(exc):
        return (
            " (the model's output shape or control flow depends on tensor values, which "
            f"fake tensors do not have; {fix})"
        )
    return ""


def failure_detail(state: ModuleStack, exc: BaseException, fix: str | None) -> str:
    """``" at layer 'x': Error: first line (hint)"`` for a model that failed under
    a tracer: the layer is the innermost module whose forward raised (none named when
    the error came from outside every submodule's forward, e.g. the model's own code
    after its last submodule returned, or the backward); ``fix`` as in
    :func:`data_dependent_hint`, None for a run on real tensors, where the hint (fake
    tensors lack values and quantized kernels) is not the cause."""
    where = f" at layer '{state.failed}'" if state.failed else ""
    hint = "" if fix is None else data_dependent_hint(exc, fix)
    return f"{where}: {type(exc).__name__}: {first_line(exc)}{hint}"


def index_range_hint(exc: BaseException, inputs: Any) -> str:
    """``" (the integer input holds random values 0-19; ...)"`` when a run on real
    tensors failed on an index out of range (an embedding's ``IndexError``) and the
    model was given integer inputs, whose random values are the likely cause: it names
    their range and how to set it; ``""`` otherwise (fake tensors hold no values, and
    other errors have other causes)."""
    if not isinstance(exc, IndexError) or "out of range" not in str(exc):
        return ""
    from torch._subclasses.fake_tensor import FakeTensor

    ranges = [
        f"{lo}" if lo == hi else f"{lo}-{hi}"
        for lo, hi in (
            (int(t.min()), int(t.max()))
            for t in tree_flatten(inputs)[0]
            if isinstance(t, torch.Tensor)
            and not isinstance(t, FakeTensor)
            and t.device.type != "meta"
            and t.numel()
            and not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)
        )
    ]
    if not ranges:
        return ""
    which = "input holds" if len(ranges) == 1 else "inputs hold"
    return (
        f" (the integer {which} random values {', '.join(ranges)}; an index into a "
        "table, such as an embedding, must stay below the table's size: give the range "
        "with --input SHAPE:int64:LOW-HIGH, or 'low'/'high' in the spec)"
    )


def shape_of(x: Any) -> Any:
    """Shapes of the tensors in a (nested) output, as tuples."""
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    if isinstance(x, list | tuple):
        shapes = [shape_of(v) for v in x]
        return tuple(s for s in shapes if s is not None) or None
    if isinstance(x, Mapping):
        shapes = [shape_of(v) for v in x.values()]
        return tuple(s for s in shapes if s is not None) or None
    return None


#: Composite fast-path ops whose outputs we build ourselves under fake tensors, so
#: that FakeTensorMode never falls back to running the real kernel on zeros.
FAKE_OUTPUTS = {
    "aten._transformer_encoder_layer_fwd.default": lambda a, k: torch.empty_like(a[0]),
    "aten._native_multi_head_attention.default": lambda a, k: _mha_outputs(a, k),
}


def _mha_outputs(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[torch.Tensor, Any]:
    q, k = args[0], args[1]
    need_weights = kwargs.get("need_weights", args[10] if len(args) > 10 else True)
    average = kwargs.get("average_attn_weights", args[11] if len(args) > 11 else True)
    out = torch.empty_like(q)
    heads = int(args[4])
    if not need_weights:
        return out, torch.empty(0, dtype=q.dtype, device=q.device)
    b, lq, lk = q.shape[0], q.shape[1], k.shape[1]
    shape = (b, lq, lk) if average else (b, heads, lq, lk)
    return out, torch.empty(shape, dtype=q.dtype, device=q.device)


class TagMode(TorchFunctionMode):
    """Tags each new autograd node with the module path that created it."""

    def __init__(self, state: ModuleStack) -> None:
        super().__init__()
        self.state = state

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        out = func(*args, **(kwargs or {}))
        if torch.is_grad_enabled():
            path = self.state.stack[-1]
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.grad_fn is not None:
                    _tag_nodes(t.grad_fn, path)
        return out


def _tag_nodes(node: Any, path: str) -> None:
    todo = [node]
    while todo:
        n = todo.pop()
        if n is None:
            continue
        meta = n.metadata
        if MODULE_TAG in meta:
            continue
        meta[MODULE_TAG] = path
        todo.extend(nxt for nxt, _ in n.next_functions)


@contextlib.contextmanager
def module_hooks(
    model: torch.nn.Module, state: ModuleStack, shapes: dict[str, Any]
) -> Iterator[None]:
    """Track the running module with *global* module hooks, and record in ``shapes``
    each named module's first call: ``{"input": ..., "output": ..., "calls": n}``
    (input: :func:`input_shapes_of` what it was called with; output: :func:`shape_of`
    what it returned).

    Per-module hooks would change what the model runs: ``nn.TransformerEncoderLayer``
    and ``nn.MultiheadAttention`` refuse their inference fast path when a module has
    hooks attached. Global hooks are invisible to that check, and are removed after.
    """
    names = {id(mod): name for name, mod in model.named_modules() if name}
    calls: Counter = Counter()

    def pre(mod: torch.nn.Module, args: Any) -> None:
        name = names.get(id(mod))
        if name is None:
            return
        state.stack.append(name)
        calls[name] += 1

    def post(mod: torch.nn.Module, args: Any, *rest: Any) -> None:
        # registered with_kwargs: called (mod, args, kwargs, output); but when forward
        # raises, torch calls an always_call global hook as (mod, args, output)
        kwargs, output = rest if len(rest) == 2 else ({}, rest[-1])
        name = names.get(id(mod))
        if name is None:
            return
        if len(state.stack) > 1 and state.stack[-1] == name:
            state.stack.pop()
        if len(rest) != 2:  # the forward raised: the first such module is where
            if state.failed is None:
                state.failed = name
            return
        # what the first call received and returned; a global *pre* hook never sees
        # keyword arguments, so the inputs are read here, next to the output
        entry = shapes.setdefault(name, {})
        if "output" not in entry:
            entry["input"] = input_shapes_of(args, kwargs)
            entry["output"] = shape_of(output)
        entry["calls"] = calls[name]

    from torch.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    handles = [
        register_module_forward_pre_hook(pre),
        register_module_forward_hook(post, with_kwargs=True, always_call=True),
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def train_mode(model: torch.nn.Module, training: bool) -> Iterator[None]:
    """Put the model in train/eval mode, and restore every module's flag after."""
    flags = {m: m.training for m in model.modules()}
    try:
        model.train(training)
        yield
    finally:
        for m, f in flags.items():
            m.training = f


@contextlib.contextmanager
def quiet_fake_tensor_log() -> Iterator[None]:
    """FakeTensorMode logs a traceback when a shape check fails; we report the error
    ourselves, in one line, so silence that logger while tracing."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def find_fake_mode(tensors: Sequence[torch.Tensor]) -> Any:
    """The FakeTensorMode of the first fake tensor among ``tensors``, if any."""
    from torch._subclasses.fake_tensor import FakeTensor

    for t in tensors:
        if isinstance(t, FakeTensor):
            return t.fake_mode
    return None


def to_fake(mode: Any, t: torch.Tensor) -> torch.Tensor:
    """A fake tensor of ``mode`` with ``t``'s shape, strides, dtype and requires_grad.

    Built directly over a meta tensor (which is what FakeTensorMode does inside), 8x
    cheaper than ``mode.from_tensor`` for a model's few hundred weights; no data is
    copied or allocated. Meta tensors become fake CPU tensors. A fake tensor of
    another mode is re-homed (``nn.TransformerEncoder`` deep-copies its layer, which
    puts the copies' weights in a second mode). Falls back to ``from_tensor`` if the
    private constructor changes.
    """
    from torch._subclasses.fake_tensor import FakeTensor

    if isinstance(t, FakeTensor) and t.fake_mode is mode:
        return t
    device = torch.device("cpu") if t.device.type == "meta" else t.device
    try:
        meta = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")
        fake = FakeTensor(mode, meta, device)
    except Exception:  # private constructor; use the public path
        with mode:
            fake = torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device=device)
    if t.requires_grad:
        fake.requires_grad_(True)
    return fake


_INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)


@contextlib.contextmanager
def skip_init() -> Iterator[None]:
    """Make ``torch.nn.init``'s initialisers no-ops while a model is built on fake
    tensors: there is no data to initialise, and some initialisers inspect values
    (``trunc_normal_`` checks its tensor's data pointer), which fake tensors refuse."""
    import torch.nn.init as init

    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}

    def keep(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return tensor

    try:
        for name in saved:
            setattr(init, name, keep)
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)


class FakeDeepcopy(TorchFunctionMode):
    """Deep-copy fake tensors while a model is built on them.

    ``copy.deepcopy`` of a module holding fake tensors fails inside a
    :class:`FakeTensorMode`: torch's ``Tensor.__deepcopy__`` takes the path it takes
    for real tensors (``set_`` of a copied storage onto the new tensor), and a fake
    tensor's storage is on the meta device. Outside the mode it clones, but also
    deep-copies the tensor's ``fake_mode`` attribute, so the copy lives in a second
    fake mode that the next op mixing it with the model's tensors refuses. Entered
    while a constructor runs, this mode copies a fake tensor by cloning it in the
    current fake mode, keeping its strides (a broadcast buffer stays broadcast),
    ``requires_grad``, its gradient and the attributes the clone does not set itself
    (``_is_param``, which makes a fake tensor a parameter, and the user's own, fake
    tensors inside them copied the same way). timm's ``reparameterize_model``
    deep-copies the model before fusing its branches; with this, fused models count
    on fake tensors. Real tensors are copied by torch, as before, and so is a fake
    tensor that is not a leaf (computed from one that needs a gradient, as an old
    ``weight_norm`` module's weight): torch refuses it, as it refuses a real one, so
    the fake build fails where the real one does."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.__deepcopy__ and len(args) == 2:
            from torch._subclasses.fake_tensor import FakeTensor

            tensor, memo = args
            if isinstance(tensor, FakeTensor) and tensor.is_leaf:
                return _deepcopy_fake(tensor, memo)
        # a real tensor; or a fake one computed from a tensor that needs a gradient,
        # which torch refuses to copy as it refuses a real one (its own error)
        return func(*args, **kwargs)


def _deepcopy_fake(tensor: torch.Tensor, memo: dict[int, Any]) -> torch.Tensor:
    import copy

    if id(tensor) in memo:
        return memo[id(tensor)]
    with torch.no_grad():
        new = tensor.clone(memory_format=torch.preserve_format)
        if tensor.layout == torch.strided and new.stride() != tensor.stride():
            # a broadcast (stride-0) or gapped view: the clone packs it, where torch's
            # copy keeps the strides (it copies the storage), and a broadcast buffer's
            # reads are counted at its real size
            new = tensor.new_empty_strided(tensor.size(), tensor.stride())
    if tensor.requires_grad:
        new.requires_grad_()
    memo[id(tensor)] = new

    def deep(value: Any) -> Any:
        # the gradient or an attribute, through this mode again (it is off while its
        # handler runs): a fake tensor anywhere inside, a list's say, is copied here
        with FakeDeepcopy():
            return copy.deepcopy(value, memo)

    if tensor.grad is not None:
        new.grad = deep(tensor.grad)
    own = set(vars(new))  # the fake mode's bookkeeping, set by the clone
    for key, value in vars(tensor).items():
        if key not in own:
            setattr(new, key, deep(value))
    return new


@contextlib.contextmanager
def reparametrized(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> Iterator[None]:
    """Run ``model`` with ``state_dict``'s tensors in place of its parameters and
    buffers (tied names share one value), and put its own back after.

    ``torch.func.functional_call`` swaps every name in and back in the same order, so a
    module reachable under several names (timm's CoaT shares one ``crpe`` module among
    its blocks) got its original back from the first name and the substitute again from
    the later ones: the caller's model was left holding fake tensors. Put back in
    reverse order (``stack_weights``), the first swap, the one that took the original
    out, is undone last."""
    from torch.nn.utils.stateless import _reparametrize_module

    with _reparametrize_module(
        model, dict(state_dict), tie_weights=True, strict=False, stack_weights=True
    ):
        yield


_MODULE_INTERNALS = frozenset(
    {"_parameters", "_buffers", "_modules", "training", "_non_persistent_buffers_set"}
)


@contextlib.contextmanager
def preserve_module_state(model: torch.nn.Module) -> Iterator[None]:
    """Restore every module's plain attributes after a trace.

    Models cache tensors in attributes during forward (YOLOv5's ``Detect`` keeps its
    anchor grids in a list); traced on fake tensors, those caches would hold fake
    tensors and break the next real run. Attributes added during the trace are
    removed, replaced ones put back, and lists and dicts restored in place.
    """
    saved = []
    for mod in model.modules():
        attrs = {}
        for key, value in vars(mod).items():
            if (
                key in _MODULE_INTERNALS
                or key.startswith("_forward")
                or key.startswith("_backward")
            ):
                continue
            content = list(value) if isinstance(value, list) else None
            if isinstance(value, dict):
                content = dict(value)
            attrs[key] = (value, content)
        saved.append((mod, attrs))
    try:
        yield
    finally:
        for mod, attrs in saved:
            current = vars(mod)
            for key in [k for k in current if k not in attrs and k not in _MODULE_INTERNALS]:
                if not key.startswith(("_forward", "_backward", "_state_dict", "_load_state")):
                    del current[key]
            for key, (value, content) in attrs.items():
                if isinstance(value, list) and content is not None:
                    value[:] = content
                elif isinstance(value, dict) and content is not None:
                    value.clear()
                    value.update(content)
                current[key] = value


#: the largest tensor (in elements) that :class:`BuildValues` computes for real while a
#: model is built on fake tensors: a drop-path schedule, a relative-position index or
#: a layer-scale vector, never a weight
BUILD_VALUE_NUMEL = 1 << 16

#: uninitialised allocations: how weights are made; always fake when made from sizes
#: alone (their values are garbage until an initialiser, skipped on fake builds,
#: fills them)
_UNINITIALISED = frozenset(
    {"empty", "empty_strided", "empty_like", "new_empty", "new_empty_strided", "empty_permuted"}
)

#: constants shaped like (``*_like``) or typed as (``new_*``) a tensor, whose values
#: need none of its values: :class:`BuildValues` makes them real from a fake tensor too
_FILLED_FROM = frozenset(
    {"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full"}
)
#: the same constants from sizes alone: real above :data:`BUILD_VALUE_NUMEL` too
_FILLED = frozenset({"zeros", "ones", "full"})

#: the largest such constant (in elements) made real: fusing a re-parameterised block
#: fills an identity kernel shaped like the conv weight (MobileOne: ``zeros_like
#: (weight)``, FastViT: ``torch.zeros`` of its shape; 1,024 x 1,024 for a 1x1 conv),
#: one element at a time; on a fake tensor each of those thousands of assignments
#: goes through the fake mode, on a real one they are plain eager ops
FILLED_NUMEL = 1 << 22

#: the real bytes those constants may take in one build, all together: past it they
#: stay fake, so a model that makes every weight with ``zeros_like`` keeps no more
#: real memory than this while it is built (fakeify_module converts what it keeps)
FILLED_BUDGET_BYTES = 256 << 20


class BuildValues(torch.utils._python_dispatch.TorchDispatchMode):
    """Give a model's constructor the values it reads while it is built on fake tensors.

    Constructors compute with tensors: timm's models read a stochastic-depth schedule
    back with ``torch.linspace(0, rate, depth).tolist()``, RegNets take
    ``torch.unique`` of their stage widths. A fake tensor has no values, so those
    builds failed. Entered *above* a :class:`FakeTensorMode` (made with
    ``allow_non_fake_inputs=True``), this mode runs an op for real when none of its
    inputs is fake and its outputs hold at most :data:`BUILD_VALUE_NUMEL` elements,
    so the values exist; uninitialised allocations from sizes alone (``torch.empty``,
    how parameters are made) and everything larger or touching a fake tensor stay
    fake. An op whose
    real run fails (a ``device="cuda"`` buffer, or ``.to("cuda")`` of a small real
    tensor, on a machine without CUDA) stays fake.
    :func:`fakeify_module` then turns the few real tensors the model kept into fake
    ones, so the built model holds no real weight memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self.filled_bytes = 0  # real bytes of constants made from fake tensors (budget)

    def _affords(self, numel: int, nbytes: int) -> bool:
        """Whether a constant of ``numel`` elements (``nbytes``) may be made real: at
        most :data:`FILLED_NUMEL`, within the build's :data:`FILLED_BUDGET_BYTES`."""
        return numel <= FILLED_NUMEL and self.filled_bytes + nbytes <= FILLED_BUDGET_BYTES

    def _filled(self, func: Any, args: Any, kwargs: Any) -> Any:
        """A constant shaped like or typed as a fake CPU tensor (:data:`_FILLED_FROM`),
        made real when it is small enough and the build's budget allows, else fake."""
        from torch._subclasses.fake_tensor import FakeTensor
        from torch.utils._python_dispatch import _disable_current_modes

        fake_out = func(*args, **kwargs)
        like = args[0] if args else None
        if not (
            isinstance(fake_out, FakeTensor)
            and isinstance(like, FakeTensor)
            and fake_out.device.type == "cpu"
        ):
            return fake_out
        nbytes = _numel_bytes(fake_out)
        if not self._affords(fake_out.numel(), nbytes):
            return fake_out
        with _disable_current_modes():
            if func._schema.name.split("::")[-1].startswith("new_"):
                proxy = torch.empty((), dtype=like.dtype)  # it gives a dtype only
            else:  # its shape and layout, no values
                proxy = torch.empty_strided(like.shape, like.stride(), dtype=like.dtype)
            try:
                real = func(proxy, *args[1:], **kwargs)
            except Exception:
                return fake_out
        self.filled_bytes += nbytes
        return real

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        from torch._subclasses.fake_tensor import FakeTensor
        from torch.utils._python_dispatch import _disable_current_modes
        from torch.utils._pytree import tree_map_only

        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if any(isinstance(t, FakeTensor) for t in tensors):
            if func._schema.name.split("::")[-1] in _FILLED_FROM and len(tensors) == 1:
                return self._filled(func, args, kwargs)
            return func(*args, **kwargs)  # the fake mode below
        if not tensors:  # a factory: sized by the fake mode, which sees no real tensor
            fake_out = func(*args, **kwargs)
            n = _numel(fake_out)
            name = func._schema.name.split("::")[-1]
            if n and name in _UNINITIALISED:
                # a weight (allocated from sizes alone); an empty tensor stays real:
                # storage copies wrap their bytes in one (``set_``)
                return fake_out
            charge = 0
            if n > BUILD_VALUE_NUMEL:  # large: only a constant, within the budget
                charge = _numel_bytes(fake_out)
                if name not in _FILLED or not self._affords(n, charge):
                    return fake_out
            try:
                with _disable_current_modes():
                    real = func(*args, **kwargs)
            except Exception:  # a device="cuda" tensor without CUDA, say
                return fake_out
            self.filled_bytes += charge
            return real
        # real inputs only. A view or an in-place op returns (part of) a real input,
        # no larger than it: run it for real (fusing a re-parameterised block fills
        # an identity kernel element by element, thousands of such ops). Otherwise
        # size the output on meta copies (never run an op on a real tensor twice:
        # in-place ops and storage swaps, as deepcopy does, must not see a fake
        # conversion of their input)
        returns = func._schema.returns
        if returns and all(r.alias_info is not None for r in returns):
            with _disable_current_modes():
                return func(*args, **kwargs)
        try:
            with _disable_current_modes():
                meta_args, meta_kwargs = tree_map_only(
                    torch.Tensor, lambda t: t.to("meta"), (args, kwargs)
                )
                large = _numel(func(*meta_args, **meta_kwargs)) > BUILD_VALUE_NUMEL
        except Exception:  # needs values (.item(), unique): bounded by its small inputs
            large = False
        if large:
            return func(*args, **kwargs)  # the fake mode below converts the inputs
        try:
            with _disable_current_modes():
                return func(*args, **kwargs)
        except Exception:  # a move to CUDA without CUDA, say: as a factory, it stays fake
            return func(*args, **kwargs)


def _numel(out: Any) -> int:
    return sum(t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))


def _numel_bytes(out: Any) -> int:
    return sum(
        t.numel() * t.element_size() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)
    )


def fakeify_module(model: torch.nn.Module, mode: Any) -> None:
    """Replace every real parameter and buffer of ``model`` by a fake tensor of
    ``mode`` (same shape, strides, dtype, requires_grad), in place; a tensor shared by
    several modules (tied weights) stays shared."""
    from torch._subclasses.fake_tensor import FakeTensor

    done: dict[int, torch.Tensor] = {}

    def fake(t: torch.Tensor, parameter: bool) -> torch.Tensor:
        if id(t) not in done:
            f = to_fake(mode, t.detach())
            done[id(t)] = torch.nn.Parameter(f, t.requires_grad) if parameter else f
        return done[id(t)]

    for module in model.modules():
        for table, parameter in ((module._parameters, True), (module._buffers, False)):
            for key, t in table.items():
                if t is not None and not isinstance(t, FakeTensor):
                    table[key] = fake(t, parameter)
