"""ModelSummary and RichModelSummary callbacks: print the model summary when fitting starts."""

from __future__ import annotations

import logging
from typing import Any

from lit_callbacks._model_summary import (
    _format_summary_table,
    get_formatted_model_size,
    get_human_readable_count,
    summarize,
)
from lit_hooks import Callback

log = logging.getLogger(__name__)


class ModelSummary(Callback):
    """Log a summary table of the model (see ``lit_callbacks.summarize``) at the start of ``fit``.

    Args:
        max_depth: Depth of nested modules to list; ``0`` turns the summary off, ``-1`` lists every module.
        **summarize_kwargs: Options for :meth:`summarize` of subclasses (e.g. ``header_style`` for
            :class:`RichModelSummary`); the text summary accepts none.

    Example:
        >>> cb = ModelSummary(max_depth=2)
        >>> cb._max_depth
        2
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < -1:
            raise ValueError(f"`ModelSummary(max_depth={max_depth!r})` can be -1, 0 or > 0.")
        if summarize_kwargs and type(self).summarize is ModelSummary.summarize:
            raise TypeError(
                f"`ModelSummary` got unexpected keyword arguments {sorted(summarize_kwargs)!r}: the text summary"
                " takes none. Use `RichModelSummary` (header_style, console) or override `summarize`."
            )
        self._max_depth = max_depth
        self._summarize_kwargs = summarize_kwargs

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if not self._max_depth:
            return
        summary = summarize(pl_module, max_depth=self._max_depth)
        data = summary._get_summary_data()
        if trainer.is_global_zero:
            self.summarize(
                data,
                summary.total_parameters,
                summary.trainable_parameters,
                summary.model_size,
                summary.total_training_modes,
                total_flops=summary.total_flops,
                **self._summarize_kwargs,
            )

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        """Emit the table (logged at INFO level on the ``lit_callbacks`` logger)."""
        table = _format_summary_table(
            total_parameters,
            trainable_parameters,
            model_size,
            total_training_modes,
            total_flops,
            *summary_data,
        )
        log.info("\n" + table)


class RichModelSummary(ModelSummary):
    """:class:`ModelSummary` rendered as a rich table on the rich console.

    Args:
        max_depth: Depth of nested modules to list.
        **summarize_kwargs: ``header_style`` (default ``"bold magenta"``) and ``console`` (a rich ``Console``
            to print to; default: rich's global console).
    """

    def __init__(self, max_depth: int = 1, **summarize_kwargs: Any) -> None:
        from lit_callbacks._rich_progress import _require_rich

        _require_rich("RichModelSummary")
        unknown = set(summarize_kwargs) - {"header_style", "console"}
        if unknown:
            raise TypeError(
                f"`RichModelSummary` got unexpected keyword arguments {sorted(unknown)!r}. Valid ones: "
                "'header_style', 'console'."
            )
        super().__init__(max_depth, **summarize_kwargs)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        from rich import get_console  # pants: no-infer-dep
        from rich.table import Table  # pants: no-infer-dep

        console = summarize_kwargs.get("console") or get_console()
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        justify = {"Params": "right", "FLOPs": "right", "In sizes": "right", "Out sizes": "right"}
        for name, _ in summary_data:
            if name == " ":
                table.add_column(" ", style="dim")
            elif name == "Name":
                table.add_column("Name", justify="left", no_wrap=True)
            else:
                table.add_column(name, justify=justify.get(name, "left"))  # type: ignore[arg-type]
        for row in zip(*(values for _, values in summary_data)):
            table.add_row(*row)
        console.print(table)
        grid = Table.grid(expand=True)
        grid.add_column()
        rows = [
            ("Trainable params", get_human_readable_count(int(trainable_parameters))),
            ("Non-trainable params", get_human_readable_count(int(total_parameters - trainable_parameters))),
            ("Total params", get_human_readable_count(int(total_parameters))),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", str(total_training_modes["train"])),
            ("Modules in eval mode", str(total_training_modes["eval"])),
            ("Total FLOPs", get_human_readable_count(total_flops)),
        ]
        for label, value in rows:
            grid.add_row(f"[bold]{label}[/]: {value:<10}")
        console.print(grid)
