"""Load VideoMAE-family weights from every released layout, with a report of what matched.

One entry point, :func:`load_pretrained`, replaces offline converter scripts. It reads the file
(``torch.load(weights_only=True)`` or safetensors; a Hugging Face folder), unwraps the
container, renames keys to tadapt's (= VideoMAE's) names with :func:`checkpoint_filter_fn`,
compares them with the model and loads. Layouts understood:

* VideoMAE v1 (MCG-NJU): ``{"model": ...}``; VideoMAEv2 (DeepSpeed): ``{"module": ...}``;
* pretraining checkpoints: ``encoder.`` prefix, decoder / ``mask_token`` /
  ``encoder_to_decoder`` dropped; ``_orig_mod.`` (torch.compile) and ``module.`` (DDP);
* OpenTAD / mmaction2: ``{"state_dict" | "state_dict_ema": ...}``, ``backbone.`` (or a
  detector's ``module.backbone.model.backbone.``) prefix, ``patch_embed.projection`` and
  ``mlp.layers.0.0`` / ``mlp.layers.1`` names, the sinusoid ``pos_embed`` buffer;
* Hugging Face ``VideoMAEModel`` / ``VideoMAEFor*`` (``.safetensors`` or ``.bin``): split
  query/key/value re-joined, transformers 4.x ``q_bias`` / ``v_bias`` and 5.x
  ``query.bias`` / ``value.bias`` spellings, ``videomae.`` prefix;
* tadapt's own: a flat state dict of :class:`VisionTransformer` (adapters included).

Key names per layout follow their sources: OpenGVLab/VideoMAEv2 (and MCG-NJU/VideoMAE)
``models/modeling_finetune.py``, OpenTAD ``tools/model_converters/convert_videomae*.py`` and
transformers ``models/videomae/modeling_videomae.py``. Classification heads and final norms
(``head``, ``fc_norm``, ``norm``, ``cls_head``, ``classifier``) are dropped: tadapt uses the
tokens before them.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tadapt.backbones.tokens import sinusoid_table
from tadapt.backbones.videomae import VisionTransformer
from tadapt.io.checkpoint_files import CheckpointError, read_safetensors_file, read_torch_file
from tadapt.io.pickled import refused_pickle_message
from tadapt.io.text import utf8_required

__all__ = ["CheckpointError", "LoadReport", "checkpoint_filter_fn", "load_pretrained"]

_logger = logging.getLogger(__name__)

# containers, most preferred first: OpenTAD keeps the EMA weights it evaluates with
_CONTAINERS = ("state_dict_ema", "state_dict", "module", "model")
# the first backbone component of a key: what precedes it is a wrapper prefix
_ANCHOR = re.compile(r"^(.*?)(?:patch_embed\.|blocks\.\d+\.)")
# dropped on purpose: heads, final norms, the fixed position table, the MAE decoder
_DROPPED = re.compile(
    r"(^|\.)(head|fc_norm|norm|cls_head|classifier|pos_embed|mask_token|encoder_to_decoder)"
    r"(\.|$)|(^|\.)decoder\."
)
_HF_KEY = re.compile(r"(^|\.)(encoder\.layer\.\d+\.|embeddings\.patch_embeddings\.)")
# Hugging Face -> VideoMAE names, applied in order (docs/backbones.md, weight layouts)
_HF_RENAMES = (
    ("embeddings.patch_embeddings.projection.", "patch_embed.proj."),
    ("encoder.layer.", "blocks."),
    ("attention.attention.q_bias", "attn.q_bias"),
    ("attention.attention.v_bias", "attn.v_bias"),
    ("attention.attention.query.bias", "attn.q_bias"),
    ("attention.attention.value.bias", "attn.v_bias"),
    ("attention.output.dense.", "attn.proj."),
    ("intermediate.dense.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."),
    ("layernorm_before.", "norm1."),
    ("layernorm_after.", "norm2."),
)
_HF_QKV = re.compile(r"^(.*)attention\.attention\.(query|key|value)\.weight$")
# OpenTAD / mmaction2 -> VideoMAE names (tools/model_converters/convert_videomae*.py)
_MM_RENAMES = (
    ("patch_embed.projection.", "patch_embed.proj."),
    ("mlp.layers.0.0.", "mlp.fc1."),
    ("mlp.layers.1.", "mlp.fc2."),
)
_HF_DEFAULT_EPS = 1e-12  # transformers VideoMAEConfig.layer_norm_eps default
# what to do about a damaged weights file: it came from a download or a copy
_REFETCH = "download or copy it again (then compare its size or sha256 with the source's)"


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` found and loaded.

    Attributes:
        source: the file (or folder) read.
        format: detected layout: ``"huggingface"``, ``"opentad"``, ``"videomae-pretrain"``,
            ``"videomaev2"``, ``"videomae"`` or ``"tadapt"``.
        description: the layout in words (container, prefix, spelling).
        loaded: model keys filled from the checkpoint.
        missing: model keys the checkpoint lacks (adapters excluded).
        missing_adapters: adapter keys the checkpoint lacks (expected for released weights).
        unexpected: backbone keys of the checkpoint the model does not have.
        mismatched: ``(key, checkpoint shape, model shape)`` for keys of different shapes.
        ignored: checkpoint keys dropped on purpose (heads, norms, decoder, other modules).
        notes: differences worth knowing (e.g. Hugging Face's LayerNorm epsilon).
    """

    source: str
    format: str
    description: str
    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    missing_adapters: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for a log or a terminal."""
        lines = [
            f"{self.source}: {self.description}",
            f"  loaded {len(self.loaded)} tensors; missing {len(self.missing)}"
            f"{_examples(self.missing)}; unexpected {len(self.unexpected)}"
            f"{_examples(self.unexpected)}; shape-mismatched {len(self.mismatched)}"
            f"{_examples([m[0] for m in self.mismatched])}; ignored {len(self.ignored)}"
            f"{_examples(self.ignored)}",
        ]
        if self.missing_adapters:
            lines.append(f"  {len(self.missing_adapters)} adapter tensors keep their init")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _examples(keys: list[str] | tuple[str, ...], limit: int = 3) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:limit])
    return f" ({shown}{', ...' if len(keys) > limit else ''})"


# ---- reading -----------------------------------------------------------------------------


def _read_file(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".safetensors":
        return read_safetensors_file(path, remedy=_REFETCH)
    try:
        # argparse.Namespace: VideoMAE training checkpoints store their command-line args
        obj = read_torch_file(path, remedy=_REFETCH, safe_globals=[argparse.Namespace])
    except pickle.UnpicklingError as exc:  # a well-formed file holding other objects
        raise CheckpointError(refused_pickle_message(path, exc)) from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def _read_json(path: Path) -> dict[str, Any]:
    """A Hugging Face folder's ``config.json`` or shard index."""
    with utf8_required(path, CheckpointError):
        text = path.read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON ({err}); {_REFETCH}") from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: expected a JSON object; {_REFETCH}")
    return loaded


def _read(path: Path) -> tuple[Mapping[str, Any], dict[str, Any] | None]:
    """The file's top-level mapping, and the Hugging Face ``config.json`` beside it, if any."""
    folder = path if path.is_dir() else path.parent
    config_path = folder / "config.json"
    config = _read_json(config_path) if config_path.is_file() else None
    if not path.is_dir():
        return _read_file(path), config
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return _read_file(folder / name), config
    for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / name).is_file():  # sharded: merge every shard
            index = _read_json(folder / name)
            if not isinstance(index.get("weight_map"), dict):
                raise CheckpointError(f"{folder / name}: no 'weight_map'; {_REFETCH}")
            shards = sorted(set(index["weight_map"].values()))
            merged: dict[str, Any] = {}
            for shard in shards:
                merged.update(_read_file(folder / shard))
            return merged, config
    raise CheckpointError(f"{path}: no model.safetensors or pytorch_model.bin in this folder")


def _unwrap(obj: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], str | None]:
    for name in _CONTAINERS:
        inner = obj.get(name)
        if isinstance(inner, Mapping) and any(torch.is_tensor(v) for v in inner.values()):
            return {k: v for k, v in inner.items() if torch.is_tensor(v)}, name
    return {k: v for k, v in obj.items() if torch.is_tensor(v)}, None


# ---- renaming ----------------------------------------------------------------------------


def _from_huggingface(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """VideoMAE-named tensors and, per new name, the original one."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        match = _HF_QKV.match(key)
        if match:  # re-joined below: rows [q; k; v] of VideoMAE's qkv.weight
            qkv.setdefault(match.group(1), {})[match.group(2)] = value
            continue
        new = key
        for old, replacement in _HF_RENAMES:
            new = new.replace(old, replacement)
        new = re.sub(r"(^|\.)layernorm\.", r"\1norm.", new)  # final norm (no mean pooling)
        new = re.sub(r"(^|\.)classifier\.", r"\1head.", new)
        out[new], origin[new] = value, key
    for stem, parts in qkv.items():
        renamed = stem.replace("encoder.layer.", "blocks.")
        if set(parts) == {"query", "key", "value"}:
            joined = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
            out[f"{renamed}attn.qkv.weight"] = joined
            origin[f"{renamed}attn.qkv.weight"] = f"{stem}attention.attention.query.weight"
        else:  # incomplete: keep them visible as unexpected keys
            for name, value in parts.items():
                out[f"{renamed}attn.{name}.weight"] = value
                origin[f"{renamed}attn.{name}.weight"] = f"{stem}attention.attention.{name}.weight"
    return out, origin


def checkpoint_filter_fn(
    state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], str, str]:
    """Rename a raw state dict of any supported layout to tadapt's names.

    Args:
        state_dict: the tensors of one container (see :func:`load_pretrained`).

    Returns:
        ``(backbone, other, spelling, prefix)``: tensors under tadapt names; tensors outside
        the backbone (heads, decoder, other modules; original names); the key spelling found
        (``"hf4"``, ``"hf5"``, ``"mmaction"`` or ``"videomae"``); the wrapper prefix removed.
    """
    spelling = "videomae"
    if any(_HF_KEY.search(k) for k in state_dict):
        spelling = "hf4" if any(k.endswith("attention.q_bias") for k in state_dict) else "hf5"
        renamed, origin = _from_huggingface(state_dict)
    else:
        renamed, origin = {}, {}
        for key, value in state_dict.items():
            new = key
            for old, replacement in _MM_RENAMES:
                new = new.replace(old, replacement)
            spelling = "mmaction" if new != key else spelling
            renamed[new], origin[new] = value, key
    # the wrapper prefix: the one in front of most backbone keys, never the MAE decoder's
    counts: dict[str, int] = {}
    for key in renamed:
        match = _ANCHOR.match(key)
        if match and "decoder" not in match.group(1):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    prefix = max(counts, key=lambda p: (counts[p], -len(p))) if counts else ""
    backbone, other = {}, {}
    for key, value in renamed.items():
        if key.startswith(prefix) and not _DROPPED.search(key[len(prefix) :]):
            backbone[key[len(prefix) :]] = value
        else:
            other[origin[key]] = value
    return backbone, other, spelling, prefix


# ---- loading -----------------------------------------------------------------------------


def _detect(container: str | None, spelling: str, other: Mapping[str, Any]) -> tuple[str, str]:
    if spelling == "hf4":
        names = "q_bias/v_bias names: transformers 4.x, and the names save_pretrained writes"
        return "huggingface", f"Hugging Face VideoMAE ({names})"
    if spelling == "hf5":
        names = "query.bias/value.bias names of transformers 5.x modules"
        return "huggingface", f"Hugging Face VideoMAE ({names})"
    where = f"under {container!r}" if container else "flat"
    if spelling == "mmaction" or container in ("state_dict", "state_dict_ema"):
        return "opentad", f"OpenTAD / mmaction2 checkpoint ({where})"
    if any("decoder" in k or "mask_token" in k for k in other):
        return "videomae-pretrain", f"VideoMAE pretraining checkpoint ({where}, decoder dropped)"
    if container == "module":
        return "videomaev2", "VideoMAEv2 checkpoint (DeepSpeed, under 'module')"
    if container == "model":
        return "videomae", "VideoMAE checkpoint (under 'model')"
    return "tadapt", "flat state dict in tadapt / VideoMAE names"


def _architecture(backbone: Mapping[str, torch.Tensor]) -> str:
    """What the checkpoint's shapes say, for error messages."""
    proj = backbone.get("patch_embed.proj.weight")
    indices = [int(m.group(1)) for k in backbone if (m := re.match(r"blocks\.(\d+)\.", k))]
    depth = max(indices, default=-1) + 1
    if proj is None or proj.dim() != 5:
        return f"{depth} blocks" if depth else "no VideoMAE tensors"
    return f"embed dim {proj.shape[0]}, {depth} blocks, patch {proj.shape[-1]}"


def _notes(
    model: VisionTransformer,
    fmt: str,
    other: Mapping[str, torch.Tensor],
    prefix: str,
    config: dict[str, Any] | None,
) -> list[str]:
    notes = []
    if fmt == "huggingface":
        eps = config.get("layer_norm_eps", _HF_DEFAULT_EPS) if config else _HF_DEFAULT_EPS
        said = "its config.json sets" if config else "no config.json found; its default is"
        if eps == model.norm_eps:
            notes.append(f"Hugging Face LayerNorm eps: {said} {eps:g}, as tadapt's model")
        else:
            notes.append(
                f"Hugging Face LayerNorm eps differs: {said} {eps:g}, tadapt's model uses "
                f"{model.norm_eps:g} (the original VideoMAE value), so outputs differ slightly"
            )
        heads = config.get("num_attention_heads") if config else None
        if heads is not None and heads != model.num_heads:
            notes.append(
                f"config.json says {heads} attention heads, the model has {model.num_heads}: "
                "the weights load either way, make sure the model's count is the trained one"
            )
    table = other.get(f"{prefix}pos_embed")
    t, h, w = model.pos_grid
    if table is not None and table.numel() == t * h * w * model.embed_dim:
        expected = sinusoid_table(t * h * w, model.embed_dim)
        if not torch.allclose(table.float().reshape(expected.shape), expected, atol=1e-4):
            notes.append(
                "the checkpoint's pos_embed differs from the fixed sinusoid table (learned?); "
                "tadapt uses the fixed table"
            )
    return notes


def load_pretrained(
    model: VisionTransformer,
    checkpoint: str | Path | Mapping[str, Any],
    *,
    strict_ratio: float = 0.5,
) -> LoadReport:
    """Load weights of any supported layout into ``model`` and report what matched.

    Args:
        model: the backbone to fill (its head-free keys are the target names).
        checkpoint: a ``.pth`` / ``.pt`` / ``.bin`` / ``.safetensors`` file, a Hugging Face
            folder, or an already loaded mapping.
        strict_ratio: refuse unless at least this fraction of the model's (non-adapter)
            tensors is found in the checkpoint.

    Returns:
        The :class:`LoadReport`, also logged at INFO level.

    Raises:
        CheckpointError: the file cannot be read safely, a shape differs, or too few keys
            match; the message names the layout it looked like and what to check.
    """
    if isinstance(checkpoint, Mapping):
        source, raw, config = "<state dict>", checkpoint, None
    else:
        source = str(checkpoint)
        raw, config = _read(Path(checkpoint))
    tensors, container = _unwrap(raw)
    backbone, other, spelling, prefix = checkpoint_filter_fn(tensors)
    fmt, description = _detect(container, spelling, other)
    if prefix:
        description += f", prefix {prefix!r} removed"

    target = model.state_dict()
    loaded: list[str] = []
    missing: list[str] = []
    adapters: list[str] = []
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    for key, param in target.items():
        if key not in backbone:
            (adapters if ".adapter." in key else missing).append(key)
        elif backbone[key].shape != param.shape:
            mismatched.append((key, tuple(backbone[key].shape), tuple(param.shape)))
        else:
            loaded.append(key)
    report = LoadReport(
        source=source,
        format=fmt,
        description=description,
        loaded=tuple(loaded),
        missing=tuple(missing),
        missing_adapters=tuple(adapters),
        unexpected=tuple(k for k in backbone if k not in target),
        mismatched=tuple(mismatched),
        ignored=tuple(other),
        notes=tuple(_notes(model, fmt, other, prefix, config)),
    )
    required = len(target) - len(adapters)
    problem = None
    if mismatched:
        problem = f"{len(mismatched)} tensors have other shapes than the model's"
    elif len(loaded) < strict_ratio * required:
        problem = f"only {len(loaded)} of the model's {required} tensors were found"
    if problem:
        raise CheckpointError(
            f"{source} (detected: {description}): {problem}. The checkpoint holds "
            f"{_architecture(backbone)}; the model has embed dim {model.embed_dim}, "
            f"{model.depth} blocks, patch {model.patch_size}: check the backbone name and "
            f"the file.\n{report.summary()}"
        )
    model.load_state_dict({k: backbone[k] for k in loaded}, strict=False)
    _logger.info("%s", report.summary())
    if missing:
        _logger.warning("%d backbone tensors missing from %s keep their init", len(missing), source)
    return report
