"""Checkpointing callbacks: the :class:`Checkpoint` base, :class:`ModelCheckpoint` and :class:`OnExceptionCheckpoint`.

The callbacks decide *when* and *under which name* a checkpoint is written; the trainer's
``save_checkpoint(filepath, weights_only)`` builds the checkpoint dict and writes it (atomically, through the
strategy's checkpoint IO). Files are removed through ``trainer.strategy.remove_checkpoint`` on global rank zero.

Besides ``lit_hooks.TrainerProtocol``, :class:`ModelCheckpoint` reads these optional trainer attributes when they
exist (each has a fallback):

- ``trainer.ckpt_path``: the checkpoint fitting resumed from; that file is never deleted (default ``None``).
- ``trainer.enable_validation``: whether a validation loop is configured (default ``True``).
- ``trainer._val_check_time_interval``: a time-based validation interval; when set, saving waits for the end of
  validation (default ``None``).

``every_n_train_steps`` and the ``{step}`` filename key count ``trainer.global_step`` (optimizer steps), as
Lightning does.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Literal
from weakref import proxy

import torch
from torch import Tensor

from lit_hooks import (
    Callback,
    MisconfigurationException,
    MissingExtraError,
    TrainerFn,
    WarningCache,
    rank_zero_info,
    rank_zero_warn,
)

_warning_cache = WarningCache()

# ``{name}`` or ``{name:spec}`` in a filename template (``{{`` / ``}}`` stay literal braces).
_TEMPLATE_KEY = re.compile(r"(?<!\{)\{([^{}:]+)(:[^{}]*)?\}")
_VALID_MODES = ("min", "max")
_VALID_SAVE_LAST = (None, True, False, "link")


def _is_remote(path: Any) -> bool:
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def _local(path: Any) -> str:
    return os.fspath(path).removeprefix("file://")


def _remote_fs(path: str) -> Any:
    """The fsspec filesystem of a ``scheme://`` path."""
    try:
        import fsspec  # pants: no-infer-dep
    except ImportError as err:
        raise MissingExtraError(
            f"ModelCheckpoint with the remote path {path!r}", "fsspec", "fsspec", "lit-callbacks"
        ) from err
    fs, _, _ = fsspec.get_fs_token_paths(path)
    return fs


def _path_exists(path: str) -> bool:
    if _is_remote(path):
        return bool(_remote_fs(path).exists(path))
    return os.path.exists(_local(path))


def _list_dir(path: str) -> list[str]:
    """Entries of a directory as full paths; empty when it does not exist or is not a directory."""
    if _is_remote(path):
        fs = _remote_fs(path)
        return list(fs.ls(path, detail=False)) if fs.isdir(path) else []
    local = _local(path)
    return [os.path.join(local, name) for name in os.listdir(local)] if os.path.isdir(local) else []


def _remove_file(trainer: Any, filepath: str) -> None:
    """Delete ``filepath`` through the strategy (or ``os.remove``), on global rank zero only."""
    if not trainer.is_global_zero:
        return
    remove = getattr(trainer.strategy, "remove_checkpoint", None)
    if callable(remove):
        remove(filepath)
    elif os.path.lexists(_local(filepath)):
        os.remove(_local(filepath))


class Checkpoint(Callback):
    """Base class of checkpointing callbacks.

    The trainer recognises instances of this class as checkpoint callbacks (``trainer.checkpoint_callbacks``), so a
    custom checkpointing callback should subclass it rather than :class:`~lit_hooks.Callback`.
    """


class ModelCheckpoint(Checkpoint):
    """Save the model periodically, keeping the ``save_top_k`` best checkpoints by a monitored metric.

    By default a checkpoint is written after every training epoch (after validation when validation runs) to
    ``<dirpath>/epoch={epoch}-step={step}.ckpt`` and only the most recent one is kept.

    Args:
        dirpath: Directory for the checkpoints. ``None`` resolves at ``setup`` to
            ``<save_dir>/<name>/<version>/checkpoints`` of the first logger (``save_dir`` falling back to the
            trainer's ``default_root_dir``; an int version is written ``version_<n>``) or, without loggers, to
            ``<default_root_dir>/checkpoints``. Local paths are made absolute (``~`` expanded, links resolved).
        filename: Name template without extension, e.g. ``"{epoch}-{val_loss:.2f}"``. Keys are looked up in
            ``trainer.callback_metrics`` plus ``epoch`` and ``step``; a missing key formats as ``0``. ``None``
            means ``"{epoch}-{step}"``.
        monitor: Metric to rank checkpoints by. ``None`` keeps the latest checkpoint(s) instead.
        verbose: Log a message about every decision.
        save_last: ``True`` also writes ``last.ckpt`` whenever a checkpoint is saved; ``"link"`` makes
            ``last.ckpt`` a relative symbolic link to the newest checkpoint instead of a copy (local paths only);
            ``None``/``False`` disable it.
        save_top_k: How many best checkpoints to keep: ``-1`` keeps all, ``0`` saves none (only ``last``),
            ``k > 1`` requires ``monitor``.
        save_on_exception: Also write a checkpoint when fitting raises.
        save_weights_only: Save only the model weights (no optimizer, callback or loop state).
        mode: ``"min"`` when a smaller ``monitor`` value is better, ``"max"`` when a larger one is.
        auto_insert_metric_name: Write ``name=value`` for each template key (``{epoch}`` -> ``epoch=3``); turn it
            off for metric names containing ``/``.
        every_n_train_steps: Save every this many optimizer steps (``0``/``None`` disables).
        train_time_interval: Save when at least this ``datetime.timedelta`` has passed since the last save check,
            looked at after every training batch.
        every_n_epochs: Save every this many epochs (``0`` disables). When none of the three triggers is given,
            it is ``1``. The three triggers are mutually exclusive.
        save_on_train_epoch_end: Save at the end of the training epoch instead of at the end of validation.
            ``None`` picks the training epoch end when validation runs exactly once at the end of every epoch
            or not at all.
        enable_version_counter: When a file of the same name exists, append ``-v1``, ``-v2``, ... instead of
            overwriting it.

    Attributes:
        best_model_path: Path of the best checkpoint (the latest one without ``monitor``).
        best_model_score: Monitored value of the best checkpoint (a tensor), or ``None``.
        best_k_models: Path -> monitored value of the kept checkpoints.
        kth_best_model_path: Path of the worst kept checkpoint once ``save_top_k`` are kept.
        kth_value: Monitored value of ``kth_best_model_path`` (``inf``/``-inf`` before).
        last_model_path: Path of ``last.ckpt`` (or of its versioned variant), or ``""``.
        current_score: Monitored value at the latest top-k save.

    Raises:
        MisconfigurationException: For an invalid ``mode``, ``save_last``, ``save_top_k`` (below ``-1``, or above
            ``1`` without ``monitor``), negative or combined save triggers.

    Example:
        >>> mc = ModelCheckpoint(dirpath="/ckpts", filename="{epoch}-{val_loss:.2f}", monitor="val_loss")
        >>> mc.format_checkpoint_name({"epoch": 2, "val_loss": torch.tensor(0.4567)})
        '/ckpts/epoch=2-val_loss=0.46.ckpt'
        >>> mc.state_key.startswith("ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0")
        True
    """

    CHECKPOINT_JOIN_CHAR: ClassVar[str] = "-"
    CHECKPOINT_EQUALS_CHAR: ClassVar[str] = "="
    CHECKPOINT_NAME_LAST: ClassVar[str] = "last"
    FILE_EXTENSION: ClassVar[str] = ".ckpt"
    STARTING_VERSION: ClassVar[int] = 1

    def __init__(
        self,
        dirpath: str | os.PathLike[str] | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        verbose: bool = False,
        save_last: bool | Literal["link"] | None = None,
        save_top_k: int = 1,
        save_on_exception: bool = False,
        save_weights_only: bool = False,
        mode: str = "min",
        auto_insert_metric_name: bool = True,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        every_n_epochs: int | None = None,
        save_on_train_epoch_end: bool | None = None,
        enable_version_counter: bool = True,
    ) -> None:
        super().__init__()
        if mode not in _VALID_MODES:
            raise MisconfigurationException(
                f"ModelCheckpoint(mode={mode!r}) is not supported: expected one of 'min', 'max'. Use 'min' when a"
                " smaller monitored value is better and 'max' when a larger one is."
            )
        if save_last not in _VALID_SAVE_LAST or (
            save_last is not None and not isinstance(save_last, (bool, str))
        ):
            raise MisconfigurationException(
                f"ModelCheckpoint(save_last={save_last!r}) is not supported: expected one of None, True, False,"
                " 'link'."
            )
        if isinstance(save_top_k, bool) or not isinstance(save_top_k, int):
            raise TypeError(f"ModelCheckpoint(save_top_k={save_top_k!r}) must be an int (-1, 0, 1, 2, ...).")
        if train_time_interval is not None and not callable(
            getattr(train_time_interval, "total_seconds", None)
        ):
            raise TypeError(
                f"ModelCheckpoint(train_time_interval={train_time_interval!r}) must be a `datetime.timedelta`,"
                " e.g. `timedelta(minutes=30)`."
            )
        self.monitor = monitor
        self.verbose = verbose
        self.save_last = save_last
        self.save_top_k = save_top_k
        self.save_on_exception = save_on_exception
        self.save_weights_only = save_weights_only
        self.auto_insert_metric_name = auto_insert_metric_name
        self.mode = mode
        self._save_on_train_epoch_end = save_on_train_epoch_end
        self._enable_version_counter = enable_version_counter

        self.current_score: Tensor | None = None
        self.best_k_models: dict[str, Tensor] = {}
        self.kth_best_model_path = ""
        self.kth_value: Tensor = torch.tensor(math.inf if mode == "min" else -math.inf)
        self.best_model_score: Tensor | None = None
        self.best_model_path = ""
        self.last_model_path = ""

        self._last_global_step_saved = 0  # nothing to save before the first optimizer step
        self._last_checkpoint_saved = ""
        self._last_time_checked: float | None = None
        self._defer_save_until_validation = False
        self._validation_has_run = False

        if dirpath is not None and not _is_remote(dirpath):
            dirpath = os.path.realpath(os.path.expanduser(_local(dirpath)))
        elif dirpath is not None:
            dirpath = os.fspath(dirpath)
        self.dirpath: str | None = dirpath
        self.filename = filename

        if every_n_train_steps is None and every_n_epochs is None and train_time_interval is None:
            every_n_epochs, every_n_train_steps = 1, 0
        self._every_n_epochs: int = every_n_epochs or 0
        self._every_n_train_steps: int = every_n_train_steps or 0
        self._train_time_interval: timedelta | None = train_time_interval
        self._validate_triggers()

    def _validate_triggers(self) -> None:
        if self.save_top_k < -1:
            raise MisconfigurationException(
                f"ModelCheckpoint(save_top_k={self.save_top_k!r}) is invalid: expected -1 (keep every checkpoint),"
                " 0 (keep none) or a positive number of best checkpoints to keep."
            )
        for name, value in (
            ("every_n_train_steps", self._every_n_train_steps),
            ("every_n_epochs", self._every_n_epochs),
        ):
            if value < 0:
                raise MisconfigurationException(
                    f"ModelCheckpoint({name}={value!r}) is invalid: expected a number >= 0 (0 or None disables it)."
                )
        triggers = (self._every_n_train_steps >= 1) + (self._every_n_epochs >= 1)
        triggers += self._train_time_interval is not None
        if triggers > 1:
            raise MisconfigurationException(
                f"ModelCheckpoint got every_n_train_steps={self._every_n_train_steps!r},"
                f" every_n_epochs={self._every_n_epochs!r} and train_time_interval={self._train_time_interval!r}:"
                " these triggers are mutually exclusive, set only one of them."
            )
        if self.monitor is None and self.save_top_k not in (-1, 0, 1):
            raise MisconfigurationException(
                f"ModelCheckpoint(save_top_k={self.save_top_k!r}, monitor=None) cannot rank checkpoints: without"
                " `monitor` save_top_k must be one of -1, 0, 1. Pass `monitor='<metric>'` to keep the k best."
            )

    # ------------------------------------------------------------------------------------------------ properties
    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            monitor=self.monitor,
            mode=self.mode,
            every_n_train_steps=self._every_n_train_steps,
            every_n_epochs=self._every_n_epochs,
            train_time_interval=self._train_time_interval,
        )

    @property
    def every_n_epochs(self) -> int:
        """The epoch trigger (``0`` when saving is driven by steps or time)."""
        return self._every_n_epochs

    # ---------------------------------------------------------------------------------------------------- hooks
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.dirpath = trainer.strategy.broadcast(self._resolve_ckpt_dir(trainer))
        self._validation_has_run = False
        if self.save_last == "link" and _is_remote(self.dirpath):
            raise ValueError(
                f"ModelCheckpoint(save_last='link') needs a local directory, got dirpath={self.dirpath!r}."
                " Use save_last=True for remote storage."
            )
        if trainer.is_global_zero and stage == "fit":
            self._warn_if_dir_not_empty(self.dirpath)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._last_time_checked = time.monotonic()

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self._validation_has_run = True

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        n_steps = self._every_n_train_steps
        if n_steps < 1 and self._train_time_interval is None:
            return  # the common configuration (save on validation / epoch end): nothing to decide per batch
        skip_state = self._should_skip_saving_checkpoint(trainer)
        skip_batch = n_steps < 1 or trainer.global_step % n_steps != 0
        skip_time = True
        now = time.monotonic()
        if self._train_time_interval is not None:
            previous = self._last_time_checked
            skip_time = previous is None or (now - previous) < self._train_time_interval.total_seconds()
            # rank zero decides, so that clock differences between ranks cannot make them diverge
            skip_time = trainer.strategy.broadcast(skip_time)
        if skip_batch and skip_time:
            return
        if not skip_time:
            self._last_time_checked = now
        candidates = self._monitor_candidates(trainer)
        # the monitored metric is missing (validation-only metric) or about to be refreshed by the validation that
        # follows the last batch: save at the end of validation instead
        if self.monitor is not None and (
            self.monitor not in candidates
            or (
                not self._should_save_on_train_epoch_end(trainer)
                and batch_idx + 1 >= trainer.num_training_batches
                and self._validation_follows(trainer)
            )
        ):
            self._defer_save_until_validation = True
            return
        if skip_state:
            return
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._should_skip_saving_checkpoint(trainer) or not self._should_save_on_train_epoch_end(trainer):
            return
        self._save_on_schedule(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self._should_skip_saving_checkpoint(trainer) or self._should_save_on_train_epoch_end(trainer):
            return
        if self._defer_save_until_validation:
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)
            self._defer_save_until_validation = False
            return
        self._save_on_schedule(trainer)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if not self._should_save_on_exception(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        filepath = self.format_checkpoint_name(candidates)
        self._save_checkpoint(trainer, filepath)
        self._save_last_checkpoint(trainer, candidates)
        rank_zero_info(
            f"{type(exception).__name__} raised during fitting ({exception}); saved a checkpoint to {filepath!r}."
        )

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.save_last and not self._last_checkpoint_saved:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    # ---------------------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_model_score": self.best_model_score,
            "best_model_path": self.best_model_path,
            "current_score": self.current_score,
            "dirpath": self.dirpath,
            "best_k_models": self.best_k_models,
            "kth_best_model_path": self.kth_best_model_path,
            "kth_value": self.kth_value,
            "last_model_path": self.last_model_path,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved_dirpath = state_dict.get("dirpath", self.dirpath)
        if saved_dirpath == self.dirpath:
            self.best_model_score = state_dict["best_model_score"]
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.best_k_models = state_dict.get("best_k_models", self.best_k_models)
            self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        else:
            warnings.warn(
                f"The checkpoint directory changed from {saved_dirpath!r} to {self.dirpath!r}: only"
                " `best_model_path` is restored; `best_model_score`, `best_k_models`, `kth_best_model_path`,"
                " `kth_value` and `last_model_path` start afresh.",
                UserWarning,
                stacklevel=2,
            )
        self.best_model_path = state_dict["best_model_path"]

    # ------------------------------------------------------------------------------------------------- naming
    def format_checkpoint_name(
        self,
        metrics: Mapping[str, Any],
        filename: str | None = None,
        ver: int | None = None,
        prefix: str | None = None,
    ) -> str:
        """Render the checkpoint path for ``metrics``.

        Args:
            metrics: Values for the template keys; missing keys format as ``0``.
            filename: Template to use instead of :attr:`filename`.
            ver: Version suffix: ``-v<ver>`` is appended before the extension.
            prefix: Prepended to the name, joined with :attr:`CHECKPOINT_JOIN_CHAR`.

        Returns:
            ``<dirpath>/<name>.ckpt``, or just ``<name>.ckpt`` while ``dirpath`` is unknown.

        Example:
            >>> ModelCheckpoint(filename="{epoch:03d}").format_checkpoint_name({"epoch": 5})
            'epoch=005.ckpt'
            >>> ModelCheckpoint().format_checkpoint_name({"epoch": 0, "step": 8}, ver=2)
            'epoch=0-step=8-v2.ckpt'
        """
        name = self._render(filename or self.filename, metrics, prefix)
        if ver is not None:
            name = f"{name}{self.CHECKPOINT_JOIN_CHAR}v{ver}"
        name = f"{name}{self.FILE_EXTENSION}"
        return os.path.join(self.dirpath, name) if self.dirpath else name

    def _render(self, template: str | None, metrics: Mapping[str, Any], prefix: str | None) -> str:
        if not template:
            template = "{epoch}" + self.CHECKPOINT_JOIN_CHAR + "{step}"
        values: dict[str, Any] = dict(metrics)

        def placeholder(match: re.Match[str]) -> str:
            key, spec = match.group(1), match.group(2) or ""
            values.setdefault(key, torch.tensor(0))
            label = f"{key}{self.CHECKPOINT_EQUALS_CHAR}" if self.auto_insert_metric_name else ""
            # ``{0[key]}`` indexes the dict, so keys may contain dots
            return f"{label}{{0[{key}]{spec}}}"

        name = _TEMPLATE_KEY.sub(placeholder, template).format(values)
        if prefix is not None:
            name = self.CHECKPOINT_JOIN_CHAR.join((prefix, name))
        return name

    def _resolve_ckpt_dir(self, trainer: Any) -> str:
        if self.dirpath is not None:
            return self.dirpath
        if trainer.loggers:
            logger = trainer.loggers[0]
            save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
            version = logger.version
            version = version if isinstance(version, str) else f"version_{version}"
            return os.path.join(save_dir, str(logger.name), version, "checkpoints")
        return os.path.join(trainer.default_root_dir, "checkpoints")

    def _find_last_checkpoints(self, trainer: Any) -> set[str]:
        """Paths of the ``last*.ckpt`` files in this callback's directory (used to resume from ``"last"``)."""
        pattern = re.compile(rf"^{re.escape(self.CHECKPOINT_NAME_LAST)}(-(\d+))?")
        found = set()
        for path in _list_dir(self._resolve_ckpt_dir(trainer)):
            stem, ext = os.path.splitext(os.path.basename(path))
            if ext == self.FILE_EXTENSION and pattern.match(stem):
                found.add(os.path.normpath(path))
        return found

    def _warn_if_dir_not_empty(self, dirpath: str) -> None:
        if self.save_top_k != 0 and _list_dir(dirpath):
            rank_zero_warn(f"Checkpoint directory {dirpath} exists and is not empty.")

    def file_exists(self, filepath: str | os.PathLike[str], trainer: Any) -> bool:
        """Whether ``filepath`` exists on global rank zero; every rank gets the same answer."""
        local_decision = _path_exists(os.fspath(filepath)) if trainer.is_global_zero else False
        return bool(trainer.strategy.reduce_boolean_decision(local_decision, all=False))

    def to_yaml(self, filepath: str | os.PathLike[str] | None = None) -> None:
        """Write :attr:`best_k_models` (path -> score) as YAML, by default to ``<dirpath>/best_k_models.yaml``."""
        if filepath is None:
            if not self.dirpath:
                raise ValueError(
                    "ModelCheckpoint.to_yaml() needs a `filepath` while `dirpath` is unknown (before `setup`)."
                )
            filepath = os.path.join(self.dirpath, "best_k_models.yaml")
        lines = [
            f"{_yaml_str(path)}: {_yaml_float(float(score))}\n" for path, score in self.best_k_models.items()
        ]
        text = "".join(sorted(lines)) if lines else "{}\n"
        path = os.fspath(filepath)
        if _is_remote(path):
            with _remote_fs(path).open(path, "w") as fp:
                fp.write(text)
        else:
            with open(_local(path), "w", encoding="utf-8") as fp:
                fp.write(text)

    # --------------------------------------------------------------------------------------------- decisions
    def _should_skip_saving_checkpoint(self, trainer: Any) -> bool:
        return (
            bool(trainer.fast_dev_run)
            or trainer.state.fn != TrainerFn.FITTING
            or trainer.sanity_checking
            or self._last_global_step_saved == trainer.global_step
        )

    def _should_save_on_exception(self, trainer: Any) -> bool:
        return (
            self.save_on_exception
            and not bool(trainer.fast_dev_run)
            and not trainer.sanity_checking
            and self._last_global_step_saved != trainer.global_step
        )

    def _should_save_on_train_epoch_end(self, trainer: Any) -> bool:
        if self._save_on_train_epoch_end is not None:
            return self._save_on_train_epoch_end
        if getattr(trainer, "_val_check_time_interval", None) is not None:
            return False
        # validation every few epochs: no way to know at epoch end whether validation will still run
        if trainer.check_val_every_n_epoch != 1:
            return False
        if _total(trainer.num_val_batches) == 0:
            return True
        # validation several times per epoch: save after validation
        return trainer.val_check_interval == 1.0

    @staticmethod
    def _validation_follows(trainer: Any) -> bool:
        """Whether a validation run comes right after the last training batch of this epoch."""
        if not getattr(trainer, "enable_validation", True) or not _total(trainer.num_val_batches) > 0:
            return False
        every = trainer.check_val_every_n_epoch
        return every is None or (trainer.current_epoch + 1) % every == 0

    def _save_on_schedule(self, trainer: Any) -> None:
        candidates = self._monitor_candidates(trainer)
        if self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0:
            self._save_topk_checkpoint(trainer, candidates)
        # ``last`` follows a save made now; a link is refreshed to the newest file even without one
        if self._last_global_step_saved == trainer.global_step or (
            self.save_last == "link" and self._last_checkpoint_saved
        ):
            self._save_last_checkpoint(trainer, candidates)

    def _monitor_candidates(self, trainer: Any) -> dict[str, Any]:
        candidates = dict(trainer.callback_metrics)
        if self.monitor is not None and isinstance(candidates.get(self.monitor), Tensor):
            # the kept score must not change if the trainer updates its metric tensor in place
            candidates[self.monitor] = candidates[self.monitor].detach().clone()
        epoch = candidates.get("epoch")
        candidates["epoch"] = (
            epoch.int() if isinstance(epoch, Tensor) else torch.tensor(trainer.current_epoch)
        )
        step = candidates.get("step")
        candidates["step"] = step.int() if isinstance(step, Tensor) else torch.tensor(trainer.global_step)
        return candidates

    def check_monitor_top_k(self, trainer: Any, current: Tensor | None = None) -> bool:
        """Whether a checkpoint with monitored value ``current`` belongs in the top ``save_top_k``."""
        if current is None:
            return False
        if self.save_top_k == -1 or len(self.best_k_models) < self.save_top_k:
            return True
        current = torch.as_tensor(current)
        kth = self.best_k_models[self.kth_best_model_path]
        better = torch.lt(current, kth) if self.mode == "min" else torch.gt(current, kth)
        # every rank must take the same decision
        return bool(trainer.strategy.reduce_boolean_decision(bool(better)))

    # ------------------------------------------------------------------------------------------------- saving
    def _save_topk_checkpoint(self, trainer: Any, candidates: dict[str, Any]) -> None:
        if self.save_top_k == 0:
            return
        if self.monitor is None:
            self._save_none_monitor_checkpoint(trainer, candidates)
            return
        if self.monitor not in candidates:
            message = (
                f"ModelCheckpoint(monitor={self.monitor!r}) could not find {self.monitor!r} in the logged metrics"
                f" {sorted(candidates)}. Log it with `self.log({self.monitor!r}, value)` in the module, or pass"
                " one of the available names as `monitor`."
            )
            if self._validation_has_run:
                raise MisconfigurationException(message)
            _warning_cache.warn(message)
        self._save_monitor_checkpoint(trainer, candidates)

    def _save_monitor_checkpoint(self, trainer: Any, candidates: dict[str, Any]) -> None:
        current = candidates.get(self.monitor) if self.monitor is not None else None
        if current is not None and self.check_monitor_top_k(trainer, current):
            self._update_best_and_save(torch.as_tensor(current), trainer, candidates)
        elif self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}:"
                f" {self.monitor!r} was not in top {self.save_top_k}"
            )

    def _save_none_monitor_checkpoint(self, trainer: Any, candidates: dict[str, Any]) -> None:
        filepath = self._versioned_path(candidates, trainer, self.best_model_path)
        # updated before writing: the path is part of the saved callback state
        previous, self.best_model_path = self.best_model_path, filepath
        self._save_checkpoint(trainer, filepath)
        if self.save_top_k == 1 and previous and self._should_remove_checkpoint(trainer, previous, filepath):
            _remove_file(trainer, previous)

    def _update_best_and_save(self, current: Tensor, trainer: Any, candidates: dict[str, Any]) -> None:
        k = len(self.best_k_models) + 1 if self.save_top_k == -1 else self.save_top_k
        evicted = ""
        if len(self.best_k_models) == k and k > 0:
            evicted = self.kth_best_model_path
            self.best_k_models.pop(evicted)
        if torch.isnan(current):
            # a NaN ranks as the worst possible value
            current = torch.tensor(math.inf if self.mode == "min" else -math.inf, device=current.device)
        filepath = self._versioned_path(candidates, trainer, evicted or None)
        self.current_score = current
        self.best_k_models[filepath] = current
        scores = {path: float(score) for path, score in self.best_k_models.items()}
        worst, best = (max, min) if self.mode == "min" else (min, max)
        if len(self.best_k_models) == k:
            self.kth_best_model_path = worst(scores, key=scores.__getitem__)
            self.kth_value = self.best_k_models[self.kth_best_model_path]
        self.best_model_path = best(scores, key=scores.__getitem__)
        self.best_model_score = self.best_k_models[self.best_model_path]
        if self.verbose:
            rank_zero_info(
                f"Epoch {int(candidates['epoch'])}, global step {int(candidates['step'])}: {self.monitor!r} reached"
                f" {float(current):0.5f} (best {float(self.best_model_score):0.5f}), saving model to {filepath!r}"
                f" as top {k}"
            )
        self._save_checkpoint(trainer, filepath)
        if evicted and self._should_remove_checkpoint(trainer, evicted, filepath):
            _remove_file(trainer, evicted)

    def _save_last_checkpoint(self, trainer: Any, candidates: dict[str, Any]) -> None:
        if not self.save_last:
            return
        filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while filepath != self.last_model_path and self.file_exists(filepath, trainer):
                filepath = self.format_checkpoint_name(candidates, self.CHECKPOINT_NAME_LAST, ver=version)
                version += 1
        previous, self.last_model_path = self.last_model_path, filepath
        if self.save_last == "link" and self._last_checkpoint_saved and self.save_top_k != 0:
            self._link_checkpoint(trainer, self._last_checkpoint_saved, filepath)
        else:
            self._save_checkpoint(trainer, filepath)
        if previous and self._should_remove_checkpoint(trainer, previous, filepath):
            _remove_file(trainer, previous)

    def _versioned_path(self, candidates: dict[str, Any], trainer: Any, replaceable: str | None) -> str:
        """The formatted path, with ``-v<n>`` appended while it names another existing file."""
        filepath = self.format_checkpoint_name(candidates)
        if self._enable_version_counter:
            version = self.STARTING_VERSION
            while filepath != replaceable and self.file_exists(filepath, trainer):
                filepath = self.format_checkpoint_name(candidates, ver=version)
                version += 1
        return filepath

    def _save_checkpoint(self, trainer: Any, filepath: str) -> None:
        trainer.save_checkpoint(filepath, self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    @staticmethod
    def _link_checkpoint(trainer: Any, filepath: str, linkpath: str) -> None:
        """Point ``linkpath`` at ``filepath`` with a relative symbolic link (a copy where links are not allowed)."""
        if trainer.is_global_zero and os.path.abspath(filepath) != os.path.abspath(linkpath):
            if os.path.isdir(linkpath) and not os.path.islink(linkpath):
                shutil.rmtree(linkpath)
            target = os.path.relpath(filepath, os.path.dirname(linkpath))
            tmp_link = f"{linkpath}.tmp-link"
            if os.path.lexists(tmp_link):
                os.remove(tmp_link)
            try:
                os.symlink(target, tmp_link)
            except OSError:
                shutil.copy(filepath, tmp_link)
            # the rename replaces any previous link or file in one step
            os.replace(tmp_link, linkpath)
        trainer.strategy.barrier()

    def _should_remove_checkpoint(self, trainer: Any, previous: str, current: str) -> bool:
        """Whether the superseded file ``previous`` may be deleted after writing ``current``.

        Never for the file just written, for a file still tracked as best, top-k or last, for the file fitting
        resumed from, or (locally) for a file outside :attr:`dirpath`.
        """
        if previous == current:
            return False
        if previous in self.best_k_models or previous in (self.best_model_path, self.last_model_path):
            return False
        if _is_remote(previous):
            return True
        previous_abs = os.path.abspath(_local(previous))
        resume = getattr(trainer, "ckpt_path", None)
        if resume is not None and not _is_remote(resume) and os.path.abspath(_local(resume)) == previous_abs:
            return False
        if self.dirpath is None:
            return False
        dirpath = os.path.abspath(_local(self.dirpath))
        return previous_abs != dirpath and os.path.commonpath([dirpath, previous_abs]) == dirpath


class OnExceptionCheckpoint(Checkpoint):
    """Save a checkpoint when fitting raises, to ``<dirpath>/<filename>.ckpt``.

    The file is overwritten by each exception and deleted by ``teardown`` after a run that finished normally.

    Args:
        dirpath: Directory of the checkpoint (needed up front: an exception can happen before ``setup``).
        filename: File name without extension.

    Raises:
        ValueError: If ``filename`` is empty.

    Example:
        >>> OnExceptionCheckpoint("/tmp/ckpts").ckpt_path
        '/tmp/ckpts/on_exception.ckpt'
    """

    FILE_EXTENSION: ClassVar[str] = ".ckpt"

    def __init__(self, dirpath: str | os.PathLike[str], filename: str = "on_exception") -> None:
        super().__init__()
        if not filename:
            raise ValueError(
                f"OnExceptionCheckpoint(filename={filename!r}): the file name cannot be empty; pass a name without"
                " extension such as 'on_exception'."
            )
        self.dirpath = dirpath
        self.filename = filename

    @property
    def ckpt_path(self) -> str:
        """Where the checkpoint is written."""
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def on_exception(self, trainer: Any, *_: Any, **__: Any) -> None:
        trainer.save_checkpoint(self.ckpt_path)

    def teardown(self, trainer: Any, *_: Any, **__: Any) -> None:
        _remove_file(trainer, self.ckpt_path)


def _total(counts: Any) -> float:
    return float(sum(counts)) if isinstance(counts, (list, tuple)) else float(counts or 0)


def _yaml_str(text: str) -> str:
    """A double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text)


def _yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)
