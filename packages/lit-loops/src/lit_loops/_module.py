"""``LightningModule``: the ``nn.Module`` the loops train, with Lightning 2.6's methods and hooks."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from lit_hooks import (
    CheckpointHooks,
    DataHooks,
    HyperparametersMixin,
    MisconfigurationException,
    ModelHooks,
    rank_zero_warn,
)
from lit_loops._optim import LightningOptimizer
from lit_loops._results import FxValidator, parse_reduce_fx, to_log_value

__all__ = ["DeviceDtypeModuleMixin", "LightningModule"]


class DeviceDtypeModuleMixin(nn.Module):
    """Tracks the device and dtype the module was moved to (``.device``, ``.dtype``)."""

    __jit_unused_properties__: ClassVar[list[str]] = ["device", "dtype"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dtype: torch.dtype = torch.get_default_dtype()
        self._device = torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The floating point dtype of the module."""
        return self._dtype

    @dtype.setter
    def dtype(self, new_dtype: torch.dtype) -> None:
        raise RuntimeError("Cannot set the dtype explicitly. Please use module.to(new_dtype).")

    @property
    def device(self) -> torch.device:
        """The device of the module (with an index for CUDA)."""
        device = self._device
        if device.type == "cuda" and device.index is None:
            return torch.device(f"cuda:{torch.cuda.current_device()}")
        return device

    def _update_properties(
        self, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> None:
        def apply(module: nn.Module) -> None:
            if not isinstance(module, DeviceDtypeModuleMixin):
                return
            if device is not None:
                module._device = device
            if dtype is not None:
                module._dtype = dtype

        self.apply(apply)

    def to(self, *args: Any, **kwargs: Any) -> Any:
        """Move and/or cast like ``nn.Module.to`` and remember the new device and dtype."""
        device, dtype = torch._C._nn._parse_to(*args, **kwargs)[:2]
        self._update_properties(device=device, dtype=dtype)
        return super().to(*args, **kwargs)

    def cuda(self, device: int | torch.device | None = None) -> Any:
        """Move to a CUDA device."""
        if device is None:
            device = torch.device("cuda", torch.cuda.current_device())
        elif isinstance(device, int):
            device = torch.device("cuda", index=device)
        self._update_properties(device=device)
        return super().cuda(device=device)

    def cpu(self) -> Any:
        """Move to the CPU."""
        self._update_properties(device=torch.device("cpu"))
        return super().cpu()

    def type(self, dst_type: str | torch.dtype) -> Any:
        """Cast all parameters and buffers to ``dst_type``."""
        self._update_properties(dtype=dst_type if isinstance(dst_type, torch.dtype) else None)
        return super().type(dst_type=dst_type)

    def float(self) -> Any:
        """Cast floating point parameters and buffers to float32."""
        self._update_properties(dtype=torch.float)
        return super().float()

    def double(self) -> Any:
        """Cast floating point parameters and buffers to float64."""
        self._update_properties(dtype=torch.double)
        return super().double()

    def half(self) -> Any:
        """Cast floating point parameters and buffers to float16."""
        self._update_properties(dtype=torch.half)
        return super().half()


_REMOVED_HOOKS = {
    "training_epoch_end": "on_train_epoch_end",
    "validation_epoch_end": "on_validation_epoch_end",
    "test_epoch_end": "on_test_epoch_end",
    "training_step_end": "training_step",
    "validation_step_end": "validation_step",
    "test_step_end": "test_step",
    "predict_step_end": "predict_step",
    "on_epoch_start": "on_<train/validation/test>_epoch_start",
    "on_epoch_end": "on_<train/validation/test>_epoch_end",
    "on_batch_start": "on_train_batch_start",
    "on_batch_end": "on_train_batch_end",
}


def check_removed_hooks(module: Any) -> None:
    """Raise ``NotImplementedError`` when ``module`` implements a hook removed in Lightning 2.0."""
    for old, new in _REMOVED_HOOKS.items():
        if callable(getattr(module, old, None)):
            raise NotImplementedError(
                f"Support for `{old}` has been removed in v2.0.0. `{type(module).__name__}` implements this method."
                f" You can use the `{new}` hook instead. To access outputs, save them in-memory as instance"
                " attributes."
            )
    import inspect

    step = getattr(module, "training_step", None)
    if step is not None:
        try:
            params = inspect.signature(step).parameters
        except (TypeError, ValueError):
            params = {}
        if "optimizer_idx" in params:
            raise RuntimeError(
                "Training with multiple optimizers is only supported with manual optimization. Remove the"
                " `optimizer_idx` argument from `training_step`, set `self.automatic_optimization = False` and"
                " access your optimizers in `training_step` with `opt1, opt2, ... = self.optimizers()`."
            )


class LightningModule(
    DeviceDtypeModuleMixin, HyperparametersMixin, ModelHooks, DataHooks, CheckpointHooks, nn.Module
):
    """A ``torch.nn.Module`` that organises training code into steps and hooks.

    Subclass it, implement ``training_step`` and ``configure_optimizers`` (and optionally the other steps and
    hooks), then run it with ``lit.Trainer`` or with the loops of ``lit_loops`` directly.

    Example::

        class Model(LightningModule):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(32, 2)

            def training_step(self, batch, batch_idx):
                loss = self.layer(batch).sum()
                self.log("train_loss", loss)
                return loss

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)
    """

    __jit_unused_properties__: ClassVar[list[str]] = [
        "example_input_array",
        "on_gpu",
        "current_epoch",
        "global_step",
        "global_rank",
        "local_rank",
        "logger",
        "loggers",
        "automatic_optimization",
        "trainer",
        "fabric",
        "strict_loading",
        "hparams",
        "hparams_initial",
        "device_mesh",
    ] + DeviceDtypeModuleMixin.__jit_unused_properties__

    CHECKPOINT_HYPER_PARAMS_KEY = "hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "hparams_type"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trainer: Any = None
        self._loop: Any = None  # the running ``LoopRunner`` (set while attached)
        self._example_input_array: Any = None
        self._automatic_optimization = True
        self._strict_loading: bool | None = None
        self._current_fx_name: str | None = None
        self._param_requires_grad_state: dict[Any, bool] = {}
        self._metric_attributes: dict[int, str] | None = None
        self._device_mesh: Any = None
        self._fabric: Any = None
        self._jit_is_scripting = False

    # ------------------------------------------------------------------ trainer access
    @property
    def trainer(self) -> Any:
        """The trainer (or loop view) running this module; raises when unattached."""
        if self._trainer is None and not self._jit_is_scripting:
            raise RuntimeError(f"{self.__class__.__qualname__} is not attached to a `Trainer`.")
        return self._trainer

    @trainer.setter
    def trainer(self, trainer: Any) -> None:
        for v in self.children():
            if isinstance(v, LightningModule):
                v.trainer = trainer
        self._trainer = trainer
        self._loop = getattr(trainer, "_loop_runner", None) if trainer is not None else None

    @property
    def fabric(self) -> Any:
        """Always ``None``: lit modules run under the loops, not Fabric."""
        return self._fabric

    @property
    def example_input_array(self) -> Any:
        """An example input used by model summaries and exports."""
        return self._example_input_array

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self._example_input_array = example

    @property
    def current_epoch(self) -> int:
        """The current epoch of the running loop (0 when unattached)."""
        return self._trainer.current_epoch if self._trainer is not None else 0

    @property
    def global_step(self) -> int:
        """The number of optimizer steps taken (0 when unattached)."""
        return self._trainer.global_step if self._trainer is not None else 0

    @property
    def global_rank(self) -> int:
        """The process rank across all nodes."""
        return self._trainer.global_rank if self._trainer is not None else 0

    @property
    def local_rank(self) -> int:
        """The process rank on this node."""
        return self._trainer.local_rank if self._trainer is not None else 0

    @property
    def on_gpu(self) -> bool:
        """Whether the module is on a CUDA device."""
        return self.device.type == "cuda"

    @property
    def automatic_optimization(self) -> bool:
        """``False`` switches to manual optimization (``self.optimizers()``, ``self.manual_backward``)."""
        return self._automatic_optimization

    @automatic_optimization.setter
    def automatic_optimization(self, automatic_optimization: bool) -> None:
        self._automatic_optimization = automatic_optimization

    @property
    def strict_loading(self) -> bool:
        """Whether ``load_state_dict`` is strict when restoring checkpoints."""
        return True if self._strict_loading is None else self._strict_loading

    @strict_loading.setter
    def strict_loading(self, strict_loading: bool) -> None:
        self._strict_loading = strict_loading

    @property
    def logger(self) -> Any:
        """The first logger of the trainer, or ``None``."""
        if self._trainer is None:
            return None
        return self._trainer.logger

    @property
    def loggers(self) -> list[Any]:
        """The trainer's loggers."""
        if self._trainer is None:
            return []
        return list(self._trainer.loggers)

    @property
    def device_mesh(self) -> Any:
        """The device mesh set by a model-parallel strategy (``None`` otherwise)."""
        return self._device_mesh

    # ------------------------------------------------------------------ optimizers
    def optimizers(self, use_pl_optimizer: bool = True) -> Any:
        """The optimizers from ``configure_optimizers`` (wrapped in ``LightningOptimizer`` by default).

        Returns one optimizer when there is one, else a list.
        """
        if self._loop is None:
            if self._trainer is None:
                raise RuntimeError(f"{self.__class__.__qualname__} is not attached to a `Trainer`.")
            opts: list[Any] = list(self._trainer.optimizers)
        else:
            opts = self._loop.lightning_optimizers if use_pl_optimizer else self._loop.optimizers
        if not use_pl_optimizer and self._loop is None:
            opts = [o.optimizer if isinstance(o, LightningOptimizer) else o for o in opts]
        if isinstance(opts, list) and len(opts) == 1:
            return opts[0]
        return opts

    def lr_schedulers(self) -> Any:
        """The schedulers from ``configure_optimizers``: ``None``, one scheduler, or a list."""
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        schedulers = [c.scheduler for c in configs]
        return schedulers[0] if len(schedulers) == 1 else schedulers

    def toggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Freeze the parameters of every other optimizer (until :meth:`untoggle_optimizer`)."""
        state: dict[Any, bool] = {}
        for opt in self.trainer.optimizers:
            for group in opt.param_groups:
                for param in group["params"]:
                    if param in state:
                        continue
                    state[param] = param.requires_grad
                    param.requires_grad = False
        for group in optimizer.param_groups:
            for param in group["params"]:
                param.requires_grad = state[param]
        self._param_requires_grad_state = state

    def untoggle_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> None:
        """Restore the ``requires_grad`` flags changed by :meth:`toggle_optimizer`."""
        for opt in self.trainer.optimizers:
            same = opt is optimizer or (
                isinstance(optimizer, LightningOptimizer) and opt is optimizer.optimizer
            )
            if same:
                continue
            for group in opt.param_groups:
                for param in group["params"]:
                    if param in self._param_requires_grad_state:
                        param.requires_grad = self._param_requires_grad_state[param]
        self._param_requires_grad_state = {}

    @contextmanager
    def toggled_optimizer(self, optimizer: Optimizer | LightningOptimizer) -> Generator[None, None, None]:
        """Context manager form of :meth:`toggle_optimizer` / :meth:`untoggle_optimizer`."""
        self.toggle_optimizer(optimizer)
        try:
            yield
        finally:
            self.untoggle_optimizer(optimizer)

    def manual_backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Backward pass in manual optimization (runs the backward hooks and precision scaling)."""
        if self._automatic_optimization:
            raise MisconfigurationException(
                "`manual_backward` is for manual optimization. Set `self.automatic_optimization = False` in your"
                " LightningModule's `__init__` or call `self.backward` instead."
            )
        if self._loop is None:
            loss.backward(*args, **kwargs)
            return
        self._loop.run_backward(loss, None, *args, **kwargs)

    def backward(self, loss: Tensor, *args: Any, **kwargs: Any) -> None:
        """Compute gradients of ``loss``; override for custom backward logic."""
        loss.backward(*args, **kwargs)

    def optimizer_step(
        self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Callable[[], Any] | None = None
    ) -> None:
        """Step the optimizer; the closure runs ``training_step``, ``zero_grad`` and ``backward``."""
        optimizer.step(closure=optimizer_closure)

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Optimizer) -> None:
        """Clear gradients (``set_to_none=True``)."""
        optimizer.zero_grad()

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Step a scheduler (with ``metric`` for plateau schedulers)."""
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric)

    def clip_gradients(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters by norm (default) or value."""
        trainer_val = getattr(self._trainer, "gradient_clip_val", None) if self._trainer is not None else None
        trainer_algo = (
            getattr(self._trainer, "gradient_clip_algorithm", None) if self._trainer is not None else None
        )
        trainer_algo = getattr(trainer_algo, "value", trainer_algo)
        if gradient_clip_val is None:
            gradient_clip_val = trainer_val or 0.0
        elif trainer_val is not None and trainer_val != gradient_clip_val:
            raise MisconfigurationException(
                f"You have set `Trainer(gradient_clip_val={trainer_val!r})`"
                f" and have passed `clip_gradients(gradient_clip_val={gradient_clip_val!r})`."
                " Please use only one of them."
            )
        if gradient_clip_algorithm is None:
            gradient_clip_algorithm = trainer_algo or "norm"
        else:
            gradient_clip_algorithm = str(
                getattr(gradient_clip_algorithm, "value", gradient_clip_algorithm)
            ).lower()
            if trainer_algo is not None and trainer_algo != gradient_clip_algorithm:
                raise MisconfigurationException(
                    f"You have set `Trainer(gradient_clip_algorithm={trainer_algo!r})`"
                    f" and have passed `clip_gradients(gradient_clip_algorithm={gradient_clip_algorithm!r})"
                    " Please use only one of them."
                )
        if isinstance(gradient_clip_val, bool) or not isinstance(gradient_clip_val, (int, float)):
            raise TypeError(f"`gradient_clip_val` should be an int or a float. Got {gradient_clip_val!r}.")
        if gradient_clip_algorithm not in ("norm", "value"):
            raise MisconfigurationException(
                f"`gradient_clip_algorithm` {gradient_clip_algorithm!r} is invalid. Allowed algorithms: ['value', 'norm']."
            )
        if gradient_clip_val <= 0:
            return
        if self._loop is not None:
            self._loop.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(params, gradient_clip_val)

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Called before each optimizer step; the default clips with the Trainer's settings."""
        self.clip_gradients(
            optimizer, gradient_clip_val=gradient_clip_val, gradient_clip_algorithm=gradient_clip_algorithm
        )

    # ------------------------------------------------------------------ steps
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Same as ``nn.Module.forward``."""
        return super().forward(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Compute and return the training loss (a tensor, a dict with ``"loss"``, or ``None`` to skip)."""
        rank_zero_warn("`training_step` must be implemented to be used with the Lightning Trainer")

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Operate on one validation batch (log metrics with ``self.log``)."""

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Operate on one test batch."""

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Return the prediction for one batch (default: ``self(batch)``)."""
        batch = kwargs.get("batch", args[0])
        return self(batch)

    def configure_callbacks(self) -> Sequence[Any] | Any:
        """Callbacks to add to the trainer's (replacing those of the same type)."""
        return []

    def configure_optimizers(self) -> Any:
        """Return the optimizer(s) and scheduler(s) (see the accepted formats in the docs)."""
        rank_zero_warn("`configure_optimizers` must be implemented to be used with the Lightning Trainer")

    # ------------------------------------------------------------------ logging
    def log(
        self,
        name: str,
        value: Any,
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable[..., Any] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        metric_attribute: str | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Log a scalar (tensor, number or torchmetrics ``Metric``) under ``name``.

        ``on_step``/``on_epoch`` default per hook (step-level in training, epoch-level in evaluation); epoch
        values are reduced with ``reduce_fx`` (means weighted by ``batch_size``, inferred from the batch when not
        given).
        """
        loop = self._loop
        if loop is None:
            if self._trainer is None:
                rank_zero_warn(
                    "You are trying to `self.log()` but the `self.trainer` reference is not registered on the model"
                    " yet. This is most likely because the model hasn't been passed to the `Trainer`"
                )
            return
        if loop.config.barebones:
            rank_zero_warn(
                "You are trying to `self.log()` but `Trainer(barebones=True)` is configured."
                " Logging can impact raw speed so it is disabled under this setting."
            )
            return
        results = loop.results
        if results is None:
            raise MisconfigurationException(
                "You are trying to `self.log()` but the loop's result collection is not registered"
                " yet. This is most likely because you are trying to log in a `predict` hook,"
                " but it doesn't support logging"
            )
        fx = self._current_fx_name
        if fx is None:
            raise MisconfigurationException(
                "You are trying to `self.log()` but it is not managed by the `Trainer` control flow"
            )
        on_step, on_epoch = FxValidator.check(fx, on_step, on_epoch)
        if add_dataloader_idx and "/dataloader_idx_" in name:
            raise MisconfigurationException(
                f"You called `self.log` with the key `{name}`"
                " but it should not contain information about `dataloader_idx` when `add_dataloader_idx=True`"
            )
        if type(value) is not Tensor or value.ndim != 0:
            # numbers become tensors on the run's device; tensors stay where they are (no per-call moves)
            value = to_log_value(name, value, loop._device)
        if value.__class__ is not Tensor and not isinstance(value, Tensor):
            metric_attribute = self._find_metric_attribute(name, value, metric_attribute)
        if logger and not loop.has_logger:
            rank_zero_warn(
                f"You called `self.log({name!r}, ..., logger=True)` but have no logger configured. You can enable one"
                " by doing `Trainer(logger=ALogger(...))`"
            )
        if logger is None:
            logger = True
        results.log(
            fx,
            name,
            value,
            prog_bar=prog_bar,
            logger=logger,
            on_step=on_step,
            on_epoch=on_epoch,
            reduce="mean" if reduce_fx == "mean" else parse_reduce_fx(reduce_fx),
            enable_graph=enable_graph,
            add_dataloader_idx=add_dataloader_idx,
            batch_size=batch_size,
            sync_dist=sync_dist and loop.is_distributed,
            sync_fn=loop.strategy_reduce,
            sync_group=sync_dist_group,
            metric_attribute=metric_attribute,
            rank_zero_only=rank_zero_only,
        )

    def _find_metric_attribute(self, name: str, value: Any, metric_attribute: str | None) -> str:
        if metric_attribute is not None:
            return metric_attribute
        if self._metric_attributes is None:
            self._metric_attributes = {
                id(module): n for n, module in self.named_modules() if _is_torchmetric(module)
            }
            if not self._metric_attributes:
                raise MisconfigurationException(
                    "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` logged."
                    " You can fix this by setting an attribute for the metric in your `LightningModule`."
                )
        found = self._metric_attributes.get(id(value))
        if found is None:
            raise MisconfigurationException(
                "Could not find the `LightningModule` attribute for the `torchmetrics.Metric` logged."
                f" You can fix this by calling `self.log({name}, ..., metric_attribute=name)` where `name` is one"
                f" of {list(self._metric_attributes.values())}"
            )
        return found

    def log_dict(
        self,
        dictionary: Mapping[str, Any] | Any,
        prog_bar: bool = False,
        logger: bool | None = None,
        on_step: bool | None = None,
        on_epoch: bool | None = None,
        reduce_fx: str | Callable[..., Any] = "mean",
        enable_graph: bool = False,
        sync_dist: bool = False,
        sync_dist_group: Any | None = None,
        add_dataloader_idx: bool = True,
        batch_size: int | None = None,
        rank_zero_only: bool = False,
    ) -> None:
        """Log every entry of ``dictionary`` (or a torchmetrics ``MetricCollection``) with the same options."""
        is_collection = _is_torchmetric_collection(dictionary)
        if is_collection:
            items = list(dictionary.items(keep_base=False, copy_state=False))
        else:
            items = list(dictionary.items())
        for k, v in items:
            self.log(
                name=k,
                value=v,
                prog_bar=prog_bar,
                logger=logger,
                on_step=on_step,
                on_epoch=on_epoch,
                reduce_fx=reduce_fx,
                enable_graph=enable_graph,
                sync_dist=sync_dist,
                sync_dist_group=sync_dist_group,
                add_dataloader_idx=add_dataloader_idx,
                batch_size=batch_size,
                rank_zero_only=rank_zero_only,
                metric_attribute=None,
            )

    # ------------------------------------------------------------------ utilities
    def all_gather(self, data: Any, group: Any | None = None, sync_grads: bool = False) -> Any:
        """Gather tensors (or collections of tensors) from all processes (stacked on a new first dimension)."""
        strategy = self._trainer.strategy if self._trainer is not None else None
        if strategy is None:
            return data

        def gather(t: Tensor) -> Tensor:
            return strategy.all_gather(t, group=group, sync_grads=sync_grads)

        return _apply_to_tensors(data, gather)

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on the process with global rank 0 only."""
        if self._trainer is None or getattr(self._trainer, "is_global_zero", True):
            builtins.print(*args, **kwargs)

    def freeze(self) -> LightningModule:
        """Turn off gradients for all parameters and switch to eval mode."""
        for param in self.parameters():
            param.requires_grad = False
        self.eval()
        return self

    def unfreeze(self) -> LightningModule:
        """Turn gradients back on for all parameters and switch to train mode."""
        for param in self.parameters():
            param.requires_grad = True
        self.train()
        return self

    @torch.no_grad()
    def to_torchscript(
        self,
        file_path: str | Path | None = None,
        method: str | None = "script",
        example_inputs: Any | None = None,
        **kwargs: Any,
    ) -> Any:
        """Export to TorchScript by scripting (default) or tracing; saved to ``file_path`` when given."""
        mode = self.training
        if method == "script":
            with _no_trainer(self):
                scripted = torch.jit.script(self.eval(), **kwargs)
        elif method == "trace":
            if example_inputs is None:
                if self.example_input_array is None:
                    raise ValueError(
                        "Choosing method=`trace` requires either `example_inputs`"
                        " or `model.example_input_array` to be defined."
                    )
                example_inputs = self.example_input_array
            example_inputs = _apply_to_tensors(example_inputs, lambda t: t.to(self.device))
            with _no_trainer(self):
                scripted = torch.jit.trace(func=self.eval(), example_inputs=example_inputs, **kwargs)
        else:
            raise ValueError(
                f"The 'method' parameter only supports 'script' or 'trace', but value given was: {method!r}"
            )
        self.train(mode)
        if file_path is not None:
            torch.jit.save(scripted, str(file_path))
        return scripted

    @torch.no_grad()
    def to_onnx(
        self, file_path: str | Path | Any = None, input_sample: Any | None = None, **kwargs: Any
    ) -> Any:
        """Export to ONNX (needs the ``onnx`` package); uses ``example_input_array`` when no sample is given."""
        try:
            import onnx  # noqa: F401  # pants: no-infer-dep
        except ImportError as err:
            raise ModuleNotFoundError(
                f"`{type(self).__name__}.to_onnx()` requires `onnx` to be installed."
            ) from err
        mode = self.training
        if input_sample is None:
            if self.example_input_array is None:
                raise ValueError(
                    "Could not export to ONNX since neither `input_sample` nor"
                    " `model.example_input_array` attribute is set."
                )
            input_sample = self.example_input_array
        input_sample = _apply_to_tensors(input_sample, lambda t: t.to(self.device))
        result = torch.onnx.export(self, input_sample, file_path, **kwargs)
        self.train(mode)
        return result

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_trainer"] = None
        state["_loop"] = None
        return state

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        trainer, loop = self._trainer, self._loop
        self._trainer = self._loop = None
        try:
            cls = type(self)
            new = cls.__new__(cls)
            memo[id(self)] = new
            for k, v in self.__dict__.items():
                new.__dict__[k] = copy.deepcopy(v, memo)
            return new
        finally:
            self._trainer, self._loop = trainer, loop


@contextmanager
def _no_trainer(module: LightningModule) -> Generator[None, None, None]:
    trainer, loop = module._trainer, module._loop
    module._trainer = module._loop = None
    module._jit_is_scripting = True
    try:
        yield
    finally:
        module._trainer, module._loop = trainer, loop
        module._jit_is_scripting = False


def _apply_to_tensors(data: Any, fn: Callable[[Tensor], Any]) -> Any:
    if isinstance(data, Tensor):
        return fn(data)
    if isinstance(data, dict):
        return type(data)((k, _apply_to_tensors(v, fn)) for k, v in data.items())
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(_apply_to_tensors(v, fn) for v in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_apply_to_tensors(v, fn) for v in data)
    return data


def _is_torchmetric(obj: Any) -> bool:
    return any(c.__name__ == "Metric" and c.__module__.startswith("torchmetrics") for c in type(obj).__mro__)


def _is_torchmetric_collection(obj: Any) -> bool:
    return any(
        c.__name__ == "MetricCollection" and c.__module__.startswith("torchmetrics")
        for c in type(obj).__mro__
    )
