"""The main job: ``python -m lit.demos.digits`` trains the digits classifier to >= 0.95 test accuracy."""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch

from lit.demos.digits import DigitsDataModule, load_digits, main


def test_digits_data_is_shipped_and_split() -> None:
    images, labels = load_digits()
    assert images.shape == (1797, 64) and labels.shape == (1797,)
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    assert torch.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    dm = DigitsDataModule(seed=0)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (1257, 269, 271)


def test_digits_main_reaches_accuracy(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    accuracy = main(["--epochs", "20", "--root-dir", str(tmp_path), "--no-progress-bar"])
    out = capsys.readouterr().out
    assert accuracy >= 0.95
    assert "test accuracy:" in out
    ckpt_line = next(line for line in out.splitlines() if line.startswith("checkpoint:"))
    logs_line = next(line for line in out.splitlines() if line.startswith("logs:"))
    ckpt = ckpt_line.split(":", 1)[1].strip()
    logs = logs_line.split(":", 1)[1].strip()
    assert os.path.isfile(ckpt) and os.path.isfile(os.path.join(logs, "metrics.csv"))
    loaded = torch.load(ckpt, weights_only=True)
    assert 0 <= loaded["epoch"] <= 20 and "state_dict" in loaded and "loops" in loaded


def test_digits_cli_rejects_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--epochs", "0"])
    assert "--epochs must be >= 1" in capsys.readouterr().err
