"""Inference bundles: a detector's weights, config and class names, with no pickle involved.

A bundle is a folder ``tadapt export`` writes:

* ``weights.safetensors``: the detector's full state dict (LoRA layers merged into their
  base linears when it held any);
* ``config.yaml``: the run's resolved config, with no path to any file (the weights, class
  names and preprocessing settings are all in the bundle);
* ``class_names.json``: label index -> class name;
* ``manifest.json``: the bundle format, whether LoRA was merged, and the sha256 of each file.

Reading one uses ``safetensors``, ``yaml.safe_load`` and ``json`` only, so a bundle can come
from anyone without the code execution ``torch.load`` of a pickle may allow; the sha256s catch
a file changed or damaged after the export. This module handles the files; the config is read
at the package's edge (:mod:`tadapt.cli.inference_setup`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from tadapt.io.atomic import write_text_atomic
from tadapt.io.checkpoint_files import CheckpointError, read_safetensors_file
from tadapt.version import __version__

__all__ = ["BUNDLE_FILES", "MANIFEST", "Bundle", "is_bundle", "read_bundle", "write_bundle"]

MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
CONFIG = "config.yaml"
CLASS_NAMES = "class_names.json"
BUNDLE_FILES = (WEIGHTS, CONFIG, CLASS_NAMES)
"""The files a manifest lists (itself aside)."""

_FORMAT = "tadapt-inference-bundle"
_VERSION = 1
_REEXPORT = "export it again with tadapt export"


@dataclass(frozen=True)
class Bundle:
    """What a bundle holds.

    Attributes:
        weights: the detector's state dict (CPU tensors).
        config: the resolved config as nested dicts (as a run's ``config.yaml``).
        class_names: label index -> class name.
        lora_merged: the LoRA layers were merged into their base linears: build the model,
            merge its LoRA layers (:func:`~tadapt.adapters.merge_lora`), then load.
    """

    weights: dict[str, torch.Tensor]
    config: dict[str, Any]
    class_names: tuple[str, ...]
    lora_merged: bool


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is a bundle folder (or a bundle's manifest)."""
    return (path.is_dir() and (path / MANIFEST).is_file()) or path.name == MANIFEST


def write_bundle(
    out: Path,
    weights: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    class_names: Sequence[str],
    *,
    lora_merged: bool,
    source: str,
) -> Path:
    """Write a bundle into the folder ``out`` (created); the manifest last.

    Args:
        out: the bundle folder.
        weights: the detector's state dict.
        config: the resolved config as nested dicts, with no path left in it.
        class_names: label index -> class name.
        lora_merged: whether ``weights`` are those of a model whose LoRA layers were merged.
        source: the checkpoint exported (recorded in the manifest, for the record only).

    Returns:
        The manifest's path.
    """
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors sharing memory and non-contiguous ones: store copies
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in weights.items()}
    save_file(tensors, str(out / WEIGHTS), metadata={"format": _FORMAT})
    text = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=None)
    write_text_atomic(out / CONFIG, text)
    # safetensors writes the weights readable by their owner only: as readable as the rest
    shutil.copymode(out / CONFIG, out / WEIGHTS)
    write_text_atomic(out / CLASS_NAMES, json.dumps(list(class_names), indent=1) + "\n")
    manifest = {
        "format": _FORMAT,
        "version": _VERSION,
        "tadapt_version": __version__,
        "source": source,
        "lora_merged": lora_merged,
        "sha256": {name: _sha256(out / name) for name in BUNDLE_FILES},
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return out / MANIFEST


def _manifest(path: Path) -> dict[str, Any]:
    """The bundle's manifest, checked to be one."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(
            f"{path}: not a readable bundle manifest ({err}); {_REEXPORT}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise CheckpointError(f"{path}: not a tadapt bundle manifest; {_REEXPORT}")
    if manifest.get("version") != _VERSION:
        raise CheckpointError(
            f"{path}: bundle version {manifest.get('version')!r}, this tadapt reads "
            f"{_VERSION}; {_REEXPORT}"
        )
    hashes = manifest.get("sha256")
    if not isinstance(hashes, dict) or sorted(hashes) != sorted(BUNDLE_FILES):
        raise CheckpointError(f"{path}: lists no sha256 for {', '.join(BUNDLE_FILES)}")
    return manifest


def read_bundle(path: Path) -> Bundle:
    """Read and verify a bundle folder (or its manifest): no pickle is loaded.

    Raises:
        CheckpointError: a file is missing, its sha256 is not the manifest's (changed or
            damaged since the export), or it cannot be read; the message names the file.
    """
    folder = path.parent if path.name == MANIFEST else path
    manifest = _manifest(folder / MANIFEST)
    for name, expected in manifest["sha256"].items():
        file = folder / name
        if not file.is_file():
            raise CheckpointError(f"{file}: missing from the bundle; {_REEXPORT}")
        if _sha256(file) != expected:
            raise CheckpointError(
                f"{file}: sha256 differs from {MANIFEST}'s (changed or damaged since the "
                f"export); {_REEXPORT}"
            )
    weights = read_safetensors_file(folder / WEIGHTS, remedy=_REEXPORT)
    config = yaml.safe_load((folder / CONFIG).read_text(encoding="utf-8"))
    names = json.loads((folder / CLASS_NAMES).read_text(encoding="utf-8"))
    if not isinstance(config, dict) or not isinstance(names, list):
        raise CheckpointError(f"{folder}: config.yaml or class_names.json is not a bundle's")
    return Bundle(weights, config, tuple(str(n) for n in names), bool(manifest["lora_merged"]))
