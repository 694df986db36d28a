"""benchmarks/bench_common.py: the cells and machine line the scripts share."""

from __future__ import annotations

import datetime
import platform

import pytest
import torch

from tests.fixtures.scripts import load_benchmark


def test_fmt_marks_a_missing_value():
    bc = load_benchmark("bench_common")
    assert bc.fmt(None, ".2f") == "—"
    assert bc.fmt(0.12345, ".3f") == "0.123" and bc.fmt(1234567, ",") == "1,234,567"


def test_md_cell_keeps_text_in_one_table_cell():
    bc = load_benchmark("bench_common")
    assert bc.md_cell("RuntimeError: a|b\n  at line 2") == "RuntimeError: a\\|b at line 2"
    assert bc.md_cell(None) == "None"


def test_the_machine_line_names_versions_and_date():
    bc = load_benchmark("bench_common")
    line = bc.machine_line(pytest)
    assert f"{torch.get_num_threads()} torch threads" in line
    assert f"Python {platform.python_version()}" in line
    assert f"torch {torch.__version__}, pytest {pytest.__version__}" in line
    assert line.endswith(datetime.date.today().isoformat())


@pytest.mark.parametrize(
    ("script", "library"), [("zoo_counts", "torchvision"), ("timm_zoo", "timm")]
)
def test_the_zoo_scripts_head_their_results_with_it(script, library):
    pytest.importorskip(library)
    mod = load_benchmark(script)
    assert f", {library} " in mod.machine()


def test_the_speed_benchmark_heads_its_results_with_it():
    pytest.importorskip("torchvision")
    line = load_benchmark("profiling_speed").machine()
    assert f"torch {torch.__version__}" in line
