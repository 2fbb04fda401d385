"""LoFi schedules (levels per epoch / per batch, budget rule) and batches at reduced fidelity."""

from __future__ import annotations

import math

import pytest
import torch

from tadapt.engine import (
    FidelityError,
    FidelityLevel,
    FidelitySchedule,
    FidelityTransform,
    apply_fidelity,
    level_reduction,
    parse_levels,
    reduced_frame_size,
)
from tadapt.structures import Segments, VideoSample, collate_samples

S_LOFI = FidelityLevel(1, 2.0)
T_LOFI = FidelityLevel(4, 1.0)
ST_LOFI = FidelityLevel(2, math.sqrt(2.0))


# ---- levels ---------------------------------------------------------------------------------


def test_level_cost_and_parsing():
    assert FidelityLevel().is_full
    assert FidelityLevel().cost == 1.0
    assert S_LOFI.cost == T_LOFI.cost == 0.25
    assert ST_LOFI.reduction == pytest.approx(4.0)
    assert FidelityLevel.parse(" 2X1.5 ") == FidelityLevel(2, 1.5)
    assert parse_levels("1x2, 4x1,") == (S_LOFI, T_LOFI)
    assert str(FidelityLevel(4.0, 1.0)) == "4x1"
    with pytest.raises(FidelityError, match="expected '<r_t>x<r_s>'"):
        FidelityLevel.parse("4")
    with pytest.raises(FidelityError, match="whole number"):
        FidelityLevel(1.5, 1.0)
    with pytest.raises(FidelityError, match="r_s must be >= 1"):
        FidelityLevel(1, 0.5)
    with pytest.raises(FidelityError, match="r_t must be"):
        FidelityLevel(0, 1)


# ---- schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level"),
    [("spatial", S_LOFI), ("T-LoFi", T_LOFI), ("st_lofi", ST_LOFI), ("ST", ST_LOFI)],
)
def test_single_modes_use_one_level_everywhere(name, level):
    schedule = FidelitySchedule.from_name(name)
    assert len(schedule.levels) == 1
    got = schedule.levels[0]
    assert (got.temporal, got.spatial) == pytest.approx((level.temporal, level.spatial))
    for epoch, step in [(0, 0), (3, 17), (11, 500)]:
        assert schedule.level_at(epoch, step) == got


def test_cyclic_per_epoch_is_the_paper_long_cycle():
    schedule = FidelitySchedule.from_name("c-lofi")  # defaults: budget 4, every epoch
    assert schedule.every == "epoch"
    s, t, st = schedule.levels
    assert (s, t) == (S_LOFI, T_LOFI)
    assert st.frame_step == 2
    assert st.spatial == pytest.approx(math.sqrt(2))
    # the optimizer step does not matter, the epoch does: I, II, III, I, ...
    got = [schedule.level_at(epoch, 7 * epoch + 3) for epoch in range(7)]
    assert got == [s, t, st, s, t, st, s]
    assert schedule.level_at(1, 0) == schedule.level_at(1, 999) == t


def test_cyclic_per_batch_switches_every_cycle_batches_across_epochs():
    schedule = FidelitySchedule.from_name("cyclic", every="batch")  # paper short cycle 16
    s, t, st = schedule.levels
    got = [schedule.level_at(step // 10, step) for step in range(64)]  # 10 steps per epoch
    assert got == [s] * 16 + [t] * 16 + [st] * 16 + [s] * 16
    short = FidelitySchedule("cyclic", every="batch", cycle_batches=2)
    assert [short.level_at(0, step) for step in range(7)] == [s, s, t, t, st, st, s]
    # pure: a later call for an earlier position gives the earlier answer (exact resume)
    assert short.level_at(5, 2) == t
    with pytest.raises(ValueError, match=">= 0"):
        short.level_at(0, -1)


def test_budget_derives_the_levels_and_every_level_keeps_it():
    nine = FidelitySchedule("cyclic", budget=9)
    assert [lv.frame_step for lv in nine.levels] == [1, 9, 3]
    assert [lv.spatial for lv in nine.levels] == pytest.approx([3.0, 1.0, math.sqrt(3)])
    assert all(lv.reduction == pytest.approx(9) for lv in nine.levels)
    # r_t the whole number nearest sqrt(budget), r_s from the rest
    eight = FidelitySchedule("spatiotemporal", budget=8).levels[0]
    assert (eight.frame_step, eight.reduction) == (3, pytest.approx(8))
    assert FidelitySchedule("spatial", budget=2.5).levels[0].spatial == pytest.approx(2.5**0.5)


def test_custom_levels_are_validated_against_the_budget():
    custom = FidelitySchedule.from_name("cyclic", levels="1x2,2x1.4142,4x1")
    assert custom.levels[0] == S_LOFI
    assert custom.level_at(2, 0) == T_LOFI
    pairs = FidelitySchedule.from_name("c", levels=[(4, 1), FidelityLevel(1, 2)])
    assert pairs.levels == (T_LOFI, S_LOFI)
    with pytest.raises(FidelityError, match=r"level 2x1 .*r_t \* r_s\^2 = 2.*budget 4"):
        FidelitySchedule.from_name("cyclic", levels="1x2,2x1")
    # inside the tolerance: 160 px for 224 px (r_s = 1.4), or a looser tolerance
    FidelitySchedule("spatiotemporal", levels=(FidelityLevel(2, 1.4),))
    with pytest.raises(FidelityError, match="off the budget"):
        FidelitySchedule("spatial", levels=(FidelityLevel(1, 1.8),))
    FidelitySchedule("spatial", levels=(FidelityLevel(1, 1.8),), tolerance=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "multigrid"}, "mode must be one of"),
        ({"every": "week"}, "'epoch' or 'batch'"),
        ({"budget": 1.0}, "must be > 1"),
        ({"cycle_batches": 0}, "cycle_batches"),
        ({"tolerance": 1.0}, "tolerance"),
        ({"mode": "temporal", "budget": 2.5}, "whole number"),
        ({"mode": "spatiotemporal", "budget": 2}, "too small"),
        ({"mode": "spatial", "levels": (S_LOFI, S_LOFI)}, "uses one level"),
        ({"mode": "spatial", "levels": (T_LOFI,)}, "keep every frame"),
        ({"mode": "temporal", "levels": (S_LOFI,)}, "keep the resolution"),
    ],
)
def test_invalid_schedules_say_what_is_wrong(kwargs, message):
    with pytest.raises(FidelityError, match=message):
        FidelitySchedule(**kwargs)


def test_unknown_names_list_the_choices():
    with pytest.raises(FidelityError, match=r"unknown LoFi mode 'lofi'.*'c-lofi'"):
        FidelitySchedule.from_name("lofi")


# ---- batches at a reduced fidelity ----------------------------------------------------------


def _batch(frames=(40, 27), size=(64, 48)):
    generator = torch.Generator().manual_seed(0)
    samples = [
        VideoSample(
            f"v{i}",
            torch.rand(3, steps, *size, generator=generator),
            torch.ones(steps, dtype=torch.bool),
            Segments([[4.0, 14.0], [21.0, 38.5]], unit="idx"),
            torch.tensor([0, 1]),
            grid_stride_sec=0.25,
            grid_offset_sec=1.5 * i,
            duration_sec=30.0,
        )
        for i, steps in enumerate(frames)
    ]
    return collate_samples(samples, pad_multiple=8)  # T = 40, second sample masked from 27


def test_full_fidelity_returns_the_batch_itself():
    batch = _batch()
    assert apply_fidelity(batch, FidelityLevel(), patch_size=16, chunk_frames=16) is batch


def test_temporal_reduction_moves_masks_ground_truth_and_stride():
    batch = _batch()
    out = apply_fidelity(batch, T_LOFI, patch_size=16, chunk_frames=16)
    # frames 0, 4, ..., 36 kept (10), padded to one 16-frame chunk
    assert out.inputs.shape == (2, 3, 16, 64, 48)
    torch.testing.assert_close(out.inputs[:, :, :10], batch.inputs[:, :, 0:40:4])
    assert not out.inputs[:, :, 10:].any()
    # sample 1 has 27 valid frames: kept frames 0..24 are valid (7), 28 and 32, 36 are not
    assert out.masks.sum(dim=1).tolist() == [10, 7]
    assert out.masks[1, :7].all()
    assert not out.masks[:, 10:].any()
    assert out.grid_stride_sec.tolist() == [1.0, 1.0]
    assert torch.equal(out.grid_offset_sec, batch.grid_offset_sec)
    for b in range(2):
        # the same seconds before and after, computed through the two grids
        before = batch.segments[b].to_seconds(
            stride_sec=float(batch.grid_stride_sec[b]), offset_sec=float(batch.grid_offset_sec[b])
        )
        after = out.segments[b].to_seconds(
            stride_sec=float(out.grid_stride_sec[b]), offset_sec=float(out.grid_offset_sec[b])
        )
        torch.testing.assert_close(after.tensor, before.tensor)
        assert out.segments[b].tensor.tolist() == [[1.0, 3.5], [5.25, 9.625]]
        assert out.segments[b].unit == "idx"
    assert out.labels is batch.labels
    assert out.video_ids == batch.video_ids
    assert out.durations_sec == [30.0, 30.0]
    # the input batch is untouched
    assert batch.inputs.shape[2] == 40
    assert batch.segments[0].tensor[0, 0] == 4.0


def test_spatial_reduction_resizes_to_whole_patches_and_keeps_the_grid():
    batch = _batch()
    out = apply_fidelity(batch, S_LOFI, patch_size=16, chunk_frames=16)
    # 64 / 2 = 32 (2 patches); 48 / 2 = 24 -> nearest multiple of 16 is 32 (round half even)
    assert out.inputs.shape == (2, 3, 40, 32, 32)
    assert torch.equal(out.masks, batch.masks)
    assert out.grid_stride_sec.tolist() == [0.25, 0.25]
    assert out.segments[0].tensor.tolist() == [[4.0, 14.0], [21.0, 38.5]]
    # antialiased bilinear: a 2x shrink of a constant frame stays constant, means are kept
    means_before = batch.inputs.mean(dim=(-1, -2))
    torch.testing.assert_close(out.inputs.mean(dim=(-1, -2)), means_before, atol=0.02, rtol=0)
    tiny = apply_fidelity(batch, FidelityLevel(1, 8.0), patch_size=16, chunk_frames=16)
    assert tiny.inputs.shape[-2:] == (16, 16)  # never below one patch


def test_spatiotemporal_reduction_and_paper_sizes():
    batch = _batch(frames=(64, 64), size=(224, 224))
    out = apply_fidelity(batch, ST_LOFI, patch_size=16, chunk_frames=16)
    # 224 / sqrt(2) = 158.4 -> 158 px -> 160 px = 10 patches; 64 frames -> 32
    assert out.inputs.shape == (2, 3, 32, 160, 160)
    assert out.grid_stride_sec.tolist() == [0.5, 0.5]
    s_lofi = apply_fidelity(batch, S_LOFI, patch_size=16, chunk_frames=16)
    assert s_lofi.inputs.shape[-2:] == (112, 112)  # the paper's S-LoFi 112 x 112
    giant = apply_fidelity(batch, ST_LOFI, patch_size=14, chunk_frames=16)
    assert giant.inputs.shape[-2:] == (154, 154)  # ViT-g patch 14: 158 -> 11 patches


def test_features_take_temporal_reductions_only():
    generator = torch.Generator().manual_seed(0)
    features = VideoSample(
        "f",
        torch.randn(8, 12, generator=generator),
        torch.ones(12, dtype=torch.bool),
        Segments([[2.0, 6.0]], unit="idx"),
        torch.tensor([0]),
        grid_stride_sec=0.5,
    )
    batch = collate_samples([features])
    out = apply_fidelity(batch, FidelityLevel(2, 1), patch_size=16, chunk_frames=1)
    assert out.inputs.shape == (1, 8, 6)
    torch.testing.assert_close(out.inputs, batch.inputs[:, :, ::2])
    assert out.segments[0].tensor.tolist() == [[1.0, 3.0]]
    with pytest.raises(ValueError, match=r"needs frames \(B, C, T, H, W\)"):
        apply_fidelity(batch, S_LOFI, patch_size=16, chunk_frames=1)
    with pytest.raises(ValueError, match="must be >= 1"):
        apply_fidelity(batch, S_LOFI, patch_size=0, chunk_frames=1)


# ---- snippet dropping (LoFi's T-LoFi) -------------------------------------------------------


def _indexed_batch(frames: int = 32, valid: int = 27):
    """Frame ``t`` holds the value ``t``; ground truth between snippet centres (4 frames)."""
    steps = torch.arange(frames, dtype=torch.float32)
    inputs = steps.reshape(1, 1, frames, 1, 1).expand(2, 3, frames, 16, 16).clone()
    samples = [
        VideoSample(
            f"v{i}",
            inputs[i],
            torch.arange(frames) < (frames if i == 0 else valid),
            Segments([[9.5, 25.5], [2.0, 13.0]], unit="idx"),
            torch.tensor([0, 1]),
            grid_stride_sec=0.5,
            grid_offset_sec=3.0,
        )
        for i in range(2)
    ]
    return collate_samples(samples, pad_multiple=16)


def test_temporal_reduction_drops_whole_snippets_and_keeps_their_frame_rate():
    batch = _indexed_batch()
    out = apply_fidelity(
        batch, FidelityLevel(2, 1), patch_size=16, chunk_frames=16, snippet_frames=4
    )
    # snippets of 4 frames: 0-3, 8-11, 16-19, 24-27 are kept, consecutive frames inside each
    kept = [0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]
    assert out.inputs.shape == (2, 3, 16, 16, 16)
    assert out.inputs[0, 0, :, 0, 0].tolist() == kept
    # sample 1 has 27 valid frames: frames 24, 25, 26 valid, 27 not
    assert out.masks[0].all()
    assert out.masks[1].tolist() == [t < 27 for t in kept]
    assert out.temporal_reduction == 2
    shift = (2 - 1) * (4 - 1) / 2  # old steps from a snippet's start to its centre
    assert out.grid_stride_sec.tolist() == [1.0, 1.0]
    assert out.grid_offset_sec.tolist() == [3.0 - shift * 0.5] * 2
    for b in range(2):
        # ground truth on snippet centres lands on the centres of the same frames
        new = out.segments[b].tensor
        assert new[0].tolist() == [5.5, 13.5]  # old 9.5 = centre of frames 8-11 (new 4-7)
        for old_pos, new_pos in zip([9.5, 25.5], new[0].tolist(), strict=True):
            low, high = math.floor(new_pos), math.ceil(new_pos)
            centre = (out.inputs[b, 0, low, 0, 0] + out.inputs[b, 0, high, 0, 0]) / 2
            assert centre.item() == old_pos
        # and every segment keeps its seconds through the two grids
        before = batch.segments[b].to_seconds(
            stride_sec=float(batch.grid_stride_sec[b]), offset_sec=float(batch.grid_offset_sec[b])
        )
        after = out.segments[b].to_seconds(
            stride_sec=float(out.grid_stride_sec[b]), offset_sec=float(out.grid_offset_sec[b])
        )
        torch.testing.assert_close(after.tensor, before.tensor)


def test_single_frame_snippets_are_frame_dropping():
    batch = _indexed_batch()
    frames = apply_fidelity(batch, T_LOFI, patch_size=16, chunk_frames=16)
    snippets = apply_fidelity(batch, T_LOFI, patch_size=16, chunk_frames=16, snippet_frames=1)
    assert torch.equal(frames.inputs, snippets.inputs)
    assert frames.inputs[0, 0, :8, 0, 0].tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert torch.equal(frames.grid_offset_sec, batch.grid_offset_sec)
    with pytest.raises(ValueError, match="snippet_frames must be >= 1"):
        apply_fidelity(batch, T_LOFI, patch_size=16, chunk_frames=16, snippet_frames=0)


# ---- the budget after rounding to whole patches ----------------------------------------------


def test_real_reduction_counts_whole_patches():
    # ViT-g's patch 14 at 160 px: 11 x 11 tokens; 84 px = 6 x 6, 112 px = 8 x 8
    assert level_reduction(S_LOFI, 160, 160, 14) == pytest.approx(121 / 36)  # 3.36
    assert level_reduction(T_LOFI, 160, 160, 14) == 4.0
    assert level_reduction(ST_LOFI, 160, 160, 14) == pytest.approx(2 * 121 / 64)  # 3.78
    # patch 16 at 160 px: 10 x 10 -> 5 x 5 and 7 x 7
    assert level_reduction(S_LOFI, 160, 160, 16) == 4.0
    assert level_reduction(ST_LOFI, 160, 160, 16) == pytest.approx(200 / 49)  # 4.08
    assert reduced_frame_size(160, 160, ST_LOFI, 14) == (112, 112)


def test_a_schedule_off_budget_after_rounding_is_refused_with_sizes_that_fit():
    schedule = FidelitySchedule.from_name("cyclic")
    schedule.check_frame_size(160, 160, 16)  # ViT-S/B/L/H at 160 px: within 5 %
    schedule.check_frame_size(224, 224, 16)
    with pytest.raises(FidelityError) as info:
        schedule.check_frame_size(160, 160, 14)
    message = str(info.value)
    assert "fidelity level 1x2 at 160 x 160 px with patch 14 gives 84 x 84 px" in message
    assert "3.36" in message
    assert "frame sizes at which every level fits: 140, 196" in message
    for side in (140, 196):  # what the message offers does fit
        schedule.check_frame_size(side, side, 14)
    # T-LoFi alone fits; a wider tolerance admits the cycle (3.36 is 16 % off)
    FidelitySchedule.from_name("temporal").check_frame_size(160, 160, 14)
    FidelitySchedule.from_name("cyclic", tolerance=0.2).check_frame_size(160, 160, 14)
    with pytest.raises(FidelityError, match="level 1x2"):
        FidelityTransform(schedule, patch_size=14, chunk_frames=16, frame_size=(160, 160))
