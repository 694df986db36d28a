"""``roofline vram``: how much memory a batch needs, and the largest batch that fits."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from roofline.cli._device_args import add_device_arguments, devices_from_args
from roofline.cli._model_args import INPUT_HELP, add_model_arguments, check_model_options
from roofline.cli._progress import Progress
from roofline.cli.profile_cmd import SPEC_HELP, add_spec_arguments, load_from_args, number_text
from roofline.errors import MemoryEstimateError, RooflineError

DTYPE_CHOICES = ("fp32", "float32", "fp16", "float16", "half", "bf16", "bfloat16", "fp8")


def params_arg(text: str) -> int:
    """``--params``: 100M, 7B, 1.5e9, 350k."""
    from roofline.memory import parse_params

    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r}: a parameter count must be positive")
    try:
        return parse_params(text)
    except RooflineError as exc:
        raise argparse.ArgumentTypeError(
            str(exc).removeprefix("invalid parameter count ")
        ) from None


def headroom_arg(text: str) -> float:
    try:
        value = float(number_text(text, "a number in (0, 1]"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (0.8 = use 80 %), got {value}")
    return value


def mib_arg(text: str) -> int:
    try:
        value = float(number_text(text, "MiB as a number"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MiB as a number, got {text!r}") from None
    if not (0 <= value < 2**40):  # nan and inf fail here too
        raise argparse.ArgumentTypeError(f"must be a number of MiB >= 0, got {text!r}")
    return int(value * 2**20)


def names_arg(expected: str) -> Callable[[str], str]:
    """``--freeze``/``--checkpoint``: a comma-separated list with at least one entry (an
    empty one would silently freeze or checkpoint nothing); ``expected`` says what."""

    def parse(text: str) -> str:
        if not any(part.strip() for part in text.split(",")):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return text

    return parse


def join_negative_counts(argv: Sequence[str]) -> list[str]:
    """``--params -5M`` -> ``--params=-5M``.

    argparse reads ``-5M`` as an unknown option (it takes only plain negative numbers
    such as ``-5`` as values) and answers "expected one argument"; joined to its
    option, the value reaches :func:`params_arg`, which says the count must be
    positive. Only a value that looks like a number (``-`` then a digit or ``.``) is
    joined, so ``--params --mode ...`` is still argparse's own error.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if a == "--params" and re.match(r"-[\d.]", nxt):
            out.append(f"{a}={nxt}")
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def register(sub: argparse._SubParsersAction) -> None:
    from roofline.memory import CUDA_CONTEXT_BYTES, OPTIMIZERS

    p = sub.add_parser(
        "vram",
        help="memory a batch needs (weights, grads, optimizer, activations), largest batch",
        description="Size GPU memory for inference or training: from a parameter count "
        "(--params) or from the real model (SPEC), traced on fake tensors. See docs/vram.md.",
    )
    p.add_argument("spec", nargs="?", help=SPEC_HELP + "; or give --params instead")
    p.add_argument(
        "--params", type=params_arg, metavar="N", help="parameter count: 100M, 7B, 1.5e9"
    )
    add_spec_arguments(p, dtype=False)
    p.add_argument(
        "--dtype",
        choices=DTYPE_CHOICES,
        help="parameter (and float input) dtype (default: the model's, fp32); with --amp, "
        "autocast's",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        help="training optimizer (default adamw)",
    )
    p.add_argument(
        "--amp",
        action="store_true",
        help="mixed precision: fp32 parameters/grads/state, autocast maths in fp16 (or --dtype bf16)",
    )
    p.add_argument(
        "--freeze",
        type=names_arg("N or module names a,b"),
        metavar="N|NAMES",
        help="frozen modules: N = the first N blocks (YOLOv5 --freeze N), module names a,b, "
        "or a YOLO-format section (backbone, head)",
    )
    p.add_argument(
        "--checkpoint",
        type=names_arg("module names a,b"),
        metavar="NAMES",
        help="activation checkpointing: module names (a container: each of its children)",
    )
    p.add_argument(
        "--headroom",
        type=headroom_arg,
        default=0.8,
        help="share of device memory the run may use (default 0.8, as in the seed notes)",
    )
    add_device_arguments(p, many=True, allow_all=True, measured=False)
    p.add_argument("--max-batch", action="store_true", help="solve the largest batch per --gpu")
    add_model_arguments(
        p,
        input_help=f"{INPUT_HELP}; with --params: one bare shape (3x224x224, no NAME=, "
        ":DTYPE or :LOW-HIGH) for the activation rule of thumb",
    )
    p.add_argument(
        "--context-mib",
        type=mib_arg,
        help=f"CUDA context size to assume, MiB (default {CUDA_CONTEXT_BYTES // 2**20}; "
        "0 when every --gpu is a CPU, or without --gpu for a quantized model)",
    )
    p.add_argument(
        "--measure",
        metavar="DEVICE",
        help="also run the model on this machine (cpu, cuda, cuda:N) and show the measured "
        "peak beside the predicted one (CUDA: max_memory_allocated; CPU: the profiler's "
        "allocator events)",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the estimate as JSON (bytes; '-': to stdout, alone)"
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite output files not written by roofline"
    )
    p.set_defaults(run=run)
    # the subcommand parser gets its own arguments through parse_known_args: rewrite
    # them there (see join_negative_counts)
    parse_known = p.parse_known_args

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        return parse_known(join_negative_counts(sys.argv[1:] if args is None else args), namespace)

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]


_progress = Progress("vram: ")


def run(args: argparse.Namespace) -> int:
    from roofline.cli._outputs import check, emit
    from roofline.memory import (
        QUANTIZED_GPU_NOTE,
        cublas_workspace_for,
        cuda_context_for,
        estimate_from_params,
        estimate_from_spec,
    )
    from roofline.report.output import to_json

    if bool(args.spec) == (args.params is not None):
        raise MemoryEstimateError(
            "give either a model spec (roofline vram model.yaml) or --params N, not both"
            if args.spec
            else "give a model spec (roofline vram model.yaml, or an inline model: "
            "package.module:callable --input SHAPE) or --params N"
        )
    check_model_options(args, [args.spec], params=args.params is not None)
    # the output path is checked before any tracing, so a refused one costs nothing
    to_stdout = check(args, {"--json": args.json})
    if args.max_batch and not args.gpus:
        raise MemoryEstimateError("--max-batch needs at least one --gpu NAME to fit")
    measure_on = None
    if args.measure is not None:
        from roofline.latency.measure import check_device

        if not args.spec:
            raise MemoryEstimateError(
                "--measure runs the model: give a model spec (roofline vram model.yaml "
                "--measure cpu), not --params"
            )
        measure_on = check_device(
            args.measure, "--measure"
        )  # CUDA absent: one line, before any work
    # resolve the devices first: an unknown name fails before any tracing or output
    devices = devices_from_args(args, allow_all=True) if args.gpus else []
    common: dict[str, Any] = {
        "optimizer": args.optimizer or "adamw",
        "amp": args.amp,
        "headroom": args.headroom,
        # per device (none on a CPU; cuBLAS's by compute capability), the larger where
        # several are named, so no device's need is under-stated; without --gpu, the
        # library's default (a GPU's, none for a quantized model, which cannot run there)
        "cuda_context_bytes": (
            args.context_mib
            if args.context_mib is not None
            else max((cuda_context_for(d) for d in devices), default=None)
        ),
        "cublas_workspace_bytes": max((cublas_workspace_for(d) for d in devices), default=None),
    }
    spec = None
    if args.spec:
        spec = load_from_args(args, dtype=False)

        def at(b: int) -> Any:
            return estimate_from_spec(
                spec,
                batch=b,
                dtype=args.dtype,
                freeze=args.freeze,
                checkpoint=args.checkpoint,
                **common,
            )

        batch = spec.batch or 1
        estimate = at(batch)
    else:
        if args.freeze or args.checkpoint:
            raise MemoryEstimateError(
                "--freeze and --checkpoint need the model: give a spec instead of --params"
            )
        if args.imgsz or args.nc or args.fuse:
            raise MemoryEstimateError("--imgsz/--nc/--fuse apply to YOLO-format specs only")
        batch = args.batch or 1

        def at(b: int) -> Any:
            return estimate_from_params(
                args.params,
                batch=b,
                mode=args.mode or "inference",
                dtype=args.dtype or "fp32",
                input_shape=args.input[0].shape if args.input else None,
                **common,
            )

        estimate = at(batch)

    if args.max_batch and estimate.activations is None:
        raise MemoryEstimateError(
            "--max-batch needs activations, and the --input rule of thumb is for "
            "inference only: for training, give a model spec (its activations are traced)"
            if estimate.assumptions.mode == "training"
            else "--max-batch needs activations: give a model spec, or --input SHAPE with --params"
        )
    if args.optimizer and estimate.assumptions.mode == "inference":
        _progress(
            f"note: --optimizer {args.optimizer} has no effect in inference "
            "(nothing is trained); add --mode training"
        )
    if estimate.detail.get("quantized") and any(d.kind != "cpu" for d in devices):
        estimate = replace(estimate, notes=(*estimate.notes, QUANTIZED_GPU_NOTE))
    # the spec file, or the inline model's options (none from a count): what reproduces it
    plain = estimate.as_dict()
    data = {"name": plain.pop("name"), "spec": spec.info.get("spec") if spec else None, **plain}
    measured_lines: list[str] = []
    if measure_on is not None:
        data["measured"], measured_lines = _measured(args, spec, estimate, measure_on, common)
    device_lines: list[str] = []
    if devices:
        data["devices"], device_lines = _devices(
            args, devices, estimate, _memo(at, {batch: estimate}), batch, spec
        )
    # the file is written before anything is printed, so a reader that stops early
    # (`| head`) cannot cost the user the file
    if args.json:
        emit(args.json, to_json(data), force=args.force)
    if to_stdout:  # stdout holds the JSON alone, for a pipe (`| jq`)
        return 0
    print(_header(estimate))
    print(_breakdown(estimate))
    print()
    for line in [*_summary(estimate), *measured_lines, *device_lines]:
        print(line)
    return 0


# --------------------------------------------------------------------------- output


def _header(e: Any) -> str:
    a = e.assumptions
    parts = [
        f"{e.name}: {a.mode}",
        f"batch {a.batch}" if a.batch is not None else "",
        f"params {a.dtype}" + (f", autocast {a.compute_dtype}" if a.amp else ""),
        f"optimizer {a.optimizer}" if a.mode == "training" else "",
        f"{e.params:,} parameters"
        + (f" ({e.trainable_params:,} trainable)" if a.mode == "training" else ""),
    ]
    if a.frozen:
        parts.append("frozen: " + _short(a.frozen))
    if a.checkpoint:
        parts.append("checkpointed: " + _short(a.checkpoint))
    return ", ".join(p for p in parts if p)


def _short(names: Any) -> str:
    names = list(names)
    return ", ".join(names) if len(names) <= 4 else f"{names[0]} ... {names[-1]} ({len(names)})"


def _breakdown(e: Any) -> str:
    from roofline.report.text import simple_table
    from roofline.units import binary_bytes

    per = max(e.params, 1)

    def row(label: str, value: int | None, what: str, sign: int = 1) -> list[str]:
        # sign -1: a subtracted part, shown negative in both columns
        if value is None:
            return [label, "-", "-", what]
        return [label, binary_bytes(sign * value), f"{sign * value / per:.2f}", what]

    a = e.assumptions
    rows = [
        row("weights", e.weights, f"parameters + buffers, {a.dtype}"),
        row(
            "gradients",
            e.gradients,
            "trainable parameters only" if a.mode == "training" else "none (inference)",
        ),
        row("optimizer", e.optimizer, _opt_text(a)),
        row(
            "activations",
            e.activations,
            (
                # from a count: the seed's rule, nothing was traced
                "rule of thumb: input batch + an output of the same size (not traced)"
                if e.source == "params"
                else "saved for backward (end of forward, incl. inputs/outputs)"
                if a.mode == "training"
                else "peak of live tensors (incl. inputs"
                + (f" {binary_bytes(e.detail['inputs'])}" if e.detail.get("inputs") else "")
                + ")"
            )
            if e.activations is not None
            else "not estimated (see notes)",
        ),
        row("workspace", e.workspace, "temporaries at the peak, cuBLAS workspaces"),
    ]
    if e.block_rounding:
        rows.append(
            row(
                "block rounding",
                e.block_rounding,
                "model state in whole 512-byte allocator blocks",
            )
        )
    if e.not_live_at_peak:
        rows.append(
            row(
                "not live at peak",
                e.not_live_at_peak,
                "grads not yet made / activations freed",
                -1,
            )
        )
    rows.append(row("= allocated", e.allocated, "predicts torch.cuda.max_memory_allocated"))
    rows.append(
        row(
            "overhead",
            e.overhead,
            f"CUDA context {binary_bytes(e.cuda_context)} + segment rounding {binary_bytes(e.allocator_slack)}",
        )
    )
    rows.append(row("total", e.total, "device-level peak (nvidia-smi)"))
    rows.append(
        row(f"total / {a.headroom:g}", e.total_with_headroom, "memory to provision (headroom)")
    )
    return simple_table(rows, ["part", "memory", "B/param", "what"])


def _opt_text(a: Any) -> str:
    from roofline.memory import STATE_TENSORS

    if a.mode != "training":
        return "none (inference)"
    n = STATE_TENSORS[a.optimizer]
    if n == 0:
        return f"{a.optimizer}: no state"
    return f"{a.optimizer}: {n} state tensor(s) per parameter, {a.dtype}"


def _summary(e: Any) -> list[str]:
    from roofline.units import binary_bytes

    out = []
    if e.peak_module is not None:
        where = e.peak_module or "(root)"
        out.append(f"peak: during {e.peak_phase}, in {where}")
    elif e.phases:  # from a count: which phase, no module to name
        top = max(e.phases, key=lambda ph: ph.allocated)
        out.append(f"peak: during {top.phase}")
    if e.naive_seed is not None:
        out.append(
            f"seed formula (input + output + params x 4) / 0.8 = {binary_bytes(e.naive_seed)} "
            f"vs ours {binary_bytes(e.total_with_headroom)}"
        )
    for n in e.notes:
        out.append(f"note: {n}")
    return out


def _measured(
    args: argparse.Namespace,
    spec: Any,
    estimate: Any,
    dev: Any,
    common: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """``--measure``: run the spec's model on ``dev`` and compare its allocated peak
    with the prediction for that device (its cuBLAS workspace: none on the CPU)."""
    import torch

    from roofline.counting.real import check_run_fits
    from roofline.latency.measure import _translate_errors
    from roofline.memory import cublas_workspace_bytes, estimate_from_spec
    from roofline.memory.measure import WARMUP_STEPS, measure_memory
    from roofline.units import binary_bytes

    a = estimate.assumptions
    if dev.type == "cuda" and estimate.detail.get("quantized"):
        # before anything is built there: the packed weights stay on the CPU and the
        # first quantized op would fail on the GPU
        raise MemoryEstimateError(
            f"--measure {dev}: a quantized model runs on the CPU only (PyTorch has no CUDA "
            "backend for its quantized kernels); measure it with --measure cpu"
        )
    cublas = (
        cublas_workspace_bytes(torch.cuda.get_device_capability(dev)[0])
        if dev.type == "cuda"
        else 0
    )
    predicted = estimate
    if cublas != a.cublas_workspace_bytes:
        predicted = estimate_from_spec(
            spec,
            batch=a.batch,
            dtype=args.dtype,
            freeze=args.freeze,
            checkpoint=args.checkpoint,
            **{**common, "cublas_workspace_bytes": cublas},
        )
    s = spec.with_batch(a.batch)
    if dev.type == "cpu":
        # the prediction sizes the run: refused, in one line, where it would not fit
        check_run_fits(s, "--measure runs", need=predicted.allocated)
    _progress(
        f"measuring {spec.name} (batch {a.batch}, {a.mode}) on {dev}: {WARMUP_STEPS} "
        "warm-up steps, then the measured one ..."
    )
    with _translate_errors(f"building {spec.name!r} (batch {a.batch}) on {dev}"):
        with torch.device(dev):
            model = s.build()
        inputs, kwargs = s.example_inputs(dev)
    m = measure_memory(
        model,
        inputs,
        kwargs,
        device=str(dev),
        mode=a.mode,
        dtype=args.dtype,
        optimizer=args.optimizer or "adamw",
        amp=args.amp,
        freeze=args.freeze,
        checkpoint=args.checkpoint,
    )
    error = predicted.allocated / m.allocated - 1 if m.allocated else None
    record = {
        **m.as_dict(),
        "predicted_allocated": predicted.allocated,
        "error": error,
        "predicted_cublas_workspace_bytes": cublas,
    }
    line = (
        f"measured on {m.device} ({m.device_name}): allocated peak {binary_bytes(m.allocated)}, "
        f"predicted {binary_bytes(predicted.allocated)}"
        + (f" ({error:+.1%})" if error is not None else "")
        + (
            f" (the prediction for {m.device}: cuBLAS workspace {binary_bytes(cublas)})"
            if predicted is not estimate
            else ""
        )
    )
    lines = [line]
    if m.with_scratch is not None and m.with_scratch > m.allocated:
        lines.append(
            f"  kernels' own scratch (oneDNN/MKL workspaces, not predicted) peaks at "
            f"{binary_bytes(m.with_scratch)} with it; the CPU measurement replays the "
            "profiler's allocator events in 512-byte blocks (see docs/vram.md)"
        )
    if m.reserved is not None:
        lines.append(
            f"  reserved by the caching allocator: {binary_bytes(m.reserved)} (predicted "
            f"allocated + rounding {binary_bytes(predicted.allocated + predicted.allocator_slack)})"
        )
    return record, lines


def _memo(at: Callable[[int], Any], known: dict[int, Any]) -> Callable[[int], Any]:
    """``at`` traced once per batch, shared by every device's solve (progress on stderr
    for each batch actually traced)."""
    cache = dict(known)

    def cached(b: int) -> Any:
        if b not in cache:
            _progress(f"tracing batch {b} ...")
            cache[b] = at(b)
        return cache[b]

    return cached


def _devices(
    args: argparse.Namespace,
    devices: list[Any],
    e: Any,
    at: Callable[[int], Any],
    batch: int,
    spec: Any,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The fit per device (JSON records) and the lines that show it."""
    from roofline.memory import devices_needed, fit_devices, max_batch
    from roofline.report.text import simple_table
    from roofline.units import binary_bytes

    solved = {}
    if args.max_batch:
        for d in devices:
            _progress(
                f"solving the largest batch for {d.name} ({binary_bytes(d.memory_bytes)}) ..."
            )
            solved[d.key] = max_batch(at, d.memory_bytes, headroom=args.headroom)
    fits = fit_devices(e, devices, max_batches=solved)
    rows = []
    for f in fits:
        mb = solved.get(f.key)
        rows.append(
            [
                f.device,
                binary_bytes(f.memory_bytes),
                binary_bytes(f.required_bytes),
                "yes" if f.fits else "no",
                "-"
                if mb is None
                else (
                    (f">= {mb.batch} (search limit)" if mb.capped else str(mb.batch))
                    if mb.batch
                    else "none (batch 1 does not fit)"
                ),
                f.note,
            ]
        )
    lines = ["", simple_table(rows, ["device", "memory", "needs", "fits", "max batch", "note"])]
    out: list[dict[str, Any]] = []
    for f in fits:
        d = f.as_dict()
        mb = solved.get(f.key)
        if mb is not None:
            d["max_batch_solve"] = {
                "fixed": mb.fixed,
                "per_sample": mb.per_sample,
                "affine": mb.affine,
                "measurements": [list(m) for m in mb.measurements],
                "budget": mb.budget,
            }
            d["max_batch_capped"] = mb.capped
            if mb.capped:
                lines.append(
                    f"{f.device}: batch {mb.batch} (the search limit) still fits: total "
                    f"{binary_bytes(mb.estimate.total)} of a budget of {binary_bytes(mb.budget)} "
                    f"(= {args.headroom:g} x memory); ~{binary_bytes(mb.per_sample)} per sample"
                )
            elif mb.batch:
                lines.append(
                    f"{f.device}: batch {mb.batch} totals {binary_bytes(mb.estimate.total)}, "
                    f"within the budget of {binary_bytes(mb.budget)} (= {args.headroom:g} x "
                    f"memory), batch {mb.batch + 1} does not; "
                    f"~{binary_bytes(mb.per_sample)} per sample"
                    + ("" if mb.affine else " (memory not affine in batch: solved by bisection)")
                )
        out.append(d)
    if e.assumptions.mode == "training":
        root, unit, root_grads = _fsdp_units(spec, e) if spec is not None else (0, 0, 0)
        for f, d in zip(fits, out, strict=True):
            if f.fits:
                continue
            dev = next(x for x in devices if x.key == f.key)
            _progress(f"sizing data-parallel vs sharded training on {dev.name} ...")
            ddp, fsdp = devices_needed(
                at,
                dev.memory_bytes,
                batch,
                headroom=args.headroom,
                unit_params_bytes=unit,
                root_params_bytes=root,
                root_grads_bytes=root_grads,
            )
            d["parallel"] = {"ddp": ddp.as_dict(), "fsdp": fsdp.as_dict()}
            lines.append(
                f"{dev.name}, training a global batch of {batch}: "
                + _plan_text(ddp, "data parallel (DDP)", batch)
                + "; "
                + _plan_text(fsdp, "fully sharded (FSDP/ZeRO-3)", batch)
            )
    return out, lines


def _plan_text(plan: Any, label: str, global_batch: int) -> str:
    if plan.devices is None:
        return f"{label} does not fit ({plan.note})"
    text = f"{label} needs {plan.devices} device(s), batch {plan.per_device_batch} each"
    if plan.devices > global_batch:
        # every rank runs a forward and backward: it needs at least one sample
        text += f" (every device needs a sample: a global batch of at least {plan.devices})"
    return text


def _fsdp_units(spec: Any, e: Any) -> tuple[int, int, int]:
    """(root unit, largest unit) parameter bytes and the root's trainable gradient
    bytes, at the estimate's stored dtype (fp32 master weights under AMP; the spec's
    model is built at its own dtype)."""
    import torch

    from roofline.counting import build_fake
    from roofline.memory import fsdp_root_grad_bytes, fsdp_units
    from roofline.units import parse_dtype

    model, _, _ = build_fake(spec)
    size = torch.empty((), dtype=parse_dtype(e.assumptions.dtype), device="meta").element_size()
    root, unit = fsdp_units(model, size)
    return root, unit, fsdp_root_grad_bytes(model, size, e.assumptions.frozen)
