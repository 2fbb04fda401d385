"""LoFi's low-fidelity training schedule: which reduced resolution each training batch sees.

Xu et al., "Low-Fidelity Video Encoder Optimization for Temporal Action Localization"
(NeurIPS 2021), stage 2: the video encoder and the detection head train end to end on
mini-batches reduced in time (``r_t``: keep every ``r_t``-th frame) and/or space (``r_s``:
``H / r_s x W / r_s`` pixels), with ``r_t * r_s**2`` held at a fixed *budget* so that the
memory per video, and therefore the batch size, stays constant. Full fidelity is never used
in this stage; stage 3 (features extracted at full fidelity, head retrained) lives elsewhere.

* :class:`FidelityLevel`: one ``(r_t, r_s)`` pair and its cost relative to full fidelity.
* :class:`FidelitySchedule`: S-, T-, ST- or cyclic (C-) LoFi; :meth:`FidelitySchedule.level_at`
  is a pure function of ``(epoch, optimizer step)``, so a resumed run sees the same levels.
* :func:`apply_fidelity`: a collated :class:`~tadapt.structures.VideoBatch` at a level, with
  its masks, ground truth and grid stride moved to the reduced frame grid.
* :class:`FidelityTransform`: the two bound together as the trainer's ``batch_transform``.

Temporal reduction drops whole *snippets* by default, as the paper does (its T-LoFi encodes
``L / r_t`` snippets instead of ``L``, each still a run of consecutive frames): a snippet is
the run of frames behind one detector step, and every ``r_t``-th one is kept, so the
backbone still sees motion at the native frame rate and the head sees ``r_t`` times fewer
positions. ``snippet_frames=1`` keeps every ``r_t``-th *frame* instead (each chunk then spans
``r_t`` times more time), a declared option. Either way the grid stays uniform: ground truth
maps exactly onto snippet centres and seconds stay exact (stride ``* r_t``, offset shifted by
``(r_t - 1)(S - 1) / 2`` steps for snippets of ``S`` frames). ``r_t`` is an integer: a
fractional one would need resampling; the paper's settings (4 and 2) are whole.

The budget is checked on what the backbone really gets (:func:`level_reduction`): a reduced
side is rounded to whole patches, so a level's true cost, in tokens, can miss ``r_t * r_s**2``
(patch 14 at 160 px: 3.36 for ``r_s = 2``); :meth:`FidelitySchedule.check_frame_size` refuses
such a schedule and names frame sizes at which every level keeps the budget.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

import torch
import torch.nn.functional as F

from tadapt.structures import Segments, VideoBatch

__all__ = [
    "MODES",
    "FidelityError",
    "FidelityLevel",
    "FidelitySchedule",
    "FidelityTransform",
    "apply_fidelity",
    "level_reduction",
    "parse_levels",
    "reduced_frame_size",
]

logger = logging.getLogger(__name__)

Mode = Literal["spatial", "temporal", "spatiotemporal", "cyclic"]
Every = Literal["epoch", "batch"]

MODES: tuple[Mode, ...] = ("spatial", "temporal", "spatiotemporal", "cyclic")
"""The schedule modes, in the paper's order (S-, T-, ST-, C-LoFi)."""

# names users type (config strings), normalised to lower case with "_" -> "-"
_ALIASES: dict[str, Mode] = {
    "s": "spatial",
    "s-lofi": "spatial",
    "spatial": "spatial",
    "t": "temporal",
    "t-lofi": "temporal",
    "temporal": "temporal",
    "st": "spatiotemporal",
    "st-lofi": "spatiotemporal",
    "spatio-temporal": "spatiotemporal",
    "spatiotemporal": "spatiotemporal",
    "c": "cyclic",
    "c-lofi": "cyclic",
    "cyclic": "cyclic",
}


class FidelityError(ValueError):
    """A fidelity level or schedule that cannot be used (the message says how to fix it)."""


@dataclass(frozen=True)
class FidelityLevel:
    """A reduced fidelity: every ``temporal``-th frame, frames ``1 / spatial`` as wide and high.

    Attributes:
        temporal: ``r_t >= 1``, a whole number of frames (see the module docstring).
        spatial: ``r_s >= 1``, the factor dividing height and width.

    Raises:
        FidelityError: a factor below 1, not finite, or a fractional ``temporal``.
    """

    temporal: float = 1.0
    spatial: float = 1.0

    def __post_init__(self) -> None:
        r_t, r_s = float(self.temporal), float(self.spatial)
        if not (math.isfinite(r_t) and r_t >= 1 and r_t.is_integer()):
            raise FidelityError(
                f"fidelity level {self}: temporal reduction r_t must be a whole number >= 1 "
                f"(every r_t-th frame is kept), got {self.temporal}"
            )
        if not (math.isfinite(r_s) and r_s >= 1):
            raise FidelityError(
                f"fidelity level {self}: spatial reduction r_s must be >= 1, got {self.spatial}"
            )

    @property
    def reduction(self) -> float:
        """``r_t * r_s**2``: how many times fewer pixels (and tokens) than full fidelity."""
        return float(self.temporal) * float(self.spatial) ** 2

    @property
    def cost(self) -> float:
        """``1 / (r_t * r_s**2)``: pixels per video relative to full fidelity."""
        return 1.0 / self.reduction

    @property
    def frame_step(self) -> int:
        """``r_t`` as the integer step between kept frames."""
        return int(self.temporal)

    @property
    def is_full(self) -> bool:
        """Whether this is full fidelity ``(1, 1)``."""
        return self.frame_step == 1 and float(self.spatial) == 1.0

    @classmethod
    def parse(cls, text: str) -> FidelityLevel:
        """A level from ``"<r_t>x<r_s>"``, e.g. ``"4x1"``, ``"1x2"``, ``"2x1.4142"``.

        Raises:
            FidelityError: the text is not two numbers joined by ``x``.
        """
        parts = text.strip().lower().split("x")
        try:
            r_t, r_s = (float(p) for p in parts)
        except ValueError:
            raise FidelityError(
                f"fidelity level {text!r}: expected '<r_t>x<r_s>' such as '4x1' or '2x1.4142'"
            ) from None
        return cls(r_t, r_s)

    def __str__(self) -> str:
        return f"{float(self.temporal):g}x{float(self.spatial):g}"


def parse_levels(text: str) -> tuple[FidelityLevel, ...]:
    """Levels from a comma-separated config string, e.g. ``"1x2,4x1,2x1.4142"``."""
    return tuple(FidelityLevel.parse(part) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class FidelitySchedule:
    """Which :class:`FidelityLevel` each training batch uses (the paper's stage 2).

    Modes, with the default levels derived from ``budget`` (``B``, paper: 4):

    * ``spatial`` (S-LoFi): ``r_s = sqrt(B)`` (paper: 2, 224 -> 112 px);
    * ``temporal`` (T-LoFi): ``r_t = B`` (paper: 4), ``B`` a whole number;
    * ``spatiotemporal`` (ST-LoFi): ``r_t`` the whole number nearest ``sqrt(B)``,
      ``r_s = sqrt(B / r_t)`` (paper: ``r_t = 2, r_s = sqrt(2)``);
    * ``cyclic`` (C-LoFi): the three above in the paper's order I-III (S, T, ST), switching
      every epoch (``every="epoch"``, the paper's default long cycle) or every
      ``cycle_batches`` optimizer steps (``every="batch"``, the short cycle).

    Args:
        mode: one of the four modes (see :meth:`from_name` for the names users type).
        budget: ``r_t * r_s**2`` of every level, ``> 1``.
        every: when the cyclic mode switches level.
        cycle_batches: optimizer steps per level when ``every="batch"``.
        levels: replaces the derived levels (the cycle for ``cyclic``, exactly one level
            otherwise); each must meet the budget. Empty: derived.
        tolerance: relative deviation of a level's ``r_t * r_s**2`` from the budget allowed.

    Attributes:
        levels: after construction, the levels in use (derived or given).

    Raises:
        FidelityError: an unknown mode or ``every``, a budget ``<= 1``, a level off the budget
            (naming it), or a level that does not fit the mode.
    """

    mode: Mode = "cyclic"
    budget: float = 4.0  # LoFi: r_t * r_s^2 = 4 in every setting (2^2 = 4 = 2 * sqrt(2)^2)
    every: Every = "epoch"  # LoFi paper: long cycle, c_l = 1 epoch, is the default
    cycle_batches: int = 16  # LoFi paper: short cycle c_s = 16 batches
    levels: tuple[FidelityLevel, ...] = ()
    tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FidelityError(f"LoFi mode must be one of {MODES}, got {self.mode!r}")
        if self.every not in ("epoch", "batch"):
            raise FidelityError(f"LoFi 'every' must be 'epoch' or 'batch', got {self.every!r}")
        if not (math.isfinite(self.budget) and self.budget > 1):
            raise FidelityError(
                f"LoFi budget r_t * r_s^2 must be > 1 (the paper uses 4), got {self.budget}"
            )
        if self.cycle_batches < 1:
            raise FidelityError(f"LoFi cycle_batches must be >= 1, got {self.cycle_batches}")
        if not 0 <= self.tolerance < 1:
            raise FidelityError(f"LoFi tolerance must be in [0, 1), got {self.tolerance}")
        levels = tuple(self.levels) if self.levels else self._derived_levels()
        self._check_levels(levels)
        object.__setattr__(self, "levels", levels)  # frozen: resolved once, here

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        budget: float = 4.0,
        every: str = "epoch",
        cycle_batches: int = 16,
        levels: str | Sequence[FidelityLevel | Sequence[float]] = (),
        tolerance: float = 0.05,
    ) -> FidelitySchedule:
        """A schedule from config values.

        Args:
            name: ``spatial`` / ``s`` / ``s-lofi``, ``temporal`` / ``t`` / ``t-lofi``,
                ``spatiotemporal`` / ``st`` / ``st-lofi``, ``cyclic`` / ``c`` / ``c-lofi``
                (case-insensitive, ``_`` or ``-``).
            budget: see :class:`FidelitySchedule`.
            every: ``"epoch"`` or ``"batch"``.
            cycle_batches: see :class:`FidelitySchedule`.
            levels: custom levels as ``"1x2,4x1"`` (see :func:`parse_levels`), or a sequence
                of levels or ``(r_t, r_s)`` pairs.
            tolerance: see :class:`FidelitySchedule`.

        Raises:
            FidelityError: an unknown name, or any error of the constructor.
        """
        key = name.strip().lower().replace("_", "-")
        if key not in _ALIASES:
            raise FidelityError(
                f"unknown LoFi mode {name!r}; choose one of {sorted(set(_ALIASES))}"
            )
        if isinstance(levels, str):
            resolved = parse_levels(levels)
        else:
            resolved = tuple(
                lv if isinstance(lv, FidelityLevel) else FidelityLevel(*lv) for lv in levels
            )
        return cls(
            mode=_ALIASES[key],
            budget=budget,
            every=cast(Every, every),
            cycle_batches=cycle_batches,
            levels=resolved,
            tolerance=tolerance,
        )

    def level_at(self, epoch: int, step: int) -> FidelityLevel:
        """The level of optimizer step ``step`` of epoch ``epoch``; pure, so resumes are exact.

        Args:
            epoch: 0-based epoch.
            step: 0-based optimizer step counted over the whole run (not within the epoch).

        Raises:
            ValueError: a negative epoch or step.
        """
        if epoch < 0 or step < 0:
            raise ValueError(f"epoch and step must be >= 0, got {epoch} and {step}")
        position = epoch if self.every == "epoch" else step // self.cycle_batches
        return self.levels[position % len(self.levels)]

    def _derived_levels(self) -> tuple[FidelityLevel, ...]:
        budget = self.budget
        spatial = FidelityLevel(1, math.sqrt(budget))
        if self.mode == "spatial":
            return (spatial,)
        if not float(budget).is_integer():
            raise FidelityError(
                f"LoFi {self.mode} keeps every r_t-th frame, so r_t = budget must be a whole "
                f"number; got budget {budget}. Use a whole budget or pass levels"
            )
        temporal = FidelityLevel(budget, 1)
        if self.mode == "temporal":
            return (temporal,)
        r_t = round(math.sqrt(budget))
        if r_t < 2:
            raise FidelityError(
                f"LoFi budget {budget} is too small to split between time and space with a "
                "whole frame step (needs >= 2.25 for r_t = 2); pass levels or use 'spatial'"
            )
        spatiotemporal = FidelityLevel(r_t, math.sqrt(budget / r_t))
        if self.mode == "spatiotemporal":
            return (spatiotemporal,)
        return (spatial, temporal, spatiotemporal)  # the paper's cycle: I, II, III

    def _check_levels(self, levels: tuple[FidelityLevel, ...]) -> None:
        if self.mode != "cyclic" and len(levels) != 1:
            raise FidelityError(
                f"LoFi mode {self.mode!r} uses one level, got {len(levels)}: "
                f"{', '.join(map(str, levels))} (cycling through levels is mode 'cyclic')"
            )
        for level in levels:
            if abs(level.reduction - self.budget) > self.tolerance * self.budget:
                raise FidelityError(
                    f"fidelity level {level} (r_t={float(level.temporal):g}, "
                    f"r_s={float(level.spatial):g}) has r_t * r_s^2 = {level.reduction:.4g}, "
                    f"off the budget {self.budget:g} by more than {self.tolerance:.0%}; every "
                    "level must keep the memory per video of the others"
                )
            if self.mode == "spatial" and level.frame_step != 1:
                raise FidelityError(f"S-LoFi level {level} must keep every frame (r_t = 1)")
            if self.mode == "temporal" and float(level.spatial) != 1.0:
                raise FidelityError(f"T-LoFi level {level} must keep the resolution (r_s = 1)")

    def check_frame_size(self, height: int, width: int, patch_size: int) -> None:
        """Check every level's real cost at this frame size, after rounding to whole patches.

        Args:
            height: full-fidelity frame height in pixels (the training crop).
            width: full-fidelity frame width.
            patch_size: the backbone's spatial patch size.

        Raises:
            FidelityError: a level whose token reduction (:func:`level_reduction`) misses the
                budget by more than ``tolerance``; the message names the level, the sizes and
                the nearest square frame sizes at which every level fits.
        """
        for level in self.levels:
            if self._fits(level, height, width, patch_size):
                continue
            real = level_reduction(level, height, width, patch_size)
            size = reduced_frame_size(height, width, level, patch_size)
            sizes = self._fitting_sizes(max(height, width), patch_size)
            hint = (
                f"frame sizes at which every level fits: {', '.join(map(str, sizes))} px"
                if sizes
                else "no nearby frame size fits every level"
            )
            raise FidelityError(
                f"fidelity level {level} at {height} x {width} px with patch {patch_size} gives "
                f"{size[0]} x {size[1]} px after rounding to whole patches, so r_t times the "
                f"drop in tokens is {real:.3g}, off the budget {self.budget:g} by more than "
                f"{self.tolerance:.0%}; {hint} (or give levels, or a larger tolerance)"
            )

    def _fitting_sizes(self, size: int, patch_size: int, count: int = 3) -> list[int]:
        """The ``count`` square sizes nearest ``size`` (whole patches) where every level fits."""
        candidates = range(patch_size, 3 * size + 1, patch_size)
        fits = [
            side
            for side in candidates
            if all(self._fits(level, side, side, patch_size) for level in self.levels)
        ]
        return sorted(sorted(fits, key=lambda side: abs(side - size))[:count])

    def _fits(self, level: FidelityLevel, height: int, width: int, patch_size: int) -> bool:
        """Whether ``level``'s real reduction at this frame size is within the tolerance."""
        real = level_reduction(level, height, width, patch_size)
        return abs(real - self.budget) <= self.tolerance * self.budget


def _reduced_size(size: int, spatial: float, patch_size: int) -> int:
    """``round(size / r_s)`` rounded to the nearest multiple of the patch, at least one patch."""
    return max(patch_size, round(round(size / spatial) / patch_size) * patch_size)


def reduced_frame_size(
    height: int, width: int, level: FidelityLevel, patch_size: int
) -> tuple[int, int]:
    """The frame size :func:`apply_fidelity` gives ``height x width`` frames at ``level``."""
    if float(level.spatial) == 1.0:
        return height, width
    r_s = float(level.spatial)
    return _reduced_size(height, r_s, patch_size), _reduced_size(width, r_s, patch_size)


def level_reduction(level: FidelityLevel, height: int, width: int, patch_size: int) -> float:
    """A level's real reduction: ``r_t`` times the drop in ``patch_size`` tokens per frame.

    The patch embedding keeps ``floor(H / p) x floor(W / p)`` tokens, so this is the factor by
    which the ViT's tokens, hence its memory, shrink; it equals ``r_t * r_s**2`` only when
    the reduced side is exactly ``H / r_s`` whole patches.

    Raises:
        FidelityError: frames smaller than one patch.
    """
    if height < patch_size or width < patch_size:
        raise FidelityError(
            f"{height} x {width} px frames are smaller than one {patch_size}-px patch"
        )
    small_h, small_w = reduced_frame_size(height, width, level, patch_size)
    full_tokens = (height // patch_size) * (width // patch_size)
    tokens = (small_h // patch_size) * (small_w // patch_size)
    return level.frame_step * full_tokens / tokens


def _drop_snippets(
    tensor: torch.Tensor, step: int, snippet_frames: int, pad_value: float | bool
) -> torch.Tensor:
    """Keep snippets ``0, step, 2 step, ...`` of ``snippet_frames`` steps along dim 2 / dim 1.

    ``tensor`` is ``(B, C, T, ...)`` inputs or ``(B, T)`` masks; ``T`` is first padded with
    ``pad_value`` to whole snippets.
    """
    dim = 1 if tensor.dim() == 2 else 2
    length = tensor.shape[dim]
    extra = -length % snippet_frames
    if extra:
        # pad T only: F.pad lists (left, right) pairs from the last dimension backwards
        pad = (0, 0) * (tensor.dim() - dim - 1) + (0, extra)
        tensor = F.pad(tensor, pad, value=pad_value)
    shape = tensor.shape
    # (..., T, ...) -> (..., T / S, S, ...): snippets, then every step-th snippet
    snippets = tensor.reshape(*shape[:dim], -1, snippet_frames, *shape[dim + 1 :])
    kept = snippets[(slice(None),) * dim + (slice(None, None, step),)]
    return kept.reshape(*shape[:dim], -1, *shape[dim + 1 :])


def apply_fidelity(
    batch: VideoBatch,
    level: FidelityLevel,
    *,
    patch_size: int,
    chunk_frames: int,
    snippet_frames: int = 1,
) -> VideoBatch:
    """``batch`` at a reduced fidelity, ground truth and grid moved with it.

    Temporal (``r_t > 1``): the grid is cut into snippets of ``S = snippet_frames``
    consecutive steps and snippets ``0, r_t, 2 r_t, ...`` are kept (``S = 1``: every
    ``r_t``-th frame), ``T -> ceil(T / (S r_t)) * S``, then zero-padded (masked out) to a
    multiple of ``chunk_frames``. The new grid is uniform with ``r_t`` times the stride:
    new position ``x`` is old position ``r_t x - (r_t - 1)(S - 1) / 2``, exact at every
    snippet's centre. So the masks are kept alike, segments become
    ``(idx + (r_t - 1)(S - 1) / 2) / r_t``, ``grid_stride_sec`` is multiplied by ``r_t``,
    ``grid_offset_sec`` moves back by ``(r_t - 1)(S - 1) / 2`` old steps, and
    ``temporal_reduction`` is multiplied by ``r_t``; predictions map to the same seconds.

    Spatial (``r_s > 1``): ``H x W -> H' x W'`` with ``H' = round(H / r_s)`` rounded to the
    nearest multiple of ``patch_size`` (at least one patch; the patch embedding would drop
    the rest), bilinear with antialiasing (as :mod:`tadapt.data.transforms` shrinks frames).
    The grid and the ground truth do not change.

    Args:
        batch: ``(B, C, T, H, W)`` frames (``(B, C, T)`` features accept only ``r_s = 1``).
        level: the fidelity; ``(1, 1)`` returns ``batch`` itself.
        patch_size: the backbone's spatial patch size.
        chunk_frames: the backbone's frames per chunk (1 for features).
        snippet_frames: grid steps dropped or kept together (LoFi drops whole snippets: the
            frames of one detector step; 1 drops single frames).

    Returns:
        A new batch; video ids, labels, offsets and durations are shared with ``batch``.

    Raises:
        ValueError: ``patch_size``, ``chunk_frames`` or ``snippet_frames`` below 1, or a
            spatial reduction of inputs that are not frames.
    """
    if min(patch_size, chunk_frames, snippet_frames) < 1:
        raise ValueError(
            f"patch_size, chunk_frames and snippet_frames must be >= 1, got {patch_size}, "
            f"{chunk_frames}, {snippet_frames}"
        )
    if level.is_full:
        return batch
    inputs, masks, segments = batch.inputs, batch.masks, batch.segments
    stride_sec, offset_sec = batch.grid_stride_sec, batch.grid_offset_sec
    step = level.frame_step
    if step > 1:
        inputs = _drop_snippets(inputs, step, snippet_frames, 0.0)  # (B, C, T', ...)
        masks = _drop_snippets(masks, step, snippet_frames, False)  # (B, T')
        extra = -inputs.shape[2] % chunk_frames
        inputs = F.pad(inputs, (0, 0) * (inputs.dim() - 3) + (0, extra))
        masks = F.pad(masks, (0, extra), value=False)
        shift = (step - 1) * (snippet_frames - 1) / 2  # old steps from snippet start to centre
        segments = [Segments((s.tensor + shift) / step, "idx") for s in segments]
        offset_sec = offset_sec - shift * stride_sec
        stride_sec = stride_sec * step
    if float(level.spatial) > 1:
        if inputs.dim() != 5:
            raise ValueError(
                f"a spatial reduction (r_s = {float(level.spatial):g}) needs frames "
                f"(B, C, T, H, W), got inputs of shape {tuple(inputs.shape)}"
            )
        height, width = inputs.shape[-2:]
        inputs = _resize_frames(inputs, reduced_frame_size(height, width, level, patch_size))
    return VideoBatch(
        video_ids=batch.video_ids,
        inputs=inputs.contiguous(),
        masks=masks,
        segments=segments,
        labels=batch.labels,
        grid_stride_sec=stride_sec,
        grid_offset_sec=offset_sec,
        durations_sec=batch.durations_sec,
        temporal_reduction=batch.temporal_reduction * step,
    )


def _resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, C, T, *size)``, bilinear, antialiased when shrinking."""
    if tuple(frames.shape[-2:]) == size:
        return frames
    batch, chans, steps, height, width = frames.shape
    # (B, C, T, H, W) -> (B * T, C, H, W): every frame of every video as one image batch
    images = frames.transpose(1, 2).reshape(batch * steps, chans, height, width)
    shrink = size[0] < height or size[1] < width
    images = F.interpolate(
        images, size=size, mode="bilinear", align_corners=False, antialias=shrink
    )
    return images.reshape(batch, steps, chans, *size).transpose(1, 2)


class FidelityTransform:
    """A :class:`FidelitySchedule` as the trainer's ``batch_transform``.

    Called as ``transform(batch, epoch, step)`` on every training batch (never on evaluation
    batches); ``describe(epoch, step)`` gives the ``r_t`` / ``r_s`` fields of the training
    record.

    Args:
        schedule: the levels over training.
        patch_size: the backbone's spatial patch size.
        chunk_frames: the backbone's frames per chunk.
        snippet_frames: grid steps dropped or kept together by a temporal reduction (see
            :func:`apply_fidelity`).
        frame_size: ``(H, W)`` of the training frames: when given, every level's real cost
            is checked against the budget (:meth:`FidelitySchedule.check_frame_size`).

    Raises:
        FidelityError: a level off the budget at ``frame_size``.
    """

    def __init__(
        self,
        schedule: FidelitySchedule,
        *,
        patch_size: int,
        chunk_frames: int,
        snippet_frames: int = 1,
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        if frame_size is not None:
            schedule.check_frame_size(*frame_size, patch_size)
        self.schedule = schedule
        self.patch_size = patch_size
        self.chunk_frames = chunk_frames
        self.snippet_frames = snippet_frames
        self._last: FidelityLevel | None = None  # only to log level changes

    def __call__(self, batch: VideoBatch, epoch: int, step: int) -> VideoBatch:
        """``batch`` at the schedule's level for ``(epoch, step)``."""
        level = self.schedule.level_at(epoch, step)
        if level != self._last:
            logger.info(
                "LoFi: epoch %d, step %d: r_t=%g, r_s=%g (%.3g of full fidelity's pixels)",
                epoch,
                step,
                float(level.temporal),
                float(level.spatial),
                level.cost,
            )
            self._last = level
        return apply_fidelity(
            batch,
            level,
            patch_size=self.patch_size,
            chunk_frames=self.chunk_frames,
            snippet_frames=self.snippet_frames,
        )

    def describe(self, epoch: int, step: int) -> Mapping[str, float]:
        """``{"r_t": ..., "r_s": ...}`` of the level at ``(epoch, step)``."""
        level = self.schedule.level_at(epoch, step)
        return {"r_t": float(level.temporal), "r_s": float(level.spatial)}
