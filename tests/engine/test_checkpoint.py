from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from tadapt.engine import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint


def _draws() -> tuple[float, float, torch.Tensor, float]:
    return random.random(), float(np.random.rand()), torch.rand(3), float(np.random.randn())


def test_rng_state_restores_every_generator(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = capture_rng_state()
    first = _draws()
    save_checkpoint(tmp_path / "c.pt", {"model": {}, "rng": state})
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    second = _draws()
    assert first[:2] == second[:2]
    assert first[3] == second[3]
    assert torch.equal(first[2], second[2])


def test_round_trip_and_version(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    path = tmp_path / "sub" / "last.pt"
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": {"optim": {"lr": 0.1, "betas": [0.9, 0.999]}, "eval": {"x": None}},
        "state": {"epoch": 2, "best_metric": float("inf")},
    }
    save_checkpoint(path, payload)
    loaded = load_checkpoint(path)
    assert loaded["version"] == 1
    assert loaded["config"] == payload["config"]
    assert torch.equal(loaded["model"]["weight"], model.weight)
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(loaded["optimizer"])
    assert torch.equal(
        fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary left


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt: not a checkpoint file; tadapt reads the"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.randn(64, 64)}})
    data = (tmp_path / "last.pt").read_bytes()
    for cut, problem in ((len(data) - 100, "is truncated or corrupt"), (0, "is empty (0 bytes)")):
        (tmp_path / "copy.pt").write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"copy\.pt: the file {re.escape(problem)}.*start"):
            load_checkpoint(tmp_path / "copy.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a tadapt checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "future.pt", {"model": {}})
    payload = torch.load(tmp_path / "future.pt", weights_only=True)
    torch.save({**payload, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="newer than this tadapt"):
        load_checkpoint(tmp_path / "future.pt")
