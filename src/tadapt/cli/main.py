"""The ``tadapt`` entry point: one argparse parser with a subcommand per job."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from tadapt.cli import check_data, demo, evaluate, extract, list_cmd, lofi, synth, test, train
from tadapt.version import __version__

__all__ = ["build_parser", "main"]

# Set TADAPT_DEBUG=1 to get the full traceback instead of the one-line error.
_DEBUG_ENV = "TADAPT_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tadapt",
        description="End-to-end temporal action localization with adapted video foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"tadapt {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check_data.add_parser(subparsers)
    demo.add_parser(subparsers)
    evaluate.add_parser(subparsers)
    extract.add_parser(subparsers)
    list_cmd.add_parser(subparsers)
    lofi.add_parser(subparsers)
    synth.add_parser(subparsers)
    test.add_parser(subparsers)
    train.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (2 on bad input, with a one-line reason)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except (ValueError, OSError) as exc:
        if os.environ.get(_DEBUG_ENV):
            raise
        print(f"tadapt {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
