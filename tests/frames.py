"""Pandas frames <-> tadapt structures, and random predictions around real ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tadapt.structures import Detections, GroundTruth, Segments


def ground_truth_from_frame(frame: pd.DataFrame, class_names: list[str]) -> list[GroundTruth]:
    """One :class:`GroundTruth` per video of a ``video-id, t-start, t-end, label`` frame."""
    index = {name: i for i, name in enumerate(class_names)}
    out = []
    for vid, rows in frame.groupby("video-id", sort=False):
        out.append(
            GroundTruth(
                str(vid),
                Segments(torch.tensor(rows[["t-start", "t-end"]].to_numpy(), dtype=torch.float64)),
                torch.tensor([index[x] for x in rows["label"]], dtype=torch.int64),
            )
        )
    return out


def detections_from_frame(frame: pd.DataFrame, class_names: list[str]) -> list[Detections]:
    """One :class:`Detections` per video of a prediction frame (with a ``score`` column)."""
    index = {name: i for i, name in enumerate(class_names)}
    out = []
    for vid, rows in frame.groupby("video-id", sort=False):
        out.append(
            Detections(
                str(vid),
                Segments(torch.tensor(rows[["t-start", "t-end"]].to_numpy(), dtype=torch.float64)),
                torch.tensor(rows["score"].to_numpy(), dtype=torch.float64),
                torch.tensor([index[x] for x in rows["label"]], dtype=torch.int64),
            )
        )
    return out


def random_predictions(gt: pd.DataFrame, num: int, seed: int) -> pd.DataFrame:
    """Jittered copies of ground truth (true and near misses) mixed with random segments."""
    rng = np.random.default_rng(seed)
    labels = np.array(sorted(gt["label"].unique()))
    videos = gt["video-id"].unique()
    num_near = num // 2
    src = gt.iloc[rng.integers(0, len(gt), num_near)]
    length = (src["t-end"] - src["t-start"]).to_numpy()
    start = src["t-start"].to_numpy() + rng.normal(0, 0.3, num_near) * length
    end = src["t-end"].to_numpy() + rng.normal(0, 0.3, num_near) * length
    near = pd.DataFrame(
        {
            "video-id": src["video-id"].to_numpy(),
            "t-start": np.minimum(start, end),
            "t-end": np.maximum(start, end),
            # mostly the right class, sometimes another one
            "label": np.where(
                rng.random(num_near) < 0.8, src["label"].to_numpy(), rng.choice(labels, num_near)
            ),
        }
    )
    num_far = num - num_near
    far_start = rng.uniform(0, 300, num_far)
    far = pd.DataFrame(
        {
            "video-id": rng.choice(np.append(videos, "video_not_in_gt"), num_far),
            "t-start": far_start,
            "t-end": far_start + rng.exponential(8, num_far),
            "label": rng.choice(labels, num_far),
        }
    )
    pred = pd.concat([near, far], ignore_index=True)
    pred["score"] = rng.random(len(pred))
    return pred.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def thumos_csv_frame(path: Path) -> pd.DataFrame:
    """The instances of a G-TAD THUMOS-14 CSV (``Ambiguous`` rows left out) as a frame."""
    raw = pd.read_csv(path)
    raw = raw[raw["type"] != "Ambiguous"]
    return pd.DataFrame(
        {
            "video-id": raw["video"],
            "t-start": raw["start"],
            "t-end": raw["end"],
            "label": raw["type"],
        }
    ).reset_index(drop=True)
