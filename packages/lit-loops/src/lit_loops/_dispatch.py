"""Hook dispatch: callbacks, then the module, then the strategy, calling only what is overridden.

The per-hook lists of overriding objects are built once per run (:meth:`HookDispatcher.build`), so a hook
that nobody overrides costs one dictionary lookup per call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["HookDispatcher", "ProfilingHookDispatcher", "is_overridden", "reorder_callbacks"]

_BASES_CACHE: dict[tuple[type, str], bool] = {}


def _default_bases() -> tuple[type, ...]:
    from lit_hooks import Callback, CheckpointHooks, DataHooks, ModelHooks
    from lit_loops._module import LightningModule
    from lit_loops._strategy import LocalStrategy

    return (LightningModule, Callback, ModelHooks, DataHooks, CheckpointHooks, LocalStrategy, object)


def is_overridden(name: str, instance: Any, parent: type | None = None) -> bool:
    """Whether ``instance`` defines ``name`` differently from ``parent`` (default: the lit base classes).

    An object that derives from none of the base classes (a duck-typed module or callback) counts as
    overriding every callable it has.
    """
    if instance is None:
        return False
    if name in getattr(instance, "__dict__", {}) and callable(instance.__dict__[name]):
        return True  # patched on the instance (mocks, recorders)
    cls = type(instance)
    key = (cls, name) if parent is None else None
    if key is not None and key in _BASES_CACHE:
        return _BASES_CACHE[key]
    attr = getattr(cls, name, None)
    if attr is None or not callable(attr):
        result = False
    else:
        bases = (parent,) if parent is not None else _default_bases()
        result = True
        for base in bases:
            if base is object or not isinstance(instance, base):
                continue
            base_attr = getattr(base, name, None)
            if base_attr is None:
                continue
            result = inspect.unwrap(attr) is not inspect.unwrap(base_attr)
            break
        else:
            result = True
    if key is not None:
        _BASES_CACHE[key] = result
    return result


class HookDispatcher:
    """Calls a named hook on the callbacks (``hook(trainer, module, *args)``), the module and the strategy.

    Args:
        trainer: the object passed as ``trainer`` to callback hooks.
        module: the LightningModule-shaped object.
        callbacks: the callbacks, in call order.
        strategy: the strategy (its hooks are called last; may be ``None``).
    """

    def __init__(self, trainer: Any, module: Any, callbacks: Sequence[Any], strategy: Any = None) -> None:
        self.trainer = trainer
        self.module = module
        self.callbacks = list(callbacks)
        self.strategy = strategy
        self._cb: dict[str, list[Callable[..., Any]]] = {}
        self._mod: dict[str, Callable[..., Any] | None] = {}
        self._strat: dict[str, Callable[..., Any] | None] = {}
        self.monitoring: list[Any] = []
        self.non_monitoring: list[Any] = []

    def build(self) -> None:
        """Forget cached hook lists (call after the callbacks, the module or the strategy changed)."""
        self._cb.clear()
        self._mod.clear()
        self._strat.clear()
        self.monitoring = [cb for cb in self.callbacks if _is_monitoring(cb)]
        self.non_monitoring = [cb for cb in self.callbacks if not _is_monitoring(cb)]

    def callback_fns(self, name: str) -> list[Callable[..., Any]]:
        """Bound ``name`` methods of the callbacks that override it."""
        fns = self._cb.get(name)
        if fns is None:
            fns = [getattr(cb, name) for cb in self.callbacks if is_overridden(name, cb)]
            self._cb[name] = fns
        return fns

    def module_fn(self, name: str) -> Callable[..., Any] | None:
        """The module's ``name`` method when overridden, else ``None``."""
        if name in self._mod:
            return self._mod[name]
        fn = getattr(self.module, name) if is_overridden(name, self.module) else None
        self._mod[name] = fn
        return fn

    def strategy_fn(self, name: str) -> Callable[..., Any] | None:
        """The strategy's ``name`` hook when it has one that does something, else ``None``."""
        if name in self._strat:
            return self._strat[name]
        fn = getattr(self.strategy, name, None) if is_overridden(name, self.strategy) else None
        self._strat[name] = fn if callable(fn) else None
        return self._strat[name]

    def has(self, name: str) -> bool:
        """Whether anybody (callback, module or strategy) overrides ``name``."""
        return (
            bool(self.callback_fns(name))
            or self.module_fn(name) is not None
            or self.strategy_fn(name) is not None
        )

    def call_callbacks(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Call ``name`` on the overriding callbacks."""
        fns = self._cb.get(name)
        if fns is None:
            fns = self.callback_fns(name)
        if not fns:
            return
        module = self.module
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = name
        try:
            trainer = self.trainer
            for fn in fns:
                fn(trainer, module, *args, **kwargs)
        finally:
            module.__dict__["_current_fx_name"] = prev

    def call_module(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the module's ``name`` when overridden (with ``_current_fx_name`` set for ``self.log``)."""
        fn = self._mod.get(name, _MISSING)
        if fn is _MISSING:
            fn = self.module_fn(name)
        if fn is None:
            return None
        module = self.module
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = name
        try:
            return fn(*args, **kwargs)
        finally:
            module.__dict__["_current_fx_name"] = prev

    def call_module_always(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the module's ``name`` even when it is the default implementation."""
        module = self.module
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = name
        try:
            return getattr(module, name)(*args, **kwargs)
        finally:
            module.__dict__["_current_fx_name"] = prev

    def call_strategy(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the strategy's ``name`` hook if it has one."""
        fn = self._strat.get(name, _MISSING)
        if fn is _MISSING:
            fn = self.strategy_fn(name)
        if fn is None:
            return None
        return fn(*args, **kwargs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Callbacks, then the module, then the strategy."""
        self.call_callbacks(name, *args, **kwargs)
        self.call_module(name, *args, **kwargs)
        self.call_strategy(name, *args, **kwargs)

    def call_train_epoch_end(self) -> None:
        """``on_train_epoch_end``: non-monitoring callbacks, the module, then monitoring callbacks."""
        name = "on_train_epoch_end"
        fns = self.callback_fns(name)
        if fns:
            self._call_subset(name, self.non_monitoring)
        self.call_module(name)
        if fns:
            self._call_subset(name, self.monitoring)
        self.call_strategy(name)

    def _call_subset(self, name: str, callbacks: list[Any]) -> None:
        module = self.module
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = name
        try:
            for cb in callbacks:
                if is_overridden(name, cb):
                    getattr(cb, name)(self.trainer, module)
        finally:
            module.__dict__["_current_fx_name"] = prev


_MISSING: Any = object()


class ProfilingHookDispatcher(HookDispatcher):
    """A :class:`HookDispatcher` that times every hook with a profiler (``profiler.profile(action)``).

    Used only when a profiler is set, so runs without one pay nothing.

    Args:
        trainer: the object passed as ``trainer`` to callback hooks.
        module: the LightningModule-shaped object.
        callbacks: the callbacks, in call order.
        strategy: the strategy.
        profiler: an object with ``profile(action_name)`` returning a context manager.
    """

    def __init__(
        self, trainer: Any, module: Any, callbacks: Sequence[Any], strategy: Any, profiler: Any
    ) -> None:
        super().__init__(trainer, module, callbacks, strategy)
        self.profiler = profiler

    def call_callbacks(self, name: str, *args: Any, **kwargs: Any) -> None:
        if not self.callback_fns(name):
            return
        with self.profiler.profile(f"[Callback]{name}"):
            super().call_callbacks(name, *args, **kwargs)

    def call_module(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.module_fn(name) is None:
            return None
        with self.profiler.profile(f"[LightningModule]{type(self.module).__name__}.{name}"):
            return super().call_module(name, *args, **kwargs)

    def call_module_always(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self.profiler.profile(f"[LightningModule]{type(self.module).__name__}.{name}"):
            return super().call_module_always(name, *args, **kwargs)

    def call_strategy(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.strategy_fn(name) is None:
            return None
        with self.profiler.profile(f"[Strategy]{type(self.strategy).__name__}.{name}"):
            return super().call_strategy(name, *args, **kwargs)


def _is_monitoring(callback: Any) -> bool:
    names = {c.__name__ for c in type(callback).__mro__}
    return bool(names & {"Checkpoint", "ModelCheckpoint", "EarlyStopping"})


def reorder_callbacks(callbacks: list[Any]) -> list[Any]:
    """Tuner callbacks first, checkpoint callbacks last, the rest in their order (Lightning's rule)."""
    tuner, middle, checkpoints = [], [], []
    for cb in callbacks:
        names = {c.__name__ for c in type(cb).__mro__}
        if names & {"BatchSizeFinder", "LearningRateFinder"}:
            tuner.append(cb)
        elif names & {"Checkpoint", "ModelCheckpoint"}:
            checkpoints.append(cb)
        else:
            middle.append(cb)
    return tuner + middle + checkpoints
