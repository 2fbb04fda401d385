"""A run's config names absolute paths; missing paths name their key; own data skips synthesis."""

from __future__ import annotations

import json
import logging
import os

import pytest
import yaml

from tadapt.cli.main import main
from tadapt.cli.train import train_experiment
from tadapt.config import PATH_KEYS, ConfigError, load_config, resolve
from tadapt.engine import load_checkpoint

# the annotation file of a two-video dataset (OpenTAD layout: train -> training, test ->
# validation)
_ANNOTATIONS = {
    "database": {
        "a": {"subset": "training", "duration": 4.0, "fps": 15.0, "annotations": []},
        "b": {"subset": "validation", "duration": 4.0, "fps": 15.0, "annotations": []},
    }
}


def _path_values(tree: dict[str, object]) -> dict[str, object]:
    """The PATH_KEYS values of a config as nested dicts (a section may be null)."""
    values = {}
    for key in PATH_KEYS:
        node: object = tree
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values[key] = node
    return values


def test_a_runs_config_names_absolute_paths_and_tests_from_another_folder(
    tiny_run, tmp_path, monkeypatch, capsys
):
    # tiny_run was trained with --out-dir runs/tiny from its parent folder
    saved = yaml.safe_load((tiny_run / "config.yaml").read_text())
    paths = {k: v for k, v in _path_values(saved).items() if v is not None}
    assert set(paths) == {"data.annotation_file", "data.feature_dir", "data.synthetic.cache_dir"}
    assert all(os.path.isabs(str(v)) for v in paths.values()), paths
    checkpoint = load_checkpoint(tiny_run / "checkpoints" / "last.pt")
    assert _path_values(checkpoint["config"]) == _path_values(saved)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = os.path.relpath(tiny_run, elsewhere)  # as a user types it
    argv = ["test", f"{relative}/config.yaml", "--checkpoint", f"{relative}/checkpoints/last.pt"]
    assert main([*argv, "--out-dir", str(tmp_path / "test"), "train.progress=false"]) == 0
    assert "Average mAP" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []  # nothing generated or written here


def test_a_missing_file_or_folder_names_its_key_and_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "anno.json").write_text(json.dumps(_ANNOTATIONS))
    (tmp_path / "videos").mkdir()
    cases = [
        (
            ["thumos14_actionformer_i3d", "data.annotation_file=missing.json"],
            f"data.annotation_file: {tmp_path / 'missing.json'} does not exist",
        ),
        (
            ["thumos14_actionformer_i3d", "data.annotation_file=anno.json"],
            f"data.feature_dir: {tmp_path / 'feats'} does not exist",
        ),
        (
            ["thumos14_actionformer_i3d", "data.annotation_file=videos"],
            f"data.annotation_file: {tmp_path / 'videos'} is not a file",
        ),
        (
            [
                "tiny_synthetic_videos",
                "data.annotation_file=anno.json",
                "data.video_dir=videos",
                "model.backbone.checkpoint=~/no_such_weights.pth",
            ],
            "model.backbone.checkpoint: "
            f"{os.path.expanduser('~/no_such_weights.pth')} does not exist; give the path of "
            "the pretrained weights (.pth / .safetensors file or Hugging Face folder; "
            "docs/backbones.md says where to download them)",
        ),
    ]
    for argv, message in cases:
        features = [] if "tiny_synthetic_videos" in argv else ["data.feature_dir=feats"]
        assert main(["train", *argv, *features, "--out-dir", "run"]) == 2
        assert capsys.readouterr().err == f"tadapt train: error: {message}\n"
    with pytest.raises(ConfigError, match=r"^data\.feature_dir: .*feats does not exist$"):
        train_experiment(
            "thumos14_actionformer_i3d",
            ["data.annotation_file=anno.json", "data.feature_dir=feats"],
            out_dir=tmp_path / "run",
        )


def test_own_data_on_a_synthetic_preset_generates_nothing(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    cases = [
        ("tiny_synthetic_videos", "data.video_dir=videos", "synthetic_videos"),
        ("tiny_synthetic_features", "data.feature_dir=feats", "synthetic_features"),
    ]
    for preset, folder, generated in cases:
        argv = ["train", preset, "--out-dir", "run", "data.annotation_file=mine.json", folder]
        with caplog.at_level(logging.INFO, logger="tadapt.config.resolving"):
            assert main(argv) == 2
        block = "synthetic_videos" if "videos" in preset else "synthetic"
        assert (
            f"data.{block} ignored, nothing generated: the config names its own data "
            f"(data.annotation_file=mine.json, {folder})"
        ) in caplog.text
        assert "data.annotation_file: " in capsys.readouterr().err  # mine.json is missing
        assert not (tmp_path / "run" / generated).exists()
        caplog.clear()
    # one key alone: nothing generated either, and the error names the missing key
    argv = ["train", "tiny_synthetic_videos", "--out-dir", "run", "data.video_dir=videos"]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("tadapt train: error: data.annotation_file must")
    assert not (tmp_path / "run").exists()
    # the Python API: the block is gone from the resolved config
    config = resolve(
        load_config("tiny_synthetic_videos", ["data.annotation_file=a.json", "data.video_dir=v"]),
        run_dir=tmp_path,
    )
    assert config.data.synthetic_videos is None
    assert config.data.video_dir == str(tmp_path / "v")


def test_a_runs_saved_config_keeps_its_synthetic_block(tiny_run, tmp_path, caplog):
    # it names the block's own files: resolving it again keeps (and would regenerate) them
    saved = load_config(tiny_run / "config.yaml")
    with caplog.at_level(logging.INFO, logger="tadapt.config.resolving"):
        config = resolve(saved, run_dir=tmp_path / "another_run")
    assert "ignored" not in caplog.text
    assert config.data.synthetic == saved.data.synthetic is not None
    assert config.data == saved.data
