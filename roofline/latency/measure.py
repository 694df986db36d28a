"""Measured latency: end-to-end timings and per-module times of a real model run.

End-to-end: ``warmup`` untimed runs, then ``repeat`` timed runs; each timed run is
``sync(); t0 = clock(); step(); sync(); t1 = clock()``. On CPU ``clock`` is
``time.perf_counter`` and ``sync`` does nothing; on CUDA ``sync`` is
``torch.cuda.synchronize`` so the region holds every kernel the step launched. The
result is the median and the interquartile range (``spread``) of the samples.
Inference runs under ``torch.inference_mode`` with the model in ``eval()``; training
runs forward + backward (+ an SGD step with ``optimizer_step=True``) in ``train()``.
Inputs are real tensors with random data (``ModelSpec.example_inputs``).

Per module (:data:`LAYER_METHODS`):

* ``"hooks"``: forward pre/post hooks on every module call ``sync`` and read the
  clock; a module's *inclusive* time is post − pre, its *self* time is that minus its
  children's inclusive time (the ops the module runs itself, plus the hook cost of
  the boundary). Self times over all modules add up to the root's inclusive time.
* ``"profiler"``: the same hooks open and close ``torch.profiler.record_function``
  ranges; times come from the profiler's events (CPU time of the range on CPU, the
  sum of device-kernel times inside the range on CUDA).

In a training step both methods also time each module's backward: the forward hook
claims the autograd nodes the module's own ops created (:class:`_BackwardClaims`), and
hooks on those nodes clock (or open a range around) each one as the backward runs it;
a module's time is then its forward plus its nodes' backward, as the prediction's
layer rows are. The autograd engine's own work between nodes is in no module.

Per-module timing runs in separate passes after the end-to-end timing, so the
end-to-end figure never carries instrumentation. ``benchmarks/per_layer_method.py``
measures what each method adds (docs/latency.md).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from roofline.counting.tracing import index_range_hint, train_mode
from roofline.devices.bench import gc_paused
from roofline.errors import MeasurementError, OutOfMemory, RooflineError, first_line
from roofline.spec import ModelSpec
from roofline.units import plural, seconds

Clock = Callable[[], float]
Sync = Callable[[], None]
Progress = Callable[[str], None]

LAYER_METHODS = ("hooks", "profiler")
#: how each of :data:`LAYER_METHODS` times a layer, in a report's words
LAYER_METHOD_WORDS = {
    "hooks": "module hooks (the clock read at every module boundary)",
    "profiler": "torch.profiler ranges around every module",
}
DEVICES = ("cpu", "cuda")


def _nosync() -> None:
    return None


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default)."""
    if not sorted_xs:
        raise ValueError("no samples")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Timing:
    """Timed samples of one region, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range (75th − 25th percentile): robust to a few outliers."""
        xs = sorted(self.samples)
        return _quantile(xs, 0.75) - _quantile(xs, 0.25)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median_s": self.median,
            "spread_s": self.spread,
            "min_s": self.min,
            "max_s": self.max,
            "samples": len(self.samples),  # the count (the key older files have)
            "samples_s": list(self.samples),  # every timed run, in the order run
        }


def time_region(
    step: Callable[[], object],
    *,
    warmup: int = 3,
    repeat: int = 10,
    clock: Clock = time.perf_counter,
    sync: Sync = _nosync,
    progress: Progress | None = None,
    label: str = "",
) -> Timing:
    """Run ``step`` ``warmup`` times untimed, then time ``repeat`` runs.

    Each timed run is bracketed by ``sync()`` before reading the clock at both ends,
    so asynchronous work (CUDA kernels) is inside the region and nothing from before
    leaks into it. Python's garbage collector is off during the timed runs, as in
    ``timeit`` (:func:`~roofline.devices.bench.gc_paused`), and back as it was after.
    """
    if repeat < 1:
        raise MeasurementError(f"repeat must be at least 1, got {repeat}")
    if warmup < 0:
        raise MeasurementError(f"warmup must be 0 or more, got {warmup}")
    say = progress or (lambda _m: None)
    for i in range(warmup):
        say(f"{label}warm-up {i + 1}/{warmup}")
        step()
        sync()
    samples = []
    with gc_paused():  # as timeit: no collection's pause inside one run
        for i in range(repeat):
            say(f"{label}run {i + 1}/{repeat}")
            sync()
            t0 = clock()
            step()
            sync()
            samples.append(clock() - t0)
    return Timing(tuple(samples))


# ------------------------------------------------------------------------ measurement


@dataclass(frozen=True)
class ModuleTime:
    """Median times of one module over the per-layer passes (seconds)."""

    name: str
    inclusive_s: float
    self_s: float
    inclusive_spread_s: float
    self_spread_s: float
    calls: int


#: an end-to-end IQR above this share of the median gets a note
#: (:attr:`Measurement.unsteady_note`); on a quiet machine most are under 3%
UNSTEADY_SPREAD = 0.25


@dataclass(frozen=True)
class Measurement:
    """What :func:`measure` measured for one model, device, batch and mode."""

    model: str
    device: str  #: "cpu" or "cuda:0"
    device_name: str
    batch: int | None
    mode: str
    timing: Timing
    warmup: int
    threads: int
    torch_version: str
    layer_method: str | None = None
    modules: Mapping[str, ModuleTime] = field(default_factory=dict)
    layer_passes: int = 0
    optimizer_step: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "modules", MappingProxyType(dict(self.modules)))

    @property
    def median_s(self) -> float:
        return self.timing.median

    @property
    def spread_s(self) -> float:
        return self.timing.spread

    @property
    def unsteady_note(self) -> str | None:
        """A note when the end-to-end runs spread by more than :data:`UNSTEADY_SPREAD`
        of their median (other load on the machine; on a shared CPU, torch threads
        waiting for a descheduled one): the median is then a rough figure. None when
        the runs agree."""
        median, spread = self.median_s, self.spread_s
        if not median or spread <= UNSTEADY_SPREAD * median:
            return None
        cpu = self.device == "cpu"
        return (
            f"the timed runs spread widely (IQR {seconds(spread)}, {spread / median:.0%} of "
            f"the median {seconds(median)}): the machine was busy"
            + (
                f", or {plural(self.threads, 'torch thread')} waited for each other on a shared "
                "CPU (fewer threads help: `bench --threads 1`, docs/latency.md)"
                if cpu and self.threads > 1
                else ""
            )
            + "; take these times as rough and measure again on a quiet machine"
        )

    @property
    def per_layer_sum_s(self) -> float | None:
        """The root module's inclusive time in the per-layer passes (instrumented)."""
        root = self.modules.get("")
        return root.inclusive_s if root else None

    def layer_time(self, name: str, self_only: bool = False) -> tuple[float, float] | None:
        """(median, spread) of a layer row: inclusive time, or self time for a
        ``self_only`` row; None if the module was not timed."""
        key = "" if name == "(model)" else name
        m = self.modules.get(key)
        if m is None:
            if self_only or not key:
                return None
            # a container whose forward was never called (its parent iterates over its
            # children, as YOLOv5's model does): the sum of its top-most timed descendants
            desc = [n for n in self.modules if n.startswith(key + ".")]
            tops = [n for n in desc if not any(n.startswith(o + ".") for o in desc)]
            if not tops:
                return None
            return (
                sum(self.modules[n].inclusive_s for n in tops),
                sum(self.modules[n].inclusive_spread_s for n in tops),
            )
        if self_only:
            return m.self_s, m.self_spread_s
        return m.inclusive_s, m.inclusive_spread_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "device_name": self.device_name,
            "batch": self.batch,
            "mode": self.mode,
            "optimizer_step": self.optimizer_step,
            "threads": self.threads,
            "torch_version": self.torch_version,
            "warmup": self.warmup,
            "end_to_end": self.timing.as_dict(),
            "layer_method": self.layer_method,
            "layer_passes": self.layer_passes,
            "per_layer_sum_s": self.per_layer_sum_s,
            "note": self.unsteady_note,  # (None when the runs agree)
        }


#: glibc tunables that stop the C allocator returning freed memory to the OS
ALLOCATOR_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
#: allocators that keep freed memory (their library names, as in LD_PRELOAD)
CACHING_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


def allocator_note(
    device: str,
    environ: Mapping[str, str] | None = None,
    libc: tuple[str, str] | None = None,
) -> str | None:
    """A note for CPU timings under glibc's default allocator, or None.

    glibc returns freed memory above its thresholds to the OS, so eager PyTorch's
    activations come back as new pages that fault on first touch; which ones do
    depends on the allocator's history, and it can make CPU inference 2-3x slower and
    its timings unstable (docs/latency.md). None on CUDA, off glibc, or when the
    tunables are set or a caching allocator is preloaded.
    """
    import os
    import platform

    if str(device).strip().lower() != "cpu":
        return None
    env = os.environ if environ is None else environ
    lib, _version = platform.libc_ver() if libc is None else libc
    if lib != "glibc":
        return None
    if all(env.get(k) for k in ALLOCATOR_SETTINGS):
        return None
    if any(a in env.get("LD_PRELOAD", "") for a in CACHING_ALLOCATORS):
        return None
    return (
        "glibc's allocator returns freed activations to the OS, so CPU timings include "
        "page faults that vary from run to run (often 2-3x at large batches); for stable "
        "numbers run with MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_MMAP_THRESHOLD_=4000000000 "
        "set, or with jemalloc/tcmalloc preloaded (see docs/latency.md)"
    )


def check_device(device: str, option: str = "--device") -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a torch device; a clear error if CUDA is
    absent (``option``: the command-line option the device came from)."""
    text = str(device).strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise MeasurementError(
                f"{option} {text}: CUDA is not available to torch here (no GPU, no driver, "
                f"or a CPU-only torch build); measure on the CPU with {option} cpu"
            )
        dev = torch.device(text)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise MeasurementError(
                f"CUDA device {dev.index} does not exist ({torch.cuda.device_count()} visible)"
            )
        return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
    raise MeasurementError(f"unknown device {device!r}: use cpu or cuda (cuda:N)")


def device_sync(dev: torch.device) -> Sync:
    """The synchronise function for ``dev``: a no-op on CPU."""
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return _nosync


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    from roofline.devices.host_cpu import cpu_model

    return f"{cpu_model()} ({plural(torch.get_num_threads(), 'thread')})"


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "bad_alloc" in text


def _first_line(exc: BaseException) -> str:
    return first_line(exc)[:300]  # a CUDA error's first line can run long


@contextlib.contextmanager
def _translate_errors(what: str, inputs: Any = ()) -> Iterator[None]:
    """Errors of a run on real tensors as one line (``inputs``: the model's, for
    :func:`~roofline.counting.tracing.index_range_hint`)."""
    try:
        yield
    except RooflineError:
        raise
    except Exception as exc:
        if _is_oom(exc):
            raise OutOfMemory(f"{what}: out of memory ({_first_line(exc)})") from exc
        raise MeasurementError(
            f"{what} failed on real tensors: {type(exc).__name__}: {_first_line(exc)}"
            + index_range_hint(exc, inputs)
        ) from exc


def _float_outputs(out: Any) -> list[torch.Tensor]:
    return [
        t
        for t in tree_flatten(out)[0]
        if isinstance(t, torch.Tensor) and t.requires_grad and t.is_floating_point()
    ]


def make_step(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    mode: str,
    optimizer_step: bool = False,
) -> Callable[[], object]:
    """One inference (``inference_mode``) or one training step (forward + backward,
    optionally an SGD step) as a zero-argument callable."""
    if mode == "inference":
        model.eval()

        def infer() -> object:
            with torch.inference_mode():
                return model(*args, **kwargs)

        return infer
    if mode != "training":
        raise MeasurementError(f"unknown mode {mode!r}: use inference or training")
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-6) if optimizer_step and params else None
    grads: list[torch.Tensor] = []

    def train() -> object:
        out = model(*args, **kwargs)
        outs = _float_outputs(out)
        if not outs:
            raise MeasurementError(
                "training mode needs an output that depends on trainable parameters"
            )
        if not grads:  # random output gradients, made once, outside later timings
            grads.extend(torch.randn_like(t) for t in outs)
        torch.autograd.backward(outs, grads)
        if opt is not None:
            opt.step()
        model.zero_grad(set_to_none=True)
        return None

    return train


# ------------------------------------------------------------------ per-module timing


def _grad_fns(value: Any) -> set[Any]:
    """The autograd nodes that produced the tensors in ``value`` (any nesting)."""
    return {
        t.grad_fn
        for t in tree_flatten(value)[0]
        if isinstance(t, torch.Tensor) and t.grad_fn is not None
    }


class _BackwardClaims:
    """Which module's backward each autograd node is, for per-layer times of training.

    A forward hook sees the module's outputs; walking their autograd graph back to the
    nodes that made the module's inputs, every node not claimed yet was created by this
    module's own ops (its children claimed theirs when they returned): the module
    claims it, with the ``AccumulateGrad`` nodes of its parameters. ``on_start`` and
    ``on_end`` then run around each claimed node when the backward executes it (node
    pre/post hooks, on whatever thread the autograd engine uses). No module backward
    hooks, so in-place modules (``ReLU(inplace=True)``) need no special care.
    """

    def __init__(
        self, on_start: Callable[[Any, str], None], on_end: Callable[[Any, str], None]
    ) -> None:
        self.on_start, self.on_end = on_start, on_end
        self.claimed: dict[Any, str] = {}
        self.handles: list[Any] = []

    def boundary(self, inputs: Any) -> set[Any]:
        """What a module's walk stops at: the nodes of its inputs (none without grad)."""
        return _grad_fns(inputs) if torch.is_grad_enabled() else set()

    def claim(self, name: str, outputs: Any, boundary: set[Any]) -> None:
        if not torch.is_grad_enabled():
            return
        todo = list(_grad_fns(outputs))
        while todo:
            node = todo.pop()
            if node in boundary or node in self.claimed:
                continue
            self.claimed[node] = name
            self.handles.append(node.register_prehook(lambda _g, n=node: self.on_start(n, name)))
            self.handles.append(node.register_hook(lambda _gi, _go, n=node: self.on_end(n, name)))
            todo.extend(nxt for nxt, _ in node.next_functions if nxt is not None)

    def reset(self) -> None:
        """Forget this step's graph; a parameter's ``AccumulateGrad`` node outlives it
        and would otherwise collect one more pair of hooks every step."""
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.claimed.clear()


def _roll_up(self_times: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """Inclusive times from self times: each module's own, plus its descendants'
    (found by name: ``a.b`` is inside ``a``, everything is inside the root ``""``)."""
    known = set(names)
    out: dict[str, float] = {}
    for name, t in self_times.items():
        node: str | None = name
        while node is not None:
            if node in known:
                out[node] = out.get(node, 0.0) + t
            node = None if node == "" else node.rpartition(".")[0]
    return out


def _with_backward(
    inclusive: Mapping[str, float], backward_self: Mapping[str, float]
) -> dict[str, float]:
    """Inclusive times with each module's backward nodes (self times, rolled up to
    every module that contains them) added."""
    out = dict(inclusive)
    for name, t in _roll_up(backward_self, list(inclusive)).items():
        out[name] = out.get(name, 0.0) + t
    return out


class _HookTimer:
    """Forward pre/post hooks on every module: clock (and sync) at each boundary; in a
    training step, each module's backward nodes timed too (:class:`_BackwardClaims`)
    and added to its inclusive time."""

    def __init__(self, model: torch.nn.Module, clock: Clock, sync: Sync) -> None:
        self.names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
        self.clock, self.sync = clock, sync
        self.stack: list[tuple[str, float, set[Any]]] = []
        self.inclusive: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.backward_self: dict[str, float] = {}
        self._started: dict[Any, float] = {}
        self.claims = _BackwardClaims(self._node_start, self._node_end)
        self.handles: list[Any] = []
        for m in dict.fromkeys(self.names):
            self.handles.append(m.register_forward_pre_hook(self._pre))
            self.handles.append(m.register_forward_hook(self._post))

    def _pre(self, module: torch.nn.Module, inputs: Any) -> None:
        self.sync()
        bound = self.claims.boundary(inputs)
        self.stack.append((self.names.get(module, "?"), self.clock(), bound))

    def _post(self, module: torch.nn.Module, _inputs: Any, out: Any) -> None:
        self.sync()
        now = self.clock()
        if not self.stack:
            return
        name, t0, bound = self.stack.pop()
        self.inclusive[name] = self.inclusive.get(name, 0.0) + (now - t0)
        self.calls[name] = self.calls.get(name, 0) + 1
        self.claims.claim(name, out, bound)

    def _node_start(self, node: Any, _name: str) -> None:
        self.sync()
        self._started[node] = self.clock()

    def _node_end(self, node: Any, name: str) -> None:
        self.sync()
        t0 = self._started.pop(node, None)
        if t0 is not None:
            self.backward_self[name] = self.backward_self.get(name, 0.0) + self.clock() - t0

    def totals(self) -> dict[str, float]:
        """Inclusive time per module: forward, plus backward where there was one."""
        return _with_backward(self.inclusive, self.backward_self)

    def reset(self) -> None:
        self.stack.clear()
        self.inclusive = {}
        self.calls = {}
        self.backward_self = {}
        self._started.clear()
        self.claims.reset()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.claims.reset()


class _ProfilerRanges:
    """Forward hooks that open/close a profiler range per module call; in a training
    step, a range around each of the module's backward nodes too (named with
    :attr:`BACKWARD`, see :class:`_BackwardClaims`)."""

    PREFIX = "roofline::"
    BACKWARD = " [backward]"

    def __init__(self, model: torch.nn.Module) -> None:
        self.names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
        self.stack: list[tuple[Any, set[Any]]] = []
        self.open: dict[Any, Any] = {}
        self.claims = _BackwardClaims(self._node_start, self._node_end)
        self.handles: list[Any] = []
        for m in dict.fromkeys(self.names):
            self.handles.append(m.register_forward_pre_hook(self._pre))
            self.handles.append(m.register_forward_hook(self._post))

    def _pre(self, module: torch.nn.Module, inputs: Any) -> None:
        rf = torch.profiler.record_function(self.PREFIX + self.names.get(module, "?"))
        rf.__enter__()
        self.stack.append((rf, self.claims.boundary(inputs)))

    def _post(self, module: torch.nn.Module, _inputs: Any, out: Any) -> None:
        if self.stack:
            rf, bound = self.stack.pop()
            rf.__exit__(None, None, None)
            self.claims.claim(self.names.get(module, "?"), out, bound)

    def _node_start(self, node: Any, name: str) -> None:
        rf = torch.profiler.record_function(self.PREFIX + name + self.BACKWARD)
        rf.__enter__()
        self.open[node] = rf

    def _node_end(self, node: Any, _name: str) -> None:
        rf = self.open.pop(node, None)
        if rf is not None:
            rf.__exit__(None, None, None)

    def reset(self) -> None:
        self.open.clear()
        self.claims.reset()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.reset()


def _self_times(inclusive: Mapping[str, float]) -> dict[str, float]:
    """Self time = inclusive − the inclusive time of direct timed children."""
    out = dict(inclusive)
    for name, t in inclusive.items():
        if name == "":
            continue
        parent = name.rpartition(".")[0]
        while parent not in inclusive and parent:
            parent = parent.rpartition(".")[0]
        if parent in out:
            out[parent] -= t
    return out


def _hook_pass(
    model: torch.nn.Module, step: Callable[[], object], passes: int, clock: Clock, sync: Sync
) -> list[tuple[dict[str, float], dict[str, int]]]:
    timer = _HookTimer(model, clock, sync)
    out = []
    try:
        for _ in range(passes):
            timer.reset()
            step()
            sync()
            out.append((timer.totals(), dict(timer.calls)))
    finally:
        timer.remove()
    return out


def quiet_kineto() -> None:
    """Before a CPU-only profile: Kineto (which reads its level once, at its first use)
    logs every profiler start and stop to stderr, and on a CUDA build without a GPU an
    error about the device count; on the CPU none of it is news. A level the user set
    is kept."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")


def _profiler_pass(
    model: torch.nn.Module, step: Callable[[], object], passes: int, dev: torch.device
) -> list[tuple[dict[str, float], dict[str, int]]]:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if dev.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    else:
        quiet_kineto()
    ranges = _ProfilerRanges(model)
    out = []
    try:
        for _ in range(passes):
            ranges.reset()
            with profile(activities=activities) as prof:
                step()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
            out.append(_range_times(prof.events(), cuda=dev.type == "cuda"))
    finally:
        ranges.remove()
    return out


def _range_times(events: Iterable[Any], *, cuda: bool) -> tuple[dict[str, float], dict[str, int]]:
    """Inclusive seconds and calls of each module's profiler range (its backward
    nodes' times rolled up into it), from ``torch.profiler``'s events.

    Only the ranges' CPU-side events count: with CUDA activity on, Kineto also reports
    each ``record_function`` range as a ``gpu_user_annotation`` event of the same name
    on the device, spanning the range's kernels (pytorch/pytorch#130730), which would
    count every module twice. The CPU event's ``device_time_total`` already holds the
    kernels it launched."""
    inclusive: dict[str, float] = {}
    backward: dict[str, float] = {}
    calls: dict[str, int] = {}
    for ev in events:
        if not ev.name.startswith(_ProfilerRanges.PREFIX):
            continue
        if ev.device_type != torch.autograd.DeviceType.CPU:
            continue  # the device-side copy of a range (gpu_user_annotation)
        name = ev.name[len(_ProfilerRanges.PREFIX) :]
        t = (ev.device_time_total if cuda else ev.cpu_time_total) * 1e-6
        if name.endswith(_ProfilerRanges.BACKWARD):  # one node: self time
            name = name[: -len(_ProfilerRanges.BACKWARD)]
            backward[name] = backward.get(name, 0.0) + t
            continue
        inclusive[name] = inclusive.get(name, 0.0) + t
        calls[name] = calls.get(name, 0) + 1
    return _with_backward(inclusive, backward), calls


def time_modules(
    model: torch.nn.Module,
    step: Callable[[], object],
    *,
    method: str = "hooks",
    passes: int = 5,
    clock: Clock = time.perf_counter,
    sync: Sync = _nosync,
    dev: torch.device | None = None,
) -> dict[str, ModuleTime]:
    """Median inclusive and self time of every module over ``passes`` runs of ``step``
    (Python's garbage collector off meanwhile, as in :func:`time_region`)."""
    if method not in LAYER_METHODS:
        raise MeasurementError(
            f"unknown per-layer method {method!r}: use one of {', '.join(LAYER_METHODS)}"
        )
    with gc_paused():
        if method == "hooks":
            runs = _hook_pass(model, step, passes, clock, sync)
        else:
            runs = _profiler_pass(model, step, passes, dev or torch.device("cpu"))
    names = {n for inc, _ in runs for n in inc}
    incl: dict[str, list[float]] = {n: [] for n in names}
    selfs: dict[str, list[float]] = {n: [] for n in names}
    calls: dict[str, int] = {}
    for inc, c in runs:
        st = _self_times(inc)
        for n in names:
            incl[n].append(inc.get(n, 0.0))
            selfs[n].append(st.get(n, 0.0))
        calls.update(c)
    out = {}
    for n in names:
        ti, ts = Timing(tuple(incl[n])), Timing(tuple(selfs[n]))
        out[n] = ModuleTime(n, ti.median, ts.median, ti.spread, ts.spread, calls.get(n, 0))
    return out


# ---------------------------------------------------------------------------- measure


def measure(
    spec_or_model: ModelSpec | torch.nn.Module,
    device: str = "cpu",
    batch: int | None = None,
    mode: str | None = None,
    *,
    inputs: tuple[Sequence[Any], Mapping[str, Any]] | None = None,
    warmup: int = 3,
    repeat: int = 10,
    layer_method: str | None = "hooks",
    layer_passes: int = 3,
    optimizer_step: bool = False,
    clock: Clock | None = None,
    sync: Sync | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    check_memory: bool = True,
) -> Measurement:
    """Measure a model's latency on ``device`` (end to end, and per module).

    ``spec_or_model`` is a :class:`ModelSpec` (built on ``device``, fed its random
    ``example_inputs`` at ``batch``) or an ``nn.Module`` with ``inputs=(args, kwargs)``.
    ``layer_method=None`` skips per-module timing. ``clock``/``sync`` default to
    ``perf_counter`` and the device's synchronise; tests inject fakes. On the CPU a
    spec's run is sized first (:func:`~roofline.counting.real.check_run_fits`) and not
    started when it would not fit in memory (``check_memory=False``: run anyway); on a
    GPU running out is caught and raised as :class:`OutOfMemory`.
    """
    dev = check_device(device)
    say = progress or (lambda _m: None)
    if isinstance(spec_or_model, ModelSpec):
        spec = spec_or_model.with_batch(batch).with_mode(mode)
        run_mode = spec.mode
        label = name or spec.name
        if dev.type == "cpu" and check_memory:
            from roofline.counting.real import check_run_fits

            check_run_fits(spec, name=label)
        # the batch named: its inputs are made here, and a sweep reports the batch that failed
        with _translate_errors(f"building {label!r} (batch {spec.batch}, {run_mode}) on {dev}"):
            with torch.device(dev):
                model = spec.build()
            model = model.to(dev)
            args, kwargs = spec.example_inputs(dev)
    else:
        if inputs is None:
            raise MeasurementError("measure(model) needs inputs=(args, kwargs)")
        model = spec_or_model
        run_mode = mode or "inference"
        label = name or type(model).__name__
        args, kwargs = tuple(inputs[0]), dict(inputs[1])
    n_batch = None
    first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
    if first is not None and first.dim() > 0:
        n_batch = int(first.shape[0])
    sync_fn = sync or device_sync(dev)
    clock_fn = clock or time.perf_counter
    what = f"running {label!r} (batch {n_batch}, {run_mode}) on {dev}"
    # a caller's model gets its train/eval flags back, as the counter leaves them
    with train_mode(model, run_mode == "training"), _translate_errors(what, (args, kwargs)):
        step = make_step(model, args, kwargs, run_mode, optimizer_step)
        timing = time_region(
            step,
            warmup=warmup,
            repeat=repeat,
            clock=clock_fn,
            sync=sync_fn,
            progress=progress,
            label=f"{label} b{n_batch}: ",
        )
        modules: dict[str, ModuleTime] = {}
        if layer_method is not None and layer_passes > 0:
            say(
                f"{label} b{n_batch}: per-layer timing ({layer_method}, "
                f"{plural(layer_passes, 'pass', 'passes')})"
            )
            modules = time_modules(
                model,
                step,
                method=layer_method,
                passes=layer_passes,
                clock=clock_fn,
                sync=sync_fn,
                dev=dev,
            )
    return Measurement(
        model=label,
        device=str(dev),
        device_name=device_name(dev),
        batch=n_batch,
        mode=run_mode,
        timing=timing,
        warmup=warmup,
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        layer_method=layer_method if modules else None,
        modules=modules,
        layer_passes=layer_passes if modules else 0,
        optimizer_step=optimizer_step,
    )
