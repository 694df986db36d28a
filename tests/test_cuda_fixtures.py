"""The helpers of the GPU-only tests, run on the CPU with torch.cuda faked (a lent GPU's
minutes must not go to a helper's bug)."""

from __future__ import annotations

import torch

from tests.fixtures.cuda import clean_allocated_baseline


def test_baseline_drops_garbage_and_cublas_workspaces_before_reading(monkeypatch):
    # a fake allocator: 64 MiB of cuBLAS workspaces (two threads' handles) and 10 MiB
    # held by a reference cycle an earlier test left behind; 1 MiB truly still live
    held = {"workspaces": 64 << 20, "garbage": 10 << 20, "live": 1 << 20}
    calls: list[str] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            held["garbage"] = 0

    Cycle()  # unreachable, freed only by the cycle collector
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: calls.append("sync"))

    def clear() -> None:
        calls.append("clear")
        held["workspaces"] = 0

    monkeypatch.setattr(torch._C, "_cuda_clearCublasWorkspaces", clear, raising=False)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty"))

    def allocated(*_a: object) -> int:
        calls.append("read")
        return sum(held.values())

    monkeypatch.setattr(torch.cuda, "memory_allocated", allocated)
    # what a fresh process would also start from: only the truly live block
    assert clean_allocated_baseline() == 1 << 20
    assert calls == ["sync", "clear", "empty", "read"]
