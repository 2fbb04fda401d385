"""The trainer's numerical faults from Python.

NaN inputs, non-finite gradients, skipped fp16 steps, running out of memory (the CLI side is
tests/cli/test_numerics_cli.py).
"""

from __future__ import annotations

import json

import pytest
import torch

from tadapt.data import build_loader
from tadapt.engine import (
    MetricsWriter,
    Trainer,
    WarmupCosineLR,
    build_optimizer,
    resolve_precision,
    steps_per_epoch,
)
from tadapt.engine.numerics import DeviceMemoryError, NonFiniteLossError

from .toy import ToyDataset, ToyRegressor


def _trainer(tmp_path, dataset=None, *, epochs=1, precision="fp32", clip=None, **kw) -> Trainer:
    torch.manual_seed(0)
    model = ToyRegressor()
    loader = build_loader(
        dataset or ToyDataset(), batch_size=4, shuffle=False, seed=0, drop_last=True
    )
    optimizer = build_optimizer(model, lr=0.01, weight_decay=0.0)
    per_epoch = steps_per_epoch(len(loader))
    scheduler = WarmupCosineLR(optimizer, warmup_steps=0, total_steps=epochs * per_epoch)
    return Trainer(
        model,
        optimizer,
        scheduler,
        loader,
        epochs=epochs,
        clip_grad_norm=clip,
        precision=resolve_precision(precision, "cpu"),
        progress=False,
        log_interval=1,
        **kw,
    )


def test_nan_inputs_are_named_by_video_and_no_optimizer_advice_is_given(tmp_path):
    dataset = ToyDataset()
    dataset.inputs[5, 1, 2] = float("nan")  # the second batch: videos 4..7
    trainer = _trainer(tmp_path, dataset)
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.fit()
    report = caught.value.report
    assert (report.quantity, report.epoch, report.step) == ("loss", 1, 2)
    assert report.terms == ("mse", "final_loss")
    assert [s.video_id for s in report.samples] == [f"video_{i}" for i in range(4, 8)]
    assert report.bad_inputs == ("video_5",)
    assert (report.last_step, report.last_grad_norm is not None) == (1, True)
    message = str(caught.value)
    assert message.startswith("the loss is nan at epoch 1, step 2 (non-finite: mse, final_loss")
    assert "video_4 (from 0.00 s)" in message
    assert "the inputs of video video_5 contain NaN/inf before the model sees them" in message
    assert "learning rate" not in message
    named = caught.value.with_context(input_files={"video_5": "/data/video_5.npy"})
    assert "input file /data/video_5.npy contains NaN/inf" in str(named)


def test_a_non_finite_gradient_with_a_finite_loss_stops_fp32_training(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.raw_model.linear.weight.register_hook(lambda grad: grad * float("inf"))
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.fit()
    report = caught.value.report
    assert report.quantity == "gradient norm"
    assert report.step == 1
    assert report.last_step is None
    assert len(report.samples) == 4
    assert report.bad_inputs == ()
    message = str(caught.value)
    assert message.startswith("the gradient norm is ")
    assert "(the loss is finite; batch: video_0 (from 0.00 s), " in message
    assert "the first step since the run started or resumed): lower the learning rate" in message
    # the weights never saw the update
    assert torch.isfinite(trainer.raw_model.linear.weight).all()


def test_fp16_overflow_is_skipped_and_counted_not_fatal(tmp_path, recwarn):
    trainer = _trainer(tmp_path, precision="fp16", epochs=2, clip=1.0)
    assert trainer.scaler.is_enabled()
    calls = {"n": 0}

    def overflow_on_the_fourth_backward(grad):
        calls["n"] += 1
        return grad * float("inf") if calls["n"] == 4 else grad

    trainer.raw_model.linear.weight.register_hook(overflow_on_the_fourth_backward)
    with MetricsWriter(tmp_path / "metrics.jsonl") as metrics:
        trainer.metrics = metrics
        trainer.fit()
    assert trainer.state.step == 6
    # step 1 overflows by itself (the toy's scaled gradients exceed float16), step 4 by the hook
    assert trainer.state.skipped_steps == 2
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_steps"] for r in records] == [1, 0, 0, 1, 0, 0]
    assert [r["loss_scale"] for r in records] == [32768.0] * 3 + [16384.0] * 3
    assert [("grad_norm" in r) for r in records] == [False, True, True, False, True, True]
    assert all(torch.isfinite(p).all() for p in trainer.raw_model.parameters())
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]


def test_grad_norm_is_logged_without_clipping(tmp_path):
    with MetricsWriter(tmp_path / "metrics.jsonl") as metrics:
        _trainer(tmp_path, clip=None, metrics=metrics).fit()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 3
    assert all(r["grad_norm"] > 0 for r in records)
    assert all("loss_scale" not in r for r in records)


def test_running_out_of_memory_names_the_training_step(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    forward = ToyRegressor.forward
    calls = {"n": 0}

    def forward_then_oom(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return forward(self, batch)

    monkeypatch.setattr(ToyRegressor, "forward", forward_then_oom)
    with pytest.raises(DeviceMemoryError) as caught:
        trainer.fit()
    assert isinstance(caught.value, OSError)  # the CLI's one-line errors
    assert caught.value.phase == "training"
    assert str(caught.value) == (
        "out of memory in training step 2 of epoch 1 (videos video_4, video_5, video_6, "
        "video_7). Use smaller batches or shorter inputs"
    )
    hinted = caught.value.with_hints(["train.batch_size=2 (now 4)"])
    assert str(hinted).endswith("To use less memory:\n  - train.batch_size=2 (now 4)")


def test_the_cpu_allocator_running_out_is_recognised_and_other_errors_pass(tmp_path, monkeypatch):
    from tadapt.engine.numerics import is_out_of_memory

    cpu = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
        "memory: you tried to allocate 100000000000000 bytes. Error code 12"
    )
    assert is_out_of_memory(cpu)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))

    trainer = _trainer(tmp_path)

    def broken(self, batch):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(ToyRegressor, "forward", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        trainer.fit()


def test_cuda_memory_figures_are_in_gib(monkeypatch):
    from types import SimpleNamespace

    from tadapt.engine.numerics import cuda_memory_summary

    assert cuda_memory_summary("cpu") is None
    gib = 2**30
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 70 * gib)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device: 75.5 * gib)
    props = SimpleNamespace(total_memory=79.25 * gib, name="NVIDIA H100")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    assert cuda_memory_summary("cuda:0") == (
        "CUDA memory: max allocated 70.00 GiB, reserved 75.50 GiB, total 79.25 GiB (NVIDIA H100)"
    )
