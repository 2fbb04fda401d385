"""The config keys that name a file or a folder: made absolute, and checked to exist.

:func:`~tadapt.config.resolve` makes every such path absolute (a relative one is read from the
current folder, as before), so the ``config.yaml`` a run saves names the same files from any
folder: ``tadapt test runs/x/config.yaml`` works from elsewhere. :func:`check_paths` then turns
a missing file or folder into one error naming the key and the path, before any data is read.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from tadapt.config.loading import ConfigError
from tadapt.config.schema import ExperimentConfig

__all__ = ["PATH_KEYS", "absolute_path", "absolute_paths", "check_paths"]

_Kind = Literal["file", "folder", "any"]

# dotted key -> what it must name once the data exist (synthetic cache folders are created,
# so they are made absolute but never required); "any": a file or a Hugging Face folder
PATH_KEYS: dict[str, _Kind] = {
    "data.annotation_file": "file",
    "data.category_file": "file",
    "data.feature_dir": "folder",
    "data.video_dir": "folder",
    "data.synthetic.cache_dir": "folder",
    "data.synthetic_videos.cache_dir": "folder",
    "model.backbone.checkpoint": "any",
    "eval.blocked_file": "file",
    "eval.classifier_file": "file",
}
_CREATED = frozenset({"data.synthetic.cache_dir", "data.synthetic_videos.cache_dir"})
# what to do, where the key alone does not say it
_HINTS = {
    "model.backbone.checkpoint": (
        "; give the path of the pretrained weights (.pth / .safetensors file or Hugging Face "
        "folder; docs/backbones.md says where to download them)"
    ),
}

_T = TypeVar("_T")


def absolute_path(path: str) -> str:
    """``path`` with ``~`` expanded, absolute against the current folder (links kept)."""
    return os.path.abspath(os.path.expanduser(path))


def absolute_paths(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with every set :data:`PATH_KEYS` value absolute (a new config)."""
    for key in PATH_KEYS:
        config = _replace(config, key.split("."), absolute_path)
    return config


def check_paths(config: ExperimentConfig) -> None:
    """Check that every file or folder the config names exists.

    Call it once the synthetic data, if any, have been generated.

    Raises:
        ConfigError: ``"<key>: <path> does not exist"`` (or is not a file / not a folder).
    """
    for key, kind in PATH_KEYS.items():
        path = _lookup(config, key.split("."))
        if path is None or key in _CREATED:
            continue
        if not os.path.exists(path):
            raise ConfigError(f"{key}: {path} does not exist{_HINTS.get(key, '')}")
        if kind == "file" and not os.path.isfile(path):
            raise ConfigError(f"{key}: {path} is not a file")
        if kind == "folder" and not os.path.isdir(path):
            raise ConfigError(f"{key}: {path} is not a folder")


def _lookup(node: Any, parts: list[str]) -> Any:
    """The value at ``parts`` below ``node``; ``None`` when a section on the way is unset."""
    for part in parts:
        if node is None:
            return None
        node = getattr(node, part)
    return node


def _replace(node: _T, parts: list[str], fn: Callable[[str], str]) -> _T:
    """``node`` with ``fn`` applied to the value at ``parts`` (unset sections and values kept)."""
    if node is None:
        return node
    head, rest = parts[0], parts[1:]
    value = getattr(node, head)
    new = (fn(value) if value is not None else None) if not rest else _replace(value, rest, fn)
    if new is value:
        return node
    return dataclasses.replace(node, **{head: new})  # type: ignore[type-var]
