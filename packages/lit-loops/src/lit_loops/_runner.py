"""``LoopRunner``: drives fit/validate/test/predict over a module with no Trainer, and ``TrainerView``.

The runner owns the loops, the hook dispatcher, the optimizers and the logging store. It is given the
module, a strategy (anything following the strategy protocol; :class:`LocalStrategy` by default), the
callbacks, loggers and a :class:`LoopConfig`. Callback hooks receive a *trainer view*: an object exposing
the trainer-facing properties (``global_step``, ``callback_metrics``, ``should_stop`` ...). lit's ``Trainer``
is such a view; on its own, lit-loops uses :class:`TrainerView`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from lit_hooks import (
    MisconfigurationException,
    RunningStage,
    TrainerFn,
    TrainerState,
    TrainerStatus,
    rank_zero_info,
    rank_zero_warn,
)
from lit_loops._config import LoopConfig
from lit_loops._dispatch import HookDispatcher, ProfilingHookDispatcher, is_overridden, reorder_callbacks
from lit_loops._loops import EvaluationLoop, FitLoop, PredictionLoop
from lit_loops._module import check_removed_hooks
from lit_loops._optim import LightningOptimizer, LRSchedulerConfig, init_optimizers_and_lr_schedulers
from lit_loops._optimization import Optimization
from lit_loops._results import ResultCollection
from lit_loops._strategy import LocalStrategy

__all__ = ["LoopRunner", "TrainerView", "fit", "predict", "test", "validate"]


class LoopRunner:
    """Runs the standard loops over ``module``.

    Args:
        module: a ``LightningModule`` (or an object with the same hooks).
        strategy: the strategy; :class:`LocalStrategy` (CPU, float32) when ``None``.
        callbacks: callback objects (``lit_hooks.Callback`` or duck-typed).
        config: the loop settings.
        loggers: logger objects (``log_metrics(metrics, step)``, ``log_hyperparams``, ``save``, ``finalize``).
        profiler: an optional profiler (``profile(action)``, ``setup``, ``describe``, ``teardown``); hooks and
            training batches/epochs are timed with it.
        view: the object passed as ``trainer`` to callbacks and set as ``module.trainer``; a
            :class:`TrainerView` when ``None``.
    """

    def __init__(
        self,
        module: Any = None,
        *,
        strategy: Any = None,
        callbacks: Sequence[Any] = (),
        config: LoopConfig | None = None,
        loggers: Sequence[Any] = (),
        profiler: Any = None,
        view: Any = None,
    ) -> None:
        self.config = config or LoopConfig()
        self.profiler = profiler
        self.module = module
        self.strategy = strategy if strategy is not None else LocalStrategy()
        self.callbacks: list[Any] = list(callbacks)
        self.loggers: list[Any] = list(loggers)
        self.view = view if view is not None else TrainerView(self)
        self.state = TrainerState()
        self.should_stop = False
        self.datamodule: Any = None
        self.optimizers: list[Any] = []
        self.lightning_optimizers: list[LightningOptimizer] = []
        self.lr_scheduler_configs: list[LRSchedulerConfig] = []
        self.results: ResultCollection | None = None
        self.num_training_batches: int | float = math.inf
        self.val_check_batch: int | float | None = None
        self._callback_metrics: dict[str, Any] = {}
        self._logged_metrics: dict[str, Any] = {}
        self._progress_bar_metrics: dict[str, Any] = {}
        self._in_batch_loop = False
        self._last_val_time = 0.0
        self._fit_start_time = 0.0
        self._needs_transfer = True
        self._step_contexts: dict[str, Callable[[], Any]] | None = None
        self._precision: Any = None
        self._clip_off = True
        self._skip_clipping = True
        self._automatic = True
        self._accumulate = 1
        self._epoch = 0
        self._device = torch.device("cpu")
        self._active_hooks: frozenset[str] = frozenset()
        if profiler is not None:
            self.dispatcher: HookDispatcher = ProfilingHookDispatcher(
                self.view, module, self.callbacks, self.strategy, profiler
            )
        else:
            self.dispatcher = HookDispatcher(self.view, module, self.callbacks, self.strategy)
        self.optimization = Optimization(self)
        cfg = self.config
        self.fit_loop = FitLoop(self, min_epochs=cfg.min_epochs, max_epochs=cfg.max_epochs)
        self.fit_loop.epoch_loop.min_steps = cfg.min_steps
        self.fit_loop.epoch_loop.max_steps = cfg.max_steps
        self.validate_loop = EvaluationLoop(
            self, TrainerFn.VALIDATING, RunningStage.VALIDATING, cfg.inference_mode
        )
        self.test_loop = EvaluationLoop(self, TrainerFn.TESTING, RunningStage.TESTING, cfg.inference_mode)
        self.predict_loop = PredictionLoop(self, cfg.inference_mode)
        # called as ``restorer(runner, ckpt_path, phase)``: phase "modules" (weights, module and callback states,
        # before ``configure_optimizers``) then "training" (optimizers, schedulers, loop progress)
        self.checkpoint_restorer: Callable[[LoopRunner, Any, str], None] | None = None
        self.hparams_logger: Callable[[LoopRunner], None] | None = None
        # a signal recorded by the owner's handler, acted on by ``signal_handler`` at the next step boundary
        self.pending_signal: int | None = None
        self.signal_handler: Callable[[int], None] | None = None
        # exceptions that end a run cleanly (teardown, loggers finalized as "success", no ``on_exception``); the
        # Trainer registers the signal a tuner search raises once it is done (Lightning's tuner exit)
        self.clean_exit_types: tuple[type[BaseException], ...] = ()

    # ------------------------------------------------------------------ simple properties
    @property
    def device(self) -> torch.device:
        """The strategy's root device."""
        return self.strategy.root_device

    @property
    def barebones(self) -> bool:
        """Whether logging is off for speed."""
        return self.config.barebones

    @property
    def has_logger(self) -> bool:
        """Whether at least one logger is attached."""
        return bool(self.loggers)

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process takes part."""
        return getattr(self.strategy, "world_size", 1) > 1

    @property
    def is_global_zero(self) -> bool:
        """Whether this is the process with global rank 0."""
        return bool(getattr(self.strategy, "is_global_zero", True))

    def strategy_reduce(self, tensor: Tensor, group: Any = None, reduce_op: str = "mean") -> Tensor:
        """Reduce ``tensor`` across processes through the strategy."""
        return self.strategy.reduce(tensor, group=group, reduce_op=reduce_op)

    def strategy_barrier(self, name: str | None = None) -> None:
        """Wait for all processes (a no-op for one process)."""
        barrier = getattr(self.strategy, "barrier", None)
        if barrier is not None:
            barrier(name)

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimizer step."""
        return self.config.accumulate_grad_batches

    @property
    def current_epoch(self) -> int:
        """Completed epochs (Lightning's ``current_epoch``)."""
        return self.fit_loop.epoch_progress.current.completed

    @property
    def global_step(self) -> int:
        """Optimizer steps taken."""
        return self.fit_loop.epoch_loop.global_step

    @property
    def sanity_checking(self) -> bool:
        """Whether the sanity check is running."""
        return self.state.stage == RunningStage.SANITY_CHECKING

    @property
    def training(self) -> bool:
        """Whether the training stage is running."""
        return self.state.stage == RunningStage.TRAINING

    @property
    def enable_validation(self) -> bool:
        """Validation will run during fit (data defined, ``validation_step`` overridden, non-zero limit)."""
        val_loop = self.fit_loop.epoch_loop.val_loop
        return (
            val_loop._data_source.is_defined()
            and self.dispatcher.module_fn("validation_step") is not None
            and self.config.limit_val_batches > 0
        )

    def set_stage(self, stage: RunningStage | None) -> None:
        """Set ``state.stage``."""
        self.state.stage = stage

    # ------------------------------------------------------------------ metrics
    def update_metrics_from(self, results: ResultCollection, on_step: bool) -> None:
        """Merge the current values of ``results`` into callback/progress-bar/logged metrics."""
        callback, log, pbar = results.metrics(on_step=on_step)
        self._callback_metrics.update(callback)
        self._progress_bar_metrics.update(pbar)
        self._logged_metrics.update(log)

    def _live(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
        results = self.results
        if results is None:
            return None
        return results.metrics(on_step=self._in_batch_loop)

    @property
    def callback_metrics(self) -> dict[str, Any]:
        """Metrics available to callbacks (step values during training, epoch values after)."""
        live = self._live()
        if live is not None:
            self._callback_metrics.update(live[0])
        return self._callback_metrics

    @property
    def logged_metrics(self) -> dict[str, Any]:
        """Metrics sent (or that would be sent) to the loggers."""
        live = self._live()
        if live is not None:
            self._logged_metrics.update(live[1])
        return self._logged_metrics

    @property
    def progress_bar_metrics(self) -> dict[str, float]:
        """Metrics shown in the progress bar, as Python numbers."""
        live = self._live()
        if live is not None:
            self._progress_bar_metrics.update(live[2])
        return {
            k: (v.item() if isinstance(v, Tensor) and v.numel() == 1 else v)
            for k, v in self._progress_bar_metrics.items()
        }

    def reset_metrics(self) -> None:
        """Forget all callback/logged/progress-bar metrics."""
        self._callback_metrics = {}
        self._logged_metrics = {}
        self._progress_bar_metrics = {}

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Send ``metrics`` to every logger (tensors become Python numbers here, and only here)."""
        if not self.loggers or not metrics:
            return
        self._logged_metrics.update(metrics)
        scalars = {
            k: (v.item() if isinstance(v, Tensor) and v.numel() == 1 else v) for k, v in metrics.items()
        }
        if step is None:
            step_metric = scalars.pop("step", None)
            if step_metric is not None:
                step = int(step_metric)
            else:
                scalars.setdefault("epoch", self.current_epoch)
                step = self.fit_loop.epoch_loop._batches_that_stepped
        for logger in self.loggers:
            logger.log_metrics(metrics=scalars, step=step)
            logger.save()

    # ------------------------------------------------------------------ per-step services
    def process_dataloader(self, dataloader: Any, stage: str = "train") -> Any:
        """Shard the dataloader across processes (``use_distributed_sampler``), then let the strategy adapt it.

        Args:
            dataloader: the user's dataloader.
            stage: ``"train"``, ``"validate"``, ``"test"`` or ``"predict"``.
        """
        world_size = int(getattr(self.strategy, "world_size", 1))
        if world_size > 1 and self.config.use_distributed_sampler:
            from lit_data import requires_distributed_sampler, use_distributed_sampler

            if requires_distributed_sampler(dataloader, True, True) or stage == "predict":
                dataloader = use_distributed_sampler(
                    dataloader,
                    world_size=world_size,
                    rank=int(getattr(self.strategy, "global_rank", 0)),
                    shuffle=None if stage == "train" else False,
                    mode=stage,
                )
        fn = getattr(self.strategy, "process_dataloader", None)
        dataloader = fn(dataloader) if callable(fn) else dataloader
        if stage == "train":
            from lit_data import make_resumable

            # records the random state each pass starts from, so that a checkpoint can continue a pass exactly
            dataloader = make_resumable(dataloader)
        return dataloader

    def transfer_batch(self, batch: Any, dataloader_idx: int) -> Any:
        """``on_before_batch_transfer`` -> ``transfer_batch_to_device`` -> ``on_after_batch_transfer``."""
        if not self._needs_transfer:
            return batch
        if self._precision is not None:
            batch = self._precision.convert_input(batch)
        d = self.dispatcher
        if d.module_fn("on_before_batch_transfer") is not None:
            batch = d.call_module("on_before_batch_transfer", batch, dataloader_idx)
        device = self.device
        if d.module_fn("transfer_batch_to_device") is not None:
            batch = d.call_module("transfer_batch_to_device", batch, device, dataloader_idx)
        elif device.type != "cpu":
            batch = self.strategy.batch_to_device(batch, device)
        if d.module_fn("on_after_batch_transfer") is not None:
            batch = d.call_module("on_after_batch_transfer", batch, dataloader_idx)
        return batch

    def call_step(self, name: str, *args: Any) -> Any:
        """Run a ``*_step`` of the module (through the strategy when it wraps the model)."""
        module = self.module
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = name
        try:
            strategy_step = self._strategy_steps.get(name) if self._strategy_steps else None
            if strategy_step is not None:
                return strategy_step(*args)
            if self._step_contexts is not None:
                with self._step_contexts[name]():
                    return getattr(module, name)(*args)
            return getattr(module, name)(*args)
        finally:
            module.__dict__["_current_fx_name"] = prev

    _strategy_steps: dict[str, Callable[..., Any]] | None = None

    def run_backward(self, loss: Tensor, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        """``on_before_backward`` -> strategy backward (calls ``module.backward``) -> ``on_after_backward``."""
        d = self.dispatcher
        module = self.module
        active = self._active_hooks
        if "on_before_backward" in active:
            d.call_callbacks("on_before_backward", loss)
            d.call_module("on_before_backward", loss)
        fx = module.__dict__
        prev = fx.get("_current_fx_name")
        fx["_current_fx_name"] = "backward"
        try:
            self.strategy.backward(loss, optimizer, *args, **kwargs)
        finally:
            fx["_current_fx_name"] = prev
        if "on_after_backward" in active:
            d.call_callbacks("on_after_backward")
            d.call_module("on_after_backward")

    def optimizer_step(self, optimizer: Any, closure: Callable[[], Any], **kwargs: Any) -> Any:
        """Step through the strategy; after the closure ran, the before-step hooks and clipping run."""

        def closure_then_hooks() -> Any:
            out = closure()
            self._after_closure(optimizer)
            return out

        return self.strategy.optimizer_step(optimizer, closure_then_hooks, model=self.module, **kwargs)

    def _after_closure(self, optimizer: Any) -> None:
        d = self.dispatcher
        if "on_before_optimizer_step" in self._active_hooks:
            d.call_callbacks("on_before_optimizer_step", optimizer)
            d.call_module("on_before_optimizer_step", optimizer)
        if not self._automatic or self._skip_clipping:
            return
        cfg = self.config
        d.call_module_always(
            "configure_gradient_clipping",
            optimizer,
            gradient_clip_val=cfg.gradient_clip_val,
            gradient_clip_algorithm=cfg.gradient_clip_algorithm,
        )

    def clip_gradients(self, optimizer: Any, clip_val: float, algorithm: str) -> None:
        """Clip gradients (through the precision plugin when it provides clipping, e.g. to unscale first)."""
        precision = getattr(self.strategy, "precision_plugin", None)
        fn = getattr(precision, "clip_gradients", None)
        if callable(fn):
            fn(self.module, optimizer, clip_val, algorithm)
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(params, clip_val)

    # ------------------------------------------------------------------ running
    def attach(self, module: Any) -> None:
        """Attach ``module`` (sets ``module.trainer`` to the view)."""
        self.module = module
        self.dispatcher.module = module
        try:
            module.trainer = self.view
        except AttributeError:
            pass
        if getattr(module, "_loop", None) is not self:
            try:
                module._loop = self
            except AttributeError:
                pass
        if not hasattr(module, "_current_fx_name"):
            module.__dict__["_current_fx_name"] = None

    def set_data(
        self,
        fn: TrainerFn,
        dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
    ) -> None:
        """Choose where each loop gets its dataloaders (given objects win over datamodule and module hooks)."""
        module = self.module
        self.datamodule = datamodule
        if datamodule is not None:
            try:
                datamodule.trainer = self.view
            except AttributeError:
                pass

        def source(given: Any, name: str) -> Any:
            if given is not None:
                return given
            if datamodule is not None and is_overridden(name, datamodule):
                return datamodule
            return module

        if fn == TrainerFn.FITTING:
            self.fit_loop._data_source.instance = source(dataloaders, "train_dataloader")
            self.fit_loop._data_source.name = "train_dataloader"
            self.fit_loop._loader = None
            val = self.fit_loop.epoch_loop.val_loop
            val._data_source.instance = source(val_dataloaders, "val_dataloader")
            val._dataloaders = None
        elif fn == TrainerFn.VALIDATING:
            self.validate_loop._data_source.instance = source(dataloaders, "val_dataloader")
            self.validate_loop._dataloaders = None
        elif fn == TrainerFn.TESTING:
            self.test_loop._data_source.instance = source(dataloaders, "test_dataloader")
            self.test_loop._dataloaders = None
        else:
            self.predict_loop._data_source.instance = source(dataloaders, "predict_dataloader")
            self.predict_loop._dataloaders = None

    def _check_config(self, fn: TrainerFn) -> None:
        module = self.module
        check_removed_hooks(module)
        d = self.dispatcher
        if fn == TrainerFn.FITTING:
            if d.module_fn("training_step") is None:
                raise MisconfigurationException(
                    "No `training_step()` method defined. Lightning `Trainer` expects as minimum a"
                    " `training_step()`, `train_dataloader()` and `configure_optimizers()` to be defined."
                )
            if not self.fit_loop._data_source.is_defined():
                raise MisconfigurationException(
                    "No `train_dataloader()` method defined. Lightning `Trainer` expects as minimum a"
                    " `training_step()`, `train_dataloader()` and `configure_optimizers()` to be defined."
                )
            val_src = self.fit_loop.epoch_loop.val_loop._data_source
            has_step = d.module_fn("validation_step") is not None
            if val_src.is_defined() and not has_step and val_src.instance is not module:
                rank_zero_warn(
                    "You passed in a `val_dataloader` but have no `validation_step`. Skipping val loop."
                )
            if not module.automatic_optimization:
                cfg = self.config
                if cfg.gradient_clip_val is not None and cfg.gradient_clip_val != 0:
                    raise MisconfigurationException(
                        "Automatic gradient clipping is not supported for manual optimization."
                        f" Remove `Trainer(gradient_clip_val={cfg.gradient_clip_val})`"
                        " or switch to automatic optimization."
                    )
                if cfg.accumulate_grad_batches != 1:
                    raise MisconfigurationException(
                        "Automatic gradient accumulation is not supported for manual optimization."
                        f" Remove `Trainer(accumulate_grad_batches={cfg.accumulate_grad_batches})`"
                        " or switch to automatic optimization."
                    )
        elif fn in (TrainerFn.VALIDATING, TrainerFn.TESTING, TrainerFn.PREDICTING):
            step = {TrainerFn.VALIDATING: "validation_step", TrainerFn.TESTING: "test_step"}.get(
                fn, "predict_step"
            )
            loader_hook = step.replace("validation", "val").replace("_step", "_dataloader")
            if fn != TrainerFn.PREDICTING and d.module_fn(step) is None:
                raise MisconfigurationException(f"No `{step}()` method defined to run `Trainer.{fn.value}`.")
            loop = {
                TrainerFn.VALIDATING: self.validate_loop,
                TrainerFn.TESTING: self.test_loop,
                TrainerFn.PREDICTING: self.predict_loop,
            }[fn]
            if not loop._data_source.is_defined():
                raise MisconfigurationException(
                    f"No `{loader_hook}()` method defined to run `Trainer.{fn.value}`."
                )

    def _attach_model_callbacks(self) -> None:
        d = self.dispatcher
        fn = d.module_fn("configure_callbacks")
        if fn is not None:
            extra = d.call_module("configure_callbacks")
            if extra is not None and not isinstance(extra, (list, tuple)):
                extra = [extra]
            extra = list(extra or [])
            if extra:
                types = {type(c) for c in extra}
                kept = [c for c in self.callbacks if type(c) not in types]
                self.callbacks[:] = kept + extra
        self.callbacks[:] = reorder_callbacks(self.callbacks)
        d.callbacks = self.callbacks
        d.build()

    def _setup_module_and_optimizers(self, fn: TrainerFn, ckpt_path: Any = None) -> None:
        module = self.module
        strategy = self.strategy
        connect = getattr(strategy, "connect", None)
        if callable(connect):
            connect(module)
        d = self.dispatcher
        if d.module_fn("configure_sharded_model") is not None:
            from lit_hooks import rank_zero_deprecation

            rank_zero_deprecation(
                "You have overridden `LightningModule.configure_sharded_model` hook. It will assume that all the"
                " layers are created inside this hook. `configure_sharded_model` is deprecated: rename it to"
                " `configure_model`."
            )
            d.call_module("configure_sharded_model")
        if d.module_fn("configure_model") is not None:
            ctx = getattr(strategy, "tensor_init_context", None)
            with ctx() if callable(ctx) else contextlib.nullcontext():
                d.call_module("configure_model")
        setup_module = getattr(strategy, "setup_module", None)
        if callable(setup_module):
            wrapped = setup_module(module)
            if wrapped is not None and wrapped is not module:
                strategy.model = wrapped
        if hasattr(module, "_update_properties"):
            module._update_properties(device=self.device)
        if self.checkpoint_restorer is not None and ckpt_path is not None:
            self.checkpoint_restorer(self, ckpt_path, "modules")
        if fn == TrainerFn.FITTING:
            self.optimizers, self.lr_scheduler_configs = init_optimizers_and_lr_schedulers(_HookCaller(self))
            setup_opt = getattr(strategy, "setup_optimizer", None)
            if callable(setup_opt):
                self.optimizers = [setup_opt(o) or o for o in self.optimizers]
            self._wrap_optimizers()
        self._needs_transfer = self.device.type != "cpu" or any(
            d.module_fn(h) is not None
            for h in ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
        )
        cfg = self.config
        self._clip_off = not cfg.gradient_clip_val
        self._skip_clipping = self._clip_off and d.module_fn("configure_gradient_clipping") is None
        self._automatic = bool(getattr(module, "automatic_optimization", True))
        self._accumulate = cfg.accumulate_grad_batches
        self._epoch = self.current_epoch
        self._device = self.device
        self.optimization.setup()
        self._active_hooks = frozenset(
            name
            for name in (
                "on_before_backward",
                "on_after_backward",
                "on_before_optimizer_step",
                "on_before_zero_grad",
            )
            if d.has(name)
        )
        steps = {}
        wrapped = getattr(strategy, "model", None)
        if wrapped is not None and wrapped is not module and not isinstance(strategy, LocalStrategy):
            # the strategy wraps the module (DDP, FSDP ...): the steps must go through the wrapper
            for name in ("training_step", "validation_step", "test_step", "predict_step"):
                fn_ = getattr(strategy, name, None)
                if callable(fn_):
                    steps[name] = fn_
        self._strategy_steps = steps or None
        precision = getattr(strategy, "precision_plugin", None)
        self._precision = None
        self._step_contexts = None
        if precision is not None and not steps and type(precision).__name__ != "Precision":
            self._precision = precision
            self._needs_transfer = True
            self._step_contexts = {
                "training_step": precision.train_step_context,
                "validation_step": precision.val_step_context,
                "test_step": precision.test_step_context,
                "predict_step": precision.predict_step_context,
            }

    def _wrap_optimizers(self) -> None:
        module = self.module
        self.lightning_optimizers = []
        manual_progress = self.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        for opt in self.optimizers:
            lopt = LightningOptimizer._to_lightning_optimizer(opt, self, module)
            if not module.automatic_optimization:
                lopt._on_before_step = manual_progress.increment_ready
                lopt._on_after_step = manual_progress.increment_completed
            self.lightning_optimizers.append(lopt)

    def _call_setup(self, fn: TrainerFn) -> None:
        stage = fn
        dm = self.datamodule
        d = self.dispatcher
        d.call_callbacks("setup", stage=stage)
        if dm is not None and hasattr(dm, "setup"):
            _call_dm(dm, "setup", stage=stage)
        d.call_module("setup", stage)

    def _call_teardown(self, fn: TrainerFn) -> None:
        d = self.dispatcher
        dm = self.datamodule
        d.call_callbacks("teardown", stage=fn)
        if dm is not None and hasattr(dm, "teardown"):
            _call_dm(dm, "teardown", stage=fn)
        d.call_module("teardown", fn)

    def _prepare_data(self) -> None:
        dm = self.datamodule
        if dm is not None and is_overridden("prepare_data", dm):
            _call_dm(dm, "prepare_data")
        self.dispatcher.call_module("prepare_data")

    def run(self, fn: TrainerFn, ckpt_path: Any = None) -> Any:
        """Run one entry point with the exception handling Lightning has (status, ``on_exception``)."""
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self.should_stop = False
        if fn == TrainerFn.FITTING:
            self.state.stage = RunningStage.TRAINING
            self.results = self.fit_loop.epoch_loop._results
        elif fn == TrainerFn.VALIDATING:
            self.state.stage = RunningStage.VALIDATING
            self.results = self.validate_loop._results
        elif fn == TrainerFn.TESTING:
            self.state.stage = RunningStage.TESTING
            self.results = self.test_loop._results
        else:
            self.state.stage = RunningStage.PREDICTING
            self.results = None
        try:
            out = self._run(fn, ckpt_path)
        except self.clean_exit_types:
            self._teardown_internal()
            self._call_teardown(fn)
            for logger in self.loggers:
                logger.finalize("success")
            self.state.status = TrainerStatus.FINISHED
            self.state.stage = None
            return None
        except BaseException as exc:
            self.state.status = TrainerStatus.INTERRUPTED
            self.dispatcher.call_callbacks("on_exception", exc)
            dm = self.datamodule
            if dm is not None and callable(getattr(dm, "on_exception", None)):
                dm.on_exception(exc)
            on_exc = getattr(self.strategy, "on_exception", None)
            if callable(on_exc):
                on_exc(exc)
            for logger in self.loggers:
                logger.finalize("failed")
            self._teardown_internal()
            self.state.stage = None
            raise
        self.state.status = TrainerStatus.FINISHED
        self.state.stage = None
        return out

    def _run(self, fn: TrainerFn, ckpt_path: Any) -> Any:
        module = self.module
        if module is None:
            raise MisconfigurationException("No module to run: pass a LightningModule.")
        self.attach(module)
        self.dispatcher.callbacks = self.callbacks
        self.dispatcher.build()
        self._check_config(fn)
        self._attach_model_callbacks()
        connect = getattr(self.strategy, "connect", None)
        if callable(connect):
            connect(module)
        setup_environment = getattr(self.strategy, "setup_environment", None)
        if callable(setup_environment):
            setup_environment()
        self._prepare_data()
        self._call_setup(fn)
        self._setup_module_and_optimizers(fn, ckpt_path)
        if self.checkpoint_restorer is not None and ckpt_path is not None:
            self.checkpoint_restorer(self, ckpt_path, "training")
        if self.hparams_logger is not None:
            self.hparams_logger(self)
        d = self.dispatcher
        profiler = self.profiler
        if profiler is not None and callable(getattr(profiler, "setup", None)):
            log_dir = getattr(self.view, "log_dir", None)
            profiler.setup(
                stage=fn.value, local_rank=getattr(self.strategy, "local_rank", 0), log_dir=log_dir
            )
        if fn == TrainerFn.FITTING:
            d.call("on_fit_start")
        out = self._run_stage(fn)
        if fn == TrainerFn.FITTING:
            d.call_callbacks("on_fit_end")
            d.call_module("on_fit_end")
        self._teardown_internal()
        self._call_teardown(fn)
        for logger in self.loggers:
            logger.finalize("success")
        if profiler is not None:
            describe = getattr(profiler, "describe", None)
            if callable(describe):
                describe()
            teardown = getattr(profiler, "teardown", None)
            if callable(teardown):
                teardown(stage=fn.value)
        return out

    def _teardown_internal(self) -> None:
        teardown = getattr(self.strategy, "teardown", None)
        if callable(teardown):
            teardown()
        self.results = None
        self._in_batch_loop = False

    def _run_stage(self, fn: TrainerFn) -> Any:
        self.strategy_barrier("run-stage")
        module = self.module
        zero_grad = getattr(module, "zero_grad", None)
        if callable(zero_grad):
            zero_grad()
        if fn == TrainerFn.VALIDATING:
            self.set_stage(RunningStage.VALIDATING)
            return self.validate_loop.run()
        if fn == TrainerFn.TESTING:
            self.set_stage(RunningStage.TESTING)
            return self.test_loop.run()
        if fn == TrainerFn.PREDICTING:
            self.set_stage(RunningStage.PREDICTING)
            return self.predict_loop.run()
        self._fit_start_time = time.monotonic()
        self._run_sanity_check()
        self.set_stage(RunningStage.TRAINING)
        with (
            torch.autograd.set_detect_anomaly(self.config.detect_anomaly)
            if self.config.detect_anomaly
            else (contextlib.nullcontext())
        ):
            self.fit_loop.run()
        return None

    def _run_sanity_check(self) -> None:
        val_loop = self.fit_loop.epoch_loop.val_loop
        steps = self.config.num_sanity_val_steps
        restarting, val_loop.restarting = val_loop.restarting, False
        if not (self.enable_validation and steps > 0 and not restarting):
            return
        with _isolate_rng():
            self.set_stage(RunningStage.SANITY_CHECKING)
            d = self.dispatcher
            d.call_callbacks("on_sanity_check_start")
            val_loop.run()
            d.call_callbacks("on_sanity_check_end")
            val_loop._results.reset()
            self.reset_metrics()
            val_loop.reset_progress()
            self.set_stage(RunningStage.TRAINING)

    def run_validation_in_fit(self, accumulating: bool) -> None:
        """Run the validation loop from inside the training epoch."""
        if self.results is not None:
            self.update_metrics_from(self.results, on_step=True)
        self.set_stage(RunningStage.VALIDATING)
        in_loop = self._in_batch_loop
        if not accumulating:
            self.dispatcher.call_module_always("on_validation_model_zero_grad")
        self.fit_loop.epoch_loop.val_loop.run()
        self.set_stage(RunningStage.TRAINING)
        self._in_batch_loop = in_loop

    # ------------------------------------------------------------------ entry points
    def fit(self, train_dataloaders: Any = None, val_dataloaders: Any = None, datamodule: Any = None) -> None:
        """Train ``module``."""
        self.set_data(TrainerFn.FITTING, train_dataloaders, val_dataloaders, datamodule)
        self.run(TrainerFn.FITTING)

    def validate(
        self, dataloaders: Any = None, datamodule: Any = None, verbose: bool = True
    ) -> list[dict[str, float]]:
        """Run validation; returns one dict of metrics per dataloader."""
        self.set_data(TrainerFn.VALIDATING, dataloaders, datamodule=datamodule)
        self.validate_loop.verbose = verbose
        return _floats(self.run(TrainerFn.VALIDATING))

    def test(
        self, dataloaders: Any = None, datamodule: Any = None, verbose: bool = True
    ) -> list[dict[str, float]]:
        """Run the test loop; returns one dict of metrics per dataloader."""
        self.set_data(TrainerFn.TESTING, dataloaders, datamodule=datamodule)
        self.test_loop.verbose = verbose
        return _floats(self.run(TrainerFn.TESTING))

    def predict(
        self, dataloaders: Any = None, datamodule: Any = None, return_predictions: bool = True
    ) -> Any:
        """Run prediction; returns the predictions (per dataloader when several)."""
        self.set_data(TrainerFn.PREDICTING, dataloaders, datamodule=datamodule)
        self.predict_loop.return_predictions = return_predictions
        return self.run(TrainerFn.PREDICTING)

    # ------------------------------------------------------------------ checkpoint pieces
    def loops_state_dict(self) -> dict[str, Any]:
        """The ``loops`` entry of a checkpoint (Lightning's layout)."""
        return {
            "fit_loop": self.fit_loop.state_dict(),
            "validate_loop": self.validate_loop.state_dict(),
            "test_loop": self.test_loop.state_dict(),
            "predict_loop": self.predict_loop.state_dict(),
        }

    def load_loops_state_dict(self, state: dict[str, Any]) -> None:
        """Restore loop progress from a checkpoint's ``loops`` entry."""
        if "fit_loop" in state:
            self.fit_loop.load_state_dict(state["fit_loop"])
        for name in ("validate_loop", "test_loop", "predict_loop"):
            if name in state:
                getattr(self, name).load_state_dict(state[name])


@contextlib.contextmanager
def _isolate_rng() -> Any:
    """Restore the Python, NumPy and torch random states afterwards (the sanity check must not change them)."""
    import random

    py_state = random.getstate()
    torch_state = torch.get_rng_state()
    try:
        import numpy as np

        np_state: Any = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy ships with torch here
        np = None  # type: ignore[assignment]
        np_state = None
    try:
        yield
    finally:
        random.setstate(py_state)
        torch.set_rng_state(torch_state)
        if np is not None:
            np.random.set_state(np_state)


class _HookCaller:
    """Calls ``configure_optimizers`` with ``_current_fx_name`` set, exposing the module's other attributes."""

    def __init__(self, runner: LoopRunner) -> None:
        self._runner = runner

    def configure_optimizers(self) -> Any:
        return self._runner.dispatcher.call_module_always("configure_optimizers")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner.module, name)


def _call_dm(dm: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(dm, name)(*args, **kwargs)


def _floats(outputs: Any) -> Any:
    if not outputs:
        return outputs if outputs is not None else []
    return [
        {k: (v.item() if isinstance(v, Tensor) and v.numel() == 1 else v) for k, v in o.items()}
        for o in outputs
    ]


class TrainerView:
    """The trainer-side object callbacks receive when lit-loops runs without lit's ``Trainer``.

    It exposes the properties callbacks commonly read (``global_step``, ``current_epoch``,
    ``callback_metrics``, ``should_stop`` ...), all backed by the runner.

    Args:
        runner: the runner it reflects.
    """

    def __init__(self, runner: LoopRunner) -> None:
        self._loop_runner = runner

    @property
    def lightning_module(self) -> Any:
        """The module being run."""
        return self._loop_runner.module

    @property
    def model(self) -> Any:
        """The module as wrapped by the strategy."""
        return getattr(self._loop_runner.strategy, "model", None) or self._loop_runner.module

    @property
    def strategy(self) -> Any:
        """The strategy."""
        return self._loop_runner.strategy

    @property
    def callbacks(self) -> list[Any]:
        """The callbacks."""
        return self._loop_runner.callbacks

    @property
    def loggers(self) -> list[Any]:
        """The loggers."""
        return self._loop_runner.loggers

    @property
    def logger(self) -> Any:
        """The first logger, or ``None``."""
        loggers = self._loop_runner.loggers
        return loggers[0] if loggers else None

    @property
    def state(self) -> TrainerState:
        """``fn``/``stage``/``status``."""
        return self._loop_runner.state

    @property
    def fit_loop(self) -> FitLoop:
        """The fit loop."""
        return self._loop_runner.fit_loop

    @property
    def validate_loop(self) -> EvaluationLoop:
        """The validate loop."""
        return self._loop_runner.validate_loop

    @property
    def test_loop(self) -> EvaluationLoop:
        """The test loop."""
        return self._loop_runner.test_loop

    @property
    def predict_loop(self) -> PredictionLoop:
        """The predict loop."""
        return self._loop_runner.predict_loop

    @property
    def should_stop(self) -> bool:
        """Set to ``True`` to stop fitting (honouring ``min_epochs``/``min_steps``)."""
        return self._loop_runner.should_stop

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        self._loop_runner.should_stop = value

    @property
    def current_epoch(self) -> int:
        """Completed epochs."""
        return self._loop_runner.current_epoch

    @property
    def global_step(self) -> int:
        """Optimizer steps taken."""
        return self._loop_runner.global_step

    @property
    def max_epochs(self) -> int | None:
        """The epoch limit."""
        return self._loop_runner.fit_loop.max_epochs

    @property
    def min_epochs(self) -> int | None:
        """The minimum number of epochs."""
        return self._loop_runner.fit_loop.min_epochs

    @property
    def max_steps(self) -> int:
        """The step limit."""
        return self._loop_runner.fit_loop.max_steps

    @property
    def min_steps(self) -> int | None:
        """The minimum number of steps."""
        return self._loop_runner.fit_loop.min_steps

    @property
    def callback_metrics(self) -> dict[str, Any]:
        """Metrics for callbacks."""
        return self._loop_runner.callback_metrics

    @property
    def logged_metrics(self) -> dict[str, Any]:
        """Metrics sent to loggers."""
        return self._loop_runner.logged_metrics

    @property
    def progress_bar_metrics(self) -> dict[str, Any]:
        """Metrics for the progress bar."""
        return self._loop_runner.progress_bar_metrics

    @property
    def optimizers(self) -> list[Any]:
        """The optimizers."""
        return self._loop_runner.optimizers

    @property
    def lr_scheduler_configs(self) -> list[LRSchedulerConfig]:
        """The scheduler configurations."""
        return self._loop_runner.lr_scheduler_configs

    @property
    def sanity_checking(self) -> bool:
        """Whether the sanity check runs."""
        return self._loop_runner.sanity_checking

    @property
    def training(self) -> bool:
        """Whether training runs."""
        return self._loop_runner.training

    @property
    def validating(self) -> bool:
        """Whether validation runs."""
        return self._loop_runner.state.stage == RunningStage.VALIDATING

    @property
    def testing(self) -> bool:
        """Whether testing runs."""
        return self._loop_runner.state.stage == RunningStage.TESTING

    @property
    def predicting(self) -> bool:
        """Whether prediction runs."""
        return self._loop_runner.state.stage == RunningStage.PREDICTING

    @property
    def is_global_zero(self) -> bool:
        """Whether this is rank 0."""
        return self._loop_runner.is_global_zero

    @property
    def global_rank(self) -> int:
        """The global rank."""
        return int(getattr(self._loop_runner.strategy, "global_rank", 0))

    @property
    def local_rank(self) -> int:
        """The local rank."""
        return int(getattr(self._loop_runner.strategy, "local_rank", 0))

    @property
    def world_size(self) -> int:
        """The number of processes."""
        return int(getattr(self._loop_runner.strategy, "world_size", 1))

    @property
    def num_training_batches(self) -> int | float:
        """Training batches per epoch."""
        return self._loop_runner.num_training_batches

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimizer step."""
        return self._loop_runner.config.accumulate_grad_batches

    @property
    def gradient_clip_val(self) -> int | float | None:
        """The clipping value."""
        return self._loop_runner.config.gradient_clip_val

    @property
    def gradient_clip_algorithm(self) -> str | None:
        """The clipping algorithm."""
        return self._loop_runner.config.gradient_clip_algorithm

    @property
    def datamodule(self) -> Any:
        """The datamodule, if any."""
        return self._loop_runner.datamodule

    @property
    def fast_dev_run(self) -> int:
        """Batches of a quick debugging run (0: off)."""
        return self._loop_runner.config.fast_dev_run

    @property
    def log_every_n_steps(self) -> int:
        """Logging interval in steps."""
        return self._loop_runner.config.log_every_n_steps

    @property
    def barebones(self) -> bool:
        """Whether logging is off."""
        return self._loop_runner.config.barebones

    def save_checkpoint(self, filepath: Any, weights_only: bool = False, storage_options: Any = None) -> None:
        """Not available without lit's Trainer."""
        raise NotImplementedError("`save_checkpoint` needs lit's `Trainer` (pip install lit).")


def _run_entry(
    entry: str,
    module: Any,
    dataloaders: Any,
    *,
    strategy: Any,
    callbacks: Iterable[Any],
    config: LoopConfig | None,
    loggers: Iterable[Any],
    **kwargs: Any,
) -> tuple[LoopRunner, Any]:
    runner = LoopRunner(
        module, strategy=strategy, callbacks=list(callbacks), config=config, loggers=list(loggers)
    )
    out = getattr(runner, entry)(dataloaders, **kwargs)
    return runner, out


def fit(
    module: Any,
    train_dataloaders: Any = None,
    val_dataloaders: Any = None,
    *,
    datamodule: Any = None,
    strategy: Any = None,
    callbacks: Iterable[Any] = (),
    loggers: Iterable[Any] = (),
    config: LoopConfig | None = None,
) -> LoopRunner:
    """Train ``module`` with the standard fit loop (no Trainer); returns the runner for inspection."""
    runner = LoopRunner(
        module, strategy=strategy, callbacks=list(callbacks), config=config, loggers=list(loggers)
    )
    runner.fit(train_dataloaders, val_dataloaders, datamodule=datamodule)
    return runner


def validate(
    module: Any,
    dataloaders: Any = None,
    *,
    datamodule: Any = None,
    strategy: Any = None,
    callbacks: Iterable[Any] = (),
    loggers: Iterable[Any] = (),
    config: LoopConfig | None = None,
    verbose: bool = False,
) -> list[dict[str, float]]:
    """Run validation over ``dataloaders``; returns one dict of metrics per dataloader."""
    _, out = _run_entry(
        "validate",
        module,
        dataloaders,
        strategy=strategy,
        callbacks=callbacks,
        config=config,
        loggers=loggers,
        datamodule=datamodule,
        verbose=verbose,
    )
    return out


def test(
    module: Any,
    dataloaders: Any = None,
    *,
    datamodule: Any = None,
    strategy: Any = None,
    callbacks: Iterable[Any] = (),
    loggers: Iterable[Any] = (),
    config: LoopConfig | None = None,
    verbose: bool = False,
) -> list[dict[str, float]]:
    """Run the test loop over ``dataloaders``; returns one dict of metrics per dataloader."""
    _, out = _run_entry(
        "test",
        module,
        dataloaders,
        strategy=strategy,
        callbacks=callbacks,
        config=config,
        loggers=loggers,
        datamodule=datamodule,
        verbose=verbose,
    )
    return out


def predict(
    module: Any,
    dataloaders: Any = None,
    *,
    datamodule: Any = None,
    strategy: Any = None,
    callbacks: Iterable[Any] = (),
    config: LoopConfig | None = None,
    return_predictions: bool = True,
) -> Any:
    """Run ``predict_step`` over ``dataloaders``; returns the predictions."""
    _, out = _run_entry(
        "predict",
        module,
        dataloaders,
        strategy=strategy,
        callbacks=callbacks,
        config=config,
        loggers=(),
        datamodule=datamodule,
        return_predictions=return_predictions,
    )
    return out


_ = rank_zero_info
