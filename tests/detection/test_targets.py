"""Point generator and label assignment on hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch

from tadapt.detection import (
    THUMOS_REGRESSION_RANGES,
    PointGenerator,
    assign_targets,
    assign_video_targets,
)

UNBOUNDED = [(0.0, math.inf)]


def positives(cls: torch.Tensor) -> list[int]:
    return torch.nonzero(cls.sum(dim=-1) > 0).squeeze(1).tolist()


def test_point_generator_values() -> None:
    gen = PointGenerator([1, 2, 4], [(0, 4), (4, 8), (8, math.inf)])
    points = gen([8, 4, 2])
    assert points.level_sizes == (8, 4, 2)
    assert len(points) == 14
    assert points.positions.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 2, 4, 6, 0, 4]
    assert points.strides.tolist() == [1] * 8 + [2] * 4 + [4] * 2
    assert points.range_low.tolist() == [0] * 8 + [4] * 4 + [8] * 2
    assert points.range_high.tolist() == [4] * 8 + [8] * 4 + [math.inf] * 2
    levels = points.split(torch.arange(14))
    assert [lvl.tolist() for lvl in levels] == [list(range(8)), [8, 9, 10, 11], [12, 13]]
    assert THUMOS_REGRESSION_RANGES[-1] == (64.0, math.inf)


def test_point_generator_rejects_mismatches() -> None:
    with pytest.raises(ValueError, match="2 strides but 1 regression ranges"):
        PointGenerator([1, 2], [(0, 4)])
    with pytest.raises(ValueError, match="low < high"):
        PointGenerator([1], [(4, 4)])
    with pytest.raises(ValueError, match="expected 2 pyramid levels"):
        PointGenerator([1, 2], [(0, 4), (4, 8)])([8])


def test_center_sampling_radius_in_strides() -> None:
    # action [10, 30], centre 20; radius 1.5 strides: (18.5, 21.5) at stride 1, (17, 23) at 2
    points = PointGenerator([1, 2], UNBOUNDED * 2)([40, 20])
    seg, lab = torch.tensor([[10.0, 30.0]]), torch.tensor([0])
    cls, _ = assign_video_targets(points, seg, lab, num_classes=1, center_sample_radius=1.5)
    assert [points.positions[i].item() for i in positives(cls)] == [19, 20, 21, 18, 20, 22]
    # a radius wider than the action is clipped to it: strictly inside (10, 30)
    cls, _ = assign_video_targets(points, seg, lab, num_classes=1, center_sample_radius=100.0)
    assert [points.positions[i].item() for i in positives(cls)] == (
        list(range(11, 30)) + list(range(12, 30, 2))
    )
    cls_off, _ = assign_video_targets(points, seg, lab, num_classes=1, center_sample_radius=None)
    assert torch.equal(cls_off, cls)


def test_regression_ranges_are_inclusive_and_in_grid_steps() -> None:
    # action [10, 26]: max(t - 10, 26 - t) ranges over [8, 16) inside it
    points = PointGenerator([1, 2, 4], [(0, 8), (8, 16), (16, math.inf)])([32, 16, 8])
    seg, lab = torch.tensor([[10.0, 26.0]]), torch.tensor([0])
    cls, off = assign_video_targets(points, seg, lab, num_classes=1, center_sample_radius=None)
    pos = positives(cls)
    # level 0 (range [0, 8]): only t = 18, where the reach is exactly 8 (inclusive upper bound)
    # level 1 (range [8, 16]): every even t strictly inside; level 2: none
    assert [(points.strides[i].item(), points.positions[i].item()) for i in pos] == [
        (1, 18),
        *[(2, t) for t in range(12, 26, 2)],
    ]
    # offsets are distances to start / end divided by the stride
    first_level1 = pos[1]  # t = 12 at stride 2
    assert off[first_level1].tolist() == [1.0, 7.0]
    assert off[pos[0]].tolist() == [8.0, 8.0]
    negatives = torch.ones(len(points), dtype=torch.bool)
    negatives[pos] = False
    assert torch.all(off[negatives] == 0)


def test_shortest_ground_truth_wins() -> None:
    points = PointGenerator([1], UNBOUNDED)([50])
    seg = torch.tensor([[0.0, 40.0], [10.0, 20.0]])
    cls, off = assign_video_targets(
        points, seg, torch.tensor([0, 1]), num_classes=2, center_sample_radius=None
    )
    assert cls[15].tolist() == [0.0, 1.0]  # inside both: the shorter [10, 20]
    assert off[15].tolist() == [5.0, 5.0]
    assert cls[5].tolist() == [1.0, 0.0]  # only inside the long one
    assert off[5].tolist() == [5.0, 35.0]
    assert cls[10].tolist() == [1.0, 0.0]  # on the short one's boundary: not strictly inside
    assert cls[45].sum() == 0


def test_multi_label_keeps_every_label_of_equal_minimal_length() -> None:
    points = PointGenerator([1], UNBOUNDED)([30])
    seg = torch.tensor([[10.0, 20.0], [10.0, 20.0], [10.0005, 20.0], [10.0, 20.01], [0, 30]])
    labels = torch.tensor([0, 2, 1, 3, 4])
    cls, off = assign_video_targets(points, seg, labels, num_classes=5, center_sample_radius=None)
    # same length, and within 1e-3 of it, count; 0.01 longer (and the long one) do not
    assert cls[15].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    # the regression target comes from the strictly shortest one, [10.0005, 20]
    assert off[15].tolist() == pytest.approx([4.9995, 5.0], abs=1e-6)
    # two identical instances of one label stay a 0/1 target
    seg2 = torch.tensor([[10.0, 20.0], [10.0, 20.0]])
    cls2, _ = assign_video_targets(
        points, seg2, torch.tensor([1, 1]), num_classes=2, center_sample_radius=None
    )
    assert cls2[15].tolist() == [0.0, 1.0]


def test_batch_assignment_and_empty_ground_truth() -> None:
    points = PointGenerator([1, 2], [(0, 4), (4, math.inf)])([16, 8])
    targets = assign_targets(
        points,
        [torch.tensor([[2.0, 6.0]]), torch.zeros(0, 2)],
        [torch.tensor([1]), torch.zeros(0, dtype=torch.int64)],
        num_classes=3,
    )
    assert targets.cls.shape == (2, 24, 3)
    assert targets.offsets.shape == (2, 24, 2)
    # [2, 6], centre 4, radius 1.5: t in {3, 4, 5} at stride 1 (reach <= 4), none at stride 2
    assert positives(targets.cls[0]) == [3, 4, 5]
    assert targets.positive.sum(dim=1).tolist() == [3, 0]
    assert torch.all(targets.cls[1] == 0)
    assert torch.all(targets.offsets[1] == 0)


def test_assignment_rejects_bad_labels() -> None:
    points = PointGenerator([1], UNBOUNDED)([8])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        assign_video_targets(points, torch.tensor([[1.0, 3.0]]), torch.tensor([2]), num_classes=2)
    with pytest.raises(ValueError, match="segments must be"):
        assign_video_targets(points, torch.zeros(2, 3), torch.tensor([0, 1]), num_classes=2)
