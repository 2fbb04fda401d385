"""``tadapt detect`` and ``tadapt.Detector``: the detections ``tadapt test`` makes, on any video.

A tiny end-to-end detector trained here (one epoch on 8 synthetic videos) and the session's
head-only run (``tiny_run``) detect their evaluation videos through the CLI; the detections
and the mAP of the merged file equal those of ``tadapt test`` exactly. The real clips of the
test data (other sizes, frame rates, containers; one shorter than a window) run too, and bad
files and checkpoints get one line naming the file.
"""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import tadapt
from real_data import real_file
from tadapt.cli.main import main
from tadapt.engine import load_checkpoint, save_checkpoint

ALL = ["--min-score", "0", "--top-k", "1000"]  # every detection, as tadapt test writes them


@pytest.fixture(scope="module")
def tested(video_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tadapt test`` of the run's best checkpoint: its output folder."""
    out = tmp_path_factory.mktemp("tested")
    checkpoint = video_run / "checkpoints" / "best.pt"
    argv = ["test", str(video_run / "config.yaml"), "--checkpoint", str(checkpoint)]
    assert main([*argv, "--out-dir", str(out)]) == 0
    return out


def _results(path: Path) -> dict[str, list[dict[str, object]]]:
    return json.loads(path.read_text())["results"]


def _evaluated_files(folder: Path, results: dict[str, object], ext: str, dest: Path) -> Path:
    """A folder holding the evaluated videos' files only."""
    dest.mkdir()
    for vid in results:
        shutil.copy(folder / f"{vid}{ext}", dest)
    return dest


def _average_map(capsys: pytest.CaptureFixture[str], argv: list[str], tmp_path: Path) -> float:
    report = tmp_path / "eval.json"
    assert main(["evaluate", *argv, "--out", str(report)]) == 0
    capsys.readouterr()
    return float(json.loads(report.read_text())["average_mAP"])


class _Report(HTMLParser):
    """What a test reads in report.html: links, inlined images, table rows, failures."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []  # every src= and href=
        self.images: dict[str, str] = {}  # alt text -> src
        self.rows: list[list[str]] = []  # the detections table: data-value, else text
        self.failures: list[str] = []
        self.scripts = 0
        self._value: str | None = None  # the open cell's data-value
        self._text: str | None = None  # the open cell's text
        self._in: str | None = None  # "table" (detections) or "failures"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.links += [v or "" for k, v in attrs if k in ("src", "href")]
        self.scripts += tag == "script"
        if tag == "img":
            self.images[found["alt"] or ""] = found["src"] or ""
        elif tag == "table" and found.get("id") == "detections":
            self._in = "table"
        elif tag == "ul" and found.get("class") == "failures":
            self._in = "failures"
        elif tag == "tbody" and self._in == "table":
            self._in = "tbody"
        elif tag == "tr" and self._in == "tbody":
            self.rows.append([])
        elif tag == "td" and self._in == "tbody":
            self._value, self._text = found.get("data-value"), ""
        elif tag == "li" and self._in == "failures":
            self.failures.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("table", "ul"):
            self._in = None
        elif tag == "td" and self._text is not None:
            self.rows[-1].append(self._value if self._value is not None else self._text)
            self._value = self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text += data
        if self._in == "failures" and self.failures:
            self.failures[-1] += data


def _check_report(out: Path, videos: list[str], failures: int = 0) -> _Report:
    """A folder run's report.html parses, inlines each timeline, lists each merged detection."""
    page = (out / "report.html").read_text()
    report = _Report()
    report.feed(page)
    report.close()
    assert not [link for link in report.links if not link.startswith("data:")]
    assert "http://" not in page  # offline: nothing fetched
    assert "https://" not in page
    assert report.scripts == 1  # the sorting, inline
    assert sorted(report.images) == sorted(f"timeline of {vid}" for vid in videos)
    for vid in videos:
        src = report.images[f"timeline of {vid}"]
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (out / f"{vid}.png").read_bytes()
    merged = _results(out / "predictions.json")  # a folder run's
    expected = sorted(
        [vid, r["label"], r["segment"][0], r["segment"][1], r["score"]]
        for vid, rows in merged.items()
        for r in rows
    )
    listed = [[v, label, float(a), float(b), float(s)] for v, label, a, b, _, s in report.rows]
    assert sorted(listed) == expected
    assert len(report.failures) == failures
    return report


def test_detect_on_videos_agrees_with_tadapt_test(video_run, tested, tmp_path, capsys):
    capsys.readouterr()
    expected = _results(tested / "predictions.json")
    synthetic = video_run / "synthetic_videos"
    videos = _evaluated_files(synthetic / "videos", expected, ".mp4", tmp_path / "videos")
    annotations = synthetic / "annotations.json"
    out = tmp_path / "out"
    argv = ["detect", str(videos), "--checkpoint", str(video_run), "--out", str(out), *ALL]
    assert main([*argv, "--gt", str(annotations)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert f"{next(iter(expected))}.mp4 windows" in captured.err  # the per-video window bar
    merged = out / "predictions.json"
    assert str(merged) in printed
    assert _results(merged) == expected  # same windows, same merging, same numbers
    for vid, rows in expected.items():
        assert _results(out / f"{vid}.json") == {vid: rows}
        lines = (out / f"{vid}.csv").read_text().splitlines()
        assert lines[0] == "video-id,t-start,t-end,label,score"
        assert len(lines) == len(rows) + 1
        png = out / f"{vid}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size > 5000
    assert f"report: {out / 'report.html'}" in printed
    _check_report(out, list(expected))
    gt = ["--gt", str(annotations), "--split", "test", "--tiou", "0.3,0.4,0.5,0.6,0.7"]
    detected = _average_map(capsys, [*gt, "--pred", str(merged)], tmp_path)
    reported = json.loads((tested / "report.json").read_text())["average_mAP"]
    assert detected == pytest.approx(reported, abs=0.0)


def test_api_restores_an_adapter_only_checkpoint(video_run, tested, monkeypatch):
    # a video is read alone: its folder (maybe a large one) is not searched
    monkeypatch.setattr("tadapt.data.base.find_files", None)
    expected = _results(tested / "predictions.json")
    vid = next(iter(expected))
    detector = tadapt.Detector.from_checkpoint(video_run / "checkpoints" / "adapters.pt")
    found = detector.detect(video_run / "synthetic_videos" / "videos" / f"{vid}.mp4")
    assert found.video_id == vid
    assert found.duration_sec == pytest.approx(8.0, abs=0.1)
    rows = [{"label": n, "score": s, "segment": [a, b]} for a, b, n, s in found.rows()]
    assert rows == expected[vid]
    assert set(found.labels) <= set(detector.class_names)
    many = list(detector.detect_many([found.path, found.path]))
    assert [len(m) for m in many] == [len(found)] * 2
    in_bf16 = tadapt.Detector.from_checkpoint(video_run, precision="bf16").detect(found.path)
    assert torch.isfinite(in_bf16.detections.scores).all()


def test_classes_are_numbered_when_the_runs_annotation_file_is_gone(video_run, tmp_path, caplog):
    checkpoint = load_checkpoint(video_run / "checkpoints" / "last.pt")
    named = tadapt.Detector.from_checkpoint(video_run).class_names
    checkpoint["config"]["data"]["annotation_file"] = str(tmp_path / "gone.json")
    save_checkpoint(tmp_path / "moved.pt", checkpoint)
    detector = tadapt.Detector.from_checkpoint(tmp_path / "moved.pt")
    assert named == ("move_right", "move_left", "rotate_cw", "rotate_ccw")
    assert detector.class_names == ("class_0", "class_1", "class_2", "class_3")
    assert f"the run's annotation file {tmp_path / 'gone.json'} is gone" in caplog.text


def test_detect_on_features_agrees_with_tadapt_test(tiny_run, tmp_path, capsys):
    # whole-video features pad each video to the longest of its batch: one video per batch
    # in the evaluation pads exactly as a video detected alone (docs/detect.md)
    test_dir = tmp_path / "test"
    argv = ["test", str(tiny_run / "config.yaml"), "--checkpoint", str(tiny_run)]
    argv[-1] = str(tiny_run / "checkpoints" / "best.pt")
    assert main([*argv, "eval.batch_size=1", "--out-dir", str(test_dir)]) == 0
    expected = _results(test_dir / "predictions.json")
    synthetic = tiny_run / "synthetic_features"
    features = _evaluated_files(synthetic / "features", expected, ".npy", tmp_path / "features")
    out = tmp_path / "out"
    gt = str(synthetic / "annotations.json")
    argv = ["detect", str(features), "--checkpoint", str(tiny_run), "--out", str(out)]
    assert main([*argv, *ALL, "--gt", gt]) == 0
    assert _results(out / "predictions.json") == expected
    # one file; the defaults keep the 50 best of those scoring 0.1 or more
    vid = next(iter(expected))
    one = ["detect", str(features / f"{vid}.npy"), "--checkpoint", str(tiny_run)]
    assert main([*one, "--out", str(tmp_path / "default")]) == 0
    assert not (tmp_path / "default" / "predictions.json").exists()  # a folder run's file
    rows = _results(tmp_path / "default" / f"{vid}.json")[vid]
    assert rows == [r for r in expected[vid] if r["score"] >= 0.1][:50]
    # a threshold that keeps nothing says how far to lower it
    capsys.readouterr()
    assert main([*one, "--min-score", "0.999", "--out", str(tmp_path / "none")]) == 0
    best = max(r["score"] for r in expected[vid])
    out = capsys.readouterr().out
    assert f"0 detections -> {tmp_path / 'none' / vid}" in out
    assert f"(best score {best:.3g} < --min-score 0.999: lower it to see some)" in out


def test_real_clips_run_at_their_native_fps_and_size(video_run, tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    names = ["clip_32f.mp4", "clip_164f.avi", "kinetics_clip_300f.mp4"]  # 32 f: under a window
    for name in names:
        shutil.copy(real_file(f"videos/{name}"), clips)
    out = tmp_path / "out"
    assert main(["detect", str(clips), "--checkpoint", str(video_run), "--out", str(out)]) == 0
    for name in names:
        stem = Path(name).stem
        assert (out / f"{stem}.png").stat().st_size > 5000
        assert stem in _results(out / f"{stem}.json")


def _audio_only(path: Path) -> None:
    """An .mp4 with one second of silence and no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 16000), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_a_folder_run_goes_on_past_bad_videos_and_lists_them(video_run, tmp_path, capsys):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(real_file("videos/clip_32f.mp4"), folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("not a video\n")
    _audio_only(folder / "audio.mp4")
    out = tmp_path / "out"
    capsys.readouterr()
    rc = main(["detect", str(folder), "--checkpoint", str(video_run), "--out", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "3 of 4 files failed" in err
    for bad in ("empty.mp4", "text.mp4", "audio.mp4"):
        assert str(folder / bad) in err
    assert (out / "good.png").is_file()
    assert list(_results(out / "predictions.json")) == ["good"]
    report = _check_report(out, ["good"], failures=3)
    for bad in ("empty.mp4", "text.mp4", "audio.mp4"):
        assert any(line.startswith(f"{folder / bad}: ") for line in report.failures)
    # one bad video alone: the one-line error of every command, exit code 2
    rc = main(["detect", str(folder / "audio.mp4"), "--checkpoint", str(video_run)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tadapt detect: error: {folder / 'audio.mp4'}: ")
    assert "\n" not in err


def test_checkpoints_of_the_wrong_kind_are_refused(video_run, tiny_run, tmp_path, capsys):
    video = real_file("videos/clip_32f.mp4")
    shipped = Path(tadapt.__file__).parent / "weights" / "videomae_tiny_patch16_synth.pth"
    pretrain = tmp_path / "pretrain.pt"
    torch.save({"model": {}, "version": 1, "config": {"mask_ratio": 0.9}}, pretrain)
    foreign = tmp_path / "other_backbone.pth"
    torch.save({"model": {"patch_embed.proj.weight": torch.zeros(8, 3, 2, 16, 16)}}, foreign)
    adapters = video_run / "checkpoints" / "adapters.pt"
    cases = [
        (["--checkpoint", str(shipped)], str(shipped)),
        (["--checkpoint", str(pretrain)], "carries no detector config"),
        (["--checkpoint", str(tmp_path)], "without checkpoints/best.pt"),
        (["--checkpoint", str(adapters), "--backbone", str(foreign)], "does not fit the adapters"),
        (["--checkpoint", str(video_run), "--backbone", str(shipped)], "is a full checkpoint"),
        (["--checkpoint", str(tiny_run)], "head-only (trained on features)"),
        (["--checkpoint", str(video_run), "--device", "gpu"], "device 'gpu': not a device"),
        (["--checkpoint", str(video_run), "--top-k", "0"], "--top-k >= 1"),
    ]
    if not torch.cuda.is_available():
        cases.append(
            (["--checkpoint", str(video_run), "--device", "cuda"], "CUDA is not available")
        )
    capsys.readouterr()
    for extra, expected in cases:
        assert main(["detect", str(video), *extra, "--out", str(tmp_path / "o")]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("tadapt detect: error: "), err
        assert "\n" not in err, err
        assert expected in err, err
