"""Custom, serializable layers of the zoo.

Every layer here is registered with ``keras.saving.register_keras_serializable``
under the package ``"zoo"`` and has a complete ``get_config``, so that after
``import zoo`` a saved model reloads with plain ``keras.models.load_model`` (no
``custom_objects``, ``safe_mode=True``). They replace the ``Lambda`` layers of the
reference implementations (cropping, channel padding, trilinear up-sampling,
instance normalisation). All layers are channels-last and rank-generic (2D or 3D)
unless stated otherwise, and use ``keras.ops`` only.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

__all__ = [
    "CenterCropToMatch",
    "ZeroPadChannels",
    "LinearUpSampling",
    "SampleNormalization",
]


def _spatial_shape(x):
    """Spatial sizes of a channels-last tensor, static ints where known."""
    static = x.shape[1:-1]
    dynamic = ops.shape(x)[1:-1]
    return [s if s is not None else d for s, d in zip(static, dynamic, strict=True)]


@keras.saving.register_keras_serializable(package="zoo")
class CenterCropToMatch(keras.layers.Layer):
    """Centre-crop a tensor to the spatial size of a reference tensor.

    Used by the valid-padding U-Net (Ronneberger et al., MICCAI 2015, Fig. 1:
    "cropping is necessary due to the loss of border pixels in every
    convolution"). When the size difference is odd, the floor half is removed on
    the top/left (leading) side and the rest on the bottom/right (trailing) side.

    Call arguments:
        inputs: ``[x, reference]``; ``x`` is ``(B, *spatial, C)`` and every spatial
            size of ``x`` must be >= the reference's.

    Shapes:
        ``[(B, *S, C), (B, *R, C')] -> (B, *R, C)``.
    """

    def call(self, inputs):
        """Crop ``inputs[0]`` to the spatial shape of ``inputs[1]``."""
        x, reference = inputs
        src = _spatial_shape(x)
        dst = _spatial_shape(reference)
        start = [0] + [(s - d) // 2 for s, d in zip(src, dst, strict=True)] + [0]
        size = [ops.shape(x)[0], *dst, ops.shape(x)[-1]]
        return ops.slice(x, start, size)

    def compute_output_shape(self, input_shapes):
        """Spatial shape of the reference, batch and channels of ``x``."""
        x_shape, ref_shape = input_shapes
        for s, r in zip(x_shape[1:-1], ref_shape[1:-1], strict=True):
            if s is not None and r is not None and s < r:
                raise ValueError(
                    "CenterCropToMatch needs the cropped tensor to be at least as "
                    f"large as the reference. Received: {tuple(x_shape)} vs "
                    f"{tuple(ref_shape)}"
                )
        return (x_shape[0], *ref_shape[1:-1], x_shape[-1])


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPadChannels(keras.layers.Layer):
    """Append zero channels so a tensor reaches ``channels`` channels.

    The V-Net residual sum (Milletari et al., 3DV 2016, Sec. 2) adds the input of
    a stage to its output; when the stage widens the features, the narrower
    tensor is zero-padded on the channel axis (at the end) before the add.

    Args:
        channels: Target channel count (>= the input's channel count).

    Shapes:
        ``(B, *spatial, C) -> (B, *spatial, channels)``.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        if int(channels) < 1:
            raise ValueError(
                f"`channels` must be a positive integer. Received: channels={channels}"
            )
        self.channels = int(channels)

    def build(self, input_shape):
        """Check that the input is not wider than the target."""
        if input_shape[-1] is None or input_shape[-1] > self.channels:
            raise ValueError(
                "ZeroPadChannels needs a known input width <= `channels`. Received: "
                f"input width {input_shape[-1]}, channels={self.channels}"
            )
        self._pad = self.channels - int(input_shape[-1])

    def call(self, inputs):
        """Zero-pad the channel axis at its end."""
        if self._pad == 0:
            return inputs
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[0, self._pad]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        """Same shape with ``channels`` channels."""
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        """Serializable configuration."""
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="zoo")
class LinearUpSampling(keras.layers.Layer):
    """Parameter-free (bi/tri)linear up-sampling by integer factors.

    Separable linear interpolation with half-pixel centres (``align_corners``
    off), the convention of ``tf.image.resize(..., "bilinear")`` and PyTorch's
    ``interpolate(..., align_corners=False)``; edges are clamped. Keras'
    ``UpSampling3D`` is nearest-neighbour only, so the V-Net and 2.5D U-Net
    decoders use this layer for their trilinear up-sampling. Works for any rank
    and any per-axis factors, e.g. ``(2, 2, 1)`` for anisotropic volumes.

    Args:
        size: One positive integer factor per spatial axis. Defaults to ``(2, 2)``.

    Shapes:
        ``(B, *S, C) -> (B, *(S * size), C)``.
    """

    def __init__(self, size: Sequence[int] = (2, 2), **kwargs):
        super().__init__(**kwargs)
        size = tuple(int(s) for s in size)
        if not size or any(s < 1 for s in size):
            raise ValueError(
                f"`size` needs one positive factor per spatial axis. Received: {size}"
            )
        self.size = size

    def build(self, input_shape):
        """Check the factors against the input rank."""
        if len(input_shape) - 2 != len(self.size):
            raise ValueError(
                f"LinearUpSampling with size={self.size} expects "
                f"{len(self.size)} spatial axes. Received input shape {input_shape}"
            )

    @staticmethod
    def _upsample_axis(x, axis: int, factor: int):
        """Linearly up-sample one axis of ``x`` by an integer ``factor``."""
        n = ops.shape(x)[axis]
        idx = ops.arange(n)
        prev = ops.take(x, ops.maximum(idx - 1, 0), axis=axis)
        nxt = ops.take(x, ops.minimum(idx + 1, n - 1), axis=axis)
        phases = []
        for r in range(factor):
            # Output pixel (i * factor + r) samples input coordinate i + offset.
            offset = (r + 0.5) / factor - 0.5
            neighbour = prev if offset < 0 else nxt
            w = abs(offset)
            phases.append(x if w == 0 else (1.0 - w) * x + w * neighbour)
        stacked = ops.stack(phases, axis=axis + 1)
        shape = list(ops.shape(x))
        shape[axis] = shape[axis] * factor
        return ops.reshape(stacked, shape)

    def call(self, inputs):
        """Up-sample every spatial axis by its factor."""
        x = inputs
        for axis, factor in enumerate(self.size, start=1):
            if factor > 1:
                x = self._upsample_axis(x, axis, factor)
        return x

    def compute_output_shape(self, input_shape):
        """Spatial sizes multiplied by the factors."""
        spatial = [
            None if s is None else s * f
            for s, f in zip(input_shape[1:-1], self.size, strict=True)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        """Serializable configuration."""
        return {**super().get_config(), "size": list(self.size)}


@keras.saving.register_keras_serializable(package="zoo")
class SampleNormalization(keras.layers.Layer):
    """Normalise each sample over all its non-batch axes, scalar gain and bias.

    The "instance normalisation" of the reference 3D V-Net in its default form:
    ``y = gamma * (x - mean) / (std + epsilon) + beta`` with mean and standard
    deviation taken per sample over every spatial axis and channel, and a single
    scalar ``gamma`` and ``beta`` (2 weights). It is the V-Net family's
    ``bn=False`` alternative to batch normalisation for batch size 1.

    Args:
        epsilon: Added to the standard deviation. Defaults to ``1e-3``.

    Shapes:
        ``(B, *spatial, C) -> (B, *spatial, C)``.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon}")
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        """Create the scalar gain and bias."""
        self.gamma = self.add_weight(shape=(), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(), initializer="zeros", name="beta")

    def call(self, inputs):
        """Standardise per sample, then scale and shift."""
        axes = tuple(range(1, len(inputs.shape)))
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        std = ops.std(inputs, axis=axes, keepdims=True)
        gamma = ops.cast(self.gamma, inputs.dtype)
        beta = ops.cast(self.beta, inputs.dtype)
        return gamma * (inputs - mean) / (std + self.epsilon) + beta

    def compute_output_shape(self, input_shape):
        """Unchanged shape."""
        return input_shape

    def get_config(self):
        """Serializable configuration."""
        return {**super().get_config(), "epsilon": self.epsilon}
