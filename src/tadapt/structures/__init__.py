"""Typed data structures shared by every stage: segments, detections, ground truth.

The per-video structures hold torch tensors and are imported on first use; the numpy tables
(:mod:`tadapt.structures.tables`) need no torch.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes
from tadapt.structures.tables import DetectionTable, GroundTruthTable

if TYPE_CHECKING:
    from tadapt.structures.batch import VideoBatch, VideoSample, collate_samples
    from tadapt.structures.detections import Detections, GroundTruth
    from tadapt.structures.segments import Segments, SegmentUnit, pairwise_tiou

__all__ = [
    "DetectionTable",
    "Detections",
    "GroundTruth",
    "GroundTruthTable",
    "SegmentUnit",
    "Segments",
    "VideoBatch",
    "VideoSample",
    "collate_samples",
    "pairwise_tiou",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "VideoBatch": "tadapt.structures.batch",
        "VideoSample": "tadapt.structures.batch",
        "collate_samples": "tadapt.structures.batch",
        "Detections": "tadapt.structures.detections",
        "GroundTruth": "tadapt.structures.detections",
        "SegmentUnit": "tadapt.structures.segments",
        "Segments": "tadapt.structures.segments",
        "pairwise_tiou": "tadapt.structures.segments",
    },
)
