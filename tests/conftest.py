"""Shared fixtures: the real annotation files and clips of ``tests/data``."""

from __future__ import annotations

from pathlib import Path

import pytest

from real_data import real_data_root


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real data files (``tests/data``, decompressed); a missing one fails loudly."""
    return real_data_root()
