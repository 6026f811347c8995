"""Helpers that run code, print or warn only on the process with global rank zero.

``rank_zero_only.rank`` is read from the environment when this module is imported (``RANK``, ``LOCAL_RANK``,
``SLURM_PROCID``, ``JSM_NAMESPACE_RANK``, first one set wins, default ``0``). Strategies overwrite it once the
real global rank is known.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, overload

from lit_hooks._errors import LightningDeprecationWarning

__all__ = [
    "WarningCache",
    "rank_prefixed_message",
    "rank_zero_debug",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
]

T = TypeVar("T")

log = logging.getLogger("lit")

_RANK_ENV_VARS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _get_rank(environ: dict[str, str] | None = None) -> int | None:
    """Return the rank found in the environment, or ``None`` when none of the known variables is set."""
    env = os.environ if environ is None else environ
    for key in _RANK_ENV_VARS:
        value = env.get(key)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                raise ValueError(
                    f"The environment variable {key}={value!r} is not an integer. Set it to the process rank"
                    f" (e.g. {key}=0) or unset it."
                ) from None
    return None


@overload
def rank_zero_only(fn: Callable[..., T]) -> Callable[..., T | None]: ...


@overload
def rank_zero_only(fn: Callable[..., T], default: T) -> Callable[..., T]: ...


@overload
def rank_zero_only(fn: None = None, *, default: T) -> Callable[[Callable[..., T]], Callable[..., T]]: ...


def rank_zero_only(fn: Callable[..., Any] | None = None, default: Any = None) -> Any:
    """Make ``fn`` run only on the process whose ``rank_zero_only.rank`` is ``0``.

    On other ranks the call is skipped and ``default`` is returned. The rank is looked up at call time, so a
    strategy can update ``rank_zero_only.rank`` after the function was decorated.

    Args:
        fn: The function to wrap. Leave it out to get a decorator (``@rank_zero_only(default=0)``).
        default: The value returned on non-zero ranks.

    Example:
        >>> @rank_zero_only
        ... def hello() -> str:
        ...     return "hi from rank 0"
        >>> hello() if rank_zero_only.rank == 0 else "hi from rank 0"
        'hi from rank 0'
    """
    if fn is None:
        return lambda f: rank_zero_only(f, default)

    @wraps(fn)
    def wrapped_fn(*args: Any, **kwargs: Any) -> Any:
        if rank_zero_only.rank == 0:  # type: ignore[attr-defined]
            return fn(*args, **kwargs)
        return default

    return wrapped_fn


# do not overwrite a rank that was already set (e.g. on module reload)
rank_zero_only.rank = getattr(rank_zero_only, "rank", _get_rank() or 0)  # type: ignore[attr-defined]


# The private ``_warn``/``_info``/``_debug`` helpers keep the call depth identical to Lightning's so that the
# ``stacklevel`` values used across the ecosystem point at the same frame (the caller of ``rank_zero_*``).
def _warn(message: str | Warning, stacklevel: int = 2, **kwargs: Any) -> None:
    warnings.warn(message, stacklevel=stacklevel, **kwargs)


def _info(*args: Any, stacklevel: int = 2, **kwargs: Any) -> None:
    log.info(*args, stacklevel=stacklevel, **kwargs)


def _debug(*args: Any, stacklevel: int = 2, **kwargs: Any) -> None:
    log.debug(*args, stacklevel=stacklevel, **kwargs)


@rank_zero_only
def rank_zero_warn(
    message: str | Warning, stacklevel: int = 4, category: type[Warning] = UserWarning, **kwargs: Any
) -> None:
    """Emit ``warnings.warn(message, category)`` on global rank zero only.

    Args:
        message: The warning text (or a ``Warning`` instance).
        stacklevel: Frame the warning is attributed to; the default points at the caller.
        category: The warning class.
        **kwargs: Forwarded to :func:`warnings.warn`.
    """
    if isinstance(message, Warning):
        _warn(message, stacklevel=stacklevel, **kwargs)
    else:
        _warn(message, stacklevel=stacklevel, category=category, **kwargs)


@rank_zero_only
def rank_zero_info(*args: Any, stacklevel: int = 4, **kwargs: Any) -> None:
    """Log an info message to the ``"lit"`` logger on global rank zero only."""
    _info(*args, stacklevel=stacklevel, **kwargs)


@rank_zero_only
def rank_zero_debug(*args: Any, stacklevel: int = 4, **kwargs: Any) -> None:
    """Log a debug message to the ``"lit"`` logger on global rank zero only."""
    _debug(*args, stacklevel=stacklevel, **kwargs)


def rank_zero_deprecation(message: str | Warning, stacklevel: int = 5, **kwargs: Any) -> None:
    """Emit a :class:`LightningDeprecationWarning` (or ``category=``) on global rank zero only."""
    category = kwargs.pop("category", LightningDeprecationWarning)
    rank_zero_warn(message, stacklevel=stacklevel, category=category, **kwargs)


def rank_prefixed_message(message: str, rank: int | None) -> str:
    """Prefix ``message`` with ``[rank: N] `` when ``rank`` is given.

    Example:
        >>> rank_prefixed_message("saving", 1)
        '[rank: 1] saving'
        >>> rank_prefixed_message("saving", None)
        'saving'
    """
    if rank is None:
        return message
    return f"[rank: {rank}] {message}"


class WarningCache(set):
    """A set of messages already emitted: each message is warned/logged once per cache.

    Example:
        >>> cache = WarningCache()
        >>> cache.info("only once"); cache.info("only once")
        >>> len(cache)
        1
    """

    def warn(self, message: str, stacklevel: int = 5, **kwargs: Any) -> None:
        """Warn with :func:`rank_zero_warn` unless ``message`` was seen before."""
        if message not in self:
            self.add(message)
            rank_zero_warn(message, stacklevel=stacklevel, **kwargs)

    def deprecation(self, message: str, stacklevel: int = 6, **kwargs: Any) -> None:
        """Warn with :func:`rank_zero_deprecation` unless ``message`` was seen before."""
        if message not in self:
            self.add(message)
            rank_zero_deprecation(message, stacklevel=stacklevel, **kwargs)

    def info(self, message: str, stacklevel: int = 5, **kwargs: Any) -> None:
        """Log with :func:`rank_zero_info` unless ``message`` was seen before."""
        if message not in self:
            self.add(message)
            rank_zero_info(message, stacklevel=stacklevel, **kwargs)
