"""RandAugment of clips: mmaction's ImgAug op list, one draw per clip, magnitude semantics."""

from __future__ import annotations

import pytest
import torch

from tadapt.data.rand_augment import RAND_AUGMENT_OPS, RandAugment

_GEOMETRIC = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate")


def _clip(t: int = 3, h: int = 20, w: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(3, t, h, w, generator=torch.Generator().manual_seed(seed))


def _same_frames(t: int = 4, h: int = 20, w: int = 24) -> torch.Tensor:
    return _clip(1, h, w, seed=1).expand(3, t, h, w).contiguous()


def test_op_list_is_mmactions_default() -> None:
    assert len(RAND_AUGMENT_OPS) == 15  # imgaug's 14 RandAugment ops + Cutout, no SolarizeAdd
    assert RAND_AUGMENT_OPS[:5] == _GEOMETRIC


@pytest.mark.parametrize("op", RAND_AUGMENT_OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_op_keeps_shape_dtype_and_range_and_treats_frames_alike(
    op: str, dtype: torch.dtype
) -> None:
    clip = _same_frames().to(dtype)
    out = RandAugment(2, 9).apply(op, clip, torch.Generator().manual_seed(0))
    assert out.shape == clip.shape
    assert out.dtype == dtype
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    assert not torch.equal(out, clip)  # every op changes a random image at magnitude 9
    for t in range(1, clip.shape[1]):
        torch.testing.assert_close(out[:, t], out[:, 0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("op", [*_GEOMETRIC, "cutout"])
def test_magnitude_zero_is_the_identity_for_geometric_ops_and_cutout(op: str) -> None:
    clip = _clip()
    assert torch.equal(RandAugment(2, 0).apply(op, clip, torch.Generator()), clip)


def test_call_applies_the_same_draw_to_every_frame_and_is_reproducible() -> None:
    clip = _same_frames()
    augment = RandAugment(2, 9)
    outputs = [augment(clip, torch.Generator().manual_seed(seed)) for seed in range(8)]
    for out in outputs:
        for t in range(1, clip.shape[1]):
            torch.testing.assert_close(out[:, t], out[:, 0], rtol=0, atol=1e-6)
    again = augment(clip, torch.Generator().manual_seed(3))
    assert torch.equal(again, outputs[3])
    assert len({out.sum().item() for out in outputs}) > 4  # different ops per seed


def test_chosen_ops_run_in_list_order() -> None:
    """As imgaug's ``SomeOf`` without ``random_order``: invert, then brighten by 1.72."""
    clip = _clip()
    out = RandAugment(2, 9, ops=("invert", "brightness"))(clip, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, ((1.0 - clip) * 1.72).clamp(0.0, 1.0))
    assert torch.equal(RandAugment(0, 9)(clip, torch.Generator()), clip)


def test_one_op_is_drawn_among_the_list() -> None:
    clip = _clip()
    augment = RandAugment(1, 9, ops=("invert", "brightness"))
    seen = set()
    for seed in range(12):
        out = augment(clip, torch.Generator().manual_seed(seed))
        if torch.equal(out, 1.0 - clip):
            seen.add("invert")
        else:
            torch.testing.assert_close(out, (clip * 1.72).clamp(0.0, 1.0))
            seen.add("brightness")
    assert seen == {"invert", "brightness"}


def test_translate_shifts_whole_pixels_and_fills_black() -> None:
    clip = _clip(w=20)
    # magnitude 5: 0.2 * 0.5 = 10 % of the 20-pixel width, i.e. 2 pixels, either way
    out = RandAugment(1, 5).apply("translate_x", clip, torch.Generator().manual_seed(0))
    left = torch.zeros_like(clip)
    left[..., :-2] = clip[..., 2:]
    right = torch.zeros_like(clip)
    right[..., 2:] = clip[..., :-2]
    assert torch.allclose(out, left, atol=1e-5) or torch.allclose(out, right, atol=1e-5)


def test_posterize_and_solarize_levels() -> None:
    clip = torch.linspace(0, 1, 256).view(1, 1, 16, 16).expand(3, 2, 16, 16).contiguous()
    augment = RandAugment(1, 9)
    posterized = augment.apply("posterize", clip) * 255  # max(1, int(3.6)) = 3 bits kept
    torch.testing.assert_close(
        posterized, torch.floor(clip * 255 / 32 + 1e-4) * 32, atol=1e-3, rtol=0
    )
    solarized = augment.apply("solarize", clip)  # threshold 256 * 0.9 = 230.4
    above = clip * 255 >= 230.4
    torch.testing.assert_close(solarized[above], 1.0 - clip[above])
    torch.testing.assert_close(solarized[~above], clip[~above])


def _pil_equalize(levels: list[int]) -> list[int]:
    """PIL ``ImageOps.equalize`` of one channel, written out."""
    hist = [0] * 256
    for v in levels:
        hist[v] += 1
    used = [h for h in hist if h]
    if len(used) <= 1:
        return levels
    step = (sum(used) - used[-1]) // 255
    if not step:
        return levels
    lut, n = [], step // 2
    for h in hist:
        lut.append(min(255, n // step))
        n += h
    return [lut[v] for v in levels]


def test_equalize_matches_pils_algorithm_per_frame_and_channel() -> None:
    g = torch.Generator().manual_seed(2)
    levels = torch.randint(40, 120, (3, 2, 32, 32), generator=g)  # a low-contrast clip
    clip = levels.double() / 255
    out = (RandAugment(1, 9).apply("equalize", clip) * 255).round().long()
    for c in range(3):
        for t in range(2):
            expected = _pil_equalize(levels[c, t].flatten().tolist())
            assert out[c, t].flatten().tolist() == expected
    assert out.max() > 200  # stretched


def test_autocontrast_stretches_each_frame() -> None:
    clip = _clip() * 0.5 + 0.2
    out = RandAugment(1, 9).apply("autocontrast", clip)
    torch.testing.assert_close(out.amin(dim=(2, 3)), torch.zeros(3, 3))
    torch.testing.assert_close(out.amax(dim=(2, 3)), torch.ones(3, 3))


def test_cutout_fills_one_grey_square_at_the_same_place_in_every_frame() -> None:
    clip = torch.zeros(3, 3, 50, 50)
    out = RandAugment(1, 10).apply("cutout", clip, torch.Generator().manual_seed(1))
    filled = out[0, 0] > 0
    rows, cols = filled.any(dim=1).nonzero(), filled.any(dim=0).nonzero()
    assert int(filled.sum()) == len(rows) * len(cols)  # one rectangle
    assert len(rows) <= 10  # side 0.2 of the frame, fewer where it leaves the frame
    assert len(cols) <= 10
    assert int(filled.sum()) > 0
    torch.testing.assert_close(out[out > 0], torch.full_like(out[out > 0], 128 / 255))
    assert torch.equal(out[:, 1:], out[:, :1].expand(3, 2, 50, 50))


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="magnitude"):
        RandAugment(2, 11)
    with pytest.raises(ValueError, match="num_ops"):
        RandAugment(16, 9)
    with pytest.raises(ValueError, match="unknown ops"):
        RandAugment(1, 9, ops=("blur",))
    with pytest.raises(ValueError, match="ToFloatClip"):
        RandAugment()(torch.zeros(3, 2, 8, 8, dtype=torch.uint8))
