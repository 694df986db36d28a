"""Fold BatchNorm into the convolution before it, for inference.

In eval mode a BatchNorm is an affine map per channel, ``y = γ (x − μ) / √(σ² + ε) + β``,
so it can be folded into the preceding convolution ``x = W * in + b``:

    scale = γ / √(σ² + ε)               (one number per output channel)
    W'    = W · scale                    (each output filter scaled)
    b'    = β − μ · scale + b · scale    (b = 0 when the conv had no bias)

The fused network computes the same function (in eval mode) with one layer and one
pass over the activations fewer per pair, and one bias vector in place of the BN's two
affine parameters: parameters drop by one per folded channel.

Two rules decide which pairs are folded (:func:`fuse_model`):

* ``"yolov5"``: YOLOv5's own rule. A block with a ``conv`` (Conv2d), a ``bn``
  (BatchNorm2d) and a ``forward_fuse`` method gets ``bn`` folded into ``conv``, ``bn``
  removed and its forward switched to ``forward_fuse``. (YOLOv5 checks for its Conv
  class; a ``forward_fuse`` method is what that class adds, so user blocks written in
  its style are fused too, and blocks that do not declare a fused path are left alone.)
* ``"all"``: the rule above, plus every other Conv2d → BatchNorm2d pair that is certain
  to run back to back (adjacent children of an ``nn.Sequential``), and blocks holding
  ``conv`` and ``bn`` attributes, *assumed* to compute ``act(bn(conv(x)))`` (the common
  style; not checked, so verify the outputs for blocks of your own). The BatchNorm is
  replaced by ``nn.Identity``.

All arithmetic is tensor arithmetic (no Python on values), so fusion also works on
meta and fake tensors, where it only changes shapes and structure.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

RULES = ("yolov5", "all")


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d (with bias) equal to ``bn(conv(x))`` in eval mode.

    The new parameters do not require gradients (the result is for inference).
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    if conv.out_channels != bn.num_features:
        raise ValueError(
            f"conv has {conv.out_channels} output channels, BatchNorm {bn.num_features}"
        )
    w = conv.weight
    with torch.no_grad():
        fused = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            kernel_size=conv.kernel_size,  # type: ignore[arg-type]
            stride=conv.stride,  # type: ignore[arg-type]
            padding=conv.padding,  # type: ignore[arg-type]
            dilation=conv.dilation,  # type: ignore[arg-type]
            groups=conv.groups,
            bias=True,
            padding_mode=conv.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
        scale = gamma / torch.sqrt(bn.running_var + bn.eps)
        new_w = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
        new_b = beta - bn.running_mean * scale
        if conv.bias is not None:
            new_b = new_b + conv.bias * scale
        fused.weight = nn.Parameter(new_w.detach().to(w.dtype), requires_grad=False)
        fused.bias = nn.Parameter(new_b.detach().to(w.dtype), requires_grad=False)
    return fused


def fuse_model(model: nn.Module, rule: str = "yolov5") -> int:
    """Fold BatchNorms into their convolutions in place; returns how many were folded.

    The model is put in eval mode (folding is only exact there).
    """
    if rule not in RULES:
        raise ValueError(f"unknown fuse rule {rule!r}: use one of {', '.join(RULES)}")
    model.eval()
    count = 0
    for m in list(model.modules()):
        conv, bn = getattr(m, "conv", None), getattr(m, "bn", None)
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        if callable(getattr(m, "forward_fuse", None)):
            m.conv = fuse_conv_bn(conv, bn)
            delattr(m, "bn")
            m.forward = m.forward_fuse  # type: ignore[method-assign]
            count += 1
        elif rule == "all":
            m.conv = fuse_conv_bn(conv, bn)
            m.bn = nn.Identity()
            count += 1
    if rule == "all":
        for m in list(model.modules()):
            if isinstance(m, nn.Sequential):
                count += _fuse_sequential(m)
    return count


def _fuse_sequential(seq: nn.Sequential) -> int:
    count = 0
    keys = list(seq._modules)
    for a, b in itertools.pairwise(keys):
        conv, bn = seq._modules[a], seq._modules[b]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            seq._modules[a] = fuse_conv_bn(conv, bn)
            seq._modules[b] = nn.Identity()
            count += 1
    return count


def count_batchnorms(model: nn.Module) -> int:
    """How many BatchNorm layers remain (to show what fusion removed)."""
    return sum(1 for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
