from __future__ import annotations

import ast
import dataclasses
import json
import math
from pathlib import Path

import pytest

import tadapt
from tadapt.config import (
    ConfigError,
    ExperimentConfig,
    SyntheticDataConfig,
    apply_overrides,
    config_from_dict,
    list_presets,
    load_config,
    resolve,
    save_config,
)
from tadapt.io.feature_manifest import FeatureManifest

PRESETS = ["anet_actionformer_tsp", "thumos14_actionformer_i3d", "tiny_synthetic_features"]
REAL_DATA = ["data.annotation_file=ann.json", "data.feature_dir=feats"]


def test_every_feature_preset_is_listed_loads_and_resolves(tmp_path):
    assert set(PRESETS) <= set(list_presets())
    for name in PRESETS:
        config = resolve(load_config(name, REAL_DATA), run_dir=tmp_path)
        assert config.name == name
        assert config.model.max_seq_len == config.data.max_seq_len
        assert config.eval.tiou_thresholds is not None


def test_presets_start_with_what_they_reproduce_and_the_command():
    folder = Path(tadapt.__file__).parent / "presets"
    for name in PRESETS:
        text = (folder / f"{name}.yaml").read_text()
        header = text.split("\nname:")[0]
        assert all(line.startswith("#") for line in header.splitlines() if line.strip())
        assert f"tadapt train {name}" in header
        assert "tadapt test" in header


def test_thumos_preset_holds_the_actionformer_recipe():
    config = load_config("thumos14_actionformer_i3d")
    data, model, optim, train, post = (
        config.data,
        config.model,
        config.optim,
        config.train,
        config.eval.postprocess,
    )
    assert (data.feature_dim, data.feat_stride, data.num_frames) == (2048, 4, 16)
    assert (data.max_seq_len, data.trunc_thresh, data.crop_ratio) == (2304, 0.5, (0.9, 1.0))
    assert (optim.lr, optim.weight_decay, optim.warmup_epochs, train.epochs) == (1e-4, 0.05, 5, 35)
    assert (train.batch_size, train.ema_decay, optim.clip_grad_norm) == (2, 0.999, 1.0)
    assert model.regression_ranges[-1] == (64.0, math.inf)
    assert (post.multiclass, post.sigma, post.max_segments, post.voting_threshold) == (
        True,
        0.5,
        200,
        None,
    )


def test_anet_preset_is_class_agnostic_with_resize():
    config = resolve(load_config("anet_actionformer_tsp", REAL_DATA))
    assert config.data.resize
    assert config.data.max_seq_len == 192
    assert config.data.class_agnostic
    assert config.model.num_classes == 1
    assert config.model.loss.label_smoothing == 0.1
    assert config.model.loss.reg_weight == 2.0
    assert config.model.loss.norm_init == 200.0
    assert (config.optim.lr, config.train.epochs) == (1e-3, 15)
    assert config.eval.tiou_thresholds[0] == 0.5
    assert len(config.eval.tiou_thresholds) == 10


def test_overrides_parse_yaml_values():
    config = load_config(
        "thumos14_actionformer_i3d",
        [
            "model.head.num_layers=3",
            "optim.lr=1e-3",
            "data.crop_ratio=null",
            "model.window_size=[7, 7, 7, 7, 7, -1]",
            "train.deterministic=true",
            "model.arch=[2,2,4]",
            "model.regression_ranges=[[0,4],[4,8],[8,16],[16,32],[32,.inf]]",
            "name=other",
        ],
    )
    assert config.model.head.num_layers == 3
    assert config.optim.lr == 1e-3
    assert isinstance(config.optim.lr, float)
    assert config.data.crop_ratio is None
    assert config.model.window_size == (7, 7, 7, 7, 7, -1)
    assert config.train.deterministic is True
    assert config.model.arch == (2, 2, 4)
    assert config.name == "other"


def test_override_integer_into_float_field_becomes_float():
    config = load_config("tiny_synthetic_features", ["optim.lr=1", "data.fps=25"])
    assert config.optim.lr == 1.0
    assert type(config.optim.lr) is float
    assert config.data.fps == 25.0


def test_override_creates_an_optional_section():
    config = load_config("thumos14_actionformer_i3d", ["data.synthetic.num_classes=3"])
    assert config.data.synthetic == SyntheticDataConfig(num_classes=3)


def test_override_below_a_mapping_keeps_dots_in_the_key():
    config = load_config(
        "tiny_synthetic_features",
        ["optim.module_lrs.encoder.embed=1e-4", "optim.module_lrs.cls_head=0"],
    )
    assert config.optim.module_lrs == {"encoder.embed": 1e-4, "cls_head": 0.0}


def test_unknown_key_lists_the_valid_keys_at_its_level():
    with pytest.raises(ConfigError) as err:
        load_config("tiny_synthetic_features", ["model.head.num_layer=3"])
    message = str(err.value)
    assert "unknown key 'model.head.num_layer'" in message
    valid = "valid keys at model.head: num_layers, kernel_size, dim, prior_prob, offset_bias"
    assert valid in message
    with pytest.raises(ConfigError, match=r"valid keys at the top level: name, data, model"):
        load_config("tiny_synthetic_features", ["modle.embed_dim=3"])


def test_unknown_key_in_a_yaml_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'optim.learning_rate'"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("optim.lr=fast", "optim.lr: expected float, got 'fast' (str)"),
        ("train.epochs=2.5", "train.epochs: expected int, got 2.5 (float)"),
        ("train.epochs=true", "train.epochs: expected int, got True (bool)"),
        ("train.progress=1", "train.progress: expected bool, got 1 (int)"),
        ("data.crop_ratio=[0.9]", "data.crop_ratio: expected list of 2 [float, float] | null"),
        ("train.precision=fp8", "train.precision: expected one of 'fp32', 'bf16', 'fp16', 'amp'"),
        ("data.fps=abc", "data.fps: expected float | null, got 'abc' (str)"),
        ("model.head=3", "model.head: expected a mapping of keys, got 3"),
    ],
)
def test_wrong_type_names_key_expected_type_and_value(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config("tiny_synthetic_features", [override])
    assert expected in str(err.value)


@pytest.mark.parametrize("override", ["optim.lr", "=3", "model.embed_dim.x=3", "x=[1"])
def test_malformed_overrides(override):
    with pytest.raises(ConfigError):
        load_config("tiny_synthetic_features", [override])


def test_unknown_preset_lists_the_presets():
    with pytest.raises(
        ConfigError, match=r"presets: adatad_anet_videomae_s_192x4_160, .*, tiny_synthetic_videos"
    ):
        load_config("thumos_videomae")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("missing/config.yaml")


def test_apply_overrides_leaves_the_input_untouched():
    raw = {"optim": {"lr": 0.1}}
    out = apply_overrides(raw, ["optim.lr=0.2", "train.epochs=3"])
    assert raw == {"optim": {"lr": 0.1}}
    assert out == {"optim": {"lr": 0.2}, "train": {"epochs": 3}}


def test_configs_are_frozen():
    config = load_config("tiny_synthetic_features")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.optim.lr = 1.0  # type: ignore[misc]


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = resolve(load_config("anet_actionformer_tsp", REAL_DATA), run_dir=tmp_path)
    save_config(config, tmp_path / "config.yaml", header="resolved\nsecond line")
    text = (tmp_path / "config.yaml").read_text()
    assert text.startswith("# resolved\n# second line\n")
    assert load_config(tmp_path / "config.yaml") == config
    assert resolve(config) == config  # resolving twice changes nothing


def test_resolve_fills_derived_fields(tmp_path):
    config = resolve(load_config("tiny_synthetic_features"), num_classes=4, run_dir=tmp_path)
    cache = tmp_path / "synthetic_features"
    assert config.data.synthetic is not None
    assert config.data.synthetic.cache_dir == str(cache)
    assert config.data.feature_dir == str(cache / "features")
    assert config.data.annotation_file == str(cache / "annotations.json")
    assert config.model.num_classes == 4
    assert config.model.max_seq_len == 128


def test_resolve_checks_values_and_names_the_key():
    base = load_config("thumos14_actionformer_i3d", REAL_DATA)
    with pytest.raises(
        ConfigError, match=r"model\.num_classes: the config says 5 but the annotation"
    ):
        resolve(
            dataclasses.replace(base, model=dataclasses.replace(base.model, num_classes=5)),
            num_classes=20,
        )
    bad = [
        ("train.batch_size=0", "train.batch_size: must be >= 1, got 0"),
        (
            "model.arch=[2,2,3]",
            "model.regression_ranges: needs one [low, high] per pyramid level (4",
        ),
        ("model.window_size=[7,7]", "model.window_size: needs one value or 6"),
        ("data.crop_ratio=[1.0,0.5]", "data.crop_ratio: must be [low, high]"),
        ("optim.warmup_epochs=40", "optim.warmup_epochs"),
        ("eval.classifier_file=cls.json", "eval.classifier_file: an external classifier"),
        ("data.dataset=unknown", "data.dataset: no tIoU thresholds for 'unknown'"),
        ("data.color_jitter_hue=0.6", "data.color_jitter_hue: must be in [0, 0.5], got 0.6"),
        ("data.rand_augment.magnitude=11", "data.rand_augment.magnitude: must be in [0, 10]"),
        ("data.rand_augment.num_ops=16", "data.rand_augment.num_ops: must be in [0, 15]"),
        ("model.input_drop=1.0", "model.input_drop: must be in [0, 1"),
        ("model.head.offset_bias=.nan", "model.head.offset_bias: must be finite, got nan"),
    ]
    for override, message in bad:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
            resolve(load_config("thumos14_actionformer_i3d", [*REAL_DATA, override]))


def test_synthetic_videos_name_their_classes(tmp_path):
    named = ["data.synthetic_videos.classes=[grow,blink]"]
    config = load_config("tiny_synthetic_videos", named)
    assert config.data.synthetic_videos is not None
    assert config.data.synthetic_videos.classes == ("grow", "blink")
    resolved = resolve(config, run_dir=tmp_path)
    assert resolved.data.synthetic_videos is not None
    assert resolved.data.synthetic_videos.num_classes == 2  # follows from the names
    assert resolve(resolved) == resolved
    clash = load_config("tiny_synthetic_videos", [*named, "data.synthetic_videos.num_classes=3"])
    with pytest.raises(
        ConfigError,
        match=r"data\.synthetic_videos\.num_classes: 3, but data\.synthetic_videos\.classes "
        r"names 2 classes; leave num_classes at 4 .* or set it to 2",
    ):
        resolve(clash, run_dir=tmp_path)


def test_synthetic_video_difficulty_reaches_the_generator(tmp_path):
    from tadapt.cli.experiment import prepare_experiment

    overrides = [
        "data.synthetic_videos.num_videos=3",
        "data.synthetic_videos.duration_sec=3.0",
        "data.synthetic_videos.actions_per_video=[1,1]",
        "data.synthetic_videos.action_duration_sec=[1.0,2.0]",
        "data.synthetic_videos.classes=[move_right,move_left]",
        "data.synthetic_videos.object_radius=[0.2,0.3]",
        "data.synthetic_videos.distractors_per_video=[0,0]",
        "data.synthetic_videos.noise_std=[1.0,2.0]",
        "data.synthetic_videos.background_detail=[0.0,5.0]",
        "data.synthetic_videos.test_fraction=0.3",
    ]
    config, _ = prepare_experiment("tiny_synthetic_videos", overrides, tmp_path)
    assert config.data.synthetic_videos is not None
    saved = json.loads((Path(config.data.synthetic_videos.cache_dir) / "config.json").read_text())
    assert saved["object_radius"] == [0.2, 0.3]
    assert saved["distractors_per_video"] == [0, 0]
    assert (saved["noise_std"], saved["background_detail"]) == ([1.0, 2.0], [0.0, 5.0])
    bad = [*overrides[:-1], "data.synthetic_videos.object_radius=[0.2,0.5]"]
    with pytest.raises(ConfigError, match=r"data\.synthetic_videos: SyntheticConfig\.object_r"):
        prepare_experiment("tiny_synthetic_videos", bad, tmp_path / "bad")


def test_synthetic_video_appearance_defaults_are_the_generators():
    from tadapt.config import SyntheticVideoDataConfig
    from tadapt.data.synthetic import SyntheticConfig

    names = ("distractors_per_video", "object_radius", "noise_std", "background_detail")
    for name in names:
        assert getattr(SyntheticVideoDataConfig(), name) == getattr(SyntheticConfig(), name)


def test_a_flip_that_would_relabel_a_direction_is_refused(tmp_path):
    # a flipped move_right window looks like move_left but kept its label: wrong targets
    with pytest.raises(
        ConfigError,
        match=r"data\.flip_prob=0\.5: a horizontal flip turns move_right into move_left, "
        r"move_left into move_right, rotate_cw into rotate_ccw, rotate_ccw into rotate_cw",
    ):
        resolve(load_config("tiny_synthetic_videos", ["data.flip_prob=0.5"]), run_dir=tmp_path)
    only_up = ["data.flip_prob=0.5", "data.synthetic_videos.classes=[grow,move_up]"]
    flipped = resolve(load_config("tiny_synthetic_videos", only_up), run_dir=tmp_path)
    assert flipped.data.flip_prob == 0.5  # grow and move_up look the same mirrored
    diagonal = ["data.flip_prob=0.5", "data.synthetic_videos.classes=[move_up,move_down_left]"]
    with pytest.raises(
        ConfigError, match=r"a horizontal flip turns move_down_left into move_down_right,"
    ):
        resolve(load_config("tiny_synthetic_videos", diagonal), run_dir=tmp_path)


def test_a_fidelity_block_without_its_mode_is_refused():
    # a partial block used to take mode's default (cyclic) and train every run at low fidelity
    with pytest.raises(
        ConfigError,
        match=r"train\.fidelity: mode must be set when train\.fidelity is given "
        r"\(e\.g\. train\.fidelity\.mode=\.\.\.\)",
    ):
        load_config("tiny_synthetic_videos", ["train.fidelity.levels=1x2,4x1"])
    assert load_config("tiny_synthetic_videos").train.fidelity is None
    assert load_config("mini_repro_synthetic").train.fidelity is None  # LoFi: only its own row
    cyclic = load_config("tiny_synthetic_videos", ["train.fidelity.mode=cyclic"])
    assert cyclic.train.fidelity is not None
    assert cyclic.train.fidelity.budget == 4.0


def test_resolve_needs_a_folder_for_synthetic_data():
    with pytest.raises(ConfigError, match=r"data\.synthetic\.cache_dir"):
        resolve(load_config("tiny_synthetic_features"))


def test_defaults_build_from_an_empty_mapping():
    assert config_from_dict({}) == ExperimentConfig()


def test_nothing_below_the_cli_imports_the_config():
    package = Path(tadapt.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).parts
        # planning works on configs as the CLI does (it builds the model `tadapt train` builds)
        if relative[0] in ("cli", "config", "planning"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "tadapt.config" or n.startswith("tadapt.config.") for n in names):
                offenders.append(str(path.relative_to(package)))
    assert offenders == []


def _manifest(**changes) -> FeatureManifest:
    settings = {"size": 160, "snippet_frames": 8, "feat_stride": 2, "frame_stride": 1}
    values = {
        "extractor": "snippets",
        "backbone": "videomae_small_patch16",
        "weights": "vit-s.pth",
        "weights_sha256": "0" * 64,
        "settings": settings,
        "feature_dim": 384,
        "feat_stride": 2,
        "num_frames": 8,
        **changes,
    }
    return FeatureManifest(**values)


def test_the_features_layout_comes_from_their_manifest(caplog):
    unset = [*REAL_DATA, "data.feature_dim=null", "data.feat_stride=null", "data.num_frames=null"]
    data = resolve(load_config("thumos14_actionformer_i3d", unset)).data
    assert (data.feature_dim, data.feat_stride, data.num_frames) == (2048, 4, 16)  # ActionFormer
    data = resolve(
        load_config("thumos14_actionformer_i3d", unset), feature_manifest=_manifest()
    ).data
    assert (data.feature_dim, data.feat_stride, data.num_frames) == (384, 2, 8)

    manifest = str(Path("feats") / "tadapt_features.json")
    with pytest.raises(ConfigError, match=r"data\.feature_dim: the config says 2048, but feats"):
        resolve(load_config("thumos14_actionformer_i3d", REAL_DATA), feature_manifest=_manifest())
    agreeing = [*REAL_DATA, "data.feature_dim=384", "data.feat_stride=2"]
    with pytest.raises(ConfigError, match=r"data\.feat_stride: the config says 4 video frames"):
        resolve(
            load_config("thumos14_actionformer_i3d", [*agreeing, "data.feat_stride=4"]),
            feature_manifest=_manifest(),
        )
    with caplog.at_level("WARNING", logger="tadapt.config.resolving"):
        data = resolve(
            load_config("thumos14_actionformer_i3d", agreeing), feature_manifest=_manifest()
        ).data
    assert data.num_frames == 16  # set: kept, with a warning
    assert (
        f"data.num_frames: the config says 16, but {manifest} says 8: every feature is placed 4 "
        "video frames later than it was computed"
    ) in caplog.text
    # resize: every video becomes max_seq_len steps, the strides are not used
    anet = load_config("anet_actionformer_tsp", [*REAL_DATA, "data.feature_dim=null"])
    assert resolve(anet, feature_manifest=_manifest()).data.feat_stride == 16
