"""DeepSpeed ZeRO strategies (placeholder that checks for the ``deepspeed`` package)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import override

from lit_hooks import MissingExtraError, RequirementCache
from lit_strategies._ddp import DDPStrategy

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_strategies._strategy import Strategy

__all__ = ["DeepSpeedStrategy"]

_DEEPSPEED_AVAILABLE = RequirementCache("deepspeed")


class DeepSpeedStrategy(DDPStrategy):
    """DeepSpeed ZeRO training (registry names ``deepspeed`` and ``deepspeed_stage_*``).

    This class reserves the Lightning API (names, registry entries, the ``lit-strategies[deepspeed]`` extra); the
    DeepSpeed engine integration itself is not implemented yet, so construction fails in every case: with
    :class:`lit_hooks.MissingExtraError` when ``deepspeed`` is not installed, with ``NotImplementedError``
    otherwise.

    Args:
        zero_optimization: Enable ZeRO.
        stage: The ZeRO stage (0-3).
        offload_optimizer: Offload optimizer states to ``offload_optimizer_device``.
        offload_parameters: Offload parameters to ``offload_params_device`` (stage 3).
        offload_params_device: ``"cpu"`` or ``"nvme"``.
        offload_optimizer_device: ``"cpu"`` or ``"nvme"``.
        nvme_path: Where NVMe offloading writes.
        config: A DeepSpeed config dict or the path of a JSON config; overrides the other arguments.
        **kwargs: The remaining Lightning ``DeepSpeedStrategy`` arguments.

    Raises:
        MissingExtraError: If ``deepspeed`` is not installed (``pip install 'lit-strategies[deepspeed]'``).
        NotImplementedError: If it is installed: the integration is not available in this version.
    """

    def __init__(
        self,
        zero_optimization: bool = True,
        stage: int = 2,
        offload_optimizer: bool = False,
        offload_parameters: bool = False,
        offload_params_device: str = "cpu",
        offload_optimizer_device: str = "cpu",
        nvme_path: str = "/local_nvme",
        config: Any | None = None,
        **kwargs: Any,
    ) -> None:
        if not _DEEPSPEED_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "deepspeed", "deepspeed", "lit-strategies")
        raise NotImplementedError(
            f"`{type(self).__name__}` is not implemented in this version of lit-strategies. Use `DDPStrategy` or"
            " `FSDPStrategy`, or run DeepSpeed directly in your own loop."
        )

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        strategy_registry.register("deepspeed", cls, description="Default DeepSpeed Strategy")
        strategy_registry.register(
            "deepspeed_stage_1", cls, description="DeepSpeed with ZeRO Stage 1 enabled", stage=1
        )
        strategy_registry.register(
            "deepspeed_stage_2", cls, description="DeepSpeed with ZeRO Stage 2 enabled", stage=2
        )
        strategy_registry.register(
            "deepspeed_stage_2_offload",
            cls,
            description="DeepSpeed ZeRO Stage 2 and CPU Offload",
            stage=2,
            offload_optimizer=True,
        )
        strategy_registry.register("deepspeed_stage_3", cls, description="DeepSpeed ZeRO Stage 3", stage=3)
        strategy_registry.register(
            "deepspeed_stage_3_offload",
            cls,
            description="DeepSpeed ZeRO Stage 3 and CPU Offload",
            stage=3,
            offload_optimizer=True,
            offload_parameters=True,
        )
        strategy_registry.register(
            "deepspeed_stage_3_offload_nvme",
            cls,
            description="DeepSpeed ZeRO Stage 3 and NVMe Offload",
            stage=3,
            offload_optimizer=True,
            offload_parameters=True,
            remote_device="nvme",
            offload_params_device="nvme",
            offload_optimizer_device="nvme",
        )
