"""Training and evaluation machinery, independent of any configuration object.

* :class:`Trainer`: the loop (accumulation, clipping, mixed precision, EMA, periodic
  evaluation, atomic best/last checkpoints, exact resume, progress bars, metrics).
* :func:`build_optimizer` / :func:`param_groups`: AdamW with no-decay and per-module groups.
* :class:`WarmupCosineLR`: linear warmup + cosine, stepped per optimizer step.
* :class:`ModelEMA`, :func:`resolve_precision`, :func:`seed_everything`, :class:`MetricsWriter`.
* :func:`predict` / :func:`evaluate`: inference with window merging, then mAP.
* :class:`FidelitySchedule` / :class:`FidelityTransform`: LoFi's low-fidelity training batches.
* :mod:`tadapt.engine.distributed`: optional ``torchrun`` helpers (single process by default).
"""

from tadapt.engine.checkpoint import (
    CHECKPOINT_VERSION,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from tadapt.engine.distributed import (
    DistributedContext,
    all_gather_objects,
    init_distributed,
    per_process_batch_size,
    unwrap_model,
    wrap_model,
)
from tadapt.engine.ema import ModelEMA
from tadapt.engine.evaluate import evaluate, fuse_class_scores, predict
from tadapt.engine.fidelity import (
    FidelityError,
    FidelityLevel,
    FidelitySchedule,
    FidelityTransform,
    apply_fidelity,
    level_reduction,
    parse_levels,
    reduced_frame_size,
)
from tadapt.engine.logging import MetricsWriter
from tadapt.engine.optim import build_optimizer, no_weight_decay_names, param_groups
from tadapt.engine.precision import PrecisionPolicy, resolve_precision
from tadapt.engine.schedulers import WarmupCosineLR, warmup_cosine_factor
from tadapt.engine.seed import seed_everything, set_deterministic
from tadapt.engine.trainer import Trainer, TrainerHook, TrainState, steps_per_epoch

__all__ = [
    "CHECKPOINT_VERSION",
    "DistributedContext",
    "FidelityError",
    "FidelityLevel",
    "FidelitySchedule",
    "FidelityTransform",
    "MetricsWriter",
    "ModelEMA",
    "PrecisionPolicy",
    "TrainState",
    "Trainer",
    "TrainerHook",
    "WarmupCosineLR",
    "all_gather_objects",
    "apply_fidelity",
    "build_optimizer",
    "capture_rng_state",
    "evaluate",
    "fuse_class_scores",
    "init_distributed",
    "level_reduction",
    "load_checkpoint",
    "no_weight_decay_names",
    "param_groups",
    "parse_levels",
    "per_process_batch_size",
    "predict",
    "reduced_frame_size",
    "resolve_precision",
    "restore_rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_deterministic",
    "steps_per_epoch",
    "unwrap_model",
    "warmup_cosine_factor",
    "wrap_model",
]
