from __future__ import annotations

import io
import logging

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, loader
from rich.console import Console
from torch import nn

from lit_callbacks import LayerSummary, ModelSummary, RichModelSummary, get_human_readable_count, summarize


class Net(nn.Module):
    def __init__(self, example: bool = True) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.BatchNorm1d(64))
        self.head = nn.Linear(64, 10)
        self.extra = nn.Parameter(torch.zeros(5))
        self.example_input_array = torch.zeros(8, 32) if example else None
        self.head.eval()
        for p in self.encoder[0].parameters():
            p.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


EXPECTED_DEPTH_1 = "\n".join(  # noqa: FLY002
    [
        "  | Name         | Type       | Params | Mode  | FLOPs  | In sizes | Out sizes",
        "------------------------------------------------------------------------------------",
        "0 | encoder      | Sequential | 2.2 K  | train | 32.8 K | [8, 32]  | [8, 64]  ",
        "1 | head         | Linear     | 650    | eval  | 10.2 K | [8, 64]  | [8, 10]  ",
        "  | other params | n/a        | 5      | n/a   | n/a    | n/a      | n/a      ",
        "------------------------------------------------------------------------------------",
        "783       Trainable params",
        "2.1 K     Non-trainable params",
        "2.9 K     Total params",
        "0.012     Total estimated model params size (MB)",
        "4         Modules in train mode",
        "1         Modules in eval mode",
        "43.0 K    Total Flops",
    ]
)


def test_summary_table_matches_lightning_layout() -> None:
    model = Net()
    summary = summarize(model, max_depth=1)
    assert str(summary) == EXPECTED_DEPTH_1
    assert summary.total_parameters == 64 * 32 + 64 + 128 + 650 + 5
    assert summary.trainable_parameters == 783
    assert summary.total_flops == 2 * 8 * 32 * 64 + 2 * 8 * 64 * 10
    assert summary.total_training_modes == {"train": 4, "eval": 1}
    # the example forward leaves the modes as they were
    assert model.training and model.encoder.training and not model.head.training


def test_depths_and_sizes() -> None:
    s2 = summarize(Net(), max_depth=2)
    assert s2.layer_names == ["encoder", "encoder.0", "encoder.1", "encoder.2", "head"]
    assert s2.in_sizes[1] == [8, 32] and s2.out_sizes[4] == [8, 10]
    assert summarize(Net(), max_depth=-1).layer_names == s2.layer_names
    assert summarize(Net(), max_depth=0).layer_names == []
    no_example = summarize(Net(example=False))
    assert "In sizes" not in str(no_example) and no_example.total_flops == 0
    with pytest.raises(ValueError, match="-1, 0 or > 0"):
        summarize(Net(), max_depth=-2)


def test_layer_summary_and_counts() -> None:
    layer = LayerSummary(nn.Conv2d(3, 4, 3))
    assert layer.in_size == "?" and layer.num_parameters == 3 * 4 * 9 + 4
    layer._module(torch.zeros(1, 3, 8, 8))
    assert layer.in_size == [1, 3, 8, 8] and layer.out_size == [1, 4, 6, 6]
    assert [get_human_readable_count(n) for n in (0, 999, 1000, 123_456, 12_345_678, 10**15)] == [
        "0  ", "999  ", "1.0 K", "123 K", "12.3 M", "1,000 T"
    ]  # fmt: skip


def test_model_summary_callback_logs_at_fit_start(caplog: pytest.LogCaptureFixture) -> None:
    module = BoringModule()
    module.example_input_array = torch.zeros(3, 4)
    with caplog.at_level(logging.INFO, logger="lit_callbacks"):
        FakeTrainer([ModelSummary(max_depth=1)]).fit(module, loader(1))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "0 | layer | Linear | 10     | train | 48    | [3, 4]   | [3, 2]   " in text
    assert "10        Total params" in text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lit_callbacks"):
        FakeTrainer([ModelSummary(max_depth=0)]).fit(BoringModule(), loader(1))
    assert not caplog.records
    with pytest.raises(TypeError, match="unexpected keyword"):
        ModelSummary(header_style="bold")


def test_model_summary_only_on_global_zero(caplog: pytest.LogCaptureFixture) -> None:
    trainer = FakeTrainer([ModelSummary()])
    trainer.is_global_zero = False
    with caplog.at_level(logging.INFO, logger="lit_callbacks"):
        trainer.fit(BoringModule(), loader(1))
    assert not caplog.records


def test_rich_model_summary_renders_table() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=150, color_system=None)
    module = Net()
    cb = RichModelSummary(max_depth=2, console=console, header_style="bold")
    cb.on_fit_start(FakeTrainer([]), module)
    text = buf.getvalue()
    for cell in ("Name", "encoder.2", "BatchNorm1d", "In sizes", "[8, 64]", "FLOPs", "32.8 K"):
        assert cell in text
    assert "Trainable params: 783" in text and "Total FLOPs: 43.0 K" in text
    with pytest.raises(TypeError, match="unexpected keyword"):
        RichModelSummary(colour="red")
