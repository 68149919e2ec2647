"""Argument checks shared by the U-Net variant builders (raise ``ValueError``)."""

from __future__ import annotations

from collections.abc import Sequence


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
