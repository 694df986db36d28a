"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.models import TINY_SPEC


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A spec file for TinyCNN at 2x3x8x8."""
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_SPEC)
    return p
