"""A run's numerical faults in the words of its configuration: which key to change, which file.

The engine reports a non-finite loss (:class:`~tadapt.engine.numerics.NonFiniteLossError`) and
running out of memory (:class:`~tadapt.engine.numerics.DeviceMemoryError`) without knowing
the configuration; :func:`explain_faults` adds what only the configuration knows: the input
file of a video whose features are NaN, the ``optim.*`` / ``train.*`` keys that stop a
divergence, and the keys that reduce memory for this run (:func:`memory_hints`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tadapt.adapters import get_strategy
from tadapt.config import ExperimentConfig
from tadapt.data.files import DataError, find_files
from tadapt.engine.numerics import DeviceMemoryError, NonFiniteLossError

__all__ = ["divergence_advice", "explain_faults", "input_files", "memory_hints"]

# strategies that backpropagate through no backbone block (side networks), cheapest first
_SIDE_STRATEGIES = ("tia_side", "losa")


@contextmanager
def explain_faults(config: ExperimentConfig) -> Iterator[None]:
    """Re-raise the engine's numerical faults with the advice of ``config``.

    Raises:
        NonFiniteLossError: naming the input files of non-finite inputs and the keys to change.
        DeviceMemoryError: with :func:`memory_hints` (unless it already has hints).
    """
    try:
        yield
    except NonFiniteLossError as err:
        files = input_files(config, err.report.bad_inputs)
        raise err.with_context(input_files=files, advice=divergence_advice(config)) from err
    except DeviceMemoryError as err:
        if err.hints:
            raise
        raise err.with_hints(memory_hints(config, training=err.phase == "training")) from err


def divergence_advice(config: ExperimentConfig) -> str:
    """The settings that stop a loss from diverging, with their current values."""
    optim, precision = config.optim, config.train.precision
    parts = [f"lower optim.lr (now {optim.lr:g}; e.g. optim.lr={optim.lr / 10:g})"]
    if optim.clip_grad_norm is None:
        parts.append("clip the gradient norm with optim.clip_grad_norm=1.0 (now null)")
    else:
        parts.append(
            f"clip harder with a smaller optim.clip_grad_norm (now {optim.clip_grad_norm:g})"
        )
    if optim.warmup_epochs == 0:
        parts.append("warm the learning rate up with optim.warmup_epochs=1 (now 0)")
    if precision in ("fp16", "amp"):
        parts.append(f"train.precision=bf16 or fp32 (now {precision}; fp16 overflows first)")
    elif precision == "bf16":
        parts.append("train.precision=fp32 (now bf16)")
    return "; ".join(parts[:-1]) + f"; or {parts[-1]}"


def input_files(config: ExperimentConfig, video_ids: Iterable[str]) -> dict[str, str]:
    """Video id -> the feature file (or video) the run reads it from, for those found."""
    ids = list(video_ids)
    data = config.data
    if not ids:
        return {}
    exts: tuple[str, ...]
    if data.feature_dir is not None:
        folder, exts = data.feature_dir, (data.file_ext,)
    elif data.video_dir is not None:
        folder, exts = data.video_dir, data.video_exts
    else:
        return {}
    try:
        found, _ = find_files(folder, ids, exts=exts, prefix=data.file_prefix)
    except DataError:  # the folder went away since training started: name the videos only
        return {}
    return {vid: str(path) for vid, path in found.items()}


def memory_hints(config: ExperimentConfig, *, training: bool) -> list[str]:
    """Settings that reduce the memory of training (or evaluation), with their current values."""
    data, model, train = config.data, config.model, config.train
    hints: list[str] = []
    if training:
        micro = train.batch_size // train.grad_accum_steps
        if micro > 1 and micro % 2 == 0:
            hints.append(
                f"train.grad_accum_steps={2 * train.grad_accum_steps} (now "
                f"{train.grad_accum_steps}): half the samples per forward pass, the same batch "
                "per optimizer step"
            )
        if train.batch_size > 1:
            hints.append(f"train.batch_size={train.batch_size // 2} (now {train.batch_size})")
        what = "the length every video is resized to" if data.resize else "the training window"
        hints.append(f"data.max_seq_len={data.max_seq_len // 2} (now {data.max_seq_len}): {what}")
    else:
        if config.eval.batch_size > 1:
            hints.append(
                f"eval.batch_size={config.eval.batch_size // 2} (now {config.eval.batch_size})"
            )
        if data.eval_window is not None:
            hints.append(f"data.eval_window={data.eval_window // 2} (now {data.eval_window})")
        elif model.backbone is None and not data.resize:
            hints.append(
                f"data.eval_window={data.max_seq_len} (now null: every video whole): sliding "
                "windows"
            )
        elif model.backbone is not None:
            hints.append(
                f"data.eval_window={data.max_seq_len // 2} (now null: data.max_seq_len, "
                f"{data.max_seq_len})"
            )
    if train.precision == "fp32":
        hints.append("train.precision=bf16 (now fp32): half-size activations")
    if model.backbone is not None:
        hints += _backbone_hints(config, training=training)
    return hints


def _backbone_hints(config: ExperimentConfig, *, training: bool) -> list[str]:
    """Frames mode: the backbone's share (checkpointing, strategy, chunks, LoFi, frame size)."""
    model, backbone = config.model, config.model.backbone
    assert backbone is not None
    strategy = get_strategy(model.strategy)
    hints: list[str] = []
    if training and not strategy.no_grad:
        if not backbone.grad_checkpointing:
            hints.append("model.backbone.grad_checkpointing=true (now false)")
        hints.append(
            f"model.strategy={' or '.join(_SIDE_STRATEGIES)} (now {model.strategy}): side "
            "networks, no backward pass through the backbone"
        )
    if strategy.no_grad and backbone.clips_per_pass is None:
        hints.append("model.backbone.clips_per_pass=4 (now null: every 16-frame chunk at once)")
    if training and config.train.fidelity is None:
        hints.append(
            "train.fidelity.mode=cyclic (LoFi: low-fidelity training batches, docs/lofi.md; "
            "or `tadapt lofi`)"
        )
    hints.append(f"a smaller data.image_size (now {config.data.image_size})")
    return hints
