"""Which per-layer timing method to trust: module hooks with a clock, or profiler ranges.

    python benchmarks/per_layer_method.py --threads 1
    python benchmarks/per_layer_method.py --device cuda
    python benchmarks/per_layer_method.py --threads 1 --mode training   # forward + backward

For each model: the uninstrumented end-to-end median, then the per-layer passes of
each method (``roofline.latency.measure``): the instrumented total (the root module's
inclusive time, which the per-layer self times add up to) and the instrumented step's
own wall time. ``sum / e2e`` says how well the per-layer figures account for the
real latency; ``overhead`` = (instrumented wall − e2e) / number of module calls is
the cost each method adds per module call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from roofline.latency.measure import make_step, time_modules, time_region  # noqa: E402
from roofline.spec import load_spec  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument(
        "--mode",
        choices=("inference", "training"),
        default="inference",
        help="training: each module's time holds its backward too (see roofline.latency.measure)",
    )
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if args.threads:
        torch.set_num_threads(args.threads)
    import torchvision

    cases = [
        ("resnet18 b1", torchvision.models.resnet18(), (torch.randn(1, 3, 224, 224),)),
        (
            "mobilenet_v3_small b1",
            torchvision.models.mobilenet_v3_small(),
            (torch.randn(1, 3, 224, 224),),
        ),
        (
            "efficientnet_b0 b1",
            torchvision.models.efficientnet_b0(),
            (torch.randn(1, 3, 224, 224),),
        ),
    ]
    s = load_spec(ROOT / "examples" / "mobilenetv3small_yolo5s.yaml", imgsz=320)
    cases.append(("mobilenetv3small_yolo5s@320 b1", s.build(), s.example_inputs("cpu")[0]))
    print(
        "| model | e2e ms | method | per-layer sum ms | sum / e2e | instrumented wall ms "
        "| overhead µs per module call |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, model, inputs in cases:
        try:
            model = model.to(dev)
            inputs = tuple(x.to(dev) for x in inputs)
            step = make_step(model, inputs, {}, args.mode)
            e2e = time_region(step, warmup=3, repeat=15, sync=sync).median
        except Exception as exc:  # a model that fails is a row; the others still run
            print(f"| {name} | FAILED {type(exc).__name__}: {exc} |"[:300], flush=True)
            continue
        calls = sum(1 for _ in model.modules())
        for method in ("hooks", "profiler"):
            try:
                row = _method_row(model, step, method, args.passes, sync, dev)
            except Exception as exc:
                print(f"| {name} | {e2e * 1e3:.2f} | {method} | FAILED {exc!r} |"[:300], flush=True)
                continue
            wall, total = row
            print(
                f"| {name} | {e2e * 1e3:.2f} | {method} | {total * 1e3:.2f} | {total / e2e:.2f} "
                f"| {wall * 1e3:.2f} | {(wall - e2e) / calls * 1e6:.1f} |",
                flush=True,
            )
    return 0


def _method_row(
    model: torch.nn.Module,
    step: Callable[[], object],
    method: str,
    passes: int,
    sync: Callable[[], None],
    dev: torch.device,
) -> tuple[float, float]:
    """(median wall time of one instrumented pass, median per-layer total) of ``method``."""
    walls = []
    sums = []
    for _ in range(passes):
        t0 = time.perf_counter()
        mods = time_modules(model, step, method=method, passes=1, sync=sync, dev=dev)
        sync()
        walls.append(time.perf_counter() - t0)
        sums.append(mods[""].inclusive_s)
    return statistics.median(walls), statistics.median(sums)


if __name__ == "__main__":
    sys.exit(main())
