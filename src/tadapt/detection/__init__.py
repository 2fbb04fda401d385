"""The ActionFormer-style detector: pyramid encoder, shared heads, assignment, losses, inference."""

from tadapt.detection.backbone_features import BackboneFeatures
from tadapt.detection.detector import (
    FeatureExtractor,
    HeadOutputs,
    PrecomputedFeatures,
    TemporalDetector,
    build_actionformer,
)
from tadapt.detection.head import ClassificationHead, RegressionHead
from tadapt.detection.inference import (
    FusionMode,
    PostProcessing,
    decode_video,
    fuse_video_class_scores,
    load_video_class_scores,
    merge_windows,
    postprocess_video,
)
from tadapt.detection.losses import (
    DetectionLoss,
    LossNormalizer,
    diou_loss_1d,
    sigmoid_focal_loss,
)
from tadapt.detection.neck import (
    ConvEmbedding,
    IdentityFPN,
    PyramidEncoder,
    TransformerBlock,
    sinusoid_position_encoding,
)
from tadapt.detection.points import THUMOS_REGRESSION_RANGES, PointGenerator, Points
from tadapt.detection.targets import PointTargets, assign_targets, assign_video_targets

__all__ = [
    "THUMOS_REGRESSION_RANGES",
    "BackboneFeatures",
    "ClassificationHead",
    "ConvEmbedding",
    "DetectionLoss",
    "FeatureExtractor",
    "FusionMode",
    "HeadOutputs",
    "IdentityFPN",
    "LossNormalizer",
    "PointGenerator",
    "PointTargets",
    "Points",
    "PostProcessing",
    "PrecomputedFeatures",
    "PyramidEncoder",
    "RegressionHead",
    "TemporalDetector",
    "TransformerBlock",
    "assign_targets",
    "assign_video_targets",
    "build_actionformer",
    "decode_video",
    "diou_loss_1d",
    "fuse_video_class_scores",
    "load_video_class_scores",
    "merge_windows",
    "postprocess_video",
    "sigmoid_focal_loss",
    "sinusoid_position_encoding",
]
