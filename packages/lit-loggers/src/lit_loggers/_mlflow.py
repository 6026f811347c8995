"""MLflow logger: runs, params, metrics and checkpoint artifacts in any MLflow tracking store (imported lazily)."""

from __future__ import annotations

import logging
import os
import posixpath
import re
import sys
import tempfile
import time
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from torch import Tensor

from lit_hooks import MissingExtraError, WarningCache, module_available, rank_zero_only
from lit_loggers._logger import Logger, _materialize, _number, rank_zero_experiment
from lit_loggers.utilities import (
    _add_prefix,
    _convert_params,
    _flatten_dict,
    _scan_checkpoints,
    hparams_to_yaml_data,
)

__all__ = ["MLFlowLogger"]

log = logging.getLogger(__name__)

LOCAL_FILE_URI_PREFIX = "file:"
# MLflow accepts metric and param names made of word characters and ``/ . - :`` and space (no colon on Windows).
_INVALID_NAME_CHARS = re.compile(r"[^/\w.\- ]+" if sys.platform == "win32" else r"[^/\w.\- :]+")
_MAX_PARAMS_PER_BATCH = 100
_MAX_METRICS_PER_BATCH = 1000
_CHECKPOINT_ATTRIBUTES = (
    "monitor",
    "mode",
    "save_last",
    "save_top_k",
    "save_weights_only",
    "_every_n_train_steps",
    "_every_n_val_epochs",
)


def _sanitize_name(name: str) -> str:
    """Return ``name`` as MLflow accepts it: invalid characters dropped and no empty, ``.`` or ``..`` path parts."""
    cleaned = _INVALID_NAME_CHARS.sub("", name)
    if posixpath.normpath(cleaned) != cleaned or cleaned.startswith("/") or cleaned in (".", ".."):
        cleaned = "/".join(part for part in cleaned.split("/") if part not in ("", ".", ".."))
    return cleaned or "_"


def _local_path_of_file_uri(uri: str) -> str:
    """``file:./mlruns`` -> ``./mlruns``; ``file:///tmp/x`` -> ``/tmp/x``."""
    rest = uri[len(LOCAL_FILE_URI_PREFIX) :]
    if rest.startswith("//"):
        return unquote(urlparse(uri).path)
    return rest


class MLFlowLogger(Logger):
    """Log to an `MLflow <https://mlflow.org>`_ tracking store: a local folder, a database or a server.

    The run (and its experiment, if needed) is created on first use. Hyper-parameters become run params (nested
    keys joined with ``"/"``, values as text), metrics are logged in batches with ``MlflowClient.log_batch``,
    and checkpoints can be uploaded as artifacts (``log_model``). Metric names that MLflow would reject are
    cleaned (e.g. ``"acc@1"`` -> ``"acc1"``) with a warning, once per name.

    MLflow 3 refuses folder (``file:``) stores unless ``MLFLOW_ALLOW_FILE_STORE`` is true; since a ``file:`` URI or
    ``save_dir`` asks for exactly such a store, the logger sets ``MLFLOW_ALLOW_FILE_STORE=true`` when the variable
    is not set. Use a database URI (``sqlite:///mlflow.db``) to avoid the folder store.

    Args:
        experiment_name: The MLflow experiment (created when missing).
        run_name: Name of the new run (stored as the ``mlflow.runName`` tag, overriding one in ``tags``).
        tracking_uri: Where to log: ``file:<path>``, ``sqlite:///<path>``, ``http(s)://<server>`` ... Defaults to
            the ``MLFLOW_TRACKING_URI`` environment variable, else ``file:<save_dir>``.
        tags: Tags for the new run.
        save_dir: The folder of the file store used when no ``tracking_uri`` is given.
        log_model: Upload checkpoints of the checkpoint callback as artifacts: ``"all"`` after every save,
            ``True`` at the end of training (or after every save when ``save_top_k == -1``), ``False`` never.
        prefix: Put before every metric name, joined with ``"-"``.
        artifact_location: Artifact location of a newly created experiment (the store's default otherwise).
        run_id: Resume (log into) this existing run instead of creating one.
        synchronous: Passed to ``log_batch``: ``False`` logs in the background (:meth:`finalize` waits until
            everything is written), ``True`` waits for each call.

    Raises:
        MissingExtraError: When ``mlflow`` (or ``mlflow-skinny``) is not installed.
        ValueError: For a ``log_model`` other than ``True``, ``False`` or ``"all"``.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        tags: dict[str, Any] | None = None,
        save_dir: str | os.PathLike[str] | None = "./mlruns",
        log_model: Literal[True, False, "all"] = False,
        prefix: str = "",
        artifact_location: str | None = None,
        run_id: str | None = None,
        synchronous: bool | None = None,
    ) -> None:
        if not module_available("mlflow"):
            raise MissingExtraError(
                feature="MLFlowLogger", requirement="mlflow", extra="mlflow", distribution="lit-loggers"
            )
        if log_model not in (True, False, "all"):
            raise ValueError(f"`log_model` must be True, False or 'all', got {log_model!r}.")
        super().__init__()
        if not tracking_uri:
            tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or None
        if not tracking_uri:
            tracking_uri = (
                f"{LOCAL_FILE_URI_PREFIX}{os.fspath(save_dir if save_dir is not None else './mlruns')}"
            )
        self._experiment_name = experiment_name
        self._experiment_id: str | None = None
        self._tracking_uri = str(tracking_uri)
        self._run_name = run_name
        self._run_id = run_id
        self.tags = tags
        self._log_model = log_model
        self._logged_model_time: dict[str, float] = {}
        self._checkpoint_callback: Any = None
        self._prefix = prefix
        self._artifact_location = artifact_location
        self._log_batch_kwargs = {} if synchronous is None else {"synchronous": synchronous}
        self._initialized = False
        self._name_warnings = WarningCache()
        if self._is_file_store():
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")

        from mlflow.tracking import MlflowClient  # pants: no-infer-dep

        self._mlflow_client = MlflowClient(self._tracking_uri)

    def _is_file_store(self) -> bool:
        scheme = urlparse(self._tracking_uri).scheme
        return scheme in ("", "file") or (len(scheme) == 1 and sys.platform == "win32")

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``MlflowClient``; the experiment and run are created (or looked up) on first access."""
        if self._initialized:
            return self._mlflow_client
        import mlflow  # pants: no-infer-dep

        mlflow.set_tracking_uri(self._tracking_uri)
        client = self._mlflow_client
        if self._run_id is not None:
            run = client.get_run(self._run_id)
            self._experiment_id = run.info.experiment_id
            self._initialized = True
            return client

        if self._experiment_id is None:
            found = client.get_experiment_by_name(self._experiment_name)
            if found is not None and found.lifecycle_stage != "deleted":
                self._experiment_id = found.experiment_id
            else:
                log.warning(f"Experiment with name {self._experiment_name} not found. Creating it.")
                self._experiment_id = client.create_experiment(
                    name=self._experiment_name, artifact_location=self._artifact_location
                )

        tags = dict(self.tags or {})
        if self._run_name is not None:
            from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME  # pants: no-infer-dep

            if MLFLOW_RUN_NAME in tags:
                log.warning(
                    f"The tag {MLFLOW_RUN_NAME} is found in tags. The value will be overridden by {self._run_name}."
                )
            tags[MLFLOW_RUN_NAME] = self._run_name
        self.tags = tags
        run = client.create_run(experiment_id=self._experiment_id, tags=_resolve_tags(tags))
        self._run_id = run.info.run_id
        self._initialized = True
        return client

    @property
    def run_id(self) -> str | None:
        """The id of the run (created on first access)."""
        _ = self.experiment
        return self._run_id

    @property
    def experiment_id(self) -> str | None:
        """The id of the experiment (created on first access)."""
        _ = self.experiment
        return self._experiment_id

    @property
    def name(self) -> str | None:
        """The experiment id."""
        return self.experiment_id

    @property
    def version(self) -> str | None:
        """The run id."""
        return self.run_id

    @property
    def save_dir(self) -> str | None:
        """The local folder of a ``file:`` store, ``None`` for other stores."""
        if self._tracking_uri.startswith(LOCAL_FILE_URI_PREFIX):
            return _local_path_of_file_uri(self._tracking_uri)
        return None

    def _clean(self, key: str) -> str:
        new_key = _sanitize_name(key)
        if new_key != key:
            self._name_warnings.warn(
                "MLflow only allows alphanumerics, '_', '-', '.', ' ', ':' and '/' in metric and param names,"
                f" without empty, '.' or '..' path parts. Replacing {key!r} with {new_key!r}.",
                category=RuntimeWarning,
            )
        return new_key

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:  # type: ignore[override]
        """Log ``params`` as run params: nested keys joined with ``"/"``, values as (truncated) text."""
        from mlflow.entities import Param  # pants: no-infer-dep

        max_length = _max_param_length()
        flat = _flatten_dict(_convert_params(params))
        params_list = [Param(key=self._clean(k), value=_param_text(v)[:max_length]) for k, v in flat.items()]
        client = self.experiment
        for start in range(0, len(params_list), _MAX_PARAMS_PER_BATCH):
            batch = params_list[start : start + _MAX_PARAMS_PER_BATCH]
            client.log_batch(run_id=self.run_id, params=batch, **self._log_batch_kwargs)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Log numeric ``metrics`` at ``step`` (``0`` when ``None``); string values are skipped with a warning."""
        from mlflow.entities import Metric  # pants: no-infer-dep

        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        timestamp_ms = int(time.time() * 1000)
        metrics_list = []
        for key, value in metrics.items():
            if isinstance(value, str):
                log.warning(f"Discarding metric with string value {key}={value}.")
                continue
            value = float(_materialize(_number(key, value)))
            metrics_list.append(
                Metric(key=self._clean(key), value=value, timestamp=timestamp_ms, step=step or 0)
            )
        if not metrics_list:
            return
        client = self.experiment
        for start in range(0, len(metrics_list), _MAX_METRICS_PER_BATCH):
            batch = metrics_list[start : start + _MAX_METRICS_PER_BATCH]
            client.log_batch(run_id=self.run_id, metrics=batch, **self._log_batch_kwargs)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Write pending metrics/params, upload pending checkpoints and end the run with ``FINISHED``/``FAILED``.

        Batches logged in the background (``synchronous=False``) are flushed first, so that the run is complete
        in the store when this returns (and is not read while a background write is half done).
        """
        if not self._initialized:
            return
        self._flush_async_logging()
        status = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}.get(status, status)
        if self._checkpoint_callback is not None:
            self._scan_and_log_checkpoints(self._checkpoint_callback)
        client = self.experiment
        if client.get_run(self.run_id):
            client.set_terminated(self.run_id, status)

    def _flush_async_logging(self) -> None:
        """Block until every batch queued by ``log_batch(..., synchronous=False)`` is written to the store.

        The queue belongs to the client's tracking store (one per tracking URI); flushing it is a no-op when
        nothing was logged in the background.
        """
        store = getattr(getattr(self._mlflow_client, "_tracking_client", None), "store", None)
        flush = getattr(store, "flush_async_logging", None)
        if callable(flush):
            flush()
            return
        import mlflow  # pants: no-infer-dep

        if hasattr(mlflow, "flush_async_logging"):
            mlflow.set_tracking_uri(self._tracking_uri)  # the fluent flush acts on the store of this URI
            mlflow.flush_async_logging()

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Upload new checkpoints now (``log_model="all"``, or ``True`` with ``save_top_k == -1``) or at the end."""
        if self._log_model == "all" or (
            self._log_model is True and getattr(checkpoint_callback, "save_top_k", None) == -1
        ):
            self._scan_and_log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callback = checkpoint_callback

    def _scan_and_log_checkpoints(self, checkpoint_callback: Any) -> None:
        import yaml  # pants: no-infer-dep

        client = self.experiment
        for mtime, path, score, _tag in _scan_checkpoints(checkpoint_callback, self._logged_model_time):
            metadata = {
                "score": hparams_to_yaml_data(score.item() if isinstance(score, Tensor) else score),
                "original_filename": Path(path).name,
                "Checkpoint": {
                    key: hparams_to_yaml_data(getattr(checkpoint_callback, key))
                    for key in _CHECKPOINT_ATTRIBUTES
                    if hasattr(checkpoint_callback, key)
                },
            }
            aliases = (
                ["latest", "best"]
                if path == getattr(checkpoint_callback, "best_model_path", None)
                else ["latest"]
            )
            artifact_path = Path(path).stem
            client.log_artifact(self._run_id, path, artifact_path)
            with tempfile.TemporaryDirectory() as tmp_dir:
                with open(os.path.join(tmp_dir, "metadata.yaml"), "w", encoding="utf-8") as file:
                    yaml.safe_dump(metadata, file, default_flow_style=False)
                with open(os.path.join(tmp_dir, "aliases.txt"), "w", encoding="utf-8") as file:
                    file.write(str(aliases))
                client.log_artifacts(self._run_id, tmp_dir, artifact_path)
            self._logged_model_time[path] = mtime


def _param_text(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return str(value)
    plain = hparams_to_yaml_data(value)
    return plain if isinstance(plain, str) else str(plain)


def _max_param_length() -> int:
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH  # pants: no-infer-dep
    except ImportError:
        return 250
    return int(MAX_PARAM_VAL_LENGTH)


def _resolve_tags(tags: dict[str, Any]) -> dict[str, Any]:
    """Add MLflow's context tags (source, user, git commit ...) like the fluent API does."""
    try:
        from mlflow.tracking.context.registry import resolve_tags  # pants: no-infer-dep
    except ImportError:
        return tags
    return resolve_tags(tags)
