"""The public API of `lit_callbacks` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit_callbacks

EXPECTED = [
    "AdvancedProfiler",
    "BackboneFinetuning",
    "BaseFinetuning",
    "BasePredictionWriter",
    "BatchSizeFinder",
    "CALLBACKS_FACTORY_GROUPS",
    "Checkpoint",
    "DeviceStatsMonitor",
    "EMAWeightAveraging",
    "EarlyStopping",
    "EarlyStoppingReason",
    "GradientAccumulationScheduler",
    "LRFinderResult",
    "LambdaCallback",
    "LayerSummary",
    "LearningRateFinder",
    "LearningRateMonitor",
    "ModelCheckpoint",
    "ModelPruning",
    "ModelSummary",
    "OnExceptionCheckpoint",
    "PassThroughProfiler",
    "Profiler",
    "ProgressBar",
    "PyTorchProfiler",
    "RichModelSummary",
    "RichProgressBar",
    "RichProgressBarTheme",
    "SimpleProfiler",
    "SpikeDetection",
    "StochasticWeightAveraging",
    "Summary",
    "TQDMProgressBar",
    "Throughput",
    "ThroughputMonitor",
    "Timer",
    "TrainingSpikeException",
    "WeightAveraging",
    "WriteInterval",
    "XLAProfiler",
    "default_progress_bar",
    "get_available_flops",
    "get_formatted_model_size",
    "get_human_readable_count",
    "get_standard_metrics",
    "is_oom_error",
    "load_external_callbacks",
    "measure_flops",
    "profiler_from_alias",
    "summarize",
]


def test_public_api_is_pinned() -> None:
    assert sorted(lit_callbacks.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit_callbacks, name) is not None, name
