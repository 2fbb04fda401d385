"""The ``tadapt`` entry point: one argparse parser with a subcommand per job.

Only the chosen command's module is imported (it registers its options); the others appear
in ``tadapt --help`` by name and one-line help. So ``tadapt --help``, ``tadapt evaluate``,
``tadapt check-data`` and ``tadapt list presets`` start without importing torch, which alone
takes seconds.

A command's ``KEY=VALUE`` overrides (its ``overrides`` positional) may come anywhere after
the command, between and after options too: ``tadapt test CFG --checkpoint CKPT a.b=1``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from tadapt.version import __version__

__all__ = ["build_parser", "main"]

# Set TADAPT_DEBUG=1 to get the full traceback instead of the one-line error.
_DEBUG_ENV = "TADAPT_DEBUG"

# command -> (module whose add_parser registers it, one-line help for `tadapt --help`)
_COMMANDS: dict[str, tuple[str, str]] = {
    "check-data": (
        "tadapt.cli.check_data",
        "list missing / undecodable videos and annotation problems of a dataset",
    ),
    "demo": ("tadapt.cli.demo", "run the main job on built-in synthetic data"),
    "detect": (
        "tadapt.cli.detect",
        "detect actions in your videos: JSON, CSV and a timeline PNG per video",
    ),
    "evaluate": (
        "tadapt.cli.evaluate",
        "compute detection mAP of a prediction file against ground truth",
    ),
    "export": (
        "tadapt.cli.export",
        "write a detector as a pickle-free inference bundle (safetensors, LoRA merged)",
    ),
    "extract": ("tadapt.cli.extract", "write per-video backbone features (T, C)"),
    "list": ("tadapt.cli.list_cmd", "list registered names (backbones, strategies, presets)"),
    "lofi": (
        "tadapt.cli.lofi",
        "LoFi: low-fidelity end-to-end training, full-fidelity features, head retraining",
    ),
    "memory": (
        "tadapt.cli.memory",
        "will a config's training fit on a GPU? predicted peak by part, and what would fit",
    ),
    "pretrain": (
        "tadapt.cli.pretrain",
        "VideoMAE masked-autoencoder pretraining of a backbone on a folder of videos",
    ),
    "synth": ("tadapt.cli.synth", "write a synthetic dataset of action videos"),
    "test": ("tadapt.cli.test", "evaluate a checkpoint: predictions JSON and mAP report"),
    "train": ("tadapt.cli.train", "train a detector from a preset or a YAML config"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; ``command``'s module registers its options, the others are named.

    Args:
        command: the subcommand to register fully (``None``: none, enough for ``--help``).
    """
    return _build_parsers(command)[0]


def _build_parsers(
    command: str | None,
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser | None]:
    """The top-level parser and ``command``'s own (``None`` for an unknown command)."""
    parser = argparse.ArgumentParser(
        prog="tadapt",
        description="End-to-end temporal action localization with adapted video foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"tadapt {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        if name == command:
            importlib.import_module(module).add_parser(subparsers, help_text)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser, subparsers.choices.get(command) if command is not None else None


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``, handing ``KEY=VALUE`` tokens left after options to the overrides.

    argparse fills a ``nargs="*"`` positional from one run of positional tokens only, so in
    ``tadapt test CFG --checkpoint CKPT a=1`` the ``a=1`` after the option would be refused
    (and ``parse_intermixed_args`` does not support subcommands). Here every token left over
    that is not an option joins the command's ``overrides`` in the order given (the config
    file checks each); a leftover option is refused as argparse refuses it.
    """
    # the first positional token names the command (top-level options all start with "-")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser, command_parser = _build_parsers(command)
    args, extra = parser.parse_known_args(argv)
    options = [a for a in extra if a.startswith("-")]
    if extra and (options or not isinstance(getattr(args, "overrides", None), list)):
        refuse = command_parser if command_parser is not None else parser
        refuse.error(f"unrecognized arguments: {' '.join(options or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 on bad input, with a one-line reason)."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except (ValueError, OSError, FloatingPointError) as exc:  # bad input, files, a diverged loss
        if os.environ.get(_DEBUG_ENV):
            raise
        print(f"tadapt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
