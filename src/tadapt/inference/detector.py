"""``tadapt.Detector``: a trained detector that finds actions in any video (or feature file).

A :class:`Detector` holds the restored model, its class names, its post-processing and how it
reads its input (:mod:`tadapt.inference.inputs`); :meth:`Detector.detect` runs one file
through the same dataset, loader, :func:`~tadapt.engine.predict` (sliding windows merged per
video, Soft-NMS) as ``tadapt test``, so a video's detections are the ones its evaluation makes.

:meth:`Detector.from_checkpoint` reads the checkpoint's resolved config; config objects are
read only at the package's edge (:mod:`tadapt.cli.inference_setup`), which it calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from tadapt.data import build_loader
from tadapt.data.feature_files import FEATURE_EXTS
from tadapt.detection import PostProcessing, TemporalDetector
from tadapt.engine import PrecisionPolicy, predict
from tadapt.inference.inputs import FeaturesInput, FramesInput, single_video_annotations
from tadapt.inference.result import VideoDetections
from tadapt.structures import Detections

__all__ = ["Detector"]


class Detector:
    """A trained temporal action detector, ready for inference.

    Args:
        model: the detector with its trained weights (put in evaluation mode).
        class_names: label index -> class name (``("action",)`` for class-agnostic proposals).
        inputs: how it reads a file: :class:`FramesInput` (videos) or :class:`FeaturesInput`
            (``(T, C)`` feature files, e.g. ``.npy``).
        postprocessing: decoding and NMS settings.
        device: where inference runs.
        precision: autocast policy of the forward passes.
        batch_size: windows per forward pass.
        class_agnostic: the model was trained on class-agnostic labels.
        seed: base seed of the datasets' per-item generators (the evaluation's).
    """

    def __init__(
        self,
        model: TemporalDetector,
        class_names: Sequence[str],
        inputs: FramesInput | FeaturesInput,
        *,
        postprocessing: PostProcessing,
        device: torch.device,
        precision: PrecisionPolicy,
        batch_size: int = 1,
        class_agnostic: bool = False,
        seed: int = 0,
    ) -> None:
        self.model = model.to(device).eval()
        self.class_names = tuple(class_names)
        self.inputs = inputs
        self.postprocessing = postprocessing
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.class_agnostic = class_agnostic
        self.seed = seed

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        *,
        backbone: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        precision: str = "fp32",
    ) -> Detector:
        """Restore a detector from a run folder, a checkpoint or an inference bundle.

        Args:
            path: a run folder (its ``checkpoints/best.pt``, else ``last.pt``, else
                ``adapters.pt``), a full checkpoint (``best.pt`` / ``last.pt``), an
                adapter-only checkpoint (``adapters.pt``), each carrying its resolved config;
                or an inference bundle of ``tadapt export`` (its folder or ``manifest.json``),
                read with no pickle involved after checking its files' sha256s.
            backbone: the backbone weights an adapter-only checkpoint was trained on
                (default: the ``model.backbone.checkpoint`` of its config, or the weights
                tadapt ships for its backbone).
            device: ``cpu``, ``cuda`` (``cuda:N``) or ``auto``.
            precision: ``fp32``, ``bf16``, ``fp16`` (CUDA) or ``amp``.

        Raises:
            CheckpointError: the file is not a tadapt checkpoint, or is damaged; a bundle's
                file is missing or its sha256 is not the manifest's.
            ValueError: the checkpoint is of another kind (e.g. a pretraining checkpoint),
                or the backbone does not fit the adapters; the message names the file.
        """
        # the config is read at the package's edge, beside `tadapt test`'s model building
        from tadapt.cli.inference_setup import detector_from_checkpoint

        return detector_from_checkpoint(
            Path(path), backbone=backbone, device=device, precision=precision
        )

    @property
    def reads_features(self) -> bool:
        """Whether it reads feature files (head-only) rather than videos."""
        return isinstance(self.inputs, FeaturesInput)

    def detect(
        self,
        source: str | os.PathLike[str],
        *,
        duration_sec: float | None = None,
        fps: float | None = None,
        progress: bool = False,
    ) -> VideoDetections:
        """The actions in one video (or, for a head-only detector, one feature file).

        Args:
            source: a video any container PyAV reads, at any frame rate and size; or a
                ``(T, C)`` feature file for a head-only detector.
            duration_sec: the video's duration, to clip detections to (default: probed from
                the video; a feature file has none unless given).
            fps: the features' frame rate, for a detector whose config left ``data.fps``
                unset (per-video rates from an annotation file).
            progress: show a bar over the video's batches of windows (cleared when done).

        Returns:
            Its detections in seconds, highest score first, labels as names.

        Raises:
            VideoError: the video cannot be read (missing, not a video, no video frames).
            DataError: the feature file cannot be read, or its frame rate is unknown.
        """
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file; give a video or a feature file")
        if path.suffix.lower() not in self.inputs.file_exts and self.reads_features:
            raise ValueError(
                f"{path}: this detector is head-only (trained on features): give a (T, C) "
                f"feature file ({', '.join(self.inputs.file_exts)}), e.g. from tadapt extract"
            )
        if path.suffix.lower() in FEATURE_EXTS and not self.reads_features:
            raise ValueError(
                f"{path}: this detector reads videos (end to end), not feature files; give "
                "the video"
            )
        if isinstance(self.inputs, FeaturesInput) and self.inputs.fps is None and fps is None:
            raise ValueError(
                f"{path}: the detector's config gives no feature frame rate (data.fps); "
                "pass fps=... (CLI: --gt with the file's annotations)"
            )
        if path.stat().st_size == 0:
            raise ValueError(f"{path}: empty file (0 bytes); copy it again or leave it out")
        if isinstance(self.inputs, FramesInput):
            _check_video(path)
        annotations = single_video_annotations(
            path, path.stem, self.class_names, duration_sec=duration_sec, fps=fps
        )
        dataset = self.inputs.dataset(
            path, annotations, class_agnostic=self.class_agnostic, seed=self.seed
        )
        loader = build_loader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,
            seed=self.seed,
            pad_multiple=self.model.encoder.size_divisor,
        )
        windows = tqdm(
            loader, desc=f"{path.name} windows", unit="batch", leave=False, disable=not progress
        )
        found = predict(
            self.model,
            windows,
            device=self.device,
            postprocessing=self.postprocessing,
            autocast=self.precision.autocast,
        )
        detections = found[0] if found else Detections.empty(path.stem)
        duration = duration_sec
        if duration is None and isinstance(self.inputs, FramesInput):
            duration = _probed_duration(path)
        return VideoDetections(path, detections.sorted_by_score(), self.class_names, duration)

    def detect_many(self, sources: Iterable[str | os.PathLike[str]]) -> Iterator[VideoDetections]:
        """:meth:`detect` each file in turn, yielding as each is done (one video in memory)."""
        for source in sources:
            yield self.detect(source)


def _check_video(path: Path) -> None:
    """Probe the video up front, so that an unreadable one gets a message saying what to do.

    Raises:
        VideoError: not a video, or no video stream (e.g. audio only).
    """
    from tadapt.io.video import VideoError, probe_video

    try:
        probe_video(path)
    except VideoError as err:
        reason = str(err).removeprefix(f"{err.path}: ")
        raise VideoError(
            path,
            f"{reason}; give a video with a video stream that PyAV (FFmpeg) decodes, or leave "
            "it out (tadapt check-data lists the unreadable videos of a dataset)",
        ) from None


def _probed_duration(path: Path) -> float:
    """The video's duration as the dataset probed it (cached by the decoder)."""
    from tadapt.io.video import probe_video

    return probe_video(path).duration_sec
