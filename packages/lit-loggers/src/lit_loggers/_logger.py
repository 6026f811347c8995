"""The abstract :class:`Logger`, the rank-zero experiment decorator and the no-op :class:`DummyLogger`."""

from __future__ import annotations

import atexit
import sys
import weakref
from abc import ABC, abstractmethod
from argparse import Namespace
from collections.abc import Mapping
from functools import wraps
from typing import Any, Callable, TypeVar

from torch import Tensor
from torch.nn import Module

from lit_hooks import rank_zero_only

__all__ = ["DummyExperiment", "DummyLogger", "Logger", "rank_zero_experiment"]

_F = TypeVar("_F", bound=Callable[..., Any])


class Logger(ABC):
    """Base class of the experiment loggers; implements :class:`lit_hooks.LoggerProtocol`.

    A subclass must provide ``name``, ``version``, ``log_metrics`` and ``log_hyperparams``; everything else has a
    working default. A trainer (or any training loop) uses a logger like this:

    * ``log_hyperparams(params)`` once per run, then ``log_graph(model)`` and ``save()``;
    * ``log_metrics(metrics, step)`` whenever metrics are due (only global rank zero writes anything);
    * ``after_save_checkpoint(checkpoint_callback)`` after each checkpoint is written;
    * ``finalize(status)`` at the end of the run, with ``"success"``, ``"failed"`` or ``"finished"``.

    Loggers are also context managers: ``with CSVLogger("logs") as logger: ...`` finalizes with ``"success"`` or,
    when the block raises, ``"failed"``. Metrics buffered by a logger are also written when the interpreter exits.

    Example:
        >>> class PrintLogger(Logger):
        ...     name, version = "print", 0
        ...     def log_metrics(self, metrics, step=None):
        ...         print(step, dict(metrics))
        ...     def log_hyperparams(self, params, *args, **kwargs):
        ...         pass
        >>> PrintLogger().log_metrics({"loss": 0.5}, step=3)
        3 {'loss': 0.5}
    """

    @property
    @abstractmethod
    def name(self) -> str | None:
        """The experiment name."""

    @property
    @abstractmethod
    def version(self) -> int | str | None:
        """The experiment version (an ``int`` for ``version_N`` folders, or a string)."""

    @property
    def root_dir(self) -> str | None:
        """The folder that holds every version of this experiment, or ``None`` for loggers without local files."""
        return None

    @property
    def log_dir(self) -> str | None:
        """The folder of this version of the experiment, or ``None`` for loggers without local files."""
        return None

    @property
    def save_dir(self) -> str | None:
        """The folder given by the user under which logs are written, or ``None`` for loggers without local files."""
        return None

    @property
    def group_separator(self) -> str:
        """The separator the back-end uses to group metrics into sections (``"/"``)."""
        return "/"

    @property
    def experiment(self) -> Any:
        """The back-end object (a writer, run or client) behind this logger; ``None`` unless a subclass sets one."""
        return self.__dict__.get("experiment")

    @experiment.setter
    def experiment(self, value: Any) -> None:
        self.__dict__["experiment"] = value

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Record ``metrics`` (name to number) at ``step``.

        Args:
            metrics: Metric names mapped to numbers or one-element tensors.
            step: The step the values belong to; loggers pick one when it is ``None``.
        """

    @abstractmethod
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Record the hyper-parameters of the run.

        Args:
            params: A dict, ``argparse.Namespace`` or dataclass instance; values may be nested.
            *args: Back-end specific.
            **kwargs: Back-end specific.
        """

    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:  # noqa: B027
        """Record the computational graph of ``model`` (no-op unless the back-end supports graphs).

        Args:
            model: The model, called with ``input_array`` when tracing.
            input_array: An example input; loggers fall back to ``model.example_input_array``.
        """

    def save(self) -> None:  # noqa: B027
        """Write buffered data to its destination (no-op by default)."""

    def finalize(self, status: str) -> None:
        """Finish the experiment: write what is buffered and release resources.

        Args:
            status: How the run ended: ``"success"``, ``"failed"`` or ``"finished"``.
        """
        self.save()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:  # noqa: B027
        """Called after a checkpoint callback has written a checkpoint (loggers may upload it).

        Args:
            checkpoint_callback: The ``ModelCheckpoint``-like callback; loggers read ``best_k_models``,
                ``best_model_path``, ``best_model_score``, ``last_model_path``, ``current_score`` and
                ``save_top_k`` from it.
        """

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.finalize("success" if exc_type is None else "failed")


def rank_zero_experiment(fn: _F) -> _F:
    """Decorate an ``experiment`` getter so that processes other than global rank zero get a :class:`DummyExperiment`.

    The real experiment (and its files or connections) is then only ever created on rank zero.
    """

    @wraps(fn)
    def experiment(self: Any) -> Any:
        if rank_zero_only.rank > 0:
            return DummyExperiment()
        return fn(self)

    return experiment  # type: ignore[return-value]


class DummyExperiment:
    """An experiment that accepts and ignores every call, attribute and item access."""

    def nop(self, *args: Any, **kwargs: Any) -> None:
        """Accept anything and do nothing."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self.nop

    def __getitem__(self, index: Any) -> DummyExperiment:
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        pass


class DummyLogger(Logger):
    """A logger that records nothing; every unknown method is accepted and does nothing.

    Useful to switch logging off for a phase while user code keeps calling ``self.logger.<anything>``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._experiment = DummyExperiment()

    @property
    def experiment(self) -> DummyExperiment:
        """A :class:`DummyExperiment`."""
        return self._experiment

    @property
    def name(self) -> str:
        """Always ``""``."""
        return ""

    @property
    def version(self) -> str:
        """Always ``""``."""
        return ""

    def log_metrics(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def log_hyperparams(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def __getitem__(self, index: int) -> DummyLogger:
        return self

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> None:
            return None

        return method


# --------------------------------------------------------------------------------------------------------------------
# metric values: cheap conversion on the hot path, device tensors converted only when written


def _number(key: str, value: Any) -> Any:
    """Return ``value`` as something a logger can store without holding autograd graphs or syncing a device.

    Python numbers pass through, CPU tensors become Python numbers, tensors on an accelerator are detached and
    cloned (asynchronously; converted when written, see :func:`_materialize`), NumPy scalars become Python numbers.

    Raises:
        ValueError: For a tensor with more than one element.
    """
    cls = type(value)
    if cls is float or cls is int:
        return value
    if isinstance(value, Tensor):
        if value.is_cpu:
            try:
                return value.item()
            except RuntimeError:
                pass  # more than one element: reported below
        elif value.numel() == 1:
            return value.detach().clone()
        raise ValueError(
            f"The metric {key!r} is a tensor of shape {tuple(value.shape)}; a logger can only record scalars."
            " Log a number or a one-element tensor, e.g. `value.mean()`."
        )
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return value.item()
    return value


def _materialize(value: Any) -> Any:
    """Turn a deferred device tensor from :func:`_number` into a Python number."""
    return value.item() if isinstance(value, Tensor) else value


# --------------------------------------------------------------------------------------------------------------------
# write buffered metrics at interpreter exit (e.g. when training raised and nobody called ``finalize``)

_PENDING: weakref.WeakSet[Any] = weakref.WeakSet()
_EXIT_HOOK_INSTALLED = False


def _flush_all_at_exit() -> None:
    for logger in list(_PENDING):
        try:
            logger._flush_at_exit()
        except Exception:  # noqa: S110 - nothing sensible can be done while the interpreter exits
            pass


def _register_exit_flush(logger: Any) -> None:
    """Make sure ``logger._flush_at_exit()`` runs when the interpreter exits (held through a weak reference)."""
    global _EXIT_HOOK_INSTALLED
    if not _EXIT_HOOK_INSTALLED:
        atexit.register(_flush_all_at_exit)
        _EXIT_HOOK_INSTALLED = True
    _PENDING.add(logger)
