"""``roofline gpus``: the device database as a table, JSON, or one device in full."""

from __future__ import annotations

import argparse
from typing import Any

from tabulate import tabulate

from roofline.cli._device_args import add_specs_argument
from roofline.devices import PRECISIONS, Device, all_devices, get_device

_TABLE_PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gpus",
        help="list known devices (peaks, bandwidth, ridge points)",
        description="List every known device (no ACTION), or show one in full with its "
        "sources (show NAME).",
    )
    p.add_argument("--json", metavar="FILE", help="write the list as JSON ('-' for stdout)")
    p.add_argument(
        "--force", action="store_true", help="replace a --json file roofline did not write"
    )
    add_specs_argument(p)
    sub = p.add_subparsers(dest="gpus_action", metavar="ACTION")
    show = sub.add_parser("show", help="one device, every field, with its sources")
    show.add_argument("name", metavar="NAME", help="device name, 'local', 'cpu' or a spec .yaml")
    show.add_argument(
        "--json",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="write it as JSON ('-' for stdout)",
    )
    show.add_argument(
        "--force",
        action="store_true",
        default=argparse.SUPPRESS,
        help="replace a --json file roofline did not write",
    )
    add_specs_argument(show, suppress_default=True)
    p.set_defaults(run=run)


def _tflops(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e12:.1f}"


def _row(d: Device) -> list[Any]:
    row: list[Any] = [
        d.key,
        d.name,
        d.architecture,
        f"{d.memory_bytes / 2**30:.0f}",
        f"{d.memory_bandwidth_bytes_per_s / 1e9:.0f}",
    ]
    row += [_tflops(d.peaks[p].flops_per_s) if p in d.peaks else "-" for p in _TABLE_PRECISIONS]
    row.append(f"{d.tdp_watts:.0f}" if d.tdp_watts else "-")
    row.append(f"{d.ridge_point('fp32'):.1f}")
    return row


def _write_json(data: Any, target: str, force: bool) -> None:
    """``-`` prints to stdout; a file may only replace one roofline wrote (or ``--force``)."""
    from roofline.cli._outputs import emit
    from roofline.report.output import to_json

    emit(target, to_json(data), force=force)


def run(args: argparse.Namespace) -> int:
    from roofline.cli._outputs import check

    specs = getattr(args, "specs", None)
    json_path = getattr(args, "json", None)
    force = getattr(args, "force", False)
    check(args, {"--json": json_path})  # before reading the database (as every command)
    if getattr(args, "gpus_action", None) == "show":
        device = get_device(args.name, specs)
        if json_path:
            _write_json(device.as_dict(), json_path, force)
        else:
            print(render_device(device))
        return 0
    devices = all_devices(specs)
    if json_path:
        _write_json([d.as_dict() for d in devices], json_path, force)
        return 0
    headers = ["key", "name", "arch", "mem GiB", "BW GB/s"]
    headers += [f"{p.upper()} T{'OP' if p == 'int8' else 'FLOP'}/s" for p in _TABLE_PRECISIONS]
    headers += ["TDP W", "ridge fp32"]
    print(tabulate([_row(d) for d in devices], headers=headers, disable_numparse=True))
    print(
        f"\n{len(devices)} devices. Dense peaks; tensor-core figure where the device has one "
        "(GeForce FP16/BF16: FP32 accumulate). Ridge point in FLOPs/byte. "
        "`roofline gpus show NAME` for sources."
    )
    return 0


def render_device(d: Device) -> str:
    """Every field of one device, with its sources, as text."""

    def opt(v: Any, fmt: str = "{}") -> str:
        return "-" if v is None or v == "" else fmt.format(v)

    ic = d.interconnect
    link = []
    if ic.pcie_generation:
        link.append(f"PCIe Gen{ic.pcie_generation} x{ic.pcie_lanes or '?'}")
    if ic.nvlink_bandwidth_bytes_per_s:
        link.append(f"NVLink {ic.nvlink_bandwidth_bytes_per_s / 1e9:g} GB/s")
    if ic.other:
        link.append(ic.other)
    price = "-"
    if d.price:
        parts = []
        if d.price.launch_usd:
            parts.append(f"${d.price.launch_usd:,.0f} at launch ({d.price.launch_date})")
        if d.price.cloud_usd_per_hour:
            parts.append(f"${d.price.cloud_usd_per_hour:.2f}/h cloud ({d.price.cloud_date})")
        if d.price.note:
            parts.append(d.price.note)
        price = "; ".join(parts) or "-"
    x = d.extra
    fields = [
        ("name", d.name),
        ("key", d.key),
        ("aliases", ", ".join(d.aliases) or "-"),
        ("vendor / kind", f"{d.vendor} / {d.kind}"),
        ("architecture", d.architecture),
        ("compute capability", opt(d.compute_capability)),
        ("SMs / CUs", opt(d.sm_count)),
        ("FP32 lanes", opt(d.fp32_lanes)),
        ("boost clock", opt(d.boost_clock_hz and d.boost_clock_hz / 1e6, "{:.0f} MHz")),
        (
            "memory",
            f"{d.memory_bytes / 2**30:.2f} GiB"
            + (f" (vendor: {x['memory_gb']} GB)" if "memory_gb" in x else ""),
        ),
        ("memory type", opt(d.memory_type)),
        ("bus width", opt(d.bus_width_bits, "{} bit")),
        (
            "data rate",
            opt(
                d.memory_data_rate_bits_per_s and d.memory_data_rate_bits_per_s / 1e9,
                "{:g} Gbps per pin",
            ),
        ),
        ("bandwidth", f"{d.memory_bandwidth_bytes_per_s / 1e9:.5g} GB/s"),
        ("L2 cache", opt(d.l2_bytes and d.l2_bytes / 2**20, "{:g} MiB")),
        ("TDP", opt(d.tdp_watts, "{:g} W")),
        ("interconnect", ", ".join(link) or "-"),
        ("price", price),
        ("origin", d.origin or "-"),
    ]
    out = [tabulate(fields, tablefmt="plain")]
    rows = []
    for p in PRECISIONS:
        for pk, kind in ((d.peaks.get(p), "matrix"), (d.plain_peaks.get(p), "vector")):
            if pk is None or (kind == "vector" and pk is d.peaks.get(p)):
                continue
            unit = "TOP/s" if p == "int8" else "TFLOP/s"
            rows.append(
                [
                    p,
                    pk.pipe,
                    f"{pk.flops_per_s / 1e12:.4g} {unit}",
                    f"{pk.flops_per_s / d.memory_bandwidth_bytes_per_s:.1f}"
                    if kind == "matrix"
                    else "",
                    pk.source,
                    pk.note,
                ]
            )
    out.append("\nDense peaks:")
    out.append(
        tabulate(
            rows,
            headers=["precision", "pipe", "peak", "ridge FLOP/B", "source", "note"],
            disable_numparse=True,
            maxcolwidths=[None, None, None, None, 45, 55],
        )
    )
    from roofline.analysis import ceilings
    from roofline.errors import AnalysisError

    try:
        conv = ceilings(d, "fp32").conv
    except AnalysisError:  # no fp32 figure
        conv = None
    if conv is not None:
        out.append(
            f"\nfp32 analyses hold dense convolutions to the tf32 tensor roof "
            f"({conv.flops_per_s / 1e12:.4g} TFLOP/s): PyTorch runs them there by default "
            f"(torch.backends.cudnn.allow_tf32); --no-tf32-conv for the strict fp32 roof"
        )
    if d.measured:
        m = d.measured
        out.append(f"\nMeasured ceilings ({m.measured_at}, torch {m.torch_version}, {m.host}):")
        mrows = [[f"gemm {p}", f"{v / 1e12:.2f} T/s"] for p, v in m.gemm_flops_per_s.items()]
        if d.kind != "cpu":  # a CPU has no tensor cores: the two are one figure
            mrows += [
                [f"gemm {p} no tensor cores", f"{v / 1e12:.2f} T/s"]
                for p, v in m.gemm_flops_per_s_no_tensor.items()
            ]
        mrows.append(["copy bandwidth", f"{m.copy_bandwidth_bytes_per_s / 1e9:.1f} GB/s"])
        mrows.append(["launch overhead", f"{m.launch_overhead_s * 1e6:.2f} µs"])
        out.append(tabulate(mrows, tablefmt="plain", disable_numparse=True))
    out.append("\nSources:")
    for s in d.sources:
        covers = s.get("covers")
        out.append(
            f"  [{s.get('id')}] {s.get('title')}"
            + (f"\n      covers: {', '.join(covers)}" if covers else "")
        )
    if d.notes:
        out.append("\nNotes:")
        out += [f"  - {n}" for n in d.notes]
    return "\n".join(out)
