"""Frames -> temporal features through a (possibly adapted) video backbone, for the detector.

:class:`BackboneFeatures` is the detector's feature extractor in the end-to-end mode: it pads
the frames to whole 16-frame chunks, runs the backbone (under ``no_grad`` when the tuning
strategy says so, e.g. ``frozen``), and returns ``(B, C, T')`` features with the matching
validity mask. Without upsampling, feature position ``j`` covers input frames ``tubelet * j``
to ``tubelet * j + tubelet - 1``; its centre, ``tubelet * j + (tubelet - 1) / 2``, is what
``temporal_offset`` records, so grid conversions stay in
:meth:`tadapt.detection.TemporalDetector.to_feature_grid`.

Side strategies (``tia_side``, ``losa``) run the backbone under ``no_grad``, tap some of its
blocks and hand the detached taps to a *side network* that trains; no gradient ever reaches
the backbone.

A ``no_grad`` backbone stays in evaluation mode when the detector trains (:meth:`train`): it
does not learn, so its dropout and stochastic depth would only add noise to the features, and
the side strategies would no longer start exactly at the head-only model. OpenTAD does the same
(``_freeze_layers`` puts every frozen block in ``eval()`` at each forward).
"""

from __future__ import annotations

import contextlib
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.adapters.base import SideNetwork
from tadapt.backbones import VisionTransformer

__all__ = ["BackboneFeatures"]


class BackboneFeatures(nn.Module):
    """Run a video backbone on frames and hand the detector its temporal features.

    Args:
        backbone: the backbone module (adapters already inserted, ``requires_grad`` set by
            :func:`tadapt.adapters.apply_strategy`).
        no_grad: run the backbone without autograd (``frozen`` and the side strategies); the
            detector's head (and side network) still train.
        side: a side network (:func:`tadapt.adapters.build_side_network`) fed by the tapped
            blocks of the no-grad backbone; ``None`` uses the last block's pooled tokens.
        temporal_scale: linearly interpolate the features to this many times their length
            (AdaTAD: 2 on THUMOS-14, a feature per sampled frame; 0.5 on ActivityNet, 768
            frames -> 192 steps); ``tubelet / temporal_scale`` must be a whole number.
        clips_per_pass: run a no-grad backbone on this many 16-frame chunks at a time, to bound
            activation memory (``None``: all at once).

    Attributes:
        temporal_stride: input frames per feature step (``tubelet / temporal_scale``).
        temporal_offset: input-frame position of feature step 0 (the tubelet's centre without
            rescaling).
        out_channels: feature channels ``C``.

    Raises:
        ValueError: a side network without ``no_grad``, or a scale that does not give a whole
            number of frames per feature step.
    """

    def __init__(
        self,
        backbone: VisionTransformer,
        *,
        no_grad: bool = False,
        side: nn.Module | None = None,
        temporal_scale: float = 1.0,
        clips_per_pass: int | None = None,
    ) -> None:
        super().__init__()
        if side is not None and not no_grad:
            raise ValueError("a side network reads a no_grad backbone; set no_grad=True")
        tubelet = backbone.tubelet_size
        stride = tubelet / temporal_scale if temporal_scale > 0 else 0.0
        if stride < 1 or stride != round(stride) or backbone.chunk_frames % round(stride):
            raise ValueError(
                f"temporal_scale {temporal_scale} gives {stride:g} frames per feature step; it "
                f"must be a whole number dividing the chunk ({backbone.chunk_frames} frames, "
                f"tubelet {tubelet}), e.g. 2, 1 or 0.5"
            )
        self.backbone = backbone
        self.side = side
        self.no_grad = no_grad
        self.temporal_scale = temporal_scale
        self.clips_per_pass = clips_per_pass if no_grad else None
        self.temporal_stride: int = round(stride)
        # align_corners=False: new step j sits at old step (j + 0.5) / scale - 0.5
        self.temporal_offset: float = tubelet * (0.5 / temporal_scale - 0.5) + (tubelet - 1) / 2
        self.chunk_frames: int = backbone.chunk_frames
        self.out_channels: int = backbone.embed_dim

    def train(self, mode: bool = True) -> BackboneFeatures:
        """Set training mode; a ``no_grad`` backbone stays in evaluation mode (no drop path)."""
        super().train(mode)
        if self.no_grad:
            self.backbone.eval()
        return self

    def _features(self, inputs: Tensor, token_masks: Tensor) -> Tensor:
        """Chunks ``(B, 3, T, H, W)``, masks ``(B, T / tubelet)`` -> ``(B, C, T / tubelet)``."""
        if self.side is None:
            grad = torch.no_grad() if self.no_grad else contextlib.nullcontext()
            with grad:
                return self.backbone.forward_features(inputs, clips_per_pass=self.clips_per_pass)
        side = cast(SideNetwork, self.side)
        with torch.no_grad():
            outputs = self.backbone.forward_intermediates(
                inputs,
                [*side.taps, self.backbone.depth - 1],
                output=side.tap_output,
                clips_per_pass=self.clips_per_pass,
            )
        layout = self.backbone.token_layout(inputs.shape)
        tapped = [out.detach() for out in outputs[:-1]]
        features: Tensor = side(tapped, outputs[-1].detach(), layout, token_masks)
        return features

    def to_steps(self, tokens: Tensor) -> Tensor:
        """Temporal tokens ``(B, C, N)`` -> detector steps ``(B, C, N * temporal_scale)``.

        Linear interpolation (``align_corners=False``, OpenTAD's ``Interpolate``) when
        ``temporal_scale != 1``; the tokens themselves otherwise.
        """
        if self.temporal_scale == 1.0:
            return tokens
        length = tokens.shape[-1] * self.backbone.tubelet_size // self.temporal_stride
        return F.interpolate(tokens, size=length, mode="linear", align_corners=False)

    def forward(self, inputs: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3, T, H, W)`` frames and ``(B, T)`` masks -> ``(B, C, T')``, ``(B, T')``.

        ``T`` is zero-padded up to whole chunks;
        ``T' = ceil(T / chunk) * chunk / tubelet * temporal_scale``.

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
        tubelet = self.backbone.tubelet_size
        token_masks = masks.reshape(masks.shape[0], -1, tubelet).all(
            dim=-1
        )  # (B, padded / tubelet)
        feats = self.to_steps(self._features(inputs, token_masks).float())  # (B, C, T')
        # a feature step is valid when every frame it covers is
        feat_masks = masks.reshape(masks.shape[0], -1, self.temporal_stride).all(dim=-1)
        return feats, feat_masks
