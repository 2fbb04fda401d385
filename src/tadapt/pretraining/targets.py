"""Reconstruction targets and loss of VideoMAE: per-patch normalised pixels, MSE on masked tokens.

Follows OpenGVLab/VideoMAEv2 ``engine_for_pretraining.py``: the clip is un-normalised back to
``[0, 1]`` pixels, cut into ``tubelet x patch x patch`` cubes in the patch embedding's token
order, each cube normalised per channel by its own mean and (unbiased) standard deviation
(``normlize_target``), flattened as ``(p0 p1 p2 c)``; the loss is the squared error averaged
over the values of a token, then over the tokens the encoder did not see.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["masked_mse", "mean_prediction_loss", "patch_targets"]


def patch_targets(
    clips: torch.Tensor,
    *,
    patch_size: int,
    tubelet_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    normalize: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Pixel targets of every token.

    Args:
        clips: normalised clips ``(B, C, T, H, W)``; ``T``, ``H``, ``W`` multiples of the
            tubelet and patch sizes.
        patch_size: spatial patch size ``p``.
        tubelet_size: frames per temporal patch ``p0``.
        mean: per-channel mean the clips were normalised with.
        std: per-channel standard deviation the clips were normalised with.
        normalize: normalise each cube by its own statistics (VideoMAE's default).
        eps: added to the standard deviation.

    Returns:
        ``(B, N, p0 * p * p * C)`` float32 targets, ``N = (T / p0) * (H / p) * (W / p)``.
    """
    batch, chans, frames, height, width = clips.shape
    p, p0 = patch_size, tubelet_size
    if frames % p0 or height % p or width % p:
        raise ValueError(
            f"clips of {frames}x{height}x{width} do not tile into {p0}x{p}x{p} patches"
        )
    shape = (1, chans, 1, 1, 1)
    pixels = clips.float() * torch.tensor(std, device=clips.device).view(shape)
    pixels = pixels + torch.tensor(mean, device=clips.device).view(shape)
    t, h, w = frames // p0, height // p, width // p
    # (B, C, t p0, h p, w p) -> (B, t, h, w, p0, p, p, C) -> (B, N, p0 * p * p, C)
    cubes = pixels.reshape(batch, chans, t, p0, h, p, w, p).permute(0, 2, 4, 6, 3, 5, 7, 1)
    cubes = cubes.reshape(batch, t * h * w, p0 * p * p, chans)
    if normalize:
        centred = cubes - cubes.mean(dim=-2, keepdim=True)
        cubes = centred / (cubes.var(dim=-2, unbiased=True, keepdim=True).sqrt() + eps)
    return cubes.flatten(2)


def mean_prediction_loss(*, patch_size: int, tubelet_size: int) -> float:
    """The loss of predicting zeros for per-patch normalised targets: ``1 - 1 / n``.

    Each target cube is centred and divided by its unbiased standard deviation over its
    ``n = tubelet * patch * patch`` pixels per channel, so its mean square is ``(n - 1) / n``
    whatever the video: a loss that ends there means the decoder predicts only the mean.
    """
    pixels = tubelet_size * patch_size * patch_size
    return 1.0 - 1.0 / pixels


def masked_mse(
    predictions: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the tokens with weight 1.

    Args:
        predictions: ``(B, M, D)`` decoder outputs.
        targets: ``(B, M, D)`` targets of the same tokens.
        weights: ``(B, M)`` bool or 0/1, the tokens that count (masked for the encoder).

    Returns:
        Scalar loss: per-token mean over ``D``, averaged over the counted tokens.
    """
    per_token = (predictions.float() - targets).pow(2).mean(dim=-1)
    weights = weights.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp(min=1.0)
