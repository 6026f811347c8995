"""Weights & Biases logger (``wandb`` imported lazily); works online and in wandb's offline mode."""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from torch import Tensor, nn

from lit_hooks import (
    MisconfigurationException,
    MissingExtraError,
    module_available,
    rank_zero_only,
    rank_zero_warn,
)
from lit_loggers._logger import Logger, _materialize, _number, rank_zero_experiment
from lit_loggers.utilities import (
    _add_prefix,
    _convert_params,
    _is_json_serializable,
    _sanitize_callable_params,
    _scan_checkpoints,
    hparams_to_yaml_data,
)

__all__ = ["WandbLogger"]

_CHECKPOINT_ATTRIBUTES = (
    "monitor",
    "mode",
    "save_last",
    "save_top_k",
    "save_weights_only",
    "_every_n_train_steps",
)


def _require_wandb() -> None:
    if not module_available("wandb"):
        raise MissingExtraError(
            feature="WandbLogger", requirement="wandb", extra="wandb", distribution="lit-loggers"
        )


def _check_lengths(kind: str, items: Any, kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise TypeError(
            f"Expected a list as {kind!r}, found {type(items).__name__}. Pass e.g. `{kind}=[item]`."
        )
    n = len(items)
    for key, values in kwargs.items():
        if len(values) != n:
            raise ValueError(
                f"Expected {n} items but only found {len(values)} for {key}: pass one {key!r} per item of {kind!r}."
            )
    return [{key: kwargs[key][i] for key in kwargs} for i in range(n)]


class WandbLogger(Logger):
    r"""Log to `Weights & Biases <https://wandb.ai>`_.

    The run is started (``wandb.init``) on first use of :attr:`experiment`; if a wandb run is already active in
    the process it is reused (with a warning). Metrics are logged with a ``trainer/global_step`` key that is
    declared as their x-axis. With ``offline=True`` (or ``WANDB_MODE=offline``) everything is written to the
    local run folder ``<save_dir>/wandb/offline-run-*`` for a later ``wandb sync``.

    Args:
        name: Display name of the run.
        save_dir: Folder for wandb's files (its ``dir``).
        version: Run id, e.g. to resume a run (same as ``id``).
        offline: Run offline; files stay local.
        dir: Same as ``save_dir`` (used when ``save_dir`` is ``None``).
        id: Run id (``version`` wins when both are given).
        anonymous: Allow anonymous logging.
        project: Project name (default: ``WANDB_PROJECT`` or ``"lightning_logs"``).
        log_model: Upload checkpoints as ``model`` artifacts: ``"all"`` after every save, ``True`` at the end
            of training (or after every save when ``save_top_k == -1``), ``False`` never. Needs online mode.
        experiment: An existing wandb run to log to.
        prefix: Put before every metric name, joined with ``"-"``.
        checkpoint_name: Name of the model artifact (default ``model-<run id>``).
        add_file_policy: ``"mutable"`` (copy the checkpoint into the artifact staging area) or ``"immutable"``.
        \**kwargs: Passed to ``wandb.init`` (``entity``, ``group``, ``tags``, ``config``, ``mode`` ...).

    Raises:
        MissingExtraError: When ``wandb`` is not installed.
        MisconfigurationException: For ``log_model`` together with ``offline=True``.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        name: str | None = None,
        save_dir: str | os.PathLike[str] = ".",
        version: str | None = None,
        offline: bool = False,
        dir: str | os.PathLike[str] | None = None,
        id: str | None = None,
        anonymous: bool | None = None,
        project: str | None = None,
        log_model: Literal["all"] | bool = False,
        experiment: Any = None,
        prefix: str = "",
        checkpoint_name: str | None = None,
        add_file_policy: Literal["mutable", "immutable"] = "mutable",
        **kwargs: Any,
    ) -> None:
        _require_wandb()
        if offline and log_model:
            raise MisconfigurationException(
                f"Providing log_model={log_model} and offline={offline} is an invalid configuration"
                " since model checkpoints cannot be uploaded in offline mode.\n"
                "Hint: Set `offline=False` to log your model."
            )
        if log_model not in (True, False, "all"):
            raise ValueError(f"`log_model` must be True, False or 'all', got {log_model!r}.")
        if add_file_policy not in ("mutable", "immutable"):
            raise ValueError(f"`add_file_policy` must be 'mutable' or 'immutable', got {add_file_policy!r}.")
        super().__init__()
        self._offline = offline
        self._log_model = log_model
        self._prefix = prefix
        self._experiment = experiment
        self._logged_model_time: dict[str, float] = {}
        self._checkpoint_callbacks: dict[int, Any] = {}
        self.add_file_policy = add_file_policy

        if save_dir is not None:
            save_dir = os.fspath(save_dir)
        elif dir is not None:
            dir = os.fspath(dir)
        project = project or os.environ.get("WANDB_PROJECT", "lightning_logs")
        self._wandb_init: dict[str, Any] = {
            "name": name,
            "project": project,
            "dir": save_dir or dir,
            "id": version or id,
            "resume": "allow",
        }
        if anonymous is not None:
            self._wandb_init["anonymous"] = "allow" if anonymous else None
        if offline:
            self._wandb_init["mode"] = "offline"
        self._wandb_init.update(**kwargs)
        self._project = self._wandb_init.get("project")
        self._save_dir = self._wandb_init.get("dir")
        self._name = self._wandb_init.get("name")
        self._id = self._wandb_init.get("id")
        self._checkpoint_name = checkpoint_name

    def __getstate__(self) -> dict[str, Any]:
        # Pickled for spawned processes: create the run here so that workers attach to the same run.
        _ = self.experiment
        state = self.__dict__.copy()
        if self._experiment is not None:
            state["_id"] = getattr(self._experiment, "id", None)
            state["_attach_id"] = getattr(self._experiment, "_attach_id", None)
            state["_name"] = getattr(self._experiment, "name", None)
        state["_experiment"] = None
        return state

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The ``wandb`` run (started on first access, or the active run of the process)."""
        if self._experiment is None:
            import wandb  # pants: no-infer-dep

            attach_id = getattr(self, "_attach_id", None)
            if wandb.run is not None:
                rank_zero_warn(
                    "There is a wandb run already in progress and newly created instances of `WandbLogger` will reuse"
                    " this run. If this is not desired, call `wandb.finish()` before instantiating `WandbLogger`."
                )
                self._experiment = wandb.run
            elif attach_id is not None and hasattr(wandb, "_attach"):
                self._experiment = wandb._attach(attach_id)
            else:
                self._experiment = wandb.init(**self._wandb_init)
                define_metric = getattr(self._experiment, "define_metric", None)
                if define_metric is not None:
                    if self._wandb_init.get("sync_tensorboard"):
                        define_metric("*", step_metric="global_step")
                    else:
                        define_metric("trainer/global_step")
                        define_metric("*", step_metric="trainer/global_step", step_sync=True)
        return self._experiment

    def watch(
        self, model: nn.Module, log: str | None = "gradients", log_freq: int = 100, log_graph: bool = True
    ) -> None:
        """Log gradients and/or parameters of ``model`` every ``log_freq`` steps (``wandb.watch``)."""
        self.experiment.watch(model, log=log, log_freq=log_freq, log_graph=log_graph)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:  # type: ignore[override]
        """Update the run config with ``params``; values JSON cannot encode are stored as readable text/data."""
        params = _sanitize_callable_params(_convert_params(params))
        params = {
            key: value if _is_json_serializable(value) else _readable(value) for key, value in params.items()
        }
        self.experiment.config.update(params, allow_val_change=True)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log ``metrics`` (numbers, one-element tensors or any wandb data type) with ``trainer/global_step``."""
        metrics = _add_prefix(metrics, self._prefix, self.LOGGER_JOIN_CHAR)
        values = {
            key: (
                _materialize(_number(key, value))
                if isinstance(value, Tensor) and value.numel() == 1
                else value
            )
            for key, value in metrics.items()
        }
        if step is not None and not self._wandb_init.get("sync_tensorboard"):
            values["trainer/global_step"] = step
        self.experiment.log(values)

    @rank_zero_only
    def log_table(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log a ``wandb.Table`` given ``columns`` and ``data``, or a ``dataframe``."""
        import wandb  # pants: no-infer-dep

        self.log_metrics({key: wandb.Table(columns=columns, data=data, dataframe=dataframe)}, step)

    @rank_zero_only
    def log_text(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[str]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log text as a ``wandb.Table``."""
        self.log_table(key, columns, data, dataframe, step)

    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log images (tensors, arrays, PIL images or paths); each kwarg is a list with one entry per image."""
        import wandb  # pants: no-infer-dep

        per_item = _check_lengths("images", images, kwargs)
        self.log_metrics({key: [wandb.Image(img, **kw) for img, kw in zip(images, per_item)]}, step)

    @rank_zero_only
    def log_audio(self, key: str, audios: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log audio clips (arrays or paths); each kwarg (``sample_rate``, ``caption``) has one entry per clip."""
        import wandb  # pants: no-infer-dep

        per_item = _check_lengths("audios", audios, kwargs)
        self.log_metrics({key: [wandb.Audio(audio, **kw) for audio, kw in zip(audios, per_item)]}, step)

    @rank_zero_only
    def log_video(self, key: str, videos: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log videos (arrays or paths); each kwarg (``fps``, ``caption``, ``format``) has one entry per video."""
        import wandb  # pants: no-infer-dep

        per_item = _check_lengths("videos", videos, kwargs)
        self.log_metrics({key: [wandb.Video(video, **kw) for video, kw in zip(videos, per_item)]}, step)

    @property
    def save_dir(self) -> str | None:
        """The folder given for wandb's files."""
        return self._save_dir

    @property
    def name(self) -> str | None:
        """The project name (not the run's display name, which is ``experiment.name``)."""
        return self._project

    @property
    def version(self) -> str | None:
        """The run id (without starting a run when none exists yet)."""
        return self._experiment.id if self._experiment else self._id

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Upload new checkpoints now (``log_model="all"``, or ``True`` with ``save_top_k == -1``) or at the end."""
        if self._log_model == "all" or (
            self._log_model is True and getattr(checkpoint_callback, "save_top_k", None) == -1
        ):
            self._scan_and_log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callbacks[id(checkpoint_callback)] = checkpoint_callback

    @staticmethod
    @rank_zero_only
    def download_artifact(
        artifact: str,
        save_dir: str | os.PathLike[str] | None = None,
        artifact_type: str | None = None,
        use_artifact: bool | None = True,
    ) -> str:
        """Download ``artifact`` (``"entity/project/name:alias"``) and return the local folder.

        Uses the active run (recording the use) when there is one and ``use_artifact``, else the public API.
        """
        _require_wandb()
        import wandb  # pants: no-infer-dep

        if wandb.run is not None and use_artifact:
            found = wandb.run.use_artifact(artifact)
        else:
            found = wandb.Api().artifact(artifact, type=artifact_type)
        return found.download(root=None if save_dir is None else os.fspath(save_dir))

    def use_artifact(self, artifact: Any, artifact_type: str | None = None) -> Any:
        """Declare that this run uses ``artifact`` (a name or a ``wandb.Artifact``) and return it."""
        return self.experiment.use_artifact(artifact, type=artifact_type)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """On success, upload the checkpoints kept for the end (``log_model=True``); the run itself stays open."""
        if status != "success":
            return
        if self._experiment is not None:
            for checkpoint_callback in self._checkpoint_callbacks.values():
                self._scan_and_log_checkpoints(checkpoint_callback)

    def _scan_and_log_checkpoints(self, checkpoint_callback: Any) -> None:
        import wandb  # pants: no-infer-dep

        for mtime, path, score, _tag in _scan_checkpoints(checkpoint_callback, self._logged_model_time):
            metadata = {
                "score": score.item() if isinstance(score, Tensor) else score,
                "original_filename": Path(path).name,
                type(checkpoint_callback).__name__: {
                    key: getattr(checkpoint_callback, key)
                    for key in _CHECKPOINT_ATTRIBUTES
                    if hasattr(checkpoint_callback, key)
                },
            }
            if not self._checkpoint_name:
                self._checkpoint_name = f"model-{self.experiment.id}"
            artifact = wandb.Artifact(name=self._checkpoint_name, type="model", metadata=metadata)
            artifact.add_file(path, name="model.ckpt", policy=self.add_file_policy)
            aliases = (
                ["latest", "best"]
                if path == getattr(checkpoint_callback, "best_model_path", None)
                else ["latest"]
            )
            self.experiment.log_artifact(artifact, aliases=aliases)
            self._logged_model_time[path] = mtime


def _readable(value: Any) -> Any:
    plain = hparams_to_yaml_data(value)
    return plain if _is_json_serializable(plain) else str(value)
