"""Snippet feature extraction: videos -> per-video ``(T, C)`` features for head-only training.

The ActionFormer convention, which :class:`tadapt.data.FeatureDataset` reads back: snippet
``j`` covers frames ``[j * feat_stride, j * feat_stride + snippet_frames)`` (frames sampled at
``frame_stride`` from the video), is encoded by the backbone, and its tokens are averaged over
time and space into one ``C``-vector. A video has ``floor((N - snippet_frames) / feat_stride) + 1``
snippets (``N`` sampled frames); a video shorter than one snippet gives one, padded by
repeating its last frame. The released THUMOS-14 features are 16-frame snippets at stride 4 on
~30 fps video (ActionFormer's README and ``configs/thumos_i3d.yaml``); those are the defaults.

Each output is written to a temporary file and renamed, so an interrupted run never leaves a
partial ``.npy``; a rerun skips the videos already done.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tadapt.backbones import autocast_context
from tadapt.data.base import DataError, find_files
from tadapt.data.transforms import ClipTransform
from tadapt.io import VideoError, VideoReader, atomic_path

__all__ = [
    "ExtractionReport",
    "FeatureBackbone",
    "extract_features",
    "extract_video_features",
    "snippet_starts",
    "write_video_features",
]

_logger = logging.getLogger(__name__)


class FeatureBackbone(Protocol):
    """What extraction needs: ``(B, 3, T, H, W)`` frames -> ``(B, C, T')`` features."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Temporal features of a batch of clips."""
        ...

    def eval(self) -> nn.Module:
        """Switch to inference behaviour (no dropout / drop path)."""
        ...


@dataclass
class ExtractionReport:
    """What one extraction run did.

    Attributes:
        written: video ids whose features were written.
        skipped: video ids whose output already existed (resume).
        failed: video id -> the error message, for videos that could not be decoded.
        missing: video ids without a file in the video folder.
    """

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of counts, plus the failed videos."""
        lines = [
            f"written {len(self.written)}, skipped (already done) {len(self.skipped)}, "
            f"failed {len(self.failed)}, missing {len(self.missing)}"
        ]
        lines += [f"  failed {vid}: {msg}" for vid, msg in self.failed.items()]
        if self.missing:
            more = f" (+{len(self.missing) - 5} more)" if len(self.missing) > 5 else ""
            lines.append(f"  missing: {', '.join(self.missing[:5])}{more}")
        return "\n".join(lines)


def snippet_starts(num_frames: int, snippet_frames: int, feat_stride: int) -> list[int]:
    """First sampled-frame index of every snippet (at least one, even for a short video)."""
    if snippet_frames < 1 or feat_stride < 1:
        raise ValueError(
            f"snippet_frames and feat_stride must be >= 1, got {snippet_frames}, {feat_stride}"
        )
    count = max((num_frames - snippet_frames) // feat_stride + 1, 1)
    return [j * feat_stride for j in range(count)]


def _snippet_groups(
    starts: list[int], snippet_frames: int, batch_snippets: int
) -> Iterator[tuple[list[int], int, int]]:
    """Consecutive snippets in groups: (starts, first frame, frames to read)."""
    for i in range(0, len(starts), batch_snippets):
        group = starts[i : i + batch_snippets]
        yield group, group[0], group[-1] + snippet_frames - group[0]


@torch.no_grad()
def extract_video_features(
    backbone: FeatureBackbone,
    reader: VideoReader,
    transform: ClipTransform,
    *,
    snippet_frames: int = 16,
    feat_stride: int = 4,
    frame_stride: int = 1,
    batch_snippets: int = 16,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Features of one video.

    Args:
        backbone: a module with ``forward_features((B, 3, T, H, W)) -> (B, C, T')``.
        reader: the open video.
        transform: uint8 ``(T, H, W, 3)`` -> normalised float ``(3, T, H, W)`` (no randomness).
        snippet_frames: frames per snippet (a multiple of the backbone's chunk length).
        feat_stride: sampled frames between two snippet starts.
        frame_stride: take every ``frame_stride``-th frame of the video.
        batch_snippets: snippets encoded per forward pass (bounds memory).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        device: where the backbone runs.

    Returns:
        ``(num_snippets, C)`` float32 features.
    """
    num_sampled = -(-reader.info.num_frames // frame_stride)
    starts = snippet_starts(num_sampled, snippet_frames, feat_stride)
    device = torch.device(device)
    features = []
    for group, first, length in _snippet_groups(starts, snippet_frames, batch_snippets):
        frames, _ = reader.read_window(first * frame_stride, length, frame_stride)
        clip = transform(frames)  # (3, L, H, W)
        # (3, L, H, W) -> (S, 3, snippet_frames, H, W): one overlapping view per snippet
        offsets = torch.tensor(group) - first
        index = offsets[:, None] + torch.arange(snippet_frames)[None, :]
        snippets = clip[:, index].permute(1, 0, 2, 3, 4).to(device)
        with autocast_context(device, precision):
            out = backbone.forward_features(snippets)  # (S, C, snippet_frames / tubelet)
        features.append(out.float().mean(dim=-1).cpu())
    return torch.cat(features).numpy()


def extract_features(
    backbone: FeatureBackbone,
    video_ids: Iterable[str],
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    transform: ClipTransform,
    *,
    exts: tuple[str, ...] = (".mp4",),
    short_side: int | None = None,
    snippet_frames: int = 16,
    feat_stride: int = 4,
    frame_stride: int = 1,
    batch_snippets: int = 16,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> ExtractionReport:
    """Write ``out_dir/<video_id>.npy`` (``(T, C)`` float32) for every video.

    Videos whose output exists are skipped; a video that cannot be decoded is reported in
    :attr:`ExtractionReport.failed` and the run goes on (no file is written for it).

    Raises:
        DataError: ``video_dir`` is not a folder.
    """
    backbone.eval()
    return write_video_features(
        video_ids,
        video_dir,
        out_dir,
        lambda reader: extract_video_features(
            backbone,
            reader,
            transform,
            snippet_frames=snippet_frames,
            feat_stride=feat_stride,
            frame_stride=frame_stride,
            batch_snippets=batch_snippets,
            precision=precision,
            device=device,
        ),
        exts=exts,
        short_side=short_side,
        progress=progress,
    )


def write_video_features(
    video_ids: Iterable[str],
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    encode: Callable[[VideoReader], np.ndarray],
    *,
    exts: tuple[str, ...] = (".mp4",),
    prefix: str = "",
    short_side: int | None = None,
    progress: bool = True,
) -> ExtractionReport:
    """Write ``out_dir/<video_id>.npy`` = ``encode(reader)`` for every video, resumably.

    Videos whose output exists are skipped; a video that cannot be decoded is reported in
    :attr:`ExtractionReport.failed` and the run goes on (no file is written for it); each file
    is written atomically.

    Args:
        video_ids: the videos to encode.
        video_dir: folder holding ``prefix + video_id + ext`` (searched recursively).
        out_dir: where the features go.
        encode: an opened video -> its ``(T, C)`` float32 features.
        exts: video file extensions, in order of preference.
        prefix: file-name prefix before the video id (ActivityNet: ``v_``).
        short_side: decode straight to this shorter side.
        progress: show a progress bar.

    Raises:
        DataError: ``video_dir`` is not a folder.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found, missing = find_files(video_dir, list(video_ids), exts=exts, prefix=prefix)
    report = ExtractionReport(missing=missing)
    if missing:
        _logger.warning("%d videos have no file in %s", len(missing), video_dir)
    for vid in tqdm(list(found), desc="extract", unit="video", disable=not progress):
        target = out / f"{vid}.npy"
        if target.exists():
            report.skipped.append(vid)
            continue
        try:
            with VideoReader(found[vid], short_side=short_side) as reader:
                feats = encode(reader)
        except (VideoError, DataError) as err:
            _logger.warning("skipping %s: %s", vid, err)
            report.failed[vid] = str(err)
            continue
        with atomic_path(target) as tmp, tmp.open("wb") as handle:
            np.save(handle, feats)
        report.written.append(vid)
    return report
