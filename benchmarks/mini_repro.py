"""The AdaTAD / LoSA / LoFi comparison table in miniature: every tuning strategy, one dataset.

One synthetic localization dataset (rendered videos, train/test split), one backbone
(the preset's: by default the tiny ViT tadapt ships, pretrained by ``tadapt pretrain``;
``--checkpoint`` replaces it),
the same ActionFormer head, schedule and budget: the preset's (``--preset``, default
``mini_repro_synthetic``). One detector is trained and evaluated per strategy and seed
(``train.seed``):

* ``frozen``, ``full``, ``adapter``, ``lora``, ``tia``, ``tia_side``, ``losa``:
  ``tadapt train PRESET model.strategy=NAME``;
* ``lofi``: ``tadapt lofi PRESET`` with LoFi's cyclic long cycle (:data:`LOFI`, the settings
  of the ``lofi_anet_videomae_s_cyclic`` preset): low-fidelity end-to-end training of the
  whole backbone, full-fidelity features, a new head; its mAP is the new head's.

Each run happens in a fresh process (``--run-one``) and reports back in JSON: the average mAP
and the mAP per tIoU on the test split, the trainable parameters (for ``lofi``: its end-to-end
stage) and its wall time (training and evaluation). Peak memory comes from one more run per
row, the *memory probe*: seed 0 for :data:`PROBE_EPOCHS` epochs and the full evaluation (all
three stages for ``lofi``), in a fresh process with ``MALLOC_ENV`` and the meter of
``benchmarks/adaptation_memory.py`` (:func:`tadapt.profiling.peak_meter`: ``VmHWM`` over
``VmRSS`` before the run on the CPU, ``torch.cuda.max_memory_allocated`` on a GPU). The
meter's allocator setting returns every freed tensor to the OS, which makes a CPU step about
twice as slow; the probe pays it once per row, the timed runs not at all. The videos are
rendered once, before any run, into a folder every run shares.

A row is a strategy: average mAP as mean +- sample standard deviation over the seeds, mean mAP
per tIoU, trainable parameters, its probe's peak memory and the mean wall time.
The Markdown report (with every run's raw numbers below the table) and a plot of average mAP
against peak memory go to ``--out-dir``.

    python benchmarks/mini_repro.py --jobs 2                              # 8 rows x 3 seeds
    python benchmarks/mini_repro.py --quick                               # smoke test
    python benchmarks/mini_repro.py --checkpoint PATH train.device=cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import torch

from mini_repro_report import format_report, plot, summarize
from tadapt.adapters import trainable_parameter_report
from tadapt.backbones import bundled_weights
from tadapt.cli.experiment import build_model, choose_device, prepare_experiment
from tadapt.cli.lofi import run_lofi
from tadapt.cli.train import train_experiment
from tadapt.config import ExperimentConfig, load_config
from tadapt.profiling import MALLOC_ENV, choose_method, cpu_model, peak_meter

ROWS = ("frozen", "full", "adapter", "lora", "tia", "tia_side", "losa", "lofi")
# LoFi's cyclic long cycle, as lofi_anet_videomae_s_cyclic sets it, on the same experiment
LOFI = (
    "model.strategy=full",
    "train.fidelity.mode=cyclic",
    "train.fidelity.budget=4.0",
    "train.fidelity.every=epoch",
    "train.fidelity.temporal_drop=snippets",
    # at 64 px the paper's ST level rounds to 8x fewer tokens and is refused: S and T only
    "train.fidelity.levels=1x2,4x1",
)
# AdaTAD's full fine-tuning trains the backbone at a tenth of the detector's rate (OpenTAD
# configs/adatad/thumos/e2e_thumos_videomae_s_768x1_160_fullft.py: backbone 1e-5, detector
# 1e-4); the rows that train every backbone weight (full, lofi) do the same. The adapter rows
# train their adapters at the detector's rate (AdaTAD's ViT-B/L/H configs; ViT-S uses twice it).
FULL_BACKBONE_LR_RATIO = 0.1
# --quick shrinks the preset's data and schedule, and only these (every row stays)
QUICK = (
    "data.synthetic_videos.num_videos=10",  # 5 train, 5 test
    "data.synthetic_videos.duration_sec=6.0",
    "data.max_seq_len=32",
    "train.epochs=2",
)
# every step of a run has the same shapes (fixed windows, batch and crops) and LoFi's cycle
# has two levels, so two epochs and the evaluation reach a whole run's peak
PROBE_EPOCHS = 2
DEFAULT_PRESET = "mini_repro_synthetic"
SCRIPT = Path(__file__).resolve()


@dataclasses.dataclass(frozen=True)
class Run:
    """One (strategy, seed) run, as the parent hands it to its process.

    Attributes:
        row: a name of :data:`ROWS`.
        seed: ``train.seed``.
        preset: the preset name or YAML file.
        overrides: the overrides shared by every run (the row's and the seed's come on top).
        lr: the detector's learning rate (``optim.lr`` after the shared overrides).
        run_dir: the run folder; ``spec.json``, ``result.json`` and ``log.txt`` go there too.
        threads: torch threads in the run's process.
        probe_epochs: ``None`` for a timed run; for a memory probe, its ``train.epochs``.
    """

    row: str
    seed: int
    preset: str
    overrides: tuple[str, ...]
    lr: float
    run_dir: str
    threads: int
    probe_epochs: int | None = None

    @property
    def is_probe(self) -> bool:
        """Whether this is a memory probe (metered, not timed) rather than a timed run."""
        return self.probe_epochs is not None

    def all_overrides(self) -> list[str]:
        """The shared overrides, then the row's (:func:`row_overrides`), the seed's, a probe's."""
        seed = f"train.seed={self.seed}"
        overrides = [*self.overrides, *row_overrides(self.row, self.lr), seed]
        if self.is_probe:
            overrides.append(f"train.epochs={self.probe_epochs}")
        return overrides


def row_overrides(row: str, lr: float) -> list[str]:
    """A row's overrides: its strategy (LoFi's cycle), and the backbone's rate for full and lofi.

    ``full`` and ``lofi`` train every backbone weight, at ``lr * FULL_BACKBONE_LR_RATIO``.
    """
    overrides = list(LOFI) if row == "lofi" else [f"model.strategy={row}"]
    if row in ("full", "lofi"):
        backbone_lr = lr * FULL_BACKBONE_LR_RATIO
        overrides.append(f"optim.module_lrs.feature_extractor.backbone={backbone_lr:g}")
    return overrides


def _trainable(config: ExperimentConfig) -> int:
    """Trainable parameters of a resolved config's detector, built on the meta device."""
    assert config.model.backbone is not None  # videos
    bare = dataclasses.replace(config.model.backbone, checkpoint=None, pretrained=False)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, backbone=bare))
    with torch.device("meta"):
        return trainable_parameter_report(build_model(config)).trainable


def run_one(run: Run) -> dict[str, object]:
    """Train and evaluate one run in this process; its measurements as a JSON-able dict.

    A timed run gives its mAP, trainable parameters and wall time; a memory probe
    (``run.probe_epochs`` set) its peak memory and meter.
    """
    torch.set_num_threads(run.threads)
    # AdamW's first step imports torch._dynamo lazily (seconds): a cost of the process, not of
    # the run, so it is paid before the clock and the meter start
    importlib.import_module("torch._dynamo")
    overrides = run.all_overrides()
    run_dir = Path(run.run_dir)
    device = choose_device(load_config(run.preset, overrides).train.device)
    method = choose_method(device)
    meter: contextlib.AbstractContextManager[list[float]] = (
        peak_meter(method, device) if run.is_probe else contextlib.nullcontext([])
    )
    start = time.perf_counter()
    with meter as found:
        if run.row == "lofi":
            result = run_lofi(run.preset, overrides, run_dir)
            assert result is not None  # every stage ran
            trained = load_config(run_dir / "lofi" / "config.yaml")  # the end-to-end stage
        else:
            result = train_experiment(run.preset, overrides, out_dir=run_dir)
            trained = result.config
    seconds = time.perf_counter() - start
    if run.is_probe:
        return {"row": run.row, "epochs": run.probe_epochs, "peak_mib": found[0], "meter": method}
    if "average_mAP" not in result.metrics:
        raise ValueError(f"{run_dir}: the run was not evaluated (train.eval_interval?)")
    per_tiou = {k.split("@")[1]: 100 * v for k, v in result.metrics.items() if k.startswith("mAP@")}
    return {
        "row": run.row,
        "seed": run.seed,
        "average_mAP": 100 * result.metrics["average_mAP"],
        "mAP": per_tiou,
        "trainable": _trainable(trained),
        "wall_sec": seconds,
    }


def launch(run: Run) -> dict[str, object]:
    """Run ``run`` in a fresh process (``--run-one``); its result, or an error with its log."""
    run_dir = Path(run.run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(dataclasses.asdict(run)))
    log = run_dir / "log.txt"
    with log.open("w") as out:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), "--run-one", str(run_dir)],
            env={**os.environ, **(MALLOC_ENV if run.is_probe else {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        what = f"{run.row} memory probe" if run.is_probe else f"run {run.row} seed {run.seed}"
        raise RuntimeError(
            f"{what} failed (exit code {done.returncode}); the end of "
            f"its log {log} (--work-dir keeps it):\n{tail}"
        )
    result: dict[str, object] = json.loads((run_dir / "result.json").read_text())
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(
    config: ExperimentConfig,
    args: argparse.Namespace,
    shared: list[str],
    threads: int,
    lofi: bool,
    probe_epochs: int,
) -> list[str]:
    """The report's header: command, date, machine, dataset, backbone, schedule, meter."""
    data, train, videos = config.data, config.train, config.data.synthetic_videos
    backbone = config.model.backbone
    assert backbone is not None  # videos
    if args.checkpoint is not None:
        weights = f"`{args.checkpoint}` (sha256 {_sha256(args.checkpoint)})"
    elif backbone.pretrained:
        shipped = bundled_weights(backbone.name)
        assert shipped is not None  # resolve() checked it
        weights = f"the weights tadapt ships (`{shipped.name}`, sha256 {_sha256(shipped)})"
    else:
        weights = "random init"
    if videos is None:
        dataset = f"`{data.annotation_file}`, videos in `{data.video_dir}`"
    else:
        test = round(videos.num_videos * videos.test_fraction)
        dataset = (
            f"synthetic videos (tadapt.data.synthetic, seed {videos.seed}): "
            f"{videos.num_videos} videos ({videos.num_videos - test} train / {test} test), "
            f"{videos.num_classes} classes, {videos.duration_sec:g} s at {videos.fps:g} fps, "
            f"{videos.size} px"
        )
    command = " ".join(["python benchmarks/mini_repro.py", *map(shlex.quote, sys.argv[1:])])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- command: `{command}`",
        f"- date: {now}",
        f"- machine: {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device {choose_device(train.device)}, {threads} torch threads per run, "
        f"{args.jobs} run(s) at once, load average {os.getloadavg()[0]:.1f} at the start "
        "(other processes slow the wall times, not the memory)",
        f"- dataset: {dataset}",
        f"- backbone: `{backbone.name}`, {weights}",
        f"- schedule (preset `{args.preset}`): {train.epochs} epochs, batch {train.batch_size}, "
        f"lr {config.optim.lr:g}, windows of {data.max_seq_len} frames (frame stride "
        f"{data.frame_stride}) at {data.image_size} px, {train.precision}; "
        f"shared overrides: `{' '.join(shared) or 'none'}`",
        f"- seeds (`train.seed`): {', '.join(map(str, range(args.seeds)))}",
        f"- memory: peak of each row's memory probe (seed 0, {probe_epochs} epoch(s) and the "
        "evaluation, in a fresh process with tadapt.profiling.MALLOC_ENV), "
        "tadapt.profiling.peak_meter; wall time: training and evaluation per run, in a fresh "
        "process without MALLOC_ENV",
        f"- full and lofi: the backbone at {FULL_BACKBONE_LR_RATIO:g} x lr "
        f"(`{row_overrides('full', config.optim.lr)[-1]}`), as AdaTAD's full fine-tuning",
    ] + [f"- lofi: `tadapt lofi` with `{' '.join(LOFI)}` (the new head's mAP)"] * lofi


def main() -> None:
    """Render the videos, run every (strategy, seed) in its own process, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="preset name or YAML file")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides for every run, e.g. train.device=cuda (after --quick's)",
    )
    parser.add_argument("--checkpoint", type=Path, help="pretrained backbone weights")
    parser.add_argument(
        "--strategies", nargs="+", default=list(ROWS), help=f"rows (default: {' '.join(ROWS)})"
    )
    parser.add_argument(
        "--seeds", type=int, help="runs per row: train.seed 0..N-1 (default 3; --quick: 1)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (disturbs timings)")
    parser.add_argument("--out-dir", type=Path, default=SCRIPT.parent / "results")
    parser.add_argument(
        "--work-dir", type=Path, help="keep the videos and run folders here (default: temporary)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test, 1 seed: {' '.join(QUICK)}"
    )
    parser.add_argument("--run-one", type=Path, help=argparse.SUPPRESS)  # a run's folder
    args = parser.parse_args()
    if args.run_one is not None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        run = Run(**json.loads((args.run_one / "spec.json").read_text()))
        try:
            result = run_one(run)
        except ValueError as err:  # bad config, data or checkpoint: the message says what to do
            sys.exit(f"error: {err}")
        (args.run_one / "result.json").write_text(json.dumps(result))
        return
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    # overrides after --strategies land in its list: names never hold "="
    args.overrides += [name for name in args.strategies if "=" in name]
    args.strategies = [name for name in args.strategies if "=" not in name]
    unknown = sorted(set(args.strategies) - set(ROWS))
    if unknown:
        parser.error(f"--strategies: unknown {', '.join(unknown)}; choose from {' '.join(ROWS)}")
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        parser.error(f"--checkpoint {args.checkpoint}: no such file")
    with tempfile.TemporaryDirectory(prefix="mini_repro_") as scratch:
        work = (args.work_dir or Path(scratch)).resolve()
        if work.exists() and any(work.glob("runs/*")):
            parser.error(f"--work-dir {work} already holds runs; give an empty folder")
        shared = [f"data.synthetic_videos.cache_dir={work / 'videos'}", "train.progress=false"]
        if args.checkpoint is not None:
            path = args.checkpoint.resolve()
            shared += [f"model.backbone.checkpoint={path}", "model.backbone.pretrained=true"]
        if args.quick:
            shared += QUICK
        shared += args.overrides
        # render the videos once, before any run is timed
        try:
            config, _ = prepare_experiment(args.preset, shared, work / "render")
        except ValueError as err:  # ConfigError included: a bad preset, override or dataset
            parser.error(str(err))
        threads = max(1, (os.cpu_count() or 1) // args.jobs)
        order = [r for r in ROWS if r in args.strategies]
        probe_epochs = min(PROBE_EPOCHS, config.train.epochs)
        lr, common = config.optim.lr, tuple(shared)
        probes = [
            Run(row, 0, args.preset, common, lr, str(work / "probes" / row), threads, probe_epochs)
            for row in order
        ]
        runs = [
            Run(row, seed, args.preset, common, lr, str(work / "runs" / f"{row}_{seed}"), threads)
            for row in order
            for seed in range(args.seeds)
        ]
        header = describe(config, args, shared, threads, "lofi" in order, probe_epochs)
        print("\n".join(header), flush=True)
        results, memory = [], []
        with ThreadPoolExecutor(args.jobs) as pool:
            try:
                jobs = [*probes, *runs]
                for job, result in zip(jobs, pool.map(launch, jobs), strict=True):
                    if job.is_probe:
                        memory.append(result)
                        line = f"memory probe: peak {result['peak_mib']:.0f} MiB"
                    else:
                        results.append(result)
                        line = (
                            f"seed {result['seed']}: average mAP {result['average_mAP']:.2f} %, "
                            f"{result['wall_sec']:.1f} s"
                        )
                    print(f"  {result['row']} {line}", flush=True)
            except RuntimeError as err:
                pool.shutdown(cancel_futures=True)
                sys.exit(f"mini_repro: {err}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = args.out_dir / "mini_repro.md"
    report.write_text("\n".join(format_report(header, results, memory)) + "\n")
    plot(summarize(results, memory), args.out_dir / "mini_repro.png")
    print(f"report: {report}\nplot: {args.out_dir / 'mini_repro.png'}")


if __name__ == "__main__":
    main()
