"""A toy regression model and dataset that speak the trainer's batch contract."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from tadapt.structures import Segments, VideoBatch, VideoSample


class ToyDataset(Dataset[VideoSample]):
    """``n`` fixed random ``(C, T)`` feature sequences."""

    def __init__(self, n: int = 12, channels: int = 4, steps: int = 6) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(n, channels, steps, generator=generator)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> VideoSample:
        steps = self.inputs.shape[-1]
        return VideoSample(
            video_id=f"video_{index}",
            inputs=self.inputs[index],
            mask=torch.ones(steps, dtype=torch.bool),
            segments=Segments(torch.zeros(0, 2), "idx"),
            labels=torch.zeros(0, dtype=torch.int64),
            grid_stride_sec=1.0,
        )


class ToyRegressor(nn.Module):
    """Predicts the per-channel sum of a sequence from its mean: a loss dict in training mode."""

    def __init__(self, channels: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.linear = nn.Linear(channels, channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, batch: VideoBatch) -> dict[str, torch.Tensor]:
        x = batch.inputs.mean(dim=-1)  # (B, C)
        prediction = self.linear(self.dropout(self.norm(x)))
        loss = ((prediction - batch.inputs.sum(dim=-1)) ** 2).mean()
        return {"final_loss": loss, "mse": loss.detach()}
