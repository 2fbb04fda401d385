"""Memory and time of one training step per tuning strategy, at two backbone depths.

Every strategy of ``tadapt list strategies`` trains the same model on the same input: a
ViT-S-shaped ``videomae_small_patch16`` (384 wide, 6 heads, patch 16, random init) at depth 12
and at depth 24, fed ``1 x 3 x 256 x 112 x 112`` fp32 frames. The backbone is composed exactly
as ``tadapt train`` composes it (:func:`tadapt.cli.experiment.build_backbone_features` on a
config with the toolbox defaults: adapters in every block at ratio 1/4, the side strategies'
default taps, drop path 0.1, ``model.backbone.grad_checkpointing=true``). The head is light and
the same for every strategy: a kernel-3 convolution, GELU and a pointwise convolution to 20
class logits per feature step, with a masked binary cross-entropy against fixed random targets,
so that the numbers are about the backbone, not the ActionFormer head. A training step is
forward, backward and an AdamW step (:func:`tadapt.engine.optim.build_optimizer`) over the
trainable parameters; the gradients are released after the step (``set_to_none``).

Rows: each strategy with activation checkpointing (the default), plus ``full`` and ``tia``
without it, and ``tia_side`` tapping the last 6 blocks at both depths (its default taps the
second half of the blocks, 6 of 12 as AdaTAD's ViT-S side config but 12 of 24, so the kept
tapped token maps double with depth; ``losa``'s default is 4 taps at any depth). The
reference of the ``/ full`` ratio is ``full (no ckpt)``: plain full fine-tuning, against
which the issue's prototype reached 0.12-0.18x for ``tia`` with checkpointing; the ratio to
``full`` with checkpointing is printed beside it.

Checkpointing schemes: ``tia`` (``--schemes``) is also measured with every other combination of
``model.backbone.checkpoint_scheme`` (torch's reentrant or non-reentrant implementation) and
``checkpoint_skip_first`` (OpenTAD's rule: checkpoint only blocks whose input requires grad);
a second table gives each one's peak memory and step time over the default's.

Each (row, depth) runs in a fresh process (a ``forkserver`` child: the server imports torch
and tadapt once but never runs a model) with ``MALLOC_MMAP_THRESHOLD_=65536``, so that freed
tensors go back to the operating system. The process builds the model, runs one warm-up step
(it allocates the optimizer state and the libraries' scratch buffers) and then ``--steps``
timed steps. The memory of a step is its peak over the memory held just before it (weights,
optimizer state and input; the gradients are part of the step), the largest over the timed
steps, measured by:

* ``rss``: the resident set's high-water mark ``VmHWM``, reset to the current ``VmRSS`` by
  writing 5 to ``/proc/self/clear_refs`` just before the step (Linux);
* ``profiler``: where ``clear_refs`` cannot be written, the peak of live tensor bytes in
  ``torch.profiler``'s allocation records of one extra, untimed step (tensors only: no
  allocator or library overhead);
* ``cuda``: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.

The step time is the median of the timed steps.

    python benchmarks/adaptation_memory.py --threads 2   # the full table (tens of minutes)
    python benchmarks/adaptation_memory.py --quick       # smoke test, tiny inputs
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from tadapt.adapters import list_strategies
from tadapt.backbones.checkpointing import CheckpointScheme
from tadapt.cli.experiment import build_backbone_features
from tadapt.config import AdapterConfig, BackboneConfig, ExperimentConfig, ModelConfig
from tadapt.detection import BackboneFeatures
from tadapt.engine.optim import build_optimizer
from tadapt.profiling import MALLOC_ENV, choose_method, cpu_model, memory_now, peak_meter

BACKBONE = "videomae_small_patch16"  # embed 384, 6 heads, patch 16, tubelet 2
NUM_CLASSES = 20  # THUMOS-14
NO_CKPT = " (no ckpt)"
DEFAULTS = BackboneConfig()  # the default checkpointing scheme and skip rule


@dataclass(frozen=True)
class Probe:
    """One measurement: a strategy at a depth, in a fresh process."""

    strategy: str
    checkpointing: bool
    scheme: CheckpointScheme
    skip_first: bool
    last_blocks: int | None
    depth: int
    frames: int
    size: int
    steps: int
    threads: int | None
    device: str
    method: str


@dataclass(frozen=True)
class Result:
    """What a probe measured.

    Attributes:
        trainable: trainable parameters, the head's included.
        peak_mib: the step's peak memory over the memory held before it.
        state_mib: memory held between steps over the memory before the model was built:
            weights, optimizer state (and, by RSS, the libraries' warm-up buffers).
        step_sec: median seconds per step.
        method: the memory meter (``rss``, ``profiler`` or ``cuda``).
    """

    trainable: int
    peak_mib: float
    state_mib: float
    step_sec: float
    method: str


class LightHead(nn.Module):
    """Backbone features -> conv(k=3), GELU, conv(k=1) -> per-step class logits -> BCE loss.

    Args:
        features: the (adapted) backbone as the detector's feature extractor.
        num_classes: logits per feature step.
    """

    def __init__(self, features: BackboneFeatures, num_classes: int) -> None:
        super().__init__()
        channels = features.out_channels
        self.features = features
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.cls = nn.Conv1d(channels, num_classes, 1)

    def forward(
        self, frames: torch.Tensor, masks: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Frames ``(B, 3, T, H, W)``, masks ``(B, T)``, targets ``(B, K, T')`` -> loss."""
        feats, feat_masks = self.features(frames, masks)  # (B, C, T'), (B, T')
        logits: torch.Tensor = self.cls(F.gelu(self.conv(feats)))  # (B, K, T')
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        weights: torch.Tensor = feat_masks[:, None].expand_as(loss).float()  # (B, K, T')
        return (loss * weights).sum() / weights.sum()


def build_model(probe: Probe) -> LightHead:
    """The model of ``probe``: the backbone composed as ``tadapt train`` does, plus the head."""
    backbone = BackboneConfig(
        name=BACKBONE,
        pretrained=False,
        grad_checkpointing=probe.checkpointing,
        checkpoint_scheme=probe.scheme,
        checkpoint_skip_first=probe.skip_first,
        overrides={"depth": probe.depth},
    )
    blocks = None if probe.last_blocks is None else tuple(range(-probe.last_blocks, 0))
    model = ModelConfig(
        backbone=backbone, strategy=probe.strategy, adapter=AdapterConfig(blocks=blocks)
    )
    config = ExperimentConfig(model=model)
    return LightHead(build_backbone_features(config), NUM_CLASSES)


def measure(probe: Probe) -> Result:
    """Build the model, warm up one step, then time and measure ``probe.steps`` steps."""
    if probe.threads is not None:
        torch.set_num_threads(probe.threads)
    device = torch.device(probe.device)
    method = choose_method(device) if probe.method == "auto" else probe.method
    torch.manual_seed(0)
    frames = torch.randn(1, 3, probe.frames, probe.size, probe.size, device=device)
    masks = torch.ones(1, probe.frames, dtype=torch.bool, device=device)
    built = memory_now(method, device)
    model = build_model(probe).to(device).train()
    optimizer = build_optimizer(model, lr=1e-4, weight_decay=0.05)
    chunk, stride = model.features.chunk_frames, model.features.temporal_stride
    steps = -(-probe.frames // chunk) * chunk // stride  # T': whole chunks, one step per stride
    targets = (torch.rand(1, NUM_CLASSES, steps, device=device) < 0.1).float()

    def step() -> None:
        loss = model(frames, masks, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # gradients belong to the step, not the baseline

    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    step()  # warm-up: optimizer state, library scratch buffers, position-table cache
    state_mib = memory_now(method, device) - built
    peaks: list[float] = []
    seconds: list[float] = []
    for _ in range(probe.steps):
        if method == "profiler":  # the profiler slows the step: time it unprofiled
            seconds.append(timed())
            continue
        with peak_meter(method, device) as found:
            seconds.append(timed())
        peaks += found
    if method == "profiler":  # one more step, profiled and untimed
        with peak_meter(method, device) as found:
            step()
        peaks = found
    return Result(
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        peak_mib=max(peaks),
        state_mib=state_mib,
        step_sec=statistics.median(seconds),
        method=method,
    )


@dataclass(frozen=True)
class Row:
    """A table row: a strategy, with or without activation checkpointing.

    Attributes:
        strategy: the registered name.
        checkpointing: ``model.backbone.grad_checkpointing``.
        last_blocks: adapt (side strategies: tap) the last this many blocks at every depth;
            ``None``: the strategy's default blocks.
        scheme: ``model.backbone.checkpoint_scheme``; ``None``: the default.
        skip_first: ``model.backbone.checkpoint_skip_first``; ``None``: the default.
    """

    strategy: str
    checkpointing: bool = True
    last_blocks: int | None = None
    scheme: CheckpointScheme | None = None
    skip_first: bool | None = None

    @property
    def policy(self) -> tuple[CheckpointScheme, bool]:
        """The checkpointing scheme and skip-first rule this row runs with."""
        scheme = DEFAULTS.checkpoint_scheme if self.scheme is None else self.scheme
        skip = DEFAULTS.checkpoint_skip_first if self.skip_first is None else self.skip_first
        return scheme, skip

    @property
    def label(self) -> str:
        """The strategy name, marked for fixed blocks, a chosen scheme or no checkpointing."""
        label = self.strategy
        if self.last_blocks is not None:
            label += f" (last {self.last_blocks} blocks)"
        if self.scheme is not None or self.skip_first is not None:
            label += f" ({_policy_name(*self.policy)})"
        return label + ("" if self.checkpointing else NO_CKPT)


def _policy_name(scheme: CheckpointScheme, skip_first: bool) -> str:
    return f"{scheme.replace('_', '-')}, {'skip first' if skip_first else 'every block'}"


ORDER = ("frozen", "full", "adapter", "lora", "tia", "tia_side", "losa")


def table_rows(
    strategies: list[str], no_ckpt: list[str], ladder_blocks: int, schemes: list[str]
) -> list[Row]:
    """Each strategy with its defaults, then the variants asked for beside it.

    Args:
        strategies: registered names.
        no_ckpt: names also measured without activation checkpointing.
        ladder_blocks: also measure ``tia_side`` tapping the last this many blocks at every
            depth (its default taps the second half, so the taps grow with depth); 0: not.
        schemes: names also measured with every other checkpointing scheme and skip rule.
    """
    rank = {name: i for i, name in enumerate(ORDER)}
    rows = []
    for name in sorted(strategies, key=lambda n: (rank.get(n, len(ORDER)), n)):
        rows.append(Row(name))
        if name in schemes:
            for scheme, skip in itertools.product(get_args(CheckpointScheme), (True, False)):
                if (scheme, skip) != Row(name).policy:
                    rows.append(Row(name, scheme=scheme, skip_first=skip))
        if name in no_ckpt:
            rows.append(Row(name, checkpointing=False))
        if name == "tia_side" and ladder_blocks:
            rows.append(Row(name, last_blocks=ladder_blocks))
    return rows


def run_probes(probes: list[Probe], jobs: int) -> Iterator[Result]:
    """Measure each probe in a fresh ``forkserver`` process, ``jobs`` at a time, in order."""
    # the server (and every child forked from it) starts with these malloc settings
    os.environ.update(MALLOC_ENV)
    context = multiprocessing.get_context("forkserver")
    # the server imports torch and tadapt once (torch._dynamo: AdamW imports it lazily, for
    # seconds); each child then re-imports only this script
    modules = ["torch", "torch._dynamo", "tadapt.cli.experiment", "tadapt.engine.optim"]
    context.set_forkserver_preload(modules)
    with ProcessPoolExecutor(jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(measure, probe) for probe in probes]
        for future in futures:
            yield future.result()


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.3f}"


def format_table(
    rows: list[Row], depths: list[int], results: dict[tuple[Row, int], Result]
) -> list[str]:
    """The Markdown table: peak memory, ratios to ``full`` and step time per row and depth."""
    first, last = depths[0], depths[-1]

    def peak(label: str, depth: int) -> float | None:
        found = [r for (row, d), r in results.items() if row.label == label and d == depth]
        return found[0].peak_mib if found else None

    header = ["strategy", f"trainable params (d{first})"]
    header += [f"peak MiB (d{first})", f"/ full{NO_CKPT} (d{first})", f"/ full (d{first})"]
    header += [f"step s (d{first})"]
    for depth in depths[1:]:
        header += [f"peak MiB (d{depth})", f"step s (d{depth})"]
    if len(depths) > 1:
        header.append(f"peak d{last} / d{first}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        base = results[(row, first)]
        cells = [row.label, f"{base.trainable:,}"]
        cells += [f"{base.peak_mib:.0f}", _ratio(base.peak_mib, peak("full" + NO_CKPT, first))]
        cells += [_ratio(base.peak_mib, peak("full", first)), f"{base.step_sec:.2f}"]
        for depth in depths[1:]:
            other = results[(row, depth)]
            cells += [f"{other.peak_mib:.0f}", f"{other.step_sec:.2f}"]
        if len(depths) > 1:
            cells.append(_ratio(results[(row, last)].peak_mib, base.peak_mib))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def format_scheme_table(
    rows: list[Row], depths: list[int], results: dict[tuple[Row, int], Result]
) -> list[str]:
    """The Markdown table of the checkpointing schemes: peak memory and step time per depth.

    Ratios are over non-reentrant checkpointing of every block (the default).
    """
    reference: CheckpointScheme = "non_reentrant"
    header = ["strategy", "scheme"]
    for depth in depths:
        header += [f"peak MiB (d{depth})", f"/ {reference}, every block (d{depth})"]
        header += [f"step s (d{depth})", f"step / {reference}, every block (d{depth})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    compared = [r for r in rows if r.checkpointing and r.last_blocks is None]
    for row in compared:
        if not any(r.strategy == row.strategy and r.scheme is not None for r in compared):
            continue
        mates = [r for r in compared if r.strategy == row.strategy]
        base = next(r for r in mates if r.policy == (reference, False))
        name = _policy_name(*row.policy) + (" (default)" if row.scheme is None else "")
        cells = [row.strategy, name]
        for depth in depths:
            mine, ref = results[(row, depth)], results[(base, depth)]
            cells += [f"{mine.peak_mib:.0f}", _ratio(mine.peak_mib, ref.peak_mib)]
            cells += [f"{mine.step_sec:.2f}", _ratio(mine.step_sec, ref.step_sec)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    """Measure every (row, depth) in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=256, help="frames (multiple of 16)")
    parser.add_argument("--size", type=int, default=112, help="height and width in pixels")
    parser.add_argument("--depths", type=int, nargs="+", default=[12, 24], help="backbone depths")
    parser.add_argument(
        "--strategies", nargs="+", default=None, help="strategies (default: all registered)"
    )
    parser.add_argument(
        "--no-ckpt",
        nargs="*",
        default=["full", "tia"],
        help="strategies also measured without activation checkpointing",
    )
    parser.add_argument(
        "--schemes",
        nargs="*",
        default=["tia"],
        help="strategies also measured with every other checkpointing scheme and skip rule",
    )
    parser.add_argument(
        "--ladder-blocks",
        type=int,
        default=6,
        help="also measure tia_side tapping the last N blocks at every depth (0: no such row)",
    )
    parser.add_argument("--steps", type=int, default=2, help="timed steps after the warm-up")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per probe")
    parser.add_argument("--jobs", type=int, default=1, help="probes at once (disturbs timings)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    parser.add_argument(
        "--method", choices=("auto", "rss", "profiler", "cuda"), default="auto", help="memory meter"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 32 frames, 32 px, depths 2 and 4"
    )
    args = parser.parse_args()
    if args.quick:
        args.frames, args.size, args.depths, args.steps = 32, 32, [2, 4], 1
        args.ladder_blocks = min(args.ladder_blocks, 2)
        args.jobs, args.threads = max(args.jobs, 2), args.threads or 1
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    on_gpu = torch.device(args.device).type == "cuda"
    if args.method != "auto" and (args.method == "cuda") != on_gpu:
        parser.error(f"--method {args.method} does not measure --device {args.device}")
    rows = table_rows(
        args.strategies or list_strategies(), args.no_ckpt, args.ladder_blocks, args.schemes
    )
    probes = {
        (row, depth): Probe(
            row.strategy,
            row.checkpointing,
            *row.policy,
            row.last_blocks,
            depth,
            args.frames,
            args.size,
            args.steps,
            args.threads,
            args.device,
            args.method,
        )
        for row in rows
        for depth in args.depths
    }
    threads = args.threads or torch.get_num_threads()
    print(
        f"{BACKBONE} (random init), depths {args.depths}, input 1 x 3 x {args.frames} x "
        f"{args.size} x {args.size} fp32 on {args.device}; light head; AdamW; "
        f"{args.steps} timed steps after 1 warm-up"
    )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{threads} threads per probe, {args.jobs} probe(s) at once, load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[tuple[Row, int], Result] = {}
    for (row, depth), result in zip(
        probes, run_probes(list(probes.values()), args.jobs), strict=True
    ):
        results[(row, depth)] = result
        print(
            f"  {row.label} d{depth}: peak {result.peak_mib:.0f} MiB ({result.method}), "
            f"held {result.state_mib:.0f} MiB, {result.step_sec:.2f} s/step",
            flush=True,
        )
    methods = sorted({r.method for r in results.values()})
    print(
        f"\nmemory method: {', '.join(methods)}; ratios to full are at depth {args.depths[0]}; "
        f"load average now {os.getloadavg()[0]:.1f} (other processes disturb the step times)\n"
    )
    print("\n".join(format_table(rows, args.depths, results)))
    if any(row.scheme is not None for row in rows):
        print(f"\ncheckpointing schemes (default: {_policy_name(*Row('').policy)}):\n")
        print("\n".join(format_scheme_table(rows, args.depths, results)))


if __name__ == "__main__":
    main()
