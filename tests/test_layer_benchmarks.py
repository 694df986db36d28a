"""The per-layer benchmarks (benchmarks/pool_latency.py, rnn_latency.py) end to end on
one tiny layer each, with a hand-made calibration (the real runs need a full
calibration: minutes)."""

from __future__ import annotations

import dataclasses
import json
import sys

import torch

from roofline.latency.calibrate import CurveFit
from tests.fixtures.scripts import load_benchmark
from tests.latency.test_predict import eff


def _calibration(tmp_path) -> str:
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
    return str(path)


def test_pool_latency_prints_each_case_with_its_comparisons_per_byte(tmp_path, monkeypatch, capsys):
    pl = load_benchmark("pool_latency")
    monkeypatch.setattr(pl, "LAYERS", [("max 2x2", torch.nn.MaxPool2d(2, 2), 4, 8, (1, 2))])
    monkeypatch.setattr(sys, "argv", ["pool_latency.py", "--calibration", _calibration(tmp_path)])
    assert pl.main() == 0
    out = capsys.readouterr().out.splitlines()
    rows = [r for r in out if r.startswith("| max")]
    # 1x4x8x8 fp32: 1024 B read, 64 outputs (256 B) and int64 indices (512 B) written;
    # 4 comparisons per output: 256 / 1792 = 0.14 comparisons per byte
    assert [r.split(" | ")[1:3] for r in rows] == [["1x4x8x8", "0.14"], ["2x4x8x8", "0.14"]]
    assert out[-2].startswith("naive MAPE") and out[-1].startswith("calibrated MAPE")


def test_rnn_latency_prints_an_lstm_and_a_gru_per_shape(tmp_path, monkeypatch, capsys):
    rl = load_benchmark("rnn_latency")
    monkeypatch.setattr(rl, "SHAPES", [(4, 2, 8, 8, 1)])
    monkeypatch.setattr(sys, "argv", ["rnn_latency.py", "--calibration", _calibration(tmp_path)])
    assert rl.main() == 0
    out = capsys.readouterr().out.splitlines()
    rows = [r.split(" | ")[0:3] for r in out if r.startswith(("| LSTM", "| GRU"))]
    assert rows == [["| LSTM", "4", "2"], ["| GRU", "4", "2"]]
    assert "calibrated MAPE" in out[-1]
