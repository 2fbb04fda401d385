from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tadapt.adapters import apply_strategy
from tadapt.backbones import create_backbone
from tadapt.detection import build_actionformer
from tadapt.engine import build_optimizer, no_weight_decay_names, param_groups
from tadapt.layers import AffineDropPath, LayerNorm1d, Scale


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.backbone2 = nn.Conv1d(4, 4, 3)
        self.adapter = nn.Linear(4, 4)
        self.norm = LayerNorm1d(4)
        self.scale = Scale()
        self.layer_scale = AffineDropPath(4, drop_prob=0.1)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.frozen = nn.Linear(4, 4).requires_grad_(False)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}


def _names(model: nn.Module, group: dict) -> set[str]:
    ids = {id(p) for p in group["params"]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def test_decay_only_on_linear_and_conv_weights():
    model = _Toy()
    groups = param_groups(model, lr=1e-3, weight_decay=0.05)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"default/decay", "default/no_decay"}
    assert _names(model, by_name["default/decay"]) == {
        "backbone.0.weight",
        "backbone2.weight",
        "adapter.weight",
    }
    assert _names(model, by_name["default/no_decay"]) == {
        "backbone.0.bias",
        "backbone.1.weight",
        "backbone.1.bias",
        "backbone2.bias",
        "adapter.bias",
        "norm.weight",
        "norm.bias",
        "scale.scale",
        "layer_scale.scale",  # (1, C, 1): excluded by its module, not by its shape
        "pos_embed",  # named by no_weight_decay()
    }
    assert by_name["default/decay"]["weight_decay"] == 0.05
    assert by_name["default/no_decay"]["weight_decay"] == 0.0
    # frozen parameters are left out
    listed = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) not in listed for p in model.frozen.parameters())


def test_no_weight_decay_names_are_prefixed_by_their_module():
    wrapper = nn.Module()
    wrapper.inner = _Toy()
    assert no_weight_decay_names(wrapper) == {"inner.pos_embed"}


def test_module_learning_rates_take_the_longest_prefix_at_module_boundaries():
    model = _Toy()
    groups = param_groups(
        model,
        lr=1e-3,
        weight_decay=0.05,
        module_lrs={"backbone": 0.0, "backbone.1": 5e-5, "adapter": 2e-4},
    )
    lrs = {n: g["lr"] for g in groups for n in _names(model, g)}
    assert lrs["backbone.0.weight"] == 0.0
    assert lrs["backbone.1.weight"] == 5e-5
    assert lrs["backbone2.weight"] == 1e-3  # "backbone" must not match "backbone2"
    assert lrs["adapter.weight"] == 2e-4
    assert lrs["adapter.bias"] == 2e-4
    assert lrs["norm.weight"] == 1e-3
    names = [g["name"] for g in groups]
    assert names == sorted(names, key=lambda n: (n.split("/")[0].replace("default", ""), n))


def test_unmatched_prefix_is_an_error():
    with pytest.raises(ValueError, match=r"\['head'\] match no trainable parameter"):
        param_groups(_Toy(), lr=1e-3, weight_decay=0.0, module_lrs={"head": 1e-4})
    with pytest.raises(ValueError, match="match no trainable parameter"):
        param_groups(_Toy(), lr=1e-3, weight_decay=0.0, module_lrs={"frozen": 1e-4})


def test_every_detector_parameter_is_in_exactly_one_group():
    model = build_actionformer(
        16, 3, embed_dim=16, arch=(2, 1, 2), regression_ranges=[(0, 4), (4, 8), (8, math.inf)]
    )
    optimizer = build_optimizer(model, lr=1e-4, weight_decay=0.05, module_lrs={"cls_head": 1e-3})
    listed = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(listed) == sorted(id(p) for p in model.parameters())
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed = {n for g in optimizer.param_groups if g["weight_decay"] > 0 for n in _names(model, g)}
    assert decayed
    assert all(n.endswith("weight") for n in decayed)
    assert not any(".norm" in n or "ln" in n.split(".")[-2] for n in decayed)
    assert not any("drop_path" in n or n.endswith("scale") for n in decayed)


def test_full_decay_prefixes_decay_biases_norms_and_scales_below_them():
    model = _Toy()
    groups = param_groups(
        model, lr=1e-3, weight_decay=0.05, full_decay_prefixes=["backbone", "adapter"]
    )
    by_name = {g["name"]: g for g in groups}
    assert _names(model, by_name["default/decay"]) == {
        "backbone.0.weight",
        "backbone.0.bias",
        "backbone.1.weight",  # a LayerNorm's weight: decayed below the prefix
        "backbone.1.bias",
        "adapter.weight",
        "adapter.bias",
        "backbone2.weight",  # "backbone" is a module path, not a string prefix
    }
    assert "backbone2.bias" in _names(model, by_name["default/no_decay"])
    with pytest.raises(ValueError, match=r"optim.full_decay_prefixes: \['frozen'\]"):
        param_groups(model, lr=1e-3, weight_decay=0.05, full_decay_prefixes=["frozen"])


def test_adatad_adapters_are_decayed_whole_the_head_keeps_its_exemptions():
    """OpenTAD's AdaTAD group: every adapter parameter at weight decay 0.05, gamma included."""
    model = nn.Module()
    model.backbone = apply_strategy(create_backbone("videomae_tiny_patch16"), "tia")
    model.head = nn.Sequential(nn.Conv1d(4, 4, 3), LayerNorm1d(4), Scale())
    groups = build_optimizer(
        model,
        lr=1e-4,
        weight_decay=0.05,
        module_lrs={"backbone": 2e-4},
        full_decay_prefixes=["backbone"],
    ).param_groups
    decay_of = {n: g["weight_decay"] for g in groups for n in _names(model, g)}
    lr_of = {n: g["lr"] for g in groups for n in _names(model, g)}
    adapter_names = [n for n in decay_of if n.startswith("backbone.")]
    assert adapter_names
    assert all(".adapter." in n for n in adapter_names)  # only the adapters train
    assert any(n.endswith(".gamma") for n in adapter_names)
    assert any(n.endswith(".bias") for n in adapter_names)
    assert {decay_of[n] for n in adapter_names} == {0.05}
    assert {lr_of[n] for n in adapter_names} == {2e-4}
    assert decay_of["head.0.weight"] == 0.05
    for name in ("head.0.bias", "head.1.weight", "head.2.scale"):
        assert decay_of[name] == 0.0
    # without the option, the adapters' biases and gamma are exempt
    plain = param_groups(model, lr=1e-4, weight_decay=0.05)
    exempt = {n for g in plain if g["weight_decay"] == 0.0 for n in _names(model, g)}
    assert {n for n in adapter_names if n.endswith((".gamma", ".bias"))} <= exempt
