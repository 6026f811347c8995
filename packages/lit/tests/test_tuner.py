"""The Tuner (``lr_find``, ``scale_batch_size``) and the ``LearningRateFinder``/``BatchSizeFinder`` callbacks."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from conftest import make_trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lit as L
from lit.callbacks import BatchSizeFinder, LearningRateFinder, TQDMProgressBar
from lit.tuner import Tuner
from lit.tuner.lr_finder import _LRFinder
from lit_callbacks import LRFinderResult, is_oom_error
from lit_callbacks._lr_finder import lr_find_schedule, suggest_lr_index
from lit_hooks import MisconfigurationException, MissingExtraError

OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824 bytes."


def regression_data(n: int = 64, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, 1, generator=g)
    return TensorDataset(x, x @ w)


class RegressionModel(L.LightningModule):
    """Linear regression with SGD (learning rate from ``self.lr``)."""

    def __init__(self, lr: float = 0.01, batch_size: int = 8) -> None:
        super().__init__()
        self.lr = lr
        self.batch_size = batch_size
        self.layer = nn.Linear(8, 1)
        self.seen_batch_sizes: list[int] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        self.seen_batch_sizes.append(len(x))
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(regression_data(), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(regression_data(16, seed=1), batch_size=self.batch_size)


class MemoryHungryModel(RegressionModel):
    """Its steps "run out of memory" (a CPU allocator error) when a batch holds more than ``limit`` samples."""

    def __init__(self, limit: int, batch_size: int = 2, eval_limit: int | None = None) -> None:
        super().__init__(lr=0.01, batch_size=batch_size)
        self.limit = limit
        self.eval_limit = limit if eval_limit is None else eval_limit

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if len(batch[0]) > self.limit:
            raise RuntimeError(OOM)
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if len(batch[0]) > self.eval_limit:
            raise RuntimeError(OOM)
        super().validation_step(batch, batch_idx)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(regression_data(256), batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(regression_data(256, seed=1), batch_size=self.batch_size)


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k, value in a.items():
        assert torch.equal(value, b[k]), k


# ---------------------------------------------------------------------------------------------------- lr_find
def test_lr_find_suggests_in_range_and_restores_everything(tmp_path: Any) -> None:
    model = RegressionModel(lr=0.01)
    before = weights(model)
    trainer = make_trainer(tmp_path, max_epochs=3)
    callbacks_before = list(trainer.callbacks)
    rng_before = torch.get_rng_state()
    result = Tuner(trainer).lr_find(model, min_lr=1e-5, max_lr=1.0, num_training=40, update_attr=False)
    assert isinstance(result, LRFinderResult) and isinstance(result, _LRFinder)
    lrs, losses = result.results["lr"], result.results["loss"]
    assert len(lrs) == len(losses) and 11 < len(lrs) <= 40
    assert lrs == lr_find_schedule(1e-5, 1.0, 40)[: len(lrs)]
    suggestion = result.suggestion()
    assert suggestion is not None and 1e-5 <= suggestion <= 1.0
    assert suggestion in lrs
    # the model and the trainer are left as they were
    assert_same_weights(before, weights(model))
    assert all(p.grad is None for p in model.parameters())
    assert model.lr == 0.01 and model.training
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert trainer.callbacks == callbacks_before
    assert trainer.global_step == 0 and trainer.current_epoch == 0
    assert trainer.state.status.value == "finished"


def test_lr_find_then_fit_equals_plain_fit(tmp_path: Any) -> None:
    torch.manual_seed(3)
    plain = RegressionModel(lr=0.05)
    tuned = RegressionModel(lr=0.05)
    tuned.load_state_dict(plain.state_dict())
    state = torch.get_rng_state()
    make_trainer(tmp_path, max_epochs=2).fit(plain)
    torch.set_rng_state(state)
    trainer = make_trainer(tmp_path, max_epochs=2)
    Tuner(trainer).lr_find(tuned, num_training=20, update_attr=False)
    trainer.fit(tuned)
    assert trainer.global_step == 16
    assert_same_weights(weights(plain), weights(tuned))


@pytest.mark.parametrize("holder", ["lr", "learning_rate", "hparams", "custom"])
def test_lr_find_updates_the_attribute(tmp_path: Any, holder: str) -> None:
    class Model(RegressionModel):
        def __init__(self) -> None:
            super().__init__()
            del self.lr
            if holder == "lr":
                self.lr = 0.01
            elif holder == "learning_rate":
                self.learning_rate = 0.01
            elif holder == "hparams":
                self.save_hyperparameters({"lr": 0.01})
            else:
                self.my_rate = 0.01

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    model = Model()
    attr = {"custom": "my_rate"}.get(holder, "")
    result = Tuner(make_trainer(tmp_path)).lr_find(model, num_training=30, attr_name=attr)
    assert result is not None
    suggestion = result.suggestion()
    assert suggestion is not None
    if holder == "hparams":
        assert model.hparams.lr == suggestion
    else:
        assert getattr(model, {"custom": "my_rate"}.get(holder, holder)) == suggestion


def test_lr_find_missing_attribute_is_explained(tmp_path: Any) -> None:
    class NoLr(RegressionModel):
        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = NoLr()
    del model.lr
    with pytest.raises(AttributeError, match=r"\('lr', 'learning_rate'\)"):
        Tuner(make_trainer(tmp_path)).lr_find(model, num_training=5)
    with pytest.raises(AttributeError, match="'nope'"):
        Tuner(make_trainer(tmp_path)).lr_find(model, num_training=5, attr_name="nope")


def test_lr_find_early_stop_threshold(tmp_path: Any) -> None:
    model = RegressionModel()
    stopped = Tuner(make_trainer(tmp_path, max_epochs=50)).lr_find(
        model, min_lr=1e-4, max_lr=100.0, num_training=60
    )
    assert stopped is not None and len(stopped.results["loss"]) < 60
    # the last point is the one that crossed the threshold
    losses = stopped.results["loss"]
    assert losses[-1] > 4.0 * min(losses[1:-1])
    full = Tuner(make_trainer(tmp_path, max_epochs=50)).lr_find(
        model, min_lr=1e-4, max_lr=100.0, num_training=60, early_stop_threshold=None, update_attr=False
    )
    assert full is not None and len(full.results["loss"]) == 60


def test_lr_find_linear_mode_records_the_schedule(tmp_path: Any) -> None:
    result = Tuner(make_trainer(tmp_path, max_epochs=5)).lr_find(
        RegressionModel(), min_lr=0.001, max_lr=0.01, num_training=20, mode="linear", update_attr=False
    )
    assert result is not None
    assert result.results["lr"] == pytest.approx(
        [0.001] + [0.001 + (i + 1) / 20 * 0.009 for i in range(1, 20)]
    )


def test_lr_finder_callback_tunes_then_trains(tmp_path: Any) -> None:
    model = RegressionModel(lr=0.5)
    finder = LearningRateFinder(num_training_steps=30)
    trainer = make_trainer(tmp_path, max_epochs=1, callbacks=[finder])
    trainer.fit(model)
    assert finder.optimal_lr is not None
    suggestion = finder.optimal_lr.suggestion()
    assert model.lr == suggestion
    assert trainer.optimizers[0].param_groups[0]["lr"] == suggestion
    assert trainer.global_step == 8  # the search steps are not counted
    assert model.seen_batch_sizes[-8:] == [8] * 8


def test_lr_find_shows_progress(tmp_path: Any, capsys: Any) -> None:
    trainer = make_trainer(tmp_path, enable_progress_bar=True, callbacks=[TQDMProgressBar()])
    Tuner(trainer).lr_find(RegressionModel(), num_training=15, update_attr=False)
    out = capsys.readouterr().out
    assert "Finding best initial lr" in out and "15/15" in out


def test_lr_find_rejects_bad_arguments(tmp_path: Any) -> None:
    tuner = Tuner(make_trainer(tmp_path))
    model = RegressionModel()
    with pytest.raises(ValueError, match=r"\('linear', 'exponential'\)"):
        tuner.lr_find(model, mode="cubic")
    with pytest.raises(MisconfigurationException, match="method='fit' is the only valid"):
        tuner.lr_find(model, method="validate")
    with pytest.raises(ValueError, match="larger than `min_lr"):
        tuner.lr_find(model, min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="integer >= 1"):
        tuner.lr_find(model, num_training=0)
    with pytest.raises(MisconfigurationException, match="`dataloaders` argument should be None"):
        tuner.lr_find(model, dataloaders=model.train_dataloader())
    trainer = make_trainer(tmp_path, callbacks=[LearningRateFinder()])
    with pytest.raises(ValueError, match="already configured with a `LearningRateFinder`"):
        Tuner(trainer).lr_find(model)


def test_lr_find_needs_a_single_optimizer(tmp_path: Any) -> None:
    class TwoOptimizers(RegressionModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

        def training_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def configure_optimizers(self) -> Any:
            return [torch.optim.SGD(self.parameters(), lr=0.1), torch.optim.Adam(self.parameters())]

    with pytest.raises(MisconfigurationException, match="single optimizer"):
        Tuner(make_trainer(tmp_path)).lr_find(TwoOptimizers(), num_training=5)


def test_lr_find_is_skipped_with_fast_dev_run(tmp_path: Any) -> None:
    model = RegressionModel()
    before = weights(model)
    assert Tuner(make_trainer(tmp_path, fast_dev_run=True)).lr_find(model) is None
    assert_same_weights(before, weights(model))


def test_suggestion_and_plot() -> None:
    result = LRFinderResult("exponential", 1e-3, 1.0, 4)
    result.results = {"lr": [1.0, 2.0, 3.0, 4.0, 5.0], "loss": [4.0, 3.9, 3.0, 0.5, 0.4]}
    assert result.suggestion(skip_begin=0, skip_end=0) == 3.0
    assert result.suggestion(skip_begin=1, skip_end=1) == 4.0
    assert result.suggestion(skip_begin=4, skip_end=0) is None
    assert suggest_lr_index([1.0, 2.0, 3.0], [float("nan"), 2.0, 1.0], skip_begin=0, skip_end=0) == 1
    if importlib.util.find_spec("matplotlib") is None:
        with pytest.raises(MissingExtraError, match=r"lit\[plot\]"):
            result.plot(suggest=True, show=False)
        return
    import matplotlib

    matplotlib.use("Agg")
    assert result.suggestion(skip_begin=4, skip_end=0) is None
    fig = result.plot(suggest=True, show=False)
    assert len(fig.axes[0].lines) == 1  # no suggestion: only the curve
    assert result.suggestion(skip_begin=0, skip_end=0) == 3.0
    fig = result.plot(suggest=True, show=False)
    assert len(fig.axes[0].lines) == 2  # the curve and the suggested point
    x, y = fig.axes[0].lines[1].get_data()
    assert list(x) == [3.0]


# ---------------------------------------------------------------------------------------------------- batch size
@pytest.mark.parametrize(
    "mode, limit, kwargs, expected",
    [
        ("power", 40, {}, 32),
        ("power", 7, {}, 4),
        ("power", 1000, {"max_val": 20}, 20),
        ("power", 1000, {"max_trials": 3}, 8),
        ("binsearch", 40, {"margin": 0.0}, 40),
        ("binsearch", 40, {}, 38),
        ("binsearch", 40, {"margin": 0.5}, 20),
        ("binsearch", 1000, {"max_val": 100, "margin": 0.0}, 100),
    ],
)
def test_scale_batch_size_finds_the_largest_size(
    tmp_path: Any, mode: str, limit: int, kwargs: dict[str, Any], expected: int
) -> None:
    model = MemoryHungryModel(limit=limit)
    before = weights(model)
    trainer = make_trainer(tmp_path, max_epochs=1)
    found = Tuner(trainer).scale_batch_size(model, mode=mode, steps_per_trial=2, **kwargs)
    assert found == expected
    assert model.batch_size == expected
    assert_same_weights(before, weights(model))
    assert trainer.global_step == 0
    assert not any(isinstance(cb, BatchSizeFinder) for cb in trainer.callbacks)
    # the next fit uses the found size
    model.seen_batch_sizes.clear()
    make_trainer(tmp_path, max_steps=2).fit(model)
    assert model.seen_batch_sizes == [expected, expected]


def test_scale_batch_size_stops_at_the_dataset_length(tmp_path: Any) -> None:
    model = RegressionModel(batch_size=2)  # 64 samples
    found = Tuner(make_trainer(tmp_path)).scale_batch_size(model, steps_per_trial=1)
    assert found == 64 and model.batch_size == 64


def test_scale_batch_size_validation_oom_counts_in_fit(tmp_path: Any) -> None:
    model = MemoryHungryModel(limit=1000, eval_limit=20)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=2)
    assert Tuner(trainer).scale_batch_size(model, steps_per_trial=2) == 16


def test_scale_batch_size_updates_the_datamodule(tmp_path: Any) -> None:
    class DataModule(L.LightningDataModule):
        def __init__(self) -> None:
            super().__init__()
            self.batch_size = 2

        def train_dataloader(self) -> DataLoader:
            return DataLoader(regression_data(256), batch_size=self.batch_size)

    class Model(MemoryHungryModel):
        def __init__(self) -> None:
            super().__init__(limit=16)
            del self.batch_size

        def val_dataloader(self) -> DataLoader:
            return DataLoader(regression_data(16), batch_size=4)

    dm = DataModule()
    model = Model()
    found = Tuner(make_trainer(tmp_path)).scale_batch_size(model, datamodule=dm, steps_per_trial=1)
    assert found == 16 and dm.batch_size == 16
    assert not hasattr(model, "batch_size")


def test_scale_batch_size_updates_hparams(tmp_path: Any) -> None:
    class Model(MemoryHungryModel):
        def __init__(self) -> None:
            super().__init__(limit=10)
            del self.batch_size
            self.save_hyperparameters({"batch_size": 2})

        def train_dataloader(self) -> DataLoader:
            return DataLoader(regression_data(256), batch_size=self.hparams.batch_size)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(regression_data(16), batch_size=self.hparams.batch_size)

    model = Model()
    assert Tuner(make_trainer(tmp_path)).scale_batch_size(model, steps_per_trial=1) == 8
    assert model.hparams.batch_size == 8


@pytest.mark.parametrize("method", ["validate", "test", "predict"])
def test_scale_batch_size_for_evaluation(tmp_path: Any, method: str) -> None:
    class Model(MemoryHungryModel):
        def test_step(self, batch: Any, batch_idx: int) -> None:
            self.validation_step(batch, batch_idx)

        def predict_step(self, batch: Any, batch_idx: int) -> Any:
            if len(batch[0]) > self.eval_limit:
                raise RuntimeError(OOM)
            return batch[0].sum()

        def test_dataloader(self) -> DataLoader:
            return self.val_dataloader()

        def predict_dataloader(self) -> DataLoader:
            return self.val_dataloader()

    model = Model(limit=0, eval_limit=50)
    found = Tuner(make_trainer(tmp_path)).scale_batch_size(model, method=method, mode="binsearch", margin=0.0)
    assert found == 50 and model.batch_size == 50


def test_batch_size_finder_callback_then_trains_with_the_found_size(tmp_path: Any) -> None:
    model = MemoryHungryModel(limit=24)
    finder = BatchSizeFinder(steps_per_trial=1)
    trainer = make_trainer(tmp_path, max_steps=3, callbacks=[finder])
    trainer.fit(model)
    assert finder.optimal_batch_size == 16
    assert model.seen_batch_sizes[-3:] == [16, 16, 16]
    assert trainer.global_step == 3


def test_batch_size_finder_callback_for_validate(tmp_path: Any) -> None:
    model = MemoryHungryModel(limit=0, eval_limit=12)
    model.train()
    finder = BatchSizeFinder(steps_per_trial=1)
    out = make_trainer(tmp_path, callbacks=[finder]).validate(model, verbose=False)
    assert finder.optimal_batch_size == 8
    assert len(out) == 1 and "val_loss" in out[0]
    assert model.training  # the evaluation put the module back in training mode


def test_scale_batch_size_rejects_bad_configurations(tmp_path: Any) -> None:
    tuner = Tuner(make_trainer(tmp_path))
    model = MemoryHungryModel(limit=8)
    with pytest.raises(ValueError, match=r"\('power', 'binsearch'\)"):
        tuner.scale_batch_size(model, mode="linear")
    with pytest.raises(ValueError, match="0 <= margin < 1"):
        tuner.scale_batch_size(model, margin=1.5)
    with pytest.raises(ValueError, match=r"\('fit', 'validate', 'test', 'predict'\)"):
        tuner.scale_batch_size(model, method="train")
    with pytest.raises(ValueError, match="integer >= 1"):
        tuner.scale_batch_size(model, init_val=0)
    with pytest.raises(MisconfigurationException, match="`train_dataloaders` and `val_dataloaders`"):
        tuner.scale_batch_size(model, method="validate", train_dataloaders=model.train_dataloader())
    with pytest.raises(MisconfigurationException, match="passed directly"):
        tuner.scale_batch_size(model, train_dataloaders=model.train_dataloader())
    with pytest.raises(MisconfigurationException, match="'bs' not found"):
        tuner.scale_batch_size(model, batch_arg_name="bs")
    trainer = make_trainer(tmp_path, callbacks=[BatchSizeFinder()])
    with pytest.raises(ValueError, match="already configured with a `BatchSizeFinder`"):
        Tuner(trainer).scale_batch_size(model)


def test_scale_batch_size_other_errors_propagate_and_state_is_restored(tmp_path: Any) -> None:
    class Broken(MemoryHungryModel):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if len(batch[0]) > 4:
                raise RuntimeError("shape mismatch")
            return super().training_step(batch, batch_idx)

    model = Broken(limit=1000)
    before = weights(model)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        Tuner(make_trainer(tmp_path)).scale_batch_size(model, steps_per_trial=1)
    assert_same_weights(before, weights(model))


def test_is_oom_error() -> None:
    assert is_oom_error(RuntimeError(OOM))
    assert is_oom_error(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"))
    assert not is_oom_error(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_oom_error(ValueError(OOM))


def test_scale_batch_size_is_skipped_with_fast_dev_run(tmp_path: Any) -> None:
    model = MemoryHungryModel(limit=8)
    assert Tuner(make_trainer(tmp_path, fast_dev_run=True)).scale_batch_size(model) is None
    assert model.batch_size == 2


def test_batch_size_finder_shows_progress(tmp_path: Any, capsys: Any) -> None:
    trainer = make_trainer(tmp_path, enable_progress_bar=True, callbacks=[TQDMProgressBar()])
    Tuner(trainer).scale_batch_size(MemoryHungryModel(limit=8), steps_per_trial=1)
    assert "Scaling batch size" in capsys.readouterr().out


def test_lr_finder_callback_without_update_leaves_training_unchanged(tmp_path: Any) -> None:
    torch.manual_seed(5)
    plain = RegressionModel(lr=0.05)
    searched = RegressionModel(lr=0.05)
    searched.load_state_dict(plain.state_dict())
    state = torch.get_rng_state()
    make_trainer(tmp_path, max_epochs=2).fit(plain)
    torch.set_rng_state(state)
    finder = LearningRateFinder(num_training_steps=12, update_attr=False)
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[finder])
    trainer.fit(searched)
    assert finder.optimal_lr is not None and len(finder.optimal_lr.results["lr"]) > 0
    assert trainer.global_step == 16
    assert_same_weights(weights(plain), weights(searched))


def test_batch_size_finder_in_the_middle_of_training(tmp_path: Any) -> None:
    class EpochFinder(BatchSizeFinder):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            return

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                self.scale_batch_size(trainer, pl_module)

    model = MemoryHungryModel(limit=8)
    finder = EpochFinder(steps_per_trial=1)
    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=3, callbacks=[finder])
    trainer.fit(model)
    assert finder.optimal_batch_size == 8
    assert model.seen_batch_sizes[:3] == [2, 2, 2]
    assert model.seen_batch_sizes[-3:] == [8, 8, 8]  # the epoch of the search already uses the new size
    assert trainer.global_step == 6 and trainer.current_epoch == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "cubic"}, r"\('linear', 'exponential'\)"),
        ({"min_lr": 0.0}, "min_lr=0.0"),
        ({"max_lr": float("inf")}, "finite number"),
        ({"early_stop_threshold": -1.0}, "or None"),
        ({"num_training_steps": 2.5}, "integer >= 1"),
    ],
)
def test_learning_rate_finder_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LearningRateFinder(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps_per_trial": 0}, "steps_per_trial=0"),
        ({"max_trials": -1}, "max_trials=-1"),
        ({"max_val": 0}, "max_val=0"),
        ({"batch_arg_name": ""}, "batch_arg_name=''"),
        ({"margin": -0.1}, "0 <= margin < 1"),
    ],
)
def test_batch_size_finder_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BatchSizeFinder(**kwargs)


def test_tuner_callbacks_need_a_trainer_with_tuning_sessions() -> None:
    from lit_loops import fit

    with pytest.raises(TypeError, match=r"tuning_session\(\)"):
        fit(RegressionModel(), callbacks=[LearningRateFinder(num_training_steps=5)])
