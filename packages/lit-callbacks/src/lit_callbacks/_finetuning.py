"""BaseFinetuning and BackboneFinetuning: freeze parts of a model and unfreeze them on a schedule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable
from typing import Any, Union

from torch.nn import Module, ModuleDict
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

from lit_hooks import Callback, MisconfigurationException, rank_zero_warn

log = logging.getLogger(__name__)

Modules = Union[Module, Iterable[Union[Module, Iterable[Any]]]]  # noqa: UP007


def multiplicative(epoch: int) -> float:
    """Default ``lambda_func`` of :class:`BackboneFinetuning`: double the backbone lr every epoch."""
    return 2.0


class BaseFinetuning(Callback):
    """Base class for finetuning: freeze modules before training and unfreeze them in :meth:`finetune_function`.

    Subclasses implement :meth:`freeze_before_training` (called in ``setup``) and :meth:`finetune_function`
    (called at each training epoch start for each optimizer). The param groups added along the way are saved in
    the callback state, so a resumed run rebuilds the optimizer's groups.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        >>> BaseFinetuning.freeze(net, train_bn=False)
        >>> [p.requires_grad for p in net.parameters()]
        [False, False, False, False]
    """

    def __init__(self) -> None:
        self._internal_optimizer_metadata: dict[int, list[dict[str, Any]]] = {}
        self._restarting = False

    def state_dict(self) -> dict[str, Any]:
        return {"internal_optimizer_metadata": self._internal_optimizer_metadata}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restarting = True
        self._internal_optimizer_metadata = state_dict.get("internal_optimizer_metadata", state_dict)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._restarting:
            return
        if self._internal_optimizer_metadata:
            named = dict(pl_module.named_parameters())
            for opt_idx, optimizer in enumerate(trainer.optimizers):
                if opt_idx in self._internal_optimizer_metadata:
                    groups = self._apply_mapping_to_param_groups(
                        self._internal_optimizer_metadata[opt_idx], named
                    )
                    optimizer.param_groups = groups
        self._restarting = False

    @staticmethod
    def flatten_modules(modules: Modules) -> list[Module]:
        """The leaf modules (and modules with own parameters) of ``modules``."""
        if isinstance(modules, ModuleDict):
            modules = modules.values()
        if isinstance(modules, Iterable):
            flat: list[Module] = []
            for m in modules:
                flat.extend(BaseFinetuning.flatten_modules(m))
            candidates: Iterable[Module] = flat
        else:
            candidates = modules.modules()
        return [m for m in candidates if not list(m.children()) or m._parameters]

    @staticmethod
    def filter_params(
        modules: Modules, train_bn: bool = True, requires_grad: bool = True
    ) -> Generator[Any, None, None]:
        """Parameters of ``modules`` whose ``requires_grad`` equals ``requires_grad`` (skipping BN unless ``train_bn``)."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and not train_bn:
                continue
            for param in mod.parameters(recurse=False):
                if param.requires_grad == requires_grad:
                    yield param

    @staticmethod
    def make_trainable(modules: Modules) -> None:
        """Unfreeze ``modules`` (BatchNorm layers track running stats again)."""
        for module in BaseFinetuning.flatten_modules(modules):
            if isinstance(module, _BatchNorm):
                module.track_running_stats = True
            for param in module.parameters(recurse=False):
                param.requires_grad = True

    @staticmethod
    def freeze_module(module: Module) -> None:
        """Freeze the parameters of one module (BatchNorm layers stop tracking running stats)."""
        if isinstance(module, _BatchNorm):
            module.track_running_stats = False
        for param in module.parameters(recurse=False):
            param.requires_grad = False

    @staticmethod
    def freeze(modules: Modules, train_bn: bool = True) -> None:
        """Freeze ``modules``; BatchNorm layers stay trainable when ``train_bn``."""
        for mod in BaseFinetuning.flatten_modules(modules):
            if isinstance(mod, _BatchNorm) and train_bn:
                BaseFinetuning.make_trainable(mod)
            else:
                BaseFinetuning.freeze_module(mod)

    @staticmethod
    def filter_on_optimizer(optimizer: Optimizer, params: Iterable[Any]) -> list[Any]:
        """``params`` minus those already in one of ``optimizer``'s groups (warning about the latter)."""
        existing = {id(p) for group in optimizer.param_groups for p in group["params"]}
        out, removed = [], []
        for param in params:
            (removed if id(param) in existing else out).append(param)
        if removed:
            rank_zero_warn(
                "The provided params to be frozen already exist within another group of this optimizer."
                " Those parameters will be skipped.\nHINT: Did you init your optimizer in `configure_optimizer`"
                f" as such:\n {type(optimizer)}(filter(lambda p: p.requires_grad, self.parameters()), ...) "
            )
        return out

    @staticmethod
    def unfreeze_and_add_param_group(
        modules: Modules,
        optimizer: Optimizer,
        lr: float | None = None,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
    ) -> None:
        """Unfreeze ``modules`` and add their parameters to ``optimizer`` as a new group.

        The new group's lr is ``lr``, or the first group's lr divided by ``initial_denom_lr`` when ``lr`` is None.
        """
        BaseFinetuning.make_trainable(modules)
        params_lr = optimizer.param_groups[0]["lr"] if lr is None else float(lr)
        denom = initial_denom_lr if lr is None else 1.0
        params = BaseFinetuning.filter_params(modules, train_bn=train_bn, requires_grad=True)
        params = BaseFinetuning.filter_on_optimizer(optimizer, params)
        if params:
            optimizer.add_param_group({"params": params, "lr": params_lr / denom})

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.freeze_before_training(pl_module)
        if type(getattr(trainer, "strategy", None)).__name__.startswith("DeepSpeed"):
            raise NotImplementedError(
                "The Finetuning callback does not support running with the DeepSpeed strategy."
                " Choose a different strategy or disable the callback."
            )

    @staticmethod
    def _apply_mapping_to_param_groups(
        groups: list[dict[str, Any]], mapping: dict[Any, Any]
    ) -> list[dict[str, Any]]:
        out = []
        for g in groups:
            state = {k: v for k, v in g.items() if k != "params"}
            state["params"] = [mapping[p] for p in g["params"]]
            out.append(state)
        return out

    def _store(
        self, pl_module: Any, opt_idx: int, num_param_groups: int, current: list[dict[str, Any]]
    ) -> None:
        mapping = {p: n for n, p in pl_module.named_parameters()}
        if opt_idx not in self._internal_optimizer_metadata:
            self._internal_optimizer_metadata[opt_idx] = self._apply_mapping_to_param_groups(current, mapping)
        elif num_param_groups != len(current):
            self._internal_optimizer_metadata[opt_idx].extend(
                self._apply_mapping_to_param_groups(current[num_param_groups:], mapping)
            )

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        for opt_idx, optimizer in enumerate(trainer.optimizers):
            optimizer = (
                getattr(optimizer, "optimizer", optimizer)
                if not isinstance(optimizer, Optimizer)
                else optimizer
            )
            num_groups = len(optimizer.param_groups)
            self.finetune_function(pl_module, trainer.current_epoch, optimizer)
            self._store(pl_module, opt_idx, num_groups, optimizer.param_groups)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        """Unfreeze modules / adjust param groups for ``epoch`` (override)."""
        raise NotImplementedError

    def freeze_before_training(self, pl_module: Any) -> None:
        """Freeze modules before training starts (override)."""
        raise NotImplementedError


class BackboneFinetuning(BaseFinetuning):
    """Freeze ``pl_module.backbone`` and unfreeze it at a given epoch with its own, growing learning rate.

    Args:
        unfreeze_backbone_at_epoch: Epoch at which the backbone is added to the optimizer.
        lambda_func: ``epoch -> factor`` applied to the backbone lr each later epoch.
        backbone_initial_ratio_lr: Initial backbone lr as a fraction of the current lr.
        backbone_initial_lr: Initial backbone lr (overrides the ratio).
        should_align: Cap the backbone lr at the current lr.
        initial_denom_lr: Passed to :meth:`unfreeze_and_add_param_group`.
        train_bn: Keep BatchNorm layers trainable while frozen.
        verbose: Log the learning rates.
        rounding: Decimals of the logged learning rates.
    """

    def __init__(
        self,
        unfreeze_backbone_at_epoch: int = 10,
        lambda_func: Callable[[int], float] = multiplicative,
        backbone_initial_ratio_lr: float = 1e-1,
        backbone_initial_lr: float | None = None,
        should_align: bool = True,
        initial_denom_lr: float = 10.0,
        train_bn: bool = True,
        verbose: bool = False,
        rounding: int = 12,
    ) -> None:
        super().__init__()
        if not callable(lambda_func):
            raise TypeError(
                f"`BackboneFinetuning(lambda_func={lambda_func!r})` must be a callable epoch -> factor."
            )
        self.unfreeze_backbone_at_epoch = unfreeze_backbone_at_epoch
        self.lambda_func = lambda_func
        self.backbone_initial_ratio_lr = backbone_initial_ratio_lr
        self.backbone_initial_lr = backbone_initial_lr
        self.should_align = should_align
        self.initial_denom_lr = initial_denom_lr
        self.train_bn = train_bn
        self.verbose = verbose
        self.rounding = rounding
        self.previous_backbone_lr: float | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "internal_optimizer_metadata": self._internal_optimizer_metadata,
            "previous_backbone_lr": self.previous_backbone_lr,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.previous_backbone_lr = state_dict["previous_backbone_lr"]
        super().load_state_dict(state_dict)

    @staticmethod
    def _check_backbone(pl_module: Any) -> None:
        if not isinstance(getattr(pl_module, "backbone", None), Module):
            raise MisconfigurationException(
                f"The LightningModule should have a nn.Module `backbone` attribute for `BackboneFinetuning`;"
                f" {type(pl_module).__name__} has none. Put the part to finetune in `self.backbone`."
            )

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._check_backbone(pl_module)
        super().on_fit_start(trainer, pl_module)

    def freeze_before_training(self, pl_module: Any) -> None:
        self._check_backbone(pl_module)
        self.freeze(pl_module.backbone, train_bn=self.train_bn)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Optimizer) -> None:
        if epoch == self.unfreeze_backbone_at_epoch:
            current_lr = optimizer.param_groups[0]["lr"]
            initial = (
                self.backbone_initial_lr
                if self.backbone_initial_lr is not None
                else current_lr * self.backbone_initial_ratio_lr
            )
            self.previous_backbone_lr = initial
            self.unfreeze_and_add_param_group(
                pl_module.backbone,
                optimizer,
                initial,
                train_bn=self.train_bn,
                initial_denom_lr=self.initial_denom_lr,
            )
            if self.verbose:
                log.info(
                    f"Current lr: {round(current_lr, self.rounding)}, Backbone lr: {round(initial, self.rounding)}"
                )
        elif epoch > self.unfreeze_backbone_at_epoch and self.previous_backbone_lr is not None:
            current_lr = optimizer.param_groups[0]["lr"]
            next_lr = self.lambda_func(epoch + 1) * self.previous_backbone_lr
            if self.should_align and next_lr > current_lr:
                next_lr = current_lr
            optimizer.param_groups[-1]["lr"] = next_lr
            self.previous_backbone_lr = next_lr
            if self.verbose:
                log.info(
                    f"Current lr: {round(current_lr, self.rounding)}, Backbone lr: {round(next_lr, self.rounding)}"
                )
