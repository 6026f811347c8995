"""ModelPruning: prune weights with ``torch.nn.utils.prune`` during training (optionally lottery-ticket style)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from copy import deepcopy
from functools import partial
from typing import Any

from torch import Tensor, nn

from lit_hooks import Callback, MisconfigurationException, rank_zero_only

log = logging.getLogger(__name__)

_PRUNING_NAMES = ("ln_structured", "l1_unstructured", "random_structured", "random_unstructured")
_METHOD_NAMES = {
    "ln_structured": "LnStructured",
    "l1_unstructured": "L1Unstructured",
    "random_structured": "RandomStructured",
    "random_unstructured": "RandomUnstructured",
}


def _prune_module() -> Any:
    from torch.nn.utils import prune

    return prune


_PARAM_LIST = Sequence[tuple[nn.Module, str]]
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _is_container(module: nn.Module, root: nn.Module) -> bool:
    if module is root or isinstance(module, _CONTAINERS):
        return True
    return any(cls.__name__ == "LightningModule" for cls in type(module).__mro__)


class ModelPruning(Callback):
    """Prune model parameters at the end of training epochs (or validation epochs).

    Args:
        pruning_fn: A name in ``"l1_unstructured"``, ``"random_unstructured"``, ``"ln_structured"``,
            ``"random_structured"``, or a ``torch.nn.utils.prune.BasePruningMethod`` subclass (with
            ``use_global_unstructured=True``).
        parameters_to_prune: ``(module, parameter_name)`` pairs; empty means every ``weight``/``bias`` (see
            ``parameter_names``) of the non-container modules.
        parameter_names: Subset of ``("weight", "bias")`` used when ``parameters_to_prune`` is empty.
        use_global_unstructured: Prune globally across all parameters (``prune.global_unstructured``).
        amount: Fraction (float) or count (int) to prune, or ``epoch -> amount``.
        apply_pruning: Whether to prune, or ``epoch -> bool``.
        make_pruning_permanent: Remove the reparametrization at train end and in saved checkpoints.
        use_lottery_ticket_hypothesis: After pruning, reset the remaining weights to their original values
            (Frankle & Carbin, 2019), or ``epoch -> bool``.
        resample_parameters: With the lottery ticket, reset to freshly re-initialized values instead.
        pruning_dim: Dimension for structured pruning (required for ``*_structured``).
        pruning_norm: Norm for ``"ln_structured"`` (required for it).
        verbose: 0 silent, 1 log global sparsity, 2 also per parameter.
        prune_on_train_epoch_end: Prune at train epoch end; otherwise at validation epoch end.
    """

    PARAMETER_NAMES = ("weight", "bias")

    def __init__(
        self,
        pruning_fn: Callable[..., Any] | str,
        parameters_to_prune: _PARAM_LIST = (),
        parameter_names: list[str] | None = None,
        use_global_unstructured: bool = True,
        amount: float | Callable[[int], int | float] = 0.5,
        apply_pruning: bool | Callable[[int], bool] = True,
        make_pruning_permanent: bool = True,
        use_lottery_ticket_hypothesis: bool | Callable[[int], bool] = True,
        resample_parameters: bool = False,
        pruning_dim: int | None = None,
        pruning_norm: int | None = None,
        verbose: int = 0,
        prune_on_train_epoch_end: bool = True,
    ) -> None:
        self._use_global_unstructured = use_global_unstructured
        self._parameters_to_prune: Any = parameters_to_prune
        self._use_lottery_ticket_hypothesis = use_lottery_ticket_hypothesis
        self._resample_parameters = resample_parameters
        self._prune_on_train_epoch_end = prune_on_train_epoch_end
        self._parameter_names = parameter_names or self.PARAMETER_NAMES
        self._global_kwargs: dict[str, Any] = {}
        self._original_layers: dict[int, dict[str, Any]] | None = None
        self._pruning_method_name: str | None = None
        for name in self._parameter_names:
            if name not in self.PARAMETER_NAMES:
                raise MisconfigurationException(
                    f"The provided `parameter_names` name: {name!r} isn't in {self.PARAMETER_NAMES}"
                )
        if isinstance(pruning_fn, str):
            kwargs: dict[str, Any] = {}
            pruning_fn = pruning_fn.lower()
            if pruning_fn not in _PRUNING_NAMES:
                raise MisconfigurationException(
                    f"The provided `pruning_fn` {pruning_fn!r} isn't available in PyTorch's built-in functions:"
                    f" {list(_PRUNING_NAMES)}"
                )
            if pruning_fn.endswith("_structured"):
                if pruning_dim is None:
                    raise MisconfigurationException(
                        "When requesting `structured` pruning, the `pruning_dim` should be provided."
                    )
                if pruning_fn == "ln_structured":
                    if pruning_norm is None:
                        raise MisconfigurationException(
                            "When requesting `ln_structured` pruning, the `pruning_norm` should be provided."
                        )
                    kwargs["n"] = pruning_norm
                kwargs["dim"] = pruning_dim
            pruning_fn = self._create_pruning_fn(pruning_fn, **kwargs)
        elif self._is_pruning_method(pruning_fn):
            if not use_global_unstructured:
                raise MisconfigurationException(
                    "PyTorch `BasePruningMethod` is currently only supported with `use_global_unstructured=True`."
                )
        else:
            raise MisconfigurationException(
                f"`pruning_fn` is expected to be a str in {list(_PRUNING_NAMES)} or a PyTorch"
                f" `BasePruningMethod`. Found: {pruning_fn!r}. HINT: if passing a `BasePruningMethod`, pass the"
                " class, not an instance"
            )
        if use_global_unstructured and getattr(pruning_fn, "PRUNING_TYPE", None) != "unstructured":
            raise MisconfigurationException(
                'Only the "unstructured" PRUNING_TYPE is supported with `use_global_unstructured=True`.'
                f" Found method {pruning_fn} of type {getattr(pruning_fn, 'PRUNING_TYPE', None)}."
                " Pass `use_global_unstructured=False` for structured pruning."
            )
        self.pruning_fn = pruning_fn
        self._apply_pruning = apply_pruning
        self._make_pruning_permanent = make_pruning_permanent
        if not (isinstance(amount, (int, float)) or callable(amount)):
            raise MisconfigurationException(
                f"`amount` should be provided and be either an int, a float or Callable function, got {amount!r}."
            )
        self.amount = amount
        if verbose not in (0, 1, 2):
            raise MisconfigurationException(f"`verbose` must be any of (0, 1, 2), got {verbose!r}.")
        self._verbose = verbose

    def filter_parameters_to_prune(self, parameters_to_prune: _PARAM_LIST = ()) -> _PARAM_LIST:
        """Override to drop some ``(module, name)`` pairs before pruning."""
        return parameters_to_prune

    def _create_pruning_fn(self, pruning_fn: str, **kwargs: Any) -> Any:
        if self._use_global_unstructured:
            method = getattr(_prune_module(), _METHOD_NAMES[pruning_fn])
            self._global_kwargs = kwargs
            self._pruning_method_name = method.__name__
            return method
        fn = getattr(_prune_module(), pruning_fn)
        self._pruning_method_name = fn.__name__
        return partial(fn, **kwargs)

    def make_pruning_permanent(self, module: nn.Module) -> None:
        """Remove the pruning reparametrization (``weight_orig``/``weight_mask``) from every submodule."""
        for _, sub in module.named_modules():
            for key in list(sub._forward_pre_hooks):
                hook = sub._forward_pre_hooks[key]
                if isinstance(hook, _prune_module().BasePruningMethod):
                    hook.remove(sub)
                    del sub._forward_pre_hooks[key]

    @staticmethod
    def _copy_param(new: nn.Module, old: nn.Module, name: str) -> None:
        dst = getattr(new, f"{name}_orig") if hasattr(new, f"{name}_orig") else getattr(new, name)
        src = getattr(old, name)
        if isinstance(dst, Tensor) and isinstance(src, Tensor):
            dst.data = src.data.to(dst.device)

    def apply_lottery_ticket_hypothesis(self) -> None:
        """Reset the (unpruned) weights to their values at the start of training."""
        if self._original_layers is None:
            raise RuntimeError(
                "`ModelPruning.apply_lottery_ticket_hypothesis()` needs the original weights, which are copied in"
                " `setup` when `use_lottery_ticket_hypothesis` is enabled. Call it after `setup`."
            )
        for ref in self._original_layers.values():
            copy = ref["data"]
            if self._resample_parameters and callable(getattr(copy, "reset_parameters", None)):
                copy = deepcopy(copy)
                copy.reset_parameters()
            for i, name in ref["names"]:
                new, _ = self._parameters_to_prune[i]
                self._copy_param(new, copy, name)

    def _apply_local_pruning(self, amount: float) -> None:
        for module, name in self._parameters_to_prune:
            self.pruning_fn(module, name=name, amount=amount)

    def _resolve_global_kwargs(self, amount: float) -> dict[str, Any]:
        self._global_kwargs["amount"] = amount
        params = set(inspect.signature(self.pruning_fn).parameters)
        params.discard("self")
        return {k: v for k, v in self._global_kwargs.items() if k in params}

    def _apply_global_pruning(self, amount: float) -> None:
        _prune_module().global_unstructured(
            self._parameters_to_prune, pruning_method=self.pruning_fn, **self._resolve_global_kwargs(amount)
        )

    @staticmethod
    def _get_pruned_stats(module: nn.Module, name: str) -> tuple[int, int]:
        mask = getattr(module, f"{name}_mask", None)
        if mask is None:
            return 0, 1
        return int((mask == 0).sum().item()), mask.numel()

    def apply_pruning(self, amount: float) -> None:
        """Prune ``amount`` now."""
        prev = [self._get_pruned_stats(m, n) for m, n in self._parameters_to_prune] if self._verbose else []
        if self._use_global_unstructured:
            self._apply_global_pruning(amount)
        else:
            self._apply_local_pruning(amount)
        if self._verbose:
            curr = [self._get_pruned_stats(m, n) for m, n in self._parameters_to_prune]
            self._log_sparsity_stats(prev, curr, amount=amount)

    @rank_zero_only
    def _log_sparsity_stats(
        self, prev: list[tuple[int, int]], curr: list[tuple[int, int]], amount: float = 0
    ) -> None:
        total = sum(t for _, t in curr)
        prev_zeros = sum(z for z, _ in prev)
        curr_zeros = sum(z for z, _ in curr)
        log.info(
            f"Applied `{self._pruning_method_name}`. Pruned: {prev_zeros}/{total} ({prev_zeros / total:.2%}) ->"
            f" {curr_zeros}/{total} ({curr_zeros / total:.2%})"
        )
        if self._verbose == 2:
            for i, (module, name) in enumerate(self._parameters_to_prune):
                pz, ps = prev[i]
                cz, cs = curr[i]
                log.info(
                    f"Applied `{self._pruning_method_name}` to `{module!r}.{name}` with amount={amount}."
                    f" Pruned: {pz} ({pz / ps:.2%}) -> {cz} ({cz / cs:.2%})"
                )

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        params = self.sanitize_parameters_to_prune(
            pl_module, self._parameters_to_prune, self._parameter_names
        )
        self._parameters_to_prune = self.filter_parameters_to_prune(params)
        if self._use_lottery_ticket_hypothesis:
            self._original_layers = {}
            for i, (module, name) in enumerate(self._parameters_to_prune):
                ref = self._original_layers.setdefault(id(module), {"data": deepcopy(module), "names": []})
                ref["names"].append((i, name))

    def _run_pruning(self, current_epoch: int) -> None:
        prune = self._apply_pruning(current_epoch) if callable(self._apply_pruning) else self._apply_pruning
        amount = self.amount(current_epoch) if callable(self.amount) else self.amount
        if not prune or not amount:
            return
        self.apply_pruning(amount)
        lottery = self._use_lottery_ticket_hypothesis
        if lottery(current_epoch) if callable(lottery) else lottery:
            self.apply_lottery_ticket_hypothesis()

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._prune_on_train_epoch_end:
            self._run_pruning(trainer.current_epoch)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking and not self._prune_on_train_epoch_end:
            self._run_pruning(trainer.current_epoch)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._make_pruning_permanent:
            self.make_pruning_permanent(pl_module)

    @staticmethod
    def _permanent_state_dict(pl_module: nn.Module) -> dict[str, Any]:
        state = pl_module.state_dict()
        for base in {k[: -len("_mask")] for k in state if k.endswith("_mask")}:
            orig = state.pop(f"{base}_orig")
            mask = state.pop(f"{base}_mask")
            state[base] = mask.to(dtype=orig.dtype) * orig
        return {k: v.cpu() if isinstance(v, Tensor) else v for k, v in state.items()}

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        if self._make_pruning_permanent:
            checkpoint["state_dict"] = self._permanent_state_dict(pl_module)

    @staticmethod
    def sanitize_parameters_to_prune(
        pl_module: nn.Module, parameters_to_prune: _PARAM_LIST = (), parameter_names: Sequence[str] = ()
    ) -> _PARAM_LIST:
        """Expand an empty ``parameters_to_prune`` to all parameters, or check the given pairs exist."""
        names = parameter_names or ModelPruning.PARAMETER_NAMES
        modules = [m for m in pl_module.modules() if not _is_container(m, pl_module)]
        if not parameters_to_prune:
            return [(m, p) for p in names for m in modules if isinstance(getattr(m, p, None), nn.Parameter)]
        if isinstance(parameters_to_prune, (list, tuple)) and all(
            isinstance(p, (list, tuple))
            and len(p) == 2
            and isinstance(p[0], nn.Module)
            and isinstance(p[1], str)
            for p in parameters_to_prune
        ):
            ids = {id(m) for m in modules}
            missing_modules = [m for m, _ in parameters_to_prune if id(m) not in ids]
            missing_params = [n for m, n in parameters_to_prune if id(m) in ids and not hasattr(m, n)]
            if missing_modules or missing_params:
                raise MisconfigurationException(
                    "Some provided `parameters_to_prune` don't exist in the model. Found missing modules:"
                    f" {missing_modules} and missing parameters: {missing_params}"
                )
            return parameters_to_prune
        raise MisconfigurationException(
            "The provided `parameters_to_prune` should either be list of tuple with 2 elements:"
            f" (nn.Module, parameter_name_to_prune) or None, got {parameters_to_prune!r}."
        )

    @staticmethod
    def _is_pruning_method(method: Any) -> bool:
        return inspect.isclass(method) and issubclass(method, _prune_module().BasePruningMethod)
