"""Every tuning strategy trains end to end on synthetic videos, through the API and the CLI.

For each registered strategy: the loss on a fixed batch decreases, exactly the parameters the
strategy trains change (tensor comparison), and its adapter-only checkpoint, loaded onto a
freshly built backbone, reproduces the predictions. The CLI trains every strategy from the
``tiny_synthetic_videos`` preset with one override and ``tadapt test`` reproduces the run
from ``checkpoints/adapters.pt``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from small_videos import SMALL_DATA
from tadapt.adapters import (
    get_adapter_params,
    get_strategy,
    list_strategies,
    load_strategy_state_dict,
    strategy_state_dict,
)
from tadapt.cli.experiment import backbone_of, build_datasets, build_model, prepare_experiment
from tadapt.cli.main import main
from tadapt.config import ConfigError, load_config
from tadapt.data import build_loader
from tadapt.engine import load_checkpoint, seed_everything
from tadapt.structures import VideoBatch

PRESET = "tiny_synthetic_videos"
STRATEGIES = list_strategies()


@pytest.fixture(scope="module")
def video_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic video set shared by the tests of this module."""
    return tmp_path_factory.mktemp("synthetic_videos")


def _overrides(cache: Path, strategy: str, *extra: str) -> list[str]:
    return [
        *SMALL_DATA,
        f"data.synthetic_videos.cache_dir={cache}",
        f"model.strategy={strategy}",
        *extra,
    ]


def _batch(config, annotations) -> VideoBatch:
    train_set, _ = build_datasets(config, annotations)
    assert train_set is not None
    loader = build_loader(train_set, batch_size=2, shuffle=False, num_workers=0, seed=0)
    return next(iter(loader))


def test_config_puts_rand_augment_and_hue_into_the_training_pipeline(video_cache, tmp_path):
    augment = ["data.rand_augment={num_ops: 2, magnitude: 9}", "data.color_jitter_hue=0.1"]
    config, annotations = prepare_experiment(
        PRESET, _overrides(video_cache, "tia", *augment), tmp_path
    )
    train_set, eval_set = build_datasets(config, annotations)
    steps = train_set.transform.transforms  # type: ignore[union-attr]
    names = [type(step).__name__ for step in steps]
    assert names[3:6] == ["RandomHorizontalFlip", "RandAugment", "ColorJitter"]
    assert (steps[4].num_ops, steps[4].magnitude, steps[5].hue) == (2, 9, 0.1)
    eval_steps = eval_set.transform.transforms  # type: ignore[attr-defined]
    assert [type(step).__name__ for step in eval_steps] == [
        "ToFloatClip",
        "ResizeShortSide",
        "CenterCrop",
        "Normalize",
    ]
    batch = _batch(config, annotations)
    assert batch.inputs.shape[-2:] == (32, 32)


def test_the_registry_holds_every_strategy_of_the_issue():
    assert set(STRATEGIES) >= {"frozen", "full", "adapter", "lora", "tia", "tia_side", "losa"}


@pytest.mark.slow
@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_trains_only_its_parameters_and_its_checkpoint_reproduces(
    name, video_cache, tmp_path
):
    # norm_momentum 0: the loss normaliser is the batch's positive count, so losses compare
    overrides = _overrides(video_cache, name, "model.loss.norm_momentum=0.0")
    config, annotations = prepare_experiment(PRESET, overrides, tmp_path)
    batch = _batch(config, annotations)
    seed_everything(config.train.seed)
    model = build_model(config)
    backbone = backbone_of(model)
    assert backbone is not None
    strategy = get_strategy(name)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=3e-3, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(6):
        loss = model(batch)["final_loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses

    # only trainable parameters changed (a pyramid level without positives in this batch
    # leaves its regression scale alone); of the backbone, exactly what the strategy trains
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= {n for n, p in model.named_parameters() if p.requires_grad}
    prefix = "feature_extractor.backbone."
    in_backbone = {n.removeprefix(prefix) for n in changed if n.startswith(prefix)}
    all_backbone = {n for n, _ in backbone.named_parameters()}
    expected_backbone = {
        "none": set(),
        "all": all_backbone,
        "adapters": set(get_adapter_params(backbone)),
    }[strategy.trains]
    assert in_backbone == expected_backbone
    assert any(not n.startswith(prefix) for n in changed)  # the head trains
    if strategy.side is not None:
        assert any(n.startswith("feature_extractor.side.") for n in changed)

    # the adapter-only checkpoint onto a fresh backbone reproduces the predictions
    state = {k: v.clone() for k, v in strategy_state_dict(model, backbone, strategy).items()}
    if strategy.checkpoint != "all":
        assert not any(
            k.startswith(prefix)
            and k
            in {prefix + n for n in all_backbone}
            - {prefix + n for n in get_adapter_params(backbone)}
            for k in state
        )
    seed_everything(config.train.seed)
    fresh = build_model(config)
    model.eval()
    fresh.eval()
    with torch.no_grad():
        expected = model(batch)
        untrained = fresh(batch)
        fresh_backbone = backbone_of(fresh)
        assert fresh_backbone is not None
        load_strategy_state_dict(fresh, fresh_backbone, strategy, state)
        reloaded = fresh(batch)
    for want, got in zip(expected, reloaded, strict=True):
        torch.testing.assert_close(got.scores, want.scores)
        torch.testing.assert_close(got.segments.tensor, want.segments.tensor)
    assert any(
        old.scores.shape != want.scores.shape or not torch.allclose(old.scores, want.scores)
        for want, old in zip(expected, untrained, strict=True)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", STRATEGIES)
def test_cli_trains_every_strategy_with_one_override(name, video_cache, tmp_path, capsys):
    run_dir = tmp_path / name
    # with an EMA: tadapt test then evaluates the averaged adapters, as the run did
    argv = [
        "train",
        PRESET,
        *_overrides(video_cache, name, "train.epochs=1", "train.ema_decay=0.9"),
    ]
    assert main([*argv, "--out-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "average mAP" in out
    config = load_config(run_dir / "config.yaml")
    assert config.model.strategy == name
    adapters = load_checkpoint(run_dir / "checkpoints" / "adapters.pt")
    assert adapters["adapter_only"] is True
    assert adapters["strategy"] == name
    full = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert set(adapters["model"]) <= set(full["model"])
    if name in ("frozen", "tia_side", "losa"):
        assert not any(k.startswith("feature_extractor.backbone.") for k in adapters["model"])
    if name == "full":
        assert set(adapters["model"]) == set(full["model"])
    for key, value in adapters["model"].items():
        torch.testing.assert_close(value, full["model"][key])
    assert set(adapters["ema"]) == set(adapters["model"])
    for key, value in adapters["ema"].items():
        torch.testing.assert_close(value, full["ema"][key])

    # tadapt test on the adapter-only checkpoint writes the same predictions as the run
    test_dir = tmp_path / f"{name}_test"
    argv = ["test", str(run_dir / "config.yaml"), "--checkpoint"]
    assert (
        main([*argv, str(run_dir / "checkpoints" / "adapters.pt"), "--out-dir", str(test_dir)]) == 0
    )
    trained = json.loads((run_dir / "predictions.json").read_text())["results"]
    tested = json.loads((test_dir / "predictions.json").read_text())["results"]
    assert tested == trained


def test_config_errors_name_the_key(video_cache, tmp_path):
    prepare_experiment(PRESET, _overrides(video_cache, "tia"), tmp_path)  # the shared videos
    other_seed = _overrides(video_cache, "tia", "data.synthetic_videos.seed=5")
    with pytest.raises(ConfigError, match=r"data\.synthetic_videos: .* other settings"):
        prepare_experiment(PRESET, other_seed, tmp_path)
    with pytest.raises(ConfigError, match=r"model.strategy: unknown strategy .tiaa.*tia"):
        prepare_experiment(PRESET, _overrides(video_cache, "tiaa"), tmp_path)
    with pytest.raises(ConfigError, match=r"model\.backbone: training on videos needs"):
        prepare_experiment(PRESET, _overrides(video_cache, "tia", "model.backbone=null"), tmp_path)
    missing = tmp_path / "missing.pth"
    weights = ["model.backbone.pretrained=true", f"model.backbone.checkpoint={missing}"]
    # checked with the other paths, before any data is read or model built
    with pytest.raises(ConfigError, match=r"model\.backbone\.checkpoint: .*missing\.pth does not"):
        prepare_experiment(PRESET, _overrides(video_cache, "tia", *weights), tmp_path)
    with pytest.raises(ConfigError, match=r"model\.backbone: pre-extracted features need no"):
        prepare_experiment(
            "tiny_synthetic_features",
            ["model.backbone.name=videomae_tiny_patch16"],
            tmp_path,
        )


def test_cli_rejects_a_checkpoint_of_another_strategy(video_cache, tmp_path, capsys):
    run_dir = tmp_path / "tia"
    argv = ["train", PRESET, *_overrides(video_cache, "tia", "train.epochs=1")]
    assert main([*argv, "--out-dir", str(run_dir)]) == 0
    capsys.readouterr()
    argv = ["test", PRESET, *_overrides(video_cache, "adapter"), "--checkpoint"]
    code = main(
        [*argv, str(run_dir / "checkpoints" / "adapters.pt"), "--out-dir", str(tmp_path / "t")]
    )
    assert code == 2
    assert "does not fit the model built with strategy 'adapter'" in capsys.readouterr().err
