"""The first pass of ``tadapt train``: every file the run will read, checked before it starts.

Without it a missing, truncated or mislabelled file surfaces at step N of a long run (or
never: a video annotated ten times longer than the file trains on the wrong frames). The
pass runs :func:`tadapt.data.check_dataset` on the training and the evaluation split:

* videos: present, decodable (first and last frame), as long as annotated;
* features: present, a ``(T, C)`` array with ``C = data.feature_dim``, every value finite.

The backbone checkpoint's readability and fit are checked by building the model (see
:func:`tadapt.cli.train.train_experiment`), whose error joins these problems in one message.
``data.on_error=skip`` turns missing and unreadable files into warnings (the datasets leave
them out); every other problem stops the run. ``data.check_inputs=false`` skips the pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tadapt.config import ExperimentConfig
from tadapt.data.check import DataCheckReport, VideoCheck, check_dataset
from tadapt.io import Annotations

__all__ = ["SKIPPABLE", "check_inputs", "input_problems_message", "problem_lines"]

logger = logging.getLogger(__name__)

SKIPPABLE = frozenset({"missing", "undecodable", "unreadable_features"})
"""Problems that ``data.on_error=skip`` tolerates: the datasets leave those videos out."""

_SHOWN = 20  # problem rows in a message


def check_inputs(
    config: ExperimentConfig, annotations: Annotations, *, progress: bool = True
) -> list[VideoCheck]:
    """Check the files of the training and evaluation splits.

    Args:
        config: the resolved experiment.
        annotations: the whole annotation file.
        progress: show a progress bar per split.

    Returns:
        The checks whose problem must stop the run (empty when the run can start). Problems
        that ``data.on_error=skip`` tolerates are logged as warnings instead.
    """
    data = config.data
    splits = dict.fromkeys(
        annotations.resolve_split(name) for name in (data.train_split, data.eval_split)
    )
    problems: list[VideoCheck] = []
    for subset in splits:
        report = _check_split(config, annotations, subset, progress=progress)
        problems += report.problems
    tolerated = data.on_error == "skip"
    skipped = [c for c in problems if tolerated and c.problem in SKIPPABLE]
    if skipped:
        logger.warning(
            "%d videos will be left out (data.on_error=skip):\n%s",
            len(skipped),
            "\n".join(problem_lines(skipped)),
        )
    return [c for c in problems if not (tolerated and c.problem in SKIPPABLE)]


def _check_split(
    config: ExperimentConfig, annotations: Annotations, subset: str, *, progress: bool
) -> DataCheckReport:
    data = config.data
    label = f"checking {subset}" if progress else None
    if data.video_dir is not None:
        return check_dataset(
            annotations,
            videos=data.video_dir,
            split=subset,
            exts=data.video_exts,
            prefix=data.file_prefix,
            progress=label,
        )
    return check_dataset(
        annotations,
        features=data.feature_dir,
        split=subset,
        feature_ext=data.file_ext,
        prefix=data.file_prefix,
        channels=data.feature_dim,
        progress=label,
    )


def problem_lines(checks: list[VideoCheck]) -> list[str]:
    """``video: problem: detail`` per check (the first :data:`_SHOWN`, then a count)."""
    lines = [f"  {c.video_id}: {c.problem}: {c.detail}" for c in checks[:_SHOWN]]
    if len(checks) > _SHOWN:
        lines.append(f"  ... {len(checks) - _SHOWN} more")
    return lines


def input_problems_message(
    config: ExperimentConfig, problems: list[VideoCheck], others: Sequence[str] = ()
) -> str:
    """The error that stops a run: every problem (``others``: more lines), then what to do."""
    data = config.data
    folder = f"--videos {data.video_dir}" if data.video_dir else f"--features {data.feature_dir}"
    count = len(problems) + len(others)
    return "\n".join(
        [
            f"{count} problem{'s' if count > 1 else ''} found before training "
            f"(annotations {data.annotation_file}):",
            *problem_lines(problems),
            *(f"  {line}" for line in others),
            "Fix the files or the annotations (`tadapt check-data --annotations "
            f"{data.annotation_file} {folder}` checks them again); data.on_error=skip leaves "
            "out missing or unreadable files; data.check_inputs=false skips this check.",
        ]
    )
