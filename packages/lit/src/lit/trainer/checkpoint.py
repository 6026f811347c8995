"""Checkpoint dump/restore of the Trainer state with Lightning's keys (the full feature is its own issue)."""

from __future__ import annotations

import contextlib
import copy
import errno
import itertools
import os
import re
import shutil
from collections.abc import Mapping
from typing import Any

import torch

from lit import __version__ as LIT_VERSION
from lit_hooks import rank_zero_warn
from lit_strategies import CheckpointLoadError

__all__ = ["dump_checkpoint", "remove_stale_temporaries", "restore_checkpoint", "save_checkpoint"]

LIGHTNING_API_VERSION = "2.6.5"
# lit's own resume state (random states, data position); Lightning ignores keys it does not know
RESUME_KEY = "lit_resume"


def dump_checkpoint(trainer: Any, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint dictionary: ``epoch``, ``global_step``, version, ``state_dict``, ``loops`` and, unless
    ``weights_only``, callbacks, optimizer and scheduler states."""
    runner = trainer._loop_runner
    module = runner.module
    checkpoint: dict[str, Any] = {
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "pytorch-lightning_version": LIGHTNING_API_VERSION,
        "lit_version": LIT_VERSION,
        "state_dict": module.state_dict(),
        "loops": runner.loops_state_dict(),
    }
    if not weights_only:
        callbacks: dict[str, Any] = {}
        for cb in runner.callbacks:
            state = cb.state_dict() if callable(getattr(cb, "state_dict", None)) else {}
            if state:
                callbacks[cb.state_key] = state
        checkpoint["callbacks"] = callbacks
        checkpoint["optimizer_states"] = [opt.state_dict() for opt in runner.optimizers]
        checkpoint["lr_schedulers"] = [c.scheduler.state_dict() for c in runner.lr_scheduler_configs]
        precision = trainer.precision_plugin
        pstate = precision.state_dict() if precision is not None and hasattr(precision, "state_dict") else {}
        if pstate:
            checkpoint[type(precision).__qualname__] = pstate
        checkpoint[RESUME_KEY] = _resume_state(runner)
    hparams = getattr(module, "hparams", None)
    if hparams:
        checkpoint[module.CHECKPOINT_HYPER_PARAMS_NAME] = getattr(module, "_hparams_name", None)
        checkpoint[module.CHECKPOINT_HYPER_PARAMS_KEY] = dict(hparams)
    dm = trainer.datamodule
    if dm is not None:
        dm_hparams = getattr(dm, "hparams", None)
        if dm_hparams:
            checkpoint[dm.CHECKPOINT_HYPER_PARAMS_NAME] = getattr(dm, "_hparams_name", None)
            checkpoint[dm.CHECKPOINT_HYPER_PARAMS_KEY] = dict(dm_hparams)
        dm_state = dm.state_dict() if callable(getattr(dm, "state_dict", None)) else {}
        if dm_state:
            checkpoint[type(dm).__qualname__] = dm_state
    if not weights_only:
        for cb in runner.callbacks:
            hook = getattr(cb, "on_save_checkpoint", None)
            if callable(hook):
                hook(trainer, module, checkpoint)
    prev = module._current_fx_name
    module._current_fx_name = "on_save_checkpoint"
    try:
        module.on_save_checkpoint(checkpoint)
    finally:
        module._current_fx_name = prev
    return checkpoint


def _resume_state(runner: Any) -> dict[str, Any]:
    """Every global random state and, while fitting, the training data position."""
    from lit_data import collect_rng_states

    state: dict[str, Any] = {"rng": collect_rng_states()}
    fn = runner.state.fn
    if fn is not None and fn.value == "fit":
        data = runner.fit_loop.data_state()
        if data is not None:
            state["fit_data"] = data
        grads = runner.fit_loop.accumulated_grads()
        if grads is not None:
            state["accumulated_grads"] = grads
    return state


def save_checkpoint(
    trainer: Any, filepath: Any, weights_only: bool = False, storage_options: Any = None
) -> None:
    """Write :func:`dump_checkpoint` atomically (temporary file, flush, fsync, rename)."""
    if trainer.lightning_module is None:
        raise AttributeError(
            "Saving a checkpoint is only possible if a model is attached to the Trainer. Did you call"
            " `Trainer.save_checkpoint()` before calling `Trainer.{fit,validate,test,predict}`?"
        )
    checkpoint = dump_checkpoint(trainer, weights_only)
    strategy_save = getattr(trainer.strategy, "save_checkpoint", None)
    if callable(strategy_save):  # the strategy's checkpoint IO (rank zero only, atomic, sharded formats...)
        try:
            strategy_save(checkpoint, filepath, storage_options=storage_options)
        except (OSError, RuntimeError) as err:
            raise _save_error(filepath, err) from err
        trainer.strategy.barrier("Trainer.save_checkpoint")
        return
    if not trainer.is_global_zero:
        return
    path = os.fspath(filepath)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        torch.save(checkpoint, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _version_tuple(text: Any) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in str(text).split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, piece))
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_loaded(path: str, checkpoint: Any) -> None:
    """Refuse a file that is not a checkpoint dictionary, or one written by a newer, unknown format."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointLoadError(
            f"Checkpoint {path!r} holds a {type(checkpoint).__name__}, not a checkpoint dictionary: it was not"
            " written by `Trainer.save_checkpoint`. Pass the path of a Lightning or lit checkpoint."
        )
    if "state_dict" not in checkpoint:
        raise CheckpointLoadError(
            f"Checkpoint {path!r} has no 'state_dict' entry (its keys: {sorted(map(str, checkpoint))[:10]}): it is"
            " not a Lightning or lit checkpoint. Pass a file written by `Trainer.save_checkpoint`."
        )
    written = checkpoint.get("pytorch-lightning_version")
    if written is not None and _version_tuple(written)[:1] > _version_tuple(LIGHTNING_API_VERSION)[:1]:
        raise CheckpointLoadError(
            f"Checkpoint {path!r} was written by Lightning {written}, a newer major version than the format this"
            f" version of lit reads (Lightning {LIGHTNING_API_VERSION}). Upgrade lit, or re-save the checkpoint"
            " with Lightning 2.x."
        )
    lit_written = checkpoint.get("lit_version")
    if lit_written is not None and _version_tuple(lit_written)[:2] > _version_tuple(LIT_VERSION)[:2]:
        raise CheckpointLoadError(
            f"Checkpoint {path!r} was written by lit {lit_written}, newer than this lit ({LIT_VERSION}), and may"
            " hold state this version cannot restore. Upgrade lit to load it."
        )


def _save_error(filepath: Any, err: BaseException) -> OSError:
    """A save failed: say which file, why (a full disk is recognised), and that the previous file is intact."""
    path = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(path)) if "://" not in path else None
    free: int | None = None
    if directory is not None:
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(directory).free
    text = str(err)
    full = (
        getattr(err, "errno", None) == errno.ENOSPC
        or "No space left" in text
        or (free is not None and free < 4096)
    )
    if full:
        return OSError(
            errno.ENOSPC,
            f"Could not save the checkpoint {path!r}: no space left on the device ({free} bytes free in"
            f" {directory!r}). Any previous checkpoint at that path is intact. Free some space, or save to another"
            " directory (`ModelCheckpoint(dirpath=...)`).",
        )
    return OSError(
        getattr(err, "errno", None) or errno.EIO,
        f"Could not save the checkpoint {path!r}: {type(err).__name__}: {text.strip().splitlines()[0] if text else ''}."
        " Any previous checkpoint at that path is intact.",
    )


_STALE_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def remove_stale_temporaries(folder: Any) -> list[str]:
    """Delete the temporary files an interrupted atomic save (a killed process) left in ``folder``.

    Returns:
        The removed paths.
    """
    if folder is None or "://" in os.fspath(folder):
        return []
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if _STALE_TEMPORARY.match(name):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                os.remove(path)
                removed.append(path)
    return removed


def _load(runner: Any, ckpt_path: Any) -> dict[str, Any]:
    path = os.fspath(ckpt_path)
    cached = getattr(runner, "_loaded_checkpoint", None)
    if cached is not None and cached[0] == path:
        return cached[1]
    weights_only = getattr(runner.view, "_weights_only", None)
    strategy_load = getattr(runner.strategy, "load_checkpoint", None)
    if callable(strategy_load):  # the strategy's checkpoint IO: safe loading, errors that name the file
        checkpoint = strategy_load(path, weights_only=weights_only)
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only is not False)
        except FileNotFoundError:
            raise
        except Exception as err:
            raise CheckpointLoadError(f"Could not load the checkpoint {path!r}: {err}") from err
    _check_loaded(path, checkpoint)
    runner._loaded_checkpoint = (path, checkpoint)
    return checkpoint


def restore_checkpoint(runner: Any, ckpt_path: Any, phase: str = "all") -> None:
    """Restore from ``ckpt_path`` in Lightning's two phases.

    ``"modules"`` (after ``configure_model``, before ``configure_optimizers``): model weights, the module's
    ``on_load_checkpoint``, callback states and ``on_load_checkpoint``. ``"training"`` (after the optimizers
    exist): optimizer and scheduler states and, when fitting, the loop progress.
    """
    checkpoint = _load(runner, ckpt_path)
    module = runner.module
    if phase in ("modules", "all"):
        prev = module.__dict__.get("_current_fx_name")
        module.__dict__["_current_fx_name"] = "on_load_checkpoint"
        try:
            module.on_load_checkpoint(checkpoint)
        finally:
            module.__dict__["_current_fx_name"] = prev
        module.load_state_dict(checkpoint["state_dict"], strict=module.strict_loading)
        dm = runner.datamodule
        if (
            dm is not None
            and type(dm).__qualname__ in checkpoint
            and callable(getattr(dm, "load_state_dict", None))
        ):
            dm.load_state_dict(checkpoint[type(dm).__qualname__])
        states = checkpoint.get("callbacks")
        if states is not None:
            # Lightning's order: every callback's ``on_load_checkpoint``, then every ``load_state_dict``
            keys = {getattr(cb, "state_key", type(cb).__qualname__) for cb in runner.callbacks}
            missing = [key for key in states if key not in keys]
            if missing:
                rank_zero_warn(
                    "Be aware that when using `ckpt_path`, callbacks used to create the checkpoint need to be"
                    f" provided during `Trainer` instantiation. Please add the following callbacks: {missing}."
                )
            prev = module.__dict__.get("_current_fx_name")
            module.__dict__["_current_fx_name"] = "on_load_checkpoint"
            try:
                for cb in runner.callbacks:
                    hook = getattr(cb, "on_load_checkpoint", None)
                    if callable(hook):
                        hook(runner.view, module, checkpoint)
            finally:
                module.__dict__["_current_fx_name"] = prev
            for cb in runner.callbacks:
                state = states.get(getattr(cb, "state_key", type(cb).__qualname__))
                if state and callable(getattr(cb, "load_state_dict", None)):
                    cb.load_state_dict(copy.deepcopy(state))
    if phase in ("training", "all"):
        for opt, state in zip(runner.optimizers, checkpoint.get("optimizer_states", [])):
            opt.load_state_dict(state)
        for lopt in runner.lightning_optimizers:
            lopt.refresh()
        for config, state in zip(runner.lr_scheduler_configs, checkpoint.get("lr_schedulers", [])):
            config.scheduler.load_state_dict(state)
        precision = getattr(runner.view, "precision_plugin", None)
        pstate = checkpoint.get(type(precision).__qualname__) if precision is not None else None
        if pstate and callable(getattr(precision, "load_state_dict", None)):
            precision.load_state_dict(pstate)  # the gradient scaler of mixed precision
        if "loops" in checkpoint and runner.state.fn is not None and runner.state.fn.value == "fit":
            runner.load_loops_state_dict(checkpoint["loops"])
            resume = checkpoint.get(RESUME_KEY)
            if isinstance(resume, dict):
                runner.fit_loop.load_resume_state(
                    resume.get("rng"), resume.get("fit_data"), resume.get("accumulated_grads")
                )
        runner._loaded_checkpoint = None
