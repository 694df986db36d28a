"""Profiling speed: roofline's counter against fvcore, thop, torchinfo and FlopCounterMode.

Every tool is called through its Python API in this one process, on the same model
object and the same input tensor, best of 3 wall-clock runs (after one untimed
warm-up call per tool). roofline counts on fake tensors built from the real model;
the others run the real model. The 7B decoder is only attempted by tools that can
run it: its weights (27 GB in fp32) do not fit this machine's memory, so the other
tools are reported as unable to run.

    .venv/bin/python benchmarks/profiling_speed.py [--out docs/results/profiling_speed.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_common import machine_line  # noqa: E402

import roofline  # noqa: E402
from roofline.compare_counters import (  # noqa: E402
    _quiet,
    run_flop_counter_mode,
    run_fvcore,
    run_thop,
    run_torchinfo,
)
from roofline.counting import profile_spec  # noqa: E402
from roofline.spec import load_spec  # noqa: E402

TOOLS: dict[str, Callable[[torch.nn.Module, tuple], object]] = {
    "roofline": lambda m, a: roofline.profile(m, a),
    "fvcore": lambda m, a: run_fvcore(m, a, {}),
    "thop": lambda m, a: run_thop(m, a, {}),
    "torchinfo": lambda m, a: run_torchinfo(m, a, {}),
    "FlopCounterMode": lambda m, a: run_flop_counter_mode(m, a, {}),
}

CASES = [
    ("resnet50", 1, 224),
    ("resnet50", 32, 224),
    ("vit_b_16", 8, 224),
]


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    _quiet(fn)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _quiet(fn)
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    return machine_line()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for name, batch, size in CASES:
        model = getattr(torchvision.models, name)().eval()
        x = torch.randn(batch, 3, size, size)
        result = {"case": f"{name} batch {batch}"}
        for tool, fn in TOOLS.items():
            print(f"{result['case']}: {tool} ...", file=sys.stderr, flush=True)
            with torch.no_grad():
                result[tool] = best_of(lambda fn=fn, m=model, a=(x,): fn(m, a), args.repeats)
        rows.append(result)

    # the 7B decoder: roofline builds and counts it on fake tensors
    spec = load_spec(ROOT / "examples" / "llama-7b.yaml")
    print("llama-7b: roofline ...", file=sys.stderr, flush=True)
    llama = {"case": "Llama-7B, 2048 tokens (build + count)"}
    llama["roofline"] = best_of(lambda: profile_spec(spec), args.repeats)
    for tool in TOOLS:
        if tool != "roofline":
            llama[tool] = None  # needs the real 27 GB of weights: cannot run here
    rows.append(llama)

    header = ["case", *TOOLS, "roofline speed-up vs fastest other"]
    lines = [
        f"Machine: {machine()}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        others = [r[t] for t in TOOLS if t != "roofline" and r[t] is not None]
        speedup = f"{min(others) / r['roofline']:.1f}x" if others else "only roofline runs"
        cells = [r["case"]] + [
            "cannot run (27 GB of weights)" if r[t] is None else f"{r[t]:.3f} s" for t in TOOLS
        ]
        lines.append("| " + " | ".join([*cells, speedup]) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
