from __future__ import annotations

import pytest
import torch
from torch import nn

from tadapt.engine import ModelEMA


class _WithBuffers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.register_buffer("running", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))


def test_update_is_decay_times_ema_plus_rest_times_current():
    torch.manual_seed(0)
    model = _WithBuffers()
    ema = ModelEMA(model, decay=0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    history = []
    for _ in range(3):
        with torch.no_grad():
            model.linear.weight.add_(torch.randn_like(model.linear.weight))
            model.running.add_(1.0)
            model.count.add_(1)
        history.append({k: v.clone() for k, v in model.state_dict().items()})
        ema.update(model)
    for key in ("linear.weight", "linear.bias", "running"):
        expected = start[key].clone()
        for snapshot in history:
            expected = 0.9 * expected + 0.1 * snapshot[key]
        torch.testing.assert_close(ema.state_dict()[key], expected, rtol=0, atol=1e-6)
    # integer buffers are copied, not averaged
    assert int(ema.state_dict()["count"]) == 3
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_first_update_from_a_copy_matches_the_formula_exactly():
    model = nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.75)
    before = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.mul_(3.0)
    ema.update(model)
    assert torch.equal(ema.module.weight, before.mul(0.75).add(model.weight.detach(), alpha=0.25))


def test_state_dict_round_trip_and_checks():
    model = nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.5)
    other = ModelEMA(nn.Linear(2, 2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, ema.module.weight)
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(model, decay=1.0)
    with pytest.raises(ValueError, match="does not match"):
        ema.update(nn.Linear(2, 3, bias=False))


def test_frozen_parameters_are_shared_not_copied_or_averaged():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    model[0].requires_grad_(False)
    ema = ModelEMA(model, decay=0.5)
    assert ema.module[0].weight is model[0].weight  # shared: no second copy
    assert ema.module[1].weight is not model[1].weight
    assert ema.module[1].weight.data_ptr() != model[1].weight.data_ptr()
    with torch.no_grad():
        model[1].weight.add_(2.0)
    before = ema.module[1].weight.clone()
    ema.update(model)
    torch.testing.assert_close(ema.module[1].weight, 0.5 * before + 0.5 * model[1].weight)
    torch.testing.assert_close(ema.module[0].weight, model[0].weight)
