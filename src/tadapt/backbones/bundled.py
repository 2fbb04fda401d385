"""Backbone weights shipped inside the package, in ``tadapt/weights/``, checked by sha256.

A :class:`~tadapt.backbones.PretrainedCfg` whose ``bundled_file`` is set names a file of that
folder and its sha256; :func:`bundled_weights` finds the file with :mod:`importlib.resources`
(wheel, editable or zipped install alike) and compares its hash with the record before anything
reads it, once per process. ``create_backbone(name, pretrained=True)`` and a config's
``model.backbone.pretrained: true`` without a ``checkpoint`` load it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
from importlib import resources
from pathlib import Path

from tadapt.backbones.registry import get_pretrained_cfg

__all__ = ["BundledWeightsError", "bundled_weights"]

# the folder of shipped weights: tadapt/weights/ (package data, see pyproject.toml)
_PACKAGE, _FOLDER = "tadapt", "weights"
_REINSTALL = (
    "reinstall tadapt (pip install --force-reinstall --no-deps tadapt; in a source checkout "
    "`git checkout -- src/tadapt/weights`)"
)

# files copied out of a zipped install (importlib.resources.as_file) are kept until exit
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


class BundledWeightsError(ValueError):
    """A bundled weights file is missing or its sha256 differs from its record."""


def bundled_weights(name: str) -> Path | None:
    """The verified path of the weights shipped for ``name`` (``arch`` or ``arch.tag``).

    Args:
        name: a registered backbone; a bare ``arch`` means its default (first) tag.

    Returns:
        The file's path, or ``None`` when the tag ships no weights (or ``arch`` has no tags).

    Raises:
        ValueError: an unknown backbone or tag.
        BundledWeightsError: the file is missing or its sha256 is not the recorded one.
    """
    cfg = get_pretrained_cfg(name)
    if cfg is None or cfg.bundled_file is None:
        return None
    assert cfg.bundled_sha256 is not None  # PretrainedCfg requires both
    label = f"{name.partition('.')[0]}.{cfg.tag}"
    return _verified(_PACKAGE, cfg.bundled_file, cfg.bundled_sha256, label)


@functools.cache  # one hash per file and process; a failure raises, so it is not cached
def _verified(package: str, file_name: str, sha256: str, label: str) -> Path:
    resource = resources.files(package) / _FOLDER / file_name
    if not resource.is_file():
        raise BundledWeightsError(
            f"{label}: the bundled weights file {resource} is missing; {_REINSTALL}, or pass "
            "a weights file as the checkpoint instead"
        )
    path = _extracted.enter_context(resources.as_file(resource))
    with path.open("rb") as stream:
        found = hashlib.file_digest(stream, "sha256").hexdigest()
    if found != sha256:
        raise BundledWeightsError(
            f"{label}: the bundled weights file {path} has sha256 {found}, expected {sha256} "
            f"(damaged or replaced); {_REINSTALL}"
        )
    return path
