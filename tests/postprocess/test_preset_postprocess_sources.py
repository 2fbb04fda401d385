"""Every paper preset's ``eval.postprocess`` equals its source's post-processing, field by field.

The values were read from the authors' code and configs (named per block); a field the source
does not use is marked so. A new preset must be added here (or to ``NO_SOURCE``).
"""

from __future__ import annotations

import pytest

from tadapt.cli.experiment import build_postprocessing
from tadapt.config import config_to_dict, list_presets, load_config

# happyharrycn/actionformer_release: configs/thumos_i3d.yaml test_cfg over libs/core/config.py
# defaults; libs/modeling/meta_archs.py inference_single_video (threshold, top-k and duration
# filter per pyramid level), libs/utils/nms.py batched_nms / seg_voting (score x tIoU)
ACTIONFORMER_THUMOS = {
    "pre_nms_threshold": 0.001,
    "pre_nms_topk": 2000,
    "pre_nms_scope": "level",
    "duration_threshold": 0.05,
    "nms_method": "gaussian",
    "iou_threshold": 0.1,  # unused by gaussian Soft-NMS
    "sigma": 0.5,
    "min_score": 0.001,
    "max_segments": 200,
    "multiclass": True,
    "voting_threshold": None,  # 0.7 configured, never applied by multi-class NMS
    "voting_weights": "score_tiou",
    "clip_before_nms": False,
    "round_segments": None,
    "round_scores": None,
}

# happyharrycn/actionformer_release: configs/anet_tsp.yaml test_cfg (same code as above)
ACTIONFORMER_ANET = {
    **ACTIONFORMER_THUMOS,
    "duration_threshold": 0.001,
    "sigma": 0.75,
    "max_segments": 100,
    "multiclass": False,
    "voting_threshold": 0.9,
}

# sming256/OpenTAD: configs/adatad/thumos/e2e_thumos_videomae_s_768x1_160_adapter.py (and
# ..._side.py, which the others inherit) post_processing; opentad/models/detectors/
# single_stage.py post_processing (threshold and top-k over a window's levels x classes, no
# duration filter, each window clipped by convert_to_seconds and rounded to 2 / 4 decimals);
# opentad/cores/test_engine.py gather_ddp_results (cross-window NMS);
# opentad/models/utils/post_processing/nms/nms.py batched_nms (min_score default 0, score-only
# seg_voting)
OPENTAD_THUMOS = {
    "pre_nms_threshold": 0.001,
    "pre_nms_topk": 2000,
    "pre_nms_scope": "window",
    "duration_threshold": None,
    "nms_method": "gaussian",
    "iou_threshold": 0.1,  # OpenTAD 0.0, unused by gaussian Soft-NMS
    "sigma": 0.7,
    "min_score": 0.0,
    "max_segments": 2000,
    "multiclass": True,
    "voting_threshold": None,  # 0.7 configured, never applied by multi-class NMS
    "voting_weights": "score",
    "clip_before_nms": True,
    "round_segments": 2,
    "round_scores": 4,
}

# sming256/OpenTAD: configs/adatad/anet/e2e_anet_videomae_s_192x4_160_adapter.py
# post_processing; single_stage.py keeps every valid point of a 1-class head (no threshold, no
# top-k) and runs NMS on the whole video before clipping and rounding what it writes
OPENTAD_ANET = {
    **OPENTAD_THUMOS,
    "pre_nms_threshold": 0.0,
    "pre_nms_topk": None,
    "min_score": 0.001,
    "max_segments": 100,
    "multiclass": False,
    "voting_threshold": 0.9,
    "clip_before_nms": False,
    "round_segments": None,  # OpenTAD rounds only its written output (declared in the preset)
    "round_scores": None,
}

SOURCES = {
    "thumos14_actionformer_i3d": ACTIONFORMER_THUMOS,
    "anet_actionformer_tsp": ACTIONFORMER_ANET,
    "adatad_thumos14_videomae_s_768x1_160": OPENTAD_THUMOS,
    "adatad_thumos14_videomae_b_768x1_160": OPENTAD_THUMOS,
    "adatad_thumos14_videomae_l_768x1_160": OPENTAD_THUMOS,
    "adatad_thumos14_videomae_h_768x1_160": OPENTAD_THUMOS,
    "adatad_thumos14_videomaev2_g_768x1_160": OPENTAD_THUMOS,
    "adatad_thumos14_videomaev2_g_1536x2_224": OPENTAD_THUMOS,
    "adatad_side_thumos14_videomaev2_g_1536x2_224": OPENTAD_THUMOS,
    "losa_thumos14_videomaev2_g_768x1_224": OPENTAD_THUMOS,  # [R] AdaTAD's THUMOS recipe
    "adatad_anet_videomae_s_192x4_160": OPENTAD_ANET,
    "lofi_anet_videomae_s_cyclic": OPENTAD_ANET,  # AdaTAD's ActivityNet pipeline
}
NO_SOURCE = {"tiny_synthetic_features", "tiny_synthetic_videos", "mini_repro_synthetic"}


def test_every_preset_is_pinned_or_has_no_source() -> None:
    assert set(list_presets()) == set(SOURCES) | NO_SOURCE


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_preset_postprocess_equals_its_source(name: str) -> None:
    config = load_config(name)
    assert config_to_dict(config.eval.postprocess) == SOURCES[name]
    built = build_postprocessing(config)  # the detector's settings carry every field
    assert {key: getattr(built, key) for key in SOURCES[name]} == SOURCES[name]
