"""A throwaway backbone tag whose weights are "shipped" in a temporary package's weights folder.

:func:`ship_weights` saves a random 2-block tiny ViT in the official VideoMAE pretraining
layout (``{"model": {"encoder.…", "decoder.…", "encoder_to_decoder.…", "mask_token"}}``),
registers :data:`ARCH` with a :data:`TAG` record naming that file and points
``tadapt.backbones.bundled`` at the temporary package; ``monkeypatch`` undoes all of it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tadapt.backbones import PretrainedCfg, VisionTransformer, bundled, registry

ARCH = "videomae_shipped_test"
TAG = "tiny_mae"
NAME = f"{ARCH}.{TAG}"
FILE = "tiny_mae.pth"
SOURCE = "tests"


@dataclass(frozen=True)
class Shipped:
    """The shipped file and the encoder whose weights it holds."""

    path: Path
    sha256: str
    encoder: VisionTransformer


def _tiny(**overrides: Any) -> VisionTransformer:
    return VisionTransformer(**{"embed_dim": 96, "depth": 2, "num_heads": 3, **overrides})


def _random_encoder(seed: int) -> VisionTransformer:
    generator = torch.Generator().manual_seed(seed)
    encoder = _tiny()
    with torch.no_grad():
        for param in encoder.parameters():
            param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    return encoder.eval()


def _pretraining_layout(encoder: VisionTransformer) -> dict[str, dict[str, torch.Tensor]]:
    # MCG-NJU VideoMAE modeling_pretrain.py names; the decoder is 48 wide here
    state = {f"encoder.{key}": value for key, value in encoder.state_dict().items()}
    state |= {
        "encoder.norm.weight": torch.ones(96),
        "encoder.norm.bias": torch.zeros(96),
        "encoder_to_decoder.weight": torch.randn(48, 96),
        "mask_token": torch.zeros(1, 1, 48),
        "decoder.blocks.0.norm1.weight": torch.ones(48),
        "decoder.blocks.0.attn.qkv.weight": torch.randn(144, 48),
        "decoder.norm.weight": torch.ones(48),
        "decoder.head.weight": torch.randn(1536, 48),  # 2 x 16 x 16 x 3 pixels per token
    }
    return {"model": state}


def ship_weights(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    *,
    seed: int = 0,
    recorded_sha256: str | None = None,
    recorded_file: str = FILE,
) -> Shipped:
    """Ship a random encoder's checkpoint as ``NAME``'s bundled weights for one test.

    Args:
        monkeypatch: the test's monkeypatch (it restores the registry and the package).
        root: a temporary folder; the package ``<root>/<unique name>/weights/`` is made in it.
        seed: the encoder's random weights.
        recorded_sha256: the hash the record claims (default: the file's true hash).
        recorded_file: the file name the record claims (default: the file written).
    """
    package = f"shipped_{uuid.uuid4().hex}"  # a fresh name: no stale import, no cached hash
    folder = root / package / "weights"
    folder.mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    encoder = _random_encoder(seed)
    path = folder / FILE
    torch.save(_pretraining_layout(encoder), path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    record = PretrainedCfg(
        tag=TAG,
        source=SOURCE,
        description="random tiny MAE checkpoint written by the test",
        bundled_file=recorded_file,
        bundled_sha256=recorded_sha256 or sha256,
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(bundled, "_PACKAGE", package)
    monkeypatch.setitem(registry._REGISTRY, ARCH, registry._Entry(_tiny, (record,)))
    return Shipped(path=path, sha256=sha256, encoder=encoder)
