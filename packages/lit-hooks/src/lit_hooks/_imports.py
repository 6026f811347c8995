"""Cheap, lazy checks for optional dependencies (no third-party import happens at check time)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
from functools import cache

from lit_hooks._errors import MissingExtraError

__all__ = ["RequirementCache", "module_available"]


@cache
def module_available(name: str) -> bool:
    """Return whether the module ``name`` (dotted paths allowed) can be imported, without importing it.

    Parent packages that are not imported yet are not imported either: sub-modules are looked up on the parent's
    search path.

    Example:
        >>> module_available("json.decoder"), module_available("surely_not_a_module_name")
        (True, False)
    """
    parts = name.split(".")
    if not all(parts):
        return False
    try:
        if name in sys.modules:
            return sys.modules[name] is not None
        spec = importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None:
                return False
            fullname = ".".join(parts[: i + 1])
            parent = sys.modules.get(".".join(parts[:i]))
            if parent is not None:
                # already imported: the normal machinery is cheap and handles non-file loaders
                spec = importlib.util.find_spec(fullname)
                continue
            locations = spec.submodule_search_locations
            if locations is None:
                return False
            spec = importlib.machinery.PathFinder.find_spec(fullname, list(locations))
        return spec is not None
    except (ImportError, ValueError, AttributeError):
        return False


# ---------------------------------------------------------------------------------------------------------------------
# A small PEP 440 subset: epoch, release, pre/post/dev segments and a local label (ignored for ordering).
_VERSION_PATTERN = r"""^\s*v?
    (?:(?P<epoch>\d+)!)?
    (?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>a|alpha|b|beta|c|rc|pre|preview)[-_.]?(?P<pre_n>\d*))?
    (?:(?:-(?P<post_n1>\d+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d*)))?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d*))?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$"""
_PRE_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}
_INF = float("inf")


@cache
def _regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    # compiled on first use: keeps ``import lit_hooks`` cheap
    return re.compile(pattern, flags)


def _match_version(version: str) -> re.Match[str] | None:
    return _regex(_VERSION_PATTERN, re.VERBOSE | re.IGNORECASE).match(version)


def _version_key(version: str) -> tuple:
    """Return a sortable key for ``version``; raises ``ValueError`` for strings that are not versions."""
    match = _match_version(version)
    if match is None:
        raise ValueError(f"{version!r} is not a valid version string")
    release = [int(x) for x in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre: tuple = (_INF,)
    if match["pre_l"]:
        pre = (_PRE_ORDER[match["pre_l"].lower()], int(match["pre_n"] or 0))
    post: tuple = (-1,)
    if match["post_n1"] or match["post_l"]:
        post = (int(match["post_n1"] or match["post_n2"] or 0),)
    dev: tuple = (_INF,)
    if match["dev_l"]:
        dev = (int(match["dev_n"] or 0),)
        if not match["pre_l"] and not (match["post_n1"] or match["post_l"]):
            pre = (-1,)  # 1.0.dev0 sorts before 1.0a0
    return (int(match["epoch"] or 0), tuple(release), pre, post, dev)


def _release(version: str) -> list[int]:
    match = _match_version(version)
    if match is None:
        raise ValueError(f"{version!r} is not a valid version string")
    return [int(x) for x in match["release"].split(".")]


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def _satisfies(installed: str, op: str, wanted: str) -> bool:
    if op in ("==", "!=") and wanted.endswith(".*"):
        prefix = _release(wanted[:-2])
        have = _release(installed)
        have += [0] * (len(prefix) - len(have))
        return (have[: len(prefix)] == prefix) == (op == "==")
    if op == "===":
        return installed == wanted
    # a local label on the installed version is ignored unless the specifier names one
    have = installed if "+" in wanted else _public(installed)
    if op == "~=":
        release = _release(wanted)
        if len(release) < 2:
            raise ValueError(f"`~={wanted}` needs at least two release segments")
        prefix = release[:-1]
        return _version_key(have) >= _version_key(wanted) and _release(have)[: len(prefix)] == prefix
    key_have, key_wanted = _version_key(have), _version_key(wanted)
    if op == "==":
        return key_have == key_wanted
    if op == "!=":
        return key_have != key_wanted
    if op == ">=":
        return key_have >= key_wanted
    if op == "<=":
        return key_have <= key_wanted
    if op == ">":
        return key_have > key_wanted
    if op == "<":
        return key_have < key_wanted
    raise ValueError(f"Unsupported version operator {op!r}")


_REQ_PATTERN = r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?\s*(?P<spec>[^;]*)"
_SPEC_PATTERN = r"^\s*(?P<op>~=|===|==|!=|<=|>=|<|>)\s*(?P<version>[^\s,]+)\s*$"


def _parse_requirement(requirement: str) -> tuple[str, list[tuple[str, str]]]:
    match = _regex(_REQ_PATTERN).match(requirement)
    if match is None:
        raise ValueError(
            f"Invalid requirement {requirement!r}. Expected a distribution name with optional version specifiers,"
            " e.g. 'tensorboard>=2.9' or 'deepspeed>=0.14,<1'."
        )
    specs = []
    spec_text = match["spec"].strip()
    if spec_text:
        for part in spec_text.split(","):
            spec = _regex(_SPEC_PATTERN).match(part)
            if spec is None:
                raise ValueError(
                    f"Invalid version specifier {part.strip()!r} in requirement {requirement!r}. Expected one of"
                    " ==, !=, >=, <=, >, <, ~=, === followed by a version."
                )
            specs.append((spec["op"], spec["version"]))
    return match["name"], specs


class RequirementCache:
    """A lazily evaluated, cached check that an optional requirement is installed.

    The check runs on first use (``bool(...)``, ``str(...)``), not at construction, so module-level
    ``_TENSORBOARD_AVAILABLE = RequirementCache("tensorboard>=2.9")`` costs nothing at import time. The installed
    distribution's version is read with :mod:`importlib.metadata`; without version specifiers the check falls back
    to finding the module (``module`` or the distribution name) when no distribution metadata is found.

    Args:
        requirement: A distribution requirement such as ``"tensorboard"`` or ``"deepspeed>=0.14,<1"``.
        module: The import name to look for, when it differs from the distribution name (``"yaml"`` for
            ``"pyyaml"``). When given, the module must also be findable.

    Example:
        >>> bool(RequirementCache("torch>=1.0")), bool(RequirementCache("surely-not-installed-dist"))
        (True, False)
    """

    def __init__(self, requirement: str, module: str | None = None) -> None:
        if not requirement:
            raise ValueError(
                "`RequirementCache` needs a requirement string, e.g. RequirementCache('tensorboard')."
            )
        self.requirement = requirement
        self.module = module
        self._available: bool | None = None
        self._message = ""

    def _check(self) -> None:
        from importlib import metadata

        name, specs = _parse_requirement(self.requirement)
        installed: str | None
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None

        if installed is None:
            module = self.module or name.replace("-", "_")
            if not specs and module_available(module):
                self._available = True
                self._message = f"Module {module!r} available"
            else:
                self._available = False
                self._message = (
                    f"Requirement {self.requirement!r} not met: {name!r} is not installed."
                    f" HINT: Try running `pip install -U {self.requirement!r}`."
                )
            return

        try:
            unmet = [f"{op}{version}" for op, version in specs if not _satisfies(installed, op, version)]
        except ValueError:
            unmet = [self.requirement]
        if unmet:
            self._available = False
            self._message = (
                f"Requirement {self.requirement!r} not met: {name} {installed} is installed, which does not"
                f" satisfy {', '.join(unmet)}. HINT: Try running `pip install -U {self.requirement!r}`."
            )
            return
        if self.module is not None and not module_available(self.module):
            self._available = False
            self._message = (
                f"Requirement {self.requirement!r} is installed but the module {self.module!r} cannot be found."
                f" HINT: Try running `pip install -U --force-reinstall {self.requirement!r}`."
            )
            return
        self._available = True
        self._message = f"Requirement {self.requirement!r} met"

    def __bool__(self) -> bool:
        if self._available is None:
            self._check()
        return bool(self._available)

    def __str__(self) -> str:
        if self._available is None:
            self._check()
        return self._message

    def __repr__(self) -> str:
        return self.__str__()

    def require(self, feature: str, extra: str, distribution: str) -> None:
        """Raise :class:`~lit_hooks.MissingExtraError` naming the pip extra when the requirement is not met.

        Args:
            feature: The class or function that needs the requirement.
            extra: The pip extra of ``distribution`` that installs it.
            distribution: The ``lit`` distribution that declares the extra.
        """
        if not self:
            raise MissingExtraError(feature, self.requirement, extra, distribution)
