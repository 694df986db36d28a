"""Helpers the benchmark scripts share: table cells and the machine line that heads
every recorded result."""

from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path
from types import ModuleType

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from roofline.devices.host_cpu import cpu_description  # noqa: E402


def fmt(x: float | None, spec: str) -> str:
    """``x`` formatted with ``spec``, or an em dash for a missing value."""
    return "—" if x is None else format(x, spec)


def md_cell(text: object) -> str:
    """``text`` safe in a markdown table cell: one line, its pipes escaped (an error
    message with a ``|`` or a newline would otherwise split or end the row)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def machine_line(*libraries: ModuleType) -> str:
    """The CPU (model, cores, threads per core), torch's thread count, the Python,
    torch and ``libraries`` versions, and today's date, in one line."""
    versions = ", ".join(f"{lib.__name__} {lib.__version__}" for lib in (torch, *libraries))
    return (
        f"{cpu_description().summary()}, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, {versions}, {datetime.date.today().isoformat()}"
    )
