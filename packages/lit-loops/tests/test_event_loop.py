"""The event-driven ``Loop``: events, filters, termination and stop-and-resume."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lit_loops import Event, Loop


def _events(loop: Loop) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    for event in Event:
        if event is Event.EXCEPTION_RAISED:
            continue
        loop.on(event, lambda lp, e=event: seen.append((e.name, lp.state.epoch, lp.state.iteration)))
    return seen


def test_event_order_and_counters() -> None:
    loop = Loop(lambda lp, batch: batch * 2)
    seen = _events(loop)
    state = loop.run([1, 2, 3], max_epochs=2)
    names = [n for n, _, _ in seen]
    assert names[0] == "STARTED" and names[-1] == "COMPLETED"
    per_epoch = ["EPOCH_STARTED"] + ["ITERATION_STARTED", "ITERATION_COMPLETED"] * 3 + ["EPOCH_COMPLETED"]
    assert names[1:-1] == per_epoch * 2
    assert state.epoch == 2 and state.iteration == 6 and state.output == 6 and state.epoch_length == 3
    assert [it for n, _, it in seen if n == "ITERATION_COMPLETED"] == [1, 2, 3, 4, 5, 6]


def test_filters_every_once_and_predicate() -> None:
    loop = Loop(lambda lp, batch: batch)
    every: list[int] = []
    once: list[int] = []
    custom: list[int] = []
    epochs: list[int] = []
    loop.on(Event.ITERATION_COMPLETED(every=4), lambda lp: every.append(lp.state.iteration))
    loop.on(Event.ITERATION_STARTED(once=3), lambda lp: once.append(lp.state.iteration))
    loop.on(
        Event.ITERATION_COMPLETED(event_filter=lambda lp, n: n in (2, 7)), lambda lp: custom.append(n_(lp))
    )
    loop.on(Event.EPOCH_COMPLETED(every=2), lambda lp: epochs.append(lp.state.epoch))
    loop.run(range(5), max_epochs=4)
    assert every == [4, 8, 12, 16, 20]
    assert once == [3]
    assert custom == [2, 7]
    assert epochs == [2, 4]


def n_(lp: Loop) -> int:
    return lp.state.iteration


def test_decorator_form_and_extra_args() -> None:
    loop = Loop(lambda lp, batch: None)
    got: list[Any] = []

    @loop.on(Event.EPOCH_COMPLETED)
    def record(lp: Loop) -> None:
        got.append(lp.state.epoch)

    loop.on(Event.COMPLETED, lambda lp, tag, k=None: got.append((tag, k)), "done", k=1)
    loop.run([0], max_epochs=3)
    assert got == [1, 2, 3, ("done", 1)]
    assert loop.has_event_handler(record, Event.EPOCH_COMPLETED)
    loop.remove_event_handler(Event.EPOCH_COMPLETED, record)
    assert not loop.has_event_handler(record)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"every": 0}, ValueError),
        ({"once": -1}, ValueError),
        ({"every": 2, "once": 3}, ValueError),
        ({}, ValueError),
        ({"every": 1.5}, ValueError),
    ],
)
def test_invalid_filters(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Event.ITERATION_COMPLETED(**kwargs)


def test_invalid_run_arguments() -> None:
    loop = Loop(lambda lp, b: b)
    with pytest.raises(ValueError, match="max_epochs"):
        loop.run([1], max_epochs=0)
    with pytest.raises(TypeError, match="callable"):
        Loop(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Unknown event"):
        loop.on("started", lambda lp: None)  # type: ignore[arg-type]


def test_terminate_and_terminate_epoch() -> None:
    loop = Loop(lambda lp, b: b)
    loop.on(Event.ITERATION_COMPLETED(once=5), lambda lp: lp.terminate())
    completed: list[int] = []
    loop.on(Event.COMPLETED, lambda lp: completed.append(lp.state.iteration))
    state = loop.run(range(4), max_epochs=10)
    assert state.iteration == 5 and state.epoch == 2 and completed == [5]

    loop2 = Loop(lambda lp, b: b)
    loop2.on(
        Event.ITERATION_COMPLETED(event_filter=lambda lp, n: lp.state.batch_idx == 1),
        lambda lp: lp.terminate_epoch(),
    )
    state2 = loop2.run(range(4), max_epochs=3)
    assert state2.epoch == 3 and state2.iteration == 6


def test_exception_event_handles_or_reraises() -> None:
    def step(lp: Loop, b: int) -> int:
        if b == 2:
            raise RuntimeError("boom")
        return b

    loop = Loop(step)
    with pytest.raises(RuntimeError, match="boom"):
        loop.run(range(4))
    caught: list[str] = []
    loop2 = Loop(step)
    loop2.on(Event.EXCEPTION_RAISED, lambda lp, exc: caught.append(str(exc)))
    loop2.run(range(4))
    assert caught == ["boom"]


def test_epoch_length_shorter_than_data() -> None:
    loop = Loop(lambda lp, b: b)
    state = loop.run(list(range(10)), max_epochs=2, epoch_length=3)
    assert state.iteration == 6 and state.output == 2


def _train(weights: torch.Tensor, batches: list[torch.Tensor]) -> None:
    for b in batches:
        weights -= 0.1 * b.mean()


def _make_sgd_loop(w: torch.Tensor, seen: list[float]) -> Loop:
    def step(lp: Loop, batch: tuple[torch.Tensor]) -> float:
        (x,) = batch
        seen.append(float(x[0]))
        w.sub_(0.1 * x.mean())
        return float(w)

    return Loop(step)


def test_stop_and_resume_mid_epoch_continues_at_next_iteration() -> None:
    data = list(range(7))
    full_seen: list[int] = []
    Loop(lambda lp, b: full_seen.append(b)).run(data, max_epochs=3)

    seen: list[int] = []
    first = Loop(lambda lp, b: seen.append(b))
    first.on(Event.ITERATION_COMPLETED(once=10), lambda lp: lp.terminate())
    first.run(data, max_epochs=3)
    saved = first.state_dict()
    assert saved["iteration"] == 10 and saved["epoch"] == 2

    second = Loop(lambda lp, b: seen.append(b))
    second.load_state_dict(saved)
    iters: list[int] = []
    second.on(Event.ITERATION_STARTED, lambda lp: iters.append(lp.state.iteration))
    state = second.run(data, max_epochs=3)
    assert iters[0] == 11
    assert seen == full_seen
    assert state.iteration == 21 and state.epoch == 3


def test_resume_with_stateful_sampler_restores_exact_data() -> None:
    """With a shuffling resumable sampler the resumed run sees exactly the batches of an uninterrupted one."""

    ds = TensorDataset(torch.arange(12.0))

    def loader() -> DataLoader:
        g = torch.Generator().manual_seed(3)
        return DataLoader(ds, batch_size=2, shuffle=True, generator=g)

    ref: list[float] = []
    w_ref = torch.zeros(())
    _make_sgd_loop(w_ref, ref).run(loader(), max_epochs=1)

    got: list[float] = []
    w = torch.zeros(())
    first = _make_sgd_loop(w, got)
    first.on(Event.ITERATION_COMPLETED(once=4), lambda lp: lp.terminate())
    dl = loader()
    first.run(dl, max_epochs=1)
    saved = first.state_dict()
    assert "data" in saved

    second = _make_sgd_loop(w, got)
    second.load_state_dict(saved)
    second.run(loader(), max_epochs=1)
    assert got == ref
    assert torch.allclose(w, w_ref)


def test_state_dict_requires_counters() -> None:
    with pytest.raises(ValueError, match="epoch"):
        Loop(lambda lp, b: b).load_state_dict({"iteration": 3})
