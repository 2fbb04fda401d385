"""Typed data structures shared by every stage: segments, detections, ground truth."""

from tadapt.structures.batch import VideoBatch, VideoSample, collate_samples
from tadapt.structures.detections import Detections, GroundTruth
from tadapt.structures.segments import Segments, SegmentUnit, pairwise_tiou

__all__ = [
    "Detections",
    "GroundTruth",
    "SegmentUnit",
    "Segments",
    "VideoBatch",
    "VideoSample",
    "collate_samples",
    "pairwise_tiou",
]
