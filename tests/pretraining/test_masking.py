import pytest
import torch

from tadapt.pretraining import running_cell_mask, tube_mask


def test_tube_mask_hides_the_same_positions_in_every_slice() -> None:
    grid = (8, 14, 14)
    mask = tube_mask(grid, 0.9, torch.Generator().manual_seed(0))
    slices = mask.reshape(8, 14 * 14)
    assert mask.dtype == torch.bool
    assert mask.shape == (8 * 14 * 14,)
    assert int(slices[0].sum()) == int(0.9 * 196) == 176  # VideoMAE: int(ratio * h * w)
    assert torch.equal(slices, slices[:1].expand_as(slices))


def test_tube_mask_is_drawn_from_the_generator() -> None:
    first = tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(1))
    again = tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(1))
    other = [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(s)) for s in range(2, 8)]
    assert torch.equal(first, again)
    assert any(not torch.equal(first, o) for o in other)


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_tube_mask_ratio_must_be_in_0_1(ratio: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        tube_mask((2, 3, 3), ratio)


def _official_running_cell(grid: tuple[int, int, int], phase: int) -> torch.Tensor:
    """VideoMAE V2's RunningCellMaskingGenerator at ratio 0.5, written out loop by loop."""
    t, h, w = grid
    queue = [1, 1, 0, 0]
    pointer = phase
    frames = []
    for _ in range(t):
        pointer += 1  # run_cell, then get_cell
        cell = [queue[(i + pointer) % 4] for i in range(4)]
        frames.append([cell[(r % 2) * 2 + (c % 2)] for r in range(h) for c in range(w)])
    return torch.tensor(frames, dtype=torch.bool).flatten()


def test_running_cell_mask_matches_videomae_v2() -> None:
    grid = (4, 4, 6)
    seen = set()
    for seed in range(20):
        mask = running_cell_mask(grid, 0.5, torch.Generator().manual_seed(seed))
        phases = [p for p in range(4) if torch.equal(mask, _official_running_cell(grid, p))]
        assert len(phases) == 1
        seen.add(phases[0])
        per_slice = mask.reshape(4, 24)
        assert (per_slice.sum(dim=1) == 12).all()  # half of every slice is skipped
    assert seen == {0, 1, 2, 3}


def test_running_cell_mask_refuses_odd_token_frames() -> None:
    with pytest.raises(ValueError, match="even number of patches"):
        running_cell_mask((2, 3, 4), 0.5)
