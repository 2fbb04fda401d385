"""Detection evaluation: ActivityNet-protocol mAP at tIoU thresholds, recall, reports."""

from tadapt.evaluation.map import (
    AmbiguousPolicy,
    evaluate_detections,
    interpolated_average_precision,
)
from tadapt.evaluation.result import EvaluationResult
from tadapt.evaluation.thresholds import TIOU_PRESETS, tiou_thresholds_for

__all__ = [
    "TIOU_PRESETS",
    "AmbiguousPolicy",
    "EvaluationResult",
    "evaluate_detections",
    "interpolated_average_precision",
    "tiou_thresholds_for",
]
