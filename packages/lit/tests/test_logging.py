"""``self.log`` / ``self.log_dict`` semantics and the trainer's metric dictionaries."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import torch
from conftest import make_trainer
from torch.utils.data import DataLoader

from lit.demos.boring_classes import BoringModel, RandomDataset
from lit_hooks import MisconfigurationException
from lit_hooks.testing import RecordingLogger


class Logs(BoringModel):
    """Logs with several reductions and levels; the values only depend on batch and dataloader indices."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        out = super().training_step(batch, batch_idx)
        self.log("b", batch_idx, on_step=True, on_epoch=True, reduce_fx="max")
        self.log("c", float(batch_idx), on_step=False, on_epoch=True, reduce_fx="sum", batch_size=3)
        return out

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.log("v", float(batch_idx + 10 * dataloader_idx), prog_bar=True)
        self.log("vs", float(batch_idx), on_step=True)

    def on_validation_epoch_end(self) -> None:
        self.log("ve", 5.0)

    def on_train_epoch_end(self) -> None:
        self.log("te", torch.tensor(7.0), prog_bar=True)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 64), batch_size=16)

    def val_dataloader(self) -> list[DataLoader]:
        return [
            DataLoader(RandomDataset(32, 64), batch_size=16),
            DataLoader(RandomDataset(32, 32), batch_size=16),
        ]


def _round(d: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in sorted(d.items())}


# Observed with Lightning 2.6.5 for the same module and Trainer settings.
REFERENCE_ROWS = [
    (1, {"b_step": 1.0, "epoch": 0.0}),
    (3, {"b_step": 3.0, "epoch": 0.0}),
    (0, {"vs_step/dataloader_idx_0": 0.0}),
    (1, {"vs_step/dataloader_idx_0": 1.0}),
    (2, {"vs_step/dataloader_idx_0": 2.0}),
    (3, {"vs_step/dataloader_idx_0": 3.0}),
    (0, {"vs_step/dataloader_idx_1": 0.0}),
    (1, {"vs_step/dataloader_idx_1": 1.0}),
    (3, {"epoch": 0.0, "v/dataloader_idx_0": 1.5, "v/dataloader_idx_1": 10.5, "ve": 5.0,
         "vs_epoch/dataloader_idx_0": 1.5, "vs_epoch/dataloader_idx_1": 0.5}),
    (3, {"b_epoch": 3.0, "c": 6.0, "epoch": 0.0, "te": 7.0}),
    (5, {"b_step": 1.0, "epoch": 1.0}),
    (7, {"b_step": 3.0, "epoch": 1.0}),
    (4, {"vs_step/dataloader_idx_0": 0.0}),
    (5, {"vs_step/dataloader_idx_0": 1.0}),
    (6, {"vs_step/dataloader_idx_0": 2.0}),
    (7, {"vs_step/dataloader_idx_0": 3.0}),
    (2, {"vs_step/dataloader_idx_1": 0.0}),
    (3, {"vs_step/dataloader_idx_1": 1.0}),
    (7, {"epoch": 1.0, "v/dataloader_idx_0": 1.5, "v/dataloader_idx_1": 10.5, "ve": 5.0,
         "vs_epoch/dataloader_idx_0": 1.5, "vs_epoch/dataloader_idx_1": 0.5}),
    (7, {"b_epoch": 3.0, "c": 6.0, "epoch": 1.0, "te": 7.0}),
]  # fmt: skip


def test_logged_rows_and_metric_dicts_match_reference(tmp_path: Any) -> None:
    logger = RecordingLogger()
    trainer = make_trainer(tmp_path, max_epochs=2, logger=logger, log_every_n_steps=2, num_sanity_val_steps=1)
    trainer.fit(Logs())
    rows = [(step, _round(m)) for step, m in logger.metrics]
    assert rows == REFERENCE_ROWS
    assert _round(trainer.callback_metrics) == {
        "b": 3.0, "b_epoch": 3.0, "b_step": 3.0, "c": 6.0, "te": 7.0,
        "v/dataloader_idx_0": 1.5, "v/dataloader_idx_1": 10.5, "ve": 5.0,
        "vs/dataloader_idx_0": 1.5, "vs/dataloader_idx_1": 0.5,
        "vs_epoch/dataloader_idx_0": 1.5, "vs_epoch/dataloader_idx_1": 0.5,
    }  # fmt: skip
    assert _round(trainer.progress_bar_metrics) == {
        "te": 7.0,
        "v/dataloader_idx_0": 1.5,
        "v/dataloader_idx_1": 10.5,
    }
    assert _round(trainer.logged_metrics)["vs_step/dataloader_idx_0"] == 3.0
    assert all(isinstance(v, float) for v in trainer.progress_bar_metrics.values())


def test_validate_returns_per_dataloader_with_epoch_end_values(tmp_path: Any) -> None:
    out = make_trainer(tmp_path).validate(Logs(), verbose=False)
    assert [_round(o) for o in out] == [
        {"v/dataloader_idx_0": 1.5, "ve": 5.0, "vs_epoch/dataloader_idx_0": 1.5},
        {"v/dataloader_idx_1": 10.5, "ve": 5.0, "vs_epoch/dataloader_idx_1": 0.5},
    ]


def test_logged_metrics_filled_without_logger_and_int_becomes_float(tmp_path: Any) -> None:
    class IntLog(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("n", 3, on_epoch=True)
            return super().training_step(batch, batch_idx)

    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(IntLog())
    assert trainer.logged_metrics["n_epoch"].dtype == torch.float32
    assert float(trainer.logged_metrics["n_epoch"]) == 3.0


def test_epoch_mean_weighted_by_batch_size(tmp_path: Any) -> None:
    class Weighted(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log(
                "w", float(batch_idx), on_step=False, on_epoch=True
            )  # batch size inferred from the batch
            self.log("given", float(batch_idx), on_step=False, on_epoch=True, batch_size=batch_idx + 1)
            return super().training_step(batch, batch_idx)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(RandomDataset(32, 10), batch_size=4)  # batches of 4, 4, 2

    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(Weighted())
    assert float(trainer.callback_metrics["w"]) == pytest.approx((0 * 4 + 1 * 4 + 2 * 2) / 10)
    assert float(trainer.callback_metrics["given"]) == pytest.approx((0 * 1 + 1 * 2 + 2 * 3) / 6)


def test_ambiguous_batch_size_warns(tmp_path: Any) -> None:
    class Ambiguous(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x", 1.0, on_epoch=True)
            return super().training_step(batch["a"], batch_idx)

        def train_dataloader(self) -> Any:
            return DataLoader([{"a": torch.randn(4, 32), "b": torch.randn(3, 1)}], batch_size=None)

    with pytest.warns(UserWarning, match="ambiguous collection"):
        make_trainer(tmp_path, max_epochs=1, limit_val_batches=0).fit(Ambiguous())


@pytest.mark.parametrize(
    "hook, kwargs, match",
    [
        ("on_fit_start", {}, "You can't `self.log\\(\\)` inside `on_fit_start`"),
        ("on_train_end", {}, "inside `on_train_end`"),
        ("configure_optimizers", {}, "inside `configure_optimizers`"),
        ("on_train_epoch_start", {"on_step": True}, "on_step=True"),
        ("training_step", {"on_step": False, "on_epoch": False}, "is not useful"),
        ("training_step", {"reduce_fx": "median"}, "reduce_fx"),
    ],
)
def test_logging_errors(tmp_path: Any, hook: str, kwargs: dict[str, Any], match: str) -> None:
    def log_here(self: Any, *args: Any) -> Any:
        self.log("x", 1.0, **kwargs)
        return getattr(BoringModel, hook)(self, *args)

    model_cls = type("Bad", (BoringModel,), {hook: log_here})
    with pytest.raises(MisconfigurationException, match=match):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(model_cls())


def test_log_value_errors_and_relog_with_other_args(tmp_path: Any) -> None:
    class Twice(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x", 1.0, prog_bar=batch_idx == 1)
            return super().training_step(batch, batch_idx)

    with pytest.raises(MisconfigurationException, match="twice"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(Twice())

    for value, match in ((torch.ones(2), "single element"), ({"a": {"b": 1}}, "nested"), ("s", "str")):

        class BadValue(BoringModel):
            def training_step(self, batch: Any, batch_idx: int, v: Any = value) -> Any:
                self.log("x", v)
                return super().training_step(batch, batch_idx)

        with pytest.raises(ValueError, match=match):
            make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(BadValue())

    class Suffix(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x/dataloader_idx_0", 1.0)
            return super().training_step(batch, batch_idx)

    with pytest.raises(MisconfigurationException, match="dataloader_idx"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Suffix())


def test_log_without_trainer_warns() -> None:
    with pytest.warns(UserWarning, match="not registered"):
        BoringModel().log("x", 1.0)


def test_log_dict_and_reductions(tmp_path: Any) -> None:
    class Dict(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log_dict({"mx": float(batch_idx), "mn": float(batch_idx) + 1}, reduce_fx=torch.max)
            self.log("lo", float(batch_idx), reduce_fx="min")
            self.log("sm", float(batch_idx), reduce_fx="sum")

    (out,) = make_trainer(tmp_path, limit_val_batches=4).validate(Dict(), verbose=False)
    assert out == {"mx": 3.0, "mn": 4.0, "lo": 0.0, "sm": 6.0}


def test_torchmetrics_metric_logged_computed_and_reset(tmp_path: Any) -> None:
    torchmetrics = pytest.importorskip("torchmetrics")

    class WithMetric(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.metric = torchmetrics.SumMetric()
            self.epoch_values: list[float] = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.metric(torch.tensor(float(batch_idx)))
            self.log("total", self.metric, on_step=False, on_epoch=True)
            return super().training_step(batch, batch_idx)

        def on_train_epoch_end(self) -> None:
            pass

    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=4, limit_val_batches=0)
    model = WithMetric()
    trainer.fit(model)
    assert float(trainer.callback_metrics["total"]) == 6.0  # reset between epochs, so not 12
    assert float(model.metric.compute()) == 0.0 or model.metric._update_count == 0

    class Unregistered(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            m = torchmetrics.SumMetric()
            m(torch.tensor(1.0))
            self.log("total", m)
            return super().training_step(batch, batch_idx)

    with pytest.raises(MisconfigurationException, match="attribute"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Unregistered())


def test_metric_collection_log_dict(tmp_path: Any) -> None:
    torchmetrics = pytest.importorskip("torchmetrics")

    class WithCollection(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.metrics = torchmetrics.MetricCollection(
                {"s": torchmetrics.SumMetric(), "m": torchmetrics.MaxMetric()}
            )

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.metrics(torch.tensor(float(batch_idx)))
            self.log_dict(self.metrics)

    (out,) = make_trainer(tmp_path, limit_val_batches=3).validate(WithCollection(), verbose=False)
    assert out == {"s": 3.0, "m": 2.0}


def test_log_every_n_steps(tmp_path: Any) -> None:
    class Step(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("x", float(batch_idx))
            return super().training_step(batch, batch_idx)

    logger = RecordingLogger()
    make_trainer(
        tmp_path,
        max_epochs=1,
        limit_train_batches=10,
        limit_val_batches=0,
        logger=logger,
        log_every_n_steps=3,
    ).fit(Step())
    assert [(s, m["x"]) for s, m in logger.metrics if "x" in m] == [(2, 2.0), (5, 5.0), (8, 8.0)]


def test_logging_does_not_move_or_sync_tensors(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accumulating step values must not call ``.item()``; only loggers and the bar convert."""
    calls = {"item": 0}
    original = torch.Tensor.item

    def counting_item(self: torch.Tensor) -> Any:
        if "torch" not in sys._getframe(1).f_code.co_filename:  # the DataLoader draws its seed with .item()
            calls["item"] += 1
        return original(self)

    class Many(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            out = super().training_step(batch, batch_idx)
            self.log("loss", out["loss"], on_epoch=True)
            return out

    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=40, limit_val_batches=0)
    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    trainer.fit(Many())
    monkeypatch.undo()
    assert calls["item"] == 0
    assert "loss_epoch" in trainer.callback_metrics


def test_sync_dist_goes_through_strategy_reduce(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = make_trainer(tmp_path, limit_val_batches=2)
    reduced: list[str] = []
    strategy = trainer.strategy
    original = strategy.reduce
    monkeypatch.setattr(type(strategy), "world_size", property(lambda self: getattr(self, "_fake_world", 1)))

    def fake_reduce(tensor: Any, group: Any = None, reduce_op: Any = "mean") -> Any:
        reduced.append(str(reduce_op))
        return original(tensor, group=group, reduce_op=reduce_op) * 2

    strategy.reduce = fake_reduce
    strategy._fake_world = 2  # pretend to be distributed so that sync_dist applies

    class Synced(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("s", 1.0, sync_dist=True)

    try:
        (out,) = trainer.validate(Synced(), verbose=False)
    finally:
        strategy._fake_world = 1
    assert reduced == ["sum", "sum"] and out == {"s": 1.0}
