"""RandAugment for video clips in plain torch: the same ops and magnitudes on every frame.

RandAugment (Cubuk et al., 2020) applies ``num_ops`` operations drawn from a fixed list, each
at one global ``magnitude``. The op list and the magnitude-to-parameter rules here are
mmaction2's ``ImgAug(transforms="default")`` (``ImgAug.default_transforms`` in
``mmaction/datasets/transforms/wrappers.py``), which AdaTAD's training pipelines use with 2 ops
at magnitude 9 of 10: imgaug's ``SomeOf(2, [...])`` of fifteen augmenters, frozen per clip
(``to_deterministic``) so every frame gets the same change. With ``level = magnitude / 10``:

=================  ===========================================================
op                 parameter
=================  ===========================================================
``shear_x/y``      shear of ``17.19 * level`` degrees, random sign
``translate_x/y``  shift of ``0.2 * level`` of the width / height, random sign
``rotate``         ``30 * level`` degrees, random sign
``posterize``      keep ``max(1, int(4 * level))`` bits of each 8-bit value
``solarize``       invert the values ``>= 256 * level`` (8-bit units)
``color``          saturation factor ``1.8 * level + 0.1`` (PIL ``ImageEnhance``)
``contrast``       contrast factor ``1.8 * level + 0.1``, per-frame mean luma
``brightness``     brightness factor ``1.8 * level + 0.1``
``sharpness``      sharpness factor ``1.8 * level + 0.1`` (PIL's smoothing kernel)
``autocontrast``   stretch each frame's channels to the full range
``equalize``       PIL's histogram equalisation of each frame's channels
``invert``         ``1 - x``
``cutout``         one square of side ``0.2 * level`` of the frame, filled grey
=================  ===========================================================

Geometric ops fill the uncovered area with black, as imgaug's defaults. The chosen ops run in
list order (imgaug ``SomeOf`` without ``random_order``). Per-frame statistics (contrast mean,
autocontrast and equalisation ranges) are computed per frame, as mmaction applies the frozen
augmenter frame by frame. One deliberate difference: mmaction draws the sign of the shear,
translation and rotation once, when the pipeline is built, so one run only ever shears one
way; here the sign is drawn per clip, as RandAugment intends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["RAND_AUGMENT_OPS", "RandAugment"]

RAND_AUGMENT_OPS: tuple[str, ...] = (
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
    "rotate",
    "posterize",
    "solarize",
    "color",
    "contrast",
    "brightness",
    "sharpness",
    "autocontrast",
    "equalize",
    "invert",
    "cutout",
)
"""mmaction's ``ImgAug`` default op list, in its order."""

# PIL's ImageOps / ImageEnhance "L" conversion weights (ITU-R 601-2 luma)
_PIL_LUMA = (0.299, 0.587, 0.114)
# imgaug Cutout's default fill value (cval=128 of 255)
_CUTOUT_FILL = 128.0 / 255.0


def _random_sign(generator: torch.Generator | None) -> float:
    return 1.0 if float(torch.rand((), generator=generator)) < 0.5 else -1.0


def _warp(clip: torch.Tensor, theta: list[list[float]]) -> torch.Tensor:
    """Affine warp of every frame of ``(C, T, H, W)``; ``theta`` maps output to input coords.

    Coordinates are normalised to ``[-1, 1]`` (``F.affine_grid``); outside the frame is black.
    """
    if theta == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]:  # magnitude 0: exactly the identity
        return clip
    frames = clip.transpose(0, 1)  # (T, C, H, W): frames as a batch
    t = frames.shape[0]
    matrix = torch.tensor(theta, dtype=frames.dtype, device=frames.device).expand(t, 2, 3)
    grid = F.affine_grid(matrix, list(frames.shape), align_corners=False)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.transpose(0, 1).contiguous()


def _luma(clip: torch.Tensor) -> torch.Tensor:
    """``(1, T, H, W)`` luma of an RGB clip."""
    return (clip * clip.new_tensor(_PIL_LUMA).view(3, 1, 1, 1)).sum(0, keepdim=True)


def _blend(degenerate: torch.Tensor, clip: torch.Tensor, factor: float) -> torch.Tensor:
    """PIL ``ImageEnhance``: ``degenerate + factor * (clip - degenerate)``, clamped."""
    return (degenerate + factor * (clip - degenerate)).clamp(0.0, 1.0)


def _to_levels(clip: torch.Tensor) -> torch.Tensor:
    """8-bit levels ``0..255`` (int64) of a ``[0, 1]`` clip."""
    return (clip.clamp(0.0, 1.0) * 255.0).round().long()


def _sharpness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    frames = clip.transpose(0, 1)  # (T, C, H, W)
    c = frames.shape[1]
    # PIL ImageFilter.SMOOTH: [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13; borders stay unfiltered
    kernel = frames.new_ones(3, 3)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(c, 1, 3, 3)
    smooth = frames.clone()
    if frames.shape[2] > 2 and frames.shape[3] > 2:
        smooth[:, :, 1:-1, 1:-1] = F.conv2d(frames, kernel, groups=c)
    return _blend(smooth, frames, factor).transpose(0, 1).contiguous()


def _autocontrast(clip: torch.Tensor) -> torch.Tensor:
    low = clip.amin(dim=(2, 3), keepdim=True)  # (C, T, 1, 1): per frame and channel
    high = clip.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (clip - low) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, stretched, clip)


def _equalize(clip: torch.Tensor) -> torch.Tensor:
    """PIL ``ImageOps.equalize`` of each frame's channels, on 8-bit levels."""
    c, t, h, w = clip.shape
    levels = _to_levels(clip).view(c * t, h * w)
    hist = torch.zeros(c * t, 256, dtype=torch.long, device=clip.device)
    hist.scatter_add_(1, levels, torch.ones_like(levels))
    bins = torch.arange(256, device=clip.device).expand_as(hist)
    last = torch.where(hist > 0, bins, torch.full_like(bins, -1)).amax(dim=1, keepdim=True)
    step = (hist.sum(dim=1, keepdim=True) - hist.gather(1, last)) // 255
    before = hist.cumsum(dim=1) - hist  # pixels in lower bins
    lut = ((before + step // 2) // step.clamp_min(1)).clamp(max=255)
    lut = torch.where(step > 0, lut, bins)  # PIL: one level only -> unchanged
    return (lut.gather(1, levels).to(clip.dtype) / 255.0).view(c, t, h, w)


class RandAugment:
    """``num_ops`` ops of :data:`RAND_AUGMENT_OPS` at ``magnitude``, one draw per clip.

    Args:
        num_ops: ops applied to each clip, distinct, in list order (AdaTAD / mmaction: 2).
        magnitude: strength in ``[0, max_magnitude]`` (AdaTAD / mmaction: 9). At 0 the
            geometric ops and cutout are the identity; the colour ops are not (posterize
            keeps 1 bit, solarize inverts everything, the enhancements use factor 0.1), as
            in the source.
        max_magnitude: the magnitude of ``level = 1`` (mmaction: 10).
        ops: the op list (default: all of :data:`RAND_AUGMENT_OPS`).
    """

    def __init__(
        self,
        num_ops: int = 2,
        magnitude: float = 9.0,
        *,
        max_magnitude: float = 10.0,
        ops: Sequence[str] = RAND_AUGMENT_OPS,
    ) -> None:
        unknown = sorted(set(ops) - set(RAND_AUGMENT_OPS))
        if unknown:
            raise ValueError(f"RandAugment: unknown ops {unknown}; known: {RAND_AUGMENT_OPS}")
        if not 0 <= num_ops <= len(ops):
            raise ValueError(f"RandAugment num_ops must be in [0, {len(ops)}], got {num_ops}")
        if not 0.0 <= magnitude <= max_magnitude:
            raise ValueError(
                f"RandAugment magnitude must be in [0, {max_magnitude}], got {magnitude}"
            )
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.max_magnitude = max_magnitude
        self.ops = tuple(ops)

    def __repr__(self) -> str:
        """Name, op count and magnitude."""
        return f"RandAugment(num_ops={self.num_ops}, magnitude={self.magnitude})"

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Augment one float clip ``(3, T, H, W)`` in ``[0, 1]``; same shape and dtype."""
        if clip.dim() != 4 or not clip.is_floating_point() or clip.shape[0] != 3:
            raise ValueError(
                f"RandAugment expects a float RGB clip (3, T, H, W); got {clip.dtype} "
                f"{tuple(clip.shape)} (put ToFloatClip first)"
            )
        picks = torch.randperm(len(self.ops), generator=generator)[: self.num_ops]
        for index in sorted(picks.tolist()):  # imgaug SomeOf keeps the list order
            clip = self.apply(self.ops[index], clip, generator)
        return clip

    def apply(
        self, op: str, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Apply one named op at this magnitude to every frame of ``clip`` ``(3, T, H, W)``."""
        level = self.magnitude / self.max_magnitude
        h, w = clip.shape[2], clip.shape[3]
        factor = 1.8 * level + 0.1  # mmaction's Enhance* factors
        if op in ("shear_x", "shear_y"):
            shear = math.tan(math.radians(17.19 * level)) * _random_sign(generator)
            # pixel shear x += s * y in normalised coordinates: scaled by the aspect ratio
            if op == "shear_x":
                return _warp(clip, [[1.0, shear * h / w, 0.0], [0.0, 1.0, 0.0]])
            return _warp(clip, [[1.0, 0.0, 0.0], [shear * w / h, 1.0, 0.0]])
        if op in ("translate_x", "translate_y"):
            shift = 2.0 * 0.2 * level * _random_sign(generator)  # [-1, 1] spans the frame: 2
            dx, dy = (shift, 0.0) if op == "translate_x" else (0.0, shift)
            return _warp(clip, [[1.0, 0.0, dx], [0.0, 1.0, dy]])
        if op == "rotate":
            angle = math.radians(30.0 * level) * _random_sign(generator)
            cos, sin = math.cos(angle), math.sin(angle)
            return _warp(clip, [[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]])
        if op == "posterize":
            drop = 1 << (8 - max(1, int(4 * level)))  # 8-bit steps of the kept bits
            return (_to_levels(clip) // drop * drop).to(clip.dtype) / 255.0
        if op == "solarize":
            return torch.where(clip * 255.0 >= 256.0 * level, 1.0 - clip, clip)
        if op == "color":
            return _blend(_luma(clip), clip, factor)
        if op == "contrast":
            return _blend(_luma(clip).mean(dim=(2, 3), keepdim=True), clip, factor)
        if op == "brightness":
            return _blend(torch.zeros_like(clip), clip, factor)
        if op == "sharpness":
            return _sharpness(clip, factor)
        if op == "autocontrast":
            return _autocontrast(clip)
        if op == "equalize":
            return _equalize(clip)
        if op == "invert":
            return 1.0 - clip
        if op == "cutout":
            return self._cutout(clip, level, generator)
        raise ValueError(f"RandAugment: unknown op {op!r}; known: {RAND_AUGMENT_OPS}")

    @staticmethod
    def _cutout(
        clip: torch.Tensor, level: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        h, w = clip.shape[2], clip.shape[3]
        box_h, box_w = 0.2 * level * h, 0.2 * level * w  # imgaug squared: one fraction
        cy = float(torch.rand((), generator=generator)) * h
        cx = float(torch.rand((), generator=generator)) * w
        top, bottom = max(0, round(cy - box_h / 2)), min(h, round(cy + box_h / 2))
        left, right = max(0, round(cx - box_w / 2)), min(w, round(cx + box_w / 2))
        if bottom <= top or right <= left:
            return clip
        out = clip.clone()
        out[:, :, top:bottom, left:right] = _CUTOUT_FILL
        return out
