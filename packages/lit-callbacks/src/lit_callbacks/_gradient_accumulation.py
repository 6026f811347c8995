"""GradientAccumulationScheduler: change ``accumulate_grad_batches`` by epoch."""

from __future__ import annotations

from typing import Any

from lit_callbacks._trainer_access import module_overrides
from lit_hooks import Callback, MisconfigurationException, rank_zero_warn


def accumulation_for_epoch(scheduling: dict[int, int], epoch: int) -> int:
    """Accumulation factor for ``epoch``: the value at the largest scheduled epoch not after it (else 1).

    Example:
        >>> accumulation_for_epoch({0: 1, 4: 2, 8: 4}, 5)
        2
    """
    factor = 1
    for start in sorted(scheduling):
        if epoch >= start:
            factor = scheduling[start]
    return factor


class GradientAccumulationScheduler(Callback):
    """Change the number of batches over which gradients are accumulated, epoch by epoch.

    Args:
        scheduling: Maps a (0-based) epoch to the accumulation factor used from that epoch on.
            Epochs before the first key accumulate 1 batch.

    Example:
        >>> cb = GradientAccumulationScheduler({4: 2, 8: 4})
        >>> [cb.get_accumulate_grad_batches(e) for e in (0, 4, 7, 8, 20)]
        [1, 2, 2, 4, 4]
    """

    def __init__(self, scheduling: dict[int, int]) -> None:
        super().__init__()
        if not isinstance(scheduling, dict) or not scheduling:
            raise TypeError(
                f"`GradientAccumulationScheduler(scheduling={scheduling!r})` needs a non-empty dict "
                "mapping epoch -> accumulation factor, e.g. `{0: 1, 4: 2}`."
            )
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in scheduling):
            raise MisconfigurationException(
                f"Epoch should be an int greater than or equal to 0. Got {list(scheduling.keys())}."
            )
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in scheduling.values()):
            raise MisconfigurationException(
                f"Accumulation factor should be an int greater than 0. Got {list(scheduling.values())}."
            )
        if min(scheduling) != 0:
            scheduling.update({0: 1})
        self.scheduling = scheduling
        self.epochs = sorted(scheduling)

    def going_to_accumulate_grad_batches(self) -> bool:
        """Whether any scheduled factor is above 1."""
        return any(v > 1 for v in self.scheduling.values())

    def get_accumulate_grad_batches(self, epoch: int) -> int:
        """Accumulation factor for ``epoch``."""
        return accumulation_for_epoch(self.scheduling, epoch)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if not getattr(pl_module, "automatic_optimization", True):
            raise RuntimeError(
                "Automatic gradient accumulation and the `GradientAccumulationScheduler` is not supported for"
                " manual optimization. Please remove the callback or switch to automatic optimization."
            )
        overridden = module_overrides(pl_module, "optimizer_step") or module_overrides(
            pl_module, "optimizer_zero_grad"
        )
        if overridden and self.going_to_accumulate_grad_batches():
            rank_zero_warn(
                "When using `Trainer(accumulate_grad_batches != 1)` and overriding"
                " `LightningModule.optimizer_{step,zero_grad}`, the hooks will not be called on every batch"
                " (rather, they are called on every optimization step)."
            )
        if type(trainer.strategy).__name__.startswith("DeepSpeed"):
            raise RuntimeError(
                f"The `{type(trainer.strategy).__name__}` does not support `accumulate_grad_batches` changing"
                " between epochs."
            )
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(
                "You have set `accumulate_grad_batches` and are using the `GradientAccumulationScheduler`"
                " callback. Either remove `accumulate_grad_batches` from the Trainer or remove the callback."
            )

    def on_train_epoch_start(self, trainer: Any, *_: Any) -> None:
        trainer.accumulate_grad_batches = self.get_accumulate_grad_batches(trainer.current_epoch)
