"""RichProgressBar: progress bars drawn with rich, with a themed metrics column."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from lit_callbacks._progress_bar import ProgressBar, _to_python
from lit_callbacks._trainer_access import fn_value
from lit_hooks import MissingExtraError

T = TypeVar("T")


def _require_rich(what: str) -> None:
    try:
        import rich  # pants: no-infer-dep  # noqa: F401
    except ImportError as err:
        raise MissingExtraError(what, "rich", "rich", "lit-callbacks") from err


@dataclass
class RichProgressBarTheme:
    """Styles of the :class:`RichProgressBar` (any rich style string or ``rich.style.Style``).

    Args:
        description: Style of the bar descriptions.
        progress_bar: Style of the bar while running.
        progress_bar_finished: Style of a finished bar.
        progress_bar_pulse: Style of a bar with an unknown total.
        batch_progress: Style of the ``n/total`` column.
        time: Style of the elapsed/remaining column.
        processing_speed: Style of the ``it/s`` column.
        metrics: Style of the metrics column.
        metrics_text_delimiter: Separator between metrics.
        metrics_format: Format spec of float metrics (integers and strings are shown as they are).
    """

    description: Any = ""
    progress_bar: Any = "#6206E0"
    progress_bar_finished: Any = "#6206E0"
    progress_bar_pulse: Any = "#6206E0"
    batch_progress: Any = ""
    time: Any = "dim"
    processing_speed: Any = "dim underline"
    metrics: Any = "italic"
    metrics_text_delimiter: str = " "
    metrics_format: str = ".3f"


_COLUMNS: dict[str, Any] = {}


def _columns() -> dict[str, Any]:
    """The custom rich columns, defined on first use so that importing this module does not import rich."""
    if _COLUMNS:
        return _COLUMNS
    from rich.progress import ProgressColumn  # pants: no-infer-dep
    from rich.text import Text  # pants: no-infer-dep

    class BatchesProcessedColumn(ProgressColumn):
        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Any:
            total = "--" if task.total is None or not math.isfinite(task.total) else int(task.total)
            return Text(f"{int(task.completed)}/{total}", style=self.style)

    class TimeColumn(ProgressColumn):
        max_refresh = 0.5

        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Any:
            elapsed = task.finished_time if task.finished else task.elapsed
            remaining = task.time_remaining if task.total is not None and math.isfinite(task.total) else None
            e = "-:--:--" if elapsed is None else str(timedelta(seconds=int(elapsed)))
            r = "-:--:--" if remaining is None else str(timedelta(seconds=int(remaining)))
            return Text(f"{e} • {r}", style=self.style)

    class SpeedColumn(ProgressColumn):
        def __init__(self, style: Any) -> None:
            self.style = style
            super().__init__()

        def render(self, task: Any) -> Any:
            speed = f"{task.speed:>.2f}" if task.speed is not None else "0.00"
            return Text(f"{speed}it/s", style=self.style)

    class MetricsTextColumn(ProgressColumn):
        """Shows the metrics next to the training task only."""

        def __init__(self, bar: RichProgressBar, style: Any, delimiter: str, fmt: str) -> None:
            self._bar = bar
            self._style = style
            self._delimiter = delimiter
            self._format = fmt
            self.metrics: dict[str, Any] = {}
            super().__init__()

        def render(self, task: Any) -> Any:
            if task.id != self._bar.train_progress_bar_id:
                return Text()
            parts = []
            for name, value in self.metrics.items():
                # only floats take the numeric format: an integer (``v_num: 0``) or a string is shown as is
                if isinstance(value, float):
                    try:
                        value = f"{value:{self._format}}"
                    except (TypeError, ValueError):
                        value = str(value)
                parts.append(f"{name}: {value}")
            return Text(self._delimiter.join(parts), justify="left", style=self._style)

    _COLUMNS.update(
        batches=BatchesProcessedColumn, time=TimeColumn, speed=SpeedColumn, metrics=MetricsTextColumn
    )
    return _COLUMNS


class RichProgressBar(ProgressBar):
    """Progress bars drawn with rich: training, sanity check, validation, test and predict tasks.

    The display is refreshed from the training thread (no background thread), at most ``refresh_rate`` times
    per second and always when a bar completes. Metrics are converted to numbers only when the display is
    refreshed.

    Drawing is also throttled so that it takes at most :attr:`max_draw_fraction` of the run time (a redraw can
    cost milliseconds); set the attribute to ``None`` to draw every time a redraw is due.

    Args:
        refresh_rate: Maximum refreshes per second; ``0`` disables the bars.
        leave: Keep one finished training bar per epoch on screen.
        theme: A :class:`RichProgressBarTheme`.
        console_kwargs: Arguments of ``rich.console.Console`` for the console the bars draw on (for example
            ``{"file": stream, "force_terminal": True}``). Without them, rich's global console is used.

    Example:
        >>> bar = RichProgressBar(refresh_rate=10, theme=RichProgressBarTheme(metrics="green"))
        >>> bar.is_enabled
        True
    """

    max_draw_fraction: float | None = 0.03

    def __init__(
        self,
        refresh_rate: int = 100,
        leave: bool = False,
        theme: RichProgressBarTheme | None = None,
        console_kwargs: dict[str, Any] | None = None,
    ) -> None:
        _require_rich("RichProgressBar")
        super().__init__()
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, (int, float)) or refresh_rate < 0:
            raise ValueError(
                f"`RichProgressBar(refresh_rate={refresh_rate!r})` must be a number >= 0 (refreshes per second;"
                " 0 disables the bar)."
            )
        self._refresh_rate = refresh_rate
        self._min_interval = 1.0 / refresh_rate if refresh_rate else math.inf
        self._leave = leave
        self._console: Any = None
        self._console_kwargs = dict(console_kwargs or {})
        self._enabled = True
        self.progress: Any = None
        self.theme = theme if theme is not None else RichProgressBarTheme()
        self._metric_component: Any = None
        self._progress_stopped = False
        self._last_render = -math.inf
        self._wants_metrics = False
        self._pending: dict[Any, int] = {}
        self._budget_until = -math.inf
        self._live_frames = True
        self.train_progress_bar_id: Any = None
        self.val_sanity_progress_bar_id: Any = None
        self.val_progress_bar_id: Any = None
        self.test_progress_bar_id: Any = None
        self.predict_progress_bar_id: Any = None

    @property
    def refresh_rate(self) -> float:
        return self._refresh_rate

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    @property
    def console(self) -> Any:
        """The rich console the bars draw on (``None`` before the first bar)."""
        return self._console

    def _task(self, task_id: Any) -> Any:
        if self.progress is None or task_id is None:
            raise TypeError(f"`{type(self).__name__}`: the requested bar has not been created yet.")
        return self.progress._tasks[task_id]

    @property
    def train_progress_bar(self) -> Any:
        return self._task(self.train_progress_bar_id)

    @property
    def val_sanity_check_bar(self) -> Any:
        return self._task(self.val_sanity_progress_bar_id)

    @property
    def val_progress_bar(self) -> Any:
        return self._task(self.val_progress_bar_id)

    @property
    def test_progress_bar(self) -> Any:
        return self._task(self.test_progress_bar_id)

    @property
    def predict_progress_bar(self) -> Any:
        return self._task(self.predict_progress_bar_id)

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def configure_columns(self, trainer: Any) -> list[Any]:
        """Columns before the metrics column; override to change the layout."""
        from rich.progress import BarColumn, TextColumn  # pants: no-infer-dep

        cols = _columns()
        return [
            TextColumn("[progress.description]{task.description}"),
            BarColumn(
                complete_style=self.theme.progress_bar,
                finished_style=self.theme.progress_bar_finished,
                pulse_style=self.theme.progress_bar_pulse,
            ),
            cols["batches"](style=self.theme.batch_progress),
            cols["time"](style=self.theme.time),
            cols["speed"](style=self.theme.processing_speed),
        ]

    def _init_progress(self, trainer: Any) -> None:
        if not self.is_enabled or (self.progress is not None and not self._progress_stopped):
            return
        from rich.console import Console  # pants: no-infer-dep
        from rich.progress import Progress  # pants: no-infer-dep

        self._reset_progress_bar_ids()
        if self._console is None:
            if self._console_kwargs:
                self._console = Console(**self._console_kwargs)
            else:
                from rich import get_console  # pants: no-infer-dep

                self._console = get_console()
        self._metric_component = _columns()["metrics"](
            self, self.theme.metrics, self.theme.metrics_text_delimiter, self.theme.metrics_format
        )
        self.progress = Progress(
            *self.configure_columns(trainer),
            self._metric_component,
            auto_refresh=False,
            console=self._console,
            disable=self.is_disabled,
        )
        self.progress.start()
        self._progress_stopped = False
        self._last_render = -math.inf
        console = self._console
        # rich shows intermediate frames only on a terminal or in a notebook; a file or a captured stream gets
        # the final frame when the bars stop, so building the others would be wasted work
        self._live_frames = bool(console.is_jupyter or (console.is_terminal and not console.is_dumb_terminal))

    def refresh(self, hard: bool = False, force: bool = False) -> None:
        """Redraw if a redraw is due.

        Redraws happen at most ``refresh_rate`` times per second (``hard`` lifts this limit) and never so often
        that drawing takes more than :attr:`max_draw_fraction` of the run time (``force`` lifts both).
        """
        if self.progress is None or self._progress_stopped or not (force or self._live_frames):
            return
        now = time.monotonic()
        if not force and (
            now < self._budget_until or (not hard and now - self._last_render < self._min_interval)
        ):
            return
        self._last_render = now
        for task_id, completed in self._pending.items():
            self.progress.update(task_id, completed=completed, visible=True)
        self._pending.clear()
        if self._metric_component is not None and self._trainer is not None and self._wants_metrics:
            self._metric_component.metrics = self._pending_metrics()
        self.progress.refresh()
        if self.max_draw_fraction:
            self._budget_until = now + (time.monotonic() - now) / self.max_draw_fraction

    def _pending_metrics(self) -> dict[str, Any]:
        trainer = self.trainer
        return _to_python(self.get_metrics(trainer, getattr(trainer, "lightning_module", None)))

    def _add_task(self, total: float, description: str, visible: bool = True) -> Any:
        if self.theme.description:
            description = f"[{self.theme.description}]{description}"
        total_arg = total if total is not None and math.isfinite(total) else None
        return self.progress.add_task(description, total=total_arg, visible=visible)

    def _hide(self, task_id: Any) -> None:
        if self.progress is not None and task_id is not None:
            completed = self._pending.pop(task_id, None)
            if completed is not None:
                self.progress.update(task_id, completed=completed)
            self.progress.update(task_id, visible=False)

    def _update(self, task_id: Any, current: int) -> None:
        # per batch this costs one clock read; the task is updated and drawn only when a redraw is due
        progress = self.progress
        if progress is None or task_id is None or not self.is_enabled:
            return
        self._pending[task_id] = current
        total = progress._tasks[task_id].total
        if total is not None and current >= total:
            self.refresh(hard=True)
            return
        now = time.monotonic()
        if now >= self._budget_until and now - self._last_render >= self._min_interval:
            self.refresh()

    def _get_train_description(self, current_epoch: int) -> str:
        desc = f"Epoch {current_epoch}"
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs >= 0:
            desc += f"/{max_epochs - 1}"
        if len(self.validation_description) > len(desc):
            desc = f"{desc:{len(self.validation_description)}}"
        return desc

    # -- hooks --------------------------------------------------------------------------------------
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
        self._init_progress(trainer)

    def on_sanity_check_end(self, trainer: Any, pl_module: Any) -> None:
        self._hide(self.val_sanity_progress_bar_id)
        self.refresh(hard=True)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self.is_disabled:
            return
        total = self.total_train_batches
        desc = self._get_train_description(trainer.current_epoch)
        if self.train_progress_bar_id is not None and self._leave:
            self._stop_progress()
            self._init_progress(trainer)
        if self.progress is None:
            return
        total_arg = total if math.isfinite(total) else None
        if self.train_progress_bar_id is None:
            self.train_progress_bar_id = self._add_task(total, desc)
        else:
            self._pending.pop(self.train_progress_bar_id, None)
            self.progress.reset(self.train_progress_bar_id, total=total_arg, description=desc, visible=True)
        self.refresh(hard=True)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.is_disabled:
            return
        if self.train_progress_bar_id is None and self.progress is not None:
            self.train_progress_bar_id = self._add_task(
                self.total_train_batches, self._get_train_description(trainer.current_epoch)
            )
        self._wants_metrics = True
        self._update(self.train_progress_bar_id, batch_idx + 1)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self._wants_metrics = True
        self.refresh(hard=True)

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        total = self.total_val_batches_current_dataloader
        if trainer.sanity_checking:
            self._hide(self.val_sanity_progress_bar_id)
            self.val_sanity_progress_bar_id = self._add_task(
                total, self.sanity_check_description, visible=False
            )
        else:
            self._hide(self.val_progress_bar_id)
            self.val_progress_bar_id = self._add_task(total, self.validation_description, visible=False)
        self.refresh()

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled:
            return
        task = self.val_sanity_progress_bar_id if trainer.sanity_checking else self.val_progress_bar_id
        self._update(task, batch_idx + 1)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.is_enabled and self.val_progress_bar_id is not None and fn_value(trainer) == "fit":
            self._hide(self.val_progress_bar_id)
            self.refresh()

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if fn_value(trainer) == "fit":
            self._wants_metrics = True
            self.refresh(hard=True)
        self.reset_dataloader_idx_tracker()

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        self._hide(self.test_progress_bar_id)
        self.test_progress_bar_id = self._add_task(
            self.total_test_batches_current_dataloader, self.test_description
        )
        self.refresh()

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.is_disabled:
            self._update(self.test_progress_bar_id, batch_idx + 1)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self.reset_dataloader_idx_tracker()

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.is_disabled or self.progress is None or not self.has_dataloader_changed(dataloader_idx):
            return
        self._hide(self.predict_progress_bar_id)
        self.predict_progress_bar_id = self._add_task(
            self.total_predict_batches_current_dataloader, self.predict_description
        )
        self.refresh()

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.is_disabled:
            self._update(self.predict_progress_bar_id, batch_idx + 1)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.reset_dataloader_idx_tracker()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._stop_progress()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._stop_progress()

    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        """Print above the live bars through the bars' console."""
        if self.progress is not None and not self._progress_stopped and self._console is not None:
            self._console.print(sep.join(map(str, args)), **kwargs)
        else:
            print(*args, sep=sep, **kwargs)

    def track(self, iterable: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
        """Show a temporary task while iterating ``iterable`` (starting the live display if needed)."""
        if self.is_disabled:
            yield from iterable
            return
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        started_here = self.progress is None or self._progress_stopped
        self._init_progress(self._trainer)
        task = self._add_task(math.inf if total is None else total, description)
        try:
            for i, item in enumerate(iterable, start=1):
                yield item
                self._update(task, i)
        finally:
            self._hide(task)
            if started_here:
                self._stop_progress()

    def _stop_progress(self) -> None:
        if self.progress is not None and not self._progress_stopped:
            self.refresh(force=True)
            self.progress.stop()
            self._progress_stopped = True

    def _reset_progress_bar_ids(self) -> None:
        self._pending.clear()
        self.train_progress_bar_id = None
        self.val_sanity_progress_bar_id = None
        self.val_progress_bar_id = None
        self.test_progress_bar_id = None
        self.predict_progress_bar_id = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["progress"] = None
        state["_console"] = None
        state["_metric_component"] = None
        return state
