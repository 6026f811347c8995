"""String enums of the Lightning-compatible API (trainer functions, stages, status, clipping algorithms)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum
from typing import Literal

__all__ = [
    "GradClipAlgorithmType",
    "LightningEnum",
    "RunningStage",
    "TrainerFn",
    "TrainerState",
    "TrainerStatus",
]


class LightningEnum(str, Enum):
    """A ``str`` enum that compares equal to its value, ignoring case.

    ``TrainerFn.FITTING == "fit"`` and ``"FIT" == TrainerFn.FITTING`` are both true, and the hash is the hash of
    the lower-cased value, so members and plain strings find the same ``dict`` entries.

    Example:
        >>> class Mode(LightningEnum):
        ...     FAST = "fast"
        >>> Mode.FAST == "FAST", Mode.from_str("fast") is Mode.FAST
        (True, True)
    """

    @classmethod
    def from_str(cls, value: str, source: Literal["key", "value", "any"] = "key") -> LightningEnum:
        """Return the member whose name (``source="key"``), value (``"value"``) or either (``"any"``) matches.

        Matching ignores case; with ``source="any"`` names are tried first. For convenience, the default
        ``source="key"`` also falls back to values, so ``TrainerFn.from_str("fit")`` works.

        Raises:
            ValueError: If nothing matches; the message lists the accepted strings.
        """
        if source not in ("key", "value", "any"):
            raise ValueError(f"`source` must be one of 'key', 'value' or 'any', but got {source!r}.")
        lowered = str(value).lower()
        if source in ("key", "any"):
            for name, member in cls.__members__.items():
                if name.lower() == lowered:
                    return member
        for member in cls.__members__.values():
            if member.value.lower() == lowered:
                return member
        raise ValueError(
            f"{value!r} is not a valid {cls.__name__}. Expected one of {cls._allowed_matches(source)}"
            " (case-insensitive)."
        )

    @classmethod
    def _missing_(cls, value: object) -> LightningEnum | None:
        # ``TrainerFn("FIT")``: value lookup ignoring case
        if isinstance(value, str):
            lowered = value.lower()
            for member in cls.__members__.values():
                if member.value.lower() == lowered:
                    return member
        return None

    @classmethod
    def try_from_str(cls, value: str, source: Literal["key", "value", "any"] = "key") -> LightningEnum | None:
        """Like :meth:`from_str` but warn and return ``None`` when nothing matches."""
        try:
            return cls.from_str(value, source)
        except ValueError as err:
            warnings.warn(str(err), UserWarning, stacklevel=2)
            return None

    @classmethod
    def _allowed_matches(cls, source: str) -> list[str]:
        keys = list(cls.__members__)
        values = [member.value for member in cls.__members__.values()]
        if source == "key":
            return keys + [v for v in values if v not in keys]
        if source == "value":
            return values
        return keys + values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Enum):
            other = other.value
        if not isinstance(other, str):
            return False
        return self.value.lower() == other.lower()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.value.lower())


class TrainerFn(LightningEnum):
    """The user-facing entry point that is running: ``fit``, ``validate``, ``test`` or ``predict``."""

    FITTING = "fit"
    VALIDATING = "validate"
    TESTING = "test"
    PREDICTING = "predict"


class RunningStage(LightningEnum):
    """The stage the loops are in. ``fit`` runs ``sanity_check``, ``train`` and ``validate`` stages."""

    TRAINING = "train"
    SANITY_CHECKING = "sanity_check"
    VALIDATING = "validate"
    TESTING = "test"
    PREDICTING = "predict"

    @property
    def evaluating(self) -> bool:
        """Whether this stage runs an evaluation loop (sanity check, validation or test)."""
        return self in (RunningStage.VALIDATING, RunningStage.TESTING, RunningStage.SANITY_CHECKING)

    @property
    def dataloader_prefix(self) -> str | None:
        """The prefix of the data-loader hook of this stage: ``"train"``, ``"val"``, ``"test"`` or ``"predict"``."""
        if self in (RunningStage.VALIDATING, RunningStage.SANITY_CHECKING):
            return "val"
        return self.value


class TrainerStatus(LightningEnum):
    """The life-cycle status of a trainer."""

    INITIALIZING = "initializing"
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"

    @property
    def stopped(self) -> bool:
        """Whether the run is over, normally or not."""
        return self in (TrainerStatus.FINISHED, TrainerStatus.INTERRUPTED)


class GradClipAlgorithmType(LightningEnum):
    """How gradients are clipped: by global ``norm`` or element-wise by ``value``."""

    VALUE = "value"
    NORM = "norm"

    @staticmethod
    def supported_type(val: str) -> bool:
        """Whether ``val`` names a clipping algorithm."""
        return any(x.value == val for x in GradClipAlgorithmType)

    @staticmethod
    def supported_types() -> list[str]:
        """The accepted algorithm names."""
        return [x.value for x in GradClipAlgorithmType]


@dataclass
class TrainerState:
    """What a trainer is doing: its ``status``, the running function ``fn`` and the current ``stage``.

    Args:
        status: The life-cycle status.
        fn: The running entry point, or ``None`` outside of one.
        stage: The current stage, or ``None`` outside of a loop.
    """

    status: TrainerStatus = TrainerStatus.INITIALIZING
    fn: TrainerFn | None = None
    stage: RunningStage | None = None

    @property
    def finished(self) -> bool:
        """Whether the last run finished normally."""
        return self.status == TrainerStatus.FINISHED

    @property
    def stopped(self) -> bool:
        """Whether the last run is over, normally or not."""
        return self.status.stopped
