"""LoRA: the layer against direct matrix algebra, the ``lora`` strategy, training, merging."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tadapt.adapters import (
    AdapterStateError,
    LoRALinear,
    adapter_state_dict,
    apply_strategy,
    get_adapter_params,
    get_strategy,
    inject_lora,
    load_adapter_state_dict,
    merge_lora,
)
from tadapt.backbones import autocast_context, videomae

TARGETS = {"qkv": "attn", "proj": "attn", "fc1": "mlp", "fc2": "mlp"}


def _linear(seed: int = 0, bias: bool = True) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(12, 20, bias=bias)


def _randomise_b(layer: LoRALinear, seed: int = 3) -> None:
    with torch.no_grad():
        layer.lora_b.copy_(
            torch.randn(layer.lora_b.shape, generator=torch.Generator().manual_seed(seed))
        )


def test_lora_linear_shares_the_base_weights_and_starts_as_the_base_layer():
    base = _linear()
    layer = LoRALinear.from_linear(base, rank=4, alpha=8.0)
    assert layer.weight is base.weight
    assert layer.bias is base.bias
    assert (layer.lora_a.shape, layer.lora_b.shape) == ((4, 12), (20, 4))
    assert layer.scaling == 2.0
    assert torch.equal(layer.lora_b, torch.zeros(20, 4))
    # kaiming-uniform with a = sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 12
    assert layer.lora_a.abs().max() <= 1 / math.sqrt(12)
    assert layer.lora_a.abs().max() > 0.5 / math.sqrt(12)
    x = torch.randn(3, 5, 12)
    assert torch.equal(layer(x), base(x))
    assert layer.adapter_params() == ["lora_a", "lora_b"]
    assert "rank=4, alpha=8.0" in repr(layer)


@pytest.mark.parametrize("bias", [True, False])
def test_lora_linear_computes_the_low_rank_update(bias):
    layer = LoRALinear.from_linear(_linear(bias=bias), rank=3, alpha=6.0)
    _randomise_b(layer)
    x = torch.randn(4, 12)
    # independent: the dense weight W + (alpha / r) B A
    weight = layer.weight + 2.0 * layer.lora_b @ layer.lora_a
    expected = x @ weight.T + (layer.bias if bias else 0.0)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_lora_dropout_only_touches_the_update():
    layer = LoRALinear.from_linear(_linear(), rank=2, dropout=0.5)
    x = torch.randn(64, 12)
    layer.train()
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))  # B = 0: no update
    _randomise_b(layer)
    assert not torch.equal(layer(x), layer(x))  # a new dropout mask per call
    layer.eval()
    torch.testing.assert_close(layer(x), layer.merged()(x), rtol=1e-5, atol=1e-6)


def test_bad_lora_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(4, 4, rank=0)
    with pytest.raises(ValueError, match="alpha"):
        LoRALinear(4, 4, alpha=0.0)
    with pytest.raises(ValueError, match="dropout"):
        LoRALinear(4, 4, dropout=1.0)


def test_strategy_is_registered():
    strategy = get_strategy("lora")
    assert strategy.inject is inject_lora
    assert (strategy.trains, strategy.no_grad, strategy.checkpoint) == (
        "adapters",
        False,
        "adapters",
    )


def test_lora_backbone_equals_the_frozen_one_at_init(make_backbone, clip):
    frozen = make_backbone()
    adapted = apply_strategy(make_backbone(), "lora", rank=4)
    with torch.no_grad():
        assert torch.equal(adapted.forward_features(clip), frozen.forward_features(clip))
    # pretrained loading keeps working: base weights keep their state-dict names
    assert set(frozen.state_dict()) < set(adapted.state_dict())
    extra = set(adapted.state_dict()) - set(frozen.state_dict())
    assert all(name.endswith((".lora_a", ".lora_b")) for name in extra)
    assert len(extra) == 4 * 4 * 2


def test_targets_blocks_and_trainable_set(make_backbone):
    model = apply_strategy(make_backbone(), "lora", blocks=[1, 3], targets=("qkv", "fc2"))
    lora = {
        (i, name)
        for i, block in enumerate(model.blocks)
        for name, parent in TARGETS.items()
        if isinstance(getattr(getattr(block, parent), name), LoRALinear)
    }
    assert lora == {(1, "qkv"), (1, "fc2"), (3, "qkv"), (3, "fc2")}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {
        f"blocks.{i}.{TARGETS[t]}.{t}.{f}"
        for i in (1, 3)
        for t in ("qkv", "fc2")
        for f in ("lora_a", "lora_b")
    }
    assert set(adapter_state_dict(model)) == trainable
    layer = model.blocks[1].attn.qkv
    assert (layer.rank, layer.alpha) == (8, 16.0)  # defaults
    assert layer.weight.dtype == layer.lora_a.dtype == torch.float32


def test_bad_targets_and_double_adaptation_are_rejected(make_backbone):
    with pytest.raises(ValueError, match=r"\['attn'\] are not valid.*'qkv', 'proj', 'fc1', 'fc2'"):
        apply_strategy(make_backbone(), "lora", targets=("qkv", "attn"))
    with pytest.raises(ValueError, match="not valid"):
        apply_strategy(make_backbone(), "lora", targets=())
    model = apply_strategy(make_backbone(), "lora", blocks=[0])
    with pytest.raises(ValueError, match=r"blocks \[0\] already hold adapters"):
        apply_strategy(model, "lora")
    with pytest.raises(ValueError, match=r"blocks \[0\] already hold adapters"):
        apply_strategy(model, "tia", blocks=[0, 1])
    with pytest.raises(ValueError, match="already holds LoRA"):
        inject_lora(model.blocks[0], targets="qkv")
    tia = apply_strategy(make_backbone(), "tia", blocks=[2])
    with pytest.raises(ValueError, match=r"blocks \[2\] already hold adapters"):
        apply_strategy(tia, "lora")


@pytest.mark.parametrize("checkpointing", [False, True])
def test_gradient_reaches_lora_a_only_after_lora_b_moved(make_backbone, clip, checkpointing):
    model = apply_strategy(make_backbone(), "lora", blocks=[2, 3], rank=4)
    model.set_grad_checkpointing(checkpointing)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    model.forward_features(clip).square().mean().backward()
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    assert len(layers) == 8
    for layer in layers:
        # B = 0 at init: dL/dA = s * B^T (dL/dy) x = 0 exactly, while dL/dB = s (dL/dy) (A x)^T
        assert layer.lora_a.grad is not None
        assert torch.equal(layer.lora_a.grad, torch.zeros_like(layer.lora_a))
        assert layer.lora_b.grad is not None
        assert layer.lora_b.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        if not name.endswith(("lora_a", "lora_b")):
            assert param.grad is None, name
    optimizer.step()
    optimizer.zero_grad()
    model.forward_features(clip).square().mean().backward()
    for layer in layers:
        assert layer.lora_a.grad is not None
        assert layer.lora_a.grad.abs().sum() > 0


def test_training_changes_only_the_lora_factors(make_backbone, clip):
    model = apply_strategy(make_backbone(), "lora", rank=4, dropout=0.1).train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.05
    )
    target = torch.randn(2, 96, 16, generator=torch.Generator().manual_seed(4))
    losses = []
    for _ in range(4):
        loss = F.mse_loss(model.forward_features(clip), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    after = model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    lora = {name for name in before if name.endswith((".lora_a", ".lora_b"))}
    assert changed == lora  # every factor moved, no base weight did


def test_adapter_state_dict_round_trips_onto_a_fresh_backbone(make_backbone, clip, perturb):
    trained = apply_strategy(make_backbone(seed=0), "lora", blocks=[0, 3], rank=4)
    perturb(trained, seed=5)
    state = {name: tensor.clone() for name, tensor in adapter_state_dict(trained).items()}
    fresh = apply_strategy(make_backbone(seed=0), "lora", blocks=[0, 3], rank=4)
    with torch.no_grad():
        assert not torch.allclose(fresh.forward_features(clip), trained.forward_features(clip))
        load_adapter_state_dict(fresh, state)
        assert torch.equal(fresh.forward_features(clip), trained.forward_features(clip))
    other_rank = apply_strategy(make_backbone(seed=0), "lora", blocks=[0, 3], rank=2)
    with pytest.raises(AdapterStateError, match="shape"):
        load_adapter_state_dict(other_rank, state)


def test_merge_gives_plain_linears_with_the_same_outputs(make_backbone, clip, perturb):
    model = apply_strategy(make_backbone(), "lora", rank=4, alpha=4.0)
    perturb(model)
    qkv = model.blocks[0].attn.qkv
    expected_weight = qkv.weight + qkv.lora_b @ qkv.lora_a  # alpha / rank = 1
    with torch.no_grad():
        before = model.forward_features(clip)
        assert merge_lora(model) is model
        after = model.forward_features(clip)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert get_adapter_params(model) == {}
    assert set(model.state_dict()) == set(make_backbone().state_dict())
    merged_qkv = model.blocks[0].attn.qkv
    assert type(merged_qkv) is nn.Linear
    assert merged_qkv.bias is None
    torch.testing.assert_close(merged_qkv.weight, expected_weight, rtol=0, atol=1e-6)
    assert type(merge_lora(LoRALinear(4, 4))) is nn.Linear


def test_lora_keeps_chunks_independent_so_clips_per_pass_applies(make_backbone, clip, perturb):
    model = apply_strategy(make_backbone(), "lora")
    perturb(model)
    with torch.no_grad():
        whole = model.forward_features(clip)
        grouped = model.forward_features(clip, clips_per_pass=1)
    torch.testing.assert_close(grouped, whole, rtol=0, atol=1e-6)


def test_qkv_bias_keeps_the_autocast_dtype(make_backbone, clip, monkeypatch):
    model = apply_strategy(make_backbone(), "lora", blocks=[0])
    seen: list[torch.dtype] = []
    sdpa = F.scaled_dot_product_attention

    def spy(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        seen.extend((q.dtype, k.dtype, v.dtype))
        return sdpa(q, k, v)

    monkeypatch.setattr(videomae.F, "scaled_dot_product_attention", spy)
    with torch.no_grad(), autocast_context("cpu", "bf16"):
        model.forward_features(clip)
    assert seen
    assert set(seen) == {torch.bfloat16}  # an fp32 q/v bias must not promote q, k, v
