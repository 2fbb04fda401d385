"""DataLoader construction: padding collate, reproducible epochs, workers, distributed sampler."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from real_data import real_file
from tadapt.data import (
    FeatureDataset,
    RandomTruncation,
    SlidingWindows,
    VideoDataset,
    build_loader,
    seed_worker,
    set_epoch,
)
from tadapt.data.loader import ShardedRandomSampler
from tadapt.io import Annotations, load_annotations
from tadapt.structures import VideoBatch

LENGTHS = [50, 73, 20, 64, 90, 33, 41]


@pytest.fixture
def features(tmp_path: Path) -> tuple[Annotations, Path]:
    """Seven videos at 10 fps, feat_stride 1, num_frames 1.

    Feature ``t`` of video ``i`` is ``1000 * i + t``, to identify rows after batching.
    """
    database = {}
    folder = tmp_path / "feats"
    folder.mkdir()
    for i, n in enumerate(LENGTHS):
        vid = f"vid{i}"
        database[vid] = {
            "subset": "train",
            "duration": n / 10,
            "fps": 10.0,
            "annotations": [
                {"label": "A", "segment": [0.5, 1.5], "label_id": 0},
                {"label": "B", "segment": [n / 20, n / 20 + 1.0], "label_id": 1},
            ],
        }
        rows = 1000 * i + np.arange(n, dtype=np.float32)
        np.save(folder / f"{vid}.npy", np.repeat(rows[:, None], 3, axis=1))
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"version": "t", "database": database}))
    return load_annotations(path), folder


def _dataset(features: tuple[Annotations, Path], **kwargs: object) -> FeatureDataset:
    ann, folder = features
    return FeatureDataset(ann, folder, feat_stride=1, num_frames=1, **kwargs)  # type: ignore[arg-type]


def _ids(batches: list[VideoBatch]) -> list[str]:
    return [v for b in batches for v in b.video_ids]


def test_batches_are_padded_with_masks(features: tuple[Annotations, Path]) -> None:
    loader = build_loader(_dataset(features), batch_size=3, shuffle=False, pad_multiple=32)
    batches = list(loader)
    assert [len(b) for b in batches] == [3, 3, 1]
    first = batches[0]
    assert isinstance(first, VideoBatch)
    assert first.inputs.shape == (3, 3, 96)  # (B, C, T): longest 73 rounded up to 96
    assert first.masks.sum(1).tolist() == [50, 73, 20]
    assert torch.equal(first.inputs[1, 0, :73], 1000 + torch.arange(73).float())
    assert (first.inputs[2, :, 20:] == 0).all()
    assert [len(s) for s in first.segments] == [2, 2, 2]
    assert first.grid_offset_sec.tolist() == pytest.approx([0.05] * 3)  # 0.5 * 1 frame / 10 fps


def test_shuffle_is_seeded_and_changes_per_epoch(features: tuple[Annotations, Path]) -> None:
    ds = _dataset(features)
    a = build_loader(ds, batch_size=2, shuffle=True, seed=5)
    b = build_loader(ds, batch_size=2, shuffle=True, seed=5)
    epoch0, epoch1 = _ids(list(a)), _ids(list(a))
    assert epoch0 == _ids(list(b))
    assert epoch1 == _ids(list(b))
    assert epoch0 != epoch1
    assert sorted(epoch0) == sorted(f"vid{i}" for i in range(len(LENGTHS)))


def test_workers_give_the_same_epochs(features: tuple[Annotations, Path]) -> None:
    ds = _dataset(features, sampling=RandomTruncation(32, 0.5), seed=11)
    serial = build_loader(ds, batch_size=3, shuffle=False)
    parallel = build_loader(ds, batch_size=3, shuffle=False, num_workers=2)
    offsets = []
    for epoch in range(2):
        set_epoch(serial, epoch)
        set_epoch(parallel, epoch)
        s, p = list(serial), list(parallel)
        for bs, bp in zip(s, p, strict=True):
            assert torch.equal(bs.inputs, bp.inputs)
            assert torch.equal(bs.grid_offset_sec, bp.grid_offset_sec)
        offsets.append(torch.cat([b.grid_offset_sec for b in s]))
    assert not torch.equal(offsets[0], offsets[1])  # new truncation windows each epoch


@pytest.mark.data
def test_workers_start_after_decoding_in_the_main_process(tmp_path: Path) -> None:
    # Decoding in the main process leaves PyAV decoders for the garbage collector; freed in a
    # forked worker they deadlocked it (avcodec_free_context). The loader collects first.
    clip = real_file("videos/kinetics_clip_300f.mp4")
    ann_path = tmp_path / "ann.json"
    ann_path.write_text(
        json.dumps(
            {
                "database": {
                    clip.stem: {
                        "subset": "test",
                        "duration": 10.0,
                        "fps": 30.0,
                        "annotations": [{"label": "A", "segment": [1.0, 2.0], "label_id": 0}],
                    }
                }
            }
        )
    )
    ds = VideoDataset(
        load_annotations(ann_path), clip.parent, SlidingWindows(8, 0.0), frame_stride=8
    )
    first = ds[1]  # decoded here, in the main process
    loader = build_loader(ds, batch_size=2, shuffle=False, num_workers=2, timeout=60)
    batches = list(loader)
    assert sum(len(b) for b in batches) == len(ds)
    assert torch.equal(batches[0].inputs[1], first.inputs)


def test_distributed_samplers_when_initialised(
    features: tuple[Annotations, Path], tmp_path: Path
) -> None:
    ds = _dataset(features)
    single = _ids(list(build_loader(ds, batch_size=2, shuffle=True, seed=3)))
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1
    )
    try:
        loader = build_loader(ds, batch_size=2, shuffle=True, seed=3)
        assert isinstance(loader.sampler, ShardedRandomSampler)
        set_epoch(loader, 1)
        first = _ids(list(loader))
        assert ds.epoch == 1
        # this process's share of the single-process shuffle: alone, all of it
        assert first == single
        second = _ids(list(loader))
        assert sorted(first) == sorted(second) == sorted(ds.annotations.videos)
        assert first != second
        # evaluation: the dataset order, shared out
        in_order = build_loader(ds, batch_size=2, shuffle=False)
        assert isinstance(in_order.sampler, DistributedSampler)
        assert _ids(list(in_order)) == [f"vid{i}" for i in range(len(ds))]
    finally:
        dist.destroy_process_group()
    assert not isinstance(build_loader(ds, batch_size=2, shuffle=True).sampler, DistributedSampler)
    assert not isinstance(
        build_loader(ds, batch_size=2, shuffle=True).sampler, ShardedRandomSampler
    )


def test_seed_worker_seeds_python_and_numpy() -> None:
    torch.manual_seed(1234)
    seed_worker(0)
    a = (random.random(), np.random.rand())
    random.seed(1234)
    np.random.seed(1234)
    assert a == (random.random(), np.random.rand())


def test_loader_argument_errors(features: tuple[Annotations, Path]) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(_dataset(features), batch_size=0, shuffle=False)
    with pytest.raises(ValueError, match="num_workers"):
        build_loader(_dataset(features), batch_size=1, shuffle=False, num_workers=-1)
