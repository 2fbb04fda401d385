from __future__ import annotations

import json

import torch

from tadapt.backbones import create_backbone, load_pretrained
from tadapt.cli.main import main
from tadapt.data.synthetic import SyntheticConfig, generate_synthetic_dataset

# 32 px, 4-frame clips: a 2 x 2 x 2 token grid; one block keeps it cheap
SMALL = ["--num-frames", "4", "--size", "32", "--mask-ratio", "0.5", "--batch-size", "2"]
SMALL += ["--decoder-dim", "32", "--decoder-depth", "1", "--epochs", "1", "--warmup-epochs", "0"]
SMALL += ["--no-progress"]


def test_pretrain_then_finetune_from_the_command_line(tmp_path, capsys):
    data = tmp_path / "synth"
    config = SyntheticConfig(
        num_videos=6, classes=("grow", "blink"), duration_sec=4.0, size=32,
        actions_per_video=(1, 2), action_duration_sec=(1.0, 1.5), test_fraction=0.34, seed=2,
    )  # fmt: skip
    generate_synthetic_dataset(data, config, workers=1, progress=False)
    out = tmp_path / "run"
    argv = ["pretrain", str(data), "--out", str(out), *SMALL]
    argv += ["--finetune-classes", str(data / "annotations.json"), "--finetune-epochs", "1"]
    argv += ["--finetune-warmup-epochs", "0", "--finetune-batch-size", "2"]
    argv += ["--finetune-eval-split", "test"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "reconstruction loss" in printed
    assert "clip classification: training accuracy" in printed
    assert "held-out" in printed
    assert json.loads((out / "config.json").read_text())["num_frames"] == 4
    assert len(json.loads((out / "history.json").read_text())) == 1

    pretrained = torch.load(out / "checkpoint.pth", weights_only=True)
    assert "mask_token" in pretrained["model"]
    finetuned = torch.load(out / "finetuned.pth", weights_only=True)
    assert finetuned["class_names"] == ["grow", "blink"]
    assert {"fc_norm.weight", "head.weight", "blocks.0.attn.qkv.weight"} <= set(finetuned["model"])
    backbone = create_backbone("videomae_tiny_patch16")
    report = load_pretrained(backbone, out / "finetuned.pth")
    assert report.format == "videomae"
    assert set(report.ignored) == {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}
    # the fine-tuned backbone moved away from the MAE one
    mae = create_backbone("videomae_tiny_patch16", checkpoint=out / "checkpoint.pth")
    assert not torch.equal(mae.blocks[0].mlp.fc1.weight, backbone.blocks[0].mlp.fc1.weight)


def test_finetune_head_and_label_smoothing_reach_the_config():
    from tadapt.cli.main import build_parser
    from tadapt.cli.pretrain import finetune_config_from_args

    argv = ["pretrain", "v", "--out", "o", "--finetune-classes", "gt.json"]
    args = build_parser("pretrain").parse_args([*argv, "--finetune-head", "linear"])
    config = finetune_config_from_args(args)
    assert (config.head, config.label_smoothing) == ("linear", 0.1)
    args = build_parser("pretrain").parse_args([*argv, "--finetune-label-smoothing", "0"])
    config = finetune_config_from_args(args)
    assert (config.head, config.label_smoothing) == ("videomae", 0.0)


def test_pretrain_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["pretrain", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "no such video file, folder or .txt list" in capsys.readouterr().err
    argv = ["pretrain", str(tmp_path), "--out", str(tmp_path / "o"), "--mask-ratio", "1.0"]
    assert main(argv) == 2
    assert "mask_ratio=1.0" in capsys.readouterr().err
    missing = tmp_path / "gt.json"
    missing.write_text("{}")
    argv = ["pretrain", str(tmp_path), "--out", str(tmp_path / "o"), "--finetune-classes"]
    assert main([*argv, str(missing)]) == 2
    assert "--finetune-videos" in capsys.readouterr().err


def test_a_diverging_loss_is_a_one_line_error(tmp_path, capsys):
    data = tmp_path / "synth"
    config = SyntheticConfig(
        num_videos=4, num_classes=2, duration_sec=4.0, size=32, actions_per_video=(1, 2),
        action_duration_sec=(1.0, 1.5), test_fraction=0.0, seed=2,
    )  # fmt: skip
    generate_synthetic_dataset(data, config, workers=1, progress=False)
    argv = ["pretrain", str(data), "--out", str(tmp_path / "run"), *SMALL]
    assert main([*argv, "--epochs", "2", "--lr", "1e12"]) == 2
    err = capsys.readouterr().err
    assert "tadapt pretrain: error: pretraining loss is" in err
    assert "lower base_lr" in err
