"""Calibration and scaling of the memory planner (``tadapt memory``), measured in one run.

1. **Calibration**: the analytical model (:func:`tadapt.planning.predict_step_memory`)
   against the exact meter (:func:`tadapt.planning.measure_step`: the bytes autograd saves,
   counted with saved-tensor hooks) for ViT-S and ViT-B shapes with random weights, 64-512
   frames, 112 and 160 px, every strategy, with and without activation checkpointing. The
   backbone runs with ``--depth`` blocks (default 2: each block's bytes are exact and the
   model scales the count), one window per step.
2. **Scaling**: the predicted training peak of one device against frames (64 -> 1,536) and
   against depth for ``full``, ``tia`` with and without checkpointing, ``tia_side``, ``losa``,
   ``frozen`` and ``tia`` at LoFi's three levels (ViT-B shape, 160 px, amp as the AdaTAD
   presets), with the meter's figures (scaled to the full depth) where it ran; and the wall
   time of one training step against frames, measured on this machine at ``--depth`` blocks.
3. **The papers' settings**: the plan for AdaTAD's ViT-g presets (768 x 160 and 1,536 x 224,
   one window per GPU), next to the only public figure (about 30.7 GB per GPU for ViT-g at
   768 x 160, OpenTAD issue #4, ``max_memory_allocated``), and the nearest settings that bring
   each within 24 GB and 80 GB cards.

Writes ``scaling.md``, ``scaling_calibration.csv``, ``scaling_frames.csv``,
``scaling_depth.csv``, ``scaling_time.csv`` and the plots ``scaling_memory.png`` and
``scaling_time.png`` to ``--out-dir`` (default ``benchmarks/results``).

    python benchmarks/scaling.py              # the whole run (about 30 min on 2 CPU cores)
    python benchmarks/scaling.py --quick      # one shape, two frame counts (about a minute)
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from tadapt.config import ExperimentConfig, load_config
from tadapt.engine import FidelityLevel
from tadapt.planning import (
    measure_step,
    plan_memory,
    predict_step_memory,
    random_training_step,
    scale_measurement,
)
from tadapt.profiling import cpu_model, parse_gpu, peak_meter

BASE = "adatad_thumos14_videomae_s_768x1_160"  # AdaTAD's THUMOS-14 recipe, its backbone replaced
STRATEGIES = ("frozen", "full", "adapter", "lora", "tia", "tia_side", "losa")
SHAPES = {"ViT-S": "videomae_small_patch16", "ViT-B": "videomae_base_patch16"}
PUBLIC_VIT_G_GIB = 30.7 * 1000 / 1024  # "about 30.7 GB", logged by OpenTAD in MiB / 1024
# Why the public figure is higher than the plan: written from OpenTAD's code, not measured
OPENTAD_GAP = (
    "The plan is what tadapt's step holds; the public figure is OpenTAD's allocator peak, and "
    "its ViT differs: `opentad/models/backbones/vit_adapter.py` adds the fp32 position table "
    "to the fp16 patch embedding (`x = x + pos_embed`), so under AMP its residual stream, and "
    "every checkpointed block input, is fp32, twice tadapt's (which casts the table to the "
    "tokens' dtype, as the official VideoMAE does): about 5 GiB more at 768 x 160. OpenTAD's "
    "checkpoint rule (`with_cp and x.requires_grad`: `model.backbone.checkpoint_skip_first="
    "true`) adds 0.25 GiB here. The rest of the gap (about 12 GiB) is what the model leaves "
    "out: activation gradients in flight during the backward, the caching allocator's "
    "rounding, cuDNN / cuBLAS workspaces and DDP's gradient buckets (docs/memory.md). No GPU "
    "was available to measure it; `tadapt memory PRESET --measure` on a GPU prints the "
    "allocator's peak next to the plan.",
)
_MIB = 2**20
_GIB = 2**30


@dataclass(frozen=True)
class Variant:
    """One curve of the scaling plots: a strategy, checkpointing, and a LoFi level."""

    label: str
    strategy: str
    checkpointing: bool
    level: FidelityLevel | None = None


VARIANTS = (
    Variant("full", "full", True),
    Variant("tia", "tia", True),
    Variant("tia, no ckpt", "tia", False),
    Variant("tia_side", "tia_side", True),
    Variant("losa", "losa", True),
    Variant("frozen", "frozen", True),
    Variant("tia, LoFi S (1x2)", "tia", True, FidelityLevel(1, 2)),
    Variant("tia, LoFi T (4x1)", "tia", True, FidelityLevel(4, 1)),
    Variant("tia, LoFi ST (2x1.41)", "tia", True, FidelityLevel(2, 2**0.5)),
)


def experiment(
    backbone: str,
    frames: int,
    size: int,
    strategy: str,
    checkpointing: bool,
    precision: str = "fp32",
    extra: Sequence[str] = (),
) -> ExperimentConfig:
    """The base recipe with one window per step and the given shape and settings."""
    return load_config(
        BASE,
        [
            f"model.backbone.name={backbone}",
            f"data.max_seq_len={frames}",
            f"model.max_seq_len={frames}",
            f"data.eval_window={frames}",
            f"data.image_size={size}",
            f"model.strategy={strategy}",
            f"model.backbone.grad_checkpointing={str(checkpointing).lower()}",
            f"train.precision={precision}",
            "train.batch_size=1",
            *extra,
        ],
    )


def calibrate(
    shapes: dict[str, Sequence[int]], sizes: Sequence[int], depth: int
) -> Iterable[dict[str, object]]:
    """Predicted against measured saved activations, per shape, frames, size and strategy."""
    for shape, frame_counts in shapes.items():
        for frames in frame_counts:
            for size in sizes:
                for strategy in STRATEGIES:
                    for checkpointing in (True, False):
                        config = experiment(SHAPES[shape], frames, size, strategy, checkpointing)
                        _progress(f"calibration {shape} {frames}x{size} {strategy} {checkpointing}")
                        measured = measure_step(config, depth=depth)
                        predicted = predict_step_memory(config, depth=depth)
                        error = predicted.activations / measured.activations - 1
                        yield {
                            "shape": shape,
                            "frames": frames,
                            "size": size,
                            "strategy": strategy,
                            "checkpointing": checkpointing,
                            "depth": depth,
                            "measured_mib": round(measured.activations / _MIB, 3),
                            "predicted_mib": round(predicted.activations / _MIB, 3),
                            "error_pct": round(100 * error, 3),
                        }


def memory_curves(
    frame_counts: Sequence[int], depths: Sequence[int], measured_frames: Sequence[int], depth: int
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Predicted peak (GiB) per variant against frames and against depth (ViT-B, 160 px)."""
    by_frames, by_depth = [], []
    for variant in VARIANTS:
        for frames in frame_counts:
            config = _curve_config(variant, frames)
            predicted = predict_step_memory(config, fidelity=variant.level, device="cuda")
            row: dict[str, object] = {
                "variant": variant.label,
                "frames": frames,
                "predicted_gib": round(predicted.total / _GIB, 4),
                "measured_gib": "",
            }
            if frames in measured_frames:  # the meter at `depth` blocks, scaled by the model
                measured = measure_step(config, depth=depth, fidelity=variant.level)
                full = scale_measurement(measured, config, depth=depth, fidelity=variant.level)
                # plus what the meter cannot see: the backward's recomputed block, the EMA
                # copy, the input frames
                unseen = predicted.recomputed_block + predicted.ema + predicted.input_batch
                row["measured_gib"] = round((full.total + unseen) / _GIB, 4)
            by_frames.append(row)
        for blocks in depths:
            config = _curve_config(variant, 768, [f"model.backbone.overrides.depth={blocks}"])
            predicted = predict_step_memory(config, fidelity=variant.level, device="cuda")
            by_depth.append(
                {
                    "variant": variant.label,
                    "depth": blocks,
                    "predicted_gib": round(predicted.total / _GIB, 4),
                }
            )
    return by_frames, by_depth


def _curve_config(variant: Variant, frames: int, extra: Sequence[str] = ()) -> ExperimentConfig:
    # amp, as the AdaTAD presets: 2-byte activations on a GPU
    return experiment(
        SHAPES["ViT-B"], frames, 160, variant.strategy, variant.checkpointing, "amp", extra
    )


def step_times(frame_counts: Sequence[int], depth: int, repeats: int) -> list[dict[str, object]]:
    """Wall time of one forward + backward + AdamW step on this machine (ViT-S, 112 px)."""
    rows = []
    for variant in VARIANTS:
        for frames in frame_counts:
            config = experiment(
                SHAPES["ViT-S"], frames, 112, variant.strategy, variant.checkpointing
            )
            _progress(f"time {variant.label} {frames} frames")
            rows.append(
                {
                    "variant": variant.label,
                    "frames": frames,
                    "depth": depth,
                    "seconds": round(_best_time(config, depth, variant.level, repeats), 4),
                }
            )
    return rows


def depth_times(depths: Sequence[int], repeats: int) -> list[dict[str, object]]:
    """Wall time of one training step against depth (ViT-S width, 128 frames at 112 px)."""
    rows = []
    for variant in VARIANTS:
        for blocks in depths:
            config = experiment(SHAPES["ViT-S"], 128, 112, variant.strategy, variant.checkpointing)
            _progress(f"time {variant.label} depth {blocks}")
            rows.append(
                {
                    "variant": variant.label,
                    "depth": blocks,
                    "seconds": round(_best_time(config, blocks, variant.level, repeats), 4),
                }
            )
    return rows


def _best_time(
    config: ExperimentConfig, depth: int, level: FidelityLevel | None, repeats: int
) -> float:
    step = random_training_step(config, depth=depth, fidelity=level)
    step.run()  # warm-up: allocator, kernels, the optimizer's states
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        step.run()
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def peak_check(depth: int, strategies: Sequence[str] = STRATEGIES) -> list[dict[str, object]]:
    """The plan against the live-tensor peak of whole steps (forward, backward, AdamW).

    The profiler meter (:func:`tadapt.profiling.peak_meter` ``"profiler"``) gives the peak of
    live tensor bytes over those alive before the step (weights, AdamW states, the batch):
    compared with the plan's parts that a step allocates (gradients, saved activations, the
    recomputed block), the difference is what the model leaves out on this CPU (activation
    gradients in flight, temporaries of the forward, the backward and AdamW).
    """
    rows = []
    for strategy in strategies:
        for checkpointing in (True, False):
            config = experiment(SHAPES["ViT-S"], 128, 112, strategy, checkpointing)
            _progress(f"peak {strategy} {checkpointing}")
            predicted = predict_step_memory(config, depth=depth)
            step = random_training_step(config, depth=depth)
            step.run()  # the optimizer's states exist from here on, as in training
            with peak_meter("profiler", torch.device("cpu")) as found:
                step.run()
            planned = predicted.gradients + predicted.activations + predicted.recomputed_block
            rows.append(
                {
                    "strategy": strategy,
                    "checkpointing": checkpointing,
                    "planned_mib": round(planned / _MIB, 2),
                    "live_peak_mib": round(found[0], 2),
                    "left_out_pct": round(100 * (found[0] * _MIB / planned - 1), 1),
                }
            )
    return rows


def _progress(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def paper_settings(suggestions: int = 3) -> list[tuple[str, str, list[str]]]:
    """Each AdaTAD ViT-g preset: its plan alone, then against a 24 GB and an 80 GB card."""
    lines = []
    for preset in (
        "adatad_thumos14_videomaev2_g_768x1_160",
        "adatad_thumos14_videomaev2_g_1536x2_224",
    ):
        plan = plan_memory(preset, gpus=2)  # the presets' global batch 2 = 1 window per GPU
        fits = []
        for card in ("24GB", "A100-80GB"):
            budget = parse_gpu(card)
            verdict = plan_memory(preset, gpus=2, budget=budget, suggestions=suggestions)
            if verdict.fits:
                fits.append(f"{card}: fits ({verdict.peak.total / _GIB:.1f} GiB)")
                continue
            options = "; ".join(
                f"`{' '.join(fit.overrides)}` {fit.peak_bytes / _GIB:.1f} GiB"
                for fit in verdict.suggestions
            )
            fits.append(f"{card}: does not fit; {options or 'nothing within two changes'}")
        lines.append((preset, f"{plan.peak.total / _GIB:.1f}", fits))
    return lines


def write_csv(path: Path, rows: Sequence[dict[str, object]]) -> None:
    """One row per dict, the first dict's keys as the header."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(
    by_frames: Sequence[dict[str, object]],
    by_depth: Sequence[dict[str, object]],
    times: Sequence[dict[str, object]],
    times_by_depth: Sequence[dict[str, object]],
    out_dir: Path,
) -> None:
    """``scaling_memory.png`` (peak vs frames and vs depth) and ``scaling_time.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for variant in VARIANTS:
        rows = [row for row in by_frames if row["variant"] == variant.label]
        line = left.plot(
            [row["frames"] for row in rows],
            [row["predicted_gib"] for row in rows],
            marker=".",
            label=variant.label,
        )[0]
        measured = [row for row in rows if row["measured_gib"] != ""]
        left.scatter(
            [row["frames"] for row in measured],
            [row["measured_gib"] for row in measured],
            marker="x",
            color=line.get_color(),
        )
        rows = [row for row in by_depth if row["variant"] == variant.label]
        right.plot(
            [row["depth"] for row in rows], [row["predicted_gib"] for row in rows], marker="."
        )
    left.set(
        xscale="log",
        yscale="log",
        xlabel="frames per window",
        ylabel="training peak per GPU (GiB)",
        title="ViT-B shape, 160 px, amp: predicted (lines), measured (x, 2 blocks scaled)",
    )
    left.set_xticks(
        [64, 128, 256, 512, 768, 1536], labels=["64", "128", "256", "512", "768", "1536"]
    )
    right.set(
        yscale="log",
        xlabel="blocks (ViT-B width)",
        ylabel="training peak per GPU (GiB)",
        title="768 frames at 160 px: predicted",
    )
    _save(figure, (left, right), out_dir / "scaling_memory.png")

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for variant in VARIANTS:
        rows = [row for row in times if row["variant"] == variant.label]
        left.plot(
            [row["frames"] for row in rows],
            [row["seconds"] for row in rows],
            marker=".",
            label=variant.label,
        )
        rows = [row for row in times_by_depth if row["variant"] == variant.label]
        right.plot([row["depth"] for row in rows], [row["seconds"] for row in rows], marker=".")
    depth = times[0]["depth"]
    left.set(
        xscale="log",
        yscale="log",
        xlabel="frames per window",
        ylabel="seconds per training step",
        title=f"ViT-S shape, {depth} blocks, 112 px, this CPU",
    )
    right.set(
        xlabel="blocks (ViT-S width)",
        ylabel="seconds per training step",
        title="128 frames at 112 px, this CPU",
    )
    _save(figure, (left, right), out_dir / "scaling_time.png")


def _save(figure: Any, axes: Sequence[Any], path: Path) -> None:
    """Legend on the first axes, grids, tight layout, written to ``path`` and closed."""
    import matplotlib.pyplot as plt

    axes[0].legend(fontsize=7)
    for axis in axes:
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(
    args: argparse.Namespace,
    calibration: Sequence[dict[str, object]],
    peaks: Sequence[dict[str, object]],
    by_frames: Sequence[dict[str, object]],
    papers: Sequence[tuple[str, str, list[str]]],
    seconds: float,
) -> str:
    """The Markdown report: header, calibration table, scaling table, the papers' settings."""
    worst = max(abs(float(row["error_pct"])) for row in calibration)  # type: ignore[arg-type]
    lines = [
        "# Memory planner: calibration and scaling",
        "",
        f"- command: `python benchmarks/scaling.py{' --quick' if args.quick else ''}`",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {cpu_model()}, torch {torch.__version__}"
        f", {torch.get_num_threads()} threads; whole run {seconds / 60:.1f} min",
        f"- backbone: random weights, {args.depth} blocks measured (the model adds the others)",
        "",
        "## Calibration: saved activations, predicted against the meter",
        "",
        f"{len(calibration)} configurations (ViT-S / ViT-B shapes, frames, sizes, 7 strategies, "
        f"checkpointing on and off, fp32, one window): largest error **{worst:.3f} %**.",
        "",
        "| shape | frames | px | strategy | ckpt | measured MiB | predicted MiB | error % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in calibration:
        lines.append(
            f"| {row['shape']} | {row['frames']} | {row['size']} | {row['strategy']} | "
            f"{'on' if row['checkpointing'] else 'off'} | {row['measured_mib']} | "
            f"{row['predicted_mib']} | {row['error_pct']} |"
        )
    lines += [
        "",
        "## What the plan leaves out: whole steps against the live-tensor peak",
        "",
        f"ViT-S shape, {args.depth} blocks, 128 frames at 112 px, fp32: the peak of live tensor "
        "bytes during a whole step (forward, backward, AdamW; the torch profiler's allocation "
        "records) over those alive before it (weights, AdamW states, the batch), against the "
        "plan's parts a step allocates (gradients, saved activations, the recomputed block).",
        "",
        "| strategy | ckpt | planned MiB | live peak MiB | left out % |",
        "|---|---|---|---|---|",
    ]
    for row in peaks:
        lines.append(
            f"| {row['strategy']} | {'on' if row['checkpointing'] else 'off'} | "
            f"{row['planned_mib']} | {row['live_peak_mib']} | {row['left_out_pct']} |"
        )
    lines += [
        "",
        "## Scaling (ViT-B shape, 160 px, amp, one window per GPU)",
        "",
        "![memory](scaling_memory.png)",
        "",
        "![time](scaling_time.png)",
        "",
        "Predicted training peak per GPU (GiB) against frames; the CSVs have every point. The "
        "measured points (x) are the meter's weights, gradients, AdamW states and saved "
        "activations at 2 blocks, scaled to the depth, plus the parts only the model has (the "
        "backward's recomputed block, the EMA copy of the AdaTAD recipe, the input frames).",
        "",
    ]
    frames = sorted({int(row["frames"]) for row in by_frames})  # type: ignore[call-overload]
    lines.append("| variant | " + " | ".join(str(f) for f in frames) + " |")
    lines.append("|---" * (len(frames) + 1) + "|")
    for variant in VARIANTS:
        cells = [str(row["predicted_gib"]) for row in by_frames if row["variant"] == variant.label]
        lines.append(f"| {variant.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The papers' settings (AdaTAD, VideoMAEv2-g, one window per GPU)",
        "",
        f"Public figure: about 30.7 GB per GPU ({PUBLIC_VIT_G_GIB:.1f} GiB) for ViT-g at "
        "768 x 160 (OpenTAD issue #4; OpenTAD logs `max_memory_allocated`).",
        "",
        "| preset | predicted GiB | 24 GB / 80 GB cards |",
        "|---|---|---|",
    ]
    for preset, gib, fits in papers:
        lines.append(f"| `{preset}` | {gib} | {'<br>'.join(fits)} |")
    lines += ["", *OPENTAD_GAP]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run everything, write the files, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one shape, two frame counts")
    parser.add_argument("--depth", type=int, default=2, help="blocks the meter runs (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="timed steps per point (best)")
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    peaked, suggestions = STRATEGIES, 3
    if args.quick:
        shapes, sizes, frames, depths = {"ViT-S": (64,)}, (112,), (64, 128), (4, 12)
        measured_frames, timed, timed_depths = (64,), (64,), (1,)
        peaked, suggestions, args.repeats = ("tia",), 1, 1
    else:
        shapes = {"ViT-S": (64, 128, 256, 512), "ViT-B": (64, 256)}
        sizes, frames = (112, 160), (64, 128, 256, 512, 768, 1024, 1536)
        depths, measured_frames = (4, 8, 12, 16, 24, 32, 40), (64, 128, 256)
        timed, timed_depths = (64, 256, 1024, 1536), (1, 2, 4, 8)
    calibration = list(calibrate(shapes, sizes, args.depth))
    peaks = peak_check(args.depth, peaked)
    by_frames, by_depth = memory_curves(frames, depths, measured_frames, args.depth)
    times = step_times(timed, args.depth, args.repeats)
    times_by_depth = depth_times(timed_depths, args.repeats)
    papers = paper_settings(suggestions)
    out = args.out_dir
    write_csv(out / "scaling_calibration.csv", calibration)
    write_csv(out / "scaling_peak.csv", peaks)
    write_csv(out / "scaling_frames.csv", by_frames)
    write_csv(out / "scaling_depth.csv", by_depth)
    write_csv(out / "scaling_time.csv", times)
    write_csv(out / "scaling_time_depth.csv", times_by_depth)
    plot(by_frames, by_depth, times, times_by_depth, out)
    text = report(args, calibration, peaks, by_frames, papers, time.perf_counter() - start)
    (out / "scaling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
