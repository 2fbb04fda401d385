"""Clip transforms in plain torch: one set of random parameters for every frame of a clip.

A decoder returns ``uint8`` frames ``(T, H, W, C)``; :class:`ToFloatClip` turns them into the
layout every other transform and the backbone use, **float** ``(C, T, H, W)`` with values in
``[0, 1]`` (until :class:`Normalize`). Spatial transforms run ``F.interpolate`` on the ``T``
frames as a batch, so the whole clip moves together: a random crop, flip or colour change is
drawn once per call and applied to all frames, as temporal models need.

Every transform is a callable ``transform(clip, generator=None) -> clip``; the generator is the
only source of randomness, so a dataset that seeds one per item gets reproducible epochs
regardless of worker count. No torchvision (it cannot be installed beside this torch build).

Presets follow AdaTAD's configs (``configs/adatad/thumos/e2e_thumos_videomae_*_160_adapter.py``,
built on mmaction transforms): :func:`train_transforms` and :func:`eval_transforms`; mmaction's
``ImgAug("default")`` is :class:`~tadapt.data.rand_augment.RandAugment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from tadapt.data.rand_augment import RandAugment

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CenterCrop",
    "ClipTransform",
    "ColorJitter",
    "Compose",
    "MultiScaleCrop",
    "Normalize",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "ResizeShortSide",
    "ToFloatClip",
    "eval_transforms",
    "train_transforms",
]

# ImageNet statistics in [0, 1] units, as VideoMAE's preprocessing uses them.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# ITU-R 601 luma weights, as mmaction's and torchvision's rgb_to_grayscale.
_LUMA = (0.2989, 0.587, 0.114)


class ClipTransform(Protocol):
    """A transform of a clip; ``generator`` is its only source of randomness."""

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Transform ``clip``, drawing any random parameter from ``generator``."""
        ...


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _check_clip(clip: torch.Tensor, name: str) -> tuple[int, int]:
    if clip.dim() != 4 or not clip.is_floating_point():
        raise ValueError(
            f"{name} expects a float clip (C, T, H, W); got {clip.dtype} {tuple(clip.shape)} "
            "(put ToFloatClip first)"
        )
    return int(clip.shape[2]), int(clip.shape[3])


def _resize(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(C, T, H, W)`` to ``(C, T, *size)``, antialiased when shrinking."""
    if tuple(clip.shape[2:]) == size:
        return clip
    frames = clip.transpose(0, 1)  # (T, C, H, W): frames as a batch
    shrink = size[0] < clip.shape[2] or size[1] < clip.shape[3]
    out = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.transpose(0, 1).contiguous()


class ToFloatClip:
    """``uint8`` frames ``(T, H, W, C)`` -> float32 clip ``(C, T, H, W)`` in ``[0, 1]``."""

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Convert one clip (``generator`` is unused)."""
        if clip.dim() != 4 or clip.dtype != torch.uint8:
            raise ValueError(
                f"ToFloatClip expects uint8 frames (T, H, W, C); got {clip.dtype} "
                f"{tuple(clip.shape)}"
            )
        return clip.permute(3, 0, 1, 2).to(torch.float32).div_(255.0)


class ResizeShortSide:
    """Resize so that the shorter side is ``size``, keeping the aspect ratio.

    Args:
        size: target length of the shorter side in pixels.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ResizeShortSide size must be >= 1, got {size}")
        self.size = size

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Resize one clip (``generator`` is unused)."""
        h, w = _check_clip(clip, "ResizeShortSide")
        if h <= w:
            target = (self.size, max(1, round(w * self.size / h)))
        else:
            target = (max(1, round(h * self.size / w)), self.size)
        return _resize(clip, target)


class CenterCrop:
    """Crop the central ``size x size`` region (pads nothing: the clip must be large enough).

    Args:
        size: output height and width.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"CenterCrop size must be >= 1, got {size}")
        self.size = size

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Crop one clip (``generator`` is unused)."""
        h, w = _check_clip(clip, "CenterCrop")
        if h < self.size or w < self.size:
            raise ValueError(f"CenterCrop({self.size}) of a {h}x{w} clip: resize it first")
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return clip[:, :, top : top + self.size, left : left + self.size]


class RandomResizedCrop:
    """Crop a random area and aspect ratio, then resize to ``size x size``.

    The sampling is torchvision's and mmaction's: up to 10 tries of an area fraction uniform in
    ``scale`` and an aspect ratio (w / h) log-uniform in ``ratio``, accepting the first box that
    fits; otherwise the largest central box whose ratio is clamped into ``ratio``.

    Args:
        size: output height and width.
        scale: range of the crop's area as a fraction of the frame (default ``(0.08, 1.0)``,
            torchvision's and mmaction's default, which AdaTAD uses).
        ratio: range of the crop's aspect ratio (default ``(3/4, 4/3)``, the same source).
    """

    def __init__(
        self,
        size: int,
        *,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
    ) -> None:
        if size < 1:
            raise ValueError(f"RandomResizedCrop size must be >= 1, got {size}")
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"RandomResizedCrop scale must be 0 < low <= high <= 1, got {scale}")
        if not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomResizedCrop ratio must be 0 < low <= high, got {ratio}")
        self.size = size
        self.scale = scale
        self.ratio = ratio

    def crop_box(
        self, height: int, width: int, generator: torch.Generator | None = None
    ) -> tuple[int, int, int, int]:
        """A random box ``(top, left, box_height, box_width)`` inside a ``height x width`` frame."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * _uniform(self.scale[0], self.scale[1], generator)
            aspect = math.exp(_uniform(log_lo, log_hi, generator))
            bw = round(math.sqrt(target * aspect))
            bh = round(math.sqrt(target / aspect))
            if 0 < bw <= width and 0 < bh <= height:
                top = int(torch.randint(0, height - bh + 1, (1,), generator=generator))
                left = int(torch.randint(0, width - bw + 1, (1,), generator=generator))
                return top, left, bh, bw
        # fallback: the whole frame, cut to the nearest allowed aspect ratio, centred
        bh, bw = height, width
        if width / height < self.ratio[0]:
            bh = round(width / self.ratio[0])
        elif width / height > self.ratio[1]:
            bw = round(height * self.ratio[1])
        return (height - bh) // 2, (width - bw) // 2, bh, bw

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Crop and resize one clip; one box for all frames."""
        h, w = _check_clip(clip, "RandomResizedCrop")
        top, left, bh, bw = self.crop_box(h, w, generator)
        return _resize(clip[:, :, top : top + bh, left : left + bw], (self.size, self.size))


class MultiScaleCrop:
    """VideoMAE's pretraining crop: a corner/centre crop of a random scale, resized to ``size``.

    As ``GroupMultiScaleCrop`` of OpenGVLab/VideoMAEv2 ``dataset/transforms.py`` (from TSN):
    side lengths are ``int(short_side * s)`` for ``s`` in ``scales`` (snapped to ``size`` when
    within 3 px), height and width scales at most ``max_distort`` apart in that list, and the
    crop sits at one of 13 fixed positions (corners, centre, edge centres, quarter points).

    Args:
        size: output side in pixels (square).
        scales: crop sides as fractions of the short side.
        max_distort: how many entries of ``scales`` height and width may differ by.
    """

    def __init__(
        self, size: int, scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66), max_distort: int = 1
    ) -> None:
        if size < 1 or not scales or any(not 0 < s <= 1 for s in scales) or max_distort < 0:
            raise ValueError(
                f"MultiScaleCrop needs size >= 1, scales in (0, 1], max_distort >= 0; got "
                f"{size}, {scales}, {max_distort}"
            )
        self.size = size
        self.scales = tuple(scales)
        self.max_distort = max_distort

    def crop_box(
        self, height: int, width: int, generator: torch.Generator | None = None
    ) -> tuple[int, int, int, int]:
        """``(top, left, crop_h, crop_w)`` for a frame of ``height x width``."""
        sides = [int(min(height, width) * s) for s in self.scales]
        sides = [self.size if abs(side - self.size) < 3 else side for side in sides]
        pairs = [
            (h, w)
            for i, h in enumerate(sides)
            for j, w in enumerate(sides)
            if abs(i - j) <= self.max_distort
        ]
        crop_h, crop_w = pairs[int(torch.randint(len(pairs), (1,), generator=generator))]
        crop_h, crop_w = min(crop_h, height), min(crop_w, width)
        h_step, w_step = (height - crop_h) // 4, (width - crop_w) // 4
        # (w, h) quarter steps: corners, centre, edge centres, quarter points
        grid = (
            *((0, 0), (4, 0), (0, 4), (4, 4), (2, 2)),
            *((0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)),
        )
        w_k, h_k = grid[int(torch.randint(len(grid), (1,), generator=generator))]
        return h_k * h_step, w_k * w_step, crop_h, crop_w

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Crop and resize one clip ``(C, T, H, W)`` -> ``(C, T, size, size)``."""
        height, width = _check_clip(clip, "MultiScaleCrop")
        top, left, crop_h, crop_w = self.crop_box(height, width, generator)
        return _resize(clip[:, :, top : top + crop_h, left : left + crop_w], (self.size,) * 2)


class RandomHorizontalFlip:
    """Mirror the whole clip left-right with probability ``p``.

    Args:
        p: flip probability (AdaTAD / mmaction ``Flip``: 0.5).
    """

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip p must be in [0, 1], got {p}")
        self.p = p

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Flip one clip, or return it unchanged."""
        _check_clip(clip, "RandomHorizontalFlip")
        if _uniform(0.0, 1.0, generator) < self.p:
            return clip.flip(-1)
        return clip


def _shift_hue(clip: torch.Tensor, turns: float) -> torch.Tensor:
    """Rotate the hue of an RGB clip ``(3, T, H, W)`` in ``[0, 1]`` by ``turns`` of a circle."""
    value, _ = clip.max(dim=0)  # (T, H, W)
    delta = value - clip.min(dim=0).values
    saturation = torch.where(value > 0, delta / value.clamp_min(1e-12), torch.zeros_like(value))
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    r, g, b = ((value - channel) / safe for channel in clip)  # distance to the max, in deltas
    hue = torch.where(
        value == clip[0], b - g, torch.where(value == clip[1], 2.0 + r - b, 4.0 + g - r)
    )
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    hue = torch.remainder(hue + turns, 1.0) * 6.0  # sector coordinate in [0, 6)
    sector = hue.floor()
    frac = hue - sector
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * frac)
    t = value * (1.0 - saturation * (1.0 - frac))
    # (R, G, B) of each of the six sectors
    table = torch.stack(
        [
            torch.stack([value, q, p, p, t, value]),
            torch.stack([t, value, value, q, p, p]),
            torch.stack([p, p, t, value, value, q]),
        ]
    )  # (3, 6, T, H, W)
    index = sector.long().clamp(0, 5).expand(3, 1, *sector.shape)
    return table.gather(1, index).squeeze(1)


class ColorJitter:
    """Random brightness, contrast, saturation and hue, one draw per clip, in random order.

    Factors are uniform in ``[max(0, 1 - x), 1 + x]``. Brightness scales the values, contrast
    blends each frame with its mean luma, saturation blends each pixel with its luma
    (mmaction's ``ColorJitter`` formulas); the result is clamped to ``[0, 1]``. Hue draws
    ``h`` uniform in ``[-hue, hue]`` and, as mmaction does through OpenCV's 180-step hue
    channel, rotates the hue by ``int(255 * h) / 180`` of a turn (after clamping to
    ``[0, 1]``; mmaction also rounds to 8 bits there, which is not reproduced). mmaction fixes
    the order of the operations once per run; here it is drawn per clip.

    Args:
        brightness: brightness jitter (mmaction default, used by AdaTAD: 0.5).
        contrast: contrast jitter (same default: 0.5).
        saturation: saturation jitter (same default: 0.5).
        hue: hue jitter in ``[0, 0.5]`` (mmaction default, used by AdaTAD: 0.1; 0: no hue
            change and no hue draw, so the random stream is that of the other three).
    """

    def __init__(
        self,
        brightness: float = 0.5,
        contrast: float = 0.5,
        saturation: float = 0.5,
        hue: float = 0.1,
    ):
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if value < 0:
                raise ValueError(f"ColorJitter {name} must be >= 0, got {value}")
        if not 0.0 <= hue <= 0.5:
            raise ValueError(f"ColorJitter hue must be in [0, 0.5], got {hue}")
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Jitter one clip ``(C, T, H, W)`` with ``C == 3`` (RGB)."""
        _check_clip(clip, "ColorJitter")
        if clip.shape[0] != 3:
            raise ValueError(f"ColorJitter expects RGB (C == 3), got C = {clip.shape[0]}")
        factors = [
            _uniform(max(0.0, 1.0 - x), 1.0 + x, generator)
            for x in (self.brightness, self.contrast, self.saturation)
        ]
        if self.hue > 0:
            # mmaction: OpenCV hue offset int(h * 255) in steps of 1/180 of a turn
            factors.append(math.trunc(_uniform(-self.hue, self.hue, generator) * 255) / 180)
        order = torch.randperm(len(factors), generator=generator).tolist()
        weights = clip.new_tensor(_LUMA).view(3, 1, 1, 1)
        for op in order:
            factor = factors[op]
            if op == 3:
                if factor != 0.0:
                    clip = _shift_hue(clip.clamp(0.0, 1.0), factor)
                continue
            if factor == 1.0:
                continue
            if op == 0:
                clip = clip * factor
            else:
                luma = (clip * weights).sum(0, keepdim=True)  # (1, T, H, W)
                # contrast: per-frame mean luma; saturation: per-pixel luma
                grey = luma.mean(dim=(2, 3), keepdim=True) if op == 1 else luma
                clip = factor * clip + (1.0 - factor) * grey
        return clip.clamp(0.0, 1.0)


class Normalize:
    """Subtract ``mean`` and divide by ``std`` per channel (values in ``[0, 1]`` units).

    Args:
        mean: per-channel mean (default: ImageNet).
        std: per-channel standard deviation (default: ImageNet).
    """

    def __init__(
        self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"Normalize needs equally long mean/std with std > 0: {mean}, {std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Normalise one clip (``generator`` is unused)."""
        _check_clip(clip, "Normalize")
        if clip.shape[0] != len(self.mean):
            raise ValueError(f"Normalize has {len(self.mean)} channels, clip has {clip.shape[0]}")
        mean = clip.new_tensor(self.mean).view(-1, 1, 1, 1)
        std = clip.new_tensor(self.std).view(-1, 1, 1, 1)
        return (clip - mean) / std


class Compose:
    """Apply transforms in order, passing each the same generator.

    Args:
        transforms: the transforms, first applied first.
    """

    def __init__(self, transforms: Sequence[ClipTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(
        self, clip: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Run the pipeline on one clip."""
        for transform in self.transforms:
            clip = transform(clip, generator)
        return clip


def train_transforms(
    crop_size: int = 160,
    short_side: int = 182,
    *,
    flip_p: float = 0.5,
    rand_augment: RandAugment | None = None,
    jitter: bool = True,
    hue: float = 0.1,
) -> Compose:
    """AdaTAD's training pipeline: short side -> crop -> flip -> RandAugment -> jitter -> norm.

    Args:
        crop_size: output size (AdaTAD: 160, or 224 with ``short_side=256``).
        short_side: shorter side before cropping (AdaTAD: 182 for 160 px, 256 for 224 px).
        flip_p: horizontal flip probability (AdaTAD: 0.5).
        rand_augment: mmaction's ``ImgAug("default")`` in AdaTAD's configs
            (``RandAugment(2, 9)``); ``None``: skipped.
        jitter: apply :class:`ColorJitter` with mmaction's defaults (AdaTAD does).
        hue: the jitter's hue range (mmaction's default, AdaTAD's: 0.1; 0: none).
    """
    steps: list[ClipTransform] = [
        ToFloatClip(),
        ResizeShortSide(short_side),
        RandomResizedCrop(crop_size),
        RandomHorizontalFlip(flip_p),
    ]
    if rand_augment is not None:
        steps.append(rand_augment)
    if jitter:
        steps.append(ColorJitter(hue=hue))
    steps.append(Normalize())
    return Compose(steps)


def eval_transforms(size: int = 160) -> Compose:
    """AdaTAD's test pipeline: short side to ``size``, centre crop ``size``, normalise."""
    return Compose([ToFloatClip(), ResizeShortSide(size), CenterCrop(size), Normalize()])
