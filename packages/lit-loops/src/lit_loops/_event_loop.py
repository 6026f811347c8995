"""A small event-driven loop for custom training code.

The loop knows nothing about models or optimizers: it iterates over data, calls a user step function for each
batch and fires events that handlers can attach to, with optional filters (``every=N``, ``once=N`` or a
predicate). Its progress counters can be saved with :meth:`Loop.state_dict` and restored with
:meth:`Loop.load_state_dict`, so a stopped run continues at the next iteration.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "FilteredEvent", "Loop", "LoopState"]


class Event(str, enum.Enum):
    """Events fired by :class:`Loop`, in the order they happen.

    Calling an event returns a :class:`FilteredEvent` that fires only on some occurrences::

        Event.ITERATION_COMPLETED(every=50)   # iterations 50, 100, ...
        Event.EPOCH_COMPLETED(once=3)         # only after the third epoch
        Event.ITERATION_STARTED(event_filter=lambda loop, n: n in (1, 7))
    """

    STARTED = "started"
    EPOCH_STARTED = "epoch_started"
    ITERATION_STARTED = "iteration_started"
    ITERATION_COMPLETED = "iteration_completed"
    EPOCH_COMPLETED = "epoch_completed"
    COMPLETED = "completed"
    EXCEPTION_RAISED = "exception_raised"

    def __call__(
        self,
        every: int | None = None,
        once: int | None = None,
        event_filter: Callable[[Loop, int], bool] | None = None,
    ) -> FilteredEvent:
        """Return this event restricted by exactly one of ``every``, ``once`` or ``event_filter``."""
        given = [
            name
            for name, v in (("every", every), ("once", once), ("event_filter", event_filter))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"Exactly one of `every`, `once` or `event_filter` must be given to `{self.name}(...)`, got {given}."
                " For example `Event.ITERATION_COMPLETED(every=10)`."
            )
        for name, v in (("every", every), ("once", once)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise ValueError(
                    f"Argument `{name}` should be an integer greater than zero, got {name}={v!r}."
                )
        if event_filter is not None and not callable(event_filter):
            raise TypeError(
                f"Argument `event_filter` should be a callable `(loop, count) -> bool`, got {event_filter!r}."
            )
        if every is not None:
            n = every

            def _every(_: Loop, count: int) -> bool:
                return count % n == 0

            return FilteredEvent(self, _every, f"every={n}")
        if once is not None:
            m = once

            def _once(_: Loop, count: int) -> bool:
                return count == m

            return FilteredEvent(self, _once, f"once={m}")
        assert event_filter is not None
        return FilteredEvent(self, event_filter, f"event_filter={event_filter!r}")


@dataclass(frozen=True)
class FilteredEvent:
    """An :class:`Event` that fires only when ``filter(loop, count)`` is true.

    ``count`` is the loop's iteration number (1-based, counted across epochs) for iteration events and the
    epoch number (1-based) for epoch events; for the other events it is 1.

    Args:
        event: the underlying event.
        filter: the predicate.
        description: a readable form of the filter, for ``repr``.
    """

    event: Event
    filter: Callable[[Loop, int], bool]
    description: str = ""

    def __repr__(self) -> str:
        return f"{self.event.name}({self.description})"


@dataclass
class LoopState:
    """The state of a :class:`Loop`.

    Attributes:
        epoch: number of epochs started (1-based during an epoch, like Ignite).
        iteration: number of iterations started, counted across epochs.
        batch_idx: index of the current batch in the current epoch.
        epoch_length: number of iterations per epoch (``None`` until known).
        max_epochs: the requested number of epochs.
        output: the return value of the last step.
        metrics: a free dictionary for handlers to store values in.
        batch: the current batch.
    """

    epoch: int = 0
    iteration: int = 0
    batch_idx: int = -1
    epoch_length: int | None = None
    max_epochs: int | None = None
    output: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    batch: Any = None


_Handler = tuple[Callable[..., Any], Callable[["Loop", int], bool] | None, tuple[Any, ...], dict[str, Any]]


class Loop:
    """Runs ``step_fn(loop, batch)`` over data and fires :class:`Event` s around it.

    Args:
        step_fn: called once per batch with the loop and the batch; its return value is stored in
            ``loop.state.output``.

    Example:
        >>> loop = Loop(lambda loop, batch: batch * 10)
        >>> @loop.on(Event.ITERATION_COMPLETED(every=2))
        ... def report(loop):
        ...     print(loop.state.epoch, loop.state.iteration, loop.state.output)
        >>> state = loop.run([1, 2, 3], max_epochs=2)
        1 2 20
        2 4 10
        2 6 30
        >>> state.iteration, state.epoch
        (6, 2)
    """

    def __init__(self, step_fn: Callable[[Loop, Any], Any]) -> None:
        if not callable(step_fn):
            raise TypeError(f"`Loop(step_fn)` needs a callable `(loop, batch) -> output`, got {step_fn!r}.")
        self.step_fn = step_fn
        self.state = LoopState()
        self._handlers: dict[Event, list[_Handler]] = {e: [] for e in Event}
        self._should_terminate = False
        self._should_terminate_epoch = False
        self._resume_batch_idx: int | None = None
        self._data_state: dict[str, Any] | None = None
        self._data: Any = None
        self._last_data: Any = None
        self._consumed = 0

    # ------------------------------------------------------------------ handlers
    def on(
        self,
        event: Event | FilteredEvent,
        handler: Callable[..., Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Attach ``handler(loop, *args, **kwargs)`` to ``event``; usable as a decorator when ``handler`` is omitted."""
        if handler is None:

            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.add_event_handler(event, fn, *args, **kwargs)
                return fn

            return decorator
        self.add_event_handler(event, handler, *args, **kwargs)
        return handler

    def add_event_handler(
        self, event: Event | FilteredEvent, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Attach ``handler`` to ``event`` (a plain or filtered event)."""
        if not callable(handler):
            raise TypeError(f"An event handler must be callable, got {handler!r}.")
        if isinstance(event, FilteredEvent):
            self._handlers[event.event].append((handler, event.filter, args, kwargs))
        elif isinstance(event, Event):
            self._handlers[event].append((handler, None, args, kwargs))
        else:
            raise TypeError(
                f"Unknown event {event!r}: expected one of {[e.name for e in Event]} (optionally called with a filter)."
            )

    def remove_event_handler(self, event: Event | FilteredEvent, handler: Callable[..., Any]) -> None:
        """Detach every registration of ``handler`` from ``event``."""
        base = event.event if isinstance(event, FilteredEvent) else event
        before = len(self._handlers[base])
        self._handlers[base] = [h for h in self._handlers[base] if h[0] is not handler]
        if len(self._handlers[base]) == before:
            raise ValueError(f"{handler!r} is not attached to {event!r}.")

    def has_event_handler(self, handler: Callable[..., Any], event: Event | None = None) -> bool:
        """Whether ``handler`` is attached (to ``event`` when given, else to any event)."""
        events = [event] if event is not None else list(Event)
        return any(h[0] is handler for e in events for h in self._handlers[e])

    def fire(self, event: Event, *extra: Any) -> None:
        """Call the handlers of ``event`` whose filter accepts the current count."""
        handlers = self._handlers[event]
        if not handlers:
            return
        if event is Event.ITERATION_STARTED or event is Event.ITERATION_COMPLETED:
            count = self.state.iteration
        elif event is Event.EPOCH_STARTED or event is Event.EPOCH_COMPLETED:
            count = self.state.epoch
        else:
            count = 1
        for handler, flt, args, kwargs in list(handlers):
            if flt is None or flt(self, count):
                handler(self, *extra, *args, **kwargs)

    # ------------------------------------------------------------------ control
    def terminate(self) -> None:
        """Stop the run after the current iteration (``COMPLETED`` still fires)."""
        self._should_terminate = True

    def terminate_epoch(self) -> None:
        """End the current epoch after the current iteration."""
        self._should_terminate_epoch = True

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Progress counters (and the data position when the data supports it) as plain data."""
        sd: dict[str, Any] = {
            "epoch": self.state.epoch,
            "iteration": self.state.iteration,
            "epoch_length": self.state.epoch_length,
            "max_epochs": self.state.max_epochs,
            "metrics": dict(self.state.metrics),
        }
        data_sd = _data_state_dict(self._last_data, self._consumed)
        if data_sd is not None:
            sd["data"] = data_sd
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore counters saved by :meth:`state_dict`; the next :meth:`run` continues at the next iteration."""
        missing = [k for k in ("epoch", "iteration") if k not in state_dict]
        if missing:
            raise ValueError(
                f"`Loop.load_state_dict` needs the keys {missing} (got keys {sorted(state_dict)})."
            )
        self.state.epoch = int(state_dict["epoch"])
        self.state.iteration = int(state_dict["iteration"])
        self.state.epoch_length = state_dict.get("epoch_length")
        self.state.max_epochs = state_dict.get("max_epochs")
        self.state.metrics = dict(state_dict.get("metrics", {}))
        self._data_state = state_dict.get("data")
        self._resume_batch_idx = None
        if self.state.epoch_length:
            done_in_epoch = self.state.iteration - (self.state.epoch - 1) * self.state.epoch_length
            if 0 < done_in_epoch < self.state.epoch_length:
                self._resume_batch_idx = done_in_epoch
            elif done_in_epoch >= self.state.epoch_length:
                self._resume_batch_idx = None  # the epoch was finished

    # ------------------------------------------------------------------ run
    def run(self, data: Iterable[Any], max_epochs: int = 1, epoch_length: int | None = None) -> LoopState:
        """Iterate ``max_epochs`` times over ``data`` (``epoch_length`` batches per epoch when given).

        After :meth:`load_state_dict` the run continues where the saved one stopped: a partly done epoch is
        finished first (its already processed batches are skipped, or restored exactly when the data or its
        sampler provides ``state_dict``/``load_state_dict``).

        Returns:
            The loop state.
        """
        if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs <= 0:
            raise ValueError(
                f"Argument `max_epochs` should be an integer greater than zero, got {max_epochs!r}."
            )
        if epoch_length is None:
            try:
                epoch_length = len(data)  # type: ignore[arg-type]
            except TypeError:
                epoch_length = None
        elif not isinstance(epoch_length, int) or epoch_length <= 0:
            raise ValueError(
                f"Argument `epoch_length` should be a positive integer or None, got {epoch_length!r}."
            )
        state = self.state
        resuming = self._resume_batch_idx is not None
        if state.epoch_length is not None and epoch_length is not None and state.epoch_length != epoch_length:
            raise ValueError(
                f"Cannot resume with `epoch_length={epoch_length}`: the saved state used {state.epoch_length}."
            )
        state.epoch_length = epoch_length
        state.max_epochs = max_epochs
        from lit_data import make_resumable

        data = make_resumable(data)
        self._data = data
        self._last_data = data
        self._should_terminate = False
        if state.epoch >= max_epochs and not resuming:
            return state
        try:
            self.fire(Event.STARTED)
            data_iter: Iterator[Any] | None = None
            while not self._should_terminate:
                if resuming:
                    skip = self._resume_batch_idx or 0
                    resuming = False
                    self._resume_batch_idx = None
                    data_iter = self._resumed_iterator(data, skip)
                    first = skip
                else:
                    if state.epoch >= max_epochs:
                        break
                    state.epoch += 1
                    self.fire(Event.EPOCH_STARTED)
                    data_iter = iter(data)
                    first = 0
                self._should_terminate_epoch = False
                done = self._run_epoch(data_iter, first, epoch_length)
                if done is _EXHAUSTED and epoch_length is None:
                    state.epoch_length = state.batch_idx + 1
                self.fire(Event.EPOCH_COMPLETED)
            self.fire(Event.COMPLETED)
        except BaseException as exc:
            if self._handlers[Event.EXCEPTION_RAISED] and isinstance(exc, Exception):
                self.fire(Event.EXCEPTION_RAISED, exc)
            else:
                raise
        finally:
            self._data = None
        return state

    def _resumed_iterator(self, data: Iterable[Any], skip: int) -> Iterator[Any]:
        if self._data_state is not None and _load_data_state(data, self._data_state):
            self._data_state = None
            return iter(data)
        self._data_state = None
        return itertools.islice(iter(data), skip, None)

    def _run_epoch(self, data_iter: Iterator[Any], first: int, epoch_length: int | None) -> object:
        state = self.state
        batch_idx = first
        self._consumed = first
        while epoch_length is None or batch_idx < epoch_length:
            try:
                batch = next(data_iter)
            except StopIteration:
                return _EXHAUSTED
            state.batch = batch
            state.batch_idx = batch_idx
            state.iteration += 1
            self.fire(Event.ITERATION_STARTED)
            state.output = self.step_fn(self, batch)
            self._consumed = batch_idx + 1
            self.fire(Event.ITERATION_COMPLETED)
            batch_idx += 1
            if self._should_terminate or self._should_terminate_epoch:
                return _STOPPED
        return _LENGTH


_EXHAUSTED = object()
_STOPPED = object()
_LENGTH = object()


def _data_state_dict(data: Any, consumed: int) -> dict[str, Any] | None:
    if data is None:
        return None
    from lit_data import capture_loader_state

    try:
        return capture_loader_state(data, consumed)
    except (TypeError, ValueError):
        return None


def _load_data_state(data: Any, state: dict[str, Any]) -> bool:
    from lit_data import restore_loader_state

    if not {"loader", "dataset", "record", "sampler_state"} & set(state):
        return False
    try:
        restore_loader_state(data, state)
    except (TypeError, ValueError, AttributeError):
        return False
    return True
