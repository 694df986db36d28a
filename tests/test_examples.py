"""Every bundled example spec loads and profiles, and the documented figures hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roofline.counting import profile_spec
from roofline.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_examples():
    assert {p.name for p in SPECS} >= {"resnet50.yaml", "yolov5s.yaml", "llama-7b.yaml"}


#: the 7B decoders take seconds each; their figures are tested below and in test_counter
SLOW = {"llama-7b.yaml", "llama-7b-decode.yaml"}


def _skip_without_the_package_it_builds(path: Path) -> None:
    """Skip, saying why, where the spec's model comes from torchvision or timm (optional
    test dependencies) and that package is not installed."""
    package = str(yaml.safe_load(path.read_text()).get("model", "")).split(":")[0].split(".")[0]
    if package in ("torchvision", "timm"):
        pytest.importorskip(package)


@pytest.mark.parametrize("path", [p for p in SPECS if p.name not in SLOW], ids=str)
def test_example_profiles_with_nothing_uncounted(path):
    _skip_without_the_package_it_builds(path)
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
    pytest.importorskip("torchvision")
    prof = profile_spec(load_spec(EXAMPLES / name))
    assert prof.params == params
    assert prof.totals().matrix_flops / 2 / 1e9 == pytest.approx(gmacs, abs=0.0005)


def test_timm_example_matches_timms_benchmark_table():
    # timm's results/benchmark-infer-amp-nchw-pt291-cu128-4090.csv: convnext_tiny at
    # 224, 28.59 M parameters and 4.47 GMACs, two decimals, from DeepSpeed's profiler
    # (which also counts a few non-matrix MACs: within 1%, see docs/zoo.md)
    pytest.importorskip("timm")
    prof = profile_spec(load_spec(EXAMPLES / "convnext_tiny.yaml"))
    assert prof.params / 1e6 == pytest.approx(28.59, abs=0.005)
    assert prof.totals().matrix_flops / 2 / 1e9 == pytest.approx(4.47, rel=0.01)


def test_llama_decode_example_matches_the_hand_count():
    # one decode step of the 7B shapes: per layer q, k, v, o (4 x 2 d^2 FLOPs), the
    # SwiGLU MLP (3 x 2 d F) and attention of one query over C cached tokens (QK^T and
    # AV, 2 x 2 C d); then the LM head, 2 d V. Bytes: every weight but the embedding
    # table read once in bf16 (the embedding reads one row), the cache (2 x L x C x d
    # values) read once by attention; the rest (activations of one token) is ~0.2%
    L, d, C, F, V = 32, 4096, 2048, 11008, 32000
    prof = profile_spec(load_spec(EXAMPLES / "llama-7b-decode.yaml"))
    t = prof.totals()
    assert prof.dtype == "bfloat16"
    assert t.matrix_flops == L * (8 * d * d + 6 * d * F + 4 * C * d) + 2 * d * V
    weights_and_cache = 2 * (prof.params - V * d) + 2 * (2 * L * C * d)
    assert weights_and_cache <= t.bytes <= 1.005 * weights_and_cache
    assert t.intensity == pytest.approx(1.0, abs=0.01)  # ~1 FLOP/B: memory-bound anywhere


def test_llama_decode_runs_for_real_and_counts_as_on_fake_tensors(tmp_path):
    # the tiny model's decode step on real tensors: it runs, and the count on real
    # tensors equals the one on fake tensors
    (tmp_path / "d.yaml").write_text(
        f"model: {EXAMPLES / 'llama.py'}:llama_tiny\n"
        "inputs:\n"
        "  - {name: input_ids, shape: [2, 1], dtype: int64, high: 1000}\n"
        "  - {name: kv_cache, shape: [2, 2, 2, 4, 16, 64]}\n"
    )
    spec = load_spec(tmp_path / "d.yaml")
    fake, real = profile_spec(spec), profile_spec(spec, real=True)
    assert real.totals().as_dict() == fake.totals().as_dict()
    assert fake.totals().matrix_flops == 2 * (
        2 * (8 * 256 * 256 + 6 * 256 * 688 + 4 * 16 * 256) + 2 * 256 * 1000
    )


def test_llama_decode_refuses_training(tmp_path, capsys):
    # the decode step writes its cache in place, which would invalidate what backward
    # saved: it says it is inference only, in one line
    from roofline.cli import main

    (tmp_path / "d.yaml").write_text(
        f"model: {EXAMPLES / 'llama.py'}:llama_tiny\n"
        "mode: training\n"
        "inputs:\n"
        "  - {name: input_ids, shape: [1, 1], dtype: int64, high: 1000}\n"
        "  - {name: kv_cache, shape: [1, 2, 2, 4, 16, 64]}\n"
    )
    assert main(["profile", str(tmp_path / "d.yaml")]) == 2
    err = capsys.readouterr().err
    assert "a decode step with a KV cache is inference only" in err and err.count("\n") == 1
