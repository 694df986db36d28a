"""Re-predict the cases of a ``latency_accuracy.py --json`` run with parts of the model
taken out (or borrowed from another run), on the same measurements: what each part does.

    python benchmarks/repredict.py docs/results/latency_cpu_training_2208.json \\
        --mode training --drop norm.train norm.train,conv.backward,depthwise_conv.backward \\
        --borrow docs/results/latency_cpu_training_2222.json pool.backward

Each variant is the run's own calibration with one change: ``--drop KEY[,KEY...]``
removes fits (a memory variant such as ``norm.train``, a matrix fit such as
``conv.backward``; several, comma-separated, in one variant) so the prediction falls
back to what it used without them; ``--borrow FILE KEY`` adds the fit
``KEY`` of another run's calibration; ``--no-backward-factor`` leaves the in-network
factor off backward kernels; ``--idw`` prices the matrix classes with the grid fit
before 2026-12-04 (inverse-distance weighting of the 6 nearest points,
``GridFit.idw_rate``) beside the current one (``GridFit.rate``). The cases are counted
and predicted at the run's own dtype. A run stored by an older format is read as the current one:
the fits it lacks are simply absent. Prints MAPE and the shares
within ±10% / ±25% per variant, and the memory curves of each variant next to its class.
No device needed: the cases are re-counted on fake tensors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import latency_accuracy as la  # noqa: E402

from roofline import units  # noqa: E402
from roofline.counting.profile import ModelProfile  # noqa: E402
from roofline.devices import get_device  # noqa: E402
from roofline.latency.calibrate import (  # noqa: E402
    FORMAT_VERSION,
    MEMORY_VARIANTS,
    CurveFit,
    EfficiencyModel,
    GridFit,
)
from roofline.latency.predict import predict  # noqa: E402


def load(path: str) -> tuple[dict, EfficiencyModel]:
    doc = json.loads(Path(path).read_text())
    # an older run's fits, read as the current format: what it lacks is absent
    raw = {**doc["efficiency"], "format": FORMAT_VERSION}
    return doc, EfficiencyModel.from_dict(raw)


def without(eff: EfficiencyModel, keys: str) -> EfficiencyModel:
    """``eff`` without the fits named in ``keys`` (comma-separated)."""
    drop = set(keys.split(","))
    return dataclasses.replace(
        eff,
        memory={k: v for k, v in eff.memory.items() if k not in drop},
        matrix={k: v for k, v in eff.matrix.items() if k not in drop},
    )


def borrowed(eff: EfficiencyModel, other: EfficiencyModel, key: str) -> EfficiencyModel:
    if key in other.memory:
        return dataclasses.replace(eff, memory={**eff.memory, key: other.memory[key]})
    if key in other.matrix:
        return dataclasses.replace(eff, matrix={**eff.matrix, key: other.matrix[key]})
    raise SystemExit(f"repredict: the other run has no fit {key!r}")


class IdwGridFit(GridFit):
    """A grid fit priced as before 2026-12-04: :meth:`GridFit.idw_rate`."""

    def rate(self, x: Sequence[float]) -> float:
        return self.idw_rate(x)


def idw(eff: EfficiencyModel) -> EfficiencyModel:
    """``eff`` with every matrix fit priced by inverse-distance weighting."""
    return dataclasses.replace(
        eff,
        matrix={
            k: IdwGridFit(v.points, v.rates, v.k, v.categorical) for k, v in eff.matrix.items()
        },
    )


def predicted_s(
    prof: ModelProfile, eff: EfficiencyModel, backward_factor: bool, precision: str | None
) -> float:
    device = get_device("cpu")
    p = predict(prof, device, precision, efficiency=eff)
    if backward_factor:
        return p.predicted_s
    bare = predict(
        prof,
        device,
        precision,
        efficiency=dataclasses.replace(eff, context_factor=1.0, memory_context_factor=1.0),
    )
    ops = zip(p.ops, bare.ops, prof.ops, strict=True)
    return sum((b if r.phase == "backward" else a).predicted_s for a, b, r in ops) + (
        p.module_overhead_s
    )


def summary(errs: list[float]) -> str:
    mape = 100 * statistics.mean(abs(e) for e in errs)
    w10 = 100 * sum(abs(e) <= 0.10 for e in errs) / len(errs)
    w25 = 100 * sum(abs(e) <= 0.25 for e in errs) / len(errs)
    return f"MAPE {mape:5.1f}%, within ±10% {w10:3.0f}%, within ±25% {w25:3.0f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="a latency_accuracy.py --json file (CPU run)")
    ap.add_argument("--mode", choices=("inference", "training"), default="inference")
    ap.add_argument("--drop", nargs="*", default=[], metavar="KEY[,KEY...]")
    ap.add_argument("--borrow", nargs=2, action="append", default=[], metavar=("FILE", "KEY"))
    ap.add_argument("--no-backward-factor", action="store_true")
    ap.add_argument("--idw", action="store_true", help="and the grid fit before 2026-12-04")
    args = ap.parse_args()
    torch.set_num_threads(1)
    doc, eff = load(args.json)
    variants: list[tuple[str, EfficiencyModel, bool]] = [("as calibrated", eff, True)]
    for key in args.drop:
        variants.append((f"without {key}", without(eff, key), True))
    for path, key in args.borrow:
        _, other = load(path)
        variants.append((f"+ {key} from {Path(path).name}", borrowed(eff, other, key), True))
    if args.no_backward_factor:
        variants.append(("no in-network factor on backward kernels", eff, False))
    if args.idw:
        variants.append(("grid fit by inverse-distance weighting", idw(eff), True))
    # the run's dtype, at the roofs latency_accuracy.py used for it
    dtype = units.parse_dtype(doc.get("dtype", "float32"))
    precision = "fp32" if dtype == torch.float32 else None
    specs = {s.name: s.with_mode(args.mode).with_dtype(dtype) for s in la.model_specs(False)}
    errs: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for case in doc["cases"]:
        prof = la.count_case(specs[case["model"]].with_batch(case["batch"]), args.mode)
        m = case["measured_s"]
        line = [f"{case['model']:34s} b{case['batch']:<3d}"]
        for name, e, bf in variants:
            err = (predicted_s(prof, e, bf, precision) - m) / m
            errs[name].append(err)
            line.append(f"{100 * err:+5.0f}%")
        print(" ".join(line), flush=True)
    print(f"\n{len(doc['cases'])} cases of {Path(args.json).name} ({doc['machine'].get('date')}):")
    for name, _, _ in variants:
        print(f"  {name:45s} {summary(errs[name])}")
    print("\nmemory variants against their class (GB/s at each size measured):")
    for key in MEMORY_VARIANTS:
        cls = key.split(".")[0]
        for k in (cls, key):
            fit = eff.memory.get(k)
            if isinstance(fit, CurveFit):
                pts = ", ".join(
                    f"{s / 2**20:.2g} MiB {r / 1e9:.3g}"
                    for s, r in zip(fit.sizes, fit.rates, strict=True)
                )
                print(f"  {k:14s} {pts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
