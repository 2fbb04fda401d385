"""Video backbones: the VideoMAE / VideoMAEv2 ViT family, its registry and checkpoint loading.

Importing this package registers every variant; ``tadapt list backbones`` shows them.
"""

from tadapt.backbones.bundled import BundledWeightsError, bundled_weights
from tadapt.backbones.checkpoint import CheckpointError, LoadReport, load_pretrained
from tadapt.backbones.precision import Precision, autocast_context
from tadapt.backbones.registry import (
    PretrainedCfg,
    count_backbone_parameters,
    create_backbone,
    get_pretrained_cfg,
    list_backbones,
    list_pretrained_cfgs,
    register_backbone,
)
from tadapt.backbones.tokens import TokenLayout
from tadapt.backbones.videomae import Block, VisionTransformer

__all__ = [
    "Block",
    "BundledWeightsError",
    "CheckpointError",
    "LoadReport",
    "Precision",
    "PretrainedCfg",
    "TokenLayout",
    "VisionTransformer",
    "autocast_context",
    "bundled_weights",
    "count_backbone_parameters",
    "create_backbone",
    "get_pretrained_cfg",
    "list_backbones",
    "list_pretrained_cfgs",
    "load_pretrained",
    "register_backbone",
]
