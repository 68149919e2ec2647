"""Argument checks shared by the builders (raise ``ValueError``, never clip)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

NORMS = ("batch", "instance", "sample", None)
UP_MODES = ("transpose", "upsample")


def check_input_shape(
    input_shape: Sequence[int | None],
    *,
    rank: int | Sequence[int],
    name: str = "input_shape",
) -> tuple[int | None, ...]:
    """Check a channels-last input shape ``(*spatial, C)`` of the given rank(s).

    Returns:
        The shape as a tuple.

    Raises:
        ValueError: On a wrong length, a non-positive size or unknown channels.
    """
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    shape = tuple(input_shape)
    if len(shape) - 1 not in ranks:
        wanted = " or ".join(
            f"{r + 1} entries ({'D, ' if r == 3 else ''}H, W, C)" for r in ranks
        )
        raise ValueError(f"`{name}` needs {wanted}. Received: {name}={shape}")
    if shape[-1] is None or any(s is not None and int(s) < 1 for s in shape):
        raise ValueError(
            f"`{name}` needs positive sizes and a known channel count. "
            f"Received: {name}={shape}"
        )
    return shape


def check_positive_int(value, name: str) -> int:
    """Check that ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )
    return value


def check_output_activation(activation) -> None:
    """Accept ``"auto"``, ``"sigmoid"``, ``"softmax"``, ``"linear"`` or ``None``."""
    if activation not in ("auto", "sigmoid", "softmax", "linear", None):
        raise ValueError(
            "`output_activation` must be 'auto', 'sigmoid', 'softmax', 'linear' "
            "or None. "
            f"Received: output_activation={activation!r}"
        )


def check_divisible(
    input_shape: Sequence[int | None], divisor: int | Sequence[int], *, reason: str
) -> None:
    """Check that every known spatial size is a multiple of ``divisor``.

    Raises:
        ValueError: Naming the offending size and the nearest valid sizes.
    """
    spatial = input_shape[:-1]
    divisors = (divisor,) * len(spatial) if isinstance(divisor, int) else tuple(divisor)
    for axis, (size, d) in enumerate(zip(spatial, divisors, strict=True)):
        if size is None or size % d == 0:
            continue
        lower = max(d, size // d * d)
        upper = (size // d + 1) * d
        nearest = f"{upper}" if lower == upper else f"{lower} or {upper}"
        raise ValueError(
            f"Spatial size {size} (axis {axis} of input_shape={tuple(input_shape)}) "
            f"is not valid: {reason} it must be a multiple of {d}. "
            f"Nearest valid sizes: {nearest}."
        )


def check_filters(filters: Sequence[int], *, minimum: int = 2) -> tuple[int, ...]:
    """Check a per-level filter tuple: ``minimum`` or more positive integers.

    Returns:
        The filters as a tuple.

    Raises:
        ValueError: Naming ``filters`` and the received value.
    """
    filters = tuple(filters)
    if len(filters) < minimum or any(
        isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in filters
    ):
        raise ValueError(
            f"`filters` needs >= {minimum} positive integer entries. "
            f"Received: filters={filters}"
        )
    return filters


def check_choice(value, choices: Sequence, name: str) -> None:
    """Check that ``value`` is one of ``choices``.

    Raises:
        ValueError: Naming the argument, the valid choices and the value.
    """
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {valid}. Received: {name}={value!r}")


def check_rate(value, name: str) -> None:
    """Check a drop-out rate in ``[0, 1)``.

    Raises:
        ValueError: Naming the argument and the value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (0.0 <= value < 1.0)
    ):
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")


def check_bool(value, name: str) -> None:
    """Check that ``value`` is a Python bool (not 0/1 or a string).

    Raises:
        ValueError: Naming the argument and the value.
    """
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def renamed_argument(
    old: str, value: Any, new: str, current: Any, convert: Callable[[Any], Any]
) -> Any:
    """The value of ``new`` given a deprecated spelling ``old`` (None: not given).

    Returns ``current`` when ``value`` is None, else ``convert(value)`` with a
    ``DeprecationWarning`` naming the new spelling.

    Example:
        >>> renamed_argument("bn", None, "norm", "batch", bool)
        'batch'
    """
    if value is None:
        return current
    replacement = convert(value)
    warnings.warn(
        f"`{old}` is deprecated; use {new}={replacement!r} (received {old}={value!r})",
        DeprecationWarning,
        stacklevel=3,
    )
    return replacement


def bool_to(name: str, if_true: Any, if_false: Any) -> Callable[[Any], Any]:
    """A converter of a deprecated boolean flag, checking it is a bool."""

    def convert(value):
        check_bool(value, name)
        return if_true if value else if_false

    return convert


def check_norm_and_up_mode(
    norm: Any, up_mode: Any, bn: Any, deconv: Any, *, bn_false: str | None
) -> tuple[str | None, str]:
    """Resolve the deprecated ``bn``/``deconv`` flags and check ``norm``/``up_mode``.

    Args:
        norm: The ``norm`` argument.
        up_mode: The ``up_mode`` argument.
        bn: Deprecated flag (None when not given): True is ``norm="batch"``,
            False is ``norm=bn_false``.
        deconv: Deprecated flag (None when not given): True is
            ``up_mode="transpose"``, False ``"upsample"``.
        bn_false: The ``norm`` that ``bn=False`` meant for this builder.

    Returns:
        ``(norm, up_mode)``.
    """
    norm = renamed_argument("bn", bn, "norm", norm, bool_to("bn", "batch", bn_false))
    up_mode = renamed_argument(
        "deconv", deconv, "up_mode", up_mode, bool_to("deconv", "transpose", "upsample")
    )
    check_choice(norm, NORMS, "norm")
    check_choice(up_mode, UP_MODES, "up_mode")
    return norm, up_mode
