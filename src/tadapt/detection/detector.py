"""The single-stage temporal action detector: :class:`TemporalDetector`, :func:`build_actionformer`.

ActionFormer (Zhang et al., "ActionFormer: Localizing Moments of Actions with Transformers",
ECCV 2022; ``PtTransformer`` in ``libs/modeling/meta_archs.py`` of
happyharrycn/actionformer_release), which AdaTAD (Liu et al., "End-to-End Temporal Action
Detection with 1B Parameters Across 1000 Frames", CVPR 2024) and the other methods of this
package put on top of their backbones. Written anew; the data flow is

    inputs (frames or features) -> feature extractor -> pyramid encoder -> neck -> heads
        -> training: label assignment + losses
        -> inference: decoding, seconds, NMS

Positions: the batch's ground truth is on the *input* grid (``Segments`` in ``"idx"``); the
feature extractor maps input position ``temporal_offset + j * temporal_stride`` to feature
position ``j`` (identity for pre-extracted features, ``stride 2`` for a VideoMAE tubelet of 2).
:meth:`TemporalDetector.to_feature_grid` and :meth:`TemporalDetector.to_input_grid` are the only
places that convert between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.detection.head import ClassificationHead, RegressionHead
from tadapt.detection.inference import PostProcessing, decode_video, postprocess_video
from tadapt.detection.losses import DetectionLoss, LossNormalizer
from tadapt.detection.neck import IdentityFPN, PyramidEncoder
from tadapt.detection.points import THUMOS_REGRESSION_RANGES, PointGenerator, Points
from tadapt.detection.targets import assign_targets
from tadapt.structures import Detections, Segments, VideoBatch

__all__ = [
    "FeatureExtractor",
    "HeadOutputs",
    "PrecomputedFeatures",
    "TemporalDetector",
    "build_actionformer",
]


class FeatureExtractor(Protocol):
    """What a detector needs from the module before its encoder (a backbone, or the identity).

    Attributes:
        temporal_stride: input-grid steps per feature step.
        temporal_offset: input-grid position of feature position 0.
    """

    temporal_stride: int
    temporal_offset: float

    def __call__(self, inputs: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C_in, T, ...)`` inputs and ``(B, T)`` masks -> ``(B, C, T')``, ``(B, T')``."""
        ...


class PrecomputedFeatures(nn.Module):
    """The feature extractor of the feature-based mode: features are the inputs.

    Attributes:
        temporal_stride: 1, the features are the input grid.
        temporal_offset: 0.
    """

    temporal_stride: int = 1
    temporal_offset: float = 0.0

    def forward(self, inputs: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
        """Pass ``(B, C, T)`` features and ``(B, T)`` masks through.

        Raises:
            ValueError: the inputs are not ``(B, C, T)`` (e.g. frames without a backbone).
        """
        if inputs.dim() != 3:
            raise ValueError(
                f"PrecomputedFeatures expects (B, C, T) features, got {tuple(inputs.shape)}; "
                "frames need a backbone as the detector's feature_extractor"
            )
        return inputs, masks


@dataclass(frozen=True)
class HeadOutputs:
    """Raw per-point outputs of the heads for a batch, all levels concatenated.

    Attributes:
        points: the ``P`` points of the pyramid.
        cls_logits: ``(B, P, K)`` classification logits.
        offsets: ``(B, P, 2)`` non-negative distances to start / end, in strides.
        valid: ``(B, P)`` bool, points at valid positions.
    """

    points: Points
    cls_logits: Tensor
    offsets: Tensor
    valid: Tensor


class TemporalDetector(nn.Module):
    """Feature extractor -> pyramid encoder -> neck -> shared heads -> losses or detections.

    Args:
        encoder: turns ``(B, C, T)`` features into a temporal pyramid.
        neck: per-level transform of the pyramid (``IdentityFPN``).
        cls_head: per-point class logits.
        reg_head: per-point offsets.
        point_generator: pyramid points with strides and regression ranges (matching
            ``encoder.strides``).
        loss: the training loss (it knows ``num_classes``).
        feature_extractor: see :class:`FeatureExtractor`; ``None`` for pre-extracted features.
        center_sample_radius: centre sampling radius in strides (``None``: whole action).
        postprocessing: decoding and NMS settings for :meth:`predict`.

    Raises:
        ValueError: the point generator's strides differ from the encoder's.
        TypeError: the feature extractor lacks ``temporal_stride`` / ``temporal_offset``.
    """

    def __init__(
        self,
        *,
        encoder: PyramidEncoder,
        neck: nn.Module,
        cls_head: ClassificationHead,
        reg_head: RegressionHead,
        point_generator: PointGenerator,
        loss: DetectionLoss,
        feature_extractor: nn.Module | None = None,
        center_sample_radius: float | None = 1.5,  # ActionFormer train_cfg center_sample_radius
        postprocessing: PostProcessing | None = None,
    ) -> None:
        super().__init__()
        if tuple(point_generator.strides) != tuple(encoder.strides):
            raise ValueError(
                f"point generator strides {point_generator.strides} differ from the encoder's "
                f"pyramid strides {encoder.strides}"
            )
        extractor = feature_extractor if feature_extractor is not None else PrecomputedFeatures()
        stride = getattr(extractor, "temporal_stride", None)
        offset = getattr(extractor, "temporal_offset", None)
        if not isinstance(stride, int) or stride < 1 or not isinstance(offset, int | float):
            raise TypeError(
                f"{type(extractor).__name__} must define temporal_stride (int >= 1) and "
                f"temporal_offset (float), got {stride!r} and {offset!r}"
            )
        self.feature_extractor = extractor
        self.feature_stride, self.feature_offset = stride, float(offset)
        self.encoder = encoder
        self.neck = neck
        self.cls_head = cls_head
        self.reg_head = reg_head
        self.point_generator = point_generator
        self.loss = loss
        self.num_classes = loss.num_classes
        self.center_sample_radius = center_sample_radius
        self.postprocessing = postprocessing if postprocessing is not None else PostProcessing()

    def forward(self, batch: VideoBatch) -> dict[str, Tensor] | list[Detections]:
        """Training mode: the losses of ``batch``; evaluation mode: its detections.

        Returns:
            Training: ``cls_loss``, ``reg_loss`` and ``final_loss`` (what to backpropagate).
            Evaluation: per sample, :class:`Detections` in seconds after NMS (see
            :meth:`predict`).
        """
        outputs = self.forward_heads(
            batch.inputs, batch.masks, position_step=batch.temporal_reduction
        )
        if self.training:
            return self.losses(outputs, batch)
        return self.detections(outputs, batch)

    def forward_heads(
        self, inputs: Tensor, masks: Tensor, *, position_step: int = 1
    ) -> HeadOutputs:
        """Run the network on a batch of inputs (the top-down path of the paper).

        Args:
            inputs: ``(B, C_in, T, ...)`` frames or ``(B, C_in, T)`` features.
            masks: ``(B, T)`` bool validity on the input grid.
            position_step: the inputs keep one step in this many of the full-fidelity grid
                (LoFi's ``r_t``); the encoder's position encoding is sampled at that step.
        """
        feats, masks = self.feature_extractor(inputs, masks)  # (B, C, T'), (B, T')
        feats, masks = self._pad(feats, masks)  # T' -> a multiple of the coarsest stride
        # L x (B, C, T_l), L x (B, T_l)
        pyramid, pyramid_masks = self.encoder(feats, masks, position_step=position_step)
        pyramid = self.neck(pyramid, pyramid_masks)
        cls_logits = self.cls_head(pyramid, pyramid_masks)  # L x (B, K, T_l)
        offsets = self.reg_head(pyramid, pyramid_masks)  # L x (B, 2, T_l)
        points = self.point_generator([x.shape[-1] for x in pyramid], device=feats.device)
        return HeadOutputs(
            points=points,
            # L x (B, K, T_l) -> (B, P, K) with P = sum_l T_l, level after level
            cls_logits=torch.cat([x.transpose(1, 2) for x in cls_logits], dim=1),
            offsets=torch.cat([x.transpose(1, 2) for x in offsets], dim=1),  # (B, P, 2)
            valid=torch.cat(pyramid_masks, dim=1),  # (B, P)
        )

    def losses(self, outputs: HeadOutputs, batch: VideoBatch) -> dict[str, Tensor]:
        """Assign the batch's ground truth to the points and compute the losses."""
        targets = assign_targets(
            outputs.points,
            [self.to_feature_grid(s) for s in batch.segments],
            batch.labels,
            num_classes=self.num_classes,
            center_sample_radius=self.center_sample_radius,
        )
        losses: dict[str, Tensor] = self.loss(
            outputs.cls_logits, outputs.offsets, outputs.valid, targets
        )
        return losses

    @torch.no_grad()
    def predict(self, batch: VideoBatch, *, nms: bool = True) -> list[Detections]:
        """Detections of every sample of ``batch``, in seconds on its video's timeline.

        Args:
            batch: the samples (ground truth is not used).
            nms: post-process each sample on its own (NMS, clip to the duration). ``False``
                returns the decoded candidates instead, for :func:`merge_windows` to pool a
                video's sliding windows before NMS.
        """
        return self.detections(self.forward_heads(batch.inputs, batch.masks), batch, nms=nms)

    @torch.no_grad()
    def detections(
        self, outputs: HeadOutputs, batch: VideoBatch, *, nms: bool = True
    ) -> list[Detections]:
        """Decode head outputs to detections in seconds; see :meth:`predict`."""
        settings = self.postprocessing
        results = []
        for b, video_id in enumerate(batch.video_ids):
            segments, scores, labels = decode_video(
                outputs.points,
                outputs.cls_logits[b],
                outputs.offsets[b],
                outputs.valid[b],
                pre_nms_threshold=settings.pre_nms_threshold,
                pre_nms_topk=settings.pre_nms_topk,
                pre_nms_scope=settings.pre_nms_scope,
                duration_threshold=settings.duration_threshold,
            )
            seconds = self.to_input_grid(segments.to("cpu", torch.float64)).to_seconds(
                stride_sec=float(batch.grid_stride_sec[b]),
                offset_sec=float(batch.grid_offset_sec[b]),
            )
            candidates = Detections(
                video_id, seconds, scores.to("cpu", torch.float64), labels.to("cpu")
            )
            if nms:
                duration = batch.durations_sec[b] if b < len(batch.durations_sec) else None
                candidates = postprocess_video(candidates, settings, duration_sec=duration)
            results.append(candidates)
        return results

    def to_feature_grid(self, segments: Segments) -> Tensor:
        """Input-grid segments -> ``(N, 2)`` positions on the level-0 feature grid."""
        if segments.unit != "idx":
            raise ValueError("ground truth must be on the input grid (Segments unit 'idx')")
        return (segments.tensor - self.feature_offset) / self.feature_stride

    def to_input_grid(self, segments: Segments) -> Segments:
        """Feature-grid segments -> input-grid segments (the inverse of :meth:`to_feature_grid`)."""
        return Segments(segments.tensor * self.feature_stride + self.feature_offset, "idx")

    def _pad(self, feats: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
        """Zero-pad ``T`` up to a multiple of the encoder's coarsest stride (masked out)."""
        divisor = self.encoder.size_divisor
        extra = -feats.shape[-1] % divisor
        if extra == 0:
            return feats, masks
        return F.pad(feats, (0, extra)), F.pad(masks, (0, extra), value=False)


def build_actionformer(
    in_channels: int,
    num_classes: int,
    *,
    feature_extractor: nn.Module | None = None,
    embed_dim: int = 512,  # ActionFormer embd_dim / fpn_dim (THUMOS); 256 on ActivityNet
    head_dim: int | None = None,  # ActionFormer head_dim; None: embed_dim
    num_heads: int = 4,  # ActionFormer n_head
    arch: tuple[int, int, int] = (2, 2, 5),  # ActionFormer backbone_arch: 6 levels, strides 1..32
    window_size: int | Sequence[int] = 19,  # ActionFormer thumos_i3d n_mha_win_size; AdaTAD -1
    regression_ranges: Sequence[tuple[float, float]] = THUMOS_REGRESSION_RANGES,
    head_layers: int = 3,  # ActionFormer head_num_layers (OpenTAD num_convs=2 + output)
    head_kernel_size: int = 3,  # ActionFormer head_kernel_size
    prior_prob: float = 0.01,  # ActionFormer train_cfg cls_prior_prob
    offset_bias: float = 0.0,  # ActionFormer: zero-initialised biases
    focal_alpha: float = 0.25,  # ActionFormer sigmoid_focal_loss alpha
    focal_gamma: float = 2.0,  # ActionFormer sigmoid_focal_loss gamma
    reg_weight: float = 1.0,  # ActionFormer train_cfg loss_weight (AdaTAD ANet: 2.0)
    label_smoothing: float = 0.0,  # ActionFormer train_cfg label_smoothing (ANet: 0.1)
    center_sample_radius: float | None = 1.5,  # ActionFormer train_cfg center_sample_radius
    loss_norm_init: float = 100.0,  # ActionFormer thumos_i3d init_loss_norm (AdaTAD ANet: 200)
    loss_norm_momentum: float = 0.9,  # ActionFormer PtTransformer loss_normalizer_momentum
    input_drop: float = 0.0,  # OpenTAD input_pdrop (AdaTAD side variant: 0.1, full ft: 0.2)
    proj_drop: float = 0.0,  # OpenTAD _base_ proj_pdrop (ActionFormer's own default: 0.1)
    path_drop: float = 0.1,  # ActionFormer train_cfg droppath
    use_abs_pe: bool = False,  # ActionFormer use_abs_pe (ActivityNet: True)
    max_seq_len: int = 2304,  # ActionFormer thumos_i3d max_seq_len (only for use_abs_pe)
    postprocessing: PostProcessing | None = None,
) -> TemporalDetector:
    """An ActionFormer detector with THUMOS-14 defaults (see the provenance comments).

    For ActivityNet as AdaTAD runs it: ``num_classes=1``, ``embed_dim=256``,
    ``window_size=-1``, ``use_abs_pe=True``, ``max_seq_len=192``, ``label_smoothing=0.1``,
    ``reg_weight=2.0``, ``loss_norm_init=200``, class-agnostic post-processing, then
    :func:`~tadapt.detection.fuse_video_class_scores`; the classifier-free variant keeps
    ``num_classes=200`` and multi-class NMS instead.

    Args:
        in_channels: channels of the feature extractor's output (e.g. 2048 for THUMOS I3D).
        num_classes: ``K`` (``1`` for class-agnostic proposals).
        feature_extractor: see :class:`TemporalDetector`.
        embed_dim: channels of the embedding, pyramid and neck.
        head_dim: hidden channels of the heads.
        num_heads: attention heads.
        arch: ``(embedding convs, stem blocks, branch blocks)``.
        window_size: local attention window (one, or one per level); ``-1`` for global.
        regression_ranges: one ``(low, high)`` per level, in feature-grid steps.
        head_layers: convolutions per head including the output one.
        head_kernel_size: temporal kernel of the heads.
        prior_prob: initial foreground probability.
        offset_bias: initial bias of the regression outputs (:class:`RegressionHead`).
        focal_alpha: focal loss alpha.
        focal_gamma: focal loss gamma.
        reg_weight: regression loss weight (``<= 0``: automatic balancing).
        label_smoothing: classification label smoothing.
        center_sample_radius: centre sampling radius in strides (``None``: off).
        loss_norm_init: initial value of the EMA loss normaliser.
        loss_norm_momentum: momentum of the EMA loss normaliser.
        input_drop: channel dropout on the input features (``nn.Dropout1d``).
        proj_drop: dropout in the Transformer blocks.
        path_drop: stochastic depth in the Transformer blocks.
        use_abs_pe: sinusoidal absolute position encoding.
        max_seq_len: length of the position table.
        postprocessing: decoding / NMS settings (default: :class:`PostProcessing`).
    """
    encoder = PyramidEncoder(
        in_channels,
        embed_dim=embed_dim,
        num_heads=num_heads,
        arch=arch,
        window_size=window_size,
        input_drop=input_drop,
        proj_drop=proj_drop,
        path_drop=path_drop,
        use_abs_pe=use_abs_pe,
        max_seq_len=max_seq_len,
    )
    head_channels = embed_dim if head_dim is None else head_dim
    num_levels = len(encoder.strides)
    return TemporalDetector(
        feature_extractor=feature_extractor,
        encoder=encoder,
        neck=IdentityFPN(embed_dim, num_levels),
        cls_head=ClassificationHead(
            embed_dim,
            head_channels,
            num_classes,
            num_layers=head_layers,
            kernel_size=head_kernel_size,
            prior_prob=prior_prob,
        ),
        reg_head=RegressionHead(
            embed_dim,
            head_channels,
            num_levels,
            num_layers=head_layers,
            kernel_size=head_kernel_size,
            offset_bias=offset_bias,
        ),
        point_generator=PointGenerator(encoder.strides, regression_ranges),
        loss=DetectionLoss(
            num_classes,
            normalizer=LossNormalizer(loss_norm_init, loss_norm_momentum),
            alpha=focal_alpha,
            gamma=focal_gamma,
            label_smoothing=label_smoothing,
            reg_weight=reg_weight,
        ),
        center_sample_radius=center_sample_radius,
        postprocessing=postprocessing,
    )
