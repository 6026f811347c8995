"""Timer: measure time per stage and stop fitting after a time budget."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

from lit_hooks import Callback, MisconfigurationException, RunningStage, rank_zero_info

log = logging.getLogger(__name__)

_INTERVALS = ("step", "epoch")


def _parse_duration(duration: str | timedelta | dict[str, int] | None) -> float | None:
    """Turn a ``"DD:HH:MM:SS"`` string, a ``timedelta`` or ``timedelta`` kwargs into seconds."""
    if duration is None:
        return None
    if isinstance(duration, str):
        match = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", duration.strip())
        if not match:
            raise MisconfigurationException(
                f"`Timer(duration={duration!r})` is not a valid duration. Expected a string in the format "
                "DD:HH:MM:SS, e.g. `'00:12:00:00'` for twelve hours."
            )
        days, hours, minutes, seconds = (int(g) for g in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    elif isinstance(duration, dict):
        try:
            duration = timedelta(**duration)
        except TypeError as err:
            raise MisconfigurationException(
                f"`Timer(duration={duration!r})` is not a valid dict of `datetime.timedelta` arguments "
                "(days, seconds, microseconds, milliseconds, minutes, hours, weeks)."
            ) from err
    if not isinstance(duration, timedelta):
        raise TypeError(
            f"`Timer(duration={duration!r})` has an unsupported type. Pass a 'DD:HH:MM:SS' string, a "
            "`datetime.timedelta` or a dict such as `{'hours': 1}`."
        )
    return duration.total_seconds()


class Timer(Callback):
    """Track the time spent in training, validation and testing, and stop fitting when a duration is reached.

    Args:
        duration: Maximum training time as a ``"DD:HH:MM:SS"`` string, a ``datetime.timedelta`` or a dict of
            ``timedelta`` keyword arguments. ``None`` only measures time.
        interval: Check the time after every training ``"step"`` or every ``"epoch"``.
        verbose: Log a message when the time limit is reached.

    Example:
        >>> timer = Timer(duration={"hours": 1})
        >>> timer.time_remaining()
        3600.0
    """

    def __init__(
        self,
        duration: str | timedelta | dict[str, int] | None = None,
        interval: str = "step",
        verbose: bool = True,
    ) -> None:
        super().__init__()
        if interval not in _INTERVALS:
            raise MisconfigurationException(
                f"Unsupported parameter value `Timer(interval={interval!r})`. Possible choices are: "
                f"{', '.join(repr(i) for i in _INTERVALS)}"
            )
        self._duration = _parse_duration(duration)
        self._interval = str(interval)
        self._verbose = verbose
        self._start_time: dict[RunningStage, float | None] = dict.fromkeys(RunningStage)
        self._end_time: dict[RunningStage, float | None] = dict.fromkeys(RunningStage)
        self._offset = 0.0

    def start_time(self, stage: str = RunningStage.TRAINING) -> float | None:
        """Monotonic time at which ``stage`` last started, or ``None``."""
        return self._start_time[RunningStage(stage)]

    def end_time(self, stage: str = RunningStage.TRAINING) -> float | None:
        """Monotonic time at which ``stage`` last ended, or ``None``."""
        return self._end_time[RunningStage(stage)]

    def time_elapsed(self, stage: str = RunningStage.TRAINING) -> float:
        """Seconds spent in ``stage`` (training includes time restored from a checkpoint)."""
        stage = RunningStage(stage)
        start = self._start_time[stage]
        end = self._end_time[stage]
        offset = self._offset if stage == RunningStage.TRAINING else 0.0
        if start is None:
            return offset
        if end is None:
            return time.monotonic() - start + offset
        return end - start + offset

    def time_remaining(self, stage: str = RunningStage.TRAINING) -> float | None:
        """Seconds left of ``duration`` in ``stage``, or ``None`` without a duration."""
        if self._duration is None:
            return None
        return self._duration - self.time_elapsed(stage)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.TRAINING] = time.monotonic()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.TRAINING] = time.monotonic()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.VALIDATING] = time.monotonic()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.VALIDATING] = time.monotonic()

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._start_time[RunningStage.TESTING] = time.monotonic()

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._end_time[RunningStage.TESTING] = time.monotonic()

    def on_fit_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._interval == "step" and self._duration is not None:
            self._check_time_remaining(trainer)

    def on_train_epoch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self._interval == "epoch" and self._duration is not None:
            self._check_time_remaining(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"time_elapsed": {stage.value: self.time_elapsed(stage) for stage in RunningStage}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        elapsed = state_dict.get("time_elapsed", {})
        self._offset = elapsed.get(RunningStage.TRAINING.value, 0.0)

    def _check_time_remaining(self, trainer: Any) -> None:
        duration = self._duration
        if duration is None:
            return
        should_stop = self.time_elapsed() >= duration
        should_stop = bool(trainer.strategy.broadcast(should_stop))
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop and self._verbose:
            elapsed = timedelta(seconds=int(self.time_elapsed(RunningStage.TRAINING)))
            rank_zero_info(f"Time limit reached. Elapsed time is {elapsed}. Signaling Trainer to stop.")
