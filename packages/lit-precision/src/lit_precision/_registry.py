"""The precision registry and the conversion of user precision flags (``16``, ``"bf16-mixed"``...) to plugins."""

from __future__ import annotations

from typing import Any, get_args

from lit_hooks import MisconfigurationException, Registry, rank_zero_info, rank_zero_warn
from lit_precision._precision import (
    _PRECISION_INPUT_INT,
    _PRECISION_INPUT_STR,
    _PRECISION_INPUT_STR_ALIAS,
    _PRECISION_INPUT_STR_ALIAS_CONVERSION,
    Precision,
)

__all__ = ["PRECISION_REGISTRY", "normalize_precision", "precision_from_str"]

PRECISION_REGISTRY: Registry[Precision] = Registry("precision")
"""Precision plugins by precision string (``"32-true"``, ``"bf16-mixed"``, ...), filled at package import."""

_SUPPORTED_PRECISION: tuple[Any, ...] = (
    get_args(_PRECISION_INPUT_STR) + get_args(_PRECISION_INPUT_INT) + get_args(_PRECISION_INPUT_STR_ALIAS)
)
_TRANSFORMER_ENGINE = ("transformer-engine", "transformer-engine-float16")


def _valid_choices() -> str:
    names = list(get_args(_PRECISION_INPUT_STR))
    names += [n for n in PRECISION_REGISTRY.available() if n not in names]
    aliases = [repr(a) for a in get_args(_PRECISION_INPUT_INT) + get_args(_PRECISION_INPUT_STR_ALIAS)]
    return ", ".join(repr(n) for n in names) + " (aliases: " + ", ".join(aliases) + ")"


def normalize_precision(precision: Any) -> str:
    """Turn a precision flag into its canonical string, as Lightning does.

    ``64``/``"64"`` become ``"64-true"``, ``32``/``"32"`` become ``"32-true"``, ``16``/``"16"`` become
    ``"16-mixed"`` and ``"bf16"`` becomes ``"bf16-mixed"``. The ``16`` and ``"bf16"`` aliases are accepted with a
    warning (they are discouraged). Names registered in :data:`PRECISION_REGISTRY` by other packages are accepted
    as they are.

    Args:
        precision: An ``int`` (64, 32, 16) or a precision string.

    Returns:
        The canonical precision string.

    Raises:
        ValueError: If ``precision`` is not a known precision; the message lists the valid choices.

    Example:
        >>> normalize_precision(32), normalize_precision("64")
        ('32-true', '64-true')
    """
    # bool is an int and 16.0 == 16: accept only real ints and strings
    valid_type = isinstance(precision, str) or (
        isinstance(precision, int) and not isinstance(precision, bool)
    )
    if not valid_type or (precision not in _SUPPORTED_PRECISION and precision not in PRECISION_REGISTRY):
        raise ValueError(
            f"Precision {precision!r} is invalid. Allowed precision values: {_valid_choices()}."
            " For example `precision='bf16-mixed'`."
        )
    value = str(precision)
    if value in _PRECISION_INPUT_STR_ALIAS_CONVERSION:
        if value not in ("32", "64"):
            rank_zero_warn(
                f"`precision={value}` is supported for historical reasons but its usage is discouraged. "
                f"Please set your precision to {_PRECISION_INPUT_STR_ALIAS_CONVERSION[value]} instead!"
            )
        value = _PRECISION_INPUT_STR_ALIAS_CONVERSION[value]
    return value


def precision_from_str(precision: Any, device_type: str = "cpu") -> Precision:
    """Build the precision plugin for a precision flag on a device type, with Lightning's rules.

    ``"16-mixed"`` on CPU becomes ``"bf16-mixed"`` with a warning (float16 autocast is not supported there), and
    mixed precision uses ``device_type`` for autocast when it is ``"cpu"`` or ``"mps"``, ``"cuda"`` otherwise.

    Args:
        precision: Anything :func:`normalize_precision` accepts.
        device_type: The accelerator the run uses: ``"cpu"``, ``"cuda"``/``"gpu"``, ``"mps"``...

    Returns:
        A new plugin instance.

    Raises:
        ValueError: If ``precision`` is not a known precision (the valid choices are listed).
        MisconfigurationException: For ``"transformer-engine"`` precisions, which this package does not provide.

    Example:
        >>> precision_from_str("bf16-mixed", "cpu")
        MixedPrecision(precision='bf16-mixed', device='cpu')
        >>> precision_from_str(64)
        DoublePrecision(precision='64-true')
    """
    value = normalize_precision(precision)
    if value in _TRANSFORMER_ENGINE:
        raise MisconfigurationException(
            f"`precision={value!r}` needs NVIDIA Transformer Engine support, which lit-precision does not provide."
            " Choose another precision ('bf16-mixed', '16-mixed', 'bf16-true', '16-true', '32-true', '64-true')"
            " or register your own plugin with `PRECISION_REGISTRY.register(name, cls)`."
        )
    if value == "16-mixed" and device_type == "cpu":
        rank_zero_warn(
            "You passed `Trainer(accelerator='cpu', precision='16-mixed')` but AMP with fp16 is not supported on "
            "CPU. Using `precision='bf16-mixed'` instead."
        )
        value = "bf16-mixed"
    entry = PRECISION_REGISTRY.describe(value)
    factory = entry["factory"]
    init_params = entry["init_params"]
    if value in ("16-mixed", "bf16-mixed"):
        rank_zero_info(
            f"Using {'16bit' if value == '16-mixed' else 'bfloat16'} Automatic Mixed Precision (AMP)"
        )
        init_params.setdefault("device", device_type if device_type in ("cpu", "mps") else "cuda")
    return factory(**init_params)
