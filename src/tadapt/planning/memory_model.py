"""The analytical memory model of a training step: bytes by part, from the config alone.

:func:`predict_step_memory` adds up what one forward and backward pass of a config's
detector holds: weights, gradients of the trainable parameters, AdamW's two moments, the
activations autograd saves for the backward (the backbone's, the head's) and the input
frames. Every backbone term is a formula in the backbone's shape (width ``C``, depth, heads
``H``, MLP width ``M``, patch, tubelet, chunk), the tokens of the training batch (frames, frame
size, batch, LoFi level), the strategy (which blocks are adapted, bottleneck width ``c``, LoRA
rank ``r``, tapped blocks), activation checkpointing (scheme aside: both keep a block's input)
and precision; each was read off :func:`~tadapt.profiling.count_saved_tensors` on one block
and is commented where it is added. The detection head (and LoSA's side network, which works
on the same pooled ``(B, C, T')`` features) is measured once on the real modules on random
features: it is small, and its shape does not depend on the backbone's.

Precision: under bf16 / fp16 autocast every saved activation of the backbone is in the
autocast dtype (2 bytes; LayerNorm's mean / rstd and attention's log-sum-exp stay fp32), and
every linear or convolution that passes a gradient to its input also keeps a 2-byte copy of
its weight (autocast's cast; in fp32 the weight itself is saved, a parameter, not counted).

Attention: ``"flash"`` (CPU's flash kernel, and CUDA's flash / memory-efficient ones) keeps
``q, k, v``, the output and a log-sum-exp per head and token; ``"math"`` keeps the scaled
queries and the ``(H, N, N)`` probabilities instead. CPU picks flash in fp32, bf16 and fp16
here (torch 2.x ``scaled_dot_product_attention`` without mask or dropout).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from tadapt.planning.config_step import (
    Attention,
    TrainingShape,
    attention_kernel,
    planning_config,
    random_samples,
    snippet_frames,
    training_shape,
)
from tadapt.profiling.saved_tensors import count_saved_tensors
from tadapt.profiling.step_memory import StepMemory

if TYPE_CHECKING:
    from tadapt.adapters import TuningStrategy
    from tadapt.config import ExperimentConfig
    from tadapt.engine import FidelityLevel

__all__ = [
    "Attention",
    "BackboneShape",
    "MemoryEstimate",
    "backbone_shape",
    "predict_step_memory",
    "scale_measurement",
]

F32 = 4  # bytes of fp32 parameters, gradients, moments and statistics
_ADAMW_STATES = 2  # exp_avg and exp_avg_sq
_LORA_TARGETS = ("qkv", "proj", "fc1", "fc2")


@dataclass(frozen=True)
class BackboneShape:
    """The shape of a VideoMAE backbone (:class:`~tadapt.backbones.VisionTransformer`).

    Attributes:
        embed_dim: token width ``C``.
        depth: blocks.
        num_heads: attention heads ``H``.
        mlp_dim: MLP hidden width ``M`` (``int(C * mlp_ratio)``).
        patch_size: spatial patch ``p``.
        tubelet_size: frames per temporal patch.
        chunk_frames: frames per chunk (attention stays in a chunk).
        in_chans: input channels.
    """

    embed_dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    patch_size: int
    tubelet_size: int
    chunk_frames: int
    in_chans: int = 3

    def block_parameters(self) -> int:
        """Parameters of one block: two LayerNorms, qkv (+ q / v biases), proj, the MLP."""
        c, m = self.embed_dim, self.mlp_dim
        norms = 2 * 2 * c
        attention = 3 * c * c + 2 * c + c * c + c  # qkv (no bias), q_bias, v_bias, proj
        mlp = c * m + m + m * c + c
        return norms + attention + mlp

    def stem_parameters(self) -> int:
        """The tubelet embedding's Conv3d (weight and bias)."""
        kernel = self.in_chans * self.tubelet_size * self.patch_size**2
        return self.embed_dim * kernel + self.embed_dim

    def parameters(self) -> int:
        """All parameters (the position table is a fixed buffer, not a parameter)."""
        return self.stem_parameters() + self.depth * self.block_parameters()


@dataclass(frozen=True)
class MemoryEstimate:
    """Predicted bytes of one training step, by part.

    Attributes:
        weights: parameters and buffers (fp32).
        gradients: the trainable parameters' gradients.
        optimizer_states: AdamW's two moments per trainable parameter.
        backbone_activations: what the backbone (adapters, side network's TIA branches) saves.
        head_activations: what the head (and LoSA's side network) saves, measured once.
        recomputed_block: under activation checkpointing, what the backward pass of a
            checkpointed block (or ``tia_side`` branch) holds while it runs: its saved
            tensors, recomputed, for the largest such block; modelled, not measured (the
            meter counts the forward pass).
        ema: the model EMA's copy (``train.ema_decay`` set): the trainable parameters and
            the buffers (frozen parameters are shared with the model, not copied).
        input_batch: the fp32 frames of the batch, held during the step.
        input_saved: whether the patch embedding saves those very frames (full fine-tuning
            in fp32), so that :attr:`activations` counts them.
        shape: the batch the estimate is for.
    """

    weights: int
    gradients: int
    optimizer_states: int
    backbone_activations: int
    head_activations: int
    recomputed_block: int
    ema: int
    input_batch: int
    input_saved: bool
    shape: TrainingShape

    @property
    def activations(self) -> int:
        """What :func:`~tadapt.profiling.count_saved_tensors` counts for the step."""
        saved_input = self.input_batch if self.input_saved else 0
        return self.backbone_activations + self.head_activations + saved_input

    @property
    def total(self) -> int:
        """Everything the step holds at its peak (allocator overheads aside)."""
        return (
            self.weights
            + self.gradients
            + self.optimizer_states
            + self.backbone_activations
            + self.head_activations
            + self.recomputed_block
            + self.ema
            + self.input_batch
        )


@dataclass(frozen=True)
class _Block:
    """What one block runs with, for its saved-tensor terms."""

    grad_in: bool  # its input requires grad
    full: bool  # its own weights train
    lora: frozenset[str]  # LoRA targets in it
    adapter: str | None  # "adapter" / "tia" after it
    checkpointed: bool
    drop_path: bool  # stochastic depth active (rate > 0)


def predict_step_memory(
    config: ExperimentConfig,
    *,
    fidelity: FidelityLevel | None = None,
    attention: Attention = "flash",
    device: torch.device | str = "cpu",
    depth: int | None = None,
) -> MemoryEstimate:
    """The bytes one training step of ``config`` needs, by part.

    Args:
        config: an end-to-end experiment (loaded; resolving it is not needed).
        fidelity: a LoFi level (``None``: full fidelity).
        attention: the attention kernel's saved tensors (see the module docstring).
        device: the device type decides ``amp`` (bf16 on CPU, fp16 on CUDA); nothing runs
            there but the head's one-off measurement.
        depth: predict for this many blocks instead of the config's (to compare with a
            reduced-depth :func:`~tadapt.planning.measure_step`).

    Raises:
        ValueError: no backbone, or settings the strategy rejects.
    """
    from tadapt.adapters import get_strategy
    from tadapt.adapters.plain import bottleneck_width

    if attention not in ("flash", "math"):
        raise ValueError(f"attention must be 'flash' or 'math', got {attention!r}")
    config = planning_config(config, depth)
    model = config.model
    spec = model.backbone
    assert spec is not None  # planning_config checked
    shape = backbone_shape(config)
    stride = round(shape.tubelet_size / spec.temporal_scale)
    batch = training_shape(
        config,
        patch_size=shape.patch_size,
        chunk_frames=shape.chunk_frames,
        snippet_frames=snippet_frames(config, stride),
        fidelity=fidelity,
    )
    device_type = torch.device(device).type
    autocast = _autocast_dtype(config.train.precision, device_type)
    act = F32 if autocast is None else 2  # bytes of a saved activation
    math_fp32 = device_type == "cpu"
    strategy = get_strategy(model.strategy)
    adapter = model.adapter
    c = shape.embed_dim
    blocks = _resolve(adapter.blocks, shape.depth, strategy)
    width = bottleneck_width(c, adapter.ratio)

    taps = _side_taps(model.strategy, model.adapter.blocks, blocks, shape.depth)
    trainable = _backbone_trainable(config, shape, len(blocks), len(taps))
    # every backbone-side parameter that is not the ViT's own: adapters, LoRA, the ladder
    adapter_params = 0 if model.strategy == "full" else trainable

    rows = batch.batch_size * (batch.frames // shape.chunk_frames)  # B' = B * n
    tokens = (
        (shape.chunk_frames // shape.tubelet_size)
        * (batch.height // shape.patch_size)
        * (batch.width // shape.patch_size)
    )  # N per chunk
    backbone_saved = recomputed = 0
    input_saved = False
    frames_bytes = (
        F32 * batch.batch_size * shape.in_chans * batch.frames * batch.height * batch.width
    )
    if not strategy.no_grad:
        plan = _block_plan(config, shape, blocks)
        if model.strategy == "full":
            # the tubelet Conv3d keeps its input for its weight gradient: the frames
            # themselves in fp32, a 2-byte copy (plus one of its weight) under autocast
            if act == F32:
                input_saved = True
            else:
                backbone_saved += frames_bytes // 2 + act * (shape.stem_parameters() - c)
        for block in plan:
            backbone_saved += _block_bytes(
                shape, block, rows, tokens, act, width, attention, config, math_fp32
            )
        # the backward recomputes one checkpointed block at a time: its plain saved tensors
        recomputed = max(
            (
                _block_bytes(
                    shape,
                    dataclasses.replace(block, checkpointed=False),
                    rows,
                    tokens,
                    act,
                    width,
                    attention,
                    config,
                    math_fp32,
                )
                for block in plan
                if block.checkpointed
            ),
            default=0,
        )
    elif model.strategy == "tia_side":
        branch = functools.partial(
            _side_branch_bytes, shape, rows, tokens, act, width, adapter.kernel_size
        )
        backbone_saved = len(taps) * branch(spec.grad_checkpointing)
        recomputed = branch(False) if spec.grad_checkpointing else 0

    with attention_kernel(attention):
        losa_taps = taps if model.strategy == "losa" else []
        head = _measure_head(config, shape, batch, autocast is not None, losa_taps)
    weights = F32 * (shape.parameters() + adapter_params) + head.weights
    train_bytes = F32 * trainable + head.gradients
    return MemoryEstimate(
        weights=weights,
        gradients=train_bytes,
        optimizer_states=_ADAMW_STATES * train_bytes,
        backbone_activations=backbone_saved,
        head_activations=head.activations,
        recomputed_block=recomputed,
        ema=train_bytes + head.buffers if config.train.ema_decay is not None else 0,
        input_batch=frames_bytes,
        input_saved=input_saved,
        shape=batch,
    )


def backbone_shape(config: ExperimentConfig) -> BackboneShape:
    """The shape of ``model.backbone`` (its name and overrides), read off a meta-device model.

    Raises:
        ValueError: no backbone, or overrides the backbone rejects.
    """
    from tadapt.backbones import Block, create_backbone

    spec = planning_config(config).model.backbone
    assert spec is not None  # planning_config checked
    with torch.device("meta"):  # no memory, no init
        backbone = create_backbone(spec.name, checkpoint=None, pretrained=False, **spec.overrides)
    first = backbone.blocks[0]
    assert isinstance(first, Block)
    return BackboneShape(
        embed_dim=backbone.embed_dim,
        depth=backbone.depth,
        num_heads=backbone.num_heads,
        mlp_dim=first.mlp.fc1.out_features,
        patch_size=backbone.patch_size,
        tubelet_size=backbone.tubelet_size,
        chunk_frames=backbone.chunk_frames,
        in_chans=backbone.patch_embed.proj.in_channels,
    )


def _autocast_dtype(precision: str, device_type: str) -> torch.dtype | None:
    """The autocast dtype of ``train.precision`` on a device type (as the trainer resolves it).

    Raises:
        ValueError: an unknown precision.
    """
    if precision == "fp32":
        return None
    if precision == "fp16" or (precision == "amp" and device_type == "cuda"):
        return torch.float16
    if precision in ("bf16", "amp"):
        return torch.bfloat16
    raise ValueError(f"train.precision must be one of fp32, bf16, fp16, amp, got {precision!r}")


def _resolve(blocks: tuple[int, ...] | None, depth: int, strategy: TuningStrategy) -> list[int]:
    """``model.adapter.blocks`` as block indices, checked as :func:`apply_strategy` checks it.

    Raises:
        ValueError: an index out of range, or blocks for a strategy without adapters.
    """
    if blocks is None:
        return list(range(depth))
    if strategy.adapter is None and strategy.inject is None and strategy.side is None:
        raise ValueError(
            f"model.adapter.blocks: strategy {strategy.name!r} inserts no adapters; leave "
            "blocks unset"
        )
    resolved = sorted({i + depth if i < 0 else i for i in blocks})
    if not resolved or any(not 0 <= i < depth for i in resolved):
        raise ValueError(
            f"model.adapter.blocks: {list(blocks)} are out of range for a backbone of depth "
            f"{depth}; use indices in [-{depth}, {depth - 1}]"
        )
    return resolved


def _side_taps(
    strategy: str, given: tuple[int, ...] | None, blocks: list[int], depth: int
) -> list[int]:
    """The blocks a side strategy taps (its default when ``model.adapter.blocks`` is unset)."""
    from tadapt.adapters.ladder import default_ladder_taps
    from tadapt.adapters.losa import default_losa_taps

    if strategy == "tia_side":
        return default_ladder_taps(depth) if given is None else blocks
    if strategy == "losa":
        return default_losa_taps(depth) if given is None else blocks
    return []


def _backbone_trainable(
    config: ExperimentConfig, shape: BackboneShape, blocks: int, taps: int
) -> int:
    """Trainable parameters on the backbone's side (the head's are measured with it).

    Raises:
        ValueError: an unknown LoRA target.
    """
    from tadapt.adapters.plain import bottleneck_width

    model = config.model
    adapter = model.adapter
    width = bottleneck_width(shape.embed_dim, adapter.ratio)
    if model.strategy == "full":
        return shape.parameters()
    if model.strategy == "adapter":
        return _bottleneck_parameters(shape.embed_dim, width, 0) * blocks
    if model.strategy == "tia":
        return _bottleneck_parameters(shape.embed_dim, width, adapter.kernel_size) * blocks
    if model.strategy == "tia_side":
        return _bottleneck_parameters(shape.embed_dim, width, adapter.kernel_size) * taps
    if model.strategy == "lora":
        targets = list(dict.fromkeys(adapter.lora.targets))
        unknown = [t for t in targets if t not in _LORA_TARGETS]
        if unknown or not targets:
            raise ValueError(
                f"model.adapter.lora.targets: {unknown or targets} is not a non-empty list of "
                f"{list(_LORA_TARGETS)}"
            )
        return sum(adapter.lora.rank * sum(_lora_dims(shape, t)) for t in targets) * blocks
    return 0  # frozen; LoSA's side network is measured with the head


def _bottleneck_parameters(dim: int, hidden: int, kernel: int) -> int:
    """A plain adapter (``kernel`` 0) or a TIA: down, up, gamma (+ depthwise, pointwise conv)."""
    plain = dim * hidden + hidden + hidden * dim + dim + 1
    if kernel == 0:
        return plain
    return plain + hidden * kernel + hidden + hidden * hidden + hidden


def _lora_dims(shape: BackboneShape, target: str) -> tuple[int, int]:
    """``(in, out)`` of a LoRA target linear."""
    c, m = shape.embed_dim, shape.mlp_dim
    return {"qkv": (c, 3 * c), "proj": (c, c), "fc1": (c, m), "fc2": (m, c)}[target]


def _block_plan(config: ExperimentConfig, shape: BackboneShape, blocks: list[int]) -> list[_Block]:
    """Per block: does its input need grad, what trains in it, is it checkpointed."""
    model = config.model
    spec = model.backbone
    assert spec is not None
    full = model.strategy == "full"
    adapted = set(blocks)
    lora_targets = (
        frozenset(model.adapter.lora.targets) if model.strategy == "lora" else frozenset()
    )
    rates = [spec.drop_path_rate * i / max(shape.depth - 1, 1) for i in range(shape.depth)]
    plan = []
    grad = full  # the trainable stem makes the first block's input require grad
    for index in range(shape.depth):
        here = index in adapted
        trains = full or (here and model.strategy in ("adapter", "tia", "lora"))
        needs = grad or trains
        checkpointed = (
            spec.grad_checkpointing and needs and (grad or not spec.checkpoint_skip_first)
        )
        plan.append(
            _Block(
                grad_in=grad,
                full=full,
                lora=lora_targets if here else frozenset(),
                adapter=model.strategy if here and model.strategy in ("adapter", "tia") else None,
                checkpointed=checkpointed,
                drop_path=rates[index] > 0.0,
            )
        )
        grad = needs
    return plan


def _block_bytes(
    shape: BackboneShape,
    block: _Block,
    rows: int,
    tokens: int,
    act: int,
    width: int,
    attention: Attention,
    config: ExperimentConfig,
    math_fp32: bool,
) -> int:
    """What one block (and its adapter) saves for the backward, over ``rows`` chunks."""
    c, m, heads = shape.embed_dim, shape.mlp_dim, shape.num_heads
    nc = tokens * c  # one (N, C) token map of a chunk
    trains_inside = block.full or bool(block.lora) or block.adapter is not None
    if not (block.grad_in or trains_inside):
        return 0  # a frozen prefix runs without recording anything
    if block.checkpointed:
        return rows * nc * act  # the block's input, recomputed from in the backward
    lora = block.lora
    cast = act != F32  # autocast keeps 2-byte weight copies for input gradients
    per_row = 0  # bytes per chunk
    weights = 0  # autocast weight copies, once per block
    rank = config.model.adapter.lora.rank
    grad = block.grad_in
    # norm1: LayerNorm keeps its input (N*C) and fp32 mean and rstd (2*N)
    if grad or block.full:
        per_row += nc * act + 2 * tokens * F32
    grad = grad or block.full  # its affine trains under full
    # qkv: a trainable weight needs its input (norm1's output)
    if block.full or "qkv" in lora:
        per_row += nc * act
    if cast and grad:
        weights += 3 * c * c * act
    row_part, block_part = _lora_bytes("qkv", lora, tokens, rank, act, grad, shape)
    per_row, weights = per_row + row_part, weights + block_part
    grad = grad or block.full or "qkv" in lora
    # attention keeps q, k, v (one (N, 3C) tensor) for its backward
    if grad and attention == "flash":
        # the fused kernels keep q, k, v (one (N, 3C) tensor), their output (N*C, also
        # proj's input) and an fp32 log-sum-exp per head and token
        per_row += 4 * nc * act + heads * tokens * F32
    elif grad:
        # the math path's two batched matmuls keep per-head copies of the scaled q, k and v
        # (3*N*C) and the softmax probabilities (H*N*N), in fp32 on the CPU (it upcasts
        # bf16 / fp16 there), in the autocast dtype on CUDA
        exact = F32 if math_fp32 else act
        per_row += 3 * nc * exact + heads * tokens * tokens * exact
        if block.full or "proj" in lora:
            per_row += nc * act  # proj's input: the attention output
    elif "proj" in lora:
        per_row += nc * act  # LoRA's A keeps proj's input, the attention output
    if cast and grad:
        weights += c * c * act
    row_part, block_part = _lora_bytes("proj", lora, tokens, rank, act, grad, shape)
    per_row, weights = per_row + row_part, weights + block_part
    grad = grad or block.full or "proj" in lora
    if block.drop_path and grad:
        per_row += act  # stochastic depth keeps its (B', 1, 1) mask per branch
    # norm2: LayerNorm's input and statistics
    if grad:
        per_row += nc * act + 2 * tokens * F32
    if block.full or "fc1" in lora:
        per_row += nc * act  # fc1's input, norm2's output
    if cast and grad:
        weights += c * m * act
    row_part, block_part = _lora_bytes("fc1", lora, tokens, rank, act, grad, shape)
    per_row, weights = per_row + row_part, weights + block_part
    grad = grad or block.full or "fc1" in lora
    if grad:
        per_row += tokens * m * act  # GELU keeps its input, fc1's output (N*M)
    if block.full or "fc2" in lora:
        per_row += tokens * m * act  # fc2's input, GELU's output
    if cast and grad:
        weights += m * c * act
    row_part, block_part = _lora_bytes("fc2", lora, tokens, rank, act, grad, shape)
    per_row, weights = per_row + row_part, weights + block_part
    grad = grad or block.full or "fc2" in lora
    if block.drop_path and grad:
        per_row += act
    total = rows * per_row + weights
    if block.adapter is not None:
        kernel = config.model.adapter.kernel_size if block.adapter == "tia" else 0
        total += _adapter_bytes(c, width, kernel, rows * tokens, act, grad_in=grad)
    return total


def _lora_bytes(
    target: str,
    lora: frozenset[str],
    tokens: int,
    rank: int,
    act: int,
    grad: bool,
    shape: BackboneShape,
) -> tuple[int, int]:
    """A LoRA path's own saved tensors: per chunk, and once per block.

    Per chunk, ``B`` keeps the rank-``r`` intermediate (N*r; the path's input is counted with
    the layer's). Once, under autocast: 2-byte copies of the factors for the input gradients
    (``B`` always, ``A`` when the layer's input needs grad). The ``alpha / r`` product keeps
    a wrapped Python scalar, which the saved-tensor hooks never see.
    """
    if target not in lora:
        return 0, 0
    fan_in, fan_out = _lora_dims(shape, target)
    once = 0
    if act != F32:
        once += rank * fan_out * act + (rank * fan_in * act if grad else 0)
    return tokens * rank * act, once


def _adapter_bytes(dim: int, hidden: int, kernel: int, tokens: int, act: int, grad_in: bool) -> int:
    """A plain adapter (``kernel`` 0) or TIA after a block, over ``tokens`` tokens.

    ``down`` keeps its input (C per token); GELU its input (c); TIA's depthwise and pointwise
    convolutions their inputs (the timeline copy and the depthwise output, 2c); ``up`` its
    input (c; TIA's copy back from the timeline); ``gamma * up`` keeps ``up``'s output for
    gamma's gradient (C). Under autocast: 2-byte copies of ``up`` and the convolutions'
    weights, and of ``down``'s when its input needs grad.
    """
    per_token = 2 * dim + 2 * hidden + (2 * hidden if kernel else 0)
    saved = tokens * per_token * act
    if act != F32:
        weights = hidden * dim + (hidden * kernel + hidden * hidden if kernel else 0)
        if grad_in:
            weights += dim * hidden
        saved += weights * act
    return saved


def _side_branch_bytes(
    shape: BackboneShape,
    rows: int,
    tokens: int,
    act: int,
    width: int,
    kernel: int,
    checkpointed: bool,
) -> int:
    """One ``tia_side`` branch on a detached tapped token map."""
    c = shape.embed_dim
    if checkpointed:
        return rows * tokens * c * act  # the tapped map, the branch's checkpointed input
    return _adapter_bytes(c, width, kernel, rows * tokens, act, grad_in=False)


@dataclass(frozen=True)
class _Head:
    weights: int
    buffers: int
    gradients: int
    activations: int


def _measure_head(
    config: ExperimentConfig,
    shape: BackboneShape,
    batch: TrainingShape,
    autocast: bool,
    losa_taps: list[int],
) -> _Head:
    """The head (and LoSA's side network) measured once on random ``(B, C, T')`` features.

    On the CPU whatever the device (the same dtype saves the same bytes on either), and
    under bf16 for fp16 too: CPU autocast casts the same operations to either, and computes
    bf16 fast. Only the forward pass runs: what it saves is the activations, and every head
    parameter trains.
    """
    from tadapt.cli.experiment import build_model
    from tadapt.engine import PrecisionPolicy
    from tadapt.structures import collate_samples

    dtype = torch.bfloat16 if autocast else None
    policy = PrecisionPolicy("bf16" if autocast else "fp32", "cpu", dtype, use_scaler=False)
    spec = config.model.backbone
    assert spec is not None
    token_steps = batch.frames // shape.tubelet_size
    steps = round(token_steps * spec.temporal_scale)
    head_config = dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, backbone=None),
        data=dataclasses.replace(config.data, feature_dim=shape.embed_dim),
    )
    torch.manual_seed(0)
    detector = build_model(head_config).train()
    samples = random_samples(batch.batch_size, (shape.embed_dim, steps))
    params, buffers = list(detector.parameters()), list(detector.buffers())
    with count_saved_tensors([*params, *buffers]) as counted, policy.autocast():
        detector(collate_samples(samples))
    weights = sum(t.nbytes for t in (*params, *buffers))
    buffer_bytes = sum(t.nbytes for t in buffers)
    gradients = sum(p.nbytes for p in params if p.requires_grad)
    saved = counted.bytes
    if losa_taps:
        from tadapt.adapters.losa import LoSA
        from tadapt.backbones.tokens import TokenLayout

        adapter = config.model.adapter
        side = LoSA(shape.embed_dim, losa_taps, ratio=adapter.ratio, options=adapter.losa).train()
        tapped = [
            torch.randn(
                batch.batch_size, shape.embed_dim, token_steps, dtype=dtype or torch.float32
            )
            for _ in losa_taps
        ]
        last = torch.randn(
            batch.batch_size, shape.embed_dim, token_steps, dtype=dtype or torch.float32
        )
        grid = (
            shape.chunk_frames // shape.tubelet_size,
            batch.height // shape.patch_size,
            batch.width // shape.patch_size,
        )
        layout = TokenLayout(batch.batch_size, batch.frames // shape.chunk_frames, grid)
        masks = torch.ones(batch.batch_size, token_steps, dtype=torch.bool)
        params = list(side.parameters())
        with count_saved_tensors(params) as side_saved, policy.autocast():
            side(tapped, last, layout, masks)
        side_bytes = sum(F32 * p.numel() for p in params)
        weights += side_bytes
        gradients += side_bytes
        saved += side_saved.bytes
    return _Head(weights, buffer_bytes, gradients, saved)


def scale_measurement(
    measured: StepMemory,
    config: ExperimentConfig,
    *,
    depth: int,
    fidelity: FidelityLevel | None = None,
    attention: Attention = "flash",
    device: torch.device | str = "cpu",
) -> StepMemory:
    """A reduced-depth :func:`~tadapt.planning.measure_step` brought to the config's depth.

    Each part grows by what the model predicts the missing blocks add (the difference of
    its predictions at the config's depth and at ``depth``), so the measured per-block bytes
    are kept and only the block count is modelled.

    Args:
        measured: ``measure_step(config, depth=depth, ...)``.
        config: the experiment, at its own depth.
        depth: the depth ``measured`` ran at.
        fidelity: the LoFi level ``measured`` ran at.
        attention: the kernel ``measured`` ran with.
        device: the device ``measured`` ran on.
    """
    full = predict_step_memory(config, fidelity=fidelity, attention=attention, device=device)
    reduced = predict_step_memory(
        config, fidelity=fidelity, attention=attention, device=device, depth=depth
    )
    return StepMemory(
        weights=measured.weights + full.weights - reduced.weights,
        gradients=measured.gradients + full.gradients - reduced.gradients,
        optimizer_states=measured.optimizer_states
        + full.optimizer_states
        - reduced.optimizer_states,
        activations=measured.activations + full.activations - reduced.activations,
    )
