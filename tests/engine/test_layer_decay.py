"""Layer-wise learning-rate decay of param_groups / build_optimizer against the BEiT formula."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from tadapt.backbones import create_backbone
from tadapt.engine import build_optimizer, param_groups

DEPTH = 4  # videomae_tiny_patch16


class _Detector(nn.Module):
    """A tiny backbone inside a wrapper, next to a head outside any group_matcher() module."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = create_backbone("videomae_tiny_patch16")
        self.head = nn.Sequential(nn.Linear(96, 8), nn.LayerNorm(8), nn.Linear(8, 3))


def _lrs(model: nn.Module, groups: list[dict]) -> dict[str, float]:
    owner = {id(p): g for g in groups for p in g["params"]}
    return {n: owner[id(p)]["lr"] for n, p in model.named_parameters() if id(p) in owner}


def _weight_decays(model: nn.Module, groups: list[dict]) -> dict[str, float]:
    owner = {id(p): g for g in groups for p in g["params"]}
    return {n: owner[id(p)]["weight_decay"] for n, p in model.named_parameters() if id(p) in owner}


def _expected_layer(name: str) -> int | None:
    """BEiT's get_num_layer_for_vit, written from the parameter names alone."""
    if not name.startswith("backbone."):
        return None
    if name.startswith("backbone.patch_embed."):
        return 0
    found = re.match(r"backbone\.blocks\.(\d+)\.", name)
    return int(found.group(1)) + 1 if found else DEPTH + 1


@pytest.mark.parametrize("decay", [0.75, 0.5])
def test_learning_rates_follow_the_layer_decay_formula(decay):
    model = _Detector()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05, layer_decay=decay)
    lrs = _lrs(model, groups)
    assert set(lrs) == {n for n, _ in model.named_parameters()}
    for name, lr in lrs.items():
        layer = _expected_layer(name)
        expected = 1e-3 if layer is None else 1e-3 * decay ** (DEPTH + 1 - layer)
        assert lr == pytest.approx(expected, rel=1e-12), name
    assert lrs["backbone.patch_embed.proj.weight"] == pytest.approx(1e-3 * decay**5)
    assert lrs["backbone.blocks.3.mlp.fc2.weight"] == pytest.approx(1e-3 * decay)
    assert lrs["head.0.weight"] == 1e-3


def test_groups_are_merged_per_learning_rate_and_weight_decay():
    model = _Detector()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05, layer_decay=0.75)
    pairs = [(g["lr"], g["weight_decay"]) for g in groups]
    assert len(pairs) == len(set(pairs))
    # layers 0..4 of the backbone (no parameter outside stem and blocks) + the head, x decay
    assert len(groups) == (DEPTH + 1 + 1) * 2
    assert groups[0]["name"] == "default/decay"
    assert groups[0]["lr"] == 1e-3
    names = [g["name"] for g in groups]
    assert "default@layer0/decay" in names
    assert "default@layer4/no_decay" in names
    # layer_decay = 1 scales nothing: the same groups as without layer decay
    flat = param_groups(model, lr=1e-3, weight_decay=0.05, layer_decay=1.0)
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in flat] == [
        (g["lr"], g["weight_decay"], len(g["params"]))
        for g in param_groups(model, lr=1e-3, weight_decay=0.05)
    ]
    assert flat[0]["name"] == "default+default@layers0-4/decay"


def test_weight_decay_rules_are_unchanged():
    model = _Detector()
    plain = _weight_decays(model, param_groups(model, lr=1e-3, weight_decay=0.05))
    decayed = _weight_decays(
        model, param_groups(model, lr=1e-3, weight_decay=0.05, layer_decay=0.7)
    )
    assert decayed == plain
    assert decayed["backbone.blocks.0.attn.qkv.weight"] == 0.05
    assert decayed["backbone.blocks.0.attn.q_bias"] == 0.0
    assert decayed["head.1.weight"] == 0.0


def test_module_learning_rates_multiply_the_layer_scale():
    model = _Detector()
    groups = param_groups(
        model,
        lr=1e-3,
        weight_decay=0.05,
        module_lrs={"backbone": 1e-4, "backbone.blocks.1": 4e-4, "head.2": 2e-3},
        layer_decay=0.5,
    )
    lrs = _lrs(model, groups)
    assert lrs["backbone.patch_embed.proj.bias"] == pytest.approx(1e-4 * 0.5**5)
    assert lrs["backbone.blocks.0.norm1.weight"] == pytest.approx(1e-4 * 0.5**4)
    assert lrs["backbone.blocks.1.mlp.fc1.weight"] == pytest.approx(4e-4 * 0.5**3)
    assert lrs["backbone.blocks.3.attn.proj.weight"] == pytest.approx(1e-4 * 0.5)
    assert lrs["head.0.weight"] == 1e-3
    assert lrs["head.2.weight"] == 2e-3  # outside the backbone: no layer scale
    # 4e-4 * 0.5 ** 3 == 1e-4 * 0.5: block 1 shares the last block's groups
    names = {g["name"] for g in groups}
    assert "backbone.blocks.1@layer2+backbone@layer4/decay" in names
    assert {"backbone@layer0/decay", "head.2/no_decay"} <= names


def test_layer_ids_do_not_depend_on_what_trains():
    model = _Detector()
    model.backbone.patch_embed.requires_grad_(False)
    model.backbone.blocks[3].requires_grad_(False)
    lrs = _lrs(model, param_groups(model, lr=1.0, weight_decay=0.0, layer_decay=0.5))
    assert not any(n.startswith(("backbone.patch_embed", "backbone.blocks.3")) for n in lrs)
    assert lrs["backbone.blocks.0.attn.qkv.weight"] == 0.5**4
    assert lrs["backbone.blocks.2.attn.qkv.weight"] == 0.5**2


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, math.nan])
def test_out_of_range_decay_is_an_error(bad):
    with pytest.raises(ValueError, match=r"optim\.layer_decay must be in \(0, 1\]"):
        param_groups(_Detector(), lr=1e-3, weight_decay=0.0, layer_decay=bad)


def test_decay_without_a_trainable_backbone_is_an_error():
    model = _Detector()
    model.backbone.requires_grad_(False)
    with pytest.raises(ValueError, match=r"optim\.layer_decay is set, but no trainable parameter"):
        param_groups(model, lr=1e-3, weight_decay=0.0, layer_decay=0.75)
    assert param_groups(model, lr=1e-3, weight_decay=0.0)  # without it: head only


def test_build_optimizer_passes_layer_decay():
    model = _Detector()
    optimizer = build_optimizer(model, lr=2e-4, weight_decay=0.05, layer_decay=0.9)
    assert isinstance(optimizer, torch.optim.AdamW)
    lrs = _lrs(model, optimizer.param_groups)
    assert lrs["backbone.blocks.2.mlp.fc1.bias"] == pytest.approx(2e-4 * 0.9**2)
    listed = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(listed) == sorted(id(p) for p in model.parameters())
