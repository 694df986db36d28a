"""`roofline.cli.main`: output into a pipe whose reader has gone (`roofline ... | head`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roofline.cli import EXIT_BROKEN_PIPE, main
from tests.fixtures.models import TINY_SPEC

ROOT = Path(__file__).resolve().parents[1]


def run_into_closed_pipe(argv: list[str], *, buffered: bool) -> subprocess.CompletedProcess:
    """Run the CLI with stdout a pipe whose read end is already closed: the first write
    that reaches the pipe fails with EPIPE (unbuffered: the first print; buffered: the
    final flush), as when ``head`` has exited."""
    r, w = os.pipe()
    os.close(r)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    try:
        return subprocess.run(
            [sys.executable, "-m", "roofline", *argv],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
        )
    finally:
        os.close(w)


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_profile_into_closed_pipe_is_quiet_and_writes_files(spec, tmp_path, buffered):
    j, c = tmp_path / "p.json", tmp_path / "p.csv"
    argv = ["profile", str(spec), "--gpu", "3090", "--json", str(j), "--csv", str(c)]
    done = run_into_closed_pipe(argv, buffered=buffered)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    # the files were written before the table was printed
    assert '"roofline"' in j.read_text()
    assert c.read_text().startswith("name,type,depth")


def test_vram_into_closed_pipe_is_quiet():
    done = run_into_closed_pipe(["vram", "--params", "100M"], buffered=False)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert done.stderr == ""


def test_vram_writes_its_json_before_printing(spec, tmp_path):
    j = tmp_path / "v.json"
    argv = ["vram", str(spec), "--gpu", "3090", "--json", str(j)]
    done = run_into_closed_pipe(argv, buffered=False)
    assert done.returncode == EXIT_BROKEN_PIPE, done.stderr
    assert "Traceback" not in done.stderr
    data = json.loads(j.read_text())
    assert data["devices"][0]["key"] == "rtx-3090" and data["total"] > 0


class ClosedPipe:
    """A stdout whose reader went away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_compare_writes_files_before_printing(spec, tmp_path, monkeypatch, capsys):
    other = tmp_path / "tiny4.yaml"
    other.write_text(TINY_SPEC.replace("[2, 3, 8, 8]", "[4, 3, 8, 8]"))
    h, j = tmp_path / "c.html", tmp_path / "c.json"
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    argv = ["compare", str(spec), str(other), "--gpu", "3090", "--html", str(h), "--json", str(j)]
    assert main(argv) == EXIT_BROKEN_PIPE
    assert h.exists() and j.exists()
    assert "Traceback" not in capsys.readouterr().err
