"""The experiment configuration: frozen dataclasses, one per concern.

An :class:`ExperimentConfig` is what a YAML preset holds (``tadapt/presets/*.yaml``) after
:func:`tadapt.config.load_config` has read it and applied the command line's dotted overrides.
Fields left ``None`` that follow from others (the number of classes, the tIoU thresholds, the
position-table length, the synthetic data's folders, the features' width and strides) are
filled by :func:`tadapt.config.resolve`, which returns a new object: a config is never mutated.

Defaults are ActionFormer's THUMOS-14 I3D settings (``configs/thumos_i3d.yaml`` and
``libs/core/config.py`` of happyharrycn/actionformer_release), with a provenance comment where
a number comes from a paper or a reference codebase. Only the command-line layer
(``tadapt.cli``) reads these objects; it passes plain arguments to the constructors below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from tadapt.adapters.losa_options import LoSAOptions
from tadapt.data.files import VIDEO_EXTS

__all__ = [
    "AdapterConfig",
    "BackboneConfig",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "FidelityConfig",
    "HeadConfig",
    "LoRAConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "PostProcessConfig",
    "Precision",
    "RandAugmentConfig",
    "SyntheticDataConfig",
    "SyntheticVideoDataConfig",
    "TrainConfig",
]

Precision = Literal["fp32", "bf16", "fp16", "amp"]
"""``fp32``; ``bf16`` autocast; ``fp16`` autocast with a GradScaler (on CPU too, slowly); ``amp``:
fp16 + GradScaler on CUDA, bf16 on CPU."""

# ActionFormer libs/core/config.py regression_range (10000 there, infinity here)
_THUMOS_RANGES: tuple[tuple[float, float], ...] = (
    (0.0, 4.0),
    (4.0, 8.0),
    (8.0, 16.0),
    (16.0, 32.0),
    (32.0, 64.0),
    (64.0, math.inf),
)


@dataclass(frozen=True)
class SyntheticDataConfig:
    """Synthetic features generated before training when the files are missing.

    See :mod:`tadapt.data.synthetic_features`; the subsets are ``training`` and ``validation``.

    Attributes:
        num_classes: number of action classes.
        num_train_videos: videos of the ``training`` subset.
        num_eval_videos: videos of the ``validation`` subset.
        num_steps: ``(low, high)`` features per video.
        instances_per_video: ``(low, high)`` action instances per video.
        instance_steps: ``(low, high)`` features per instance.
        signal: amplitude of the planted class pattern (noise std is 1).
        ramp_steps: features over which a pattern fades in and out.
        seed: seed of the generator (the same seed gives the same files).
        cache_dir: where to write them; ``None``: ``<run dir>/synthetic_features``.
    """

    num_classes: int = 4
    num_train_videos: int = 32
    num_eval_videos: int = 16
    num_steps: tuple[int, int] = (96, 128)
    instances_per_video: tuple[int, int] = (1, 3)
    instance_steps: tuple[int, int] = (8, 24)
    signal: float = 5.0
    ramp_steps: int = 1
    seed: int = 0
    cache_dir: str | None = None


@dataclass(frozen=True)
class SyntheticVideoDataConfig:
    """Synthetic H.264 videos generated before training when missing (``tadapt synth``).

    See :mod:`tadapt.data.synthetic` and ``docs/synthetic.md``; the subsets are ``train`` and
    ``test`` (``test_fraction`` of the videos).

    Attributes:
        num_videos: number of videos.
        num_classes: ``K``, the first ``K`` motion classes (``tadapt.data.MOTION_CLASSES``,
            14 in all); follows from ``classes`` when that is set (leave it at 4 or give
            ``len(classes)``).
        classes: the motion classes by name, in label order, e.g. ``[grow, blink]``;
            ``None``: the first ``num_classes``.
        duration_sec: length of every video.
        fps: frame rate.
        size: frame side in pixels.
        actions_per_video: ``(min, max)`` action instances per video.
        action_duration_sec: ``(min, max)`` instance durations.
        distractors_per_video: ``(min, max)`` look-alike objects that never act.
        object_radius: ``(min, max)`` object radius as a fraction of ``size``.
        noise_std: ``(min, max)`` per-pixel noise of each video (0-255 units).
        background_detail: ``(min, max)`` amplitude of the background's fine texture.
        test_fraction: fraction of the videos in the ``test`` subset.
        seed: seed of the generator (the same seed gives the same videos).
        cache_dir: where to write them; ``None``: ``<run dir>/synthetic_videos``.

    The four appearance ranges default to ``tadapt synth``'s (``docs/synthetic.md``).
    """

    num_videos: int = 24
    num_classes: int = 4
    classes: tuple[str, ...] | None = None
    duration_sec: float = 12.0
    fps: float = 15.0
    size: int = 64
    actions_per_video: tuple[int, int] = (1, 3)
    action_duration_sec: tuple[float, float] = (1.0, 4.0)
    distractors_per_video: tuple[int, int] = (2, 4)
    object_radius: tuple[float, float] = (0.055, 0.16)
    noise_std: tuple[float, float] = (3.0, 8.0)
    background_detail: tuple[float, float] = (10.0, 30.0)
    test_fraction: float = 0.25
    seed: int = 0
    cache_dir: str | None = None


@dataclass(frozen=True)
class RandAugmentConfig:
    """RandAugment of training clips (:class:`tadapt.data.RandAugment`, mmaction's ``ImgAug``).

    Attributes:
        num_ops: ops applied to each clip.
        magnitude: their strength, ``0..10``.
    """

    num_ops: int = 2  # mmaction ImgAug default_transforms num_augmenters
    magnitude: float = 9.0  # mmaction ImgAug default_transforms cur_magnitude (of 10)


@dataclass(frozen=True)
class DataConfig:
    """The videos (end to end) or pre-extracted features, and their annotation file.

    Set ``video_dir`` to train end to end from frames (``model.backbone`` is then required);
    set ``feature_dir`` to train the head on pre-extracted ``(T, C)`` feature files.

    Attributes:
        dataset: the benchmark family; chooses the tIoU thresholds (``thumos14``,
            ``activitynet``, ... see :data:`tadapt.evaluation.TIOU_PRESETS`).
        annotation_file: any annotation file :func:`tadapt.io.load_annotations` reads.
        category_file: a class list, one name per line (OpenTAD ``category_idx.txt``).
        feature_dir: folder of ``file_prefix + video_id + file_ext`` feature files.
        video_dir: folder of ``file_prefix + video_id + ext`` videos (``video_exts``),
            searched recursively; frames mode.
        video_exts: video file extensions, in order of preference.
        frame_stride: frames mode: frames between two sampled frames (AdaTAD THUMOS-14: 4
            at 30 fps for 768 x 1, 2 for 1536 x 2).
        image_size: frames mode: crop side fed to the backbone (AdaTAD: 160 or 224).
        resize_short_side: frames mode, training: short side before the random resized crop
            (``None``: ``image_size * 182 / 160``, AdaTAD's 182 for 160 px, 256 for 224 px).
        flip_prob: frames mode, training: horizontal flip probability. Set 0 when a class
            has a left-right direction (a flip would relabel it); refused for the
            synthetic classes move_right / move_left / rotate_cw / rotate_ccw.
        color_jitter: frames mode, training: mmaction colour jitter (AdaTAD uses it).
        color_jitter_hue: its hue range (AdaTAD, mmaction's default: 0.1; 0: no hue change).
        rand_augment: frames mode, training: RandAugment after the flip (AdaTAD: mmaction's
            ``ImgAug("default")``, 2 ops at magnitude 9); ``None``: off.
        file_ext: ``.npy`` or ``.pt``.
        file_prefix: file-name prefix before the video id (ActivityNet TSP: ``v_``).
        train_split: subset to train on: a role, ``train`` (or ``test``), mapped to the right
            subset of every annotation format, or a subset name as the file writes it (see
            ``docs/formats.md``).
        eval_split: subset to evaluate on: ``test`` (the subset the benchmark is evaluated
            on: THUMOS' test videos, ActivityNet's validation) or a subset name.
        allow_split_overlap: train even when the training and evaluation splits share videos
            (debugging only: the mAP then measures videos the model trained on); training
            refuses such a config unless this is true, and warns when it is.
        feature_dim: ``C`` of the features; ``None``: the ``tadapt_features.json`` manifest's
            in ``feature_dir`` (``tadapt extract`` writes one), else 2048 (ActionFormer's
            two-stream I3D). Frames mode: unused (the backbone's width).
        feat_stride: frames between consecutive features; ``None``: the manifest's, else 4.
        num_frames: frames per feature clip (feature ``i`` sits at its centre,
            ``i * feat_stride + num_frames / 2``; 0: on its first frame); ``None``: the
            manifest's, else 16.
        fps: frame rate of the features; ``None``: each video's fps from the annotation file.
        max_seq_len: training window, in features (frames mode: in sampled frames) with
            random truncation; with ``resize``, the fixed length every video is resized to.
        trunc_thresh: a truncated instance is kept when this fraction of it is in the window.
        crop_ratio: ``(low, high)`` random shortening of videos that fit in the window.
        resize: resize every video's features to ``max_seq_len`` (ActivityNet).
        resize_min_gt_fraction: with ``resize``, training ignores instances shorter than this
            fraction of the video (OpenTAD ``filter_gt``).
        eval_window: evaluate on sliding windows of this many features or sampled frames
            (``None``: each video whole, as ActionFormer; frames mode: ``max_seq_len``).
        eval_overlap: overlap of the evaluation windows.
        class_agnostic: train one "action" class (ActivityNet with an external classifier).
        num_workers: DataLoader worker processes.
        on_error: ``raise`` on a missing or unreadable feature file, or ``skip`` the video.
        check_inputs: before training, check every file the run will read (videos decodable
            and as long as annotated, features finite and ``feature_dim`` wide, the backbone
            checkpoint readable) and stop with all problems listed; ``false`` skips the pass.
        synthetic: generate synthetic features (the tiny preset); ``None`` for real data.
        synthetic_videos: generate synthetic videos (the tiny end-to-end presets).
    """

    dataset: str = "thumos14"
    annotation_file: str | None = None
    category_file: str | None = None
    feature_dir: str | None = None
    video_dir: str | None = None
    video_exts: tuple[str, ...] = VIDEO_EXTS
    frame_stride: int = 1
    image_size: int = 160  # AdaTAD THUMOS-14 crop
    resize_short_side: int | None = None
    flip_prob: float = 0.5  # AdaTAD / mmaction Flip
    color_jitter: bool = True  # AdaTAD ColorJitter
    color_jitter_hue: float = 0.0
    rand_augment: RandAugmentConfig | None = None
    file_ext: str = ".npy"
    file_prefix: str = ""
    train_split: str = "train"
    eval_split: str = "test"
    allow_split_overlap: bool = False
    # None: from the features' manifest, else ActionFormer's (filled in by resolve())
    feature_dim: int | None = None
    feat_stride: int | None = None
    num_frames: int | None = None
    fps: float | None = None
    max_seq_len: int = 2304  # ActionFormer thumos_i3d max_seq_len
    trunc_thresh: float = 0.5  # ActionFormer thumos_i3d trunc_thresh
    crop_ratio: tuple[float, float] | None = (0.9, 1.0)  # ActionFormer thumos_i3d crop_ratio
    resize: bool = False
    resize_min_gt_fraction: float = 0.01  # OpenTAD AnetResizeDataset filter_gt (1 %)
    eval_window: int | None = None
    eval_overlap: float = 0.5
    class_agnostic: bool = False
    num_workers: int = 2
    on_error: Literal["raise", "skip"] = "raise"
    check_inputs: bool = True
    synthetic: SyntheticDataConfig | None = None
    synthetic_videos: SyntheticVideoDataConfig | None = None


@dataclass(frozen=True)
class HeadConfig:
    """The shared classification and regression heads.

    Attributes:
        num_layers: convolutions per head, the output one included.
        kernel_size: temporal kernel of the head convolutions.
        dim: hidden channels (``None``: the model's ``embed_dim``).
        prior_prob: initial foreground probability of the classifier.
        offset_bias: initial bias of the regression head's two outputs (distance to the start
            and to the end, in strides) before its ReLU. 0 is ActionFormer's; a small head
            can then have one output below 0 at every positive point from the first step,
            with no gradient to bring it back (``tadapt train`` warns). 1 starts both alive.
    """

    num_layers: int = 3  # ActionFormer head_num_layers
    kernel_size: int = 3  # ActionFormer head_kernel_size
    dim: int | None = None  # ActionFormer head_dim (= embd_dim)
    prior_prob: float = 0.01  # ActionFormer train_cfg cls_prior_prob
    offset_bias: float = 0.0  # ActionFormer: every conv bias starts at 0


@dataclass(frozen=True)
class LossConfig:
    """Focal + DIoU losses with the EMA normaliser.

    Attributes:
        focal_alpha: focal loss alpha.
        focal_gamma: focal loss gamma.
        reg_weight: regression loss weight (``<= 0``: balanced automatically).
        label_smoothing: classification label smoothing.
        norm_init: initial value of the loss normaliser.
        norm_momentum: momentum of the loss normaliser.
    """

    focal_alpha: float = 0.25  # ActionFormer sigmoid_focal_loss
    focal_gamma: float = 2.0  # ActionFormer sigmoid_focal_loss
    reg_weight: float = 1.0  # ActionFormer train_cfg loss_weight
    label_smoothing: float = 0.0  # ActionFormer train_cfg label_smoothing
    norm_init: float = 100.0  # ActionFormer thumos_i3d init_loss_norm
    norm_momentum: float = 0.9  # ActionFormer PtTransformer loss_normalizer_momentum


@dataclass(frozen=True)
class BackboneConfig:
    """The video backbone of end-to-end training (``tadapt list backbones``).

    Attributes:
        name: registered backbone (``videomae_small_patch16``, ``videomaev2_giant_patch14``...).
        checkpoint: local weights (official VideoMAE / VideoMAEv2 ``.pth``, Hugging Face
            folder, ``.safetensors``).
        pretrained: load pretrained weights: ``checkpoint``, or without one the weights
            shipped with ``name``'s tag (``tadapt list backbones`` marks them ``bundled``);
            ``false`` trains from a random init (the tiny synthetic presets).
        drop_path_rate: stochastic depth of the last block (AdaTAD: 0.1).
        grad_checkpointing: checkpoint each block that takes part in the backward pass
            (AdaTAD ``with_cp``); what makes ``tia`` cheap.
        checkpoint_scheme: torch's ``reentrant`` implementation (OpenTAD's) or
            ``non_reentrant``; the same gradients (``docs/adaptation.md`` compares memory).
        checkpoint_skip_first: checkpoint only blocks whose input requires grad (OpenTAD's
            ``with_cp and x.requires_grad``): behind the frozen patch embedding the first
            adapted block runs plainly; ``false`` checkpoints it too.
        temporal_scale: interpolate the ``T / tubelet`` features to this many times their
            length (AdaTAD: 2 on THUMOS-14, a feature per sampled frame; 0.5 on ActivityNet).
        clips_per_pass: no-grad strategies: run this many 16-frame chunks at a time.
        overrides: constructor arguments replacing the variant's defaults (e.g.
            ``{depth: 2}``); ``img_size`` is the pretraining size of the position table.
    """

    name: str = "videomae_small_patch16"
    checkpoint: str | None = None
    pretrained: bool = True
    drop_path_rate: float = 0.1  # AdaTAD configs drop_path_rate
    grad_checkpointing: bool = True  # AdaTAD with_cp=True
    # OpenTAD: reentrant cp.checkpoint where x.requires_grad; measured leaner: the defaults
    checkpoint_scheme: Literal["reentrant", "non_reentrant"] = "non_reentrant"
    checkpoint_skip_first: bool = False
    temporal_scale: float = 1.0
    clips_per_pass: int | None = None
    overrides: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoRAConfig:
    """Low-rank adaptation of the attention and MLP linears (strategy ``lora``).

    Attributes:
        rank: rank of the update.
        alpha: the update is scaled by ``alpha / rank``.
        dropout: dropout on the LoRA path.
        targets: which linears of each block: ``qkv``, ``proj``, ``fc1``, ``fc2``.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("qkv", "proj", "fc1", "fc2")


@dataclass(frozen=True)
class AdapterConfig:
    """Where and how big the adapters of a tuning strategy are.

    Attributes:
        blocks: blocks that get an adapter (``adapter``, ``tia``, ``lora``) or are tapped
            (``tia_side``, ``losa``); negative indices count from the end; ``None``: the
            strategy's default (all blocks; side strategies: see ``docs/adaptation.md``).
        ratio: bottleneck width over the token width (AdaTAD: 1/4; its side variant: 1/8).
        kernel_size: temporal kernel of TIA's depthwise convolution (``tia``, ``tia_side``;
            AdaTAD: 3).
        lora: the ``lora`` strategy's settings.
        losa: the ``losa`` strategy's design choices, every one ours where the paper is
            silent (:class:`tadapt.adapters.LoSAOptions`, ``docs/adaptation.md``).
    """

    blocks: tuple[int, ...] | None = None
    ratio: float = 0.25  # AdaTAD adapter_mlp_ratio
    kernel_size: int = 3  # AdaTAD TIA temporal kernel
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    losa: LoSAOptions = field(default_factory=LoSAOptions)


@dataclass(frozen=True)
class ModelConfig:
    """The ActionFormer detector (:func:`tadapt.detection.build_actionformer`) and its backbone.

    Attributes:
        backbone: the video backbone (frames mode); ``None`` for pre-extracted features.
        strategy: how the backbone is adapted (``tadapt list strategies``): ``frozen``,
            ``full``, ``adapter``, ``lora``, ``tia``, ``tia_side``, ``losa``.
        adapter: the adapters of the strategy.
        num_classes: ``K``; ``None``: the annotation file's classes (1 when class-agnostic).
        embed_dim: channels of the embedding, pyramid and neck.
        num_heads: attention heads.
        arch: ``(embedding convs, stem blocks, branch blocks)``: ``arch[2] + 1`` levels.
        window_size: local attention window, one for all levels or one per level; ``-1``:
            global attention.
        regression_ranges: one ``[low, high]`` per level, in features (``.inf`` allowed).
        use_abs_pe: sinusoidal absolute position encoding.
        max_seq_len: length of the position table; ``None``: ``data.max_seq_len``.
        input_drop: channel dropout on the detector's input features (OpenTAD
            ``input_pdrop``; AdaTAD's side variant: 0.1, its full fine-tuning: 0.2).
        proj_drop: dropout in the Transformer blocks.
        path_drop: stochastic depth in the Transformer blocks.
        center_sample_radius: centre sampling radius in strides (``None``: whole instance).
        head: the heads.
        loss: the losses.
    """

    backbone: BackboneConfig | None = None
    strategy: str = "frozen"
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    num_classes: int | None = None
    embed_dim: int = 512  # ActionFormer embd_dim
    num_heads: int = 4  # ActionFormer n_head
    arch: tuple[int, int, int] = (2, 2, 5)  # ActionFormer backbone_arch
    window_size: int | tuple[int, ...] = 19  # ActionFormer thumos_i3d n_mha_win_size
    regression_ranges: tuple[tuple[float, float], ...] = _THUMOS_RANGES
    use_abs_pe: bool = False  # ActionFormer use_abs_pe
    max_seq_len: int | None = None
    input_drop: float = 0.0  # OpenTAD Conv1DTransformerProj input_pdrop default
    proj_drop: float = 0.0  # ActionFormer TransformerBlock proj_pdrop as built by the backbone
    path_drop: float = 0.1  # ActionFormer train_cfg droppath
    center_sample_radius: float | None = 1.5  # ActionFormer train_cfg center_sample_radius
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with a linear-warmup + cosine schedule stepped every optimizer step.

    Attributes:
        lr: learning rate of every parameter not matched by ``module_lrs``.
        weight_decay: decoupled weight decay (not applied to norms, biases, scales and the
            ``no_weight_decay()`` names of a module).
        betas: AdamW betas.
        eps: AdamW epsilon.
        module_lrs: parameter-name prefix -> learning rate (the longest matching prefix
            wins), e.g. ``{backbone: 0.0, backbone.adapters: 1.0e-4}``.
        layer_decay: layer-wise learning-rate decay of the backbone for ``full`` fine-tuning:
            block ``k`` of ``L`` trains at ``lr * layer_decay ** (L - k)`` (BEiT); ``None``:
            off.
        full_decay_prefixes: parameter-name prefixes under which every parameter is decayed,
            biases, norms and scales included (AdaTAD decays all adapter parameters, TIA's
            ``gamma`` too: ``[feature_extractor.backbone]``); ``[]``: the exemptions above
            apply everywhere.
        warmup_epochs: epochs of linear warmup from 0, part of ``train.epochs``.
        min_lr_ratio: the cosine ends at ``lr * min_lr_ratio``.
        clip_grad_norm: clip the global gradient L2 norm to this (``None``: no clipping).
    """

    lr: float = 1e-4  # ActionFormer thumos_i3d learning_rate
    weight_decay: float = 0.05  # ActionFormer thumos_i3d weight_decay
    betas: tuple[float, float] = (0.9, 0.999)  # torch AdamW default, as ActionFormer
    eps: float = 1e-8  # torch AdamW default
    module_lrs: dict[str, float] = field(default_factory=dict)
    layer_decay: float | None = None
    full_decay_prefixes: tuple[str, ...] = ()
    warmup_epochs: int = 5  # ActionFormer opt warmup_epochs
    min_lr_ratio: float = 0.0  # ActionFormer LinearWarmupCosineAnnealingLR eta_min 1e-8 ~ 0
    clip_grad_norm: float | None = 1.0  # ActionFormer train_cfg clip_grad_l2norm


@dataclass(frozen=True)
class FidelityConfig:
    """LoFi's low-fidelity training batches (:mod:`tadapt.engine.fidelity`, ``docs/lofi.md``).

    Attributes:
        mode: ``spatial``, ``temporal``, ``spatiotemporal`` or ``cyclic`` (C-LoFi); required,
            so that no partial ``train.fidelity`` block turns low-fidelity training on.
        budget: ``r_t * r_s ** 2`` of every level (LoFi: 4).
        every: ``cyclic``: switch level every ``epoch`` (LoFi's long cycle, its default) or
            every ``cycle_batches`` optimizer steps (``batch``, the short cycle).
        cycle_batches: steps per level with ``every: batch`` (LoFi: 16).
        levels: custom levels ``"<r_t>x<r_s>,..."`` (``""``: derived from the budget).
        temporal_drop: what a temporal reduction drops: whole ``snippets`` (the frames of one
            detector step, as LoFi drops snippets) or single ``frames`` (every ``r_t``-th
            frame kept, so a 16-frame chunk spans ``r_t`` times more time).
        tolerance: how far a level's real cost (after rounding frames to whole patches) may
            miss ``budget``, relative.
    """

    mode: str  # required: a train.fidelity block without it would switch LoFi on unasked
    budget: float = 4.0  # LoFi: 4 = 2^2 = 4 x 1 = 2 x sqrt(2)^2
    every: Literal["epoch", "batch"] = "epoch"  # LoFi's default long cycle
    cycle_batches: int = 16  # LoFi short cycle c_s
    levels: str = ""
    temporal_drop: Literal["snippets", "frames"] = "snippets"  # LoFi's T-LoFi: fewer snippets
    tolerance: float = 0.05


@dataclass(frozen=True)
class TrainConfig:
    """The training loop.

    Attributes:
        epochs: total epochs, warmup included.
        batch_size: the *global* batch per optimizer step: each of ``N`` processes loads
            ``batch_size / (N * grad_accum_steps)`` samples per forward pass.
        grad_accum_steps: forward/backward passes per optimizer step.
        ema_decay: decay of the model EMA (``None``: no EMA).
        precision: see :data:`Precision`.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        seed: seed of every generator (Python, numpy, torch, data order and augmentation).
        deterministic: ask torch for deterministic algorithms (slower on GPU).
        eval_interval: evaluate every this many epochs (0: only after the last epoch).
        eval_start_epoch: first epoch (1-based) that may be evaluated.
        checkpoint_interval_steps: also save ``last.pt`` every this many optimizer steps
            (0: at the end of every epoch only).
        log_interval: optimizer steps between two training-metric records.
        tensorboard: also write TensorBoard events (needs the ``tensorboard`` package).
        progress: show progress bars.
        fidelity: train on low-fidelity batches (LoFi, frames mode); ``None``: full fidelity.
        fp16_grad_compression: with several processes, all-reduce gradients in float16
            (OpenTAD ``solver.fp16_compress``; torch's ``fp16_compress_hook``).
    """

    epochs: int = 35  # ActionFormer thumos_i3d: 30 epochs + 5 warmup
    batch_size: int = 2  # ActionFormer thumos_i3d loader batch_size
    grad_accum_steps: int = 1
    ema_decay: float | None = 0.999  # ActionFormer train.py ModelEma decay
    precision: Precision = "fp32"
    device: str = "auto"
    seed: int = 1234567891  # ActionFormer libs/core/config.py init_rand_seed
    deterministic: bool = False
    eval_interval: int = 0
    eval_start_epoch: int = 1
    checkpoint_interval_steps: int = 0
    log_interval: int = 10
    tensorboard: bool = False
    progress: bool = True
    fidelity: FidelityConfig | None = None
    fp16_grad_compression: bool = False


@dataclass(frozen=True)
class PostProcessConfig:
    """Decoding and NMS (:class:`tadapt.detection.PostProcessing`, same field names).

    The defaults are ActionFormer's THUMOS-14 values; docs/training.md says which value each
    source (ActionFormer, OpenTAD) uses.

    Attributes:
        pre_nms_threshold: keep scores above this, per ``pre_nms_scope``.
        pre_nms_topk: then keep at most this many candidates (``None``: all).
        pre_nms_scope: ``level``: per pyramid level (ActionFormer); ``window``: over all levels
            x classes of a window (OpenTAD).
        duration_threshold: drop segments not longer than this (features); ``None``: keep all
            (OpenTAD).
        nms_method: ``hard``, ``linear`` or ``gaussian`` (Soft-NMS).
        iou_threshold: tIoU threshold of hard NMS and linear Soft-NMS.
        sigma: width of the gaussian Soft-NMS decay.
        min_score: drop detections scoring below this.
        max_segments: detections kept per video (``None``: all).
        multiclass: suppress within a class only.
        voting_threshold: tIoU of score voting; ``None`` disables it. ActionFormer and
            OpenTAD skip voting in multi-class mode, so reproducing them needs ``None`` there.
        voting_weights: voters weighted by ``score_tiou`` (ActionFormer) or ``score`` (OpenTAD).
        clip_before_nms: clip candidates to the video before NMS too (OpenTAD sliding windows).
        round_segments: decimals of boundaries (seconds) before and after NMS (``None``: all).
        round_scores: decimals of scores before and after NMS (``None``: all).
    """

    pre_nms_threshold: float = 0.001  # ActionFormer test_cfg pre_nms_thresh
    pre_nms_topk: int | None = 2000  # ActionFormer thumos_i3d pre_nms_topk
    pre_nms_scope: Literal["level", "window"] = "level"  # ActionFormer, per pyramid level
    duration_threshold: float | None = 0.05  # ActionFormer test_cfg duration_thresh
    nms_method: Literal["hard", "linear", "gaussian"] = "gaussian"  # ActionFormer soft NMS
    iou_threshold: float = 0.1  # ActionFormer test_cfg iou_threshold
    sigma: float = 0.5  # ActionFormer test_cfg nms_sigma
    min_score: float = 0.001  # ActionFormer thumos_i3d min_score
    max_segments: int | None = 200  # ActionFormer thumos_i3d max_seg_num
    multiclass: bool = True  # ActionFormer thumos_i3d multiclass_nms
    voting_threshold: float | None = None  # ActionFormer's multi-class NMS skips voting
    voting_weights: Literal["score_tiou", "score"] = "score_tiou"  # ActionFormer seg_voting
    clip_before_nms: bool = False  # ActionFormer clips after NMS only
    round_segments: int | None = None  # ActionFormer keeps full precision
    round_scores: int | None = None  # ActionFormer keeps full precision


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: inference settings, external classifier, mAP thresholds.

    Attributes:
        use_ema: evaluate the EMA weights when there are any.
        batch_size: videos (or windows) per inference batch on each process.
        tiou_thresholds: ``None``: the conventional ones of ``data.dataset``.
        ambiguous: THUMOS ``Ambiguous`` regions: ``remove`` (ActionFormer, OpenTAD) or
            ``ignore_fp`` (the THUMOS MATLAB kit).
        blocked_file: ActivityNet's blocked-video list (OpenTAD's ``blocked.json``, a JSON
            list of ids, or one id per line): those videos leave the ground truth and the
            detections, as OpenTAD's evaluator does. ``None``: nothing blocked.
        classifier_file: video-level class scores (CUHK / OpenTAD JSON) that turn a
            class-agnostic detector's proposals into class detections.
        classifier_top_k: classes per proposal.
        classifier_fusion: ``multiply`` (AdaTAD, OpenTAD CUHK) or ``sqrt`` (ActionFormer).
        postprocess: decoding and NMS.
    """

    use_ema: bool = True  # ActionFormer evaluates the EMA model
    batch_size: int = 1  # ActionFormer evaluates one whole video at a time
    tiou_thresholds: tuple[float, ...] | None = None
    ambiguous: Literal["remove", "ignore_fp"] = "remove"
    blocked_file: str | None = None
    classifier_file: str | None = None
    classifier_top_k: int = 2  # ActionFormer / OpenTAD top-2 classes per proposal
    classifier_fusion: Literal["multiply", "sqrt"] = "multiply"
    postprocess: PostProcessConfig = field(default_factory=PostProcessConfig)


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: what to train on, the model, how to train and how to evaluate.

    Attributes:
        name: the experiment's name (the default run folder is ``runs/<name>``).
        data: features and annotations.
        model: the detector.
        optim: optimizer and schedule.
        train: the training loop.
        eval: inference and evaluation.
    """

    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
