"""From a checkpoint's resolved config to a :class:`~tadapt.inference.Detector`: the edge.

:meth:`tadapt.Detector.from_checkpoint` calls :func:`detector_from_checkpoint`. It lives here,
beside ``tadapt test``, because building the model and loading its weights read the config
(:func:`~tadapt.cli.experiment.build_model`, the adapter-only loading of ``tadapt test``) and
nothing below :mod:`tadapt.cli` reads config objects: the detector itself gets plain arguments.
Using the same functions as ``tadapt test`` keeps the two paths' detections identical.

:func:`export_bundle` writes a checkpoint's detector as an inference bundle
(:mod:`tadapt.inference.bundle`: safetensors, YAML, JSON) that
:func:`detector_from_checkpoint` reads back with no pickle involved.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from tadapt.adapters.lora import LoRALinear, merge_lora
from tadapt.cli.experiment import build_model, build_postprocessing
from tadapt.cli.test import load_adapter_checkpoint
from tadapt.config import ConfigError, ExperimentConfig
from tadapt.config.loading import config_from_dict, config_to_dict
from tadapt.config.paths import PATH_KEYS
from tadapt.data import Resize, SlidingWindows
from tadapt.detection import TemporalDetector
from tadapt.engine import load_checkpoint, resolve_precision, seed_everything
from tadapt.inference.bundle import is_bundle, read_bundle, write_bundle
from tadapt.inference.detector import Detector
from tadapt.inference.inputs import FeaturesInput, FramesInput
from tadapt.io import load_annotations
from tadapt.io.checkpoint_files import CheckpointError

__all__ = [
    "detector_from_checkpoint",
    "detector_inputs",
    "export_bundle",
    "find_run_checkpoint",
]

logger = logging.getLogger(__name__)

# a run folder's checkpoints, in order of preference
_RUN_CHECKPOINTS = ("best.pt", "last.pt", "adapters.pt")
_GIVE = "give a tadapt run folder or its checkpoints/best.pt, last.pt or adapters.pt"


def find_run_checkpoint(path: Path) -> Path:
    """``path`` itself, or for a run folder its best checkpoint (``best.pt``, ``last.pt``...).

    Raises:
        CheckpointError: ``path`` does not exist, or is a folder without checkpoints.
    """
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such checkpoint file or run folder; {_GIVE}")
    for folder in (path / "checkpoints", path):
        for name in _RUN_CHECKPOINTS:
            if (folder / name).is_file():
                return folder / name
    raise CheckpointError(
        f"{path}: a folder without checkpoints/best.pt, last.pt or adapters.pt; {_GIVE}"
    )


def _config_of(checkpoint: dict[str, Any], path: Path) -> ExperimentConfig:
    """The resolved detector config a checkpoint carries."""
    raw = checkpoint.get("config")
    if not isinstance(raw, dict) or "model" not in raw or "data" not in raw:
        raise CheckpointError(
            f"{path}: carries no detector config (a pretraining or backbone checkpoint?); {_GIVE}"
        )
    try:
        config = config_from_dict(raw)
    except ConfigError as err:
        raise CheckpointError(f"{path}: its config is not a detector's ({err}); {_GIVE}") from None
    if config.model.num_classes is None or config.model.max_seq_len is None:
        raise CheckpointError(f"{path}: its config is not resolved; {_GIVE}")
    return config


def _with_backbone_weights(
    config: ExperimentConfig, path: Path, adapter_only: bool, backbone: Path | None
) -> ExperimentConfig:
    """The config whose backbone the checkpoint's weights go onto.

    A full checkpoint holds every weight, so the backbone is built without loading any (its
    training-time weights file need not exist any more). An adapter-only checkpoint goes onto
    ``backbone``, else the weights its config names.
    """
    spec = config.model.backbone
    if spec is None:
        if adapter_only or backbone is not None:
            raise ValueError(f"{path}: a head-only detector (on features) takes no backbone")
        return config
    if not adapter_only:
        if backbone is not None:
            raise ValueError(
                f"{path} is a full checkpoint (it holds the backbone's weights): leave out "
                "the backbone, which only an adapter-only checkpoint (adapters.pt) needs"
            )
        spec = dataclasses.replace(spec, checkpoint=None, pretrained=False)
    elif backbone is not None:
        if not backbone.is_file() and not backbone.is_dir():
            raise FileNotFoundError(f"{backbone}: no such backbone checkpoint")
        spec = dataclasses.replace(spec, checkpoint=str(backbone), pretrained=True)
    elif spec.checkpoint is not None and not Path(spec.checkpoint).exists():
        raise FileNotFoundError(
            f"{path} is an adapter-only checkpoint and the backbone it was trained on, "
            f"{spec.checkpoint}, does not exist: pass that backbone checkpoint (--backbone)"
        )
    return dataclasses.replace(config, model=dataclasses.replace(config.model, backbone=spec))


def _restore(
    config: ExperimentConfig,
    checkpoint: dict[str, Any],
    path: Path,
    backbone: Path | None,
) -> TemporalDetector:
    """Build the detector of ``config`` and load the checkpoint's weights as ``tadapt test``."""
    adapter_only = bool(checkpoint.get("adapter_only"))
    config = _with_backbone_weights(config, path, adapter_only, backbone)
    seed_everything(config.train.seed)  # a backbone without pretrained weights: the run's init
    try:
        model = build_model(config)
    except (ValueError, RuntimeError, OSError) as err:
        if backbone is None:
            raise
        raise ValueError(
            f"{backbone} does not fit the adapters of {path} (trained on "
            f"{config.model.backbone.name if config.model.backbone else '?'}): pass the "
            f"backbone checkpoint the run was trained on ({str(err).splitlines()[0]})"
        ) from None
    use_ema = config.eval.use_ema and checkpoint.get("ema") is not None
    weights = checkpoint["ema"] if use_ema else checkpoint["model"]
    if adapter_only:
        load_adapter_checkpoint(model, config, weights, path)
        return model
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: its weights do not fit the detector its own config builds "
            f"({str(err).splitlines()[0]}); {_GIVE}"
        ) from None
    return model


def _class_names(config: ExperimentConfig) -> tuple[str, ...]:
    """The class names of the run: from its annotation file, as training read them.

    Checkpoints record the annotation file, not the names; when that file is gone, the
    classes are numbered (``class_0``, ...) and a warning says why.
    """
    data = config.data
    num_classes = config.model.num_classes
    assert num_classes is not None  # resolved
    if data.class_agnostic:
        return ("action",)
    numbered = tuple(f"class_{i}" for i in range(num_classes))
    if data.annotation_file is None or not Path(data.annotation_file).is_file():
        logger.warning(
            "the run's annotation file %s is gone: its classes are named class_0 ... class_%d",
            data.annotation_file,
            num_classes - 1,
        )
        return numbered
    try:
        names = load_annotations(data.annotation_file, category_file=data.category_file).class_names
    except (ValueError, OSError) as err:
        logger.warning("classes named class_0 ...: cannot read the run's class names (%s)", err)
        return numbered
    if len(names) != num_classes:
        logger.warning(
            "%s now has %d classes, the detector %d: its classes are named class_0 ...",
            data.annotation_file,
            len(names),
            num_classes,
        )
        return numbered
    return names


def detector_inputs(config: ExperimentConfig) -> FramesInput | FeaturesInput:
    """How the detector of ``config`` reads a file: as ``build_datasets`` evaluates."""
    data = config.data
    if config.model.backbone is not None:
        frames_sampling: SlidingWindows | Resize = (
            Resize(data.max_seq_len, 0.0)
            if data.resize
            else SlidingWindows(data.eval_window or data.max_seq_len, data.eval_overlap)
        )
        return FramesInput(data.image_size, data.frame_stride, frames_sampling)
    assert data.feat_stride is not None  # resolved
    assert data.num_frames is not None
    sampling: SlidingWindows | Resize | None = None
    if data.resize:
        sampling = Resize(data.max_seq_len, data.resize_min_gt_fraction)
    elif data.eval_window:
        sampling = SlidingWindows(data.eval_window, data.eval_overlap)
    return FeaturesInput(data.feat_stride, data.num_frames, data.fps, sampling)


def _device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available) as a device."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device {name!r}: not a device; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: CUDA is not available on this machine; use cpu")
    return device


def _detector(
    config: ExperimentConfig,
    model: TemporalDetector,
    class_names: tuple[str, ...],
    device: str,
    precision: str,
) -> Detector:
    """The :class:`Detector` of a restored model and its config."""
    torch_device = _device(device)
    return Detector(
        model,
        class_names,
        detector_inputs(config),
        postprocessing=build_postprocessing(config),
        device=torch_device,
        precision=resolve_precision(precision, torch_device),
        batch_size=config.eval.batch_size,
        class_agnostic=config.data.class_agnostic,
        seed=config.train.seed,
    )


def _detector_from_bundle(path: Path, device: str, precision: str) -> Detector:
    """The :class:`Detector` of an inference bundle: safetensors, YAML and JSON only."""
    bundle = read_bundle(path)
    try:
        config = config_from_dict(bundle.config)
    except ConfigError as err:
        raise CheckpointError(f"{path}: its config.yaml is not a detector's ({err})") from None
    if len(bundle.class_names) != config.model.num_classes:
        raise CheckpointError(
            f"{path}: class_names.json names {len(bundle.class_names)} classes, the "
            f"detector has {config.model.num_classes}; export it again with tadapt export"
        )
    _device(device)  # an unusable device is refused before the model is built
    model = build_model(config)  # random weights, all replaced below
    if bundle.lora_merged:
        merge_lora(model)  # the bundle's linears hold W + (alpha / r) B A
    try:
        model.load_state_dict(bundle.weights)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: its weights.safetensors does not fit the detector its config.yaml "
            f"builds ({str(err).splitlines()[0]}); export it again with tadapt export"
        ) from None
    return _detector(config, model, bundle.class_names, device, precision)


def detector_from_checkpoint(
    path: Path,
    *,
    backbone: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    precision: str = "fp32",
) -> Detector:
    """The :class:`Detector` of a run folder, a checkpoint or an inference bundle.

    See :meth:`tadapt.Detector.from_checkpoint`.
    """
    if is_bundle(path):
        if backbone is not None:
            raise ValueError(
                f"{path} is an inference bundle (it holds every weight): leave out the backbone"
            )
        return _detector_from_bundle(path, device, precision)
    file = find_run_checkpoint(path)
    checkpoint = load_checkpoint(file)
    config = _config_of(checkpoint, file)
    _device(device)
    model = _restore(config, checkpoint, file, Path(backbone) if backbone is not None else None)
    return _detector(config, model, _class_names(config), device, precision)


def _without_paths(config: ExperimentConfig) -> dict[str, Any]:
    """The config as nested dicts, every file or folder it names set to ``None``.

    A bundle needs none of them: the weights (the backbone's too) are in the bundle, the
    class names in its ``class_names.json``; so the backbone is built without loading weights.
    """
    raw = config_to_dict(config)
    for dotted in PATH_KEYS:
        *parents, key = dotted.split(".")
        node: Any = raw
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            node[key] = None
    if raw["model"].get("backbone") is not None:
        raw["model"]["backbone"]["pretrained"] = False
    return raw


def export_bundle(
    path: Path, out: Path, *, backbone: str | os.PathLike[str] | None = None
) -> tuple[Path, bool]:
    """Write the detector of a run folder or checkpoint as an inference bundle in ``out``.

    LoRA layers are merged into their base linears (inference then costs what the frozen
    backbone costs); other adapters (TIA, LoSA...) are kept as they are.

    Args:
        path: a run folder or checkpoint, as :func:`detector_from_checkpoint` takes.
        out: the bundle folder.
        backbone: the backbone weights of an adapter-only checkpoint.

    Returns:
        The bundle's manifest and whether LoRA layers were merged.
    """
    file = find_run_checkpoint(path)
    checkpoint = load_checkpoint(file)
    config = _config_of(checkpoint, file)
    model = _restore(config, checkpoint, file, Path(backbone) if backbone is not None else None)
    merged = any(isinstance(module, LoRALinear) for module in model.modules())
    merge_lora(model)
    manifest = write_bundle(
        out,
        model.state_dict(),
        _without_paths(config),
        _class_names(config),
        lora_merged=merged,
        source=str(file),
    )
    return manifest, merged
