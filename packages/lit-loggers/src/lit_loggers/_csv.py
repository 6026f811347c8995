"""CSV logger: ``<save_dir>/<name>/<version>/metrics.csv`` plus ``hparams.yaml``; needs no third-party package."""

from __future__ import annotations

import csv
import io
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, TextIO

from torch import Tensor

from lit_hooks import rank_zero_only, rank_zero_warn
from lit_loggers import _fs
from lit_loggers._logger import Logger, _materialize, _number, _register_exit_flush, rank_zero_experiment
from lit_loggers.utilities import _add_prefix, _convert_params, save_hparams_to_yaml

__all__ = ["CSVLogger", "ExperimentWriter"]


class ExperimentWriter:
    """Writes the metrics of one run to ``metrics.csv`` and its hyper-parameters to ``hparams.yaml``.

    Rows are buffered by :meth:`log_metrics` and appended by :meth:`save`. The columns are the sorted union of all
    metric names seen so far (``step`` included); when a later row brings a new name the file is rewritten with the
    wider header, keeping every earlier row (empty cells for the names they lack).

    Args:
        log_dir: The folder of the run; created if needed. An existing ``metrics.csv`` in it is replaced.
    """

    NAME_METRICS_FILE = "metrics.csv"
    NAME_HPARAMS_FILE = "hparams.yaml"

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self.hparams: dict[str, Any] = {}
        self.metrics: list[dict[str, Any]] = []
        self.metrics_keys: list[str] = []
        self.rows_logged = 0
        self._deferred = False
        self._started = False
        self._file: TextIO | None = None
        self._remote = _fs.is_remote(log_dir)
        self._check_log_dir_exists()
        _fs.makedirs(log_dir)

    def log_metrics(self, metrics_dict: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer one row: the metric values plus ``step`` (the number of rows logged so far when ``None``)."""
        row: dict[str, Any] = {}
        for key, value in metrics_dict.items():
            cls = type(value)
            if cls is not float and cls is not int:
                value = _number(key, value)
                if isinstance(value, Tensor):
                    self._deferred = True
            row[key] = value
        row["step"] = self.rows_logged if step is None else step
        self.metrics.append(row)
        self.rows_logged += 1

    def log_hparams(self, params: Mapping[str, Any]) -> None:
        """Merge ``params`` into the recorded hyper-parameters and rewrite ``hparams.yaml``."""
        self.hparams.update(params)
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), self.hparams)

    def save(self) -> None:
        """Append the buffered rows to ``metrics.csv`` (rewriting it when new columns appeared)."""
        if not self.metrics:
            return
        rows = self.metrics
        if self._deferred:
            rows = [{key: _materialize(value) for key, value in row.items()} for row in rows]
            self._deferred = False
        known = set(self.metrics_keys)
        new_keys = {key for row in rows for key in row if key not in known}
        if new_keys:
            self.metrics_keys = sorted(known | new_keys)
        if self._remote:
            self._save_remote(rows)
        elif new_keys and self._started:
            self._rewrite_local(rows)
        else:
            file = self._open_local()
            writer = csv.writer(file)
            keys = self.metrics_keys
            if not self._started:
                writer.writerow(keys)
            writer.writerows([[row.get(key, "") for key in keys] for row in rows])
            file.flush()
        self._started = True
        self.metrics = []

    def close(self) -> None:
        """Close the metrics file; a later :meth:`save` reopens it."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open_local(self) -> TextIO:
        if self._file is None or self._file.closed:
            mode = "a" if self._started else "w"
            self._file = open(self.metrics_file_path, mode, newline="", encoding="utf-8")  # noqa: SIM115
        return self._file

    def _read_rows(self, text: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def _render(self, old_rows: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=self.metrics_keys)
        writer.writeheader()
        writer.writerows(old_rows)
        writer.writerows(rows)
        return buffer.getvalue()

    def _rewrite_local(self, rows: list[dict[str, Any]]) -> None:
        self.close()
        with open(self.metrics_file_path, newline="", encoding="utf-8") as file:
            old_rows = self._read_rows(file.read())
        tmp = f"{self.metrics_file_path}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as file:
            file.write(self._render(old_rows, rows))
        os.replace(tmp, self.metrics_file_path)

    def _save_remote(self, rows: list[dict[str, Any]]) -> None:
        fs = _fs.get_filesystem(self.metrics_file_path)
        old_rows: list[dict[str, Any]] = []
        if self._started and fs.isfile(self.metrics_file_path):
            with fs.open(self.metrics_file_path, "r", newline="") as file:
                old_rows = self._read_rows(file.read())
        with fs.open(self.metrics_file_path, "w", newline="") as file:
            file.write(self._render(old_rows, rows))

    def _check_log_dir_exists(self) -> None:
        if not _fs.listdir(self.log_dir):
            return
        rank_zero_warn(
            f"Experiment logs directory {self.log_dir} exists and is not empty."
            " Previous log files in this directory will be deleted when the new ones are saved!"
        )
        if self._remote:
            fs = _fs.get_filesystem(self.metrics_file_path)
            if fs.isfile(self.metrics_file_path):
                fs.rm_file(self.metrics_file_path)
        elif os.path.isfile(self.metrics_file_path):
            os.remove(self.metrics_file_path)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state


class CSVLogger(Logger):
    """Log metrics to a CSV file and hyper-parameters to a YAML file on the local (or an fsspec) file system.

    Files are written to ``<save_dir>/<name>/version_<N>/`` (``<save_dir>/<name>/<version>/`` for a string
    version): ``metrics.csv`` with one row per :meth:`log_metrics` call and ``hparams.yaml``. Rows are buffered in
    memory and written every ``flush_logs_every_n_steps`` steps, on :meth:`save` and :meth:`finalize`, and at
    interpreter exit, so a run that raises does not lose them. Tensors on an accelerator are not synchronised
    when logged, only when written.

    Args:
        save_dir: The folder that holds all experiments. May be an fsspec URL (``memory://logs``).
        name: Experiment name, a sub-folder of ``save_dir``; ``None`` or ``""`` writes versions into ``save_dir``.
        version: ``None`` picks the next free ``version_N``; an ``int`` N uses ``version_N``; a string is used as
            the folder name as it is.
        prefix: Put before every metric name, joined with ``"-"``.
        flush_logs_every_n_steps: Write buffered rows when ``(step + 1)`` is a multiple of this.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     logger = CSVLogger(tmp, name="demo")
        ...     logger.log_hyperparams({"lr": 0.1})
        ...     logger.log_metrics({"loss": 0.5}, step=0)
        ...     logger.finalize("success")
        ...     print(open(os.path.join(logger.log_dir, "metrics.csv")).read().split())
        ['loss,step', '0.5,0']
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        save_dir: str | os.PathLike[str],
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__()
        if isinstance(flush_logs_every_n_steps, bool) or not isinstance(flush_logs_every_n_steps, int):
            raise TypeError(
                f"`flush_logs_every_n_steps` must be a positive int, got {flush_logs_every_n_steps!r}."
                " Pass e.g. `CSVLogger(..., flush_logs_every_n_steps=100)`."
            )
        if flush_logs_every_n_steps < 1:
            raise ValueError(
                f"`flush_logs_every_n_steps` must be >= 1, got {flush_logs_every_n_steps!r}."
                " Use 1 to write every row immediately."
            )
        _check_version(version)
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._prefix = prefix
        self._flush_logs_every_n_steps = flush_logs_every_n_steps
        self._experiment: ExperimentWriter | None = None

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
    def log_dir(self) -> str:
        """``<root_dir>/version_<N>`` (or ``<root_dir>/<version>`` for a string version)."""
        version = self.version
        return os.path.join(self.root_dir, version if isinstance(version, str) else f"version_{version}")

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The :class:`ExperimentWriter` of this run, created (with its folder) on first use."""
        if self._experiment is None:
            _fs.makedirs(self.root_dir)
            self._experiment = ExperimentWriter(self.log_dir)
            _register_exit_flush(self)
        return self._experiment

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace | None = None) -> None:  # type: ignore[override]
        """Merge ``params`` into the run's hyper-parameters and write ``hparams.yaml``."""
        self.experiment.log_hparams(_convert_params(params))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Buffer one row of ``metrics`` at ``step``; rows are written every ``flush_logs_every_n_steps``."""
        experiment = self._experiment if self._experiment is not None else self.experiment
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        if step is None:
            step = experiment.rows_logged
        experiment.log_metrics(metrics, step)
        if (step + 1) % self._flush_logs_every_n_steps == 0:
            experiment.save()

    @rank_zero_only
    def save(self) -> None:
        """Write the buffered rows to ``metrics.csv``."""
        self.experiment.save()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write the buffered rows and close the file (nothing happens if no experiment was created)."""
        if self._experiment is None:
            return
        self._experiment.save()
        self._experiment.close()

    def _flush_at_exit(self) -> None:
        if self._experiment is not None:
            self._experiment.save()
            self._experiment.close()


def _check_version(version: Any) -> None:
    if version is None or isinstance(version, str):
        return
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise TypeError(
            f"`version` must be None (next free version), a non-negative int (`version_<N>` folder) or a str"
            f" (folder name), got {version!r}."
        )
