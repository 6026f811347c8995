"""Neptune logger on the ``neptune`` 1.x client (imported lazily); async, sync, offline or debug mode."""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from torch import Tensor
from torch.nn import Module

from lit_hooks import MissingExtraError, module_available, rank_zero_only
from lit_loggers._logger import Logger, _materialize, _number, rank_zero_experiment
from lit_loggers.utilities import _add_prefix, _convert_params, _sanitize_callable_params

__all__ = ["NeptuneLogger"]

_INTEGRATION_VERSION_KEY = "source_code/integrations/lit-loggers"


class NeptuneLogger(Logger):
    r"""Log to `neptune.ai <https://neptune.ai>`_ with the ``neptune`` 1.x client.

    The run is created on first use with ``neptune.init_run`` (or an existing run/handler is used). Everything
    is logged under the namespace ``prefix`` (``"training"``): hyper-parameters under ``<prefix>/hyperparams``,
    metrics as series under ``<prefix>/<name>``, checkpoints under ``<prefix>/model/checkpoints``, and the final
    status under ``<prefix>/status``. Pass ``mode="offline"`` to write the operations into ``./.neptune/offline``
    for a later ``neptune sync``; in that mode the run has no server id and :attr:`version` is ``"OFFLINE"``.

    Neptune's hosted service has been shut down (Lightning 2.6 replaced its ``NeptuneLogger`` by an error for that
    reason): the online modes need a server that speaks the ``neptune`` 1.x protocol, while ``mode="offline"`` and
    ``mode="debug"`` work without one.

    Args:
        api_key: Neptune API token (``NEPTUNE_API_TOKEN`` when ``None``).
        project: ``"workspace/project"`` (``NEPTUNE_PROJECT`` when ``None``).
        name: Display name of the run.
        run: An existing ``neptune.Run`` (or a handler inside one) to log to; excludes the other run arguments.
        log_model_checkpoints: Upload the checkpoints of the checkpoint callback after each save.
        prefix: Namespace of everything this logger writes.
        \**neptune_run_kwargs: Passed to ``neptune.init_run`` (``mode``, ``tags``, ``capture_stdout`` ...).

    Raises:
        MissingExtraError: When the ``neptune`` client is not installed.
        ValueError: When ``run`` is given together with run-creation arguments.
    """

    LOGGER_JOIN_CHAR = "/"
    PARAMETERS_KEY = "hyperparams"
    ARTIFACTS_KEY = "artifacts"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        project: str | None = None,
        name: str | None = None,
        run: Any = None,
        log_model_checkpoints: bool | None = True,
        prefix: str = "training",
        **neptune_run_kwargs: Any,
    ) -> None:
        if not module_available("neptune"):
            raise MissingExtraError(
                feature="NeptuneLogger", requirement="neptune", extra="neptune", distribution="lit-loggers"
            )
        if run is not None and (
            api_key is not None or project is not None or name is not None or neptune_run_kwargs
        ):
            given = [
                k for k, v in (("api_key", api_key), ("project", project), ("name", name)) if v is not None
            ]
            raise ValueError(
                "When an already initialized run object is passed to `NeptuneLogger(run=...)`, you can't pass"
                f" run-creation arguments too; got {given + sorted(neptune_run_kwargs)}. Drop them or drop `run`."
            )
        super().__init__()
        self._log_model_checkpoints = log_model_checkpoints
        self._prefix = prefix
        self._run_name = name
        self._project_name = project
        self._api_key = api_key
        self._neptune_run_kwargs = neptune_run_kwargs
        self._run_short_id: str | None = None
        self._run_instance: Any = run
        self._uploaded_checkpoints: set[str] = set()
        if run is not None:
            self._retrieve_run_data()
            self._run_instance[_INTEGRATION_VERSION_KEY] = _lit_loggers_version()

    def _neptune_init_args(self) -> dict[str, Any]:
        args: dict[str, Any] = dict(self._neptune_run_kwargs)
        if self._api_key is not None:
            args["api_token"] = self._api_key
        if self._project_name is not None:
            args["project"] = self._project_name
        if self._run_name is not None:
            args["name"] = self._run_name
        if self._run_short_id is not None and "with_id" not in args:
            args["with_id"] = self._run_short_id
        return args

    def _retrieve_run_data(self) -> None:
        root = (
            self._run_instance.get_root_object()
            if hasattr(self._run_instance, "get_root_object")
            else self._run_instance
        )
        root.wait()
        if root.exists("sys/id"):
            self._run_short_id = root["sys/id"].fetch()
            self._run_name = root["sys/name"].fetch()
        else:  # offline/debug runs have no server-side id
            self._run_short_id = "OFFLINE"
            self._run_name = self._run_name or "offline-name"

    def _key(self, *parts: str) -> str:
        return self.LOGGER_JOIN_CHAR.join(part for part in (self._prefix, *parts) if part)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``neptune`` run (or handler) this logger writes to, created on first access."""
        return self.run

    @property
    @rank_zero_experiment
    def run(self) -> Any:
        """Same as :attr:`experiment`."""
        if self._run_instance is None:
            import neptune  # pants: no-infer-dep

            args = self._neptune_init_args()
            if args.get("with_id") == "OFFLINE":
                args.pop("with_id")
            self._run_instance = neptune.init_run(**args)
            self._retrieve_run_data()
            self._run_instance[_INTEGRATION_VERSION_KEY] = _lit_loggers_version()
        return self._run_instance

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:  # type: ignore[override]
        """Assign ``params`` (nested dicts become namespaces) to ``<prefix>/hyperparams``."""
        from neptune.utils import stringify_unsupported  # pants: no-infer-dep

        params = _sanitize_callable_params(_convert_params(params))
        self.run[self._key(self.PARAMETERS_KEY)] = stringify_unsupported(params)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Append each metric to the series ``<prefix>/<name>`` at ``step``."""
        run = self.run
        for key, value in _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR).items():
            run[key].append(_materialize(_number(key, value)), step=step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Record ``status`` under ``<prefix>/status`` (the run stays open for later use)."""
        if self._run_instance is None:
            return
        if status:
            self.run[self._key("status")] = status
        super().finalize(status)

    @property
    def save_dir(self) -> str | None:
        """``./.neptune`` of the current working directory, where offline data and caches go."""
        return os.path.join(os.getcwd(), ".neptune")

    @property
    def name(self) -> str | None:
        """The run name."""
        return self._run_name

    @property
    def version(self) -> str | None:
        """The run's short id (``"OFFLINE"`` for offline/debug runs)."""
        return self._run_short_id

    @rank_zero_only
    def log_model_summary(self, model: Module, max_depth: int = -1) -> None:
        """Upload the model's structure (``str(model)``) as ``<prefix>/model/summary``."""
        from neptune.types import File  # pants: no-infer-dep

        self.run[self._key("model", "summary")] = File.from_content(content=str(model), extension="txt")

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Upload the callback's last, best-k and best checkpoints and record the best path and score."""
        if not self._log_model_checkpoints:
            return
        namespace = self._key("model", "checkpoints")
        names: set[str] = set()
        paths = [getattr(checkpoint_callback, "last_model_path", "")]
        paths += list(getattr(checkpoint_callback, "best_k_models", {}).keys())
        best = getattr(checkpoint_callback, "best_model_path", "")
        paths.append(best)
        for path in dict.fromkeys(paths):  # each file once, in order
            if path and os.path.isfile(path):
                model_name = self._get_full_model_name(path, checkpoint_callback)
                names.add(model_name)
                self.run[f"{namespace}/{model_name}"].upload(path)
        if best:
            self.run[self._key("model", "best_model_path")] = best
        score = getattr(checkpoint_callback, "best_model_score", None)
        if score is not None:
            self.run[self._key("model", "best_model_score")] = float(
                score.item() if isinstance(score, Tensor) else score
            )
        for stale in self._uploaded_checkpoints - names:
            del self.run[f"{namespace}/{stale}"]
        self._uploaded_checkpoints = names

    @staticmethod
    def _get_full_model_name(model_path: str, checkpoint_callback: Any) -> str:
        """The checkpoint path relative to the callback's ``dirpath``, without extension (the upload key)."""
        dirpath = getattr(checkpoint_callback, "dirpath", None)
        if dirpath:
            expected = os.path.normpath(dirpath) + os.sep
            if not model_path.startswith(expected):
                raise ValueError(f"{model_path!r} was expected to start with {expected!r}.")
            relative = model_path[len(expected) :]
        else:
            relative = os.path.basename(model_path)
        return os.path.splitext(relative)[0].replace(os.sep, "/")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_run_instance"] = None
        return state


def _lit_loggers_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("lit-loggers")
    except metadata.PackageNotFoundError:
        return "unknown"
