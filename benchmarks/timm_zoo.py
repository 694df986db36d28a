"""The timm zoo: one model per timm family, counted on fake tensors, against timm's
published MACs and parameter counts.

timm (pytorch-image-models) has ~100 model families (one Python module each), with
constructors that compute with tensors (stochastic-depth schedules read back with
``.tolist()``, ``torch.unique`` of stage widths) and forwards full of ops a counter
must know: relative-position attention, rotary embeddings, windowed attention,
reflection pads, lambda layers. This script takes one model per family (the first,
alphabetically, that timm's benchmark table lists; else the family's first model) and
counts it the way ``roofline profile`` does: a model spec built on fake tensors, no
weights allocated, inference at batch 1 and training at batch 2. It reports whether
each count ran, the ops left uncounted in either mode, and the MACs and parameters
per image against the reference.

The reference, ``benchmarks/data/timm_infer_4090_pt291.csv``, is the
``param_count`` (millions) and ``infer_gmacs`` columns of timm's
``results/benchmark-infer-amp-nchw-pt291-cu128-4090.csv`` (commit 90cae8c5, Apache
2.0), one row per family at the model's default image size. timm's ``benchmark.py``
computes ``infer_gmacs`` with DeepSpeed's flops profiler (fvcore where DeepSpeed is
absent) on one image, rounded to 2 decimals; see docs/zoo.md for what that counts.

    .venv/bin/python benchmarks/timm_zoo.py [--only convnext_atto,beit_base_patch16_224]
        [--json docs/results/timm_zoo.json] [--out docs/results/timm_zoo.md]
        [--vram] [--fvcore] [--reparam]

Progress goes to stderr; the Markdown table to stdout (and ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import timm
import torch
from timm.models import _registry
from timm.utils.model import reparameterize_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import fmt, machine_line, md_cell  # noqa: E402

from roofline.counting import profile_spec  # noqa: E402
from roofline.errors import first_line  # noqa: E402
from roofline.spec import InputSpec, ModelSpec  # noqa: E402

REFERENCE = ROOT / "benchmarks" / "data" / "timm_infer_4090_pt291.csv"

#: relative MAC difference above which a row is flagged (the reference has two
#: decimals, so small models get a wider band: see ``within_rounding``)
FLAG = 0.02


@dataclass
class Row:
    family: str
    model: str
    size: int
    ref_params_m: float | None = None
    ref_gmacs: float | None = None
    params: int | None = None
    gmacs: float | None = None
    uncounted_inference: dict[str, int] = field(default_factory=dict)
    uncounted_training: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    #: with --fvcore: fvcore's FlopCountAnalysis of a real build, by operator
    fvcore_gmacs: float | None = None
    fvcore_matrix_gmacs: float | None = None
    fvcore_other: dict[str, float] = field(default_factory=dict)
    fvcore_unsupported: dict[str, int] = field(default_factory=dict)
    #: with --vram: ``roofline vram``'s allocated bytes at batch 2 (AdamW in training)
    vram_inference: int | None = None
    vram_training: int | None = None

    @property
    def rel_diff(self) -> float | None:
        if self.gmacs is None or not self.ref_gmacs:
            return None
        return self.gmacs / self.ref_gmacs - 1

    @property
    def params_ok(self) -> bool | None:
        if self.params is None or self.ref_params_m is None:
            return None
        return abs(self.params / 1e6 - self.ref_params_m) <= 0.005 + 1e-9

    def within_rounding(self) -> bool | None:
        """MACs agree to the reference's 2 decimals, or within :data:`FLAG`."""
        if self.gmacs is None or self.ref_gmacs is None:
            return None
        close = abs(self.gmacs - self.ref_gmacs) <= 0.005 + 1e-9
        return close or (self.rel_diff is not None and abs(self.rel_diff) <= FLAG)


def reference() -> dict[str, dict[str, str]]:
    with REFERENCE.open() as f:
        return {r["family"]: r for r in csv.DictReader(f)}


def families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in timm.list_models():
        out.setdefault(_registry._model_to_module.get(name, "?"), []).append(name)
    return dict(sorted(out.items()))


def create(model: str, reparam: bool = False) -> torch.nn.Module:
    """timm's ``model`` with random weights; ``reparam`` fuses it first with timm's
    ``reparameterize_model`` (batch norms folded, branches merged), as timm's
    ``benchmark.py --reparam`` does. The fusion deep-copies the model, on fake tensors
    too (:class:`roofline.counting.tracing.FakeDeepcopy`)."""
    built = timm.create_model(model, pretrained=False)
    # fusing folds batch-norm statistics: eval mode, as timm's own fusions insist
    return reparameterize_model(built.eval()) if reparam else built


def spec_for(model: str, size: int, batch: int, mode: str, reparam: bool = False) -> ModelSpec:
    """The model (:func:`create`) as a spec at ``batch`` images of ``size``."""
    shape = (batch, 3, size, size)
    return ModelSpec(
        name=model,
        factory=functools.partial(create, model, reparam),
        inputs=(InputSpec(shape=shape),),
        mode=mode,
    )


def profile_one(
    family: str, names: list[str], ref: dict[str, str] | None, reparam: bool = False
) -> Row:
    if ref is not None:
        model, size = ref["model"], int(ref["infer_img_size"])
    else:
        model = next((n for n in names if not n.startswith("test_")), names[0])
        cfg = timm.get_pretrained_cfg(model)
        size = int(cfg.input_size[-1]) if cfg is not None else 224
    row = Row(family, model, size)
    if ref is not None:
        row.ref_params_m, row.ref_gmacs = float(ref["param_count"]), float(ref["infer_gmacs"])
    start = time.perf_counter()
    try:
        prof = profile_spec(spec_for(model, size, 1, "inference", reparam))
        totals = prof.totals()
        row.params = totals.params
        row.gmacs = totals.matrix_flops / 2 / 1e9
        row.uncounted_inference = dict(prof.uncounted_ops)
        # training at batch 2: batch norm in training mode needs two values a channel
        row.uncounted_training = dict(
            profile_spec(spec_for(model, size, 2, "training", reparam)).uncounted_ops
        )
    except Exception as exc:  # a row per failure: the sweep goes on
        row.error = f"{type(exc).__name__}: {first_line(exc)}"[:300]
    row.seconds = time.perf_counter() - start
    return row


#: fvcore's handlers for multiply-accumulates of matrix products and convolutions
FVCORE_MATRIX = {"conv", "linear", "matmul", "bmm", "einsum", "addmm", "baddbmm", "mm"}


def add_fvcore(row: Row, reparam: bool = False) -> None:
    """fvcore on a real build of the row's model (random weights, one image): its
    total, the matrix part of it, the rest by operator, and what it skipped. This is
    how timm's table was made (timm's ``benchmark.py`` falls back to fvcore where
    DeepSpeed is absent); it needs real weights and a traced forward. ``reparam``
    fuses the model first (:func:`create`, as roofline's count), so both counts are of
    one model."""
    import logging

    from fvcore.nn import FlopCountAnalysis

    model = create(row.model, reparam).eval()
    logging.disable(logging.WARNING)
    try:
        with torch.no_grad():
            fca = FlopCountAnalysis(model, torch.randn(1, 3, row.size, row.size))
            fca.unsupported_ops_warnings(False)
            fca.uncalled_modules_warnings(False)
            by_op = fca.by_operator()
            row.fvcore_gmacs = fca.total() / 1e9
            row.fvcore_unsupported = dict(fca.unsupported_ops())
    finally:
        logging.disable(logging.NOTSET)
    row.fvcore_matrix_gmacs = sum(v for k, v in by_op.items() if k in FVCORE_MATRIX) / 1e9
    row.fvcore_other = {k: v / 1e9 for k, v in by_op.items() if k not in FVCORE_MATRIX and v}


def fvcore_markdown(rows: list[Row]) -> str:
    lines = [
        "| model | timm GMACs | fvcore total | fvcore matrix part | fvcore's other terms "
        "(G) | roofline MACs (G) | roofline − fvcore matrix | ops fvcore skipped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.fvcore_gmacs is None:
            continue
        other = ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.fvcore_other.items())) or "—"
        gap = None if r.gmacs is None else r.gmacs - r.fvcore_matrix_gmacs
        lines.append(
            f"| {r.model} | {fmt(r.ref_gmacs, '.2f')} | {r.fvcore_gmacs:.4f} | "
            f"{r.fvcore_matrix_gmacs:.4f} | {other} | {fmt(r.gmacs, '.4f')} | "
            f"{fmt(gap, '+.4f')} | {_ops(r.fvcore_unsupported)} |"
        )
    return "\n".join(lines)


def add_vram(row: Row, reparam: bool = False) -> None:
    """``roofline vram`` on the row's model at batch 2: the fake-tensor trace of live
    tensors, inference and training with AdamW (the memory tracker is a second tracer,
    with its own failure modes, so every family is run through it too)."""
    from roofline.memory.estimate import estimate_from_spec

    for mode in ("inference", "training"):
        spec = spec_for(row.model, row.size, 2, mode, reparam)
        est = estimate_from_spec(spec, batch=2, mode=mode)
        setattr(row, f"vram_{mode}", est.allocated)


def _ops(d: dict[str, int]) -> str:
    return ", ".join(f"{k} ×{v}" for k, v in sorted(d.items())) or "—"


def markdown(rows: list[Row]) -> str:
    vram = any(r.vram_training is not None for r in rows)
    head = (
        "| family | model | size | timm GMACs | roofline GMACs | diff | timm params (M) | "
        "roofline params (M) | uncounted (inference) | uncounted (training) | "
        + ("vram at batch 2, inference / AdamW training (MiB) | " if vram else "")
        + "time | status |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        diff = fmt(None if r.rel_diff is None else 100 * r.rel_diff, "+.2f")
        flag = "" if r.within_rounding() in (None, True) else " ⚑"
        pflag = "" if r.params_ok in (None, True) else " ⚑"
        status = "ok" if r.error is None else md_cell(f"failed: {r.error}")
        mib = [None if v is None else v / 2**20 for v in (r.vram_inference, r.vram_training)]
        vcell = f"{fmt(mib[0], '.1f')} / {fmt(mib[1], '.1f')} | " if vram else ""
        lines.append(
            f"| {r.family} | {r.model} | {r.size} | {fmt(r.ref_gmacs, '.2f')} | "
            f"{fmt(r.gmacs, '.3f')} | {diff}%{flag} | {fmt(r.ref_params_m, '.2f')} | "
            f"{fmt(None if r.params is None else r.params / 1e6, '.3f')}{pflag} | "
            f"{_ops(r.uncounted_inference)} | {_ops(r.uncounted_training)} | {vcell}"
            f"{r.seconds:.1f} s | {status} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    ran = [r for r in rows if r.error is None]
    compared = [r for r in ran if r.rel_diff is not None]
    agree = [r for r in compared if r.within_rounding()]
    params = [r for r in ran if r.params_ok is not None]
    uncounted = [r for r in ran if r.uncounted_inference or r.uncounted_training]
    traced = sum(r.vram_training is not None for r in ran)
    vram = f"; `roofline vram` traced {traced} in both modes" if traced else ""
    return (
        f"{len(ran)} of {len(rows)} families counted on fake tensors in both modes; "
        f"{len(uncounted)} with an uncounted op; MACs within {FLAG:.0%} (or the "
        f"reference's rounding) for {len(agree)} of {len(compared)} with a reference; "
        f"parameters equal to 2 decimals for {sum(bool(r.params_ok) for r in params)} "
        f"of {len(params)}{vram}"
    )


def machine() -> str:
    return machine_line(timm)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only",
        help="comma-separated family names, or model names (a family's reference model, or "
        "any other timm model, which gets a row without a reference); default: all",
    )
    ap.add_argument("--json", type=Path, help="write the rows as JSON here")
    ap.add_argument("--out", type=Path, help="write the Markdown table here too")
    ap.add_argument(
        "--vram",
        action="store_true",
        help="also trace each model's memory as `roofline vram` does (batch 2, both modes)",
    )
    ap.add_argument(
        "--fvcore",
        action="store_true",
        help="also run fvcore on a real build of each model (slow: real weights, a traced "
        "forward) and tabulate its terms",
    )
    ap.add_argument(
        "--reparam",
        action="store_true",
        help="fuse each model with timm's reparameterize_model first, as timm's "
        "benchmark.py --reparam (the table's parameter counts are of fused models)",
    )
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    refs = reference()
    only = set(args.only.split(",")) if args.only else None
    todo: list[tuple[str, list[str], dict[str, str] | None]] = []
    for fam, names in families().items():
        ref = refs.get(fam)
        if only is None or fam in only or (ref or {}).get("model") in only:
            todo.append((fam, names, ref))
        else:  # another model of the family, by name: its own row, no reference
            todo.extend((fam, [m], None) for m in sorted(only.intersection(names)))
    start = time.perf_counter()
    rows = []
    for i, (fam, names, ref) in enumerate(todo, 1):
        row = profile_one(fam, names, ref, args.reparam)
        if args.vram and row.error is None:
            try:
                add_vram(row, args.reparam)
            except Exception as exc:  # a row per failure: the sweep goes on
                row.error = f"vram: {type(exc).__name__}: {first_line(exc)}"[:300]
        if args.fvcore:
            try:
                add_fvcore(row, args.reparam)
            except Exception as exc:  # fvcore's tracer fails on some models
                row.error = row.error or f"fvcore: {type(exc).__name__}: {first_line(exc)}"[:300]
        rows.append(row)
        state = "ok" if row.error is None else f"failed: {row.error}"
        print(f"[{i}/{len(todo)}] {fam} {row.model}: {state} {row.seconds:.1f} s", file=sys.stderr)
    fused = ", each fused with reparameterize_model" if args.reparam else ""
    header = (
        f"Machine: {machine()}; {len(rows)} families{fused} in {time.perf_counter() - start:.0f} s"
    )
    text = f"{header}\n\n{summary(rows)}\n\n{markdown(rows)}\n"
    if args.fvcore:
        text += f"\nfvcore on real builds:\n\n{fvcore_markdown(rows)}\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.json:
        data = [{**asdict(r), "rel_diff": r.rel_diff, "params_ok": r.params_ok} for r in rows]
        args.json.write_text(json.dumps({"machine": machine(), "rows": data}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
