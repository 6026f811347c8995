"""Helpers shared by the integration tests: where the repository and the built wheels are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest

# Directories of a checkout that are build outputs or caches, never copied.
_IGNORED = {".git", ".pants.d", ".pids", "dist", "__pycache__", ".hypothesis", ".benchmarks", ".pytest_cache"}


def repo_root() -> Path:
    """The repository checkout running these tests (exported by the `./pants` launcher)."""
    root = os.environ.get("LIT_REPO_ROOT")
    if not root or not (Path(root) / "pants.toml").is_file():
        pytest.fail("LIT_REPO_ROOT is not set to a lit checkout: run the tests with `./pants test ::`.")
    return Path(root)


def copy_repo(dest: Path) -> Path:
    """Copies the working tree (sources, BUILD files, lockfiles) without caches or build outputs."""

    def ignore(_dir: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _IGNORED}

    shutil.copytree(repo_root(), dest, ignore=ignore, symlinks=True)
    return dest


def version() -> str:
    return (repo_root() / "VERSION").read_text().strip()


def built_wheels() -> dict[str, Path]:
    """The wheels `./pants package` built for this test run, keyed by distribution name."""
    wheels: dict[str, Path] = {}
    for path in Path.cwd().rglob("lit*.whl"):
        if any(part.endswith(".pex") for part in path.parts):
            continue  # the wheels inside the test runner's own environments
        name = path.name.split("-")[0].replace("_", "-")
        wheels[name] = path
    return wheels


# Distributions that torch and numpy need at run time (taken from this environment).
_TORCH_CLOSURE = (
    "torch",
    "numpy",
    "typing-extensions",
    "filelock",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "fsspec",
    "setuptools",
)


def _link_distribution(name: str, site: Path) -> None:
    """Makes distribution `name` of this interpreter visible in another site-packages by symlinks."""
    dist = metadata.distribution(name)
    tops: set[str] = set()
    for file in dist.files or ():
        first = file.parts[0]
        if first.endswith(".dist-info") or first == "..":
            continue
        tops.add(first)
    base = Path(dist.locate_file(""))
    tops.add(Path(dist._path).name)  # type: ignore[attr-defined]  # the .dist-info directory
    for top in tops:
        src = base / top
        dst = site / top
        if src.exists() and not dst.exists():
            dst.symlink_to(src)


class FreshVenv:
    """A new virtual environment with no registry access; torch and numpy come from this environment."""

    def __init__(self, path: Path) -> None:
        self.path = path
        venv.EnvBuilder(with_pip=True, symlinks=True).create(path)
        self.python = path / "bin" / "python"
        site = Path(
            subprocess.check_output(
                [str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                text=True,
            ).strip()
        )
        for name in _TORCH_CLOSURE:
            try:
                _link_distribution(name, site)
            except metadata.PackageNotFoundError:
                pass

    def pip_install(self, *requirements: str, find_links: Path) -> subprocess.CompletedProcess[str]:
        env = dict(
            os.environ, PIP_CONFIG_FILE="/dev/null", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1"
        )
        env.pop("PIP_FIND_LINKS", None)
        return subprocess.run(
            [
                str(self.python),
                "-m",
                "pip",
                "install",
                "--no-index",
                "--find-links",
                str(find_links),
                *requirements,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    def run(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), "-c", code], capture_output=True, text=True, timeout=600)

    def distributions(self) -> set[str]:
        out = self.run(
            "import importlib.metadata as m; print('\\n'.join(sorted({d.metadata['Name'].lower() for d in m.distributions()})))"
        )
        assert out.returncode == 0, out.stderr
        return set(out.stdout.split())


def python_executable() -> str:
    return sys.executable
