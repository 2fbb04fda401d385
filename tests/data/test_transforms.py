"""Clip transforms: layout, one set of random parameters per clip, presets."""

from __future__ import annotations

import colorsys
import math

import pytest
import torch
import torch.nn.functional as F

from tadapt.data.rand_augment import RandAugment
from tadapt.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    ColorJitter,
    Compose,
    MultiScaleCrop,
    Normalize,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ResizeShortSide,
    ToFloatClip,
    _shift_hue,
    eval_transforms,
    train_transforms,
)


def _frames(t: int = 4, h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def _shifted_clip(t: int = 5, h: int = 40, w: int = 60) -> torch.Tensor:
    """Frame ``k`` = a fixed image + 0.01 * k: any per-frame difference in a crop shows."""
    base = torch.rand(3, 1, h, w, generator=torch.Generator().manual_seed(1)) * 0.5
    return base + 0.01 * torch.arange(t, dtype=torch.float32).view(1, t, 1, 1)


def test_to_float_clip_layout_and_range() -> None:
    frames = _frames()
    clip = ToFloatClip()(frames)
    assert clip.shape == (3, 4, 48, 64)
    assert clip.dtype == torch.float32
    assert clip[2, 1, 5, 7].item() == pytest.approx(frames[1, 5, 7, 2].item() / 255)
    with pytest.raises(ValueError, match="uint8"):
        ToFloatClip()(clip)


@pytest.mark.parametrize(("h", "w", "expected"), [(48, 64, (32, 43)), (64, 48, (43, 32))])
def test_resize_short_side(h: int, w: int, expected: tuple[int, int]) -> None:
    clip = ToFloatClip()(_frames(h=h, w=w))
    out = ResizeShortSide(32)(clip)
    assert out.shape == (3, 4, *expected)
    # each frame resized on its own gives the same result
    frame = F.interpolate(clip[:, 2][None], size=expected, mode="bilinear", antialias=True)
    torch.testing.assert_close(out[:, 2], frame[0])
    # a uniform clip stays uniform
    flat = torch.full((3, 2, h, w), 0.3)
    torch.testing.assert_close(ResizeShortSide(32)(flat), torch.full((3, 2, *expected), 0.3))


def test_resize_is_a_no_op_at_the_target_size() -> None:
    clip = ToFloatClip()(_frames(h=32, w=50))
    assert ResizeShortSide(32)(clip) is clip


def test_center_crop_takes_the_middle() -> None:
    clip = ToFloatClip()(_frames(h=48, w=64))
    out = CenterCrop(32)(clip)
    torch.testing.assert_close(out, clip[:, :, 8:40, 16:48])
    with pytest.raises(ValueError, match="resize it first"):
        CenterCrop(50)(clip)


def test_random_resized_crop_is_the_same_for_every_frame() -> None:
    clip = _shifted_clip()
    out = RandomResizedCrop(24)(clip, torch.Generator().manual_seed(3))
    assert out.shape == (3, 5, 24, 24)
    # frames differ by exactly the constant 0.01 per step: same box, same interpolation
    diffs = out[:, 1:] - out[:, :-1]
    torch.testing.assert_close(diffs, torch.full_like(diffs, 0.01), atol=1e-5, rtol=0)


def test_random_resized_crop_boxes_follow_scale_and_ratio() -> None:
    crop = RandomResizedCrop(16, scale=(0.25, 0.5), ratio=(0.75, 4 / 3))
    g = torch.Generator().manual_seed(0)
    areas, ratios = [], []
    for _ in range(300):
        top, left, bh, bw = crop.crop_box(120, 160, g)
        assert top >= 0
        assert top + bh <= 120
        assert left >= 0
        assert left + bw <= 160
        areas.append(bh * bw / (120 * 160))
        ratios.append(bw / bh)
    # rounding the box to whole pixels moves area and ratio by a few percent at most
    assert min(areas) >= 0.23
    assert max(areas) <= 0.52
    assert min(ratios) >= 0.72
    assert max(ratios) <= 1.38
    assert max(areas) - min(areas) > 0.2  # the scale range is explored


def test_random_resized_crop_falls_back_to_a_central_box() -> None:
    # a very wide frame: no box with ratio <= 4/3 and area >= 90 % exists
    crop = RandomResizedCrop(8, scale=(0.9, 1.0))
    top, left, bh, bw = crop.crop_box(10, 100, torch.Generator().manual_seed(0))
    assert (top, bh) == (0, 10)
    assert bw == round(10 * 4 / 3)
    assert left == (100 - bw) // 2


def test_random_resized_crop_is_reproducible() -> None:
    clip = _shifted_clip()
    crop = RandomResizedCrop(16)
    a = crop(clip, torch.Generator().manual_seed(5))
    b = crop(clip, torch.Generator().manual_seed(5))
    c = crop(clip, torch.Generator().manual_seed(6))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_flip_mirrors_all_frames_or_none() -> None:
    clip = _shifted_clip()
    torch.testing.assert_close(RandomHorizontalFlip(1.0)(clip), clip.flip(-1))
    assert RandomHorizontalFlip(0.0)(clip) is clip
    flip = RandomHorizontalFlip(0.5)
    g = torch.Generator().manual_seed(0)
    small = clip[:, :1, :2]
    flipped = sum(not torch.equal(flip(small, g), small) for _ in range(400))
    assert 160 < flipped < 240


def test_color_jitter_brightness_is_one_factor_per_clip() -> None:
    clip = _shifted_clip()  # values in [0, 0.54]: no clamping at factors <= 1.5
    out = ColorJitter(brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0)(
        clip, torch.Generator().manual_seed(2)
    )
    factor = out / clip
    assert factor.min().item() >= 0.5
    assert factor.max().item() <= 1.5
    torch.testing.assert_close(factor, torch.full_like(factor, factor.mean().item()))


def test_color_jitter_keeps_grey_and_flat_frames() -> None:
    grey = torch.rand(1, 3, 8, 8).expand(3, 3, 8, 8).contiguous()  # R = G = B
    jitter = ColorJitter(brightness=0.0, contrast=0.0, saturation=0.8)
    # the luma weights (0.2989, 0.587, 0.114) sum to 0.9999, hence the tolerance
    out = jitter(grey, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, grey, atol=1e-4, rtol=0)
    flat = torch.full((3, 2, 8, 8), 0.4)  # contrast blends with the mean: nothing changes
    out = ColorJitter(brightness=0.0, contrast=0.8, saturation=0.0)(flat, torch.Generator())
    torch.testing.assert_close(out, flat, atol=1e-4, rtol=0)


def test_color_jitter_same_change_for_identical_frames() -> None:
    frame = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    clip = frame.expand(3, 6, 16, 16).contiguous()
    out = ColorJitter()(clip, torch.Generator().manual_seed(9))
    assert not torch.allclose(out, clip)
    for t in range(1, 6):
        torch.testing.assert_close(out[:, t], out[:, 0])
    assert out.min() >= 0.0
    assert out.max() <= 1.0


def test_shift_hue_matches_colorsys() -> None:
    clip = torch.rand(3, 2, 5, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    clip[:, 0, 0, 0] = 0.3  # grey pixel: no hue
    clip[:, 0, 0, 1] = 0.0  # black
    for turns in (0.1, -25 / 180, 0.5):
        out = _shift_hue(clip, turns)
        pixels = clip.permute(1, 2, 3, 0).reshape(-1, 3).tolist()
        expected = []
        for r, g, b in pixels:
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            expected.append(colorsys.hsv_to_rgb((h + turns) % 1.0, s, v))
        reference = torch.tensor(expected, dtype=torch.float64).view(2, 5, 7, 3).permute(3, 0, 1, 2)
        torch.testing.assert_close(out, reference, rtol=0, atol=1e-9)
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1, 1)
    green = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1, 1)
    torch.testing.assert_close(_shift_hue(red, 1 / 3), green)


def test_color_jitter_hue_is_one_mmaction_step_shift_per_clip() -> None:
    frame = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(3))
    clip = frame.expand(3, 4, 12, 12).contiguous()
    jitter = ColorJitter(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.1)
    shifts = set()
    for seed in range(6):
        out = jitter(clip, torch.Generator().manual_seed(seed))
        for t in range(1, 4):
            torch.testing.assert_close(out[:, t], out[:, 0])
        # mmaction: an OpenCV hue offset int(255 h), |h| <= 0.1, in 1/180 turns
        matches = [
            k
            for k in range(-25, 26)
            if torch.allclose(out, _shift_hue(clip, k / 180), atol=1e-5, rtol=0)
        ]
        assert len(matches) == 1, matches
        shifts.add(matches[0])
    assert len(shifts) > 1
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.6)


def test_color_jitter_without_hue_draws_what_it_drew_before() -> None:
    """``hue=0`` draws three factors and a permutation of three, as before hue existed."""
    clip = torch.rand(3, 2, 6, 6, generator=torch.Generator().manual_seed(0)) * 0.5
    out = ColorJitter(hue=0.0)(clip, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    b, c, s = (0.5 + float(torch.rand((), generator=g, dtype=torch.float64)) for _ in range(3))
    expected = clip
    weights = torch.tensor([0.2989, 0.587, 0.114]).view(3, 1, 1, 1)
    for op in torch.randperm(3, generator=g).tolist():
        luma = (expected * weights).sum(0, keepdim=True)
        if op == 0:
            expected = expected * b
        elif op == 1:
            expected = c * expected + (1 - c) * luma.mean(dim=(2, 3), keepdim=True)
        else:
            expected = s * expected + (1 - s) * luma
    torch.testing.assert_close(out, expected.clamp(0, 1))


def test_normalize_uses_imagenet_statistics() -> None:
    clip = torch.rand(3, 2, 4, 4)
    out = Normalize()(clip)
    for c in range(3):
        expected = (clip[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        torch.testing.assert_close(out[c], expected)
    with pytest.raises(ValueError, match="channels"):
        Normalize()(torch.rand(2, 2, 4, 4))


def test_transforms_reject_uint8_frames() -> None:
    with pytest.raises(ValueError, match="ToFloatClip first"):
        CenterCrop(8)(_frames())


def test_train_preset_shape_and_reproducibility() -> None:
    frames = _frames(t=6, h=256, w=340)
    pipeline = train_transforms()
    a = pipeline(frames, torch.Generator().manual_seed(0))
    b = pipeline(frames, torch.Generator().manual_seed(0))
    c = pipeline(frames, torch.Generator().manual_seed(1))
    assert a.shape == (3, 6, 160, 160)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert [type(t).__name__ for t in pipeline.transforms] == [
        "ToFloatClip",
        "ResizeShortSide",
        "RandomResizedCrop",
        "RandomHorizontalFlip",
        "ColorJitter",
        "Normalize",
    ]
    assert pipeline.transforms[4].hue == 0.1  # mmaction's default, AdaTAD's


def test_train_preset_puts_rand_augment_between_flip_and_jitter() -> None:
    """AdaTAD's order: Flip, ImgAug (RandAugment), ColorJitter."""
    augment = RandAugment(2, 9)
    pipeline = train_transforms(224, 256, rand_augment=augment, hue=0.0)
    names = [type(t).__name__ for t in pipeline.transforms]
    assert names[3:6] == ["RandomHorizontalFlip", "RandAugment", "ColorJitter"]
    assert pipeline.transforms[4] is augment
    assert pipeline.transforms[5].hue == 0.0
    out = pipeline(_frames(t=3, h=256, w=340), torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 224, 224)


def test_eval_preset_is_deterministic_centre_crop() -> None:
    frames = _frames(t=3, h=240, w=320)
    out = eval_transforms(160)(frames)
    assert out.shape == (3, 3, 160, 160)
    # independent: resize to 160 x 213, crop columns 26..186, normalise
    clip = frames.permute(3, 0, 1, 2).float() / 255
    resized = F.interpolate(clip.transpose(0, 1), size=(160, 213), mode="bilinear", antialias=True)
    left = (213 - 160) // 2
    expected = resized.transpose(0, 1)[:, :, :, left : left + 160]
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    torch.testing.assert_close(out, (expected - mean) / std)


def test_compose_passes_the_generator() -> None:
    seen: list[torch.Generator | None] = []

    def record(clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        seen.append(generator)
        return clip

    g = torch.Generator()
    Compose([record, record])(torch.zeros(3, 1, 2, 2), g)
    assert seen == [g, g]


def test_random_resized_crop_default_ranges() -> None:
    crop = RandomResizedCrop(160)
    assert crop.scale == (0.08, 1.0)
    assert crop.ratio == pytest.approx((3 / 4, 4 / 3))
    assert math.isclose(crop.ratio[0] * crop.ratio[1], 1.0)


def test_multi_scale_crop_draws_videomae_sizes_and_fixed_positions() -> None:
    # 96 x 128 frames, output 64: sides int(96 * s) for s in 1, .875, .75, .66 = 96, 84, 72,
    # 63 -> 64 (within 3 px of the output); height and width at most one scale apart
    crop = MultiScaleCrop(64)
    sides = [96, 84, 72, 64]
    allowed = {(sides[i], sides[j]) for i in range(4) for j in range(4) if abs(i - j) <= 1}
    generator = torch.Generator().manual_seed(0)
    seen_sizes, seen_positions = set(), set()
    for _ in range(400):
        top, left, h, w = crop.crop_box(96, 128, generator)
        assert (h, w) in allowed
        h_step, w_step = (96 - h) // 4, (128 - w) // 4
        # positions are whole quarter steps: corners, centre, edge centres, quarter points
        k_h = top // h_step if h_step else 0
        k_w = left // w_step if w_step else 0
        assert top == k_h * h_step
        assert left == k_w * w_step
        seen_sizes.add((h, w))
        seen_positions.add((k_w, k_h) if h_step and w_step else None)
    assert seen_sizes == allowed
    assert {p for p in seen_positions if p is not None} == {
        (0, 0), (4, 0), (0, 4), (4, 4), (2, 2), (0, 2), (4, 2), (2, 4), (2, 0),
        (1, 1), (3, 1), (1, 3), (3, 3),
    }  # fmt: skip
    out = crop(ToFloatClip()(_frames(h=96, w=128)), generator)
    assert out.shape == (3, 4, 64, 64)
