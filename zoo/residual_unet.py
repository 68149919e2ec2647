"""ResUNet: the deep residual U-Net of pre-activation residual units, 2D and 3D.

Reference:
    Z. Zhang, Q. Liu, Y. Wang, "Road Extraction by Deep Residual U-Net",
    IEEE Geoscience and Remote Sensing Letters 15(5), 2018.
    https://arxiv.org/abs/1711.10684
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import output_head, preact_residual_unit, upsample
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    check_choice,
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    level_filters,
)

# Levels of an int `filters`: those of the default.
_INT_DEPTH = 4

__all__ = ["residual_unet"]


@register(
    family="variants",
    ranks=(2, 3),
    reference=Reference(
        8_233_025, "Zhang et al. 2018 Table I: 224x224x3 (7.8M without projections)"
    ),
    tiny={"input_shape": (32, 32, 1), "filters": (4, 8, 16, 32)},
    size_rule=divisible_by(
        lambda a: 2 ** (len(level_filters(a["filters"], int_depth=_INT_DEPTH)) - 1)
    ),
)
def residual_unet(
    input_shape: Sequence[int | None] = (224, 224, 3),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = (64, 128, 256, 512),
    interpolation: Literal["nearest", "linear"] = "nearest",
    output_activation: str | None = "auto",
    name: str = "residual_unet",
) -> keras.Model:
    """ResUNet: residual units in a U-Net, stride-2 convolutions instead of pooling.

    Reference:
        Zhang, Liu, Wang, "Road Extraction by Deep Residual U-Net", IEEE GRSL
        2018, https://arxiv.org/abs/1711.10684 (Fig. 3, Table I).

    Table I: encoding units 1-3 and the bridge are pre-activation residual
    units (BN -> ReLU -> Conv 3x3, twice, plus a shortcut; ``zoo.blocks.
    preact_residual_unit``) with 64, 128, 256 and 512 filters; units 2, 3 and
    the bridge halve the resolution with the stride of their first
    convolution. Unit 1 starts with its convolution (the image is not
    pre-activated). Decoding units 5-7 up-sample x2, concatenate the encoder
    features of the same level and apply a residual unit (256, 128, 64);
    a 1x1 convolution and a sigmoid give the map. The same code builds 2D
    and 3D.

    Args:
        input_shape: ``(H, W, C)`` or ``(D, H, W, C)``, spatial sizes multiples
            of ``2**(depth-1)`` (``None`` allowed). Defaults to
            ``(224, 224, 3)``, the paper's road-image patches.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence; the last is the bridge). A sequence's length
            is the depth (2 or more); an int gives 4 levels, as the default.
            Defaults to ``(64, 128, 256, 512)``.
        interpolation: Up-sampling, ``"nearest"`` or ``"linear"``. Defaults to
            "nearest".
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"residual_unet"``.

    Shapes:
        ``(B, *S, C) -> (B, *S, n_classes)``.

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size that is
            not a multiple of ``2**(depth-1)`` (nearest valid sizes
            named), or bad ``filters``/``interpolation``/``output_activation``.

    Example:
        >>> residual_unet().count_params()
        8233025
        >>> residual_unet((16, 32, 32, 1), filters=(4, 8, 16)).output_shape
        (None, 16, 32, 32, 1)

    Notes:
        When a unit changes the shape, the shortcut is a 1x1 convolution (with
        the unit's stride) followed by batch norm; the paper does not detail
        its projection. The paper reports 7.8M parameters: this build has
        8,233,025, of which the projections hold 437,312; without them the
        count is 7,795,713, so the paper's figure leaves them out.
    """
    shape = check_input_shape(input_shape, rank=(2, 3))
    check_positive_int(n_classes, "n_classes")
    filters = level_filters(filters, int_depth=_INT_DEPTH)
    check_choice(interpolation, ("nearest", "linear"), "interpolation")
    check_output_activation(output_activation)
    depth = len(filters)
    check_divisible(shape, 2 ** (depth - 1), reason=f"with {depth - 1} stride-2 units")

    inputs = keras.Input(shape, name=f"{name}_input")
    x = inputs
    skips = []
    for level, f in enumerate(filters):
        x = preact_residual_unit(
            x,
            f,
            strides=2 if level else 1,
            first=level == 0,
            name=f"{name}_enc{level}",
        )
        skips.append(x)
    for level in range(depth - 2, -1, -1):
        up = upsample(x, 2, interpolation=interpolation, name=f"{name}_up{level}")
        x = layers.Concatenate(name=f"{name}_concat{level}")([up, skips[level]])
        x = preact_residual_unit(x, filters[level], name=f"{name}_dec{level}")
    outputs = output_head(
        x, n_classes, activation=output_activation, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)
