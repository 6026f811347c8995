"""Comet logger (``comet_ml`` imported lazily); online, or offline into a local archive."""

from __future__ import annotations

import logging
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any, Literal

from torch import Tensor
from torch.nn import Module

from lit_hooks import MissingExtraError, module_available, rank_zero_only
from lit_loggers._logger import Logger, rank_zero_experiment
from lit_loggers.utilities import _convert_params

__all__ = ["CometLogger"]

log = logging.getLogger(__name__)

FRAMEWORK_NAME = "pytorch-lightning"

# old argument name -> new argument name (the old names are still accepted, with a warning)
_RENAMED = {"experiment_name": "name", "project_name": "project", "save_dir": "offline_directory"}


class CometLogger(Logger):
    r"""Log to `Comet <https://www.comet.com>`_, online or into an offline archive for a later ``comet upload``.

    The experiment is started in the constructor (on global rank zero) with ``comet_ml.start``. With
    ``online=False`` it is an ``OfflineExperiment`` that writes a ``.zip`` archive into ``offline_directory``
    (the archive is completed by ``logger.experiment.end()``). Unlike Lightning 2.6, ``online=False`` logs for
    real instead of creating a disabled experiment.

    Args:
        api_key: Comet API key (online mode; ``comet login`` or ``COMET_API_KEY`` also work).
        workspace: Comet workspace (the default workspace when ``None``).
        project: Comet project (``"Uncategorized"`` when ``None``).
        experiment_key: Key of an experiment to continue, or of the new experiment.
        mode: ``"get_or_create"``, ``"get"`` (continue ``experiment_key``) or ``"create"``.
        online: ``False`` for an offline experiment; ``None`` uses Comet's configuration (online by default).
        prefix: Put before every metric name by Comet.
        \**kwargs: ``comet_ml.ExperimentConfig`` options: ``name``, ``offline_directory``, ``log_code``,
            ``tags`` ... (``experiment_name``, ``project_name``, ``save_dir`` and ``offline`` are accepted as old
            names, with a warning).

    Raises:
        MissingExtraError: When ``comet_ml`` is not installed.
        ValueError: For a ``mode`` other than ``"get_or_create"``, ``"get"`` or ``"create"``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        workspace: str | None = None,
        project: str | None = None,
        experiment_key: str | None = None,
        mode: Literal["get_or_create", "get", "create"] | None = None,
        online: bool | None = None,
        prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not module_available("comet_ml"):
            raise MissingExtraError(
                feature="CometLogger", requirement="comet-ml", extra="comet", distribution="lit-loggers"
            )
        if mode is not None and mode not in ("get_or_create", "get", "create"):
            raise ValueError(f"`mode` must be None, 'get_or_create', 'get' or 'create', got {mode!r}.")
        super().__init__()
        for old, new in _RENAMED.items():
            if old in kwargs:
                log.warning(f"The parameter `{old}` is deprecated, please use `{new}` instead.")
                value = kwargs.pop(old)
                if new == "project":
                    project = project if project is not None else value
                else:
                    kwargs.setdefault(new, value)
        if "offline" in kwargs:
            log.warning("The parameter `offline` is deprecated, please use `online` instead.")
            offline = kwargs.pop("offline")
            if online is None:
                online = not offline

        self._api_key = api_key
        self._workspace = workspace
        self._project_name = project
        self._experiment_key = experiment_key
        self._mode = mode
        self._online = online
        self._prefix = prefix
        self._kwargs = kwargs
        self._experiment: Any = None

        # must be set before comet_ml is imported after torch, or comet patches torch for auto-logging
        os.environ["COMET_DISABLE_AUTO_LOGGING"] = "1"
        if online is False:
            # an offline run should not contact Comet's error-tracking service either (read at comet_ml import)
            os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
        import comet_ml  # pants: no-infer-dep

        self._comet_config = comet_ml.ExperimentConfig(**kwargs)
        if rank_zero_only.rank != 0:  # type: ignore[attr-defined]
            return
        self._create_experiment()

    def _create_experiment(self) -> None:
        import comet_ml  # pants: no-infer-dep

        self._experiment = comet_ml.start(
            api_key=self._api_key,
            workspace=self._workspace,
            project=self._project_name,
            experiment_key=self._experiment_key,
            mode=self._mode,
            online=self._online,
            experiment_config=self._comet_config,
        )
        if self._experiment is None:
            raise comet_ml.exceptions.ExperimentNotFound("Failed to create Comet experiment.")
        self._experiment_key = self._experiment.get_key()
        self._project_name = self._experiment.project_name
        self._experiment.log_other("Created from", FRAMEWORK_NAME)

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The Comet experiment (created again if it was dropped, e.g. after pickling)."""
        if self._experiment is None:
            self._create_experiment()
        return self._experiment

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:  # type: ignore[override]
        """Log ``params`` as Comet parameters (nested dicts flattened by Comet)."""
        self.experiment.__internal_api__log_parameters__(
            parameters=_convert_params(params), framework=FRAMEWORK_NAME, flatten_nested=True, source="manual"
        )

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float | Tensor], step: int | None = None) -> None:
        """Log ``metrics`` at ``step``; an ``epoch`` entry is passed to Comet as the epoch, not as a metric."""
        values = {
            key: value.detach().cpu() if isinstance(value, Tensor) else value
            for key, value in metrics.items()
        }
        epoch = values.pop("epoch", None)
        self.experiment.__internal_api__log_metrics__(
            values, step=step, epoch=epoch, prefix=self._prefix, framework=FRAMEWORK_NAME
        )

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Flush the experiment; it is not ended, so it can still be used after training."""
        if self._experiment is None:
            return
        self._experiment.flush()

    @property
    def save_dir(self) -> str | None:
        """The offline directory of the experiment."""
        return self._comet_config.offline_directory

    @property
    def name(self) -> str | None:
        """The project name."""
        return self._project_name

    @property
    def version(self) -> str | None:
        """The experiment key (``None`` before the experiment exists)."""
        if self._experiment is not None:
            return self._experiment.get_key()
        return None

    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        """Record the model's structure with Comet."""
        if self._experiment is not None:
            self._experiment.__internal_api__set_model_graph__(graph=model, framework=FRAMEWORK_NAME)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_experiment_key"] = self._experiment.get_key() if self._experiment is not None else None
        state["_experiment"] = None
        return state
