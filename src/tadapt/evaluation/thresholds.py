"""tIoU threshold presets, one per dataset family, as the field reports them."""

from __future__ import annotations

__all__ = ["TIOU_PRESETS", "tiou_thresholds_for"]


def _steps(start: float, stop: float, count: int) -> tuple[float, ...]:
    # rounded so that 0.3 prints and serialises as 0.3, not 0.30000000000000004
    step = (stop - start) / (count - 1)
    return tuple(round(start + i * step, 10) for i in range(count))


# Provenance: OpenTAD configs/_base_/datasets/* and the ActivityNet evaluation defaults.
TIOU_PRESETS: dict[str, tuple[float, ...]] = {
    "thumos14": _steps(0.3, 0.7, 5),
    "activitynet": _steps(0.5, 0.95, 10),
    "hacs": _steps(0.5, 0.95, 10),
    "fineaction": _steps(0.5, 0.95, 10),
    "epic_kitchens": _steps(0.1, 0.5, 5),
    "ego4d": _steps(0.1, 0.5, 5),
    "multithumos": _steps(0.1, 0.9, 9),
    "charades": _steps(0.1, 0.9, 9),
}


def tiou_thresholds_for(dataset: str) -> tuple[float, ...]:
    """The conventional tIoU thresholds of ``dataset`` (case-insensitive).

    Raises:
        ValueError: unknown dataset; the message lists the known ones.
    """
    key = dataset.lower().replace("-", "_")
    if key not in TIOU_PRESETS:
        known = ", ".join(sorted(TIOU_PRESETS))
        raise ValueError(f"unknown dataset {dataset!r} for tIoU thresholds; known: {known}")
    return TIOU_PRESETS[key]
