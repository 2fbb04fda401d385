"""The data-parallel runs of test_ddp.py: one ``torchrun`` launch does both (imports are slow).

``python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_worker.py TOY_OUT ARGS``

1. trains a toy model with activation checkpointing and gradient accumulation
   (:func:`train_toy`, rank 0 saves its weights to ``TOY_OUT``). The model marks itself
   ``grad_checkpointing``, so :func:`tadapt.engine.wrap_model` wraps it with a static graph,
   whose gradient accumulation must not use ``no_sync()`` (see ``tadapt.engine.distributed``);
   then the same with float16 gradient all-reduce (``TOY_OUT`` with suffix ``.fp16``);
2. runs ``tadapt ARGS`` (e.g. ``train PRESET ... --out-dir DIR``) through the real CLI, in
   the process group of step 1 (a launch may run several experiments).

:func:`train_toy` called in a single process is the reference of step 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint

from tadapt.cli.main import main
from tadapt.data import build_loader
from tadapt.engine import (
    Trainer,
    WarmupCosineLR,
    build_optimizer,
    init_distributed,
    per_process_batch_size,
    steps_per_epoch,
    wrap_model,
)
from tadapt.engine.distributed import cleanup_distributed
from tadapt.structures import VideoBatch

if __package__:
    from .toy import ToyDataset, ToyRegressor
else:  # run as a script by torchrun: its folder is on sys.path
    from toy import ToyDataset, ToyRegressor

GLOBAL_BATCH = 8
ACCUM = 2


class CheckpointedToy(ToyRegressor):
    """:class:`ToyRegressor` with its linear layer under non-reentrant checkpointing."""

    def __init__(self) -> None:
        super().__init__()
        self.grad_checkpointing = True
        self.frozen = torch.nn.Linear(4, 4).requires_grad_(False)  # DDP must skip it

    def forward(self, batch: VideoBatch) -> dict[str, torch.Tensor]:
        x = self.frozen(batch.inputs.mean(dim=-1))  # (B, C)
        prediction = checkpoint(self.linear, self.norm(x), use_reentrant=False)
        loss = ((prediction - batch.inputs.sum(dim=-1)) ** 2).mean()
        return {"final_loss": loss}


def train_toy(out: Path | None = None, *, fp16_compress: bool = False) -> dict[str, torch.Tensor]:
    """Train 2 epochs (global batch 8 in 2 micro-batches); the final weights, saved to ``out``."""
    context = init_distributed("cpu")
    try:
        torch.manual_seed(0)
        model = CheckpointedToy()
        loader = build_loader(
            ToyDataset(n=24),
            batch_size=per_process_batch_size(GLOBAL_BATCH, context.world_size, ACCUM),
            shuffle=True,
            seed=7,
            drop_last=True,
        )
        optimizer = build_optimizer(model, lr=0.05, weight_decay=0.01)
        total = 2 * steps_per_epoch(len(loader), ACCUM)
        scheduler = WarmupCosineLR(optimizer, warmup_steps=1, total_steps=total)
        wrapped = wrap_model(model, context, fp16_compress=fp16_compress)
        if context.enabled:
            assert isinstance(wrapped, DistributedDataParallel)
            assert wrapped.static_graph
        trainer = Trainer(
            wrapped,
            optimizer,
            scheduler,
            loader,
            epochs=2,
            grad_accum_steps=ACCUM,
            clip_grad_norm=1.0,
            seed=3,
            progress=False,
        )
        trainer.fit()
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        if out is not None and context.is_main:
            torch.save(weights, out)
        return weights
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    train_toy(Path(sys.argv[1]))
    train_toy(Path(sys.argv[1]).with_suffix(".fp16"), fp16_compress=True)
    sys.exit(main(sys.argv[2:]))
