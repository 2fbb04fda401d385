"""Frames -> temporal features through a (possibly adapted) video backbone, for the detector.

:class:`BackboneFeatures` is the detector's feature extractor in the end-to-end mode: it pads
the frames to whole 16-frame chunks, runs the backbone (under ``no_grad`` when the tuning
strategy says so, e.g. ``frozen``), and returns ``(B, C, T / tubelet)`` features with the
matching validity mask. Feature position ``j`` covers input frames ``tubelet * j`` to
``tubelet * j + tubelet - 1``; its centre, ``tubelet * j + (tubelet - 1) / 2``, is what
``temporal_offset`` records, so grid conversions stay in
:meth:`tadapt.detection.TemporalDetector.to_feature_grid`.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.backbones import VisionTransformer

__all__ = ["BackboneFeatures"]


class BackboneFeatures(nn.Module):
    """Run a video backbone on frames and hand the detector its temporal features.

    Args:
        backbone: the backbone module (adapters already inserted, ``requires_grad`` set by
            :func:`tadapt.adapters.apply_strategy`).
        no_grad: run the backbone without autograd (the ``frozen`` strategy); the detector's
            head still trains.

    Attributes:
        temporal_stride: input frames per feature step (the backbone's tubelet size).
        temporal_offset: input-frame position of feature step 0 (the tubelet's centre).
        out_channels: feature channels ``C``.
    """

    def __init__(self, backbone: VisionTransformer, *, no_grad: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.no_grad = no_grad
        self.temporal_stride: int = backbone.tubelet_size
        self.temporal_offset: float = (self.temporal_stride - 1) / 2
        self.chunk_frames: int = backbone.chunk_frames
        self.out_channels: int = backbone.embed_dim

    def forward(self, inputs: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3, T, H, W)`` frames and ``(B, T)`` masks -> ``(B, C, T')``, ``(B, T')``.

        ``T`` is zero-padded up to whole chunks; ``T' = ceil(T / chunk) * chunk / tubelet``.

        Raises:
            ValueError: the inputs are not ``(B, 3, T, H, W)`` frames.
        """
        if inputs.dim() != 5:
            raise ValueError(
                f"BackboneFeatures expects (B, 3, T, H, W) frames, got {tuple(inputs.shape)}; "
                "pre-extracted features need no backbone"
            )
        frames = inputs.shape[2]
        padded = -(-frames // self.chunk_frames) * self.chunk_frames
        if padded != frames:
            # (B, 3, T, H, W) -> (B, 3, padded, H, W): zero frames, masked out below
            inputs = F.pad(inputs, (0, 0, 0, 0, 0, padded - frames))
            masks = F.pad(masks, (0, padded - frames), value=False)
        grad = torch.no_grad() if self.no_grad else contextlib.nullcontext()
        with grad:
            feats = self.backbone.forward_features(inputs)  # (B, C, padded / tubelet)
        # a feature step is valid when every frame of its tubelet is
        feat_masks = masks.reshape(masks.shape[0], -1, self.temporal_stride).all(dim=-1)
        return feats.float(), feat_masks
