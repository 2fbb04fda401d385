"""Supervised clip classification of a pretrained encoder on trimmed action segments.

The released checkpoints AdaTAD starts from were pretrained as VideoMAEs *and then fine-tuned*
on Kinetics classification (VideoMAE ``run_class_finetuning.py``). :func:`finetune_classifier`
is that second stage at small scale: every annotated segment of one subset of an annotation
file is a trimmed clip with its class; a :class:`ClipClassifier` (the backbone, mean pooling
over all tokens, VideoMAE's ``fc_norm`` and linear ``head``, or a plain linear ``head``) learns
to classify random clips of them. The weights are saved as ``{"model": state}`` with VideoMAE's
fine-tuned names (``patch_embed.*``, ``blocks.*``, ``fc_norm.*`` when there is one,
``head.*``), which :func:`tadapt.backbones.load_pretrained` reads like a released fine-tuned
checkpoint (dropping ``fc_norm`` and ``head``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tadapt.backbones.registry import IMAGENET_MEAN, IMAGENET_STD
from tadapt.backbones.videomae import DropPath, VisionTransformer
from tadapt.data.base import item_generator
from tadapt.data.files import DataError, find_files, missing_message
from tadapt.data.transforms import CenterCrop, Compose, MultiScaleCrop, Normalize, ToFloatClip
from tadapt.engine.precision import resolve_precision
from tadapt.engine.schedulers import WarmupCosineLR
from tadapt.engine.seed import seed_everything
from tadapt.io import atomic_path, load_annotations
from tadapt.io.video import VideoReader, probe_video, uniform_indices
from tadapt.pretraining.config import FINETUNE_HEADS, FinetuneConfig
from tadapt.pretraining.loop import weight_decay_groups

__all__ = ["ClipClassifier", "FinetuneResult", "TrimmedClips", "finetune_classifier"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Segment:
    path: Path
    start_frame: int
    end_frame: int  # exclusive
    label: int


class TrimmedClips(Dataset[tuple[torch.Tensor, int]]):
    """One clip per annotated segment: ``num_frames`` frames every ``stride``-th, inside it.

    A segment longer than the clip gives a clip at a random start (training) or centred
    (evaluation); a shorter one is sampled uniformly over its frames, some repeated.

    Args:
        segments: the segments (see :func:`trimmed_segments`).
        num_frames: frames per clip.
        stride: frame step.
        size: crop side in pixels.
        train: random start and :class:`~tadapt.data.MultiScaleCrop`; else centre crop.
        seed: seed of every random choice (per epoch and item).
    """

    def __init__(
        self,
        segments: list[_Segment],
        *,
        num_frames: int,
        stride: int,
        size: int,
        train: bool,
        seed: int = 0,
    ) -> None:
        self.segments = segments
        self.num_frames, self.stride, self.train, self.seed = num_frames, stride, train, seed
        self.epoch = 0
        crop = MultiScaleCrop(size) if train else CenterCrop(size)
        self.transform = Compose([ToFloatClip(), crop, Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(C, T, H, W)`` normalised clip and its label."""
        segment = self.segments[index]
        generator = item_generator(self.seed, self.epoch, index)
        length = segment.end_frame - segment.start_frame
        span = (self.num_frames - 1) * self.stride + 1
        if length >= span:
            slack = length - span
            offset = (
                int(torch.randint(slack + 1, (1,), generator=generator))
                if self.train
                else slack // 2
            )
            indices = offset + self.stride * torch.arange(self.num_frames)
        else:
            indices = uniform_indices(length, self.num_frames)
        with VideoReader(segment.path, threads=1) as reader:
            frames = reader.read_frames(segment.start_frame + indices)
        return self.transform(frames, generator), segment.label


def trimmed_segments(
    annotation_file: str | os.PathLike[str], video_dir: str | os.PathLike[str], split: str
) -> tuple[list[_Segment], tuple[str, ...]]:
    """The annotated segments of one subset, as frame ranges of their video files.

    Returns:
        The segments and the class names (label index -> name).

    Raises:
        DataError: videos of the subset are missing from ``video_dir``, or it has no segment.
    """
    annotations = load_annotations(annotation_file).split(split)
    table = annotations.table
    found, missing = find_files(video_dir, table.video_ids)
    if missing:
        raise DataError(missing_message(missing, len(table.video_ids), Path(video_dir), ".mp4"))
    segments = []
    for video_index, video_id in enumerate(table.video_ids):
        rows = np.flatnonzero(table.video == video_index)
        if not len(rows):
            continue
        info = probe_video(found[video_id])
        for row in rows:
            start_sec, end_sec = table.segments[row]
            start = min(max(round(start_sec * info.fps), 0), info.num_frames - 1)
            end = min(max(round(end_sec * info.fps), start + 1), info.num_frames)
            segments.append(_Segment(found[video_id], start, end, int(table.labels[row])))
    if not segments:
        raise DataError(f"{annotation_file}: split {split!r} has no annotated segment")
    return segments, annotations.class_names


class ClipClassifier(nn.Module):
    """Backbone, mean over all tokens, then VideoMAE's head (``fc_norm``, linear) or a linear one.

    Args:
        backbone: the pretrained :class:`VisionTransformer` (trained in place).
        num_classes: classes of the head.
        head: ``"videomae"``: ``fc_norm`` and a linear ``head`` whose truncated-normal initial
            weights are scaled by 0.001, as VideoMAE's fine-tuning; ``"linear"``: a linear
            ``head`` at PyTorch's default initialisation (:class:`FinetuneConfig`).
    """

    def __init__(self, backbone: VisionTransformer, num_classes: int, head: str = "videomae"):
        super().__init__()
        if head not in FINETUNE_HEADS:
            raise ValueError(f"head must be one of {', '.join(FINETUNE_HEADS)}, got {head!r}")
        self.backbone = backbone
        self.fc_norm: nn.Module = (
            nn.LayerNorm(backbone.embed_dim, eps=backbone.norm_eps)
            if head == "videomae"
            else nn.Identity()
        )
        self.head = nn.Linear(backbone.embed_dim, num_classes)
        if head == "videomae":
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
            with torch.no_grad():
                self.head.weight.mul_(1e-3)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T, H, W)`` clips -> ``(B, K)`` logits."""
        tokens = self.backbone.forward_features(clips)  # (B, C, T / tubelet), spatial means
        logits: torch.Tensor = self.head(self.fc_norm(tokens.mean(dim=-1)))
        return logits

    def official_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights under VideoMAE's fine-tuned names (no ``backbone.`` prefix), fp32."""
        state = self.state_dict()
        return {
            k.removeprefix("backbone."): v.detach().float().cpu().clone() for k, v in state.items()
        }


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune_classifier` produced.

    Attributes:
        checkpoint: ``finetuned.pth``, ``{"model": state, "class_names": [...]}`` in
            VideoMAE's fine-tuned layout.
        train_accuracy: training-clip accuracy of every epoch.
        eval_accuracy: held-out accuracy of every epoch (empty without ``eval_split``).
        seconds: wall time.
    """

    checkpoint: Path
    train_accuracy: tuple[float, ...]
    eval_accuracy: tuple[float, ...]
    seconds: float


def _accuracy(
    model: ClipClassifier, loader: DataLoader[Any], device: torch.device, policy: Any
) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for clips, labels in loader:
            with policy.autocast():
                logits = model(clips.to(device))
            correct += int((logits.argmax(-1).cpu() == labels).sum())
            total += len(labels)
    return correct / max(total, 1)


def finetune_classifier(
    backbone: VisionTransformer,
    config: FinetuneConfig,
    *,
    annotation_file: str | os.PathLike[str],
    video_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    num_frames: int,
    stride: int,
    size: int,
    precision: str = "fp32",
    device: str = "cpu",
    num_workers: int = 0,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``backbone`` on clip classification and save it (module docstring).

    Args:
        backbone: the pretrained backbone (its weights change in place).
        config: the fine-tuning settings.
        annotation_file: ground truth whose segments are the trimmed clips.
        video_dir: folder of its videos.
        out_path: where to write the ``{"model": state}`` file.
        num_frames: frames per clip.
        stride: frame step.
        size: crop side in pixels.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``amp``.
        device: torch device.
        num_workers: data-loader workers.
        progress: show a progress bar.

    Returns:
        The :class:`FinetuneResult`.
    """
    start_time = time.perf_counter()
    dev = torch.device(device)
    policy = resolve_precision(precision, dev)
    segments, class_names = trimmed_segments(annotation_file, video_dir, config.split)
    clip_args = {"num_frames": num_frames, "stride": stride, "size": size, "seed": config.seed}
    train_set = TrimmedClips(segments, train=True, **clip_args)
    eval_loader = None
    if config.eval_split is not None:
        held_out, _ = trimmed_segments(annotation_file, video_dir, config.eval_split)
        eval_set = TrimmedClips(held_out, train=False, **clip_args)
        eval_loader = DataLoader(eval_set, batch_size=config.batch_size, num_workers=num_workers)
    if len(train_set) < config.batch_size:
        raise ValueError(
            f"{len(train_set)} training segments is fewer than the batch size {config.batch_size}"
        )
    seed_everything(config.seed)
    last = max(len(backbone.blocks) - 1, 1)
    for index, block in enumerate(backbone.blocks):  # stochastic depth, linear over depth
        rate = config.drop_path * index / last
        block.drop_path = DropPath(rate) if rate > 0 else nn.Identity()
    model = ClipClassifier(backbone, len(class_names), head=config.head).to(dev)
    lr = config.base_lr * config.batch_size / 256
    optimizer = torch.optim.AdamW(weight_decay_groups(model, config.weight_decay), lr=lr)
    steps_per_epoch = len(train_set) // config.batch_size
    scheduler = WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        min_lr_ratio=config.min_lr / config.base_lr,
    )
    scaler = policy.make_scaler()
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    train_acc: list[float] = []
    eval_acc: list[float] = []
    bar = tqdm(
        total=config.epochs * steps_per_epoch, desc="finetune", unit="step", disable=not progress
    )
    for epoch in range(config.epochs):
        train_set.epoch = epoch
        order = item_generator(config.seed, epoch, -1)
        loader = DataLoader(
            train_set,
            batch_size=config.batch_size,
            shuffle=True,
            generator=order,
            drop_last=True,
            num_workers=num_workers,
        )
        model.train()
        correct = total = 0
        for clips, labels in loader:
            clips, labels = clips.to(dev), labels.to(dev)
            with policy.autocast():
                logits = model(clips)
            loss = criterion(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            torch.autograd.backward(scaler.scale(loss))
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            correct += int((logits.argmax(-1) == labels).sum())
            total += len(labels)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        train_acc.append(correct / max(total, 1))
        if eval_loader is not None:
            eval_acc.append(_accuracy(model, eval_loader, dev, policy))
        logger.info(
            "fine-tuning epoch %d: train accuracy %.3f%s", epoch + 1, train_acc[-1],
            f", held-out {eval_acc[-1]:.3f}" if eval_acc else "",
        )  # fmt: skip
    bar.close()
    for block in backbone.blocks:  # the backbone leaves without stochastic depth
        block.drop_path = nn.Identity()
    out = Path(out_path)
    with atomic_path(out) as tmp, tmp.open("wb") as f:
        torch.save({"model": model.official_state_dict(), "class_names": list(class_names)}, f)
    return FinetuneResult(out, tuple(train_acc), tuple(eval_acc), time.perf_counter() - start_time)
