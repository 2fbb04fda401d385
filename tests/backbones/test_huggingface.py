"""Hugging Face VideoMAE as a numerical peer, and its checkpoint layouts."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from tadapt.backbones import create_backbone, load_pretrained
from tadapt.backbones.tokens import sinusoid_table

transformers = pytest.importorskip("transformers")
modeling = pytest.importorskip("transformers.models.videomae.modeling_videomae")

SIZE = 64  # HF needs inputs at exactly image_size


def _config(**overrides):
    fields = {
        "image_size": SIZE,
        "patch_size": 16,
        "num_frames": 16,
        "tubelet_size": 2,
        "hidden_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 3,
        "intermediate_size": 384,
        "layer_norm_eps": 1e-6,
        "use_mean_pooling": True,
        "decoder_hidden_size": 48,
        "decoder_num_hidden_layers": 1,
        "decoder_num_attention_heads": 3,
        "decoder_intermediate_size": 96,
        **overrides,
    }
    return transformers.VideoMAEConfig(**fields)


def _randomized(model):
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def _tadapt():
    return create_backbone("videomae_tiny_patch16", depth=2, img_size=SIZE)


def _assert_same_weights(model, hf_state: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Independent of the loader: compare against HF's own module names."""
    state = model.state_dict()
    torch.testing.assert_close(
        state["patch_embed.proj.weight"],
        hf_state[f"{prefix}embeddings.patch_embeddings.projection.weight"],
        rtol=0,
        atol=0,
    )
    for i in range(2):
        layer = f"{prefix}encoder.layer.{i}."
        qkv = torch.cat(
            [hf_state[f"{layer}attention.attention.{n}.weight"] for n in ("query", "key", "value")]
        )
        assert torch.equal(state[f"blocks.{i}.attn.qkv.weight"], qkv)
        assert torch.equal(
            state[f"blocks.{i}.attn.v_bias"], hf_state[f"{layer}attention.attention.value.bias"]
        )
        assert torch.equal(state[f"blocks.{i}.mlp.fc2.bias"], hf_state[f"{layer}output.dense.bias"])
        assert torch.equal(
            state[f"blocks.{i}.attn.proj.weight"], hf_state[f"{layer}attention.output.dense.weight"]
        )
        assert torch.equal(
            state[f"blocks.{i}.norm2.weight"], hf_state[f"{layer}layernorm_after.weight"]
        )


def test_sinusoid_table_matches_transformers():
    expected = modeling.get_sinusoid_encoding_table(8 * 4 * 4, 96)[0]
    torch.testing.assert_close(sinusoid_table(8 * 4 * 4, 96), expected, rtol=0, atol=1e-6)


def test_tokens_match_hugging_face(tmp_path):
    torch.manual_seed(0)
    hf = _randomized(transformers.VideoMAEModel(_config()))
    hf.save_pretrained(tmp_path)
    model = _tadapt()
    report = load_pretrained(model, tmp_path)
    assert report.format == "huggingface"
    assert len(report.loaded) == 28
    assert report.notes == (
        "Hugging Face LayerNorm eps: its config.json sets 1e-06, as tadapt's model",
    )
    x = torch.randn(2, 3, 16, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = hf(pixel_values=x.permute(0, 2, 1, 3, 4)).last_hidden_state  # (B, T, C, H, W)
        (tokens,) = model.forward_intermediates(x, [-1], output="tokens")
    assert tokens.shape == expected.shape == (2, 8 * 4 * 4, 96)
    assert (tokens - expected).abs().max() <= 1e-4
    assert tokens.abs().mean() > 0.1  # not a trivially small output


def test_hugging_face_layouts_round_trip(tmp_path):
    hf = _randomized(transformers.VideoMAEModel(_config(layer_norm_eps=1e-12)))
    hf.save_pretrained(tmp_path / "hub")  # writes the q_bias / v_bias names of the Hub files
    module_state = hf.state_dict()  # transformers 5.x module names: query.bias / value.bias
    assert "encoder.layer.0.attention.attention.query.bias" in module_state
    save_file(module_state, str(tmp_path / "v5.safetensors"))
    (tmp_path / "bin").mkdir()
    torch.save(module_state, tmp_path / "bin" / "pytorch_model.bin")
    hub_state = load_file(str(tmp_path / "hub" / "model.safetensors"))
    assert "encoder.layer.0.attention.attention.q_bias" in hub_state
    torch.save(hub_state, tmp_path / "v4.bin")
    cases = {
        tmp_path / "hub": "q_bias/v_bias",
        tmp_path / "hub" / "model.safetensors": "q_bias/v_bias",
        tmp_path / "v4.bin": "q_bias/v_bias",
        tmp_path / "bin": "query.bias/value.bias",
        tmp_path / "v5.safetensors": "query.bias/value.bias",
    }
    for path, spelling in cases.items():
        model = _tadapt()
        report = load_pretrained(model, path)
        assert spelling in report.description, path
        assert (report.missing, report.unexpected, report.mismatched) == ((), (), ())
        _assert_same_weights(model, module_state)
        eps_note = report.notes[0]
        assert "eps differs" in eps_note
        assert "1e-12, tadapt's model uses 1e-06" in eps_note
        assert ("no config.json" in eps_note) == ("hub" not in path.parts), path


@pytest.mark.parametrize("head", ["VideoMAEForVideoClassification", "VideoMAEForPreTraining"])
def test_hugging_face_task_models_drop_their_heads(tmp_path, head):
    config = _config(num_attention_heads=6, num_labels=5)
    hf = _randomized(getattr(transformers, head)(config))
    hf.save_pretrained(tmp_path)
    model = _tadapt()
    report = load_pretrained(model, tmp_path)
    assert "prefix 'videomae.' removed" in report.description
    assert (report.missing, report.unexpected) == ((), ())
    assert report.ignored
    assert all(
        k.startswith(("classifier", "fc_norm", "decoder", "encoder_to_decoder", "mask_token"))
        for k in report.ignored
    )
    _assert_same_weights(model, hf.state_dict(), prefix="videomae.")
    assert any("config.json says 6 attention heads, the model has 3" in n for n in report.notes)
