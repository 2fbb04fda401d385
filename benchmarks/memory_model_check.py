"""The analytical memory model against the meter: saved-activation bytes, predicted and measured.

For every tuning strategy, with and without activation checkpointing, in fp32 and bf16
autocast, one training step of the ``tiny_synthetic_videos`` detector is measured with
:func:`tadapt.planning.measure_step` (random weights, the exact saved-tensor meter) and
predicted with :func:`tadapt.planning.predict_step_memory`; the table gives both and the
relative error of the prediction. Shapes: ``--backbone`` (default the ViT-S shape
``videomae_small_patch16``: 384 wide, 6 heads) at ``--depth`` blocks, one video of
``--frames`` frames at ``--size`` px, plus one LoFi level (``2x1``: half the frames) and the
unfused ``math`` attention path for ``full`` and ``tia``.

    python benchmarks/memory_model_check.py            # ViT-S, 2 blocks, 64 frames, 112 px
    python benchmarks/memory_model_check.py --quick    # tiny ViT, 32 frames, 32 px
"""

from __future__ import annotations

import argparse
import datetime

from tadapt.config import load_config
from tadapt.engine import FidelityLevel
from tadapt.planning import Attention, measure_step, predict_step_memory

STRATEGIES = ("frozen", "full", "adapter", "lora", "tia", "tia_side", "losa")
MIB = 2**20


def main() -> None:
    """Measure and predict every row; print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="videomae_small_patch16")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--quick", action="store_true", help="tiny ViT, 32 frames, 32 px")
    args = parser.parse_args()
    if args.quick:
        args.backbone, args.frames, args.size = "videomae_tiny_patch16", 32, 32
    base = [
        "train.batch_size=1",
        f"data.max_seq_len={args.frames}",
        f"data.image_size={args.size}",
        f"model.backbone.name={args.backbone}",
        f"model.backbone.overrides={{depth: {args.depth}}}",
    ]
    rows: list[tuple[str, list[str], FidelityLevel | None, Attention | None]] = []
    for precision in ("fp32", "bf16"):
        for checkpointing in ("true", "false"):
            for strategy in STRATEGIES:
                state = "on" if checkpointing == "true" else "off"
                label = f"{strategy}, {precision}, ckpt {state}"
                overrides = [
                    f"model.strategy={strategy}",
                    f"train.precision={precision}",
                    f"model.backbone.grad_checkpointing={checkpointing}",
                ]
                rows.append((label, overrides, None, None))
    for strategy in ("full", "tia"):
        off = [f"model.strategy={strategy}", "model.backbone.grad_checkpointing=false"]
        rows.append((f"{strategy}, fp32, ckpt off, LoFi 2x1", off, FidelityLevel(2, 1), None))
        rows.append((f"{strategy}, fp32, ckpt off, math attention", off, None, "math"))
    print(
        f"{args.backbone}, depth {args.depth}, 1 x {args.frames} frames x {args.size} px, "
        f"CPU, {datetime.date.today().isoformat()}\n"
    )
    print("| row | measured MiB | predicted MiB | error |")
    print("|---|---:|---:|---:|")
    for label, overrides, level, attention in rows:
        config = load_config("tiny_synthetic_videos", [*base, *overrides])
        measured = measure_step(config, fidelity=level, attention=attention).activations
        predicted = predict_step_memory(
            config, fidelity=level, attention=attention or "flash"
        ).activations
        error = (predicted - measured) / measured
        print(f"| {label} | {measured / MIB:.2f} | {predicted / MIB:.2f} | {error:+.2%} |")


if __name__ == "__main__":
    main()
