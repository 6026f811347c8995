from __future__ import annotations

import pytest

from lit_hooks import (
    GradClipAlgorithmType,
    LightningEnum,
    RunningStage,
    TrainerFn,
    TrainerState,
    TrainerStatus,
)


def test_names_and_values_match_lightning() -> None:
    assert {m.name: m.value for m in TrainerFn} == {
        "FITTING": "fit",
        "VALIDATING": "validate",
        "TESTING": "test",
        "PREDICTING": "predict",
    }
    assert {m.name: m.value for m in RunningStage} == {
        "TRAINING": "train",
        "SANITY_CHECKING": "sanity_check",
        "VALIDATING": "validate",
        "TESTING": "test",
        "PREDICTING": "predict",
    }
    assert {m.name: m.value for m in TrainerStatus} == {
        "INITIALIZING": "initializing",
        "RUNNING": "running",
        "FINISHED": "finished",
        "INTERRUPTED": "interrupted",
    }
    assert [m.value for m in GradClipAlgorithmType] == ["value", "norm"]


def test_equality_with_strings_ignores_case_and_hash_matches() -> None:
    assert TrainerFn.FITTING == "fit" and "FIT" == TrainerFn.FITTING
    assert TrainerFn.FITTING != "test" and not (TrainerFn.FITTING != "Fit")
    assert TrainerFn.FITTING != 1
    assert RunningStage.VALIDATING == TrainerFn.VALIDATING  # same value, different enums
    assert hash(TrainerFn.TESTING) == hash("test")
    assert {TrainerFn.FITTING: 1}["fit"] == 1
    assert isinstance(TrainerFn.FITTING, str)
    assert TrainerFn("FIT") is TrainerFn.FITTING


def test_from_str() -> None:
    assert GradClipAlgorithmType.from_str("NORM") is GradClipAlgorithmType.NORM
    assert TrainerFn.from_str("fitting") is TrainerFn.FITTING
    assert TrainerFn.from_str("fit") is TrainerFn.FITTING
    assert RunningStage.from_str("sanity_check", source="value") is RunningStage.SANITY_CHECKING
    assert TrainerFn.from_str("Predicting", source="any") is TrainerFn.PREDICTING
    with pytest.raises(ValueError, match=r"'nope' is not a valid TrainerFn\. Expected one of"):
        TrainerFn.from_str("nope")
    with pytest.warns(UserWarning, match="not a valid"):
        assert TrainerFn.try_from_str("nope") is None


def test_properties() -> None:
    assert [s for s in RunningStage if s.evaluating] == [
        RunningStage.SANITY_CHECKING,
        RunningStage.VALIDATING,
        RunningStage.TESTING,
    ]
    assert [s.dataloader_prefix for s in RunningStage] == ["train", "val", "val", "test", "predict"]
    assert [s.stopped for s in TrainerStatus] == [False, False, True, True]
    assert GradClipAlgorithmType.supported_type("norm") and not GradClipAlgorithmType.supported_type("l2")
    assert GradClipAlgorithmType.supported_types() == ["value", "norm"]


def test_trainer_state() -> None:
    state = TrainerState()
    assert (state.status, state.fn, state.stage) == (TrainerStatus.INITIALIZING, None, None)
    assert not state.finished and not state.stopped
    state.status = TrainerStatus.FINISHED
    assert state.finished and state.stopped


def test_custom_enum() -> None:
    class Mode(LightningEnum):
        FAST = "Fast-Mode"

    assert Mode.FAST == "fast-mode"
    assert Mode.from_str("fast-mode", source="value") is Mode.FAST
