"""Latency of pooling layers: naive and calibrated prediction against measurement.

    python benchmarks/pool_latency.py --threads 1 [--calibration eff.json] [--device cuda]

Max pools over the windows CNNs use (2x2 of VGG and U-Net, ResNet's 3x3 stride-2 stem,
Inception's 3x3 stride 1, YOLOv5's SPPF 5x5 and SPP's 9x9 and 13x13 at stride 1),
average and adaptive average pools (global ones, which run as a ``mean`` over rows of
7², 14² and 56²: the reduction family, ``calibrate.SHORT_ROW``), each as one layer at
batch 1 and a larger batch, random inputs. The calibration prices a pool between the four max pools it times
(``calibrate.POOL_FAMILY``) by its comparisons per byte, so 3x3/s1, 9x9, avg and
adaptive pools are predicted from curves of other windows. The calibration runs first
(``--calibration FILE`` reuses one saved with ``--save-calibration``, e.g. by
``rnn_latency.py``); nothing is fitted on these cases.
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

#: (label, layer, channels, size, batches)
LAYERS: list[tuple[str, torch.nn.Module, int, int, tuple[int, ...]]] = [
    ("max 2x2/s2 (VGG)", torch.nn.MaxPool2d(2, 2), 64, 224, (1, 8)),
    ("max 2x2/s2 (U-Net)", torch.nn.MaxPool2d(2, 2), 128, 128, (1, 8)),
    ("max 3x3/s2 (ResNet stem)", torch.nn.MaxPool2d(3, 2, 1), 64, 112, (1, 8)),
    ("max 3x3/s1 (Inception)", torch.nn.MaxPool2d(3, 1, 1), 192, 28, (1, 8)),
    ("max 5x5/s1 (SPPF)", torch.nn.MaxPool2d(5, 1, 2), 256, 20, (1, 8)),
    ("max 9x9/s1 (SPP)", torch.nn.MaxPool2d(9, 1, 4), 256, 20, (1, 8)),
    ("max 13x13/s1 (SPP)", torch.nn.MaxPool2d(13, 1, 6), 256, 20, (1, 8)),
    ("avg 2x2/s2 (DenseNet)", torch.nn.AvgPool2d(2, 2), 128, 56, (1, 8)),
    ("avg 3x3/s1 (Inception)", torch.nn.AvgPool2d(3, 1, 1), 192, 28, (1, 8)),
    ("adaptive avg 1 (ResNet head)", torch.nn.AdaptiveAvgPool2d(1), 2048, 7, (1, 32)),
    ("adaptive avg 1 (MobileNetV3 head)", torch.nn.AdaptiveAvgPool2d(1), 960, 7, (1, 32)),
    ("adaptive avg 1 (EfficientNet SE, 14²)", torch.nn.AdaptiveAvgPool2d(1), 480, 14, (1, 32)),
    ("adaptive avg 1 (SE, 56²)", torch.nn.AdaptiveAvgPool2d(1), 96, 56, (1, 32)),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    layer_benchmark_args(ap)
    args = ap.parse_args()
    if not use_device(args.device, args.threads):
        return 2
    eff = calibration_of(args)
    device, dev, sync = layer_benchmark_target(args)
    print("| layer | input | comparisons/B | measured ms | naive ms | calibrated ms | error |")
    print("|---|---|---|---|---|---|---|")
    errs: dict[str, list[float]] = {}
    gen = torch.Generator().manual_seed(0)
    for label, layer, c, hw, batches in LAYERS:
        for batch in batches:
            x = torch.randn(batch, c, hw, hw, generator=gen)
            prof = profile(layer, (x,))
            pred = predict(prof, device, efficiency=eff)
            work = sum(o.vector_flops for o in prof.ops) / max(sum(o.bytes for o in prof.ops), 1)
            xd = x.to(dev)
            cells = time_and_score(errs, pred, lambda xd=xd, m=layer: m(xd), sync, 3)
            print(f"| {label} | {batch}x{c}x{hw}x{hw} | {work:.2f} {cells}", flush=True)
    print("\n".join(error_summary(errs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
