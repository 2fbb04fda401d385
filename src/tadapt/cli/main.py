"""The ``tadapt`` entry point: one argparse parser with a subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tadapt.version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tadapt",
        description="End-to-end temporal action localization with adapted video foundation models.",
    )
    parser.add_argument("--version", action="version", version=f"tadapt {__version__}")
    parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
