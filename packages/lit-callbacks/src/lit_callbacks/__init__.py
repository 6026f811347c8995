"""lit-callbacks: Lightning-compatible callbacks, progress bars, model summaries and profilers.

Place in the layering: depends only on ``lit_hooks``. Callbacks see the trainer through
``lit_hooks.TrainerProtocol``, so they run under the ``lit`` Trainer or any foreign loop that provides that
protocol. Optional back-ends (rich, tqdm, psutil, fsspec, torch_xla) are imported only when used.
"""

from __future__ import annotations

from lit_callbacks._batch_size_finder import BatchSizeFinder, is_oom_error
from lit_callbacks._checkpoint import Checkpoint, ModelCheckpoint, OnExceptionCheckpoint
from lit_callbacks._defaults import default_progress_bar
from lit_callbacks._device_stats import DeviceStatsMonitor
from lit_callbacks._early_stopping import EarlyStopping, EarlyStoppingReason
from lit_callbacks._external import CALLBACKS_FACTORY_GROUPS, load_external_callbacks
from lit_callbacks._finetuning import BackboneFinetuning, BaseFinetuning
from lit_callbacks._gradient_accumulation import GradientAccumulationScheduler
from lit_callbacks._lambda import LambdaCallback
from lit_callbacks._lr_finder import LearningRateFinder, LRFinderResult
from lit_callbacks._lr_monitor import LearningRateMonitor
from lit_callbacks._model_summary import (
    LayerSummary,
    get_formatted_model_size,
    get_human_readable_count,
    summarize,
)
from lit_callbacks._model_summary import ModelSummary as Summary
from lit_callbacks._model_summary_callback import ModelSummary, RichModelSummary
from lit_callbacks._prediction_writer import BasePredictionWriter, WriteInterval
from lit_callbacks._profilers import (
    AdvancedProfiler,
    PassThroughProfiler,
    Profiler,
    PyTorchProfiler,
    SimpleProfiler,
    XLAProfiler,
    profiler_from_alias,
)
from lit_callbacks._progress_bar import ProgressBar, get_standard_metrics
from lit_callbacks._pruning import ModelPruning
from lit_callbacks._rich_progress import RichProgressBar, RichProgressBarTheme
from lit_callbacks._spike import SpikeDetection, TrainingSpikeException
from lit_callbacks._swa import StochasticWeightAveraging
from lit_callbacks._throughput import Throughput, ThroughputMonitor, get_available_flops, measure_flops
from lit_callbacks._timer import Timer
from lit_callbacks._tqdm_progress import TQDMProgressBar
from lit_callbacks._weight_averaging import EMAWeightAveraging, WeightAveraging

__all__ = [
    "CALLBACKS_FACTORY_GROUPS",
    "AdvancedProfiler",
    "BackboneFinetuning",
    "BaseFinetuning",
    "BasePredictionWriter",
    "BatchSizeFinder",
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
