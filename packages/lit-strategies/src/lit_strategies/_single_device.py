"""One process, one device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from typing_extensions import override

from lit_strategies._strategy import Strategy, TBroadcast

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_precision import Precision
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._checkpoint_io import CheckpointIO

__all__ = ["SingleDeviceStrategy"]


class SingleDeviceStrategy(Strategy):
    """Train on a single device in the current process (registry name ``"single_device"``).

    Collectives are identities: :meth:`reduce`, :meth:`all_gather` and :meth:`broadcast` return their input.

    Args:
        device: The device to run on, e.g. ``"cpu"``, ``"cuda:0"`` or ``torch.device("cuda", 1)``.
        accelerator: The accelerator; set by the Trainer when ``None``.
        checkpoint_io: How checkpoints are written and read; a ``TorchCheckpointIO`` when ``None``.
        precision_plugin: The precision; full precision when ``None``.

    Example:
        >>> strategy = SingleDeviceStrategy("cpu")
        >>> model = strategy.setup_module(torch.nn.Linear(2, 1))
        >>> optimizer = strategy.setup_optimizer(torch.optim.SGD(model.parameters(), lr=0.1))
        >>> loss = model(strategy.batch_to_device(torch.ones(4, 2))).sum()
        >>> _ = strategy.backward(loss, optimizer)
        >>> strategy.optimizer_step(optimizer, closure=lambda: None)
    """

    def __init__(
        self,
        device: str | int | torch.device = "cpu",
        accelerator: Accelerator | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
    ) -> None:
        super().__init__(
            accelerator=accelerator, checkpoint_io=checkpoint_io, precision_plugin=precision_plugin
        )
        if not isinstance(device, torch.device):
            device = torch.device(device)
        self._root_device = device

    @property
    @override
    def root_device(self) -> torch.device:
        return self._root_device

    @property
    @override
    def is_global_zero(self) -> bool:
        return True

    @override
    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """Nothing to reduce in one process: returns ``tensor``."""
        return tensor

    @override
    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        """Nothing to gather in one process: returns ``tensor``."""
        return tensor

    @override
    def barrier(self, name: str | None = None) -> None:
        pass

    @override
    def broadcast(self, obj: TBroadcast, src: int = 0) -> TBroadcast:
        return obj

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        strategy_registry.register(
            "single_device", cls, description="Strategy that trains on a single device"
        )

    @override
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(device={self._root_device!r}, precision_plugin={self.precision_plugin!r})"
        )
