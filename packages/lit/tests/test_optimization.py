"""configure_optimizers formats, schedulers, accumulation, clipping, manual optimization and step hooks."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import make_trainer

from lit.core.optimizer import LightningOptimizer
from lit.demos.boring_classes import BoringModel, ManualOptimBoringModel
from lit_hooks import MisconfigurationException


def _with_optim(conf_fn: Any) -> BoringModel:
    return type("M", (BoringModel,), {"configure_optimizers": lambda self: conf_fn(self)})()


def _sgd(m: Any, lr: float = 0.1) -> torch.optim.SGD:
    return torch.optim.SGD(m.parameters(), lr=lr)


def _step_lr(o: Any) -> Any:
    return torch.optim.lr_scheduler.StepLR(o, 1)


def _tuple_format(m: Any) -> Any:
    o = _sgd(m)
    return [o], [_step_lr(o)]


def _dict_format(m: Any) -> Any:
    o = _sgd(m)
    return {"optimizer": o, "lr_scheduler": _step_lr(o)}


def _dict_config_format(m: Any) -> Any:
    o = _sgd(m)
    return {"optimizer": o, "lr_scheduler": {"scheduler": _step_lr(o), "interval": "step"}}


@pytest.mark.parametrize(
    "conf, n_scheds",
    [
        (_sgd, 0),
        (lambda m: [_sgd(m)], 0),
        (_tuple_format, 1),
        (_dict_format, 1),
        (_dict_config_format, 1),
        (lambda m: [{"optimizer": _sgd(m)}], 0),
    ],
)
def test_configure_optimizers_formats(tmp_path: Any, conf: Any, n_scheds: int) -> None:
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(_with_optim(conf))
    assert len(trainer.optimizers) == 1 and len(trainer.lr_scheduler_configs) == n_scheds
    assert trainer.global_step == 2


def test_configure_optimizers_none_warns_and_trains_nothing(tmp_path: Any) -> None:
    model = _with_optim(lambda m: None)
    before = model.layer.weight.detach().clone()
    with pytest.warns(UserWarning, match="no optimizer"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(model)
    assert torch.equal(before, model.layer.weight)


def _bad_interval(m: Any) -> Any:
    o = _sgd(m)
    return {"optimizer": o, "lr_scheduler": {"scheduler": _step_lr(o), "interval": "hour"}}


def _plateau_without_monitor(m: Any) -> Any:
    o = _sgd(m)
    return [o], [torch.optim.lr_scheduler.ReduceLROnPlateau(o)]


def _plateau_dict_without_monitor(m: Any) -> Any:
    o = _sgd(m)
    return {"optimizer": o, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(o)}}


@pytest.mark.parametrize(
    "conf, match",
    [
        (lambda m: "adam", "Unknown configuration"),
        (lambda m: {"lr_scheduler": None}, "optimizer"),
        (lambda m: [_sgd(m), _sgd(m)], "multiple optimizers"),
        (_bad_interval, '"step" or "epoch"'),
        (_plateau_without_monitor, "monitor"),
        (_plateau_dict_without_monitor, "monitor"),
        (lambda m: ([_sgd(m)], [_step_lr(_sgd(m))]), "wasn't returned"),
    ],
)
def test_configure_optimizers_errors(tmp_path: Any, conf: Any, match: str) -> None:
    with pytest.raises((MisconfigurationException, RuntimeError), match=match):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(
            _with_optim(conf)
        )


def test_scheduler_interval_and_frequency(tmp_path: Any) -> None:
    def conf(m: Any) -> Any:
        o = _sgd(m, lr=1.0)
        return {
            "optimizer": o,
            "lr_scheduler": {
                "scheduler": torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5),
                "interval": "step",
                "frequency": 2,
            },
        }

    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=6, limit_val_batches=0)
    trainer.fit(_with_optim(conf))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.5**3)
    progress = trainer.fit_loop.epoch_loop.scheduler_progress
    assert progress.total.completed == 3

    epoch_model = BoringModel()  # StepLR(step_size=1) per epoch, lr 0.1
    trainer = make_trainer(tmp_path, max_epochs=3, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(epoch_model)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.1**3)


def test_reduce_on_plateau_uses_monitor_and_strict(tmp_path: Any) -> None:
    class Plateau(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self.log("val_metric", 1.0)

        def configure_optimizers(self) -> Any:
            o = _sgd(self, lr=1.0)
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0, factor=0.5)
            return {"optimizer": o, "lr_scheduler": sched, "monitor": "val_metric"}

    trainer = make_trainer(tmp_path, max_epochs=3, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(Plateau())
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.25)

    class Missing(Plateau):
        def configure_optimizers(self) -> Any:
            o = _sgd(self)
            return {
                "optimizer": o,
                "lr_scheduler": torch.optim.lr_scheduler.ReduceLROnPlateau(o),
                "monitor": "nope",
            }

    with pytest.raises(MisconfigurationException, match="nope.*Available metrics"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1).fit(Missing())

    class NotStrict(Plateau):
        def configure_optimizers(self) -> Any:
            o = _sgd(self)
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(o)
            return {"optimizer": o, "lr_scheduler": {"scheduler": s, "monitor": "nope", "strict": False}}

    with pytest.warns(RuntimeWarning, match="strict is set to `False`"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1).fit(NotStrict())


def test_gradient_accumulation_steps_and_zero_grad(tmp_path: Any) -> None:
    zero_grads: list[int] = []

    class Acc(BoringModel):
        def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Any) -> None:
            zero_grads.append(batch_idx)
            optimizer.zero_grad()

    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=5, limit_val_batches=0, accumulate_grad_batches=2
    )
    trainer.fit(Acc())
    assert trainer.global_step == 3  # trailing partial accumulation still steps
    assert zero_grads == [0, 2, 4]


def test_gradient_clipping_norm_and_value(tmp_path: Any) -> None:
    norms: list[float] = []

    class Clip(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"loss": self(batch).sum() * 1000}

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            pass

        def optimizer_step(
            self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
        ) -> None:
            optimizer_closure_out = optimizer.step(closure=optimizer_closure)
            del optimizer_closure_out

        def configure_gradient_clipping(
            self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
        ) -> None:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            grads = [p.grad for p in self.parameters()]
            norms.append(
                float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
            )
            maxes.append(float(max(g.abs().max() for g in grads)))

    maxes: list[float] = []
    make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0, gradient_clip_val=0.5
    ).fit(Clip())
    assert all(n == pytest.approx(0.5, rel=1e-4) for n in norms)
    maxes.clear()
    make_trainer(
        tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        gradient_clip_val=0.01,
        gradient_clip_algorithm="value",
    ).fit(Clip())
    assert all(m <= 0.01 + 1e-7 for m in maxes)


def test_clipping_conflicts(tmp_path: Any) -> None:
    class Conflict(BoringModel):
        def configure_gradient_clipping(
            self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
        ) -> None:
            self.clip_gradients(optimizer, gradient_clip_val=2.0)

    with pytest.raises(MisconfigurationException, match="Please use only one of them"):
        make_trainer(
            tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0, gradient_clip_val=1.0
        ).fit(Conflict())


def test_training_step_none_skips_and_dict_needs_loss(tmp_path: Any) -> None:
    outputs: list[Any] = []

    class Skip(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return None if batch_idx % 2 == 0 else super().training_step(batch, batch_idx)

        def on_train_batch_end(self, out: Any, batch: Any, batch_idx: int) -> None:
            outputs.append(sorted(out))

    model = Skip()
    make_trainer(tmp_path, max_epochs=1, limit_train_batches=4, limit_val_batches=0).fit(model)
    assert outputs == [[], ["loss"], [], ["loss"]]

    class NoLoss(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return {"x": self.step(batch)}

    with pytest.raises(MisconfigurationException, match="'loss' key"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(NoLoss())


def test_on_train_batch_start_minus_one_ends_epoch(tmp_path: Any) -> None:
    class Stop(BoringModel):
        def on_train_batch_start(self, batch: Any, batch_idx: int) -> Any:
            return -1 if batch_idx == 2 else None

    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=5, limit_val_batches=0)
    trainer.fit(Stop())
    assert trainer.global_step == 4 and trainer.current_epoch == 2


def test_optimizer_step_receives_lightning_optimizer(tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    class Spy(BoringModel):
        def optimizer_step(
            self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
        ) -> None:
            seen["step"] = optimizer
            optimizer.step(closure=optimizer_closure)

        def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Any) -> None:
            seen["zero"] = optimizer
            optimizer.zero_grad()

    make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Spy())
    assert isinstance(seen["step"], LightningOptimizer) and isinstance(seen["step"], torch.optim.SGD)
    assert type(seen["step"]).__name__ == "LightningSGD"
    assert type(seen["zero"]) is torch.optim.SGD


def test_closure_not_called_raises(tmp_path: Any) -> None:
    class NoClosure(BoringModel):
        def optimizer_step(
            self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
        ) -> None:
            pass

    with pytest.raises(MisconfigurationException, match="closure"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(NoClosure())


def test_manual_optimization(tmp_path: Any) -> None:
    model = ManualOptimBoringModel()
    before = model.layer.weight.detach().clone()
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0)
    trainer.fit(model)
    assert trainer.global_step == 3 and not torch.equal(before, model.layer.weight)
    assert isinstance(model.optimizers(), LightningOptimizer)
    assert isinstance(model.optimizers(use_pl_optimizer=False), torch.optim.SGD)
    assert isinstance(model.lr_schedulers(), torch.optim.lr_scheduler.StepLR)
    for kwargs in ({"accumulate_grad_batches": 2}, {"gradient_clip_val": 1.0}):
        with pytest.raises(MisconfigurationException, match="manual optimization"):
            make_trainer(tmp_path, max_epochs=1, **kwargs).fit(ManualOptimBoringModel())


def test_manual_backward_requires_manual_mode(tmp_path: Any) -> None:
    class Wrong(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            self.manual_backward(self.step(batch))

    with pytest.raises(MisconfigurationException, match="manual_backward"):
        make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Wrong())


def test_toggle_optimizer(tmp_path: Any) -> None:
    states: list[tuple[bool, bool]] = []

    class Two(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.other = torch.nn.Linear(32, 2)

        def training_step(self, batch: Any, batch_idx: int) -> None:
            a, b = self.optimizers()
            with self.toggled_optimizer(a):
                states.append((self.layer.weight.requires_grad, self.other.weight.requires_grad))
            self.toggle_optimizer(b)
            states.append((self.layer.weight.requires_grad, self.other.weight.requires_grad))
            self.untoggle_optimizer(b)
            states.append((self.layer.weight.requires_grad, self.other.weight.requires_grad))
            with b.toggle_model():
                states.append((self.layer.weight.requires_grad, self.other.weight.requires_grad))
            states.append((self.layer.weight.requires_grad, self.other.weight.requires_grad))

        def configure_optimizers(self) -> Any:
            return [
                torch.optim.SGD(self.layer.parameters(), lr=0.1),
                torch.optim.SGD(self.other.parameters(), lr=0.1),
            ]

    make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0).fit(Two())
    assert states == [(True, False), (False, True), (True, True), (False, True), (True, True)]


def test_custom_backward_and_step_hooks_are_used(tmp_path: Any) -> None:
    calls: list[str] = []

    class Custom(BoringModel):
        def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
            calls.append("backward")
            loss.backward(*args, **kwargs)

        def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
            calls.append("sched")
            scheduler.step()

    make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(Custom())
    assert calls == ["backward", "backward", "sched"]
