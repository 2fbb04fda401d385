"""Building blocks over ``(B, C, T)`` sequences with ``(B, T)`` validity masks."""

from tadapt.layers.attention import MaskedConvAttention, masked_attention
from tadapt.layers.drop import AffineDropPath, DropPath, Scale, drop_path
from tadapt.layers.masked_conv import MaskedConv1d, downsample_mask
from tadapt.layers.norm import LayerNorm1d

__all__ = [
    "AffineDropPath",
    "DropPath",
    "LayerNorm1d",
    "MaskedConv1d",
    "MaskedConvAttention",
    "Scale",
    "downsample_mask",
    "drop_path",
    "masked_attention",
]
