"""Named backbones: ``register_backbone`` / ``create_backbone`` / ``list_backbones``.

Modelled on timm's ``_registry.py``: an *entrypoint* is a function, registered under its own
name, that builds an architecture from keyword overrides. A name may carry a weight tag
after a dot (``videomae_base_patch16.k400_ft``); the tag selects one of the entrypoint's
:class:`PretrainedCfg` records, which say where the weights come from and how inputs must be
normalised. Nothing is downloaded: weights are loaded from a local file with
``create_backbone(name, checkpoint=PATH)`` (see :mod:`tadapt.backbones.checkpoint`), or, for
a tag whose record names a file shipped in ``tadapt/weights/``, with
``create_backbone(name, pretrained=True)`` (see :mod:`tadapt.backbones.bundled`).
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:
    from tadapt.backbones.videomae import VisionTransformer

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PretrainedCfg",
    "count_backbone_parameters",
    "create_backbone",
    "get_pretrained_cfg",
    "list_backbones",
    "list_pretrained_cfgs",
    "register_backbone",
]

# ImageNet statistics in 0-1 units, used to train every VideoMAE / VideoMAEv2 release
# (VideoMAE datasets.py; OpenTAD writes them in 0-255 units: 123.675, 116.28, 103.53 / ...).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_SHA256 = re.compile(r"[0-9a-f]{64}")  # hashlib's hexdigest() spelling


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a backbone's weights come from and what input they expect.

    Attributes:
        tag: weight tag, the part after the dot in ``name.tag``.
        source: the release the weights come from (a code repository).
        description: how they were trained (pretraining and fine-tuning data).
        hf_hub_id: Hugging Face Hub repository holding these weights, if any (informational:
            tadapt never downloads; pass the downloaded file to ``load_pretrained``).
        num_frames: frames per clip during pretraining / fine-tuning.
        img_size: training resolution in pixels (square).
        mean: per-channel mean in 0-1 units (RGB).
        std: per-channel standard deviation in 0-1 units (RGB).
        license: licence of the weights (not of tadapt).
        bundled_file: name of the weights file shipped in the package folder
            ``tadapt/weights/`` (``None``: the weights are not shipped).
        bundled_sha256: the file's sha256 (64 lowercase hex digits), checked before loading.
    """

    tag: str
    source: str
    description: str = ""
    hf_hub_id: str | None = None
    num_frames: int = 16
    img_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    license: str = "cc-by-nc-4.0"
    bundled_file: str | None = None
    bundled_sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.bundled_file is None) != (self.bundled_sha256 is None):
            raise ValueError(f"weight tag {self.tag!r}: give bundled_file and bundled_sha256 both")
        if self.bundled_sha256 is not None and not _SHA256.fullmatch(self.bundled_sha256):
            raise ValueError(
                f"weight tag {self.tag!r}: bundled_sha256={self.bundled_sha256!r} is not 64 "
                "lowercase hex digits (`sha256sum FILE` prints it)"
            )


@dataclass(frozen=True)
class _Entry:
    fn: Callable[..., VisionTransformer]
    pretrained: tuple[PretrainedCfg, ...]


_REGISTRY: dict[str, _Entry] = {}

_F = TypeVar("_F", bound=Callable[..., "VisionTransformer"])


def register_backbone(*pretrained: PretrainedCfg) -> Callable[[_F], _F]:
    """Decorator registering a backbone entrypoint under its function name.

    Args:
        *pretrained: weight records for this architecture; the first is the default tag.

    Returns:
        The decorator; it returns the entrypoint unchanged. Re-registering a name replaces
        the previous entrypoint with a warning.
    """

    def decorator(fn: _F) -> _F:
        name = fn.__name__
        if name in _REGISTRY:
            warnings.warn(f"backbone {name!r} is registered again; replacing it", stacklevel=2)
        tags = [cfg.tag for cfg in pretrained]
        if len(set(tags)) != len(tags):
            raise ValueError(f"backbone {name!r}: duplicate weight tags {tags}")
        _REGISTRY[name] = _Entry(fn, tuple(pretrained))
        return fn

    return decorator


def list_backbones(*, with_tags: bool = False) -> list[str]:
    """Registered backbone names, sorted.

    Args:
        with_tags: list ``name.tag`` for every weight record instead of architecture names
            (an architecture without weights is listed bare).
    """
    if not with_tags:
        return sorted(_REGISTRY)
    names = []
    for name, entry in _REGISTRY.items():
        names.extend([f"{name}.{cfg.tag}" for cfg in entry.pretrained] or [name])
    return sorted(names)


def _split_name(name: str) -> tuple[str, str | None]:
    arch, _, tag = name.partition(".")
    if arch not in _REGISTRY:
        close = difflib.get_close_matches(arch, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown backbone {arch!r}{hint} (`tadapt list backbones` shows the names)"
        )
    return arch, tag or None


def list_pretrained_cfgs(name: str) -> tuple[PretrainedCfg, ...]:
    """Every weight record of the architecture ``name`` (default tag first)."""
    return _REGISTRY[_split_name(name)[0]].pretrained


def get_pretrained_cfg(name: str) -> PretrainedCfg | None:
    """The weight record of ``name`` (``arch`` for the default tag or ``arch.tag``).

    Returns ``None`` for an architecture registered without weights.
    """
    arch, tag = _split_name(name)
    records = _REGISTRY[arch].pretrained
    if tag is None:
        return records[0] if records else None
    for cfg in records:
        if cfg.tag == tag:
            return cfg
    known = ", ".join(cfg.tag for cfg in records) or "none"
    raise ValueError(f"backbone {arch!r} has no weight tag {tag!r} (known tags: {known})")


def create_backbone(
    name: str,
    *,
    checkpoint: str | Path | None = None,
    pretrained: bool = False,
    **overrides: Any,
) -> VisionTransformer:
    """Build a registered backbone, optionally loading local or bundled weights.

    Args:
        name: ``arch`` or ``arch.tag`` (see :func:`list_backbones`).
        checkpoint: a weights file (or Hugging Face folder) in any format that
            :func:`tadapt.backbones.checkpoint.load_pretrained` understands.
        pretrained: without ``checkpoint``, load the tag's weights shipped with tadapt
            (:func:`tadapt.backbones.bundled_weights`, sha256-checked).
        **overrides: constructor arguments replacing the variant's defaults, e.g.
            ``img_size=160``, ``drop_path_rate=0.1`` or ``depth=2``.

    Returns:
        The model, its ``pretrained_cfg`` set to the tag's record (``None`` without one).
        A checkpoint's load report is logged; call ``load_pretrained`` yourself to keep it.

    Raises:
        ValueError: an unknown name or tag; ``pretrained`` for a tag that ships no weights.
    """
    arch, _ = _split_name(name)
    if checkpoint is None and pretrained:
        # imported here: the bundled-file lookup reads this registry's records
        from tadapt.backbones.bundled import bundled_weights

        checkpoint = bundled_weights(name)
        if checkpoint is None:
            raise ValueError(
                f"backbone {name!r} ships no weights with tadapt (`tadapt list backbones` marks "
                "the tags that do); pass the weights file as checkpoint"
            )
    model = _REGISTRY[arch].fn(pretrained_cfg=get_pretrained_cfg(name), **overrides)
    if checkpoint is not None:
        # imported here: the loader imports the model module, which imports this registry
        from tadapt.backbones.checkpoint import load_pretrained

        load_pretrained(model, checkpoint)
    return model


def count_backbone_parameters(name: str, **overrides: Any) -> int:
    """Number of parameters of a backbone, counted on the meta device (no memory used)."""
    with torch.device("meta"):
        model = create_backbone(name, **overrides)
    return sum(p.numel() for p in model.parameters())
