"""Registry of the zoo's model builders, keyed by the builder's function name."""

from __future__ import annotations

from collections.abc import Callable

import keras

Builder = Callable[..., keras.Model]

_REGISTRY: dict[str, Builder] = {}


def register(builder: Builder) -> Builder:
    """Register a model builder under its function name (used as a decorator).

    Raises:
        ValueError: If another builder already uses the name.
    """
    key = builder.__name__
    if key in _REGISTRY and _REGISTRY[key] is not builder:
        raise ValueError(f"A model named {key!r} is already registered.")
    _REGISTRY[key] = builder
    return builder


def get(name: str) -> Builder:
    """Return the builder registered as ``name``.

    Example:
        >>> import zoo
        >>> zoo.get("unet_padding") is zoo.unet_padding
        True

    Raises:
        ValueError: If ``name`` is unknown; the message lists the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Valid names: {', '.join(list_models())}"
        ) from None


def list_models() -> list[str]:
    """Names of all registered builders, sorted."""
    return sorted(_REGISTRY)
