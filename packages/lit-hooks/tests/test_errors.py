from __future__ import annotations

import pickle

import pytest

from lit_hooks import (
    ExitGracefullyException,
    LightningDeprecationWarning,
    LitError,
    MisconfigurationError,
    MisconfigurationException,
    MissingExtraError,
    PossibleUserWarning,
)


def test_misconfiguration_is_a_lit_value_error() -> None:
    assert MisconfigurationError is MisconfigurationException
    with pytest.raises(ValueError, match="bad flag"):
        raise MisconfigurationException("bad flag")
    assert issubclass(MisconfigurationException, LitError)


def test_missing_extra_error_names_the_extra_and_keeps_its_fields() -> None:
    err = MissingExtraError("TensorBoardLogger", "tensorboard", "tensorboard", "lit-loggers")
    assert str(err) == (
        "`TensorBoardLogger` requires `tensorboard`, which is not installed."
        " Install it with `pip install 'lit-loggers[tensorboard]'`."
    )
    assert isinstance(err, ImportError) and isinstance(err, LitError)
    assert (err.feature, err.requirement, err.extra, err.distribution) == (
        "TensorBoardLogger",
        "tensorboard",
        "tensorboard",
        "lit-loggers",
    )
    with pytest.raises(ImportError, match=r"pip install 'lit-strategies\[deepspeed\]'"):
        raise MissingExtraError("DeepSpeedStrategy", "deepspeed>=0.14", "deepspeed", "lit-strategies")


def test_missing_extra_error_survives_pickling() -> None:
    err = MissingExtraError("MLFlowLogger", "mlflow", "mlflow", "lit-loggers")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is MissingExtraError
    assert str(clone) == str(err)
    assert clone.extra == "mlflow"


def test_warning_categories() -> None:
    assert issubclass(PossibleUserWarning, UserWarning)
    assert issubclass(LightningDeprecationWarning, DeprecationWarning)
    assert issubclass(ExitGracefullyException, LitError)
    assert not issubclass(ExitGracefullyException, ValueError)
