"""The abstract Logger, rank-zero experiments, DummyLogger and the public API."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

import lit_loggers
from lit_hooks import LoggerProtocol, rank_zero_only
from lit_loggers import (
    CSVLogger,
    DummyExperiment,
    DummyLogger,
    Logger,
    TensorBoardLogger,
    rank_zero_experiment,
)


class ListLogger(Logger):
    """A minimal user logger: only the abstract members."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, dict]] = []
        self.params: dict = {}
        self.statuses: list[str] = []
        self.saves = 0

    @property
    def name(self) -> str:
        return "list"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics, step=None):
        self.rows.append((step, dict(metrics)))

    def log_hyperparams(self, params, *args, **kwargs):
        self.params.update(params)

    def save(self):
        self.saves += 1

    def finalize(self, status):
        self.statuses.append(status)
        super().finalize(status)


@pytest.fixture
def rank(monkeypatch):
    def set_rank(value: int) -> None:
        monkeypatch.setattr(rank_zero_only, "rank", value)

    return set_rank


def test_public_api_snapshot():
    assert sorted(lit_loggers.__all__) == [
        "CSVLogger",
        "CometLogger",
        "DummyExperiment",
        "DummyLogger",
        "ExperimentWriter",
        "Logger",
        "MLFlowLogger",
        "NeptuneLogger",
        "TensorBoardLogger",
        "WandbLogger",
        "rank_zero_experiment",
    ]


def test_logger_is_abstract_and_defaults_match_lightning():
    with pytest.raises(TypeError, match="abstract"):
        Logger()  # type: ignore[abstract]
    logger = ListLogger()
    assert (logger.root_dir, logger.log_dir, logger.save_dir) == (None, None, None)
    assert logger.group_separator == "/"
    assert logger.experiment is None
    assert logger.log_graph(object()) is None
    assert logger.after_save_checkpoint(object()) is None
    logger.finalize("success")
    assert logger.saves == 1  # the default finalize saves
    assert isinstance(logger, LoggerProtocol)


def test_experiment_may_be_assigned_by_subclasses():
    logger = ListLogger()
    logger.experiment = "client"
    assert logger.experiment == "client"


def test_context_manager_finalizes_with_success_or_failed():
    with ListLogger() as logger:
        logger.log_metrics({"a": 1.0}, step=0)
    assert logger.statuses == ["success"]
    failing = ListLogger()
    with pytest.raises(RuntimeError, match="boom"):
        with failing:
            raise RuntimeError("boom")
    assert failing.statuses == ["failed"]


def test_every_logger_class_satisfies_the_protocol(tmp_path):
    for logger in (ListLogger(), DummyLogger(), CSVLogger(tmp_path), TensorBoardLogger(tmp_path)):
        assert isinstance(logger, LoggerProtocol), type(logger).__name__


def test_rank_zero_experiment_gives_a_dummy_on_other_ranks(rank):
    calls = []

    class Owner:
        @property
        @rank_zero_experiment
        def experiment(self):
            calls.append(1)
            return "real"

    assert Owner().experiment == "real"
    rank(1)
    experiment = Owner().experiment
    assert isinstance(experiment, DummyExperiment)
    assert calls == [1]
    # the dummy swallows everything
    assert experiment.add_scalar("x", 1) is None
    assert experiment[0].anything(1, k=2) is None
    experiment["k"] = 3
    assert experiment() is None


def test_dummy_experiment_does_not_fake_dunder_protocols():
    experiment = DummyExperiment()
    assert copy.deepcopy(experiment) is not experiment
    assert pickle.loads(pickle.dumps(experiment)) is not None
    with pytest.raises(AttributeError):
        experiment.__len__  # noqa: B018


def test_dummy_logger_accepts_any_call():
    logger = DummyLogger()
    assert (logger.name, logger.version) == ("", "")
    assert isinstance(logger.experiment, DummyExperiment)
    assert logger.log_metrics({"a": 1}, step=1) is None
    assert logger.log_hyperparams({"a": 1}) is None
    assert logger.whatever(1, 2, x=3) is None
    assert logger[0] is logger
    assert copy.copy(logger) is not logger
    logger.finalize("success")
    assert isinstance(pickle.loads(pickle.dumps(logger)), DummyLogger)


def test_loggers_write_nothing_on_other_ranks(tmp_path, rank):
    rank(1)
    csv = CSVLogger(tmp_path, name="csv")
    tb = TensorBoardLogger(tmp_path, name="tb")
    for logger in (csv, tb):
        logger.log_hyperparams({"lr": 0.1})
        logger.log_metrics({"loss": 1.0}, step=0)
        logger.save()
        logger.finalize("success")
        assert isinstance(logger.experiment, DummyExperiment)
    assert list(tmp_path.iterdir()) == []
