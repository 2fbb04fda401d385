"""A truncated or foreign checkpoint is one line naming the file and what to do, on every path.

Each command gets a truncated copy of a real checkpoint made here: the backbone weights shipped
with ``videomae_tiny_patch16`` (``.pth``), the same tensors as ``.safetensors`` and as a Hugging
Face folder's ``pytorch_model.bin``, and a training checkpoint written by ``save_checkpoint``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tadapt.backbones import bundled_weights
from tadapt.cli.main import main
from tadapt.data.synthetic import SyntheticConfig, generate_synthetic_dataset
from tadapt.engine import save_checkpoint

TINY = "videomae_tiny_patch16"
TRUNCATED = "is truncated or corrupt"
REFETCH = "download or copy it again"
RERUN = "start the run again"


def _truncate(source: Path, target: Path) -> Path:
    """Half of ``source``'s bytes in ``target``, as an interrupted copy leaves them."""
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: len(data) // 2])
    return target


def _error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    """The one error line ``command`` printed; no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith(f"tadapt {command}: error: ")]
    return line


@pytest.fixture(scope="module")
def shipped() -> dict[str, torch.Tensor]:
    """The tensors of the weights shipped with the tiny ViT (a real 2.4 MB checkpoint)."""
    path = bundled_weights(TINY)
    assert path is not None
    return torch.load(path, weights_only=True)["model"]


@pytest.fixture
def run_checkpoint(tmp_path: Path) -> Path:
    """A training checkpoint as the trainer writes it (its layout, not a trained model)."""
    path = tmp_path / "good" / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.randn(64, 64)}, "state": {"epoch": 1}})
    return path


def _extract_argv(tmp_path: Path) -> list[str]:
    annotations = tmp_path / "ann.json"
    video = {"subset": "test", "duration": 1.0, "fps": 15.0, "annotations": []}
    annotations.write_text(json.dumps({"version": "x", "database": {"clip": video}}))
    argv = ["extract", str(tmp_path / "feats"), "--annotations", str(annotations)]
    return [*argv, "--videos", str(tmp_path), "--backbone", TINY, "--no-progress"]


@pytest.mark.parametrize("layout", ["pth", "safetensors", "huggingface-bin"])
def test_extract_checkpoint(tmp_path, capsys, shipped, layout):
    if layout == "pth":
        source = bundled_weights(TINY)
        assert source is not None
        given = _truncate(source, tmp_path / "weights.pth")
        named = given
    elif layout == "safetensors":
        save_file({k: v.contiguous() for k, v in shipped.items()}, tmp_path / "full.safetensors")
        given = _truncate(tmp_path / "full.safetensors", tmp_path / "weights.safetensors")
        named = given
    else:  # a Hugging Face folder whose pytorch_model.bin was cut short
        torch.save(shipped, tmp_path / "full.bin")
        given = tmp_path / "hf"
        named = _truncate(tmp_path / "full.bin", given / "pytorch_model.bin")
    assert main([*_extract_argv(tmp_path), "--checkpoint", str(given)]) == 2
    line = _error(capsys, "extract")
    assert f"{named}: the file {TRUNCATED}" in line
    assert REFETCH in line
    assert not (tmp_path / "feats").exists()  # nothing written


def test_extract_refuses_a_file_that_is_no_checkpoint(tmp_path, capsys):
    notes = tmp_path / "weights.pth"
    notes.write_text("these are not weights\n")
    assert main([*_extract_argv(tmp_path), "--checkpoint", str(notes)]) == 2
    line = _error(capsys, "extract")
    assert f"{notes}: not a checkpoint file; tadapt reads torch.save files" in line
    assert ".safetensors files and Hugging Face model folders" in line


def test_backbone_checkpoint_in_a_config(tmp_path, capsys):
    source = bundled_weights(TINY)
    assert source is not None
    damaged = _truncate(source, tmp_path / "weights.pth")
    argv = [
        "train",
        "tiny_synthetic_videos",
        "model.backbone.pretrained=true",
        f"model.backbone.checkpoint={damaged}",
        "data.synthetic_videos.num_videos=4",
        "data.synthetic_videos.num_classes=2",
        "data.synthetic_videos.duration_sec=4.0",
        "data.synthetic_videos.actions_per_video=[1,1]",
        "data.synthetic_videos.size=32",
        "data.image_size=32",
        f"data.synthetic_videos.cache_dir={tmp_path / 'videos'}",
        "train.progress=false",
    ]
    assert main([*argv, "--out-dir", str(tmp_path / "run")]) == 2
    line = _error(capsys, "train")
    assert f"{damaged}: the file {TRUNCATED}" in line
    assert REFETCH in line


def test_test_checkpoint(tmp_path, capsys, run_checkpoint):
    damaged = _truncate(run_checkpoint, tmp_path / "copied" / "best.pt")
    argv = ["test", "tiny_synthetic_features", "--checkpoint", str(damaged)]
    assert main([*argv, "--out-dir", str(tmp_path / "test")]) == 2
    line = _error(capsys, "test")
    assert f"{damaged}: the file {TRUNCATED} (" in line
    assert "copy it again" in line


def test_train_resume(tmp_path, capsys, run_checkpoint):
    run = tmp_path / "run"
    damaged = _truncate(run_checkpoint, run / "checkpoints" / "last.pt")
    argv = ["train", "tiny_synthetic_features", "train.progress=false"]
    argv += [f"data.synthetic.cache_dir={tmp_path / 'features'}"]
    assert main([*argv, "--out-dir", str(run), "--resume", str(run)]) == 2
    line = _error(capsys, "train")
    assert f"{damaged}: the file {TRUNCATED}" in line
    assert RERUN in line


def test_train_resume_of_an_empty_file(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    argv = ["train", "tiny_synthetic_features", "train.progress=false"]
    argv += [f"data.synthetic.cache_dir={tmp_path / 'features'}"]
    assert main([*argv, "--out-dir", str(run), "--resume", str(run)]) == 2
    assert "last.pt: the file is empty (0 bytes); copy it again" in _error(capsys, "train")


def test_pretrain_resume(tmp_path, capsys, run_checkpoint):
    data = tmp_path / "synth"
    config = SyntheticConfig(
        num_videos=2, num_classes=1, duration_sec=2.0, size=32, actions_per_video=(1, 1),
        action_duration_sec=(1.0, 1.0), test_fraction=0.0, seed=2,
    )  # fmt: skip
    generate_synthetic_dataset(data, config, workers=1, progress=False)
    out = tmp_path / "pretrain"
    damaged = _truncate(run_checkpoint, out / "last.pt")
    argv = ["pretrain", str(data), "--out", str(out), "--num-frames", "4", "--size", "32"]
    assert main([*argv, "--batch-size", "2", "--no-progress"]) == 2
    line = _error(capsys, "pretrain")
    assert f"{damaged}: the file {TRUNCATED}" in line
    assert RERUN in line
