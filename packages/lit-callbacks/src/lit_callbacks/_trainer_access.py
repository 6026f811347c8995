"""Small readers for trainer facts that are optional in the trainer protocol.

Callbacks only rely on ``lit_hooks.TrainerProtocol``; the helpers here read a few optional extras with
Lightning-compatible fallbacks so that a foreign loop can omit them.
"""

from __future__ import annotations

from typing import Any

import torch


def logging_step(trainer: Any) -> int:
    """Step used as the x-axis for logged metrics (batches that stepped an optimizer)."""
    step = getattr(trainer, "batches_that_stepped", None)
    if step is None:
        step = getattr(trainer, "_batches_that_stepped", None)
    return int(trainer.global_step if step is None else step)


def should_update_logs(trainer: Any) -> bool:
    """Whether the current training batch is a logging batch (``log_every_n_steps``), or training stops."""
    flag = getattr(trainer, "should_update_logs", None)
    if isinstance(flag, bool):
        return flag
    every = getattr(trainer, "log_every_n_steps", 50) or 1
    return (logging_step(trainer) + 1) % every == 0 or bool(trainer.should_stop)


def root_device(trainer: Any) -> torch.device:
    """The device metrics should live on."""
    device = getattr(getattr(trainer, "strategy", None), "root_device", None)
    return device if isinstance(device, torch.device) else torch.device("cpu")


def fn_value(trainer: Any) -> str:
    """``trainer.state.fn`` as a plain string (``"fit"``, ``"validate"``, ...)."""
    fn = getattr(getattr(trainer, "state", None), "fn", None)
    return str(getattr(fn, "value", fn))


def module_overrides(module: Any, method_name: str) -> bool:
    """Whether ``module`` overrides ``method_name`` of its LightningModule base class.

    Uses ``lit_hooks.is_overridden`` (which knows classes that declare ``__lit_hook_parent__``), falling back to
    the class named ``LightningModule`` in the MRO. Plain ``nn.Module`` objects count as not overriding.
    """
    from lit_hooks import is_overridden

    try:
        return is_overridden(method_name, module)
    except ValueError:
        pass
    base = next((cls for cls in type(module).__mro__ if cls.__name__ == "LightningModule"), None)
    if base is None or not hasattr(base, method_name):
        return False
    own = getattr(type(module), method_name, None)
    return own is not None and own is not getattr(base, method_name)
