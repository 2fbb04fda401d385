"""``tadapt export``: a pickle-free inference bundle that detects what its checkpoint detects.

The session's head-only run and the tiny end-to-end run (TIA adapters, kept as they are) give
exactly the checkpoint's detections through ``tadapt detect --checkpoint BUNDLE``; a LoRA run,
whose LoRA factors are merged into the backbone's linears, gives them up to float rounding.
Loading a bundle never calls ``torch.load``; a changed file is refused by its sha256.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import tadapt
from small_videos import SMALL_VIDEOS
from tadapt.cli.main import main
from tadapt.config.paths import PATH_KEYS
from tadapt.engine import load_checkpoint, save_checkpoint
from tadapt.io.checkpoint_files import CheckpointError

ALL = ["--min-score", "0", "--top-k", "1000"]
FILES = ["class_names.json", "config.yaml", "manifest.json", "weights.safetensors"]


def _results(path: Path) -> dict[str, list[dict[str, object]]]:
    return json.loads(path.read_text())["results"]


def _no_torch_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("torch.load called: a bundle must load without pickle")

    monkeypatch.setattr(torch, "load", refuse)


def _export(run: Path, bundle: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["export", str(run), str(bundle)]) == 0
    assert sorted(p.name for p in bundle.iterdir()) == FILES
    return capsys.readouterr().out


def _dotted(raw: dict[str, object], dotted: str) -> object:
    node: object = raw
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _detect(inputs: Path, checkpoint: Path, out: Path, *extra: str) -> dict[str, object]:
    argv = ["detect", str(inputs), "--checkpoint", str(checkpoint), "--out", str(out)]
    assert main([*argv, *ALL, *extra]) == 0
    return _results(out / "predictions.json")


def test_a_feature_bundle_detects_exactly_what_its_run_does(
    tiny_run, tmp_path, capsys, monkeypatch
):
    bundle = tmp_path / "bundle"
    printed = _export(tiny_run, bundle, capsys)
    assert f"bundle: {bundle} (weights as trained)" in printed
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert all(_dotted(config, key) is None for key in PATH_KEYS)  # needs no other file
    names = json.loads((bundle / "class_names.json").read_text())
    assert names == list(tadapt.Detector.from_checkpoint(tiny_run).class_names)
    synthetic = tiny_run / "synthetic_features"
    features = tmp_path / "features"
    features.mkdir()
    for file in sorted((synthetic / "features").glob("validation_*.npy")):
        shutil.copy(file, features)
    gt = ["--gt", str(synthetic / "annotations.json")]
    expected = _detect(features, tiny_run, tmp_path / "run", *gt)
    _no_torch_load(monkeypatch)
    with pytest.raises(CheckpointError, match=r"torch\.load called"):  # the patch is in force
        load_checkpoint(tiny_run / "checkpoints" / "best.pt")
    assert _detect(features, bundle, tmp_path / "bundled", *gt) == expected
    detector = tadapt.Detector.from_checkpoint(bundle / "manifest.json")  # the manifest too
    assert detector.class_names == tuple(names)


def test_video_bundles_keep_tia_and_detect_exactly_what_their_run_does(
    video_run, tmp_path, capsys, monkeypatch
):
    bundle = tmp_path / "bundle"
    assert "(weights as trained)" in _export(video_run, bundle, capsys)
    videos = tmp_path / "videos"
    videos.mkdir()
    for file in sorted((video_run / "synthetic_videos" / "videos").glob("*.mp4"))[:2]:
        shutil.copy(file, videos)
    adapters = tmp_path / "from_adapters"  # an adapter-only checkpoint on its backbone
    assert main(["export", str(video_run / "checkpoints" / "adapters.pt"), str(adapters)]) == 0
    expected = _detect(videos, video_run, tmp_path / "run")
    _no_torch_load(monkeypatch)
    assert _detect(videos, bundle, tmp_path / "bundled") == expected
    assert _detect(videos, adapters, tmp_path / "from_adapters_out") == expected


def test_a_lora_bundle_merges_lora_and_detects_what_its_run_does(tmp_path, capsys):
    run = tmp_path / "lora"
    assert main(["train", *SMALL_VIDEOS, "model.strategy=lora", "--out-dir", str(run)]) == 0
    # one epoch leaves B near its zero init: a large B makes the merge matter
    checkpoint = load_checkpoint(run / "checkpoints" / "best.pt")
    generator = torch.Generator().manual_seed(0)
    for name, value in checkpoint["model"].items():
        if name.endswith("lora_b"):
            value.copy_(0.05 * torch.randn(value.shape, generator=generator))
    save_checkpoint(run / "checkpoints" / "best.pt", checkpoint)
    bundle = tmp_path / "bundle"
    assert f"bundle: {bundle} (LoRA merged into the backbone)" in _export(run, bundle, capsys)
    merged = tadapt.Detector.from_checkpoint(bundle)
    assert not [k for k in merged.model.state_dict() if "lora" in k]
    video = sorted((run / "synthetic_videos" / "videos").glob("*.mp4"))[0]
    expected = tadapt.Detector.from_checkpoint(run).detect(video).detections
    found = merged.detect(video).detections
    # W x + s B (A x) and (W + s B A) x round differently in float32: same detections, scores
    # within 1e-5 and boundaries within 1e-4 s (measured: ~2e-8 and ~1e-6 s)
    assert torch.equal(found.labels, expected.labels)
    torch.testing.assert_close(found.scores, expected.scores, atol=1e-5, rtol=0)
    torch.testing.assert_close(found.segments.tensor, expected.segments.tensor, atol=1e-4, rtol=0)


def test_a_changed_or_incomplete_bundle_is_refused(tiny_run, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    _export(tiny_run, bundle, capsys)
    feature = next((tiny_run / "synthetic_features" / "features").glob("validation_*.npy"))
    names = bundle / "class_names.json"
    weights = bundle / "weights.safetensors"
    original = names.read_text()
    cases = [
        (lambda: names.write_text(original.replace("class_0", "class_9")), f"{names}: sha256"),
        (lambda: names.write_text(original), None),
        (lambda: weights.rename(tmp_path / "w"), f"{weights}: missing from the bundle"),
    ]
    for change, expected in cases:
        change()
        argv = ["detect", str(feature), "--checkpoint", str(bundle), "--out", str(tmp_path / "o")]
        if expected is None:
            assert main(argv) == 0
            capsys.readouterr()  # its progress bars are not the next case's error
            continue
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"tadapt detect: error: {expected}"), err
        assert "\n" not in err
    (tmp_path / "w").rename(weights)
    refused = [
        (["detect", str(feature), "--checkpoint", str(bundle), "--backbone", str(weights)],
         "is an inference bundle (it holds every weight): leave out the backbone"),
        (["export", str(tiny_run), str(tiny_run)], "holds other files"),
        (["export", str(tiny_run), str(weights)], "a file, not a folder"),
    ]  # fmt: skip
    capsys.readouterr()
    for argv, expected in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err, err
        assert "\n" not in err
    assert main(["export", str(tiny_run), str(bundle)]) == 0  # an earlier bundle is replaced
