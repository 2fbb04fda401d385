from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tadapt.cli.main import main
from tadapt.io import load_annotations, write_predictions_csv, write_predictions_json
from tadapt.structures import Detections

# (file under tests/data, --split, expected tIoU preset, extra args)
REAL_FILES = [
    ("thumos14/test_Annotation.csv", None, "thumos14", []),
    ("thumos14/val_Annotation.csv", None, "thumos14", []),
    ("thumos14/thumos14_test_groundtruth.csv", None, "thumos14", []),
    ("thumos14/thumos14_actionformer.json", "test", "thumos14", []),
    ("thumos14/thumos_14_anno_opentad.json", "test", "thumos14", []),
    ("multithumos/multithumos_anno.json", "validation", "multithumos", []),
    ("activitynet/anet_anno_action.json", "val", "activitynet", []),
]


def _perfect_predictions(annotations) -> list[Detections]:
    """The ground truth itself, each instance scored by its position (distinct scores)."""
    out, rank = [], 0
    for gt in annotations.videos.values():
        n = len(gt)
        scores = 1.0 - (torch.arange(n, dtype=torch.float64) + rank) * 1e-6
        rank += n
        out.append(Detections(gt.video_id, gt.segments, scores, gt.labels))
    return out


@pytest.mark.data
@pytest.mark.parametrize(("name", "split", "preset", "extra"), REAL_FILES)
def test_evaluate_every_real_file(real_data, tmp_path, capsys, name, split, preset, extra):
    gt_path = real_data / name
    annotations = load_annotations(gt_path, past_duration="keep")  # what evaluate scores
    if split is not None:
        annotations = annotations.split(split)
    pred_path = tmp_path / "pred.json"
    write_predictions_json(pred_path, _perfect_predictions(annotations), annotations.class_names)
    report = tmp_path / "report.json"
    argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--out", str(report)]
    if split is not None:
        argv += ["--split", split]
    assert main(argv + extra) == 0
    printed = capsys.readouterr().out
    assert "Average mAP: 100.00 %" in printed
    payload = json.loads(report.read_text())
    assert payload["average_mAP"] == pytest.approx(1.0)
    assert payload["meta"]["tiou_preset"] == preset
    assert set(payload["per_class"]) <= set(annotations.class_names)
    assert all(0.0 <= v <= 1.0 for v in payload["mAP"].values())


@pytest.mark.data
def test_split_aliases_and_case(real_data, tmp_path):
    gt_path = real_data / "thumos14" / "thumos14_actionformer.json"
    test_split = load_annotations(gt_path).split("Test")
    pred_path = tmp_path / "pred.csv"
    write_predictions_csv(pred_path, _perfect_predictions(test_split), test_split.class_names)
    for split in ("test", "TEST", "Test"):
        out = tmp_path / f"{split}.json"
        argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--split", split]
        assert main([*argv, "--out", str(out)]) == 0
        assert json.loads(out.read_text())["meta"]["num_videos"] == 212
    # the training split ("train" -> "Validation") has no predictions: every AP is 0
    out = tmp_path / "train.json"
    argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--split", "train"]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["average_mAP"] == 0.0
    assert report["num_unknown_video_predictions"] > 0


@pytest.mark.data
def test_ambiguous_option_and_explicit_thresholds(real_data, tmp_path):
    gt_path = real_data / "thumos14" / "test_Annotation.csv"
    annotations = load_annotations(gt_path)
    dets = _perfect_predictions(annotations)
    # add a top-scored false positive exactly on an Ambiguous region
    video = next(v for v in annotations.videos.values() if len(v.ambiguous) and len(v))
    fp = Detections(video.video_id, video.ambiguous[0], torch.tensor([2.0]), video.labels[:1])
    pred_path = tmp_path / "pred.json"
    write_predictions_json(pred_path, [*dets, fp], annotations.class_names)
    reports = {}
    for policy in ("remove", "ignore_fp"):
        out = tmp_path / f"{policy}.json"
        argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--tiou", "0.5"]
        assert main([*argv, "--ambiguous", policy, "--out", str(out)]) == 0
        reports[policy] = json.loads(out.read_text())
    assert list(reports["remove"]["mAP"]) == ["0.50"]
    assert reports["remove"]["average_mAP"] < 1.0
    assert reports["ignore_fp"]["average_mAP"] == pytest.approx(1.0)
    assert reports["ignore_fp"]["num_ambiguous_ignored"] == 1


def _write(path, payload):
    path.write_text(json.dumps(payload))
    return path


@pytest.fixture
def small_gt(tmp_path):
    return _write(
        tmp_path / "gt.json",
        {
            "version": "x",
            "database": {
                "v1": {
                    "subset": "Test",
                    "duration": 20.0,
                    "fps": 30.0,
                    "annotations": [{"label": "Jump", "segment": [1.0, 5.0], "label_id": 0}],
                }
            },
        },
    )


@pytest.mark.parametrize(
    ("pred", "args", "message"),
    [
        (None, [], "pred.json"),  # missing file
        ({"results": {"v1": [{"label": "Fly", "score": 0.5, "segment": [1, 2]}]}}, [], "Fly"),
        ({"results": {"v1": [{"label": "Jump", "score": 0.5, "segment": [3, 2]}]}}, [], "v1"),
        ({"results": {"v1": [{"label": "Jump", "segment": [1, 2]}]}}, [], "score"),
        ({"results": {}}, ["--split", "training"], "training"),
        ({"results": {}}, ["--tiou", "0.5,abc"], "--tiou"),
        ({"results": {}}, ["--tiou", "1.5"], "thresholds"),
        ({"results": {}}, ["--top-k", "1.5"], "--top-k"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, small_gt, capsys, pred, args, message):
    pred_path = tmp_path / "pred.json"
    if pred is not None:
        _write(pred_path, pred)
    code = main(["evaluate", "--gt", str(small_gt), "--pred", str(pred_path), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert err[0].startswith("tadapt evaluate: error:")
    assert message in err[0]


def test_unknown_labels_can_be_ignored(tmp_path, small_gt):
    pred = {
        "results": {
            "v1": [
                {"label": "Jump", "score": 0.9, "segment": [1.0, 5.0]},
                {"label": "Fly", "score": 0.5, "segment": [1.0, 2.0]},
            ]
        }
    }
    out = tmp_path / "r.json"
    argv = ["evaluate", "--gt", str(small_gt), "--pred", str(_write(tmp_path / "p.json", pred))]
    assert main([*argv, "--unknown-labels", "ignore", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["average_mAP"] == pytest.approx(1.0)
    assert report["meta"]["num_unknown_label_predictions"] == 1


def test_bsn_style_prediction_ids_are_aligned(tmp_path, small_gt):
    pred = {"results": {"v_v1": [{"label": "Jump", "score": 0.9, "segment": [1.0, 5.0]}]}}
    out = tmp_path / "r.json"
    argv = ["evaluate", "--gt", str(small_gt), "--pred", str(_write(tmp_path / "p.json", pred))]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["average_mAP"] == pytest.approx(1.0)
    assert report["meta"]["num_renamed_videos"] == 1


def test_several_subsets_need_split(tmp_path, capsys):
    gt = {
        "version": "x",
        "database": {
            vid: {
                "subset": subset,
                "duration": 9.0,
                "fps": 30.0,
                "annotations": [{"label": "Jump", "segment": [1.0, 5.0], "label_id": 0}],
            }
            for vid, subset in (("a", "Validation"), ("b", "Test"))
        },
    }
    gt_path = _write(tmp_path / "gt.json", gt)
    pred_path = _write(tmp_path / "p.json", {"results": {}})
    assert main(["evaluate", "--gt", str(gt_path), "--pred", str(pred_path)]) == 2
    assert "--split" in capsys.readouterr().err


def test_demo_checks_the_evaluator_then_trains_a_detector(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "measured 68.00 % -> OK" in out
    assert json.loads((tmp_path / "report.json").read_text())["average_mAP"] == pytest.approx(0.68)
    report = json.loads((tmp_path / "tiny_run" / "report.json").read_text())
    assert report["average_mAP"] >= 0.9
    assert f"average mAP: {100 * report['average_mAP']:.2f} %" in out
    # step 3: head only vs TIA from the shipped pretrained backbone, side by side
    for strategy in ("frozen", "tia"):
        run = json.loads((tmp_path / f"tiny_{strategy}" / "report.json").read_text())
        row = f"{strategy:<10}{100 * run['average_mAP']:>10.2f} %  {tmp_path / f'tiny_{strategy}'}"
        assert row in out
        config = (tmp_path / f"tiny_{strategy}" / "config.yaml").read_text()
        assert "name: videomae_tiny_patch16.synth" in config
        assert f"strategy: {strategy}" in config
    assert (tmp_path / "tiny_tia" / "checkpoints" / "adapters.pt").is_file()
    # a second demo run replaces its own previous runs instead of refusing
    assert main(["demo", "--out", str(tmp_path)]) == 0


def test_python_dash_m_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "tadapt", "list", "backbones"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "videomae_base_patch16" in done.stdout
