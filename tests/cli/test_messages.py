"""What users read: encodings, hints that name CLI flags, refused pickles, stale temp files."""

from __future__ import annotations

import datetime
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from tadapt.backbones import CheckpointError, create_backbone, load_pretrained
from tadapt.cli.main import main
from tadapt.config import ConfigError, load_config
from tadapt.data.feature_files import read_feature_array
from tadapt.detection.inference import load_video_class_scores
from tadapt.engine import load_checkpoint, save_checkpoint
from tadapt.io import AnnotationError, load_annotations

LATIN1 = "Caf\xe9".encode("latin-1")  # 0xe9: not UTF-8
# ActionFormer layout, one test video with one instance of each class
_GT = {
    "database": {
        "v1": {
            "subset": "test",
            "duration": 20.0,
            "fps": 30.0,
            "annotations": [
                {"label": "Jump", "segment": [1.0, 3.0], "label_id": 0},
                {"label": "Spin", "segment": [5.0, 9.0], "label_id": 1},
            ],
        }
    }
}
_PRED = {"results": {"v1": [{"label": "Jump", "segment": [1.0, 3.0], "score": 0.9}]}}
# OpenTAD layout without frame rates (train -> training, test -> validation)
_ONE = [{"label": "Jump", "segment": [1.0, 2.0]}]
_NO_FPS = {
    "database": {
        "a": {"subset": "training", "duration": 8.0, "annotations": _ONE},
        "b": {"subset": "validation", "duration": 8.0, "annotations": _ONE},
    }
}


def _write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _one_line_error(err: str, command: str) -> str:
    start = err.find(f"tadapt {command}: error: ")
    assert start >= 0, err
    err = err[start:]  # after any progress bar of the input checks
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    return err


# --------------------------------------------------------------------------- encodings


def test_a_non_utf8_text_file_is_named_on_every_reader(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    gt, pred = _write(tmp_path / "gt.json", _GT), _write(tmp_path / "pred.json", _PRED)
    latin_json = tmp_path / "latin.json"
    latin_json.write_bytes(b'{"database": {"' + LATIN1 + b'": {}}}')
    latin_txt = tmp_path / "latin.txt"
    latin_txt.write_bytes(b"Jump\n" + LATIN1 + b"\n")
    latin_csv = tmp_path / "latin.csv"
    latin_csv.write_bytes(b"video-id,t-start,t-end,label,score\n" + LATIN1 + b",1,2,Jump,0.5\n")
    latin_yaml = tmp_path / "latin.yaml"
    latin_yaml.write_bytes(b"name: " + LATIN1 + b"\n")
    (tmp_path / "feats").mkdir()
    bsn = tmp_path / "bsn"
    bsn.mkdir()
    _write(bsn / "anno.json", {"v_x": {"duration_second": 9.0, "annotations": []}})
    (bsn / "video_info_new.csv").write_bytes(b"video,subset\nv_" + LATIN1 + b",training\n")
    evaluate = ["evaluate", "--gt", str(gt), "--pred", str(pred)]
    cases = [
        (["evaluate", "--gt", str(latin_json), "--pred", str(pred)], latin_json),
        (["evaluate", "--gt", str(gt), "--pred", str(latin_csv)], latin_csv),
        ([*evaluate, "--category-file", str(latin_txt)], latin_txt),
        ([*evaluate, "--blocked", str(latin_txt)], latin_txt),
        (
            ["evaluate", "--gt", str(bsn / "anno.json"), "--pred", str(pred)],
            bsn / "video_info_new.csv",  # a BSN companion file names itself
        ),
        (["train", str(latin_yaml)], latin_yaml),
        (
            [
                "train",
                "thumos14_actionformer_i3d",
                "data.annotation_file=latin.json",
                "data.feature_dir=feats",
                "--out-dir",
                "run",
            ],
            latin_json,
        ),
        (["pretrain", str(latin_txt), "--out", "pre"], latin_txt),
    ]
    for argv, named in cases:
        assert main(argv) == 2, argv
        err = _one_line_error(capsys.readouterr().err, argv[0])
        assert f"{named}: not UTF-8 text (byte 0xe9 is not valid UTF-8)" in err, err
        assert "re-save the file as UTF-8" in err
    # the Python API names the file too, with each reader's own error class
    with pytest.raises(AnnotationError, match=r"latin\.json: not UTF-8 text"):
        load_annotations(latin_json)
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text"):
        load_config(latin_yaml)
    with pytest.raises(ValueError, match=r"latin\.json: not UTF-8 text"):
        load_video_class_scores(latin_json, ["Jump"])


# --------------------------------------------------------------------------- hints


def test_hints_name_the_cli_flag_and_the_python_argument(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    gt = _write(tmp_path / "gt.json", _GT)
    unknown = {"results": {"v1": [{"label": "Zumba", "segment": [1.0, 3.0], "score": 0.9}]}}
    pred = _write(tmp_path / "pred.json", unknown)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred)]) == 2
    err = _one_line_error(capsys.readouterr().err, "evaluate")
    assert "unknown label 'Zumba'" in err
    assert "tadapt evaluate --unknown-labels ignore (Python: unknown_labels='ignore')" in err

    _write(tmp_path / "no_fps.json", _NO_FPS)
    (tmp_path / "feats").mkdir()
    for video in ("a", "b"):
        torch.save(torch.zeros(16, 4), tmp_path / "feats" / f"{video}.pt")
    argv = [
        "train",
        "thumos14_actionformer_i3d",
        "data.annotation_file=no_fps.json",
        "data.feature_dir=feats",
        "data.file_ext=.pt",
        "data.feature_dim=4",
        "model.embed_dim=16",
        "--out-dir",
        "run",
    ]
    assert main(argv) == 2
    err = _one_line_error(capsys.readouterr().err, "train")
    assert "videos have no fps in the annotation file" in err
    assert "data.fps=... in the config (Python: FeatureDataset(fps=...))" in err


# --------------------------------------------------------------------------- refused pickles


def _unsafe_checkpoint(path: Path) -> Path:
    """A checkpoint with a Python object the weights-only reader refuses (``datetime.date``)."""
    weights = create_backbone("videomae_tiny_patch16").state_dict()
    torch.save({"model": weights, "version": 1, "saved": datetime.date(2026, 1, 1)}, path)
    return path


def _assert_safe(err: str, path: Path) -> None:
    assert f"{path}: holds Python objects (datetime.date) besides tensors" in err, err
    assert "will not unpickle for safety" in err
    assert "safetensors" in err
    assert "weights_only=False" not in err
    assert "\x1b[" not in err


def test_a_refused_pickle_is_one_safe_line_on_every_path(tiny_run, tmp_path, capsys):
    unsafe = _unsafe_checkpoint(tmp_path / "unsafe.pth")
    anno = _write(tmp_path / "anno.json", _NO_FPS)
    (tmp_path / "videos").mkdir()
    run = tmp_path / "run"
    cases = [
        ["test", str(tiny_run / "config.yaml"), "--checkpoint", str(unsafe)],
        ["train", str(tiny_run / "config.yaml"), "--resume", str(unsafe), "--out-dir", str(run)],
        [
            "extract",
            str(tmp_path / "features"),
            "--annotations",
            str(anno),
            "--videos",
            str(tmp_path / "videos"),
            "--backbone",
            "videomae_tiny_patch16",
            "--checkpoint",
            str(unsafe),
        ],
        [
            "train",
            "tiny_synthetic_videos",
            f"data.annotation_file={anno}",
            f"data.video_dir={tmp_path / 'videos'}",
            f"model.backbone.checkpoint={unsafe}",
            "data.check_inputs=false",  # the videos are missing: only the checkpoint's line
            "--out-dir",
            str(run),
        ],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        _assert_safe(_one_line_error(capsys.readouterr().err, argv[0]), unsafe)
    # the Python API: the same message
    with pytest.raises(CheckpointError) as info:
        load_pretrained(create_backbone("videomae_tiny_patch16"), unsafe)
    _assert_safe(str(info.value), unsafe)
    with pytest.raises(ValueError, match="will not unpickle") as info:
        load_checkpoint(unsafe)
    _assert_safe(str(info.value), unsafe)
    features = tmp_path / "v.pt"
    torch.save({"x": datetime.date(2026, 1, 1)}, features)
    with pytest.raises(ValueError, match=r"v\.pt: holds Python objects \(datetime\.date\)"):
        read_feature_array(features)


class _Payload:
    """Unpickling this runs code: it would create ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.path),))


def test_a_code_executing_payload_is_refused_and_never_runs(tiny_run, tmp_path, capsys):
    ran = tmp_path / "payload_ran"
    evil = tmp_path / "evil.pth"
    weights = create_backbone("videomae_tiny_patch16").state_dict()
    torch.save({"model": weights, "version": 1, "hook": _Payload(ran)}, evil)
    cases = [
        ["test", str(tiny_run / "config.yaml"), "--checkpoint", str(evil)],
        ["train", str(tiny_run / "config.yaml"), "--resume", str(evil), "--out-dir", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = _one_line_error(capsys.readouterr().err, argv[0])
        assert "will not unpickle for safety" in err
    with pytest.raises(CheckpointError, match="will not unpickle"):
        load_pretrained(create_backbone("videomae_tiny_patch16"), evil)
    assert not ran.exists(), "the payload ran"
    assert not (tmp_path / "config.yaml").exists(), "a refused --resume wrote into the run"


def test_a_file_torch_cannot_read_is_not_called_unsafe(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a pickle at all")
    assert main(["test", "tiny_synthetic_features", "--checkpoint", str(garbage)]) == 2
    err = _one_line_error(capsys.readouterr().err, "test")
    assert f"{garbage}: not a checkpoint file; tadapt reads the torch.save checkpoints" in err
    assert "unsafe" not in err
    assert "unpickle" not in err
    assert "weights_only" not in err
    assert "\x1b[" not in err
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(_unsafe_checkpoint(tmp_path / "whole.pth").read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"truncated\.pth: the file is truncated or corrupt"):
        load_pretrained(create_backbone("videomae_tiny_patch16"), truncated)


# --------------------------------------------------------------------------- stale temp files

# what a write killed mid-way leaves (atomic_path's own pattern for last.pt), and files that
# only look like it: another target, another suffix, a longer random part, no leading dot
_STALE = ".last.pt.k3j_h5g6.tmp"
_KEPT = (
    ".best_old.pt.k3j_h5g6.tmp",
    ".last.pt.k3j_h5g6.tmp.npy",
    ".last.pt.k3j_h5g6x.tmp",
    "last.pt.k3j_h5g6.tmp",
    "notes.tmp",
)


def _plant(folder: Path) -> None:
    for name in (_STALE, *_KEPT):
        (folder / name).write_bytes(b"partial")


def test_resume_removes_the_temp_file_of_an_interrupted_checkpoint_write(
    tiny_run, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    checkpoints = run / "checkpoints"
    _plant(checkpoints)
    before = sorted(p.name for p in checkpoints.iterdir())
    argv = ["train", str(run / "config.yaml"), "--resume", str(run), "--out-dir", str(run)]
    assert main([*argv, "train.progress=false"]) == 0  # every epoch done: nothing is written
    assert "trained 1 epochs" in capsys.readouterr().out
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(set(before) - {_STALE})


def test_the_next_checkpoint_write_removes_a_stale_temp_file(tmp_path):
    _plant(tmp_path)
    save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.zeros(1)}})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([*_KEPT, "last.pt"])
    assert torch.equal(load_checkpoint(tmp_path / "last.pt")["model"]["w"], torch.zeros(1))


# --------------------------------------------------------------------------- cited documents


def test_every_document_a_message_cites_exists():
    root = Path(__file__).resolve().parents[2]
    cited = {
        match
        for path in (root / "src" / "tadapt").rglob("*.py")
        for match in re.findall(r"docs/[\w-]+\.md", path.read_text(encoding="utf-8"))
    }
    assert "docs/backbones.md" in cited
    assert [doc for doc in sorted(cited) if not (root / doc).is_file()] == []


def test_a_backbone_without_weights_points_to_where_they_come_from(tmp_path, capsys):
    argv = ["train", "tiny_synthetic_videos", "model.backbone.name=videomae_small_patch16"]
    assert main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = _one_line_error(capsys.readouterr().err, "train")
    assert err.startswith("tadapt train: error: model.backbone.checkpoint: set it")
    assert err.endswith("where to download weights: docs/backbones.md\n")


def test_a_flip_that_relabels_a_direction_stops_train_in_one_line(tmp_path, capsys):
    argv = ["train", "tiny_synthetic_videos", "data.flip_prob=0.5", "--out-dir", str(tmp_path)]
    assert main(argv) == 2
    err = _one_line_error(capsys.readouterr().err, "train")
    assert err.startswith("tadapt train: error: data.flip_prob=0.5: a horizontal flip turns ")
    assert err.endswith("set data.flip_prob=0 for these synthetic classes\n")
    assert not (tmp_path / "synthetic_videos").exists()  # refused before rendering anything
