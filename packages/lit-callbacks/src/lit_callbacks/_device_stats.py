"""DeviceStatsMonitor: log accelerator (and CPU) statistics during training and evaluation."""

from __future__ import annotations

from typing import Any

import torch

from lit_callbacks._trainer_access import logging_step, root_device, should_update_logs
from lit_hooks import Callback, MisconfigurationException, MissingExtraError

CPU_VM_PERCENT = "cpu_vm_percent"
CPU_PERCENT = "cpu_percent"
CPU_SWAP_PERCENT = "cpu_swap_percent"


def _psutil_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("psutil") is not None


def get_cpu_stats() -> dict[str, float]:
    """CPU utilisation, virtual memory and swap use in percent (needs psutil)."""
    try:
        import psutil  # pants: no-infer-dep
    except ImportError as err:
        raise MissingExtraError(
            "DeviceStatsMonitor (CPU stats)", "psutil", "psutil", "lit-callbacks"
        ) from err
    return {
        CPU_VM_PERCENT: psutil.virtual_memory().percent,
        CPU_PERCENT: psutil.cpu_percent(),
        CPU_SWAP_PERCENT: psutil.swap_memory().percent,
    }


def get_device_stats(device: torch.device) -> dict[str, Any]:
    """Statistics of ``device``: ``torch.cuda.memory_stats`` on CUDA, :func:`get_cpu_stats` on CPU."""
    if device.type == "cuda":
        return dict(torch.cuda.memory_stats(device))
    if device.type == "mps" and hasattr(torch, "mps"):
        return {
            "mps.current_allocated_bytes": torch.mps.current_allocated_memory(),
            "mps.driver_allocated_bytes": torch.mps.driver_allocated_memory(),
        }
    return get_cpu_stats()


class DeviceStatsMonitor(Callback):
    """Log device statistics at the start and end of every logged training, validation and test batch.

    Keys are ``DeviceStatsMonitor.<hook>/<stat>`` (with the logger's group separator). The accelerator's own
    ``get_device_stats(device)`` is used when the trainer has an accelerator, otherwise :func:`get_device_stats`.

    Args:
        cpu_stats: ``True`` also logs CPU stats (psutil) on accelerators, ``False`` logs nothing on CPU, ``None``
            logs CPU stats only when training on CPU.
    """

    def __init__(self, cpu_stats: bool | None = None) -> None:
        self._cpu_stats = cpu_stats

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if stage != "fit":
            return
        if not trainer.loggers:
            raise MisconfigurationException(
                "Cannot use `DeviceStatsMonitor` callback with `Trainer(logger=False)`. Add a logger or remove it."
            )
        device = root_device(trainer)
        if (
            self._cpu_stats is not False
            and (self._cpu_stats or device.type == "cpu")
            and not _psutil_available()
        ):
            raise MissingExtraError("DeviceStatsMonitor (CPU stats)", "psutil", "psutil", "lit-callbacks")

    def _get_and_log_device_stats(self, trainer: Any, key: str) -> None:
        if not should_update_logs(trainer):
            return
        device = root_device(trainer)
        if self._cpu_stats is False and device.type == "cpu":
            return
        accelerator = getattr(trainer, "accelerator", None)
        getter = getattr(accelerator, "get_device_stats", None)
        stats = dict(getter(device)) if getter is not None else get_device_stats(device)
        if self._cpu_stats and device.type != "cpu":
            stats.update(get_cpu_stats())
        step = logging_step(trainer)
        for logger in trainer.loggers:
            sep = getattr(logger, "group_separator", "/")
            prefix = f"{type(self).__qualname__}.{key}"
            logger.log_metrics({f"{prefix}{sep}{k}": v for k, v in stats.items()}, step=step)

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_start")

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_train_batch_end")

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_validation_batch_start")

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_validation_batch_end")

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_test_batch_start")

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._get_and_log_device_stats(trainer, "on_test_batch_end")
