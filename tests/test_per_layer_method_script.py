"""benchmarks/per_layer_method.py: a failing model or method is a row of its own (on the
GPU session the table exists only in the log, row by row)."""

from __future__ import annotations

import sys

import pytest

from roofline.latency.measure import Timing
from tests.fixtures.scripts import load_benchmark


@pytest.fixture(scope="module")
def plm():
    return load_benchmark("per_layer_method")


def test_a_failing_method_is_a_row_and_the_rest_still_run(plm, monkeypatch, capsys):
    pytest.importorskip("torchvision")
    monkeypatch.setattr(plm, "time_region", lambda *a, **k: Timing((0.01,)))

    def row(model, step, method, passes, sync, dev):
        if method == "profiler":
            raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED")
        return 0.012, 0.011

    monkeypatch.setattr(plm, "_method_row", row)
    monkeypatch.setattr(sys, "argv", ["per_layer_method.py", "--passes", "1"])
    assert plm.main() == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("| ") and " b1 " in x]
    assert len(lines) == 8  # four models, two methods each
    assert sum("| hooks | 11.00 | 1.10 | 12.00 |" in x for x in lines) == 4
    assert (
        sum("| profiler | FAILED RuntimeError('CUPTI_ERROR_NOT_INITIALIZED')" in x for x in lines)
        == 4
    )
