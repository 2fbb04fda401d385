"""``tadapt list``: show what can be named on the command line.

``tadapt list backbones`` prints one row per backbone architecture: width, depth, heads,
patch size, parameter count (computed on the meta device, so nothing is allocated) and the
weight tags with their sources; ``bundled`` marks weights shipped inside tadapt, which
``model.backbone.pretrained: true`` loads without a checkpoint. Further kinds (strategies,
datasets, presets) become new choices of the same positional argument.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from tadapt.config import list_presets, preset_path

if TYPE_CHECKING:
    from tadapt.backbones import PretrainedCfg

__all__ = ["add_parser", "backbone_rows", "run"]


def backbone_rows() -> list[list[str]]:
    """One table row per backbone: name, dim, depth, heads, patch, params (M), weight tags."""
    import torch  # the backbones are built (on the meta device) to count their parameters

    from tadapt.backbones import create_backbone, list_backbones, list_pretrained_cfgs

    rows = []
    for name in list_backbones():
        with torch.device("meta"):
            model = create_backbone(name)
        params = sum(p.numel() for p in model.parameters())
        records = list_pretrained_cfgs(name)
        weights = ", ".join(_tag_cell(cfg) for cfg in records) or "-"
        rows.append(
            [
                name,
                str(model.embed_dim),
                str(model.depth),
                str(model.num_heads),
                str(model.patch_size),
                f"{params / 1e6:.1f}",
                weights,
            ]
        )
    return rows


def _tag_cell(cfg: PretrainedCfg) -> str:
    # "bundled": the weights ship with tadapt, so pretrained=true needs no checkpoint
    where = "bundled, " if cfg.bundled_file is not None else ""
    return f"{cfg.tag} ({where}{cfg.source})"


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _list_backbones() -> None:
    header = ["name", "dim", "depth", "heads", "patch", "params (M)", "weight tags (source)"]
    _print_table(header, backbone_rows())


def _list_presets() -> None:
    rows = []
    for name in list_presets():
        # the preset's first comment line says what it reproduces
        first = preset_path(name).read_text(encoding="utf-8").splitlines()[0]
        rows.append([name, first.lstrip("# ").strip()])
    _print_table(["preset", "what it is"], rows)


def _list_strategies() -> None:
    from tadapt.adapters import get_strategy, list_strategies  # the registry holds torch modules

    rows = []
    for name in list_strategies():
        strategy = get_strategy(name)
        no_grad = "yes" if strategy.no_grad else "no"
        rows.append([name, strategy.trains, no_grad, strategy.checkpoint, strategy.description])
    _print_table(["strategy", "trains", "no_grad", "checkpoint", "what it does"], rows)


_KINDS: dict[str, Callable[[], None]] = {
    "backbones": _list_backbones,
    "presets": _list_presets,
    "strategies": _list_strategies,
}


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt list``."""
    parser = subparsers.add_parser(
        "list",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=sorted(_KINDS), help="what to list")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the requested listing; returns 0."""
    _KINDS[args.kind]()
    return 0
