"""Parsing and formatting of quantities."""

from __future__ import annotations

import pytest

from roofline.errors import RooflineError
from roofline.units import binary_bytes, gib, human_bytes, parse_count, si


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100M", 100_000_000),
        ("7B", 7_000_000_000),
        ("1.5e9", 1_500_000_000),
        ("350k", 350_000),
        ("42", 42),
        (12, 12),
        ("2.5G", 2_500_000_000),
    ],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["100X", "-5M", "0", "", "M", "1e999", True])
def test_parse_count_rejects(text):
    with pytest.raises(RooflineError):
        parse_count(text)


@pytest.mark.parametrize("text", ["0.4", 0.4, "0.0001k"])
def test_parse_count_rejects_what_rounds_to_zero(text):
    # round(0.4) = 0: the command went on with 0 and failed later, naming 0, not '0.4'
    with pytest.raises(RooflineError, match="a count is at least 1"):
        parse_count(text)


def test_formatting():
    assert si(4_089_184_256, "MACs") == "4.09 GMACs"
    assert si(0) == "0"
    assert human_bytes(316_260_000) == "316.26 MB"
    assert gib(24 * 2**30) == "24.00 GiB"


def test_binary_bytes_picks_the_unit():
    assert binary_bytes(24 * 2**30) == "24.00 GiB"
    assert binary_bytes(1_400_000) == "1.34 MiB"  # 1,400,000 / 1,048,576 = 1.335
    assert binary_bytes(49_152) == "48.00 KiB"  # 3 x 64 x 64 x 4 B
    assert binary_bytes(300) == "300 B"
    assert binary_bytes(0) == "0 B"
    assert binary_bytes(-1_400_000) == "-1.34 MiB"
    assert binary_bytes(2**30 - 1) == "1024.00 MiB"  # below 1 GiB stays MiB
