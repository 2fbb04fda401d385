"""The inference loop: windows -> per-video detections in seconds -> mAP.

:func:`predict` runs a detector over a loader of windows (or whole videos) without NMS,
pools each video's candidates from all its windows (and, under ``torchrun``, from all
processes), and post-processes them once per video with
:func:`tadapt.detection.merge_windows` (Soft-NMS, voting, clipping to the duration).
:func:`fuse_class_scores` turns class-agnostic proposals into class detections with an external
video-level classifier; :func:`evaluate` computes the ActivityNet-protocol mAP.

A distributed sampler pads the last batches with repeated samples so that every process gets
as many; windows are therefore keyed by ``(video, grid offset)`` and counted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn
from tqdm import tqdm

from tadapt.detection import (
    FusionMode,
    PostProcessing,
    TemporalDetector,
    fuse_video_class_scores,
    merge_windows,
)
from tadapt.engine.distributed import all_gather_objects, is_main_process, unwrap_model
from tadapt.engine.numerics import DeviceMemoryError, cuda_memory_summary, is_out_of_memory
from tadapt.evaluation import AmbiguousPolicy, EvaluationResult, evaluate_detections
from tadapt.structures import Detections, GroundTruth, VideoBatch

__all__ = ["evaluate", "fuse_class_scores", "predict"]

logger = logging.getLogger(__name__)

_WindowKey = tuple[str, float]


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable[VideoBatch],
    *,
    device: torch.device | str = "cpu",
    postprocessing: PostProcessing | None = None,
    autocast: Callable[[], AbstractContextManager[None]] = nullcontext,
    progress: bool = False,
) -> list[Detections]:
    """Detections of every video in ``loader``, one :class:`Detections` per video.

    Args:
        model: a :class:`~tadapt.detection.TemporalDetector` (possibly DDP-wrapped); it is
            put in evaluation mode and left there.
        loader: batches of windows or whole videos.
        device: where to run the model.
        postprocessing: NMS settings; default the detector's own.
        autocast: a context factory for the forward pass (mixed precision).
        progress: show a progress bar (main process only).

    Returns:
        Per video, in order of first appearance: its merged, post-processed detections in
        seconds (a video whose windows produced no candidate has an empty entry).

    Raises:
        DeviceMemoryError: the device ran out of memory; the message names the videos.
    """
    detector = unwrap_model(model)
    if not isinstance(detector, TemporalDetector):
        raise TypeError(f"predict() needs a TemporalDetector, got {type(detector).__name__}")
    settings = postprocessing if postprocessing is not None else detector.postprocessing
    detector.eval()
    windows: dict[_WindowKey, Detections] = {}
    durations: dict[str, float | None] = {}
    bar = tqdm(loader, desc="inference", unit="batch", disable=not (progress and is_main_process()))
    for batch in bar:
        try:
            with autocast():
                candidates = detector.predict(batch.to(device), nms=False)
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            where = f"inference on videos {', '.join(batch.video_ids)}"
            raise DeviceMemoryError("evaluation", where, cuda_memory_summary(device)) from exc
        for b, det in enumerate(candidates):
            key = (det.video_id, round(float(batch.grid_offset_sec[b]), 6))
            windows[key] = det
            durations[det.video_id] = batch.durations_sec[b] if batch.durations_sec else None
    # every process holds some windows: pool them all (a no-op in a single process)
    pooled: dict[_WindowKey, Detections] = {}
    all_durations: dict[str, float | None] = {}
    for part, part_durations in all_gather_objects((windows, durations)):
        pooled.update(part)
        all_durations.update(part_durations)
    per_video: dict[str, list[Detections]] = {}
    for (video_id, _), det in sorted(pooled.items(), key=lambda kv: kv[0]):
        per_video.setdefault(video_id, []).append(det)
    return [
        merge_windows(dets, settings, duration_sec=all_durations.get(video_id))
        for video_id, dets in per_video.items()
    ]


def fuse_class_scores(
    proposals: Sequence[Detections],
    class_scores: Mapping[str, torch.Tensor],
    *,
    top_k: int = 2,
    mode: FusionMode = "multiply",
) -> list[Detections]:
    """Label class-agnostic proposals with a video-level classifier (ActivityNet protocol).

    Raises:
        ValueError: a video has no scores in the classifier file.
    """
    missing = [p.video_id for p in proposals if p.video_id not in class_scores]
    if missing:
        raise ValueError(
            f"the classifier file has no scores for {len(missing)} videos "
            f"(e.g. {', '.join(missing[:5])}); use the file matching the evaluation split"
        )
    return [
        fuse_video_class_scores(p, class_scores[p.video_id], top_k=top_k, mode=mode)
        for p in proposals
    ]


def evaluate(
    detections: Sequence[Detections],
    ground_truth: Mapping[str, GroundTruth],
    class_names: Sequence[str],
    tiou_thresholds: Sequence[float],
    *,
    ambiguous: AmbiguousPolicy = "remove",
    blocked_videos: Collection[str] = (),
) -> EvaluationResult:
    """ActivityNet-protocol mAP of ``detections`` against the split's ground truth.

    ``blocked_videos`` leave both (see :func:`tadapt.evaluation.evaluate_detections`).
    """
    unknown = [d.video_id for d in detections if d.video_id not in ground_truth]
    if unknown:
        logger.warning("%d predicted videos are not in the ground truth", len(unknown))
    return evaluate_detections(
        ground_truth,
        detections,
        class_names,
        tiou_thresholds,
        ambiguous=ambiguous,
        blocked_videos=blocked_videos,
    )
