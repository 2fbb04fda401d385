"""Settings of VideoMAE pretraining (``tadapt pretrain``), with the papers' values as defaults.

Defaults follow VideoMAE's Kinetics-400 recipe (MCG-NJU/VideoMAE ``scripts/kinetics/*/
pretrain.sh`` and ``run_mae_pretraining.py``): tube mask ratio 0.9, decoder depth 4, AdamW
with betas (0.9, 0.95) and weight decay 0.05, base learning rate 1.5e-4 and minimum 1e-5, both
scaled by ``batch / 256``, cosine schedule after a linear warmup, normalised pixel targets.
VideoMAE V2's dual masking is ``decoder_mask_ratio: 0.5``. The clip geometry and schedule
length default to the tiny CPU setting of the checkpoint tadapt ships; the papers use 16
frames every 4th (Kinetics, 30 fps), 224 px, 800-1600 epochs, 40 of them warmup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FINETUNE_HEADS", "FinetuneConfig", "PretrainConfig"]


@dataclass(frozen=True)
class PretrainConfig:
    """What ``tadapt pretrain`` does.

    Attributes:
        backbone: registered backbone to pretrain (``tadapt list backbones``).
        backbone_overrides: its constructor arguments (e.g. ``{"depth": 2}``).
        num_frames: frames per clip.
        stride: take every ``stride``-th frame (VideoMAE's ``sampling_rate``).
        size: crop side in pixels (a multiple of the patch size).
        short_side: decode videos to this short side first; ``None``: stored size.
        mask_ratio: tube mask ratio of the encoder.
        decoder_mask_ratio: VideoMAE V2's running-cell decoder mask ratio; 0: off (VideoMAE).
        decoder_dim: decoder width; ``None``: half the encoder's (VideoMAE's ViT-S/B).
        decoder_depth: decoder blocks.
        decoder_heads: decoder heads; ``None``: one per 64 channels (at least one).
        normalize_target: per-patch normalised pixel targets.
        epochs: passes over the videos (one random clip per video each).
        warmup_epochs: linear warmup.
        batch_size: videos per step (each gives ``clips_per_video`` clips).
        clips_per_video: augmented copies of each sampled clip (VideoMAE's ``num_sample``).
        base_lr: learning rate per 256 clips.
        min_lr: final learning rate per 256 clips.
        weight_decay: AdamW weight decay (not on biases, norms and the mask token).
        betas: AdamW betas.
        clip_grad: gradient-norm clipping; ``None``: off (VideoMAE's default).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``amp`` (:mod:`tadapt.engine.precision`).
        device: ``cpu``, ``cuda``, ``cuda:1`` ...
        seed: seed of the initialisation and of every clip, crop and mask.
        num_workers: data-loader worker processes.
    """

    backbone: str = "videomae_tiny_patch16"
    backbone_overrides: dict[str, int] = field(default_factory=dict)
    num_frames: int = 16
    stride: int = 2
    size: int = 64
    short_side: int | None = None
    mask_ratio: float = 0.9
    decoder_mask_ratio: float = 0.0
    decoder_dim: int | None = None
    decoder_depth: int = 4
    decoder_heads: int | None = None
    normalize_target: bool = True
    epochs: int = 100
    warmup_epochs: int = 10
    batch_size: int = 8
    clips_per_video: int = 1
    base_lr: float = 1.5e-4
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    clip_grad: float | None = None
    precision: str = "fp32"
    device: str = "cpu"
    seed: int = 0
    num_workers: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.num_frames >= 1, "num_frames", "must be >= 1"),
            (self.stride >= 1, "stride", "must be >= 1"),
            (self.size >= 1, "size", "must be >= 1"),
            (0.0 <= self.mask_ratio < 1.0, "mask_ratio", "must be in [0, 1)"),
            (0.0 <= self.decoder_mask_ratio < 1.0, "decoder_mask_ratio", "must be in [0, 1)"),
            (self.decoder_depth >= 1, "decoder_depth", "must be >= 1"),
            (self.epochs >= 1, "epochs", "must be >= 1"),
            (0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "must be in [0, epochs]"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (self.clips_per_video >= 1, "clips_per_video", "must be >= 1"),
            (self.base_lr > 0 and self.min_lr >= 0, "base_lr", "needs base_lr > 0, min_lr >= 0"),
            (self.min_lr <= self.base_lr, "min_lr", "must be <= base_lr"),
            (self.num_workers >= 0, "num_workers", "must be >= 0"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ValueError(f"pretraining {name}={getattr(self, name)!r}: {why}")

    @property
    def clips_per_step(self) -> int:
        """Clips in one optimizer step, ``batch_size * clips_per_video``."""
        return self.batch_size * self.clips_per_video

    @property
    def lr(self) -> float:
        """Peak learning rate, ``base_lr * clips_per_step / 256`` (VideoMAE's scaling)."""
        return self.base_lr * self.clips_per_step / 256

    @property
    def final_lr(self) -> float:
        """Learning rate at the end of the cosine, ``min_lr * clips_per_step / 256``."""
        return self.min_lr * self.clips_per_step / 256


FINETUNE_HEADS: tuple[str, ...] = ("videomae", "linear")
"""Heads of the fine-tuning stage (:attr:`FinetuneConfig.head`)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Supervised clip classification after pretraining (``tadapt pretrain --finetune-classes``).

    Mirrors the Kinetics fine-tuning that AdaTAD's checkpoints went through (VideoMAE
    ``run_class_finetuning.py``: mean-pooled tokens, ``fc_norm``, a linear head, label smoothing
    0.1, drop path 0.1, AdamW with weight decay 0.05, warmup then cosine), at small scale.
    Mixup, CutMix, RandAugment and layer-wise learning-rate decay are not used.

    ``head="linear"`` (our option) replaces VideoMAE's head (``fc_norm``, weights scaled by
    0.001) with a plain linear layer at PyTorch's default initialisation: with that head and
    no label smoothing, the 4-block tiny ViT trained from scratch on synthetic motion classes
    left its plateau at chance after ~800 steps, where VideoMAE's head with label smoothing 0.1
    stayed at chance for 1,700 steps (docs/pretraining.md, "What to expect").

    Attributes:
        split: subset of the annotation file whose action segments are the training clips.
        eval_split: subset reported as held-out accuracy after each epoch (``None``: none).
        epochs: passes over the segments (one random clip each).
        warmup_epochs: linear warmup.
        batch_size: clips per step.
        base_lr: learning rate per 256 clips.
        min_lr: final learning rate per 256 clips.
        weight_decay: AdamW weight decay (not on biases and norms).
        label_smoothing: cross-entropy label smoothing.
        head: ``"videomae"`` (mean pooling, ``fc_norm``, linear head scaled by 0.001) or
            ``"linear"`` (mean pooling, linear head at PyTorch's default initialisation).
        drop_path: stochastic depth of the last block.
        seed: seed of the head's initialisation and of every clip and crop.
    """

    split: str = "train"
    eval_split: str | None = None
    epochs: int = 30
    warmup_epochs: int = 3
    batch_size: int = 16
    base_lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    head: str = "videomae"
    drop_path: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs", "must be >= 1"),
            (0 <= self.warmup_epochs <= self.epochs, "warmup_epochs", "must be in [0, epochs]"),
            (self.batch_size >= 1, "batch_size", "must be >= 1"),
            (
                self.base_lr > 0 and 0 <= self.min_lr <= self.base_lr,
                "base_lr",
                "needs 0 <= min_lr <= base_lr, base_lr > 0",
            ),
            (0.0 <= self.label_smoothing < 1.0, "label_smoothing", "must be in [0, 1)"),
            (0.0 <= self.drop_path < 1.0, "drop_path", "must be in [0, 1)"),
            (self.head in FINETUNE_HEADS, "head", f"must be one of {', '.join(FINETUNE_HEADS)}"),
        ]
        for ok, name, why in checks:
            if not ok:
                raise ValueError(f"fine-tuning {name}={getattr(self, name)!r}: {why}")
