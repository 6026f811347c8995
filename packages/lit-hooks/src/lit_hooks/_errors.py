"""Error and warning types shared by every ``lit`` package.

Every exception raised on purpose by a ``lit`` library derives from :class:`LitError`, so callers can catch the
whole family with one ``except`` clause while still matching the built-in category (``ValueError``,
``ImportError``) that the error belongs to.
"""

from __future__ import annotations

__all__ = [
    "ExitGracefullyException",
    "LightningDeprecationWarning",
    "LitError",
    "MisconfigurationError",
    "MisconfigurationException",
    "MissingExtraError",
    "PossibleUserWarning",
]


class LitError(Exception):
    """Base class of every error raised on purpose by the ``lit`` packages."""


class MisconfigurationException(LitError, ValueError):
    """Raised when the user combined arguments, hooks or objects in a way that cannot work.

    The message says what was passed, what was expected and how to fix it. The name is kept for compatibility
    with code written for PyTorch Lightning; :data:`MisconfigurationError` is an alias.
    """


MisconfigurationError = MisconfigurationException


class MissingExtraError(LitError, ImportError):
    """Raised when an optional third-party back-end is needed but not installed.

    Args:
        feature: The class or function that needs the back-end, e.g. ``"TensorBoardLogger"``.
        requirement: The missing requirement, e.g. ``"tensorboard"`` or ``"deepspeed>=0.14"``.
        extra: The pip extra of ``distribution`` that installs it, e.g. ``"tensorboard"``.
        distribution: The ``lit`` distribution that declares the extra, e.g. ``"lit-loggers"``.

    Example:
        >>> err = MissingExtraError("TensorBoardLogger", "tensorboard", "tensorboard", "lit-loggers")
        >>> print(err)
        `TensorBoardLogger` requires `tensorboard`, which is not installed. Install it with `pip install 'lit-loggers[tensorboard]'`.
    """

    def __init__(self, feature: str, requirement: str, extra: str, distribution: str) -> None:
        self.feature = feature
        self.requirement = requirement
        self.extra = extra
        self.distribution = distribution
        message = (
            f"`{feature}` requires `{requirement}`, which is not installed."
            f" Install it with `pip install '{distribution}[{extra}]'`."
        )
        super().__init__(message)

    def __reduce__(self) -> tuple[type[MissingExtraError], tuple[str, str, str, str]]:
        # keep the error picklable (it may cross process boundaries in spawned workers)
        return type(self), (self.feature, self.requirement, self.extra, self.distribution)


class ExitGracefullyException(LitError):
    """Raised (for example from a signal handler) to stop a run cleanly: state is saved, hooks run, no traceback."""


class PossibleUserWarning(UserWarning):
    """Warning for a setting that is allowed but is probably not what the user meant."""


class LightningDeprecationWarning(DeprecationWarning):
    """Warning for a deprecated argument, attribute or behaviour of the Lightning-compatible API."""
