import torch

from tadapt.backbones import create_backbone, load_pretrained
from tadapt.pretraining import MaskedAutoencoder, save_pretrained_weights, tube_mask

GRID = (2, 2, 2)  # 4 frames, 32 px, tubelet 2, patch 16


def _mae(seed: int = 0) -> MaskedAutoencoder:
    torch.manual_seed(seed)
    backbone = create_backbone("videomae_tiny_patch16", depth=2, img_size=32, num_frames=4)
    return MaskedAutoencoder(backbone, decoder_dim=32, decoder_depth=1, decoder_heads=2).eval()


def _masks(batch: int, ratio: float = 0.5) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.stack([tube_mask(GRID, ratio, generator) for _ in range(batch)])


def test_the_encoder_sees_only_the_visible_tokens() -> None:
    mae = _mae()
    clips = torch.randn(2, 3, 4, 32, 32)
    mask = _masks(2)
    seen = []
    mae.encoder.blocks[0].register_forward_pre_hook(lambda _, args: seen.append(args[0].shape))
    out = mae.encoder(clips, mask)
    assert seen == [torch.Size([2, 4, 96])]
    assert out.shape == (2, 4, 96)  # 4 of 8 tokens visible
    # pixels under hidden tokens cannot change what the encoder computes
    hidden_h, hidden_w = divmod(int(mask[0].reshape(2, 4)[0].nonzero()[0]), 2)
    changed = clips.clone()
    changed[0, :, :, 16 * hidden_h : 16 * hidden_h + 16, 16 * hidden_w : 16 * hidden_w + 16] = 5.0
    torch.testing.assert_close(mae.encoder(changed, mask)[0], out[0])
    torch.testing.assert_close(mae(changed, mask)[0], mae(clips, mask)[0])  # nor the decoder
    seen_h, seen_w = divmod(int((~mask[0]).reshape(2, 4)[0].nonzero()[0]), 2)
    changed[0, :, :, 16 * seen_h : 16 * seen_h + 16, 16 * seen_w : 16 * seen_w + 16] = 5.0
    assert not torch.allclose(mae.encoder(changed, mask)[0], out[0])


def test_the_decoder_predicts_every_token_it_is_asked_for() -> None:
    mae = _mae()
    clips = torch.randn(3, 3, 4, 32, 32)
    mask = _masks(3)
    assert mae(clips, mask).shape == (3, 4, 3 * 2 * 16 * 16)
    decode = torch.ones_like(mask)  # every token, visible ones included (dual masking's case)
    assert mae(clips, mask, decode).shape == (3, 8, 3 * 2 * 16 * 16)


def test_state_dict_has_the_official_pretraining_names() -> None:
    keys = set(_mae().state_dict())
    assert {"mask_token", "encoder_to_decoder.weight", "encoder.patch_embed.proj.weight"} <= keys
    assert {"encoder.norm.weight", "decoder.norm.weight", "decoder.head.weight"} <= keys
    assert "encoder.blocks.1.attn.qkv.weight" in keys
    assert "decoder.blocks.0.mlp.fc2.bias" in keys
    assert "encoder_to_decoder.bias" not in keys
    prefixes = {k.split(".")[0] for k in keys}
    assert prefixes == {"encoder", "decoder", "encoder_to_decoder", "mask_token"}


def test_saved_weights_load_as_a_pretraining_checkpoint_and_reproduce_the_encoder(tmp_path) -> None:
    mae = _mae(seed=4)
    path = save_pretrained_weights(mae, tmp_path / "checkpoint.pth")
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model"}
    assert set(raw["model"]) == set(mae.state_dict())

    backbone = create_backbone("videomae_tiny_patch16", depth=2, img_size=32, num_frames=4)
    report = load_pretrained(backbone, path)
    assert report.format == "videomae-pretrain"
    assert not report.missing
    assert not report.unexpected
    assert {"mask_token", "encoder.norm.weight", "encoder_to_decoder.weight"} <= set(report.ignored)
    assert any(k.startswith("decoder.") for k in report.ignored)

    clips = torch.randn(2, 3, 4, 32, 32)
    nothing_hidden = torch.zeros(2, 8, dtype=torch.bool)
    expected = mae.encoder(clips, nothing_hidden)  # normed tokens of the last block
    tokens = backbone.eval().forward_intermediates(clips, output="tokens")[-1]
    torch.testing.assert_close(mae.encoder.norm(tokens), expected, atol=1e-5, rtol=1e-5)
