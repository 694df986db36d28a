"""benchmarks/pool_latency.py end to end on one tiny pool, with a hand-made calibration
(the real run needs a full calibration: minutes)."""

from __future__ import annotations

import dataclasses
import json
import sys

import torch

from roofline.latency.calibrate import CurveFit
from tests.fixtures.scripts import load_benchmark
from tests.latency.test_predict import eff


def test_pool_latency_prints_each_case_with_its_comparisons_per_byte(tmp_path, monkeypatch, capsys):
    pl = load_benchmark("pool_latency")
    calib = dataclasses.replace(
        eff(),
        memory={
            **eff().memory,
            "pool.small": CurveFit((1e3,), (2e9,)),
            "pool": CurveFit((1e3,), (1e9,)),
        },
        memory_work={"pool.small": 0.1, "pool": 0.3},
    )
    path = tmp_path / "eff.json"
    path.write_text(json.dumps(calib.as_dict()))
    monkeypatch.setattr(pl, "LAYERS", [("max 2x2", torch.nn.MaxPool2d(2, 2), 4, 8, (1, 2))])
    monkeypatch.setattr(sys, "argv", ["pool_latency.py", "--calibration", str(path)])
    assert pl.main() == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| max")]
    # 1x4x8x8 fp32: 1024 B read, 64 outputs (256 B) and int64 indices (512 B) written;
    # 4 comparisons per output: 256 / 1792 = 0.14 comparisons per byte
    assert [r.split(" | ")[1:3] for r in rows] == [["1x4x8x8", "0.14"], ["2x4x8x8", "0.14"]]
