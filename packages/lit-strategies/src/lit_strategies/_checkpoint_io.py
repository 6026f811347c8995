"""Checkpoint I/O: atomic ``torch.save`` writes, safe loading with clear errors, and asynchronous saving."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import threading
import uuid
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from typing_extensions import override

from lit_hooks import LitError, MissingExtraError, RequirementCache, apply_to_collection

__all__ = [
    "AsyncCheckpointIO",
    "CheckpointIO",
    "CheckpointLoadError",
    "TorchCheckpointIO",
]

log = logging.getLogger(__name__)

_FSSPEC_AVAILABLE = RequirementCache("fsspec")
_PATH = str | os.PathLike


class CheckpointLoadError(LitError, RuntimeError):
    """A checkpoint file exists but cannot be loaded: it is truncated/corrupted, not a PyTorch checkpoint, or it
    holds objects that safe (``weights_only``) loading refuses. The message names the file and the cause."""


class CheckpointIO(ABC):
    """Base class of checkpoint readers/writers (implements :class:`lit_hooks.CheckpointIOProtocol`).

    Strategies call :meth:`save_checkpoint` on global rank zero (unless their format is sharded),
    :meth:`load_checkpoint` on every rank and :meth:`remove_checkpoint` on rank zero.
    """

    @abstractmethod
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to ``path``."""

    @abstractmethod
    def load_checkpoint(
        self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Read the checkpoint at ``path``."""

    @abstractmethod
    def remove_checkpoint(self, path: _PATH) -> None:
        """Delete the checkpoint at ``path``."""

    def teardown(self) -> None:  # noqa: B027
        """Release resources (flush pending writes); nothing to do by default."""


# -------------------------------------------------------------------------------------------------- paths
def _split_protocol(path: _PATH) -> tuple[str | None, str]:
    """``("memory", "memory://a/b")`` for URLs, ``(None, "/local/path")`` for local paths (``file://`` stripped)."""
    text = os.fspath(path)
    if not isinstance(text, str):
        text = text.decode()
    if "://" in text:
        protocol = text.split("://", 1)[0]
        if protocol in ("file", "local"):
            return None, text.split("://", 1)[1]
        return protocol, text
    return None, text


def _remote_fs(url: str) -> tuple[Any, str]:
    if not _FSSPEC_AVAILABLE:
        raise MissingExtraError(
            f"TorchCheckpointIO with the path {url!r}", "fsspec", "fsspec", "lit-strategies"
        )
    from fsspec.core import url_to_fs  # pants: no-infer-dep

    return url_to_fs(url)


# -------------------------------------------------------------------------------------------------- torch
class TorchCheckpointIO(CheckpointIO):
    """Writes checkpoints with ``torch.save`` atomically and reads them with safe ``torch.load``.

    Saving writes to a temporary file in the destination directory, flushes and ``fsync``s it, then renames it over
    the destination with ``os.replace``: a crash or a full disk during the save leaves any previous checkpoint
    intact and never a half-written file under the final name. Paths with a protocol (``s3://``, ``memory://``...)
    go through ``fsspec`` (imported only then) inside a transaction.

    Loading uses ``weights_only=True`` unless told otherwise, so a checkpoint cannot run code. Errors name the
    file: :class:`FileNotFoundError` for a missing one, :class:`CheckpointLoadError` for a corrupt, foreign or
    unsafe one.

    Example:
        >>> import tempfile
        >>> io = TorchCheckpointIO()
        >>> path = os.path.join(tempfile.mkdtemp(), "sub", "last.ckpt")
        >>> io.save_checkpoint({"epoch": 3, "state_dict": {"w": torch.ones(2)}}, path)
        >>> io.load_checkpoint(path)["epoch"]
        3
    """

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        """Atomically write ``checkpoint`` to ``path`` (parent directories are created).

        Args:
            checkpoint: The state to save (anything ``torch.save`` accepts).
            path: Local path or ``fsspec`` URL.
            storage_options: Not supported by this class; must be ``None``.

        Raises:
            TypeError: If ``storage_options`` is given.
        """
        if storage_options is not None:
            raise TypeError(
                "`Trainer.save_checkpoint(..., storage_options=...)` with `storage_options` arg"
                f" is not supported for `{type(self).__name__}`. Please implement your custom `CheckpointIO`"
                " to define how you'd like to use `storage_options`."
            )
        protocol, target = _split_protocol(path)
        if protocol is not None:
            self._save_remote(checkpoint, target)
            return
        directory = os.path.dirname(os.path.abspath(target))
        os.makedirs(directory, exist_ok=True)
        tmp_path = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            # a path (not a file object) lets torch write through its C++ writer, the fastest path
            torch.save(checkpoint, tmp_path)
            fd = os.open(tmp_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp_path, target)
        except BaseException:
            try:
                os.remove(tmp_path)
            except OSError:
                pass
            raise
        log.debug(f"Saved checkpoint: {target}")

    @staticmethod
    def _save_remote(checkpoint: dict[str, Any], url: str) -> None:
        import io

        fs, fs_path = _remote_fs(url)
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        parent = fs._parent(fs_path)
        if parent:
            fs.makedirs(parent, exist_ok=True)
        # the transaction commits the file only when the block completes without error
        with fs.transaction, fs.open(fs_path, "wb") as f:
            f.write(buffer.getbuffer())

    @override
    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Load the checkpoint at ``path``.

        Args:
            path: Local path or ``fsspec`` URL.
            map_location: Where to put the tensors, as for ``torch.load``; ``None`` loads every tensor to CPU.
            weights_only: ``None`` or ``True`` load safely (tensors, containers and primitive types only). Pass
                ``False`` only for trusted files that contain other Python objects.

        Returns:
            The checkpoint dictionary.

        Raises:
            FileNotFoundError: If there is no file at ``path``.
            CheckpointLoadError: If the file is corrupt, is not a checkpoint dictionary, or holds objects that safe
                loading refuses.
        """
        if map_location is None:
            map_location = "cpu"
        safe = True if weights_only is None else weights_only
        protocol, target = _split_protocol(path)
        if protocol is not None:
            fs, fs_path = _remote_fs(target)
            if not fs.exists(fs_path):
                raise FileNotFoundError(f"Checkpoint file not found: {target}")
            with fs.open(fs_path, "rb") as f:
                return _checked_load(f, target, map_location, safe)
        if not os.path.exists(target):
            raise FileNotFoundError(f"Checkpoint file not found: {target}")
        if os.path.isdir(target):
            raise IsADirectoryError(
                f"Checkpoint path {target!r} is a directory, but `{type(self).__name__}` reads single files. If it is"
                " a sharded (distributed) checkpoint, load it through the strategy that wrote it."
            )
        return _checked_load(target, target, map_location, safe)

    @override
    def remove_checkpoint(self, path: _PATH) -> None:
        """Delete the file (or directory) at ``path``; a missing path is ignored."""
        protocol, target = _split_protocol(path)
        if protocol is not None:
            fs, fs_path = _remote_fs(target)
            if fs.exists(fs_path):
                fs.rm(fs_path, recursive=True)
            return
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        elif os.path.lexists(target):
            os.remove(target)
        log.debug(f"Removed checkpoint: {target}")


def _checked_load(source: Any, name: str, map_location: Any, weights_only: bool) -> dict[str, Any]:
    try:
        checkpoint = torch.load(source, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as err:
        if weights_only and "unsupported global" in str(err).lower():
            raise CheckpointLoadError(
                f"Checkpoint {name!r} contains Python objects that safe loading (`weights_only=True`) refuses to"
                " unpickle. If the file comes from a source you trust, load it with `weights_only=False`; otherwise"
                f" do not load it. Details: {_weights_only_detail(err)}"
            ) from err
        raise CheckpointLoadError(_corrupt_message(name, err)) from err
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError, AttributeError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise CheckpointLoadError(_corrupt_message(name, err)) from err
    if not isinstance(checkpoint, Mapping):
        raise CheckpointLoadError(
            f"Checkpoint {name!r} holds a {type(checkpoint).__name__}, not a checkpoint dictionary. It was probably"
            " written by another tool (e.g. `torch.save(tensor)`); load it with `torch.load` instead."
        )
    return checkpoint  # type: ignore[return-value]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _weights_only_detail(err: BaseException) -> str:
    text = str(err)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1].strip()
        if after:
            return after.splitlines()[0]
    return _first_line(err)


def _corrupt_message(name: str, err: BaseException) -> str:
    return (
        f"Could not load checkpoint {name!r}: the file is not a readable PyTorch checkpoint (it may be truncated,"
        f" corrupted or written by another program). Cause: {type(err).__name__}: {_weights_only_detail(err)}"
    )


# -------------------------------------------------------------------------------------------------- async
def _clone_tensor(tensor: torch.Tensor) -> torch.Tensor:
    # a point-in-time copy taken on the caller's thread, so training can keep mutating the originals
    return tensor.detach().clone()


class AsyncCheckpointIO(CheckpointIO):
    """Saves checkpoints on a background thread so training continues while the file is written.

    Tensors are copied on the calling thread (the checkpoint reflects the moment of the call), then the wrapped
    :class:`CheckpointIO` writes them on a single worker thread, in call order. A failed background save is
    raised again by the next :meth:`save_checkpoint` call or by :meth:`teardown`. :meth:`load_checkpoint` and
    :meth:`remove_checkpoint` first wait for pending saves, so they never see a file that is still being written.

    Args:
        checkpoint_io: The checkpoint I/O doing the writing; a :class:`TorchCheckpointIO` when ``None`` (a strategy
            may also set it later through :attr:`checkpoint_io`).
    """

    def __init__(self, checkpoint_io: CheckpointIO | None = None) -> None:
        super().__init__()
        if isinstance(checkpoint_io, AsyncCheckpointIO):
            raise TypeError(
                "`AsyncCheckpointIO(checkpoint_io=AsyncCheckpointIO(...))` would wrap an asynchronous writer in"
                " another one. Pass the synchronous checkpoint IO (e.g. `TorchCheckpointIO()`) instead."
            )
        self._checkpoint_io = checkpoint_io
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    @property
    def checkpoint_io(self) -> CheckpointIO:
        """The wrapped (synchronous) checkpoint I/O."""
        if self._checkpoint_io is None:
            self._checkpoint_io = TorchCheckpointIO()
        return self._checkpoint_io

    @checkpoint_io.setter
    def checkpoint_io(self, checkpoint_io: CheckpointIO) -> None:
        if isinstance(checkpoint_io, AsyncCheckpointIO):
            raise TypeError("An `AsyncCheckpointIO` cannot wrap another `AsyncCheckpointIO`.")
        self._checkpoint_io = checkpoint_io

    def _raise_pending_error(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _run_save(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None) -> None:
        try:
            self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options=storage_options)
        except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
            with self._lock:
                if self._error is None:
                    self._error = err

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        """Snapshot the tensors of ``checkpoint`` and queue the write; raises a previous save's error, if any."""
        self._raise_pending_error()
        snapshot = apply_to_collection(checkpoint, torch.Tensor, _clone_tensor)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lit-async-checkpoint")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._executor.submit(self._run_save, snapshot, path, storage_options))

    def wait(self) -> None:
        """Block until every queued save finished; raise the first error of a failed one."""
        for future in self._pending:
            future.result()
        self._pending.clear()
        self._raise_pending_error()

    @override
    def load_checkpoint(
        self, path: _PATH, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        self.wait()
        return self.checkpoint_io.load_checkpoint(path, map_location=map_location, weights_only=weights_only)

    @override
    def remove_checkpoint(self, path: _PATH) -> None:
        self.wait()
        self.checkpoint_io.remove_checkpoint(path)

    @override
    def teardown(self) -> None:
        """Wait for pending saves, stop the worker thread, then raise the error of a failed save, if any."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._pending.clear()
        if self._checkpoint_io is not None:
            self._checkpoint_io.teardown()
        self._raise_pending_error()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_executor"] = None
        state["_pending"] = []
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
