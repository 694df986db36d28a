"""Parsing and formatting of quantities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roofline.errors import RooflineError
from roofline.units import binary_bytes, gib, human_bytes, parse_count, plain_number, si


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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # an East Asian input method's full-width forms read as the plain ones (NFKC, as
        # device names are): 100M = 100 x 10^6
        ("１００Ｍ", 100_000_000),
        ("１．５ｅ９", 1_500_000_000),
        ("\u3000７Ｂ\u3000", 7_000_000_000),  # full-width spaces around 7B
    ],
)
def test_parse_count_reads_full_width_forms(text, value):
    assert parse_count(text) == value


def test_digits_of_other_scripts_are_refused_by_every_number_alike():
    # int() and float() read Arabic-Indic ٣, parse_count's [0-9] did not: one rule now
    with pytest.raises(RooflineError, match="write it with the digits 0-9"):
        parse_count("٣M")
    with pytest.raises(RooflineError, match=r"invalid depth '٣': write it with the digits 0-9"):
        plain_number("٣", "depth")
    assert plain_number(" ３ ") == "3"
    assert plain_number("\u00a0８\u3000") == "8"  # a no-break and an ideographic space
    # NFKC would fold these into other numbers (² into 2, ½ into 1⁄2, ⑧ into 8): a typo
    # or a pasted symbol is not silently a different value
    for odd in ("²", "1½", "⑧", "Ⅷ", "８²"):
        with pytest.raises(RooflineError, match="write it with the digits 0-9"):
            plain_number(odd, "batch")


@pytest.mark.parametrize("text", ["10⁶", "1²", "①", "2₈"])
def test_superscripts_and_other_compatibility_digits_are_refused_not_read_as_digits(text):
    # NFKC makes 10⁶ the text "106" and 1² "12": --params 10⁶ counted 106 parameters
    # and --batch 1² ran batch 12 without a word (before plain_number both were refused,
    # as they are now). Only the width forms (full-width ３, ｍ, the ideographic space)
    # read as plain ASCII
    with pytest.raises(RooflineError, match="write it with the digits 0-9"):
        plain_number(text)
    with pytest.raises(RooflineError, match="write it with the digits 0-9"):
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
    assert binary_bytes(float("nan")) == "-"  # raised ValueError from round(nan)


# -- invariants ---------------------------------------------------------------------

SCALES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


@settings(max_examples=100, deadline=None)
@given(whole=st.integers(0, 999), frac=st.integers(0, 999), suffix=st.sampled_from(sorted(SCALES)))
def test_parse_count_of_a_mantissa_and_suffix(whole, frac, suffix):
    text = f"{whole}.{frac:03d}{suffix}"
    exact = (whole * 1000 + frac) * SCALES[suffix]  # thousandths of the unit
    if exact < 500:  # rounds to a count of 0
        with pytest.raises(RooflineError):
            parse_count(text)
        return
    # float parsing may land a hair off the decimal; the count is the nearest integer
    assert abs(parse_count(text) * 1000 - exact) <= 500 + exact * 1e-15


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10**15 - 1))
def test_si_text_parses_back_within_its_rounding(n):
    text = si(n)  # "4.10 G": two decimals of the prefix's unit
    if not text[-1].isalpha():
        assert parse_count(text) == n
        return
    scale = SCALES[text[-1]]
    assert abs(parse_count(text) - n) <= 0.005 * scale + 1


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10**15))
def test_short_parameter_count_parses_back(n):
    from roofline.memory.estimate import _short_count, parse_params

    text = _short_count(n)
    assert "e" not in text, text  # never scientific notation: 1M, not 1e+03K
    assert float(text.rstrip("KMBT")) < 1000 or text.endswith("T")
    assert abs(parse_params(text) - n) <= 0.005 * n  # three significant digits


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_formatting_never_fails(x):
    from roofline.units import seconds

    for fmt in (si, human_bytes, binary_bytes, gib, seconds):
        assert isinstance(fmt(x), str)
    if math.isnan(x):  # binary_bytes raised ValueError (round(nan)): now "-" as si's
        assert si(x) == binary_bytes(x) == "-"
