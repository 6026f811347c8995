"""XLA (TPU) strategies (placeholders that check for the ``torch_xla`` package)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from lit_hooks import MissingExtraError, RequirementCache
from lit_strategies._ddp import DDPStrategy
from lit_strategies._single_device import SingleDeviceStrategy

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_strategies._strategy import Strategy

__all__ = ["SingleDeviceXLAStrategy", "XLAStrategy"]

_XLA_AVAILABLE = RequirementCache("torch_xla")


def _not_implemented(cls: type) -> NotImplementedError:
    return NotImplementedError(
        f"`{cls.__name__}` is not implemented in this version of lit-strategies. Train on TPUs with torch_xla"
        " directly, or use a CPU/CUDA strategy."
    )


class XLAStrategy(DDPStrategy):
    """Multi-device training on TPUs with ``torch_xla`` (registry names ``xla`` and ``xla_debug``).

    Reserves the Lightning API and the ``lit-strategies[xla]`` extra; the XLA integration is not implemented in
    this version, so construction always fails.

    Args:
        sync_module_states: Broadcast the module's parameters from rank 0 at set-up.
        debug: Print XLA debugging information (``xla_debug``).
        **kwargs: The remaining Lightning ``XLAStrategy`` arguments.

    Raises:
        MissingExtraError: If ``torch_xla`` is not installed (``pip install 'lit-strategies[xla]'``).
        NotImplementedError: If it is installed.
    """

    def __init__(self, sync_module_states: bool = True, debug: bool = False, **kwargs: Any) -> None:
        if not _XLA_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "torch_xla", "xla", "lit-strategies")
        raise _not_implemented(type(self))

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        strategy_registry.register(
            "xla_debug", cls, description="XLA strategy with `debug` as True", debug=True
        )
        strategy_registry.register("xla", cls, description=cls.__name__)


class SingleDeviceXLAStrategy(SingleDeviceStrategy):
    """Training on one TPU core with ``torch_xla`` (registry name ``single_xla``).

    Reserves the Lightning API and the ``lit-strategies[xla]`` extra; the XLA integration is not implemented in
    this version, so construction always fails.

    Args:
        device: The XLA device index or ``torch.device``.
        debug: Print XLA debugging information.
        **kwargs: The remaining Lightning ``SingleDeviceXLAStrategy`` arguments.

    Raises:
        MissingExtraError: If ``torch_xla`` is not installed (``pip install 'lit-strategies[xla]'``).
        NotImplementedError: If it is installed.
    """

    def __init__(self, device: Any = None, debug: bool = False, **kwargs: Any) -> None:
        if not _XLA_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "torch_xla", "xla", "lit-strategies")
        raise _not_implemented(type(self))

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        strategy_registry.register("single_xla", cls, description=cls.__name__)
