"""``tadapt export RUN_OR_CKPT OUT``: a trained detector as a self-contained inference bundle.

Writes, in the folder OUT:

* ``weights.safetensors``: every weight of the detector (LoRA adapters merged into the
  backbone's linears; TIA, LoSA and other adapters kept as they are);
* ``config.yaml``: the run's resolved config, naming no file (no annotation file, no backbone
  weights: everything inference needs is in the bundle);
* ``class_names.json``: the class names;
* ``manifest.json``: the sha256 of each file.

``tadapt detect VIDEO --checkpoint OUT`` and ``tadapt.Detector.from_checkpoint(OUT)`` load it
with safetensors, YAML and JSON only (no pickle), after checking the sha256s. docs/detect.md
has the details.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt export``."""
    parser = subparsers.add_parser(
        "export",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "checkpoint",
        type=Path,
        metavar="RUN_OR_CKPT",
        help="run folder, or its checkpoints/best.pt, last.pt or adapters.pt",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="the bundle folder to write")
    parser.add_argument(
        "--backbone",
        type=Path,
        metavar="FILE",
        help="backbone weights an adapter-only checkpoint was trained on (default: its config's)",
    )
    parser.set_defaults(handler=run)


def _check_out(out: Path) -> None:
    """OUT is a new or empty folder, or an earlier bundle (whose files are replaced)."""
    from tadapt.inference.bundle import BUNDLE_FILES, MANIFEST

    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: a file, not a folder; give a new folder for the bundle")
    others = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    others = [name for name in others if name not in (*BUNDLE_FILES, MANIFEST)]
    if others:
        raise FileExistsError(
            f"{out}: holds other files ({', '.join(others[:3])}); give a new or empty folder"
        )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt export``."""
    from tadapt.cli.inference_setup import export_bundle

    _check_out(args.out)
    manifest, merged = export_bundle(args.checkpoint, args.out, backbone=args.backbone)
    adapters = "LoRA merged into the backbone" if merged else "weights as trained"
    print(f"bundle: {args.out} ({adapters}); sha256s in {manifest}")
    return 0
