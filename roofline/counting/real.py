"""The memory guard for building a model for real.

Everything that builds a spec's model with real weights (``profile --real`` and
``--compare-counters``, the real-tensor count ``compare`` and ``bench`` fall back to,
``vram``'s real-tensor trace of a quantized model) asks :func:`check_real_fits` first,
so a 7B-parameter spec cannot exhaust the machine. The model is sized on fake tensors
(:func:`real_build_bytes`), without allocating its weights or running it.

A measurement on the CPU (``bench``, ``profile --measure``) runs the model at a batch
size, so it asks :func:`check_run_fits`, which sizes that run with roofline's own memory
estimate (weights, gradients, the live activations' peak) before anything is built.
"""

from __future__ import annotations

import os
from typing import Any

from roofline.errors import RooflineError, SpecError

#: where Linux says how much memory a new allocation can take (``MemAvailable``)
MEMINFO = "/proc/meminfo"


def _meminfo_available() -> int | None:
    """``MemAvailable`` of :data:`MEMINFO` in bytes: the unused memory plus the page
    cache and reclaimable slabs the kernel drops to make room, without swapping. None
    where it cannot be read (no ``/proc``, or a kernel before 3.14)."""
    try:
        with open(MEMINFO, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    value, unit = line.split()[1:3]
                    return int(value) * (1024 if unit == "kB" else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


#: the memory controls at the root of the cgroup mounts, which a container's cgroup
#: namespace (or v1 bind mount) makes its own cgroup: cgroup v2's files, then v1's
#: (limit, usage, statistics)
CGROUP_MEMORY = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat"),
    (
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        "/sys/fs/cgroup/memory/memory.stat",
    ),
)

#: a v1 limit at or above this is "no limit" (v1 writes the page-rounded LONG_MAX)
CGROUP_NO_LIMIT = 1 << 60

#: the cgroups this process runs in (``0::/path`` for v2, ``N:memory:/path`` for v1),
#: and where the cgroup file systems are mounted
CGROUP_SELF = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def _own_cgroup_memory() -> list[tuple[str, str, str]]:
    """The memory controls (as :data:`CGROUP_MEMORY`) of the cgroup this process runs
    in and of its ancestors below the mount's root, deepest first, as
    :data:`CGROUP_SELF` names them. Without a cgroup namespace (a Slurm job, a
    ``systemd-run -p MemoryMax=`` scope) the limit is there, not at the root; inside
    a container the list names the root (v2: ``0::/``) or paths the container does not
    see (v1's bind mount), which are skipped when read."""
    try:
        lines = _read(CGROUP_SELF).splitlines()
    except (OSError, ValueError):
        return []
    found: list[tuple[str, str, str]] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":
            base, names = CGROUP_ROOT, ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base = os.path.join(CGROUP_ROOT, "memory")
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        parts = [p for p in path.strip().split("/") if p]
        for k in range(len(parts), 0, -1):
            d = os.path.join(base, *parts[:k])
            found.append(
                (
                    os.path.join(d, names[0]),
                    os.path.join(d, names[1]),
                    os.path.join(d, "memory.stat"),
                )
            )
    return found


def _cgroup_available() -> int | None:
    """What the cgroup memory limits leave for a new allocation, in bytes: the
    limit less the usage, plus the inactive page cache the kernel reclaims before it
    would kill the process (the working set as container runtimes compute it:
    usage − ``inactive_file``), the smallest over the process's own cgroup, its
    ancestors (:func:`_own_cgroup_memory`) and the mount's root (:data:`CGROUP_MEMORY`).
    None when there is no limit or no cgroup to read (not Linux, or no memory
    controller)."""
    left: list[int] = []
    for limit_file, usage_file, stat_file in [*_own_cgroup_memory(), *CGROUP_MEMORY]:
        try:
            limit_text, usage = _read(limit_file).strip(), int(_read(usage_file))
        except (OSError, ValueError):
            continue
        try:
            limit = int(limit_text)
        except ValueError:  # v2's "max": no limit
            continue
        if limit >= CGROUP_NO_LIMIT:
            continue
        inactive = 0
        try:
            for line in _read(stat_file).splitlines():
                key, _, value = line.partition(" ")
                if key in ("inactive_file", "total_inactive_file"):
                    inactive = max(inactive, int(value))
        except (OSError, ValueError):
            pass
        left.append(max(limit - usage + min(inactive, usage), 0))
    return min(left) if left else None


def available_memory(on: str = "cpu") -> int:
    """Free memory in bytes where a real model would be built (``cpu``: this machine's
    RAM, Linux's ``MemAvailable``, which counts the page cache the kernel drops for a
    new allocation: a machine that has just read a data set has little memory unused
    but much available, and within the cgroup memory limits this process runs under,
    a container's or a job's (:func:`_cgroup_available`); ``cuda``: the current
    GPU's), or 0 when it cannot be told."""
    if on == "cuda":
        try:
            import torch

            return int(torch.cuda.mem_get_info()[0]) if torch.cuda.is_available() else 0
        except RuntimeError:  # pragma: no cover - a broken CUDA set-up
            return 0
    avail = _meminfo_available()
    limited = _cgroup_available()
    if limited is not None:
        # in a container, the cgroup's limit binds long before the host runs out
        return limited if avail is None else min(avail, limited)
    if avail is not None:
        return avail
    try:  # the unused pages only
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
    constructor that reads values of a tensor too large for a fake build to compute,
    :class:`~roofline.counting.tracing.BuildValues`).
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


class RealBuildRefused(RooflineError):
    """:func:`check_real_fits` refused a real build or trace: it would not fit."""


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
        raise RealBuildRefused(
            f"{what}, which needs about {gib(need)} but only {gib(avail)} is {where}; {instead}"
        )


#: a measured run may take this share of the free memory (seed 001's utilisation)
RUN_SHARE = 0.8


def run_bytes(spec: Any) -> int | None:
    """Bytes a real run of ``spec`` (its batch and mode) holds at its peak on the CPU:
    :func:`~roofline.memory.estimate.estimate_from_spec`'s allocated peak (weights,
    gradients in training, the live activations, workspace; the optimizer step the
    measurement takes is plain SGD, which keeps no state), traced on fake tensors.
    None when the model cannot be traced on fake tensors (the run itself will say
    what fails).

    A quantized model is traced over real tensors, behind the real-build guard
    (:func:`check_real_fits`: twice the weights and a bound of the activations against
    half the free memory), which may refuse the trace of a batch whose run would fit,
    or not: that run is sized on the line through its batch-1 and batch-2 peaks
    (weights fixed, activations per sample) instead of being let through unsized."""
    from roofline.memory.estimate import estimate_from_spec

    def allocated(s: Any) -> int:
        return estimate_from_spec(
            s, optimizer="sgd", cuda_context_bytes=0, cublas_workspace_bytes=0
        ).allocated

    b = spec.batch or 1
    try:
        return allocated(spec)
    except RealBuildRefused:
        if b <= 2:
            return None
    except RooflineError:  # the other failures do not depend on the batch
        return None
    try:
        one = allocated(spec.with_batch(1))
        two = allocated(spec.with_batch(2))
    except RooflineError:
        return None
    return one + max(two - one, 0) * (b - 1)


def check_run_fits(
    spec: Any, lead: str = "running", name: str | None = None, need: int | None = None
) -> None:
    """Refuse, with one line, a CPU run of ``spec`` that would hold more than
    :data:`RUN_SHARE` of the free memory (:func:`run_bytes`): on the CPU running out of
    memory does not fail cleanly, it swaps or the kernel kills the process.

    The message starts with ``lead``, then the run: ``running 'resnet50' (batch 512,
    inference) on cpu`` (``name``: another name than the spec's).
    Raises :class:`~roofline.errors.OutOfMemory`, as a run that ran out would, so a
    batch sweep reports it as the batch that did not fit. ``need``: the run's bytes
    when the caller has sized it already (a vram estimate of the same step).
    """
    from roofline.errors import OutOfMemory
    from roofline.units import binary_bytes

    if need is None:
        need = run_bytes(spec)
    avail = available_memory("cpu")
    if need is None or not avail or need <= avail * RUN_SHARE:
        return
    what = f"{lead} {(name or spec.name)!r} (batch {spec.batch}, {spec.mode}) on cpu"
    smaller = "use a smaller batch, or " if (spec.batch or 1) > 1 else ""
    raise OutOfMemory(
        f"{what} needs about {binary_bytes(need)} (roofline's memory estimate of the run) but only "
        f"{binary_bytes(avail)} is free; not started: {smaller}measure where there is more memory"
    )
