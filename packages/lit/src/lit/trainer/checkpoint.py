"""Checkpoint dump/restore of the Trainer state with Lightning's keys (the full feature is its own issue)."""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["dump_checkpoint", "restore_checkpoint", "save_checkpoint"]

LIGHTNING_API_VERSION = "2.6.5"


def dump_checkpoint(trainer: Any, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint dictionary: ``epoch``, ``global_step``, version, ``state_dict``, ``loops`` and, unless
    ``weights_only``, callbacks, optimizer and scheduler states."""
    runner = trainer._loop_runner
    module = runner.module
    checkpoint: dict[str, Any] = {
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "pytorch-lightning_version": LIGHTNING_API_VERSION,
        "lit_version": "0.1.0",
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
        strategy_save(checkpoint, filepath, storage_options=storage_options)
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


def _load(runner: Any, ckpt_path: Any) -> dict[str, Any]:
    path = os.fspath(ckpt_path)
    cached = getattr(runner, "_loaded_checkpoint", None)
    if cached is not None and cached[0] == path:
        return cached[1]
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise RuntimeError(f"Could not load the checkpoint {path!r}: {err}") from err
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
        states = checkpoint.get("callbacks", {})
        for cb in runner.callbacks:
            state = states.get(getattr(cb, "state_key", type(cb).__qualname__))
            if state and callable(getattr(cb, "load_state_dict", None)):
                cb.load_state_dict(state)
            hook = getattr(cb, "on_load_checkpoint", None)
            if callable(hook):
                hook(runner.view, module, checkpoint)
    if phase in ("training", "all"):
        for opt, state in zip(runner.optimizers, checkpoint.get("optimizer_states", [])):
            opt.load_state_dict(state)
        for lopt in runner.lightning_optimizers:
            lopt.refresh()
        for config, state in zip(runner.lr_scheduler_configs, checkpoint.get("lr_schedulers", [])):
            config.scheduler.load_state_dict(state)
        if "loops" in checkpoint and runner.state.fn is not None and runner.state.fn.value == "fit":
            runner.load_loops_state_dict(checkpoint["loops"])
        runner._loaded_checkpoint = None
