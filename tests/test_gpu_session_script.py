"""benchmarks/gpu_session.sh must fit one call of the device tool (600 s at most).

A lent GPU comes with a few minutes of device time; the script runs every GPU check
under its own limit. This reads the limits from the script (it runs nothing)."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_session.sh"


def test_step_limits_fit_one_device_call():
    text = SCRIPT.read_text()
    steps = dict(re.findall(r"^step (\w+) (\d+) ", text, flags=re.M))
    default = re.search(r'STEPS=\$\{STEPS:-"([^"]+)"\}', text)
    budget = re.search(r"BUDGET_S=\$\{BUDGET_S:-(\d+)\}", text)
    kept = re.search(r"^SUMMARY_S=(\d+)$", text, flags=re.M)
    assert default and budget and kept
    names = default.group(1).split()
    # the issues' measurements first (VRAM, whose cases are the most predictable, then
    # latency), the tests, the ceilings, the per-layer method last
    assert names == ["vram", "latency", "tests", "calibrate", "layers"]
    # the device call runs with timeout_s 590 (600 at most): the script's own budget
    # stops every step before it, the summary included, with 30 s for the machine's
    # listing and the transfers
    assert int(budget.group(1)) <= 560
    assert set(names) <= set(steps)
    # the default steps fit the budget less the summary's share and one step's kill
    # grace (5 s): none is cut short by the watchdog when each keeps to its own limit
    assert sum(int(steps[n]) for n in names) <= int(budget.group(1)) - int(kept.group(1)) - 5
    # the steps outside the default list are second calls: each fits one alone
    assert set(steps) - set(names) == {"latency_bf16"}
    assert all(int(steps[n]) <= int(budget.group(1)) for n in set(steps) - set(names))


def _fake_python(tmp_path: Path, body: str) -> Path:
    """An executable standing in for python3: the script's steps call it."""
    exe = tmp_path / "fake-python"
    exe.write_text("#!/usr/bin/env bash\n" + body)
    exe.chmod(0o755)
    return exe


def _env(tmp_path: Path, exe: Path, steps: str) -> dict[str, str]:
    import os

    return {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": str(exe), "STEPS": steps}


def test_a_failing_step_is_logged_and_the_next_runs(tmp_path):
    import subprocess

    # every step's output, its exit status and time, in order; a failure stops nothing
    exe = _fake_python(
        tmp_path,
        'case "$*" in *vram_accuracy*) echo "vram says hi"; exit 3 ;; esac\n'
        'case "$*" in *latency_accuracy*) echo "latency done" ;; esac\n',
    )
    r = subprocess.run(
        ["bash", str(SCRIPT)],
        env=_env(tmp_path, exe, "vram latency"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    log = (tmp_path / "out" / "session.log").read_text()
    assert log.index("== vram") < log.index("vram says hi") < log.index("rc=3 after")
    assert log.index("rc=3 after") < log.index("== latency") < log.index("latency done")
    assert "vram says hi" in r.stdout  # each step's end is shown too


def test_a_session_stopped_inside_a_step_keeps_that_steps_output(tmp_path):
    # the device call has its own limit: stopped inside the last step, the log must
    # still hold what that step printed (it used to sit in a temporary file until the
    # step ended)
    import os
    import signal
    import subprocess
    import time

    exe = _fake_python(
        tmp_path, 'case "$*" in *per_layer*) echo "| resnet18 b1 | 1.00 |"; sleep 5 ;; esac\n'
    )
    p = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=_env(tmp_path, exe, "layers"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "out" / "session.log"
    try:
        for _ in range(200):  # until the step has printed (10 s at most)
            if log.exists() and "resnet18" in log.read_text():
                break
            time.sleep(0.05)
    finally:
        # the script's group (timeout runs the step in a group of its own, whose fake
        # step ends by itself within seconds)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert "| resnet18 b1 | 1.00 |" in log.read_text()


def test_the_budget_cuts_a_step_and_skips_the_next(tmp_path):
    import subprocess

    # BUDGET_S 32: the first step may run 32 - 15 (the summary's share) - 5 (its kill
    # grace) - the seconds already gone (0 or 1) = 11 or 12 s, not its own 160; after it
    # slept 3 s, 32 - 15 - 5 - 3 (or 4) = 9 (or 8) s are left, under the 10 s a step needs
    calls = tmp_path / "calls"
    exe = _fake_python(
        tmp_path, f'echo "$*" >>{calls}\ncase "$*" in *vram_accuracy*) sleep 3 ;; esac\n'
    )
    r = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**_env(tmp_path, exe, "vram latency"), "BUDGET_S": "32"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    log = (tmp_path / "out" / "session.log").read_text()
    limit = re.search(r"^== vram \(at most (\d+) s", log, flags=re.M)
    assert limit and int(limit.group(1)) in (11, 12), log
    assert re.search(r"^== latency skipped: [89] s left of the 32 s budget$", log, flags=re.M), log
    # the summary still runs, last, on the results folder
    last = calls.read_text().splitlines()[-1]
    assert last == f"benchmarks/gpu_summary.py {tmp_path / 'out'}"
