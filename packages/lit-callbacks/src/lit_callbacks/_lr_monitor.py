"""LearningRateMonitor: log learning rates (and momentum / weight decay) of every optimizer."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

import torch
from torch.optim import Optimizer

from lit_callbacks._trainer_access import logging_step, root_device, should_update_logs
from lit_hooks import Callback, MisconfigurationException, rank_zero_warn

_INTERVALS = (None, "step", "epoch")


class LearningRateMonitor(Callback):
    """Log the learning rate of each optimizer parameter group, and optionally momentum and weight decay.

    Keys follow Lightning: ``lr-<OptimizerClass>`` for a single group, ``lr-<OptimizerClass>/pg<i>`` (or
    ``/<group name>`` when groups carry a ``"name"``) for several, ``-<k>`` suffixes for several optimizers of
    one class, and the scheduler config's ``name`` when set. Momentum and weight decay use the key plus
    ``-momentum`` / ``-weight_decay``. Values are also put into ``trainer.callback_metrics``.

    Args:
        logging_interval: ``"step"`` or ``"epoch"`` to log at that interval for every scheduler; ``None`` logs
            each scheduler at its own interval (and optimizers without a scheduler at every step).
        log_momentum: Also log momentum (``betas[0]`` for Adam-like optimizers, 0 when absent).
        log_weight_decay: Also log weight decay.

    Attributes:
        lrs: Every learning rate logged so far, per key.
        last_momentum_values: Last momentum logged per key.
        last_weight_decay_values: Last weight decay logged per key.

    Example:
        >>> monitor = LearningRateMonitor(logging_interval="step", log_momentum=True)
        >>> monitor.logging_interval
        'step'
    """

    def __init__(
        self,
        logging_interval: Literal["step", "epoch"] | None = None,
        log_momentum: bool = False,
        log_weight_decay: bool = False,
    ) -> None:
        if logging_interval not in _INTERVALS:
            raise MisconfigurationException(
                f"`LearningRateMonitor(logging_interval={logging_interval!r})` is not supported."
                " logging_interval should be `step` or `epoch` or `None`."
            )
        self.logging_interval = logging_interval
        self.log_momentum = log_momentum
        self.log_weight_decay = log_weight_decay
        self.lrs: dict[str, list[float]] = {}
        self.last_momentum_values: dict[str, float | None] = {}
        self.last_weight_decay_values: dict[str, float | None] = {}

    def on_train_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if not trainer.loggers:
            raise MisconfigurationException(
                "Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger."
                " Pass a logger to the Trainer (e.g. `logger=True`) or remove the callback."
            )
        if self.log_momentum:

            def _missing(key: str) -> bool:
                if trainer.lr_scheduler_configs:
                    return any(
                        key not in c.scheduler.optimizer.defaults for c in trainer.lr_scheduler_configs
                    )
                return any(key not in _unwrap(o).defaults for o in trainer.optimizers)

            if _missing("momentum") and _missing("betas"):
                rank_zero_warn(
                    "You have set log_momentum=True, but some optimizers do not have momentum."
                    " This will log a value 0 for the momentum.",
                    category=RuntimeWarning,
                )
        sched_names, seen, seen_types = self._find_names_from_schedulers(trainer.lr_scheduler_configs)
        opt_names, _ = self._find_names_from_optimizers(trainer.optimizers, seen, seen_types)
        flat = [n for group in (*sched_names, *opt_names) for n in group]
        self.lrs = {name: [] for name in flat}
        self.last_momentum_values = {f"{name}-momentum": None for name in flat}
        self.last_weight_decay_values = {f"{name}-weight_decay": None for name in flat}

    def on_train_batch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval == "epoch" or not should_update_logs(trainer):
            return
        stats = self._extract_stats(trainer, "step" if self.logging_interval is None else "any")
        self._log(trainer, stats)

    def on_train_epoch_start(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
        if self.logging_interval == "step":
            return
        stats = self._extract_stats(trainer, "epoch" if self.logging_interval is None else "any")
        self._log(trainer, stats)

    @staticmethod
    def _log(trainer: Any, stats: dict[str, float]) -> None:
        if not stats:
            return
        step = logging_step(trainer)
        for logger in trainer.loggers:
            logger.log_metrics(stats, step=step)

    def _extract_stats(self, trainer: Any, interval: str) -> dict[str, float]:
        stats: dict[str, float] = {}
        configs = trainer.lr_scheduler_configs
        sched_names, seen, seen_types = self._find_names_from_schedulers(configs)
        self._remap_keys(sched_names)
        for names, config in zip(sched_names, configs):
            if interval in (config.interval, "any"):
                stats.update(self._get_optimizer_stats(config.scheduler.optimizer, names))
        opt_names, without_scheduler = self._find_names_from_optimizers(trainer.optimizers, seen, seen_types)
        self._remap_keys(opt_names)
        for opt, names in zip(without_scheduler, opt_names):
            stats.update(self._get_optimizer_stats(opt, names))
        if stats:
            device = root_device(trainer)
            trainer.callback_metrics.update(
                {name: torch.tensor(value, device=device) for name, value in stats.items()}
            )
        return stats

    def _get_optimizer_stats(self, optimizer: Optimizer, names: list[str]) -> dict[str, float]:
        stats: dict[str, float] = {}
        use_betas = "betas" in optimizer.defaults
        for group, name in zip(optimizer.param_groups, names):
            lr = group["lr"]
            lr = float(lr) if isinstance(lr, torch.Tensor) else lr
            self.lrs.setdefault(name, []).append(lr)
            stats[name] = lr
            if self.log_momentum:
                momentum = group["betas"][0] if use_betas else group.get("momentum", 0)
                self.last_momentum_values[f"{name}-momentum"] = momentum
                stats[f"{name}-momentum"] = momentum
            if self.log_weight_decay:
                wd = group.get("weight_decay", 0)
                self.last_weight_decay_values[f"{name}-weight_decay"] = wd
                stats[f"{name}-weight_decay"] = wd
        return stats

    def _remap_keys(self, names: list[list[str]], token: str = "/pg1") -> None:
        # when a group is added later (e.g. finetuning), "lr-SGD" becomes "lr-SGD/pg1": keep its history
        for group in names:
            for new_name in group:
                old_name = new_name.replace(token, "")
                if token in new_name and old_name in self.lrs:
                    self.lrs[new_name] = self.lrs.pop(old_name)
                elif new_name not in self.lrs:
                    self.lrs[new_name] = []

    @staticmethod
    def _add_prefix(name: str, optimizer_cls: type, seen_types: defaultdict[type, int]) -> str:
        if optimizer_cls not in seen_types:
            return name
        count = seen_types[optimizer_cls]
        return f"{name}-{count - 1}" if count > 1 else name

    @staticmethod
    def _add_suffix(name: str, param_groups: list[dict[str, Any]], index: int) -> str:
        if len(param_groups) > 1:
            return f"{name}/{param_groups[index].get('name', f'pg{index + 1}')}"
        pg_name = param_groups[index].get("name")
        return f"{name}/{pg_name}" if pg_name else name

    @staticmethod
    def _duplicate_param_group_names(param_groups: list[dict[str, Any]]) -> set[str]:
        names = [pg.get("name", f"pg{i}") for i, pg in enumerate(param_groups, start=1)]
        return {n for n in names if names.count(n) > 1}

    def _find_names_from_schedulers(
        self, configs: list[Any]
    ) -> tuple[list[list[str]], list[Optimizer], defaultdict[type, int]]:
        names: list[list[str]] = []
        seen: list[Optimizer] = []
        seen_types: defaultdict[type, int] = defaultdict(int)
        for config in configs:
            opt = config.scheduler.optimizer
            name = config.name if getattr(config, "name", None) is not None else f"lr-{type(opt).__name__}"
            names.append(self._check_duplicates_and_update_name(opt, name, seen, seen_types, config))
        return names, seen, seen_types

    def _find_names_from_optimizers(
        self, optimizers: list[Any], seen: list[Optimizer], seen_types: defaultdict[type, int]
    ) -> tuple[list[list[str]], list[Optimizer]]:
        names: list[list[str]] = []
        without_scheduler: list[Optimizer] = []
        for optimizer in optimizers:
            optimizer = _unwrap(optimizer)
            if any(optimizer is s for s in seen):
                continue
            name = f"lr-{type(optimizer).__name__}"
            names.append(self._check_duplicates_and_update_name(optimizer, name, seen, seen_types, None))
            without_scheduler.append(optimizer)
        return names, without_scheduler

    def _check_duplicates_and_update_name(
        self,
        optimizer: Optimizer,
        name: str,
        seen: list[Optimizer],
        seen_types: defaultdict[type, int],
        config: Any,
    ) -> list[str]:
        seen.append(optimizer)
        cls = type(optimizer)
        if config is None or getattr(config, "name", None) is None:
            seen_types[cls] += 1
        groups = optimizer.param_groups
        duplicates = self._duplicate_param_group_names(groups)
        if duplicates:
            raise MisconfigurationException(
                "A single `Optimizer` cannot have multiple parameter groups with identical `name` values."
                f" {name} has duplicated parameter group names {sorted(duplicates)}; give each group a unique"
                " `name`."
            )
        name = self._add_prefix(name, cls, seen_types)
        return [self._add_suffix(name, groups, i) for i in range(len(groups))]


def _unwrap(optimizer: Any) -> Optimizer:
    inner = getattr(optimizer, "optimizer", None)
    return inner if isinstance(inner, Optimizer) else optimizer
