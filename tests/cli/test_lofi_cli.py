"""``tadapt lofi``: low-fidelity end-to-end training, full-fidelity features, a new head."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tadapt.cli.experiment import build_fidelity_transform, build_model
from tadapt.cli.main import main
from tadapt.config import ConfigError, load_config, resolve

PRESET = "tiny_synthetic_videos"


def _overrides(cache) -> list[str]:
    return [
        "data.synthetic_videos.num_videos=8",
        "data.synthetic_videos.duration_sec=8.0",
        f"data.synthetic_videos.cache_dir={cache}",
        "data.image_size=32",
        "data.resize_short_side=36",
        "data.max_seq_len=32",
        "model.strategy=full",
        "train.epochs=3",
        "train.progress=false",
    ]


@pytest.mark.slow
def test_lofi_runs_its_three_stages_and_each_alone(tmp_path, capsys):
    out = tmp_path / "lofi"
    cache = tmp_path / "videos"
    # stage 1 alone: low-fidelity training, cyclic; at 32 px the tiny ViT has 2 x 2 tokens,
    # too few for ST-LoFi to keep the budget, so the cycle is S, T
    levels_arg = "train.fidelity.levels=1x2,4x1"
    argv = ["lofi", PRESET, *_overrides(cache), levels_arg, "--out-dir", str(out)]
    assert main([*argv, "--stage", "train"]) == 0
    records = [json.loads(x) for x in (out / "lofi" / "metrics.jsonl").read_text().splitlines()]
    levels = [(r["r_t"], r["r_s"]) for r in records if r["kind"] == "train"]
    assert levels[0] == (1.0, 2.0)  # epoch 1: spatial; the long cycle switches every epoch
    assert {round(t * s * s, 6) for t, s in levels} == {4.0}  # constant budget r_t * r_s^2
    assert len(set(levels)) == 2
    assert not (out / "features").exists()

    # stages 2 and 3 from the first one's folder
    assert main([*argv, "--stage", "extract"]) == 0
    files = sorted((out / "features").glob("*.npy"))
    assert len(files) == 8
    first = np.load(files[0])
    assert first.shape[1] == 96  # the tiny ViT's width
    # 8 s at 15 fps, every 2nd frame as in stage 1: 60 sampled frames, a step per tubelet
    assert first.shape[0] == 60 // 2
    capsys.readouterr()
    assert main([*argv, "--stage", "head"]) == 0
    assert "LoFi head on full-fidelity features: average mAP" in capsys.readouterr().out
    head = load_config(out / "head_config.yaml")
    assert head.model.backbone is None
    assert head.data.feature_dir == str(out / "features")
    # step j at video frame (2 j + 0.5) * 2, as stage 1's detector placed it; 32-frame windows
    data = head.data
    assert (data.feat_stride, data.num_frames, data.feature_dim, data.max_seq_len) == (4, 2, 96, 16)
    assert head.train.fidelity is None
    assert (out / "head" / "report.json").is_file()


def test_lofi_refuses_what_it_cannot_run(tmp_path, capsys):
    cache = tmp_path / "videos"
    argv = ["lofi", PRESET, *_overrides(cache), "model.strategy=tia", "--out-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "model.strategy: LoFi extracts chunk features" in capsys.readouterr().err
    argv = ["lofi", PRESET, *_overrides(cache), "--out-dir", str(tmp_path), "--stage", "extract"]
    assert main(argv) == 2
    assert "run stage 'train' first" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"train\.fidelity: LoFi reduces frames"):
        resolve(
            load_config("tiny_synthetic_features", ["train.fidelity.mode=cyclic"]), run_dir=tmp_path
        )


def _transform(tmp_path, *overrides: str):
    config = resolve(
        load_config(PRESET, ["train.fidelity.mode=temporal", *overrides]),
        num_classes=4,
        run_dir=tmp_path,
    )
    return build_fidelity_transform(config, build_model(config))


def test_fidelity_drops_detector_step_snippets_unless_told_to_drop_frames(tmp_path):
    # tubelet 2, temporal_scale 1: a detector step is 2 frames, LoFi's snippet
    assert _transform(tmp_path).snippet_frames == 2
    assert _transform(tmp_path, "model.backbone.temporal_scale=0.5").snippet_frames == 4
    frames = _transform(tmp_path, "train.fidelity.temporal_drop=frames")
    assert frames.snippet_frames == 1
    with pytest.raises(ConfigError, match=r"temporal_scale <= 1 or train\.fidelity\.temporal_drop"):
        _transform(tmp_path, "model.backbone.temporal_scale=2.0")
    assert _transform(
        tmp_path, "model.backbone.temporal_scale=2.0", "train.fidelity.temporal_drop=frames"
    )


def test_fidelity_budget_is_checked_at_the_configured_frame_size(tmp_path):
    # the tiny ViT has patch 16: 48 px -> 3 x 3 tokens, S-LoFi 32 px -> 2 x 2 (2.25, not 4)
    cyclic = "train.fidelity.mode=cyclic"
    with pytest.raises(ConfigError, match=r"train\.fidelity: fidelity level 1x2 at 48 x 48 px"):
        _transform(tmp_path, cyclic, "data.image_size=48")
    # 64 px -> 4 x 4 tokens: S-LoFi fits (2 x 2), ST-LoFi's 45 px rounds to 2 x 2 too (3.56)
    with pytest.raises(ConfigError, match=r"fidelity level 2x1\.41421 at 64 x 64 px"):
        _transform(tmp_path, cyclic)
    assert _transform(tmp_path, cyclic, 'train.fidelity.levels="1x2,4x1"') is not None
    assert _transform(tmp_path, cyclic, "data.image_size=160") is not None  # 10 x 10 tokens
