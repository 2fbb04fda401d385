"""Reading and writing annotation and prediction files (see :mod:`tadapt.io.annotations`)."""

from tadapt.io.annotations import (
    FORMATS,
    THUMOS14_CLASSES,
    AnnotationError,
    Annotations,
    LoadReport,
    detect_format,
    load_annotations,
)
from tadapt.io.atomic import atomic_path, write_text_atomic
from tadapt.io.blocked import load_blocked_videos
from tadapt.io.frame_cache import FrameCache
from tadapt.io.predictions import load_predictions, write_predictions_csv, write_predictions_json
from tadapt.io.video import VideoError, VideoInfo, VideoReader, probe_video, uniform_indices

__all__ = [
    "FORMATS",
    "THUMOS14_CLASSES",
    "AnnotationError",
    "Annotations",
    "FrameCache",
    "LoadReport",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "atomic_path",
    "detect_format",
    "load_annotations",
    "load_blocked_videos",
    "load_predictions",
    "probe_video",
    "uniform_indices",
    "write_predictions_csv",
    "write_predictions_json",
    "write_text_atomic",
]
