"""benchmarks/gpu_session.sh must fit one call of the device tool (600 s at most).

A lent GPU comes with a few minutes of device time; the script runs every GPU check
under its own limit. This reads the limits from the script (it runs nothing)."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_session.sh"


def test_step_limits_fit_one_device_call():
    steps = dict(re.findall(r"^step (\w+) (\d+) ", SCRIPT.read_text(), flags=re.M))
    default = re.search(r'STEPS=\$\{STEPS:-"([^"]+)"\}', SCRIPT.read_text())
    assert default
    names = default.group(1).split()
    assert names == ["tests", "calibrate", "latency", "vram", "layers"]
    # the device call runs with timeout_s 590 (600 at most): the default steps' limits
    # plus nvidia-smi, torch's import and the listing at the end must stay under it
    assert set(names) <= set(steps)
    assert sum(int(steps[n]) for n in names) <= 580
    # the steps outside the default list are second calls: each fits one alone
    assert set(steps) - set(names) == {"latency_bf16"}
    assert all(int(steps[n]) <= 580 for n in set(steps) - set(names))


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
        'case "$*" in *calibrate*) echo "calibrate says hi"; exit 3 ;; esac\n'
        'case "$*" in *vram*) echo "vram done" ;; esac\n',
    )
    r = subprocess.run(
        ["bash", str(SCRIPT)],
        env=_env(tmp_path, exe, "calibrate vram"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    log = (tmp_path / "out" / "session.log").read_text()
    assert log.index("== calibrate") < log.index("calibrate says hi") < log.index("rc=3 after")
    assert log.index("rc=3 after") < log.index("== vram") < log.index("vram done")
    assert "calibrate says hi" in r.stdout  # each step's end is shown too


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
