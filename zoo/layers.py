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
import numpy as np
from keras import ops

__all__ = [
    "BuildRecord",
    "CenterCropToMatch",
    "ZeroPadChannels",
    "LinearUpSampling",
    "SlicedMaxPooling",
    "SlicedDepthwiseConv3D",
    "SampleNormalization",
    "ScalarLayerNormalization",
    "DropBlock",
    "ChannelMeanMax",
    "ClassificationGate",
    "PadChannels",
    "BilinearKernel",
]


def _spatial_shape(x):
    """Spatial sizes of a channels-last tensor, static ints where known."""
    static = x.shape[1:-1]
    dynamic = ops.shape(x)[1:-1]
    return [s if s is not None else d for s, d in zip(static, dynamic, strict=True)]


@keras.saving.register_keras_serializable(package="zoo")
class CenterCropToMatch(keras.layers.Layer):
    """Crop a tensor to the spatial size of a reference tensor.

    Used by the valid-padding U-Net (Ronneberger et al., MICCAI 2015, Fig. 1:
    "cropping is necessary due to the loss of border pixels in every
    convolution"). By default the crop is centred; when the size difference is
    odd, the floor half is removed on the top/left (leading) side and the rest on
    the bottom/right (trailing) side. ``offset`` fixes the leading crop instead,
    which keeps a skip aligned with the decoder when floor pooling dropped
    trailing pixels.

    Args:
        offset: Leading pixels to drop per spatial axis, or None to centre.
            Defaults to None.

    Call arguments:
        inputs: ``[x, reference]``; ``x`` is ``(B, *spatial, C)`` and every spatial
            size of ``x`` must be >= the reference's (plus ``offset``).

    Shapes:
        ``[(B, *S, C), (B, *R, C')] -> (B, *R, C)``.
    """

    def __init__(self, offset: Sequence[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        if offset is not None:
            offset = tuple(int(o) for o in offset)
            if any(o < 0 for o in offset):
                raise ValueError(
                    f"`offset` must be non-negative. Received: offset={offset}"
                )
        self.offset = offset

    def call(self, inputs):
        """Crop ``inputs[0]`` to the spatial shape of ``inputs[1]``."""
        x, reference = inputs
        src = _spatial_shape(x)
        dst = _spatial_shape(reference)
        if self.offset is None:
            lead = [(s - d) // 2 for s, d in zip(src, dst, strict=True)]
        else:
            lead = list(self.offset)
        start = [0, *lead, 0]
        size = [ops.shape(x)[0], *dst, ops.shape(x)[-1]]
        return ops.slice(x, start, size)

    def compute_output_shape(self, input_shapes):
        """Spatial shape of the reference, batch and channels of ``x``."""
        x_shape, ref_shape = input_shapes
        lead = self.offset or (0,) * (len(x_shape) - 2)
        for s, r, o in zip(x_shape[1:-1], ref_shape[1:-1], lead, strict=True):
            if s is not None and r is not None and s < r + o:
                raise ValueError(
                    "CenterCropToMatch needs the cropped tensor to be at least as "
                    f"large as the reference (plus offset {self.offset}). Received: "
                    f"{tuple(x_shape)} vs {tuple(ref_shape)}"
                )
        return (x_shape[0], *ref_shape[1:-1], x_shape[-1])

    def get_config(self):
        """Serializable configuration."""
        offset = None if self.offset is None else list(self.offset)
        return {**super().get_config(), "offset": offset}


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
class SlicedMaxPooling(keras.layers.Layer):
    """Max pooling as element-wise maxima of strided slices.

    The same numbers as ``MaxPooling2D``/``MaxPooling3D(pool_size, strides,
    padding)``, built from padding, slicing and ``maximum`` only: ops every
    runtime has, where TFLite has no 3D max pooling. The TFLite export swaps it
    in for ``MaxPooling3D`` (:func:`train_scripts.export.export_ready`); the
    models themselves keep Keras' pooling layer.

    Args:
        pool_size: One positive integer window per spatial axis.
        strides: One positive integer stride per axis. Defaults to None
            (``pool_size``).
        padding: ``"valid"`` or ``"same"`` (Keras' meaning: ``ceil(n /
            stride)`` outputs, the window padded with ``-inf``, the extra pixel
            at the end). Defaults to "valid".

    Shapes:
        ``(B, *S, C) -> (B, *S_out, C)`` with ``S_out`` as Keras' pooling.
    """

    def __init__(
        self,
        pool_size: Sequence[int],
        strides: Sequence[int] | None = None,
        padding: str = "valid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        pool_size = tuple(int(k) for k in pool_size)
        strides = pool_size if strides is None else tuple(int(s) for s in strides)
        if (
            not pool_size
            or len(strides) != len(pool_size)
            or min(pool_size + strides) < 1
        ):
            raise ValueError(
                "`pool_size` and `strides` need one positive integer per spatial "
                f"axis. Received: pool_size={pool_size}, strides={strides}"
            )
        if padding not in ("valid", "same"):
            raise ValueError(
                f"`padding` must be 'valid' or 'same'. Received: {padding!r}"
            )
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def _out_size(self, n, k: int, s: int):
        if self.padding == "same":
            return (n + s - 1) // s
        return (n - k) // s + 1

    def call(self, inputs):
        """The maximum over each window, one spatial axis at a time."""
        x = inputs
        windows = zip(self.pool_size, self.strides, strict=True)
        for axis, (k, s) in enumerate(windows, start=1):
            if k == s == 1:
                continue
            n = _spatial_shape(x)[axis - 1]
            n_out = self._out_size(n, k, s)
            if self.padding == "same":
                total = (n_out - 1) * s + k - n
                if isinstance(total, int):
                    total = max(total, 0)
                else:
                    total = ops.maximum(total, 0)
                pad = [[0, 0]] * ops.ndim(x)
                pad[axis] = [total // 2, total - total // 2]
                x = ops.pad(x, pad, constant_values=-np.inf)
            lead = (slice(None),) * axis
            span = (n_out - 1) * s + 1
            pooled = x[lead + (slice(0, span, s),)]
            for r in range(1, k):
                pooled = ops.maximum(pooled, x[lead + (slice(r, r + span, s),)])
            x = pooled
        return x

    def compute_output_shape(self, input_shape):
        """Spatial sizes as Keras' pooling with the same arguments."""
        spatial = [
            None if n is None else self._out_size(n, k, s)
            for n, k, s in zip(
                input_shape[1:-1], self.pool_size, self.strides, strict=True
            )
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        """Serializable configuration."""
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


@keras.saving.register_keras_serializable(package="zoo")
class SlicedDepthwiseConv3D(keras.layers.Layer):
    """Depthwise 3D convolution (valid, stride 1) as a sum of 2D depthwise ones.

    The same numbers as ``Conv3D(C, k, groups=C, padding="valid")`` on ``C``
    channels, with the same ``(kd, kh, kw, 1, C)`` kernel: output slice ``d`` is
    the sum over ``i < kd`` of the 2D depthwise convolution of input slice
    ``d + i`` with kernel slice ``i``, all slices at once with the depth folded
    into the batch. TensorFlow runs a grouped ``Conv3D`` as an XLA function that
    neither tf2onnx nor TFLite can convert, while both have a 2D depthwise
    convolution; the ONNX and TFLite exports swap this layer in
    (:func:`train_scripts.export.export_ready`), the models keep ``Conv3D``.

    Args:
        kernel_size: ``(kd, kh, kw)``.
        use_bias: Add a per-channel bias. Defaults to True.

    Shapes:
        ``(B, D, H, W, C) -> (B, D - kd + 1, H - kh + 1, W - kw + 1, C)``.
    """

    def __init__(self, kernel_size: Sequence[int], use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        if len(self.kernel_size) != 3 or min(self.kernel_size) < 1:
            raise ValueError(
                f"`kernel_size` needs three positive integers. Received: {kernel_size}"
            )
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        """Kernel ``(kd, kh, kw, 1, C)`` (and bias ``(C,)``), as ``Conv3D``'s."""
        channels = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(*self.kernel_size, 1, channels), name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(channels,), initializer="zeros", name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        """Sum of the depth-shifted 2D depthwise convolutions."""
        kd, kh, kw = self.kernel_size
        batch = ops.shape(inputs)[0]
        depth, height, width = _spatial_shape(inputs)
        channels = inputs.shape[-1]
        out_depth = depth - kd + 1
        out = None
        for i in range(kd):
            x = inputs[:, i : i + out_depth]
            x = ops.reshape(x, (-1, height, width, channels))
            kernel = ops.reshape(self.kernel[i], (kh, kw, channels, 1))
            y = ops.depthwise_conv(x, kernel, padding="valid")
            out = y if out is None else out + y
        out = ops.reshape(
            out, (batch, out_depth, height - kh + 1, width - kw + 1, channels)
        )
        return out if self.bias is None else out + self.bias

    def compute_output_shape(self, input_shape):
        """Spatial sizes reduced by ``kernel_size - 1``."""
        spatial = [
            None if n is None else n - k + 1
            for n, k in zip(input_shape[1:-1], self.kernel_size, strict=True)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        """Serializable configuration."""
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "use_bias": self.use_bias,
        }


@keras.saving.register_keras_serializable(package="zoo")
class ScalarLayerNormalization(keras.layers.Layer):
    """Layer normalisation over all non-batch axes with a scalar gain and bias.

    What the reference 3D V-Net calls "instance normalisation" in its default
    form: ``y = gamma * (x - mean) / (std + epsilon) + beta`` with mean and
    standard deviation taken per sample over every spatial axis *and channel*
    (so it is a layer norm, not an instance norm), and a single scalar ``gamma``
    and ``beta`` (2 weights). It is ``norm="sample"`` of the builders, the
    V-Net family's alternative to batch normalisation for batch size 1. Real
    instance normalisation (per sample *and channel*, as MONAI's) is
    ``norm="instance"``.

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


@keras.saving.register_keras_serializable(package="zoo")
class SampleNormalization(ScalarLayerNormalization):
    """Former name of :class:`ScalarLayerNormalization`; loads old checkpoints."""


@keras.saving.register_keras_serializable(package="zoo")
class DropBlock(keras.layers.Layer):
    """DropBlock: drop contiguous cubes of features during training (2D or 3D).

    Ghiasi, Lin, Le, "DropBlock: A regularization method for convolutional
    networks", NeurIPS 2018, https://arxiv.org/abs/1810.12890 (Algorithm 1), as
    used by SA-UNet's "structured dropout convolutional block" (Guo et al.,
    ICPR 2020). Block centres are sampled per sample and channel with rate
    ``gamma = (1 - keep_prob) / block_size**rank * prod(S) / prod(S - block_size
    + 1)`` inside the region where a whole block fits, every centre is grown
    into a ``block_size``-wide cube (a stride-1 max-pool), and the kept features
    are rescaled by ``count / kept`` over the batch. At inference the layer is
    the identity.

    Args:
        block_size: Edge of the dropped blocks; clipped per axis to the feature
            map's size when that is known, as in the reference implementation.
            Defaults to 7.
        keep_prob: Target fraction of features kept, in ``(0, 1]``. Defaults to 0.9.
        seed: Optional integer seed of the layer's ``SeedGenerator``.

    Shapes:
        ``(B, *S, C) -> (B, *S, C)``.
    """

    def __init__(
        self, block_size: int = 7, keep_prob: float = 0.9, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        if (
            isinstance(block_size, bool)
            or not isinstance(block_size, int)
            or (block_size < 1)
        ):
            raise ValueError(
                "`block_size` must be an integer >= 1. "
                f"Received: block_size={block_size!r}"
            )
        if not 0.0 < keep_prob <= 1.0:
            raise ValueError(
                f"`keep_prob` must be in (0, 1]. Received: keep_prob={keep_prob}"
            )
        self.block_size = block_size
        self.keep_prob = float(keep_prob)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        """Fix the block edge per spatial axis from the (static) input shape."""
        spatial = input_shape[1:-1]
        if len(spatial) not in (2, 3):
            raise ValueError(
                "DropBlock takes (B, H, W, C) or (B, D, H, W, C) inputs. "
                f"Received input shape {input_shape}"
            )
        self._blocks = tuple(
            self.block_size if s is None else min(self.block_size, int(s))
            for s in spatial
        )

    def _seed_region(self, sizes):
        """1 where a block centre keeps the whole block inside the map, else 0."""
        region = None
        for axis, (n, k) in enumerate(zip(sizes, self._blocks, strict=True)):
            idx = ops.arange(n)
            # A stride-1 "same" max-pool of odd or even size k spans
            # [i - (k - 1) // 2, i + k // 2]: seeds in [k // 2, n - (k - 1) // 2).
            valid = ops.logical_and(idx >= k // 2, idx < n - (k - 1) // 2)
            shape = [1] * (len(sizes) + 2)
            shape[axis + 1] = -1
            valid = ops.reshape(ops.cast(valid, "float32"), shape)
            region = valid if region is None else region * valid
        return region

    def call(self, inputs, training=None):
        """Drop blocks when ``training`` is true; identity otherwise."""
        if not training or self.keep_prob == 1.0:
            return inputs
        sizes = _spatial_shape(inputs)
        # Eq. (1) of the DropBlock paper, per axis: n / (k * (n - k + 1)).
        gamma = 1.0 - self.keep_prob
        for n, k in zip(sizes, self._blocks, strict=True):
            n = ops.cast(n, "float32")
            gamma = gamma * n / (k * ops.maximum(n - k + 1.0, 1.0))
        noise = keras.random.uniform(
            ops.shape(inputs), dtype="float32", seed=self.seed_generator
        )
        seeds = ops.cast(noise < gamma, "float32") * self._seed_region(sizes)
        dropped = ops.max_pool(seeds, self._blocks, strides=1, padding="same")
        keep = 1.0 - dropped
        scale = ops.cast(ops.size(keep), "float32") / ops.maximum(ops.sum(keep), 1.0)
        return inputs * ops.cast(keep * scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        """Unchanged shape."""
        return input_shape

    def get_config(self):
        """Serializable configuration."""
        return {
            **super().get_config(),
            "block_size": self.block_size,
            "keep_prob": self.keep_prob,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="zoo")
class ChannelMeanMax(keras.layers.Layer):
    """Mean and max over the channel axis, concatenated: ``(B, *S, C) -> (B, *S, 2)``.

    The channel descriptor of the CBAM spatial attention module (Woo et al.,
    ECCV 2018, https://arxiv.org/abs/1807.06521, Sec. 3.2) used by SA-UNet:
    ``[AvgPool_c(F); MaxPool_c(F)]``. Replaces the reference code's ``Lambda``s.
    """

    def call(self, inputs):
        """Concatenate the channel mean and the channel max."""
        return ops.concatenate(
            [
                ops.mean(inputs, axis=-1, keepdims=True),
                ops.max(inputs, axis=-1, keepdims=True),
            ],
            axis=-1,
        )

    def compute_output_shape(self, input_shape):
        """Same spatial shape with 2 channels."""
        return (*input_shape[:-1], 2)


@keras.saving.register_keras_serializable(package="zoo")
class ClassificationGate(keras.layers.Layer):
    """UNet 3+'s classification-guided module: zero the maps of organ-free images.

    Huang et al., "UNet 3+", ICASSP 2020, https://arxiv.org/abs/2004.08790,
    Sec. 2.3: the segmentation maps are multiplied by the ``argmax`` of the
    two-way "no organ / organ" classification (0 or 1 per image). The argmax
    has no gradient, so the gate is applied at inference only; during training
    the maps pass unchanged and the classifier learns from its own loss.

    Call arguments:
        inputs: ``[maps, cls]`` with maps ``(B, *S, C)`` (probabilities) and
            ``cls`` ``(B, 2)``.
        training: Python bool; ``True`` passes the maps through.

    Shapes:
        ``[(B, *S, C), (B, 2)] -> (B, *S, C)``.
    """

    def call(self, inputs, training=None):
        """Multiply the maps by ``argmax(cls)`` at inference."""
        maps, cls = inputs
        if training:
            return maps
        has_organ = ops.cast(ops.argmax(cls, axis=-1), maps.dtype)
        return maps * ops.reshape(has_organ, [-1] + [1] * (len(maps.shape) - 1))

    def compute_output_shape(self, input_shapes):
        """Shape of the maps."""
        return input_shapes[0]


@keras.saving.register_keras_serializable(package="zoo")
class PadChannels(keras.layers.Layer):
    """Zero-pad the channel axis: ``before`` leading and ``after`` trailing channels.

    Places a narrow tensor at a chosen channel index of a wider one, e.g. the
    ``branch2_unet`` side branch (1 channel) at channel ``k`` of ``C`` outputs:
    ``PadChannels(k, C - k - 1)``. ``ZeroPadChannels`` only appends at the end.

    Args:
        before: Zero channels inserted before the input's channels (>= 0).
        after: Zero channels appended after them (>= 0).

    Shapes:
        ``(B, *spatial, C) -> (B, *spatial, before + C + after)``.
    """

    def __init__(self, before: int, after: int, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("before", before), ("after", after)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"`{arg}` must be an integer >= 0. Received: {arg}={value!r}"
                )
        self.before = before
        self.after = after

    def call(self, inputs):
        """Zero-pad the channel axis at both ends."""
        if self.before == self.after == 0:
            return inputs
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[self.before, self.after]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        """Same shape with ``before + after`` more channels."""
        channels = input_shape[-1]
        if channels is not None:
            channels += self.before + self.after
        return (*input_shape[:-1], channels)

    def get_config(self):
        """Serializable configuration."""
        return {**super().get_config(), "before": self.before, "after": self.after}


def _linear_interpolation_filter(size: int) -> np.ndarray:
    """1D triangle filter of a ``size``-tap transposed conv doing linear up-sampling.

    The FCN construction (Long et al., CVPR 2015): for stride ``f`` and kernel
    ``2f`` the taps are ``1 - |i - c| / f`` with centre ``c = f - 0.5``.
    """
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    return 1.0 - np.abs(np.arange(size) - centre) / factor


@keras.saving.register_keras_serializable(package="zoo")
class BilinearKernel(keras.initializers.Initializer):
    """Initialise a transposed-conv kernel to bi/trilinear up-sampling.

    For ``Conv{2,3}DTranspose(c, kernel_size=2 * s, strides=s, padding="same")``
    the kernel maps channel ``i`` to channel ``i`` with the separable triangle
    filter of Long et al. (FCN, CVPR 2015, https://arxiv.org/abs/1411.4038), so
    the layer starts as linear interpolation with half-pixel centres (exact away
    from the ``s // 2`` border pixels); cross-channel taps are zero. The kernel
    layout is Keras': ``(*kernel_size, out_channels, in_channels)``.

    Example:
        >>> layer = keras.layers.Conv2DTranspose(
        ...     1, 8, strides=4, padding="same", kernel_initializer=BilinearKernel()
        ... )
    """

    def __call__(self, shape, dtype=None):
        """Return the bilinear kernel of ``shape``."""
        *kernel_size, out_channels, in_channels = (int(s) for s in shape)
        if not kernel_size:
            raise ValueError(
                "BilinearKernel needs a (*kernel_size, out, in) shape. "
                f"Received: shape={tuple(shape)}"
            )
        taps = np.ones((), dtype="float64")
        for size in kernel_size:
            taps = np.multiply.outer(taps, _linear_interpolation_filter(size))
        kernel = np.zeros((*kernel_size, out_channels, in_channels))
        for c in range(min(out_channels, in_channels)):
            kernel[..., c, c] = taps
        return ops.convert_to_tensor(kernel, dtype=dtype or keras.config.floatx())

    def get_config(self):
        """No configuration: the kernel depends on the shape only."""
        return {}


@keras.saving.register_keras_serializable(package="zoo")
class BuildRecord(keras.layers.Layer):
    """Identity layer that records how its model was built.

    :func:`zoo.registry.register` puts one after a model's first input; its
    config holds the registry key and the builder's arguments, so the record
    travels with the graph through ``.h5`` / ``.keras`` files and
    ``clone_model``. See :func:`zoo.registry.record_of`.

    Args:
        key: Registry key of the builder.
        arguments: The builder's arguments as JSON values.

    Shapes:
        ``x -> x`` (any shape).
    """

    def __init__(self, key: str, arguments: dict, **kwargs):
        super().__init__(**kwargs)
        self.key = str(key)
        self.arguments = dict(arguments)

    def call(self, inputs):
        """Return the input unchanged."""
        return inputs

    def compute_output_shape(self, input_shape):
        """Unchanged shape."""
        return input_shape

    def get_config(self):
        """Key and arguments, JSON-serialisable."""
        return {**super().get_config(), "key": self.key, "arguments": self.arguments}
