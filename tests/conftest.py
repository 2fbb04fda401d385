"""Shared fixtures: the location of the real data in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_data import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real annotation files and clips; a missing folder fails the test loudly."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA}: the tests need ../shared/data")
    return SHARED_DATA
