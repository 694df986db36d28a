"""``roofline compare``: several models and/or devices on one roofline and one table."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from roofline.cli._model_args import INPUT_HELP, add_model_arguments, check_model_options
from roofline.cli._progress import Progress
from roofline.cli.profile_cmd import (
    add_precision_argument,
    add_spec_arguments,
    add_tf32_argument,
    depth_arg,
    load_from_args,
    positive_int,
)
from roofline.errors import RooflineError

#: progress on stderr, named after the command as profile's, bench's and vram's are
_progress = Progress("compare: ")

TOO_FEW = "compare needs at least two analyses: give two specs or two --gpu"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="several models and/or devices on one roofline, totals side by side",
        description="Profile each model spec and analyse it on each --gpu; print the totals "
        "side by side (ratios against the first) and optionally write one HTML report.",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="SPEC",
        help="model specs (.yaml), or inline models package.module:callable; --input and "
        "--kwarg apply to the inline ones, each of them",
    )
    add_model_arguments(
        p,
        input_help=f"{INPUT_HELP}; the same inputs for every inline SPEC (spec files have "
        "their own)",
    )
    from roofline.cli._device_args import add_device_arguments

    add_device_arguments(p, required=True, many=True, allow_all=True)
    add_precision_argument(p)
    add_tf32_argument(p)
    p.add_argument(
        "--depth",
        type=depth_arg,
        default=2,
        help="module depth of the layer points (default 2; 'all' for the leaves)",
    )
    add_spec_arguments(p)
    p.add_argument("--html", metavar="FILE", help="write one HTML report with every analysis")
    p.add_argument(
        "--json", metavar="FILE", help="write every analysis as JSON ('-': to stdout, alone)"
    )
    p.add_argument(
        "--top", type=positive_int, default=5, help="bottlenecks listed per analysis (default 5)"
    )
    p.add_argument(
        "--sort",
        choices=("input", "time"),
        default="input",
        help="order of the rows: as given (default) or fastest roofline time first",
    )
    p.add_argument(
        "--brief",
        action="store_true",
        help="the side-by-side table only, without each analysis's summary",
    )
    p.add_argument(
        "--force", action="store_true", help="overwrite output files not written by roofline"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from roofline.analysis import analyze
    from roofline.cli._device_args import devices_from_args, is_all_name
    from roofline.cli._outputs import check, emit
    from roofline.counting import profile_spec_any
    from roofline.errors import AnalysisError
    from roofline.report.output import to_json
    from roofline.report.text import (
        analysis_summary,
        compare_launch_notes,
        compare_note,
        compare_table,
    )

    check_model_options(args, args.models)
    # the argument count and every output path are checked before anything is profiled
    to_stdout = check(args, {"--json": args.json, "--html": args.html})
    uncalibrated: dict[str, str] = {}
    devices = devices_from_args(args, allow_all=True, skipped=uncalibrated)
    if uncalibrated:
        _progress(
            f"--gpu all --measured: skipped {len(uncalibrated)} device(s) without measured "
            "ceilings (`roofline calibrate` on each measures them)"
        )
    if uncalibrated and len(args.models) * len(devices) < 2:
        raise RooflineError(
            f"--gpu all --measured: {len(devices) or 'no'} device(s) with measured ceilings, "
            "too few to compare; run `roofline calibrate --gpu local` on each GPU machine "
            "first, or drop --measured for the datasheet figures"
        )
    if len(args.models) * len(devices) < 2:
        gpus = args.gpus or []
        if len(gpus) > len(devices):  # --gpu 3090 --gpu rtx-3090: one device
            raise RooflineError(f"{TOO_FEW} ({', '.join(gpus)} name one device)")
        raise RooflineError(TOO_FEW)
    every = any(is_all_name(n) for n in args.gpus)
    analyses = []
    skipped: dict[str, str] = {}
    # every spec is loaded before any is profiled, so a bad one fails at once
    specs = [
        load_from_args(SimpleNamespace(**{**vars(args), "spec": path}))  # type: ignore[arg-type]
        for path in args.models
    ]
    for spec in specs:
        _progress(f"profiling {spec.name} ...")
        # over real tensors where fake ones cannot run it (behind --real's memory guard)
        prof = profile_spec_any(spec, command="compare")
        for dev in devices:
            try:
                analyses.append(
                    analyze(prof, dev, args.precision, args.depth, tf32_conv=args.tf32_conv)
                )
            except AnalysisError as exc:
                if not every:  # a device the user named: its error is the answer
                    raise
                skipped[dev.name] = str(exc)
    if skipped:
        _progress(
            f"skipped {len(skipped)} device(s) without a {args.precision or 'default'} figure: "
            + ", ".join(skipped)
        )
    if args.sort == "time":
        analyses.sort(key=lambda a: a.totals.time_s)
    if len(analyses) < 2:  # `--gpu all` may have skipped devices without the figure
        raise RooflineError(TOO_FEW)
    # files first, so a reader that stops early (`| head`) cannot cost the user them
    if args.json:
        # each analysis with the note its table row and HTML row carry
        # and the spec it came from: the file, or the inline model's options
        data = {
            "analyses": [{**a.as_dict(), "spec": a.spec, "note": compare_note(a)} for a in analyses]
        }
        emit(args.json, to_json(data), force=args.force)
    if args.html:
        from roofline.report.html import roofline_report

        emit(args.html, roofline_report(analyses, top=args.top), force=args.force)
    if to_stdout:  # stdout holds the JSON alone, for a pipe (`| jq`)
        return 0
    print(compare_table(analyses))
    print()
    print(
        "time: sum of per-op roofline times (eager, one kernel per op); plain time: the whole "
        "model as one kernel, max(FLOPs / peak, bytes / bandwidth); ratios against the first "
        "row; ops: each one kernel launch or more, which the roofline time leaves out"
    )
    for line in compare_launch_notes(analyses):
        print(line)
    if args.brief:
        return 0
    for a in analyses:
        print()
        print(f"== {a.model} on {a.device.name}")
        print(analysis_summary(a, args.top))
    return 0
