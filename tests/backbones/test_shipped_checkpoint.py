"""The tiny ViT tadapt ships (``videomae_tiny_patch16.synth``): file, loading, provenance, signal.

The weights were made by the commands in ``tadapt/weights/videomae_tiny_patch16_synth.json``
(``tadapt synth`` + ``tadapt pretrain``); these tests check the file against its record and
that those commands (shortened) still produce the same layout with a decreasing loss.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from importlib import resources

import torch

from tadapt.backbones import bundled_weights, create_backbone, get_pretrained_cfg
from tadapt.cli.main import main

NAME = "videomae_tiny_patch16.synth"
RECORD = json.loads(
    (resources.files("tadapt") / "weights" / "videomae_tiny_patch16_synth.json").read_text()
)


def test_file_matches_its_sha256_and_record() -> None:
    path = bundled_weights(NAME)
    assert path is not None
    cfg = get_pretrained_cfg(NAME)
    assert cfg is not None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == cfg.bundled_sha256 == RECORD["sha256"]
    assert path.stat().st_size <= 5 * 2**20


def test_loads_every_backbone_tensor_and_drops_the_classifier() -> None:
    path = bundled_weights(NAME)
    assert path is not None
    stored = torch.load(path, weights_only=True)["model"]
    model = create_backbone(NAME, pretrained=True)
    state = model.state_dict()
    assert set(stored) - set(state) == {"head.weight", "head.bias"}  # --finetune-head linear
    for key, value in state.items():
        assert torch.equal(value, stored[key]), key


def _shortened(command: str, changes: dict[str, list[str]]) -> list[str]:
    """A recorded command as argv (without ``tadapt``), with some options' values replaced."""
    argv = shlex.split(command)[1:]
    out: list[str] = []
    i = 0
    while i < len(argv):
        out.append(argv[i])
        i += 1
        if out[-1] in changes:
            out += changes[out[-1]]
            while i < len(argv) and not argv[i].startswith("--"):
                i += 1  # the recorded values
    return out


def test_the_recorded_commands_shortened_reproduce_the_layout(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the commands write relative paths
    synth, pretrain = RECORD["commands"][:2]
    assert synth.startswith("tadapt synth ")
    assert pretrain.startswith("tadapt pretrain ")
    fewer = {"--videos": ["8"], "--duration": ["6"], "--actions": ["2", "3"]}
    fewer |= {"--action-duration": ["1", "1.5"], "--test-fraction": ["0.25"], "--workers": ["1"]}
    assert main([*_shortened(synth, fewer), "--no-progress"]) == 0
    shorter = {"--epochs": ["3"], "--warmup-epochs": ["0"], "--batch-size": ["2"]}
    shorter |= {"--finetune-epochs": ["1"], "--finetune-warmup-epochs": ["0"]}
    shorter |= {"--finetune-batch-size": ["2"], "--workers": ["0"], "--clips-per-video": ["2"]}
    assert main([*_shortened(pretrain, shorter), "--no-progress"]) == 0
    losses = [h["loss"] for h in json.loads((tmp_path / "mae" / "history.json").read_text())]
    assert losses[-1] < losses[0]
    made = torch.load(tmp_path / "mae" / "finetuned.pth", weights_only=True)
    path = bundled_weights(NAME)
    assert path is not None
    shipped = torch.load(path, weights_only=True)
    assert made["class_names"] == shipped["class_names"]
    shapes = {k: tuple(v.shape) for k, v in shipped["model"].items()}
    assert {k: tuple(v.shape) for k, v in made["model"].items()} == shapes
