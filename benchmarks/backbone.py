"""Backbone benchmark: sizes vs the papers, forward throughput fp32 vs bf16, checkpointing memory.

Three measurements in one run, on the CPU unless ``--device cuda``:

1. parameter count of every registered variant (built on the meta device) against the
   published sizes;
2. forward throughput (frames/s, no grad) of ViT-S and ViT-B on random weights at 160 px,
   fp32 and under bf16 autocast, the best of ``--iters`` passes after one warm-up pass;
3. peak memory of one forward+backward with and without per-block activation checkpointing.
   The weights are frozen and the gradient flows to the input, as in AdaTAD where adapters
   sit in the first block: the memory is the activations kept for the backward pass. On the
   CPU each configuration runs in a fresh subprocess with ``MALLOC_MMAP_THRESHOLD_`` low (so
   freed tensors leave the resident set) and reports the peak RSS of the pass (``VmHWM``,
   reset just before it) minus the RSS before it, after a warm-up pass on one small chunk so
   that library start-up is not counted; on CUDA it is ``torch.cuda.max_memory_allocated``
   minus the allocation before.

    python benchmarks/backbone.py                        # 1 x 3 x 32 x 160 x 160, 3 iterations
    python benchmarks/backbone.py --frames 16 --iters 2  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the published sizes live beside the size test

from backbones.published_sizes import PUBLISHED_PARAMS_M  # noqa: E402
from tadapt.backbones import (  # noqa: E402
    autocast_context,
    count_backbone_parameters,
    create_backbone,
    list_backbones,
)
from tadapt.profiling import reset_peak_rss, status_mib  # noqa: E402

VARIANTS = {"small": "videomae_small_patch16", "base": "videomae_base_patch16"}


def _frames(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, args.frames, args.size, args.size, generator=generator)
    return x.to(device)


def report_sizes() -> None:
    """Print every variant's parameter count next to the published one."""
    print("parameters (backbone without classifier head; published counts include it)")
    print(f"  {'variant':26s} {'tadapt (M)':>11s} {'published (M)':>14s} {'diff':>7s}")
    for name in list_backbones():
        millions = count_backbone_parameters(name) / 1e6
        published = PUBLISHED_PARAMS_M.get(name)
        if published is None:
            print(f"  {name:26s} {millions:11.2f} {'-':>14s}")
        else:
            diff = 100 * (millions - published) / published
            print(f"  {name:26s} {millions:11.2f} {published:14.1f} {diff:+6.2f}%")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def report_throughput(args: argparse.Namespace, device: torch.device) -> None:
    """Print forward frames/s of each variant in fp32 and bf16."""
    shape = f"1 x 3 x {args.frames} x {args.size} x {args.size}"
    timing = f"best of {args.iters} passes after 1 warm-up, {torch.get_num_threads()} threads"
    print(f"\nforward throughput, {shape}, no grad, {timing}")
    for variant in args.variants:
        model = create_backbone(VARIANTS[variant]).to(device).eval()
        x = _frames(args, device)
        rates = {}
        for precision in ("fp32", "bf16"):
            seconds = []
            with torch.no_grad(), autocast_context(device, precision):
                model(x)  # warm-up: kernels, position-table cache
                for _ in range(args.iters):
                    _sync(device)
                    start = time.perf_counter()
                    model(x)
                    _sync(device)
                    seconds.append(time.perf_counter() - start)
            # the fastest pass: the least disturbed by other load on a shared machine
            rates[precision] = args.frames / min(seconds)
        ratio = rates["bf16"] / rates["fp32"]
        print(
            f"  ViT-{variant[0].upper()}: fp32 {rates['fp32']:7.1f} frames/s, "
            f"bf16 {rates['bf16']:7.1f} frames/s, bf16 / fp32 = {ratio:.2f}x"
        )


def memory_probe(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """One forward+backward; activation memory in MiB (run in a fresh process on the CPU)."""
    model = create_backbone(VARIANTS[args.variants[0]]).to(device).eval()
    model.requires_grad_(False)
    model.set_grad_checkpointing(args.checkpointing)
    # warm-up on one small chunk: library start-up allocations must not count as activations
    small = torch.randn(1, 3, model.chunk_frames, 2 * model.patch_size, 2 * model.patch_size)
    model.forward_features(small.to(device).requires_grad_(True)).sum().backward()
    x = _frames(args, device).requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated() / 2**20
    else:
        reset_peak_rss()
        before = status_mib("VmRSS")
    start = time.perf_counter()
    model.forward_features(x).float().pow(2).mean().backward()
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = status_mib("VmHWM")
    return {"activation_mib": peak - before, "seconds": seconds}


def _probe_in_subprocess(args: argparse.Namespace, variant: str, checkpointing: bool) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    command = [sys.executable, __file__, "--probe", "--variants", variant]
    command += ["--frames", str(args.frames), "--size", str(args.size)]
    command += ["--checkpointing"] if checkpointing else []
    done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"memory probe {' '.join(command[2:])} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report_memory(args: argparse.Namespace, device: torch.device) -> None:
    """Print activation memory of forward+backward with and without checkpointing."""
    where = "peak RSS, fresh process each" if device.type == "cpu" else "max_memory_allocated"
    print(f"\nforward+backward memory, frozen weights, grad to the input, fp32 ({where})")
    for variant in args.variants:
        results = {}
        for checkpointing in (False, True):
            if device.type == "cpu":
                results[checkpointing] = _probe_in_subprocess(args, variant, checkpointing)
            else:
                probe_args = argparse.Namespace(**{**vars(args), "variants": [variant]})
                probe_args.checkpointing = checkpointing
                results[checkpointing] = memory_probe(probe_args, device)
        plain, ckpt = results[False], results[True]
        mem_ratio = ckpt["activation_mib"] / plain["activation_mib"]
        time_ratio = ckpt["seconds"] / plain["seconds"]
        print(
            f"  ViT-{variant[0].upper()}: without checkpointing "
            f"{plain['activation_mib']:7.0f} MiB ({plain['seconds']:.1f} s), "
            f"with {ckpt['activation_mib']:7.0f} MiB ({ckpt['seconds']:.1f} s): "
            f"memory ratio {mem_ratio:.2f}, time ratio {time_ratio:.2f}"
        )


def main() -> None:
    """Run the benchmark (or, with ``--probe``, one memory measurement as JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants", nargs="+", choices=sorted(VARIANTS), default=["small", "base"]
    )
    parser.add_argument("--frames", type=int, default=32, help="frames per input (multiple of 16)")
    parser.add_argument("--size", type=int, default=160, help="input height and width in pixels")
    parser.add_argument("--iters", type=int, default=3, help="timed forward passes")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.probe:
        print(json.dumps(memory_probe(args, device)))
        return
    report_sizes()
    report_throughput(args, device)
    report_memory(args, device)


if __name__ == "__main__":
    main()
