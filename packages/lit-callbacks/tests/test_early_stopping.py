from __future__ import annotations

import math

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, loader
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_callbacks import EarlyStopping, EarlyStoppingReason
from lit_hooks import MisconfigurationException, TrainerFn


def _fit(
    es: EarlyStopping, values: list[float], max_epochs: int | None = None, **kwargs: object
) -> FakeTrainer:
    trainer = FakeTrainer([es], max_epochs=max_epochs or len(values), **kwargs)  # type: ignore[arg-type]
    trainer.fit(BoringModule(val_values=values), loader(2), loader(1))
    return trainer


def test_patience_counts_checks_and_sets_state() -> None:
    es = EarlyStopping("val_loss", patience=2)
    trainer = _fit(es, [3.0, 2.0, 2.5, 2.4, 1.0, 0.5])
    # improvement at 0,1; no improvement at 2 and 3 -> stop at epoch 3
    assert trainer.current_epoch == 4
    assert es.stopped_epoch == 3
    assert es.wait_count == 2
    assert es.best_score.item() == pytest.approx(2.0)
    assert es.stopping_reason is EarlyStoppingReason.PATIENCE_EXHAUSTED
    assert (
        es.stopping_reason_message is not None
        and "did not improve in the last 2 records" in es.stopping_reason_message
    )
    # one decision reduced per check, with all=False (any rank may stop)
    assert trainer.strategy.reduce_calls == [(False, False), (False, False), (False, False), (True, False)]


def test_mode_max_and_min_delta_sign() -> None:
    es = EarlyStopping("val_loss", mode="max", min_delta=0.5, patience=1)
    assert es.min_delta == 0.5
    trainer = _fit(es, [1.0, 1.4, 3.0], max_epochs=3)
    # 1.4 - 0.5 is not > 1.0 -> no improvement -> stop after the second check
    assert trainer.current_epoch == 2
    assert es.best_score.item() == pytest.approx(1.0)
    assert EarlyStopping("val_loss", mode="min", min_delta=0.5).min_delta == -0.5


def test_stopping_and_divergence_thresholds() -> None:
    es = EarlyStopping("val_loss", stopping_threshold=1.0, patience=10)
    _fit(es, [3.0, 2.0, 0.9, 0.8])
    assert es.stopping_reason is EarlyStoppingReason.STOPPING_THRESHOLD
    assert es.stopped_epoch == 2
    assert "Stopping threshold reached: val_loss = 0.8999" in (es.stopping_reason_message or "")

    es = EarlyStopping("val_loss", divergence_threshold=5.0, patience=10)
    _fit(es, [3.0, 6.0, 1.0])
    assert es.stopping_reason is EarlyStoppingReason.DIVERGENCE_THRESHOLD
    assert es.stopped_epoch == 1


def test_check_finite() -> None:
    es = EarlyStopping("val_loss", patience=10)
    _fit(es, [3.0, math.nan, 1.0])
    assert es.stopping_reason is EarlyStoppingReason.NON_FINITE_METRIC
    assert es.stopped_epoch == 1
    es = EarlyStopping("val_loss", patience=10, check_finite=False)
    trainer = _fit(es, [3.0, math.nan, 1.0])
    assert trainer.current_epoch == 3 and es.stopping_reason is EarlyStoppingReason.NOT_STOPPED


def test_strict_missing_metric_lists_available() -> None:
    es = EarlyStopping("val_acc")
    with pytest.raises(RuntimeError, match=r"`val_acc` which is not available.*`loss`, `val_loss`"):
        _fit(es, [1.0])
    es = EarlyStopping("val_acc", strict=False)
    trainer = _fit(es, [1.0, 2.0, 3.0])
    assert trainer.current_epoch == 3 and es.wait_count == 0


def test_check_on_train_epoch_end_resolution() -> None:
    es = EarlyStopping("val_loss")
    trainer = FakeTrainer([es])
    es.setup(trainer, BoringModule(), TrainerFn.FITTING)
    assert es._check_on_train_epoch_end is True
    es = EarlyStopping("val_loss")
    trainer = FakeTrainer([es], check_val_every_n_epoch=2)
    es.setup(trainer, BoringModule(), TrainerFn.FITTING)
    assert es._check_on_train_epoch_end is False


def test_check_at_validation_end_and_skip_sanity_check() -> None:
    calls: list[str] = []

    class Spy(EarlyStopping):
        def _run_early_stopping_check(self, trainer: object) -> None:
            calls.append(trainer.state.stage.value)  # type: ignore[attr-defined]
            super()._run_early_stopping_check(trainer)  # type: ignore[arg-type]

    es = Spy("val_loss", check_on_train_epoch_end=False)
    _fit(es, [1.0, 0.5], num_sanity_val_steps=1)
    assert calls == ["validate", "validate"]
    es = Spy("val_loss", check_on_train_epoch_end=True)
    calls.clear()
    _fit(es, [1.0, 0.5], num_sanity_val_steps=1)
    assert calls == ["train", "train"]


def test_fast_dev_run_disables() -> None:
    es = EarlyStopping("val_loss", patience=0)
    trainer = _fit(es, [1.0, 2.0], fast_dev_run=True)
    assert trainer.current_epoch == 2 and es.wait_count == 0


def test_state_dict_roundtrip_and_resume() -> None:
    es = EarlyStopping("val_loss", patience=3)
    trainer = _fit(es, [3.0, 2.0, 2.5])
    ckpt = trainer.save_checkpoint()
    key = "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
    assert es.state_key == key
    state = ckpt["callbacks"][key]
    assert set(state) == {"wait_count", "stopped_epoch", "best_score", "patience", "stopping_reason",
                          "stopping_reason_message"}  # fmt: skip
    assert state["wait_count"] == 1 and state["stopping_reason"] == 0
    resumed = EarlyStopping("val_loss", patience=3)
    trainer2 = FakeTrainer([resumed], max_epochs=10)
    trainer2.fit(BoringModule(val_values=[2.6, 2.7, 2.8, 2.9]), loader(2), loader(1), ckpt=ckpt)
    # wait_count continues from 1: two more bad checks exhaust patience 3
    assert resumed.stopped_epoch == 4
    assert resumed.stopping_reason is EarlyStoppingReason.PATIENCE_EXHAUSTED


def test_invalid_arguments() -> None:
    with pytest.raises(MisconfigurationException, match="'min', 'max'"):
        EarlyStopping("x", mode="avg")
    with pytest.raises(MisconfigurationException, match="patience"):
        EarlyStopping("x", patience=-1)


def _expected_stop(values: list[float], patience: int, min_delta: float, mode: str,
                   stop_thr: float | None, div_thr: float | None) -> int | None:  # fmt: skip
    """Direct computation of the check index at which training stops (None: never)."""
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    delta = -min_delta if mode == "min" else min_delta
    best = math.inf if mode == "min" else -math.inf
    wait = 0
    for i, v in enumerate(values):
        v = float(torch.tensor(v, dtype=torch.float32))
        if not math.isfinite(v):
            return i
        if stop_thr is not None and better(v, stop_thr):
            return i
        if div_thr is not None and better(-v, -div_thr):
            return i
        if better(float(torch.tensor(v) - delta), best):
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                return i
    return None


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.floats(-10, 10, allow_nan=False, width=32) | st.just(math.inf), min_size=1, max_size=12
    ),
    patience=st.integers(1, 4),
    min_delta=st.sampled_from([0.0, 0.25, 1.0]),
    mode=st.sampled_from(["min", "max"]),
    stop_thr=st.none() | st.floats(-9, 9, width=32),
    div_thr=st.none() | st.floats(-9, 9, width=32),
)
def test_stops_exactly_when_direct_computation_says(
    values: list[float],
    patience: int,
    min_delta: float,
    mode: str,
    stop_thr: float | None,
    div_thr: float | None,
) -> None:
    es = EarlyStopping(
        "val_loss", patience=patience, min_delta=min_delta, mode=mode, stopping_threshold=stop_thr,
        divergence_threshold=div_thr,
    )  # fmt: skip
    trainer = _fit(es, values)
    expected = _expected_stop(values, patience, min_delta, mode, stop_thr, div_thr)
    if expected is None:
        assert trainer.current_epoch == len(values)
        assert es.stopping_reason is EarlyStoppingReason.NOT_STOPPED
    else:
        assert trainer.current_epoch == expected + 1
        assert es.stopped_epoch == expected
        assert es.stopping_reason is not EarlyStoppingReason.NOT_STOPPED
