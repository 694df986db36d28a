"""Output paths: the one check of "may I write this path" (someone's file, a folder,
somewhere no file can be made), and of several outputs of one command together."""

from __future__ import annotations

import os

import pytest

from roofline.errors import ReportError
from roofline.report.output import check_outputs, check_writable, write_json

MINE = '{"my": "data"}'


@pytest.fixture
def mine(tmp_path):
    """Someone's file, which no command may replace without --force."""
    p = tmp_path / "user.json"
    p.write_text(MINE)
    return p


# ------------------------------------------------------------------ the library check


def test_check_writable(tmp_path, mine):
    assert check_writable(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    with pytest.raises(ReportError, match="not written by roofline"):
        check_writable(mine)
    assert check_writable(mine, force=True) == mine
    with pytest.raises(ReportError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(ReportError, match="is not a folder"):
        check_writable(mine / "r.json")  # a file where a folder would have to be
    ours = write_json(tmp_path / "ours.dat", {"a": 1})
    assert check_writable(ours) == ours  # recognised by content, as the writers do


def test_check_outputs(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.csv"
    assert check_outputs({"--json": str(a), "--csv": str(b), "--html": None}) is None
    assert check_outputs({"--json": "-", "--csv": str(b)}, to_stdout=("--json",)) == "--json"
    with pytest.raises(ReportError, match="--html cannot write to standard output"):
        check_outputs({"--html": "-"}, to_stdout=("--json",))
    with pytest.raises(ReportError, match="--json and --csv both write to standard output"):
        check_outputs({"--json": "-", "--csv": "-"}, to_stdout=("--json", "--csv"))
    # one file under two spellings, a symbolic link and a hard link
    with pytest.raises(ReportError, match="--json and --csv both name"):
        check_outputs({"--json": str(a), "--csv": str(tmp_path / "x" / ".." / "a.json")})
    write_json(a, {})
    os.symlink(a, tmp_path / "link.json")
    os.link(a, tmp_path / "hard.json")
    for other in ("link.json", "hard.json"):
        with pytest.raises(ReportError, match="both name"):
            check_outputs({"--json": str(a), "--html": str(tmp_path / other)})
