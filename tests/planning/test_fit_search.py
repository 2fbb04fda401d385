"""GPU budgets and the search for settings that fit, with a stand-in predictor."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tadapt.config import load_config
from tadapt.planning.fit_search import Change, candidate_changes, find_fits
from tadapt.profiling.gpus import CUDA_CONTEXT_BYTES, GIB, parse_gpu


def test_a_size_and_a_card_name_give_the_same_budget() -> None:
    assert parse_gpu("80GB").total_bytes == parse_gpu("80").total_bytes == 80 * GIB
    card = parse_gpu("a100-80gb")
    assert card.name == "A100-80GB"
    assert card.total_bytes == 80 * GIB
    assert parse_gpu("h100").name == "H100-80GB"
    assert card.usable_bytes == int((80 * GIB - CUDA_CONTEXT_BYTES) * 0.9)
    assert parse_gpu("24GB", margin=0.0).usable_bytes == 24 * GIB - CUDA_CONTEXT_BYTES


@pytest.mark.parametrize("text", ["lots", "-3GB", "0"])
def test_an_unknown_card_names_the_known_ones(text: str) -> None:
    with pytest.raises(ValueError, match="--gpu"):
        parse_gpu(text)


def test_candidates_of_a_tia_preset_run_from_least_to_most_intrusive() -> None:
    config = load_config(
        "adatad_thumos14_videomae_s_768x1_160", ["model.backbone.grad_checkpointing=false"]
    )
    kinds = [change.kind for change in candidate_changes(config, per_device_batch=1)]
    assert kinds[0] == "checkpointing"
    assert "accumulation" not in kinds  # one window per pass cannot be halved
    assert kinds.index("strategy") < kinds.index("frames") < kinds.index("size")
    by_kind = {c.kind: c for c in candidate_changes(config, per_device_batch=2)}
    assert by_kind["accumulation"].overrides == ("train.grad_accum_steps=2",)
    assert by_kind["frames"].overrides == (
        "data.max_seq_len=384",
        "model.max_seq_len=384",
        "data.eval_window=384",
    )
    assert by_kind["size"].overrides == ("data.image_size=128",)


def test_features_mode_can_only_change_the_precision_and_the_batch() -> None:
    config = load_config("thumos14_actionformer_i3d")
    kinds = [c.kind for c in candidate_changes(config, per_device_batch=2)]
    assert kinds == ["precision", "accumulation"]


def _costs(costs: dict[str, int]) -> object:
    def predict(overrides: Sequence[str]) -> int | None:
        if "invalid" in overrides:
            return None
        return 100 - sum(costs[item] for item in overrides)

    return predict


def test_single_changes_that_fit_come_first_in_order() -> None:
    changes = [Change("a", ("a",), ""), Change("b", ("b",), ""), Change("c", ("c",), "")]
    fits = find_fits(changes, _costs({"a": 10, "b": 40, "c": 50}), budget_bytes=60)
    assert [fit.overrides for fit in fits] == [("b",), ("c",)]
    assert [fit.peak_bytes for fit in fits] == [60, 50]


def test_pairs_of_different_kinds_when_no_single_change_fits() -> None:
    changes = [
        Change("a", ("a",), ""),
        Change("s", ("s1",), ""),
        Change("s", ("s2",), ""),  # same kind as s1: never paired with it
        Change("x", ("invalid",), ""),
    ]
    fits = find_fits(changes, _costs({"a": 20, "s1": 25, "s2": 30}), budget_bytes=55)
    assert [fit.overrides for fit in fits] == [("a", "s1"), ("a", "s2")]


def test_nothing_fits() -> None:
    assert find_fits([Change("a", ("a",), "")], _costs({"a": 1}), budget_bytes=10) == []
