"""Activation checkpointing schemes: identical losses and gradients, which blocks they cover."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from tadapt.adapters import apply_strategy, get_adapter_params
from tadapt.backbones import VisionTransformer, create_backbone
from tadapt.backbones.checkpointing import CheckpointPolicy, checkpoint_call

POLICIES = [
    CheckpointPolicy(scheme, skip_first)
    for scheme, skip_first in itertools.product(("reentrant", "non_reentrant"), (True, False))
]


def _adapted(strategy: str) -> VisionTransformer:
    """A random 4-block tiny ViT in training mode (drop path on), adapted by ``strategy``."""
    torch.manual_seed(0)
    model = create_backbone("videomae_tiny_patch16", drop_path_rate=0.2)
    apply_strategy(model, strategy)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():  # random adapters: zero up-projections would zero the others' grads
        for param in get_adapter_params(model).values():
            param.copy_(0.2 * torch.randn(param.shape, generator=generator))
    return model.train()


def _loss_and_grads(model: VisionTransformer) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    frames = torch.randn(2, 3, 32, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)  # stochastic depth draws the same masks in every run
    loss = model.forward_features(frames).pow(2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


@pytest.mark.parametrize("strategy", ["tia", "lora", "full"])
def test_every_scheme_gives_the_loss_and_gradients_of_no_checkpointing(strategy):
    model = _adapted(strategy)
    model.set_grad_checkpointing(False)
    plain_loss, plain_grads = _loss_and_grads(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(plain_grads) == trainable
    if strategy != "full":
        assert all(".adapter." in n or ".lora_" in n for n in trainable), sorted(trainable)
    assert all(g.abs().sum() > 0 for g in plain_grads.values())
    for policy in POLICIES:
        model.set_grad_checkpointing(True, scheme=policy.scheme, skip_first=policy.skip_first)
        loss, grads = _loss_and_grads(model)
        torch.testing.assert_close(loss, plain_loss, rtol=0, atol=1e-7, msg=str(policy))
        assert set(grads) == trainable, policy  # block 0's adapter included
        for name, grad in grads.items():
            torch.testing.assert_close(
                grad, plain_grads[name], rtol=1e-5, atol=1e-7, msg=f"{policy} {name}"
            )


def _checkpointed_blocks(model: VisionTransformer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    real = CheckpointPolicy.call

    def counting(self: CheckpointPolicy, fn: nn.Module, *args: object) -> torch.Tensor:
        seen.append(list(model.blocks).index(fn))
        return real(self, fn, *args)

    monkeypatch.setattr(CheckpointPolicy, "call", counting)
    model.forward_features(torch.randn(1, 3, 16, 32, 32)).sum().backward()
    monkeypatch.undo()
    return seen


@pytest.mark.parametrize("scheme", ["reentrant", "non_reentrant"])
def test_skip_first_leaves_the_first_adapted_block_behind_a_frozen_stem_plain(scheme, monkeypatch):
    tia = apply_strategy(create_backbone("videomae_tiny_patch16"), "tia", blocks=[1, 2, 3])
    tia.set_grad_checkpointing(True, scheme=scheme, skip_first=True)
    assert _checkpointed_blocks(tia, monkeypatch) == [2, 3]  # block 0: no grad at all
    tia.set_grad_checkpointing(True, scheme=scheme, skip_first=False)
    assert _checkpointed_blocks(tia, monkeypatch) == [1, 2, 3]
    # a trainable patch embedding gives every block an input that requires grad
    full = apply_strategy(create_backbone("videomae_tiny_patch16"), "full")
    full.set_grad_checkpointing(True, scheme=scheme, skip_first=True)
    assert _checkpointed_blocks(full, monkeypatch) == [0, 1, 2, 3]
    full.set_grad_checkpointing(False, scheme=scheme, skip_first=True)
    assert _checkpointed_blocks(full, monkeypatch) == []


def test_reentrant_call_reaches_parameters_behind_an_input_without_grad():
    layer = nn.Linear(4, 3)
    x = torch.randn(5, 4)  # a frozen stem's output: no grad
    checkpoint_call(layer, x, reentrant=True).square().sum().backward()
    assert layer.weight.grad is not None
    expected = torch.autograd.grad(layer(x).square().sum(), layer.weight)[0]
    torch.testing.assert_close(layer.weight.grad, expected)
    assert not x.requires_grad  # the caller's tensor is left alone
    assert x.grad is None


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match=r"one of \['reentrant', 'non_reentrant'\].*'fast'"):
        CheckpointPolicy("fast")  # type: ignore[arg-type]
