"""A generic name -> factory registry, filled explicitly by the package that owns the implementations."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Generic, TypeVar, overload

__all__ = ["Registry", "register_classes"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_MISSING: Any = object()


class Registry(Generic[T]):
    """Maps names to factories (usually classes) plus the keyword arguments used to build them.

    One class may register several names with different parameters (``"ddp"``, ``"ddp_spawn"``, ...). Looking up
    a name builds a fresh object: ``registry.get("ddp_spawn")`` is ``factory(**init_params)``.

    Args:
        kind: What the registry holds, used in messages, e.g. ``"strategy"`` or ``"precision"``.

    Example:
        >>> STRATEGIES: Registry[object] = Registry("strategy")
        >>> @STRATEGIES.register("dummy", description="Does nothing", verbose=True)
        ... class DummyStrategy:
        ...     def __init__(self, verbose: bool = False) -> None:
        ...         self.verbose = verbose
        >>> STRATEGIES.get("dummy").verbose
        True
        >>> STRATEGIES.available()
        ['dummy']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, dict[str, Any]] = {}

    @overload
    def register(
        self,
        name: str,
        factory: None = None,
        description: str = "",
        override: bool = False,
        **init_params: Any,
    ) -> Callable[[F], F]: ...

    @overload
    def register(
        self,
        name: str,
        factory: F,
        description: str = "",
        override: bool = False,
        **init_params: Any,
    ) -> F: ...

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | None = None,
        description: str = "",
        override: bool = False,
        **init_params: Any,
    ) -> Any:
        """Register ``factory`` under ``name``; use it as ``register(name, factory)`` or as a decorator.

        Args:
            name: The lookup name, e.g. ``"ddp_spawn"``.
            factory: A class or callable building the object. Leave it out to use ``register`` as a decorator.
            description: A human readable description shown by :meth:`describe`.
            override: Replace an existing entry of the same name instead of raising.
            **init_params: Keyword arguments passed to ``factory`` by :meth:`get`.

        Returns:
            ``factory`` itself (or, without ``factory``, a decorator that registers and returns its argument).

        Raises:
            TypeError: If ``name`` is not a non-empty string or ``factory`` is not callable.
            ValueError: If ``name`` is taken and ``override`` is ``False``.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"A {self.kind} registry name must be a non-empty string, but got {name!r}.")
        if name in self._entries and not override:
            existing = _describe_factory(self._entries[name]["factory"])
            raise ValueError(
                f"'{name}' is already registered in the {self.kind} registry (by {existing}). Pick another name"
                " or replace the entry. HINT: Use `override=True`."
            )

        def do_register(fn: Any) -> Any:
            if not callable(fn):
                raise TypeError(
                    f"Only callables can be registered in the {self.kind} registry, but got {fn!r}."
                )
            self._entries[name] = {
                "factory": fn,
                "description": description or "",
                "init_params": dict(init_params),
            }
            return fn

        if factory is not None:
            return do_register(factory)
        return do_register

    def get(self, name: str, default: Any = _MISSING) -> T:
        """Build the object registered as ``name``: ``factory(**init_params)``.

        Args:
            name: A registered name.
            default: Returned instead of raising when ``name`` is unknown.

        Raises:
            KeyError: If ``name`` is not registered and no ``default`` is given; the message lists every name.
        """
        entry = self._entries.get(name)
        if entry is None:
            if default is not _MISSING:
                return default
            raise KeyError(self._unknown_message(name))
        return entry["factory"](**entry["init_params"])

    def remove(self, name: str) -> None:
        """Remove the entry ``name``; raises ``KeyError`` (listing the names) if it is not registered."""
        if name not in self._entries:
            raise KeyError(self._unknown_message(name))
        del self._entries[name]

    def available(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def describe(self, name: str) -> dict[str, Any]:
        """Return ``{"factory", "description", "init_params"}`` for ``name`` (a copy)."""
        entry = self._entries.get(name)
        if entry is None:
            raise KeyError(self._unknown_message(name))
        return {
            "factory": entry["factory"],
            "description": entry["description"],
            "init_params": dict(entry["init_params"]),
        }

    info = describe

    def _unknown_message(self, name: object) -> str:
        names = ", ".join(self.available()) or "none"
        return f"{name!r} not found in the {self.kind} registry. Available names: {names}"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.available())

    def __repr__(self) -> str:
        return f"Registry(kind={self.kind!r}, names={self.available()!r})"

    def __str__(self) -> str:
        return f"Registered {self.kind} names: {', '.join(self.available()) or 'none'}"


def _describe_factory(factory: Any) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None) or repr(factory)
    return f"{module}.{qualname}" if module else qualname


def register_classes(registry: Registry[Any], method_name: str, module: ModuleType, base_cls: type) -> None:
    """Let every subclass of ``base_cls`` found in ``module`` register itself.

    Calls ``cls.<method_name>(registry)`` for each class in ``module`` (including ``base_cls`` itself) that is a
    subclass of ``base_cls`` and defines ``method_name``. When ``base_cls`` defines the method too, only classes
    that override it are called. Each class is called once even if ``module`` exposes it under several names.

    Args:
        registry: The registry to fill.
        method_name: The class method doing the registration, e.g. ``"register_strategies"``.
        module: The module to scan (typically ``sys.modules[__name__]`` of a package ``__init__``).
        base_cls: Only subclasses of this class are considered.
    """
    from lit_hooks._collections import is_overridden

    base_defines = getattr(base_cls, method_name, None) is not None
    seen: set[int] = set()
    for _, member in inspect.getmembers(module, inspect.isclass):
        if id(member) in seen or not issubclass(member, base_cls):
            continue
        seen.add(id(member))
        if getattr(member, method_name, None) is None:
            continue
        if base_defines and not is_overridden(method_name, member, base_cls):
            continue
        getattr(member, method_name)(registry)
