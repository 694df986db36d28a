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
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from latency_accuracy import calibrate, use_device  # noqa: E402

from roofline.counting import profile  # noqa: E402
from roofline.devices import get_device  # noqa: E402
from roofline.latency.calibrate import EfficiencyModel  # noqa: E402
from roofline.latency.measure import device_sync, time_region  # noqa: E402
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
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, help="CPU: torch threads")
    ap.add_argument("--calibration", help="a latency calibration saved as JSON")
    ap.add_argument("--save-calibration", help="save the calibration run here as JSON")
    args = ap.parse_args()
    if not use_device(args.device, args.threads):
        return 2
    cuda = args.device == "cuda"
    if args.calibration:
        eff = EfficiencyModel.from_dict(json.loads(Path(args.calibration).read_text()))
    else:
        eff = calibrate(args.device)
        if args.save_calibration:
            Path(args.save_calibration).write_text(json.dumps(eff.as_dict()))
    device = get_device("local") if cuda else get_device("cpu")
    dev = torch.device(args.device)
    sync = device_sync(dev)
    print(
        "| layer | steps | batch | input | hidden | layers | measured ms | naive ms | calibrated ms | error |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    errs = {"naive": [], "calibrated": []}
    gen = torch.Generator().manual_seed(0)
    for steps, batch, inp, hidden, layers in SHAPES:
        for kind in ("LSTM", "GRU"):
            m = getattr(torch.nn, kind)(inp, hidden, layers, batch_first=True).eval()
            x = torch.randn(batch, steps, inp, generator=gen)
            counted = profile(m, (x,))
            m, xd = m.to(dev), x.to(dev)
            if cuda:
                # counted where it runs (fake tensors on the GPU): cuDNN runs an LSTM or
                # GRU as one fused call, the CPU a GRU as ~22 small ops per step, and the
                # CPU's count would price those; the CPU's stands in if that count fails
                try:
                    counted = profile(m, (xd,))
                except Exception as exc:
                    print(f"{kind} counted on the CPU ({type(exc).__name__}: {exc})"[:300])
            pred = predict(counted, device, efficiency=eff)
            with torch.inference_mode():
                t = time_region(lambda m=m, xd=xd: m(xd), warmup=2, repeat=9, sync=sync).median
            assert pred.predicted_s is not None
            err = (pred.predicted_s - t) / t
            errs["naive"].append(abs((pred.naive_s - t) / t))
            errs["calibrated"].append(abs(err))
            print(
                f"| {kind} | {steps} | {batch} | {inp} | {hidden} | {layers} | {t * 1e3:.2f} "
                f"| {pred.naive_s * 1e3:.2f} | {pred.predicted_s * 1e3:.2f} | {100 * err:+.0f}% |",
                flush=True,
            )
    for k, v in errs.items():
        print(
            f"{k} MAPE {100 * statistics.mean(v):.1f}%, within 25%: "
            f"{100 * sum(e <= 0.25 for e in v) / len(v):.0f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
