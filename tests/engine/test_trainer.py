from __future__ import annotations

import json

import pytest
import torch

from tadapt.data import build_loader
from tadapt.engine import (
    MetricsWriter,
    ModelEMA,
    Trainer,
    TrainerHook,
    WarmupCosineLR,
    build_optimizer,
    load_checkpoint,
    steps_per_epoch,
)
from trainer_hooks import StopAt, StopError

from .toy import ToyDataset, ToyRegressor


def _trainer(tmp_path, *, batch=4, accum=1, dropout=0.0, epochs=3, ema=True, hooks=(), **kw):
    torch.manual_seed(0)
    model = ToyRegressor(dropout=dropout)
    loader = build_loader(ToyDataset(), batch_size=batch, shuffle=True, seed=7, drop_last=True)
    optimizer = build_optimizer(model, lr=0.05, weight_decay=0.01)
    per_epoch = steps_per_epoch(len(loader), accum)
    scheduler = WarmupCosineLR(optimizer, warmup_steps=2, total_steps=epochs * per_epoch)
    return Trainer(
        model,
        optimizer,
        scheduler,
        loader,
        epochs=epochs,
        grad_accum_steps=accum,
        clip_grad_norm=1.0,
        ema=ModelEMA(model, 0.5) if ema else None,
        output_dir=tmp_path,
        seed=3,
        progress=False,
        hooks=hooks,
        **kw,
    )


def test_gradient_accumulation_equals_the_full_batch(tmp_path):
    full = _trainer(tmp_path / "a", batch=4, accum=1)
    full.fit()
    accumulated = _trainer(tmp_path / "b", batch=2, accum=2)
    accumulated.fit()
    assert full.state.step == accumulated.state.step == 9
    for a, b in zip(full.raw_model.parameters(), accumulated.raw_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_uneven_accumulation_takes_a_short_last_step(tmp_path):
    trainer = _trainer(tmp_path, batch=2, accum=4, epochs=1)  # 6 batches: steps of 4 and 2
    assert trainer.state.steps_per_epoch == 2
    trainer.fit()
    assert trainer.state.step == 2


@pytest.mark.parametrize("interrupt_at", [4, 5])  # an epoch boundary, and mid-epoch
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path, interrupt_at):
    reference = _trainer(tmp_path / "ref", dropout=0.3)
    reference.fit()

    kwargs = {"dropout": 0.3, "checkpoint_interval_steps": 2}
    broken = _trainer(tmp_path / "run", hooks=[StopAt(interrupt_at)], **kwargs)
    with pytest.raises(StopError):
        broken.fit()
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert checkpoint["state"]["step"] == interrupt_at - interrupt_at % 2

    resumed = _trainer(tmp_path / "run", **kwargs)
    resumed.load_state_dict(checkpoint)
    resumed.fit()
    assert resumed.state.step == reference.state.step == 9
    for name, value in reference.raw_model.state_dict().items():
        assert torch.equal(value, resumed.raw_model.state_dict()[name]), name
    for name, value in reference.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[name]), name
    assert resumed.optimizer.param_groups[0]["lr"] == reference.optimizer.param_groups[0]["lr"]


def test_best_checkpoint_evaluation_and_metrics(tmp_path):
    scores = iter([0.2, 0.5, 0.4])
    seen_modes = []

    def evaluator(model):
        seen_modes.append(model.training)
        return {"average_mAP": next(scores)}

    with MetricsWriter(tmp_path / "metrics.jsonl") as metrics:
        trainer = _trainer(
            tmp_path, evaluator=evaluator, eval_interval=1, metrics=metrics, log_interval=2
        )
        trainer.fit()
    assert seen_modes == [False, False, False]
    assert trainer.state.best_metric == 0.5
    assert trainer.state.best_epoch == 2
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["state"]["epoch"] == 2
    assert "optimizer" not in best
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["average_mAP"] for r in evals] == [0.2, 0.5, 0.4]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [2, 3, 4, 6, 8, 9]  # every 2 steps and epoch ends
    assert {"loss", "mse", "lr", "grad_norm", "samples_per_s"} <= set(train[0])
    with pytest.raises(ValueError, match=r"best\.pt holds weights only"):
        _trainer(tmp_path / "x").load_state_dict(best)


def test_evaluation_schedule(tmp_path):
    epochs_seen = []

    def evaluator(model):
        return {"average_mAP": 0.0}

    class _Record(TrainerHook):
        def after_epoch(self, trainer):
            epochs_seen.append((trainer.state.epoch, bool(trainer.last_metrics)))
            trainer.last_metrics = {}

    trainer = _trainer(
        tmp_path, epochs=5, evaluator=evaluator, eval_interval=2, eval_start_epoch=3,
        hooks=[_Record()],
    )  # fmt: skip
    trainer.fit()
    assert epochs_seen == [(1, False), (2, False), (3, False), (4, True), (5, True)]


def test_a_diverging_loss_stops_with_a_clear_error(tmp_path):
    trainer = _trainer(tmp_path)
    with torch.no_grad():
        trainer.raw_model.linear.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        trainer.fit()


def test_unseeded_shuffle_is_refused(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.train_loader = torch.utils.data.DataLoader(
        ToyDataset(), batch_size=4, shuffle=True, drop_last=True
    )
    with pytest.raises(ValueError, match="unseeded generator"):
        trainer.fit()
