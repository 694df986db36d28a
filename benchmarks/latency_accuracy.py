"""Accuracy of the latency prediction: naive roofline and calibrated model vs measurement.

    python benchmarks/latency_accuracy.py --device cpu --threads 1 --out docs/results/latency_cpu.md
    python benchmarks/latency_accuracy.py --device cuda --out docs/results/latency_cuda.md
    python benchmarks/latency_accuracy.py --device cpu --threads 1 --dtype bf16 --out ...

Steps: (1) calibrate the efficiency model on this device from microbenchmarks only
(``roofline.latency.calibrate``: never from the models below, so there is no leakage);
(2) for each model and batch size, count it on fake tensors, predict (naive and
calibrated), and measure it (warm-up, then the median of timed runs, inference mode,
random inputs); (3) print per-case errors and, overall, the mean absolute percentage
error (MAPE) of each predictor and the share of cases within ±10% and ±25%.
``--dtype bf16`` (or fp16 on CUDA, fp64) casts every model and calibrates at that dtype.

CPU sizes are reduced so that the whole run fits in about ten minutes on two cores
(ViT-B/16 at 112×112, YOLO at 320×320, the transformer encoder at 64 tokens, the
Llama-style decode step at width 1024, 8 layers, a 256-token cache); CUDA runs use the
full sizes (the decode step at width 2048, 8 layers, 512 tokens). ``--quick`` runs two small models at batch 1 (a smoke test).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roofline import units  # noqa: E402
from roofline.counting import profile as count_profile  # noqa: E402
from roofline.counting import profile_spec  # noqa: E402
from roofline.counting.profile import ModelProfile  # noqa: E402
from roofline.devices import get_device  # noqa: E402
from roofline.devices.host_cpu import cpu_description  # noqa: E402
from roofline.errors import RooflineError  # noqa: E402
from roofline.latency.calibrate import (  # noqa: E402
    EfficiencyModel,
    calibrate_efficiency,
    calibration_dtype,
    host_issue_text,
    reference_time,
)
from roofline.latency.measure import device_sync, measure  # noqa: E402
from roofline.latency.predict import predict  # noqa: E402
from roofline.spec import InputSpec, ModelSpec, load_spec  # noqa: E402


def _tv(name: str, **kw: object) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kw)

    return build


def _encoder(d: int = 512, layers: int = 6, heads: int = 8) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        layer = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, batch_first=True, dropout=0.0)
        return torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    return build


def _decoder(
    dim: int, layers: int, heads: int, hidden: int, vocab: int = 32000
) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        sys.path.insert(0, str(ROOT / "examples"))
        from llama import Llama  # examples/llama.py

        return Llama(vocab=vocab, dim=dim, layers=layers, heads=heads, hidden=hidden)

    return build


def _decode_step(
    dim: int, layers: int, heads: int, hidden: int, context: int, vocab: int = 32000
) -> ModelSpec:
    """One decode step of a Llama-style decoder (examples/llama.py): a new token per
    sequence and a KV cache of ``context`` positions; every weight is read once for a
    matrix-vector product per token, so the step streams the weights."""
    name = f"llama_decode({dim}x{layers},ctx={context})"
    inputs = (
        InputSpec((1, 1), torch.int64, "input_ids", high=vocab),
        InputSpec((1, layers, 2, heads, context, dim // heads), name="kv_cache"),
    )
    return ModelSpec(name, _decoder(dim, layers, heads, hidden, vocab), inputs)


def _image(res: int) -> tuple[InputSpec, ...]:
    return (InputSpec((1, 3, res, res)),)


def model_specs(cuda: bool) -> list[ModelSpec]:
    """The evaluated models (reduced sizes on CPU, see the module docstring)."""
    vit_res = 224 if cuda else 112
    yolo = 640 if cuda else 320
    seq = 256 if cuda else 64
    specs = [
        ModelSpec("resnet18", _tv("resnet18"), _image(224)),
        ModelSpec("resnet50", _tv("resnet50"), _image(224)),
        ModelSpec("mobilenet_v3_small", _tv("mobilenet_v3_small"), _image(224)),
        ModelSpec("mobilenet_v3_large", _tv("mobilenet_v3_large"), _image(224)),
        ModelSpec("efficientnet_b0", _tv("efficientnet_b0"), _image(224)),
        ModelSpec("convnext_tiny", _tv("convnext_tiny"), _image(224)),
        ModelSpec(f"vit_b_16@{vit_res}", _tv("vit_b_16", image_size=vit_res), _image(vit_res)),
        ModelSpec(f"transformer_encoder(512x6,L={seq})", _encoder(), (InputSpec((1, seq, 512)),)),
        # an LLM decode step: ~170 M parameters on the CPU (673 MB of fp32 weights per
        # token), ~540 M on a GPU
        _decode_step(2048, 8, 16, 5632, 512) if cuda else _decode_step(1024, 8, 16, 2816, 256),
    ]
    for name in ("yolov5n", "yolov5s", "mobilenetv3small_yolo5s"):
        s = load_spec(ROOT / "examples" / f"{name}.yaml", imgsz=yolo)
        specs.append(ModelSpec(f"{name}@{yolo}", s.factory, s.inputs, info=s.info))
    return specs


def count_case(spec: ModelSpec, mode: str) -> ModelProfile:
    """Count ``spec`` (at its batch) on fake tensors. Some torchvision models cannot be
    *built* under fake tensors: then a real instance is counted (not the one measured:
    counting may leave fake tensors cached in module state)."""
    try:
        return profile_spec(spec)
    except Exception:
        args_, kwargs_ = spec.example_inputs("cpu")
        return count_profile(spec.build(), args_, kwargs_, name=spec.name, mode=mode)


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "torch": torch.__version__}
    # model, CPUs, sockets, cores per socket, threads per core, under lscpu's names
    info.update(cpu_description().lscpu_fields())
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info["torch threads"] = str(torch.get_num_threads())
    try:
        info["load average (1, 5, 15 min) at start"] = " ".join(
            os.getloadavg().__repr__()[1:-1].split(", ")
        )
    except OSError:
        pass
    return info


def mape(errs: list[float]) -> float:
    return 100 * statistics.mean(abs(e) for e in errs) if errs else float("nan")


def within(errs: list[float], tol: float) -> float:
    return 100 * sum(abs(e) <= tol for e in errs) / len(errs) if errs else float("nan")


def prediction_summary(pred) -> dict:
    """Where a case's calibrated time goes, for studying misses offline (--json): the
    kernel time by op class (and op counts), the host time, and the overhead (on CUDA the
    time the GPU waits for the host), all in seconds; they let a fit across the cases
    say which class's rate is off without measuring per layer on the device."""
    by_class: dict[str, float] = {}
    counts: dict[str, int] = {}
    for o in pred.ops:
        by_class[o.op_class] = by_class.get(o.op_class, 0.0) + o.kernel_s
        counts[o.op_class] = counts.get(o.op_class, 0) + 1
    return {
        "kernel_s": sum(o.kernel_s for o in pred.ops),
        "overhead_s": sum(o.overhead_s for o in pred.ops) + pred.module_overhead_s,
        "host_s": sum(o.host_s for o in pred.ops),
        "kernel_by_class_s": dict(sorted(by_class.items())),
        "ops_by_class": dict(sorted(counts.items())),
    }


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a .part file, renamed): the lent
    GPU's step limit may stop the script at any moment, and a half-written file would
    lose every case written before."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    part.replace(path)


def write_results(
    args: argparse.Namespace,
    info: dict[str, str],
    eff: EfficiencyModel,
    rows: list[tuple],
    explanations: dict[str, list[str]],
    summaries: dict[tuple[str, int], dict],
    t_start: float,
    t_cal: float,
    *,
    quiet: bool = False,
) -> None:
    """Print the summary and write --out / --json (also after every case, quietly, so
    that a run stopped by a time limit leaves the cases it finished)."""
    naive_errs = [r[5] for r in rows]
    cal_errs = [r[7] for r in rows]
    summary = [
        ("cases", str(len(rows)), str(len(rows))),
        ("MAPE", f"{mape(naive_errs):.1f}%", f"{mape(cal_errs):.1f}%"),
        (
            "median |error|",
            f"{100 * statistics.median(abs(e) for e in naive_errs):.1f}%",
            f"{100 * statistics.median(abs(e) for e in cal_errs):.1f}%",
        )
        if rows
        else ("", "", ""),
        ("within ±10%", f"{within(naive_errs, 0.10):.0f}%", f"{within(cal_errs, 0.10):.0f}%"),
        ("within ±25%", f"{within(naive_errs, 0.25):.0f}%", f"{within(cal_errs, 0.25):.0f}%"),
    ]
    total = time.perf_counter() - t_start
    try:
        info["load average (1, 5, 15 min) at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    lines = ["| | naive roofline | calibrated |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in summary]
    if not quiet:
        print("\n".join(lines))
    if args.out:
        md = [
            f"# Latency accuracy on {args.device} ({args.mode}, {units.dtype_short(eff.dtype)})",
            "",
            "Generated by `benchmarks/latency_accuracy.py "
            + " ".join(sys.argv[1:]).replace(str(ROOT) + "/", "")
            + "`.",
            "",
            "## Machine",
            "",
            *[f"- {k}: {v}" for k, v in info.items()],
            f"- calibration: {t_cal:.0f} s ({'quick' if args.quick_calibration else 'full'} grid);"
            f" whole run {total:.0f} s",
            "",
            "## Summary",
            "",
            *lines,
            "",
            "## Cases",
            "",
            "| model | batch | measured ms | IQR ms | naive ms | naive err | calibrated ms "
            "| calibrated err | runs | speed |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, b, m, sp, n, ne, c, ce, rep, _wall, speed in rows:
            md.append(
                f"| {name} | {b} | {m * 1e3:.2f} | {sp * 1e3:.2f} | {n * 1e3:.2f} | "
                f"{100 * ne:+.0f}% | {c * 1e3:.2f} | {100 * ce:+.0f}% | {rep} | {speed_cell(speed)} |"
            )
        md += ["", SPEED_NOTE]
        md += ["", "## What the calibrated model says (first batch size)", ""]
        for name, tags in explanations.items():
            md.append(f"- **{name}**: " + "; ".join(tags))
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, "\n".join(md) + "\n")
        if not quiet:
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        keys = ("model", "batch", "measured_s", "spread_s", "naive_s", "naive_err")
        keys += ("predicted_s", "predicted_err", "runs", "wall_s", "speed_vs_calibration")
        doc = {
            "device": args.device,
            "dtype": eff.dtype,
            "machine": info,
            "calibration_s": t_cal,
            "efficiency": eff.as_dict(),
            "cases": [
                {**dict(zip(keys, r, strict=True)), "prediction": summaries.get((r[0], r[1]))}
                for r in rows
            ],
            "explanations": explanations,
        }
        jpath = Path(args.json)
        jpath.parent.mkdir(parents=True, exist_ok=True)
        write_whole(jpath, json.dumps(doc, indent=1) + "\n")
        if not quiet:
            print(f"wrote {jpath}", file=sys.stderr)


#: what the cases table's speed column is
SPEED_NOTE = (
    "speed: the calibration's reference GEMM timed again right after the case, over its "
    "time at the end of the calibration (1.00 = the machine ran as fast as when it was "
    "calibrated; 1.20 = 20% slower, so a case measured then runs slower than predicted)"
)


def speed_vs_calibration(eff: EfficiencyModel, dev: torch.device) -> float | None:
    """The calibration's reference GEMM (:func:`reference_time`) timed now over its time
    at the end of the calibration (``info["reference_s"]``): how much slower (> 1) or
    faster this machine runs than when it was calibrated; None without a reference."""
    then = eff.info.get("reference_s")
    if not then:
        return None
    return reference_time(dev, device_sync(dev)) / float(then)


def speed_cell(speed: float | None) -> str:
    return "" if speed is None else f"{speed:.2f}"


def use_device(device: str, threads: int | None) -> bool:
    """Set torch's CPU threads; False (after saying so) when CUDA is asked for and absent."""
    if threads:
        torch.set_num_threads(threads)
    if device == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return False
    return True


def layer_benchmark_args(ap: argparse.ArgumentParser) -> None:
    """The options of the per-layer benchmarks (rnn_latency.py, pool_latency.py)."""
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, help="CPU: torch threads")
    ap.add_argument("--calibration", help="a latency calibration saved as JSON")
    ap.add_argument("--save-calibration", help="save the calibration run here as JSON")


def calibration_of(args: argparse.Namespace) -> EfficiencyModel:
    """The calibration a per-layer benchmark prices with: ``--calibration FILE`` read,
    else one run now (saved to ``--save-calibration`` when given)."""
    if args.calibration:
        return EfficiencyModel.from_dict(json.loads(Path(args.calibration).read_text()))
    eff = calibrate(args.device)
    if args.save_calibration:
        Path(args.save_calibration).write_text(json.dumps(eff.as_dict()))
    return eff


def layer_benchmark_target(args: argparse.Namespace):
    """(database device, torch device, synchronize) of a per-layer benchmark's
    ``--device``: the local GPU via NVML on CUDA, the measured host CPU otherwise."""
    from roofline.latency.measure import device_sync

    dev = torch.device(args.device)
    return get_device("local" if args.device == "cuda" else "cpu"), dev, device_sync(dev)


def time_and_score(
    errs: dict[str, list[float]], pred, fn: Callable[[], object], sync, digits: int = 2
) -> str:
    """Time ``fn`` (inference mode; 2 warm-ups, the median of 9), add the naive and
    calibrated |relative errors| of ``pred`` to ``errs`` (keys ``naive`` and
    ``calibrated``), and return the row's last cells: measured, naive and calibrated
    ms and the calibrated error."""
    from roofline.latency.measure import time_region

    with torch.inference_mode():
        t = time_region(fn, warmup=2, repeat=9, sync=sync).median
    assert pred.predicted_s is not None
    err = (pred.predicted_s - t) / t
    errs.setdefault("naive", []).append(abs((pred.naive_s - t) / t))
    errs.setdefault("calibrated", []).append(abs(err))
    ms = [f"{v * 1e3:.{digits}f}" for v in (t, pred.naive_s, pred.predicted_s)]
    return f"| {' | '.join(ms)} | {100 * err:+.0f}% |"


def error_summary(errs: dict[str, list[float]]) -> list[str]:
    """Per predictor: MAPE and the share within ±25%."""
    return [
        f"{k} MAPE {100 * statistics.mean(v):.1f}%, within 25%: "
        f"{100 * sum(e <= 0.25 for e in v) / len(v):.0f}%"
        for k, v in errs.items()
        if v
    ]


def calibrate(device: str, quick: bool = False, dtype: str = "float32") -> EfficiencyModel:
    """The latency calibration of ``device`` ("cpu" or "cuda") for models of ``dtype``,
    with progress on stderr."""
    print("calibrating from microbenchmarks ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()

    def say(m: str) -> None:
        # seconds since the start on every line: a step cut short by its time limit
        # (no case file yet) still says which microbenchmarks took the time
        print(f"  calibrate [{time.perf_counter() - t0:5.0f} s]: {m}", file=sys.stderr, flush=True)

    return calibrate_efficiency(
        device,
        quick=quick,
        dtype=dtype,
        device_key=get_device("local").key if device == "cuda" else "cpu",
        progress=say,
    )


def parser() -> argparse.ArgumentParser:
    """The command line; ``--threads`` and ``--batch`` bounded as ``roofline bench``'s
    (torch refuses 0 or fewer threads with a traceback and crashes far above the CPU
    count; a batch of 0 measures nothing)."""
    from roofline.cli.profile_cmd import positive_int, threads_arg

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=threads_arg, help="CPU: torch threads, up to the CPU count")
    ap.add_argument("--batch", type=positive_int, nargs="+", default=[1, 8, 32])
    ap.add_argument(
        "--mode",
        choices=("inference", "training"),
        default="inference",
        help="training: forward + backward of each case (no optimizer step)",
    )
    ap.add_argument(
        "--dtype",
        default="fp32",
        help="cast every model to this dtype and calibrate at it (fp32, bf16, fp64; fp16 on CUDA)",
    )
    ap.add_argument("--models", nargs="+", help="only models whose name starts with one of these")
    ap.add_argument("--quick", action="store_true", help="two small models, batch 1")
    ap.add_argument("--quick-calibration", action="store_true")
    ap.add_argument("--out", help="write the results as Markdown here")
    ap.add_argument(
        "--json",
        help="write the cases, the machine and the fitted latency model as JSON here "
        "(to study the predictions later without the device)",
    )
    return ap


def main() -> int:
    args = parser().parse_args()
    if not use_device(args.device, args.threads):
        return 2
    try:
        dtype = calibration_dtype("gpu" if args.device == "cuda" else "cpu", args.dtype)
    except RooflineError as exc:
        print(exc, file=sys.stderr)
        return 2
    cuda = args.device == "cuda"
    info = machine()
    t_start = time.perf_counter()
    eff = calibrate(args.device, quick=args.quick_calibration, dtype=dtype)
    device = get_device("local") if cuda else get_device("cpu")
    info["latency model"] = (
        f"{eff.launch_overhead_s * 1e6:.2f} µs per op, {eff.module_overhead_s * 1e6:.2f} µs per "
        f"module call, in-network factor {eff.context_factor:.2f} and "
        f"{eff.network_op_overhead_s * 1e6:.2f} µs more per op "
        f"(synthetic networks, measured/predicted: "
        + ", ".join(f"{k} {v:.2f}" for k, v in eff.info.get("context_ratios", {}).items())
        + ")"
    )
    if eff.host_s:
        info["host issue time per op"] = host_issue_text(eff)
    if "speed_drift" in eff.info:
        info["calibration speed drift"] = (
            f"{eff.info['speed_drift']:+.0%} (a reference GEMM at the end vs the start)"
        )
    t_cal = time.perf_counter() - t_start
    specs = [s.with_mode(args.mode).with_dtype(dtype) for s in model_specs(cuda)]
    # fp32 at the fp32 roofs (convolutions on TF32 where the device has them); another
    # dtype at its own roofs where the device has that figure
    precision = "fp32" if dtype == torch.float32 else None
    batches = args.batch
    if args.quick:
        specs = [s for s in specs if s.name in ("resnet18", "mobilenet_v3_small")]
        batches = [1]
    if args.models:
        specs = [s for s in specs if s.name.startswith(tuple(args.models))]
    rows = []
    explanations: dict[str, list[str]] = {}
    summaries: dict[tuple[str, int], dict] = {}
    # the fitted model is written before any case: a run cut short keeps it
    write_results(args, info, eff, rows, explanations, summaries, t_start, t_cal, quiet=True)
    # every model at the first batch size before any at the next: a run cut short by a
    # time limit (a lent GPU) still covers every model; rows are written in model order
    order = {spec.name: i for i, spec in enumerate(specs)}
    for b, spec in ((b, spec) for b in batches for spec in specs):
        flops_per_run = None
        try:
            args_, kwargs_ = spec.with_batch(b).example_inputs("cpu")
            prof = count_case(spec.with_batch(b), args.mode)
            model = spec.build()
            flops_per_run = prof.totals().flops
            pred = predict(prof, device, precision, efficiency=eff, depth=1)
            # bigger runs: fewer repeats (CPU); each run is one inference
            heavy = flops_per_run > (5e10 if not cuda else 5e12)
            repeat = 5 if heavy else 9
            t0 = time.perf_counter()
            dev = torch.device("cuda" if cuda else "cpu")
            model = model.to(dev)
            inputs = (
                tuple(a.to(dev) for a in args_),
                {k: v.to(dev) for k, v in kwargs_.items()},
            )
            meas = measure(
                model,
                device=args.device,
                inputs=inputs,
                warmup=1 if heavy else 2,
                repeat=repeat,
                mode=args.mode,
                layer_method=None,
                name=spec.name,
            )
            wall = time.perf_counter() - t0
            speed = speed_vs_calibration(eff, dev)
        except Exception as exc:  # a case that fails is reported, not fatal
            print(f"{spec.name} b{b}: FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        m = meas.median_s
        ne = (pred.naive_s - m) / m
        ce = (pred.predicted_s - m) / m
        rows.append(
            (
                spec.name,
                b,
                m,
                meas.spread_s,
                pred.naive_s,
                ne,
                pred.predicted_s,
                ce,
                repeat,
                wall,
                speed,
            )
        )
        rows.sort(key=lambda r: (order[r[0]], r[1]))
        summaries[(spec.name, b)] = prediction_summary(pred)
        if b == batches[0]:
            explanations[spec.name] = list(pred.explanation())
        print(
            f"{spec.name:34s} b{b:<3d} measured {m * 1e3:9.2f} ms (IQR {meas.spread_s * 1e3:7.2f})"
            f"  naive {pred.naive_s * 1e3:9.2f} ({100 * ne:+5.0f}%)"
            f"  calibrated {pred.predicted_s * 1e3:9.2f} ({100 * ce:+5.0f}%)",
            flush=True,
        )
        write_results(args, info, eff, rows, explanations, summaries, t_start, t_cal, quiet=True)
    write_results(args, info, eff, rows, explanations, summaries, t_start, t_cal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
