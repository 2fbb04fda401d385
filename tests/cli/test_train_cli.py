from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from tadapt.cli import test as test_cmd
from tadapt.cli import train as train_cmd
from tadapt.config import config_to_dict, load_config
from tadapt.engine import load_checkpoint
from tadapt.io import load_annotations, load_predictions
from trainer_hooks import StopAt, StopError

PRESET = "tiny_synthetic_features"


def _main(argv: list[str]) -> int:
    """Run a subcommand through a parser built here (as tadapt.cli.main will)."""
    parser = argparse.ArgumentParser(prog="tadapt")
    subparsers = parser.add_subparsers(dest="command", required=True)
    train_cmd.add_parser(subparsers)
    test_cmd.add_parser(subparsers)
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.mark.slow
def test_tiny_preset_trains_end_to_end_and_test_reproduces_the_report(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _main(["train", PRESET, "train.progress=false", "--out-dir", str(run_dir)]) == 0
    assert "average mAP" in capsys.readouterr().out

    # the resolved config, loadable as it is, also stored in the checkpoints
    config = load_config(run_dir / "config.yaml")
    assert config.model.num_classes == 4
    assert config.data.feature_dir is not None
    last = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert last["config"] == config_to_dict(config) == best["config"]
    assert last["state"]["epoch"] == config.train.epochs
    assert last["ema"] is not None
    assert {"optimizer", "scheduler", "scaler", "rng"} <= set(last)

    # the report of the final evaluation: average mAP over tIoU 0.3:0.1:0.7
    report = json.loads((run_dir / "report.json").read_text())
    assert list(report["mAP"]) == ["0.30", "0.40", "0.50", "0.60", "0.70"]
    assert report["average_mAP"] >= 0.9, report["mAP"]
    assert (run_dir / "report.txt").read_text().startswith("tIoU")

    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["kind"] == "train"]
    assert train_records[-1]["step"] == last["state"]["step"]
    assert train_records[-1]["loss"] < train_records[0]["loss"]
    (final,) = [r for r in records if r["kind"] == "eval"]
    assert final["average_mAP"] == report["average_mAP"]
    assert final["ema"] is True

    annotations = load_annotations(config.data.annotation_file).split("validation")
    predictions, ignored = load_predictions(run_dir / "predictions.json", annotations.class_names)
    assert set(predictions) == set(annotations.videos)
    assert ignored == 0
    assert all(0 < len(d) <= 100 for d in predictions.values())

    # `tadapt test` on the same weights gives the same predictions and mAP
    test_dir = tmp_path / "test"
    argv = [
        "test",
        str(run_dir / "config.yaml"),
        "--checkpoint",
        str(run_dir / "checkpoints" / "last.pt"),
    ]
    assert _main([*argv, "--out-dir", str(test_dir)]) == 0
    retest = json.loads((test_dir / "report.json").read_text())
    assert retest["average_mAP"] == report["average_mAP"]
    assert retest["meta"]["ema"] is True
    again, _ = load_predictions(test_dir / "predictions.json", annotations.class_names)
    for video_id, det in predictions.items():
        assert torch.equal(det.scores, again[video_id].scores)


@pytest.mark.slow
def test_resume_after_an_interrupt_gives_the_same_final_weights(tmp_path):
    # 12 training videos at batch 4: 3 steps per epoch, 9 in all; last.pt every 2 steps
    overrides = [
        "train.progress=false",
        "train.epochs=3",
        "train.checkpoint_interval_steps=2",
        "data.synthetic.num_train_videos=12",
        "data.synthetic.num_eval_videos=4",
        f"data.synthetic.cache_dir={tmp_path / 'features'}",
    ]
    full = train_cmd.train_experiment(PRESET, overrides, out_dir=tmp_path / "full")
    cut = tmp_path / "cut"
    with pytest.raises(StopError):
        train_cmd.train_experiment(PRESET, overrides, out_dir=cut, hooks=[StopAt(5)])
    saved = load_checkpoint(cut / "checkpoints" / "last.pt")
    assert (saved["state"]["step"], saved["state"]["step_in_epoch"]) == (4, 1)  # mid-epoch
    with pytest.raises(ValueError, match="already holds a run"):
        train_cmd.train_experiment(PRESET, overrides, out_dir=cut)
    resumed = train_cmd.train_experiment(PRESET, overrides, out_dir=cut, resume=cut)

    assert resumed.state.step == full.state.step == 9
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(cut / "checkpoints" / "last.pt")
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key}"
    for state_a, state_b in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(state_a["exp_avg_sq"], state_b["exp_avg_sq"])
    assert resumed.metrics == full.metrics


def test_bad_input_is_a_value_error_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key 'optim\.learning_rate'"):
        _main(["train", PRESET, "optim.learning_rate=1", "--out-dir", str(tmp_path)])
    with pytest.raises(
        ValueError, match=r"data\.annotation_file and data\.feature_dir \(or data\.video_dir"
    ):
        _main(["train", "thumos14_actionformer_i3d", "--out-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="no such checkpoint"):
        _main(["test", PRESET, "--checkpoint", str(tmp_path / "x.pt"), "--out-dir", str(tmp_path)])


@pytest.mark.data
@pytest.mark.slow
def test_thumos_preset_reads_the_real_actionformer_annotation_file(tmp_path):
    from real_data import real_file

    annotation_file = real_file("thumos14/thumos14_actionformer.json")
    annotations = load_annotations(annotation_file)
    # random 16-d features for 4 training (THUMOS validation) and 2 test videos
    chosen = [
        *list(annotations.split("train").videos)[:4],
        *list(annotations.split("test").videos)[:2],
    ]
    feature_dir = tmp_path / "features"
    feature_dir.mkdir()
    generator = np.random.default_rng(0)
    for video_id in chosen:
        gt = annotations.videos[video_id]
        steps = int(gt.duration_sec * gt.fps / 4)  # one feature every 4 frames
        np.save(
            feature_dir / f"{video_id}.npy",
            generator.standard_normal((steps, 16), dtype=np.float32),
        )
    overrides = [
        f"data.annotation_file={annotation_file}",
        f"data.feature_dir={feature_dir}",
        "data.feature_dim=16",
        "data.on_error=skip",  # only 6 of the 413 videos have features
        "data.num_workers=0",
        "data.max_seq_len=256",
        "model.embed_dim=16",
        "model.window_size=9",
        "optim.warmup_epochs=0",
        "train.epochs=1",
        "train.device=cpu",
        "train.progress=false",
        "eval.postprocess.pre_nms_topk=100",
    ]
    result = train_cmd.train_experiment(
        "thumos14_actionformer_i3d", overrides, out_dir=tmp_path / "run"
    )
    assert result.config.model.num_classes == 20  # from the file
    assert result.config.model.max_seq_len == 256
    assert result.state.step == 2  # 4 training videos at the global batch of 2
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert list(report["mAP"]) == ["0.30", "0.40", "0.50", "0.60", "0.70"]
    predictions, _ = load_predictions(
        tmp_path / "run" / "predictions.json", annotations.class_names
    )
    assert sorted(predictions) == sorted(chosen[4:])


def test_train_reports_trainable_parameters_through_the_entry_point(tmp_path, caplog):
    from tadapt.cli.main import main

    argv = ["train", "tiny_synthetic_features", "train.epochs=1", "train.progress=false"]
    with caplog.at_level("INFO", logger="tadapt.cli.train"):
        assert main([*argv, "--out-dir", str(tmp_path / "run")]) == 0
    lines = [r.getMessage() for r in caplog.records if "trainable parameters" in r.getMessage()]
    assert lines
    assert lines[0].endswith("(100.00%)")  # head-only on features: every parameter trains
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
