"""Numerical faults through ``tadapt train`` / ``tadapt test``.

NaN inputs, a diverging loss, skipped fp16 steps and running out of memory: each is reported in
one message (plus hints) without a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tadapt.cli.experiment import prepare_experiment
from tadapt.cli.main import main
from tadapt.detection import TemporalDetector
from tadapt.engine import load_checkpoint

PRESET = "tiny_synthetic_features"


def _overrides(cache: Path, *extra: str) -> list[str]:
    """A one-epoch run on 8 training and 4 evaluation videos (2 steps of 4 per epoch)."""
    return [
        "train.progress=false",
        "train.epochs=1",
        "train.log_interval=1",
        "data.synthetic.num_train_videos=8",
        "data.synthetic.num_eval_videos=4",
        f"data.synthetic.cache_dir={cache}",
        *extra,
    ]


def _train(tmp_path: Path, *extra: str, run: str = "run") -> int:
    argv = ["train", PRESET, *_overrides(tmp_path / "features", *extra)]
    return main([*argv, "--out-dir", str(tmp_path / run)])


def _records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_feature_file_full_of_nan_is_named_with_the_step_and_the_batch(tmp_path, capsys):
    config, annotations = prepare_experiment(
        PRESET, _overrides(tmp_path / "features"), tmp_path / "run"
    )  # writes the synthetic features
    video_id = next(iter(annotations.split("train").videos))
    path = Path(config.data.feature_dir) / f"{video_id}.npy"
    np.save(path, np.full_like(np.load(path), np.nan))

    # the input checks would stop the run first (tests/cli/test_input_checks.py): past them,
    # the step that meets the file names it too
    assert _train(tmp_path, "data.check_inputs=false") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert err.startswith("tadapt train: error: the loss is nan at epoch 1, step ")
    assert "final_loss" in err  # the non-finite terms
    assert f"{video_id} (from " in err  # the batch's videos and where their samples start
    assert f"input file {path} contains NaN/inf" in err
    assert "Re-extract or repair the file" in err
    assert "optim.lr" not in err  # no learning rate fixes a broken file


def test_a_diverging_loss_names_the_last_finite_step_and_the_settings(tmp_path, capsys):
    argv = ["optim.lr=1e12", "optim.clip_grad_norm=null", "optim.warmup_epochs=0"]
    assert _train(tmp_path, *argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert "the loss is nan at epoch 1, step 2 (non-finite: " in err
    assert "The inputs are finite, so training diverged (the last finite step, 1, had loss " in err
    assert "gradient norm " in err
    assert "lower optim.lr (now 1e+12; e.g. optim.lr=1e+11)" in err
    assert "optim.clip_grad_norm=1.0 (now null)" in err
    assert "optim.warmup_epochs=1 (now 0)" in err
    assert "input file" not in err


def test_grad_norm_and_its_mean_are_in_every_training_record(tmp_path, caplog):
    with caplog.at_level("INFO", logger="tadapt.engine.trainer"):
        assert _train(tmp_path) == 0
    train = [r for r in _records(tmp_path / "run") if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    assert all(r["grad_norm"] > 0 for r in train)
    assert "loss_scale" not in train[0]  # fp32: no scaler
    # no progress bar: the log shows each record
    shown = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch 1.00")]
    assert shown
    assert "grad_norm" in shown[0]


def _overflow_at(monkeypatch, call: int, factor: float) -> None:
    """Scale the loss of the ``call``-th training forward pass (1-based) by ``factor``.

    The loss stays finite; its gradients, scaled by the fp16 loss scale (65536), overflow
    float16 in the autocast regions: the overflow a GradScaler exists to skip.
    """
    forward = TemporalDetector.forward
    calls = {"n": 0}

    def scaled(self, batch):
        out = forward(self, batch)
        if self.training:
            calls["n"] += 1
            if calls["n"] == call:
                out = {**out, "final_loss": out["final_loss"] * factor}
        return out

    monkeypatch.setattr(TemporalDetector, "forward", scaled)


@pytest.mark.slow
def test_fp16_overflow_steps_are_skipped_counted_and_reported(
    tmp_path, capsys, monkeypatch, caplog
):
    _overflow_at(monkeypatch, call=2, factor=1e6)
    # CPU fp16 depthwise convolutions are slow: short windows, one evaluation video
    fp16 = ["train.precision=fp16", "train.epochs=2", "data.max_seq_len=32"]
    fp16 += ["data.eval_window=32", "data.synthetic.num_eval_videos=1"]
    with caplog.at_level("INFO", logger="tadapt.engine.trainer"):
        assert _train(tmp_path, *fp16) == 0
    out = capsys.readouterr().out
    assert "the fp16 gradient scaler skipped 1 of 4 optimizer steps" in out
    train = [r for r in _records(tmp_path / "run") if r["kind"] == "train"]
    assert [r["skipped_steps"] for r in train] == [0, 1, 0, 0]
    assert [r["skipped_steps_total"] for r in train] == [0, 1, 1, 1]
    assert [r["loss_scale"] for r in train] == [65536.0, 32768.0, 32768.0, 32768.0]
    assert "grad_norm" not in train[1]  # the skipped step's norm is inf: not averaged
    assert all(np.isfinite(r["grad_norm"]) for r in train if r["step"] != 2)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "step 2: the fp16 gradients overflowed; the gradient scaler skipped" in messages
    assert "epoch 1: the fp16 gradient scaler skipped 1 of 2 optimizer steps" in messages
    assert "epoch 2: the fp16 gradient scaler skipped 0 of 2 optimizer steps" in messages
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["state"]
    assert state["skipped_steps"] == 1


def _out_of_memory(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


def test_out_of_memory_in_a_training_step_gives_the_step_and_what_to_lower(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(TemporalDetector, "forward", _out_of_memory)
    assert _train(tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    first, *hints = err.strip().splitlines()
    assert first.startswith("tadapt train: error: out of memory in training step 1 of epoch 1 (")
    assert first.endswith(". To use less memory:")
    assert hints == [
        "  - train.grad_accum_steps=2 (now 1): half the samples per forward pass, the same "
        "batch per optimizer step",
        "  - train.batch_size=2 (now 4)",
        "  - data.max_seq_len=64 (now 128): the training window",
        "  - train.precision=bf16 (now fp32): half-size activations",
    ]


def test_out_of_memory_in_evaluation_names_the_videos_and_the_evaluation_settings(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(TemporalDetector, "predict", _out_of_memory)
    assert _train(tmp_path) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    first, *hints = err.strip().splitlines()
    assert first.startswith("tadapt train: error: out of memory in inference on videos ")
    assert "in the evaluation after epoch 1. To use less memory:" in first
    assert hints == [
        "  - eval.batch_size=2 (now 4)",
        "  - data.eval_window=128 (now null: every video whole): sliding windows",
        "  - train.precision=bf16 (now fp32): half-size activations",
    ]


@pytest.mark.slow
def test_out_of_memory_in_tadapt_test_gives_the_evaluation_settings(tmp_path, capsys, monkeypatch):
    assert _train(tmp_path) == 0
    run_dir = tmp_path / "run"
    monkeypatch.setattr(TemporalDetector, "predict", _out_of_memory)
    checkpoint = str(run_dir / "checkpoints" / "last.pt")
    argv = ["test", str(run_dir / "config.yaml"), "--checkpoint", checkpoint]
    assert main([*argv, "--out-dir", str(tmp_path / "test")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("tadapt test: error: out of memory in inference on videos ")
    assert "\n  - eval.batch_size=2 (now 4)\n" in err
