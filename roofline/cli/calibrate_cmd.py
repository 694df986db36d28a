"""``roofline calibrate``: measure this machine's ceilings and show them beside the datasheet."""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from roofline.cli._device_args import add_specs_argument
from roofline.cli._progress import Progress
from roofline.devices import Device
from roofline.devices.bench import copy_drift_text
from roofline.devices.calibrate import calibrate_cuda, comparison_rows
from roofline.devices.model import MeasuredCeilings
from roofline.errors import DeviceError, MeasurementError
from roofline.units import dtype_name, dtype_short


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="measure achieved GEMM throughput, copy bandwidth and launch latency, and fit "
        "the latency model",
        description="Measure this machine's real ceilings (GEMM per precision, copy bandwidth, "
        "kernel launch latency), store them per device, and show datasheet vs achieved; then "
        "fit the latency model that bench and profile --measure use (minutes; "
        "--ceilings-only skips it).",
    )
    p.add_argument(
        "--gpu",
        "--device",
        dest="gpu",
        default="local",
        metavar="local|cpu",
        help="'local' (the default: the CUDA GPU, matched through NVML; 'local:1' for the "
        "second) or 'cpu'",
    )
    p.add_argument(
        "--quick", action="store_true", help="smaller problems: seconds, rougher figures"
    )
    p.add_argument(
        "--ceilings-only",
        action="store_true",
        help="measure the ceilings only; skip fitting the latency model (per-op efficiencies)",
    )
    p.add_argument(
        "--dtype",
        nargs="+",
        action="extend",  # --dtype fp32 --dtype bf16 fits both, not the last one only
        metavar="DTYPE",
        help="the dtypes of the models to predict: the latency model's microbenchmarks run "
        "at each (one fit per dtype, each a full run; kept beside the others). "
        "fp32, bf16, fp64; on a GPU also fp16 (default: fp32)",
    )
    add_specs_argument(p)
    p.set_defaults(run=run)


_progress = Progress("calibrate: ", " ...")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1e6:.2f} µs"
    if unit == "B/s":
        return f"{value / 1e9:.1f} GB/s"
    return f"{value / 1e12:.2f} T{unit}"


def render(device: Device, m: MeasuredCeilings) -> str:
    """Datasheet vs achieved, as a text table."""
    rows = []
    for r in comparison_rows(device, m):
        sheet, got, unit = r["datasheet"], r["achieved"], str(r["unit"])
        pct = f"{100 * got / sheet:.0f}%" if sheet else "-"  # type: ignore[operator]
        rows.append([r["ceiling"], r["pipe"], _fmt(sheet, unit), _fmt(got, unit), pct])  # type: ignore[arg-type]
    table = tabulate(
        rows,
        headers=["ceiling", "pipe", "datasheet", "achieved", "of datasheet"],
        disable_numparse=True,
    )
    skipped = m.extra.get("skipped") or {}
    lines = [
        f"{device.name}: measured {m.measured_at}, torch {m.torch_version}, host {m.host}",
        table,
    ]
    if skipped:
        lines.append("not measured: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    warning = copy_drift_text(m.extra)
    if warning:
        lines.append(f"warning: {warning}")
    lines.append(
        f"stored; use it with --gpu {('cpu' if device.kind == 'cpu' else device.key)} --measured"
    )
    return "\n".join(lines)


def _dtypes(kind: str, args: argparse.Namespace) -> list[str]:
    """The dtypes to fit the latency model for (checked before any measurement)."""
    from roofline.latency.calibrate import calibration_dtype

    given = getattr(args, "dtype", None)
    if given and getattr(args, "ceilings_only", False):
        raise MeasurementError(
            "--dtype picks the latency model's kernels, and --ceilings-only fits none: "
            "drop one of them"
        )
    names = [dtype_name(calibration_dtype(kind, d)) for d in (given or ["float32"])]
    return list(dict.fromkeys(names))  # once each, in the order given


def _latency_model(target: str, args: argparse.Namespace, dtypes: list[str]) -> None:
    """Fit and store the latency model for each of ``dtypes`` on top of the ceilings
    just stored."""
    if getattr(args, "ceilings_only", False):
        return
    from roofline.latency.calibrate import fit_summary
    from roofline.latency.store import calibrate_and_store

    for dtype in dtypes:
        if len(dtypes) > 1:
            _progress(f"latency model for {dtype_short(dtype)} models")
        _, eff = calibrate_and_store(target, quick=args.quick, progress=_progress, dtype=dtype)
        print(fit_summary(eff))


def run(args: argparse.Namespace) -> int:
    from roofline.cli._device_args import check_spec_dirs
    from roofline.devices import is_cpu_name, is_local_name, local_index, plain_name

    # before minutes of measuring: the CPU reads no spec folder, so a typo in one
    # would otherwise pass unnoticed
    check_spec_dirs(args)
    from roofline.devices.cache import check_cache_writable

    check_cache_writable()  # likewise: the measurement is stored, not only shown
    target = plain_name(args.gpu)  # as profile reads it: full-width ｃｐｕ is cpu
    if is_cpu_name(target):
        dtypes = _dtypes("cpu", args)
        from roofline.devices.cache import save_measured
        from roofline.devices.host_cpu import cache_name, device_from_ceilings, measure

        m = measure(quick=args.quick, progress=_progress)
        save_measured(cache_name(), m, {"kind": "cpu"})
        print(render(device_from_ceilings(m), m))
        _latency_model("cpu", args, dtypes)
        return 0
    if is_local_name(target):
        from roofline.devices.nvml import local_device

        dtypes = _dtypes("gpu", args)
        index = local_index(args.gpu)  # 'local:x' (and local:²) is refused, not GPU 0
        device = local_device(index, args.specs)
        for diff in device.extra.get("local_differences", []):
            print(f"calibrate: note: {diff}", file=sys.stderr)
        m = calibrate_cuda(device, index=index, quick=args.quick, progress=_progress)
        print(render(device, m))
        _latency_model(f"local:{index}", args, dtypes)
        return 0
    raise DeviceError(
        f"calibrate measures this machine: use --gpu local or --gpu cpu (got {args.gpu!r})"
    )
