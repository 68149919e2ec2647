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

The encoder is a nested ``keras.Model`` named ``f"{name}_encoder"`` from
:mod:`zoo.backbones` (backbone table, Darknet-53, weight adaptation, encoder
factory; re-exported here).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
from keras import layers

from zoo.backbones import (
    BACKBONES,
    STAGES,
    Backbone,
    adapt_input_kernel,
    build_encoder,
    check_encoder_options,
    darknet52_encoder,
)
from zoo.blocks import (
    conv,
    conv_block,
    conv_transpose,
    conv_unit,
    output_head,
)
from zoo.layers import BilinearKernel, PadChannels
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
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

_STAGE_RULE = divisible_by(lambda a: 2**STAGES)
# Tiny widths for tests (spec ``tiny``), with the orig_unet / darknet52 encoders.
_TINY = {"encoder_filters": 4, "decoder_filters": (8, 8, 4, 4, 4), "centre_filters": 8}


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


def _check_options(
    input_shape,
    backbone: str,
    encoder_weights,
    encoder_filters,
    decoder_filters,
    centre_filters,
) -> tuple:
    """Validate the trunk's arguments; return the checked input shape."""
    shape = check_encoder_options(
        input_shape, backbone, encoder_weights, encoder_filters
    )
    decoder_filters = tuple(decoder_filters)
    if len(decoder_filters) != STAGES or any(
        isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in decoder_filters
    ):
        raise ValueError(
            f"`decoder_filters` needs {STAGES} positive integers. "
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
    for i in range(STAGES):
        skip = skips[i] if i < len(skips) else None
        filters = skip.shape[-1] if skip is not None else decoder_filters[i]
        x, tap = _decoder_block(x, skip, filters, name=f"{name}_dec{i}")
        taps.append(tap)
    return inputs, x, taps


@register(
    family="backboned_unet",
    family_default=True,
    ranks=(2,),
    reference=Reference(
        31_257_601, "ARCHITECTURES.md §9 / SPEC.md 'Derived U-Nets': resnet50, 256^2"
    ),
    tiny={"input_shape": (32, 32, 1), "backbone": "orig_unet", **_TINY},
    size_rule=_STAGE_RULE,
    init_only=("encoder_weights",),
)
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


@register(
    family="backboned_unet",
    ranks=(2,),
    reference=Reference(31_257_891, "ARCHITECTURES.md §10: resnet50, 256^2 (computed)"),
    tiny={"input_shape": (32, 32, 1), "backbone": "orig_unet", **_TINY},
    multi_input=True,
    multi_output=True,
    size_rule=_STAGE_RULE,
    init_only=("encoder_weights",),
)
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


@register(
    family="backboned_unet",
    ranks=(2,),
    reference=Reference(
        28_331_142,
        "ARCHITECTURES.md §11: orig_unet, 512x512x2 -> 4 (computed)",
        {"input_shape": (512, 512, 2)},
    ),
    tiny={"input_shape": (32, 32, 1), **_TINY},
    size_rule=_STAGE_RULE,
    init_only=("encoder_weights",),
)
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
        or not 0 <= branch_level < STAGES
    ):
        raise ValueError(
            f"`branch_level` must be an integer in [0, {STAGES - 1}]. "
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

    stride = 2 ** (STAGES - branch_level)
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
