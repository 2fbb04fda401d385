"""Split roles: ``train`` / ``test`` are the same videos in every annotation format."""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

import pytest

from real_data import real_file
from tadapt.config import list_presets, load_config
from tadapt.io import AnnotationError, Annotations, load_annotations

# file -> (train subset, its videos, test subset, its videos); None: the file has no such videos
THUMOS_FILES = {
    "thumos14/thumos14_actionformer.json": ("Validation", 200, "Test", 212),
    "thumos14/thumos_14_anno_opentad.json": ("training", 200, "validation", 211),
    "thumos14/val_Annotation.csv": ("validation", 200, None, 0),
    "thumos14/test_Annotation.csv": (None, 0, "test", 213),
    "thumos14/thumos14_test_groundtruth.csv": (None, 0, "test", 213),
    "multithumos/multithumos_anno.json": ("training", 10, "validation", 10),
}
ANET_FILES = {"activitynet/anet_anno_action.json": ("training", 9649, "validation", 4728)}


@cache
def _load(name: str) -> Annotations:
    return load_annotations(real_file(name))


def _ids(annotations: Annotations, split: str) -> set[str]:
    return set(annotations.split(split).videos)


@pytest.mark.data
@pytest.mark.parametrize("name", [*THUMOS_FILES, *ANET_FILES])
def test_each_role_is_the_expected_subset(name: str) -> None:
    train, num_train, test, num_test = {**THUMOS_FILES, **ANET_FILES}[name]
    annotations = _load(name)
    for role, subset, count in (("train", train, num_train), ("test", test, num_test)):
        if subset is None:
            with pytest.raises(AnnotationError, match=f"no subset matches split '{role}'"):
                annotations.resolve_split(role)
            continue
        assert annotations.resolve_split(role) == subset
        assert len(_ids(annotations, role)) == count
    if train is not None and test is not None:
        assert not _ids(annotations, "train") & _ids(annotations, "test")


@pytest.mark.data
@pytest.mark.parametrize("name", THUMOS_FILES)
def test_thumos_roles_are_the_thumos_sets_in_every_format(name: str) -> None:
    annotations = _load(name)
    train, _, test, _ = THUMOS_FILES[name]
    if train is not None:
        assert all(v.startswith("video_validation_") for v in _ids(annotations, "train"))
    if test is not None:
        assert all(v.startswith("video_test_") for v in _ids(annotations, "test"))
    # THUMOS-14 has no held-out validation set: its validation videos are the training data
    assert "val" not in annotations.split_aliases


@pytest.mark.data
def test_thumos_files_agree_on_the_videos_of_each_role() -> None:
    actionformer = _load("thumos14/thumos14_actionformer.json")
    opentad = _load("thumos14/thumos_14_anno_opentad.json")
    train = _ids(actionformer, "train")
    assert train == _ids(opentad, "train") == _ids(_load("thumos14/val_Annotation.csv"), "train")
    test_csv = _ids(_load("thumos14/test_Annotation.csv"), "test")
    # the test sets differ only by the videos a repackaging dropped (OpenTAD: 2 of 213)
    assert _ids(opentad, "test") <= _ids(actionformer, "test") <= test_csv
    assert len(test_csv - _ids(opentad, "test")) == 2


@pytest.mark.data
def test_an_explicit_subset_name_is_the_files_own(caplog: pytest.LogCaptureFixture) -> None:
    opentad = _load("thumos14/thumos_14_anno_opentad.json")
    with caplog.at_level(logging.WARNING, logger="tadapt.io.annotations"):
        assert opentad.resolve_split("training") == "training"
    assert not caplog.records
    # OpenTAD's "validation" holds the THUMOS test videos: resolved as written, with a warning
    with caplog.at_level(logging.WARNING, logger="tadapt.io.annotations"):
        assert opentad.resolve_split("validation") == "validation"
    (record,) = caplog.records
    assert "split 'validation' is the subset 'validation'" in record.getMessage()
    assert "211 videos are the THUMOS-14 test videos (video_test_*)" in record.getMessage()
    caplog.clear()
    # in ActionFormer's file and the CSV, "validation" is the THUMOS validation set: no warning
    with caplog.at_level(logging.WARNING, logger="tadapt.io.annotations"):
        assert _load("thumos14/thumos14_actionformer.json").resolve_split("validation") == (
            "Validation"
        )
        assert _load("thumos14/val_Annotation.csv").resolve_split("Validation") == "validation"
    assert not caplog.records


@pytest.mark.data
def test_activitynet_testing_has_no_ground_truth(caplog: pytest.LogCaptureFixture) -> None:
    bsn = _load("activitynet/anet_anno_action.json")
    assert bsn.resolve_split("test") == bsn.resolve_split("val") == "validation"
    with caplog.at_level(logging.WARNING, logger="tadapt.io.annotations"):
        assert len(bsn.split("testing").videos) == 4851
    (record,) = caplog.records
    assert "subset 'testing', whose 4851 videos have no annotated instance" in record.getMessage()


def test_thumos_ids_set_the_roles_whatever_the_subsets_are_called(tmp_path: Path) -> None:
    def video(subset: str) -> dict[str, object]:
        return {
            "subset": subset,
            "duration": 9.0,
            "annotations": [{"label": "x", "segment": [1, 2]}],
        }

    database = {
        "video_validation_1": video("fold_a"),
        "video_test_1": video("fold_b"),
        "video_test_2": video("fold_b"),
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"database": database}))
    annotations = load_annotations(path, class_names=["x"])
    assert annotations.split_aliases == {"train": "fold_a", "test": "fold_b"}
    # a subset mixing THUMOS sets has no THUMOS meaning: the generic roles apply
    database["video_test_3"] = video("fold_a")
    path.write_text(json.dumps({"database": database}))
    annotations = load_annotations(path, class_names=["x"])
    assert annotations.split_aliases == {}
    with pytest.raises(AnnotationError, match=r"no subset matches split 'test'.*roles: none"):
        annotations.resolve_split("test")


def _preset_files(preset: str) -> list[str]:
    dataset = load_config(preset).data.dataset
    return {"thumos14": list(THUMOS_FILES)[:2], "activitynet": list(ANET_FILES)}.get(dataset, [])


@pytest.mark.data
@pytest.mark.parametrize("preset", [p for p in list_presets() if _preset_files(p)])
def test_shipped_presets_train_and_evaluate_on_disjoint_videos(preset: str) -> None:
    data = load_config(preset).data
    for name in _preset_files(preset):
        annotations = _load(name)
        train, _, test, _ = {**THUMOS_FILES, **ANET_FILES}[name]
        assert annotations.resolve_split(data.train_split) == train, name
        assert annotations.resolve_split(data.eval_split) == test, name
        assert not _ids(annotations, data.train_split) & _ids(annotations, data.eval_split)


@pytest.mark.data
def test_the_former_thumos_preset_splits_were_the_same_videos_in_opentads_file() -> None:
    # the regression: "validation" / "test" both resolved to OpenTAD's "validation" subset
    opentad = _load("thumos14/thumos_14_anno_opentad.json")
    assert opentad.resolve_split("validation") == opentad.resolve_split("test") == "validation"
