"""The golden-file helper itself: a missing golden fails unless regeneration is asked."""

from __future__ import annotations

import pytest

from tests.fixtures import golden


@pytest.fixture
def golden_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(golden, "GOLDEN", tmp_path)
    monkeypatch.delenv("ROOFLINE_REGEN_GOLDEN", raising=False)
    return tmp_path


def test_missing_golden_fails(golden_dir):
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        golden.check_golden("absent.txt", "text\n")
    assert not (golden_dir / "absent.txt").exists()


def test_changed_output_fails(golden_dir):
    (golden_dir / "g.txt").write_text("old\n")
    with pytest.raises(AssertionError, match=r"g\.txt changed"):
        golden.check_golden("g.txt", "new\n")


def test_regenerate_writes_on_request(golden_dir, monkeypatch):
    monkeypatch.setenv("ROOFLINE_REGEN_GOLDEN", "1")
    golden.check_golden("sub/new.txt", "fresh\n")
    assert (golden_dir / "sub" / "new.txt").read_text() == "fresh\n"
    monkeypatch.delenv("ROOFLINE_REGEN_GOLDEN")
    golden.check_golden("sub/new.txt", "fresh\n")  # and now it matches
