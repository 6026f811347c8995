from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, RecordingLogger, loader
from torch import nn
from torch.optim.swa_utils import SWALR

from lit_callbacks import (
    BackboneFinetuning,
    BaseFinetuning,
    BasePredictionWriter,
    DeviceStatsMonitor,
    EMAWeightAveraging,
    LambdaCallback,
    ModelPruning,
    SpikeDetection,
    StochasticWeightAveraging,
    Throughput,
    ThroughputMonitor,
    TrainingSpikeException,
    WeightAveraging,
    load_external_callbacks,
    measure_flops,
)
from lit_hooks import Callback, MisconfigurationException


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------------------------------ prediction writer


def test_prediction_writer_intervals() -> None:
    calls: list[tuple[str, Any]] = []

    class Writer(BasePredictionWriter):
        def write_on_batch_end(
            self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx
        ):
            calls.append(("batch", (batch_idx, batch_indices, tuple(prediction.shape))))

        def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices):
            calls.append(("epoch", (len(predictions), batch_indices)))

    FakeTrainer([Writer("batch_and_epoch")]).predict(BoringModule(), loader(2, batch_size=3))
    assert calls == [
        ("batch", (0, [0, 1, 2], (3, 2))),
        ("batch", (1, [3, 4, 5], (3, 2))),
        ("epoch", (2, [[[0, 1, 2], [3, 4, 5]]])),
    ]
    calls.clear()
    FakeTrainer([Writer("epoch")]).predict(BoringModule(), loader(2))
    assert [c[0] for c in calls] == ["epoch"]
    with pytest.raises(MisconfigurationException, match="'batch', 'epoch', 'batch_and_epoch'"):
        BasePredictionWriter("step")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        FakeTrainer([BasePredictionWriter()]).predict(BoringModule(), loader(1))


# ---------------------------------------------------------------------------------------------- finetuning


class WithBackbone(BoringModule):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        self.layer = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.backbone(x))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.layer.parameters(), lr=0.1)


def test_backbone_finetuning_schedule_and_resume() -> None:
    lrs: list[list[float]] = []
    frozen: list[bool] = []
    record = LambdaCallback(
        on_train_epoch_end=lambda t, m: (
            lrs.append([g["lr"] for g in t.optimizers[0].param_groups]),
            frozen.append(not m.backbone[0].weight.requires_grad),
        )
    )
    cb = BackboneFinetuning(unfreeze_backbone_at_epoch=1, lambda_func=lambda epoch: 1.5, train_bn=False)
    trainer = FakeTrainer([cb, record], max_epochs=4)
    module = WithBackbone()
    trainer.fit(module, loader(2))
    assert frozen == [True, False, False, False]
    assert lrs[0] == [0.1]
    assert lrs[1] == [0.1, pytest.approx(0.01)]
    assert lrs[2] == [0.1, pytest.approx(0.015)]
    assert lrs[3] == [0.1, pytest.approx(0.0225)]
    state = cb.state_dict()
    assert state["previous_backbone_lr"] == pytest.approx(0.0225)
    names = [g["params"] for g in state["internal_optimizer_metadata"][0]]
    # with train_bn=False the BatchNorm parameters are not handed to the optimizer
    assert names == [["layer.weight", "layer.bias"], ["backbone.0.weight", "backbone.0.bias"]]
    # resuming rebuilds the optimizer's param groups from the names
    ckpt = trainer.save_checkpoint()
    cb2 = BackboneFinetuning(unfreeze_backbone_at_epoch=1)
    trainer2 = FakeTrainer([cb2], max_epochs=5)
    module2 = WithBackbone()
    trainer2.fit(module2, loader(2), ckpt=ckpt)
    groups = trainer2.optimizers[0].param_groups
    assert len(groups) == 2 and groups[1]["params"][0] is module2.backbone[0].weight


def test_base_finetuning_static_helpers() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 2)))
    assert [type(m).__name__ for m in BaseFinetuning.flatten_modules(net)] == [
        "Linear",
        "BatchNorm1d",
        "Linear",
    ]
    BaseFinetuning.freeze(net, train_bn=True)
    assert [p.requires_grad for p in net.parameters()] == [False, False, True, True, False, False]
    assert list(BaseFinetuning.filter_params(net, train_bn=False, requires_grad=False)) == [
        net[0].weight, net[0].bias, net[1][1].weight, net[1][1].bias
    ]  # fmt: skip
    opt = torch.optim.SGD(net[0].parameters(), lr=1.0)
    with pytest.warns(UserWarning, match="already exist within another group"):
        BaseFinetuning.unfreeze_and_add_param_group(net, opt, initial_denom_lr=4.0)
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.25
    assert len(opt.param_groups[1]["params"]) == 4
    with pytest.raises(MisconfigurationException, match="backbone"):
        FakeTrainer([BackboneFinetuning()]).fit(BoringModule(), loader(1))


# --------------------------------------------------------------------------------------------- SWA / averaging


def test_swa_averages_epoch_start_weights_and_swaps_scheduler() -> None:
    snaps: list[dict[str, torch.Tensor]] = []
    record = LambdaCallback(on_train_epoch_start=lambda t, m: snaps.append(_snapshot(m)))
    swa = StochasticWeightAveraging(swa_lrs=0.05, swa_epoch_start=2, annealing_epochs=1)
    trainer = FakeTrainer([record, swa], max_epochs=4)
    module = BoringModule()
    trainer.fit(module, loader(3))
    expected = {k: torch.stack([s[k] for s in snaps[1:4]]).mean(0) for k in snaps[0]}
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, expected[k])
    assert isinstance(trainer.lr_scheduler_configs[0].scheduler, SWALR)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05)
    state = swa.state_dict()
    assert state["n_averaged"] == 3 and state["latest_update_epoch"] == 3
    assert set(state) == {"n_averaged", "latest_update_epoch", "scheduler_state", "average_model_state"}


def test_swa_recomputes_batch_norm_and_validates() -> None:
    class BN(BoringModule):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm1d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(self.layer(x))

    module = BN()
    trainer = FakeTrainer([StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=1)], max_epochs=2)
    data = loader(3)
    trainer.fit(module, data)
    ref = copy.deepcopy(module)
    torch.optim.swa_utils.update_bn(data, ref)
    torch.testing.assert_close(module.bn.running_mean, ref.bn.running_mean)
    torch.testing.assert_close(module.bn.running_var, ref.bn.running_var)
    assert module.bn.momentum == 0.1
    with pytest.raises(MisconfigurationException, match="swa_epoch_start"):
        StochasticWeightAveraging(swa_lrs=0.1, swa_epoch_start=0)
    with pytest.raises(MisconfigurationException, match="swa_lrs"):
        StochasticWeightAveraging(swa_lrs=-1.0)
    with pytest.raises(MisconfigurationException, match="'cos' or 'linear'"):
        StochasticWeightAveraging(swa_lrs=0.1, annealing_strategy="exp")  # type: ignore[arg-type]


def test_ema_weight_averaging_math_validation_swap_and_checkpoint() -> None:
    after_step: list[dict[str, torch.Tensor]] = []
    in_val: list[dict[str, torch.Tensor]] = []
    ema = EMAWeightAveraging(decay=0.5)
    record = LambdaCallback(
        on_train_batch_end=lambda t, m, *a: after_step.append(_snapshot(m)),
        on_validation_epoch_start=lambda t, m: in_val.append(_snapshot(m)),
    )
    trainer = FakeTrainer([record, ema], max_epochs=1)
    module = BoringModule()
    trainer.fit(module, loader(3), loader(1))
    expected = {k: v.clone() for k, v in after_step[0].items()}
    for snap in after_step[1:]:
        expected = {k: 0.5 * expected[k] + 0.5 * snap[k] for k in expected}
    # validation runs on the average (the recording callback runs before EMA swaps, so it sees current weights)
    torch.testing.assert_close(in_val[0]["layer.weight"], after_step[-1]["layer.weight"])
    ckpt = trainer.save_checkpoint()
    for k, v in module.state_dict().items():  # copied in at train end
        torch.testing.assert_close(v, expected[k])
    torch.testing.assert_close(ckpt["state_dict"]["layer.weight"], expected["layer.weight"])
    assert "current_model_state" in ckpt and "n_averaged" in ckpt["averaging_state"]
    assert ema.state_dict() == {"latest_update_step": 3}


def test_ema_update_schedule_and_arguments() -> None:
    ema = EMAWeightAveraging(update_every_n_steps=2, update_starting_at_step=3, update_starting_at_epoch=1)
    assert [s for s in range(8) if ema.should_update(step_idx=s)] == [4, 6]
    assert [e for e in range(3) if ema.should_update(epoch_idx=e)] == [1, 2]
    assert WeightAveraging().should_update(step_idx=0) and not WeightAveraging().should_update(epoch_idx=0)
    with pytest.raises(ValueError, match="decay"):
        EMAWeightAveraging(decay=1.5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        WeightAveraging(foo=1)


def test_weight_averaging_sees_average_during_validation() -> None:
    seen: list[torch.Tensor] = []
    wa = WeightAveraging()
    record = LambdaCallback(
        on_validation_batch_start=lambda t, m, *a: seen.append(m.layer.weight.detach().clone())
    )
    steps: list[torch.Tensor] = []
    record2 = LambdaCallback(
        on_train_batch_end=lambda t, m, *a: steps.append(m.layer.weight.detach().clone())
    )
    FakeTrainer([record2, wa, record], max_epochs=1).fit(BoringModule(), loader(2), loader(1))
    torch.testing.assert_close(seen[0], torch.stack(steps).mean(0))


# ------------------------------------------------------------------------------------------------- pruning


def test_model_pruning_global_lottery_ticket_and_permanent() -> None:
    module = BoringModule()
    original = _snapshot(module)
    pruning = ModelPruning("l1_unstructured", amount=0.5, verbose=1)
    trainer = FakeTrainer([pruning], max_epochs=1)
    trainer.fit(module, loader(2))
    weights = torch.cat([module.layer.weight.flatten(), module.layer.bias.flatten()])
    assert int((weights == 0).sum()) == 5
    # lottery ticket: surviving weights are reset to their initial values
    kept = weights != 0
    init = torch.cat([original["layer.weight"].flatten(), original["layer.bias"].flatten()])
    torch.testing.assert_close(weights[kept], init[kept])
    # made permanent at the end of training
    assert not hasattr(module.layer, "weight_orig") and "weight" in module.layer._parameters


def test_model_pruning_checkpoint_and_structured() -> None:
    pruning = ModelPruning(
        "ln_structured", amount=1, pruning_dim=0, pruning_norm=1, use_global_unstructured=False,
        parameter_names=["weight"],
    )  # fmt: skip
    trainer = FakeTrainer(
        [pruning, LambdaCallback(on_train_epoch_end=lambda t, m: t.save_checkpoint("/dev/null"))]
    )
    module = BoringModule()
    trainer.fit(module, loader(2))
    ckpt = trainer.save_checkpoint()
    assert set(ckpt["state_dict"]) == {"layer.weight", "layer.bias"}
    assert int((module.layer.weight.abs().sum(1) == 0).sum()) == 1  # one output row pruned
    with pytest.raises(MisconfigurationException, match="pruning_dim"):
        ModelPruning("ln_structured", use_global_unstructured=False)
    with pytest.raises(MisconfigurationException, match="isn't available"):
        ModelPruning("magic")
    with pytest.raises(MisconfigurationException, match="unstructured"):
        ModelPruning("random_structured", pruning_dim=0)
    with pytest.raises(MisconfigurationException, match="missing"):
        ModelPruning("l1_unstructured", parameters_to_prune=[(nn.Linear(1, 1), "weight")]).setup(
            FakeTrainer(), BoringModule(), "fit"
        )


# ----------------------------------------------------------------------------------------------- throughput


def test_throughput_math() -> None:
    t = Throughput(available_flops=100.0, world_size=2, window_size=3)
    for i in range(1, 4):
        t.update(time=float(i), batches=i, samples=4 * i, lengths=40 * i, flops=10)
    m = t.compute()
    assert m["device/samples_per_sec"] == 4.0 and m["samples_per_sec"] == 8.0
    assert m["device/items_per_sec"] == 40.0 and m["batches_per_sec"] == 2.0
    assert m["flops_per_sec"] == 20.0 and m["device/flops_per_sec"] == 10.0 and m["device/mfu"] == 0.1
    with pytest.raises(ValueError, match="greater or equal than batches"):
        t.update(time=5.0, batches=9, samples=1)
    model = nn.Linear(4, 3, bias=False)
    assert measure_flops(model, lambda: model(torch.zeros(2, 4))) == 2 * 2 * 4 * 3
    assert measure_flops(model, lambda: model(torch.zeros(2, 4)), lambda y: y.sum()) == 2 * (
        2 * 2 * 4 * 3
    )  # forward + weight gradient


def test_throughput_monitor_logs_per_stage() -> None:
    logger = RecordingLogger()
    module = BoringModule()
    module.flops_per_batch = 1000  # type: ignore[attr-defined]
    monitor = ThroughputMonitor(batch_size_fn=len, window_size=2)
    trainer = FakeTrainer([monitor], loggers=[logger], max_epochs=1)
    trainer.fit(module, loader(3, batch_size=4), loader(2))
    trainer.test(module, loader(2))
    samples = [v for _, v in logger.values("train/samples")]
    assert samples == [4, 8, 12]
    assert len(logger.values("train/device/samples_per_sec")) == 2
    assert "train/device/flops_per_sec" in logger.metric_names()
    assert [v for _, v in logger.values("validate/batches")] == [1, 2]
    assert [v for _, v in logger.values("test/samples")] == [2, 4]
    with pytest.raises(TypeError, match="unexpected keyword"):
        ThroughputMonitor(len, windowsize=3)


# ------------------------------------------------------------------------------------------------ spikes


class Scripted(BoringModule):
    def __init__(self, losses: list[float]) -> None:
        super().__init__()
        self.losses = losses

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        out = super().training_step(batch, batch_idx)
        return out * 0 + self.losses[batch_idx]


def test_spike_detection_raises_and_records(tmp_path: Path) -> None:
    spike = SpikeDetection(window=3, warmup=1, exclude_batches_path=str(tmp_path))
    with pytest.raises(TrainingSpikeException, match="batch 4"):
        FakeTrainer([spike]).fit(Scripted([2.0, 1.5, 1.4, 1.3, 9.0, 1.0]), loader(6))
    assert json.loads((tmp_path / "skip_batches.json").read_text()) == [3, 4]
    # decreasing or small changes are not spikes; non-finite losses are
    spike = SpikeDetection(window=3, exclude_batches_path=str(tmp_path / "a.json"))
    FakeTrainer([spike]).fit(Scripted([2.0, 1.5, 2.5, 1.0]), loader(4))
    with pytest.raises(TrainingSpikeException):
        FakeTrainer([SpikeDetection(exclude_batches_path=str(tmp_path))]).fit(
            Scripted([1.0, float("nan")]), loader(2)
        )
    state = spike.state_dict()
    assert state["running"] == pytest.approx([1.5, 2.5, 1.0]) and state["last_val"] == 1.0
    restored = SpikeDetection(window=3)
    restored.load_state_dict(state)
    assert restored.running_mean.item() == pytest.approx(5.0 / 3)


# -------------------------------------------------------------------------------------------- device stats


def test_device_stats_monitor_logs_cpu_stats() -> None:
    pytest.importorskip("psutil")
    logger = RecordingLogger()
    FakeTrainer([DeviceStatsMonitor()], loggers=[logger]).fit(BoringModule(), loader(2), loader(1))
    keys = logger.metric_names()
    for hook in ("on_train_batch_start", "on_train_batch_end", "on_validation_batch_start"):
        assert f"DeviceStatsMonitor.{hook}/cpu_percent" in keys
        assert f"DeviceStatsMonitor.{hook}/cpu_vm_percent" in keys
    logger = RecordingLogger()
    FakeTrainer([DeviceStatsMonitor(cpu_stats=False)], loggers=[logger]).fit(BoringModule(), loader(2))
    assert logger.logged == []
    with pytest.raises(MisconfigurationException, match="logger=False"):
        FakeTrainer([DeviceStatsMonitor()]).fit(BoringModule(), loader(1))


# -------------------------------------------------------------------------------------- external callbacks


class ExternalCallback(Callback):
    pass


def test_external_callbacks_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ext_cb_plugin.py").write_text(textwrap.dedent("""
            from lit_hooks import Callback

            class A(Callback):
                pass

            class B(Callback):
                pass

            def many():
                return [A(), B()]

            def one():
                return A()
            """))
    dist = tmp_path / "ext_cb_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ext-cb-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[lit.callbacks_factory]\nmany = ext_cb_plugin:many\n\n"
        "[lightning.pytorch.callbacks_factory]\none = ext_cb_plugin:one\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import lit_callbacks._external

    monkeypatch.setattr(lit_callbacks._external, "_ENTRY_POINTS", {})  # forget an earlier scan
    callbacks = load_external_callbacks()
    assert [type(c).__name__ for c in callbacks] == ["A", "B", "A"]
    assert [type(c).__name__ for c in load_external_callbacks("lit.callbacks_factory")] == ["A", "B"]
    assert load_external_callbacks("no.such.group") == []
