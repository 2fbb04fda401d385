"""``tadapt memory``: will a config's training fit on a GPU, and if not, what would?

Predicts the peak of one training step on one device, by part (weights, gradients, AdamW
states, saved activations of the backbone and of the head, the input batch), from the config
alone: nothing is downloaded or trained (docs/memory.md has the model and its error). With
``--gpu`` it says whether that fits the card (less the CUDA context and an allocator margin)
and lists the nearest settings that do, as overrides to add. ``--measure`` runs the real step
with random weights and prints predicted against measured (on a CPU, with ``--measure-depth``
blocks, the other blocks added by the model).

* ``tadapt memory adatad_thumos14_videomae_l_768x1_160 --gpu 24GB --gpus 2``
* ``tadapt memory adatad_thumos14_videomaev2_g_768x1_160 model.strategy=losa --gpu A100-80GB``
* ``tadapt memory tiny_synthetic_videos --measure``
"""

from __future__ import annotations

import argparse

from tadapt.profiling.gpus import ALLOCATOR_MARGIN, CUDA_CONTEXT_BYTES, GIB

__all__ = ["add_parser", "run"]

_MIB = 2**20


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt memory``."""
    parser = subparsers.add_parser(
        "memory",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="preset name or YAML file")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides")
    parser.add_argument(
        "--gpu",
        metavar="GPU",
        help="a card (RTX4090, A100-80GB, H100-80GB, ...) or a size (24GB): fits, and what would",
    )
    parser.add_argument(
        "--gpus",
        type=int,
        default=1,
        metavar="N",
        help="devices the global train.batch_size is split over (default 1)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=ALLOCATOR_MARGIN,
        help=f"fraction of the card kept free for the allocator (default {ALLOCATOR_MARGIN})",
    )
    parser.add_argument(
        "--attention",
        choices=("flash", "math"),
        default="flash",
        help="saved tensors of attention: fused kernels (default) or the unfused N x N path",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="also run one real step (random weights) and print predicted vs measured",
    )
    parser.add_argument(
        "--measure-depth",
        type=int,
        default=None,
        metavar="N",
        help="blocks to run with --measure (default: 2 on a CPU, all on a GPU)",
    )
    parser.set_defaults(handler=run)


def _mib(value: int) -> str:
    return f"{value / _MIB:,.1f}"


def _gib(value: int) -> str:
    """GiB, or MiB below one GiB."""
    return f"{value / GIB:,.2f} GiB" if abs(value) >= GIB else f"{value / _MIB:,.1f} MiB"


def _describe(plan: object) -> str:
    from tadapt.planning.planner import MemoryPlan

    assert isinstance(plan, MemoryPlan)
    config, peak = plan.config, plan.peak
    model, train = config.model, config.train
    share = f"{config.train.batch_size} window(s) per device"
    if plan.gpus > 1:
        share += f" ({plan.gpus} devices)"
    if train.grad_accum_steps > 1:
        share += f", {train.grad_accum_steps} accumulation steps"
    if model.backbone is None:
        _, steps, channels, _ = peak.batch
        return f"features mode: head only, {share}; {steps} steps x {channels} channels"
    checkpointing = "on" if model.backbone.grad_checkpointing else "off"
    return (
        f"{model.backbone.name}, strategy {model.strategy}, checkpointing {checkpointing}, "
        f"precision {train.precision}; {share}, {config.data.max_seq_len} frames at "
        f"{config.data.image_size} px"
    )


def _print_plan(plan: object) -> None:
    from tadapt.planning.planner import MemoryPlan

    assert isinstance(plan, MemoryPlan)
    print(_describe(plan))
    peak = plan.peak
    if len(plan.levels) > 1:
        levels = ", ".join(f"{level.level} {_gib(level.total)}" for level in plan.levels)
        print(f"LoFi levels: {levels}; the largest ({peak.level}) below")
    width = max(len(name) for name in peak.parts)
    print(f"  {'part'.ljust(width)}  {'MiB':>12}")
    for name, value in peak.parts.items():
        print(f"  {name.ljust(width)}  {_mib(value):>12}")
    print(f"  {'predicted peak'.ljust(width)}  {_mib(peak.total):>12}  ({_gib(peak.total)})")
    budget = plan.budget
    if budget is None:
        return
    usable = budget.usable_bytes
    verdict = "fits" if plan.fits else "does NOT fit"
    print(
        f"{budget.name}: {_gib(budget.total_bytes)}, {_gib(usable)} usable "
        f"({CUDA_CONTEXT_BYTES / GIB:.2f} GiB CUDA context, {budget.margin:.0%} allocator "
        f"margin): {verdict} ({peak.total / usable:.0%} of usable)"
    )
    if plan.fits:
        return
    if not plan.suggestions:
        print("nothing within one or two changes fits; try a smaller backbone or more devices")
        return
    print("what fits (add to the command line):")
    for fit in plan.suggestions:
        what = "; ".join(change.description for change in fit.changes)
        print(f"  {' '.join(fit.overrides)}  -> {_gib(fit.peak_bytes)}  ({what})")


def _measure(plan: object, depth: int | None, attention: str) -> None:
    import torch

    from tadapt.planning.config_step import measure_step
    from tadapt.planning.memory_model import predict_step_memory, scale_measurement
    from tadapt.planning.planner import MemoryPlan

    assert isinstance(plan, MemoryPlan)
    config = plan.config
    if config.model.backbone is None:
        print("--measure: features mode is measured already (the head is all that trains)")
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if depth is None:
        depth = None if device.type == "cuda" else 2
    level = None
    if len(plan.levels) > 1:  # measure the largest LoFi level
        from tadapt.planning.planner import _fidelity_levels

        level = next(lv for lv in _fidelity_levels(config) if str(lv) == plan.peak.level)
    kwargs = {"fidelity": level, "attention": attention, "device": device}
    measured = measure_step(config, depth=depth, **kwargs)  # type: ignore[arg-type]
    predicted = predict_step_memory(config, depth=depth, **kwargs)  # type: ignore[arg-type]
    blocks = "all blocks" if depth is None else f"{depth} block(s)"
    print(f"measured on {device} with {blocks} (random weights), against the prediction:")
    rows = (
        ("weights", predicted.weights, measured.weights),
        ("gradients", predicted.gradients, measured.gradients),
        ("optimizer states", predicted.optimizer_states, measured.optimizer_states),
        ("saved activations", predicted.activations, measured.activations),
    )
    for name, guess, real in rows:
        error = (guess - real) / real if real else 0.0
        print(
            f"  {name:<18} predicted {_mib(guess):>12} MiB  measured {_mib(real):>12} MiB  "
            f"({error:+.1%})"
        )
    if measured.cuda_peak is not None:
        print(f"  CUDA max allocated {_mib(measured.cuda_peak)} MiB")
    if depth is not None:
        full = scale_measurement(measured, config, depth=depth, **kwargs)  # type: ignore[arg-type]
        whole = predict_step_memory(config, **kwargs)  # type: ignore[arg-type]
        # the parts the meter adds up (not the backward's recomputation, EMA, input frames)
        held = whole.weights + whole.gradients + whole.optimizer_states + whole.activations
        print(
            f"  all blocks (the measured ones plus the model's): {_gib(full.total)} measured "
            f"against {_gib(held)} predicted (weights, gradients, states, saved activations)"
        )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt memory``."""
    from tadapt.planning.planner import plan_memory
    from tadapt.profiling.gpus import check_margin, parse_gpu

    check_margin(args.margin)  # also without --gpu: a bad value is never silently ignored
    budget = parse_gpu(args.gpu, args.margin) if args.gpu is not None else None
    if args.measure_depth is not None and args.measure_depth < 1:
        raise ValueError(f"--measure-depth: {args.measure_depth} is not a number of blocks")
    plan = plan_memory(
        args.config, args.overrides, budget=budget, gpus=args.gpus, attention=args.attention
    )
    _print_plan(plan)
    if args.measure:
        _measure(plan, args.measure_depth, args.attention)
    return 0
