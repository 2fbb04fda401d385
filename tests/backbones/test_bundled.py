"""Weights shipped in ``tadapt/weights/``: sha256 check, per-process cache, loading by tag."""

from __future__ import annotations

import pytest
import torch

from shipped_weights import ARCH, FILE, NAME, TAG, ship_weights
from tadapt.backbones import (
    BundledWeightsError,
    PretrainedCfg,
    bundled,
    bundled_weights,
    create_backbone,
)


def test_the_verified_file_is_found_by_tag_and_bare_name(monkeypatch, tmp_path):
    shipped = ship_weights(monkeypatch, tmp_path)
    assert bundled_weights(NAME) == shipped.path
    assert bundled_weights(ARCH) == shipped.path  # the default tag
    assert bundled_weights("videomae_small_patch16.k400_ft") is None  # not shipped
    assert bundled_weights("videomaev2_tiny_patch14") is None  # no tags at all
    with pytest.raises(ValueError, match="no weight tag 'k600'"):
        bundled_weights(f"{ARCH}.k600")


def test_a_damaged_file_names_it_both_hashes_and_the_fix(monkeypatch, tmp_path):
    recorded = "0" * 64
    shipped = ship_weights(monkeypatch, tmp_path, recorded_sha256=recorded)
    with pytest.raises(BundledWeightsError) as caught:
        bundled_weights(NAME)
    message = str(caught.value)
    assert message.startswith(f"{NAME}: the bundled weights file {shipped.path} has sha256")
    assert shipped.sha256 in message
    assert f"expected {recorded}" in message
    assert "reinstall tadapt" in message


def test_a_missing_file_is_named_with_the_fix(monkeypatch, tmp_path):
    ship_weights(monkeypatch, tmp_path, recorded_file="not_there.pth")
    with pytest.raises(BundledWeightsError, match=r"weights/not_there\.pth is missing; reinstall"):
        bundled_weights(NAME)


def test_the_hash_is_checked_once_per_process(monkeypatch, tmp_path):
    shipped = ship_weights(monkeypatch, tmp_path)
    assert bundled_weights(NAME) == shipped.path
    shipped.path.write_bytes(b"replaced after the check")
    assert bundled_weights(NAME) == shipped.path  # verified already: not hashed again
    bundled._verified.cache_clear()
    with pytest.raises(BundledWeightsError, match="damaged or replaced"):
        bundled_weights(NAME)


def test_pretrained_loads_the_shipped_encoder(monkeypatch, tmp_path):
    shipped = ship_weights(monkeypatch, tmp_path, seed=3)
    model = create_backbone(NAME, pretrained=True, img_size=64)
    expected = shipped.encoder.state_dict()
    assert model.state_dict().keys() == expected.keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert model.pretrained_cfg is not None
    assert model.pretrained_cfg.bundled_file == FILE
    # an explicit checkpoint wins over the shipped file (now another one)
    ship_weights(monkeypatch, tmp_path, seed=4)
    from_file = create_backbone(NAME, checkpoint=shipped.path, pretrained=True)
    assert torch.equal(from_file.blocks[0].mlp.fc1.weight, expected["blocks.0.mlp.fc1.weight"])


def test_pretrained_without_shipped_weights_is_refused_before_building():
    with pytest.raises(ValueError, match="ships no weights with tadapt"):
        create_backbone("videomaev2_giant_patch14", pretrained=True)


def test_a_record_needs_file_and_hash_together():
    with pytest.raises(ValueError, match="give bundled_file and bundled_sha256 both"):
        PretrainedCfg(tag=TAG, source="x", bundled_file=FILE)
    with pytest.raises(ValueError, match="not 64 lowercase hex digits"):
        PretrainedCfg(tag=TAG, source="x", bundled_file=FILE, bundled_sha256="ABC")
