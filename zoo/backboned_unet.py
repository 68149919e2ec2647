"""U-Net decoders on classification encoders: backboned, fine-grained, branch2.

Three derived U-Nets of the design notes ("衍生网络") share one trunk:

- ``backboned_unet``: a LinkNet-style decoder on an encoder taken from
  ``keras.applications`` (ResNet50, VGG16, EfficientNetB0, MobileNetV2,
  ConvNeXtTiny), a Darknet-53 encoder or the U-Net's own encoder.
- ``fine_grained_unet``: the same trunk, shared between a full-image input and a
  region-of-interest input, with one head each (big and tiny instances). The
  serial predictor lives in ``zoo.fine_grained``.
- ``branch2_unet``: a multi-channel output where one task branches off an
  intermediate decoder level, is up-sampled and added to its output channel.

The encoder is a nested ``keras.Model`` named ``f"{name}_encoder"`` whose
outputs are the skip tensors (deepest first) and the bottom tensor. Skips are
picked by layer name from ``BACKBONES``; the keras.applications layer names are
Keras' own. Weights are never downloaded: ``encoder_weights`` is ``None`` or the
path of a local weights file of the keras.applications encoder (``include_top=
False``), e.g. Keras' ``*_notop.h5`` ImageNet file or a ``save_weights`` file.
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
    conv_transpose,
    conv_unit,
    max_pool,
    norm_layer,
    output_head,
    residual_add,
    zero_pad,
)
from zoo.layers import BilinearKernel, PadChannels
from zoo.registry import register
from zoo.validation import (
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
)

__all__ = [
    "BACKBONES",
    "Backbone",
    "adapt_input_kernel",
    "backboned_unet",
    "branch2_unet",
    "build_encoder",
    "darknet52_encoder",
    "fine_grained_unet",
]

# Every encoder down-samples five times; the decoder has one block per level.
_STAGES = 5


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
_DARKNET_STAGES = ((1, 1), (2, 2), (4, 8), (8, 8), (16, 4))


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
    check_divisible(shape, 2**_STAGES, reason=f"with {_STAGES} stride-2 convs")
    inputs = keras.Input(shape, name="darknet_input")
    x = _darknet_unit(inputs, max(1, filters // 2), 3, name="darknet_stem")
    for stage, (mult, units) in enumerate(_DARKNET_STAGES, start=1):
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
    for level in range(_STAGES):
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
    shape = _check_encoder_options(
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


def _decoder_block(x, skip, filters: int, *, name: str):
    """LinkNet-style decoder block (ARCHITECTURES §9).

    1x1 CBR to a quarter of the width -> 4x4 stride-2 transposed conv -> 1x1
    CBR to ``filters`` -> add the skip. Returns the output and the first unit's
    ReLU output (``branch2_unet``'s tap).
    """
    quarter = max(1, x.shape[-1] // 4)
    tap = conv_unit(x, quarter, 1, norm="batch", name=f"{name}_reduce")
    x = conv_transpose(tap, quarter, 4, strides=2, padding="same", name=f"{name}_up")
    x = conv_unit(x, filters, 1, norm="batch", name=f"{name}_expand")
    if skip is not None:
        x = layers.Add(name=f"{name}_add")([x, skip])
    return x, tap


def _check_encoder_options(
    input_shape, backbone: str, encoder_weights, encoder_filters
) -> tuple:
    """Validate the encoder's arguments; return the checked input shape."""
    shape = check_input_shape(input_shape, rank=2)
    if backbone not in BACKBONES:
        raise ValueError(
            f"`backbone` must be one of {sorted(BACKBONES)}. "
            f"Received: backbone={backbone!r}"
        )
    check_divisible(shape, 2**_STAGES, reason=f"with {_STAGES} x2 down-samplings")
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


def _check_options(
    input_shape,
    backbone: str,
    encoder_weights,
    encoder_filters,
    decoder_filters,
    centre_filters,
) -> tuple:
    """Validate the trunk's arguments; return the checked input shape."""
    shape = _check_encoder_options(
        input_shape, backbone, encoder_weights, encoder_filters
    )
    decoder_filters = tuple(decoder_filters)
    if len(decoder_filters) != _STAGES or any(
        isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in decoder_filters
    ):
        raise ValueError(
            f"`decoder_filters` needs {_STAGES} positive integers. "
            f"Received: decoder_filters={decoder_filters}"
        )
    check_positive_int(centre_filters, "centre_filters")
    return shape


def _trunk(
    input_shape,
    *,
    backbone: str,
    encoder_weights,
    freeze_encoder: bool,
    encoder_filters,
    decoder_filters,
    centre_filters: int,
    input_name: str,
    name: str,
):
    """Validate, then build input -> encoder -> [centre] -> 5 decoder blocks.

    Returns:
        ``(inputs, output, taps)``; ``taps`` are the decoder blocks' first
        ReLU outputs (``branch2_unet``'s branch points).
    """
    shape = _check_options(
        input_shape,
        backbone,
        encoder_weights,
        encoder_filters,
        decoder_filters,
        centre_filters,
    )
    inputs = keras.Input(shape, name=input_name)
    encoder = build_encoder(
        shape,
        backbone,
        encoder_weights=encoder_weights,
        encoder_filters=encoder_filters,
        name=f"{name}_encoder",
    )
    encoder.trainable = not freeze_encoder
    *skips, x = encoder(inputs)
    if BACKBONES[backbone].centre:
        x = conv_block(x, centre_filters, norm="batch", name=f"{name}_centre")
    taps = []
    for i in range(_STAGES):
        skip = skips[i] if i < len(skips) else None
        filters = skip.shape[-1] if skip is not None else decoder_filters[i]
        x, tap = _decoder_block(x, skip, filters, name=f"{name}_dec{i}")
        taps.append(tap)
    return inputs, x, taps


@register
def backboned_unet(
    input_shape: Sequence[int | None] = (256, 256, 1),
    n_classes: int = 1,
    *,
    backbone: str = "resnet50",
    encoder_weights: str | os.PathLike | None = None,
    freeze_encoder: bool = False,
    encoder_filters: int | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
    centre_filters: int = 512,
    output_activation: str | None = "auto",
    name: str = "backboned_unet",
) -> keras.Model:
    """U-Net decoder on a classification encoder (ResNet50, VGG16, Darknet-53, ...).

    Reference:
        The design notes' "backboned-unet" (ARCHITECTURES §9). Decoder blocks
        after LinkNet: Chaurasia, Culurciello, "LinkNet: Exploiting Encoder
        Representations for Efficient Semantic Segmentation", VCIP 2017,
        https://arxiv.org/abs/1707.03718. Encoders: He et al., "Deep Residual
        Learning for Image Recognition", CVPR 2016, https://arxiv.org/abs/1512.03385;
        Simonyan, Zisserman, ICLR 2015, https://arxiv.org/abs/1409.1556; Redmon,
        Farhadi, "YOLOv3", 2018, https://arxiv.org/abs/1804.02767.

    Args:
        input_shape: ``(H, W, C)``; ``H`` and ``W`` multiples of 32 (``None`` for
            any such size), any number of channels. Defaults to ``(256, 256, 1)``.
        n_classes: Output channels. Defaults to 1.
        backbone: Encoder, a key of ``BACKBONES``: ``"resnet50"``, ``"vgg16"``,
            ``"efficientnetb0"``, ``"mobilenetv2"``, ``"convnext_tiny"``
            (keras.applications), ``"darknet52"`` or ``"orig_unet"``.
            Defaults to ``"resnet50"``.
        encoder_weights: ``None`` (random initialisation) or the path of a local
            weights file of the keras.applications encoder built with
            ``include_top=False`` and 3 input channels. Never downloaded. For
            other channel counts the file is loaded into a 3-channel encoder and
            copied over, the first conv kernel adapted by ``adapt_input_kernel``.
            Defaults to None.
        freeze_encoder: Make the encoder non-trainable (its batch norms then run
            in inference mode). Defaults to False.
        encoder_filters: Base width of the ``"darknet52"`` and ``"orig_unet"``
            encoders (64 when None); not accepted for keras.applications
            backbones. Defaults to None.
        decoder_filters: Output widths of the decoder blocks that have no skip
            (block ``i`` uses entry ``i``; blocks with a skip take its width).
            Defaults to ``(256, 128, 64, 32, 16)``.
        centre_filters: Width of the centre block (two 3x3 conv-BN-ReLU) of the
            encoders that end with max-pooling (vgg16, orig_unet). Defaults to 512.
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"backboned_unet"``.

    Shapes:
        ``(B, H, W, C) -> (B, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of 32 (the
            nearest valid sizes are named), an unknown backbone, a weights value
            that is not a local file, or bad widths.

    Example:
        >>> backboned_unet((256, 256, 1), backbone="resnet50").count_params()
        31257601

    Notes:
        Expected input range: the keras.applications encoders are the
        unmodified Keras models. EfficientNetB0 rescales by 1/255 and normalises
        internally, so it expects pixel values in [0, 255]; ResNet50 and VGG16
        expect their ``preprocess_input`` ("caffe": BGR, mean-subtracted) when
        used with ImageNet weights; MobileNetV2 expects [-1, 1]. ConvNeXtTiny is
        built with ``include_preprocessing=False`` so that its input convention
        does not depend on the channel count: feed ImageNet-standardised images
        (mean 0, std 1). With random weights any standardised input works.
        Darknet52 and orig_unet expect [0, 1] images like the rest of the zoo.
        The decoder always has five blocks: an encoder with fewer skips (ResNet50,
        EfficientNetB0, MobileNetV2, Darknet52: four; ConvNeXt: three) has its
        last blocks without skip, at ``decoder_filters`` widths.
    """
    check_positive_int(n_classes, "n_classes")
    check_output_activation(output_activation)

    inputs, x, _ = _trunk(
        input_shape,
        backbone=backbone,
        encoder_weights=encoder_weights,
        freeze_encoder=freeze_encoder,
        encoder_filters=encoder_filters,
        decoder_filters=decoder_filters,
        centre_filters=centre_filters,
        input_name=f"{name}_input",
        name=name,
    )
    outputs = output_head(
        x, n_classes, activation=output_activation, kernel_size=3, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)


@register
def fine_grained_unet(
    input_shape: Sequence[int | None] = (256, 256, 1),
    n_classes: Sequence[int] = (2, 1),
    *,
    backbone: str = "resnet50",
    encoder_weights: str | os.PathLike | None = None,
    freeze_encoder: bool = False,
    encoder_filters: int | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
    centre_filters: int = 512,
    output_activation: str | None = "sigmoid",
    name: str = "fine_grained_unet",
) -> keras.Model:
    """Two inputs (full image, ROI crop) through one shared trunk, two heads.

    Reference:
        The design notes' "fine-grained-unet" (ARCHITECTURES §10): tiny
        instances are segmented better inside a region of interest, so a full
        image and an ROI crop (resized to the full input size, so the trunk can
        be shared) go through the same ``backboned_unet`` trunk; one head gives
        the big instance, the other the tiny instance. Trained in parallel with
        known ROIs; inference is serial (``zoo.fine_grained.FineGrainedPredictor``).

    Args:
        input_shape: ``(H, W, C)`` of both inputs; ``H``, ``W`` multiples of 32.
            Defaults to ``(256, 256, 1)``.
        n_classes: ``(big, tiny)``: channels of the full-image head and of the
            ROI head. Defaults to ``(2, 1)``.
        backbone: Encoder, a key of ``BACKBONES``. Defaults to ``"resnet50"``.
        encoder_weights: ``None`` or a local weights file (see
            ``backboned_unet``). Defaults to None.
        freeze_encoder: Make the shared encoder non-trainable. Defaults to False.
        encoder_filters: Base width of darknet52 / orig_unet. Defaults to None (64).
        decoder_filters: Widths of decoder blocks without skip. Defaults to
            ``(256, 128, 64, 32, 16)``.
        centre_filters: Centre block width (vgg16, orig_unet). Defaults to 512.
        output_activation: Activation of both heads: ``"sigmoid"`` (the
            reference), ``"auto"``, ``"softmax"`` or ``None``. Defaults to "sigmoid".
        name: Model name and layer-name prefix. Defaults to ``"fine_grained_unet"``.

    Shapes:
        ``[(B, H, W, C), (B, H, W, C)] -> [(B, H, W, big), (B, H, W, tiny)]``.
        Inputs are named ``f"{name}_full_input"`` and ``f"{name}_roi_input"``,
        outputs ``f"{name}_orig_branch"`` and ``f"{name}_roi_branch"``: use
        these keys for dict inputs, targets and losses in ``fit``.

    Raises:
        ValueError: For a bad ``n_classes`` pair or any ``backboned_unet`` error.

    Example:
        >>> model = fine_grained_unet((256, 256, 1), backbone="resnet50")
        >>> model.count_params()
        31257891
        >>> [o.shape for o in model.outputs]
        [(None, 256, 256, 2), (None, 256, 256, 1)]

    Notes:
        The trunk is a nested model ``f"{name}_trunk"`` called on both inputs,
        so the count is the ``backboned_unet`` count minus its head plus both
        heads. Both heads are 3x3 convolutions as in the reference.
    """
    n_classes = tuple(n_classes) if isinstance(n_classes, Sequence) else (n_classes,)
    if len(n_classes) != 2:
        raise ValueError(
            f"`n_classes` needs 2 entries (big, tiny). Received: n_classes={n_classes}"
        )
    for n in n_classes:
        check_positive_int(n, "n_classes")
    check_output_activation(output_activation)

    trunk_input, trunk_output, _ = _trunk(
        input_shape,
        backbone=backbone,
        encoder_weights=encoder_weights,
        freeze_encoder=freeze_encoder,
        encoder_filters=encoder_filters,
        decoder_filters=decoder_filters,
        centre_filters=centre_filters,
        input_name=f"{name}_trunk_input",
        name=name,
    )
    trunk = keras.Model(trunk_input, trunk_output, name=f"{name}_trunk")

    shape = trunk_input.shape[1:]
    full = keras.Input(shape, name=f"{name}_full_input")
    roi = keras.Input(shape, name=f"{name}_roi_input")
    big = output_head(
        trunk(full),
        n_classes[0],
        activation=output_activation,
        kernel_size=3,
        name=f"{name}_orig_branch",
    )
    tiny = output_head(
        trunk(roi),
        n_classes[1],
        activation=output_activation,
        kernel_size=3,
        name=f"{name}_roi_branch",
    )
    return keras.Model([full, roi], [big, tiny], name=name)


@register
def branch2_unet(
    input_shape: Sequence[int | None] = (256, 256, 1),
    n_classes: int = 4,
    *,
    backbone: str = "orig_unet",
    branch_channel: int = 1,
    branch_level: int = 3,
    encoder_weights: str | os.PathLike | None = None,
    freeze_encoder: bool = False,
    encoder_filters: int | None = None,
    decoder_filters: Sequence[int] = (256, 128, 64, 32, 16),
    centre_filters: int = 512,
    output_activation: str | None = "sigmoid",
    name: str = "branch2_unet",
) -> keras.Model:
    """Multi-task ``backboned_unet`` with one task branched off a decoder level.

    Reference:
        The design notes' "branch2-unet" (ARCHITECTURES §11): when a task's
        features respond at an intermediate decoder level and fade later, that
        task is read out directly at that level, up-sampled and added to its
        output channel.

    Args:
        input_shape: ``(H, W, C)``; ``H``, ``W`` multiples of 32. Defaults to
            ``(256, 256, 1)``.
        n_classes: Output channels (tasks). Defaults to 4.
        backbone: Encoder, a key of ``BACKBONES``. Defaults to ``"orig_unet"``.
        branch_channel: Output channel the branch is added to, in
            ``[0, n_classes)``. Defaults to 1.
        branch_level: Decoder block (0 = deepest, 4 = last) whose first 1x1
            conv-BN-ReLU feeds the branch. Defaults to 3 (stride 4).
        encoder_weights: ``None`` or a local weights file (see
            ``backboned_unet``). Defaults to None.
        freeze_encoder: Make the encoder non-trainable. Defaults to False.
        encoder_filters: Base width of darknet52 / orig_unet. Defaults to None (64).
        decoder_filters: Widths of decoder blocks without skip. Defaults to
            ``(256, 128, 64, 32, 16)``.
        centre_filters: Centre block width (vgg16, orig_unet). Defaults to 512.
        output_activation: Activation applied after the branch is added:
            ``"sigmoid"`` (the reference; tasks are independent), ``"softmax"``,
            ``"auto"`` or ``None`` for logits. Defaults to "sigmoid".
        name: Model name and layer-name prefix. Defaults to ``"branch2_unet"``.

    Shapes:
        ``(B, H, W, C) -> (B, H, W, n_classes)``.

    Raises:
        ValueError: For a ``branch_channel`` outside ``[0, n_classes)``, a
            ``branch_level`` outside ``[0, 4]`` or any ``backboned_unet`` error.

    Example:
        >>> branch2_unet((512, 512, 2), 4).count_params()
        28331142

    Notes:
        Branch: 1x1 conv to one channel (zero-initialised, so the branch starts
        silent) -> transposed conv (kernel ``2s``, stride ``s = 2**(5 -
        branch_level)``) initialised to bilinear up-sampling (``BilinearKernel``)
        -> zero-padded to ``n_classes`` channels with the branch at
        ``branch_channel`` -> added to the head's logits -> activation.
        Deviation from reference: the reference's "bilinear" initialiser
        mis-reads the kernel layout (an identity-like kernel); this one is the
        intended bilinear kernel. The reference places the branch at channel 1
        of exactly 4 outputs; any channel and count work here.
    """
    check_positive_int(n_classes, "n_classes")
    if (
        isinstance(branch_channel, bool)
        or not isinstance(branch_channel, int)
        or not 0 <= branch_channel < n_classes
    ):
        raise ValueError(
            f"`branch_channel` must be an integer in [0, n_classes={n_classes}). "
            f"Received: branch_channel={branch_channel!r}"
        )
    if (
        isinstance(branch_level, bool)
        or not isinstance(branch_level, int)
        or not 0 <= branch_level < _STAGES
    ):
        raise ValueError(
            f"`branch_level` must be an integer in [0, {_STAGES - 1}]. "
            f"Received: branch_level={branch_level!r}"
        )
    check_output_activation(output_activation)

    inputs, x, taps = _trunk(
        input_shape,
        backbone=backbone,
        encoder_weights=encoder_weights,
        freeze_encoder=freeze_encoder,
        encoder_filters=encoder_filters,
        decoder_filters=decoder_filters,
        centre_filters=centre_filters,
        input_name=f"{name}_input",
        name=name,
    )
    logits = output_head(
        x, n_classes, activation=None, kernel_size=3, name=f"{name}_head"
    )

    stride = 2 ** (_STAGES - branch_level)
    branch = conv(
        taps[branch_level], 1, 1, kernel_initializer="zeros", name=f"{name}_branch_conv"
    )
    branch = conv_transpose(
        branch,
        1,
        2 * stride,
        strides=stride,
        padding="same",
        kernel_initializer=BilinearKernel(),
        name=f"{name}_branch_up",
    )
    branch = PadChannels(
        branch_channel, n_classes - branch_channel - 1, name=f"{name}_branch_pad"
    )(branch)
    x = layers.Add(dtype="float32", name=f"{name}_branch_add")([logits, branch])
    if output_activation == "auto":
        output_activation = "sigmoid" if n_classes == 1 else "softmax"
    outputs = layers.Activation(
        output_activation or "linear", dtype="float32", name=f"{name}_output"
    )(x)
    return keras.Model(inputs, outputs, name=name)
