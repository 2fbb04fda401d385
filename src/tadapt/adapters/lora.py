"""LoRA: low-rank updates of a frozen backbone's attention and MLP linears, mergeable.

Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models" (ICLR 2022). A frozen linear
``y = W x + b`` learns ``y = W x + b + (alpha / r) * B A x`` with ``A`` ``(r, in)`` and ``B``
``(out, r)``; ``B`` starts at zero, so the adapted model equals the frozen one at init. The
init follows the paper's code (microsoft/LoRA ``loralib/layers.py``) and Hugging Face
``peft`` (``LoraLayer.reset_lora_parameters``); written anew here.

:class:`LoRALinear` subclasses ``nn.Linear``, so the base weight keeps its state-dict name
(``blocks.0.attn.qkv.weight``) and pretrained checkpoints load before or after injection.
:func:`inject_lora` is the ``lora`` strategy's block injector (see
:class:`~tadapt.adapters.base.TuningStrategy`); :func:`merge_lora` folds the low-rank update
into plain linears for inference at no extra cost. Unlike AdaTAD's adapters, LoRA mixes
nothing over time: each 16-frame chunk is adapted on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tadapt.backbones.videomae import Block

__all__ = ["LORA_TARGETS", "LoRALinear", "inject_lora", "merge_lora"]

LORA_TARGETS: dict[str, str] = {"qkv": "attn", "proj": "attn", "fc1": "mlp", "fc2": "mlp"}
"""LoRA target names -> the :class:`~tadapt.backbones.videomae.Block` child holding them."""


class LoRALinear(nn.Linear):
    """``y = x W^T + b + (alpha / rank) * dropout(x) A^T B^T``, with ``W`` and ``b`` frozen.

    Args:
        in_features: input width.
        out_features: output width.
        bias: learn an additive bias (part of the base layer, not of the LoRA update).
        rank: rank ``r`` of the update (``A`` is ``(r, in)``, ``B`` is ``(out, r)``).
        alpha: the update is scaled by ``alpha / rank``.
        dropout: dropout probability on the LoRA path's input (0 for none).
        device: where the parameters live.
        dtype: the parameters' dtype.

    Shapes:
        ``x``: ``(..., in)`` -> ``(..., out)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rank: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        if rank < 1:
            raise ValueError(f"LoRA rank must be a positive integer, got {rank}")
        if not alpha > 0:
            raise ValueError(f"LoRA alpha must be positive, got {alpha}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout}")
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, in_features, device=device, dtype=dtype))
        self.lora_b = nn.Parameter(torch.empty(out_features, rank, device=device, dtype=dtype))
        self.lora_dropout: nn.Module = nn.Dropout(dropout) if dropout > 0.0 else nn.Identity()
        self.reset_lora_parameters()

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, *, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0
    ) -> LoRALinear:
        """A LoRA layer over ``linear``, sharing its weight and bias tensors.

        The LoRA factors get the base weight's device and dtype; the train/eval mode is kept.
        """
        weight = linear.weight
        # built on the meta device so no throw-away base weight is allocated and initialised
        module = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            rank=rank,
            alpha=alpha,
            dropout=dropout,
            device="meta",
            dtype=weight.dtype,
        )
        module.weight = weight
        module.bias = linear.bias
        module.lora_a = nn.Parameter(torch.empty_like(module.lora_a, device=weight.device))
        module.lora_b = nn.Parameter(torch.empty_like(module.lora_b, device=weight.device))
        module.reset_lora_parameters()
        return module.train(linear.training)

    def reset_lora_parameters(self) -> None:
        """``A`` kaiming-uniform, ``B`` zero: the update starts at exactly zero."""
        # a = sqrt(5): microsoft/LoRA loralib and peft init A like nn.Linear's default weight
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b)

    def adapter_params(self) -> list[str]:
        """Names of the parameters that train under the ``lora`` strategy."""
        return ["lora_a", "lora_b"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Frozen projection plus the scaled low-rank update, ``(..., in) -> (..., out)``."""
        base = F.linear(x, self.weight, self.bias)
        # (..., in) -> (..., r) -> (..., out): never forms the (out, in) product B A
        update = F.linear(F.linear(self.lora_dropout(x), self.lora_a), self.lora_b)
        return base + self.scaling * update

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / rank) * B A`` ``(out, in)``, computed in float32."""
        return self.scaling * (self.lora_b.float() @ self.lora_a.float())

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` computing the same function (without dropout).

        Its weight is a new tensor ``W + (alpha / rank) * B A`` in the base weight's dtype
        (summed in float32); its bias is this layer's bias tensor. ``self`` is unchanged.
        """
        weight = self.weight
        plain = nn.Linear(
            self.in_features,
            self.out_features,
            bias=self.bias is not None,
            device="meta",
            dtype=weight.dtype,
        )
        merged = (weight.float() + self.delta_weight()).to(weight.dtype)
        plain.weight = nn.Parameter(merged, requires_grad=weight.requires_grad)
        plain.bias = self.bias
        return plain.train(self.training)

    def extra_repr(self) -> str:
        """Base layer description plus rank, alpha and dropout."""
        dropout = self.lora_dropout.p if isinstance(self.lora_dropout, nn.Dropout) else 0.0
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}, dropout={dropout}"


def inject_lora(
    block: Block,
    *,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    targets: Sequence[str] = ("qkv", "proj", "fc1", "fc2"),
) -> None:
    """Replace the named linears of one ViT block by :class:`LoRALinear` layers, in place.

    The new layers share the old ones' weight and bias tensors (same dtype and device).

    Args:
        block: a VideoMAE block.
        rank: rank of each update.
        alpha: each update is scaled by ``alpha / rank``. Rank 8 with alpha 16 (alpha =
            2 * rank) is torchtune's LoRA recipe default.
        dropout: dropout probability on the LoRA paths' input.
        targets: which linears: ``"qkv"`` and ``"proj"`` of the attention, ``"fc1"`` and
            ``"fc2"`` of the MLP; a single string names one.

    Raises:
        ValueError: for an empty or unknown target, or a target that already holds LoRA.
    """
    names = [targets] if isinstance(targets, str) else list(dict.fromkeys(targets))
    unknown = [name for name in names if name not in LORA_TARGETS]
    if unknown or not names:
        raise ValueError(
            f"LoRA targets {unknown or names} are not valid; choose one or more of "
            f"{list(LORA_TARGETS)}"
        )
    for name in names:
        parent = getattr(block, LORA_TARGETS[name])
        linear = getattr(parent, name)
        if isinstance(linear, LoRALinear):
            raise ValueError(f"LoRA target {name!r} of this block already holds LoRA")
        setattr(
            parent, name, LoRALinear.from_linear(linear, rank=rank, alpha=alpha, dropout=dropout)
        )


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold every :class:`LoRALinear` inside ``module`` into a plain ``nn.Linear``, in place.

    After merging, inference costs exactly what the frozen model costs and the model holds
    no LoRA parameter (so it has no adapters left to train or save).

    Args:
        module: a backbone (or any module) holding LoRA layers.

    Returns:
        ``module`` itself, or its merged replacement when ``module`` is a LoRA layer.
    """
    if isinstance(module, LoRALinear):
        return module.merged()
    # list first: replacing children while iterating named_modules() would skip some
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
    return module
