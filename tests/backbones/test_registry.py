"""Registry, named variants (sizes vs the papers, every variant builds) and `tadapt list`."""

from __future__ import annotations

import argparse

import pytest
import torch

from backbones.published_sizes import PUBLISHED_PARAMS_M
from tadapt.backbones import (
    count_backbone_parameters,
    create_backbone,
    get_pretrained_cfg,
    list_backbones,
    register_backbone,
)
from tadapt.backbones import registry as registry_module
from tadapt.backbones.videomae import VisionTransformer
from tadapt.cli import list_cmd


def test_every_published_variant_is_registered():
    assert set(PUBLISHED_PARAMS_M) <= set(list_backbones())
    assert {"videomae_tiny_patch16", "videomaev2_tiny_patch14"} <= set(list_backbones())
    assert "videomae_base_patch16.k400_ft" in list_backbones(with_tags=True)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS_M))
def test_parameter_counts_match_the_papers(name):
    # the published counts include a classification head (<= 1M); the backbone is within 2 %
    millions = count_backbone_parameters(name) / 1e6
    assert millions == pytest.approx(PUBLISHED_PARAMS_M[name], rel=0.02)


def test_giant_shapes_on_the_meta_device():
    # every block has the same shapes: block 0 covers the forward path at a fraction of the time
    with torch.device("meta"):
        model = create_backbone("videomaev2_giant_patch14")
        features = model.forward_intermediates(torch.empty(1, 3, 32, 224, 224), [0])
        tokens = model.forward_intermediates(torch.empty(1, 3, 16, 160, 160), [0], output="tokens")
    assert len(model.blocks) == 40
    assert model.blocks[0].mlp.fc1.out_features == 6144  # 1408 * 48 / 11
    assert features[0].shape == (1, 1408, 16)
    assert tokens[0].shape == (1, 8 * 11 * 11, 1408)  # 160 px / patch 14 -> 11 x 11


@pytest.mark.parametrize("name", list_backbones())
def test_every_variant_builds(name):
    with torch.device("meta"):
        model = create_backbone(name)
        (out,) = model.forward_intermediates(torch.empty(2, 3, 16, 160, 160), [0])
    assert out.shape == (2, model.embed_dim, 8)


def test_tags_overrides_and_unknown_names():
    cfg = get_pretrained_cfg("videomae_base_patch16")
    assert cfg is not None
    assert cfg.tag == "k400_ft"
    assert cfg.mean == (0.485, 0.456, 0.406)
    model = create_backbone("videomae_small_patch16.k710_distill", depth=1, drop_path_rate=0.1)
    assert model.pretrained_cfg is not None
    assert model.pretrained_cfg.tag == "k710_distill"
    assert model.depth == len(model.blocks) == 1
    assert create_backbone("videomaev2_tiny_patch14").pretrained_cfg is None
    with pytest.raises(ValueError, match="did you mean videomae_base_patch16"):
        create_backbone("videomae_bse_patch16")
    with pytest.raises(ValueError, match="no weight tag 'k600'"):
        create_backbone("videomae_base_patch16.k600")


def test_register_warns_on_overwrite():
    def videomae_test_only_patch16(**overrides):
        return VisionTransformer(embed_dim=12, depth=1, num_heads=3, **overrides)

    try:
        register_backbone()(videomae_test_only_patch16)
        with pytest.warns(UserWarning, match="registered again"):
            register_backbone()(videomae_test_only_patch16)
        assert create_backbone("videomae_test_only_patch16").embed_dim == 12
    finally:
        registry_module._REGISTRY.pop("videomae_test_only_patch16", None)


def test_list_backbones_command(capsys):
    parser = argparse.ArgumentParser()
    list_cmd.add_parser(parser.add_subparsers())
    assert list_cmd.run(parser.parse_args(["list", "backbones"])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["name", "dim", "depth", "heads", "patch", "params"]
    giant = next(line for line in lines if line.startswith("videomaev2_giant_patch14"))
    assert giant.split()[1:6] == ["1408", "40", "16", "14", "1011.6"]
    assert "OpenGVLab/VideoMAEv2" in giant
    assert len(lines) == 1 + len(list_backbones())
