from __future__ import annotations

import pytest
import torch

from lit_hooks import AcceleratorProtocol, MisconfigurationException, MissingExtraError
from lit_strategies import (
    ACCELERATOR_REGISTRY,
    CPUAccelerator,
    CUDAAccelerator,
    MPSAccelerator,
    XLAAccelerator,
    _accelerators,
)


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_accelerators, "num_cuda_devices", lambda: 4)


@pytest.mark.parametrize(("devices", "expected"), [(1, 1), (3, 3), ("2", 2), (" 4 ", 4), ("auto", 1)])
def test_cpu_parse_devices(devices: object, expected: int) -> None:
    assert CPUAccelerator.parse_devices(devices) == expected
    assert CPUAccelerator.get_parallel_devices(devices) == [torch.device("cpu")] * expected


@pytest.mark.parametrize("devices", [0, -1, "x", 1.5, True, [0], "0,1"])
def test_cpu_parse_devices_rejects_non_positive_ints(devices: object) -> None:
    with pytest.raises(
        TypeError, match=r"`devices` selected with `CPUAccelerator` should be an int > 0.*devices="
    ):
        CPUAccelerator.parse_devices(devices)


def test_cpu_accelerator_basics() -> None:
    acc = CPUAccelerator()
    assert isinstance(acc, AcceleratorProtocol)
    assert (CPUAccelerator.name(), CPUAccelerator.is_available(), CPUAccelerator.auto_device_count()) == (
        "cpu",
        True,
        1,
    )
    acc.setup_device(torch.device("cpu"))
    with pytest.raises(ValueError, match="Device should be CPU"):
        acc.setup_device(torch.device("meta"))


def test_cpu_device_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    if _accelerators._PSUTIL_AVAILABLE:
        stats = CPUAccelerator().get_device_stats("cpu")
        assert set(stats) == {"cpu_vm_percent", "cpu_percent", "cpu_swap_percent"}
    monkeypatch.setattr(_accelerators, "_PSUTIL_AVAILABLE", False)
    with pytest.raises(MissingExtraError, match="psutil"):
        CPUAccelerator().get_device_stats("cpu")


@pytest.mark.usefixtures("four_gpus")
@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        ("0,1", [0, 1]),
        ("1, 3", [1, 3]),
        ("3,", [3]),
        ([0, 1], [0, 1]),
        ((2,), [2]),
        (-1, [0, 1, 2, 3]),
        ("-1", [0, 1, 2, 3]),
        (2, [0, 1]),
        ("2", [0, 1]),
        ("auto", [0, 1, 2, 3]),
        (0, None),
        ("0", None),
        ("[]", None),
    ],
)
def test_cuda_parse_devices_like_lightning(devices: object, expected: list[int] | None) -> None:
    assert CUDAAccelerator.parse_devices(devices) == expected


@pytest.mark.usefixtures("four_gpus")
def test_cuda_parse_devices_errors() -> None:
    with pytest.raises(MisconfigurationException, match="must be unique"):
        CUDAAccelerator.parse_devices([1, 1])
    with pytest.raises(
        MisconfigurationException, match=r"You requested gpu: \[0, 5\]\n But your machine only has"
    ):
        CUDAAccelerator.parse_devices("0,5")
    with pytest.raises(MisconfigurationException, match="GPUs requested but none are available"):
        CUDAAccelerator.parse_devices(-2)
    with pytest.raises(ValueError, match=r"Could not parse `devices='a,b'`"):
        CUDAAccelerator.parse_devices("a,b")
    for bad, fragment in (
        (None, "None"),
        (1.5, "1.5"),
        ([True], "sequence of bool"),
        (["0"], "sequence of str"),
    ):
        with pytest.raises(TypeError, match=f"Device IDs .* but you passed.*{fragment}"):
            CUDAAccelerator.parse_devices(bad)


def test_cuda_without_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_accelerators, "num_cuda_devices", lambda: 0)
    assert not CUDAAccelerator.is_available()
    assert CUDAAccelerator.auto_device_count() == 0
    with pytest.raises(MisconfigurationException, match=r"You requested gpu: \[0\]"):
        CUDAAccelerator.parse_devices(1)
    with pytest.raises(MisconfigurationException, match="GPUs requested but none are available"):
        CUDAAccelerator.parse_devices(-1)


def test_cuda_helpers_do_not_initialise_cuda() -> None:
    CUDAAccelerator.is_available()
    CUDAAccelerator.auto_device_count()
    assert not torch.cuda.is_initialized()
    assert CUDAAccelerator.get_parallel_devices([0, 2]) == [torch.device("cuda", 0), torch.device("cuda", 2)]
    with pytest.raises(MisconfigurationException, match="Device should be GPU"):
        CUDAAccelerator().setup_device(torch.device("cpu"))


def test_mps_and_xla_on_linux_cpu() -> None:
    assert MPSAccelerator.name() == "mps"
    assert MPSAccelerator.auto_device_count() == 1
    with pytest.raises(ValueError, match="Device should be MPS"):
        MPSAccelerator().setup_device(torch.device("cpu"))
    assert not XLAAccelerator.is_available()
    assert XLAAccelerator.auto_device_count() == 0
    with pytest.raises(MissingExtraError, match=r"pip install 'lit-strategies\[xla\]'"):
        XLAAccelerator()


def test_accelerator_registry() -> None:
    assert ACCELERATOR_REGISTRY.available() == ["cpu", "cuda", "gpu", "mps", "tpu"]
    assert type(ACCELERATOR_REGISTRY.get("cpu")) is CPUAccelerator
    assert type(ACCELERATOR_REGISTRY.get("gpu")) is CUDAAccelerator
    assert type(ACCELERATOR_REGISTRY.get("cuda")) is CUDAAccelerator
    with pytest.raises(MissingExtraError, match="torch_xla"):
        ACCELERATOR_REGISTRY.get("tpu")
    with pytest.raises(
        KeyError, match=r"'npu' not found in the accelerator registry. Available names: cpu, cuda"
    ):
        ACCELERATOR_REGISTRY.get("npu")
