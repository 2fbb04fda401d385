"""Small synthetic videos shared by the pretraining tests (rendered once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tadapt.data.synthetic import SyntheticConfig, generate_synthetic_dataset

TINY_VIDEOS = SyntheticConfig(
    num_videos=6,
    num_classes=2,
    duration_sec=4.0,
    fps=15.0,
    size=32,
    actions_per_video=(1, 2),
    action_duration_sec=(1.0, 1.5),
    distractors_per_video=(1, 1),
    test_fraction=0.34,
    seed=3,
)


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``tadapt synth`` folder: 6 videos of 4 s at 32 px (4 train, 2 test), 2 classes."""
    out = tmp_path_factory.mktemp("pretrain_videos")
    generate_synthetic_dataset(out, TINY_VIDEOS, workers=1, progress=False)
    return out
