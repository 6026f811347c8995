"""``LightningDataModule``: the data side of a run in one reusable object."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Sized
from typing import IO, Any, Generic, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from lit_hooks import (
    DataHooks,
    HyperparametersMixin,
    MissingExtraError,
    apply_to_collection,
    hparams_to_plain,
)

__all__ = [
    "LightningDataModule",
    "datamodule_checkpoint_entries",
    "load_checkpoint_file",
    "restore_datamodule_state",
]

_T = TypeVar("_T")


class _restricted_classmethod(Generic[_T]):
    """A ``classmethod`` that refuses to run when called on an instance (whose result would be lost)."""

    def __init__(self, method: Callable[..., _T]) -> None:
        self.method = method
        functools.update_wrapper(self, method)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: type | None = None) -> Callable[..., _T]:
        cls = owner if owner is not None else type(instance)
        method = self.method

        @functools.wraps(method)
        def bound(*args: Any, **kwargs: Any) -> _T:
            if instance is not None:
                raise TypeError(
                    f"The classmethod `{cls.__name__}.{method.__name__}` cannot be called on an instance."
                    " Please call it on the class type and make sure the return value is used."
                )
            return method(cls, *args, **kwargs)

        bound.__func__ = method  # type: ignore[attr-defined]
        return bound


class LightningDataModule(DataHooks, HyperparametersMixin):
    """Everything about the data of a run: download, splits, transforms and the loaders of each stage.

    Override :meth:`prepare_data` (download/write once per node, or once in total with
    ``prepare_data_per_node = False``), :meth:`setup` (build datasets on every process), the ``*_dataloader``
    hooks and optionally the batch-transfer hooks, :meth:`state_dict`/:meth:`load_state_dict` (stored in
    checkpoints under the class's qualified name), :meth:`teardown` and :meth:`on_exception`. A data module's hook
    runs before the module's hook of the same name. :meth:`save_hyperparameters` records the constructor
    arguments; they are stored in checkpoints under ``"datamodule_hyper_parameters"`` and used by
    :meth:`load_from_checkpoint`.

    Example:
        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> class Squares(LightningDataModule):
        ...     def __init__(self, batch_size: int = 4) -> None:
        ...         super().__init__()
        ...         self.save_hyperparameters()
        ...     def setup(self, stage: str) -> None:
        ...         x = torch.arange(8.0)
        ...         self.train_set = TensorDataset(x, x**2)
        ...     def train_dataloader(self) -> DataLoader:
        ...         return DataLoader(self.train_set, batch_size=self.hparams.batch_size)
        >>> dm = Squares(batch_size=2)
        >>> dm.setup("fit")
        >>> len(dm.train_dataloader())
        4
    """

    name: str | None = None
    CHECKPOINT_HYPER_PARAMS_KEY = "datamodule_hyper_parameters"
    CHECKPOINT_HYPER_PARAMS_NAME = "datamodule_hparams_name"
    CHECKPOINT_HYPER_PARAMS_TYPE = "datamodule_hparams_type"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        #: The trainer the data module is attached to (set by the trainer).
        self.trainer: Any | None = None

    @classmethod
    def from_datasets(
        cls,
        train_dataset: Dataset | Iterable[Dataset] | None = None,
        val_dataset: Dataset | Iterable[Dataset] | None = None,
        test_dataset: Dataset | Iterable[Dataset] | None = None,
        predict_dataset: Dataset | Iterable[Dataset] | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        **datamodule_kwargs: Any,
    ) -> LightningDataModule:
        """Build a data module whose loaders wrap the given datasets.

        Each dataset (or each dataset in a collection) gets a ``DataLoader(batch_size=..., num_workers=...,
        pin_memory=True)``; training loaders shuffle unless the dataset is iterable-style.

        Args:
            train_dataset: Dataset(s) for ``train_dataloader``.
            val_dataset: Dataset(s) for ``val_dataloader``.
            test_dataset: Dataset(s) for ``test_dataloader``.
            predict_dataset: Dataset(s) for ``predict_dataloader``.
            batch_size: Batch size of every loader; also passed to ``__init__`` when it accepts ``batch_size``.
            num_workers: Workers of every loader; also passed to ``__init__`` when it accepts ``num_workers``.
            **datamodule_kwargs: Further arguments for the data module's ``__init__``.

        Example:
            >>> from torch.utils.data import TensorDataset
            >>> dm = LightningDataModule.from_datasets(TensorDataset(torch.arange(10)), batch_size=5)
            >>> len(dm.train_dataloader())
            2
        """

        def dataloader(ds: Dataset, shuffle: bool = False) -> DataLoader:
            shuffle &= not isinstance(ds, IterableDataset)
            return DataLoader(
                ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, pin_memory=True
            )

        def loaders(datasets: Any, shuffle: bool = False) -> Any:
            return apply_to_collection(datasets, Dataset, dataloader, shuffle=shuffle)

        def train_dataloader() -> Any:
            return loaders(train_dataset, shuffle=True)

        def val_dataloader() -> Any:
            return loaders(val_dataset)

        def test_dataloader() -> Any:
            return loaders(test_dataset)

        def predict_dataloader() -> Any:
            return loaders(predict_dataset)

        candidate_kwargs = {"batch_size": batch_size, "num_workers": num_workers}
        accepted = inspect.signature(cls.__init__).parameters
        if any(param.kind == param.VAR_KEYWORD for param in accepted.values()):
            special_kwargs = candidate_kwargs
        else:
            names = set(accepted) - {"self"}
            special_kwargs = {k: v for k, v in candidate_kwargs.items() if k in names}
        datamodule = cls(**datamodule_kwargs, **special_kwargs)
        if train_dataset is not None:
            datamodule.train_dataloader = train_dataloader  # type: ignore[method-assign]
        if val_dataset is not None:
            datamodule.val_dataloader = val_dataloader  # type: ignore[method-assign]
        if test_dataset is not None:
            datamodule.test_dataloader = test_dataloader  # type: ignore[method-assign]
        if predict_dataset is not None:
            datamodule.predict_dataloader = predict_dataloader  # type: ignore[method-assign]
        return datamodule

    def state_dict(self) -> dict[str, Any]:
        """State to save in checkpoints (under the class's qualified name); ``{}`` saves nothing."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict` when a checkpoint is loaded."""

    def on_exception(self, exception: BaseException) -> None:
        """Called when the run is interrupted by an exception; clean up here."""

    @_restricted_classmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: str | os.PathLike | IO[bytes],
        map_location: Any = None,
        hparams_file: str | os.PathLike | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Build the data module from the hyper-parameters stored in a checkpoint (and restore its state).

        Args:
            checkpoint_path: Path (local, or a URL readable by fsspec) or open binary file of the checkpoint.
            map_location: Passed to ``torch.load``; by default storages of unavailable devices go to the CPU.
            hparams_file: A ``.yaml``/``.yml`` or ``.csv`` file whose hyper-parameters replace the stored ones.
            weights_only: Passed to ``torch.load``; ``None`` means ``True`` (safe loading of plain data). Use
                ``False`` only for trusted files that hold arbitrary objects.
            **kwargs: ``__init__`` arguments that override the stored hyper-parameters.

        Returns:
            A new instance; call it on the class, not on an instance.

        Raises:
            ValueError: If the file cannot be read as a checkpoint, or ``hparams_file`` has another extension.
        """
        checkpoint = load_checkpoint_file(
            checkpoint_path, map_location=map_location, weights_only=weights_only
        )
        if hparams_file is not None:
            checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY] = _load_hparams_file(hparams_file)
        checkpoint.setdefault(cls.CHECKPOINT_HYPER_PARAMS_KEY, {})
        checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY].update(kwargs)
        return _instantiate_from_checkpoint(cls, checkpoint, **kwargs)

    def __str__(self) -> str:
        """One line per loader hook, with the size of each dataset (``NA`` without ``__len__``)."""
        lines = []
        for label, hook in (
            ("Train dataloader", "train_dataloader"),
            ("Validation dataloader", "val_dataloader"),
            ("Test dataloader", "test_dataloader"),
            ("Predict dataloader", "predict_dataloader"),
        ):
            try:
                loaders = getattr(self, hook)()
            except Exception:  # noqa: BLE001 - any failing hook just shows as None
                lines.append(f"{{{label}: None}}")
                continue
            if isinstance(loaders, DataLoader):
                lines.append(f"{{{label}: size={_dataset_size(loaders)}}}")
                continue
            flat = loaders.values() if isinstance(loaders, dict) else loaders
            parts = [f"{i}. size={_dataset_size(loader)}" for i, loader in enumerate(flat, start=1)]
            lines.append(f"{{{label}: {' ; '.join(parts)}}}")
        return os.linesep.join(lines)


def _dataset_size(loader: Any) -> str:
    dataset = getattr(loader, "dataset", None)
    return str(len(dataset)) if isinstance(dataset, Sized) else "NA"


# ----------------------------------------------------------------------------------------------------------------
# checkpoint helpers
# ----------------------------------------------------------------------------------------------------------------
def _default_map_location(storage: Any, location: str) -> Any:
    if location.startswith("cuda") and not torch.cuda.is_available():
        return storage.cpu()
    if location.startswith("mps") and not torch.backends.mps.is_available():
        return storage.cpu()
    if location.startswith("xla"):
        return storage.cpu()
    return None


def load_checkpoint_file(
    checkpoint_path: str | os.PathLike | IO[bytes], map_location: Any = None, weights_only: bool | None = None
) -> dict[str, Any]:
    """Read a checkpoint dict with ``torch.load`` (``weights_only=True`` unless told otherwise).

    Raises:
        FileNotFoundError: If a local path does not exist.
        ValueError: If the file is not a checkpoint that can be loaded (corrupt, foreign, or holding objects
            that safe loading refuses), naming the file and the reason.
    """
    weights_only = True if weights_only is None else weights_only
    map_location = map_location or _default_map_location
    name = (
        checkpoint_path
        if isinstance(checkpoint_path, (str, os.PathLike))
        else getattr(checkpoint_path, "name", "<file>")
    )
    try:
        if isinstance(checkpoint_path, (str, os.PathLike)) and "://" in str(checkpoint_path):
            try:
                import fsspec  # pants: no-infer-dep
            except ImportError as err:
                raise MissingExtraError(
                    "load_from_checkpoint(<url>)", "fsspec", "fsspec", "lit-data"
                ) from err
            with fsspec.open(str(checkpoint_path), "rb") as f:
                checkpoint = torch.load(f, map_location=map_location, weights_only=weights_only)
        else:
            if isinstance(checkpoint_path, (str, os.PathLike)) and not os.path.exists(checkpoint_path):
                raise FileNotFoundError(f"Checkpoint file {str(checkpoint_path)!r} does not exist.")
            checkpoint = torch.load(checkpoint_path, map_location=map_location, weights_only=weights_only)
    except (FileNotFoundError, MissingExtraError):
        raise
    except Exception as err:
        hint = (
            " It holds objects that safe loading refuses; if you trust the file, pass `weights_only=False`."
            if weights_only and "weights_only" in str(err).lower()
            else ""
        )
        raise ValueError(
            f"Could not load the checkpoint {str(name)!r}: {type(err).__name__}: {err}.{hint}"
        ) from err
    if not isinstance(checkpoint, dict):
        raise ValueError(  # noqa: TRY004 - a foreign file is a bad value, like a corrupt one
            f"The file {str(name)!r} holds a {type(checkpoint).__name__}, not a checkpoint dictionary. Pass a file"
            " written by `Trainer.save_checkpoint` or a `ModelCheckpoint` callback."
        )
    return checkpoint


def _load_hparams_file(path: str | os.PathLike) -> dict[str, Any]:
    extension = str(path).rsplit(".", 1)[-1].lower()
    if extension in ("yml", "yaml"):
        try:
            import yaml  # pants: no-infer-dep
        except ImportError as err:
            raise MissingExtraError(
                "load_from_checkpoint(hparams_file=...)", "pyyaml", "yaml", "lit-data"
            ) from err
        with open(path) as f:
            loaded = yaml.safe_load(f)
        return dict(loaded or {})
    if extension == "csv":
        import csv

        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter=","))
        return {row["key"]: _parse_csv_value(row["value"]) for row in rows}
    raise ValueError(f"`hparams_file` must be a .csv, .yml or .yaml file, got {str(path)!r}.")


def _parse_csv_value(value: str) -> Any:
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def _instantiate_from_checkpoint(cls: type, checkpoint: dict[str, Any], **new_kwargs: Any) -> Any:
    spec = inspect.getfullargspec(cls.__init__)
    init_params = inspect.signature(cls.__init__).parameters
    drop = {spec.args[0] if spec.args else "self", spec.varargs, spec.varkw}
    init_names = [name for name in init_params if name not in drop]

    loaded: dict[str, Any] = {}
    if cls.CHECKPOINT_HYPER_PARAMS_KEY in checkpoint:
        loaded = dict(checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_KEY) or {})
        args_name = checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_NAME)
        if args_name and args_name in init_names:
            loaded = {args_name: loaded}
    kwargs = {**loaded, **new_kwargs}
    instantiator_path = kwargs.pop("_instantiator", None)
    if not spec.varkw:
        kwargs = {k: v for k, v in kwargs.items() if k in init_names}
    if instantiator_path is not None:
        module_path, name = str(instantiator_path).rsplit(".", 1)
        instantiator = getattr(__import__(module_path, fromlist=[name]), name)
        obj = instantiator(cls, kwargs)
    else:
        obj = cls(**kwargs)
    restore_datamodule_state(obj, checkpoint)
    return obj


def datamodule_checkpoint_entries(datamodule: LightningDataModule) -> dict[str, Any]:
    """The checkpoint entries of a data module, in Lightning's format.

    ``datamodule_hparams_name`` and ``datamodule_hyper_parameters`` (as plain data) when hyper-parameters were
    saved, and the :meth:`~LightningDataModule.state_dict` under the class's qualified name when non-empty.
    """
    entries: dict[str, Any] = {}
    if datamodule.hparams:
        if hasattr(datamodule, "_hparams_name"):
            entries[datamodule.CHECKPOINT_HYPER_PARAMS_NAME] = datamodule._hparams_name
        entries[datamodule.CHECKPOINT_HYPER_PARAMS_KEY] = hparams_to_plain(dict(datamodule.hparams))
    state = datamodule.state_dict()
    if state:
        entries[type(datamodule).__qualname__] = state
    return entries


def restore_datamodule_state(datamodule: LightningDataModule, checkpoint: dict[str, Any]) -> bool:
    """Call ``load_state_dict`` with the data module's entry of ``checkpoint``; return whether there was one."""
    key = type(datamodule).__qualname__
    if key in checkpoint:
        datamodule.load_state_dict(checkpoint[key])
        return True
    return False
