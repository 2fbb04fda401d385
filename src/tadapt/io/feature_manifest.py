"""``tadapt_features.json``: how the features of a folder were made, and how to read them back.

``tadapt extract`` and ``tadapt lofi`` (its feature stage) write this manifest beside the
``<video_id>.npy`` files they write, before the first of them:

.. code-block:: json

    {"manifest_version": 1, "extractor": "snippets",
     "backbone": "videomae_small_patch16", "weights": "/data/vit-s.pth",
     "weights_sha256": "…", "settings": {"size": 160, "snippet_frames": 16, …},
     "feature_dim": 384, "feat_stride": 4, "num_frames": 16, "file_ext": ".npy",
     "tadapt_version": "0.1.0"}

``weights`` says where the backbone's weights came from (a checkpoint path, ``bundled NAME``,
``random init (seed S)``, a run's ``last.pt``) and ``weights_sha256`` identifies them: the
sha256 of the backbone's tensors as the features were computed, whatever the file format.
``settings`` are the extraction's own options; ``feature_dim``, ``feat_stride`` and ``num_frames``
(in video frames) and ``file_ext`` are the ``data.*`` values to train on the features with,
which ``tadapt train`` and ``tadapt test`` read from here. A rerun into the folder compares its
settings with the manifest's (:meth:`FeatureManifest.differences`) and refuses to mix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tadapt.io.atomic import write_text_atomic
from tadapt.version import __version__

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "FeatureManifest",
    "FeatureManifestError",
    "manifest_path",
    "read_feature_manifest",
    "write_feature_manifest",
]

MANIFEST_FILE = "tadapt_features.json"
MANIFEST_VERSION = 1

# a differing weights hash is shown by its first characters, enough to tell two files apart
_SHOWN_SHA = 12


class FeatureManifestError(ValueError):
    """An unreadable manifest, or features made with other settings than a rerun's."""


@dataclass(frozen=True)
class FeatureManifest:
    """How the features of one folder were made (one JSON file, :data:`MANIFEST_FILE`).

    Attributes:
        extractor: ``snippets`` (:func:`tadapt.extraction.extract_features`, ``tadapt
            extract``) or ``detector steps`` (:mod:`tadapt.step_extraction`, ``tadapt lofi``).
        backbone: the registered backbone name (``arch`` or ``arch.tag``).
        weights: where its weights came from, in words (a path, ``bundled NAME``,
            ``random init (seed S)``).
        weights_sha256: sha256 of the backbone's tensors as the features were computed.
        settings: the extraction's own options (sizes, strides, precision, ...), JSON values.
        feature_dim: ``C`` of every ``(T, C)`` file (``data.feature_dim``).
        feat_stride: video frames between consecutive features (``data.feat_stride``).
        num_frames: video frames each feature covers (``data.num_frames``).
        file_ext: the files' extension (``data.file_ext``).
        tadapt_version: the tadapt that wrote them.
    """

    extractor: str
    backbone: str
    weights: str
    weights_sha256: str
    settings: Mapping[str, Any]
    feature_dim: int
    feat_stride: int
    num_frames: int
    file_ext: str = ".npy"
    tadapt_version: str = __version__

    def differences(self, new: FeatureManifest) -> list[str]:
        """What ``new`` changes, as ``name: old -> new``; empty when its features would match.

        The version and a moved weights file (same tensors) are no difference; the read-back
        values (``feat_stride``, ``num_frames``) follow from the settings compared here.
        """
        changes = [
            f"{name}: {old!r} -> {now!r}"
            for name, old, now in (
                ("extractor", self.extractor, new.extractor),
                ("backbone", self.backbone, new.backbone),
                ("feature_dim", self.feature_dim, new.feature_dim),
                ("file_ext", self.file_ext, new.file_ext),
            )
            if old != now
        ]
        if self.weights_sha256 != new.weights_sha256:
            changes.append(
                f"weights: {self.weights} (sha256 {self.weights_sha256[:_SHOWN_SHA]}...) -> "
                f"{new.weights} (sha256 {new.weights_sha256[:_SHOWN_SHA]}...)"
            )
        for key in sorted(set(self.settings) | set(new.settings)):
            old, now = self.settings.get(key), new.settings.get(key)
            if old != now:
                changes.append(f"{key}: {old!r} -> {now!r}")
        return changes


def manifest_path(folder: str | os.PathLike[str]) -> Path:
    """The manifest file of a feature folder."""
    return Path(folder) / MANIFEST_FILE


def write_feature_manifest(folder: str | os.PathLike[str], manifest: FeatureManifest) -> Path:
    """Write ``folder/tadapt_features.json`` atomically; returns its path."""
    path = manifest_path(folder)
    text = json.dumps({"manifest_version": MANIFEST_VERSION, **asdict(manifest)}, indent=2)
    write_text_atomic(path, text + "\n")
    return path


_TYPES: dict[str, type] = {
    "extractor": str,
    "backbone": str,
    "weights": str,
    "weights_sha256": str,
    "settings": dict,
    "feature_dim": int,
    "feat_stride": int,
    "num_frames": int,
    "file_ext": str,
    "tadapt_version": str,
}
_JSON_NAMES = {str: "string", int: "integer", dict: "object"}


def read_feature_manifest(folder: str | os.PathLike[str]) -> FeatureManifest | None:
    """The manifest of ``folder``, or ``None`` when it has none (or the folder does not exist).

    Raises:
        FeatureManifestError: the file is not valid JSON, lacks a field or has one of the
            wrong type, or was written by a newer tadapt; the message names the file and key.
    """
    path = manifest_path(folder)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FeatureManifestError(
            f"{path}: not valid JSON ({err}); tadapt writes it atomically, so it was edited "
            "or damaged afterwards: restore it, or extract the features again into a new folder"
        ) from None
    if not isinstance(raw, dict):
        raise FeatureManifestError(f"{path}: expected a JSON object, found {type(raw).__name__}")
    version = raw.get("manifest_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FeatureManifestError(f"{path}: 'manifest_version' must be an integer")
    if version > MANIFEST_VERSION:
        raise FeatureManifestError(
            f"{path}: manifest version {version} is newer than this tadapt's "
            f"({MANIFEST_VERSION}); upgrade tadapt"
        )
    values: dict[str, Any] = {}
    for item in fields(FeatureManifest):
        expected = _TYPES[item.name]
        value = raw.get(item.name)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise FeatureManifestError(
                f"{path}: '{item.name}' must be a JSON {_JSON_NAMES[expected]}, got {value!r}"
            )
        values[item.name] = value
    return FeatureManifest(**values)
