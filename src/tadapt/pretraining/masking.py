"""Token masks of VideoMAE pretraining: tube masking (encoder) and running-cell masking (decoder).

Both follow OpenGVLab/VideoMAEv2 ``dataset/masking_generator.py``:

* :func:`tube_mask` (VideoMAE, Tong et al. 2022): ``int(ratio * h * w)`` random positions of
  one ``h x w`` token frame are masked, and the same positions in every one of the ``t``
  temporal slices, so a masked patch cannot be copied from its neighbour in time.
* :func:`running_cell_mask` (VideoMAE V2's dual masking, Wang et al. 2023): the decoder
  reconstructs only part of the tokens. A 2x2 cell holds ``int(4 * ratio)`` dropped positions;
  the cell pattern is tiled over the frame and rolls by one position per temporal slice.

Masks are flat ``(N,)`` bool tensors in the patch embedding's ``t``-major order (``N = t*h*w``)
and are drawn from an explicit ``torch.Generator``, so a dataset seeding one per item gets the
same masks whatever its worker count.
"""

from __future__ import annotations

import torch

__all__ = ["running_cell_mask", "tube_mask"]


def tube_mask(
    grid: tuple[int, int, int], ratio: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Tube mask of a clip's token grid.

    Args:
        grid: token grid ``(t, h, w)``.
        ratio: fraction of each frame's ``h * w`` positions to mask (0.9 in VideoMAE).
        generator: source of randomness.

    Returns:
        ``(t * h * w,)`` bool, ``True`` where the token is hidden from the encoder; every
        temporal slice masks the same ``int(ratio * h * w)`` positions.

    Raises:
        ValueError: ``ratio`` outside ``[0, 1)`` or it leaves no visible token.
    """
    t, h, w = grid
    per_frame = h * w
    num_masked = int(ratio * per_frame)
    if not 0.0 <= ratio < 1.0 or num_masked >= per_frame:
        raise ValueError(
            f"mask ratio {ratio} must be in [0, 1) and leave a visible token of the {h}x{w} "
            "token frame"
        )
    order = torch.randperm(per_frame, generator=generator)
    frame = torch.zeros(per_frame, dtype=torch.bool)
    frame[order[:num_masked]] = True
    return frame.repeat(t)


def running_cell_mask(
    grid: tuple[int, int, int], ratio: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """VideoMAE V2's running-cell decoder mask.

    Args:
        grid: token grid ``(t, h, w)``; ``h`` and ``w`` must be even (2x2 cells).
        ratio: fraction of the tokens the decoder skips (0.5 in VideoMAE V2).
        generator: picks the starting phase of the cell (one of four).

    Returns:
        ``(t * h * w,)`` bool, ``True`` where the decoder does *not* reconstruct the token
        (``decode_masked_pos`` in VideoMAE V2).

    Raises:
        ValueError: an odd token frame, or a ratio giving no or every position of a cell.
    """
    t, h, w = grid
    dropped = int(4 * ratio)
    if not 0 < dropped < 4:
        raise ValueError(f"decoder mask ratio {ratio} must drop 1-3 of the 4 tokens of a cell")
    if h % 2 or w % 2:
        raise ValueError(
            f"running-cell masking tiles 2x2 cells, but the token frame is {h}x{w}; use an "
            "input size giving an even number of patches per side, or no decoder masking"
        )
    queue = torch.cat([torch.ones(dropped), torch.zeros(4 - dropped)]).bool()
    phase = int(torch.randint(4, (1,), generator=generator))
    slices = []
    for k in range(t):
        # the cell advances one position before each slice, as VideoMAE V2's Cell.run_cell
        cell = queue[(torch.arange(4) + phase + k + 1) % 4].reshape(2, 2)
        slices.append(cell.repeat(h // 2, w // 2).flatten())
    return torch.cat(slices)
