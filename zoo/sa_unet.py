"""SA-UNet: spatial-attention U-Net with DropBlock, for 2D images and 3D volumes.

Reference:
    C. Guo, M. Szemenyei, Y. Yi, W. Wang, B. Chen, C. Fan, "SA-UNet: Spatial
    Attention U-Net for Retinal Vessel Segmentation", ICPR 2020.
    https://arxiv.org/abs/2004.03696
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.blocks import (
    conv_transpose,
    dropblock_conv_block,
    max_pool,
    output_head,
    spatial_attention,
)
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    check_rate,
    level_filters,
    renamed_argument,
)

__all__ = ["sa_unet"]


@register(
    family="variants",
    ranks=(2, 3),
    reference=Reference(
        538_707, "Guo et al. 2020 (0.54M) / SPEC.md: 592x592x3, 16 base filters"
    ),
    tiny={"input_shape": (32, 32, 1), "filters": 4, "depth": 3},
    size_rule=divisible_by(lambda a: 2 ** (a["depth"] - 1)),
)
def sa_unet(
    input_shape: Sequence[int | None] = (592, 592, 3),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = 16,
    depth: int = 4,
    block_size: int = 7,
    dropout: float = 0.18,
    attention_kernel_size: int = 7,
    output_activation: str | None = "auto",
    keep_prob: float | None = None,
    name: str = "sa_unet",
) -> keras.Model:
    """SA-UNet: structured-dropout conv blocks and spatial attention at the bottleneck.

    Reference:
        Guo et al., "SA-UNet: Spatial Attention U-Net for Retinal Vessel
        Segmentation", ICPR 2020, https://arxiv.org/abs/2004.03696 (Fig. 1),
        and the authors' Keras code (``SA_UNet.py``, ``Train_drive.py``).

    Every conv block is 2 x (Conv 3x3 -> DropBlock -> BN -> ReLU); 2x2
    max-pooling down, 3x3 stride-2 transposed convolutions up, concatenated
    ``[up, skip]`` skips; the bottleneck's two convolutions are separated by a
    CBAM spatial attention module (channel mean and max -> 7x7 conv -> sigmoid
    -> multiply). The same code builds the 2D and the 3D network.

    Args:
        input_shape: ``(H, W, C)`` or ``(D, H, W, C)``; every spatial size a
            multiple of ``2**(depth-1)`` (``None`` allowed). Any channel count
            (3 for RGB fundus images, 1 for a green channel). Defaults to
            ``(592, 592, 3)``, the DRIVE images zero-padded to 592 x 592 by the
            authors.
        n_classes: Output channels. Defaults to 1 (vessel).
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints). Defaults to 16.
        depth: Resolution levels (``depth - 1`` poolings). Defaults to 4.
        block_size: DropBlock block edge (clipped to small feature maps).
            Defaults to 7.
        dropout: DropBlock drop rate (``1 - keep_prob`` of the paper); 0
            disables DropBlock. Defaults to 0.18 (keep_prob 0.82, the authors'
            DRIVE setting).
        attention_kernel_size: Kernel of the spatial-attention convolution.
            Defaults to 7.
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        keep_prob: Deprecated spelling of ``1 - dropout`` (the paper's).
        name: Model name and layer-name prefix. Defaults to ``"sa_unet"``.

    Shapes:
        ``(B, *S, C) -> (B, *S, n_classes)`` for 2D or 3D ``S``.

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size that is not
            a multiple of ``2**(depth-1)`` (the nearest valid sizes are named), or
            a bad ``filters``/``depth``/``block_size``/``dropout``/
            ``attention_kernel_size``/``output_activation``.

    Example:
        >>> model = sa_unet((592, 592, 3))
        >>> model.count_params()
        538707
        >>> sa_unet((48, 48, 1)).output_shape
        (None, 48, 48, 1)

    Notes:
        DropBlock is active only in training; its block is clipped to the
        feature-map size, so 48 x 48 patches (6 x 6 bottleneck) work. The
        reference code's function default is ``keep_prob=0.9`` but its DRIVE
        training script uses 0.82, which is the default here (``dropout=0.18``).
    """
    shape = check_input_shape(input_shape, rank=(2, 3))
    check_positive_int(n_classes, "n_classes")
    check_positive_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"`depth` must be >= 2. Received: depth={depth}")
    widths = level_filters(filters, depth)
    check_positive_int(block_size, "block_size")
    dropout = renamed_argument(
        "keep_prob", keep_prob, "dropout", dropout, lambda p: round(1.0 - p, 10)
    )
    check_rate(dropout, "dropout")
    keep_prob = round(1.0 - dropout, 10)
    check_positive_int(attention_kernel_size, "attention_kernel_size")
    check_output_activation(output_activation)
    check_divisible(
        shape, 2 ** (depth - 1), reason=f"with depth={depth} ({depth - 1} poolings)"
    )

    def block(x, f, *, name):
        return dropblock_conv_block(
            x, f, block_size=block_size, keep_prob=keep_prob, name=name
        )

    inputs = keras.Input(shape, name=f"{name}_input")
    x = inputs
    skips = []
    for level in range(depth - 1):
        x = block(x, widths[level], name=f"{name}_enc{level}")
        skips.append(x)
        x = max_pool(x, name=f"{name}_pool{level}")
    # Bottleneck (Fig. 1): conv unit -> spatial attention -> conv unit.
    bottom = widths[-1]
    x = dropblock_conv_block(
        x,
        bottom,
        n_convs=1,
        block_size=block_size,
        keep_prob=keep_prob,
        name=f"{name}_mid0",
    )
    x = spatial_attention(x, attention_kernel_size, name=f"{name}_attention")
    x = dropblock_conv_block(
        x,
        bottom,
        n_convs=1,
        block_size=block_size,
        keep_prob=keep_prob,
        name=f"{name}_mid1",
    )
    for level in range(depth - 2, -1, -1):
        f = widths[level]
        up = conv_transpose(
            x,
            f,
            3,
            strides=2,
            padding="same",
            kernel_initializer="glorot_uniform",
            name=f"{name}_up{level}",
        )
        x = layers.Concatenate(name=f"{name}_concat{level}")([up, skips[level]])
        x = block(x, f, name=f"{name}_dec{level}")
    outputs = output_head(
        x, n_classes, activation=output_activation, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)
