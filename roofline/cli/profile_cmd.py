"""``roofline profile``: per-layer parameters, FLOPs and bytes of a model spec."""

from __future__ import annotations

import argparse
import os
from typing import Any

from roofline.cli._model_args import add_model_arguments
from roofline.cli._progress import Progress
from roofline.errors import RooflineError, SpecError


def number_text(text: str, expected: str) -> str:
    """A numeric option's ``text`` as every one reads it (:func:`~roofline.units.plain_number`:
    full-width ``３`` is ``3``); a usage error saying ``expected`` when it is not written
    in the digits 0-9."""
    from roofline.units import plain_number

    try:
        return plain_number(text)
    except RooflineError:
        raise argparse.ArgumentTypeError(
            f"expected {expected} written with the digits 0-9, got {text!r}"
        ) from None


def depth_arg(text: str) -> int | None:
    """``--depth``: a positive integer, or ``all`` for the leaves."""
    expected = "a positive integer or 'all'"
    plain = number_text(text, expected)  # full-width ３ (or ａｌｌ) as the plain form
    if plain in ("all", "leaf", "leaves"):
        return None
    try:
        value = int(plain)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"depth must be at least 1, got {value}")
    return value


def _int_at_least(text: str, low: int, expected: str, bound: str) -> int:
    try:
        value = int(number_text(text, expected))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, image sizes)."""
    return _int_at_least(text, 1, "a positive integer", "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0 (warm-up runs)."""
    return _int_at_least(text, 0, "an integer >= 0", "0 or more")


def threads_arg(text: str) -> int:
    """``--threads``: 1 to this machine's CPU count (torch crashes far beyond it, and
    more threads than CPUs only time the scheduler)."""
    value = positive_int(text)
    cpus = os.cpu_count() or 1
    if value > cpus:
        raise argparse.ArgumentTypeError(f"this machine has {cpus} CPUs: use 1 to {cpus}")
    return value


#: timed and untimed runs of a measurement when not given (``bench``, ``profile --measure``)
DEFAULT_WARMUP = 3
DEFAULT_REPEAT = 10


def add_timing_arguments(p: argparse.ArgumentParser | Any) -> None:
    """``--warmup``, ``--repeat`` and ``--threads`` of a latency measurement. They stay
    None when not given (so ``profile`` can refuse them without ``--measure``); read
    them with :func:`timing_options`."""
    p.add_argument(
        "--warmup", type=non_negative_int, help=f"untimed runs first (default {DEFAULT_WARMUP})"
    )
    p.add_argument("--repeat", type=positive_int, help=f"timed runs (default {DEFAULT_REPEAT})")
    p.add_argument(
        "--threads",
        type=threads_arg,
        help="CPU: torch threads, up to the CPU count (default: torch's); a calibration "
        "is kept per thread count",
    )


def add_quick_argument(p: argparse.ArgumentParser | Any) -> None:
    """``--quick`` of ``bench`` and ``profile --measure``: the calibration they run by
    themselves, where none is stored, on the quick grid (as ``calibrate --quick``)."""
    p.add_argument(
        "--quick",
        action="store_true",
        default=None,
        help="where a calibration must be run first (none stored for this device, thread "
        "count and dtype): the quick one, as `roofline calibrate --quick` (seconds instead "
        "of minutes; rougher predictions); a stored calibration is used as it is",
    )


def timing_options(args: argparse.Namespace) -> tuple[int, int]:
    """(warm-up runs, timed runs) the options ask for, the defaults where not given."""
    warmup = DEFAULT_WARMUP if args.warmup is None else args.warmup
    repeat = DEFAULT_REPEAT if args.repeat is None else args.repeat
    return warmup, repeat


#: ``--dtype`` of profile/compare/bench: what a model can be cast to and still run
MODEL_DTYPE_CHOICES = ("fp32", "fp16", "bf16", "fp64")


def model_dtype_arg(text: str) -> str:
    """``--dtype``: any spelling a spec's ``dtype:`` takes (``fp16``, ``float16``,
    ``half``, ``torch.bfloat16`` ...), as its short name."""
    from roofline.analysis import dtype_precision
    from roofline.spec import check_model_dtype
    from roofline.units import dtype_name

    try:
        d = check_model_dtype(text)
    except SpecError:
        raise argparse.ArgumentTypeError(
            f"cannot cast a model to {text!r}: use fp32, fp16, bf16 or fp64 (fp8 and int8 "
            "are --precision choices: compute ceilings, not a cast)"
        ) from None
    return str(dtype_precision(dtype_name(d)))  # float16 -> fp16


def add_dtype_argument(p: argparse.ArgumentParser, help: str) -> None:
    """``--dtype`` as profile, compare and bench take it (:func:`model_dtype_arg`)."""
    p.add_argument(
        "--dtype",
        type=model_dtype_arg,
        metavar="{" + ",".join(MODEL_DTYPE_CHOICES) + "}",
        help=help,
    )


def add_spec_arguments(p: argparse.ArgumentParser, *, dtype: bool = True) -> None:
    """Options that change how a spec is loaded (shared by profile/compare/vram/bench).

    ``dtype``: add ``--dtype`` (the model cast to it); ``vram`` has its own, which
    means the stored parameter dtype (or autocast's with ``--amp``)."""
    p.add_argument("--batch", type=positive_int, help="override the batch size of every input")
    p.add_argument("--mode", choices=("inference", "training"), help="override the spec's mode")
    if dtype:
        add_dtype_argument(
            p,
            "cast the model's floating parameters, buffers and inputs to this dtype "
            "(default: the spec's 'dtype', else as the model is built); bytes follow it",
        )
    yolo = p.add_argument_group("YOLO-format specs")
    yolo.add_argument("--imgsz", type=positive_int, help="input image size (default 640)")
    yolo.add_argument("--nc", type=positive_int, help="number of classes")
    yolo.add_argument(
        "--fuse", action="store_true", help="fold BatchNorm into the preceding conv (inference)"
    )


#: help of the positional model argument of profile, vram and bench
SPEC_HELP = (
    "model spec (.yaml: import-path or YOLO format), or an inline model "
    "package.module:callable (or file.py:callable) with --input"
)


def load_from_args(args: argparse.Namespace, *, dtype: bool = True) -> Any:
    """Load the model named by ``args.spec`` (a spec file, or an inline model with
    ``--input``/``--kwarg``: :func:`~roofline.cli._model_args.load_model`) with the
    shared overrides applied (``dtype``: ``args.dtype`` casts the model, as
    :func:`add_spec_arguments`'s)."""
    from roofline.cli._model_args import load_model

    overrides = {
        "imgsz": getattr(args, "imgsz", None),
        "nc": getattr(args, "nc", None),
        "fuse": True if getattr(args, "fuse", False) else None,
    }
    cast = getattr(args, "dtype", None) if dtype else None
    return load_model(args, args.spec, batch=args.batch, mode=args.mode, dtype=cast, **overrides)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="per-layer params, FLOPs, bytes (and roofline with --gpu)",
        description="Count parameters, FLOPs (1 MAC = 2 FLOPs) and bytes of memory traffic "
        "for every layer of a model, on fake tensors (no weights allocated).",
    )
    p.add_argument("spec", help=SPEC_HELP)
    add_model_arguments(p)
    p.add_argument(
        "--depth",
        type=depth_arg,
        default=2,
        help="module depth of the table rows (default 2; 'all' for the leaves)",
    )
    add_spec_arguments(p)
    p.add_argument(
        "--real",
        nargs="?",
        const="cpu",
        choices=("cpu", "cuda"),
        help="count on real tensors on this device (default cpu) as a cross-check",
    )
    p.add_argument(
        "--json", metavar="FILE", help="write the profile as JSON ('-': to stdout, alone)"
    )
    p.add_argument(
        "--csv", metavar="FILE", help="write the per-layer rows as CSV ('-': to stdout, alone)"
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite output files not written by roofline"
    )
    p.add_argument(
        "--compare-counters",
        action="store_true",
        help="also run fvcore, thop, torchinfo and FlopCounterMode (real tensors) and compare",
    )
    p.add_argument(
        "--measure",
        action="store_true",
        help="also run the model on this machine (--gpu cpu or --gpu local) and show "
        "naive, calibrated and measured latency per layer",
    )
    measure_group = p.add_argument_group(
        "with --measure", "how the model is timed (as `roofline bench`)"
    )
    add_timing_arguments(measure_group)
    add_quick_argument(measure_group)
    p.add_argument(
        "--yolo-table",
        action="store_true",
        help="YOLO-format specs: show the table in YOLOv5's own row form",
    )
    add_analysis_arguments(p)
    p.set_defaults(run=run)


#: precisions offered on the command line (the device must have a figure for it)
CLI_PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """``--precision``: which compute ceilings; by default the model's dtype's."""
    p.add_argument(
        "--precision",
        choices=CLI_PRECISIONS,
        help="compute ceilings to use (default: the model's dtype, fp16/bf16 where the "
        "device has that figure, else fp32); bytes follow the model's dtype (--dtype)",
    )


def add_tf32_argument(p: argparse.ArgumentParser) -> None:
    """``--no-tf32-conv``: the strict fp32 roof for fp32 convolutions."""
    p.add_argument(
        "--no-tf32-conv",
        dest="tf32_conv",
        action="store_false",
        help="hold fp32 convolutions to the fp32 roof, as with "
        "torch.backends.cudnn.allow_tf32 = False (by default they get the TF32 tensor roof "
        "on GPUs where PyTorch runs them there: A100, H100...)",
    )


#: bottleneck layers listed when ``--top`` is not given
DEFAULT_TOP = 5


def add_analysis_arguments(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    """``--gpu`` (with ``--specs``/``--measured``), ``--precision``, ``--html``, ``--top``."""
    if device:
        from roofline.cli._device_args import add_device_arguments

        add_device_arguments(p)
    add_precision_argument(p)
    add_tf32_argument(p)
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write the self-contained HTML report (e.g. reports/model.html); needs --gpu",
    )
    p.add_argument(
        "--top",
        type=positive_int,
        help=f"number of bottleneck layers to list (default {DEFAULT_TOP})",
    )


def run(args: argparse.Namespace) -> int:
    from roofline.cli import _outputs
    from roofline.cli._device_args import device_from_args
    from roofline.cli._model_args import check_model_options
    from roofline.counting import profile_spec
    from roofline.report import text

    check_model_options(args, [args.spec])
    # every output path is checked before any work, so a refused one costs nothing
    to_stdout = _outputs.check(
        args,
        {"--json": args.json, "--csv": args.csv, "--html": args.html},
        to_stdout=("--json", "--csv"),
    )
    if to_stdout and args.compare_counters:
        raise RooflineError(
            f"--compare-counters shows a table on stdout, which {to_stdout} - takes; "
            f"give {to_stdout} a file name"
        )
    if args.measure and args.threads:
        # before the device: --gpu cpu's name and ceilings are those of the thread count
        # the model is timed at, as the calibration is
        import torch

        torch.set_num_threads(args.threads)
    device = device_from_args(args)
    if device is None:
        # options that only the roofline reads would otherwise pass unnoticed
        given = {
            "--html": args.html,
            "--precision": args.precision,
            "--measured": args.measured,
            "--no-tf32-conv": not args.tf32_conv,
            "--top": args.top is not None,
        }
        unread = [option for option, value in given.items() if value]
        if unread:
            raise RooflineError(f"{unread[0]} needs a device: add --gpu NAME (see `roofline gpus`)")
    top = DEFAULT_TOP if args.top is None else args.top
    if not args.measure:
        timing = {
            "--warmup": args.warmup,
            "--repeat": args.repeat,
            "--threads": args.threads,
            "--quick": args.quick,
        }
        unused = [option for option, value in timing.items() if value is not None]
        if unused:
            what = "sets the calibration" if unused[0] == "--quick" else "times a measurement"
            raise RooflineError(f"{unused[0]} {what} of --measure: add --measure")
    run_on = _measure_target(device) if args.measure else None
    spec = load_from_args(args)
    if args.yolo_table:
        _require_yolo(spec.format)  # before profiling, and before anything is printed
    if args.real:
        from roofline.counting.real import check_real_fits, real_build_bytes

        check_real_fits(
            real_build_bytes(spec),
            "--real runs the real model",
            on=args.real,
            instead="count on fake tensors (the default)",
        )
    prof = profile_spec(spec, real=args.real or False)
    analysis = None
    if device is not None:
        from roofline.analysis import analyze

        analysis = analyze(prof, device, args.precision, args.depth, tf32_conv=args.tf32_conv)
    # everything is computed first and the files are written before anything is
    # printed, so a reader that stops early (`| head`) cannot cost the user the files
    fuse = _fuse_effect(args, prof, device) if getattr(args, "fuse", False) else None
    latency = _measure(spec, prof, device, run_on, args) if run_on is not None else None
    counters = _compare(spec, prof) if args.compare_counters else None
    _write_files(args, prof, analysis, latency, top)
    if to_stdout:  # stdout holds the JSON or CSV alone, for a pipe (`| jq`)
        return 0
    print(text.profile_header(prof))
    if args.yolo_table:
        print(_yolo_table(spec, prof))
    elif analysis is not None:
        print(text.analysis_table(analysis))
    else:
        print(text.profile_table(prof, args.depth))
    print()
    print(text.profile_summary(prof))
    if analysis is not None:
        print()
        print(text.analysis_summary(analysis, top))
    if fuse is not None:
        print(fuse)
    if latency is not None:
        print()
        print(text_latency(latency))
    if counters is not None:
        print()
        print(counters)
    return 0


def _write_files(
    args: argparse.Namespace, prof: Any, analysis: Any, latency: Any, top: int
) -> None:
    """The --json, --csv and --html files that were asked for (``-``: to stdout)."""
    from roofline.cli._outputs import emit
    from roofline.report import text
    from roofline.report.output import to_csv, to_json

    if args.json:
        # the spec file, or the inline model's options: what reproduces the run
        plain = prof.as_dict(args.depth)
        data = {"model": plain.pop("model"), "spec": prof.info.get("spec"), **plain}
        if analysis is not None:
            data["roofline"] = analysis.as_dict()
        if latency is not None:
            _merge_latency(data, latency.as_dict())
        emit(args.json, to_json(data), force=args.force)
    if args.csv:
        if analysis is not None:
            rows = text.analysis_csv_rows(analysis)
            columns = text.ANALYSIS_COLUMNS
        else:
            rows = [layer.as_dict() for layer in prof.layers(args.depth)]
            columns = text.LAYER_COLUMNS
        emit(args.csv, to_csv(rows, columns), force=args.force)
    if args.html and analysis is not None:
        from roofline.report.html import roofline_report

        page = roofline_report([analysis], top=top, latency=latency)
        emit(args.html, page, force=args.force)


def _fuse_effect(args: argparse.Namespace, fused: Any, device: Any) -> str:
    """What --fuse changed: layers, ops, traffic and (with a device) roofline time."""
    from roofline.counting import profile_spec
    from roofline.units import human_bytes, seconds

    plain = profile_spec(load_from_args(argparse.Namespace(**{**vars(args), "fuse": False})))
    f, p = fused.totals(), plain.totals()
    parts = []
    layers_f, layers_p = fused.info.get("layers"), plain.info.get("layers")
    if layers_f and layers_p:
        parts.append(f"{layers_f} layers (unfused {layers_p})")
    parts.append(f"{f.ops} ops ({p.ops})")
    parts.append(
        f"traffic {human_bytes(f.bytes)} ({human_bytes(p.bytes)}, {f.bytes / p.bytes - 1:+.0%})"
    )
    if device is not None:
        from roofline.analysis import analyze

        tf = analyze(fused, device, args.precision, tf32_conv=args.tf32_conv).totals.time_s
        tp = analyze(plain, device, args.precision, tf32_conv=args.tf32_conv).totals.time_s
        parts.append(f"roofline time {seconds(tf)} ({seconds(tp)}, {tf / tp - 1:+.0%})")
    return "--fuse (BatchNorm folded into convolutions): " + ", ".join(parts)


def _measure_target(device: Any) -> str:
    """Where ``--measure`` runs: the host CPU or this machine's GPU, never a datasheet."""
    if device is None:
        raise RooflineError("--measure needs --gpu cpu or --gpu local (the device it runs on)")
    if device.kind == "cpu":
        return "cpu"
    local = device.extra.get("local")
    if local is not None:
        # the GPU the device was read from (local:1 is cuda:1, not the current GPU)
        index = local.get("index") if isinstance(local, dict) else None
        return f"cuda:{index}" if isinstance(index, int) else "cuda"
    raise RooflineError(
        f"--measure runs the model on this machine, but {device.name} is a datasheet entry; "
        "use --gpu cpu or --gpu local"
    )


def _measure(spec: Any, prof: Any, device: Any, run_on: str, args: argparse.Namespace) -> Any:
    """Predict (naive and calibrated) and measure on this machine, then compare."""
    from roofline.latency.compare import compare_latency
    from roofline.latency.measure import allocator_note, check_device, measure
    from roofline.latency.predict import predict
    from roofline.latency.store import calibratable, ensure_efficiency

    check_device(run_on)
    if run_on == "cpu":  # before a calibration the refused run would waste
        from roofline.counting.real import check_run_fits

        check_run_fits(spec, "--measure runs")
    note = allocator_note(run_on)
    if note:
        _progress(f"note: {note}")
    eff = None
    if calibratable(run_on, prof.dtype):  # else predict() says why it is naive only
        _, eff = ensure_efficiency(
            run_on, quick=bool(args.quick), progress=_progress, dtype=prof.dtype
        )
    pred = predict(
        prof, device, args.precision, efficiency=eff, depth=args.depth, tf32_conv=args.tf32_conv
    )
    # sized above, before the calibration: not twice (a quantized model's sizing builds it)
    warmup, repeat = timing_options(args)
    meas = measure(
        spec,
        device=run_on,
        warmup=warmup,
        repeat=repeat,
        layer_method="hooks",
        progress=_progress,
        check_memory=False,
    )
    return compare_latency(pred, meas, args.depth)


def text_latency(report: Any) -> str:
    """Latency table and summary lines for the terminal."""
    from roofline.latency.compare import latency_summary, latency_table

    return latency_table(report) + "\n" + latency_summary(report)


def _merge_latency(data: dict[str, Any], lat: dict[str, Any]) -> None:
    """Put ``latency: {naive_s, predicted_s, measured_s, measured_spread_s}`` on the
    model and on each layer row (matched by name), and keep the full comparison."""
    data["latency"] = lat["latency"]
    by_name = {row["name"]: row for row in lat.get("layers", [])}
    for row in data["layers"]:
        match = by_name.get(row["name"])
        if match is not None:
            row["latency"] = match["latency"]
    data["latency_report"] = lat


#: progress on stderr, named after the command as bench's and calibrate's are
_progress = Progress("profile: ")


def _require_yolo(spec_format: Any) -> None:
    if spec_format != "yolo":
        raise SpecError("--yolo-table needs a YOLO-format spec (a file with backbone and head)")


def _yolo_table(spec: Any, prof: Any) -> str:
    """YOLOv5's own row form, then what YOLOv5's "GFLOPs" would be and why it differs."""
    _require_yolo(prof.info.get("spec_format"))
    from roofline.yolo.summary import yolo_gflops, yolo_rows_table

    yolo = yolo_gflops(spec, prof)
    return yolo_rows_table(prof, yolo=yolo) + "\n\n" + yolo.explain()


def _compare(spec: Any, prof: Any) -> str:
    from roofline.compare_counters import compare_counters
    from roofline.counting.real import check_real_fits
    from roofline.report.text import simple_table
    from roofline.units import si

    check_real_fits(
        prof.param_bytes,
        "--compare-counters runs the real model",
        instead="compare on a smaller model",
    )
    _progress("running fvcore, thop, torchinfo, FlopCounterMode on real tensors ...")
    model = spec.build()
    args, kwargs = spec.example_inputs("cpu")
    results = compare_counters(model, args, kwargs, prof)
    rows = []
    for r in results:
        value = "failed: " + (r.error or "") if r.value is None else f"{si(r.value)} {r.unit}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}"
        rows.append([r.tool, value, r.counts, f"{si(r.ours)} ({r.ours_label})", ratio])
    t = prof.totals()
    rows.append(
        [
            "roofline",
            f"{si(t.flops)} FLOPs",
            "every aten op: matrix + vector FLOPs (1 MAC = 2 FLOPs)",
            f"{si(t.macs)} MACs",
            "1.000",
        ]
    )
    return simple_table(rows, ["counter", "reports", "what it counts", "ours, comparable", "ratio"])
