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


def level_filters(
    filters: int | Sequence[int],
    depth: int | None = None,
    *,
    int_depth: int | None = None,
    name: str = "filters",
) -> tuple[int, ...]:
    """Filters per level, top to bottom, from an int or one value per level.

    An int is the top level's filters, doubled at every level; a sequence
    gives one positive int per level.

    Args:
        filters: The builder argument.
        depth: The builder's number of levels: an int expands to as many, and a
            sequence must have as many entries. None for builders whose depth is
            the sequence's length (2 or more entries).
        int_depth: Levels an int expands to when ``depth`` is None.
        name: The argument's name in error messages.

    Returns:
        One int per level.

    Raises:
        ValueError: Naming ``name``, for a value that is neither an int nor a
            sequence of ints, a value below 1, or a sequence whose length is not
            ``depth`` (or below 2 when ``depth`` is None).

    Example:
        >>> level_filters(16, 4)
        (16, 32, 64, 128)
        >>> level_filters([8, 16, 24], int_depth=5)
        (8, 16, 24)
    """
    received = f"Received: {name}={filters!r}"
    if isinstance(filters, int) and not isinstance(filters, bool):
        if filters < 1:
            raise ValueError(f"`{name}` must be >= 1. {received}")
        levels = depth if depth is not None else int_depth
        return tuple(filters * 2**level for level in range(levels))
    if not isinstance(filters, Sequence) or isinstance(filters, str):
        raise ValueError(
            f"`{name}` must be an int (the top level's, doubled at every level) or "
            f"a sequence of ints (one per level). {received}"
        )
    widths = tuple(filters)
    if any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in widths):
        raise ValueError(f"`{name}` entries must be integers >= 1. {received}")
    if depth is None and len(widths) < 2:
        raise ValueError(f"`{name}` needs >= 2 entries, one per level. {received}")
    if depth is not None and len(widths) != depth:
        raise ValueError(
            f"`{name}` needs {depth} entries, one per level of the model. {received}"
        )
    return widths


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
