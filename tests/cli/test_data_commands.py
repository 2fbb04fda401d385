from __future__ import annotations

import json

from tadapt.cli.main import main


def test_synth_then_check_data_then_list(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", str(out), "--videos", "4", "--classes", "2", "--seed", "3"]
    assert main([*argv, "--duration", "16", "--workers", "1", "--no-progress"]) == 0
    assert "wrote 4 videos" in capsys.readouterr().out
    database = json.loads((out / "annotations.json").read_text())["database"]
    assert len(database) == 4
    ann, videos = str(out / "annotations.json"), str(out / "videos")
    assert main(["check-data", "--annotations", ann, "--videos", videos]) == 0
    assert "no problems found" in capsys.readouterr().out
    # a missing video is a problem: exit code 1, named in the output
    missing = sorted((out / "videos").iterdir())[0]
    missing.unlink()
    assert main(["check-data", "--annotations", ann, "--videos", videos]) == 1
    assert missing.stem in capsys.readouterr().out
    assert main(["list", "backbones"]) == 0
    assert "videomaev2_giant_patch14" in capsys.readouterr().out
    assert main(["list", "presets"]) == 0
    assert "tiny_synthetic_features" in capsys.readouterr().out
