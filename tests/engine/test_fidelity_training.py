"""LoFi in training: backbones and detectors on reduced batches, memory per sample, the trainer."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from tadapt.adapters import apply_strategy
from tadapt.backbones import VisionTransformer, create_backbone
from tadapt.backbones.tokens import interpolate_pos_table, sinusoid_table
from tadapt.data import build_loader
from tadapt.detection import BackboneFeatures, build_actionformer
from tadapt.engine import (
    FidelitySchedule,
    FidelityTransform,
    MetricsWriter,
    Trainer,
    WarmupCosineLR,
    apply_fidelity,
    build_optimizer,
    load_checkpoint,
)
from tadapt.structures import Segments, VideoBatch, VideoSample, collate_samples
from trainer_hooks import StopAt, StopError

CYCLE = FidelitySchedule("cyclic").levels  # S (1x2), T (4x1), ST (2x1.414), budget 4


def _frames_batch(frames: int = 64, size: int = 64, count: int = 2) -> VideoBatch:
    generator = torch.Generator().manual_seed(0)
    samples = [
        VideoSample(
            f"v{i}",
            torch.randn(3, frames, size, size, generator=generator),
            torch.ones(frames, dtype=torch.bool),
            Segments([[8.0, 40.0]], unit="idx"),
            torch.tensor([i % 2]),
            grid_stride_sec=0.25,
        )
        for i in range(count)
    ]
    return collate_samples(samples)


def _backbone(**overrides: object) -> VisionTransformer:
    torch.manual_seed(0)
    return create_backbone("videomae_tiny_patch16", img_size=64, **overrides)


# ---- the backbone and the detector on reduced batches ---------------------------------------


@pytest.mark.parametrize(
    ("level", "grid"),
    [(CYCLE[0], (8, 2, 2)), (CYCLE[1], (8, 4, 4)), (CYCLE[2], (8, 3, 3))],
    ids=["S", "T", "ST"],
)
def test_backbone_uses_the_position_table_of_the_reduced_grid(level, grid, monkeypatch):
    backbone = _backbone()  # position table for 16 frames at 64 px: grid (8, 4, 4)
    batch = apply_fidelity(_frames_batch(), level, patch_size=16, chunk_frames=16)
    requested = []
    original = backbone.pos_table

    def spy(grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        table = original(grid, device)
        requested.append((grid, table))
        return table

    monkeypatch.setattr(backbone, "pos_table", spy)
    feats = backbone.forward_features(batch.inputs)
    assert [g for g, _ in requested] == [grid]
    table = sinusoid_table(8 * 4 * 4, 96)
    expected = table if grid == (8, 4, 4) else interpolate_pos_table(table, (8, 4, 4), grid)
    torch.testing.assert_close(requested[0][1], expected)
    assert requested[0][1].shape == (grid[0] * grid[1] * grid[2], 96)
    assert feats.shape == (2, 96, batch.inputs.shape[2] // 2)  # (B, C, T' / tubelet)
    assert torch.isfinite(feats).all()


@pytest.mark.slow  # first passes at new shapes are slow on CPU (about 1 s per level once warm)
def test_detector_trains_end_to_end_on_every_reduced_batch():
    backbone = create_backbone("videomae_tiny_patch16", img_size=32, depth=2)
    apply_strategy(backbone, "full")
    detector = build_actionformer(
        96,
        2,
        feature_extractor=BackboneFeatures(backbone),
        embed_dim=32,
        num_heads=2,
        arch=(1, 1, 2),
        window_size=-1,
        regression_ranges=((0, 4), (4, 8), (8, 10000)),
    ).train()
    batch = _frames_batch(frames=64, size=32, count=1)
    for level in CYCLE:
        reduced = apply_fidelity(batch, level, patch_size=16, chunk_frames=16)
        detector.zero_grad()
        losses = detector(reduced)
        assert torch.isfinite(losses["final_loss"]), level
        losses["final_loss"].backward()
        grad = backbone.patch_embed.proj.weight.grad
        assert grad is not None
        assert grad.abs().sum() > 0, level
        # ground truth on the level-0 feature grid: the frames' seconds, the features' grid
        feature_grid = detector.to_feature_grid(reduced.segments[0])
        seconds = detector.to_input_grid(Segments(feature_grid, "idx")).to_seconds(
            stride_sec=float(reduced.grid_stride_sec[0])
        )
        torch.testing.assert_close(seconds.tensor, torch.tensor([[2.0, 10.0]], dtype=torch.float64))


# ---- memory per sample ----------------------------------------------------------------------


def _saved_activation_bytes(model: VisionTransformer, frames: torch.Tensor) -> int:
    """Bytes of the tensors autograd saves for backward in a forward pass, weights excluded."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:  # count a storage once, however many views
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.forward_features(frames)
    return sum(storages.values())


def test_memory_per_sample_stays_about_constant_across_the_cycle():
    backbone = _backbone()  # full fine-tuning: every parameter requires grad
    assert all(p.requires_grad for p in backbone.parameters())
    batch = _frames_batch()
    full = _saved_activation_bytes(backbone, batch.inputs)
    reduced = [
        _saved_activation_bytes(
            backbone, apply_fidelity(batch, level, patch_size=16, chunk_frames=16).inputs
        )
        for level in CYCLE
    ]
    # measured: S 7.89 MB, T 7.89 MB, ST 8.88 MB (144 tokens per video against 128: 48 px),
    # full 31.57 MB = 4.0x, 4.0x and 3.56x the levels
    assert max(reduced) / min(reduced) < 1.35
    for saved in reduced:
        assert 0.75 * 4 < full / saved < 1.25 * 4  # about the budget


# ---- the trainer ----------------------------------------------------------------------------


class _Clips(Dataset[VideoSample]):
    """Eight random 16-frame clips at 16 x 16 px."""

    def __init__(self) -> None:
        self.frames = torch.rand(8, 3, 16, 16, 16, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> VideoSample:
        return VideoSample(
            f"clip_{index}",
            self.frames[index],
            torch.ones(16, dtype=torch.bool),
            Segments([[2.0, 10.0]], unit="idx"),
            torch.tensor([0]),
            grid_stride_sec=0.5,
        )


class _ClipRegressor(nn.Module):
    """Regresses the grid stride from mean colours; records the frame shapes it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, batch: VideoBatch) -> dict[str, torch.Tensor]:
        self.shapes.append(tuple(batch.inputs.shape[2:]))
        prediction = self.linear(batch.inputs.mean(dim=(2, 3, 4)))[:, 0]  # (B,)
        loss = ((prediction - batch.grid_stride_sec.float()) ** 2).mean()
        return {"final_loss": loss}


def _trainer(tmp_path, schedule: FidelitySchedule, **kwargs) -> Trainer:
    torch.manual_seed(0)
    model = _ClipRegressor()
    loader = build_loader(_Clips(), batch_size=2, shuffle=True, seed=5, drop_last=True)
    optimizer = build_optimizer(model, lr=0.01, weight_decay=0.0)
    scheduler = WarmupCosineLR(optimizer, warmup_steps=1, total_steps=8)
    transform = FidelityTransform(schedule, patch_size=4, chunk_frames=4)
    return Trainer(
        model,
        optimizer,
        scheduler,
        loader,
        epochs=2,
        grad_accum_steps=2,  # 4 batches per epoch: 2 optimizer steps
        output_dir=tmp_path,
        seed=1,
        progress=False,
        batch_transform=transform,
        **kwargs,
    )


S_SHAPE, T_SHAPE, ST_SHAPE = (16, 8, 8), (4, 16, 16), (8, 12, 12)  # 16 px / 1.41 -> 11 -> 12


def test_trainer_transforms_training_batches_per_step_and_logs_the_fidelity(tmp_path):
    schedule = FidelitySchedule("cyclic", every="batch", cycle_batches=1)
    calls_at_eval = []

    def evaluator(model):
        calls_at_eval.append(len(model.shapes))
        return {"average_mAP": 0.0}

    with MetricsWriter(tmp_path / "metrics.jsonl") as metrics:
        trainer = _trainer(tmp_path, schedule, evaluator=evaluator, metrics=metrics, log_interval=1)
        trainer.fit()
    # optimizer steps 0..3 cycle S, T, ST, S; both micro-batches of a step share its level
    shapes = [S_SHAPE] * 2 + [T_SHAPE] * 2 + [ST_SHAPE] * 2 + [S_SHAPE] * 2
    assert trainer.raw_model.shapes == shapes
    assert calls_at_eval == [8]  # the evaluator runs after training, on nothing transformed
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [(r["step"], r["r_t"]) for r in train] == [(1, 1.0), (2, 4.0), (3, 2.0), (4, 1.0)]
    assert [r["r_s"] for r in train] == pytest.approx([2.0, 1.0, 2**0.5, 2.0])
    assert "r_t" not in next(r for r in records if r["kind"] == "eval")


def test_a_resumed_run_sees_the_same_fidelity_sequence(tmp_path):
    schedule = FidelitySchedule("cyclic", every="batch", cycle_batches=1)
    reference = _trainer(tmp_path / "ref", schedule)
    reference.fit()

    broken = _trainer(tmp_path / "run", schedule, hooks=[StopAt(3)], checkpoint_interval_steps=1)
    with pytest.raises(StopError):
        broken.fit()
    resumed = _trainer(tmp_path / "run", schedule)
    resumed.load_state_dict(load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt"))
    resumed.fit()
    assert broken.raw_model.shapes + resumed.raw_model.shapes == reference.raw_model.shapes
    for name, value in reference.raw_model.state_dict().items():
        assert torch.equal(value, resumed.raw_model.state_dict()[name]), name


def test_epoch_cycle_changes_level_with_the_epoch(tmp_path):
    trainer = _trainer(tmp_path, FidelitySchedule("cyclic"))
    trainer.fit()
    assert trainer.raw_model.shapes == [S_SHAPE] * 4 + [T_SHAPE] * 4
