"""``tadapt test PRESET_OR_YAML --checkpoint CKPT [key=value ...]``: evaluate a trained detector.

Builds the detector of the config, loads the checkpoint's weights (its EMA weights when it
has them and ``eval.use_ema`` is true), runs inference on ``data.eval_split`` and writes, in
``--out-dir`` (default: ``test/`` beside the checkpoint's run):

* ``predictions.json``: detections in seconds, ActivityNet results format (readable by
  ``tadapt evaluate`` and the official ActivityNet evaluation);
* ``report.json`` / ``report.txt``: mAP per tIoU threshold and per class, recall.

Pass the run's own ``config.yaml`` (or the same preset and overrides) so that the detector
and the data match the checkpoint; post-processing keys (``eval.postprocess.*``) may change
freely.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from tadapt.adapters import get_strategy, load_strategy_state_dict
from tadapt.cli.experiment import (
    backbone_of,
    build_datasets,
    build_eval_job,
    build_model,
    choose_device,
    eval_loader,
    prepare_experiment,
    save_resolved_config,
    write_evaluation,
)
from tadapt.cli.faults import explain_faults
from tadapt.config import ExperimentConfig
from tadapt.detection import TemporalDetector
from tadapt.engine import load_checkpoint, resolve_precision, seed_everything

__all__ = ["add_parser", "load_adapter_checkpoint", "run"]

logger = logging.getLogger(__name__)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt test``."""
    parser = subparsers.add_parser(
        "test",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="preset name or YAML file (e.g. the run's config.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides")
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="checkpoint (best.pt, last.pt, or the adapter-only adapters.pt)",
    )
    parser.add_argument("--out-dir", type=Path, help="output folder (default: <run>/test)")
    parser.set_defaults(handler=run)


def _default_out_dir(checkpoint: Path) -> Path:
    parent = checkpoint.resolve().parent
    run_dir = parent.parent if parent.name == "checkpoints" else parent
    return run_dir / "test"


def load_adapter_checkpoint(
    model: TemporalDetector,
    config: ExperimentConfig,
    weights: dict[str, torch.Tensor],
    path: Path,
) -> None:
    """Load an adapter-only checkpoint onto the freshly built (pretrained) backbone."""
    backbone = backbone_of(model)
    if backbone is None:
        raise ValueError(f"{path} is an adapter-only checkpoint; the config trains on features")
    spec = config.model.backbone
    assert spec is not None
    if not spec.pretrained and config.model.strategy != "full":
        logger.warning(
            "model.backbone.pretrained is false: the adapters go onto a randomly initialised "
            "backbone, reproducible only with the run's seed (train.seed=%d)",
            config.train.seed,
        )
    try:
        load_strategy_state_dict(model, backbone, get_strategy(config.model.strategy), weights)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt test``."""
    out_dir: Path = args.out_dir if args.out_dir is not None else _default_out_dir(args.checkpoint)
    checkpoint = load_checkpoint(args.checkpoint)
    config, annotations = prepare_experiment(args.config, args.overrides, out_dir)
    device = choose_device(config.train.device)
    use_ema = config.eval.use_ema and checkpoint.get("ema") is not None
    seed_everything(config.train.seed)  # a backbone without pretrained weights: the run's init
    model = build_model(config).to(device)
    weights = checkpoint["ema"] if use_ema else checkpoint["model"]
    if checkpoint.get("adapter_only"):
        load_adapter_checkpoint(model, config, weights, args.checkpoint)
    else:
        try:
            model.load_state_dict(weights)
        except RuntimeError as err:
            raise ValueError(
                f"{args.checkpoint} does not fit the detector built from {args.config}: pass "
                f"the run's config.yaml ({str(err).splitlines()[0]})"
            ) from None
    _, eval_set = build_datasets(config, annotations, train=False)
    job = build_eval_job(
        config,
        annotations,
        eval_loader(config, eval_set, model.encoder.size_divisor),
        device=device,
        precision=resolve_precision(config.train.precision, device),
    )
    with explain_faults(config):
        detections, result = job.run(model)
    save_resolved_config(config, out_dir / "config.yaml", f"tadapt test {args.config}")
    state = checkpoint.get("state", {})
    meta = {
        "checkpoint": str(args.checkpoint),
        "epoch": state.get("epoch"),
        "ema": use_ema,
        "split": config.data.eval_split,
    }
    predictions, report = write_evaluation(
        out_dir, detections, result, job.class_names, meta, config
    )
    print(result.format_table())
    print(f"predictions: {predictions}\nreport: {report}")
    return 0
