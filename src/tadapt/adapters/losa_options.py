"""LoSA's design choices (:class:`LoSAOptions`), apart from the model so configs need no torch.

Every field is ``[R]``: the paper (Gupta et al., WACV 2025) leaves it open and publishes no
code; :mod:`tadapt.adapters.losa` builds the adapters from these options.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

__all__ = ["GateGranularity", "LoSAOptions", "LongRangeKind", "PositionEncoding", "ShortRangeQuery"]

ShortRangeQuery = Literal["token", "clip"]
LongRangeKind = Literal["attention", "conv"]
GateGranularity = Literal["scalar", "channel"]
PositionEncoding = Literal["none", "sinusoid"]


@dataclass(frozen=True)
class LoSAOptions:
    """LoSA's design choices the paper leaves open (all ``[R]``: our reading).

    The tapped blocks and the bottleneck ratio are not here: they are the strategy's
    ``blocks`` and ``ratio`` (:func:`~tadapt.adapters.build_side_network`); their LoSA
    defaults are :func:`default_losa_taps` and ``ratio=0.25`` (``d = C / 4``, the upper end
    of the spec's ``C/8 .. C/4``, as AdaTAD's in-backbone TIA).

    Attributes:
        num_heads: attention heads of both adapters, in the bottleneck width ``d``. Default 4:
            it divides ``d`` for every VideoMAE width at ratios 1/4 and 1/8 (ViT-g: 1408 / 8
            = 176 = 4 x 44), and ActionFormer's transformer (the head LoSA feeds) also uses 4.
        window: short-range reach ``w`` in clips: keys come from clips ``k - w .. k + w``
            (default 1, the spec's "immediate neighbours").
        query: short-range query. ``"token"`` (default): every temporal step queries the
            tokens of its clip window, so the adapter's output has the detector's
            resolution. ``"clip"``: the clip's mean token is the query and its output is
            broadcast back to the clip's ``t`` steps, the spec's literal reading. The paper
            feeds the head one feature per *overlapping* clip, so its per-clip query is a
            per-detector-step query; tadapt's detector sees one step per temporal token of
            non-overlapping chunks, where ``"clip"`` would add a feature constant over each
            chunk, with steps at chunk boundaries, to the features boundaries are regressed
            from.
        gate: ``"scalar"`` (default): one gate per tapped block and branch, the spec's
            proposal; ``"channel"``: one per channel.
        long_range: ``"attention"`` (default): global multi-head self-attention over the
            sequence, as the paper describes; ``"conv"``: a large-kernel depthwise temporal
            convolution (plus pointwise conv, inner residual, TIA style), a *deviation* from
            the paper for very long sequences.
        conv_kernel: kernel of the ``"conv"`` long-range adapter (odd). Default 33: +-16
            temporal tokens, two 16-frame clips either side at tubelet 2, twice the
            short-range reach at ``window=1``; depthwise, so its cost is negligible.
        norm: a LayerNorm on each tapped feature before its adapters (default True): the
            raw block outputs of a ViT grow in scale with depth and get no final norm, so a
            pre-norm lets one init and learning rate serve every tapped block.
        position: ``"none"`` (default): no position encoding, as the paper mentions none;
            the tapped features already carry the backbone's within-clip position table.
            ``"sinusoid"``: a fixed sine-cosine table over the ``T'`` steps added to the
            queries' and keys' inputs (not the values) of both attentions.
    """

    num_heads: int = 4  # [R] divides every VideoMAE bottleneck at ratios 1/4 and 1/8
    window: int = 1  # [R] spec: clips t-1, t, t+1
    query: ShortRangeQuery = "token"  # [R] one query per detector step
    gate: GateGranularity = "scalar"  # [R] spec: a tanh gate per tapped block and branch
    long_range: LongRangeKind = "attention"  # [R] "conv" deviates from the paper
    conv_kernel: int = 33  # [R] +-2 clips of 8 steps, used by long_range="conv" only
    norm: bool = True  # [R] pre-norm of the raw block outputs
    position: PositionEncoding = "none"  # [R] the paper mentions no position encoding

    def __post_init__(self) -> None:
        """Reject values outside each field's domain, naming the field."""
        choices: dict[str, tuple[str, ...]] = {
            "query": ("token", "clip"),
            "gate": ("scalar", "channel"),
            "long_range": ("attention", "conv"),
            "position": ("none", "sinusoid"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"LoSA option {name}={getattr(self, name)!r} is not one of {list(allowed)}"
                )
        if self.num_heads < 1:
            raise ValueError(f"LoSA option num_heads={self.num_heads} must be >= 1")
        if self.window < 0:
            raise ValueError(f"LoSA option window={self.window} must be >= 0 (clips)")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"LoSA option conv_kernel={self.conv_kernel} must be odd")

    @classmethod
    def from_kwargs(cls, **options: Any) -> LoSAOptions:
        """Build from keyword arguments, rejecting unknown names with the known ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"unknown LoSA options {unknown}; known options: {known}")
        return cls(**options)
