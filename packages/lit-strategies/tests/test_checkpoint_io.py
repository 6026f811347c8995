from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_hooks import CheckpointIOProtocol, MissingExtraError
from lit_strategies import (
    AsyncCheckpointIO,
    CheckpointIO,
    CheckpointLoadError,
    TorchCheckpointIO,
    _checkpoint_io,
)


def _checkpoint(value: float = 1.0) -> dict[str, Any]:
    return {
        "epoch": 2,
        "global_step": 10,
        "state_dict": {"layer.weight": torch.full((2, 3), value), "layer.bias": torch.zeros(2)},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}],
        "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 3}}}},
        "hyper_parameters": {"name": "x", "sizes": (1, 2), "flag": None},
    }


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def _tmp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_round_trip_creates_directories_and_loads_safely(tmp_path: Path) -> None:
    io = TorchCheckpointIO()
    assert isinstance(io, CheckpointIOProtocol)
    path = tmp_path / "a" / "b" / "epoch=1.ckpt"
    io.save_checkpoint(_checkpoint(), path)
    _assert_same(io.load_checkpoint(path), _checkpoint())
    _assert_same(io.load_checkpoint(str(path), weights_only=True), _checkpoint())
    assert _tmp_files(path.parent) == []


def test_saved_file_gets_default_permissions(tmp_path: Path) -> None:
    reference = tmp_path / "plain"
    reference.write_bytes(b"")
    path = tmp_path / "last.ckpt"
    TorchCheckpointIO().save_checkpoint(_checkpoint(), path)
    assert (path.stat().st_mode & 0o777) == (reference.stat().st_mode & 0o777)


def test_save_fsyncs_before_renaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    TorchCheckpointIO().save_checkpoint(_checkpoint(), tmp_path / "x.ckpt")
    assert events == ["fsync", "replace"]


def test_failed_save_keeps_previous_checkpoint_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = TorchCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint(_checkpoint(1.0), path)

    # an object that cannot be pickled fails half-way through the write
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        io.save_checkpoint({"state_dict": {"w": torch.ones(1000)}, "bad": lambda: None}, path)
    _assert_same(io.load_checkpoint(path), _checkpoint(1.0))
    assert _tmp_files(tmp_path) == []

    # a full disk: the write of the temporary file fails after some bytes were written
    real_save = torch.save

    def disk_full(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        with open(f, "r+b") as handle:
            handle.truncate(10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_checkpoint_io.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint(_checkpoint(2.0), path)
    monkeypatch.undo()
    _assert_same(io.load_checkpoint(path), _checkpoint(1.0))
    assert _tmp_files(tmp_path) == []


def test_storage_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="storage_options"):
        TorchCheckpointIO().save_checkpoint({}, tmp_path / "x.ckpt", storage_options={"a": 1})


def test_missing_directory_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    io = TorchCheckpointIO()
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(FileNotFoundError, match=f"Checkpoint file not found: {missing}"):
        io.load_checkpoint(missing)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        io.load_checkpoint(tmp_path)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(CheckpointLoadError, match=r"garbage\.ckpt.*not a readable PyTorch checkpoint"):
        io.load_checkpoint(garbage)

    truncated = tmp_path / "truncated.ckpt"
    io.save_checkpoint(_checkpoint(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(CheckpointLoadError, match=r"truncated\.ckpt.*truncated, corrupted"):
        io.load_checkpoint(truncated)

    text = tmp_path / "config.json"
    text.write_text('{"lr": 0.1}')
    with pytest.raises(CheckpointLoadError, match=r"config\.json"):
        io.load_checkpoint(text)

    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.ones(2), tensor_only)
    with pytest.raises(CheckpointLoadError, match=r"tensor\.pt.*holds a Tensor, not a checkpoint dictionary"):
        io.load_checkpoint(tensor_only)


class _Custom:
    def __init__(self) -> None:
        self.value = 3


def test_unsafe_objects_are_refused_unless_trusted(tmp_path: Path) -> None:
    path = tmp_path / "custom.ckpt"
    torch.save({"state_dict": {}, "obj": _Custom()}, path)
    io = TorchCheckpointIO()
    for weights_only in (None, True):
        with pytest.raises(CheckpointLoadError, match=r"custom\.ckpt.*weights_only=False"):
            io.load_checkpoint(path, weights_only=weights_only)
    assert io.load_checkpoint(path, weights_only=False)["obj"].value == 3


def test_map_location_is_forwarded(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt"
    TorchCheckpointIO().save_checkpoint(_checkpoint(), path)
    seen: list[str] = []

    def mapper(storage: Any, location: str) -> Any:
        seen.append(location)
        return storage

    TorchCheckpointIO().load_checkpoint(path, map_location=mapper)
    assert seen and set(seen) == {"cpu"}


def test_remove_checkpoint(tmp_path: Path) -> None:
    io = TorchCheckpointIO()
    path = tmp_path / "x.ckpt"
    io.save_checkpoint(_checkpoint(), path)
    io.remove_checkpoint(path)
    assert not path.exists()
    io.remove_checkpoint(path)  # a missing file is fine
    directory = tmp_path / "sharded"
    (directory / "inner").mkdir(parents=True)
    (directory / "inner" / "shard").write_text("x")
    io.remove_checkpoint(directory)
    assert not directory.exists()


def test_file_urls_are_local(tmp_path: Path) -> None:
    io = TorchCheckpointIO()
    io.save_checkpoint(_checkpoint(), f"file://{tmp_path}/u.ckpt")
    assert (tmp_path / "u.ckpt").is_file()
    _assert_same(io.load_checkpoint(f"file://{tmp_path}/u.ckpt"), _checkpoint())


def test_fsspec_memory_filesystem_round_trip() -> None:
    pytest.importorskip("fsspec")
    io = TorchCheckpointIO()
    url = "memory://lit-tests/run/last.ckpt"
    io.save_checkpoint(_checkpoint(3.0), url)
    _assert_same(io.load_checkpoint(url), _checkpoint(3.0))
    io.remove_checkpoint(url)
    with pytest.raises(FileNotFoundError, match="memory://lit-tests/run/last.ckpt"):
        io.load_checkpoint(url)


def test_fsspec_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checkpoint_io, "_FSSPEC_AVAILABLE", False)
    with pytest.raises(MissingExtraError, match=r"requires `fsspec`.*lit-strategies\[fsspec\]"):
        TorchCheckpointIO().save_checkpoint({}, "s3://bucket/x.ckpt")


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(
            st.integers(-(2**40), 2**40),
            st.floats(allow_nan=False),
            st.text(max_size=5),
            st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=4).map(torch.tensor),
        ),
        max_size=5,
    )
)
def test_any_plain_checkpoint_round_trips(checkpoint: dict[str, Any]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "p.ckpt")
        TorchCheckpointIO().save_checkpoint(checkpoint, path)
        _assert_same(TorchCheckpointIO().load_checkpoint(path), checkpoint)


# ----------------------------------------------------------------------------------------------- async
class _SlowFailingIO(CheckpointIO):
    def __init__(self, fail_on: set[str]) -> None:
        self.fail_on = fail_on
        self.saved: list[str] = []
        self.gate = threading.Event()
        self.torn_down = False

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        self.gate.wait(5)
        if str(path) in self.fail_on:
            raise RuntimeError(f"cannot write {path}")
        self.saved.append(str(path))

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> Any:
        return {"path": str(path), "saved_before": list(self.saved)}

    def remove_checkpoint(self, path: Any) -> None:
        self.saved.remove(str(path))

    def teardown(self) -> None:
        self.torn_down = True


def test_async_saves_a_snapshot_in_the_background(tmp_path: Path) -> None:
    io = AsyncCheckpointIO()
    assert isinstance(io, CheckpointIOProtocol)
    assert isinstance(io.checkpoint_io, TorchCheckpointIO)
    weights = torch.zeros(1000)
    path = tmp_path / "async.ckpt"
    io.save_checkpoint({"state_dict": {"w": weights}}, path)
    weights.add_(1.0)  # training continues and mutates the tensor right away
    loaded = io.load_checkpoint(path)  # waits for the pending write
    assert torch.equal(loaded["state_dict"]["w"], torch.zeros(1000))
    io.teardown()


def test_async_keeps_call_order_and_waits_before_load_and_remove() -> None:
    inner = _SlowFailingIO(fail_on=set())
    io = AsyncCheckpointIO(inner)
    io.save_checkpoint({}, "a")
    io.save_checkpoint({}, "b")
    assert inner.saved == []  # still blocked in the worker
    inner.gate.set()
    assert io.load_checkpoint("b")["saved_before"] == ["a", "b"]
    io.remove_checkpoint("a")
    assert inner.saved == ["b"]
    io.teardown()
    assert inner.torn_down


def test_async_error_resurfaces_on_next_save() -> None:
    inner = _SlowFailingIO(fail_on={"bad"})
    inner.gate.set()
    io = AsyncCheckpointIO(inner)
    io.save_checkpoint({}, "bad")
    # let the worker finish the failing save
    for future in list(io._pending):
        future.result()
    with pytest.raises(RuntimeError, match="cannot write bad"):
        io.save_checkpoint({}, "good")
    io.save_checkpoint({}, "good")  # the error was reported once; saving works again
    io.teardown()
    assert inner.saved == ["good"]


def test_async_error_resurfaces_at_teardown() -> None:
    inner = _SlowFailingIO(fail_on={"bad"})
    inner.gate.set()
    io = AsyncCheckpointIO(inner)
    io.save_checkpoint({}, "bad")
    with pytest.raises(RuntimeError, match="cannot write bad"):
        io.teardown()


def test_async_cannot_wrap_async() -> None:
    with pytest.raises(TypeError, match="AsyncCheckpointIO"):
        AsyncCheckpointIO(AsyncCheckpointIO())
    io = AsyncCheckpointIO()
    with pytest.raises(TypeError):
        io.checkpoint_io = AsyncCheckpointIO()
