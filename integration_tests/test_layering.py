"""The layering of DESIGN.md is enforced by Pants itself, in the goal CI runs.

Each case copies the repository, adds one forbidden import and shows that
`./pants dependencies` (run by CI before the tests) fails with the visibility
error, while the untouched copy passes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from _repo import copy_repo


def _pants(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANTS_")}
    return subprocess.run(
        [str(repo / "pants"), "--no-pantsd", "--no-dynamic-ui", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("layering") / "repo")


def _add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # noqa: F401\n")


def test_forbidden_imports_fail_the_dependencies_goal(repo):
    targets = ["packages/lit-loops::", "packages/lit-hooks::"]
    clean = _pants(repo, "dependencies", *targets)
    assert clean.returncode == 0, clean.stderr[-4000:]

    # lit-loops may import lit-hooks and lit-data only.
    loops_init = repo / "packages/lit-loops/src/lit_loops/__init__.py"
    original = loops_init.read_text()
    _add_import(loops_init, "import lit_strategies")
    broken = _pants(repo, "dependencies", *targets)
    assert broken.returncode != 0
    assert "DependencyRuleActionDeniedError" in broken.stderr or "Dependency rule violation" in broken.stderr
    assert "packages/lit-loops" in broken.stderr and "packages/lit-strategies" in broken.stderr
    loops_init.write_text(original)

    # lit-hooks may not quietly use a third-party package outside its group.
    hooks_init = repo / "packages/lit-hooks/src/lit_hooks/__init__.py"
    _add_import(hooks_init, "import tensorboard")
    broken = _pants(repo, "dependencies", *targets)
    assert broken.returncode != 0
    assert "tools/deps/tensorboard" in broken.stderr
