from __future__ import annotations

import pytest
import torch

from tadapt.structures import Detections, GroundTruth, Segments, pairwise_tiou


def test_segments_basic_properties():
    seg = Segments([[1.0, 3.0], [2.0, 2.0]])
    assert len(seg) == 2
    assert seg.tensor.dtype == torch.float64
    assert seg.unit == "sec"
    torch.testing.assert_close(seg.lengths(), torch.tensor([2.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(seg.centers(), torch.tensor([2.0, 2.0], dtype=torch.float64))
    assert Segments([]).tensor.shape == (0, 2)


@pytest.mark.parametrize("bad", [[1.0, 2.0, 3.0], [[1.0, 2.0, 3.0]], torch.zeros(2, 2, 2)])
def test_segments_reject_wrong_shapes(bad):
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        Segments(bad)


def test_segments_reject_unknown_unit():
    with pytest.raises(ValueError, match="unit"):
        Segments([[0.0, 1.0]], unit="frames")  # type: ignore[arg-type]


def test_unit_conversion_round_trip():
    grid = Segments([[0.0, 4.0], [10.0, 12.0]], unit="idx")
    sec = grid.to_seconds(stride_sec=0.5, offset_sec=1.0)
    assert sec.unit == "sec"
    torch.testing.assert_close(
        sec.tensor, torch.tensor([[1.0, 3.0], [6.0, 7.0]], dtype=torch.float64)
    )
    back = sec.to_grid(stride_sec=0.5, offset_sec=1.0)
    torch.testing.assert_close(back.tensor, grid.tensor)
    with pytest.raises(ValueError, match="already"):
        sec.to_seconds(stride_sec=1.0)
    with pytest.raises(ValueError, match="already"):
        grid.to_grid(stride_sec=1.0)


def test_clip_cat_index():
    seg = Segments([[-1.0, 3.0], [5.0, 12.0]])
    torch.testing.assert_close(
        seg.clip(0.0, 10.0).tensor, torch.tensor([[0.0, 3.0], [5.0, 10.0]], dtype=torch.float64)
    )
    both = Segments.cat([seg, seg[0]])
    assert len(both) == 3
    assert both[torch.tensor([False, True, False])].tensor.tolist() == [[5.0, 12.0]]
    with pytest.raises(ValueError, match="mix units"):
        Segments.cat([seg, Segments([[0.0, 1.0]], unit="idx")])
    with pytest.raises(ValueError, match="at least one"):
        Segments.cat([])


def test_pairwise_tiou_values():
    a = Segments([[0.0, 10.0], [5.0, 5.0]])
    b = Segments([[5.0, 15.0], [0.0, 10.0], [20.0, 30.0], [5.0, 5.0]])
    tiou = pairwise_tiou(a, b)
    assert tiou.shape == (2, 4)
    expected = torch.tensor([[5 / 15, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(tiou, expected)
    assert not torch.isnan(tiou).any()


def test_pairwise_tiou_is_symmetric_and_bounded():
    gen = torch.Generator().manual_seed(0)
    start = torch.rand(50, generator=gen) * 100
    seg = Segments(torch.stack([start, start + torch.rand(50, generator=gen) * 20], 1))
    tiou = pairwise_tiou(seg, seg)
    torch.testing.assert_close(tiou, tiou.T)
    assert tiou.min() >= 0
    assert tiou.max() <= 1
    torch.testing.assert_close(tiou.diagonal(), torch.ones(50))


def test_pairwise_tiou_rejects_mixed_units():
    with pytest.raises(ValueError, match="units differ"):
        pairwise_tiou(Segments([[0.0, 1.0]]), Segments([[0.0, 1.0]], unit="idx"))


def test_detections_validate_lengths_and_sort():
    with pytest.raises(ValueError, match="scores"):
        Detections("v", Segments([[0.0, 1.0]]), torch.tensor([0.1, 0.2]), torch.tensor([0]))
    with pytest.raises(ValueError, match="labels"):
        GroundTruth("v", Segments([[0.0, 1.0]]), torch.tensor([0, 1]))
    det = Detections(
        "v",
        Segments([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]),
        torch.tensor([0.2, 0.9, 0.2]),
        torch.tensor([0, 1, 2]),
    )
    ordered = det.sorted_by_score()
    assert ordered.labels.tolist() == [1, 0, 2]  # ties keep input order
    assert len(Detections.empty("x")) == 0
    assert len(det[1]) == 1
