"""benchmarks/gpu_session.sh must fit one call of the device tool (600 s at most).

A lent GPU comes with a few minutes of device time; the script runs every GPU check
under its own limit. This reads the limits from the script (it runs nothing)."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_session.sh"


def test_step_limits_fit_one_device_call():
    steps = re.findall(r"^step (\w+) (\d+) ", SCRIPT.read_text(), flags=re.M)
    names = [n for n, _ in steps]
    assert names == ["tests", "calibrate", "latency", "vram", "layers"]
    # the device call runs with timeout_s 590 (600 at most): the steps' limits plus
    # nvidia-smi, torch's import and the listing at the end must stay under it
    assert sum(int(s) for _, s in steps) <= 580
    # every step the default STEPS list runs is defined, and the other way round
    default = re.search(r'STEPS=\$\{STEPS:-"([^"]+)"\}', SCRIPT.read_text())
    assert default and default.group(1).split() == names
