"""Whole-video features on an end-to-end detector's own grid, for a head trained on them.

LoFi's stage 3 (Xu et al., NeurIPS 2021) freezes the low-fidelity-tuned backbone, extracts
features at full fidelity and trains a new head on them. For that head to see what the
end-to-end detector's head saw, the frames must be sampled as the end-to-end dataset sampled
them and encoded as its :class:`~tadapt.detection.BackboneFeatures` encoded them:

* **which frames**: ``resize_length`` frames at equal-bin centres over the whole video (the
  ``Resize`` sampling, ActivityNet), or every ``frame_stride``-th frame (the window modes,
  THUMOS-14: the whole video instead of one window);
* **how**: consecutive chunks of ``chunk_frames`` (16) sampled frames, the backbone's tokens
  concatenated over time and resampled by ``temporal_scale`` (:meth:`BackboneFeatures.to_steps`),
  so step ``j`` covers sampled frames ``j * temporal_stride`` to ``(j + 1) * temporal_stride - 1``
  as in training.

The backbone must encode chunks independently (``full``, ``lora``, ``adapter``): chunks are
encoded a few at a time to bound memory. Only steps whose frames all exist are written.
The folder gets the same ``tadapt_features.json`` manifest as ``tadapt extract``'s
(:func:`tadapt.extraction.write_video_features`: a rerun with other weights or settings is
refused), with the detector grid's ``feat_stride`` and ``num_frames`` (:func:`step_grid`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from tadapt.backbones import autocast_context
from tadapt.data.sampling import num_grid_positions, uniform_frame_indices
from tadapt.data.transforms import ClipTransform, eval_transforms
from tadapt.detection import BackboneFeatures
from tadapt.extraction import (
    BackboneWeights,
    ExtractionReport,
    weights_sha256,
    write_video_features,
)
from tadapt.io import VideoReader
from tadapt.io.feature_manifest import FeatureManifest

__all__ = [
    "extract_step_features",
    "extract_video_step_features",
    "sampled_frame_indices",
    "step_grid",
]


def step_grid(extractor: BackboneFeatures, frame_stride: int = 1) -> tuple[int, int]:
    """``(feat_stride, num_frames)`` in video frames that place step ``j`` where the detector did.

    Step ``j`` covers sampled frames ``j * temporal_stride`` onwards and the detector put it at
    sampled frame ``j * temporal_stride + temporal_offset``; ``FeatureDataset`` puts feature
    ``j`` at video frame ``j * feat_stride + num_frames / 2``.
    """
    return extractor.temporal_stride * frame_stride, round(
        2 * extractor.temporal_offset * frame_stride
    )


def sampled_frame_indices(
    num_frames: int, *, resize_length: int | None = None, frame_stride: int = 1
) -> list[int]:
    """The video frames an end-to-end dataset samples from a whole video of ``num_frames``.

    Args:
        num_frames: decodable frames of the video.
        resize_length: ``Resize`` sampling: this many frames over the whole video.
        frame_stride: window modes: every ``frame_stride``-th frame.

    Raises:
        ValueError: ``resize_length`` with a ``frame_stride`` other than 1, or values below 1.
    """
    if frame_stride < 1 or num_frames < 1:
        raise ValueError(f"need num_frames, frame_stride >= 1, got {num_frames}, {frame_stride}")
    if resize_length is not None:
        if frame_stride != 1:
            raise ValueError("Resize sampling spreads frames over the video: frame_stride is 1")
        return uniform_frame_indices(num_frames, resize_length).tolist()
    return list(range(0, num_grid_positions(num_frames, frame_stride) * frame_stride, frame_stride))


@torch.no_grad()
def extract_video_step_features(
    extractor: BackboneFeatures,
    reader: VideoReader,
    transform: ClipTransform,
    indices: Sequence[int],
    *,
    chunks_per_pass: int = 8,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Detector-grid features of the frames ``indices`` of one video.

    Args:
        extractor: the end-to-end detector's feature extractor (no side network).
        reader: the open video.
        transform: uint8 ``(T, H, W, 3)`` -> normalised float ``(3, T, H, W)`` (no randomness).
        indices: the sampled frames (:func:`sampled_frame_indices`), non-decreasing.
        chunks_per_pass: chunks encoded per forward pass (bounds memory).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
        device: where the backbone runs.

    Returns:
        ``(T', C)`` float32: one row per step whose frames all exist
        (``len(indices) // temporal_stride``).

    Raises:
        ValueError: a side network (its taps mix chunks) or ``chunks_per_pass < 1``.
    """
    if extractor.side is not None:
        raise ValueError("step features need a backbone that encodes chunks on its own")
    if chunks_per_pass < 1:
        raise ValueError(f"chunks_per_pass must be >= 1, got {chunks_per_pass}")
    device = torch.device(device)
    block = chunks_per_pass * extractor.chunk_frames
    tokens = []
    for start in range(0, len(indices), block):
        frames = reader.read_frames(list(indices[start : start + block]))
        clip = transform(frames)  # (3, L, H, W)
        extra = -clip.shape[1] % extractor.chunk_frames
        # (3, L, H, W) -> (1, 3, whole chunks, H, W): zero frames, dropped with their steps
        clip = torch.nn.functional.pad(clip, (0, 0, 0, 0, 0, extra))[None].to(device)
        with autocast_context(device, precision):
            out = extractor.backbone.forward_features(clip)  # (1, C, chunks * T_c / tubelet)
        tokens.append(out.float().cpu())
    steps = extractor.to_steps(torch.cat(tokens, dim=-1))[0]  # (C, T')
    valid = len(indices) // extractor.temporal_stride
    return steps[:, :valid].T.contiguous().numpy()


def extract_step_features(
    extractor: BackboneFeatures,
    video_ids: Iterable[str],
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    weights: BackboneWeights,
    size: int,
    resize_length: int | None = None,
    frame_stride: int = 1,
    exts: tuple[str, ...] = (".mp4",),
    prefix: str = "",
    short_side: int | None = None,
    chunks_per_pass: int = 8,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionReport:
    """Write ``out_dir/<video_id>.npy`` (``(T', C)`` float32 detector steps) for every video.

    Frames are centre-cropped to ``size`` (:func:`tadapt.data.eval_transforms`, as the
    end-to-end detector's evaluation saw them). A video that cannot be decoded is reported in
    :attr:`ExtractionReport.failed` and the run goes on. The manifest and what a rerun does:
    :func:`tadapt.extraction.write_video_features`.

    Args:
        extractor: see :func:`extract_video_step_features`; put in eval mode here.
        video_ids: the videos to encode.
        video_dir: folder holding ``prefix + video_id + ext``.
        out_dir: where the features and ``tadapt_features.json`` go.
        weights: the backbone's name and where its (trained) weights came from.
        size: frame side fed to the backbone.
        resize_length: see :func:`sampled_frame_indices`.
        frame_stride: see :func:`sampled_frame_indices`.
        exts: video file extensions, in order of preference.
        prefix: file-name prefix before the video id (ActivityNet: ``v_``).
        short_side: decode straight to this shorter side.
        chunks_per_pass: see :func:`extract_video_step_features` (no effect on the features).
        precision: see :func:`extract_video_step_features`.
        device: see :func:`extract_video_step_features`.
        overwrite: delete the folder's ``.npy`` files and extract every video again.
        progress: show a progress bar.

    Raises:
        DataError: ``video_dir`` is not a folder.
        FeatureManifestError: ``out_dir`` holds features made otherwise and ``overwrite`` is
            false.
    """
    feat_stride, num_frames = step_grid(extractor, frame_stride)
    manifest = FeatureManifest(
        extractor="detector steps",
        backbone=weights.name,
        weights=weights.source,
        weights_sha256=weights_sha256(extractor),
        settings={
            "size": size,
            "short_side": short_side,
            "resize_length": resize_length,
            "frame_stride": frame_stride,
            "chunk_frames": extractor.chunk_frames,
            "temporal_scale": extractor.temporal_scale,
            "precision": precision,
        },
        feature_dim=extractor.out_channels,
        feat_stride=feat_stride,
        num_frames=num_frames,
    )
    transform = eval_transforms(size)
    extractor.eval()

    def encode(reader: VideoReader) -> np.ndarray:
        indices = sampled_frame_indices(
            reader.info.num_frames, resize_length=resize_length, frame_stride=frame_stride
        )
        return extract_video_step_features(
            extractor,
            reader,
            transform,
            indices,
            chunks_per_pass=chunks_per_pass,
            precision=precision,
            device=device,
        )

    return write_video_features(
        video_ids,
        video_dir,
        out_dir,
        encode,
        manifest,
        exts=exts,
        prefix=prefix,
        short_side=short_side,
        overwrite=overwrite,
        progress=progress,
    )
