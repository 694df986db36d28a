"""VRAM sizing: how much memory a batch needs, and the largest batch that fits.

>>> from roofline.memory import estimate_from_params
>>> e = estimate_from_params("100M", mode="training", optimizer="adamw", amp=True)
>>> (e.weights + e.gradients + e.optimizer) // 100_000_000   # bytes per parameter
16

From a model, activations come from tracing it on fake tensors
(:mod:`roofline.memory.tracker`); see docs/vram.md for every term.
"""

from __future__ import annotations

from roofline.memory.estimate import (
    CUBLAS_WORKSPACE_BYTES,
    CUBLAS_WORKSPACE_BYTES_SM90,
    CUDA_CONTEXT_BYTES,
    DEFAULT_HEADROOM,
    MODES,
    OPTIMIZERS,
    QUANTIZED_GPU_NOTE,
    STATE_TENSORS,
    STEP_TEMPORARIES,
    Assumptions,
    DeviceFit,
    MaxBatch,
    MemoryEstimate,
    ParallelPlan,
    PhasePeak,
    cublas_workspace_bytes,
    cublas_workspace_for,
    cuda_context_for,
    devices_needed,
    estimate_from_model,
    estimate_from_params,
    estimate_from_spec,
    fit_devices,
    fsdp_root_grad_bytes,
    fsdp_units,
    largest_unit_bytes,
    max_batch,
    naive_seed_formula,
    parse_params,
    with_headroom,
)
from roofline.memory.tracker import Trace, block_size, blocks, segment_slack, split_prefixes, trace

__all__ = [
    "CUBLAS_WORKSPACE_BYTES",
    "CUBLAS_WORKSPACE_BYTES_SM90",
    "CUDA_CONTEXT_BYTES",
    "DEFAULT_HEADROOM",
    "MODES",
    "OPTIMIZERS",
    "QUANTIZED_GPU_NOTE",
    "STATE_TENSORS",
    "STEP_TEMPORARIES",
    "Assumptions",
    "DeviceFit",
    "MaxBatch",
    "MemoryEstimate",
    "ParallelPlan",
    "PhasePeak",
    "Trace",
    "block_size",
    "blocks",
    "cublas_workspace_bytes",
    "cublas_workspace_for",
    "cuda_context_for",
    "devices_needed",
    "estimate_from_model",
    "estimate_from_params",
    "estimate_from_spec",
    "fit_devices",
    "fsdp_root_grad_bytes",
    "fsdp_units",
    "largest_unit_bytes",
    "max_batch",
    "naive_seed_formula",
    "parse_params",
    "segment_slack",
    "split_prefixes",
    "trace",
    "with_headroom",
]
