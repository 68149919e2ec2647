"""Training batch normalization with TensorFlow's fused kernel.

Keras 3's ``BatchNormalization`` computes its batch moments and the
normalization from separate ops (``ops.moments``, ``ops.batch_normalization``),
and so does their gradient: on the TensorFlow backend without XLA that is a
few dozen small kernels per layer (keras-team/keras-core#225, "BatchNorm is
slow"), where PyTorch and tf.keras 2 (``fused=True``) run one fused kernel.
:func:`fused_batch_norm` makes the training step of a model use
``tf.compat.v1.nn.fused_batch_norm`` (``FusedBatchNormV3`` and its fused
gradient) for each eligible layer, for as long as the ``with`` block lasts.

Same numbers: the fused kernel normalizes with the biased batch variance, as
Keras does; the moving statistics are updated with Keras's formula (``moving *
momentum + batch * (1 - momentum)``), from the biased variance (the kernel's
Bessel-corrected output is scaled back). The layers, their config, weights and
saved files are unchanged (only the instance's ``call`` is replaced, then
restored), so checkpoints written inside the block are plain Keras models.

Eligible: channels-last 4D input (images) in training mode, trainable, without
a mask, ``renorm`` or ``synchronized``, epsilon >= 1.001e-5 (the kernel's
minimum). Any other call runs Keras's own code, so inference is untouched.
Volumes (5D) keep Keras's code: on the CPU the kernel's NDHWC path was no
faster for the layer alone, and the 3D U-Net's training step slower with it
(``benchmarks/train_throughput.py``), where on images it is 2.5x faster per
layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

#: The smallest epsilon ``FusedBatchNormV3`` accepts.
MIN_EPSILON = 1.001e-5


def _eligible(layer: keras.layers.BatchNormalization) -> bool:
    built_rank = getattr(layer.input_spec, "ndim", None)
    return (
        built_rank in (None, 4)
        and not layer.renorm
        and not layer.synchronized
        and layer.epsilon >= MIN_EPSILON
    )


def _fused_call(layer: keras.layers.BatchNormalization):
    """``layer.call`` with the fused kernel in training mode."""
    keras_call = layer.call

    def call(inputs, training=None, mask=None):
        rank = len(inputs.shape)
        if (
            not (training and layer.trainable)
            or mask is not None
            or rank != 4
            or layer.axis not in (-1, rank - 1)
        ):
            return keras_call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)  # Keras normalizes in float32 too
        channels = x.shape[-1]
        gamma = tf.cast(layer.gamma, tf.float32) if layer.scale else tf.ones(channels)
        beta = tf.cast(layer.beta, tf.float32) if layer.center else tf.zeros(channels)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x,
            gamma,
            beta,
            epsilon=layer.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        n = tf.cast(tf.size(x, out_type=tf.int64) // channels, tf.float32)
        variance = variance * (n - 1.0) / n  # the kernel returns it Bessel-corrected
        momentum = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
        layer.moving_variance.assign(
            layer.moving_variance * momentum + variance * (1.0 - momentum)
        )
        return tf.cast(y, layer.compute_dtype)

    return call


def _batch_norms(
    layer: keras.layers.Layer,
) -> Iterator[keras.layers.BatchNormalization]:
    """Every BatchNormalization in ``layer``, nested models included."""
    if isinstance(layer, keras.layers.BatchNormalization):
        yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _batch_norms(sub)


def fuse(model: keras.Model) -> tuple[int, Callable[[], None]]:
    """Train ``model``'s batch normalization with the fused kernel from now on.

    Returns the number of layers switched and the function that switches them
    back. The compiled train step is reset by both, so the next ``fit``
    traces the path that is in force. A model compiled for XLA
    (``jit_compile``) is left as it is: XLA fuses the ops itself, and on a CPU
    its lowering of the fused kernel is far slower.
    """
    if getattr(model, "jit_compile", None) is True:
        return 0, lambda: None
    unique = {id(layer): layer for layer in _batch_norms(model)}  # shared ones once
    layers = [layer for layer in unique.values() if _eligible(layer)]
    for layer in layers:
        layer.call = _fused_call(layer)
    model.train_function = None

    def undo() -> None:
        for layer in layers:
            del layer.call
        model.train_function = None

    return len(layers), undo


@contextlib.contextmanager
def fused_batch_norm(model: keras.Model) -> Iterator[int]:
    """:func:`fuse` for the ``with`` block; yields the number of layers switched."""
    switched, undo = fuse(model)
    try:
        yield switched
    finally:
        undo()
