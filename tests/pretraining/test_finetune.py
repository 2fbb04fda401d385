import pytest
import torch

from tadapt.backbones import create_backbone
from tadapt.backbones.videomae import DropPath
from tadapt.pretraining.config import FinetuneConfig
from tadapt.pretraining.finetune import ClipClassifier, finetune_classifier


def test_classifier_state_has_videomae_fine_tuned_names() -> None:
    model = ClipClassifier(create_backbone("videomae_tiny_patch16", depth=1), 3)
    keys = set(model.official_state_dict())
    assert {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "fc_norm.weight"} <= keys
    assert {"head.weight", "head.bias"} <= keys
    assert not any(k.startswith("backbone.") for k in keys)
    assert model(torch.randn(2, 3, 16, 32, 32)).shape == (2, 3)


def test_linear_head_has_no_fc_norm_and_default_scale_weights() -> None:
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", depth=1)
    linear = ClipClassifier(backbone, 3, head="linear")
    videomae = ClipClassifier(backbone, 3, head="videomae")
    assert not any(k.startswith("fc_norm.") for k in linear.official_state_dict())
    # PyTorch's default init: |w| up to 1 / sqrt(96) ~ 0.1; VideoMAE's: std 0.02 x 0.001
    assert linear.head.weight.abs().max() > 0.05
    assert videomae.head.weight.abs().max() < 1e-4
    assert linear(torch.randn(2, 3, 16, 32, 32)).shape == (2, 3)


def test_an_unknown_head_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"head='mlp'.*videomae, linear"):
        FinetuneConfig(head="mlp")
    with pytest.raises(ValueError, match="videomae, linear"):
        ClipClassifier(create_backbone("videomae_tiny_patch16", depth=1), 3, head="mlp")


def test_fine_tuning_applies_stochastic_depth_then_removes_it(tiny_videos, tmp_path) -> None:
    backbone = create_backbone("videomae_tiny_patch16", depth=2, chunk_frames=4)
    seen = []
    last = backbone.blocks[-1]
    last.register_forward_pre_hook(lambda block, _: seen.append(block.drop_path))
    config = FinetuneConfig(epochs=1, warmup_epochs=0, batch_size=2, drop_path=0.2)
    result = finetune_classifier(
        backbone,
        config,
        annotation_file=tiny_videos / "annotations.json",
        video_dir=tiny_videos / "videos",
        out_path=tmp_path / "finetuned.pth",
        num_frames=4,
        stride=2,
        size=32,
        progress=False,
    )
    assert seen
    assert all(isinstance(m, DropPath) and m.p == 0.2 for m in seen)  # the last block: full rate
    assert isinstance(backbone.blocks[0].drop_path, torch.nn.Identity)  # the first: none
    assert isinstance(last.drop_path, torch.nn.Identity)  # removed afterwards
    assert len(result.train_accuracy) == 1
    assert result.checkpoint.is_file()
