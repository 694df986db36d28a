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
