"""Training losses of the detector: focal classification, DIoU regression, EMA normaliser.

* :func:`sigmoid_focal_loss`: Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017
  (as fvcore's ``sigmoid_focal_loss``, which ActionFormer takes).
* :func:`diou_loss_1d`: the Distance-IoU loss of Zheng et al., "Distance-IoU Loss", AAAI 2020,
  for 1-D segments given as distances from one point (ActionFormer ``ctr_diou_loss_1d``).
* :class:`LossNormalizer` and :class:`DetectionLoss`: ActionFormer's ``PtTransformer.losses``
  (``libs/modeling/meta_archs.py`` of happyharrycn/actionformer_release): both losses are summed
  and divided by an exponential moving average of the number of positive points, which keeps
  the loss scale steady with small batches.

**Data-parallel training.** Under ``torchrun`` each process holds a share of the global batch.
In training mode :class:`DetectionLoss` sums the batch statistics (positive count, loss sums)
over the processes, so the normaliser follows the global batch's positives, and it scales each
process's loss so that DDP's gradient average is the global batch's gradient
(:func:`share_of_global_loss`): N processes train as one process on the same global batch.
This adds one all-reduce of three numbers per forward pass; every process must therefore run
the training forward the same number of times (DDP requires that anyway).

Written anew from the papers and that code.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.detection.offset_health import DeadOffsetWatch
from tadapt.detection.targets import PointTargets

__all__ = [
    "DetectionLoss",
    "LossNormalizer",
    "diou_loss_1d",
    "share_of_global_loss",
    "sigmoid_focal_loss",
    "sum_over_processes",
]

Reduction = Literal["none", "sum", "mean"]


def _reduce(loss: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if loss.numel() else loss.sum()
    return loss


def sigmoid_focal_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float = 0.25,  # Lin et al. 2017; ActionFormer default
    gamma: float = 2.0,  # Lin et al. 2017; ActionFormer default
    reduction: Reduction = "none",
) -> Tensor:
    """Binary focal loss on logits, computed in float32.

    ``FL = -a_t (1 - p_t)^gamma log(p_t)`` with ``p_t = p`` for target 1 and ``1 - p`` for
    target 0; soft targets (label smoothing) interpolate ``p_t`` and ``a_t`` linearly, as the
    reference implementation does.

    Args:
        logits: any shape.
        targets: the same shape, in ``[0, 1]``.
        alpha: weight of positives (negatives get ``1 - alpha``); ``< 0`` disables weighting.
        gamma: focusing exponent.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
    """
    logits, targets = logits.float(), targets.float()
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def diou_loss_1d(
    pred_offsets: Tensor,
    target_offsets: Tensor,
    *,
    eps: float = 1e-8,  # ActionFormer ctr_diou_loss_1d eps
    reduction: Reduction = "none",
) -> Tensor:
    """DIoU loss of segments sharing a reference point, computed in float32.

    Both segments are ``[t - left, t + right]`` for the same ``t``, so the intersection is
    ``min(l_p, l_g) + min(r_p, r_g)`` and the enclosing segment ``max(l_p, l_g) + max(r_p, r_g)``.
    The loss is ``1 - IoU + (d / c)^2`` with ``d`` the distance between the two centres and
    ``c`` the length of the enclosing segment.

    Args:
        pred_offsets: ``(N, 2)`` non-negative predicted ``(left, right)`` distances.
        target_offsets: ``(N, 2)`` non-negative ground-truth distances.
        eps: lower bound of the union and enclosing lengths.
        reduction: ``"none"``, ``"sum"`` or ``"mean"``.
    """
    pred, target = pred_offsets.float(), target_offsets.float()
    lp, rp = pred[:, 0], pred[:, 1]
    lg, rg = target[:, 0], target[:, 1]
    intersection = torch.minimum(lp, lg) + torch.minimum(rp, rg)
    union = (lp + rp) + (lg + rg) - intersection
    iou = intersection / union.clamp(min=eps)
    enclosing = torch.maximum(lp, lg) + torch.maximum(rp, rg)
    center_gap = 0.5 * ((rp - lp) - (rg - lg))  # centre of [t-l, t+r] is t + (r - l) / 2
    loss = 1.0 - iou + (center_gap / enclosing.clamp(min=eps)) ** 2
    return _reduce(loss, reduction)


def sum_over_processes(values: Tensor) -> tuple[Tensor, int]:
    """Sum ``values`` over the processes of a data-parallel job.

    Args:
        values: any shape, on the device the process group communicates from (the GPU under
            NCCL); not differentiated.

    Returns:
        The sums and the number of processes; ``(values, 1)`` without a process group.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values, 1
    total = values.detach().clone()
    dist.all_reduce(total)
    return total, dist.get_world_size()


def share_of_global_loss(local: Tensor, global_value: Tensor, world_size: int) -> Tensor:
    """This process's term of a loss summed over a global batch, as DDP should see it.

    The global loss is ``sum_r local_r``. DDP averages the processes' gradients, so each
    process backpropagates ``world_size * local``; the returned tensor has that gradient but
    the value ``global_value``, so every process logs (and checks for NaN) the global loss.

    Args:
        local: this process's differentiable term, a scalar.
        global_value: the sum of every process's ``local`` (detached).
        world_size: number of processes.
    """
    if world_size == 1:
        return local
    scaled = local * world_size
    return scaled + (global_value.to(scaled.dtype) - scaled.detach())


class LossNormalizer(nn.Module):
    """Exponential moving average of the number of positive points per batch.

    ``value <- momentum * value + (1 - momentum) * max(num_positive, 1)`` at every training
    step. The value is a buffer, so checkpoints carry it and resumed training continues it.

    Args:
        init_value: the starting value (ActionFormer THUMOS 100, AdaTAD ActivityNet 200).
        momentum: weight of the past.
    """

    value: Tensor

    def __init__(
        self,
        init_value: float = 100.0,  # ActionFormer configs/thumos_i3d.yaml init_loss_norm
        momentum: float = 0.9,  # ActionFormer PtTransformer loss_normalizer_momentum
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0 or init_value <= 0:
            raise ValueError(
                f"need init_value > 0 and momentum in [0, 1), got {init_value}, {momentum}"
            )
        self.momentum = momentum
        # float64 so that the running value matches a Python-float EMA bit for bit
        self.register_buffer("value", torch.tensor(float(init_value), dtype=torch.float64))

    @torch.no_grad()
    def update(self, num_positive: int) -> float:
        """Fold one batch's positive count into the average; returns the new value."""
        self.value.mul_(self.momentum).add_((1.0 - self.momentum) * max(num_positive, 1))
        return float(self.value)


class DetectionLoss(nn.Module):
    """Focal + DIoU losses over the points of a batch, normalised by :class:`LossNormalizer`.

    The classification loss covers every valid point; the regression loss only positives.
    ``final_loss = cls_loss + reg_weight * reg_loss``. In training mode under data-parallel
    training, the positive count and the loss sums are those of the global batch (module
    docstring); in evaluation mode they are this process's.

    Args:
        num_classes: ``K``.
        normalizer: the EMA normaliser (updated in training mode only; evaluation reads it).
        alpha: focal loss alpha.
        gamma: focal loss gamma.
        label_smoothing: ``eps``: targets become ``y (1 - eps) + eps / (K + 1)``.
        reg_weight: weight of the regression loss; ``<= 0`` balances it automatically to the
            classification loss (``cls / max(reg, 0.01)``, detached), as ActionFormer.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        normalizer: LossNormalizer | None = None,
        alpha: float = 0.25,  # ActionFormer sigmoid_focal_loss default
        gamma: float = 2.0,  # ActionFormer sigmoid_focal_loss default
        label_smoothing: float = 0.0,  # ActionFormer train_cfg label_smoothing (0.1 on ANet)
        reg_weight: float = 1.0,  # ActionFormer train_cfg loss_weight (AdaTAD ANet: 2.0)
    ) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.num_classes = num_classes
        self.normalizer = normalizer if normalizer is not None else LossNormalizer()
        self.alpha = alpha
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.reg_weight = reg_weight
        self.dead_offsets = DeadOffsetWatch()  # warns if a ReLU regression output has died

    def forward(
        self, cls_logits: Tensor, offsets: Tensor, valid: Tensor, targets: PointTargets
    ) -> dict[str, Tensor]:
        """Compute the losses.

        Args:
            cls_logits: ``(B, P, K)`` classification logits.
            offsets: ``(B, P, 2)`` predicted stride-normalised distances (non-negative).
            valid: ``(B, P)`` bool, points at valid (not padded) positions.
            targets: the assigned targets.

        Returns:
            ``cls_loss``, ``reg_loss`` (unweighted) and ``final_loss``, scalar tensors.
        """
        positive = targets.positive & valid  # (B, P)
        cls_target = targets.cls[valid]  # (V, K) over the V valid points
        cls_target = cls_target * (1 - self.label_smoothing) + self.label_smoothing / (
            self.num_classes + 1
        )
        cls_sum = sigmoid_focal_loss(
            cls_logits[valid], cls_target, alpha=self.alpha, gamma=self.gamma, reduction="sum"
        )
        pred_offsets = offsets[positive]  # (N_pos, 2)
        if pred_offsets.shape[0] == 0:
            reg_sum = 0.0 * pred_offsets.float().sum()  # keeps the graph connected
        else:
            reg_sum = diou_loss_1d(pred_offsets, targets.offsets[positive], reduction="sum")

        if self.training:
            self.dead_offsets.update(pred_offsets)
            # the global batch's statistics: one all-reduce of (N_pos, cls sum, reg sum)
            local = torch.stack([positive.sum(), cls_sum.detach(), reg_sum.detach()]).double()
            total, world_size = sum_over_processes(local)
            norm = self.normalizer.update(int(total[0]))
            cls_sum = share_of_global_loss(cls_sum, total[1], world_size)
            reg_sum = share_of_global_loss(reg_sum, total[2], world_size)
        else:
            norm = float(self.normalizer.value)
        cls_loss, reg_loss = cls_sum / norm, reg_sum / norm

        if self.reg_weight > 0:
            weight: Tensor | float = self.reg_weight
        else:
            weight = cls_loss.detach() / max(reg_loss.item(), 0.01)
        return {
            "cls_loss": cls_loss,
            "reg_loss": reg_loss,
            "final_loss": cls_loss + weight * reg_loss,
        }
