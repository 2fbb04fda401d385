"""Reading and writing annotation and prediction files (see :mod:`tadapt.io.annotations`).

Video reading (PyAV) is imported on first use, so reading annotations and predictions stays
cheap; only :class:`VideoReader` and :func:`uniform_indices` (tensors) import torch.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes
from tadapt.io.annotations import (
    FORMATS,
    THUMOS14_CLASSES,
    AnnotationError,
    Annotations,
    LoadReport,
    PastDuration,
    detect_format,
    load_annotations,
)
from tadapt.io.atomic import atomic_path, remove_stale_temporaries, write_text_atomic
from tadapt.io.blocked import load_blocked_videos
from tadapt.io.predictions import (
    load_predictions,
    read_evaluation_settings,
    read_predictions,
    write_predictions_csv,
    write_predictions_json,
)
from tadapt.io.text import utf8_required

if TYPE_CHECKING:
    from tadapt.io.decoder import VideoDecoder, VideoError, VideoInfo, probe_video
    from tadapt.io.frame_cache import FrameCache
    from tadapt.io.video import VideoReader, uniform_indices

__all__ = [
    "FORMATS",
    "THUMOS14_CLASSES",
    "AnnotationError",
    "Annotations",
    "FrameCache",
    "LoadReport",
    "PastDuration",
    "VideoDecoder",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "atomic_path",
    "detect_format",
    "load_annotations",
    "load_blocked_videos",
    "load_predictions",
    "probe_video",
    "read_evaluation_settings",
    "read_predictions",
    "remove_stale_temporaries",
    "uniform_indices",
    "utf8_required",
    "write_predictions_csv",
    "write_predictions_json",
    "write_text_atomic",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "FrameCache": "tadapt.io.frame_cache",
        "VideoDecoder": "tadapt.io.decoder",
        "VideoError": "tadapt.io.decoder",
        "VideoInfo": "tadapt.io.decoder",
        "VideoReader": "tadapt.io.video",
        "probe_video": "tadapt.io.decoder",
        "uniform_indices": "tadapt.io.video",
    },
)
