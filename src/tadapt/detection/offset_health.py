"""Warn when a regression output of the head has died.

ActionFormer's regression head ends in a ReLU (:class:`~tadapt.detection.head.RegressionHead`).
If one of its two outputs (the distance to the start or to the end) turns negative at every
point, the ReLU makes it exactly 0 everywhere and the regression loss passes it no gradient.
It comes back only if the features under it change enough (the classification loss keeps
training them); while it stays dead, the run goes on, its losses look plausible, and every
segment it predicts starts (or ends) at its own point.
We saw this happen to small detectors on some seeds (docs/adaptation.md, "the papers' table in
miniature"). :class:`DeadOffsetWatch` counts the training batches (forward passes) in a row
in which an output is 0 at every positive point, and logs one warning per output once the
count reaches ``patience``.
"""

from __future__ import annotations

import logging

from torch import Tensor

__all__ = ["DeadOffsetWatch"]

logger = logging.getLogger(__name__)

_OUTPUTS = ("start", "end")  # offsets[:, 0]: distance to the start; offsets[:, 1]: to the end


class DeadOffsetWatch:
    """Counts batches in which a regression output is 0 at every positive point.

    Args:
        patience: training batches in a row (with positive points) before the warning.
    """

    def __init__(self, patience: int = 50) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.streaks = [0, 0]
        self.warned = [False, False]

    def update(self, positive_offsets: Tensor) -> None:
        """Fold in one training batch's predicted offsets at its positive points, ``(N_pos, 2)``."""
        if positive_offsets.shape[0] == 0:
            return
        all_zero = (positive_offsets.detach() == 0).all(dim=0).tolist()  # per output
        for index, zero in enumerate(all_zero):
            self.streaks[index] = self.streaks[index] + 1 if zero else 0
            if self.streaks[index] >= self.patience and not self.warned[index]:
                self.warned[index] = True
                logger.warning(
                    "the regression head's %s offset has been 0 at every positive point for %d "
                    "training batches in a row: its ReLU output gets no gradient, and while it "
                    "stays so every predicted segment will %s at its own point and mAP will be "
                    "low. It may come back as the features under it change; if reg_loss stays "
                    "high, rerun with model.head.offset_bias=1 (both outputs start above 0) or "
                    "another train.seed. The run goes on.",
                    _OUTPUTS[index],
                    self.streaks[index],
                    _OUTPUTS[index],
                )
