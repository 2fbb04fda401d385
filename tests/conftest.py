"""Shared fixtures: the real annotation files and clips of ``tests/data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from real_data import real_data_root


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real data files (``tests/data``, decompressed); a missing one fails loudly."""
    return real_data_root()


# Fuzz tests (tests/fuzz) draw the same examples on every run: "ci" is derandomized and writes
# no example database. TADAPT_HYPOTHESIS_PROFILE=thorough searches longer, at random.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("TADAPT_HYPOTHESIS_PROFILE", "ci"))
