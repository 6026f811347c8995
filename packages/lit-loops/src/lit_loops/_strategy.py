"""``LocalStrategy``: the single-device, full-precision reference strategy, so lit-loops works on its own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any

import torch
from torch import Tensor

__all__ = ["LocalStrategy", "no_backward_sync"]


class LocalStrategy:
    """Runs everything in one process on one device with float32 (or the module's own dtype).

    Args:
        device: the device to train on (default CPU).
        precision: an optional precision plugin (``lit_hooks.PrecisionProtocol``), e.g. one from lit-precision;
            ``None`` means plain float32.
    """

    def __init__(self, device: str | torch.device = "cpu", precision: Any = None) -> None:
        self._device = torch.device(device)
        self.model: Any = None
        self.lightning_module: Any = None
        self.precision_plugin: Any = precision
        self.global_rank = 0
        self.local_rank = 0
        self.node_rank = 0
        self.world_size = 1
        self.is_global_zero = True
        self.launcher = None

    @property
    def root_device(self) -> torch.device:
        """The device the module lives on."""
        return self._device

    def connect(self, module: Any) -> None:
        """Remember the module the loops train."""
        self.model = module
        self.lightning_module = module

    def setup_module(self, module: Any) -> Any:
        """Convert ``module`` with the precision plugin, move it to the device and return it."""
        if self.precision_plugin is not None:
            module = self.precision_plugin.convert_module(module)
        if self._device.type != "cpu" or any(p.device != self._device for p in module.parameters()):
            module = module.to(self._device)
        return module

    def batch_to_device(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        """Move ``batch`` to ``device`` (the root device by default)."""
        device = device or self._device
        return _move(batch, device)

    @property
    def handles_gradient_accumulation(self) -> bool:
        """The loops accumulate gradients themselves."""
        return False

    def backward(self, closure_loss: Tensor, optimizer: Any, *args: Any, **kwargs: Any) -> Tensor:
        """``module.backward(loss)`` when the module has that hook, else ``loss.backward()``."""
        module = self.lightning_module
        precision = self.precision_plugin
        if precision is not None:
            tensor = precision.pre_backward(closure_loss, module)
            precision.backward(tensor, module, optimizer, *args, **kwargs)
            return precision.post_backward(tensor, module)
        if module is not None and hasattr(module, "backward"):
            module.backward(closure_loss, *args, **kwargs)
        else:
            closure_loss.backward(*args, **kwargs)
        return closure_loss

    def optimizer_step(
        self, optimizer: Any, closure: Callable[[], Any], model: Any = None, **kwargs: Any
    ) -> Any:
        """``optimizer.step(closure=closure)`` (through the precision plugin when there is one)."""
        if self.precision_plugin is not None:
            return self.precision_plugin.optimizer_step(
                optimizer, model or self.lightning_module, closure, **kwargs
            )
        return optimizer.step(closure=closure, **kwargs)

    def reduce(self, tensor: Any, group: Any = None, reduce_op: Any = "mean") -> Any:
        """Nothing to reduce with one process."""
        return tensor

    def all_gather(self, tensor: Any, group: Any = None, sync_grads: bool = False) -> Any:
        """Nothing to gather with one process."""
        return tensor

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        """The decision itself."""
        return decision

    def barrier(self, name: str | None = None) -> None:
        """Nothing to wait for."""

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        """The object itself."""
        return obj

    def teardown(self) -> None:
        """Nothing to release."""


def _move(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch if batch.device == device else batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        moved = [_move(b, device) for b in batch]
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):
            return type(batch)(*moved)
        return type(batch)(moved)
    if isinstance(batch, dict):
        return type(batch)((k, _move(v, device)) for k, v in batch.items())
    to = getattr(batch, "to", None)
    if callable(to) and not isinstance(batch, type):
        return to(device)
    return batch


@contextlib.contextmanager
def no_backward_sync(strategy: Any, module: Any, enabled: bool = True) -> Generator[None, None, None]:
    """Skip gradient synchronization when the strategy can (``BackwardSyncControl`` capability)."""
    from lit_hooks import BackwardSyncControl

    if not enabled or not isinstance(strategy, BackwardSyncControl):
        yield
        return
    with strategy.no_backward_sync(module, enabled):
        yield
