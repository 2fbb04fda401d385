"""Shipped backbone weights from the command line: configs, ``tadapt extract``, ``tadapt list``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from shipped_weights import ARCH, NAME, SOURCE, TAG, ship_weights
from tadapt.cli.experiment import backbone_of, build_model
from tadapt.cli.main import main
from tadapt.config import ConfigError, load_config, resolve
from tadapt.data.synthetic import write_video

SIZE = 64


def _config(tmp_path: Path, *overrides: str):
    """``tiny_synthetic_videos`` with a pretrained backbone and no checkpoint, resolved."""
    argv = [f"model.backbone.name={NAME}", "model.backbone.pretrained=true", *overrides]
    return resolve(load_config("tiny_synthetic_videos", argv), num_classes=4, run_dir=tmp_path)


def test_pretrained_config_without_checkpoint_loads_the_shipped_weights(monkeypatch, tmp_path):
    shipped = ship_weights(monkeypatch, tmp_path, seed=5)
    config = _config(tmp_path)
    assert config.model.backbone is not None
    assert config.model.backbone.checkpoint is None  # the written config.yaml names no path
    backbone = backbone_of(build_model(config))
    assert backbone is not None
    state = backbone.state_dict()
    for key, value in shipped.encoder.state_dict().items():
        assert torch.equal(state[key], value), key
    assert any(".adapter." in key for key in state)  # tia went on top of the shipped weights


def test_pretrained_config_errors_name_the_key(monkeypatch, tmp_path):
    shipped = ship_weights(monkeypatch, tmp_path, recorded_sha256="1" * 64)
    with pytest.raises(ConfigError, match=rf"^model\.backbone\.name: {NAME}: the bundled") as err:
        _config(tmp_path)
    assert shipped.sha256 in str(err.value)
    with pytest.raises(ConfigError, match=r"model\.backbone\.name: .*no weight tag 'k600'"):
        _config(tmp_path, f"model.backbone.name={ARCH}.k600")
    with pytest.raises(ConfigError, match=r"^model\.backbone\.checkpoint: set it.*'bundled'"):
        _config(tmp_path, "model.backbone.name=videomaev2_tiny_patch14")
    # random init with no checkpoint needs no shipped file at all
    random_init = _config(tmp_path, "model.backbone.pretrained=false")
    assert random_init.model.backbone is not None


def _extract_argv(tmp_path: Path, out: str) -> list[str]:
    videos = tmp_path / "videos"
    if not videos.exists():
        videos.mkdir()
        rng = np.random.default_rng(0)
        clip = rng.integers(0, 255, (24, SIZE, SIZE, 3), dtype=np.uint8)
        write_video(videos / "clip.mp4", list(clip), fps=15)
        video = {"subset": "test", "duration": 1.6, "fps": 15.0, "annotations": []}
        annotations = {"version": "x", "database": {"clip": video}}
        (tmp_path / "ann.json").write_text(json.dumps(annotations))
    argv = ["extract", str(tmp_path / out), "--annotations", str(tmp_path / "ann.json")]
    return [*argv, "--videos", str(videos), "--size", str(SIZE), "--no-progress"]


def test_extract_without_checkpoint_uses_the_shipped_weights(monkeypatch, tmp_path, capsys):
    shipped = ship_weights(monkeypatch, tmp_path, seed=6)
    assert main([*_extract_argv(tmp_path, "shipped"), "--backbone", NAME]) == 0
    printed = capsys.readouterr().out
    assert f"{NAME}: bundled {NAME}" in printed
    assert f"{shipped.path}: VideoMAE pretraining" in printed
    given = ["--backbone", NAME, "--checkpoint", str(shipped.path)]
    assert main([*_extract_argv(tmp_path, "given"), *given]) == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "shipped" / "clip.npy"), np.load(tmp_path / "given" / "clip.npy")
    )
    # a backbone without tags: refused, unless a random init is asked for (patch 14: 56 px)
    random_init = ["--backbone", "videomaev2_tiny_patch14", "--size", "56"]
    assert main([*_extract_argv(tmp_path, "random"), *random_init]) == 2
    assert "ships no weights with tadapt" in capsys.readouterr().err
    assert main([*_extract_argv(tmp_path, "random"), *random_init, "--random-init"]) == 0
    assert "videomaev2_tiny_patch14: random init (seed 0)" in capsys.readouterr().out


def test_list_backbones_marks_shipped_tags(monkeypatch, tmp_path, capsys):
    ship_weights(monkeypatch, tmp_path)
    assert main(["list", "backbones"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (row,) = [line for line in lines if line.startswith(ARCH)]
    assert row.endswith(f"{TAG} (bundled, {SOURCE})")
    base = next(line for line in lines if line.startswith("videomae_base_patch16"))
    assert "bundled" not in base
