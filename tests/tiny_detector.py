"""A 2-block tiny VideoMAE with the ActionFormer head, for tests that need a real detector."""

from __future__ import annotations

import torch

from tadapt.adapters import apply_strategy, get_strategy
from tadapt.backbones import VisionTransformer, create_backbone
from tadapt.detection import BackboneFeatures, TemporalDetector, build_actionformer

SIZE = 32  # frame side, px


def tiny_video_detector(
    strategy: str, *, checkpointing: bool = False
) -> tuple[TemporalDetector, VisionTransformer]:
    """The detector (2 classes, seeded) and its backbone, adapted by ``strategy``."""
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", img_size=SIZE, depth=2)
    apply_strategy(backbone, strategy)
    backbone.set_grad_checkpointing(checkpointing)
    extractor = BackboneFeatures(backbone, no_grad=get_strategy(strategy).no_grad)
    detector = build_actionformer(
        extractor.out_channels,
        2,
        feature_extractor=extractor,
        embed_dim=32,
        num_heads=2,
        arch=(1, 1, 2),
        window_size=-1,
        regression_ranges=((0, 4), (4, 8), (8, 10000)),
    )
    return detector, backbone
