"""Throughput measurement: batches, samples, items and FLOPs per second, per device and globally."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from lit_callbacks._trainer_access import logging_step, root_device, should_update_logs
from lit_hooks import Callback, rank_zero_only, rank_zero_warn

# peak dense throughput (FLOP/s) of common accelerators, by chip name and dtype
_CUDA_FLOPS: dict[str, dict[Any, float]] = {
    "h200": {torch.float64: 3.4e13, torch.float32: 6.7e13, "tfloat32": 9.9e14, torch.bfloat16: 1.979e15,
             torch.float16: 1.979e15, torch.int8: 3.958e15},
    "h100 sxm": {torch.float64: 3.35e13, torch.float32: 6.69e13, "tfloat32": 4.947e14, torch.bfloat16: 9.894e14,
                 torch.float16: 9.894e14, torch.int8: 1.9789e15},
    "h100 pcie": {torch.float64: 2.56e13, torch.float32: 5.12e13, "tfloat32": 3.78e14, torch.bfloat16: 7.56e14,
                  torch.float16: 7.56e14, torch.int8: 1.513e15},
    "a100": {torch.float64: 9.7e12, torch.float32: 1.95e13, "tfloat32": 1.56e14, torch.bfloat16: 3.12e14,
             torch.float16: 3.12e14, torch.int8: 6.24e14},
    "a10g": {torch.float32: 3.12e13, "tfloat32": 6.25e13, torch.bfloat16: 1.25e14, torch.float16: 1.25e14,
             torch.int8: 2.5e14},
    "l4": {torch.float32: 3.03e13, "tfloat32": 6.0e13, torch.bfloat16: 1.21e14, torch.float16: 1.21e14,
           torch.int8: 2.42e14},
    "t4": {torch.float32: 8.1e12, torch.float16: 6.5e13, torch.int8: 1.3e14},
    "v100": {torch.float64: 7.8e12, torch.float32: 1.57e13, torch.float16: 1.25e14},
}  # fmt: skip


def get_available_flops(device: torch.device, dtype: torch.dtype | str) -> int | None:
    """Peak FLOP/s of ``device`` for ``dtype`` when the chip is known, else ``None`` (always ``None`` on CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    if "h200" in name:
        chip = "h200"
    elif "h100" in name:
        chip = "h100 pcie" if "pcie" in name else "h100 sxm"
    else:
        chip = next((c for c in ("a100", "a10g", "l4", "t4", "v100") if c in name), "")
    table = _CUDA_FLOPS.get(chip)
    if table is None:
        rank_zero_warn(f"FLOPs not found for {name!r}; MFU will not be reported.")
        return None
    if dtype is torch.float32 and torch.get_float32_matmul_precision() != "highest":
        dtype = "tfloat32"
    value = table.get(dtype)
    return None if value is None else int(value)


def measure_flops(
    model: torch.nn.Module,
    forward_fn: Callable[[], torch.Tensor],
    loss_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> int:
    """FLOPs of one call of ``forward_fn`` (plus the backward of ``loss_fn(output)`` when given).

    Example:
        >>> model = torch.nn.Linear(4, 2, bias=False)
        >>> measure_flops(model, lambda: model(torch.zeros(3, 4)))
        48
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = forward_fn()
        if loss_fn is not None:
            loss_fn(out).backward()
    return int(counter.get_total_flops())


class _MonotonicWindow(deque):  # type: ignore[type-arg]
    """A bounded deque whose appended values must not decrease."""

    def append(self, value: Any) -> None:
        if self and value < self[-1]:
            raise ValueError(f"Expected the value to increase, last: {self[-1]}, current: {value}")
        super().append(value)


class Throughput:
    """Compute throughput over a sliding window of cumulative measurements.

    Call :meth:`update` with cumulative ``time``, ``batches``, ``samples`` (and optionally ``lengths`` and
    per-batch ``flops``) and :meth:`compute` for the metrics. Rates appear once the window is full.

    Args:
        available_flops: Peak FLOP/s of one device, for the ``mfu`` metric.
        world_size: Number of devices, for the global (not ``device/``-prefixed) rates.
        window_size: Number of updates in the window (> 1).
        separator: Separator between ``device`` and the metric name.

    Example:
        >>> t = Throughput(window_size=2)
        >>> t.update(time=1.0, batches=1, samples=8)
        >>> t.update(time=2.0, batches=2, samples=16)
        >>> t.compute()["device/samples_per_sec"]
        8.0
    """

    def __init__(
        self,
        available_flops: float | None = None,
        world_size: int = 1,
        window_size: int = 100,
        separator: str = "/",
    ) -> None:
        if world_size < 1:
            raise ValueError(f"`Throughput(world_size={world_size!r})` must be >= 1.")
        if window_size < 2:
            raise ValueError(f"`Throughput(window_size={window_size!r})` must be > 1.")
        self.available_flops = available_flops
        self.separator = separator
        self.world_size = world_size
        self._time: _MonotonicWindow = _MonotonicWindow(maxlen=window_size)
        self._batches: _MonotonicWindow = _MonotonicWindow(maxlen=window_size)
        self._samples: _MonotonicWindow = _MonotonicWindow(maxlen=window_size)
        self._lengths: _MonotonicWindow = _MonotonicWindow(maxlen=window_size)
        self._flops: deque[int] = deque(maxlen=window_size)

    def update(
        self, *, time: float, batches: int, samples: int, lengths: int | None = None, flops: int | None = None
    ) -> None:
        """Record cumulative counters at ``time`` seconds; ``flops`` is the FLOPs of this batch on one device."""
        if samples < batches:
            raise ValueError(f"Expected samples ({samples}) to be greater or equal than batches ({batches})")
        self._time.append(time)
        self._batches.append(batches)
        self._samples.append(samples)
        if lengths is not None:
            if lengths < samples:
                raise ValueError(
                    f"Expected lengths ({lengths}) to be greater or equal than samples ({samples})"
                )
            self._lengths.append(lengths)
            if len(self._samples) != len(self._lengths):
                raise RuntimeError(
                    f"If lengths are passed ({len(self._lengths)}), there needs to be the same number of samples"
                    f" ({len(self._samples)})"
                )
        if flops is not None:
            self._flops.append(flops * self.world_size)

    def compute(self) -> dict[str, int | float]:
        """Current totals and, once the window is full, per-second rates (and MFU when peak FLOPs are known)."""
        sep = self.separator
        metrics: dict[str, int | float] = {
            "time": self._time[-1],
            "batches": self._batches[-1],
            "samples": self._samples[-1],
        }
        if self._lengths:
            metrics["lengths"] = self._lengths[-1]
        add_global = self.world_size > 1
        if len(self._time) == self._time.maxlen:
            elapsed = self._time[-1] - self._time[0]
            batches_ps = (self._batches[-1] - self._batches[0]) / elapsed
            samples_ps = (self._samples[-1] - self._samples[0]) / elapsed
            metrics[f"device{sep}batches_per_sec"] = batches_ps
            metrics[f"device{sep}samples_per_sec"] = samples_ps
            if add_global:
                metrics["batches_per_sec"] = batches_ps * self.world_size
                metrics["samples_per_sec"] = samples_ps * self.world_size
            if len(self._lengths) == self._lengths.maxlen:
                items_ps = (self._lengths[-1] - self._lengths[0]) / elapsed
                metrics[f"device{sep}items_per_sec"] = items_ps
                if add_global:
                    metrics["items_per_sec"] = items_ps * self.world_size
        if len(self._flops) == self._flops.maxlen:
            elapsed = self._time[-1] - self._time[0]
            flops_ps = (sum(self._flops) - self._flops[0]) / elapsed
            dev_flops_ps = flops_ps / self.world_size
            if add_global:
                metrics["flops_per_sec"] = flops_ps
            metrics[f"device{sep}flops_per_sec"] = dev_flops_ps
            if self.available_flops:
                metrics[f"device{sep}mfu"] = dev_flops_ps / self.available_flops
        return metrics

    def reset(self) -> None:
        for window in (self._time, self._batches, self._samples, self._lengths, self._flops):
            window.clear()


_DTYPES = {"64": torch.float64, "bf16": torch.bfloat16, "16": torch.float16}


def _compute_dtype(trainer: Any) -> torch.dtype:
    precision = str(getattr(trainer, "precision", "32"))
    for prefix, dtype in _DTYPES.items():
        if precision.startswith(prefix):
            return dtype
    return torch.float32


def _stage(trainer: Any) -> str:
    stage = getattr(trainer.state, "stage", None)
    return str(getattr(stage, "value", stage))


class ThroughputMonitor(Callback):
    """Log throughput (``train|validate|test|predict/{batches,samples,...}_per_sec``, FLOPs, MFU) on rank 0.

    FLOPs per batch come from a ``flops_per_batch`` attribute of the module (compute it once with
    :func:`measure_flops`). On CUDA the device is synchronized before each measurement.

    Args:
        batch_size_fn: ``batch -> number of samples``.
        length_fn: ``batch -> number of items`` (e.g. tokens), optional.
        **kwargs: ``window_size`` and ``separator`` of :class:`Throughput`.

    Example:
        >>> monitor = ThroughputMonitor(batch_size_fn=lambda batch: batch.size(0), window_size=10)
        >>> monitor.kwargs
        {'window_size': 10}
    """

    def __init__(
        self,
        batch_size_fn: Callable[[Any], int],
        length_fn: Callable[[Any], int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        unknown = set(kwargs) - {"window_size", "separator"}
        if unknown:
            raise TypeError(
                f"`ThroughputMonitor` got unexpected keyword arguments {sorted(unknown)!r}; valid: 'window_size',"
                " 'separator'."
            )
        if not callable(batch_size_fn):
            raise TypeError(f"`ThroughputMonitor(batch_size_fn={batch_size_fn!r})` must be callable.")
        self.kwargs = kwargs
        self.batch_size_fn = batch_size_fn
        self.length_fn = length_fn
        self.available_flops: int | None = None
        self._throughputs: dict[str, Throughput] = {}
        self._t0s: dict[str, float] = {}
        self._lengths: dict[str, int] = {}
        self._samples: dict[str, int] = {}
        self._batches: dict[str, int] = {}
        self._iters: dict[str, int] = {}
        self._module_has_flops: bool | None = None
        self._last_step = -1

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.available_flops = get_available_flops(root_device(trainer), _compute_dtype(trainer))
        world_size = getattr(trainer, "world_size", 1)
        for name in ("train", "validate", "test", "predict"):
            self._throughputs[name] = Throughput(
                available_flops=self.available_flops, world_size=world_size, **self.kwargs
            )

    def _start(self, trainer: Any) -> None:
        stage = _stage(trainer)
        fn = getattr(getattr(trainer.state, "fn", None), "value", None)
        if fn == "fit" or stage not in self._samples:
            self._throughputs[stage].reset()
            self._lengths[stage] = 0
            self._samples[stage] = 0
            self._batches[stage] = 0
            self._iters[stage] = 0
        self._t0s[stage] = time.perf_counter()

    @torch.no_grad()
    def _update(self, trainer: Any, pl_module: Any, batch: Any) -> str:
        stage = _stage(trainer)
        if root_device(trainer).type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - self._t0s[stage]
        if self.length_fn is not None:
            self._lengths[stage] += self.length_fn(batch)
        if self._module_has_flops is None:
            self._module_has_flops = hasattr(pl_module, "flops_per_batch")
            if not self._module_has_flops:
                rank_zero_warn(
                    "When using the `ThroughputMonitor`, you need to define a `flops_per_batch` attribute or"
                    f" property in {type(pl_module).__name__} to compute the FLOPs."
                )
        flops = pl_module.flops_per_batch if self._module_has_flops else None
        self._samples[stage] += self.batch_size_fn(batch)
        self._batches[stage] += 1
        self._iters[stage] += 1
        self._throughputs[stage].update(
            time=elapsed,
            batches=self._batches[stage],
            samples=self._samples[stage],
            lengths=None if self.length_fn is None else self._lengths[stage],
            flops=flops,
        )
        return stage

    def _compute(self, trainer: Any, stage: str, step: int | None = None) -> None:
        if stage == "train" and not should_update_logs(trainer):
            return
        throughput = self._throughputs[stage]
        metrics = {f"{stage}{throughput.separator}{k}": v for k, v in throughput.compute().items()}
        step = logging_step(trainer) if step is None else step
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

    @rank_zero_only
    def on_train_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any) -> None:
        stage = self._update(trainer, pl_module, batch)
        # log only after an optimizer step (not while accumulating)
        if trainer.global_step != self._last_step:
            self._last_step = trainer.global_step
            self._compute(trainer, stage)

    @rank_zero_only
    def on_validation_start(self, trainer: Any, *_: Any) -> None:
        if not trainer.sanity_checking:
            self._start(trainer)

    @rank_zero_only
    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any, **__: Any
    ) -> None:
        if trainer.sanity_checking:
            return
        stage = self._update(trainer, pl_module, batch)
        self._compute(trainer, stage, self._iters[stage])

    @rank_zero_only
    def on_validation_end(self, trainer: Any, *_: Any) -> None:
        if trainer.sanity_checking or getattr(getattr(trainer.state, "fn", None), "value", None) != "fit":
            return
        # exclude the validation time from the training clock
        train_times = self._throughputs["train"]._time
        val_times = self._throughputs["validate"]._time
        train_elapsed = train_times[-1] if train_times else 0.0
        val_elapsed = val_times[-1] if val_times else 0.0
        if "train" in self._t0s and "validate" in self._t0s:
            gap = self._t0s["validate"] - (self._t0s["train"] + train_elapsed)
            self._t0s["train"] += gap + val_elapsed

    @rank_zero_only
    def on_test_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any, **__: Any
    ) -> None:
        stage = self._update(trainer, pl_module, batch)
        self._compute(trainer, stage, self._iters[stage])

    @rank_zero_only
    def on_predict_start(self, trainer: Any, *_: Any) -> None:
        self._start(trainer)

    @rank_zero_only
    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, *_: Any, **__: Any
    ) -> None:
        stage = self._update(trainer, pl_module, batch)
        self._compute(trainer, stage, self._iters[stage])
