"""benchmarks/timm_zoo.py: the reference it reads, the comparison rules, one family."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.scripts import load_benchmark

pytest.importorskip("timm")


@pytest.fixture(scope="module")
def tz():
    return load_benchmark("timm_zoo")


def test_the_bundled_reference_has_one_row_per_family(tz):
    refs = tz.reference()
    assert len(refs) == 89
    # a row checked against timm's CSV by hand: resnet50 is not a family's first
    # model, but convnext_atto is (3.70 M params, 0.55 GMACs at 224)
    assert refs["convnext"]["model"] == "convnext_atto"
    assert (refs["convnext"]["param_count"], refs["convnext"]["infer_gmacs"]) == ("3.7", "0.55")
    assert set(refs) <= set(tz.families())


@pytest.mark.parametrize(
    ("gmacs", "ref", "agrees"),
    [
        (0.547, 0.55, True),  # inside the table's rounding (0.545..0.555)
        (0.0423, 0.05, False),  # ghostnet_050: the table adds batch-norm terms
        (17.564, 17.58, True),  # 0.09%: inside 2%
        (20.677, 19.55, False),  # convmixer: +5.8%
    ],
)
def test_macs_agree_within_rounding_or_two_percent(tz, gmacs, ref, agrees):
    row = tz.Row("f", "m", 224, ref_gmacs=ref, gmacs=gmacs)
    assert row.within_rounding() is agrees


def test_parameters_agree_to_the_tables_two_decimals(tz):
    assert tz.Row("f", "m", 224, ref_params_m=3.70, params=3_696_000).params_ok
    assert not tz.Row("f", "m", 224, ref_params_m=5.07, params=5_489_000).params_ok


def test_one_family_end_to_end(tz, tmp_path, capsys):
    out = tmp_path / "t.json"
    assert tz.main(["--only", "convnext", "--vram", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["model"] == "convnext_atto" and row["error"] is None
    assert row["uncounted_inference"] == {} and row["uncounted_training"] == {}
    assert row["params_ok"] is True and abs(row["rel_diff"]) < 0.01
    # the memory trace ran too; training holds gradients and AdamW state on top
    assert 0 < row["vram_inference"] < row["vram_training"]
    text = capsys.readouterr().out
    assert "1 of 1 families counted on fake tensors" in text
    assert "`roofline vram` traced 1 in both modes" in text


def test_reparam_fuses_the_model_as_the_table_did(tz, tmp_path, capsys):
    # repvit_m0_9 as built has 5.489 M parameters; fused (batch norms folded,
    # branches merged) it has the table's 5.07 M, counted on fake tensors
    out = tmp_path / "t.json"
    assert tz.main(["--only", "repvit", "--reparam", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["error"] is None and row["params"] == 5_067_056 and row["params_ok"] is True
    assert "each fused with reparameterize_model" in capsys.readouterr().out


def test_fvcore_counts_the_fused_model_under_reparam(tz):
    # the fvcore table sets fvcore's count beside ours: with --reparam both must be
    # of the fused model (fvcore counted the unfused one, batch norms and all)
    pytest.importorskip("fvcore")
    fused, unfused = tz.Row("repvit", "repvit_m0_9", 64), tz.Row("repvit", "repvit_m0_9", 64)
    tz.add_fvcore(fused, reparam=True)
    tz.add_fvcore(unfused)
    assert "batch_norm" in unfused.fvcore_other and "batch_norm" not in fused.fvcore_other
    assert fused.fvcore_matrix_gmacs < unfused.fvcore_matrix_gmacs


def test_a_model_outside_the_reference_gets_its_own_row(tz, tmp_path):
    # resnet18 is a model of the resnet family, whose reference row is another model:
    # named alone it is profiled, with no reference to compare against
    out = tmp_path / "r.json"
    assert tz.main(["--only", "resnet18", "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["family"], row["model"], row["size"]) == ("resnet", "resnet18", 224)
    assert row["error"] is None and row["ref_gmacs"] is None and row["params"] == 11_689_512
