"""Data-parallel training under torchrun (gloo on CPU) equals one process on the same global batch.

The two-process runs start ``python -m torch.distributed.run --standalone`` in a subprocess
(it picks a free port itself), without CUDA and with one thread per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from tadapt.cli.train import train_experiment
from tadapt.data.loader import ShardedRandomSampler
from tadapt.detection.losses import share_of_global_loss
from tadapt.engine import Trainer, WarmupCosineLR, build_optimizer, load_checkpoint
from tadapt.structures import collate_samples

from .ddp_worker import train_toy
from .toy import ToyDataset, ToyRegressor

PRESET = "tiny_synthetic_features"
_LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK")


def _torchrun(args: list[str], cwd: Path, nproc: int = 2) -> str:
    """Run ``python -m torch.distributed.run --standalone --nproc_per_node N ARGS`` on CPU.

    Returns:
        The output of all processes together.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CUDA", "MASTER_", "TORCHELASTIC")) and key not in _LAUNCHER_VARS
    }
    env |= {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc_per_node={nproc}", *args]
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as launcher:
        try:
            output, _ = launcher.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            launcher.terminate()  # torchrun stops its workers on SIGTERM
            output, _ = launcher.communicate(timeout=60)
            pytest.fail(f"torchrun timed out:\n{output[-3000:]}")
    assert launcher.returncode == 0, output[-5000:]
    return output


def _trainer_for(loader: DataLoader) -> Trainer:
    model = ToyRegressor()
    optimizer = build_optimizer(model, lr=0.01, weight_decay=0.0)
    scheduler = WarmupCosineLR(optimizer, warmup_steps=0, total_steps=10)
    return Trainer(model, optimizer, scheduler, loader, epochs=1, seed=3, progress=False)


def test_process_batches_partition_the_single_process_batches():
    dataset = ToyDataset(n=23)  # 23: the tail that does not fill a global batch is dropped

    def loader(batch_size: int, rank: int | None = None) -> DataLoader:
        generator = torch.Generator()
        sampler = (
            torch.utils.data.RandomSampler(dataset, generator=generator)
            if rank is None
            else ShardedRandomSampler(
                dataset, generator=generator, rank=rank, world_size=2, drop_last=True
            )
        )
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=True,
            generator=generator,
            collate_fn=collate_samples,
        )

    for epoch in (0, 1):
        # the batches each trainer takes, reseeded per epoch as in a real run
        single = _trainer_for(loader(4))._epoch_batches(epoch)
        ranks = [_trainer_for(loader(2, rank))._epoch_batches(epoch) for rank in (0, 1)]
        assert len(single) == len(ranks[0]) == len(ranks[1]) == 23 // 4
        for step, batch in enumerate(single):
            assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)
            assert not set(ranks[0][step]) & set(ranks[1][step])
    assert single != _trainer_for(loader(4))._epoch_batches(0)  # epochs differ


def test_sharded_sampler_pads_without_drop_last():
    shares = [
        list(ShardedRandomSampler(range(5), generator=torch.Generator(), rank=r, world_size=2))
        for r in (0, 1)
    ]
    assert len(shares[0]) == len(shares[1]) == 3
    assert set(shares[0] + shares[1]) == set(range(5))
    with pytest.raises(ValueError, match="rank 2"):
        ShardedRandomSampler(range(5), generator=torch.Generator(), rank=2, world_size=2)


def test_share_of_global_loss_has_the_global_value_and_the_scaled_gradient():
    weight = torch.tensor(3.0, requires_grad=True)
    local = weight * 2.0  # this process's term; the other process contributed 4
    loss = share_of_global_loss(local, torch.tensor(10.0, dtype=torch.float64), world_size=2)
    assert loss.item() == 10.0
    loss.backward()
    assert weight.grad is not None
    assert weight.grad.item() == 2 * 2.0  # DDP halves it back to d(local)/d(weight)
    assert share_of_global_loss(local, torch.tensor(10.0), world_size=1) is local


OVERRIDES = (
    "train.epochs=2",
    "train.batch_size=4",  # global: 2 processes x 2
    "train.progress=false",
    "model.path_drop=0",  # the only random draw of the forward pass, different per process
    # Adam turns rounding noise on parameters whose exact gradient is zero (attention key
    # biases: softmax ignores a shift) into lr-sized steps; a larger eps keeps them still
    "optim.eps=1e-6",
)


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2-process launch: the toy run (``toy.pt``) and ``tadapt train`` (``two/``)."""
    root = tmp_path_factory.mktemp("ddp")
    overrides = [*OVERRIDES, f"data.synthetic.cache_dir={root / 'features'}"]
    worker = str(Path(__file__).with_name("ddp_worker.py"))
    train = ["train", PRESET, *overrides, "--out-dir", str(root / "two")]
    output = _torchrun([worker, str(root / "toy.pt"), *train], root)
    (root / "torchrun.log").write_text(output)
    return root


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_with_checkpointing_and_accumulation_equal_one(two_processes):
    reference = train_toy()
    two = torch.load(two_processes / "toy.pt")
    for name, value in reference.items():
        torch.testing.assert_close(two[name], value, rtol=0, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.distributed
def test_fp16_gradient_compression_rounds_the_reduced_gradients(two_processes):
    reference = train_toy()
    compressed = torch.load(two_processes / "toy.fp16")
    differences = [(compressed[n] - v).abs().max().item() for n, v in reference.items()]
    # gradients rounded to float16 (about 3 significant digits) before averaging: the run
    # stays close to the exact one, but not bit-identical, which shows the hook was used
    assert max(differences) < 1e-2
    assert max(differences) > 1e-7


def _records(run_dir: Path, kind: str) -> list[dict[str, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.mark.slow
@pytest.mark.distributed
def test_two_processes_train_the_weights_of_one(two_processes):
    one, two = two_processes / "one", two_processes / "two"
    overrides = [*OVERRIDES, f"data.synthetic.cache_dir={two_processes / 'features'}"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two processes
    try:
        train_experiment(PRESET, overrides, out_dir=one)
    finally:
        torch.set_num_threads(threads)

    last = {run: load_checkpoint(run / "checkpoints" / "last.pt") for run in (one, two)}
    states = [dict(last[run]["state"]) for run in (one, two)]
    assert states[1].pop("best_metric") == pytest.approx(states[0].pop("best_metric"), abs=1e-6)
    assert states[0] == states[1]
    for key in ("model", "ema"):
        for name, value in last[one][key].items():
            torch.testing.assert_close(last[two][key][name], value, rtol=0, atol=2e-6, msg=name)
    # the loss normaliser followed the global batch's positives
    normaliser = "loss.normalizer.value"
    assert last[two]["model"][normaliser] == pytest.approx(float(last[one]["model"][normaliser]))

    # sharded evaluation gathered from both processes: the same detections and metrics
    reports = [json.loads((run / "report.json").read_text()) for run in (one, two)]
    assert reports[1]["average_mAP"] > 0.05  # not a degenerate comparison
    assert reports[0]["mAP"] == pytest.approx(reports[1]["mAP"], abs=1e-6)
    assert reports[0]["average_mAP"] == pytest.approx(reports[1]["average_mAP"], abs=1e-6)
    results = [json.loads((run / "predictions.json").read_text())["results"] for run in (one, two)]
    assert results[0].keys() == results[1].keys()
    for video_id, detections in results[0].items():
        scores = sorted(d["score"] for d in detections)
        assert sorted(d["score"] for d in results[1][video_id]) == pytest.approx(scores, abs=1e-6)

    # only rank 0 wrote: one record per step, with the global batch's loss
    train_one, train_two = _records(one, "train"), _records(two, "train")
    assert [r["step"] for r in train_two] == [r["step"] for r in train_one]
    assert [r["loss"] for r in train_two] == pytest.approx([r["loss"] for r in train_one], rel=1e-5)
    assert len(_records(two, "eval")) == 1
    # and only rank 0 logged progress (the other process: warnings and errors)
    log = (two_processes / "torchrun.log").read_text()
    assert log.count("INFO tadapt.engine.trainer: epoch 2:") == 1
