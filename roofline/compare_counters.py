"""Run fvcore, thop, torchinfo and PyTorch's FlopCounterMode beside our counter.

Each library counts something different, which is why their numbers disagree:

* **thop** (``thop.profile``) returns multiply-accumulates (MACs) of convolutions and
  linear layers, plus one "op" per element for BatchNorm, some activations and
  pooling, through module hooks (functional calls such as ``torch.matmul`` or
  attention inside ``forward`` are missed).
* **torchinfo** (``summary(...).total_mult_adds``) returns MACs of the layers it
  hooks (conv, linear, ...); again module-level.
* **fvcore** (``FlopCountAnalysis.total()``) traces the model with TorchScript and
  counts one "flop" per multiply-accumulate of conv/matmul/einsum, plus some
  elementwise ops (BatchNorm, upsampling, pooling) — its "flops" are MACs.
* **FlopCounterMode** (``torch.utils.flop_counter``) counts FLOPs = 2 x MACs of
  matrix products, convolutions and SDPA only, through ``__torch_dispatch__``; it
  counts the fused transformer fast-path ops as zero.

The comparable number of ours is ``macs`` (matrix FLOPs / 2) for the MAC counters and
``matrix_flops`` for FlopCounterMode. All four run the real model on real tensors.
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from roofline.counting.profile import ModelProfile


@dataclass(frozen=True)
class CounterResult:
    """One library's answer for one model."""

    tool: str
    value: float | None
    unit: str  # "MACs" | "FLOPs"
    counts: str  # what the number covers
    ours: int  # our comparable figure
    ours_label: str
    seconds: float | None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        """The library's number divided by ours."""
        if self.value is None or not self.ours:
            return None
        return self.value / self.ours

    def as_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "value": self.value,
            "unit": self.unit,
            "counts": self.counts,
            "ours": self.ours,
            "ours_label": self.ours_label,
            "ratio": self.ratio,
            "seconds": self.seconds,
            "error": self.error,
        }


def _quiet(fn: Callable[[], Any]) -> Any:
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        return fn()


def run_thop(model: torch.nn.Module, args: tuple, kwargs: dict) -> float:
    """thop's MAC count (it temporarily adds buffers to modules; we use a copy)."""
    import thop

    m = copy.deepcopy(model)
    macs, _params = thop.profile(m, inputs=args, verbose=False)
    return float(macs)


def run_torchinfo(model: torch.nn.Module, args: tuple, kwargs: dict) -> float:
    """torchinfo's ``total_mult_adds``."""
    import torchinfo

    data = list(args) if args else None
    stats = torchinfo.summary(model, input_data=data, verbose=0, depth=10, **kwargs)
    return float(stats.total_mult_adds)


def run_fvcore(model: torch.nn.Module, args: tuple, kwargs: dict) -> float:
    """fvcore's ``FlopCountAnalysis.total()`` (MACs, through a TorchScript trace)."""
    from fvcore.nn import FlopCountAnalysis

    if kwargs:
        raise ValueError("fvcore traces positional inputs only")
    fa = FlopCountAnalysis(model, args)
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    return float(fa.total())


def run_flop_counter_mode(model: torch.nn.Module, args: tuple, kwargs: dict) -> float:
    """PyTorch's ``FlopCounterMode`` total (FLOPs of matrix ops)."""
    from torch.utils.flop_counter import FlopCounterMode

    fc = FlopCounterMode(display=False)
    with fc:
        model(*args, **kwargs)
    return float(fc.get_total_flops())


#: (tool, runner, unit, what it counts)
COUNTERS: tuple[tuple[str, Callable[..., float], str, str], ...] = (
    ("fvcore", run_fvcore, "MACs", "conv/matmul MACs + some elementwise (TorchScript trace)"),
    ("thop", run_thop, "MACs", "conv/linear MACs + BN/activation/pool ops (module hooks)"),
    ("torchinfo", run_torchinfo, "MACs", "MACs of hooked layers (module hooks)"),
    (
        "FlopCounterMode",
        run_flop_counter_mode,
        "FLOPs",
        "2 x MACs of mm/conv/SDPA only (torch dispatch)",
    ),
)


def compare_counters(
    model: torch.nn.Module,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None,
    ours: ModelProfile,
    *,
    tools: Sequence[str] | None = None,
) -> list[CounterResult]:
    """Run each library on the *real* ``model`` and pair its total with ours.

    The model is put in eval mode and run under ``torch.no_grad``; its train/eval
    flags are restored afterwards. A library that fails gives a result with ``error``.
    """
    kwargs = dict(kwargs or {})
    args = tuple(args)
    totals = ours.totals()
    flags = {m: m.training for m in model.modules()}
    results = []
    try:
        model.eval()
        for tool, runner, unit, counts in COUNTERS:
            if tools is not None and tool not in tools:
                continue
            ours_value = totals.macs if unit == "MACs" else totals.matrix_flops
            label = "our MACs" if unit == "MACs" else "our matrix FLOPs"
            start = time.perf_counter()
            try:
                with torch.no_grad():
                    value = _quiet(lambda r=runner: r(model, args, kwargs))
                results.append(
                    CounterResult(
                        tool, value, unit, counts, ours_value, label, time.perf_counter() - start
                    )
                )
            except Exception as exc:
                msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
                results.append(
                    CounterResult(tool, None, unit, counts, ours_value, label, None, msg)
                )
    finally:
        for m, f in flags.items():
            m.training = f
    return results
