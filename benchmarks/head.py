"""Speed of the full-size ActionFormer head on THUMOS-sized inputs, fp32 vs bf16 autocast.

The detector is ``build_actionformer(2048, 20)`` (512 channels, 6 levels, local window 19 by
default; ``--window-size -1`` for AdaTAD's global attention) on random features of
``2304`` steps x ``2048`` channels (ActionFormer's THUMOS-14 I3D ``max_seq_len`` and input
size), with a few planted ground-truth segments. It measures, on CPU:

* inference videos/s, one video per call: the network (``forward_heads``) and, timed apart,
  decoding plus multi-class Soft-NMS with voting (always float32 / float64);
* training iterations/s: forward, losses, backward, gradient clipping, AdamW step, at
  ``--batch-size`` videos per iteration.

Each is timed in float32 and under ``torch.autocast("cpu", dtype=torch.bfloat16)``; the ratios
are bf16 over fp32 throughput. Inference runs first, on the untrained weights, so that both
precisions post-process the same number of candidates.

    python benchmarks/head.py                       # batch 2, 2 timed iterations each
    python benchmarks/head.py --window-size -1 --train-iters 2 --infer-videos 2
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import torch

from tadapt.detection import TemporalDetector, build_actionformer
from tadapt.structures import Segments, VideoBatch, VideoSample, collate_samples

STEPS, CHANNELS, CLASSES = 2304, 2048, 20  # ActionFormer configs/thumos_i3d.yaml


def make_batch(batch_size: int, seed: int) -> VideoBatch:
    """``batch_size`` random feature sequences with a few ground-truth segments each."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for b in range(batch_size):
        starts = torch.randint(0, STEPS - 200, (8,), generator=g).double()
        lengths = torch.randint(4, 200, (8,), generator=g).double()
        samples.append(
            VideoSample(
                f"video_{b}",
                torch.randn(CHANNELS, STEPS, generator=g),
                torch.ones(STEPS, dtype=torch.bool),
                Segments(torch.stack((starts, starts + lengths), dim=1), "idx"),
                torch.randint(0, CLASSES, (8,), generator=g),
                grid_stride_sec=4 / 30,  # THUMOS I3D: feat_stride 4 at 30 fps
                duration_sec=STEPS * 4 / 30,
            )
        )
    return collate_samples(samples)


def timed(step: Callable[[], object], warmup: int, iters: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - start) / iters


def precision(bf16: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CPU, or nothing."""
    if bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_inference(
    model: TemporalDetector, batch: VideoBatch, bf16: bool, warmup: int, iters: int
) -> tuple[float, float]:
    """Seconds per video of the network and of decoding + NMS, in evaluation mode."""
    model.eval()
    with torch.no_grad(), precision(bf16):
        outputs = model.forward_heads(batch.inputs, batch.masks)

    def network() -> None:
        with torch.no_grad(), precision(bf16):
            model.forward_heads(batch.inputs, batch.masks)

    net_sec = timed(network, warmup, iters)
    post_sec = timed(lambda: model.detections(outputs, batch), warmup, iters)
    return net_sec, post_sec


def main() -> None:
    """Run the benchmark and print what it measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2, help="videos per training step")
    parser.add_argument("--train-iters", type=int, default=2)
    parser.add_argument("--infer-videos", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--window-size", type=int, default=19, help="-1: global attention")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    model = build_actionformer(CHANNELS, CLASSES, window_size=args.window_size)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, foreach=True)
    train_batch = make_batch(args.batch_size, args.seed)
    infer_batch = make_batch(1, args.seed + 1)
    print(
        f"ActionFormer head: {num_params / 1e6:.1f} M parameters, window {args.window_size}, "
        f"inputs {CHANNELS} x {STEPS}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    # inference first, so that both precisions see the same (initial) weights: the NMS cost
    # depends on how many candidates pass the score threshold
    infer: dict[str, float] = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        net_sec, post_sec = time_inference(model, infer_batch, bf16, args.warmup, args.infer_videos)
        infer[name] = 1.0 / (net_sec + post_sec)
        print(
            f"{name} inference: {infer[name]:.3f} videos/s ({net_sec:.2f} s network + "
            f"{post_sec:.2f} s decoding and NMS per video)"
        )

    train: dict[str, float] = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):

        def train_step(bf16: bool = bf16) -> None:
            model.train()
            with precision(bf16):
                losses = model(train_batch)
            optimizer.zero_grad(set_to_none=True)
            losses["final_loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()

        train_sec = timed(train_step, args.warmup, args.train_iters)
        train[name] = 1.0 / train_sec
        print(
            f"{name} training: {train[name]:.3f} it/s ({train_sec:.2f} s/it at batch "
            f"{args.batch_size}, {args.batch_size * train[name]:.3f} videos/s)"
        )
    print(
        f"bf16 / fp32 throughput: training {train['bf16'] / train['fp32']:.2f}x, "
        f"inference {infer['bf16'] / infer['fp32']:.2f}x"
    )


if __name__ == "__main__":
    main()
