"""Every bundled example spec loads and profiles, and the documented figures hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from roofline.counting import profile_spec
from roofline.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples():
    assert {p.name for p in SPECS} >= {"resnet50.yaml", "yolov5s.yaml", "llama-7b.yaml"}


@pytest.mark.parametrize("path", [p for p in SPECS if p.name != "llama-7b.yaml"], ids=str)
def test_example_profiles_with_nothing_uncounted(path):
    prof = profile_spec(load_spec(path))
    assert prof.params > 0 and prof.totals().flops > 0
    assert not prof.uncounted_ops


@pytest.mark.parametrize(
    ("name", "params", "gmacs"),
    [
        # torchvision's documented parameters and GMACs (conv/linear/attention MACs)
        ("vit_b_16.yaml", 86_567_656, 17.564),
        ("efficientnet_b0.yaml", 5_288_548, 0.386),
        ("resnet50.yaml", 25_557_032, 4.089),
    ],
)
def test_torchvision_examples_match_the_documented_figures(name, params, gmacs):
    prof = profile_spec(load_spec(EXAMPLES / name))
    assert prof.params == params
    assert prof.totals().matrix_flops / 2 / 1e9 == pytest.approx(gmacs, abs=0.0005)
