"""Load callbacks that other installed distributions advertise through entry points."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lit_hooks import Callback

log = logging.getLogger(__name__)

CALLBACKS_FACTORY_GROUPS = ("lit.callbacks_factory", "lightning.pytorch.callbacks_factory")

# Scanning the installed distributions costs ~20 ms; it is done once per process and group
# (the factories themselves are called again for every Trainer, so each gets fresh callbacks).
_ENTRY_POINTS: dict[str, tuple[Any, ...]] = {}


def _entry_points(group: str) -> tuple[Any, ...]:
    if group not in _ENTRY_POINTS:
        from importlib.metadata import entry_points

        _ENTRY_POINTS[group] = tuple(entry_points(group=group))
    return _ENTRY_POINTS[group]


def load_external_callbacks(group: str | Iterable[str] = CALLBACKS_FACTORY_GROUPS) -> list[Any]:
    """Call every factory registered in the entry-point ``group`` (or groups) and collect the callbacks.

    A factory takes no arguments and returns a callback or a list of callbacks. By default both lit's group
    ``lit.callbacks_factory`` and Lightning's ``lightning.pytorch.callbacks_factory`` are read, so packages
    written for Lightning work unchanged.

    Example (in the plugin's ``pyproject.toml``)::

        [project.entry-points."lit.callbacks_factory"]
        my_callbacks = "my_package.module:factory"
    """
    groups = [group] if isinstance(group, str) else list(group)
    callbacks: list[Any] = []
    seen: set[str] = set()
    for name in groups:
        for ep in _entry_points(name):
            if ep.value in seen:
                continue
            seen.add(ep.value)
            factory = ep.load()
            result = factory()
            items = result if isinstance(result, (list, tuple)) else [result]
            for item in items:
                if not isinstance(item, Callback) and not hasattr(item, "state_key"):
                    raise TypeError(
                        f"The entry point {ep.name!r} ({ep.value}) of group {name!r} returned {item!r}, which is not"
                        " a callback. A callbacks factory must return a Callback or a list of Callbacks."
                    )
            if items:
                log.info(
                    f"Adding {len(items)} callbacks from entry point {ep.name!r}: "
                    + ", ".join(type(c).__name__ for c in items)
                )
            callbacks.extend(items)
    return callbacks
