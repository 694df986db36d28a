"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fixtures.models import TINY_SPEC

# Property tests draw the same examples on every run (derandomized), so `make test`
# gives one verdict per tree: a rare example cannot turn CI red one run in a hundred.
# `HYPOTHESIS_PROFILE=explore make test` draws fresh examples to hunt for new failures;
# each one found gets a hand-derived regression test beside its property.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A spec file for TinyCNN at 2x3x8x8."""
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_SPEC)
    return p
