"""``tadapt train PRESET_OR_YAML [key.sub.key=value ...]``: train a detector and evaluate it.

The run folder (``--out-dir``, default ``runs/<name>``) receives

* ``config.yaml``: the resolved configuration (``tadapt train runs/x/config.yaml`` reruns it);
* ``checkpoints/last.pt`` (every epoch, for ``--resume``) and ``checkpoints/best.pt`` (the
  best evaluation so far); when training on videos also ``checkpoints/adapters.pt``, the
  adapter-only checkpoint: only what the tuning strategy trained (head, adapters, side
  network), to load onto the pretrained backbone with ``tadapt test``;
* ``metrics.jsonl``: training and evaluation records, one JSON object per line
  (``tensorboard/`` too with ``train.tensorboard=true``);
* ``predictions.json`` (ActivityNet results format), ``report.json`` and ``report.txt``: the
  evaluation after the last epoch.

Launch with ``torchrun --nproc_per_node N -m tadapt train ...`` for data-parallel training;
``train.batch_size`` stays the global batch (see ``docs/training.md``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tadapt.adapters import get_strategy, strategy_state_dict, trainable_parameter_report
from tadapt.backbones import CheckpointError
from tadapt.cli.dry_run import DryRunReport
from tadapt.cli.dry_run import dry_run as measure_dry_run
from tadapt.cli.experiment import (
    EvaluationJob,
    backbone_of,
    build_datasets,
    build_eval_job,
    build_fidelity_transform,
    build_model,
    check_split_overlap,
    choose_device,
    eval_loader,
    prepare_experiment,
    save_resolved_config,
    write_evaluation,
)
from tadapt.cli.faults import explain_faults
from tadapt.cli.input_check import check_inputs, input_problems_message
from tadapt.config import ExperimentConfig, config_to_dict, load_config
from tadapt.data import DataError, build_loader
from tadapt.detection import TemporalDetector
from tadapt.engine import (
    MetricsWriter,
    ModelEMA,
    Trainer,
    TrainerHook,
    TrainState,
    WarmupCosineLR,
    build_optimizer,
    init_distributed,
    load_checkpoint,
    per_process_batch_size,
    resolve_precision,
    save_checkpoint,
    seed_everything,
    set_deterministic,
    steps_per_epoch,
    wrap_model,
)
from tadapt.engine.distributed import all_gather_objects, cleanup_distributed, is_main_process
from tadapt.io import Annotations, remove_stale_temporaries

__all__ = ["TrainResult", "add_parser", "run", "train_experiment"]

logger = logging.getLogger(__name__)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt train``."""
    parser = subparsers.add_parser(
        "train",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="preset name (tadapt list presets) or a YAML file")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. optim.lr=1e-3 model.head.num_layers=3 data.crop_ratio=null",
    )
    parser.add_argument("--out-dir", type=Path, help="run folder (default: runs/<name>)")
    parser.add_argument(
        "--resume",
        type=Path,
        help="continue from a checkpoint (checkpoints/last.pt) or a run folder",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check the inputs, take 2 training steps and 1 evaluation batch, print time and "
        "memory per step and the estimated run time; write nothing",
    )
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        run_dir: the run folder.
        config: the resolved configuration.
        state: the final training state.
        metrics: the last evaluation's metrics (empty without evaluation).
        predictions: the predictions file of the last evaluation, if written.
        report: its JSON report, if written.
        dry_run: what ``dry_run=True`` measured (``None`` after real training).
    """

    run_dir: Path
    config: ExperimentConfig
    state: TrainState
    metrics: dict[str, float]
    predictions: Path | None
    report: Path | None
    dry_run: DryRunReport | None = None


def _resume_path(path: Path) -> Path:
    return path / "checkpoints" / "last.pt" if path.is_dir() else path


def train_experiment(
    source: str | os.PathLike[str],
    overrides: Sequence[str] = (),
    *,
    out_dir: Path | None = None,
    resume: Path | None = None,
    hooks: Sequence[TrainerHook] = (),
    command: str = "tadapt train",
    dry_run: bool = False,
) -> TrainResult:
    """Train (or resume) the experiment of a preset or YAML file.

    Every input file is checked first (``data.check_inputs``), and all problems are reported
    in one error before any training step.

    Args:
        source: preset name or YAML file.
        overrides: dotted ``key=value`` overrides.
        out_dir: the run folder (default ``runs/<name>``).
        resume: a full checkpoint or a run folder to continue.
        hooks: trainer hooks (e.g. to stop early).
        command: recorded in the saved config's header.
        dry_run: check, take two steps and one evaluation batch, write nothing but synthetic
            data (:mod:`tadapt.cli.dry_run`); the result's ``dry_run`` holds the figures.

    Raises:
        ValueError: invalid config, data or checkpoint; an existing run without ``resume``.
    """
    loaded = load_config(source, overrides)
    run_dir = out_dir if out_dir is not None else Path("runs") / loaded.name
    resume = _resume_path(resume) if resume is not None else None
    if resume is None and not dry_run and (run_dir / "checkpoints" / "last.pt").exists():
        raise ValueError(
            f"{run_dir} already holds a run; pass --resume {run_dir} to continue it, or "
            "--out-dir for a new one"
        )
    context = init_distributed(choose_device(loaded.train.device).type)
    try:
        if resume is not None and context.is_main:  # what a write killed before the resume left
            remove_stale_temporaries(resume)
        config, annotations = prepare_experiment(source, overrides, run_dir)
        check_split_overlap(config, annotations)
        train_cfg = config.train
        device = choose_device(train_cfg.device, context.local_rank)
        # read first: a damaged or refused --resume file stops the run before anything is written
        checkpoint = load_checkpoint(resume, map_location=device) if resume is not None else None
        seed_everything(train_cfg.seed)
        set_deterministic(train_cfg.deterministic)
        model = _checked_model(config, annotations)
        if not dry_run:
            save_resolved_config(config, run_dir / "config.yaml", command)
        model = model.to(device)
        logger.info("%s", trainable_parameter_report(model).summary())
        pad = model.encoder.size_divisor
        train_set, eval_set = build_datasets(config, annotations)
        assert train_set is not None
        train_loader = build_loader(
            train_set,
            batch_size=per_process_batch_size(
                train_cfg.batch_size, context.world_size, train_cfg.grad_accum_steps
            ),
            shuffle=True,
            num_workers=config.data.num_workers,
            seed=train_cfg.seed,
            drop_last=True,
            pad_multiple=pad,
            pin_memory=device.type == "cuda",
        )
        precision = resolve_precision(train_cfg.precision, device)
        evaluation = build_eval_job(
            config, annotations, eval_loader(config, eval_set, pad), device=device,
            precision=precision,
        )  # fmt: skip
        ema = ModelEMA(model, train_cfg.ema_decay) if train_cfg.ema_decay is not None else None
        optim = config.optim
        optimizer = build_optimizer(
            model,
            lr=optim.lr,
            weight_decay=optim.weight_decay,
            betas=optim.betas,
            eps=optim.eps,
            module_lrs=optim.module_lrs,
            layer_decay=optim.layer_decay,
            full_decay_prefixes=optim.full_decay_prefixes,
        )
        per_epoch = steps_per_epoch(len(train_loader), train_cfg.grad_accum_steps)
        scheduler = WarmupCosineLR(
            optimizer,
            warmup_steps=optim.warmup_epochs * per_epoch,
            total_steps=train_cfg.epochs * per_epoch,
            min_lr_ratio=optim.min_lr_ratio,
        )
        tensorboard = run_dir / "tensorboard" if train_cfg.tensorboard else None
        with MetricsWriter(
            run_dir / "metrics.jsonl",
            tensorboard_dir=tensorboard,
            enabled=context.is_main and not dry_run,
        ) as metrics:
            trainer = Trainer(
                wrap_model(model, context, fp16_compress=train_cfg.fp16_grad_compression),
                optimizer,
                scheduler,
                train_loader,
                epochs=train_cfg.epochs,
                device=device,
                grad_accum_steps=train_cfg.grad_accum_steps,
                clip_grad_norm=optim.clip_grad_norm,
                ema=ema,
                precision=precision,
                evaluator=None if dry_run else evaluation,
                eval_interval=train_cfg.eval_interval,
                eval_start_epoch=train_cfg.eval_start_epoch,
                eval_use_ema=config.eval.use_ema,
                output_dir=None if dry_run else run_dir,
                checkpoint_interval_steps=train_cfg.checkpoint_interval_steps,
                metrics=metrics,
                log_interval=train_cfg.log_interval,
                config=config_to_dict(config),
                seed=train_cfg.seed,
                progress=train_cfg.progress,
                hooks=hooks,
                batch_transform=build_fidelity_transform(config, model),
            )
            if checkpoint is not None:
                _warn_config_changes(checkpoint.get("config", {}), config_to_dict(config))
                trainer.load_state_dict(checkpoint)
                checkpoint = None  # the trainer holds its own copies
            with explain_faults(config):  # a non-finite loss or out of memory: what to do
                if dry_run:
                    report = measure_dry_run(trainer, evaluation)
                    return TrainResult(run_dir, config, trainer.state, {}, None, None, report)
                state = trainer.fit()
        if context.is_main:
            _save_adapter_checkpoint(run_dir, config, model, ema, state)
        return _finish(run_dir, config, state, trainer.last_metrics, evaluation, context.is_main)
    finally:
        cleanup_distributed()


def _checked_model(config: ExperimentConfig, annotations: Annotations) -> TemporalDetector:
    """The detector, built after the input checks; every problem found goes in one error."""
    problems = (
        check_inputs(config, annotations, progress=config.train.progress)
        if (config.data.check_inputs and is_main_process())
        else []
    )
    problems = all_gather_objects(problems)[0]  # rank 0 checked: every process stops or none
    try:
        model = build_model(config)  # reads and fits the backbone checkpoint
    except CheckpointError as err:
        if not problems:
            raise
        raise DataError(input_problems_message(config, problems, [f"checkpoint: {err}"])) from None
    if problems:
        raise DataError(input_problems_message(config, problems))
    return model


def _save_adapter_checkpoint(
    run_dir: Path,
    config: ExperimentConfig,
    model: TemporalDetector,
    ema: ModelEMA | None,
    state: TrainState,
) -> None:
    """Frames mode: ``checkpoints/adapters.pt``, the weights the strategy trained, no more."""
    backbone = backbone_of(model)
    if backbone is None:
        return
    strategy = get_strategy(config.model.strategy)
    ema_state = None
    if ema is not None:  # the averaged copy has the model's keys
        ema_state = strategy_state_dict(model, backbone, strategy, state=ema.state_dict())
    path = run_dir / "checkpoints" / "adapters.pt"
    weights = strategy_state_dict(model, backbone, strategy)
    payload = {
        "model": weights,
        "ema": ema_state,
        "adapter_only": True,
        "strategy": strategy.name,
        "state": {"epoch": state.epoch, "step": state.step},
        "config": config_to_dict(config),
    }
    save_checkpoint(path, payload)
    saved = sum(t.numel() for t in weights.values())
    logger.info("adapter-only checkpoint: %s (%.2fM values)", path, saved / 1e6)


def _finish(
    run_dir: Path,
    config: ExperimentConfig,
    state: TrainState,
    metrics: dict[str, float],
    evaluation: EvaluationJob,
    is_main: bool,
) -> TrainResult:
    predictions = report = None
    if evaluation.last is not None and is_main:
        detections, result = evaluation.last
        meta = {
            "config": str(run_dir / "config.yaml"),
            "checkpoint": str(run_dir / "checkpoints" / "last.pt"),
            "epoch": state.epoch,
            "ema": config.eval.use_ema and config.train.ema_decay is not None,
            "split": config.data.eval_split,
        }
        predictions, report = write_evaluation(
            run_dir, detections, result, evaluation.class_names, meta, config
        )
    return TrainResult(run_dir, config, state, metrics, predictions, report)


def _warn_config_changes(saved: dict[str, object], current: dict[str, object]) -> None:
    """Log the keys whose values differ between a checkpoint's config and this run's."""

    def flatten(tree: object, prefix: str = "") -> dict[str, object]:
        if isinstance(tree, dict):
            out: dict[str, object] = {}
            for key, value in tree.items():
                out |= flatten(value, f"{prefix}{key}.")
            return out
        return {prefix[:-1]: tree}

    old, new = flatten(saved), flatten(current)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        logger.warning(
            "resuming with a config that differs from the checkpoint's in %s; the result "
            "will not equal an uninterrupted run",
            ", ".join(changed),
        )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt train``."""
    command = " ".join(["tadapt", *map(shlex.quote, sys.argv[1:])]) or "tadapt train"
    result = train_experiment(
        args.config,
        args.overrides,
        out_dir=args.out_dir,
        resume=args.resume,
        command=command,
        dry_run=args.dry_run,
    )
    if not is_main_process():
        return 0  # rank 0 reports
    if result.dry_run is not None:
        print(result.dry_run.summary())
        return 0
    if result.state.skipped_steps:
        print(
            f"the fp16 gradient scaler skipped {result.state.skipped_steps} of "
            f"{result.state.step} optimizer steps (gradient overflow; metrics.jsonl: "
            "skipped_steps)"
        )
    if not result.metrics:
        print(f"trained {result.state.epoch} epochs; run folder {result.run_dir}")
        return 0
    average = 100 * result.metrics["average_mAP"]
    print(
        f"trained {result.state.epoch} epochs ({result.state.step} steps); run in {result.run_dir}"
    )
    print(f"average mAP {average:.2f} % on split {result.config.data.eval_split!r}")
    if result.report is not None:
        print(f"predictions: {result.predictions}\nreport: {result.report}")
    return 0
