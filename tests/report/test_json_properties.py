"""`--json` output round-trips (hypothesis): strict JSON (no NaN or Infinity, which
jq and JavaScript refuse), the documented keys, and numbers equal to the library's
for random small convolution specs."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import roofline
from roofline.analysis import analyze
from roofline.cli import main
from roofline.devices import get_device

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def strict_loads(text: str):
    def refuse(name: str):
        raise AssertionError(f"{name} in --json output: not JSON")

    return json.loads(text, parse_constant=refuse)


@st.composite
def conv_specs(draw):
    c, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    size = draw(st.integers(k, 8))
    kwargs = {
        "in_channels": c,
        "out_channels": draw(st.integers(1, 4)),
        "kernel_size": k,
        "stride": draw(st.integers(1, 2)),
        "padding": draw(st.integers(0, 1)),
        "bias": draw(st.booleans()),
    }
    text = (
        "model: torch.nn:Conv2d\n"
        f"kwargs: {json.dumps(kwargs)}\n"
        f"inputs:\n  - shape: [{draw(st.integers(1, 3))}, {c}, {size}, {size}]\n"
        f"mode: {draw(st.sampled_from(['inference', 'training']))}\n"
    )
    return text


@SETTINGS
@given(spec_text=conv_specs(), precision=st.sampled_from(["fp32", "fp16"]))
def test_profile_json_round_trips(spec_text, precision, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "m.yaml"
        spec.write_text(spec_text)
        argv = ["profile", str(spec), "--gpu", "3090", "--precision", precision, "--json", "-"]
        assert main(argv) == 0
        data = strict_loads(capsys.readouterr().out)
        prof = roofline.profile_spec(roofline.load_spec(spec))
    for key in ("model", "inputs", "mode", "dtype", "batch", "totals", "layers", "roofline"):
        assert key in data, key
    assert data["totals"] == prof.totals().as_dict()
    assert data["batch"] == prof.batch
    a = analyze(prof, get_device("3090"), precision, 2)
    r = data["roofline"]
    assert r["totals"]["time_s"] == pytest.approx(a.totals.time_s, rel=1e-12)
    assert r["totals"]["flops"] == a.totals.flops
    assert [row["time_s"] for row in r["layers"]] == pytest.approx([x.time_s for x in a.layers])
    assert math.fsum(row["time_s"] for row in r["layers"]) == pytest.approx(r["totals"]["time_s"])


@SETTINGS
@given(
    params=st.sampled_from(["350k", "100M", "7B", "1.5e9", "12345"]),
    mode=st.sampled_from(["inference", "training"]),
    dtype=st.sampled_from(["fp32", "fp16", "bf16"]),
)
def test_vram_json_round_trips(params, mode, dtype, capsys):
    from roofline.memory import estimate_from_params

    argv = ["vram", "--params", params, "--mode", mode, "--dtype", dtype, "--json", "-"]
    assert main(argv) == 0
    data = strict_loads(capsys.readouterr().out)
    e = estimate_from_params(params, mode=mode, dtype=dtype)
    for key in ("weights", "gradients", "optimizer", "total", "total_with_headroom", "assumptions"):
        assert data[key] == e.as_dict()[key], key
