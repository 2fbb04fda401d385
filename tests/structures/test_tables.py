from __future__ import annotations

import numpy as np
import torch

from tadapt.structures import (
    Detections,
    DetectionTable,
    GroundTruth,
    GroundTruthTable,
    Segments,
)


def _gt(vid: str, segs: list[list[float]], labels: list[int], **kw) -> GroundTruth:
    return GroundTruth(
        vid,
        Segments(torch.tensor(segs, dtype=torch.float64).view(-1, 2)),
        torch.tensor(labels, dtype=torch.int64),
        **kw,
    )


def test_ground_truth_table_round_trip_and_select():
    videos = [
        _gt("a", [[1, 2], [3, 4]], [0, 1], subset="test", duration_sec=10.0, fps=30.0),
        _gt(
            "b",
            [[5, 6]],
            [1],
            subset="val",
            ambiguous=Segments(torch.tensor([[7.0, 8.0]], dtype=torch.float64)),
        ),
        _gt("c", [], [], subset="test"),
    ]
    table = GroundTruthTable.from_ground_truth(videos)
    assert len(table) == 3
    assert table.video.tolist() == [0, 0, 1]
    assert table.ambiguous_video.tolist() == [1]
    back = table.to_ground_truth()
    assert list(back) == ["a", "b", "c"]
    for gt in videos:
        got = back[gt.video_id]
        assert torch.equal(got.segments.tensor, gt.segments.tensor)
        assert torch.equal(got.labels, gt.labels)
        assert torch.equal(got.ambiguous.tensor, gt.ambiguous.tensor)
        assert (got.subset, got.duration_sec, got.fps) == (gt.subset, gt.duration_sec, gt.fps)

    picked = table.select(["c", "b", "unknown"])  # table order, unknown ids ignored
    assert picked.video_ids == ("b", "c")
    assert picked.video.tolist() == [0]
    assert picked.segments.tolist() == [[5.0, 6.0]]
    assert picked.ambiguous_video.tolist() == [0]
    assert picked.subsets == ("val", "test")


def test_detection_table_round_trip_keeps_file_order_within_a_video():
    table = DetectionTable(
        video_ids=("x", "y", "empty"),
        video=np.array([1, 0, 1], dtype=np.int64),
        segments=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
        scores=np.array([0.1, 0.2, 0.3]),
        labels=np.array([2, 0, 1], dtype=np.int64),
    )
    dets = table.to_detections()
    assert list(dets) == ["x", "y", "empty"]
    assert dets["y"].scores.tolist() == [0.1, 0.3]
    assert dets["y"].labels.tolist() == [2, 1]
    assert len(dets["empty"]) == 0
    again = DetectionTable.from_detections(
        [*dets.values(), Detections.empty("z"), dets["x"]]  # a video may come twice
    )
    assert again.video_ids == ("x", "y", "empty", "z")
    assert again.video.tolist() == [0, 1, 1, 0]
    assert again.scores.tolist() == [0.2, 0.1, 0.3, 0.2]
