"""Loop progress trackers whose ``state_dict()`` matches the ``loops`` entries of Lightning 2.6 checkpoints.

A tracker counts how many events were ``ready`` (about to run), ``started``, ``processed`` and ``completed``; the
counters are increased in that order. On restart after a failure, the counters of the interrupted event are
rolled back to the last completed value (:meth:`reset_on_restart`). :class:`Progress` pairs a ``total`` tracker
(never reset during a run) with a ``current`` tracker (reset at the start of each run/epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = [
    "BaseProgress",
    "BatchProgress",
    "OptimizationProgress",
    "OptimizerProgress",
    "ProcessedTracker",
    "Progress",
    "ReadyCompletedTracker",
    "SchedulerProgress",
    "StartedTracker",
]

_P = TypeVar("_P", bound="BaseProgress")


@dataclass
class BaseProgress:
    """Shared ``state_dict``/``load_state_dict`` plumbing of the progress dataclasses."""

    def state_dict(self) -> dict[str, Any]:
        """Return the state as nested plain dictionaries (field order preserved)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.state_dict() if isinstance(value, BaseProgress) else value
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`; missing keys keep their current value."""
        for f in fields(self):
            if f.name not in state_dict:
                continue
            current = getattr(self, f.name)
            if isinstance(current, BaseProgress):
                current.load_state_dict(state_dict[f.name])
            else:
                setattr(self, f.name, state_dict[f.name])

    @classmethod
    def from_state_dict(cls: type[_P], state_dict: dict[str, Any]) -> _P:
        """Build an instance with default values, then load ``state_dict`` into it."""
        obj = cls()
        obj.load_state_dict(state_dict)
        return obj

    def reset(self) -> None:
        """Set every counter back to zero."""
        raise NotImplementedError(f"{type(self).__name__} does not implement `reset`.")


@dataclass
class ReadyCompletedTracker(BaseProgress):
    """Counts events that are ``ready`` to run and events that ``completed``.

    Args:
        ready: Incremented when the event is about to run.
        completed: Incremented after the event finished (e.g. after its ``on_*_end`` hook).
    """

    ready: int = 0
    completed: int = 0

    def reset(self) -> None:
        self.ready = 0
        self.completed = 0

    def reset_on_restart(self) -> None:
        """Roll an interrupted event back: every counter becomes ``completed``."""
        self.ready = self.completed

    def increment_by(self, n: int) -> None:
        """Count ``n`` events that fully completed (used when fast-forwarding)."""
        self.ready += n
        self.completed += n

    def increment_ready(self) -> None:
        self.ready += 1

    def increment_completed(self) -> None:
        self.completed += 1


@dataclass
class StartedTracker(ReadyCompletedTracker):
    """Adds a ``started`` counter, incremented after the event's ``on_*_start`` hook.

    Args:
        ready: Incremented when the event is about to run.
        completed: Incremented after the event finished.
        started: Incremented after the event started.
    """

    started: int = 0

    def reset(self) -> None:
        super().reset()
        self.started = 0

    def reset_on_restart(self) -> None:
        super().reset_on_restart()
        self.started = self.completed

    def increment_by(self, n: int) -> None:
        super().increment_by(n)
        self.started += n

    def increment_started(self) -> None:
        self.started += 1


@dataclass
class ProcessedTracker(StartedTracker):
    """Adds a ``processed`` counter, incremented once the event's main work is done.

    Args:
        ready: Incremented when the event is about to run.
        completed: Incremented after the event finished.
        started: Incremented after the event started.
        processed: Incremented after the event was processed.
    """

    processed: int = 0

    def reset(self) -> None:
        super().reset()
        self.processed = 0

    def reset_on_restart(self) -> None:
        super().reset_on_restart()
        self.processed = self.completed

    def increment_by(self, n: int) -> None:
        super().increment_by(n)
        self.processed += n

    def increment_processed(self) -> None:
        self.processed += 1


@dataclass
class Progress(BaseProgress):
    """A ``total`` and a ``current`` tracker of the same class, incremented together.

    Args:
        total: Counts over the whole run (kept across epochs and restarts).
        current: Counts within the current run/epoch.
    """

    total: ReadyCompletedTracker = field(default_factory=ProcessedTracker)
    current: ReadyCompletedTracker = field(default_factory=ProcessedTracker)

    def __post_init__(self) -> None:
        if type(self.total) is not type(self.current):  # noqa: E721
            raise ValueError(
                f"`total` and `current` must be trackers of the same class, but got {type(self.total).__name__}"
                f" and {type(self.current).__name__}."
            )

    def increment_ready(self) -> None:
        self.total.ready += 1
        self.current.ready += 1

    def increment_started(self) -> None:
        if not isinstance(self.total, StartedTracker):
            raise TypeError(f"`{type(self.total).__name__}` has no `started` counter.")
        self.total.started += 1
        self.current.started += 1  # type: ignore[attr-defined]

    def increment_processed(self) -> None:
        if not isinstance(self.total, ProcessedTracker):
            raise TypeError(f"`{type(self.total).__name__}` has no `processed` counter.")
        self.total.processed += 1
        self.current.processed += 1  # type: ignore[attr-defined]

    def increment_completed(self) -> None:
        self.total.completed += 1
        self.current.completed += 1

    def increment_by(self, n: int) -> None:
        self.total.increment_by(n)
        self.current.increment_by(n)

    @classmethod
    def from_defaults(cls: type[_P], tracker_cls: type[ReadyCompletedTracker], **kwargs: int) -> _P:
        """Build ``cls(total=tracker_cls(**kwargs), current=tracker_cls(**kwargs))``."""
        return cls(total=tracker_cls(**kwargs), current=tracker_cls(**kwargs))  # type: ignore[call-arg]

    def reset(self) -> None:
        self.total.reset()
        self.current.reset()

    def reset_on_run(self) -> None:
        """Reset the ``current`` counters at the start of a run/epoch."""
        self.current.reset()

    def reset_on_restart(self) -> None:
        """Roll the ``current`` counters of an interrupted event back to the last completed value."""
        self.current.reset_on_restart()


@dataclass
class BatchProgress(Progress):
    """Batch counters of a loop, plus whether the last fetched batch is the final one of the epoch.

    Args:
        total: Counts over the whole run.
        current: Counts within the current epoch.
        is_last_batch: Whether the current batch is the last one (known in advance for iterable datasets).
    """

    is_last_batch: bool = False

    def reset(self) -> None:
        super().reset()
        self.is_last_batch = False

    def reset_on_run(self) -> None:
        super().reset_on_run()
        self.is_last_batch = False

    def increment_by(self, n: int, is_last_batch: bool = False) -> None:  # type: ignore[override]
        super().increment_by(n)
        self.is_last_batch = is_last_batch


@dataclass
class SchedulerProgress(Progress):
    """Learning-rate scheduler step counters (``ready``/``completed`` only).

    Args:
        total: Counts over the whole run.
        current: Counts within the current epoch.
    """

    total: ReadyCompletedTracker = field(default_factory=ReadyCompletedTracker)
    current: ReadyCompletedTracker = field(default_factory=ReadyCompletedTracker)


def _step_progress() -> Progress:
    return Progress.from_defaults(ReadyCompletedTracker)


def _zero_grad_progress() -> Progress:
    return Progress.from_defaults(StartedTracker)


@dataclass
class OptimizerProgress(BaseProgress):
    """Counters of ``optimizer.step`` and ``optimizer.zero_grad`` calls.

    Args:
        step: ``ready``/``completed`` counters of optimizer steps.
        zero_grad: ``ready``/``started``/``completed`` counters of gradient zeroing.
    """

    step: Progress = field(default_factory=_step_progress)
    zero_grad: Progress = field(default_factory=_zero_grad_progress)

    def reset(self) -> None:
        self.step.reset()
        self.zero_grad.reset()

    def reset_on_run(self) -> None:
        self.step.reset_on_run()
        self.zero_grad.reset_on_run()

    def reset_on_restart(self) -> None:
        self.step.reset_on_restart()
        self.zero_grad.reset_on_restart()


@dataclass
class OptimizationProgress(BaseProgress):
    """Optimization counters of automatic optimization.

    Args:
        optimizer: The optimizer step and zero-grad counters.
    """

    optimizer: OptimizerProgress = field(default_factory=OptimizerProgress)

    @property
    def optimizer_steps(self) -> int:
        """The number of completed optimizer steps over the whole run."""
        return self.optimizer.step.total.completed

    def reset(self) -> None:
        self.optimizer.reset()

    def reset_on_run(self) -> None:
        self.optimizer.reset_on_run()

    def reset_on_restart(self) -> None:
        self.optimizer.reset_on_restart()
