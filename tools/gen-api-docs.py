"""Writes docs/packages/<dist>.md from each package's README and public API.

Run after changing a package's `__all__`:
    PYTHONPATH=$(ls -d packages/*/src | tr '\n' ':') python3.11 tools/gen-api-docs.py
integration_tests/test_docs.py checks that every public name is documented.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    "lit-hooks",
    "lit-data",
    "lit-precision",
    "lit-strategies",
    "lit-loops",
    "lit-callbacks",
    "lit-loggers",
    "lit",
]


def _summary(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    return first or "(no summary)"


def _deps(dist: str) -> list[str]:
    build = (ROOT / "packages" / dist / "BUILD").read_text()
    match = re.search(r"deps=\[(.*?)\]", build, re.S)
    return re.findall(r'"([^"]+)"', match.group(1)) if match else []


def _readme_intro(dist: str) -> str:
    text = (ROOT / "packages" / dist / "README.md").read_text()
    body = text.split("\n", 1)[1] if text.startswith("#") else text
    paragraphs = [p.strip() for p in body.strip().split("\n\n") if p.strip() and not p.startswith("```")]
    return paragraphs[0] if paragraphs else ""


def render(dist: str) -> str:
    module_name = dist.replace("-", "_")
    module = importlib.import_module(module_name)
    names = sorted(getattr(module, "__all__", []))
    deps = _deps(dist)
    lines = [
        f"# {dist} (`{module_name}`)",
        "",
        _readme_intro(dist),
        "",
        "**Depends on:** " + (", ".join(f"`{d}`" for d in deps) + ", " if deps else "") + "torch, numpy.",
        "",
        f"Package README: `packages/{dist}/README.md`.",
        "",
        "## Public API",
        "",
        f"`{module_name}.__all__` ({len(names)} names, pinned by a test):",
        "",
        "| name | what it is |",
        "|---|---|",
    ]
    for name in names:
        try:
            obj = getattr(module, name)
        except Exception:  # a lazily loaded name that cannot load here
            lines.append(f"| `{name}` | (lazily loaded) |")
            continue
        summary = _summary(obj).replace("|", "\\|")
        if isinstance(obj, (str, int, float, tuple, frozenset, dict)) and not inspect.isclass(obj):
            summary = "constant"
        lines.append(f"| `{name}` | {summary} |")
    if dist == "lit":
        src = ROOT / "packages" / "lit" / "src" / "lit"
        subs = sorted(
            str(p.relative_to(src.parent)).replace("/", ".").removesuffix(".__init__.py").removesuffix(".py")
            for p in src.rglob("*.py")
            if not p.name.startswith("_") or p.name == "__init__.py"
        )
        subs = [s for s in subs if s != "lit"]
        lines += [
            "",
            "## Module tree",
            "",
            "The submodules mirror `lightning.pytorch`, so imports such as",
            "`from lit.callbacks import ModelCheckpoint` work unchanged:",
            "",
            *[f"- `{s}`" for s in subs],
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    out = ROOT / "docs" / "packages"
    out.mkdir(parents=True, exist_ok=True)
    for dist in PACKAGES:
        (out / f"{dist}.md").write_text(render(dist))
        print(f"wrote docs/packages/{dist}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
