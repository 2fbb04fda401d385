"""Inference on any video: :class:`Detector` restores a trained detector and detects actions.

See ``docs/detect.md``; ``tadapt detect`` is its command line.
"""

from tadapt.inference.detector import Detector
from tadapt.inference.inputs import FeaturesInput, FramesInput
from tadapt.inference.result import VideoDetections

__all__ = ["Detector", "FeaturesInput", "FramesInput", "VideoDetections"]
