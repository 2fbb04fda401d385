"""The trained runs shared by the command-line tests that need a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from small_videos import SMALL_VIDEOS
from tadapt.cli.main import main

# the tiny features preset at its smallest: 4 training videos, 1 step, 2 evaluated videos
TINY_RUN = [
    "tiny_synthetic_features",
    "train.epochs=1",
    "optim.warmup_epochs=0",
    "train.progress=false",
    "data.synthetic.num_train_videos=4",
    "data.synthetic.num_eval_videos=2",
]


@pytest.fixture(scope="session")
def video_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch end-to-end run (TIA adapters) on 8 synthetic videos, 2 of them evaluated."""
    run_dir = tmp_path_factory.mktemp("detect") / "run"
    assert main(["train", *SMALL_VIDEOS, "--out-dir", str(run_dir)]) == 0
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a one-step run, trained with a *relative* ``--out-dir`` (as users do).

    It was trained from its parent folder: the paths its ``config.yaml`` names must not
    depend on that. Tests copy it before writing into it.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(home)
        assert main(["train", *TINY_RUN, "--out-dir", "runs/tiny"]) == 0
    return home / "runs" / "tiny"
