"""Automatic mixed precision (``"16-mixed"`` / ``"bf16-mixed"``) with ``torch.autocast`` and a grad scaler."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import LBFGS, Optimizer
from typing_extensions import override

from lit_hooks import GradClipAlgorithmType, MisconfigurationException
from lit_precision._precision import Precision

if TYPE_CHECKING:
    from lit_hooks import Registry

__all__ = ["MixedPrecision"]

_MIXED_CHOICES = ("16-mixed", "bf16-mixed")


def _optimizer_handles_unscaling(optimizer: Any) -> bool:
    """Whether ``optimizer.step`` unscales the gradients itself (fused optimizers), so the scaler must not."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


class MixedPrecision(Precision):
    """Automatic mixed precision: the forward pass runs under ``torch.autocast``, parameters stay in float32.

    With ``"16-mixed"`` a ``torch.amp.GradScaler`` multiplies the loss before backward (:meth:`pre_backward`),
    unscales the gradients after the closure ran (so clipping and ``on_before_optimizer_step`` see true
    gradients), skips the optimizer step when a gradient is ``inf``/``nan`` and adapts the scale. ``"bf16-mixed"``
    has the float32 exponent range and needs no scaler.

    Args:
        precision: ``"16-mixed"`` (float16 autocast with loss scaling) or ``"bf16-mixed"`` (bfloat16 autocast).
        device: The device type for ``torch.autocast`` and the grad scaler: ``"cuda"``, ``"cpu"``, ``"mps"``...
            ``None`` picks ``"cuda"`` when CUDA is available and ``"cpu"`` otherwise.
        scaler: A ``torch.amp.GradScaler`` to use for ``"16-mixed"``; one is created when ``None``. Passing a
            scaler with ``"bf16-mixed"`` is an error.

    Raises:
        ValueError: If ``precision`` is not one of the two choices.
        MisconfigurationException: If a scaler is passed with ``"bf16-mixed"``.

    Example:
        >>> precision = MixedPrecision("bf16-mixed", device="cpu")
        >>> model = torch.nn.Linear(4, 4)
        >>> with precision.forward_context():
        ...     model(torch.ones(2, 4)).dtype
        torch.bfloat16
    """

    def __init__(
        self,
        precision: str,
        device: str | None = None,
        scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        if precision not in _MIXED_CHOICES:
            raise ValueError(
                f"Passed `{type(self).__name__}(precision={precision!r})`. Precision must be '16-mixed'"
                " (float16 autocast with loss scaling) or 'bf16-mixed' (bfloat16 autocast)."
            )
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if not isinstance(device, str):
            device = torch.device(device).type
        self.precision = precision
        if scaler is None and precision == "16-mixed":
            scaler = torch.amp.GradScaler(device=device)
        if scaler is not None and precision == "bf16-mixed":
            raise MisconfigurationException(
                f"`precision='bf16-mixed'` does not use a grad scaler, but got `scaler={scaler!r}`. Remove the"
                " `scaler` argument, or use `precision='16-mixed'` to train with loss scaling."
            )
        self.device = device
        self.scaler = scaler
        self._autocast_dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
        # ids of optimizers whose gradients were unscaled since the last ``scaler.update()``
        self._unscaled: set[int] = set()

    @classmethod
    @override
    def register_precisions(cls, registry: Registry[Precision]) -> None:
        registry.register(
            "16-mixed", cls, description="float16 autocast with a grad scaler", precision="16-mixed"
        )
        registry.register("bf16-mixed", cls, description="bfloat16 autocast", precision="bf16-mixed")

    # ---------------------------------------------------------------- contexts
    def autocast_context_manager(self) -> torch.autocast:
        """A fresh ``torch.autocast`` for this plugin's device and dtype (weight cache disabled)."""
        return torch.autocast(self.device, dtype=self._autocast_dtype, cache_enabled=False)

    @override
    def forward_context(self) -> AbstractContextManager[Any]:
        return self.autocast_context_manager()

    # ---------------------------------------------------------------- backward and step
    @override
    def pre_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        if self.scaler is not None:
            return self.scaler.scale(tensor)
        return tensor

    @override
    def optimizer_step(
        self, optimizer: Optimizer, model: Module | None, closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        """Run the closure, unscale the gradients, then step through the grad scaler.

        Without a scaler (``"bf16-mixed"``) this is ``optimizer.step(closure=closure)``. With one, the closure runs
        first; the step is skipped (and ``None`` returned) when the gradients hold ``inf``/``nan``, and the scale
        is updated. When the closure returns ``None`` in automatic optimization (the step was skipped by the
        user; only for modules with ``automatic_optimization = True``), neither unscaling nor stepping happens and
        ``None`` is returned.

        Raises:
            MisconfigurationException: If ``optimizer`` is ``LBFGS``, which cannot work with loss scaling.
        """
        if self.scaler is None:
            return super().optimizer_step(optimizer, model, closure, **kwargs)
        if isinstance(optimizer, LBFGS):
            raise MisconfigurationException(
                "AMP with loss scaling (`precision='16-mixed'`) and the LBFGS optimizer are not compatible:"
                " LBFGS evaluates the closure several times per step. Use `precision='bf16-mixed'` or"
                " `'32-true'` with LBFGS."
            )
        closure_result = closure()
        # a LightningModule-style module in automatic optimization returns None from the closure when its
        # ``training_step`` skipped the batch: there are no gradients to unscale or step with
        skip_step = closure_result is None and bool(getattr(model, "automatic_optimization", False))
        if skip_step:
            return closure_result
        if not _optimizer_handles_unscaling(optimizer):
            self.unscale_gradients(optimizer)
        # the scaler skips ``optimizer.step`` (returning None) if it found inf/nan gradients
        step_output = self.scaler.step(optimizer, **kwargs)
        self.scaler.update()
        self._unscaled.clear()
        return step_output

    @override
    def unscale_gradients(self, optimizer: Optimizer) -> None:
        """Divide the gradients by the current scale, once per optimizer and step (later calls do nothing)."""
        if self.scaler is None or id(optimizer) in self._unscaled:
            return
        if _optimizer_handles_unscaling(optimizer):
            raise NotImplementedError(
                f"Gradient unscaling is not supported for `{type(optimizer).__qualname__}`, which unscales"
                " gradients inside its `step` (a 'fused' optimizer). Gradient clipping needs unscaled gradients:"
                " use a non-fused optimizer or disable clipping."
            )
        self.scaler.unscale_(optimizer)
        self._unscaled.add(id(optimizer))

    @override
    def clip_gradients(
        self,
        module: Module | None,
        optimizer: Optimizer,
        clip_val: float = 0.0,
        gradient_clip_algorithm: str | GradClipAlgorithmType = GradClipAlgorithmType.NORM,
    ) -> None:
        """Clip the true (unscaled) gradients; unscales them first if that has not happened yet this step.

        Raises:
            RuntimeError: If clipping is requested for a fused optimizer that unscales inside ``step``.
        """
        if clip_val > 0 and _optimizer_handles_unscaling(optimizer):
            raise RuntimeError(
                f"The current optimizer, {type(optimizer).__qualname__}, does not allow for gradient clipping"
                " because it performs unscaling of gradients internally. HINT: Are you using a 'fused' optimizer?"
            )
        if clip_val > 0:
            self.unscale_gradients(optimizer)
        super().clip_gradients(module, optimizer, clip_val, gradient_clip_algorithm)

    # ---------------------------------------------------------------- state
    @override
    def state_dict(self) -> dict[str, Any]:
        """The grad scaler's state (``scale``, growth tracker, ...); ``{}`` without a scaler."""
        if self.scaler is not None:
            return self.scaler.state_dict()
        return {}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.scaler is not None and state_dict:
            self.scaler.load_state_dict(state_dict)

    @override
    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision!r}, device={self.device!r})"
