"""Every checkpoint layout round-trips into the model; bad matches are refused with a reason."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from tadapt.backbones import CheckpointError, create_backbone, load_pretrained
from tadapt.backbones.tokens import sinusoid_table

Tensors = dict[str, torch.Tensor]


class Opaque:
    """A pickled object that weights_only loading must refuse."""


def _mmaction(state: Tensors) -> Tensors:
    renamed = {}
    for key, value in state.items():
        key = key.replace("patch_embed.proj.", "patch_embed.projection.")
        key = key.replace("mlp.fc1.", "mlp.layers.0.0.").replace("mlp.fc2.", "mlp.layers.1.")
        renamed[key] = value
    return renamed


def _head(dim: int = 96) -> Tensors:
    return {
        "fc_norm.weight": torch.ones(dim),
        "fc_norm.bias": torch.zeros(dim),
        "head.weight": torch.randn(400, dim),
        "head.bias": torch.zeros(400),
    }


def _prefixed(prefix: str, state: Tensors) -> Tensors:
    return {prefix + key: value for key, value in state.items()}


def _pretrain(state: Tensors, prefix: str = "") -> Tensors:
    encoder = _prefixed(f"{prefix}encoder.", state)
    encoder[f"{prefix}encoder.norm.weight"] = torch.ones(96)
    decoder = {
        f"{prefix}decoder.blocks.0.attn.qkv.weight": torch.randn(3 * 48, 48),
        f"{prefix}decoder.norm.weight": torch.ones(48),
        f"{prefix}decoder.head.weight": torch.randn(1536, 48),
        f"{prefix}encoder_to_decoder.weight": torch.randn(48, 96),
        f"{prefix}mask_token": torch.zeros(1, 1, 48),
    }
    return {**encoder, **decoder}


def _opentad_pos_embed() -> torch.Tensor:
    return sinusoid_table(8 * 14 * 14, 96)[None]  # the registered buffer, (1, N, C)


# (layout name, file name, expected format, builder from the source state dict)
LAYOUTS: list[tuple[str, str, str, Callable[[Tensors], Any]]] = [
    ("tadapt", "backbone.pth", "tadapt", lambda s: s),
    ("tadapt-safetensors", "backbone.safetensors", "tadapt", lambda s: s),
    (
        "videomae-v1",
        "vit_s_k400_ft.pth",
        "videomae",
        lambda s: {"model": {**s, **_head()}, "args": argparse.Namespace(lr=1e-3), "epoch": 3},
    ),
    ("videomaev2-deepspeed", "vit_g_k710_ft.pth", "videomaev2", lambda s: {"module": {**s}}),
    ("ddp", "ddp.pth", "videomae", lambda s: {"model": _prefixed("module.", s)}),
    ("pretrain", "pretrain.pth", "videomae-pretrain", lambda s: {"model": _pretrain(s)}),
    (
        "pretrain-compiled",
        "pretrain_compiled.pth",
        "videomae-pretrain",
        lambda s: {"model": _pretrain(s, prefix="_orig_mod.")},
    ),
    (
        "mmaction2",
        "vit-small-p16_videomae-k400-pre.pth",
        "opentad",
        lambda s: {
            "state_dict": {
                **_prefixed("backbone.", _mmaction(s)),
                "backbone.pos_embed": _opentad_pos_embed(),
                "cls_head.fc_cls.weight": torch.randn(400, 96),
            },
            "meta": {"mmengine_version": "0.10.3"},
        },
    ),
    (
        "opentad-ema-detector",
        "epoch_59.pth",
        "opentad",
        lambda s: {
            "epoch": 59,
            "state_dict_ema": {
                **_prefixed("module.backbone.model.backbone.", _mmaction(s)),
                "module.neck.convs.0.weight": torch.randn(512, 96, 3),
                "module.rpn_head.cls_head.weight": torch.randn(20, 512, 3),
            },
        },
    ),
]


def _write(obj: Any, path: Path) -> None:
    if path.suffix == ".safetensors":
        save_file(obj, str(path))
    else:
        torch.save(obj, path)


@pytest.mark.parametrize(("name", "filename", "fmt", "build"), LAYOUTS, ids=[x[0] for x in LAYOUTS])
def test_layout_round_trips(make_tiny, tmp_path, name, filename, fmt, build):
    source = make_tiny(seed=1).state_dict()
    path = tmp_path / filename
    _write(build({k: v.clone() for k, v in source.items()}), path)
    model = make_tiny(seed=2)
    report = load_pretrained(model, path)
    assert report.format == fmt, report.description
    assert (report.missing, report.unexpected, report.mismatched) == ((), (), ())
    assert len(report.loaded) == len(source)
    for key, value in model.state_dict().items():
        assert torch.equal(value, source[key]), key
    assert not report.notes  # the OpenTAD pos_embed buffer is the fixed sinusoid table


def test_report_lists_dropped_keys_and_prefix(make_tiny, tmp_path, caplog):
    path = tmp_path / "pretrain.pth"
    torch.save({"model": _pretrain(make_tiny().state_dict(), prefix="_orig_mod.")}, path)
    with caplog.at_level(logging.INFO, logger="tadapt.backbones.checkpoint"):
        report = load_pretrained(make_tiny(), path)
    assert "prefix '_orig_mod.encoder.' removed" in report.description
    assert "_orig_mod.mask_token" in report.ignored
    assert "_orig_mod.encoder.norm.weight" in report.ignored
    assert len(report.ignored) == 6
    assert "VideoMAE pretraining checkpoint" in caplog.text


def test_create_backbone_loads_a_checkpoint(make_tiny, tmp_path):
    source = make_tiny(seed=3)
    torch.save({"module": source.state_dict()}, tmp_path / "w.pth")
    model = create_backbone("videomae_tiny_patch16", depth=2, checkpoint=tmp_path / "w.pth")
    assert torch.equal(model.blocks[1].attn.v_bias, source.blocks[1].attn.v_bias)


def test_shape_mismatch_is_refused_with_the_checkpoint_architecture(make_tiny, tmp_path):
    torch.save({"module": make_tiny().state_dict()}, tmp_path / "vit.pth")
    narrow = create_backbone("videomae_tiny_patch16", depth=2, embed_dim=48)
    with pytest.raises(
        CheckpointError, match=r"detected: VideoMAEv2 checkpoint.*holds embed dim 96, 2 blocks"
    ):
        load_pretrained(narrow, tmp_path / "vit.pth")


def test_unrelated_weights_are_refused(make_tiny):
    unrelated = {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 64)}
    with pytest.raises(
        CheckpointError, match=r"OpenTAD.*only 0 of the model's 28 tensors.*no VideoMAE tensors"
    ):
        load_pretrained(make_tiny(), {"state_dict": unrelated})


def test_partial_match_respects_strict_ratio(make_tiny, caplog):
    shallow = make_tiny(seed=4).state_dict()  # 2 blocks into a 4-block model
    deep = make_tiny(depth=4)
    with pytest.raises(CheckpointError, match="only 28 of the model's 54"):
        load_pretrained(deep, shallow, strict_ratio=0.9)
    with caplog.at_level(logging.WARNING, logger="tadapt.backbones.checkpoint"):
        report = load_pretrained(deep, shallow)
    assert len(report.missing) == 26
    assert report.missing[0].startswith("blocks.2.")
    assert "26 backbone tensors missing" in caplog.text


def test_adapter_keys_are_expected_to_be_missing(make_tiny):
    model = make_tiny()
    model.blocks[1].adapter = torch.nn.Linear(96, 96)
    report = load_pretrained(model, make_tiny(seed=5).state_dict())
    assert report.missing == ()
    assert report.missing_adapters == ("blocks.1.adapter.weight", "blocks.1.adapter.bias")


def test_pickled_objects_are_refused(make_tiny, tmp_path):
    torch.save({"model": make_tiny().state_dict(), "cfg": Opaque()}, tmp_path / "unsafe.pth")
    with pytest.raises(CheckpointError, match=r"Opaque\) besides tensors, which tadapt will not"):
        load_pretrained(make_tiny(), tmp_path / "unsafe.pth")


@pytest.mark.parametrize("filename", ["weights.pth", "weights.safetensors", "pytorch_model.bin"])
def test_damaged_files_are_one_line_naming_the_file(make_tiny, tmp_path, filename):
    full = tmp_path / f"full_{filename}"
    _write(make_tiny().state_dict(), full)
    data = full.read_bytes()
    for cut, problem in ((len(data) // 2, "is truncated or corrupt ("), (0, "is empty (0 bytes)")):
        damaged = tmp_path / filename
        damaged.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as caught:
            load_pretrained(make_tiny(), damaged)
        message = str(caught.value)
        assert message.startswith(f"{damaged}: the file {problem}")
        assert message.endswith("download or copy it again (then compare its size or sha256 "
                                "with the source's)")  # fmt: skip
        assert "\n" not in message


def test_foreign_files_name_the_formats_read(make_tiny, tmp_path):
    (tmp_path / "notes.pth").write_text("not weights")
    with pytest.raises(CheckpointError, match=r"notes\.pth: not a checkpoint file; tadapt reads"):
        load_pretrained(make_tiny(), tmp_path / "notes.pth")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"config\.json: not valid JSON"):
        load_pretrained(make_tiny(), tmp_path / "hf")
    with pytest.raises(CheckpointError, match=r"missing\.pth: no such file"):
        load_pretrained(make_tiny(), tmp_path / "missing.pth")


def test_a_learned_position_table_is_noted(make_tiny):
    state = {**make_tiny().state_dict(), "pos_embed": torch.randn(1, 8 * 14 * 14, 96)}
    report = load_pretrained(make_tiny(), state)
    assert report.ignored == ("pos_embed",)
    assert any("differs from the fixed sinusoid" in note for note in report.notes)
