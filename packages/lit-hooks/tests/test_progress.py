"""Progress trackers: counters, resets and the exact ``state_dict`` trees Lightning 2.6 writes in checkpoints."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lit_hooks import (
    BatchProgress,
    OptimizationProgress,
    OptimizerProgress,
    ProcessedTracker,
    Progress,
    ReadyCompletedTracker,
    SchedulerProgress,
    StartedTracker,
)

# Observed with Lightning 2.6.5: `_BatchProgress().state_dict()`, `_OptimizationProgress().state_dict()`,
# `_SchedulerProgress().state_dict()` and `_Progress().state_dict()` (key order included).
LIGHTNING_BATCH_PROGRESS = {
    "total": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
    "current": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
    "is_last_batch": False,
}
LIGHTNING_OPTIMIZATION_PROGRESS = {
    "optimizer": {
        "step": {"total": {"ready": 0, "completed": 0}, "current": {"ready": 0, "completed": 0}},
        "zero_grad": {
            "total": {"ready": 0, "completed": 0, "started": 0},
            "current": {"ready": 0, "completed": 0, "started": 0},
        },
    }
}
LIGHTNING_SCHEDULER_PROGRESS = {
    "total": {"ready": 0, "completed": 0},
    "current": {"ready": 0, "completed": 0},
}
LIGHTNING_PROGRESS = {
    "total": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
    "current": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
}

# The `loops` entry of a checkpoint written by Lightning 2.6.5 with `trainer.save_checkpoint` after
# `fit(BoringModel)` for 2 epochs x 4 training batches with 2 validation batches per epoch.
LIGHTNING_LOOPS_AFTER_FIT = {
    "fit_loop": {
        "state_dict": {},
        "epoch_loop.state_dict": {"_batches_that_stepped": 8},
        "epoch_loop.batch_progress": {
            "total": {"ready": 8, "completed": 8, "started": 8, "processed": 8},
            "current": {"ready": 4, "completed": 4, "started": 4, "processed": 4},
            "is_last_batch": True,
        },
        "epoch_loop.scheduler_progress": {
            "total": {"ready": 2, "completed": 2},
            "current": {"ready": 1, "completed": 1},
        },
        "epoch_loop.automatic_optimization.state_dict": {},
        "epoch_loop.automatic_optimization.optim_progress": {
            "optimizer": {
                "step": {"total": {"ready": 8, "completed": 8}, "current": {"ready": 4, "completed": 4}},
                "zero_grad": {
                    "total": {"ready": 8, "completed": 8, "started": 8},
                    "current": {"ready": 4, "completed": 4, "started": 4},
                },
            }
        },
        "epoch_loop.manual_optimization.state_dict": {},
        "epoch_loop.manual_optimization.optim_step_progress": {
            "total": {"ready": 0, "completed": 0},
            "current": {"ready": 0, "completed": 0},
        },
        "epoch_loop.val_loop.state_dict": {},
        "epoch_loop.val_loop.batch_progress": {
            "total": {"ready": 2, "completed": 2, "started": 2, "processed": 2},
            "current": {"ready": 2, "completed": 2, "started": 2, "processed": 2},
            "is_last_batch": True,
        },
        "epoch_progress": {
            "total": {"ready": 2, "completed": 2, "started": 2, "processed": 2},
            "current": {"ready": 2, "completed": 2, "started": 2, "processed": 2},
        },
    },
    "validate_loop": {
        "state_dict": {},
        "batch_progress": {
            "total": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
            "current": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
            "is_last_batch": False,
        },
    },
    "test_loop": {
        "state_dict": {},
        "batch_progress": {
            "total": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
            "current": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
            "is_last_batch": False,
        },
    },
    "predict_loop": {
        "state_dict": {},
        "batch_progress": {
            "total": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
            "current": {"ready": 0, "completed": 0, "started": 0, "processed": 0},
        },
    },
}


def _keys(tree: Any) -> Any:
    """The key order of every nested dict (``==`` on dicts ignores it)."""
    if isinstance(tree, dict):
        return [(k, _keys(v)) for k, v in tree.items()]
    return None


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        (BatchProgress(), LIGHTNING_BATCH_PROGRESS),
        (OptimizationProgress(), LIGHTNING_OPTIMIZATION_PROGRESS),
        (SchedulerProgress(), LIGHTNING_SCHEDULER_PROGRESS),
        (Progress(), LIGHTNING_PROGRESS),
    ],
)
def test_default_state_dicts_match_lightning(progress: Any, expected: dict[str, Any]) -> None:
    assert progress.state_dict() == expected
    assert _keys(progress.state_dict()) == _keys(expected)


def _simulate_fit(epochs: int, batches: int, val_batches: int) -> dict[str, Any]:
    """Drive the trackers the way Lightning's fit loop does and assemble its `loops` tree."""
    epoch_progress = Progress()
    batch_progress = BatchProgress()
    scheduler_progress = SchedulerProgress()
    optim_progress = OptimizationProgress()
    manual_progress = Progress.from_defaults(ReadyCompletedTracker)
    val_progress = BatchProgress()
    for _ in range(epochs):
        epoch_progress.increment_ready()
        batch_progress.reset_on_run()
        scheduler_progress.reset_on_run()
        optim_progress.reset_on_run()
        epoch_progress.increment_started()
        for i in range(batches):
            batch_progress.increment_ready()
            batch_progress.increment_started()
            optim_progress.optimizer.step.increment_ready()
            optim_progress.optimizer.zero_grad.increment_ready()
            optim_progress.optimizer.zero_grad.increment_started()
            optim_progress.optimizer.zero_grad.increment_completed()
            optim_progress.optimizer.step.increment_completed()
            batch_progress.increment_processed()
            batch_progress.is_last_batch = i == batches - 1
            if i == batches - 1:
                scheduler_progress.increment_ready()
                scheduler_progress.increment_completed()
            batch_progress.increment_completed()
        val_progress.reset()  # Lightning's evaluation loop inside fit restarts its counters on every run
        for i in range(val_batches):
            val_progress.increment_ready()
            val_progress.increment_started()
            val_progress.increment_processed()
            val_progress.is_last_batch = i == val_batches - 1
            val_progress.increment_completed()
        epoch_progress.increment_processed()
        epoch_progress.increment_completed()
    eval_progress = {"state_dict": {}, "batch_progress": BatchProgress().state_dict()}
    return {
        "fit_loop": {
            "state_dict": {},
            "epoch_loop.state_dict": {"_batches_that_stepped": optim_progress.optimizer_steps},
            "epoch_loop.batch_progress": batch_progress.state_dict(),
            "epoch_loop.scheduler_progress": scheduler_progress.state_dict(),
            "epoch_loop.automatic_optimization.state_dict": {},
            "epoch_loop.automatic_optimization.optim_progress": optim_progress.state_dict(),
            "epoch_loop.manual_optimization.state_dict": {},
            "epoch_loop.manual_optimization.optim_step_progress": manual_progress.state_dict(),
            "epoch_loop.val_loop.state_dict": {},
            "epoch_loop.val_loop.batch_progress": val_progress.state_dict(),
            "epoch_progress": epoch_progress.state_dict(),
        },
        "validate_loop": copy.deepcopy(eval_progress),
        "test_loop": copy.deepcopy(eval_progress),
        "predict_loop": {"state_dict": {}, "batch_progress": Progress().state_dict()},
    }


def test_checkpoint_loops_tree_matches_lightning() -> None:
    loops = _simulate_fit(epochs=2, batches=4, val_batches=2)
    assert loops == LIGHTNING_LOOPS_AFTER_FIT
    assert _keys(loops) == _keys(LIGHTNING_LOOPS_AFTER_FIT)


def test_lightning_trees_load_and_survive_weights_only_round_trip(tmp_path: Any) -> None:
    fit = LIGHTNING_LOOPS_AFTER_FIT["fit_loop"]
    batch = BatchProgress.from_state_dict(fit["epoch_loop.batch_progress"])
    assert (batch.total.ready, batch.current.completed, batch.is_last_batch) == (8, 4, True)
    optim = OptimizationProgress.from_state_dict(fit["epoch_loop.automatic_optimization.optim_progress"])
    assert optim.optimizer_steps == 8
    assert optim.optimizer.zero_grad.current.started == 4  # type: ignore[attr-defined]
    scheduler = SchedulerProgress.from_state_dict(fit["epoch_loop.scheduler_progress"])
    assert scheduler.state_dict() == fit["epoch_loop.scheduler_progress"]

    path = tmp_path / "progress.pt"
    torch.save({"batch": batch.state_dict(), "optim": optim.state_dict()}, path)
    loaded = torch.load(path, weights_only=True)
    assert BatchProgress.from_state_dict(loaded["batch"]) == batch
    assert OptimizationProgress.from_state_dict(loaded["optim"]) == optim


def test_tracker_increments_and_resets() -> None:
    tracker = ProcessedTracker()
    tracker.increment_ready()
    tracker.increment_started()
    tracker.increment_processed()
    tracker.increment_completed()
    tracker.increment_ready()
    tracker.increment_started()
    assert tracker.state_dict() == {"ready": 2, "completed": 1, "started": 2, "processed": 1}
    tracker.reset_on_restart()
    assert tracker.state_dict() == {"ready": 1, "completed": 1, "started": 1, "processed": 1}
    tracker.increment_by(3)
    assert tracker.state_dict() == {"ready": 4, "completed": 4, "started": 4, "processed": 4}
    tracker.reset()
    assert tracker == ProcessedTracker()

    started = StartedTracker(ready=3, completed=1, started=2)
    started.reset_on_restart()
    assert (started.ready, started.started, started.completed) == (1, 1, 1)


def test_progress_total_and_current() -> None:
    progress = Progress.from_defaults(StartedTracker, ready=1)
    assert progress.total == StartedTracker(ready=1) and progress.current is not progress.total
    progress.increment_started()
    progress.increment_completed()
    progress.reset_on_run()
    assert progress.current == StartedTracker()
    assert progress.total == StartedTracker(ready=1, started=1, completed=1)
    with pytest.raises(TypeError, match="no `processed` counter"):
        progress.increment_processed()
    rc = Progress.from_defaults(ReadyCompletedTracker)
    with pytest.raises(TypeError, match="no `started` counter"):
        rc.increment_started()
    with pytest.raises(ValueError, match="same class"):
        Progress(total=ProcessedTracker(), current=StartedTracker())


def test_batch_progress_is_last_batch() -> None:
    progress = BatchProgress()
    progress.increment_by(3, is_last_batch=True)
    assert progress.is_last_batch and progress.total.completed == 3
    progress.reset_on_run()
    assert not progress.is_last_batch and progress.current.ready == 0 and progress.total.ready == 3
    progress.is_last_batch = True
    progress.reset()
    assert progress == BatchProgress()


def test_optimizer_progress_resets() -> None:
    progress = OptimizerProgress()
    progress.step.increment_ready()
    progress.zero_grad.increment_ready()
    progress.zero_grad.increment_started()
    progress.reset_on_restart()
    assert progress.step.current.ready == 0 and progress.zero_grad.current.started == 0  # type: ignore[attr-defined]
    assert progress.step.total.ready == 1
    progress.reset()
    assert progress == OptimizerProgress()


# each batch reaches a stage (1=ready ... 4=completed); 0 marks a new epoch, -1 a restart after a failure
_schedules = st.lists(st.integers(-1, 4), max_size=40)


@given(_schedules)
def test_round_trip_and_counter_invariants(schedule: list[int]) -> None:
    progress = BatchProgress()
    steps = ("increment_ready", "increment_started", "increment_processed", "increment_completed")
    for stage in schedule:
        if stage == 0:
            progress.reset_on_run()
        elif stage == -1:
            progress.reset_on_restart()
            current = progress.current
            assert current.ready == current.started == current.processed == current.completed  # type: ignore
        else:
            for step in steps[:stage]:
                getattr(progress, step)()
        for tracker in (progress.total, progress.current):
            assert tracker.ready >= tracker.started >= tracker.processed >= tracker.completed  # type: ignore
    restored = BatchProgress.from_state_dict(copy.deepcopy(progress.state_dict()))
    assert restored == progress
    assert restored.state_dict() == progress.state_dict()
