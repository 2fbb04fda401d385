"""tadapt: end-to-end temporal action localization with memory-frugal backbone adaptation.

The names below are imported on first use, so ``import tadapt`` (and every command that needs
no model, e.g. ``tadapt evaluate``) does not import torch.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes
from tadapt.version import __version__

if TYPE_CHECKING:
    from tadapt.backbones import create_backbone, list_backbones, load_pretrained
    from tadapt.inference import Detector
    from tadapt.structures import Detections, GroundTruth, Segments, pairwise_tiou

__all__ = [
    "Detections",
    "Detector",
    "GroundTruth",
    "Segments",
    "__version__",
    "create_backbone",
    "list_backbones",
    "load_pretrained",
    "pairwise_tiou",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "create_backbone": "tadapt.backbones",
        "list_backbones": "tadapt.backbones",
        "load_pretrained": "tadapt.backbones",
        "Detections": "tadapt.structures",
        "Detector": "tadapt.inference",
        "GroundTruth": "tadapt.structures",
        "Segments": "tadapt.structures",
        "pairwise_tiou": "tadapt.structures",
    },
)
