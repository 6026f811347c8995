"""The standard loops: ``FitLoop`` > ``TrainingEpochLoop`` (+ optimization) > ``EvaluationLoop``; ``PredictionLoop``.

They hold no trainer: they read settings from the runner's :class:`~lit_loops.LoopConfig`, call hooks through
its dispatcher and talk to the strategy through the strategy protocol. Progress counters are the
``lit_hooks`` progress dataclasses, and ``state_dict()`` has Lightning's ``loops`` checkpoint layout.
"""

from __future__ import annotations

import inspect
import itertools
import math
import shutil
import sys
import time
from collections import ChainMap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from lit_hooks import (
    BatchProgress,
    MisconfigurationException,
    OptimizationProgress,
    PossibleUserWarning,
    ProcessedTracker,
    Progress,
    ReadyCompletedTracker,
    RunningStage,
    SchedulerProgress,
    TrainerFn,
    rank_zero_info,
    rank_zero_warn,
)
from lit_loops._data import DataSource, Fetcher, num_batches, sized_len
from lit_loops._results import ResultCollection

if TYPE_CHECKING:
    from lit_loops._runner import LoopRunner

__all__ = [
    "EvaluationLoop",
    "FitLoop",
    "PredictionLoop",
    "TrainingEpochLoop",
]


def _accepts(fn: Callable[..., Any], name: str, min_args: int | None = None) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    if name in params:
        return True
    if any(p.kind == p.VAR_POSITIONAL for p in params.values()):
        return True
    if min_args is not None:
        positional = [p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= min_args
    return False


def _is_max_limit_reached(current: int, maximum: int | None = -1) -> bool:
    return maximum is not None and maximum != -1 and current >= maximum


class _ModuleMode:
    """Captures the ``training`` flag of every submodule so it can be restored after evaluation."""

    def __init__(self) -> None:
        self.mode: dict[str, bool] = {}

    def capture(self, module: torch.nn.Module) -> None:
        self.mode = {name: m.training for name, m in module.named_modules()}

    def restore(self, module: torch.nn.Module) -> None:
        for name, m in module.named_modules():
            if name in self.mode:
                m.training = self.mode[name]


class _AutomaticOptimizationState:
    """``fit_loop.epoch_loop.automatic_optimization``: owns the optimizer step/zero-grad progress."""

    def __init__(self) -> None:
        self.optim_progress = OptimizationProgress()

    def state_dict(self) -> dict[str, Any]:
        return {}


class _ManualOptimizationState:
    """``fit_loop.epoch_loop.manual_optimization``: counts manual ``optimizer.step()`` calls."""

    def __init__(self) -> None:
        self.optim_step_progress = Progress.from_defaults(ReadyCompletedTracker)

    def state_dict(self) -> dict[str, Any]:
        return {}


class _SkipStep(Exception):
    pass


class EvaluationLoop:
    """Runs validation or test over one or more dataloaders (one after another).

    Args:
        runner: the owning runner.
        fn: ``TrainerFn.FITTING`` (validation inside fit), ``VALIDATING`` or ``TESTING``.
        stage: ``RunningStage.VALIDATING`` or ``RunningStage.TESTING``.
        inference_mode: use ``torch.inference_mode`` (else ``torch.no_grad``).
    """

    def __init__(
        self, runner: LoopRunner, fn: TrainerFn, stage: RunningStage, inference_mode: bool = True
    ) -> None:
        self.runner = runner
        self.fn = fn
        self._stage = stage
        self.inference_mode = inference_mode
        self.verbose = True
        self.batch_progress = BatchProgress()
        self._results = ResultCollection(training=False)
        self._data_source = DataSource(
            None, "val_dataloader" if stage != RunningStage.TESTING else "test_dataloader"
        )
        self._dataloaders: list[Any] | None = None
        self._max_batches: list[int | float] = []
        self._logged_outputs: list[dict[str, Any]] = []
        self._has_run = False
        self._seen_batches_per_dataloader: dict[int, int] = {}
        self._module_mode = _ModuleMode()
        self._last_val_dl_reload_epoch = -math.inf
        self.restarting = False

    # Lightning attribute names
    @property
    def max_batches(self) -> list[int | float]:
        """Batches per dataloader after limits."""
        return self._max_batches

    @property
    def num_dataloaders(self) -> int:
        """How many dataloaders this loop runs."""
        return len(self._dataloaders or [])

    @property
    def dataloaders(self) -> Any:
        """The dataloaders (``None`` before they were requested)."""
        return self._dataloaders

    def state_dict(self) -> dict[str, Any]:
        """Lightning's checkpoint layout for an evaluation loop."""
        return {"state_dict": {}, "batch_progress": self.batch_progress.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any], prefix: str = "") -> None:
        """Restore the progress counters."""
        self.batch_progress.load_state_dict(state_dict[prefix + "batch_progress"])

    def _limit(self) -> int | float:
        cfg = self.runner.config
        if self.runner.sanity_checking:
            return cfg.num_sanity_val_steps
        if self._stage == RunningStage.TESTING:
            return cfg.limit_test_batches
        if cfg.overfit_batches and self.fn == TrainerFn.FITTING:
            return cfg.overfit_batches
        return cfg.limit_val_batches

    def _should_reload(self) -> bool:
        n = self.runner.config.reload_dataloaders_every_n_epochs
        return bool(n and self.runner.current_epoch - self._last_val_dl_reload_epoch >= n)

    def setup_data(self) -> None:
        """Request the dataloaders (once per fit unless reloading) and compute the batch limits."""
        runner = self.runner
        if self._dataloaders is not None and self.fn == TrainerFn.FITTING and not self._should_reload():
            self._update_limits()
            return
        limit = self._limit()
        if limit == 0 or not self._data_source.is_defined():
            self._dataloaders = None
            self._max_batches = []
            return
        step_name = "test_step" if self._stage == RunningStage.TESTING else "validation_step"
        if not runner.dispatcher.module_fn(step_name) and self.fn != TrainerFn.FITTING:
            pass
        loaders = self._data_source.request()
        runner.strategy_barrier(f"{self._data_source.name}()")
        if loaders is None:
            self._dataloaders = []
        elif isinstance(loaders, (list, tuple)):
            self._dataloaders = list(loaders)
        elif isinstance(loaders, dict):
            self._dataloaders = list(loaders.values())
        else:
            flat = getattr(loaders, "flattened", None)
            self._dataloaders = list(flat) if isinstance(flat, list) and len(flat) > 1 else [loaders]
        stage = "test" if self._stage == RunningStage.TESTING else "validate"
        self._dataloaders = [runner.process_dataloader(dl, stage) for dl in self._dataloaders]
        if self.fn == TrainerFn.FITTING:
            self._last_val_dl_reload_epoch = runner.current_epoch
        self._update_limits()

    def _update_limits(self) -> None:
        if self._dataloaders is None:
            self._max_batches = []
            return
        limit = self._limit()
        stage = "test" if self._stage == RunningStage.TESTING else "val"
        out: list[int | float] = []
        for dl in self._dataloaders:
            length = sized_len(dl)
            length_f: int | float = math.inf if length is None else length
            cfg = self.runner.config
            if self.runner.sanity_checking:
                full = num_batches(length_f, cfg.limit_val_batches, stage, f"{stage}_dataloader")
                out.append(min(full, limit))
            else:
                out.append(num_batches(length_f, limit, stage, f"{stage}_dataloader"))
        self._max_batches = out

    @property
    def skip(self) -> bool:
        """Nothing to run (no dataloaders or zero batches)."""
        return sum(self._max_batches) == 0

    def _grad_context(self) -> Any:
        if self.fn == TrainerFn.FITTING or not self.inference_mode:
            return torch.no_grad()
        return torch.inference_mode()

    def run(self) -> list[dict[str, Any]]:
        """Run the evaluation; returns one dictionary of logged epoch metrics per dataloader."""
        self.setup_data()
        if self.skip:
            return []
        with self._grad_context():
            return self._run()

    def _run(self) -> list[dict[str, Any]]:
        runner = self.runner
        d = runner.dispatcher
        testing = self._stage == RunningStage.TESTING
        prefix = "test" if testing else "validation"
        results = self._results
        results.reset()
        results.dataloader_idx = None
        runner.results = results
        self._logged_outputs = []
        self.batch_progress.reset_on_run()
        self.batch_progress.is_last_batch = False
        # start hooks
        module = runner.module
        self._module_mode.capture(module)
        d.call_module_always(f"on_{prefix}_model_eval")
        d.call(f"on_{prefix}_start")
        d.call_callbacks(f"on_{prefix}_epoch_start")
        d.call_module(f"on_{prefix}_epoch_start")
        runner._in_batch_loop = True
        assert self._dataloaders is not None
        multi = len(self._dataloaders) > 1
        step_name = f"{prefix}_step" if not testing else "test_step"
        step_fn = getattr(module, step_name)
        has_step = d.module_fn(step_name) is not None
        accepts_dl_idx = _accepts(step_fn, "dataloader_idx", min_args=3)
        first = True
        batch_start, batch_end = f"on_{prefix}_batch_start", f"on_{prefix}_batch_end"
        has_batch_hooks = d.has(batch_start) or d.has(batch_end)
        has_loggers = bool(runner.loggers)
        sanity = runner.sanity_checking
        for dl_idx, (dl, limit) in enumerate(zip(self._dataloaders, self._max_batches)):
            if limit == 0:
                continue
            if not first and multi:
                self._store_outputs()
            first = False
            fetcher = Fetcher(dl, limit)
            for batch_idx, batch in enumerate(fetcher):
                self.batch_progress.is_last_batch = fetcher.done
                hook_idx = dl_idx if multi else None
                batch = runner.transfer_batch(batch, dl_idx)
                self.batch_progress.increment_ready()
                results.batch = batch
                results.batch_size = None
                results.dataloader_idx = hook_idx
                args = (batch, batch_idx) if hook_idx is None else (batch, batch_idx, hook_idx)
                if has_batch_hooks:
                    d.call_callbacks(batch_start, *args)
                    d.call_module(batch_start, *args)
                self.batch_progress.increment_started()
                if has_step:
                    step_args = args if (hook_idx is None or accepts_dl_idx) else (batch, batch_idx)
                    output = runner.call_step(step_name, *step_args)
                else:
                    output = None
                self.batch_progress.increment_processed()
                if has_batch_hooks:
                    d.call_callbacks(batch_end, output, *args)
                    d.call_module(batch_end, output, *args)
                results.batch = None
                results.batch_size = None
                self.batch_progress.increment_completed()
                if not sanity:
                    self._has_run = True
                    seen = self._seen_batches_per_dataloader.get(dl_idx, 0)
                    if has_loggers:
                        _, log, _ = results.metrics(on_step=True)
                        runner.log_metrics(log, step=seen)
                    self._seen_batches_per_dataloader[dl_idx] = seen + 1
        self._store_outputs()
        runner._in_batch_loop = False
        results.dataloader_idx = None
        d.call_callbacks(f"on_{prefix}_epoch_end")
        d.call_module(f"on_{prefix}_epoch_end")
        runner.update_metrics_from(results, on_step=False)
        logged_outputs, self._logged_outputs = self._logged_outputs, []
        end_outputs = self._epoch_outputs()
        all_outputs = dict(ChainMap(*logged_outputs)) if logged_outputs else {}
        all_outputs.update(end_outputs)
        for out in logged_outputs:
            out.update(end_outputs)
        if not runner.sanity_checking:
            runner.log_metrics(all_outputs)
        d.call(f"on_{prefix}_end")
        results.reset()
        hook = f"on_{prefix}_model_train"
        if d.module_fn(hook) is not None:
            d.call_module(hook)
        else:
            self._module_mode.restore(module)
        if self.verbose and runner.is_global_zero and self.fn != TrainerFn.FITTING:
            print_results(logged_outputs, "test" if testing else "validate")
        runner._last_val_time = time.monotonic()
        return logged_outputs

    def _epoch_outputs(self) -> dict[str, Any]:
        if self.runner.sanity_checking:
            return {}
        callback, log, pbar = self._results.metrics(on_step=False)
        self.runner._callback_metrics.update(callback)
        self.runner._progress_bar_metrics.update(pbar)
        self.runner._logged_metrics.update(log)
        return log

    def _store_outputs(self) -> None:
        self._logged_outputs.append(self._epoch_outputs())

    def reset_progress(self) -> None:
        """Zero the counters (after the sanity check)."""
        self.batch_progress.reset()


class PredictionLoop:
    """Runs ``predict_step`` over one or more dataloaders and collects the predictions.

    Args:
        runner: the owning runner.
        inference_mode: use ``torch.inference_mode`` (else ``torch.no_grad``).
    """

    def __init__(self, runner: LoopRunner, inference_mode: bool = True) -> None:
        self.runner = runner
        self.inference_mode = inference_mode
        self.return_predictions = True
        self.batch_progress = Progress.from_defaults(ProcessedTracker)
        self._data_source = DataSource(None, "predict_dataloader")
        self._dataloaders: list[Any] | None = None
        self._max_batches: list[int | float] = []
        self.predictions: list[Any] = []
        self.epoch_batch_indices: list[list[list[int]]] = []
        self.current_batch_indices: list[int] = []
        self._module_mode = _ModuleMode()

    @property
    def max_batches(self) -> list[int | float]:
        """Batches per dataloader after limits."""
        return self._max_batches

    @property
    def num_dataloaders(self) -> int:
        """How many dataloaders this loop runs."""
        return len(self._dataloaders or [])

    def state_dict(self) -> dict[str, Any]:
        """Lightning's checkpoint layout for the predict loop."""
        return {"state_dict": {}, "batch_progress": self.batch_progress.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any], prefix: str = "") -> None:
        """Restore the progress counters."""
        self.batch_progress.load_state_dict(state_dict[prefix + "batch_progress"])

    def setup_data(self) -> None:
        """Request the dataloaders and compute limits."""
        runner = self.runner
        limit = runner.config.limit_predict_batches
        if limit == 0 or not self._data_source.is_defined():
            self._dataloaders = None
            self._max_batches = []
            return
        loaders = self._data_source.request()
        if isinstance(loaders, (list, tuple)):
            self._dataloaders = list(loaders)
        elif isinstance(loaders, dict):
            self._dataloaders = list(loaders.values())
        else:
            self._dataloaders = [loaders]
        self._dataloaders = [runner.process_dataloader(dl, "predict") for dl in self._dataloaders]
        out: list[int | float] = []
        for dl in self._dataloaders:
            length = sized_len(dl)
            out.append(
                num_batches(math.inf if length is None else length, limit, "predict", "predict_dataloader")
            )
        self._max_batches = out

    def run(self) -> Any:
        """Run prediction; returns the predictions (a list, or a list per dataloader) or ``None``."""
        self.setup_data()
        if not self._max_batches or sum(self._max_batches) == 0:
            return None
        ctx = torch.inference_mode() if self.inference_mode else torch.no_grad()
        with ctx:
            return self._run()

    def _run(self) -> Any:
        runner = self.runner
        d = runner.dispatcher
        module = runner.module
        runner.results = None
        self.batch_progress.reset_on_run()
        self._module_mode.capture(module)
        d.call_module_always("on_predict_model_eval")
        d.call("on_predict_start")
        d.call_callbacks("on_predict_epoch_start")
        d.call_module("on_predict_epoch_start")
        assert self._dataloaders is not None
        multi = len(self._dataloaders) > 1
        step_fn = module.predict_step
        accepts_dl_idx = _accepts(step_fn, "dataloader_idx", min_args=3)
        all_predictions: list[list[Any]] = []
        self.epoch_batch_indices = []
        writer_needs_indices = any(_is_prediction_writer(cb) for cb in runner.callbacks)
        for dl_idx, (dl, limit) in enumerate(zip(self._dataloaders, self._max_batches)):
            preds: list[Any] = []
            indices: list[list[int]] = []
            fetcher = Fetcher(dl, limit)
            batch_sampler = getattr(dl, "batch_sampler", None)
            sampler_iter = iter(batch_sampler) if writer_needs_indices and batch_sampler is not None else None
            for batch_idx, batch in enumerate(fetcher):
                batch = runner.transfer_batch(batch, dl_idx)
                self.batch_progress.increment_ready()
                if sampler_iter is not None:
                    try:
                        self.current_batch_indices = list(next(sampler_iter))
                    except StopIteration:
                        self.current_batch_indices = []
                    indices.append(self.current_batch_indices)
                hook_idx = dl_idx if multi else None
                args = (batch, batch_idx) if hook_idx is None else (batch, batch_idx, hook_idx)
                d.call_callbacks("on_predict_batch_start", *args)
                d.call_module("on_predict_batch_start", *args)
                self.batch_progress.increment_started()
                step_args = args if (hook_idx is None or accepts_dl_idx) else (batch, batch_idx)
                prediction = runner.call_step("predict_step", *step_args)
                self.batch_progress.increment_processed()
                d.call_callbacks("on_predict_batch_end", prediction, *args)
                d.call_module("on_predict_batch_end", prediction, *args)
                self.batch_progress.increment_completed()
                if self.return_predictions:
                    preds.append(_to_cpu(prediction))
            all_predictions.append(preds)
            self.epoch_batch_indices.append(indices)
        self.predictions = all_predictions if multi else all_predictions[0]
        d.call_callbacks("on_predict_epoch_end")
        d.call_module("on_predict_epoch_end")
        d.call("on_predict_end")
        self._module_mode.restore(module)
        if not self.return_predictions:
            return None
        return self.predictions


def _is_prediction_writer(cb: Any) -> bool:
    return any(c.__name__ == "BasePredictionWriter" for c in type(cb).__mro__)


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj if obj.device.type == "cpu" else obj.cpu()
    if isinstance(obj, dict):
        return type(obj)((k, _to_cpu(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


class TrainingEpochLoop:
    """Runs one training epoch: batches, optimization, scheduler steps and the validation checks.

    Args:
        runner: the owning runner.
        min_steps: do not stop before this many optimizer steps.
        max_steps: stop after this many optimizer steps (``-1``: no limit).
    """

    def __init__(self, runner: LoopRunner, min_steps: int | None = None, max_steps: int = -1) -> None:
        self.runner = runner
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.batch_progress = BatchProgress()
        self.scheduler_progress = SchedulerProgress()
        self.automatic_optimization = _AutomaticOptimizationState()
        self.manual_optimization = _ManualOptimizationState()
        self.val_loop = EvaluationLoop(
            runner, TrainerFn.FITTING, RunningStage.VALIDATING, inference_mode=False
        )
        self._results = ResultCollection(training=True)
        self._batches_that_stepped = 0
        self.restarting = False
        self._resume_skip = 0
        self._resume_data: dict[str, Any] | None = None
        self._resume_validate = False

    @property
    def total_batch_idx(self) -> int:
        """Index of the current batch across epochs."""
        return self.batch_progress.total.ready - 1

    @property
    def batch_idx(self) -> int:
        """Index of the current batch in this epoch."""
        return self.batch_progress.current.ready - 1

    @property
    def global_step(self) -> int:
        """Optimizer steps taken (automatic) or ``optimizer.step()`` calls (manual)."""
        module = self.runner.module
        if module is None or getattr(module, "automatic_optimization", True):
            return self.automatic_optimization.optim_progress.optimizer_steps
        return self.manual_optimization.optim_step_progress.total.completed

    def state_dict(self) -> dict[str, Any]:
        """Lightning's checkpoint layout (keys prefixed with ``epoch_loop.``)."""
        return {
            "state_dict": {"_batches_that_stepped": self._batches_that_stepped},
            "batch_progress": self.batch_progress.state_dict(),
            "scheduler_progress": self.scheduler_progress.state_dict(),
            "automatic_optimization.state_dict": {},
            "automatic_optimization.optim_progress": self.automatic_optimization.optim_progress.state_dict(),
            "manual_optimization.state_dict": {},
            "manual_optimization.optim_step_progress": self.manual_optimization.optim_step_progress.state_dict(),
            "val_loop.state_dict": {},
            "val_loop.batch_progress": self.val_loop.batch_progress.state_dict(),
        }

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore counters from :meth:`state_dict` output."""
        self._batches_that_stepped = sd.get("state_dict", {}).get("_batches_that_stepped", 0)
        self.batch_progress.load_state_dict(sd["batch_progress"])
        self.scheduler_progress.load_state_dict(sd["scheduler_progress"])
        self.automatic_optimization.optim_progress.load_state_dict(
            sd["automatic_optimization.optim_progress"]
        )
        self.manual_optimization.optim_step_progress.load_state_dict(
            sd["manual_optimization.optim_step_progress"]
        )
        self.val_loop.batch_progress.load_state_dict(sd["val_loop.batch_progress"])

    def _prepare_restart(self) -> None:
        """Continue an epoch from a checkpoint saved inside it (mid-epoch resume)."""
        bp = self.batch_progress
        total = bp.total
        if (
            total.started == total.ready
            and total.processed == total.started
            and total.completed == total.processed - 1
        ):
            # saved in ``on_train_batch_end``: that batch is complete, and it had stepped
            if not self._should_accumulate():
                self._batches_that_stepped += 1
            bp.increment_completed()
            # the validation that batch triggers ran after the save: run it before continuing (exact resume)
            self._resume_validate = True
        bp.reset_on_restart()
        self._resume_skip = bp.current.ready

    # ------------------------------------------------------------------ helpers used by the hot loop
    def _num_ready_batches_reached(self) -> bool:
        bp = self.batch_progress
        return bp.current.ready == self.runner.num_training_batches or bp.is_last_batch

    def _should_accumulate(self) -> bool:
        accumulate = self.runner._accumulate
        if accumulate == 1:
            return False
        done = self.batch_progress.current.ready % accumulate == 0
        if self.runner.optimization._strategy_accumulates_cached:
            return not done  # the strategy also accumulates across the epoch's last batch
        return not done and not self._num_ready_batches_reached()

    @property
    def _is_training_done(self) -> bool:
        return _is_max_limit_reached(self.global_step, self.max_steps) or self._num_ready_batches_reached()

    @property
    def done(self) -> bool:
        """Whether the epoch is over (all batches run, ``max_steps`` reached, or a permitted stop)."""
        bp = self.batch_progress
        if bp.is_last_batch or bp.current.ready == self.runner.num_training_batches:
            return True
        if self.max_steps != -1 and self.global_step >= self.max_steps:
            return True
        runner = self.runner
        if runner.should_stop:
            fit_loop = runner.fit_loop
            if not fit_loop._can_stop_early:
                rank_zero_info(
                    f"Trainer was signaled to stop but the required `min_epochs={fit_loop.min_epochs!r}` or"
                    f" `min_steps={self.min_steps!r}` has not been met. Training will continue..."
                )
                return False
            return True
        return False

    def _should_check_val_epoch(self) -> bool:
        runner = self.runner
        n = runner.config.check_val_every_n_epoch
        return runner.enable_validation and (n is None or (runner.current_epoch + 1) % n == 0)

    def _should_check_val_fx(self) -> bool:
        if not self._should_check_val_epoch():
            return False
        runner = self.runner
        val_check_batch = runner.val_check_batch
        is_infinite = val_check_batch == math.inf
        is_last = self.batch_progress.is_last_batch
        if is_last and is_infinite:
            return True
        if runner.should_stop and runner.fit_loop._can_stop_early:
            return True
        interval = runner.config.val_check_time
        if interval is not None:
            return time.monotonic() - runner._last_val_time >= interval
        is_val_check_batch = is_last
        limit = runner.config.limit_train_batches
        if isinstance(limit, int) and not isinstance(limit, bool) and is_infinite:
            is_val_check_batch = (self.batch_idx + 1) % limit == 0
        elif val_check_batch != math.inf:
            current = (
                self.total_batch_idx if runner.config.check_val_every_n_epoch is None else self.batch_idx
            )
            is_val_check_batch = (current + 1) % val_check_batch == 0
        return is_val_check_batch

    def update_lr_schedulers(self, interval: str, update_plateau_schedulers: bool) -> None:
        """Step the schedulers whose interval (and frequency) matches."""
        runner = self.runner
        configs = runner.lr_scheduler_configs
        if not configs or not runner.module.automatic_optimization:
            return
        if interval == "step" and self._should_accumulate():
            return
        for config in configs:
            if update_plateau_schedulers ^ config.reduce_on_plateau:
                continue
            current_idx = (self.batch_idx if interval == "step" else runner.current_epoch) + 1
            if config.interval != interval or current_idx % config.frequency != 0:
                continue
            monitor_val = None
            if config.reduce_on_plateau:
                key = config.monitor
                monitor_val = runner.callback_metrics.get(key)
                if monitor_val is None:
                    if config.strict:
                        raise MisconfigurationException(
                            f"ReduceLROnPlateau conditioned on metric {key}"
                            f" which is not available. Available metrics are: {list(runner.callback_metrics)}."
                            " Condition can be set using `monitor` key in lr scheduler dict"
                        )
                    rank_zero_warn(
                        f"ReduceLROnPlateau conditioned on metric {key}"
                        " which is not available but strict is set to `False`."
                        " Skipping learning rate update.",
                        category=RuntimeWarning,
                    )
                    continue
            self.scheduler_progress.increment_ready()
            runner.dispatcher.call_module_always("lr_scheduler_step", config.scheduler, monitor_val)
            self.scheduler_progress.increment_completed()

    # ------------------------------------------------------------------ the epoch
    def run(self, loader: Any) -> None:
        """Run one epoch over ``loader`` (already limited to ``num_training_batches``)."""
        runner = self.runner
        d = runner.dispatcher
        module = runner.module
        bp = self.batch_progress
        skip = self._resume_skip
        if skip:
            self._resume_skip = 0
            position, self._resume_data = self._resume_data, None
            if position is not None and skip >= runner.num_training_batches:
                # saved after the epoch's last batch: nothing is left, and the next epoch starts a fresh pass
                _keep_persistent_worker_seed(loader)
                fetcher = Fetcher(loader, 0)
            elif position is not None and _restore_data_position(loader, position, skip):
                fetcher = Fetcher(loader, runner.num_training_batches - skip)
            else:
                rank_zero_warn(
                    f"Resuming inside an epoch: the first {skip} batches of the train dataloader are skipped. The"
                    " data continues exactly where it stopped only when the loader's order is deterministic or"
                    " resumable.",
                    category=PossibleUserWarning,
                )
                fetcher = Fetcher(
                    itertools.islice(iter(loader), skip, None), runner.num_training_batches - skip
                )
        else:
            bp.reset_on_run()
            self.scheduler_progress.reset_on_run()
            self.automatic_optimization.optim_progress.reset_on_run()
            self.val_loop.batch_progress.total.reset()
            fetcher = Fetcher(loader, runner.num_training_batches)
        results = self._results
        runner.results = results
        runner._in_batch_loop = True
        automatic = module.automatic_optimization
        cb_start = d.callback_fns("on_train_batch_start")
        mod_start = d.module_fn("on_train_batch_start")
        strat_start = d.strategy_fn("on_train_batch_start")
        has_end = bool(d.callback_fns("on_train_batch_end")) or d.module_fn("on_train_batch_end") is not None
        has_schedulers = bool(runner.lr_scheduler_configs) and automatic
        optimization = runner.optimization
        config = runner.config
        log_every = config.log_every_n_steps
        has_loggers = bool(runner.loggers)
        enable_val = runner.enable_validation
        max_time = config.max_time
        profiler = runner.profiler
        training_step = module.training_step
        batch_idx_arg = _accepts(training_step, "batch_idx", min_args=2)
        combined = _is_combined(loader)
        if self._resume_validate:
            self._resume_validate = False
            if runner.enable_validation and self._should_check_val_fx():
                stepped = int(not self._should_accumulate())
                self._batches_that_stepped -= stepped  # as in the interrupted run: counted after validation
                runner.run_validation_in_fit(accumulating=not stepped)
                self._batches_that_stepped += stepped
                runner.results = results
        while not self.done:
            try:
                batch = next(fetcher)
            except StopIteration:
                break
            if combined:
                batch = batch[0]
            batch_idx = bp.current.ready
            bp.is_last_batch = fetcher.done
            batch = runner.transfer_batch(batch, 0)
            bp.increment_ready()
            results.batch = batch
            results.batch_size = None
            skip_rest = False
            output: Any = None
            if batch is None:
                rank_zero_warn(
                    "train_dataloader yielded None. If this was on purpose, ignore this warning..."
                )
            else:
                if cb_start:
                    d.call_callbacks("on_train_batch_start", batch, batch_idx)
                response = (
                    d.call_module("on_train_batch_start", batch, batch_idx) if mod_start is not None else None
                )
                if strat_start is not None:
                    strat_start(batch, batch_idx)
                skip_rest = response == -1
                if skip_rest:
                    bp.increment_by(0, is_last_batch=True)
                else:
                    bp.increment_started()
                    step_args = (batch, batch_idx) if batch_idx_arg else (batch,)
                    if profiler is not None:
                        with profiler.profile("run_training_batch"):
                            output = (
                                optimization.run_automatic(batch_idx, step_args)
                                if automatic
                                else optimization.run_manual(step_args)
                            )
                    elif automatic:
                        output = optimization.run_automatic(batch_idx, step_args)
                    else:
                        output = optimization.run_manual(step_args)
            bp.increment_processed()
            if has_schedulers:
                self.update_lr_schedulers("step", update_plateau_schedulers=False)
                if self._num_ready_batches_reached():
                    self.update_lr_schedulers("epoch", update_plateau_schedulers=False)
            if skip_rest:
                break
            if has_end:
                d.call_callbacks("on_train_batch_end", output, batch, batch_idx)
                d.call_module("on_train_batch_end", output, batch, batch_idx)
            results.batch = None
            results.batch_size = None
            bp.increment_completed()
            # step metrics to loggers
            should_log = (
                log_every and (self._batches_that_stepped + 1) % log_every == 0
            ) or runner.should_stop
            if (
                should_log
                and (has_loggers or config.fast_dev_run)
                and not (automatic and self._should_accumulate())
            ):
                _, log, _ = results.metrics(on_step=True)
                runner._logged_metrics.update(log)
                runner.log_metrics(log)
            # validation
            if enable_val and self._should_check_val_fx():
                runner.run_validation_in_fit(accumulating=self._should_accumulate())
                runner.results = results
            if has_schedulers:
                self.update_lr_schedulers("step", update_plateau_schedulers=True)
            if not self._should_accumulate():
                self._batches_that_stepped += 1
            if runner.should_stop:
                for logger in runner.loggers:
                    logger.save()
            if max_time is not None and time.monotonic() - runner._fit_start_time >= max_time:
                runner.should_stop = True
            if runner.pending_signal is not None and runner.signal_handler is not None:
                runner.signal_handler(runner.pending_signal)  # a consistent point: the step is complete
        runner.update_metrics_from(results, on_step=True)
        runner._in_batch_loop = False


class FitLoop:
    """Runs training epochs until ``max_epochs``/``max_steps``/``should_stop``.

    Args:
        runner: the owning runner.
        min_epochs: do not stop before this many epochs.
        max_epochs: stop after this many epochs (``-1``: no limit).
    """

    def __init__(self, runner: LoopRunner, min_epochs: int | None = 0, max_epochs: int | None = None) -> None:
        self.runner = runner
        self.min_epochs = min_epochs
        self.max_epochs = max_epochs
        self.epoch_progress = Progress.from_defaults(ProcessedTracker)
        self.epoch_loop = TrainingEpochLoop(runner)
        self._data_source = DataSource(None, "train_dataloader")
        self._loader: Any = None
        self.max_batches: int | float = 0
        self._last_train_dl_reload_epoch = -math.inf
        self.restarting = False
        self._restarted_mid_epoch = False
        self._resume_rng: dict[str, Any] | None = None
        self._resume_grads: list[Tensor | None] | None = None

    @property
    def total_batch_idx(self) -> int:
        """Index of the current batch across epochs."""
        return self.epoch_loop.total_batch_idx

    @property
    def batch_idx(self) -> int:
        """Index of the current batch in this epoch."""
        return self.epoch_loop.batch_idx

    @property
    def min_steps(self) -> int | None:
        """``epoch_loop.min_steps``."""
        return self.epoch_loop.min_steps

    @property
    def max_steps(self) -> int:
        """``epoch_loop.max_steps``."""
        return self.epoch_loop.max_steps

    @property
    def _can_stop_early(self) -> bool:
        met_epochs = self.epoch_progress.current.processed >= self.min_epochs if self.min_epochs else True
        met_steps = self.epoch_loop.global_step >= self.min_steps if self.min_steps else True
        return met_epochs and met_steps

    @property
    def done(self) -> bool:
        """Whether fitting is over."""
        if self.max_batches == 0:
            rank_zero_info("`Trainer.fit` stopped: No training batches.")
            return True
        if _is_max_limit_reached(self.epoch_loop.global_step, self.max_steps):
            rank_zero_info(f"`Trainer.fit` stopped: `max_steps={self.max_steps!r}` reached.")
            return True
        if self.max_epochs is not None and _is_max_limit_reached(
            self.epoch_progress.current.processed, self.max_epochs
        ):
            self.epoch_progress.current.completed = self.epoch_progress.current.processed
            rank_zero_info(f"`Trainer.fit` stopped: `max_epochs={self.max_epochs!r}` reached.")
            return True
        return self.runner.should_stop and self._can_stop_early

    def state_dict(self) -> dict[str, Any]:
        """Lightning's ``loops.fit_loop`` checkpoint layout."""
        sd: dict[str, Any] = {"state_dict": {}}
        for k, v in self.epoch_loop.state_dict().items():
            sd[f"epoch_loop.{k}"] = v
        sd["epoch_progress"] = self.epoch_progress.state_dict()
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore counters from :meth:`state_dict` output."""
        prefix = "epoch_loop."
        self.epoch_loop.load_state_dict({k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)})
        self.epoch_progress.load_state_dict(sd["epoch_progress"])
        self.restarting = True
        total = self.epoch_progress.total
        self._restarted_mid_epoch = False
        if (
            total.started == total.ready
            and total.processed == total.started
            and total.completed == total.processed - 1
        ):
            # saved at the end of an epoch (``on_train_epoch_end``, e.g. by ModelCheckpoint): that epoch is done
            self.epoch_progress.increment_completed()
        elif total.started == total.ready and total.processed == total.started - 1:
            # saved inside an epoch: continue it where it stopped
            self._restarted_mid_epoch = True
            self.epoch_loop._prepare_restart()
            self.epoch_loop.val_loop.restarting = True  # no sanity check when continuing an epoch

    def data_state(self) -> dict[str, Any] | None:
        """The position of the running training pass (see :meth:`load_resume_state`), or ``None``."""
        loader = self._loader
        if loader is None:
            return None
        consumed = self.epoch_loop.batch_progress.current.ready
        if _is_combined(loader):
            return {"batches_consumed": consumed, "combined": loader.state_dict(batches_consumed=consumed)}
        from lit_data import capture_loader_state

        return capture_loader_state(loader, consumed)

    def accumulated_grads(self) -> list[Tensor | None] | None:
        """The gradients accumulated so far when called in the middle of an accumulation window, else ``None``."""
        runner = self.runner
        module = runner.module
        if module is None or not runner._in_batch_loop or not self.epoch_loop._should_accumulate():
            return None
        return [None if p.grad is None else p.grad.detach().clone() for p in module.parameters()]

    def load_resume_state(
        self,
        rng: dict[str, Any] | None,
        data: dict[str, Any] | None,
        grads: list[Tensor | None] | None = None,
    ) -> None:
        """Arm an exact resume after :meth:`load_state_dict`.

        ``rng`` (from ``lit_data.collect_rng_states``) is put back right after ``on_train_start``, so that what
        runs during set-up does not shift the random streams. ``data`` (from :meth:`data_state`) continues an
        interrupted epoch at the index level: no consumed batch is loaded again, and a random sampler replays the
        same order. ``grads`` (from :meth:`accumulated_grads`) finishes an interrupted accumulation window.
        """
        self._resume_rng = rng
        self._resume_grads = grads
        epoch_loop = self.epoch_loop
        skip = epoch_loop._resume_skip
        epoch_loop._resume_data = data if data is not None and data.get("batches_consumed") == skip else None

    def _should_reload(self) -> bool:
        n = self.runner.config.reload_dataloaders_every_n_epochs
        return bool(n and self.runner.current_epoch - self._last_train_dl_reload_epoch >= n)

    def setup_data(self) -> None:
        """Request the training dataloader(s) and compute ``num_training_batches`` and ``val_check_batch``."""
        runner = self.runner
        if self._loader is not None and not self._should_reload():
            return
        config = runner.config
        if config.limit_train_batches == 0 or runner.dispatcher.module_fn("training_step") is None:
            return
        loader = self._data_source.request()
        runner.strategy_barrier("train_dataloader()")
        if isinstance(loader, (list, tuple, dict)):
            from lit_data import CombinedLoader

            loader = CombinedLoader(loader, "max_size_cycle")
        if _is_combined(loader):
            mode = getattr(loader, "_mode", getattr(loader, "mode", None))
            if mode == "sequential":
                raise ValueError(
                    '`FitLoop` does not support the `CombinedLoader(mode="sequential")` mode.'
                    " The available modes are: ['min_size', 'max_size_cycle', 'max_size']"
                )
            loader.flattened = [runner.process_dataloader(dl, "train") for dl in loader.flattened]
            iter(loader)
        else:
            if config.overfit_batches:
                loader = _without_shuffling(loader)
            loader = runner.process_dataloader(loader, "train")
        self._loader = loader
        length = sized_len(loader)
        limit = config.overfit_batches if config.overfit_batches else config.limit_train_batches
        self.max_batches = num_batches(
            math.inf if length is None else length, limit, "train", "train_dataloader"
        )
        runner.num_training_batches = self.max_batches
        if self.max_batches == 0:
            return
        self._last_train_dl_reload_epoch = runner.current_epoch
        if config.val_check_time is not None:
            runner.val_check_batch = None
            runner._last_val_time = time.monotonic()
        elif isinstance(config.val_check_interval, int) and not isinstance(config.val_check_interval, bool):
            runner.val_check_batch = config.val_check_interval
            if (
                config.val_check_interval > self.max_batches
                and config.check_val_every_n_epoch is not None
                and config.limit_val_batches > 0
            ):
                raise ValueError(
                    f" `val_check_interval` ({config.val_check_interval}) must be less than or equal"
                    f" to the number of the training batches ({self.max_batches})."
                    " If you want to disable validation set `limit_val_batches` to 0.0 instead."
                    " If you want to validate based on the total training batches, set `check_val_every_n_epoch=None`."
                )
        elif length is None:
            if config.val_check_interval == 1.0:
                runner.val_check_batch = math.inf
            else:
                raise MisconfigurationException(
                    "When using an IterableDataset for `train_dataloader`,"
                    " `Trainer(val_check_interval)` must be time based, `1.0` or an int. An int k specifies"
                    " checking validation every k training batches."
                )
        else:
            runner.val_check_batch = max(1, int(self.max_batches * config.val_check_interval))
        if runner.loggers and self.max_batches < config.log_every_n_steps and not config.fast_dev_run:
            rank_zero_warn(
                f"The number of training batches ({self.max_batches}) is smaller than the logging interval"
                f" Trainer(log_every_n_steps={config.log_every_n_steps}). Set a lower value for log_every_n_steps if"
                " you want to see logs for the training epoch.",
                category=PossibleUserWarning,
            )

    def run(self) -> None:
        """Run training: ``on_train_start``, the epochs, ``on_train_end``."""
        runner = self.runner
        self.setup_data()
        if self.done or runner.config.limit_train_batches == 0:
            return
        torch.set_grad_enabled(True)
        if not self.restarting:
            self.epoch_progress.current.completed = self.epoch_progress.current.processed
        d = runner.dispatcher
        epoch_loop = self.epoch_loop
        if epoch_loop._should_check_val_epoch() and epoch_loop.val_loop._dataloaders is None:
            runner.set_stage(RunningStage.VALIDATING)
            epoch_loop.val_loop.setup_data()
            runner.set_stage(RunningStage.TRAINING)
        runner.results = epoch_loop._results
        d.call("on_train_start")
        if self._resume_rng is not None:
            from lit_data import set_rng_states

            rng, self._resume_rng = self._resume_rng, None
            set_rng_states(rng)
            if not epoch_loop._resume_skip:
                _keep_persistent_worker_seed(self._loader)
        if self._resume_grads is not None:
            grads, self._resume_grads = self._resume_grads, None
            for param, grad in zip(runner.module.parameters(), grads):
                param.grad = None if grad is None else grad.to(param.device, param.dtype)
        while not self.done:
            self.setup_data()
            loader = self._loader
            epoch = self.epoch_progress.current.processed
            for dl in getattr(loader, "flattened", [loader]):
                _set_sampler_epoch(dl, epoch)
            runner._epoch = self.epoch_progress.current.completed
            runner.results = epoch_loop._results
            if self._restarted_mid_epoch:
                self._restarted_mid_epoch = False  # the epoch's start hooks already ran before the checkpoint
            else:
                self.epoch_progress.increment_ready()
                d.call_callbacks("on_train_epoch_start")
                d.call_module("on_train_epoch_start")
                self.epoch_progress.increment_started()
                if self._loader is not loader and self._loader is not None:
                    # a hook rebuilt the dataloader (a batch size search): this epoch already uses the new one
                    loader = self._loader
                    for dl in getattr(loader, "flattened", [loader]):
                        _set_sampler_epoch(dl, epoch)
            if runner.profiler is not None:
                with runner.profiler.profile("run_training_epoch"):
                    epoch_loop.run(loader)
            else:
                epoch_loop.run(loader)
            # epoch end
            self.epoch_progress.increment_processed()
            d.call_train_epoch_end()
            runner.results = epoch_loop._results
            runner.update_metrics_from(epoch_loop._results, on_step=False)
            if epoch_loop._num_ready_batches_reached():
                epoch_loop.update_lr_schedulers("epoch", update_plateau_schedulers=True)
            epoch_loop._batches_that_stepped -= 1
            _, log, _ = epoch_loop._results.metrics(on_step=False)
            runner.log_metrics(log)
            epoch_loop._batches_that_stepped += 1
            epoch_loop._results.reset()
            self.epoch_progress.increment_completed()
            self.restarting = False
        self.restarting = False
        d.call("on_train_end")


def _without_shuffling(loader: Any) -> Any:
    """``overfit_batches`` trains on the same first batches every epoch: turn shuffling off (with a warning)."""
    from torch.utils.data import DataLoader, SequentialSampler

    from lit_data import is_dataloader_shuffled, update_dataloader

    if not isinstance(loader, DataLoader) or not is_dataloader_shuffled(loader):
        return loader
    rank_zero_warn(
        "You requested to overfit but enabled training dataloader shuffling."
        " We are turning off the training dataloader shuffling for you."
    )
    return update_dataloader(loader, SequentialSampler(loader.dataset), mode="train")


def _restore_data_position(loader: Any, position: dict[str, Any], skip: int) -> bool:
    """Make the next pass over ``loader`` continue after ``skip`` batches; ``False`` when it cannot."""
    if position.get("batches_consumed") != skip:
        return False
    if "combined" in position:
        if not _is_combined(loader):
            return False
        loader.load_state_dict(position["combined"])
        return True
    if not any(key in position for key in ("record", "sampler_state", "loader", "dataset")):
        return False
    from lit_data import restore_loader_state

    restore_loader_state(loader, position)
    return True


def _keep_persistent_worker_seed(loader: Any) -> None:
    """An uninterrupted run reuses its persistent workers for the next epoch without drawing a new worker seed
    from the global generator; the resumed run's first ``iter()`` must not draw one either."""
    from torch.utils.data import DataLoader

    if not isinstance(loader, DataLoader) or not loader.persistent_workers or loader.num_workers == 0:
        return
    for name in ("batch_sampler", "sampler"):
        wrapper = getattr(loader, name, None)
        if callable(getattr(wrapper, "resume_from", None)):
            wrapper.resume_from(None, 0, loader=loader)
            return


def _is_combined(loader: Any) -> bool:
    return any(c.__name__ == "CombinedLoader" for c in type(loader).__mro__)


def _set_sampler_epoch(dataloader: Any, epoch: int) -> None:
    for name in ("sampler", "batch_sampler"):
        obj = getattr(dataloader, name, None)
        for candidate in (obj, getattr(obj, "sampler", None)):
            set_epoch = getattr(candidate, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(epoch)


def print_results(results: list[dict[str, Any]], stage: str) -> None:
    """Print the ``validate``/``test`` results table (one column per dataloader)."""
    results = [{k.split("/dataloader_idx_")[0]: v for k, v in r.items()} for r in results]
    keys = sorted({k for r in results for k in r})
    if not keys:
        return
    headers = [f"DataLoader {i}" for i in range(len(results))]
    term = shutil.get_terminal_size(fallback=(120, 30)).columns or 120
    width = int(min(max(len(max(keys, key=len)), len(max(headers, key=len)), 25), term / 2))
    rows: list[list[str]] = []
    for key in keys:
        row = []
        for r in results:
            val = r.get(key)
            if val is None:
                row.append(" ")
                continue
            if isinstance(val, Tensor):
                val = val.item() if val.numel() == 1 else val.tolist()
            row.append(f"{val}")
        rows.append(row)
    title = f"{stage} Metric".capitalize()
    cols = [title, *headers]
    fmt = f"{{:^{width}}}" * len(cols)
    line = "─" * (width * len(cols))
    try:
        if sys.stdout.encoding is not None:
            line.encode(sys.stdout.encoding)
    except UnicodeEncodeError:
        line = "-" * (width * len(cols))
    lines = [line, fmt.format(*cols).rstrip(), line]
    for key, row in zip(keys, rows):
        lines.append(fmt.format(key, *row).rstrip())
    lines.append(line)
    print("\n".join(lines))
