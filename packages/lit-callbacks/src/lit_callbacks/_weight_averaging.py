"""WeightAveraging and EMAWeightAveraging: keep an averaged copy of the model during training."""

from __future__ import annotations

import itertools
from copy import deepcopy
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from lit_callbacks._trainer_access import module_overrides
from lit_hooks import Callback, rank_zero_info, rank_zero_warn


class WeightAveraging(Callback):
    """Average the model's weights over training with ``torch.optim.swa_utils.AveragedModel``.

    The average is updated after every optimizer step for which :meth:`should_update` returns ``True`` (by
    default every step), swapped in for validation, copied into the model when training ends, and saved as the
    checkpoint's ``state_dict`` (the current weights go to ``current_model_state``, the averaging buffers to
    ``averaging_state``).

    Args:
        device: Device of the averaged copy (default: the model's device).
        use_buffers: Average buffers too (otherwise they are copied).
        **kwargs: Passed to ``AveragedModel`` (``avg_fn``, ``multi_avg_fn``).
    """

    def __init__(
        self, device: torch.device | str | int | None = None, use_buffers: bool = True, **kwargs: Any
    ) -> None:
        unknown = set(kwargs) - {"avg_fn", "multi_avg_fn"}
        if unknown:
            raise TypeError(
                f"`{type(self).__name__}` got unexpected keyword arguments {sorted(unknown)!r}; extra arguments"
                " go to `torch.optim.swa_utils.AveragedModel`, which accepts 'avg_fn' and 'multi_avg_fn'."
            )
        self._device: torch.device | int | None = torch.device(device) if isinstance(device, str) else device
        self._use_buffers = use_buffers
        self._kwargs = kwargs
        self._average_model: AveragedModel | None = None
        self._latest_update_step = 0
        self._latest_update_epoch = -1

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Whether to update the average after optimizer step ``step_idx`` / at the end of epoch ``epoch_idx``."""
        return step_idx is not None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        device = self._device if self._device is not None else _module_device(pl_module)
        if module_overrides(pl_module, "configure_model"):
            rank_zero_warn(
                "You're using the WeightAveraging callback with a model that overrides the configure_model"
                " callback. WeightAveraging doesn't support sharding model layers, so you may run out of memory."
            )
            pl_module.configure_model()
        self._average_model = AveragedModel(
            model=pl_module, device=device, use_buffers=self._use_buffers, **self._kwargs
        )

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step_idx = trainer.global_step - 1
        if trainer.global_step > self._latest_update_step and self.should_update(step_idx=step_idx):
            if self._average_model is not None:
                self._average_model.update_parameters(pl_module)
            self._latest_update_step = trainer.global_step

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        epoch = trainer.current_epoch
        if epoch > self._latest_update_epoch and self.should_update(epoch_idx=epoch):
            if self._average_model is not None:
                self._average_model.update_parameters(pl_module)
            self._latest_update_epoch = epoch

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._average_model is not None:
            self._copy_average_to_current(pl_module)

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"latest_update_step": self._latest_update_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._latest_update_step = state_dict["latest_update_step"]

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self._average_model is None:
            rank_zero_info(
                "You're using the WeightAveraging callback, but saving a checkpoint outside the 'fit' stage."
                " The state of the WeightAveraging callback won't be saved in the checkpoint."
            )
            return
        state = self._average_model.state_dict()
        checkpoint["current_model_state"] = checkpoint["state_dict"]
        checkpoint["state_dict"] = {
            k[len("module.") :]: v for k, v in state.items() if k.startswith("module.")
        }
        checkpoint["averaging_state"] = {k: v for k, v in state.items() if not k.startswith("module.")}

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self._average_model is None:
            rank_zero_warn(
                "You're using the WeightAveraging callback, but loading a checkpoint outside the 'fit' stage."
                " The WeightAveraging state cannot be restored. To disable the warning, remove the callback."
            )
        elif "current_model_state" in checkpoint and "averaging_state" in checkpoint:
            rank_zero_info(
                "Found current_model_state in the checkpoint. This will be used to initialize the model."
            )
            state = {f"module.{k}": v for k, v in checkpoint["state_dict"].items()}
            state |= checkpoint["averaging_state"]
            self._average_model.load_state_dict(state)
            pl_module.load_state_dict(checkpoint["current_model_state"])
        else:
            rank_zero_warn(
                "The checkpoint was not created with WeightAveraging. Both the current and the average model"
                " will be initialized with state_dict."
            )
            self._average_model.module.load_state_dict(deepcopy(checkpoint["state_dict"]), strict=False)

    def _pairs(self, pl_module: Any) -> Any:
        assert self._average_model is not None
        avg = self._average_model.module
        return zip(
            itertools.chain(avg.parameters(), avg.buffers()),
            itertools.chain(pl_module.parameters(), pl_module.buffers()),
        )

    def _swap_models(self, pl_module: Any) -> None:
        for average, current in self._pairs(pl_module):
            tmp = average.data.clone()
            average.data.copy_(current.data)
            current.data.copy_(tmp)

    def _copy_average_to_current(self, pl_module: Any) -> None:
        for average, current in self._pairs(pl_module):
            current.data.copy_(average.data)


class EMAWeightAveraging(WeightAveraging):
    """Exponential moving average of the weights: ``avg = decay * avg + (1 - decay) * weights``.

    Args:
        device: Device of the averaged copy (default: the model's device).
        use_buffers: Average buffers too.
        decay: EMA decay in [0, 1].
        update_every_n_steps: Update after every n-th optimizer step (0 disables step updates).
        update_starting_at_step: First optimizer step (0-based) that updates the average.
        update_starting_at_epoch: Also update at the end of every epoch from this one on.
        **kwargs: Passed to ``AveragedModel``.
    """

    def __init__(
        self,
        device: torch.device | str | int | None = None,
        use_buffers: bool = True,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        update_starting_at_epoch: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"`EMAWeightAveraging(decay={decay!r})` must be in [0, 1], e.g. 0.999.")
        if update_every_n_steps < 0:
            raise ValueError(
                f"`EMAWeightAveraging(update_every_n_steps={update_every_n_steps!r})` must be >= 0."
            )
        # foreach-based EMA: one fused update for all parameters instead of one per tensor
        super().__init__(
            device=device, use_buffers=use_buffers, multi_avg_fn=get_ema_multi_avg_fn(decay), **kwargs
        )
        self.decay = decay
        self.update_every_n_steps = update_every_n_steps
        self.update_starting_at_step = update_starting_at_step
        self.update_starting_at_epoch = update_starting_at_epoch

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        if step_idx is not None:
            after_start = self.update_starting_at_step is None or step_idx >= self.update_starting_at_step
            on_frequency = self.update_every_n_steps > 0 and step_idx % self.update_every_n_steps == 0
            if after_start and on_frequency:
                return True
        start_epoch = self.update_starting_at_epoch
        return epoch_idx is not None and start_epoch is not None and epoch_idx >= start_epoch


def _module_device(module: Any) -> torch.device:
    device = getattr(module, "device", None)
    if isinstance(device, torch.device):
        return device
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
