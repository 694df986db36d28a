"""Models for the latency tests: one that fails on real tensors, one that runs out of memory."""

from __future__ import annotations

import torch
from torch import nn


class FailsOnRealTensors(nn.Module):
    """Runs fine under fake tensors (shapes only) but raises when it sees real data."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if not isinstance(y, torch._subclasses.fake_tensor.FakeTensor):
            raise ValueError("this model only works on fake tensors")
        return y


class OomAboveBatch2(nn.Module):
    """Pretends to run out of memory when the batch is larger than 2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.fc(x)
