"""The Trainer's tuning session: trial runs inside a ``fit``/``validate``/... call, with an exact restore.

``Trainer.tuning_session()`` returns a :class:`TrainerTuningSession`, the implementation of
``lit_callbacks._tuning.TuningSession`` used by ``LearningRateFinder`` and ``BatchSizeFinder``. Entering it saves
the state in memory; leaving it restores the state exactly: model weights, buffers, gradients and train/eval
modes, optimizer, scheduler and gradient-scaler states, the callbacks' and datamodule's states, loop progress and
settings, callbacks, loggers, metrics and the random number generators.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn, Self

import torch

from lit_hooks import BaseProgress, TrainerFn

__all__ = ["TrainerTuningSession"]

_PLAIN = object()  # marks an attribute restored by identity only


class _TunerExitException(Exception):
    """Ends the current ``fit``/``validate``/``test``/``predict`` call cleanly after a tuner search."""


def _capture_object(obj: Any) -> dict[str, tuple[Any, Any]]:
    """Every instance attribute (by identity) plus the contents of progress trackers, lists and dicts."""
    try:
        attrs = vars(obj)
    except TypeError:
        return {}
    saved: dict[str, tuple[Any, Any]] = {}
    for name, value in attrs.items():
        if isinstance(value, BaseProgress):
            content: Any = copy.deepcopy(value.state_dict())
        elif type(value) is list:
            content = list(value)
        elif type(value) is dict:
            content = dict(value)
        else:
            content = _PLAIN
        saved[name] = (value, content)
    return saved


def _restore_object(obj: Any, saved: dict[str, tuple[Any, Any]]) -> None:
    if not saved:
        return
    attrs = vars(obj)
    for name in [n for n in attrs if n not in saved]:
        del attrs[name]
    for name, (value, content) in saved.items():
        attrs[name] = value
        if content is _PLAIN:
            continue
        if isinstance(value, BaseProgress):
            value.load_state_dict(copy.deepcopy(content))
        elif type(value) is list:
            value[:] = content
        else:
            value.clear()
            value.update(content)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy comes with torch here
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


class _Snapshot:
    """Everything a trial may change, saved in memory."""

    def __init__(self, trainer: Any) -> None:
        runner = trainer._loop_runner
        module = runner.module
        self.grad_enabled = torch.is_grad_enabled()
        with torch.inference_mode(False), torch.no_grad():
            self.weights = {k: _clone(v) for k, v in module.state_dict().items()}
            self.grads = [
                (p, None if p.grad is None else p.grad.detach().clone()) for p in module.parameters()
            ]
            self.modes = [(m, m.training) for m in module.modules()]
            self.optimizers = [(o, copy.deepcopy(o.state_dict())) for o in runner.optimizers]
            self.schedulers = [
                (c.scheduler, copy.deepcopy(c.scheduler.state_dict()))
                for c in runner.lr_scheduler_configs
                if callable(getattr(c.scheduler, "state_dict", None))
            ]
            self.stateful = [
                (obj, copy.deepcopy(obj.state_dict()))
                for obj in (*runner.callbacks, runner.datamodule, getattr(trainer, "precision_plugin", None))
                if obj is not None
                and callable(getattr(obj, "state_dict", None))
                and callable(getattr(obj, "load_state_dict", None))
            ]
        self.rng = _rng_state()
        fit_loop = runner.fit_loop
        epoch_loop = fit_loop.epoch_loop
        objects: list[Any] = [
            runner,
            runner.config,
            runner.state,
            fit_loop,
            epoch_loop,
            epoch_loop.automatic_optimization,
            epoch_loop.manual_optimization,
            epoch_loop.val_loop,
            runner.validate_loop,
            runner.test_loop,
            runner.predict_loop,
        ]
        loops = objects[3:]
        objects += [getattr(loop, "_module_mode", None) for loop in loops]
        self.objects = [(obj, _capture_object(obj)) for obj in objects if obj is not None]
        # the logged-metric stores are empty (reset) at the hooks a search starts from: keep their keys only
        stores = [getattr(loop, "_results", None) for loop in loops]
        self.results = [(store, set(store)) for store in stores if isinstance(store, dict)]

    def restore_progress(self) -> None:
        """Put back the loops, settings and runner attributes (not the weights); forget values logged since."""
        for obj, saved in self.objects:
            _restore_object(obj, saved)
        for store, keys in self.results:
            for key in [k for k in store if k not in keys]:
                del store[key]
            reset = getattr(store, "reset", None)
            if callable(reset):
                reset()

    def restore(self, trainer: Any) -> None:
        runner = trainer._loop_runner
        module = runner.module
        self.restore_progress()
        with torch.inference_mode(False), torch.no_grad():
            module.load_state_dict(self.weights)
            for p, grad in self.grads:
                p.grad = None if grad is None else grad.clone()
            for m, training in self.modes:
                m.training = training
            for opt, state in self.optimizers:
                opt.load_state_dict(copy.deepcopy(state))
            for sched, state in self.schedulers:
                sched.load_state_dict(copy.deepcopy(state))
            for obj, state in self.stateful:
                obj.load_state_dict(copy.deepcopy(state))
        for lopt in runner.lightning_optimizers:
            refresh = getattr(lopt, "refresh", None)
            if callable(refresh):
                refresh()
        _set_rng_state(self.rng)
        torch.set_grad_enabled(self.grad_enabled)
        dispatcher = runner.dispatcher
        dispatcher.callbacks = runner.callbacks
        dispatcher.build()


class TrainerTuningSession:
    """Trial runs of the Trainer's active loop for the tuner callbacks, with an exact restore on exit.

    Created by ``Trainer.tuning_session()`` during a ``fit``/``validate``/``test``/``predict`` call; see
    ``lit_callbacks._tuning.TuningSession`` for the contract.

    Args:
        trainer: lit's ``Trainer``.
    """

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self._runner = trainer._loop_runner
        fn = self._runner.state.fn
        self.stage: str = fn.value if fn is not None else TrainerFn.FITTING.value
        self._snapshot: _Snapshot | None = None
        self._reload = False
        self._bars: list[Iterator[int]] = []

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Self:
        if self._snapshot is not None:
            raise RuntimeError("This tuning session is already active: leave it before entering it again.")
        if self._runner.module is None:
            raise RuntimeError("A tuning session needs a running `fit`/`validate`/`test`/`predict` call.")
        self._snapshot = _Snapshot(self._trainer)
        self._reload = False
        return self

    def __exit__(self, *exc_info: object) -> None:
        snapshot = self._snapshot
        self._snapshot = None
        try:
            for bar in self._bars:
                close = getattr(bar, "close", None)
                if callable(close):
                    close()
            self._bars = []
        finally:
            if snapshot is not None:
                snapshot.restore(self._trainer)
                if self._reload:
                    self._rebuild_dataloaders(snapshot)

    def _active(self) -> _Snapshot:
        if self._snapshot is None:
            raise RuntimeError("Enter the tuning session (`with session:`) before running trials.")
        return self._snapshot

    # ------------------------------------------------------------------ loops and data
    def _eval_loop(self) -> Any:
        runner = self._runner
        return {
            "validate": runner.validate_loop,
            "test": runner.test_loop,
            "predict": runner.predict_loop,
        }[self.stage]

    def _drop_dataloaders(self) -> None:
        runner = self._runner
        if self.stage == "fit":
            runner.fit_loop._loader = None
            runner.fit_loop.epoch_loop.val_loop._dataloaders = None
        else:
            self._eval_loop()._dataloaders = None

    def _rebuild_dataloaders(self, snapshot: _Snapshot) -> None:
        """After a batch size change: new dataloaders, now if the run already had some, else when it asks."""
        runner = self._runner
        self._drop_dataloaders()
        loaded = {id(obj): saved for obj, saved in snapshot.objects}
        if self.stage == "fit":
            fit_loop = runner.fit_loop
            if loaded[id(fit_loop)]["_loader"][0] is not None:
                fit_loop.setup_data()
            val_loop = fit_loop.epoch_loop.val_loop
            if loaded[id(val_loop)]["_dataloaders"][0] is not None:
                val_loop.setup_data()
        else:
            loop = self._eval_loop()
            if loaded[id(loop)]["_dataloaders"][0] is not None:
                loop.setup_data()

    def _loaders(self) -> list[Any]:
        runner = self._runner
        if self.stage == "fit":
            fit_loop = runner.fit_loop
            if fit_loop._loader is None:
                fit_loop.setup_data()
            loader = fit_loop._loader
            if loader is None:
                return []
            return list(getattr(loader, "flattened", None) or [loader])
        loop = self._eval_loop()
        if loop._dataloaders is None:
            loop.setup_data()
        return list(loop._dataloaders or [])

    def reload_dataloaders(self) -> None:
        """Request fresh dataloaders at the next trial and after the search."""
        self._active()
        self._reload = True
        self._drop_dataloaders()

    def data_from_hooks(self) -> bool:
        """Whether the tuned loop's dataloaders come from a ``*_dataloader`` hook."""
        runner = self._runner
        loop = runner.fit_loop if self.stage == "fit" else self._eval_loop()
        return bool(loop._data_source._is_hook_owner())

    def num_dataloaders(self) -> int:
        """How many dataloaders the tuned loop runs."""
        return len(self._loaders())

    def dataset_length(self) -> int | None:
        """The (largest) dataset length behind the tuned loop's dataloaders; ``None`` without a length."""
        lengths: list[int] = []
        for loader in self._loaders():
            dataset = getattr(loader, "dataset", None)
            try:
                lengths.append(len(dataset))  # type: ignore[arg-type]
            except TypeError:
                return None
        return max(lengths) if lengths else None

    # ------------------------------------------------------------------ trials
    def run_trial(self, steps: int, callbacks: Sequence[Any] = (), *, val_batches: float = 0) -> None:
        """Run ``steps`` optimizer steps (fit) or batches (other stages) from the saved progress."""
        snapshot = self._active()
        runner = self._runner
        snapshot.restore_progress()
        if self._reload:
            self._drop_dataloaders()
        runner.callbacks[:] = list(callbacks)
        dispatcher = runner.dispatcher
        dispatcher.callbacks = runner.callbacks
        dispatcher.build()
        runner.loggers[:] = []
        runner.lr_scheduler_configs = []
        runner.should_stop = False
        config = runner.config
        if self.stage == "fit":
            fit_loop = runner.fit_loop
            epoch_loop = fit_loop.epoch_loop
            config.limit_val_batches = val_batches
            config.max_time = None
            fit_loop.min_epochs = None
            epoch_loop.min_steps = None
            epoch_loop.max_steps = runner.global_step + steps
            # every epoch has at least one batch: this bounds a search whose steps never step the optimizer
            fit_loop.max_epochs = fit_loop.epoch_progress.current.processed + steps
            for obj, name in (
                (fit_loop, "restarting"),
                (fit_loop, "_restarted_mid_epoch"),
                (epoch_loop, "restarting"),
            ):
                if hasattr(obj, name):
                    setattr(obj, name, False)
            if getattr(epoch_loop, "_resume_skip", 0):
                epoch_loop._resume_skip = 0
            fit_loop.run()
        else:
            loop = self._eval_loop()
            prefix = {"validate": "val", "test": "test", "predict": "predict"}[self.stage]
            setattr(config, f"limit_{prefix}_batches", steps)
            if hasattr(loop, "verbose"):
                loop.verbose = False
            if hasattr(loop, "return_predictions"):
                loop.return_predictions = False
            loop.run()

    def progress(self, description: str, total: int) -> Iterator[int]:
        """An iterator advanced once per unit of work; the progress bar shows it (on rank zero)."""
        trainer = self._trainer
        bar = getattr(trainer, "progress_bar_callback", None)
        track = getattr(bar, "track", None)
        if not callable(track) or not trainer.is_global_zero:
            return iter(range(total))
        it: Iterator[int] = iter(track(range(total), description, total=total))
        next(it, None)  # draws the (empty) bar
        self._bars.append(it)
        return it

    def end_run(self) -> NoReturn:
        """End the current ``fit``/``validate``/... call cleanly (teardown, loggers finalized, no training)."""
        raise _TunerExitException()
