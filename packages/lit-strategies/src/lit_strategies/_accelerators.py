"""Accelerators: one class per device type (CPU, CUDA, MPS, XLA) with device discovery and ``devices`` parsing."""

from __future__ import annotations

import os
import platform
from abc import ABC, abstractmethod
from collections.abc import MutableSequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch
from typing_extensions import override

from lit_hooks import MisconfigurationException, MissingExtraError, RequirementCache

if TYPE_CHECKING:
    from lit_hooks import Registry

__all__ = [
    "Accelerator",
    "CPUAccelerator",
    "CUDAAccelerator",
    "MPSAccelerator",
    "XLAAccelerator",
    "find_usable_cuda_devices",
]

_PSUTIL_AVAILABLE = RequirementCache("psutil")
_XLA_AVAILABLE = RequirementCache("torch_xla")


class Accelerator(ABC):
    """Base class of accelerators: how to discover, parse and prepare the devices of one hardware type.

    An accelerator does not move models or data; strategies do that. It answers "which devices does
    ``devices=...`` mean", "is this hardware here" and prepares the device of the current process. Concrete
    accelerators implement :class:`lit_hooks.AcceleratorProtocol`.
    """

    @abstractmethod
    def setup_device(self, device: torch.device) -> None:
        """Create and prepare ``device`` for the current process."""

    def setup(self, trainer: Any) -> None:  # noqa: B027
        """Called by the Trainer before the model starts running on the device (no-op by default)."""

    @abstractmethod
    def teardown(self) -> None:
        """Release the state created by the accelerator."""

    @staticmethod
    @abstractmethod
    def parse_devices(devices: Any) -> Any:
        """Normalise the ``devices`` flag into this accelerator's device format."""

    @staticmethod
    @abstractmethod
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        """The ``torch.device`` of every process for the given (parsed) ``devices``."""

    @staticmethod
    @abstractmethod
    def auto_device_count() -> int:
        """The number of devices ``devices="auto"`` selects."""

    @staticmethod
    @abstractmethod
    def is_available() -> bool:
        """Whether this hardware can be used on this machine."""

    @staticmethod
    @abstractmethod
    def name() -> str:
        """The registry name of the accelerator (``"cpu"``, ``"cuda"``...)."""

    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        """Statistics (memory, utilisation) of ``device`` for monitoring callbacks."""
        raise NotImplementedError(f"`{type(self).__name__}` does not report device statistics.")

    @classmethod  # noqa: B027
    def register_accelerators(cls, accelerator_registry: Registry[Accelerator]) -> None:
        """Register this accelerator's names in ``accelerator_registry`` (subclasses override it)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------------------------------------- CPU
def _parse_cpu_cores(cpu_cores: int | str) -> int:
    if isinstance(cpu_cores, str) and cpu_cores.strip().isdigit():
        cpu_cores = int(cpu_cores)
    if not isinstance(cpu_cores, int) or isinstance(cpu_cores, bool) or cpu_cores <= 0:
        raise TypeError(
            f"`devices` selected with `CPUAccelerator` should be an int > 0, but got `devices={cpu_cores!r}`."
            " Pass the number of processes to run on CPU, e.g. `devices=2`."
        )
    return cpu_cores


def _psutil_stats(prefix: str) -> dict[str, float]:
    if not _PSUTIL_AVAILABLE:
        raise MissingExtraError("get_device_stats", "psutil", "psutil", "lit-strategies")
    import psutil  # pants: no-infer-dep

    return {
        f"{prefix}_vm_percent": psutil.virtual_memory().percent,
        f"{prefix}_percent": psutil.cpu_percent(),
        f"{prefix}_swap_percent": psutil.swap_memory().percent,
    }


class CPUAccelerator(Accelerator):
    """The CPU. ``devices=N`` runs ``N`` processes, all on ``torch.device("cpu")``.

    Example:
        >>> CPUAccelerator.parse_devices("2"), CPUAccelerator.get_parallel_devices(2)
        (2, [device(type='cpu'), device(type='cpu')])
    """

    @override
    def setup_device(self, device: torch.device) -> None:
        """Check that ``device`` is a CPU device.

        Raises:
            ValueError: If it is not.
        """
        if torch.device(device).type != "cpu":
            raise ValueError(f"Device should be CPU, got {device} instead.")

    @override
    def teardown(self) -> None:
        pass

    @staticmethod
    @override
    def parse_devices(devices: int | str) -> int:
        """The number of processes: ``devices`` as an int > 0 (``"auto"`` means 1)."""
        if devices == "auto":
            return CPUAccelerator.auto_device_count()
        return _parse_cpu_cores(devices)

    @staticmethod
    @override
    def get_parallel_devices(devices: int | str) -> list[torch.device]:
        return [torch.device("cpu")] * CPUAccelerator.parse_devices(devices)

    @staticmethod
    @override
    def auto_device_count() -> int:
        return 1

    @staticmethod
    @override
    def is_available() -> bool:
        return True

    @staticmethod
    @override
    def name() -> str:
        return "cpu"

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        """``cpu_vm_percent``, ``cpu_percent`` and ``cpu_swap_percent`` from ``psutil``."""
        return _psutil_stats("cpu")

    @classmethod
    @override
    def register_accelerators(cls, accelerator_registry: Registry[Accelerator]) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)


# ---------------------------------------------------------------------------------------------------------- GPU ids
def num_cuda_devices() -> int:
    """The number of visible CUDA devices (read through NVML when possible, so CUDA is not initialised)."""
    return torch.cuda.device_count()


def _get_all_visible_cuda_devices() -> list[int]:
    return list(range(num_cuda_devices()))


def _get_all_available_gpus(include_cuda: bool = False, include_mps: bool = False) -> list[int]:
    cuda_gpus = _get_all_visible_cuda_devices() if include_cuda else []
    mps_gpus = [0] if include_mps and MPSAccelerator.is_available() else []
    return cuda_gpus + mps_gpus


def _check_data_type(device_ids: object) -> None:
    msg = "Device IDs (GPU/TPU) must be an int, a string, a sequence of ints, but you passed"
    if device_ids is None:
        raise TypeError(f"{msg} None")
    if isinstance(device_ids, (MutableSequence, tuple)):
        for id_ in device_ids:
            if type(id_) is not int:  # ``isinstance(True, int)`` is True
                raise TypeError(f"{msg} a sequence of {type(id_).__name__}.")
    elif type(device_ids) not in (int, str):
        raise TypeError(f"{msg} {device_ids!r}.")


def _normalize_gpu_string(devices: str) -> int | list[int]:
    text = devices.strip()
    try:
        if text == "-1":
            return -1
        if "," in text:
            return [int(x.strip()) for x in text.split(",") if x.strip()]
        return int(text)
    except ValueError:
        raise ValueError(
            f"Could not parse `devices={devices!r}`. Pass a number of devices (`devices=2`), `-1` for all, a"
            " comma-separated list of indices (`devices='0,1'`) or a list of indices (`devices=[0, 1]`)."
        ) from None


def _parse_gpu_ids(
    gpus: int | str | list[int] | tuple[int, ...] | None,
    include_cuda: bool = False,
    include_mps: bool = False,
) -> list[int] | None:
    """Turn the ``devices`` flag into a list of GPU indices, with Lightning's rules.

    ``0``, ``"0"`` and ``"[]"`` mean no GPU (``None``); ``-1``/``"-1"`` all available GPUs; ``N`` the first ``N``;
    ``"0,2"``, ``[0, 2]`` and ``(0, 2)`` exactly those indices. Requested indices must exist and be unique.
    """
    _check_data_type(gpus)
    if gpus is None or (isinstance(gpus, int) and gpus == 0) or str(gpus).strip() in ("0", "[]"):
        return None
    normalized: int | list[int]
    normalized = _normalize_gpu_string(gpus) if isinstance(gpus, str) else gpus  # type: ignore[assignment]
    if isinstance(normalized, (MutableSequence, tuple)):
        gpu_list: list[int] | None = list(normalized)
    elif normalized == -1:
        gpu_list = _get_all_available_gpus(include_cuda=include_cuda, include_mps=include_mps)
    else:
        gpu_list = list(range(normalized)) if normalized else None
    if not gpu_list:
        raise MisconfigurationException("GPUs requested but none are available.")
    if (
        torch.distributed.is_available()
        and torch.distributed.is_torchelastic_launched()
        and len(gpu_list) != 1
        and len(_get_all_available_gpus(include_cuda=include_cuda, include_mps=include_mps)) == 1
    ):
        # torchelastic typically shows one visible GPU per process: skip the availability check
        return gpu_list
    if len(gpu_list) != len(set(gpu_list)):
        raise MisconfigurationException(f"Device ID's (GPU) must be unique, but got {gpu_list}.")
    available = _get_all_available_gpus(include_cuda=include_cuda, include_mps=include_mps)
    for gpu in gpu_list:
        if gpu not in available:
            raise MisconfigurationException(
                f"You requested gpu: {gpu_list}\n But your machine only has: {available}"
            )
    return gpu_list


# ---------------------------------------------------------------------------------------------------------- CUDA
class CUDAAccelerator(Accelerator):
    """NVIDIA GPUs through CUDA (registry names ``"cuda"`` and ``"gpu"``).

    ``devices`` may be a count (``2``), ``-1`` for all GPUs, ``"auto"``, or explicit indices (``"0,1"``, ``[0, 1]``).
    Availability is checked with ``torch.cuda.device_count()``, which does not initialise CUDA.
    """

    @override
    def setup_device(self, device: torch.device) -> None:
        """Make ``device`` the current CUDA device.

        Raises:
            MisconfigurationException: If ``device`` is not a CUDA device.
        """
        device = torch.device(device)
        if device.type != "cuda":
            raise MisconfigurationException(f"Device should be GPU, got {device} instead")
        torch.cuda.set_device(device)

    @override
    def setup(self, trainer: Any) -> None:
        _clear_cuda_memory()

    @override
    def teardown(self) -> None:
        _clear_cuda_memory()

    @staticmethod
    @override
    def parse_devices(devices: int | str | list[int]) -> list[int] | None:
        """The GPU indices to use (``None`` for no GPU); ``"auto"`` selects every visible GPU."""
        if isinstance(devices, str) and devices.strip() == "auto":
            devices = CUDAAccelerator.auto_device_count()
        return _parse_gpu_ids(devices, include_cuda=True)

    @staticmethod
    @override
    def get_parallel_devices(devices: list[int]) -> list[torch.device]:
        return [torch.device("cuda", i) for i in devices]

    @staticmethod
    @override
    def auto_device_count() -> int:
        return num_cuda_devices()

    @staticmethod
    @override
    def is_available() -> bool:
        return num_cuda_devices() > 0

    @staticmethod
    @override
    def name() -> str:
        return "cuda"

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        """``torch.cuda.memory_stats(device)``."""
        return torch.cuda.memory_stats(device)

    @classmethod
    @override
    def register_accelerators(cls, accelerator_registry: Registry[Accelerator]) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)
        accelerator_registry.register("gpu", cls, description=f"{cls.__name__} (alias 'gpu')")


def _clear_cuda_memory() -> None:
    if not torch.cuda.is_initialized():
        return
    if hasattr(torch._C, "_cuda_clearCublasWorkspaces"):
        torch._C._cuda_clearCublasWorkspaces()
    torch.cuda.empty_cache()


def find_usable_cuda_devices(num_devices: int = -1) -> list[int]:
    """Indices of CUDA devices on which a tensor can be created (devices busy in exclusive mode are skipped).

    Args:
        num_devices: How many devices to find; ``-1`` for as many as are usable.

    Raises:
        ValueError: If more devices are requested than the machine has.
        RuntimeError: If fewer than ``num_devices`` devices are usable.
    """
    if num_devices == 0:
        return []
    visible = _get_all_visible_cuda_devices()
    if not visible:
        raise ValueError(
            f"You requested to find {num_devices} devices but there are no visible CUDA devices on this machine."
        )
    if num_devices > len(visible):
        raise ValueError(
            f"You requested to find {num_devices} devices but this machine only has {len(visible)} GPUs."
        )
    usable: list[int] = []
    busy: list[int] = []
    for index in visible:
        try:
            torch.tensor(0, device=torch.device("cuda", index))
        except RuntimeError:
            busy.append(index)
            continue
        usable.append(index)
        if len(usable) == num_devices:
            break
    if num_devices != -1 and len(usable) != num_devices:
        raise RuntimeError(
            f"You requested to find {num_devices} devices but only {len(usable)} are currently available."
            f" The devices {busy} are occupied by other processes and can't be used at the moment."
        )
    return usable


# ---------------------------------------------------------------------------------------------------------- MPS
class MPSAccelerator(Accelerator):
    """Apple Silicon GPUs through Metal Performance Shaders (one device)."""

    @override
    def setup_device(self, device: torch.device) -> None:
        """Check that ``device`` is an MPS device.

        Raises:
            ValueError: If it is not.
        """
        if torch.device(device).type != "mps":
            raise ValueError(f"Device should be MPS, got {device} instead.")

    @override
    def teardown(self) -> None:
        pass

    @staticmethod
    @override
    def parse_devices(devices: int | str | list[int]) -> list[int] | None:
        if isinstance(devices, str) and devices.strip() == "auto":
            devices = MPSAccelerator.auto_device_count()
        return _parse_gpu_ids(devices, include_mps=True)

    @staticmethod
    @override
    def get_parallel_devices(devices: int | str | list[int]) -> list[torch.device]:
        parsed = MPSAccelerator.parse_devices(devices)
        return [torch.device("mps", i) for i in range(len(parsed or []))]

    @staticmethod
    @override
    def auto_device_count() -> int:
        return 1

    @staticmethod
    @override
    @lru_cache(1)
    def is_available() -> bool:
        disabled = os.getenv("DISABLE_MPS", "0") == "1"
        return not disabled and torch.backends.mps.is_available() and platform.processor() in ("arm", "arm64")

    @staticmethod
    @override
    def name() -> str:
        return "mps"

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        """``M1_vm_percent``, ``M1_percent`` and ``M1_swap_percent`` from ``psutil``."""
        return _psutil_stats("M1")

    @classmethod
    @override
    def register_accelerators(cls, accelerator_registry: Registry[Accelerator]) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)


# ---------------------------------------------------------------------------------------------------------- XLA
def _parse_tpu_devices(devices: int | str | list[int]) -> int | list[int]:
    _check_data_type(devices)
    if isinstance(devices, str):
        text = devices.strip()
        try:
            devices = int(text)
        except ValueError:
            try:
                devices = [int(x.strip()) for x in text.split(",") if x.strip()]
            except ValueError:
                raise ValueError(f"Could not parse the selected TPU devices: {devices!r}") from None
    count = XLAAccelerator.auto_device_count()
    if (isinstance(devices, int) and devices in {1, count}) or (
        isinstance(devices, (list, tuple)) and len(devices) == 1 and 0 <= devices[0] <= count - 1
    ):
        return list(devices) if isinstance(devices, tuple) else devices
    raise ValueError(
        f"`devices` can only be 'auto', 1, {count} or [<0-{count - 1}>] for TPUs. Got {devices!r}"
    )


class XLAAccelerator(Accelerator):
    """TPUs (and other XLA devices) through ``torch_xla``, registered as ``"tpu"``.

    ``torch_xla`` is imported only when the accelerator is used.

    Raises:
        MissingExtraError: At construction, if ``torch_xla`` is not installed.
    """

    def __init__(self) -> None:
        if not _XLA_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "torch_xla", "xla", "lit-strategies")
        super().__init__()

    @override
    def setup_device(self, device: torch.device) -> None:
        pass

    @override
    def teardown(self) -> None:
        pass

    @staticmethod
    @override
    def parse_devices(devices: int | str | list[int]) -> int | list[int]:
        if isinstance(devices, str) and devices.strip() == "auto":
            devices = XLAAccelerator.auto_device_count()
        return _parse_tpu_devices(devices)

    @staticmethod
    @override
    def get_parallel_devices(devices: int | list[int]) -> list[torch.device]:
        parsed = _parse_tpu_devices(devices)
        if isinstance(parsed, int):
            return [torch.device("xla", i) for i in range(parsed)]
        return [torch.device("xla", parsed[0])]

    @staticmethod
    @override
    @lru_cache(1)
    def auto_device_count() -> int:
        if not _XLA_AVAILABLE:
            return 0
        from torch_xla._internal import tpu  # pants: no-infer-dep

        return int(tpu.num_available_devices())

    @staticmethod
    @override
    @lru_cache(1)
    def is_available() -> bool:
        try:
            return XLAAccelerator.auto_device_count() > 0
        except (ValueError, AssertionError, OSError, ImportError):
            return False

    @staticmethod
    @override
    def name() -> str:
        return "tpu"

    @override
    def get_device_stats(self, device: torch.device | str | int) -> dict[str, Any]:
        import torch_xla.core.xla_model as xm  # pants: no-infer-dep

        memory_info = xm.get_memory_info(device)
        free_memory = memory_info["kb_free"]
        return {
            "avg. free memory (MB)": free_memory,
            "avg. peak memory (MB)": memory_info["kb_total"] - free_memory,
        }

    @classmethod
    @override
    def register_accelerators(cls, accelerator_registry: Registry[Accelerator]) -> None:
        accelerator_registry.register(cls.name(), cls, description=cls.__name__)
