"""The config-level meter (measure_step) and the analytical model (predict_step_memory)."""

from __future__ import annotations

import pytest
import torch

from tadapt.backbones import create_backbone
from tadapt.cli.experiment import build_model
from tadapt.config import ExperimentConfig, load_config
from tadapt.engine import FidelityLevel
from tadapt.engine.ema import ModelEMA
from tadapt.planning import (
    BackboneShape,
    measure_step,
    predict_step_memory,
    random_training_step,
    scale_measurement,
)
from tadapt.planning.config_step import planning_config

STRATEGIES = ["frozen", "full", "adapter", "lora", "tia", "tia_side", "losa"]
TOLERANCE = 0.02  # the issue asks for 10 %; the model is exact on these shapes

# a 2-block, 96-wide ViT on two 16-frame chunks of 32 px: 2 x 8 x 2 x 2 tokens, a second
_TINY = [
    "train.batch_size=1",
    "data.max_seq_len=32",
    "data.image_size=32",
    "model.backbone.overrides={depth: 2}",
]


def _config(*overrides: str) -> ExperimentConfig:
    return load_config("tiny_synthetic_videos", [*_TINY, *overrides])


def _assert_close(config: ExperimentConfig, **options: object) -> None:
    measured = measure_step(config, **options)  # type: ignore[arg-type]
    predicted = predict_step_memory(config, **options)  # type: ignore[arg-type]
    assert predicted.activations == pytest.approx(measured.activations, rel=TOLERANCE)
    # parameters are counted from the shape: exact
    assert predicted.weights == measured.weights
    assert predicted.gradients == measured.gradients
    assert predicted.optimizer_states == measured.optimizer_states


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_predicted_step_matches_the_measured_one(
    strategy: str, checkpointing: bool, precision: str
) -> None:
    _assert_close(
        _config(
            f"model.strategy={strategy}",
            f"model.backbone.grad_checkpointing={str(checkpointing).lower()}",
            f"train.precision={precision}",
        )
    )


@pytest.mark.parametrize(
    ("overrides", "level"),
    [
        (["model.strategy=tia"], FidelityLevel(2, 1)),  # half the frames
        (
            ["model.strategy=full", "data.image_size=64", "train.precision=bf16"],
            FidelityLevel(1, 2),
        ),
        (["model.strategy=tia", "model.backbone.grad_checkpointing=false"], FidelityLevel(2, 1)),
    ],
)
def test_lofi_levels(overrides: list[str], level: FidelityLevel) -> None:
    config = _config(*overrides)
    _assert_close(config, fidelity=level)
    full = predict_step_memory(config)
    assert predict_step_memory(config, fidelity=level).activations < full.activations


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.strategy=tia", "train.precision=fp16", "model.backbone.grad_checkpointing=false"],
        ["model.strategy=tia", "model.backbone.checkpoint_skip_first=true"],
        ["model.strategy=tia", "model.backbone.checkpoint_scheme=reentrant"],
        ["model.strategy=adapter", "model.adapter.blocks=[1]", "train.precision=bf16"],
        [
            "model.strategy=lora",
            "model.adapter.lora.targets=[qkv,fc2]",
            "model.adapter.blocks=[-1]",
            "model.backbone.grad_checkpointing=false",
            "train.precision=bf16",
        ],
        ["model.strategy=tia", "train.batch_size=2", "model.backbone.temporal_scale=2.0"],
        ["model.strategy=tia_side", "model.adapter.blocks=[0]", "train.precision=bf16"],
        ["model.strategy=losa", "model.adapter.losa.long_range=conv"],
        [
            "model.strategy=full",
            "model.backbone.name=videomaev2_tiny_patch14",
            "data.image_size=28",
        ],
    ],
    ids=[
        "fp16",
        "skip_first",
        "reentrant",
        "one_adapter",
        "lora_two",
        "batch2",
        "side1",
        "conv",
        "g",
    ],
)
def test_other_settings(overrides: list[str]) -> None:
    _assert_close(_config(*overrides))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("strategy", ["full", "lora"])
def test_the_math_attention_path(strategy: str, precision: str) -> None:
    """The unfused path keeps (H, N, N) probabilities: more than the flash kernel's."""
    config = _config(
        f"model.strategy={strategy}",
        "model.backbone.grad_checkpointing=false",
        f"train.precision={precision}",
    )
    _assert_close(config, attention="math")
    _assert_close(config, attention="flash")
    flash = predict_step_memory(config, attention="flash").activations
    assert predict_step_memory(config, attention="math").activations > flash


@pytest.mark.parametrize("strategy", ["tia", "tia_side", "losa", "full"])
def test_a_reduced_depth_measurement_scales_to_the_full_one(strategy: str) -> None:
    config = _config(f"model.strategy={strategy}", "model.backbone.overrides={depth: 4}")
    reduced = measure_step(config, depth=2)
    scaled = scale_measurement(reduced, config, depth=2)
    assert scaled == measure_step(config)


@pytest.mark.parametrize(
    "name", ["videomae_small_patch16", "videomae_large_patch16", "videomaev2_giant_patch14"]
)
def test_parameter_count_from_the_shape(name: str) -> None:
    with torch.device("meta"):
        backbone = create_backbone(name, pretrained=False)
    shape = BackboneShape(
        embed_dim=backbone.embed_dim,
        depth=backbone.depth,
        num_heads=backbone.num_heads,
        mlp_dim=backbone.blocks[0].mlp.fc1.out_features,
        patch_size=backbone.patch_size,
        tubelet_size=backbone.tubelet_size,
        chunk_frames=backbone.chunk_frames,
    )
    assert shape.parameters() == sum(p.numel() for p in backbone.parameters())


def test_a_paper_preset_is_predicted_without_building_it() -> None:
    """ViT-g at 1,536 frames: the model needs no weights (only the head is built)."""
    config = load_config("adatad_thumos14_videomaev2_g_1536x2_224")
    estimate = predict_step_memory(config, device="cuda")  # amp: fp16 on CUDA
    assert estimate.shape.frames == 1536
    assert estimate.weights > 4 * 10**9  # about 1B fp32 parameters
    assert estimate.total > estimate.activations > 0


@pytest.mark.parametrize("precision", ["bf16", "amp", "fp16"])
def test_a_gpu_step_is_predicted_on_a_machine_without_one(precision: str) -> None:
    """2-byte autocast on CUDA (amp: fp16) saves what bf16 saves on the CPU."""
    config = _config("model.strategy=tia", f"train.precision={precision}")
    on_gpu = predict_step_memory(config, device="cuda")
    assert on_gpu == predict_step_memory(_config("model.strategy=tia", "train.precision=bf16"))


def test_measure_step_never_loads_weights() -> None:
    config = _config("model.backbone.checkpoint=/no/such/weights.pth")
    planned = planning_config(config, depth=1)
    assert planned.model.backbone is not None
    assert planned.model.backbone.checkpoint is None
    assert planned.model.backbone.pretrained is False
    model = build_model(planned)
    tensors = (*model.parameters(), *model.buffers())
    assert measure_step(config, depth=1).weights == sum(t.nbytes for t in tensors)


def test_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match=r"model\.backbone is not set"):
        measure_step(load_config("tiny_synthetic_features"))
    with pytest.raises(ValueError, match="depth must be >= 1"):
        predict_step_memory(_config(), depth=0)
    with pytest.raises(ValueError, match="attention must be 'flash' or 'math'"):
        measure_step(_config(), attention="sdpa")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attention must be 'flash' or 'math'"):
        predict_step_memory(_config(), attention="sdpa")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            ["model.adapter.blocks=[5]"],
            r"model\.adapter\.blocks: \[5\] are out of range .* depth 2",
        ),
        (["model.strategy=full", "model.adapter.blocks=[0]"], "inserts no adapters"),
        (
            ["model.strategy=lora", "model.adapter.lora.targets=[qkv,mlp]"],
            r"model\.adapter\.lora\.targets: \['mlp'\]",
        ),
    ],
)
def test_the_model_rejects_what_the_strategy_rejects(overrides: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        predict_step_memory(_config(*overrides))


def test_the_ema_copies_what_trains() -> None:
    """The EMA shares frozen parameters: it costs the trainable ones (and the buffers)."""
    config = _config("model.strategy=tia", "train.ema_decay=0.999")
    model = build_model(planning_config(config))
    ema = ModelEMA(model)
    shared = {p.data_ptr() for p in model.parameters()}
    copied = (*ema.module.parameters(), *ema.module.buffers())
    ema_bytes = sum(t.nbytes for t in copied if t.data_ptr() not in shared)
    estimate = predict_step_memory(config)
    assert estimate.ema == ema_bytes
    assert predict_step_memory(_config("model.strategy=tia", "train.ema_decay=null")).ema == 0
    assert estimate.total == (
        estimate.weights
        + estimate.gradients
        + estimate.optimizer_states
        + estimate.activations
        + estimate.recomputed_block
        + estimate.ema
        + estimate.input_batch
    )


@pytest.mark.parametrize("strategy", ["tia", "full", "tia_side"])
def test_the_backward_recomputes_one_checkpointed_block(strategy: str) -> None:
    """With one block, what the backward recomputes is what the plain block saves."""
    one = ["model.backbone.overrides={depth: 1}", f"model.strategy={strategy}"]
    plain = predict_step_memory(_config(*one, "model.backbone.grad_checkpointing=false"))
    checkpointed = predict_step_memory(_config(*one, "model.backbone.grad_checkpointing=true"))
    assert plain.recomputed_block == 0
    assert checkpointed.recomputed_block == plain.backbone_activations
    assert checkpointed.backbone_activations < plain.backbone_activations  # only the input


def test_a_random_training_step_updates_only_what_trains() -> None:
    step = random_training_step(_config("model.strategy=tia"))
    before = {name: p.detach().clone() for name, p in step.model.named_parameters()}
    step.run()
    changed = {
        name for name, p in step.model.named_parameters() if not torch.equal(before[name], p)
    }
    trainable = {name for name, p in step.model.named_parameters() if p.requires_grad}
    assert changed <= trainable  # the frozen backbone never moves
    assert any(".adapter." in name for name in changed)
    assert all(p.grad is None for p in step.model.parameters())
