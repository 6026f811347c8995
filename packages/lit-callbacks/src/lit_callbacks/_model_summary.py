"""Model summaries: a table of layers with parameter counts, modes, sizes and FLOPs.

``lit.utilities.model_summary`` re-exports this module's public names.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from lit_hooks import WarningCache

PARAMETER_NUM_UNITS = [" ", "K", "M", "B", "T"]
UNKNOWN_SIZE = "?"
LEFTOVER_PARAMS_NAME = "other params"
NOT_APPLICABLE = "n/a"

_warning_cache = WarningCache()

_PRECISION_TO_BITS = {
    "64": 64,
    "32": 32,
    "16": 16,
    "bf16": 16,
    "16-true": 16,
    "bf16-true": 16,
    "32-true": 32,
    "64-true": 64,
    "16-mixed": 32,
    "bf16-mixed": 32,
}


class LayerSummary:
    """Summary of one module: type, parameter count, mode, and input/output shapes seen in one forward.

    Args:
        module: The module to summarize. A forward hook records the shapes of the first call, then removes
            itself.

    Example:
        >>> layer = LayerSummary(nn.Linear(3, 2))
        >>> _ = layer._module(torch.zeros(4, 3))
        >>> layer.layer_type, layer.num_parameters, layer.in_size, layer.out_size
        ('Linear', 8, [4, 3], [4, 2])
    """

    def __init__(self, module: nn.Module) -> None:
        self._module = module
        self._in_size: str | list[Any] | None = None
        self._out_size: str | list[Any] | None = None
        self._hook_handle = self._register_hook()

    def __del__(self) -> None:
        self.detach_hook()

    def _register_hook(self) -> Any:
        if isinstance(self._module, torch.jit.ScriptModule):
            return None

        def hook(_: nn.Module, args: Any, kwargs: Any, out: Any) -> None:
            inp = (*args, *kwargs.values()) if kwargs else args
            if len(inp) == 1:
                inp = inp[0]
            self._in_size = parse_batch_shape(inp)
            self._out_size = parse_batch_shape(out)
            self.detach_hook()

        return self._module.register_forward_hook(hook, with_kwargs=True)

    def detach_hook(self) -> None:
        """Remove the shape-recording hook (idempotent)."""
        handle = getattr(self, "_hook_handle", None)
        if handle is not None:
            handle.remove()
            self._hook_handle = None

    @property
    def in_size(self) -> str | list[Any]:
        return self._in_size or UNKNOWN_SIZE

    @property
    def out_size(self) -> str | list[Any]:
        return self._out_size or UNKNOWN_SIZE

    @property
    def layer_type(self) -> str:
        return type(self._module).__name__

    @property
    def num_parameters(self) -> int:
        return sum(0 if _is_uninitialized(p) else p.numel() for p in self._module.parameters())

    @property
    def training(self) -> bool:
        return self._module.training


class ModelSummary:
    """Summary table of a model's layers up to ``max_depth`` (``str(summary)`` renders it).

    Columns: index, Name, Type, Params, Mode, FLOPs and, when the model has an ``example_input_array``,
    In sizes and Out sizes. The footer lists trainable, non-trainable and total parameters, the estimated size
    in MB, the modules in train and eval mode, and the total FLOPs (measured with
    ``torch.utils.flop_counter`` during the example forward; 0 without an example input).

    Args:
        model: The module to summarize (a LightningModule or any ``nn.Module``).
        max_depth: Depth of nesting to show: ``0`` no layers, ``1`` direct children, ``-1`` all modules.

    Example:
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        >>> s = ModelSummary(model, max_depth=1)
        >>> s.layer_names, s.param_nums, s.total_parameters
        (['0', '1', '2'], [40, 0, 9], 49)
    """

    def __init__(self, model: nn.Module, max_depth: int = 1) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"`max_depth` can be -1, 0 or > 0, got {max_depth!r}.")
        self._model = model
        self._max_depth = max_depth
        self._flop_counts: dict[str, dict[Any, int]] = {}
        self._total_flops = 0
        self._layer_summary = self.summarize()
        precision = _trainer_precision(model)
        if precision is not None and precision not in _PRECISION_TO_BITS:
            _warning_cache.warn(
                f"Precision {precision} is not supported by the model summary. Estimated model size in MB will"
                " not be accurate. Using 32 bits instead."
            )
        bits = _PRECISION_TO_BITS.get(precision, 32) if precision is not None else 32
        self._precision_megabytes = bits / 8.0 * 1e-6

    @property
    def named_modules(self) -> list[tuple[str, nn.Module]]:
        if self._max_depth == 0:
            return []
        if self._max_depth == 1:
            return list(self._model.named_children())
        return list(self._model.named_modules())[1:]

    @property
    def layer_names(self) -> list[str]:
        return list(self._layer_summary)

    @property
    def layer_types(self) -> list[str]:
        return [layer.layer_type for layer in self._layer_summary.values()]

    @property
    def in_sizes(self) -> list[Any]:
        return [layer.in_size for layer in self._layer_summary.values()]

    @property
    def out_sizes(self) -> list[Any]:
        return [layer.out_size for layer in self._layer_summary.values()]

    @property
    def param_nums(self) -> list[int]:
        return [layer.num_parameters for layer in self._layer_summary.values()]

    @property
    def training_modes(self) -> list[bool]:
        return [layer.training for layer in self._layer_summary.values()]

    @property
    def total_training_modes(self) -> dict[str, int]:
        modes = [m.training for m in self._model.modules()][1:]
        return {"train": modes.count(True), "eval": modes.count(False)}

    @property
    def total_parameters(self) -> int:
        return sum(0 if _is_uninitialized(p) else p.numel() for p in self._model.parameters())

    @property
    def trainable_parameters(self) -> int:
        return sum(
            0 if _is_uninitialized(p) else p.numel() for p in self._model.parameters() if p.requires_grad
        )

    @property
    def total_layer_params(self) -> int:
        return sum(self.param_nums)

    @property
    def model_size(self) -> float:
        """Estimated size of the parameters in MB."""
        return self.total_parameters * self._precision_megabytes

    @property
    def total_flops(self) -> int:
        return self._total_flops

    @property
    def flop_counts(self) -> dict[str, dict[Any, int]]:
        """FLOPs per operator for each listed layer."""
        return {name: self._flop_counts.get(name, {}) for name in self.layer_names}

    def summarize(self) -> dict[str, LayerSummary]:
        summary = OrderedDict((name, LayerSummary(module)) for name, module in self.named_modules)
        if getattr(self._model, "example_input_array", None) is not None:
            self._forward_example_input()
        for layer in summary.values():
            layer.detach_hook()
        if self._max_depth >= 1:
            for key in [k for k in summary if k.count(".") >= self._max_depth]:
                del summary[key]
        return summary

    def _forward_example_input(self) -> None:
        from torch.utils.flop_counter import FlopCounterMode

        model = self._model
        input_ = _to_model_device(model, model.example_input_array)  # type: ignore[union-attr]
        modes = {m: m.training for m in model.modules()}
        model.eval()
        counter = FlopCounterMode(display=False, depth=(self._max_depth + 1) if self._max_depth >= 0 else 999)
        trainer = getattr(model, "_trainer", None)
        plugin = getattr(trainer, "precision_plugin", None)
        forward_context = plugin.forward_context() if plugin is not None else contextlib.nullcontext()
        try:
            with torch.no_grad(), forward_context, counter:
                if isinstance(input_, (list, tuple)):
                    model(*input_)
                elif isinstance(input_, dict):
                    model(**input_)
                else:
                    model(input_)
        finally:
            for module, mode in modes.items():
                module.training = mode
        self._total_flops = int(counter.get_total_flops())
        prefix = f"{type(model).__name__}."
        self._flop_counts = {
            key[len(prefix) :]: dict(value)
            for key, value in counter.get_flop_counts().items()
            if key.startswith(prefix)
        }

    def _get_summary_data(self) -> list[tuple[str, list[str]]]:
        arrays: list[tuple[str, list[str]]] = [
            (" ", [str(i) for i in range(len(self._layer_summary))]),
            ("Name", self.layer_names),
            ("Type", self.layer_types),
            ("Params", [get_human_readable_count(n) for n in self.param_nums]),
            ("Mode", ["train" if mode else "eval" for mode in self.training_modes]),
            ("FLOPs", [get_human_readable_count(sum(c.values())) for c in self.flop_counts.values()]),
        ]
        if getattr(self._model, "example_input_array", None) is not None:
            arrays.append(("In sizes", [str(x) for x in self.in_sizes]))
            arrays.append(("Out sizes", [str(x) for x in self.out_sizes]))
        leftover = self.total_parameters - self.total_layer_params
        if leftover > 0:
            columns = dict(arrays)
            columns[" "].append(" ")
            columns["Name"].append(LEFTOVER_PARAMS_NAME)
            columns["Type"].append(NOT_APPLICABLE)
            columns["Params"].append(get_human_readable_count(leftover))
            columns["Mode"].append(NOT_APPLICABLE)
            columns["FLOPs"].append(NOT_APPLICABLE)
            for extra in ("In sizes", "Out sizes"):
                if extra in columns:
                    columns[extra].append(NOT_APPLICABLE)
        return arrays

    def __str__(self) -> str:
        return _format_summary_table(
            self.total_parameters,
            self.trainable_parameters,
            self.model_size,
            self.total_training_modes,
            self.total_flops,
            *self._get_summary_data(),
        )

    def __repr__(self) -> str:
        return str(self)


def parse_batch_shape(batch: Any) -> str | list[Any]:
    """Shape of a tensor as a list, nested for lists/tuples, ``"?"`` otherwise."""
    if hasattr(batch, "shape"):
        return list(batch.shape)
    if isinstance(batch, (list, tuple)):
        return [parse_batch_shape(el) for el in batch]
    return UNKNOWN_SIZE


def _format_summary_table(
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_training_modes: dict[str, int],
    total_flops: int,
    *cols: tuple[str, list[str]],
) -> str:
    """Render summary columns and totals as a fixed-width text table."""
    n_rows = len(cols[0][1]) if cols else 0
    widths = []
    for name, values in cols:
        width = max((len(str(v)) for v in values), default=0) if n_rows else 0
        widths.append(max(width, len(name)))
    total_width = sum(widths) + 3 * (1 + len(cols))
    header = " | ".join(f"{name:<{w}}" for (name, _), w in zip(cols, widths))
    lines = [header, "-" * total_width]
    for i in range(n_rows):
        lines.append(" | ".join(f"{values[i]!s:<{w}}" for (_, values), w in zip(cols, widths)))
    lines.append("-" * total_width)
    footer = [
        (get_human_readable_count(trainable_parameters), "Trainable params"),
        (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
        (get_human_readable_count(total_parameters), "Total params"),
        (get_formatted_model_size(model_size), "Total estimated model params size (MB)"),
        (str(total_training_modes["train"]), "Modules in train mode"),
        (str(total_training_modes["eval"]), "Modules in eval mode"),
        (get_human_readable_count(total_flops), "Total Flops"),
    ]
    lines.extend(f"{value:<10}{label}" for value, label in footer)
    return "\n".join(lines)


def get_formatted_model_size(total_model_size: float) -> str:
    """Model size in MB with three decimals and thousands separators."""
    return f"{total_model_size:,.3f}"


def get_human_readable_count(number: int) -> str:
    """Abbreviate a count with K, M, B or T.

    Example:
        >>> [get_human_readable_count(n) for n in (123, 1234, 2_000_000, 3 * 10**12)]
        ['123  ', '1.2 K', '2.0 M', '3.0 T']
    """
    if number < 0:
        raise ValueError(f"`get_human_readable_count` expects a count >= 0, got {number!r}.")
    num_digits = int(math.floor(math.log10(number)) + 1) if number > 0 else 1
    num_groups = min(math.ceil(num_digits / 3), len(PARAMETER_NUM_UNITS))
    scaled = number * 10 ** (-3 * (num_groups - 1))
    index = num_groups - 1
    if index < 1 or scaled >= 100:
        return f"{int(scaled):,d} {PARAMETER_NUM_UNITS[index]}"
    return f"{scaled:,.1f} {PARAMETER_NUM_UNITS[index]}"


def summarize(lightning_module: nn.Module, max_depth: int = 1) -> ModelSummary:
    """Summarize ``lightning_module`` up to ``max_depth`` (see :class:`ModelSummary`)."""
    return ModelSummary(lightning_module, max_depth=max_depth)


def _is_uninitialized(p: Tensor) -> bool:
    if isinstance(p, nn.parameter.UninitializedParameter):
        _warning_cache.warn(
            "The total number of parameters detected may be inaccurate because the model contains an instance"
            " of `UninitializedParameter`. To get an accurate number, set `self.example_input_array` in your"
            " LightningModule."
        )
        return True
    return False


def _trainer_precision(model: nn.Module) -> str | None:
    trainer = getattr(model, "_trainer", None)
    precision = getattr(trainer, "precision", None) if trainer is not None else None
    return None if precision is None else str(precision)


def _to_model_device(model: nn.Module, data: Any) -> Any:
    device = getattr(model, "device", None)
    if not isinstance(device, torch.device):
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    if isinstance(data, Tensor):
        return data.to(device)
    if isinstance(data, (list, tuple)):
        return type(data)(_to_model_device(model, d) for d in data)
    if isinstance(data, dict):
        return {k: _to_model_device(model, v) for k, v in data.items()}
    return data
