"""Latency of recurrent layers: naive and calibrated prediction against measurement.

    python benchmarks/rnn_latency.py --threads 1 [--calibration eff.json] [--device cuda]

nn.LSTM and nn.GRU (batch_first, random weights and inputs) over six shapes (steps,
batch, input, hidden, layers). On the CPU an LSTM is one fused oneDNN op per layer
(the latency model's ``rnn`` class, calibrated on LSTM layers by batch, width and
steps) and a GRU a C++ loop of ~22 small aten ops per step (priced at the measured
internal dispatch cost); on CUDA cuDNN runs both fused. The calibration runs first
(``--calibration FILE`` reuses one saved with ``--save-calibration``); nothing is fitted
on these cases.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency_accuracy import (  # noqa: E402
    calibration_of,
    error_summary,
    layer_benchmark_args,
    layer_benchmark_target,
    time_and_score,
    use_device,
)

from roofline.counting import profile  # noqa: E402
from roofline.latency.predict import predict  # noqa: E402

#: (steps, batch, input, hidden, layers)
SHAPES = [
    (64, 8, 128, 256, 1),
    (128, 1, 64, 128, 2),
    (32, 32, 256, 512, 1),
    (256, 4, 128, 128, 1),
    (100, 16, 300, 300, 2),
    (50, 2, 512, 1024, 1),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    layer_benchmark_args(ap)
    args = ap.parse_args()
    if not use_device(args.device, args.threads):
        return 2
    eff = calibration_of(args)
    device, dev, sync = layer_benchmark_target(args)
    print(
        "| layer | steps | batch | input | hidden | layers | measured ms | naive ms | calibrated ms | error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    errs: dict[str, list[float]] = {}
    gen = torch.Generator().manual_seed(0)
    for steps, batch, inp, hidden, layers in SHAPES:
        for kind in ("LSTM", "GRU"):
            m = getattr(torch.nn, kind)(inp, hidden, layers, batch_first=True).eval()
            x = torch.randn(batch, steps, inp, generator=gen)
            counted = profile(m, (x,))
            m, xd = m.to(dev), x.to(dev)
            if dev.type == "cuda":
                # counted where it runs (fake tensors on the GPU): cuDNN runs an LSTM or
                # GRU as one fused call, the CPU a GRU as ~22 small ops per step, and the
                # CPU's count would price those; the CPU's stands in if that count fails
                try:
                    counted = profile(m, (xd,))
                except Exception as exc:
                    print(f"{kind} counted on the CPU ({type(exc).__name__}: {exc})"[:300])
            pred = predict(counted, device, efficiency=eff)
            cells = time_and_score(errs, pred, lambda m=m, xd=xd: m(xd), sync)
            print(f"| {kind} | {steps} | {batch} | {inp} | {hidden} | {layers} {cells}", flush=True)
    print("\n".join(error_summary(errs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
