"""Encoders of the backboned U-Nets: backbone table, Darknet-53, encoder factory.

Also the U-Net encoder and the adaptation of pretrained weights to other input
channels.

An encoder is a ``keras.Model`` named ``f"{name}_encoder"`` whose outputs are
the skip tensors (deepest first) and the bottom tensor. Skips are picked by
layer name from ``BACKBONES``; the keras.applications layer names are Keras'
own. Weights are never downloaded: ``encoder_weights`` is ``None`` or the path
of a local weights file of the keras.applications encoder (``include_top=
False``), e.g. Keras' ``*_notop.h5`` ImageNet file or a ``save_weights`` file.
The decoders and models are in :mod:`zoo.backboned_unet`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
from keras import layers

from zoo.blocks import (
    activation_layer,
    conv,
    conv_block,
    max_pool,
    norm_layer,
    residual_add,
    zero_pad,
)
from zoo.validation import (
    check_divisible,
    check_input_shape,
    check_positive_int,
)

__all__ = [
    "BACKBONES",
    "STAGES",
    "Backbone",
    "adapt_input_kernel",
    "build_encoder",
    "check_encoder_options",
    "darknet52_encoder",
]

# Every encoder down-samples five times; the decoder has one block per level.
STAGES = 5


class Backbone(NamedTuple):
    """How to build an encoder and where its skips are.

    Attributes:
        application: ``keras.applications`` constructor name, or ``None`` for the
            encoders built here (``darknet52``, ``orig_unet``).
        skips: Names of the skip layers, deepest (stride 16) first, at strides
            16, 8, 4, 2, 1; with fewer than five, the last decoder blocks have
            no skip.
        skip_inputs: Take each named layer's input instead of its output, for
            encoders whose blocks end with an unnamed operation (ConvNeXt ends
            each stage with an unnamed add; its skips are the inputs of the
            next down-sampling block).
        centre: Whether the encoder ends with max-pooling, which the reference
            follows with a centre block of two 3x3 conv-BN-ReLU units.
        kwargs: Extra constructor arguments.
    """

    application: str | None
    skips: tuple[str, ...]
    skip_inputs: bool = False
    centre: bool = False
    kwargs: tuple[tuple[str, object], ...] = ()


# Encoders and their skip layers (ARCHITECTURES §9), with the skips' widths. The
# encoder output is the constructor's output (conv5_block3_out, block5_pool,
# top_activation, out_relu, ConvNeXt's last LayerNormalization,
# darknet_stage5_res3_add, unet_pool4), at stride 32.
_RESNET50 = ("conv4_block6_out", "conv3_block4_out", "conv2_block3_out", "conv1_relu")
_VGG16 = (
    "block5_conv3",
    "block4_conv3",
    "block3_conv3",
    "block2_conv2",
    "block1_conv2",
)
# EfficientNetB0 and MobileNetV2 (not in the reference): the expansion
# activations that open the first block at each stride.
_EFFICIENTNET = tuple(f"block{b}a_expand_activation" for b in (6, 4, 3, 2))
_MOBILENET = tuple(f"block_{b}_expand_relu" for b in (13, 6, 3, 1))
# ConvNeXt's stem is a stride-4 patchify conv: no /2 skip.
_CONVNEXT = tuple(f"convnext_tiny_downsampling_block_{b}" for b in (2, 1, 0))
_DARKNET = tuple(
    f"darknet_stage{s}_res{u}_add" for s, u in ((4, 7), (3, 7), (2, 1), (1, 0))
)
_UNET = tuple(f"unet_enc{level}_1_act" for level in (4, 3, 2, 1, 0))
BACKBONES: dict[str, Backbone] = {
    # 1024, 512, 256, 64; the reference's 40th, 22nd, 10th and 1st encoder ReLU.
    "resnet50": Backbone("ResNet50", _RESNET50),
    # 512, 512, 256, 128, 64.
    "vgg16": Backbone("VGG16", _VGG16, centre=True),
    # 672, 240, 144, 96.
    "efficientnetb0": Backbone("EfficientNetB0", _EFFICIENTNET),
    # 576, 192, 144, 96.
    "mobilenetv2": Backbone("MobileNetV2", _MOBILENET),
    # 384, 192, 96. Built without preprocessing (see backboned_unet Notes).
    "convnext_tiny": Backbone(
        "ConvNeXtTiny",
        _CONVNEXT,
        skip_inputs=True,
        kwargs=(("include_preprocessing", False),),
    ),
    # 512, 256, 128, 64; the reference's 19th, 11th, 3rd and 1st residual add.
    "darknet52": Backbone(None, _DARKNET),
    # 1024, 512, 256, 128, 64.
    "orig_unet": Backbone(None, _UNET, centre=True),
}

# Darknet-53 (Redmon & Farhadi, "YOLOv3", 2018, Table 1): (filters, residual
# units) per stride-2 stage, as multiples of the base width 64.
_DARKNETSTAGES = ((1, 1), (2, 2), (4, 8), (8, 8), (16, 4))


def _darknet_activation(name: str) -> layers.Layer:
    return layers.LeakyReLU(negative_slope=0.1, name=name)


def _darknet_unit(
    x, filters: int, kernel_size: int, *, strides=1, padding="same", name
):
    """Darknet conv: no bias -> BN -> LeakyReLU(0.1), L2(5e-4) on the kernel."""
    x = conv(
        x,
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_regularizer=keras.regularizers.L2(5e-4),
        name=f"{name}_conv",
    )
    x = norm_layer(x, "batch", name=f"{name}_bn")
    return activation_layer(x, _darknet_activation, name=f"{name}_act")


def darknet52_encoder(
    input_shape: Sequence[int | None], *, filters: int = 64, name: str = "darknet52"
) -> keras.Model:
    """The Darknet-53 feature extractor without its classifier ("darknet52").

    Reference:
        Redmon, Farhadi, "YOLOv3: An Incremental Improvement", 2018,
        https://arxiv.org/abs/1804.02767 (Table 1), as in ARCHITECTURES §9.

    Args:
        input_shape: ``(H, W, C)``, ``H`` and ``W`` multiples of 32.
        filters: Width of the first stage; the stem has ``filters // 2`` and
            every stage doubles it. Defaults to 64.
        name: Model name. Defaults to ``"darknet52"``.

    Shapes:
        ``(B, H, W, C) -> (B, H/32, W/32, 16 * filters)``.

    Raises:
        ValueError: For a size that is not a multiple of 32 or bad ``filters``.

    Notes:
        Each stage zero-pads one row and column on the top/left, then a 3x3
        stride-2 "valid" conv, then residual units [1x1 conv to half width ->
        3x3 conv] added to the stage tensor. 52 convolutions (the classifier's
        fully connected layer of Darknet-53 is dropped).
    """
    shape = check_input_shape(input_shape, rank=2)
    check_positive_int(filters, "filters")
    check_divisible(shape, 2**STAGES, reason=f"with {STAGES} stride-2 convs")
    inputs = keras.Input(shape, name="darknet_input")
    x = _darknet_unit(inputs, max(1, filters // 2), 3, name="darknet_stem")
    for stage, (mult, units) in enumerate(_DARKNETSTAGES, start=1):
        f = filters * mult
        prefix = f"darknet_stage{stage}"
        x = zero_pad(x, ((1, 0), (1, 0)), name=f"{prefix}_pad")
        x = _darknet_unit(x, f, 3, strides=2, padding="valid", name=f"{prefix}_down")
        for unit in range(units):
            y = _darknet_unit(x, max(1, f // 2), 1, name=f"{prefix}_res{unit}_a")
            y = _darknet_unit(y, f, 3, name=f"{prefix}_res{unit}_b")
            x = residual_add(y, x, name=f"{prefix}_res{unit}_add")
    return keras.Model(inputs, x, name=name)


def _orig_unet_encoder(
    input_shape: Sequence[int | None], *, filters: int = 64, name: str = "orig_unet"
) -> keras.Model:
    """The U-Net contracting path: 5 x (2 x conv-BN-ReLU, 2x2 max-pool)."""
    inputs = keras.Input(tuple(input_shape), name="unet_input")
    x = inputs
    for level in range(STAGES):
        x = conv_block(x, filters * 2**level, norm="batch", name=f"unet_enc{level}")
        x = max_pool(x, name=f"unet_pool{level}")
    return keras.Model(inputs, x, name=name)


def adapt_input_kernel(kernel: np.ndarray, channels: int) -> np.ndarray:
    """Adapt a first-layer kernel trained on RGB to ``channels`` input channels.

    One channel: the sum of the RGB kernels, so a grey image gives the response
    the RGB kernel gives to the same image repeated on R, G and B. More channels:
    the RGB kernels repeated cyclically (R, G, B, R, ...) and scaled by
    ``3 / channels``, which keeps the response to a constant-across-channels
    image (timm's ``adapt_input_conv``).

    Args:
        kernel: ``(*kernel_size, 3, filters)`` kernel.
        channels: Target number of input channels.

    Returns:
        ``(*kernel_size, channels, filters)`` kernel.

    Raises:
        ValueError: If the kernel does not read 3 channels or ``channels < 1``.
    """
    kernel = np.asarray(kernel)
    check_positive_int(channels, "channels")
    if kernel.ndim < 3 or kernel.shape[-2] != 3:
        raise ValueError(
            "`kernel` needs a (*kernel_size, 3, filters) shape. "
            f"Received: kernel.shape={kernel.shape}"
        )
    if channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    index = np.arange(channels) % 3
    return np.take(kernel, index, axis=-2) * (3.0 / channels)


def _adapt_weight(source: np.ndarray, target_shape, layer: str) -> np.ndarray:
    """Fit one weight of the 3-channel encoder to the N-channel encoder."""
    if source.shape == tuple(target_shape):
        return source
    if source.ndim >= 3 and source.shape[-2] == 3:
        return adapt_input_kernel(source, int(target_shape[-2]))
    if source.ndim == 1 and source.shape[0] == 3:
        # Per-channel input statistics (EfficientNet's Normalization layer).
        channels = int(target_shape[0])
        if channels == 1:
            return source.mean(keepdims=True)
        return source[np.arange(channels) % 3]
    raise ValueError(
        f"Cannot adapt weight of layer {layer!r} from shape {source.shape} to "
        f"{tuple(target_shape)}."
    )


def _transfer_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy every weight of ``source`` into ``target``, adapting the input layers."""
    for src, dst in zip(source.layers, target.layers, strict=True):
        values = [
            _adapt_weight(np.asarray(w), v.shape, dst.name)
            for w, v in zip(src.get_weights(), dst.weights, strict=True)
        ]
        if values:
            dst.set_weights(values)


def _application(
    backbone: Backbone, input_shape: tuple, weights: str | None
) -> keras.Model:
    """A keras.applications encoder, with local weights adapted to any channels."""
    constructor = getattr(keras.applications, backbone.application)
    kwargs = dict(backbone.kwargs, include_top=False)
    if weights is None or input_shape[-1] == 3:
        return constructor(weights=weights, input_shape=input_shape, **kwargs)
    # Load the file into the 3-channel encoder, then copy it over (ARCHITECTURES
    # §9: non-RGB inputs must work with pretrained weights).
    rgb = constructor(weights=weights, input_shape=(*input_shape[:-1], 3), **kwargs)
    model = constructor(weights=None, input_shape=input_shape, **kwargs)
    _transfer_weights(rgb, model)
    return model


def build_encoder(
    input_shape: Sequence[int | None],
    backbone: str = "resnet50",
    *,
    encoder_weights: str | os.PathLike | None = None,
    encoder_filters: int | None = None,
    name: str = "encoder",
) -> keras.Model:
    """The encoder of ``backboned_unet``: outputs ``[*skips, bottom]``.

    Args:
        input_shape: ``(H, W, C)``.
        backbone: A key of ``BACKBONES``. Defaults to ``"resnet50"``.
        encoder_weights: ``None`` or a local weights file (keras.applications
            backbones only). Defaults to None.
        encoder_filters: Base width of ``darknet52`` / ``orig_unet`` (64 when
            None). Defaults to None.
        name: Model name. Defaults to ``"encoder"``.

    Returns:
        A model whose outputs are the skip tensors (deepest first, as in
        ``BACKBONES[backbone].skips``) followed by the stride-32 bottom tensor.

    Raises:
        ValueError: For a size that is not a multiple of 32, an unknown
            backbone or a weights value that is not a local file.
    """
    shape = check_encoder_options(
        input_shape, backbone, encoder_weights, encoder_filters
    )
    spec = BACKBONES[backbone]
    encoder_weights = None if encoder_weights is None else str(encoder_weights)
    if spec.application is not None:
        model = _application(spec, shape, encoder_weights)
    elif backbone == "darknet52":
        model = darknet52_encoder(shape, filters=encoder_filters or 64)
    else:
        model = _orig_unet_encoder(shape, filters=encoder_filters or 64)
    skips = [model.get_layer(skip) for skip in spec.skips]
    outputs = [s.input if spec.skip_inputs else s.output for s in skips]
    outputs.append(model.output)
    return keras.Model(model.inputs, outputs, name=name)


def check_encoder_options(
    input_shape, backbone: str, encoder_weights, encoder_filters
) -> tuple:
    """Validate the encoder's arguments; return the checked input shape."""
    shape = check_input_shape(input_shape, rank=2)
    if backbone not in BACKBONES:
        raise ValueError(
            f"`backbone` must be one of {sorted(BACKBONES)}. "
            f"Received: backbone={backbone!r}"
        )
    check_divisible(shape, 2**STAGES, reason=f"with {STAGES} x2 down-samplings")
    application = BACKBONES[backbone].application
    if encoder_weights is not None:
        if application is None:
            raise ValueError(
                "`encoder_weights` is only available for keras.applications "
                f"backbones. Received: encoder_weights={encoder_weights!r} with "
                f"backbone={backbone!r}"
            )
        if not isinstance(encoder_weights, str | os.PathLike) or not os.path.isfile(
            encoder_weights
        ):
            raise ValueError(
                "`encoder_weights` must be None or the path of a local weights "
                "file (weights are never downloaded). "
                f"Received: encoder_weights={encoder_weights!r}"
            )
    if encoder_filters is not None:
        if application is not None:
            raise ValueError(
                "`encoder_filters` only sets the width of 'darknet52' and "
                f"'orig_unet'. Received: encoder_filters={encoder_filters!r} "
                f"with backbone={backbone!r}"
            )
        check_positive_int(encoder_filters, "encoder_filters")
    return shape
