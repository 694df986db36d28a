"""The counter: run a model under a ``TorchDispatchMode`` and cost every aten op.

By default the model runs on *fake* tensors (``FakeTensorMode``): shapes, dtypes and
strides propagate, but no memory is allocated for data and no arithmetic is done,
so a 70B-parameter model is profiled on a laptop. With ``real=True`` the same
counting runs over real tensors, as a cross-check.

Attribution: forward ops go to the innermost module whose ``forward`` is running
(module hooks keep a stack). Backward ops go to the module that created the autograd
node being executed: every node is tagged with its module path when it is created
(a ``TorchFunctionMode`` sees each node right after it exists, above autograd) and
read back during backward with ``torch._C._current_autograd_node()``.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from roofline.counting.formulas import Cost, Entry, T, is_free, lookup
from roofline.counting.profile import ModelProfile, ModuleInfo, OpRecord
from roofline.counting.quantized import (
    Packed,
    PackedCache,
    named_packed,
    packed_bytes,
    packed_params,
    unpack,
)
from roofline.counting.tracing import (
    FAKE_OUTPUTS,
    NO_TRAINABLE_OUTPUT,
    ModuleStack,
    QuantizedOnFakeError,
    TagMode,
    differentiable_outputs,
    failure_detail,
    find_fake_mode,
    index_range_hint,
    input_shapes_of,
    module_hooks,
    op_name,
    preserve_module_state,
    quiet_fake_tensor_log,
    reparametrized,
    to_fake,
    train_mode,
)
from roofline.errors import CountingError
from roofline.units import dtype_name

#: a tensor's layout as torch's C++ side holds it: a fake tensor's ``layout`` is a
#: Python property (it asks the dispatch keys whether the tensor poses as mkldnn),
#: three Python calls for every tensor of every op
_c_layout = torch._C.TensorBase.layout.__get__


def _dense(t: torch.Tensor) -> bool:
    """Whether ``t`` is strided, contiguous and not empty: then it addresses each of its
    ``numel`` elements once (a stride-0 dim has size 1, the span is numel), which is
    what :func:`_unique_elements` would work out. An empty tensor may still span
    memory; an mkldnn one reports contiguous over strides of its own."""
    return _c_layout(t) is torch.strided and t.is_contiguous() and t.numel() > 0


def _unique_elements(t: torch.Tensor) -> int:
    """Distinct elements a tensor addresses: broadcast (stride-0) dims count once, and
    a view whose windows overlap (``x.unfold(-1, 400, 160)``, framing audio) addresses
    no more elements than the memory it spans, ``1 + Σ (size − 1)·|stride|``. A tensor
    of no elements addresses none, whatever its strides (a stride-0 view of shape
    ``(4, 0)`` spans one element's memory, which it never reads). An mkldnn tensor is
    stored dense in a layout of its own: its strides (torch reports ``(1, 0)`` for a
    ``2×3``) say nothing of its memory, and it holds all its ``numel`` elements."""
    if _dense(t):
        return t.numel()
    n = t.numel()
    if n == 0 or _c_layout(t) is torch._mkldnn:
        return n
    if t.dim() == 0:
        return 1
    dims = [(s, st) for s, st in zip(t.shape, t.stride(), strict=False) if st != 0]
    count = math.prod(s for s, _ in dims)
    if count == 0:
        return 0
    return min(count, 1 + sum((s - 1) * abs(st) for s, st in dims))


def _storage_key(t: torch.Tensor, keep: dict[int, Any] | None = None) -> int | None:
    """The address of ``t``'s storage, the fused estimate's name for it. An address is
    only a name while its storage lives: a freed one is reused for a later tensor, and
    the estimate would then join two unrelated tensors' dataflow (swin_t's fused bytes
    moved by ~0.5 % from run to run). ``keep`` holds a weak reference to every storage
    named in one count: a C++ weak reference keeps the storage object's memory (not its
    data) allocated, so no address is reused while the count runs."""
    try:
        storage = t.untyped_storage()
    except Exception:
        return None
    key = storage._cdata
    if keep is not None and key not in keep:
        keep[key] = StorageWeakRef(storage)
    return key


def _as_t(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        shape = tuple(x.shape)
        # broadcast or overlapping: the formula may read it at its real size
        if not _dense(x) and x.layout == torch.strided:
            distinct = _unique_elements(x)
            if distinct != x.numel():
                return T(shape, x.dtype, distinct)
        return T(shape, x.dtype)
    return x


def _tensors(values: Any) -> list[torch.Tensor]:
    """The tensors among an op's arguments or outputs. aten signatures nest at most
    one level (``Tensor[]``), so a direct walk replaces the slower pytree flatten."""
    out: list[torch.Tensor] = []
    for v in values:
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, list | tuple):
            out.extend(x for x in v if isinstance(x, torch.Tensor))
    return out


def _as_t_nested(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return _as_t(x)
    if isinstance(x, list | tuple):
        return [_as_t(v) for v in x]
    return x


@dataclass(frozen=True)
class _OpFacts:
    """What the counter needs of an op that depends only on the op: read once per
    op per count (building the name and walking the schema cost more than the rest of
    an op's record)."""

    name: str
    free: bool
    entry: Entry | None
    #: the schema's arguments, with their names and whether they are keyword-only
    arguments: tuple[tuple[str, bool, Any], ...]
    #: the names of its ``out=`` arguments: written, never read
    outs: tuple[str, ...]

    @classmethod
    def of(cls, func: Any) -> _OpFacts:
        schema = func._schema.arguments
        return cls(
            name=op_name(func),
            free=is_free(func),
            entry=lookup(func),
            arguments=tuple((a.name, a.kwarg_only, a) for a in schema),
            outs=tuple(a.name for a in schema if a.is_out),
        )


def _named_args(facts: _OpFacts, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Map an op's arguments to their schema names (defaults filled in); tensors are
    replaced by :class:`T` (shape and dtype, and a broadcast tensor's distinct
    elements), which is all a formula may look at."""
    named: dict[str, Any] = {}
    for i, (name, kwarg_only, arg) in enumerate(facts.arguments):
        if i < len(args) and not kwarg_only:
            named[name] = _as_t_nested(args[i])
        elif name in kwargs:
            named[name] = _as_t_nested(kwargs[name])
        elif arg.has_default_value():
            named[name] = arg.default_value
    return named


def _read_overrides(
    facts: _OpFacts, args: Sequence[Any], kwargs: Mapping[str, Any], cost: Cost | None
) -> dict[int, int]:
    """Per tensor id, the bytes the op reads of it where its formula says so: 0 for
    the arguments in ``cost.unread`` and for ``out=`` tensors (the schema's, which
    every op only writes), the bytes in ``cost.reads`` for those named there; only
    for tensors that no other argument also passes (those are read whole)."""
    # (an op without a formula, cost None, still has its out= tensors)
    unread, reads = (cost.unread, cost.reads) if cost is not None else ((), {})
    if not (unread or reads or facts.outs):
        return {}
    named = dict.fromkeys((*facts.outs, *unread), 0) | dict(reads)
    over: dict[int, int] = {}
    keep: set[int] = set()
    for i, (name, kwarg_only, _) in enumerate(facts.arguments):
        if i < len(args) and not kwarg_only:
            value = args[i]
        elif name in kwargs:
            value = kwargs[name]
        else:
            continue
        nbytes = named.get(name)
        for t in _tensors((value,)):
            if nbytes is None:
                keep.add(id(t))
            else:
                over[id(t)] = max(over.get(id(t), 0), nbytes)
    return {k: v for k, v in over.items() if k not in keep}


def _partly_updated(
    in_tensors: Sequence[torch.Tensor], out_tensors: Sequence[torch.Tensor], cost: Cost | None
) -> set[int]:
    """The ids of the tensors an op updates in place (inputs it returns) when its
    formula says it writes less than all of them (an in-place scatter's
    ``bytes_written``): the rest keeps the value an earlier op wrote, so for the fused
    estimate the op depends on that value even where it reads none of it
    (``Cost.reads`` of 0: ``index_copy_``, ``x[idx] = v``), and the earlier write
    cannot be folded into another reader."""
    if cost is None or cost.bytes_written is None:
        return set()
    ids = {id(t) for t in in_tensors}
    own = [t for t in out_tensors if id(t) in ids]
    whole = sum(_unique_elements(t) * t.element_size() for t in own)
    return {id(t) for t in own} if cost.bytes_written < whole else set()


@dataclass
class _State(ModuleStack):
    ops: list[OpRecord] = field(default_factory=list)
    uncounted: Counter = field(default_factory=Counter)
    weight_storages: set[int] = field(default_factory=set)
    #: the ids of the weights that have no storage to name them (an mkldnn tensor's
    #: is opaque); the model holds them for the whole count, so no id is reused
    weight_ids: set[int] = field(default_factory=set)
    #: the packed params of quantized layers (:func:`quantized.cached_unpack`)
    packed: PackedCache = field(default_factory=dict)
    fake: bool = True
    #: dataflow for the fused estimate: per op, (storage key, bytes) read and written
    reads: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    writes: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    #: every storage named in ``reads``/``writes``, weakly (see :func:`_storage_key`)
    storages: dict[int, Any] = field(default_factory=dict)
    #: per op (OpOverload) met in this count, its :class:`_OpFacts`
    op_facts: dict[Any, _OpFacts] = field(default_factory=dict)


class _CountMode(TorchDispatchMode):
    """Records an :class:`OpRecord` for every aten op that reaches it."""

    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        st = self.state
        facts = st.op_facts.get(func)
        if facts is None:
            facts = st.op_facts[func] = _OpFacts.of(func)
        name = facts.name
        if st.fake and func.namespace == "quantized":
            # no fake kernel: refuse before the real one runs on fake data
            raise QuantizedOnFakeError(name)
        if st.fake and name in FAKE_OUTPUTS:
            out = FAKE_OUTPUTS[name](args, kwargs)
        else:
            out = func(*args, **kwargs)
        if facts.free:
            return out
        phase, module = st.where()
        st.ops.append(self._record(facts, args, kwargs, out, module, phase))
        return out

    def _record(
        self,
        facts: _OpFacts,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        out: Any,
        module: str,
        phase: str,
    ) -> OpRecord:
        st = self.state
        name = facts.name
        out_tensors = _tensors(out if isinstance(out, list | tuple) else (out,))
        # packed params (quantized layers) are script objects passed as arguments
        values = [*args, *kwargs.values()]
        has_script = any(isinstance(v, torch.ScriptObject) for v in values)
        cost = None
        if facts.entry is not None:
            named = _named_args(facts, args, kwargs)
            if has_script:
                named = named_packed(named, st.packed)
            cost = facts.entry.fn(named, [T(tuple(t.shape), t.dtype) for t in out_tensors])
        override = _read_overrides(facts, args, kwargs, cost)
        in_tensors = _tensors(args) + _tensors(kwargs.values())
        updated = _partly_updated(in_tensors, out_tensors, cost) if override else set()
        seen: set[int] = set()
        read = weight = 0
        dtype = None
        reads: list[tuple[int, int]] = []
        for t in in_tensors:
            if id(t) in seen:
                continue
            seen.add(id(t))
            if dtype is None and t.is_floating_point():
                dtype = t.dtype
            nbytes = override.get(id(t))
            if nbytes is None:
                nbytes = _unique_elements(t) * t.element_size()
            elif nbytes == 0:  # not read (``Cost.unread``)
                if id(t) in updated:  # its old value stays where the op does not write
                    key = _storage_key(t, st.storages)
                    if key is not None and key not in st.weight_storages:
                        reads.append((key, 0))
                continue
            read += nbytes
            key = _storage_key(t, st.storages)
            if key in st.weight_storages or (key is None and id(t) in st.weight_ids):
                weight += nbytes
            elif key is not None:
                reads.append((key, nbytes))
        written = 0
        writes: list[tuple[int, int]] = []
        seen.clear()
        for t in out_tensors:
            if id(t) not in seen:
                seen.add(id(t))
                nbytes = _unique_elements(t) * t.element_size()
                written += nbytes
                key = _storage_key(t, st.storages)
                if key is not None:
                    writes.append((key, nbytes))
        # a quantized layer's weights come as packed params, not tensors: read once
        packed = packed_bytes(values, st.packed) if has_script else 0
        read += packed
        weight += packed
        st.reads.append(tuple(reads))
        st.writes.append(tuple(writes))
        if dtype is None:
            dtype = next((t.dtype for t in out_tensors), torch.float32)

        matrix = vector = 0
        op_class = "other"
        dims: Mapping[str, int] = {}
        counted = cost is not None
        if cost is not None:
            matrix, vector, op_class, dims = (
                cost.matrix_flops,
                cost.vector_flops,
                cost.op_class,
                cost.dims,
            )
            if cost.bytes_read is not None:
                weight = min(weight, cost.bytes_read)
                read = cost.bytes_read
            if cost.bytes_written is not None:
                written = cost.bytes_written
        else:
            st.uncounted[name] += 1
        return OpRecord(
            op=name,
            module=module,
            phase=phase,
            op_class=op_class,
            matrix_flops=int(matrix),
            vector_flops=int(vector),
            bytes_read=int(read),
            bytes_written=int(written),
            weight_bytes=int(weight),
            dtype=dtype_name(dtype),
            counted=counted,
            input_shapes=tuple(tuple(t.shape) for t in in_tensors),
            output_shapes=tuple(tuple(t.shape) for t in out_tensors),
            dims=MappingProxyType(dict(dims)),
        )


# --------------------------------------------------------------------------- module facts


def module_table(
    model: torch.nn.Module, packed: Sequence[tuple[str, Packed]] = ()
) -> list[dict[str, Any]]:
    """Parameter and buffer counts per module; shared parameters count once, at the
    first module (in definition order) that holds them. ``packed`` adds the weights
    and biases of quantized layers (``(module name, Packed)``, :func:`packed_params`),
    which are parameters that no grad reaches."""
    modules = list(model.named_modules())
    own: dict[str, list[int]] = {name: [0, 0, 0] for name, _ in modules}
    for pname, p in model.named_parameters():
        owner = pname.rpartition(".")[0]
        own[owner][0] += p.numel()
        if p.requires_grad:
            own[owner][1] += p.numel()
    for owner, pk in packed:
        own[owner][0] += pk.numel
    for bname, b in model.named_buffers():
        own[bname.rpartition(".")[0]][2] += b.numel()
    # add each module's own counts to itself and every ancestor: linear in size
    total: dict[str, list[int]] = {name: [0, 0, 0] for name, _ in modules}
    for owner, counts in own.items():
        if not any(counts):
            continue
        parts = owner.split(".") if owner else []
        for k in range(len(parts) + 1):
            acc = total.get(".".join(parts[:k]))
            if acc is not None:
                for i in range(3):
                    acc[i] += counts[i]
    table = []
    for name, mod in modules:
        table.append(
            {
                "name": name,
                "type": type(mod).__name__,
                "depth": 0 if not name else name.count(".") + 1,
                "params": total[name][0],
                "own_params": own[name][0],
                "trainable_params": total[name][1],
                "buffers": total[name][2],
                "is_leaf": not any(True for _ in mod.children()),
            }
        )
    return table


def count(
    model: torch.nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    mode: str = "inference",
    real: bool = False,
    name: str | None = None,
    info: Mapping[str, Any] | None = None,
) -> ModelProfile:
    """Count the cost of one forward (inference) or forward + backward (training).

    ``model`` may hold real, meta or fake tensors; unless ``real`` is set, everything
    is converted to fake tensors (no weight memory, no arithmetic) and the model's
    own parameters are left untouched.
    """
    if not isinstance(model, torch.nn.Module):
        raise CountingError(
            f"expected a torch.nn.Module to count, got {type(model).__name__}"
            + (" (call the builder to make the model)" if callable(model) else "")
        )
    kwargs = dict(kwargs or {})
    if mode not in ("inference", "training"):
        raise CountingError(f"unknown mode {mode!r}: use inference or training")
    training = mode == "training"
    state = _State(fake=not real)
    packed = [(owner, obj, unpack(obj)) for owner, obj in packed_params(model)]
    state.packed.update((id(obj), (obj, pk)) for _, obj, pk in packed)
    table = module_table(model, [(owner, pk) for owner, _, pk in packed])
    shapes: dict[str, Any] = {}

    named_tensors = dict(model.named_parameters(remove_duplicate=False))
    named_tensors.update(dict(model.named_buffers(remove_duplicate=False)))
    all_inputs = [t for t in tree_flatten((list(args), kwargs))[0] if isinstance(t, torch.Tensor)]

    fake_mode = None
    if not real:
        from torch._subclasses.fake_tensor import FakeTensorMode

        # a model's tensors that are neither parameters nor buffers (a table kept as a
        # plain attribute, torchvision's anchor cache) stay real: the mode converts each
        # where the forward meets it, as the VRAM trace's does (memory.tracker.trace)
        fake_mode = find_fake_mode([*named_tensors.values(), *all_inputs]) or FakeTensorMode(
            allow_non_fake_inputs=True
        )
        convert = {id(t): to_fake(fake_mode, t) for t in [*named_tensors.values(), *all_inputs]}

        def fake(x: Any) -> Any:
            return convert.get(id(x), x) if isinstance(x, torch.Tensor) else x

        state_dict = {k: fake(v) for k, v in named_tensors.items()}
        run_args = tree_map(fake, list(args))
        run_kwargs = tree_map(fake, kwargs)
        weights = state_dict.values()
    else:
        for t in named_tensors.values():
            if t.device.type == "meta":
                raise CountingError(
                    "--real needs a model with real weights, but this one was built on the "
                    "meta device; drop --real to count on fake tensors"
                )
        state_dict = None
        run_args, run_kwargs = list(args), kwargs
        weights = named_tensors.values()
    for w in weights:
        key = _storage_key(w, state.storages)
        if key is not None:
            state.weight_storages.add(key)
        else:
            state.weight_ids.add(id(w))

    with (
        train_mode(model, training),
        preserve_module_state(model),
        module_hooks(model, state, shapes),
        quiet_fake_tensor_log(),
    ):
        try:
            _run(model, run_args, run_kwargs, state_dict, state, training, fake_mode)
        except CountingError:
            raise
        except Exception as exc:
            # over real tensors the fake-tensor hint ("try --real") would send the
            # user to the flag they already gave
            fix = None if real else "try --real, which counts on real tensors"
            detail = failure_detail(state, exc, fix) + index_range_hint(exc, (args, kwargs))
            raise CountingError(f"the model rejected its inputs{detail}") from exc

    ops = _with_fused_savings(state) if not training else state.ops
    # the root has no hook entry (it is the stack's base): it received the inputs
    shapes[""] = {"input": input_shapes_of(args, kwargs)}
    modules = []
    for row in table:
        s = shapes.get(row["name"], {})
        modules.append(
            ModuleInfo(
                **row,
                output_shape=s.get("output"),
                input_shape=s.get("input"),
                calls=s.get("calls", 1 if row["name"] == "" else 0),
            )
        )
    root = table[0]
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    param_bytes += sum(pk.nbytes for _, _, pk in packed)
    float_params = [p.dtype for p in model.parameters() if p.is_floating_point()]
    # a quantized model's weights are its packed ones (qint8): its dtype, not its input's
    packed_weights = [pk.weight.dtype for _, _, pk in packed]
    float_inputs = [t.dtype for t in all_inputs if t.is_floating_point()]
    dtype = (float_params or packed_weights or float_inputs or [torch.float32])[0]
    return ModelProfile(
        name=name or type(model).__name__,
        mode=mode,
        inputs=tuple(_describe_inputs(args, kwargs)),
        dtype=dtype_name(dtype),
        modules=tuple(modules),
        ops=tuple(ops),
        uncounted_ops=MappingProxyType(dict(sorted(state.uncounted.items()))),
        params=root["params"],
        trainable_params=root["trainable_params"],
        buffers=root["buffers"],
        param_bytes=param_bytes,
        counter="real" if real else "fake",
        torch_version=torch.__version__,
        info=MappingProxyType(dict(info or {})),
    )


#: op classes a fusing compiler folds into the kernel that produced their input
FUSIBLE = frozenset({"elementwise", "norm", "softmax"})


def _with_fused_savings(state: _State) -> list[OpRecord]:
    """The fused estimate: fold elementwise chains into their producer.

    An intermediate tensor X written by op P and read by exactly one op E, where E is
    elementwise (or a norm or softmax) need never reach memory if E is fused into P
    (as torch.compile's Inductor does for pointwise chains): P saves the write of X and
    E saves the read. Each op's ``fused_saved`` holds the bytes it would no longer
    move. Computed for inference only (in training, a fused intermediate may still be
    stored for backward, which this pass cannot see).
    """
    writer: dict[int, tuple[int, int]] = {}  # storage key -> (op index, bytes written)
    consumers: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, (reads, writes) in enumerate(zip(state.reads, state.writes, strict=True)):
        for key, nbytes in reads:
            w = writer.get(key)
            if w is not None:
                consumers.setdefault((key, w[0]), []).append((i, nbytes))
        for key, nbytes in writes:
            writer[key] = (i, nbytes)
            consumers.setdefault((key, i), [])
    saved = [0] * len(state.ops)
    written_by = {(key, i): nbytes for i, ws in enumerate(state.writes) for key, nbytes in ws}
    for (key, producer), readers in consumers.items():
        if len(readers) != 1:
            continue
        consumer, read_bytes = readers[0]
        if consumer == producer or state.ops[consumer].op_class not in FUSIBLE:
            continue
        saved[producer] += written_by[(key, producer)]
        saved[consumer] += read_bytes
    return [
        replace(op, fused_saved=min(s, op.bytes)) if s else op
        for op, s in zip(state.ops, saved, strict=True)
    ]


def _describe_inputs(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append({"shape": list(a.shape), "dtype": dtype_name(a.dtype)})
    for k, v in kwargs.items():
        if isinstance(v, torch.Tensor):
            out.append({"name": k, "shape": list(v.shape), "dtype": dtype_name(v.dtype)})
    return out


def _run(
    model: torch.nn.Module,
    args: list[Any],
    kwargs: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None,
    state: _State,
    training: bool,
    fake_mode: Any,
) -> None:
    def forward() -> Any:
        if state_dict is None:
            return model(*args, **kwargs)
        with reparametrized(model, state_dict):
            return model(*args, **kwargs)

    outer = fake_mode if fake_mode is not None else contextlib.nullcontext()
    with outer:
        if not training:
            with torch.no_grad(), _CountMode(state):
                forward()
            return
        with torch.enable_grad(), TagMode(state), _CountMode(state):
            out = forward()
        # backward: one unit gradient per float output that needs one; the seed
        # gradients are created outside the counter (they are not the model's work)
        outs = differentiable_outputs(out)
        if not outs:
            raise CountingError(NO_TRAINABLE_OUTPUT)
        grads = [torch.ones_like(t) for t in outs]
        leaves = [
            t
            for t in (state_dict.values() if state_dict is not None else model.parameters())
            if t.requires_grad
        ]
        with _CountMode(state):
            torch.autograd.grad(outs, leaves, grads, allow_unused=True)
