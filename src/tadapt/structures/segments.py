"""Temporal segments: an ``(N, 2)`` tensor of ``[start, end]`` pairs with a named unit.

Modelled on detectron2's ``Boxes``: a thin typed wrapper around one tensor, so that code
passes ``Segments`` instead of bare tensors whose unit (seconds or feature-grid steps) is a
guess. Conversions between units live in :meth:`Segments.to_seconds` /
:meth:`Segments.to_grid`, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import torch

__all__ = ["SegmentUnit", "Segments", "pairwise_tiou"]

SegmentUnit = Literal["sec", "idx"]
"""``"sec"``: seconds on the video's timeline; ``"idx"``: positions on a feature grid."""

_UNITS: tuple[str, ...] = ("sec", "idx")


class Segments:
    """An ``(N, 2)`` float tensor of ``[start, end]`` segments in one unit.

    Args:
        tensor: ``(N, 2)`` starts and ends (any float dtype; a list is converted to
            float64). An empty input becomes a ``(0, 2)`` tensor.
        unit: ``"sec"`` for seconds or ``"idx"`` for feature-grid units.

    Raises:
        ValueError: the tensor is not ``(N, 2)`` or the unit is unknown.
    """

    __slots__ = ("tensor", "unit")

    def __init__(
        self, tensor: torch.Tensor | Sequence[Sequence[float]], unit: SegmentUnit = "sec"
    ) -> None:
        if unit not in _UNITS:
            raise ValueError(f"Segments unit must be one of {_UNITS}, got {unit!r}")
        if not isinstance(tensor, torch.Tensor):
            tensor = torch.as_tensor(tensor, dtype=torch.float64)
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float64)
        if tensor.numel() == 0:
            tensor = tensor.reshape(0, 2)
        if tensor.dim() != 2 or tensor.shape[1] != 2:
            raise ValueError(f"Segments expects an (N, 2) tensor, got shape {tuple(tensor.shape)}")
        self.tensor: torch.Tensor = tensor
        self.unit: SegmentUnit = unit

    @property
    def starts(self) -> torch.Tensor:
        """``(N,)`` segment starts."""
        return self.tensor[:, 0]

    @property
    def ends(self) -> torch.Tensor:
        """``(N,)`` segment ends."""
        return self.tensor[:, 1]

    def lengths(self) -> torch.Tensor:
        """``(N,)`` segment lengths ``end - start``."""
        return self.tensor[:, 1] - self.tensor[:, 0]

    def centers(self) -> torch.Tensor:
        """``(N,)`` segment midpoints."""
        return 0.5 * (self.tensor[:, 0] + self.tensor[:, 1])

    def clip(self, low: float, high: float) -> Segments:
        """Return the segments clipped to ``[low, high]`` (both ends)."""
        return Segments(self.tensor.clamp(min=low, max=high), self.unit)

    def to(self, *args: object, **kwargs: object) -> Segments:
        """Move or cast the tensor, as :meth:`torch.Tensor.to`; the unit is kept."""
        return Segments(self.tensor.to(*args, **kwargs), self.unit)  # type: ignore[call-overload]

    def to_seconds(self, *, stride_sec: float, offset_sec: float = 0.0) -> Segments:
        """Convert grid units to seconds: ``sec = idx * stride_sec + offset_sec``.

        Args:
            stride_sec: seconds between two consecutive grid positions.
            offset_sec: time in seconds of grid position 0 (e.g. a window start plus half a
                snippet).
        """
        if self.unit != "idx":
            raise ValueError("to_seconds() converts 'idx' segments; these are already 'sec'")
        return Segments(self.tensor * stride_sec + offset_sec, "sec")

    def to_grid(self, *, stride_sec: float, offset_sec: float = 0.0) -> Segments:
        """Convert seconds to grid units, the inverse of :meth:`to_seconds`."""
        if self.unit != "sec":
            raise ValueError("to_grid() converts 'sec' segments; these are already 'idx'")
        return Segments((self.tensor - offset_sec) / stride_sec, "idx")

    @staticmethod
    def cat(segments_list: Sequence[Segments]) -> Segments:
        """Concatenate segments of one unit along ``N``.

        Raises:
            ValueError: the list is empty or mixes units.
        """
        if not segments_list:
            raise ValueError("Segments.cat needs at least one Segments")
        units = {s.unit for s in segments_list}
        if len(units) != 1:
            raise ValueError(f"Segments.cat cannot mix units {sorted(units)}")
        return Segments(torch.cat([s.tensor for s in segments_list]), segments_list[0].unit)

    def __len__(self) -> int:
        return int(self.tensor.shape[0])

    def __getitem__(self, item: int | slice | torch.Tensor) -> Segments:
        selected = self.tensor[item]
        return Segments(selected.reshape(-1, 2), self.unit)

    def __iter__(self) -> Iterator[torch.Tensor]:
        yield from self.tensor

    def __repr__(self) -> str:
        return f"Segments(num={len(self)}, unit={self.unit!r}, dtype={self.tensor.dtype})"


def pairwise_tiou(a: Segments, b: Segments, *, eps: float = 0.0) -> torch.Tensor:
    """Temporal IoU between every segment of ``a`` and every segment of ``b``.

    ``intersection = clip(min(ends) - max(starts), 0)`` and
    ``union = len_a + len_b - intersection``, as the ActivityNet evaluation code computes
    them. A zero union (two zero-length segments at one point) gives tIoU 0.

    Args:
        a: ``N`` segments.
        b: ``M`` segments in the same unit.
        eps: lower bound on the union (OpenTAD uses ``1e-8``); ``0`` keeps the exact value.

    Returns:
        ``(N, M)`` tIoU in ``[0, 1]``, in the promoted dtype of the two inputs.
    """
    if a.unit != b.unit:
        raise ValueError(f"pairwise_tiou: units differ ({a.unit!r} vs {b.unit!r})")
    dtype = torch.promote_types(a.tensor.dtype, b.tensor.dtype)
    sa, ea = a.tensor.to(dtype).unbind(-1)
    sb, eb = b.tensor.to(dtype).unbind(-1)
    # (N, 1) against (1, M) broadcasts to the (N, M) matrix
    inter = (
        torch.minimum(ea[:, None], eb[None, :]) - torch.maximum(sa[:, None], sb[None, :])
    ).clamp(min=0)
    union = (ea - sa)[:, None] + (eb - sb)[None, :] - inter
    if eps > 0:
        union = union.clamp(min=eps)
    safe_union = torch.where(union > 0, union, torch.ones_like(union))
    return torch.where(union > 0, inter / safe_union, torch.zeros_like(inter))
