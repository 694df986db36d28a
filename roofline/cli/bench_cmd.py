"""``roofline bench``: measure a model's latency and put it beside the predictions."""

from __future__ import annotations

import argparse
from typing import Any

from roofline.cli._model_args import add_model_arguments
from roofline.cli._progress import Progress
from roofline.cli.profile_cmd import (
    SPEC_HELP,
    add_dtype_argument,
    add_quick_argument,
    add_timing_arguments,
    depth_arg,
    positive_int,
    timing_options,
)
from roofline.errors import MeasurementError
from roofline.report.output import STDOUT
from roofline.units import dtype_name

#: per-layer passes and table depth when not given (their options are refused with
#: ``--per-layer none``, which reads neither); the depth is ``profile``'s, so both show
#: the same rows, and a YOLO model's layers (model.0, model.1 ...) rather than one row
#: for its wrapper
DEFAULT_LAYER_PASSES = 3
DEFAULT_DEPTH = 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure latency (end to end and per layer) beside naive and calibrated predictions",
        description="Run the model on real random inputs: warm-up, then the median and "
        "interquartile range of many timed runs (CUDA: synchronised), per-layer times, and "
        "the naive-roofline and calibrated predictions beside them.",
    )
    p.add_argument("spec", help=SPEC_HELP)
    add_model_arguments(p)
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default cpu)"
    )
    p.add_argument(
        "--batch",
        type=positive_int,
        nargs="+",
        metavar="B",
        help="batch sizes (e.g. 1 8 32; default: the spec's)",
    )
    p.add_argument("--mode", choices=("inference", "training"), help="override the spec's mode")
    add_dtype_argument(
        p,
        "run the model cast to this dtype; its calibrated prediction comes from a "
        "calibration at that dtype, run once if none is stored (not fp16 on the CPU: "
        "naive roofline only)",
    )
    p.add_argument(
        "--optimizer-step", action="store_true", help="training: include an SGD optimizer step"
    )
    add_timing_arguments(p)
    p.add_argument(
        "--per-layer",
        choices=("hooks", "profiler", "none"),
        default="hooks",
        help="per-layer timing method (default hooks; see docs/latency.md)",
    )
    p.add_argument(
        "--layer-passes",
        type=positive_int,
        help=f"per-layer passes (default {DEFAULT_LAYER_PASSES})",
    )
    p.add_argument(
        "--depth",
        type=depth_arg,
        help=f"module depth of the per-layer table (default {DEFAULT_DEPTH}; 'all' for the leaves)",
    )
    p.add_argument(
        "--no-predict", action="store_true", help="measure only (no prediction, no calibration)"
    )
    add_quick_argument(p)
    p.add_argument("--json", metavar="FILE", help="write every run as JSON ('-': to stdout, alone)")
    p.add_argument("--force", action="store_true", help="overwrite files not written by roofline")
    yolo = p.add_argument_group("YOLO-format specs")
    yolo.add_argument("--imgsz", type=positive_int, help="input image size (default 640)")
    yolo.add_argument("--nc", type=positive_int, help="number of classes")
    yolo.add_argument(
        "--fuse", action="store_true", help="fold BatchNorm into the preceding conv (inference)"
    )
    p.set_defaults(run=run)


_progress = Progress("bench: ")


def _count(spec: Any, device: str) -> Any:
    """The profile the prediction prices; bench has just run the real model, so one
    fake tensors cannot run is counted over real ones (:func:`profile_spec_any`, behind
    the memory guard of ``profile --real``)."""
    from roofline.counting import profile_spec_any

    return profile_spec_any(spec, device, command="bench")


def run(args: argparse.Namespace) -> int:
    import torch

    from roofline.cli._model_args import check_model_options, load_model
    from roofline.cli._outputs import check
    from roofline.latency.measure import OutOfMemory, allocator_note, check_device, measure

    check_model_options(args, [args.spec])
    # before any calibration or measurement: a refused path must not cost the runs
    quiet = check(args, {"--json": args.json}) is not None  # stdout holds the JSON alone
    check_device(args.device)  # fails early, with one line, when CUDA is absent
    overrides = {"imgsz": args.imgsz, "nc": args.nc, "fuse": True if args.fuse else None}
    spec = load_model(args, args.spec, mode=args.mode, dtype=args.dtype, **overrides)
    if args.optimizer_step and spec.mode != "training":
        raise MeasurementError(
            "--optimizer-step times the optimizer step of a training step: add --mode training"
        )
    if args.per_layer == "none":
        # options that only the per-layer timing reads would otherwise pass unnoticed
        given = {"--layer-passes": args.layer_passes, "--depth": args.depth}
        unread = [option for option, value in given.items() if value is not None]
        if unread:
            raise MeasurementError(
                f"{unread[0]} sets the per-layer timing, which --per-layer none turns off: "
                "drop one of the two"
            )
    if args.quick and args.no_predict:
        raise MeasurementError(
            "--quick makes the calibration quick, and --no-predict runs none: drop one of them"
        )
    depth = DEFAULT_DEPTH if args.depth is None else args.depth
    passes = DEFAULT_LAYER_PASSES if args.layer_passes is None else args.layer_passes
    warmup, repeat = timing_options(args)
    # the inputs are good: now the notes, then the work
    note = allocator_note(args.device)
    if note:
        _progress(f"note: {note}")
    if args.threads:
        torch.set_num_threads(args.threads)
    # once each, in the order given, as calibrate's --dtype and the --gpu lists
    batches = list(dict.fromkeys(args.batch or [spec.batch or 1]))
    checked = None
    if args.device == "cpu":
        # before a calibration: a sweep whose smallest batch cannot run would waste it
        from roofline.counting.real import check_run_fits

        checked = min(batches)
        check_run_fits(spec.with_batch(checked))
    device = eff = None
    if not args.no_predict:
        from roofline.latency.store import calibratable, device_for, ensure_efficiency

        dtype = "float32" if spec.dtype is None else dtype_name(spec.dtype)
        if calibratable(args.device, dtype):
            device, eff = ensure_efficiency(
                args.device, quick=bool(args.quick), progress=_progress, dtype=dtype
            )
        else:  # no calibration can price it (predict() says so): do not run one
            device = device_for(args.device)
    method = None if args.per_layer == "none" else args.per_layer
    results: list[dict[str, Any]] = []
    ran: list[int] = []
    #: the smallest batch that ran out of memory, and its error
    failed: tuple[int, OutOfMemory] | None = None
    current: int | None = None  # the batch being measured
    #: a batch measured whose prediction is being computed: kept on Ctrl-C
    pending: tuple[int, Any] | None = None
    not_predicted: list[int] = []
    try:
        for b in batches:
            if failed is not None and b >= failed[0]:
                continue  # needs at least the memory the failed batch ran out of
            current = b
            try:
                m = measure(
                    spec,
                    device=args.device,
                    batch=b,
                    warmup=warmup,
                    repeat=repeat,
                    layer_method=method,
                    layer_passes=passes,
                    optimizer_step=args.optimizer_step,
                    progress=_progress,
                    check_memory=b != checked,  # each batch sized once
                )
            except OutOfMemory as exc:
                failed = (b, exc)  # a smaller batch after it may still run
                continue
            finally:
                if args.device == "cuda":
                    torch.cuda.empty_cache()
            pending = (b, m)
            report = _compare(args, spec, b, m, device, eff, depth)
            results.append(_run_of(m, report))
            ran.append(b)
            pending = current = None
            if not quiet:
                _show(m, report, depth)
    except KeyboardInterrupt:
        if pending is not None and pending[0] not in ran:
            # Ctrl-C while the batch's prediction was computed: its measurement had
            # finished, and is kept as a --no-predict run is; results and ran grow
            # together, so a run appended just before the interrupt is kept once
            b, m = pending
            if len(results) == len(ran):
                results.append(_run_of(m, None))
                not_predicted.append(b)
            ran.append(b)
        # minutes of measurements: keep the batches that finished, marked partial
        if args.json and results:
            from roofline.cli._progress import finish
            from roofline.errors import RooflineError

            finish()  # the counter of the batch that was running
            try:
                _write(args, spec, results, batches, ran, failed, not_predicted, interrupted=True)
            except RooflineError as exc:  # the interrupt stays the news: exit 130
                _progress(f"the batches that finished were not kept: {exc}")
            else:
                where = "stdout" if args.json == STDOUT else args.json
                at = "" if current is None else f" at batch {current}"
                held = [f"the finished {_batch_list(ran)}"]
                if not_predicted:
                    at += "'s prediction"
                    finished = [r for r in ran if r not in not_predicted]
                    held = [f"the finished {_batch_list(finished)}"] if finished else []
                    held.append(f"batch {not_predicted[0]}'s measurement")
                _progress(
                    f"interrupted{at}: {where} holds {' and '.join(held)} only, marked partial"
                )
        raise
    if args.json and results:
        _write(args, spec, results, batches, ran, failed, [], interrupted=False)
    if failed is not None:
        b, exc = failed
        largest = f"the largest batch that ran: {max(ran)}" if ran else "no batch size ran"
        skipped = [s for s in batches if s not in ran and s != b]
        rest = f"; not run: {_batch_list(skipped)}" if skipped else ""
        raise MeasurementError(f"{exc}; {largest}{rest}")
    return 0


def _batch_list(batches: list[int]) -> str:
    """``batch 8`` or ``batches 8, 16``."""
    return ("batch " if len(batches) == 1 else "batches ") + ", ".join(map(str, batches))


def _write(
    args: argparse.Namespace,
    spec: Any,
    results: list[dict[str, Any]],
    batches: list[int],
    ran: list[int],
    failed: tuple[int, Exception] | None,
    not_predicted: list[int],
    *,
    interrupted: bool,
) -> None:
    """The ``--json`` output: the runs that finished, and which of ``--batch`` did not
    (docs/latency.md: ``partial``, ``not_run``, ``not_predicted``, ``failed``,
    ``interrupted``); ``not_predicted``: batches measured whose prediction Ctrl-C
    stopped, whose runs hold the measurement alone."""
    from roofline.cli._outputs import emit
    from roofline.report.output import to_json

    not_run = [b for b in batches if b not in ran]
    data = {
        # the file as given, or the inline model's options: what reproduces the run
        "spec": spec.info["spec"],
        "runs": results,
        "partial": bool(not_run or not_predicted),
        "not_run": not_run,
        "not_predicted": not_predicted,
        "failed": None if failed is None else {"batch": failed[0], "error": str(failed[1])},
        "interrupted": interrupted,
    }
    emit(args.json, to_json(data), force=args.force)


def _compare(
    args: argparse.Namespace,
    spec: Any,
    b: int,
    m: Any,
    device: Any,
    eff: Any,
    depth: int,
) -> Any:
    """Batch ``b``'s measurement ``m`` beside its prediction for ``device``; None when
    ``device`` is None (``--no-predict``)."""
    if device is None:
        return None
    from roofline.latency.compare import compare_latency
    from roofline.latency.predict import predict

    prof = _count(spec.with_batch(b), args.device)
    if args.optimizer_step and spec.mode == "training":
        # the measured step includes an SGD step: predict it too
        from roofline.counting import build_fake
        from roofline.latency.predict import with_sgd_step

        fake, _, _ = build_fake(spec)
        prof = with_sgd_step(prof, list(fake.parameters()), foreach=args.device.startswith("cuda"))
    pred = predict(prof, device, efficiency=eff, depth=depth)
    return compare_latency(pred, m, depth)


def _run_of(m: Any, report: Any) -> dict[str, Any]:
    """The ``--json`` run of measurement ``m``: its comparison ``report``, or the
    measurement alone (predictions null) when there is none."""
    if report is not None:
        return report.as_dict()
    return {
        "measurement": m.as_dict(),
        "latency": {
            "naive_s": None,
            "predicted_s": None,
            "measured_s": m.median_s,
            "measured_spread_s": m.spread_s,
        },
    }


def _show(m: Any, report: Any, depth: int) -> None:
    """Print measurement ``m``: its comparison ``report`` when there is one."""
    if report is not None:
        from roofline.latency.compare import latency_summary, latency_table

        print(latency_table(report))
        print(latency_summary(report))
        print()
        return
    from roofline.latency.compare import measured_layers_table

    table = measured_layers_table(m, depth)
    if table:
        print(table)
    print(
        f"{m.model} batch {m.batch} on {m.device_name}: median "
        f"{m.median_s * 1e3:.3f} ms, IQR {m.spread_s * 1e3:.3f} ms "
        f"({len(m.timing.samples)} runs)"
    )
    if m.unsteady_note:
        print(f"note: {m.unsteady_note}")
