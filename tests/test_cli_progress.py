"""Progress lines: one line each when piped; counters in place on a terminal."""

from __future__ import annotations

import io

import pytest

from roofline.cli import _progress
from roofline.cli._progress import ClearsProgress, Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_pending():
    _progress._pending.clear()
    yield
    _progress._pending.clear()


def test_piped_every_message_is_a_line():
    out = io.StringIO()
    say = Progress("bench: ", stream=out)
    for m in ("warm-up 1/2", "warm-up 2/2", "run 1/2", "note: x"):
        say(m)
    assert out.getvalue() == (
        "bench: warm-up 1/2\nbench: warm-up 2/2\nbench: run 1/2\nbench: note: x\n"
    )


def test_on_a_terminal_counters_replace_each_other_and_the_last_stays():
    tty = Tty()
    say = Progress("bench: ", stream=tty)
    say("run 1/3")
    say("run 2/3")
    assert tty.getvalue() == "\r\x1b[Kbench: run 1/3\r\x1b[Kbench: run 2/3"
    say("run 3/3")  # finished: the line stays
    say("per-layer timing")  # not a counter: a line of its own
    assert tty.getvalue().endswith("\r\x1b[Kbench: run 3/3\nbench: per-layer timing\n")
    assert not _progress._pending


def test_results_never_start_on_a_counters_line():
    tty, out = Tty(), io.StringIO()
    say = Progress(stream=tty)
    say("tracing batch 64 ...")  # a search step: transient, never "done"
    assert _progress._pending
    ClearsProgress(out).write("table\n")
    assert tty.getvalue().endswith("\r\x1b[K") and out.getvalue() == "table\n"
    assert not _progress._pending
    say("tracing batch 128 ...")
    say("fits")  # a plain message clears the counter first
    assert tty.getvalue().endswith("batch 128 ...\r\x1b[Kfits\n")


def test_long_counters_are_cut_to_the_terminal(monkeypatch):
    import os
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *_: os.terminal_size((30, 24)))
    tty = Tty()
    Progress(stream=tty)("x" * 100 + " 1/2")
    assert tty.getvalue() == "\r\x1b[K" + "x" * 29
