"""The full-precision (``"32-true"``) plugin, the base class of every precision plugin."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer

from lit_hooks import GradClipAlgorithmType

if TYPE_CHECKING:
    from lit_hooks import Registry

__all__ = [
    "_PRECISION_INPUT",
    "_PRECISION_INPUT_INT",
    "_PRECISION_INPUT_STR",
    "_PRECISION_INPUT_STR_ALIAS",
    "_PRECISION_INPUT_STR_ALIAS_CONVERSION",
    "Precision",
    "clip_gradients_",
]

_PRECISION_INPUT_INT = Literal[64, 32, 16]
_PRECISION_INPUT_STR_ALIAS = Literal["64", "32", "16", "bf16"]
_PRECISION_INPUT_STR = Literal[
    "transformer-engine",
    "transformer-engine-float16",
    "16-true",
    "16-mixed",
    "bf16-true",
    "bf16-mixed",
    "32-true",
    "64-true",
]
_PRECISION_INPUT = _PRECISION_INPUT_INT | _PRECISION_INPUT_STR | _PRECISION_INPUT_STR_ALIAS
_PRECISION_INPUT_STR_ALIAS_CONVERSION: dict[str, str] = {
    "64": "64-true",
    "32": "32-true",
    "16": "16-mixed",
    "bf16": "bf16-mixed",
}


def _normalize_clip_algorithm(gradient_clip_algorithm: Any) -> GradClipAlgorithmType:
    if isinstance(gradient_clip_algorithm, GradClipAlgorithmType):
        return gradient_clip_algorithm
    if isinstance(gradient_clip_algorithm, str) and GradClipAlgorithmType.supported_type(
        gradient_clip_algorithm.lower()
    ):
        return GradClipAlgorithmType(gradient_clip_algorithm.lower())
    choices = ", ".join(repr(t.value) for t in GradClipAlgorithmType)
    raise ValueError(
        f"`gradient_clip_algorithm={gradient_clip_algorithm!r}` is not a gradient clipping algorithm."
        f" Expected one of {choices}: 'norm' rescales all gradients so that their global 2-norm is at most"
        " `clip_val`, 'value' clamps every gradient element to [-clip_val, clip_val]."
    )


def clip_gradients_(
    parameters: Iterable[Tensor] | Tensor,
    clip_val: float,
    gradient_clip_algorithm: str | GradClipAlgorithmType = GradClipAlgorithmType.NORM,
) -> None:
    """Clip the gradients of ``parameters`` in place, by global ``"norm"`` or element-wise by ``"value"``.

    The functional twin of :meth:`Precision.clip_gradients` for hand-written loops. ``clip_val <= 0`` disables
    clipping (nothing is computed).

    Args:
        parameters: The parameters whose ``.grad`` is clipped (parameters without gradients are skipped).
        clip_val: The maximum global 2-norm (``"norm"``) or the maximum absolute value (``"value"``).
        gradient_clip_algorithm: ``"norm"`` (default) or ``"value"``.

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(2))
        >>> p.grad = torch.tensor([3.0, 4.0])
        >>> clip_gradients_([p], 1.0, "norm")
        >>> [round(v, 4) for v in p.grad.tolist()]
        [0.6, 0.8]
    """
    algorithm = _normalize_clip_algorithm(gradient_clip_algorithm)
    if clip_val <= 0:
        return
    if algorithm == GradClipAlgorithmType.VALUE:
        torch.nn.utils.clip_grad_value_(parameters, clip_value=clip_val)
    else:
        torch.nn.utils.clip_grad_norm_(parameters, max_norm=clip_val)


class Precision:
    """Full single precision (``"32-true"``) and the base class of all precision plugins.

    A precision plugin owns the numerical side of a run: converting the module and the inputs to a dtype, the
    contexts around the forward pass (autocast), loss scaling in backward, unscaling and clipping gradients, and
    the optimizer step. Every hook of this base class is a no-op or the plain PyTorch call, so subclasses override
    only what they change. It implements :class:`lit_hooks.PrecisionProtocol`.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> precision = Precision()
        >>> with precision.forward_context():
        ...     loss = model(torch.ones(1, 2)).sum()
        >>> precision.backward(loss, model, optimizer)
        >>> precision.clip_gradients(model, optimizer, clip_val=0.5, gradient_clip_algorithm="value")
        >>> max(p.grad.abs().max().item() for p in model.parameters()) <= 0.5
        True
    """

    precision: str = "32-true"

    # ---------------------------------------------------------------- registration
    @classmethod
    def register_precisions(cls, registry: Registry[Precision]) -> None:
        """Register this class's precision strings in ``registry`` (subclasses override it)."""

    # ---------------------------------------------------------------- conversion and contexts
    def connect(
        self, model: Module, optimizers: list[Optimizer], lr_schedulers: list[Any]
    ) -> tuple[Module, list[Optimizer], list[Any]]:
        """Let the plugin wrap the model, optimizers or schedulers once they are set up; returns them unchanged."""
        return model, optimizers, lr_schedulers

    def convert_module(self, module: Module) -> Module:
        """Convert the module's parameters and buffers to this precision's dtype (no-op for ``"32-true"``)."""
        return module

    def tensor_init_context(self) -> AbstractContextManager[Any]:
        """Context in which new tensors get this precision's default dtype (no-op here)."""
        return nullcontext()

    def module_init_context(self) -> AbstractContextManager[Any]:
        """Context in which modules are instantiated directly in this precision's dtype (no-op here)."""
        return nullcontext()

    def forward_context(self) -> AbstractContextManager[Any]:
        """Context around every forward pass and ``*_step`` call (e.g. ``torch.autocast``); no-op here."""
        return nullcontext()

    def train_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``training_step``: :meth:`forward_context` unless overridden."""
        return self.forward_context()

    def val_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``validation_step``: :meth:`forward_context` unless overridden."""
        return self.forward_context()

    def test_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``test_step``: :meth:`forward_context` unless overridden."""
        return self.forward_context()

    def predict_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``predict_step``: :meth:`forward_context` unless overridden."""
        return self.forward_context()

    def convert_input(self, data: Any) -> Any:
        """Cast the floating-point tensors of a batch to the input dtype; inputs stay as they are here."""
        return data

    def convert_output(self, data: Any) -> Any:
        """Cast the floating-point tensors of step outputs back to the default dtype; no-op here."""
        return data

    # ---------------------------------------------------------------- backward
    def pre_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        """Prepare the loss before backward (mixed precision scales it here); returns the tensor to differentiate."""
        return tensor

    def backward(
        self, tensor: Tensor, model: Module | None, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> None:
        """Differentiate ``tensor``.

        Calls ``model.backward(tensor, *args, **kwargs)`` when the module defines a ``backward`` hook (as a
        ``LightningModule`` does), otherwise ``tensor.backward(*args, **kwargs)``.

        Args:
            tensor: The loss, as returned by :meth:`pre_backward`.
            model: The module that produced the loss, or ``None``.
            optimizer: The optimizer being stepped (``None`` in manual optimization); unused here.
            *args: Forwarded to the backward call (e.g. a ``gradient`` tensor).
            **kwargs: Forwarded to the backward call (e.g. ``retain_graph=True``).
        """
        backward_hook = getattr(model, "backward", None) if model is not None else None
        if callable(backward_hook):
            backward_hook(tensor, *args, **kwargs)
        else:
            tensor.backward(*args, **kwargs)

    def post_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        """Release the graph after backward: returns ``tensor.detach()`` (the value loops report as the loss)."""
        return tensor.detach()

    # ---------------------------------------------------------------- optimizer step
    def optimizer_step(
        self, optimizer: Optimizer, model: Module | None, closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        """Step the optimizer: ``optimizer.step(closure=closure, **kwargs)``.

        The closure runs the forward pass and backward; optimizers such as LBFGS call it several times.

        Args:
            optimizer: The optimizer to step.
            model: The module being optimized (unused here, used by subclasses).
            closure: Computes the loss and its gradients; its result is what ``optimizer.step`` receives.
            **kwargs: Forwarded to ``optimizer.step``.

        Returns:
            What ``optimizer.step`` returned (usually the closure's result).
        """
        return optimizer.step(closure=closure, **kwargs)

    def main_params(self, optimizer: Optimizer) -> Iterator[Tensor]:
        """The parameters the optimizer updates, the ones whose gradients are clipped."""
        for group in optimizer.param_groups:
            yield from group["params"]

    def unscale_gradients(self, optimizer: Optimizer) -> None:
        """Divide the gradients by the loss scale in place; nothing to do without a grad scaler."""

    def clip_gradients(
        self,
        module: Module | None,
        optimizer: Optimizer,
        clip_val: float = 0.0,
        gradient_clip_algorithm: str | GradClipAlgorithmType = GradClipAlgorithmType.NORM,
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters in place.

        Args:
            module: The module being optimized (unused here; part of the protocol for sharded strategies).
            optimizer: Its parameters' gradients are clipped.
            clip_val: The maximum global 2-norm or absolute value; ``<= 0`` disables clipping.
            gradient_clip_algorithm: ``"norm"`` (default) or ``"value"``.

        Raises:
            ValueError: If ``gradient_clip_algorithm`` is not ``"norm"`` or ``"value"``.
        """
        algorithm = _normalize_clip_algorithm(gradient_clip_algorithm)
        if clip_val <= 0:
            return
        if algorithm == GradClipAlgorithmType.VALUE:
            self.clip_grad_by_value(optimizer, clip_val)
        else:
            self.clip_grad_by_norm(optimizer, clip_val)

    def clip_grad_by_value(self, optimizer: Optimizer, clip_val: float) -> None:
        """Clamp every gradient element of the optimizer's parameters to ``[-clip_val, clip_val]``."""
        torch.nn.utils.clip_grad_value_(list(self.main_params(optimizer)), clip_value=clip_val)

    def clip_grad_by_norm(self, optimizer: Optimizer, clip_val: float) -> None:
        """Rescale the optimizer's gradients so that their global 2-norm is at most ``clip_val``."""
        torch.nn.utils.clip_grad_norm_(list(self.main_params(optimizer)), max_norm=clip_val)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The plugin's state to checkpoint; ``{}`` for stateless plugins (nothing is written then)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`; nothing to restore here."""

    def teardown(self) -> None:
        """Release resources and undo global changes made by the plugin; nothing to undo here."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision={self.precision!r})"
