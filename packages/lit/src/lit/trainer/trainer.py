"""``Trainer``: Lightning 2.6's Trainer API as a thin facade over the lit-loops runner.

The Trainer validates its arguments (an invalid value fails here, naming the valid choices), applies
``PL_TRAINER_<ARG>`` environment defaults, turns ``accelerator``/``strategy``/``devices``/``precision``/
``plugins`` into objects, adds the default callbacks and loggers, and then hands every ``fit``/``validate``/
``test``/``predict`` call to a :class:`lit_loops.LoopRunner`. The loops themselves live in lit-loops.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
from ast import literal_eval
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager, suppress
from datetime import timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import torch

from lit.trainer.connector import AcceleratorConnector
from lit_hooks import (
    Callback,
    MisconfigurationException,
    PossibleUserWarning,
    RunningStage,
    TrainerFn,
    TrainerStatus,
    rank_zero_info,
    rank_zero_warn,
)
from lit_loops import LoopConfig, LoopRunner, TrainerView

__all__ = ["Trainer"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _parse_env_variables(cls: type) -> dict[str, Any]:
    env_args: dict[str, Any] = {}
    for arg_name in inspect.signature(cls).parameters:
        val = os.environ.get(f"PL_{cls.__name__.upper()}_{arg_name.upper()}")
        if val is None or val == "":
            continue
        with suppress(Exception):
            val = literal_eval(val)
        env_args[arg_name] = val
    return env_args


def _defaults_from_env_vars(fn: _F) -> _F:
    @wraps(fn)
    def insert_env_defaults(self: Any, *args: Any, **kwargs: Any) -> Any:
        if args:
            names = list(inspect.signature(type(self)).parameters)
            kwargs.update(dict(zip(names, args)))
        kwargs = {**_parse_env_variables(type(self)), **kwargs}
        return fn(self, **kwargs)

    return insert_env_defaults  # type: ignore[return-value]


def _batch_limit(value: Any, name: str) -> int | float:
    """Lightning's rule for ``limit_*_batches``/``overfit_batches``/``val_check_interval`` values."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MisconfigurationException(
            f"You have passed invalid value {value!r} for {name}, it has to be in [0.0, 1.0] or an int."
        )
    if 0 <= value <= 1:
        return value
    if value > 1 and value % 1.0 == 0:
        return int(value)
    raise MisconfigurationException(
        f"You have passed invalid value {value!r} for {name}, it has to be in [0.0, 1.0] or an int."
    )


def _parse_time(value: Any, name: str) -> float | None:
    """Seconds for a ``"DD:HH:MM:SS"`` string, a ``timedelta`` or a dict of ``timedelta`` keywords."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        try:
            return timedelta(**value).total_seconds()
        except TypeError as err:
            raise MisconfigurationException(
                f"`Trainer({name}={value!r})` is not a valid duration dict: use `datetime.timedelta` keywords"
                " such as {'hours': 1, 'minutes': 30}."
            ) from err
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            days, hours, minutes, seconds = map(int, parts)
            return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds).total_seconds()
    raise MisconfigurationException(
        f"`Trainer({name}={value!r})` is not a valid duration. Use a 'DD:HH:MM:SS' string, a `datetime.timedelta`"
        " or a dict such as {'minutes': 5}."
    )


def _check_bool(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, bool):
        choices = "True, False" + (" or None" if allow_none else "")
        raise MisconfigurationException(f"`Trainer({name}={value!r})` is invalid: expected {choices}.")


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False, extra: str = "") -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MisconfigurationException(
            f"`Trainer({name}={value!r})` is invalid: expected an integer >= {minimum}"
            + (" or None" if allow_none else "")
            + (f" {extra}" if extra else "")
            + "."
        )


def _stage_flag(stage: RunningStage, doc: str) -> property:
    """A read/write flag for one running stage: setting it selects the stage, clearing it leaves no stage."""

    def get(self: Any) -> bool:
        return self.state.stage == stage

    def set_(self: Any, val: bool) -> None:
        if val:
            self.state.stage = stage
        elif self.state.stage == stage:
            self.state.stage = None

    return property(get, set_, doc=doc)


class Trainer(TrainerView):
    """Fits, validates, tests and predicts with a ``LightningModule`` (Lightning 2.6 compatible).

    Every argument is keyword-only with Lightning's default; see ``lightning-api.md`` section 1. Defaults can
    also come from ``PL_TRAINER_<ARGNAME>`` environment variables (explicit arguments win).
    """

    # plain attributes here (read-only properties on the loops' view)
    barebones: bool = False
    fast_dev_run: int | bool = False
    datamodule: Any = None

    @_defaults_from_env_vars
    def __init__(
        self,
        *,
        accelerator: str | Any = "auto",
        strategy: str | Any = "auto",
        devices: list[int] | str | int = "auto",
        num_nodes: int = 1,
        precision: Any = None,
        logger: Any = None,
        callbacks: list[Callback] | Callback | None = None,
        fast_dev_run: int | bool = False,
        max_epochs: int | None = None,
        min_epochs: int | None = None,
        max_steps: int = -1,
        min_steps: int | None = None,
        max_time: str | timedelta | dict[str, int] | None = None,
        limit_train_batches: float | None = None,
        limit_val_batches: float | None = None,
        limit_test_batches: float | None = None,
        limit_predict_batches: float | None = None,
        overfit_batches: float = 0.0,
        val_check_interval: float | str | timedelta | dict[str, int] | None = None,
        check_val_every_n_epoch: int | None = 1,
        num_sanity_val_steps: int | None = None,
        log_every_n_steps: int | None = None,
        enable_checkpointing: bool | None = None,
        enable_progress_bar: bool | None = None,
        enable_model_summary: bool | None = None,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
        deterministic: bool | str | None = None,
        benchmark: bool | None = None,
        inference_mode: bool = True,
        use_distributed_sampler: bool = True,
        profiler: Any = None,
        detect_anomaly: bool = False,
        barebones: bool = False,
        plugins: Any = None,
        sync_batchnorm: bool = False,
        reload_dataloaders_every_n_epochs: int = 0,
        default_root_dir: str | Path | None = None,
        enable_autolog_hparams: bool = True,
        model_registry: str | None = None,
    ) -> None:
        if barebones:
            self._check_barebones(
                enable_checkpointing=enable_checkpointing,
                logger=logger,
                enable_progress_bar=enable_progress_bar,
                log_every_n_steps=log_every_n_steps,
                enable_model_summary=enable_model_summary,
                num_sanity_val_steps=num_sanity_val_steps,
                fast_dev_run=fast_dev_run,
                detect_anomaly=detect_anomaly,
                profiler=profiler,
            )
            enable_checkpointing = False
            logger = False
            enable_progress_bar = False
            log_every_n_steps = 0
            enable_model_summary = False
            num_sanity_val_steps = 0
        # ---------------------------------------------------------------- validation
        for name, value in (
            ("inference_mode", inference_mode),
            ("use_distributed_sampler", use_distributed_sampler),
            ("detect_anomaly", detect_anomaly),
            ("barebones", barebones),
            ("sync_batchnorm", sync_batchnorm),
            ("enable_autolog_hparams", enable_autolog_hparams),
        ):
            _check_bool(name, value)
        for name, value in (
            ("enable_checkpointing", enable_checkpointing),
            ("enable_progress_bar", enable_progress_bar),
            ("enable_model_summary", enable_model_summary),
            ("benchmark", benchmark),
        ):
            _check_bool(name, value, allow_none=True)
        if deterministic is not None and deterministic != "warn" and not isinstance(deterministic, bool):
            raise MisconfigurationException(
                f"`Trainer(deterministic={deterministic!r})` is invalid: expected True, False, 'warn' or None."
            )
        _check_int("num_nodes", num_nodes, 1)
        if isinstance(fast_dev_run, bool):
            fast_dev_run_n = int(fast_dev_run)
        elif isinstance(fast_dev_run, int) and fast_dev_run >= 0:
            fast_dev_run_n = fast_dev_run
        else:
            raise MisconfigurationException(
                f"fast_dev_run={fast_dev_run!r} is not a valid configuration. It should be >= 0 (or a bool)."
            )
        if max_epochs is not None and (
            isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < -1
        ):
            raise MisconfigurationException(
                f"`max_epochs` must be a non-negative integer or -1 (infinite epochs). You passed in {max_epochs!r}."
            )
        _check_int("min_epochs", min_epochs, 0, allow_none=True)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < -1:
            raise MisconfigurationException(
                f"`max_steps` must be a non-negative integer or -1 (infinite steps). You passed in {max_steps!r}."
            )
        _check_int("min_steps", min_steps, 0, allow_none=True)
        max_time_s = _parse_time(max_time, "max_time")
        if check_val_every_n_epoch is not None and (
            isinstance(check_val_every_n_epoch, bool)
            or not isinstance(check_val_every_n_epoch, int)
            or check_val_every_n_epoch < 1
        ):
            raise MisconfigurationException(
                f"`check_val_every_n_epoch` should be an integer >= 1 or None. Found {check_val_every_n_epoch!r}."
            )
        if num_sanity_val_steps is not None:
            _check_int(
                "num_sanity_val_steps", num_sanity_val_steps, -1, extra="(-1 runs all validation batches)"
            )
        if log_every_n_steps is not None:
            _check_int("log_every_n_steps", log_every_n_steps, 0)
        if (
            isinstance(accumulate_grad_batches, bool)
            or not isinstance(accumulate_grad_batches, int)
            or (accumulate_grad_batches < 1)
        ):
            raise MisconfigurationException(
                f"`Trainer(accumulate_grad_batches={accumulate_grad_batches!r})` is invalid: expected an integer >= 1."
            )
        if gradient_clip_val is not None and (
            isinstance(gradient_clip_val, bool) or not isinstance(gradient_clip_val, (int, float))
        ):
            raise TypeError(f"`gradient_clip_val` should be an int or a float. Got {gradient_clip_val!r}.")
        if gradient_clip_algorithm is not None:
            algo = str(gradient_clip_algorithm).lower()
            if algo not in ("value", "norm"):
                raise MisconfigurationException(
                    f"`gradient_clip_algorithm` {gradient_clip_algorithm!r} is invalid. Allowed algorithms:"
                    " ['value', 'norm']."
                )
            gradient_clip_algorithm = algo
        elif gradient_clip_val is not None:
            gradient_clip_algorithm = "norm"
        _check_int("reload_dataloaders_every_n_epochs", reload_dataloaders_every_n_epochs, 0)
        if default_root_dir is not None and not isinstance(default_root_dir, (str, os.PathLike)):
            raise MisconfigurationException(
                f"`Trainer(default_root_dir={default_root_dir!r})` is invalid: expected a path (str or PathLike)."
            )
        limit_train = _batch_limit(limit_train_batches, "limit_train_batches")
        limit_val = _batch_limit(limit_val_batches, "limit_val_batches")
        limit_test = _batch_limit(limit_test_batches, "limit_test_batches")
        limit_predict = _batch_limit(limit_predict_batches, "limit_predict_batches")
        overfit = _batch_limit(overfit_batches, "overfit_batches")
        val_check_time = None
        if isinstance(val_check_interval, (str, timedelta, dict)):
            val_check_time = _parse_time(val_check_interval, "val_check_interval")
            val_check: int | float = 1.0
        else:
            val_check = _batch_limit(val_check_interval, "val_check_interval")

        # ---------------------------------------------------------------- objects
        self._default_root_dir = os.fspath(default_root_dir) if default_root_dir is not None else None
        self._connector = AcceleratorConnector(
            accelerator=accelerator,
            strategy=strategy,
            devices=devices,
            num_nodes=num_nodes,
            precision=precision,
            plugins=plugins,
            sync_batchnorm=sync_batchnorm,
            deterministic=deterministic,
            benchmark=benchmark,
            use_distributed_sampler=use_distributed_sampler,
        )
        self.barebones = barebones
        self.fast_dev_run: int | bool = fast_dev_run
        if fast_dev_run_n:
            limit_train = limit_val = limit_test = limit_predict = fast_dev_run_n
            max_steps = fast_dev_run_n
            max_epochs = 1
            num_sanity_val_steps = 0
            val_check = 1.0
            val_check_time = None
            check_val_every_n_epoch = 1
            rank_zero_info(
                f"Running in `fast_dev_run` mode: will run the requested loop using {fast_dev_run_n} batch(es). "
                "Logging and checkpointing is suppressed."
            )
        if overfit > 0:
            limit_train = overfit
            limit_val = overfit
        if max_epochs is None:
            if max_steps == -1 and max_time_s is None:
                rank_zero_warn(
                    "`max_epochs` was not set. Setting it to 1000 epochs. To train without an epoch limit,"
                    " set `max_epochs=-1`.",
                    category=PossibleUserWarning,
                )
                max_epochs = 1000
            else:
                max_epochs = -1
        sanity = 2 if num_sanity_val_steps is None else num_sanity_val_steps
        self.num_sanity_val_steps: int | float = math.inf if sanity == -1 else sanity
        self._config = LoopConfig(
            max_epochs=max_epochs,
            min_epochs=min_epochs,
            max_steps=max_steps,
            min_steps=min_steps,
            max_time=None,
            limit_train_batches=limit_train,
            limit_val_batches=limit_val,
            limit_test_batches=limit_test,
            limit_predict_batches=limit_predict,
            overfit_batches=overfit,
            val_check_interval=val_check,
            val_check_time=val_check_time,
            check_val_every_n_epoch=check_val_every_n_epoch,
            num_sanity_val_steps=self.num_sanity_val_steps,
            accumulate_grad_batches=accumulate_grad_batches,
            gradient_clip_val=gradient_clip_val,
            gradient_clip_algorithm=gradient_clip_algorithm,
            log_every_n_steps=50 if log_every_n_steps is None else log_every_n_steps,
            inference_mode=inference_mode,
            reload_dataloaders_every_n_epochs=reload_dataloaders_every_n_epochs,
            fast_dev_run=fast_dev_run_n,
            barebones=barebones,
            detect_anomaly=detect_anomaly,
            use_distributed_sampler=use_distributed_sampler,
        )
        self.enable_autolog_hparams = enable_autolog_hparams
        if model_registry is not None:
            raise MisconfigurationException(
                f"`Trainer(model_registry={model_registry!r})` needs the Lightning cloud model registry, which lit does"
                " not support. Remove the argument and save checkpoints with `ModelCheckpoint` instead."
            )
        self.model_registry = model_registry
        self._ckpt_path: str | None = None
        self.datamodule: Any = None
        self.received_sigterm = False
        self._max_time = max_time
        # loggers
        self._loggers = self._init_loggers(logger, fast_dev_run_n)
        # callbacks
        user_callbacks = (
            []
            if callbacks is None
            else ([callbacks] if not isinstance(callbacks, Iterable) else list(callbacks))
        )
        for cb in user_callbacks:
            if not callable(getattr(cb, "state_dict", None)) and not isinstance(cb, Callback):
                raise MisconfigurationException(
                    f"`Trainer(callbacks=...)` got {cb!r}, which is not a `Callback`. Pass Callback instances."
                )
        self._profiler = self._init_profiler(profiler)
        all_callbacks = self._init_callbacks(
            user_callbacks,
            enable_checkpointing=enable_checkpointing is not False and not fast_dev_run_n,
            enable_progress_bar=enable_progress_bar is not False,
            enable_model_summary=enable_model_summary is not False,
            max_time=max_time,
        )
        strategy_obj = self._connector.strategy
        self._loop_runner = LoopRunner(
            None,
            strategy=strategy_obj,
            callbacks=all_callbacks,
            config=self._config,
            loggers=self._loggers,
            profiler=self._profiler,
            view=self,
        )
        self._loop_runner.hparams_logger = _log_hyperparams if enable_autolog_hparams else None
        self._loop_runner.checkpoint_restorer = _restore_checkpoint
        self._connector.apply_global_flags()

    # ------------------------------------------------------------------ init helpers
    @staticmethod
    def _check_barebones(**kwargs: Any) -> None:
        checks = {
            "enable_checkpointing": lambda v: bool(v),
            "logger": lambda v: v is not None and v is not False,
            "enable_progress_bar": lambda v: bool(v),
            "log_every_n_steps": lambda v: v is not None and v != 0,
            "enable_model_summary": lambda v: bool(v),
            "num_sanity_val_steps": lambda v: v is not None and v != 0,
            "fast_dev_run": lambda v: v is not False and v != 0,
            "detect_anomaly": lambda v: bool(v),
            "profiler": lambda v: v is not None,
        }
        for name, bad in checks.items():
            value = kwargs[name]
            if bad(value):
                raise ValueError(
                    f"`Trainer(barebones=True, {name}={value!r})` was passed. `barebones=True` turns it off:"
                    f" remove the `{name}` argument or set `barebones=False`."
                )

    def _init_loggers(self, logger: Any, fast_dev_run: int) -> list[Any]:
        if logger is False or logger == []:
            loggers: list[Any] = []
        elif logger is None or logger is True:
            loggers = [self._default_logger()]
        elif isinstance(logger, Iterable) and not isinstance(logger, (str, bytes)):
            loggers = list(logger)
        else:
            loggers = [logger]
        for lg in loggers:
            if not callable(getattr(lg, "log_metrics", None)):
                raise MisconfigurationException(
                    f"`Trainer(logger=...)` got {lg!r}, which is not a logger (it has no `log_metrics`)."
                    " Pass a `lit.loggers.Logger`, a list of them, True or False."
                )
        if fast_dev_run and loggers:
            from lit_loggers import DummyLogger

            loggers = [DummyLogger()]
        return loggers

    def _default_logger(self) -> Any:
        import importlib.util

        save_dir = self.default_root_dir
        if (
            importlib.util.find_spec("tensorboard") is not None
            or importlib.util.find_spec("tensorboardX") is not None
        ):
            from lit_loggers import TensorBoardLogger

            return TensorBoardLogger(save_dir=save_dir)
        from lit_loggers import CSVLogger

        return CSVLogger(save_dir=save_dir)

    def _init_profiler(self, profiler: Any) -> Any:
        if profiler is None:
            return None
        if isinstance(profiler, str):
            from lit_callbacks import profiler_from_alias

            return profiler_from_alias(profiler)
        if not callable(getattr(profiler, "start", None)) or not callable(getattr(profiler, "stop", None)):
            raise MisconfigurationException(
                f"`Trainer(profiler={profiler!r})` is invalid: expected a `Profiler` instance or one of"
                " 'simple', 'advanced', 'pytorch', 'xla'."
            )
        return profiler

    def _init_callbacks(
        self,
        callbacks: list[Any],
        *,
        enable_checkpointing: bool,
        enable_progress_bar: bool,
        enable_model_summary: bool,
        max_time: Any,
    ) -> list[Any]:
        from lit_callbacks import load_external_callbacks

        # callbacks other installed packages advertise (`lit.callbacks_factory` and Lightning's group)
        out = list(callbacks) + load_external_callbacks()
        names = _class_names
        if enable_model_summary and not any(names(cb) & {"ModelSummary"} for cb in out):
            import importlib.util

            import lit_callbacks

            summary = (
                lit_callbacks.RichModelSummary
                if importlib.util.find_spec("rich")
                else lit_callbacks.ModelSummary
            )
            out.append(summary())
        if enable_progress_bar:
            bars = [cb for cb in out if "ProgressBar" in names(cb)]
            if len(bars) > 1:
                raise MisconfigurationException(
                    "You added multiple progress bar callbacks to the Trainer, but currently only one"
                    f" progress bar is supported: {bars!r}."
                )
            if not bars:
                from lit_callbacks import default_progress_bar

                out.append(default_progress_bar())
        else:
            bars = [cb for cb in out if "ProgressBar" in names(cb)]
            if bars:
                raise MisconfigurationException(
                    "Trainer was configured with `enable_progress_bar=False`"
                    f" but found `{type(bars[0]).__name__}` in callbacks list."
                )
        if max_time is not None:
            from lit_callbacks import Timer

            out.append(Timer(duration=max_time, interval="step"))
        checkpoint_cls = _model_checkpoint_class()
        if checkpoint_cls is not None:
            has_checkpoint = any(isinstance(cb, checkpoint_cls) for cb in out)
            if enable_checkpointing and not has_checkpoint:
                out.append(checkpoint_cls())
            elif not enable_checkpointing and has_checkpoint:
                raise MisconfigurationException(
                    "Trainer was configured with `enable_checkpointing=False`"
                    " but found `ModelCheckpoint` in callbacks list."
                )
        return out

    # ------------------------------------------------------------------ entry points
    def fit(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: Any = None,
        ckpt_path: str | Path | None = None,
        weights_only: bool | None = None,
    ) -> None:
        """Train ``model`` (dataloaders, a datamodule, or the model's own ``*_dataloader`` hooks)."""
        model = _check_model(model, "fit")
        if _is_datamodule(train_dataloaders):
            if datamodule is not None:
                raise MisconfigurationException(
                    "You cannot pass `train_dataloader` or `val_dataloaders` to `trainer.fit(datamodule=...)`"
                )
            datamodule, train_dataloaders = train_dataloaders, None
        if (train_dataloaders is not None or val_dataloaders is not None) and datamodule is not None:
            raise MisconfigurationException(
                "You cannot pass `train_dataloader` or `val_dataloaders` to `trainer.fit(datamodule=...)`"
            )
        ckpt_path = self._resolve_ckpt_path(TrainerFn.FITTING, ckpt_path)
        self._ckpt_path = ckpt_path
        self._weights_only = weights_only
        runner = self._loop_runner
        runner.module = model
        self.datamodule = datamodule
        runner.set_data(TrainerFn.FITTING, train_dataloaders, val_dataloaders, datamodule)
        from lit.trainer.checkpoint import remove_stale_temporaries
        from lit.trainer.signal_connector import SignalConnector

        # a process killed while saving leaves its temporary file next to the checkpoint: clear them now
        folders = {self.default_root_dir, *(getattr(cb, "dirpath", None) for cb in self.checkpoint_callbacks)}
        if ckpt_path is not None and "://" not in ckpt_path:
            folders.add(os.path.dirname(os.path.abspath(ckpt_path)))
        for folder in folders:
            remove_stale_temporaries(folder)
        signals = SignalConnector(self)
        self.received_sigterm = False
        runner.pending_signal = None
        runner.signal_handler = signals.handle
        signals.register()
        try:
            self._call_and_handle_interrupt(runner.run, TrainerFn.FITTING, ckpt_path)
        finally:
            signals.teardown()
            runner.signal_handler = None

    def validate(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: str | Path | None = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """Run the validation loop; returns one dict of epoch metrics per dataloader."""
        self._weights_only = weights_only
        return self._evaluate(TrainerFn.VALIDATING, model, dataloaders, ckpt_path, verbose, datamodule)

    def test(
        self,
        model: Any = None,
        dataloaders: Any = None,
        ckpt_path: str | Path | None = None,
        verbose: bool = True,
        datamodule: Any = None,
        weights_only: bool | None = None,
    ) -> list[dict[str, float]]:
        """Run the test loop; returns one dict of epoch metrics per dataloader."""
        self._weights_only = weights_only
        return self._evaluate(TrainerFn.TESTING, model, dataloaders, ckpt_path, verbose, datamodule)

    def _evaluate(
        self, fn: TrainerFn, model: Any, dataloaders: Any, ckpt_path: Any, verbose: bool, datamodule: Any
    ) -> list[dict[str, float]]:
        runner = self._loop_runner
        name = fn.value
        if model is None:
            if runner.module is None:
                raise MisconfigurationException(
                    f"`model` must be provided to `trainer.{name}()` when it hasn't been passed in a previous run"
                )
        else:
            runner.module = _check_model(model, name)
        if _is_datamodule(dataloaders):
            datamodule, dataloaders = dataloaders, None
        if dataloaders is not None and datamodule:
            raise MisconfigurationException(
                f"You cannot pass both `trainer.{name}(dataloaders=..., datamodule=...)`"
            )
        self.datamodule = datamodule
        ckpt_path = self._resolve_ckpt_path(fn, ckpt_path, model_provided=model is not None)
        self._ckpt_path = ckpt_path
        runner.set_data(fn, dataloaders, datamodule=datamodule)
        loop = runner.validate_loop if fn == TrainerFn.VALIDATING else runner.test_loop
        loop.verbose = verbose
        out = self._call_and_handle_interrupt(runner.run, fn, ckpt_path)
        return [
            {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in o.items()}
            for o in (out or [])
        ]

    def predict(
        self,
        model: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        return_predictions: bool | None = None,
        ckpt_path: str | Path | None = None,
        weights_only: bool | None = None,
    ) -> Any:
        """Run ``predict_step`` over the data; returns the predictions (a list per dataloader when several)."""
        runner = self._loop_runner
        if model is None:
            if runner.module is None:
                raise MisconfigurationException(
                    "`model` must be provided to `trainer.predict()` when it hasn't been passed in a previous run"
                )
        else:
            runner.module = _check_model(model, "predict")
        if _is_datamodule(dataloaders):
            datamodule, dataloaders = dataloaders, None
        if dataloaders is not None and datamodule:
            raise MisconfigurationException(
                "You cannot pass both `trainer.predict(dataloaders=..., datamodule=...)`"
            )
        if return_predictions is not None and not isinstance(return_predictions, bool):
            raise MisconfigurationException(
                f"`return_predictions` should be True, False or None. Got {return_predictions!r}."
            )
        self.datamodule = datamodule
        self._weights_only = weights_only
        ckpt_path = self._resolve_ckpt_path(TrainerFn.PREDICTING, ckpt_path, model_provided=model is not None)
        self._ckpt_path = ckpt_path
        runner.set_data(TrainerFn.PREDICTING, dataloaders, datamodule=datamodule)
        runner.predict_loop.return_predictions = True if return_predictions is None else return_predictions
        return self._call_and_handle_interrupt(runner.run, TrainerFn.PREDICTING, ckpt_path)

    def _resolve_ckpt_path(self, fn: TrainerFn, ckpt_path: Any, model_provided: bool = True) -> str | None:
        """Lightning's rules for ``ckpt_path``: ``None``, ``"best"``, ``"last"``, ``"hpc"`` or a path/URL."""
        from lit.trainer.signal_connector import _on_slurm, hpc_resume_path

        name = fn.value
        if ckpt_path is None and _on_slurm() and hpc_resume_path(self.default_root_dir) is not None:
            ckpt_path = "hpc"
        on_exception = [cb for cb in self.callbacks if "OnExceptionCheckpoint" in _class_names(cb)]
        if ckpt_path is None and on_exception and fn == TrainerFn.FITTING:
            ckpt_path = "last"
            rank_zero_warn(
                f"`.{name}(ckpt_path=None)` was called without a model. The last model of the previous `fit` call"
                f" will be used. You can pass `{name}(ckpt_path='best')` to use the best model or"
                f" `{name}(ckpt_path='last')` to use the last model. If you pass a value, this warning will be"
                " silenced."
            )
        if ckpt_path is None and model_provided:
            return None
        if ckpt_path is None:  # no model passed: the one of the previous ``fit``, with its best weights
            ckpt_path = "best"
            tip = (
                " There is also an on-exception checkpoint available, however it is used by default only when"
                " fitting."
                if on_exception
                else ""
            )
            rank_zero_warn(
                f"`.{name}(ckpt_path=None)` was called without a model. The best model of the previous `fit` call"
                f" will be used.{tip} You can pass `.{name}(ckpt_path='best')` to use the best model or"
                f" `.{name}(ckpt_path='last')` to use the last model. If you pass a value, this warning will be"
                " silenced."
            )
        if ckpt_path == "best":
            if len(self.checkpoint_callbacks) > 1:
                rank_zero_warn(
                    f'`.{name}(ckpt_path="best")` is called with Trainer configured with multiple `ModelCheckpoint`'
                    " callbacks. It will use the best checkpoint path from first checkpoint callback."
                )
            ckpt = self.checkpoint_callback
            if ckpt is None:
                raise ValueError(
                    f'`.{name}(ckpt_path="best")` is set but `ModelCheckpoint` is not configured.'
                )
            if hasattr(ckpt, "best_model_path") and not ckpt.best_model_path:
                if self.fast_dev_run:
                    raise ValueError(
                        f'You cannot execute `.{name}(ckpt_path="best")` with `fast_dev_run=True`.'
                        f" Please pass an exact checkpoint path to `.{name}(ckpt_path=...)`"
                    )
                raise ValueError(
                    f'`.{name}(ckpt_path="best")` is set but `ModelCheckpoint` is not configured to save the best'
                    " model."
                )
            ckpt_path = getattr(ckpt, "best_model_path", None)
        elif ckpt_path == "last":
            candidates = {getattr(cb, "ckpt_path", None) for cb in on_exception}
            for cb in self.checkpoint_callbacks:
                find = getattr(cb, "_find_last_checkpoints", None)
                if callable(find):
                    candidates |= set(find(self))
                last = getattr(cb, "last_model_path", "")
                if last:
                    candidates.add(last)
            existing = {
                p: os.path.getmtime(p) for p in candidates if p and "://" not in p and os.path.isfile(p)
            }
            if not existing:
                rank_zero_warn(
                    f'.{name}(ckpt_path="last") is set, but there is no last checkpoint available. No checkpoint will'
                    " be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)`."
                )
                return None
            ckpt_path = max(existing, key=existing.__getitem__)
        elif ckpt_path == "hpc":
            path = hpc_resume_path(self.default_root_dir)
            if path is None:
                raise ValueError(
                    f'`.{name}(ckpt_path="hpc")` is set but no HPC checkpoint (hpc_ckpt_<N>.ckpt) was found in'
                    f" {self.default_root_dir!r}. Pass an exact checkpoint path to `.{name}(ckpt_path=...)`."
                )
            ckpt_path = path
        if not ckpt_path:
            raise ValueError(
                f"`.{name}()` found no path for the best weights: {ckpt_path!r}. Please specify a path for a"
                f" checkpoint `.{name}(ckpt_path=PATH)`"
            )
        return os.fspath(ckpt_path)

    def _call_and_handle_interrupt(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            launcher = getattr(self.strategy, "launcher", None)
            if launcher is not None:
                return launcher.launch(fn, *args, trainer=self)
            return fn(*args)
        except KeyboardInterrupt:
            rank_zero_info("\nDetected KeyboardInterrupt, attempting graceful shutdown ...")
            sys.exit(1)

    # ------------------------------------------------------------------ misc API
    @contextmanager
    def init_module(self, empty_init: bool | None = None) -> Generator[None, None, None]:
        """Create modules directly on the target device and dtype (``empty_init`` skips initialisation)."""
        strategy = self.strategy
        ctx = getattr(strategy, "tensor_init_context", None)
        precision = self._connector.precision_plugin
        if callable(ctx):
            with ctx(empty_init) if "empty_init" in inspect.signature(ctx).parameters else ctx():
                yield
            return
        device = self.strategy.root_device
        pctx = getattr(precision, "module_init_context", None)
        with torch.device(device):
            if callable(pctx):
                with pctx():
                    yield
            else:
                yield

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on global rank 0 only."""
        if self.local_rank == 0 and self.is_global_zero:
            print(*args, **kwargs)

    def save_checkpoint(
        self, filepath: str | Path, weights_only: bool | None = None, storage_options: Any | None = None
    ) -> None:
        """Write a checkpoint with Lightning's keys."""
        from lit.trainer.checkpoint import save_checkpoint

        save_checkpoint(self, filepath, weights_only=bool(weights_only), storage_options=storage_options)

    def tuning_session(self) -> Any:
        """A tuning session over the running ``fit``/``validate``/``test``/``predict`` call (the tuner hook).

        ``LearningRateFinder`` and ``BatchSizeFinder`` use it to run short trials of the active loop and then
        restore the model, optimizers, loop progress, callbacks, loggers and random state exactly; see
        ``lit_callbacks._tuning.TuningSession``. Its ``end_run()`` ends the current call cleanly.
        """
        from lit.tuner._session import TrainerTuningSession, _TunerExitException

        runner = self._loop_runner
        if _TunerExitException not in runner.clean_exit_types:
            runner.clean_exit_types = (*runner.clean_exit_types, _TunerExitException)
        return TrainerTuningSession(self)

    # ------------------------------------------------------------------ properties
    @property
    def accelerator(self) -> Any:
        """The accelerator object."""
        return self._connector.accelerator

    @property
    def strategy(self) -> Any:
        """The strategy object."""
        return self._loop_runner.strategy

    @property
    def precision_plugin(self) -> Any:
        """The precision plugin."""
        return self._connector.precision_plugin

    @property
    def precision(self) -> str:
        """The precision string, e.g. ``"32-true"``."""
        return self._connector.precision

    @property
    def scaler(self) -> Any:
        """The gradient scaler of mixed precision, or ``None``."""
        return getattr(self.precision_plugin, "scaler", None)

    @property
    def lightning_module(self) -> Any:
        """The module being run."""
        return self._loop_runner.module

    @property
    def model(self) -> Any:
        """The module as wrapped by the strategy (or the module itself)."""
        wrapped = getattr(self.strategy, "model", None)
        return wrapped if wrapped is not None else self._loop_runner.module

    @property
    def node_rank(self) -> int:
        """The node index."""
        return int(getattr(self.strategy, "node_rank", 0))

    @property
    def num_nodes(self) -> int:
        """The number of nodes."""
        return self._connector.num_nodes

    @property
    def device_ids(self) -> list[int]:
        """Indices of the devices this process uses."""
        return self._connector.device_ids

    @property
    def num_devices(self) -> int:
        """Number of devices per node."""
        return len(self.device_ids)

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any] | None:
        """Arguments for a distributed sampler (``None`` on one device)."""
        return getattr(self.strategy, "distributed_sampler_kwargs", None)

    @property
    def default_root_dir(self) -> str:
        """Where logs and checkpoints go by default (the working directory when not set)."""
        if self._default_root_dir is None:
            return os.getcwd()
        path = self._default_root_dir
        return os.path.normpath(os.path.expanduser(path)) if "://" not in path else path

    @property
    def log_dir(self) -> str | None:
        """The first logger's ``log_dir`` (or ``save_dir``), else ``default_root_dir``."""
        if len(self.loggers) > 0:
            lg = self.loggers[0]
            dirpath = getattr(lg, "log_dir", None) or getattr(lg, "save_dir", None)
            if type(lg).__name__ == "CSVLogger" or not dirpath:
                dirpath = getattr(lg, "log_dir", None) or getattr(lg, "save_dir", None)
        else:
            dirpath = self.default_root_dir
        return self.strategy.broadcast(dirpath) if dirpath is not None else None

    @property
    def enable_validation(self) -> bool:
        """Whether validation runs during fit."""
        return self._loop_runner.enable_validation

    @property
    def early_stopping_callback(self) -> Any:
        """The first ``EarlyStopping`` callback, or ``None``."""
        cbs = self.early_stopping_callbacks
        return cbs[0] if cbs else None

    @property
    def early_stopping_callbacks(self) -> list[Any]:
        """All ``EarlyStopping`` callbacks."""
        return [c for c in self.callbacks if any(k.__name__ == "EarlyStopping" for k in type(c).__mro__)]

    @property
    def checkpoint_callback(self) -> Any:
        """The first checkpoint callback, or ``None``."""
        cbs = self.checkpoint_callbacks
        return cbs[0] if cbs else None

    @property
    def checkpoint_callbacks(self) -> list[Any]:
        """All checkpoint callbacks."""
        return [
            c
            for c in self.callbacks
            if any(k.__name__ in ("Checkpoint", "ModelCheckpoint") for k in type(c).__mro__)
        ]

    @property
    def progress_bar_callback(self) -> Any:
        """The progress bar callback, or ``None``."""
        for c in self.callbacks:
            if any(k.__name__ == "ProgressBar" for k in type(c).__mro__):
                return c
        return None

    @property
    def profiler(self) -> Any:
        """The profiler (``None`` when none was set)."""
        return self._profiler

    @property
    def interrupted(self) -> bool:
        """Whether the last run was interrupted."""
        return self.state.status == TrainerStatus.INTERRUPTED

    @property
    def evaluating(self) -> bool:
        """Whether a validation/test/sanity-check stage runs."""
        stage = self.state.stage
        return stage is not None and stage.evaluating

    training = _stage_flag(RunningStage.TRAINING, "Whether the training stage runs.")
    testing = _stage_flag(RunningStage.TESTING, "Whether the test stage runs.")
    validating = _stage_flag(RunningStage.VALIDATING, "Whether the validation stage runs.")
    predicting = _stage_flag(RunningStage.PREDICTING, "Whether the predict stage runs.")
    sanity_checking = _stage_flag(RunningStage.SANITY_CHECKING, "Whether the sanity check runs.")

    @property
    def ckpt_path(self) -> str | None:
        """The checkpoint path of the current/last run."""
        return self._ckpt_path

    @ckpt_path.setter
    def ckpt_path(self, ckpt_path: str | Path | None) -> None:
        self._ckpt_path = os.fspath(ckpt_path) if ckpt_path is not None else None

    @property
    def optimizers(self) -> list[Any]:
        """The optimizers from ``configure_optimizers``."""
        return self._loop_runner.optimizers

    @optimizers.setter
    def optimizers(self, new_optims: list[Any]) -> None:
        self._loop_runner.optimizers = list(new_optims)
        if self._loop_runner.module is not None:
            self._loop_runner._wrap_optimizers()

    @property
    def lr_scheduler_configs(self) -> list[Any]:
        """The scheduler configurations."""
        return self._loop_runner.lr_scheduler_configs

    @property
    def logger(self) -> Any:
        """The first logger, or ``None``."""
        return self._loop_runner.loggers[0] if self._loop_runner.loggers else None

    @logger.setter
    def logger(self, logger: Any) -> None:
        self._loop_runner.loggers[:] = [] if logger is None else [logger]

    @property
    def loggers(self) -> list[Any]:
        """All loggers."""
        return self._loop_runner.loggers

    @loggers.setter
    def loggers(self, loggers: list[Any] | None) -> None:
        self._loop_runner.loggers[:] = list(loggers) if loggers else []

    @property
    def is_last_batch(self) -> bool:
        """Whether the current training batch is the epoch's last."""
        return self.fit_loop.epoch_loop.batch_progress.is_last_batch

    @property
    def train_dataloader(self) -> Any:
        """The training dataloader (once requested)."""
        return self.fit_loop._loader

    @property
    def val_dataloaders(self) -> Any:
        """The validation dataloader(s) (once requested)."""
        loop = self.fit_loop.epoch_loop.val_loop if self.state.fn == TrainerFn.FITTING else self.validate_loop
        return _single(loop.dataloaders)

    @property
    def test_dataloaders(self) -> Any:
        """The test dataloader(s) (once requested)."""
        return _single(self.test_loop.dataloaders)

    @property
    def predict_dataloaders(self) -> Any:
        """The predict dataloader(s) (once requested)."""
        return _single(self.predict_loop._dataloaders)

    @property
    def num_training_batches(self) -> int | float:
        """Training batches per epoch (after limits)."""
        return self.fit_loop.max_batches

    @property
    def num_sanity_val_batches(self) -> list[int | float]:
        """Sanity-check batches per validation dataloader."""
        return [min(self.num_sanity_val_steps, n) for n in self.num_val_batches]

    @property
    def num_val_batches(self) -> list[int | float]:
        """Validation batches per dataloader (after limits)."""
        if self.state.fn == TrainerFn.VALIDATING:
            return self.validate_loop.max_batches
        return self.fit_loop.epoch_loop.val_loop.max_batches

    @property
    def num_test_batches(self) -> list[int | float]:
        """Test batches per dataloader."""
        return self.test_loop.max_batches

    @property
    def num_predict_batches(self) -> list[int | float]:
        """Predict batches per dataloader."""
        return self.predict_loop.max_batches

    @property
    def val_check_interval(self) -> int | float:
        """The ``val_check_interval`` (fraction or batch count)."""
        return self._config.val_check_interval

    @property
    def val_check_batch(self) -> int | float | None:
        """Validation runs every this many training batches."""
        return self._loop_runner.val_check_batch

    @property
    def check_val_every_n_epoch(self) -> int | None:
        """Validation runs every this many epochs."""
        return self._config.check_val_every_n_epoch

    @property
    def limit_train_batches(self) -> int | float:
        """The training batch limit."""
        return self._config.limit_train_batches

    @property
    def limit_val_batches(self) -> int | float:
        """The validation batch limit."""
        return self._config.limit_val_batches

    @property
    def limit_test_batches(self) -> int | float:
        """The test batch limit."""
        return self._config.limit_test_batches

    @property
    def limit_predict_batches(self) -> int | float:
        """The predict batch limit."""
        return self._config.limit_predict_batches

    @property
    def overfit_batches(self) -> int | float:
        """The overfit batch setting."""
        return self._config.overfit_batches

    @property
    def reload_dataloaders_every_n_epochs(self) -> int:
        """Reload interval of the dataloaders."""
        return self._config.reload_dataloaders_every_n_epochs

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimizer step."""
        return self._config.accumulate_grad_batches

    @accumulate_grad_batches.setter
    def accumulate_grad_batches(self, value: int) -> None:
        self._config.accumulate_grad_batches = value

    @property
    def estimated_stepping_batches(self) -> int | float:
        """The number of optimizer steps fit will take (``inf`` when unbounded)."""
        if self.max_epochs == -1:
            return math.inf if self.max_steps == -1 else self.max_steps
        runner = self._loop_runner
        if self.fit_loop._loader is None:
            if runner.module is None:
                raise MisconfigurationException(
                    "`estimated_stepping_batches` needs a model attached by `fit`."
                )
            rank_zero_info("Loading `train_dataloader` to estimate number of stepping batches.")
            self.fit_loop.setup_data()
        total = self.num_training_batches
        if total == math.inf:
            return self.max_steps
        steps = math.ceil(total / self.accumulate_grad_batches) * max(self.max_epochs or 1, 1)
        return min(steps, self.max_steps) if self.max_steps != -1 else steps


def _class_names(obj: Any) -> set[str]:
    return {c.__name__ for c in type(obj).__mro__}


def _single(loaders: Any) -> Any:
    if loaders is None:
        return None
    return loaders[0] if len(loaders) == 1 else loaders


def _is_datamodule(obj: Any) -> bool:
    return obj is not None and any(c.__name__ == "LightningDataModule" for c in type(obj).__mro__)


def _check_model(model: Any, fn: str) -> Any:
    if model is None or not isinstance(model, torch.nn.Module) or not hasattr(model, "training_step"):
        raise TypeError(f"`Trainer.{fn}()` requires a `LightningModule`, got: {type(model).__qualname__}")
    return model


def _model_checkpoint_class() -> Any:
    try:
        import lit_callbacks
    except ImportError:  # pragma: no cover
        return None
    return getattr(lit_callbacks, "ModelCheckpoint", None)


def _log_hyperparams(runner: LoopRunner) -> None:
    loggers = runner.loggers
    if not loggers:
        return
    module = runner.module
    hparams = dict(getattr(module, "hparams_initial", {}) or {})
    dm = runner.datamodule
    if dm is not None:
        dm_hparams = dict(getattr(dm, "hparams_initial", {}) or {})
        overlap = set(dm_hparams) & set(hparams)
        inconsistent = [k for k in overlap if hparams[k] != dm_hparams[k]]
        if inconsistent:
            raise RuntimeError(
                f"Error while merging hparams: the keys {inconsistent} are present "
                "in both the LightningModule's and LightningDataModule's hparams "
                "but have different values."
            )
        hparams.update(dm_hparams)
    for logger in loggers:
        logger.log_hyperparams(hparams)
        log_graph = getattr(logger, "log_graph", None)
        if callable(log_graph):
            log_graph(module)
        logger.save()


def _restore_checkpoint(runner: LoopRunner, ckpt_path: Any, phase: str) -> None:
    from lit.trainer.checkpoint import restore_checkpoint

    restore_checkpoint(runner, ckpt_path, phase)
