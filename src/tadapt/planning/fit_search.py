"""What fits: the nearest settings whose predicted training peak is within a memory budget.

:func:`candidate_changes` lists single changes of a config that cut training memory, each as
the ``KEY=VALUE`` overrides a user adds to the command line, from the least intrusive
(checkpointing, bf16, gradient accumulation: the same model and data) to the most (another
strategy, fewer frames, smaller frames, LoFi batches). :func:`find_fits` tries each, then pairs
of changes of different kinds, with a prediction function, and keeps those that fit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tadapt.config.schema import ExperimentConfig

__all__ = ["Change", "Fit", "candidate_changes", "find_fits"]

# strategies that backpropagate through the backbone, which checkpointing makes cheaper
_THROUGH_BACKBONE = ("full", "adapter", "lora", "tia")
# cheaper strategies to suggest instead of each, nearest first (AdaTAD's side variant and LoSA
# keep the backbone out of the backward pass; frozen trains the head only)
_CHEAPER: dict[str, tuple[str, ...]] = {
    "full": ("tia", "tia_side", "losa", "frozen"),
    "adapter": ("tia_side", "losa", "frozen"),
    "lora": ("tia_side", "losa", "frozen"),
    "tia": ("tia_side", "losa", "frozen"),
    "tia_side": ("losa", "frozen"),
    "losa": ("frozen",),
}
_SIZES = (224, 192, 160, 128, 112, 96, 64)  # image sizes to step down through


@dataclass(frozen=True)
class Change:
    """One way to cut memory.

    Attributes:
        kind: what it changes (``checkpointing``, ``precision``, ``accumulation``,
            ``strategy``, ``frames``, ``size``, ``lofi``); a suggestion combines at most one
            change of each kind.
        overrides: the ``KEY=VALUE`` overrides that make it.
        description: what it does, for people.
    """

    kind: str
    overrides: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Fit:
    """Changes whose predicted peak fits the budget.

    Attributes:
        changes: one or two :class:`Change`.
        peak_bytes: the predicted peak with them.
    """

    changes: tuple[Change, ...]
    peak_bytes: int

    @property
    def overrides(self) -> tuple[str, ...]:
        """Every change's overrides, in order."""
        return tuple(item for change in self.changes for item in change.overrides)


def candidate_changes(config: ExperimentConfig, per_device_batch: int) -> list[Change]:
    """Single changes that cut a config's training memory, least intrusive first.

    Args:
        config: a loaded config in frames mode or features mode (features mode: only the
            precision and the batch can change).
        per_device_batch: the windows one device processes per forward pass.
    """
    changes: list[Change] = []
    backbone = config.model.backbone
    strategy = config.model.strategy
    train = config.train
    if backbone is not None and strategy in _THROUGH_BACKBONE and not backbone.grad_checkpointing:
        changes.append(
            Change(
                "checkpointing",
                ("model.backbone.grad_checkpointing=true",),
                "checkpoint every block (recompute it in the backward pass)",
            )
        )
    if train.precision == "fp32":
        changes.append(
            Change("precision", ("train.precision=bf16",), "bf16 autocast (Ampere or newer)")
        )
    if per_device_batch > 1:
        steps = 2 * train.grad_accum_steps
        changes.append(
            Change(
                "accumulation",
                (f"train.grad_accum_steps={steps}",),
                f"half the windows per forward pass, same optimizer batch ({steps} passes a step)",
            )
        )
    if backbone is None:
        return changes
    for cheaper in _CHEAPER.get(strategy, ()):
        changes.append(Change("strategy", (f"model.strategy={cheaper}",), f"strategy {cheaper}"))
    frames = config.data.max_seq_len
    chunk = 16  # VideoMAE's chunk length: a window must stay a whole number of chunks
    if frames // 2 >= chunk and (frames // 2) % chunk == 0:
        overrides = [f"data.max_seq_len={frames // 2}"]
        model_steps = config.model.max_seq_len
        if model_steps is not None and model_steps % 2 == 0:  # the features scale with the frames
            overrides.append(f"model.max_seq_len={model_steps // 2}")
        window = config.data.eval_window
        if window is not None and window > frames // 2:  # test windows the head can take
            overrides.append(f"data.eval_window={frames // 2}")
        changes.append(
            Change("frames", tuple(overrides), f"{frames // 2} frames per window (half)")
        )
    for size in _SIZES:
        if size < config.data.image_size:
            changes.append(Change("size", (f"data.image_size={size}",), f"{size} px frames"))
            break
    if train.fidelity is None:
        for mode, what in (("temporal", "4x fewer snippets"), ("spatial", "half the side")):
            changes.append(
                Change(
                    "lofi",
                    (f"train.fidelity.mode={mode}",),
                    f"LoFi {mode} batches ({what}; full fidelity at test time)",
                )
            )
    return changes


def find_fits(
    changes: Sequence[Change],
    predict: Callable[[Sequence[str]], int | None],
    budget_bytes: int,
    *,
    limit: int = 5,
) -> list[Fit]:
    """The nearest ways to fit ``budget_bytes``: single changes, else pairs of different kinds.

    Args:
        changes: from :func:`candidate_changes`, least intrusive first.
        predict: predicted peak bytes with extra overrides; ``None`` when the overrides make
            an invalid config (that candidate is skipped).
        budget_bytes: what the device may use.
        limit: at most this many fits.

    Returns:
        Fits in the order of ``changes`` (singles before pairs), at most ``limit``.
    """
    fits: list[Fit] = []
    for size in (1, 2):
        for combo in itertools.combinations(changes, size):
            if len({change.kind for change in combo}) < size:
                continue
            overrides = [item for change in combo for item in change.overrides]
            peak = predict(overrides)
            if peak is not None and peak <= budget_bytes:
                fits.append(Fit(combo, peak))
                if len(fits) == limit:
                    return fits
        if fits:
            return fits
    return fits
