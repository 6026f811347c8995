"""``configure_optimizers`` parsing, ``LRSchedulerConfig`` and the ``LightningOptimizer`` wrapper."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import optim
from torch.optim import Optimizer

from lit_hooks import MisconfigurationException, rank_zero_warn

__all__ = [
    "LRSchedulerConfig",
    "LightningOptimizer",
    "MockOptimizer",
    "init_optimizers_and_lr_schedulers",
    "parse_optimizer_config",
]


@dataclass
class LRSchedulerConfig:
    """How and when a learning-rate scheduler steps.

    Args:
        scheduler: the scheduler.
        name: name used by ``LearningRateMonitor``.
        interval: ``"epoch"`` or ``"step"``.
        frequency: step every ``frequency`` intervals.
        reduce_on_plateau: the scheduler takes a metric (``ReduceLROnPlateau``).
        monitor: the ``callback_metrics`` key passed to a plateau scheduler.
        strict: raise when ``monitor`` is missing (otherwise warn and skip the step).
    """

    scheduler: Any
    name: str | None = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: str | None = None
    strict: bool = True


class MockOptimizer(Optimizer):
    """Stands in for an optimizer when ``configure_optimizers`` returns ``None``."""

    def __init__(self) -> None:
        super().__init__([torch.zeros(1)], {})

    def add_param_group(self, param_group: dict[Any, Any]) -> None:
        """Ignore new groups."""

    def load_state_dict(self, state_dict: dict[Any, Any]) -> None:
        """Ignore loaded state."""

    def state_dict(self) -> dict[str, Any]:
        """An empty state."""
        return {}

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run the closure only."""
        if closure is not None:
            return closure()
        return None

    def zero_grad(self, set_to_none: bool | None = True) -> None:
        """Nothing to clear."""

    def __repr__(self) -> str:
        return "No Optimizer"


_FORMATS = (
    "Unknown configuration for model optimizers. Output from `model.configure_optimizers()` should be one of:\n"
    " * `Optimizer`\n"
    " * [`Optimizer`]\n"
    " * ([`Optimizer`], [`LRScheduler`])\n"
    ' * {"optimizer": `Optimizer`, (optional) "lr_scheduler": `LRScheduler`}\n'
    ' * [{"optimizer": `Optimizer`, ...}, ...]\n'
)


def _is_optimizer(obj: Any) -> bool:
    return isinstance(obj, Optimizer) or (
        callable(getattr(obj, "step", None)) and hasattr(obj, "param_groups")
    )


def _warn_dict_keys(conf: dict[str, Any]) -> None:
    extra = conf.keys() - {"optimizer", "lr_scheduler", "monitor"}
    if extra:
        rank_zero_warn(
            f"Found unsupported keys in the optimizer configuration: {set(extra)}", category=RuntimeWarning
        )


def parse_optimizer_config(conf: Any) -> tuple[list[Any], list[Any], str | None]:
    """Split a ``configure_optimizers`` return value into ``(optimizers, schedulers, monitor)``."""
    if _is_optimizer(conf):
        return [conf], [], None
    if (
        isinstance(conf, (list, tuple))
        and len(conf) == 2
        and isinstance(conf[0], list)
        and all(_is_optimizer(o) for o in conf[0])
    ):
        opts, scheds = conf
        return list(opts), (list(scheds) if isinstance(scheds, (list, tuple)) else [scheds]), None
    if isinstance(conf, dict):
        if "optimizer" not in conf:
            raise MisconfigurationException(
                f"The dictionary returned by `configure_optimizers` has no 'optimizer' key (keys: {sorted(conf)})."
                f"\n{_FORMATS}"
            )
        _warn_dict_keys(conf)
        scheds = [conf["lr_scheduler"]] if "lr_scheduler" in conf else []
        return [conf["optimizer"]], scheds, conf.get("monitor")
    if isinstance(conf, (list, tuple)) and conf and all(isinstance(d, dict) for d in conf):
        for d in conf:
            _warn_dict_keys(d)
        opts = [d["optimizer"] for d in conf]
        scheds = [
            (
                dict(d["lr_scheduler"])
                if isinstance(d["lr_scheduler"], dict)
                else {"scheduler": d["lr_scheduler"]}
            )
            for d in conf
            if "lr_scheduler" in d
        ]
        return opts, scheds, None
    if isinstance(conf, (list, tuple)) and all(_is_optimizer(o) for o in conf):
        return list(conf), [], None
    raise MisconfigurationException(_FORMATS + f"Got {conf!r}.")


def _scheduler_configs_automatic(schedulers: list[Any], monitor: str | None) -> list[LRSchedulerConfig]:
    configs = []
    keys = {f.name for f in fields(LRSchedulerConfig)}
    for sched in schedulers:
        if isinstance(sched, dict):
            extra = sched.keys() - keys
            if extra:
                rank_zero_warn(
                    f"Found unsupported keys in the lr scheduler dict: {extra}."
                    " HINT: remove them from the output of `configure_optimizers`.",
                    category=RuntimeWarning,
                )
                sched = {k: v for k, v in sched.items() if k in keys}
            if "scheduler" not in sched:
                raise MisconfigurationException(
                    'The lr scheduler dict must have the key "scheduler" with its item being an lr scheduler'
                )
            if "interval" in sched and sched["interval"] not in ("step", "epoch"):
                raise MisconfigurationException(
                    'The "interval" key in lr scheduler dict must be "step" or "epoch"'
                    f' but is "{sched["interval"]}"'
                )
            freq = sched.get("frequency", 1)
            if not isinstance(freq, int) or isinstance(freq, bool) or freq < 1:
                raise MisconfigurationException(
                    f'The "frequency" key in lr scheduler dict must be a positive integer, got {freq!r}.'
                )
            sched = dict(sched)
            sched.setdefault(
                "reduce_on_plateau", isinstance(sched["scheduler"], optim.lr_scheduler.ReduceLROnPlateau)
            )
            if sched["reduce_on_plateau"] and sched.get("monitor") is None:
                raise MisconfigurationException(
                    "The lr scheduler dict must include a monitor when a `ReduceLROnPlateau` scheduler is used."
                    ' For example: {"optimizer": optimizer, "lr_scheduler":'
                    ' {"scheduler": scheduler, "monitor": "your_loss"}}'
                )
            if (
                isinstance(sched["scheduler"], optim.lr_scheduler.OneCycleLR)
                and sched.get("interval", "epoch") == "epoch"
            ):
                rank_zero_warn(
                    "A `OneCycleLR` scheduler is using 'interval': 'epoch'. Are you sure you didn't mean 'interval': 'step'?",
                    category=RuntimeWarning,
                )
            configs.append(LRSchedulerConfig(**sched))
        elif isinstance(sched, optim.lr_scheduler.ReduceLROnPlateau):
            if monitor is None:
                raise MisconfigurationException(
                    "`configure_optimizers` must include a monitor when a `ReduceLROnPlateau`"
                    " scheduler is used. For example:"
                    ' {"optimizer": optimizer, "lr_scheduler": scheduler, "monitor": "metric_to_track"}'
                )
            configs.append(LRSchedulerConfig(sched, reduce_on_plateau=True, monitor=monitor))
        else:
            configs.append(LRSchedulerConfig(sched))
    return configs


def _scheduler_configs_manual(schedulers: list[Any]) -> list[LRSchedulerConfig]:
    configs = []
    for sched in schedulers:
        if isinstance(sched, dict):
            ignored = [k for k in sched if k in ("reduce_on_plateau", "monitor", "strict")]
            if ignored:
                rank_zero_warn(
                    f"The lr scheduler dict contains the key(s) {ignored}, but the keys will be ignored."
                    " You need to call `lr_scheduler.step()` manually in manual optimization.",
                    category=RuntimeWarning,
                )
            configs.append(LRSchedulerConfig(**{k: v for k, v in sched.items() if k not in ignored}))
        else:
            configs.append(LRSchedulerConfig(sched))
    return configs


def init_optimizers_and_lr_schedulers(module: Any) -> tuple[list[Any], list[LRSchedulerConfig]]:
    """Call ``module.configure_optimizers()`` and validate the result.

    Returns:
        ``(optimizers, lr_scheduler_configs)``; a :class:`MockOptimizer` when the module returns ``None``.
    """
    conf = module.configure_optimizers()
    if conf is None:
        rank_zero_warn(
            "`LightningModule.configure_optimizers` returned `None`, this fit will run with no optimizer",
        )
        return [MockOptimizer()], []
    optimizers, schedulers, monitor = parse_optimizer_config(conf)
    automatic = getattr(module, "automatic_optimization", True)
    configs = (
        _scheduler_configs_automatic(schedulers, monitor)
        if automatic
        else _scheduler_configs_manual(schedulers)
    )
    if automatic and len(optimizers) > 1:
        raise RuntimeError(
            "Training with multiple optimizers is only supported with manual optimization. Set"
            " `self.automatic_optimization = False`, then access your optimizers in `training_step` with"
            " `opt1, opt2, ... = self.optimizers()`."
        )
    for config in configs:
        sched = config.scheduler
        if not callable(getattr(sched, "state_dict", None)) or not callable(
            getattr(sched, "load_state_dict", None)
        ):
            raise TypeError(
                f"The provided lr scheduler `{type(sched).__name__}` is invalid."
                " It should have `state_dict` and `load_state_dict` methods defined."
            )
        if getattr(sched, "optimizer", None) is not None and sched.optimizer not in optimizers:
            raise MisconfigurationException(
                "Some schedulers are attached with an optimizer that wasn't returned from `configure_optimizers`."
            )
        is_torch = isinstance(sched, (optim.lr_scheduler.LRScheduler, optim.lr_scheduler.ReduceLROnPlateau))
        if not is_torch and automatic and not _overrides(module, "lr_scheduler_step"):
            raise MisconfigurationException(
                f"The provided lr scheduler `{type(sched).__name__}` doesn't follow PyTorch's LRScheduler"
                " API. You should override the `LightningModule.lr_scheduler_step` hook with your own logic if"
                " you are using a custom LR scheduler."
            )
    return optimizers, configs


def _overrides(obj: Any, name: str) -> bool:
    from lit_loops._dispatch import is_overridden

    return is_overridden(name, obj)


_WRAPPER_CLASSES: dict[type, type] = {}


class LightningOptimizer:
    """Wraps an optimizer so that ``step`` goes through the strategy (precision, closure, hooks).

    Args:
        optimizer: the wrapped optimizer; unknown attributes are forwarded to it.
    """

    def __new__(cls, optimizer: Any) -> LightningOptimizer:  # noqa: PYI034 - returns a per-class subclass
        # A subclass per optimizer class, named ``Lightning<OptimizerClass>``, so ``isinstance`` checks against the
        # optimizer class keep working.
        if cls is LightningOptimizer:
            opt_cls = type(optimizer)
            sub = _WRAPPER_CLASSES.get(opt_cls)
            if sub is None:
                sub = type("Lightning" + opt_cls.__name__, (cls, opt_cls), {})
                _WRAPPER_CLASSES[opt_cls] = sub
            return object.__new__(sub)
        return object.__new__(cls)

    def __init__(self, optimizer: Any) -> None:
        self.__dict__ = {
            k: v for k, v in optimizer.__dict__.items() if k not in ("step", "zero_grad", "__del__")
        }
        self._optimizer = optimizer
        self._strategy: Any = None
        self._module_ref: Callable[[], Any] | None = None
        self._on_before_step: Callable[[], None] = _noop
        self._on_after_step: Callable[[], None] = _noop
        self.refresh()

    def refresh(self) -> None:
        """Re-read the wrapped optimizer's attributes (param groups, state) after it changed."""
        self.__dict__.update(
            {k: v for k, v in self._optimizer.__dict__.items() if k not in ("step", "zero_grad")}
        )

    @property
    def optimizer(self) -> Any:
        """The wrapped optimizer."""
        return self._optimizer

    @classmethod
    def _to_lightning_optimizer(cls, optimizer: Any, strategy: Any, module: Any = None) -> LightningOptimizer:
        lopt = optimizer if isinstance(optimizer, LightningOptimizer) else cls(optimizer)
        lopt._strategy = strategy
        if module is not None:
            lopt._module_ref = weakref.ref(module)
        return lopt

    def _module(self) -> Any:
        return self._module_ref() if self._module_ref is not None else None

    @contextmanager
    def toggle_model(self, sync_grad: bool = True) -> Generator[None, None, None]:
        """Make only this optimizer's parameters trainable (and skip gradient sync when ``sync_grad=False``)."""
        module = self._module()
        from lit_loops._strategy import no_backward_sync

        if module is None:
            yield
            return
        module.toggle_optimizer(self)
        try:
            if sync_grad:
                yield
            else:
                with no_backward_sync(self._strategy, module):
                    yield
        finally:
            module.untoggle_optimizer(self)

    def step(self, closure: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """Step the optimizer through the strategy; ``closure`` runs forward/backward first when given."""
        if self._on_before_step is not _noop:
            self._on_before_step()
        if closure is None:
            closure = _noop_closure
        elif not callable(closure):
            raise MisconfigurationException(
                "When `optimizer.step(closure)` is called, the closure should be callable"
            )
        strategy = self._strategy
        if strategy is None:
            out = self._optimizer.step(closure=closure, **kwargs)
        else:
            out = strategy.optimizer_step(self._optimizer, closure, **kwargs)
        if self._on_after_step is not _noop:
            self._on_after_step()
        return out

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of the wrapped optimizer."""
        self._optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state."""
        return self._optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the wrapped optimizer's state."""
        self._optimizer.load_state_dict(state_dict)
        self.refresh()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group to the wrapped optimizer."""
        self._optimizer.add_param_group(param_group)
        self.refresh()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._optimizer!r})"


def _noop() -> None:
    return None


def _noop_closure() -> None:
    return None
