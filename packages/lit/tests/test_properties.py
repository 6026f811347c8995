"""Property tests: accumulation equivalence, epoch reductions, and step/validation counts."""

from __future__ import annotations

from typing import Any

import torch
from conftest import make_trainer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

from lit.core.module import LightningModule
from lit.demos.boring_classes import BoringModel, RandomDataset

_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class LinearRegression(LightningModule):
    def __init__(self, features: int, init: torch.Tensor) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(features, 1, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(init)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.05)


@_SETTINGS
@given(
    k=st.integers(1, 4),
    b=st.integers(1, 4),
    groups=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_accumulation_equals_larger_batch(tmp_path: Any, k: int, b: int, groups: int, seed: int) -> None:
    """accumulate_grad_batches=k with batch b gives the weights of batch k*b (mean loss, linear model)."""
    g = torch.Generator().manual_seed(seed)
    n = k * b * groups
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = torch.randn(n, 1, generator=g, dtype=torch.float64)
    init = torch.randn(1, 3, generator=g, dtype=torch.float64)
    weights = []
    for batch_size, accumulate in ((b, k), (k * b, 1)):
        model = LinearRegression(3, init).double()
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
        trainer = make_trainer(
            tmp_path, max_epochs=2, accumulate_grad_batches=accumulate, num_sanity_val_steps=0
        )
        trainer.fit(model, loader)
        assert trainer.global_step == 2 * groups
        weights.append(model.layer.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-9, atol=1e-12)


@_SETTINGS
@given(
    entries=st.lists(
        st.tuples(st.floats(-100, 100, allow_nan=False, width=32), st.integers(1, 9)), min_size=1, max_size=12
    ),
    reduce=st.sampled_from(["mean", "sum", "max", "min"]),
)
def test_epoch_reduction_matches_direct_computation(
    tmp_path: Any, entries: list[tuple[float, int]], reduce: str
) -> None:
    values = [v for v, _ in entries]
    sizes = [s for _, s in entries]

    class Logs(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.log(
                "m",
                values[batch_idx],
                on_step=False,
                on_epoch=True,
                reduce_fx=reduce,
                batch_size=sizes[batch_idx],
            )
            return super().training_step(batch, batch_idx)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(RandomDataset(32, len(values)))

    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0)
    trainer.fit(Logs())
    vals = torch.tensor(values, dtype=torch.float32)
    expected = {
        "mean": (vals * torch.tensor(sizes, dtype=torch.float32)).sum() / sum(sizes),
        "sum": vals.sum(),
        "max": vals.max(),
        "min": vals.min(),
    }[reduce]
    torch.testing.assert_close(trainer.callback_metrics["m"], expected, rtol=1e-5, atol=1e-4)


def _predict(n: int, limit: float, vci: float, max_steps: int, max_epochs: int) -> tuple[int, int]:
    n_train = min(n, limit) if isinstance(limit, int) else int(n * limit)
    val_every = vci if isinstance(vci, int) else max(1, int(n_train * vci))
    steps = vals = 0
    for _ in range(max_epochs):
        for i in range(n_train):
            steps += 1
            if (i + 1) % val_every == 0:
                vals += 1
            if steps == max_steps:
                return steps, vals
    return steps, vals


@st.composite
def _schedule(draw: Any) -> tuple[int, int | float, int | float, int, int]:
    n = draw(st.integers(1, 8))
    limit = draw(st.one_of(st.integers(1, 10), st.sampled_from([0.25, 0.5, 1.0])))
    n_train = min(n, limit) if isinstance(limit, int) else int(n * limit)
    if n_train == 0:
        limit = 1.0
        n_train = n
    vci = draw(st.one_of(st.integers(1, n_train), st.sampled_from([0.25, 0.5, 1.0])))
    max_steps = draw(st.one_of(st.just(-1), st.integers(1, 20)))
    max_epochs = draw(st.integers(1, 3))
    return n, limit, vci, max_steps, max_epochs


@_SETTINGS
@given(schedule=_schedule())
def test_limits_val_check_interval_and_max_steps_counts(tmp_path: Any, schedule: Any) -> None:
    n, limit, vci, max_steps, max_epochs = schedule
    val_runs: list[int] = []

    class Count(BoringModel):
        def train_dataloader(self) -> DataLoader:
            return DataLoader(RandomDataset(32, n))

        def on_validation_epoch_start(self) -> None:
            val_runs.append(self.global_step)

    trainer = make_trainer(
        tmp_path,
        max_epochs=max_epochs,
        max_steps=max_steps,
        limit_train_batches=limit,
        limit_val_batches=1,
        val_check_interval=vci,
        num_sanity_val_steps=0,
    )
    trainer.fit(Count())
    assert (trainer.global_step, len(val_runs)) == _predict(n, limit, vci, max_steps, max_epochs)
