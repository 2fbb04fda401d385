from __future__ import annotations

import json
import math

import pytest
import torch

from tadapt.engine import (
    MetricsWriter,
    per_process_batch_size,
    resolve_precision,
    seed_everything,
    unwrap_model,
    wrap_model,
)
from tadapt.engine.distributed import (
    DistributedContext,
    all_gather_objects,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
)


def test_precision_table_on_cpu():
    fp32 = resolve_precision("fp32", "cpu")
    assert fp32.dtype is None
    assert not fp32.use_scaler
    for name in ("bf16", "amp"):
        policy = resolve_precision(name, "cpu")
        assert policy.dtype is torch.bfloat16
        assert not policy.use_scaler
        assert not policy.make_scaler().is_enabled()
    fp16 = resolve_precision("fp16", "cpu")  # CPU fp16 autocast with a CPU gradient scaler
    assert fp16.dtype is torch.float16
    assert fp16.use_scaler
    scaler = fp16.make_scaler()
    assert scaler.is_enabled()
    assert scaler.get_scale() == 65536.0
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with fp16.autocast():
        assert (a @ b).dtype is torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8", "cpu")


def test_bf16_autocast_runs_matmuls_in_bf16_and_fp32_does_not():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with resolve_precision("bf16", "cpu").autocast():
        assert (a @ b).dtype is torch.bfloat16
    with resolve_precision("fp32", "cpu").autocast():
        assert (a @ b).dtype is torch.float32


def test_global_batch_splits_over_processes_and_accumulation():
    assert per_process_batch_size(16, 4) == 4
    assert per_process_batch_size(16, 2, 2) == 4
    assert per_process_batch_size(2, 1) == 2
    with pytest.raises(ValueError, match="global batch per optimizer step"):
        per_process_batch_size(2, 4)
    with pytest.raises(ValueError, match="must divide"):
        per_process_batch_size(6, 2, 2)


def test_single_process_is_the_default(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = init_distributed("cpu")
    assert context == DistributedContext()
    assert context.is_main
    assert not context.enabled
    assert (get_rank(), get_world_size(), is_main_process()) == (0, 1, True)
    assert all_gather_objects({"a": 1}) == [{"a": 1}]
    model = torch.nn.Linear(2, 2)
    assert wrap_model(model, context) is model
    assert unwrap_model(model) is model


def test_metrics_writer_appends_json_lines(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    with MetricsWriter(path) as writer:
        writer.log({"kind": "train", "step": 1, "loss": torch.tensor(0.5), "lr": 1e-3})
        writer.log({"kind": "eval", "step": 1, "average_mAP": math.nan})
    with MetricsWriter(path) as writer:  # a resumed run continues the file
        writer.log({"kind": "train", "step": 2, "loss": 0.25})
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 1, 2]
    assert lines[0]["loss"] == 0.5
    assert lines[1]["average_mAP"] == "nan"
    assert all("time" in r for r in lines)
    silent = MetricsWriter(tmp_path / "other.jsonl", enabled=False)
    silent.log({"kind": "train", "step": 1})
    silent.close()
    assert not (tmp_path / "other.jsonl").exists()


def test_seed_everything_repeats_draws():
    seed_everything(5)
    first = torch.rand(3)
    seed_everything(5)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
