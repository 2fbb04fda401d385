"""Where the real annotation files and clips live: ``../shared/data`` beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_file(relative: str) -> Path:
    """The path of a real data file; fails the test loudly (never skips) when it is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.fail(f"real data file missing: {path} (the tests need the folder {SHARED_DATA})")
    return path
