"""The pretraining loop: AdamW + warmup-cosine, masked-pixel MSE, resumable, seeded.

:func:`pretrain` trains a :class:`~tadapt.pretraining.model.MaskedAutoencoder` on random clips
of the given videos and writes, in ``out_dir``:

* ``checkpoint.pth``: ``{"model": state_dict}`` in the official VideoMAE pretraining layout
  (encoder, decoder, ``encoder_to_decoder``, ``mask_token``), what
  :func:`tadapt.backbones.load_pretrained` reads;
* ``last.pt``: everything needed to resume (weights, optimizer, schedule, RNG states,
  epoch, loss history), written atomically after every epoch; running the same command
  again continues from it;
* ``history.json``: mean loss and learning rate per epoch;
* ``config.json``: the settings.

As the official ``engine_for_pretraining.py``, the targets are computed in fp32 outside
autocast; the learning rate is set per step. One difference: the warmup starts from 0, not
from ``1e-6`` (``warmup_lr``), the closed form :class:`~tadapt.engine.schedulers.WarmupCosineLR`
shares with training.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from tadapt.backbones import create_backbone
from tadapt.backbones.registry import IMAGENET_MEAN, IMAGENET_STD
from tadapt.engine.checkpoint import (
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from tadapt.engine.precision import resolve_precision
from tadapt.engine.schedulers import WarmupCosineLR
from tadapt.engine.seed import seed_everything
from tadapt.io import atomic_path, write_text_atomic
from tadapt.pretraining.clips import PretrainClips, epoch_batches
from tadapt.pretraining.config import PretrainConfig
from tadapt.pretraining.model import MaskedAutoencoder
from tadapt.pretraining.targets import masked_mse, mean_prediction_loss, patch_targets

__all__ = [
    "PretrainResult",
    "build_autoencoder",
    "pretrain",
    "save_pretrained_weights",
    "weight_decay_groups",
]

logger = logging.getLogger(__name__)

_MEAN_ONLY_FRACTION = 0.99  # a final loss this close to the mean-only loss: nothing learned


@dataclass(frozen=True)
class PretrainResult:
    """What :func:`pretrain` produced.

    Attributes:
        checkpoint: ``checkpoint.pth`` in the official pretraining layout.
        losses: mean reconstruction loss of every epoch, first to last.
        steps: optimizer steps taken in all (resumed ones included).
        seconds: wall time of this call.
    """

    checkpoint: Path
    losses: tuple[float, ...]
    steps: int
    seconds: float


def build_autoencoder(config: PretrainConfig) -> MaskedAutoencoder:
    """The masked autoencoder of ``config``, freshly initialised (seed it first)."""
    overrides: dict[str, Any] = dict(config.backbone_overrides)
    backbone = create_backbone(config.backbone, **overrides)
    decoder_dim = config.decoder_dim or backbone.embed_dim // 2
    heads = config.decoder_heads or max(1, decoder_dim // 64)
    return MaskedAutoencoder(
        backbone, decoder_dim=decoder_dim, decoder_depth=config.decoder_depth, decoder_heads=heads
    )


def save_pretrained_weights(model: MaskedAutoencoder, path: str | os.PathLike[str]) -> Path:
    """Write ``{"model": state_dict}`` (fp32, official names) atomically; returns the path."""
    state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        torch.save({"model": state}, f)
    return Path(path)


def weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups as VideoMAE's ``get_parameter_groups`` (decay on matrices only).

    No weight decay on 1-d tensors, biases and the mask token; ``weight_decay`` on the rest.
    """
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        skip = param.ndim <= 1 or name.endswith(".bias") or name == "mask_token"
        (no_decay if skip else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _config_dict(config: PretrainConfig) -> dict[str, Any]:
    settings: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(config)))
    return settings


def pretrain(
    config: PretrainConfig,
    videos: Sequence[Path],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> PretrainResult:
    """Pretrain ``config.backbone`` as a VideoMAE on ``videos``; resume from ``out_dir/last.pt``.

    Args:
        config: the settings.
        videos: video files (:func:`tadapt.pretraining.collect_videos`).
        out_dir: output folder (module docstring); created if missing.
        progress: show a progress bar.

    Returns:
        The :class:`PretrainResult`.

    Raises:
        ValueError: fewer videos than ``batch_size``, a clip geometry the backbone cannot
            take, or a ``last.pt`` written with other settings.
    """
    start_time = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(config.device)
    policy = resolve_precision(config.precision, device)
    if len(videos) < config.batch_size:
        raise ValueError(
            f"{len(videos)} videos is fewer than batch_size={config.batch_size}; lower the batch "
            "size or add videos"
        )
    seed_everything(config.seed)
    model = build_autoencoder(config).to(device)
    dataset = PretrainClips(
        videos,
        num_frames=config.num_frames,
        stride=config.stride,
        size=config.size,
        patch_size=model.patch_size,
        tubelet_size=model.tubelet_size,
        mask_ratio=config.mask_ratio,
        decoder_mask_ratio=config.decoder_mask_ratio,
        clips_per_video=config.clips_per_video,
        short_side=config.short_side,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        seed=config.seed,
    )
    steps_per_epoch = len(dataset) // config.batch_size
    optimizer = torch.optim.AdamW(
        weight_decay_groups(model, config.weight_decay), lr=config.lr, betas=config.betas
    )
    scheduler = WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        min_lr_ratio=config.final_lr / config.lr,
    )
    scaler = policy.make_scaler()
    losses: list[float] = []
    lrs: list[float] = []
    first_epoch, step = 0, 0
    last_path = out / "last.pt"
    settings = _config_dict(config)
    if last_path.is_file():
        state = load_checkpoint(last_path)
        if state["config"] != settings:
            changed = sorted(k for k in settings if state["config"].get(k) != settings[k])
            raise ValueError(
                f"{last_path} was written with other settings ({', '.join(changed)} differ); "
                "use another output folder, or the same settings to resume"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        first_epoch, step = state["state"]["epoch"], state["state"]["step"]
        losses, lrs = list(state["state"]["losses"]), list(state["state"]["lrs"])
        logger.info("resuming %s after epoch %d (step %d)", out, first_epoch, step)
    write_text_atomic(out / "config.json", json.dumps(settings, indent=2) + "\n")
    bar = tqdm(
        total=config.epochs * steps_per_epoch,
        initial=step,
        desc="pretrain",
        unit="step",
        disable=not progress,
    )
    loader = DataLoader(
        dataset,
        batch_sampler=list(
            epoch_batches(
                len(dataset),
                config.batch_size,
                epochs=range(first_epoch, config.epochs),
                seed=config.seed,
            )
        ),
        num_workers=config.num_workers,
    )
    batches = iter(loader)
    for epoch in range(first_epoch, config.epochs):
        model.train()
        total = 0.0
        for _ in range(steps_per_epoch):
            batch = next(batches)
            clips = batch["clips"].flatten(0, 1).to(device)  # (B * S, C, T, H, W)
            mask = batch["mask"].flatten(0, 1).to(device)  # (B * S, N)
            decode = batch["decode"].flatten(0, 1).to(device)
            with torch.no_grad():
                targets = patch_targets(
                    clips,
                    patch_size=model.patch_size,
                    tubelet_size=model.tubelet_size,
                    mean=IMAGENET_MEAN,
                    std=IMAGENET_STD,
                    normalize=config.normalize_target,
                )
                targets = targets[decode].reshape(clips.shape[0], -1, targets.shape[-1])
                counted = mask[decode].reshape(clips.shape[0], -1)  # hidden from the encoder
            with policy.autocast():
                predictions = model(clips, mask, decode)
            loss = masked_mse(predictions, targets, counted)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(
                    f"pretraining loss is {loss.item()} at step {step}; lower base_lr or use fp32"
                )
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(scaler.scale(loss))
            if config.clip_grad is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            scaler.step(optimizer)
            scaler.update()
            lrs_now = float(scheduler.get_last_lr()[0])
            scheduler.step()
            step += 1
            total += loss.item()
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}", lr=f"{lrs_now:.2e}")
        losses.append(total / steps_per_epoch)
        lrs.append(lrs_now)
        save_checkpoint(
            last_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": capture_rng_state(),
                "state": {"epoch": epoch + 1, "step": step, "losses": losses, "lrs": lrs},
                "config": settings,
            },
        )
        history = [
            {"epoch": i + 1, "loss": v, "lr": r}
            for i, (v, r) in enumerate(zip(losses, lrs, strict=True))
        ]
        write_text_atomic(out / "history.json", json.dumps(history, indent=1) + "\n")
    bar.close()
    checkpoint = save_pretrained_weights(model, out / "checkpoint.pth")
    seconds = time.perf_counter() - start_time
    logger.info("pretrained %d steps; weights in %s", step, checkpoint)
    _warn_if_only_the_mean(config, model, losses)
    return PretrainResult(checkpoint, tuple(losses), step, seconds)


def _warn_if_only_the_mean(
    config: PretrainConfig, model: MaskedAutoencoder, losses: list[float]
) -> None:
    """Warn when normalised-target training ended at the loss of predicting zeros."""
    if not config.normalize_target or not losses:
        return
    floor = mean_prediction_loss(patch_size=model.patch_size, tubelet_size=model.tubelet_size)
    if losses[-1] >= _MEAN_ONLY_FRACTION * floor:
        logger.warning(
            "the reconstruction loss ended at %.4f, %.1f %% of %.4f, the loss of predicting only "
            "each patch's mean: the encoder has learned next to nothing. The per-patch "
            "normalised targets are unpredictable here (noise or fine texture dominates each "
            "patch, or too few tokens stay visible, e.g. 4 x 4 per frame at 64 px); try "
            "--raw-targets, a lower --mask-ratio or larger frames (docs/pretraining.md)",
            losses[-1], 100 * losses[-1] / floor, floor,
        )  # fmt: skip
