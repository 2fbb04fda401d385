"""The outcome of one detection evaluation: AP per class and threshold, summaries, tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["EvaluationResult"]


@dataclass(frozen=True)
class EvaluationResult:
    """Average precision of every evaluated class at every tIoU threshold.

    Attributes:
        tiou_thresholds: ``(K,)`` thresholds.
        class_names: the ``C`` evaluated classes (those with ground truth in the split).
        ap: ``(K, C)`` average precision, fractions in ``[0, 1]``.
        recall_at_k: ``(K, len(top_k), C)`` top-``k``x recall per class (ActionFormer's
            Recall@kx: per video, the ``k * #gt`` best-scored predictions of the class).
        top_k: the ``k`` of ``recall_at_k``.
        num_gt: ``(C,)`` ground-truth instances per class.
        num_pred: ``(C,)`` predictions per class that took part.
        num_ignored_predictions: predictions of classes without ground truth in the split.
        num_unknown_video_predictions: predictions in videos absent from the ground truth
            (counted as false positives, as the ActivityNet code does).
        num_ambiguous_ignored: false positives dropped for overlapping ``Ambiguous``
            regions, summed over thresholds (0 unless that option is on).
        num_past_duration: ground-truth instances ending after their video's duration,
            evaluated as given.
        num_blocked_videos: ground-truth videos left out as blocked.
        num_blocked_predictions: predictions left out for being in a blocked video.
    """

    tiou_thresholds: tuple[float, ...]
    class_names: tuple[str, ...]
    ap: NDArray[np.float64]
    recall_at_k: NDArray[np.float64]
    top_k: tuple[int, ...]
    num_gt: NDArray[np.int64]
    num_pred: NDArray[np.int64]
    num_ignored_predictions: int = 0
    num_unknown_video_predictions: int = 0
    num_ambiguous_ignored: int = 0
    num_past_duration: int = 0
    num_blocked_videos: int = 0
    num_blocked_predictions: int = 0

    @property
    def mean_ap(self) -> NDArray[np.float64]:
        """``(K,)`` mAP per threshold: the mean over classes."""
        if self.ap.shape[1] == 0:
            return np.zeros(self.ap.shape[0])
        return np.asarray(self.ap.mean(axis=1), dtype=np.float64)

    @property
    def average_map(self) -> float:
        """The mean of :attr:`mean_ap` over thresholds: the number papers report."""
        return float(self.mean_ap.mean()) if self.mean_ap.size else 0.0

    @property
    def mean_recall_at_k(self) -> NDArray[np.float64]:
        """``(K, len(top_k))`` top-``k``x recall averaged over classes."""
        if self.recall_at_k.shape[2] == 0:
            return np.zeros(self.recall_at_k.shape[:2])
        return np.asarray(self.recall_at_k.mean(axis=2), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; every AP and recall is a fraction in ``[0, 1]``."""
        thr_keys = [f"{t:.2f}" for t in self.tiou_thresholds]
        return {
            "average_mAP": self.average_map,
            "mAP": {key: float(v) for key, v in zip(thr_keys, self.mean_ap, strict=True)},
            "recall": {
                f"R@{k}x": {
                    key: float(self.mean_recall_at_k[i, j]) for i, key in enumerate(thr_keys)
                }
                for j, k in enumerate(self.top_k)
            },
            "per_class": {
                name: {
                    "average_ap": float(self.ap[:, c].mean()),
                    "ap": {key: float(self.ap[i, c]) for i, key in enumerate(thr_keys)},
                    "num_gt": int(self.num_gt[c]),
                    "num_pred": int(self.num_pred[c]),
                }
                for c, name in enumerate(self.class_names)
            },
            "tiou_thresholds": list(self.tiou_thresholds),
            "num_ignored_predictions": self.num_ignored_predictions,
            "num_unknown_video_predictions": self.num_unknown_video_predictions,
            "num_ambiguous_ignored": self.num_ambiguous_ignored,
            "num_past_duration": self.num_past_duration,
            "num_blocked_videos": self.num_blocked_videos,
            "num_blocked_predictions": self.num_blocked_predictions,
        }

    def format_table(self, *, per_class: bool = True) -> str:
        """A plain-text report in percent: mAP and recall per threshold, then per class."""
        thr_head = "".join(f"{t:>8.2f}" for t in self.tiou_thresholds)
        lines = [f"{'tIoU':<26}{thr_head}{'avg':>8}"]
        lines.append(f"{'mAP (%)':<26}{_row(self.mean_ap)}{100 * self.average_map:>8.2f}")
        for j, k in enumerate(self.top_k):
            recall = self.mean_recall_at_k[:, j]
            lines.append(f"{f'Recall@{k}x (%)':<26}{_row(recall)}{100 * recall.mean():>8.2f}")
        if per_class:
            lines.append("")
            lines.append(f"{'class (#gt)':<26}{thr_head}{'avg':>8}")
            for c, name in enumerate(self.class_names):
                label = f"{name[:19]} ({self.num_gt[c]})"
                lines.append(f"{label:<26}{_row(self.ap[:, c])}{100 * self.ap[:, c].mean():>8.2f}")
        lines.append("")
        lines.append(f"Average mAP: {100 * self.average_map:.2f} %")
        return "\n".join(lines)


def _row(values: NDArray[np.float64]) -> str:
    return "".join(f"{100 * v:>8.2f}" for v in values)
