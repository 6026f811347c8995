"""StochasticWeightAveraging: average the weights of the last epochs with an SWA learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import SWALR

from lit_hooks import Callback, MisconfigurationException, rank_zero_info, rank_zero_warn

_AVG_FN = Callable[[Tensor, Tensor, Tensor], Tensor]
_CPU = torch.device("cpu")


class _SchedulerConfig:
    """Minimal LR scheduler config (epoch interval, frequency 1) for the SWA scheduler."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.name: str | None = None
        self.interval = "epoch"
        self.frequency = 1
        self.reduce_on_plateau = False
        self.monitor: str | None = None
        self.strict = True


def _scheduler_config(scheduler: Any) -> Any:
    try:
        from lit_hooks import LRSchedulerConfig  # type: ignore[attr-defined]
    except ImportError:
        return _SchedulerConfig(scheduler)
    return LRSchedulerConfig(scheduler)


class StochasticWeightAveraging(Callback):
    """Stochastic Weight Averaging (Izmailov et al., 2018) from a given epoch to the end of training.

    From ``swa_epoch_start`` on, the optimizer's learning rate is annealed to ``swa_lrs`` by ``SWALR`` (replacing
    the configured scheduler) and the weights are averaged at each epoch start. When training ends the
    average is copied into the model; if the model has BatchNorm layers their statistics are recomputed with
    one forward pass over ``trainer.train_dataloader`` (like ``torch.optim.swa_utils.update_bn``).

    Args:
        swa_lrs: SWA learning rate, one float for all param groups or one per group.
        swa_epoch_start: Epoch (int, 1-based count) or fraction of ``max_epochs`` (float) at which SWA starts.
        annealing_epochs: Epochs of the annealing phase.
        annealing_strategy: ``"cos"`` or ``"linear"``.
        avg_fn: ``(averaged_param, param, num_averaged) -> new averaged_param``; default: running mean.
        device: Device of the averaged copy (``None``: the model's device).
    """

    def __init__(
        self,
        swa_lrs: float | list[float],
        swa_epoch_start: float = 0.8,
        annealing_epochs: int = 10,
        annealing_strategy: Literal["cos", "linear"] = "cos",
        avg_fn: _AVG_FN | None = None,
        device: torch.device | str | None = _CPU,
    ) -> None:
        err = f"swa_epoch_start should be a >0 integer or a float between 0 and 1, got {swa_epoch_start!r}."
        if isinstance(swa_epoch_start, int) and swa_epoch_start < 1:
            raise MisconfigurationException(err)
        if isinstance(swa_epoch_start, float) and not 0 <= swa_epoch_start <= 1:
            raise MisconfigurationException(err)
        wrong_type = not isinstance(swa_lrs, (float, list))
        wrong_float = isinstance(swa_lrs, float) and swa_lrs <= 0
        wrong_list = isinstance(swa_lrs, list) and not all(isinstance(lr, float) and lr > 0 for lr in swa_lrs)
        if wrong_type or wrong_float or wrong_list:
            raise MisconfigurationException(
                f"The `swa_lrs` should a positive float, or a list of positive floats, got {swa_lrs!r}."
            )
        if annealing_strategy not in ("cos", "linear"):
            raise MisconfigurationException(
                f"`annealing_strategy={annealing_strategy!r}` is not supported. Choose 'cos' or 'linear'."
            )
        if avg_fn is not None and not callable(avg_fn):
            raise MisconfigurationException(f"The `avg_fn` should be callable, got {avg_fn!r}.")
        if device is not None and not isinstance(device, (torch.device, str)):
            raise MisconfigurationException(
                f"device is expected to be a torch.device or a str. Found {device!r}"
            )
        self.n_averaged: Tensor | None = None
        self._swa_epoch_start = swa_epoch_start
        self._swa_lrs = swa_lrs
        self._annealing_epochs = annealing_epochs
        self._annealing_strategy = annealing_strategy
        self._avg_fn = avg_fn or self.avg_fn
        self._device = device
        self._model_contains_batch_norm: bool | None = None
        self._average_model: nn.Module | None = None
        self._initialized = False
        self._swa_scheduler: Any = None
        self._scheduler_state: dict[str, Any] | None = None
        self._pending_average_state: dict[str, Any] | None = None
        self._init_n_averaged = 0
        self._latest_update_epoch = -1
        self._max_epochs = -1

    @property
    def swa_start(self) -> int:
        """First (0-based) epoch of SWA."""
        return max(int(self._swa_epoch_start) - 1, 0)

    @property
    def swa_end(self) -> float:
        """Last (0-based) epoch of SWA."""
        return float("inf") if self._max_epochs == -1 else self._max_epochs - 1

    @staticmethod
    def pl_module_contains_batch_norm(pl_module: nn.Module) -> bool:
        return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in pl_module.modules())

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        name = type(getattr(trainer, "strategy", None)).__name__
        if name.startswith(("FSDP", "DeepSpeed")):
            raise MisconfigurationException("SWA does not currently support sharded models.")
        self._average_model = deepcopy(pl_module)
        if self._pending_average_state is not None:
            self._average_model.load_state_dict(self._pending_average_state)
            self._pending_average_state = None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if len(trainer.optimizers) != 1:
            raise MisconfigurationException("SWA currently works with 1 `optimizer`.")
        if len(trainer.lr_scheduler_configs) > 1:
            raise MisconfigurationException("SWA currently not supported for more than 1 `lr_scheduler`.")
        max_epochs = trainer.max_epochs if trainer.max_epochs is not None else -1
        if isinstance(self._swa_epoch_start, float):
            if max_epochs == -1:
                raise MisconfigurationException(
                    "SWA with `swa_epoch_start` as a float is not supported when `max_epochs=-1`."
                    " Please provide `swa_epoch_start` as an integer."
                )
            self._swa_epoch_start = int(max_epochs * self._swa_epoch_start)
        self._model_contains_batch_norm = self.pl_module_contains_batch_norm(pl_module)
        self._max_epochs = max_epochs
        if self._scheduler_state is not None and trainer.lr_scheduler_configs:
            trainer.lr_scheduler_configs.clear()

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        epoch = trainer.current_epoch
        if not self._initialized and self.swa_start <= epoch <= self.swa_end:
            self._initialized = True
            assert self._average_model is not None
            self._average_model = self._average_model.to(self._device or _device_of(pl_module))
            optimizer = trainer.optimizers[0]
            optimizer = getattr(optimizer, "optimizer", optimizer)
            if isinstance(self._swa_lrs, float):
                self._swa_lrs = [self._swa_lrs] * len(optimizer.param_groups)
            for lr, group in zip(self._swa_lrs, optimizer.param_groups):
                group["initial_lr"] = lr
            self._swa_scheduler = SWALR(
                optimizer,
                swa_lr=self._swa_lrs,
                anneal_epochs=self._annealing_epochs,
                anneal_strategy=self._annealing_strategy,
                last_epoch=trainer.max_epochs if self._annealing_strategy == "cos" else -1,
            )
            if self._scheduler_state is not None:
                self._swa_scheduler.load_state_dict(self._scheduler_state)
            elif epoch != self.swa_start:
                rank_zero_warn("SWA is initializing after swa_start without any checkpoint data.")
            config = _scheduler_config(self._swa_scheduler)
            if trainer.lr_scheduler_configs:
                old = trainer.lr_scheduler_configs[0]
                if getattr(old, "interval", "epoch") != "epoch" or getattr(old, "frequency", 1) != 1:
                    rank_zero_warn(f"SWA is currently only supported every epoch. Found {old}")
                rank_zero_info(
                    f"Swapping scheduler `{type(old.scheduler).__name__}` for `{type(self._swa_scheduler).__name__}`"
                )
                trainer.lr_scheduler_configs[0] = config
            else:
                trainer.lr_scheduler_configs.append(config)
            if self.n_averaged is None:
                self.n_averaged = torch.tensor(
                    self._init_n_averaged, dtype=torch.long, device=_device_of(pl_module)
                )
        if self.swa_start <= epoch <= self.swa_end and epoch > self._latest_update_epoch:
            assert self.n_averaged is not None and self._average_model is not None
            self.update_parameters(self._average_model, pl_module, self.n_averaged, self._avg_fn)
            self._latest_update_epoch = epoch

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._average_model is None or not self._initialized:
            return
        # after the last epoch the loop has advanced ``current_epoch`` past ``swa_end``
        if not (trainer.current_epoch - 1 == self.swa_end or self._max_epochs == -1):
            return
        self.transfer_weights(self._average_model, pl_module)
        if self._model_contains_batch_norm:
            loader = getattr(trainer, "train_dataloader", None)
            if loader is None:
                rank_zero_warn(
                    "SWA could not recompute BatchNorm statistics: the trainer exposes no `train_dataloader`."
                )
            else:
                self.update_batch_norm(pl_module, loader)

    @staticmethod
    def update_batch_norm(pl_module: nn.Module, loader: Any) -> None:
        """Recompute BatchNorm running statistics with one forward pass over ``loader`` (cumulative average)."""
        momenta: dict[nn.Module, Any] = {}
        for m in pl_module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                momenta[m] = m.momentum
                m.momentum = None
        if not momenta:
            return
        was_training = pl_module.training
        pl_module.train()
        device = _device_of(pl_module)
        with torch.no_grad():
            for batch in loader:
                x = batch[0] if isinstance(batch, (list, tuple)) else batch
                pl_module(x.to(device) if isinstance(x, Tensor) else x)
        for m, momentum in momenta.items():
            m.momentum = momentum
        pl_module.train(was_training)

    @staticmethod
    def transfer_weights(src_pl_module: nn.Module, dst_pl_module: nn.Module) -> None:
        for src, dst in zip(src_pl_module.parameters(), dst_pl_module.parameters()):
            dst.detach().copy_(src.to(dst.device))

    @staticmethod
    def update_parameters(
        average_model: nn.Module, model: nn.Module, n_averaged: Tensor, avg_fn: _AVG_FN
    ) -> None:
        for p_swa, p_model in zip(average_model.parameters(), model.parameters()):
            device = p_swa.device
            p_swa_ = p_swa.detach()
            p_model_ = p_model.detach().to(device)
            src = p_model_ if n_averaged == 0 else avg_fn(p_swa_, p_model_, n_averaged.to(device))
            p_swa_.copy_(src)
        n_averaged += 1

    @staticmethod
    def avg_fn(averaged_model_parameter: Tensor, model_parameter: Tensor, num_averaged: Tensor) -> Tensor:
        """Running mean."""
        return averaged_model_parameter + (model_parameter - averaged_model_parameter) / (num_averaged + 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_averaged": 0 if self.n_averaged is None else int(self.n_averaged.item()),
            "latest_update_epoch": self._latest_update_epoch,
            "scheduler_state": None if self._swa_scheduler is None else self._swa_scheduler.state_dict(),
            "average_model_state": None if self._average_model is None else self._average_model.state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._init_n_averaged = state_dict["n_averaged"]
        self._latest_update_epoch = state_dict["latest_update_epoch"]
        self._scheduler_state = state_dict["scheduler_state"]
        model_state = state_dict["average_model_state"]
        if model_state is None:
            return
        if self._average_model is not None:
            self._average_model.load_state_dict(model_state)
        else:
            self._pending_average_state = model_state


def _device_of(module: Any) -> torch.device:
    device = getattr(module, "device", None)
    if isinstance(device, torch.device):
        return device
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")
