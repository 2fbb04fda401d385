"""``tadapt memory``: a prediction for every preset, the budget verdict and what fits."""

from __future__ import annotations

import re

import pytest

from tadapt.cli.main import main
from tadapt.config import list_presets, load_config
from tadapt.planning.config_step import measure_step
from tadapt.profiling.gpus import CUDA_CONTEXT_BYTES

_MIB = 2**20


def _peak_mib(out: str) -> float:
    match = re.search(r"predicted peak\s+([\d,.]+)", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_gets_an_answer(preset: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", preset, "--gpu", "H100-80GB"]) == 0
    out = capsys.readouterr().out
    assert _peak_mib(out) > 0
    assert "H100-80GB: 79.60 GiB" in out


def test_the_batch_splits_over_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "tiny_synthetic_videos"]) == 0
    one = _peak_mib(capsys.readouterr().out)
    assert main(["memory", "tiny_synthetic_videos", "--gpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 window(s) per device (2 devices)" in out
    assert _peak_mib(out) < one
    assert main(["memory", "tiny_synthetic_videos", "--gpus", "3"]) == 2
    assert "train.batch_size: 4 windows do not split over 3 device(s)" in capsys.readouterr().err


def test_lofi_reports_its_largest_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "lofi_anet_videomae_s_cyclic"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"LoFi levels: .*; the largest \(\S+\) below", out), out


def test_what_fits_does_fit_when_measured(capsys: pytest.CaptureFixture[str]) -> None:
    """A budget the tiny preset misses: every suggestion, measured for real, is within it."""
    usable_mib = 14.0  # --margin 0: the card less the CUDA context
    card_gb = (CUDA_CONTEXT_BYTES / _MIB + usable_mib) / 1024
    argv = ["memory", "tiny_synthetic_videos", "--gpu", f"{card_gb:.6f}GB", "--margin", "0"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "does NOT fit" in out
    suggested = re.findall(r"^  (\S+=\S+(?: \S+=\S+)*)  -> ", out, flags=re.MULTILINE)
    assert suggested, out
    for line in suggested:
        config = load_config("tiny_synthetic_videos", line.split())
        measured = measure_step(config)
        videos = config.train.batch_size // config.train.grad_accum_steps
        frames, size = config.data.max_seq_len, config.data.image_size
        if config.train.fidelity is not None:  # the reduced batch the step saw
            frames = size = 0
        held = measured.total + videos * 3 * frames * size * size * 4  # the fp32 input frames
        assert held <= usable_mib * _MIB, line


def test_measure_prints_predicted_against_measured(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "tiny_synthetic_videos", "--measure"]) == 0
    out = capsys.readouterr().out
    rows = re.findall(r"^  (\w[\w ]+?)\s+predicted .*\(([+-][\d.]+)%\)$", out, flags=re.MULTILINE)
    assert [name for name, _ in rows] == [
        "weights",
        "gradients",
        "optimizer states",
        "saved activations",
    ]
    assert all(abs(float(error)) <= 10.0 for _, error in rows)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gpu", "lots"], "--gpu 'lots': not a size"),
        (["--gpus", "0"], "--gpus: 0 is not a number of devices"),
        (["--measure", "--measure-depth", "0"], "--measure-depth: 0"),
        (["model.strategy=nonsense"], "nonsense"),
        (["--margin", "2"], "--margin: 2.0 is not a fraction"),
        (["data.max_seq_len=0"], "data.max_seq_len: must be >= 1, got 0"),
        (["train.batch_size=0"], "train.batch_size: must be >= 1, got 0"),
        (["data.image_size=8"], "data.image_size: must be >= 16, got 8"),
    ],
)
def test_bad_options_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["memory", "tiny_synthetic_videos", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
