"""tadapt: end-to-end temporal action localization with memory-frugal backbone adaptation."""

from tadapt.backbones import create_backbone, list_backbones, load_pretrained
from tadapt.structures import Detections, GroundTruth, Segments, pairwise_tiou
from tadapt.version import __version__

__all__ = [
    "Detections",
    "GroundTruth",
    "Segments",
    "__version__",
    "create_backbone",
    "list_backbones",
    "load_pretrained",
    "pairwise_tiou",
]
