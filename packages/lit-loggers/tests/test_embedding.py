"""The embedding story: loggers used from a plain PyTorch loop with only lit-loggers and lit-hooks installed."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from lit_hooks import LoggerProtocol
from lit_loggers import CSVLogger, TensorBoardLogger


def train(loggers: list, epochs: int = 2, batches: int = 5) -> list[float]:
    """A hand-written loop: no Trainer, no lit-loops; the loggers only see log_* calls."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = torch.randn(batches, 16, 4)
    target = data.sum(-1, keepdim=True)
    for logger in loggers:
        assert isinstance(logger, LoggerProtocol)
        logger.log_hyperparams({"lr": 0.1, "epochs": epochs, "model": {"hidden": 8}})
    losses = []
    step = 0
    for epoch in range(epochs):
        for x, y in zip(data, target):
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for logger in loggers:
                logger.log_metrics({"train_loss": loss.detach(), "epoch": epoch}, step=step)
            losses.append(loss.item())
            step += 1
        for logger in loggers:
            logger.log_metrics({"val_loss": losses[-1] * 2, "epoch": epoch}, step=step - 1)
    for logger in loggers:
        logger.finalize("success")
    return losses


def test_plain_loop_with_csv_and_tensorboard(tmp_path):
    csv_logger = CSVLogger(tmp_path, name="csv", flush_logs_every_n_steps=4)
    tb_logger = TensorBoardLogger(tmp_path, name="tb")
    losses = train([csv_logger, tb_logger])

    with open(os.path.join(csv_logger.log_dir, "metrics.csv"), newline="") as file:
        rows = list(csv.DictReader(file))
    train_rows = [r for r in rows if r["train_loss"]]
    assert [int(r["step"]) for r in train_rows] == list(range(10))
    assert [float(r["train_loss"]) for r in train_rows] == pytest.approx(losses)
    assert [(r["step"], float(r["val_loss"])) for r in rows if r["val_loss"]] == [
        ("4", pytest.approx(losses[4] * 2)),
        ("9", pytest.approx(losses[9] * 2)),
    ]
    assert (
        open(os.path.join(csv_logger.log_dir, "hparams.yaml")).read()
        == "epochs: 2\nlr: 0.1\nmodel:\n  hidden: 8\n"
    )

    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(tb_logger.log_dir)
    accumulator.Reload()
    events = accumulator.Scalars("train_loss")
    assert [e.step for e in events] == list(range(10))
    assert [e.value for e in events] == pytest.approx(losses, rel=1e-6)
    assert [(e.step, e.value) for e in accumulator.Scalars("epoch")][-1] == (9, 1.0)
    assert [e.value for e in accumulator.Scalars("hp_metric")] == [-1.0]


def test_metrics_are_kept_when_the_loop_raises(tmp_path):
    csv_logger = CSVLogger(tmp_path, name="csv")
    tb_logger = TensorBoardLogger(tmp_path, name="tb")
    with pytest.raises(FloatingPointError):
        with csv_logger, tb_logger:
            for step in range(3):
                csv_logger.log_metrics({"loss": float(step)}, step=step)
                tb_logger.log_metrics({"loss": float(step)}, step=step)
            raise FloatingPointError("loss is nan")
    with open(os.path.join(csv_logger.log_dir, "metrics.csv"), newline="") as file:
        assert [r["loss"] for r in csv.DictReader(file)] == ["0.0", "1.0", "2.0"]
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(tb_logger.log_dir)
    accumulator.Reload()
    assert [e.value for e in accumulator.Scalars("loss")] == [0.0, 1.0, 2.0]
