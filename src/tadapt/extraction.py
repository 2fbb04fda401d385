"""Snippet feature extraction: videos -> per-video ``(T, C)`` features for head-only training.

The ActionFormer convention, which :class:`tadapt.data.FeatureDataset` reads back: snippet
``j`` covers frames ``[j * feat_stride, j * feat_stride + snippet_frames)`` (frames sampled at
``frame_stride`` from the video), is encoded by the backbone, and its tokens are averaged over
time and space into one ``C``-vector. A video has ``floor((N - snippet_frames) / feat_stride) + 1``
snippets (``N`` sampled frames); a video shorter than one snippet gives one, padded by
repeating its last frame. The released THUMOS-14 features are 16-frame snippets at stride 4 on
~30 fps video (ActionFormer's README and ``configs/thumos_i3d.yaml``); those are the defaults.

Each output is written to a temporary file and renamed, so an interrupted run never leaves a
partial ``.npy``. Before the first file, ``tadapt_features.json``
(:mod:`tadapt.io.feature_manifest`) records the backbone, its weights and every setting; a
rerun with the same ones skips the videos already done, and one with others refuses to mix
them into the folder (``overwrite=True`` deletes the old files and extracts every video again).

The backbone needs pretrained weights: :func:`create_extraction_backbone` loads a checkpoint
or the weights bundled with the backbone's tag, and refuses a random init unless asked for
(``random_init=True``), since an untrained network's features are noise to a detector.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tadapt.backbones import (
    LoadReport,
    VisionTransformer,
    autocast_context,
    bundled_weights,
    create_backbone,
    load_pretrained,
)
from tadapt.data.base import DataError, find_files
from tadapt.data.transforms import ClipTransform, eval_transforms
from tadapt.io import VideoError, VideoReader, atomic_path
from tadapt.io.feature_manifest import (
    MANIFEST_FILE,
    FeatureManifest,
    FeatureManifestError,
    manifest_path,
    read_feature_manifest,
    write_feature_manifest,
)

__all__ = [
    "BackboneWeights",
    "ExtractionBackbone",
    "ExtractionReport",
    "FeatureBackbone",
    "create_extraction_backbone",
    "extract_features",
    "extract_video_features",
    "snippet_starts",
    "weights_sha256",
    "write_video_features",
]

_logger = logging.getLogger(__name__)


class FeatureBackbone(Protocol):
    """What extraction needs: ``(B, 3, T, H, W)`` frames -> ``(B, C, T')`` features."""

    embed_dim: int  # C

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Temporal features of a batch of clips."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Its tensors (hashed into the manifest)."""
        ...

    def eval(self) -> nn.Module:
        """Switch to inference behaviour (no dropout / drop path)."""
        ...


@dataclass(frozen=True)
class BackboneWeights:
    """The backbone an extraction runs and where its weights came from, for the manifest.

    Attributes:
        name: the registered backbone (``arch`` or ``arch.tag``).
        source: its weights in words: a checkpoint's path, ``bundled NAME``,
            ``random init (seed S)``, a training run's ``last.pt``.
    """

    name: str
    source: str


class ExtractionBackbone(NamedTuple):
    """What :func:`create_extraction_backbone` built."""

    model: VisionTransformer
    weights: BackboneWeights
    report: LoadReport | None  # None: random init


def _no_weights(name: str) -> str:
    return (
        f"backbone {name!r} ships no weights with tadapt and no checkpoint was given, so the "
        "features would come from an untrained, randomly initialised network; pass the "
        "pretrained weights (tadapt extract --checkpoint PATH; Python: checkpoint=PATH), name "
        "a backbone tag shipped with weights (`tadapt list backbones` marks them 'bundled'), "
        "or ask for a random init on purpose (--random-init; random_init=True)"
    )


def create_extraction_backbone(
    name: str,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    random_init: bool = False,
    size: int = 160,
    seed: int = 0,
) -> ExtractionBackbone:
    """A registered backbone with pretrained weights, in eval mode, for feature extraction.

    Args:
        name: ``arch`` or ``arch.tag`` (see :func:`tadapt.backbones.list_backbones`).
        checkpoint: its weights, any format :func:`tadapt.backbones.load_pretrained` reads;
            ``None``: the weights bundled with the tag.
        random_init: no weights at all, on purpose (tests, debugging): a warning is logged
            and the manifest says ``random init``.
        size: frame side the model is built for (its position table).
        seed: torch seed of a random init, so that a rerun builds the same network.

    Raises:
        ValueError: an unknown name or tag; ``random_init`` with a ``checkpoint``; no
            ``checkpoint`` for a tag that ships no weights, unless ``random_init``.
        CheckpointError: the checkpoint cannot be read or does not fit.
    """
    if random_init:
        if checkpoint is not None:
            raise ValueError(
                f"a random init (--random-init; random_init=True) contradicts the checkpoint "
                f"{checkpoint}; drop one"
            )
        with torch.random.fork_rng(devices=[]):  # the caller's generator stays as it was
            torch.manual_seed(seed)
            model = create_backbone(name, img_size=size)
        _logger.warning(
            "%s: random init (seed %d): the features of an untrained network carry no "
            "pretrained knowledge; use them to test a pipeline, not to train a detector",
            name,
            seed,
        )
        weights = BackboneWeights(name, f"random init (seed {seed})")
        return ExtractionBackbone(model.eval(), weights, None)
    if checkpoint is None:
        shipped = bundled_weights(name)
        if shipped is None:
            raise ValueError(_no_weights(name))
        path, source = shipped, f"bundled {name}"
    else:
        path = Path(checkpoint)
        source = str(path.resolve())
    model = create_backbone(name, img_size=size)
    report = load_pretrained(model, path)
    return ExtractionBackbone(model.eval(), BackboneWeights(name, source), report)


class _Weighted(Protocol):
    def state_dict(self) -> dict[str, Any]: ...


def weights_sha256(module: _Weighted) -> str:
    """sha256 of a module's tensors: names, dtypes, shapes and bytes, in state-dict order.

    The same weights give the same hash whatever file format they came from.
    """
    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())  # bf16 has no numpy dtype
    return digest.hexdigest()


@dataclass
class ExtractionReport:
    """What one extraction run did.

    Attributes:
        written: video ids whose features were written.
        skipped: video ids whose output already existed (resume).
        failed: video id -> the error message, for videos that could not be decoded.
        missing: video ids without a file in the video folder.
        removed: old feature files deleted first (``overwrite``).
    """

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    removed: int = 0

    def summary(self) -> str:
        """One line of counts, plus the failed videos."""
        removed = f" (after deleting {self.removed} old files)" if self.removed else ""
        lines = [
            f"written {len(self.written)}{removed}, skipped (already done) "
            f"{len(self.skipped)}, failed {len(self.failed)}, missing {len(self.missing)}"
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
    *,
    weights: BackboneWeights,
    size: int = 160,
    exts: tuple[str, ...] = (".mp4",),
    snippet_frames: int = 16,
    feat_stride: int = 4,
    frame_stride: int = 1,
    batch_snippets: int = 16,
    precision: str = "fp32",
    device: torch.device | str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionReport:
    """Write ``out_dir/<video_id>.npy`` (``(T, C)`` float32) for every video, and the manifest.

    Frames are decoded at short side ``size`` and centre-cropped to ``size`` x ``size``
    (:func:`tadapt.data.eval_transforms`). A video that cannot be decoded is reported in
    :attr:`ExtractionReport.failed` and the run goes on (no file is written for it). See
    :func:`write_video_features` for the manifest and what a rerun does.

    Args:
        backbone: the model (:func:`create_extraction_backbone`); ``(B, 3, T, H, W)`` ->
            ``(B, C, T')``.
        video_ids: the videos to encode.
        video_dir: folder holding ``video_id + ext`` (searched recursively).
        out_dir: where the features and ``tadapt_features.json`` go.
        weights: the backbone's name and the source of its weights, for the manifest.
        size: frame side fed to the backbone.
        exts: video file extensions, in order of preference.
        snippet_frames: see :func:`extract_video_features`.
        feat_stride: see :func:`extract_video_features`.
        frame_stride: see :func:`extract_video_features`.
        batch_snippets: see :func:`extract_video_features` (no effect on the features).
        precision: see :func:`extract_video_features`.
        device: see :func:`extract_video_features`.
        overwrite: delete the folder's ``.npy`` files and extract every video again.
        progress: show a progress bar.

    Raises:
        DataError: ``video_dir`` is not a folder.
        FeatureManifestError: ``out_dir`` holds features made otherwise (or without a
            manifest) and ``overwrite`` is false.
    """
    manifest = FeatureManifest(
        extractor="snippets",
        backbone=weights.name,
        weights=weights.source,
        weights_sha256=weights_sha256(backbone),
        settings={
            "size": size,
            "snippet_frames": snippet_frames,
            "feat_stride": feat_stride,
            "frame_stride": frame_stride,
            "precision": precision,
        },
        feature_dim=backbone.embed_dim,
        feat_stride=feat_stride * frame_stride,  # in video frames, as FeatureDataset reads
        num_frames=snippet_frames * frame_stride,
    )
    transform = eval_transforms(size)
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
        manifest,
        exts=exts,
        short_side=size,
        overwrite=overwrite,
        progress=progress,
    )


def _claim_folder(out: Path, manifest: FeatureManifest, *, overwrite: bool) -> int:
    """Make ``out`` a folder of ``manifest``'s features; returns the old files deleted.

    Same settings: nothing to do (a resume). Other settings, or feature files without a
    manifest (another tool's, an older tadapt's): refused while the folder holds feature files,
    since a folder of mixed features trains a detector on two different inputs without a
    word. ``overwrite`` deletes the top-level feature files first, then writes the new
    manifest.
    """
    stale = sorted(out.glob(f"*{manifest.file_ext}"))
    if overwrite:
        for path in stale:
            path.unlink()
        if stale:
            _logger.info("deleted %d old feature files in %s (overwrite)", len(stale), out)
        write_feature_manifest(out, manifest)
        return len(stale)
    previous = read_feature_manifest(out)
    remedy = (
        "extract into a new folder, or delete its .npy files and extract every video again "
        "(tadapt extract --overwrite; Python: overwrite=True)"
    )
    if previous is None:
        if stale:
            raise FeatureManifestError(
                f"{out} holds {len(stale)} {manifest.file_ext} feature files but no "
                f"{MANIFEST_FILE} (written by another tool or an older tadapt), so new "
                f"features could not be told from them; {remedy}"
            )
        write_feature_manifest(out, manifest)
        return 0
    changes = previous.differences(manifest)
    if changes and not stale:  # its files are gone: nothing left to mix with
        write_feature_manifest(out, manifest)
        return 0
    if changes:
        raise FeatureManifestError(
            f"{manifest_path(out)}: the features there were made with other settings "
            f"({'; '.join(changes)}); {remedy}"
        )
    if previous.tadapt_version != manifest.tadapt_version:
        _logger.warning(
            "%s was written by tadapt %s; resuming with tadapt %s and the same settings",
            manifest_path(out),
            previous.tadapt_version,
            manifest.tadapt_version,
        )
    return 0


def write_video_features(
    video_ids: Iterable[str],
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    encode: Callable[[VideoReader], np.ndarray],
    manifest: FeatureManifest,
    *,
    exts: tuple[str, ...] = (".mp4",),
    prefix: str = "",
    short_side: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractionReport:
    """Write ``out_dir/<video_id>.npy`` = ``encode(reader)`` for every video, resumably.

    ``manifest`` is written to ``out_dir/tadapt_features.json`` before any feature. A rerun
    whose manifest equals the folder's skips the videos already written; one whose settings
    differ, or a folder of ``.npy`` files without a manifest, is refused unless ``overwrite``,
    which deletes the folder's ``.npy`` files first. A video that cannot be decoded is
    reported in :attr:`ExtractionReport.failed` and the run goes on (no file is written for
    it); each file is written atomically.

    Args:
        video_ids: the videos to encode.
        video_dir: folder holding ``prefix + video_id + ext`` (searched recursively).
        out_dir: where the features go.
        encode: an opened video -> its ``(T, C)`` float32 features.
        manifest: how ``encode`` makes them (``C`` is ``manifest.feature_dim``).
        exts: video file extensions, in order of preference.
        prefix: file-name prefix before the video id (ActivityNet: ``v_``).
        short_side: decode straight to this shorter side.
        overwrite: delete the folder's ``.npy`` files and encode every video again.
        progress: show a progress bar.

    Raises:
        DataError: ``video_dir`` is not a folder.
        FeatureManifestError: ``out_dir`` holds features made otherwise (see above).
        ValueError: ``encode`` returned features of another width than the manifest's.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    found, missing = find_files(video_dir, list(video_ids), exts=exts, prefix=prefix)
    removed = _claim_folder(out, manifest, overwrite=overwrite)
    report = ExtractionReport(missing=missing, removed=removed)
    if missing:
        _logger.warning("%d videos have no file in %s", len(missing), video_dir)
    for vid in tqdm(list(found), desc="extract", unit="video", disable=not progress):
        target = out / f"{vid}{manifest.file_ext}"
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
        if feats.ndim != 2 or feats.shape[1] != manifest.feature_dim:
            raise ValueError(
                f"{vid}: the encoder gave features of shape {feats.shape}, the manifest says "
                f"(T, {manifest.feature_dim})"
            )
        with atomic_path(target) as tmp, tmp.open("wb") as handle:
            np.save(handle, feats)
        report.written.append(vid)
    return report
