"""Tuning strategies: registry, trainable sets, gradient flow, adapter-only checkpoints, CLI."""

from __future__ import annotations

import pytest
import torch

from tadapt.adapters import (
    AdapterStateError,
    PlainAdapter,
    TemporalInformativeAdapter,
    TuningStrategy,
    adapter_state_dict,
    apply_strategy,
    get_strategy,
    list_strategies,
    load_adapter_state_dict,
    register_strategy,
    trainable_parameter_report,
)
from tadapt.adapters import strategies as strategies_module
from tadapt.cli.main import main


def test_registry_lists_and_describes_the_strategies():
    assert {"adapter", "frozen", "full", "tia"} <= set(list_strategies())
    assert list_strategies() == sorted(list_strategies())
    frozen, full = get_strategy("frozen"), get_strategy("full")
    assert (frozen.trains, frozen.no_grad, frozen.checkpoint) == ("none", True, "none")
    assert (full.trains, full.no_grad, full.checkpoint) == ("all", False, "all")
    assert get_strategy("tia").adapter is TemporalInformativeAdapter
    assert get_strategy("adapter").adapter is PlainAdapter
    with pytest.raises(ValueError, match="did you mean tia"):
        get_strategy("tiaa")


def test_register_warns_on_overwrite_and_rejects_inconsistent_records(monkeypatch):
    monkeypatch.setattr(strategies_module, "_REGISTRY", dict(strategies_module._REGISTRY))
    again = TuningStrategy("full", "again", trains="all", no_grad=False, checkpoint="all")
    with pytest.warns(UserWarning, match="registered again"):
        register_strategy(again)
    assert get_strategy("full") is again
    with pytest.raises(ValueError, match="adapter factory"):
        TuningStrategy("x", "x", trains="adapters", no_grad=False, checkpoint="adapters")
    with pytest.raises(ValueError, match="no_grad"):
        TuningStrategy("y", "y", trains="all", no_grad=True, checkpoint="all")


@pytest.mark.parametrize(
    ("name", "blocks", "adapted"),
    [
        ("frozen", None, []),
        ("full", None, []),
        ("adapter", None, [0, 1, 2, 3]),
        ("tia", [1, -1], [1, 3]),
    ],
)
def test_only_the_intended_parameters_train(make_backbone, name, blocks, adapted):
    model = apply_strategy(make_backbone(), name, blocks=blocks)
    assert [i for i, block in enumerate(model.blocks) if block.adapter is not None] == adapted
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    everything = {n for n, _ in model.named_parameters()}
    if name == "frozen":
        assert trainable == set()
    elif name == "full":
        assert trainable == everything
    else:
        expected = {n for n in everything if n.split(".")[2] == "adapter"}
        assert {int(n.split(".")[1]) for n in expected} == set(adapted)
        assert trainable == expected
        assert set(adapter_state_dict(model)) == expected


def test_apply_strategy_rejects_bad_requests(make_backbone):
    with pytest.raises(ValueError, match="out of range"):
        apply_strategy(make_backbone(), "tia", blocks=[4])
    with pytest.raises(ValueError, match="leave blocks unset"):
        apply_strategy(make_backbone(), "full", blocks=[0])
    model = apply_strategy(make_backbone(), "tia", blocks=[0])
    with pytest.raises(ValueError, match="already hold adapters"):
        apply_strategy(model, "adapter")


def test_parameter_report_counts_adapters(make_backbone):
    model = apply_strategy(make_backbone(), "tia", ratio=0.25)
    trainable, total, ratio = trainable_parameter_report(model)
    # per block, C = 96, c = 24: down 96*24+24, dw 24*3+24, pw 24*24+24, up 24*96+96, gamma 1
    per_block = (96 * 24 + 24) + (24 * 3 + 24) + (24 * 24 + 24) + (24 * 96 + 96) + 1
    assert trainable == 4 * per_block
    assert total == sum(p.numel() for p in model.parameters())
    assert ratio == pytest.approx(trainable / total)
    report = trainable_parameter_report(model)
    assert report.summary().startswith(f"trainable parameters: {trainable / 1e6:.2f}M / ")
    assert f"({100 * ratio:.2f}%)" in report.summary()


@pytest.mark.parametrize("checkpointing", [False, True])
def test_tia_backward_reaches_adapters_and_flows_through_the_frozen_backbone(
    make_backbone, clip, perturb, checkpointing
):
    model = apply_strategy(make_backbone(), "tia", blocks=[2, 3])
    perturb(model)
    model.set_grad_checkpointing(checkpointing)
    frames = clip.clone().requires_grad_(True)
    model.forward_features(frames).square().mean().backward()
    for name, param in model.named_parameters():
        if ".adapter." in name:
            assert param.grad is not None
            assert param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None, name
    assert frames.grad is not None
    assert frames.grad.abs().sum() > 0  # the gradient crossed blocks 0-1 and the patch embed


def test_adapter_state_dict_round_trips_onto_a_fresh_backbone(make_backbone, clip, perturb):
    trained = apply_strategy(make_backbone(seed=0), "tia", blocks=[0, 2])
    perturb(trained, seed=5)
    state = {name: tensor.clone() for name, tensor in adapter_state_dict(trained).items()}
    assert all(".adapter." in name for name in state)

    fresh = apply_strategy(make_backbone(seed=0), "tia", blocks=[0, 2])
    with torch.no_grad():
        assert not torch.equal(fresh.forward_features(clip), trained.forward_features(clip))
        load_adapter_state_dict(fresh, state)
        assert torch.equal(fresh.forward_features(clip), trained.forward_features(clip))

    wider = apply_strategy(make_backbone(seed=0), "tia", blocks=[0, 1, 2])
    with pytest.raises(AdapterStateError, match=r"missing \['blocks\.1\.adapter"):
        load_adapter_state_dict(wider, state)
    plain = apply_strategy(make_backbone(seed=0), "tia", blocks=[0])
    with pytest.raises(ValueError, match="unexpected"):
        load_adapter_state_dict(plain, state)
    narrow = apply_strategy(make_backbone(seed=0), "tia", blocks=[0, 2], ratio=0.125)
    with pytest.raises(AdapterStateError, match="another ratio"):
        load_adapter_state_dict(narrow, state)


def test_cli_lists_the_strategies(capsys):
    assert main(["list", "strategies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert {"frozen", "full", "adapter", "tia"} <= set(names)
    assert lines[0].split()[:4] == ["strategy", "trains", "no_grad", "checkpoint"]
