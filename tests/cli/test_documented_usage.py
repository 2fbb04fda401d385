"""Every `tadapt ...` line the README shows, and every usage line in `--help`, works as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tadapt.cli.main import _COMMANDS, _parse, build_parser, main
from tadapt.config import load_config

ROOT = Path(__file__).resolve().parents[2]
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # PRESET, CKPT, PRESET_OR_YAML, ...


def _readme_commands() -> list[str]:
    """The ``tadapt`` lines of the README's bash blocks (continuations joined, comments cut)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("tadapt "):
                commands.append(line)
    return commands


def _help_usages() -> list[str]:
    """The ``tadapt CMD ...`` usage lines in each command's ``--help`` description."""
    usages = []
    for name in _COMMANDS:
        parser = build_parser(name)
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        usages += re.findall(rf"``(tadapt {re.escape(name)} [^`]+)``", sub.description or "")
    return usages


def _concrete(usage: str) -> list[str]:
    """A usage line with placeholders filled: ``[key=value ...]`` -> ``train.epochs=1``."""
    usage = re.sub(r"\[(?:key|KEY)[\w.]*=(?:value|VALUE) \.\.\.\]", "train.epochs=1", usage)
    usage = re.sub(r"\[[^\]]*\]", "", usage)  # other optional parts left out
    tokens = shlex.split(usage)[1:]
    filled = []
    for i, token in enumerate(tokens):
        if _PLACEHOLDER.match(token):  # the config argument gets a real preset
            token = "tiny_synthetic_features" if i == 1 else "placeholder"
        filled.append(token)
    return filled


def test_the_readme_shows_the_commands_this_test_checks() -> None:
    commands = _readme_commands()
    assert len(commands) >= 8
    assert any(c.startswith("tadapt test runs/") for c in commands)


@pytest.mark.parametrize("command", _readme_commands())
def test_every_readme_command_parses_and_its_config_loads(command: str) -> None:
    argv = shlex.split(command)[1:]
    args = _parse(argv)
    assert args.command == argv[0]
    config = getattr(args, "config", None)
    if config is not None and not Path(config).suffix:  # a preset: its overrides must be valid
        load_config(config, args.overrides)


def test_help_shows_usage_lines() -> None:
    usages = _help_usages()
    assert {u.split()[1] for u in usages} >= {"train", "test", "lofi"}


@pytest.mark.parametrize("usage", _help_usages())
def test_every_help_usage_line_parses(usage: str) -> None:
    argv = _concrete(usage)
    args = _parse(argv)
    assert args.command == argv[0]
    if getattr(args, "overrides", None) is not None:
        assert "train.epochs=1" in args.overrides or "[" not in usage


@pytest.mark.slow
def test_readme_quick_start_train_then_test_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's end-to-end pair, verbatim, in a fresh folder."""
    commands = _readme_commands()
    train = next(c for c in commands if c.startswith("tadapt train tiny_synthetic_videos"))
    test = next(c for c in commands if c.startswith("tadapt test runs/tia/"))
    monkeypatch.chdir(tmp_path)
    assert main([*shlex.split(train)[1:], "train.progress=false"]) == 0
    trained = capsys.readouterr().out
    assert main(shlex.split(test)[1:]) == 0
    tested = capsys.readouterr().out
    mean = re.compile(r"average mAP:? ([\d.]+) %", re.IGNORECASE)
    assert mean.search(trained).group(1) == mean.search(tested).group(1)  # type: ignore[union-attr]
