"""TensorBoard logger on top of ``torch.utils.tensorboard`` (tensorboard) or ``tensorboardX``, imported lazily."""

from __future__ import annotations

import os
import time
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from torch import Tensor
from torch.nn import Module

from lit_hooks import MissingExtraError, RequirementCache, rank_zero_only, rank_zero_warn
from lit_loggers import _fs
from lit_loggers._logger import Logger, _materialize, _number, _register_exit_flush, rank_zero_experiment
from lit_loggers._tfevents import EventFileWriter
from lit_loggers.utilities import _add_prefix, _convert_params, _flatten_dict, save_hparams_to_yaml
from lit_loggers.utilities import _sanitize_params as _sanitize_params_util

__all__ = ["TensorBoardLogger"]

_TENSORBOARD_AVAILABLE = RequirementCache("tensorboard")
_TENSORBOARDX_AVAILABLE = RequirementCache("tensorboardX")

# Scalar events are written in batches of this many (unless ``max_queue`` is given), or when the oldest waiting
# event is ``flush_secs`` old, and on save/finalize/exit.
_MAX_PENDING_EVENTS = 100


class TensorBoardLogger(Logger):
    r"""Log to the local (or an fsspec) file system in TensorBoard's event-file format.

    Uses ``torch.utils.tensorboard.SummaryWriter`` when ``tensorboard`` is installed, else ``tensorboardX``'s
    writer. Files go to ``<save_dir>/<name>/version_<N>/[<sub_dir>/]``: the event file and ``hparams.yaml``.
    :meth:`log_hyperparams` also writes TensorBoard's HParams summary and, unless ``default_hp_metric=False``,
    a placeholder metric ``hp_metric = -1`` that the user may later log for real.

    Scalars from :meth:`log_metrics` (one event per call, holding all its metrics) and the hyper-parameter summaries
    go to their own event file in :attr:`log_dir`, written in batches by a fast writer (see ``_tfevents``): at
    ``max_queue`` (default 100) waiting events, after ``flush_secs``, on :meth:`save`, :meth:`finalize` and at
    interpreter exit. Logging a step therefore costs microseconds instead of the ~100 us of
    ``SummaryWriter.add_scalar``. ``logger.experiment`` is a real ``SummaryWriter`` for images, histograms, graphs,
    text ...; it writes a second event file in the same folder when used. TensorBoard reads every event file of a
    folder.

    Args:
        save_dir: The folder that holds all experiments.
        name: Experiment name, a sub-folder of ``save_dir``; ``None`` or ``""`` writes versions into ``save_dir``.
        version: ``None`` picks the next free ``version_N``; an ``int`` N uses ``version_N``; a string is used as
            the folder name as it is.
        log_graph: Write the model graph in :meth:`log_graph` (needs ``model.example_input_array`` or an
            ``input_array``; only with ``tensorboard``).
        default_hp_metric: Log ``hp_metric = -1`` when :meth:`log_hyperparams` gets no metrics.
        prefix: Put before every metric name, joined with ``"-"``.
        sub_dir: A sub-folder of the version folder for the event files.
        \**kwargs: Passed to the ``SummaryWriter`` (``max_queue``, ``flush_secs``, ``filename_suffix`` ...).

    Raises:
        MissingExtraError: When neither ``tensorboard`` nor ``tensorboardX`` is installed.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
        ...     logger = TensorBoardLogger(tmp, name="demo")
        ...     logger.log_hyperparams({"lr": 0.1})
        ...     logger.log_metrics({"loss": 0.5}, step=0)
        ...     logger.finalize("success")
    """

    NAME_HPARAMS_FILE = "hparams.yaml"
    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if not _TENSORBOARD_AVAILABLE and not _TENSORBOARDX_AVAILABLE:
            raise MissingExtraError(
                feature="TensorBoardLogger",
                requirement="tensorboard",
                extra="tensorboard",
                distribution="lit-loggers",
            )
        from lit_loggers._csv import _check_version

        _check_version(version)
        self._use_tensorboardx = not _TENSORBOARD_AVAILABLE
        if log_graph and self._use_tensorboardx:
            rank_zero_warn(
                "You set `TensorBoardLogger(log_graph=True)` but `tensorboard` is not installed (only tensorboardX),"
                " so the graph will not be logged. Install it with `pip install 'lit-loggers[tensorboard]'`."
            )
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._log_graph = bool(log_graph) and not self._use_tensorboardx
        self._default_hp_metric = default_hp_metric
        self._prefix = prefix
        self._sub_dir = None if sub_dir is None else os.fspath(sub_dir)
        self._kwargs = kwargs
        self._experiment: Any = None
        self._events: EventFileWriter | None = None
        self._hparams_dirty = True
        self.hparams: dict[str, Any] = {}

    # ---------------------------------------------------------------------------------------------------------------
    # folders

    @property
    def name(self) -> str:
        """The experiment name (``""`` when none was given)."""
        return self._name

    @property
    def version(self) -> int | str:
        """The version given, or the next free ``version_N`` number (looked up once)."""
        if self._version is None:
            self._version = _fs.next_version(self.root_dir)
        return self._version

    @property
    def save_dir(self) -> str:
        """The folder that holds all experiments."""
        return self._save_dir

    @property
    def root_dir(self) -> str:
        """``<save_dir>/<name>``: the folder that holds every version of this experiment."""
        return os.path.join(self._save_dir, self._name)

    @property
    def sub_dir(self) -> str | None:
        """The optional sub-folder of the version folder that holds the event files."""
        return self._sub_dir

    @property
    def log_dir(self) -> str:
        """``<root_dir>/version_<N>[/<sub_dir>]`` with ``~`` and environment variables expanded."""
        version = self.version
        log_dir = os.path.join(self.root_dir, version if isinstance(version, str) else f"version_{version}")
        if self._sub_dir is not None:
            log_dir = os.path.join(log_dir, self._sub_dir)
        return os.path.expanduser(os.path.expandvars(log_dir))

    # ---------------------------------------------------------------------------------------------------------------
    # the writers

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``SummaryWriter`` of this run (created with its folder on first use), for images, histograms ..."""
        if self._experiment is None:
            if self.root_dir:
                _fs.makedirs(self.root_dir)
            if self._use_tensorboardx:
                from tensorboardX import SummaryWriter  # pants: no-infer-dep
            else:
                from torch.utils.tensorboard import SummaryWriter  # pants: no-infer-dep
            self._experiment = SummaryWriter(log_dir=self.log_dir, **self._kwargs)
            _register_exit_flush(self)
        return self._experiment

    def _event_writer(self) -> EventFileWriter:
        """The writer of scalar and hyper-parameter events (a separate event file in :attr:`log_dir`)."""
        if self._events is None:
            self._events = EventFileWriter(
                self.log_dir,
                max_pending=self._kwargs.get("max_queue", _MAX_PENDING_EVENTS),
                flush_secs=self._kwargs.get("flush_secs", 120),
                filename_suffix=self._kwargs.get("filename_suffix", ""),
            )
            _register_exit_flush(self)
        return self._events

    # ---------------------------------------------------------------------------------------------------------------
    # logging

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Record scalar ``metrics`` at ``step``; a ``dict`` value is written with ``add_scalars`` under its key.

        Raises:
            ValueError: For a value that is neither a number, a one-element tensor nor a dict of those.
        """
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        step = 0 if step is None else int(step)
        scalars: list[tuple[str, Any]] = []
        for key, value in metrics.items():
            cls = type(value)
            if cls is float or cls is int:
                scalars.append((key, value))
                continue
            if isinstance(value, Mapping):
                group = {k: float(_materialize(_number(k, v))) for k, v in value.items()}
                self.experiment.add_scalars(key, group, step)
                continue
            value = _number(key, value)
            if not isinstance(value, Tensor):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"You tried to log {key!r} = {value!r} (type {type(value).__name__}), which TensorBoard cannot"
                        " record as a scalar. Log a number, a one-element tensor or a dict of those."
                    ) from None
            scalars.append((key, value))
        if scalars:
            events = self._events if self._events is not None else self._event_writer()
            events.add_scalars(scalars, step, time.time())

    @rank_zero_only
    def log_hyperparams(  # type: ignore[override]
        self,
        params: dict[str, Any] | Namespace,
        metrics: dict[str, Any] | float | Tensor | None = None,
        step: int | None = None,
    ) -> None:
        """Record hyper-parameters for ``hparams.yaml`` and TensorBoard's HParams tab.

        Args:
            params: A dict, ``Namespace`` or dataclass instance; nested values are flattened with ``"/"``.
            metrics: Metrics to show next to the hyper-parameters; a single value is named ``hp_metric``. When
                ``None`` and ``default_hp_metric`` is on, ``hp_metric = -1`` is logged as a placeholder.
            step: The step of those metrics.
        """
        params = _convert_params(params)
        self.hparams.update(params)
        self._hparams_dirty = True
        flat = self._sanitize_params(_flatten_dict(params))
        if metrics is None:
            metrics = {"hp_metric": -1} if self._default_hp_metric else None
        elif not isinstance(metrics, Mapping):
            metrics = {"hp_metric": metrics}
        if not metrics:
            return
        self.log_metrics(metrics, step)
        if self._use_tensorboardx:
            from tensorboardX.summary import hparams  # pants: no-infer-dep
        else:
            from torch.utils.tensorboard.summary import hparams  # pants: no-infer-dep
        events = self._event_writer()
        for summary in hparams(flat, dict(metrics)):
            events.add_summary(summary.SerializeToString(), step)

    @rank_zero_only
    def log_graph(self, model: Module, input_array: Tensor | tuple[Any, ...] | None = None) -> None:
        """Write the graph of ``model`` traced on ``input_array`` (or ``model.example_input_array``).

        Does nothing unless the logger was created with ``log_graph=True``; warns when no usable input is found.
        """
        if not self._log_graph:
            return
        if input_array is None:
            input_array = getattr(model, "example_input_array", None)
        if input_array is None:
            rank_zero_warn(
                "Could not log computational graph to TensorBoard: The `model.example_input_array` attribute"
                " is not set or `input_array` was not given."
            )
            return
        if not isinstance(input_array, (Tensor, tuple)):
            rank_zero_warn(
                "Could not log computational graph to TensorBoard: The `input_array` or `model.example_input_array`"
                f" has type {type(input_array).__name__}, which can't be traced. Make it a tensor or a tuple of"
                " the positional arguments of the model's `forward()`."
            )
            return
        input_array = _to_model_device(model, input_array)
        self.experiment.add_graph(model, input_array)

    # ---------------------------------------------------------------------------------------------------------------
    # persistence

    def _save_hparams_file(self) -> None:
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if _fs.isdir(self.log_dir) and (self._hparams_dirty or not os.path.exists(path)):
            save_hparams_to_yaml(path, self.hparams)
            self._hparams_dirty = False

    @rank_zero_only
    def save(self) -> None:
        """Write buffered events, flush the writers and write ``hparams.yaml``."""
        self._event_writer().flush()
        if self._experiment is not None:
            self._experiment.flush()
        _fs.makedirs(self.log_dir)
        self._save_hparams_file()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write buffered events and ``hparams.yaml``, then close the writers (later logging opens new files)."""
        if self._events is None and self._experiment is None:
            return
        if self._events is not None:
            self._events.close()
        if self._experiment is not None:
            self._experiment.flush()
            self._experiment.close()
        self._save_hparams_file()

    def _flush_at_exit(self) -> None:
        if self._events is not None:
            self._events.flush()
        if self._experiment is not None:
            self._experiment.flush()
        if self._events is not None or self._experiment is not None:
            self._save_hparams_file()

    @staticmethod
    def _sanitize_params(params: dict[str, Any]) -> dict[str, Any]:
        params = _sanitize_params_util(params)
        # the HParams plugin cannot show arrays with more than one dimension: show them as text
        return {k: str(v) if getattr(v, "ndim", 0) > 1 else v for k, v in params.items()}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_experiment"] = None
        state["_events"] = None
        return state


def _to_model_device(model: Module, input_array: Any) -> Any:
    """Move the example input onto the model's device (through the Lightning transfer hooks when present)."""
    before = getattr(model, "_on_before_batch_transfer", None)
    transfer = getattr(model, "_apply_batch_transfer_handler", None)
    if callable(before) and callable(transfer):
        return transfer(before(input_array))
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return input_array
    if isinstance(input_array, Tensor):
        return input_array.to(device)
    return tuple(item.to(device) if isinstance(item, Tensor) else item for item in input_array)
