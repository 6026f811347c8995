"""Turns the Trainer's ``accelerator``/``strategy``/``devices``/``precision``/``plugins`` flags into objects."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from lit_hooks import MisconfigurationException, rank_zero_warn
from lit_loops import LocalStrategy

__all__ = ["AcceleratorConnector"]

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
_SINGLE = ("auto", "single_device")


def _strategy_registry() -> Any:
    try:
        import lit_strategies
    except ImportError:  # pragma: no cover - lit depends on lit-strategies
        return None
    return getattr(lit_strategies, "STRATEGY_REGISTRY", None) or getattr(
        lit_strategies, "StrategyRegistry", None
    )


def _names(registry: Any) -> list[str]:
    if registry is None:
        return []
    for attr in ("available_strategies", "available_keys", "keys", "names"):
        fn = getattr(registry, attr, None)
        if callable(fn):
            try:
                return sorted(str(k) for k in fn())
            except TypeError:
                continue
    try:
        return sorted(str(k) for k in registry)
    except TypeError:
        return []


class AcceleratorConnector:
    """Resolves hardware, strategy and precision settings.

    Args:
        accelerator: ``"auto"``, ``"cpu"``, ``"gpu"``/``"cuda"``, ``"mps"``, ``"tpu"`` or an accelerator object.
        strategy: ``"auto"``, a registered strategy name, or a strategy object.
        devices: ``"auto"``, a count, a list of indices, or a string (``"0,1"``, ``"-1"``).
        num_nodes: number of nodes.
        precision: a precision flag (``"32-true"``, ``"bf16-mixed"``, 16, ...).
        plugins: precision/checkpoint-io/environment plugin objects.
        sync_batchnorm: convert batch norms to synchronized ones (multi-device).
        deterministic: ``torch.use_deterministic_algorithms`` (``"warn"``: warn only).
        benchmark: ``torch.backends.cudnn.benchmark``.
        use_distributed_sampler: insert distributed samplers (multi-device strategies).
    """

    def __init__(
        self,
        *,
        accelerator: Any = "auto",
        strategy: Any = "auto",
        devices: Any = "auto",
        num_nodes: int = 1,
        precision: Any = None,
        plugins: Any = None,
        sync_batchnorm: bool = False,
        deterministic: bool | str | None = None,
        benchmark: bool | None = None,
        use_distributed_sampler: bool = True,
    ) -> None:
        self.num_nodes = num_nodes
        self.deterministic = deterministic
        self.benchmark = benchmark
        self.sync_batchnorm = sync_batchnorm
        self.use_distributed_sampler = use_distributed_sampler
        plugins = (
            [] if plugins is None else (list(plugins) if isinstance(plugins, (list, tuple)) else [plugins])
        )
        precision_plugins = [p for p in plugins if callable(getattr(p, "convert_module", None))]
        if len(precision_plugins) > 1:
            raise MisconfigurationException(
                f"Received multiple precision plugins {precision_plugins!r}; pass only one precision plugin."
            )
        if precision_plugins and precision is not None:
            raise ValueError(
                f"Received both `precision={precision!r}` and `plugins={precision_plugins[0]!r}`. Choose one."
            )
        self.plugins = plugins
        # accelerator
        if isinstance(accelerator, str):
            acc = accelerator.lower()
            if acc not in _ACCELERATORS:
                raise MisconfigurationException(
                    f"You selected an invalid accelerator name: `accelerator={accelerator!r}`."
                    f" Available names are: {', '.join(_ACCELERATORS)}."
                )
            self.accelerator_flag = acc
            self.accelerator = None
            self.device_type = self._resolve_device_type(acc)
        else:
            self.accelerator_flag = type(accelerator).__name__
            self.accelerator = accelerator
            name = type(accelerator).__name__.lower()
            self.device_type = "cuda" if "cuda" in name else "mps" if "mps" in name else "cpu"
        # devices
        self.device_ids = self._parse_devices(devices)
        if self.accelerator is None:
            self.accelerator = self._make_accelerator(self.device_type)
        # precision
        from lit_precision import normalize_precision, precision_from_str

        if precision_plugins:
            self.precision_plugin = precision_plugins[0]
            self.precision = str(getattr(self.precision_plugin, "precision", "32-true"))
        else:
            self.precision = normalize_precision("32-true" if precision is None else precision)
            self.precision_plugin = precision_from_str(self.precision, self.device_type)
            self.precision = str(getattr(self.precision_plugin, "precision", self.precision))
        # strategy
        self.strategy = self._resolve_strategy(strategy)
        self._apply_plugins(self.strategy, [p for p in plugins if p not in precision_plugins], sync_batchnorm)

    @staticmethod
    def _resolve_device_type(flag: str) -> str:
        if flag in ("gpu", "cuda"):
            if not torch.cuda.is_available():
                raise MisconfigurationException(
                    f"`Trainer(accelerator={flag!r})` was requested, but no CUDA GPU is available."
                    " Use `accelerator='cpu'` or `'auto'`."
                )
            return "cuda"
        if flag == "mps":
            if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                raise MisconfigurationException(
                    "`Trainer(accelerator='mps')` was requested, but MPS is not available. Use 'cpu' or 'auto'."
                )
            return "mps"
        if flag == "tpu":
            raise MisconfigurationException(
                "`Trainer(accelerator='tpu')` needs torch_xla, which is not installed. Use 'cpu' or 'auto'."
            )
        if flag == "auto":
            if torch.cuda.is_available():
                return "cuda"
            return "cpu"
        return "cpu"

    def _parse_devices(self, devices: Any) -> list[int]:
        if devices == "auto" or devices is None:
            return [0]
        if isinstance(devices, str):
            text = devices.strip()
            if text == "-1":
                count = torch.cuda.device_count() if self.device_type == "cuda" else (os.cpu_count() or 1)
                return list(range(count))
            try:
                if "," in text:
                    return [int(x) for x in text.split(",") if x.strip()]
                devices = int(text)
            except ValueError as err:
                raise MisconfigurationException(
                    f"`Trainer(devices={devices!r})` is invalid: use 'auto', an int, a list of ints, or a string such"
                    " as '2', '0,1' or '-1'."
                ) from err
        if isinstance(devices, bool):
            raise MisconfigurationException(
                f"`Trainer(devices={devices!r})` is invalid: use 'auto', an int or a list."
            )
        if isinstance(devices, int):
            if devices == -1:
                count = torch.cuda.device_count() if self.device_type == "cuda" else (os.cpu_count() or 1)
                return list(range(count))
            if devices < 1:
                raise MisconfigurationException(
                    f"`Trainer(devices={devices!r})` is invalid: the number of devices must be >= 1 (or -1 for all)."
                )
            return list(range(devices))
        if isinstance(devices, (list, tuple)) and all(isinstance(d, int) for d in devices) and devices:
            return list(devices)
        raise MisconfigurationException(
            f"`Trainer(devices={devices!r})` is invalid: use 'auto', an int, a list of ints, or a string."
        )

    @staticmethod
    def _make_accelerator(device_type: str) -> Any:
        try:
            from lit_strategies import ACCELERATOR_REGISTRY
        except ImportError:  # pragma: no cover - lit depends on lit-strategies
            return None
        name = "cuda" if device_type == "cuda" else device_type
        return ACCELERATOR_REGISTRY.get(name, None)

    @property
    def parallel_devices(self) -> list[torch.device]:
        """One device per index in :attr:`device_ids`."""
        if self.device_type == "cpu":
            return [torch.device("cpu")] * len(self.device_ids)
        return [torch.device(self.device_type, i) for i in self.device_ids]

    @property
    def root_device(self) -> torch.device:
        """The device of this process."""
        if self.device_type == "cpu":
            return torch.device("cpu")
        return torch.device(self.device_type, self.device_ids[0])

    def _resolve_strategy(self, strategy: Any) -> Any:
        registry = _strategy_registry()
        multi = len(self.device_ids) > 1 or self.num_nodes > 1
        if not isinstance(strategy, str):
            if not callable(getattr(strategy, "optimizer_step", None)) or not callable(
                getattr(strategy, "backward", None)
            ):
                raise MisconfigurationException(
                    f"`Trainer(strategy={strategy!r})` is not a strategy object (it lacks `backward`/`optimizer_step`)."
                )
            if getattr(strategy, "precision_plugin", None) is None:
                try:
                    strategy.precision_plugin = self.precision_plugin
                except AttributeError:
                    pass
            return strategy
        name = strategy.lower()
        choices = ["auto", "single_device", *[n for n in _names(registry) if n not in _SINGLE]]
        if name in _SINGLE and not multi:
            return self._local_or_single()
        if registry is not None and name in _names(registry):
            return self._from_registry(registry, name)
        if name == "auto" and multi:
            if registry is not None and "ddp" in _names(registry):
                return self._from_registry(registry, "ddp")
            raise MisconfigurationException(
                f"`Trainer(devices={self.device_ids!r})` needs a multi-process strategy (ddp), which lit-strategies"
                " does not provide in this installation. Use `devices=1`."
            )
        raise MisconfigurationException(
            f"You selected an invalid strategy name: `strategy={strategy!r}`."
            f" Available names are: {', '.join(dict.fromkeys(choices))}."
        )

    def _local_or_single(self) -> Any:
        try:
            from lit_strategies import SingleDeviceStrategy  # type: ignore[attr-defined]
        except ImportError:
            return LocalStrategy(self.root_device, precision=self.precision_plugin)
        try:
            return SingleDeviceStrategy(
                device=self.root_device, accelerator=self.accelerator, precision_plugin=self.precision_plugin
            )
        except TypeError:
            return LocalStrategy(self.root_device, precision=self.precision_plugin)

    def _from_registry(self, registry: Any, name: str) -> Any:
        get = getattr(registry, "get", None)
        try:
            strategy = get(name) if callable(get) else registry[name]
        except Exception as err:
            raise MisconfigurationException(f"Could not create `strategy={name!r}`: {err}") from err
        self._configure(strategy)
        return strategy

    def _configure(self, strategy: Any) -> None:
        """Give a registry-built strategy the run's accelerator, devices, environment and precision."""
        for attr, value in (
            ("accelerator", self.accelerator),
            ("precision_plugin", self.precision_plugin),
            ("parallel_devices", self.parallel_devices),
        ):
            if hasattr(strategy, attr) and getattr(strategy, attr, None) is None:
                with contextlib.suppress(AttributeError):
                    setattr(strategy, attr, value)
        if (
            hasattr(strategy, "cluster_environment")
            and getattr(strategy, "cluster_environment", None) is None
        ):
            with contextlib.suppress(ImportError, AttributeError):
                from lit_strategies import LightningEnvironment

                strategy.cluster_environment = LightningEnvironment()
        if hasattr(strategy, "num_nodes"):
            with contextlib.suppress(AttributeError):
                strategy.num_nodes = self.num_nodes
        configure = getattr(strategy, "_configure_launcher", None)
        if callable(configure):
            configure()

    @staticmethod
    def _apply_plugins(strategy: Any, plugins: list[Any], sync_batchnorm: bool) -> None:
        """Hand checkpoint-IO, cluster-environment and layer-sync plugins to the strategy."""
        for plugin in plugins:
            if callable(getattr(plugin, "save_checkpoint", None)) and callable(
                getattr(plugin, "load_checkpoint", None)
            ):
                target = "checkpoint_io"
            elif hasattr(plugin, "creates_processes_externally") or hasattr(plugin, "main_address"):
                target = "cluster_environment"
            elif callable(getattr(plugin, "apply", None)) and callable(getattr(plugin, "revert", None)):
                target = "_layer_sync"
            else:
                raise MisconfigurationException(
                    f"Found invalid type for plugin {plugin!r}. Expected a precision plugin, a `CheckpointIO`,"
                    " a `ClusterEnvironment` or a `LayerSync` object."
                )
            if not hasattr(strategy, target):
                raise MisconfigurationException(
                    f"`Trainer(plugins=[{type(plugin).__name__}(...)])` cannot be used with"
                    f" `{type(strategy).__name__}`, which has no `{target.lstrip('_')}`."
                )
            setattr(strategy, target, plugin)
        if (
            sync_batchnorm
            and hasattr(strategy, "_layer_sync")
            and getattr(strategy, "_layer_sync", None) is None
        ):
            with contextlib.suppress(ImportError):
                from lit_strategies import TorchSyncBatchNorm

                strategy._layer_sync = TorchSyncBatchNorm()

    def apply_global_flags(self) -> None:
        """Apply ``deterministic`` and ``benchmark`` to torch."""
        det = self.deterministic
        if det is not None:
            if det:
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(bool(det), warn_only=(det == "warn"))
        if self.benchmark is not None:
            torch.backends.cudnn.benchmark = self.benchmark
        elif det:
            torch.backends.cudnn.benchmark = False
        if self.benchmark and det:
            rank_zero_warn(
                "You passed `deterministic=True` and `benchmark=True`. Note that PyTorch ignores"
                " torch.backends.cudnn.deterministic=True when torch.backends.cudnn.benchmark=True.",
            )
