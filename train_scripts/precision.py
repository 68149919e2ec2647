"""The ``--precision`` option: Keras dtype policies for training and prediction.

One implementation serves the training command line, the predictor, the
evaluator and the benchmarks:

* :func:`precision_scope` sets the global dtype policy for the layers built
  inside it and always restores the previous policy;
* :func:`model_in_precision` rebuilds a loaded (float32) checkpoint under a
  policy from its build record (:func:`zoo.rebuild`) and copies its weights.

Under ``mixed_float16`` and ``mixed_bfloat16`` the layers compute in 16 bits and
keep float32 variables; the zoo's output heads run their activation in float32
(:func:`zoo.blocks.output_head`), so outputs and losses stay float32. With
``mixed_float16``, ``Model.compile`` wraps the optimizer in a
``keras.optimizers.LossScaleOptimizer`` itself (dynamic loss scaling).

Reference:
    P. Micikevicius et al., "Mixed Precision Training", ICLR 2018,
    https://arxiv.org/abs/1710.03740.

Example:
    >>> import zoo
    >>> with precision_scope("mixed_bfloat16"):
    ...     model = zoo.unet_padding((32, 32, 1), depth=2, filters=4)
    >>> model.layers[2].compute_dtype, model.outputs[0].dtype
    ('bfloat16', 'float32')
    >>> keras.mixed_precision.global_policy().name
    'float32'
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

import keras

import zoo
from train_scripts.hardware import has_native_bfloat16, native_precision

__all__ = [
    "PRECISIONS",
    "add_precision_argument",
    "check_precision",
    "model_in_precision",
    "model_precision",
    "precision_scope",
    "resolve_precision",
]

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
#: The ``--precision`` value that picks :func:`train_scripts.hardware.native_precision`.
AUTO = "auto"


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`.

    Raises:
        ValueError: Naming the valid precisions otherwise.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}. Valid precisions: "
            f"{', '.join(PRECISIONS)} (or {AUTO!r} on the command line)"
        )
    return precision


def resolve_precision(precision: str, *, announce: bool = False) -> str:
    """The dtype policy of a ``--precision`` value.

    ``"auto"`` is the one the hardware runs natively
    (:func:`train_scripts.hardware.native_precision`); any other value is
    checked and returned.

    With ``announce``, writes a line to stderr saying what ``"auto"`` chose,
    or that ``mixed_bfloat16`` is emulated (about 10x slower than float32 in
    this project's benchmark) on a CPU without AVX-512 BF16 or AMX.

    Raises:
        ValueError: On an unknown precision.
    """
    if precision == AUTO:
        chosen = native_precision()
        if announce:
            print(f"--precision auto: {chosen} on this machine", file=sys.stderr)
        return chosen
    check_precision(precision)
    if announce and precision == "mixed_bfloat16" and has_native_bfloat16() is False:
        if native_precision() == "float32":  # no GPU either
            print(
                "note: this CPU has no bfloat16 instructions (AVX-512 BF16 or AMX): "
                "mixed_bfloat16 is emulated and trains about 10x slower than "
                "float32 here; --precision auto or float32 is faster",
                file=sys.stderr,
            )
    return precision


def add_precision_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    help_text: str,
    default: str = "float32",
) -> None:
    """Adds ``--precision``: one of :data:`PRECISIONS` or ``auto``."""
    parser.add_argument(
        "--precision",
        default=default,
        choices=(*PRECISIONS, AUTO),
        help=f"{help_text}; auto: mixed_float16 on a GPU with tensor cores, "
        "mixed_bfloat16 on a CPU with AVX-512 BF16 or AMX, float32 otherwise "
        f"(default {default})",
    )


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Builds layers under the dtype policy ``precision``, then restores the old one.

    Raises:
        ValueError: On an unknown precision (before the policy changes).
    """
    check_precision(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def model_precision(model: keras.Model) -> str:
    """The dtype policy of a model's weighted layers (``"float32"`` if none).

    Layers without weights may differ on purpose (the float32 output
    activation), so only layers that hold weights count; several policies
    among them are listed, comma-separated.
    """
    names = {layer.dtype_policy.name for layer in _weighted_layers(model)}
    return ", ".join(sorted(names)) or "float32"


def _weighted_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Layers holding weights, nested models opened."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _weighted_layers(layer)
        elif layer.weights:
            yield layer


def model_in_precision(model: keras.Model, precision: str) -> keras.Model:
    """The model with its layers computing in ``precision``, weights copied.

    A model already in ``precision`` is returned as is; otherwise its builder
    is called again from its build record inside :func:`precision_scope`.

    Raises:
        ValueError: On an unknown precision, or a model without a build record
            (not built by a zoo builder) that would need a rebuild.
    """
    check_precision(precision)
    if model_precision(model) == precision:
        return model
    if zoo.record_of(model) is None:
        raise ValueError(
            f"--precision {precision} rebuilds the model under that policy from "
            f"its zoo build record, but {model.name!r} carries none (not built by "
            "a zoo builder, or saved by an older version); predict in "
            f"{model_precision(model)} or re-save it from zoo.get(key)(...)"
        )
    with precision_scope(precision):
        return zoo.rebuild(model)
