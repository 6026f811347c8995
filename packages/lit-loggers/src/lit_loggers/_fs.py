"""File-system access for log folders: plain ``os`` for local paths, ``fsspec`` (imported lazily) for URLs."""

from __future__ import annotations

import os
from typing import Any

from lit_hooks import MissingExtraError

__all__ = ["get_filesystem", "is_remote", "isdir", "listdir", "makedirs", "next_version"]


def is_remote(path: str) -> bool:
    """Return whether ``path`` is a URL handled by fsspec (``memory://``, ``s3://`` ...), not a local path."""
    return "://" in path and not path.startswith("file://")


def get_filesystem(path: str) -> Any:
    """Return the fsspec file system that serves ``path``.

    Raises:
        MissingExtraError: When fsspec is not installed.
    """
    try:
        import fsspec  # pants: no-infer-dep
    except ImportError:
        raise MissingExtraError(
            feature=f"Logging to {path!r}", requirement="fsspec", extra="fsspec", distribution="lit-loggers"
        ) from None
    protocol = path.split("://", 1)[0] if "://" in path else "file"
    return fsspec.filesystem(protocol)


def makedirs(path: str) -> None:
    """Create ``path`` and its parents if they do not exist."""
    if is_remote(path):
        get_filesystem(path).makedirs(path, exist_ok=True)
    else:
        os.makedirs(path, exist_ok=True)


def isdir(path: str) -> bool:
    """Return whether ``path`` is an existing folder."""
    if is_remote(path):
        return bool(get_filesystem(path).isdir(path))
    return os.path.isdir(path)


def listdir(path: str) -> list[str]:
    """Return the base names of the entries of the folder ``path`` (``[]`` when it does not exist)."""
    if is_remote(path):
        fs = get_filesystem(path)
        if not fs.isdir(path):
            return []
        return [os.path.basename(str(entry).rstrip("/")) for entry in fs.ls(path, detail=False)]
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def next_version(root: str) -> int:
    """Return one more than the largest ``N`` of the ``version_N`` folders in ``root``, or ``0`` when there is none."""
    versions = []
    for name in listdir(root):
        if name.startswith("version_"):
            number = name[len("version_") :]
            if number.isdigit() and isdir(os.path.join(root, name)):
                versions.append(int(number))
    return max(versions) + 1 if versions else 0
