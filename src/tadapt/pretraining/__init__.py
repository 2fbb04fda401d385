"""Self-supervised VideoMAE pretraining of the registered backbones (``tadapt pretrain``).

VideoMAE (Tong et al., NeurIPS 2022) masks 90 % of a clip's space-time patches as tubes,
encodes the visible ones with the backbone and reconstructs the hidden ones' normalised pixels
with a light decoder; VideoMAE V2 (Wang et al., CVPR 2023) also masks the decoder. The weights
are saved in the official pretraining layout, so they load like a released checkpoint.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes

if TYPE_CHECKING:
    from tadapt.pretraining.clips import PretrainClips, collect_videos
    from tadapt.pretraining.config import PretrainConfig
    from tadapt.pretraining.loop import (
        PretrainResult,
        build_autoencoder,
        pretrain,
        save_pretrained_weights,
    )
    from tadapt.pretraining.masking import running_cell_mask, tube_mask
    from tadapt.pretraining.model import MaskedAutoencoder
    from tadapt.pretraining.targets import masked_mse, mean_prediction_loss, patch_targets

__all__ = [
    "MaskedAutoencoder",
    "PretrainClips",
    "PretrainConfig",
    "PretrainResult",
    "build_autoencoder",
    "collect_videos",
    "masked_mse",
    "mean_prediction_loss",
    "patch_targets",
    "pretrain",
    "running_cell_mask",
    "save_pretrained_weights",
    "tube_mask",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "MaskedAutoencoder": "tadapt.pretraining.model",
        "PretrainClips": "tadapt.pretraining.clips",
        "collect_videos": "tadapt.pretraining.clips",
        "PretrainConfig": "tadapt.pretraining.config",
        "PretrainResult": "tadapt.pretraining.loop",
        "build_autoencoder": "tadapt.pretraining.loop",
        "pretrain": "tadapt.pretraining.loop",
        "save_pretrained_weights": "tadapt.pretraining.loop",
        "masked_mse": "tadapt.pretraining.targets",
        "mean_prediction_loss": "tadapt.pretraining.targets",
        "patch_targets": "tadapt.pretraining.targets",
        "running_cell_mask": "tadapt.pretraining.masking",
        "tube_mask": "tadapt.pretraining.masking",
    },
)
