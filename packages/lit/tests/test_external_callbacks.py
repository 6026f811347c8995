"""Callbacks advertised by installed packages through entry points join every Trainer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import lit as L
import lit_callbacks._external


def test_trainer_adds_callbacks_from_both_entry_point_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "lit_ext_plugin.py").write_text(textwrap.dedent("""
        from lit_hooks import Callback

        class Mine(Callback):
            pass

        class FromLightningGroup(Callback):
            pass

        def mine():
            return Mine()

        def lightning_style():
            return [FromLightningGroup()]
        """))
    dist = tmp_path / "lit_ext_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lit-ext-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lit.callbacks_factory]\nmine = lit_ext_plugin:mine\n\n"
        "[lightning.pytorch.callbacks_factory]\nother = lit_ext_plugin:lightning_style\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lit_callbacks._external, "_ENTRY_POINTS", {})

    first = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    second = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    names = [type(c).__name__ for c in first.callbacks]
    assert "Mine" in names and "FromLightningGroup" in names
    # every Trainer gets its own instances
    mine = [c for c in first.callbacks if type(c).__name__ == "Mine"][0]
    assert all(c is not mine for c in second.callbacks)
