from __future__ import annotations

import math

import pytest
import torch

from tadapt.engine import WarmupCosineLR, warmup_cosine_factor


def test_known_values():
    # W = 5, S = 25: warmup s / 4, then (1 + cos(pi (s - 5) / 20)) / 2
    expected = {
        0: 0.0,
        1: 0.25,
        3: 0.75,
        4: 1.0,
        5: 1.0,
        15: 0.5,
        10: (1 + math.cos(math.pi / 4)) / 2,
        25: 0.0,
        40: 0.0,
    }
    for step, value in expected.items():
        got = warmup_cosine_factor(step, warmup_steps=5, total_steps=25)
        assert got == pytest.approx(value, abs=1e-12), step


def test_min_ratio_and_no_warmup():
    assert warmup_cosine_factor(0, warmup_steps=0, total_steps=10) == 1.0
    assert warmup_cosine_factor(0, warmup_steps=1, total_steps=10) == 1.0
    assert warmup_cosine_factor(10, warmup_steps=0, total_steps=10, min_lr_ratio=0.1) == 0.1
    half = warmup_cosine_factor(5, warmup_steps=0, total_steps=10, min_lr_ratio=0.1)
    assert half == pytest.approx(0.55)


def test_scheduler_sets_every_group_and_resumes():
    param = torch.nn.Parameter(torch.zeros(1))
    other = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [param], "lr": 1.0}, {"params": [other], "lr": 0.1}])
    scheduler = WarmupCosineLR(optimizer, warmup_steps=3, total_steps=9)
    seen = []
    for _ in range(9):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert [s[0] for s in seen[:4]] == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert seen[6][0] == pytest.approx((1 + math.cos(math.pi * 3 / 6)) / 2)
    assert all(b == pytest.approx(a * 0.1) for a, b in seen)

    fresh = torch.optim.SGD([{"params": [param], "lr": 1.0}, {"params": [other], "lr": 0.1}])
    restored = WarmupCosineLR(fresh, warmup_steps=3, total_steps=9)
    restored.load_state_dict(scheduler.state_dict())
    assert restored.last_epoch == scheduler.last_epoch
    assert restored.get_lr() == pytest.approx(scheduler.get_lr())


def test_bad_step_counts():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        WarmupCosineLR(optimizer, warmup_steps=5, total_steps=4)
