"""The V-Net family: 2D V-Net, 3D V-Net, depthwise 3D V-Net and bottleneck 3D V-Net.

All four share one macro structure (``blocks.encoder_decoder_model``): residual
stages on the contracting path, learned (strided-conv) down-sampling, an
up-sampling step and a concatenated shortcut on the expanding path. They differ
in the stage blocks, passed to it as small callables.

Reference:
    F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural
    Networks for Volumetric Medical Image Segmentation", 3DV 2016.
    https://arxiv.org/abs/1606.04797
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import (
    activation_layer,
    conv,
    conv_block,
    conv_transpose,
    conv_unit,
    depthwise_conv_unit,
    encoder_decoder_model,
    max_pool,
    norm_layer,
    residual_add,
    up_conv,
)
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    check_divisible,
    check_input_shape,
    check_norm_and_up_mode,
    check_output_activation,
    check_positive_int,
    level_filters,
)

__all__ = ["vnet", "vnet_3d", "vnet3d", "vnet3d_depthwise"]

# Encoder bottleneck units per level of ``vnet3d`` (ResNet-50-like 1-3-4-6), and
# the units of its bottom level.
_VNET3D_ENCODER_UNITS = (1, 3, 4, 6)
_VNET3D_BOTTOM_UNITS = 3


_DEPTH_RULE = divisible_by(lambda a: 2 ** (a["depth"] - 1))


def _n_units(level: int) -> int:
    """V-Net stage length: 1, 2, 3, 3, ... convolutions (paper Fig. 1)."""
    return min(level + 1, 3)


def _check_common(
    input_shape, n_classes, depth, output_activation, *, rank, min_depth=2
):
    """Validate the arguments every V-Net builder shares; return the shape."""
    shape = check_input_shape(input_shape, rank=rank)
    check_positive_int(n_classes, "n_classes")
    check_positive_int(depth, "depth")
    if depth < min_depth:
        raise ValueError(f"`depth` must be >= {min_depth}. Received: depth={depth}")
    check_output_activation(output_activation)
    check_divisible(
        shape, 2 ** (depth - 1), reason=f"with depth={depth} ({depth - 1} halvings)"
    )
    return shape


def _check_kernel_size(kernel_size) -> None:
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise ValueError(
            "`kernel_size` must be an odd integer >= 1. "
            f"Received: kernel_size={kernel_size!r}"
        )


def _up_3d(x, filters: int, *, up_mode: str, name: str):
    """``vnet_3d`` up-sampling: transposed conv, or trilinear x2 + 1x1x1 conv."""
    if up_mode == "transpose":
        return conv_transpose(x, filters, 2, strides=2, name=name)
    return up_conv(
        x, filters, kernel_size=1, interpolation="linear", activation=None, name=name
    )


def _concat(tensors, *, name: str):
    return layers.Concatenate(name=name)(list(tensors))


# --------------------------------------------------------------------------- vnet
@register(
    family="vnet",
    family_default=True,
    ranks=(2,),
    reference=Reference(16_529_713, "SPEC.md 'vnet (2D V-Net)': 128x128x1"),
    tiny={"input_shape": (32, 32, 1), "filters": 4, "depth": 3, "kernel_size": 3},
    size_rule=_DEPTH_RULE,
    sized_weights=True,
)
def vnet(
    input_shape: Sequence[int] = (128, 128, 1),
    n_classes: int = 1,
    *,
    depth: int = 5,
    filters: int | Sequence[int] = 16,
    kernel_size: int = 5,
    output_activation: str | None = "auto",
    name: str = "vnet",
) -> keras.Model:
    """2D V-Net: the V-Net of Milletari et al. with the third dimension dropped.

    Reference:
        Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for
        Volumetric Medical Image Segmentation", 3DV 2016,
        https://arxiv.org/abs/1606.04797 (Sec. 2, Fig. 1).

    Args:
        input_shape: ``(H, W, C)`` with ``H`` and ``W`` known multiples of
            ``2**(depth-1)``. Defaults to ``(128, 128, 1)``.
        n_classes: Output channels. Defaults to 1.
        depth: Number of stages (``depth - 1`` down-samplings). Defaults to 5.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints); expanding stage ``s`` is as
            wide as level ``s + 1``. Defaults to 16.
        kernel_size: Odd size of the square stage convolutions. Defaults to 5.
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"vnet"``.

    Shapes:
        ``(B, H, W, C) -> (B, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, an unknown spatial size (the per-element
            PReLU needs it), a size that is not a multiple of ``2**(depth-1)``
            (the nearest valid sizes are named), or a bad option.

    Example:
        >>> model = vnet((128, 128, 1))
        >>> model.count_params()
        16529713

    Notes:
        Stage ``s`` has ``min(s, 3)`` units Conv(k) -> BN -> PReLU and adds its
        input (element-wise sum) to its output. Down-sampling is a 2x2 stride-2
        unit, up-sampling a 2x2 stride-2 transposed conv -> BN -> PReLU; each
        expanding stage concatenates ``[skip, up]``, runs its units and adds the
        up-sampled tensor, zero-padded on channels. PReLU slopes are per element
        (Keras' default), so the parameter count depends on the input size:
        13,285,681 + 198 * H * W at the defaults (16,529,713 at 128x128).
        With a 1-channel input, stage 1 adds the input broadcast over its 16
        channels, the paper's "input replicated 16 times" (Sec. 2); other
        input widths are zero-padded to the stage width instead (and a wider
        input keeps its width in stage 1's residual sum).
        Deviation from paper: 2D instead of 3D, batch normalisation after every
        convolution, and a 1x1 conv head with sigmoid/softmax.
    """
    shape = _check_common(input_shape, n_classes, depth, output_activation, rank=2)
    if any(s is None for s in shape[:-1]):
        raise ValueError(
            "`input_shape` needs known spatial sizes: the per-element PReLU slopes "
            f"have the feature maps' shape. Received: input_shape={shape}"
        )
    widths = level_filters(filters, depth)
    _check_kernel_size(kernel_size)

    def unit(x, f, k, strides=1, *, name):
        return conv_unit(
            x,
            f,
            k,
            strides=strides,
            padding="same",
            norm="batch",
            activation="prelu",
            name=name,
        )

    def stage(x, f, n, *, name):
        return conv_block(
            x,
            f,
            n_convs=n,
            kernel_size=kernel_size,
            norm="batch",
            activation="prelu",
            name=name,
        )

    def encoder(x, level, *, name):
        y = stage(x, widths[level], _n_units(level), name=name)
        if x.shape[-1] == 1:
            # Paper Sec. 2: the 1-channel input is replicated over the 16
            # channels of stage 1; Keras' Add broadcasts it the same way.
            return layers.Add(name=f"{name}_add")([y, x])
        return residual_add(y, x, name=f"{name}_add")

    def down(x, level, *, name):
        return unit(x, widths[level], 2, strides=2, name=name)

    def up(x, level, *, name):
        x = conv_transpose(x, widths[level], 2, strides=2, name=f"{name}_conv")
        x = norm_layer(x, "batch", name=f"{name}_bn")
        return activation_layer(x, "prelu", name=f"{name}_act")

    def decoder(u, skip, level, *, name):
        x = _concat([skip, u], name=f"{name}_concat")
        x = stage(x, widths[level + 1], _n_units(level), name=name)
        return residual_add(x, u, name=f"{name}_add")

    return encoder_decoder_model(
        shape,
        n_classes,
        depth=depth,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        output_activation=output_activation,
        name=name,
    )


# ------------------------------------------------------------------------ vnet_3d
@register(
    family="vnet3d",
    family_default=True,
    ranks=(3,),
    reference=Reference(
        14_324_241,
        "SPEC.md 'vnet_3d' call: 128^3x1, kernel 3, depth 5, BN, upsample",
        {"kernel_size": 3, "up_mode": "upsample"},
    ),
    tiny={"input_shape": (16, 16, 16, 1), "filters": 4, "depth": 3, "kernel_size": 3},
    size_rule=_DEPTH_RULE,
)
def vnet_3d(
    input_shape: Sequence[int | None] = (128, 128, 128, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = 16,
    kernel_size: int = 5,
    depth: int = 5,
    norm: Literal["batch", "instance", "sample"] | None = "batch",
    up_mode: Literal["transpose", "upsample"] = "transpose",
    output_activation: str | None = "auto",
    bn: bool | None = None,
    deconv: bool | None = None,
    name: str = "vnet_3d",
) -> keras.Model:
    """3D V-Net: residual stages of Conv -> Norm -> LeakyReLU, strided-conv down.

    Reference:
        Milletari, Navab, Ahmadi, "V-Net: Fully Convolutional Neural Networks for
        Volumetric Medical Image Segmentation", 3DV 2016,
        https://arxiv.org/abs/1606.04797 (Fig. 1), as rebuilt by the design notes.

    Args:
        input_shape: ``(D, H, W, C)``; spatial sizes multiples of
            ``2**(depth-1)`` or ``None``. Defaults to ``(128, 128, 128, 1)``.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints); expanding level ``i`` is as
            wide as level ``i + 1``. Defaults to 16.
        kernel_size: Odd size of the cubic stage convolutions (the paper's 5).
            Defaults to 5.
        depth: Number of levels (``depth - 1`` down-samplings). Defaults to 5.
        norm: Normalisation after every stage conv: ``"batch"``, ``"sample"``
            (the reference's per-sample layer norm, its ``bn=False``),
            ``"instance"`` or None. Defaults to "batch".
        up_mode: ``"transpose"``: a 2x2x2 stride-2 transposed conv (the
            paper); ``"upsample"``: trilinear x2 up-sampling and a 1x1x1 conv.
            Defaults to "transpose".
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        bn: Deprecated spelling of ``norm`` (True: "batch", False: "sample").
        deconv: Deprecated spelling of ``up_mode`` (True: "transpose").
        name: Model name and layer-name prefix. Defaults to ``"vnet_3d"``.

    Shapes:
        ``(B, D, H, W, C) -> (B, D, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of
            ``2**(depth-1)`` (the nearest valid sizes are named), an even
            ``kernel_size`` or another bad option.

    Example:
        >>> model = vnet_3d((128, 128, 128, 1), 1, kernel_size=3, depth=5,
        ...                 norm="batch", up_mode="upsample")
        >>> model.count_params()
        14324241

    Notes:
        Level ``i`` is a residual block of ``min(i+1, 3)`` Conv(k) -> Norm ->
        LeakyReLU(0.3) whose input is added (zero-padded on channels at level
        0); down-sampling is a plain 2x2x2 stride-2 conv; each expanding level
        concatenates ``[up, skip]`` and runs a residual block. The defaults
        (k=5, transposed conv) give 65,182,769 parameters at 128^3x1 with one
        class (65,182,802 with the reference's default of two classes).
        Reference bug fixed: the reference head is a softmax even for one class
        (a constant output); ``"auto"`` uses sigmoid for one class.
        Deviation from paper: batch (or per-sample) normalisation and
        LeakyReLU(0.3) instead of PReLU; the trilinear up-sampling option.
    """
    shape = _check_common(input_shape, n_classes, depth, output_activation, rank=3)
    widths = level_filters(filters, depth)
    _check_kernel_size(kernel_size)
    norm, up_mode = check_norm_and_up_mode(norm, up_mode, bn, deconv, bn_false="sample")

    def block(x, level, f, *, name):
        return conv_block(
            x,
            f,
            n_convs=_n_units(level),
            kernel_size=kernel_size,
            norm=norm,
            activation="leaky_relu",
            residual=True,
            name=name,
        )

    def encoder(x, level, *, name):
        return block(x, level, widths[level], name=name)

    def down(x, level, *, name):
        return conv(x, widths[level], 2, strides=2, padding="valid", name=name)

    def up(x, level, *, name):
        return _up_3d(x, widths[level], up_mode=up_mode, name=name)

    def decoder(u, skip, level, *, name):
        x = _concat([u, skip], name=f"{name}_concat")
        return block(x, level, widths[level + 1], name=name)

    return encoder_decoder_model(
        shape,
        n_classes,
        depth=depth,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        output_activation=output_activation,
        name=name,
    )


# --------------------------------------------------------------- vnet3d_depthwise
@register(
    family="vnet3d",
    ranks=(3,),
    reference=Reference(487_601, "SPEC.md 'vnet3d_depthwise': the vnet_3d call"),
    tiny={"input_shape": (16, 16, 16, 1), "filters": 4, "depth": 3},
    size_rule=_DEPTH_RULE,
)
def vnet3d_depthwise(
    input_shape: Sequence[int | None] = (128, 128, 128, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = 16,
    kernel_size: int = 3,
    depth: int = 5,
    norm: Literal["batch", "instance", "sample"] | None = "batch",
    up_mode: Literal["transpose", "upsample"] = "upsample",
    output_activation: str | None = "auto",
    bn: bool | None = None,
    deconv: bool | None = None,
    name: str = "vnet3d_depthwise",
) -> keras.Model:
    """3D V-Net with depthwise convolutions in its stages (MobileNet-style, light).

    Reference:
        Macro structure of Milletari et al., 3DV 2016,
        https://arxiv.org/abs/1606.04797; depthwise units after Howard et al.,
        "MobileNets", 2017, https://arxiv.org/abs/1704.04861.

    Args:
        input_shape: ``(D, H, W, C)``; spatial sizes multiples of
            ``2**(depth-1)`` or ``None``. Defaults to ``(128, 128, 128, 1)``.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints). Defaults to 16.
        kernel_size: Odd size of the depthwise kernels. Defaults to 3.
        depth: Number of levels. Defaults to 5.
        norm: Normalisation after every depthwise conv: ``"batch"``,
            ``"sample"`` (per-sample layer norm, the reference's ``bn=False``),
            ``"instance"`` or None. Defaults to "batch".
        up_mode: ``"upsample"`` (trilinear x2 + 1x1x1 conv) or ``"transpose"``
            (transposed conv). Defaults to "upsample".
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        bn: Deprecated spelling of ``norm`` (True: "batch", False: "sample").
        deconv: Deprecated spelling of ``up_mode`` (True: "transpose").
        name: Model name and layer-name prefix. Defaults to ``"vnet3d_depthwise"``.

    Shapes:
        ``(B, D, H, W, C) -> (B, D, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of
            ``2**(depth-1)`` (the nearest valid sizes are named), an even
            ``kernel_size`` or another bad option.

    Example:
        >>> vnet3d_depthwise((128, 128, 128, 1)).count_params()
        487601

    Notes:
        A 3x3x3 stem conv makes level 0 (its skip); level ``i >= 1`` is a
        2x2x2 stride-2 conv (instead of pooling) followed by ``min(i, 3)``
        units ZeroPadding -> depthwise conv (``Conv3D(C, k, groups=C)``, valid)
        -> Norm -> LeakyReLU(0.3) and a residual add; there is no pointwise
        conv. Expanding levels concatenate ``[up, skip]`` and run ``min(i+1,
        3)`` such units with a residual add. The defaults are the design
        notes' configuration: 487,601 parameters at 128^3x1, 29.4x fewer than
        ``vnet_3d`` with the same arguments (14,324,241).
        Reference bugs fixed: the reference pads by 1 whatever the kernel (only
        k=3 built) and uses a softmax head for one class; here the padding is
        ``k // 2`` and one class gets a sigmoid. Its later revision (a
        pointwise conv that halves channels, breaking the residual add) is not
        reproduced.
    """
    shape = _check_common(input_shape, n_classes, depth, output_activation, rank=3)
    widths = level_filters(filters, depth)
    _check_kernel_size(kernel_size)
    norm, up_mode = check_norm_and_up_mode(norm, up_mode, bn, deconv, bn_false="sample")

    def dw_block(x, n, *, name):
        y = x
        for i in range(n):
            y = depthwise_conv_unit(
                y, kernel_size, norm=norm, activation="leaky_relu", name=f"{name}_{i}"
            )
        return residual_add(y, x, name=f"{name}_add")

    def encoder(x, level, *, name):
        if level == 0:
            return conv(x, widths[0], 3, name=f"{name}_stem")
        return dw_block(x, min(level, 3), name=name)

    def down(x, level, *, name):
        return conv(x, widths[level], 2, strides=2, padding="valid", name=name)

    def up(x, level, *, name):
        return _up_3d(x, widths[level], up_mode=up_mode, name=name)

    def decoder(u, skip, level, *, name):
        x = _concat([u, skip], name=f"{name}_concat")
        return dw_block(x, _n_units(level), name=name)

    return encoder_decoder_model(
        shape,
        n_classes,
        depth=depth,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        output_activation=output_activation,
        name=name,
    )


# ------------------------------------------------------------------------- vnet3d
def _bottleneck_unit(x, f: int, *, name: str):
    """ResNet bottleneck: CBR(f/4, 1) -> CBR(f/4, 3) -> CB(f, 1), shortcut, ReLU.

    The shortcut is the identity when the widths match, else a projection
    CB(f, 1) (He et al., CVPR 2016, https://arxiv.org/abs/1512.03385).
    """
    y = conv_unit(x, f // 4, 1, norm="batch", name=f"{name}_a")
    y = conv_unit(y, f // 4, 3, norm="batch", name=f"{name}_b")
    y = conv_unit(y, f, 1, norm="batch", activation=None, name=f"{name}_c")
    if x.shape[-1] != f:
        x = conv_unit(x, f, 1, norm="batch", activation=None, name=f"{name}_proj")
    y = layers.Add(name=f"{name}_add")([y, x])
    return activation_layer(y, "relu", name=f"{name}_out")


def _bottleneck_block(x, f: int, n: int, *, name: str):
    for i in range(n):
        x = _bottleneck_unit(x, f, name=f"{name}_{i}")
    return x


def _inception_down(x, *, name: str):
    """Inception-style x2 down-sampling of C channels to 2C (Szegedy et al.).

    Concatenates max-pool(3, stride 2), CBR(C/2, 3, stride 2) and
    CBR(C/4, 1) -> CBR(C/4, 3) -> CBR(C/2, 3, stride 2), as in the grid-size
    reduction of "Rethinking the Inception Architecture", CVPR 2016,
    https://arxiv.org/abs/1512.00567 (Fig. 10).
    """
    c = x.shape[-1]
    pool = max_pool(x, 3, strides=2, padding="same", name=f"{name}_pool")
    a = conv_unit(x, c // 2, 3, strides=2, norm="batch", name=f"{name}_a")
    b = conv_unit(x, c // 4, 1, norm="batch", name=f"{name}_b0")
    b = conv_unit(b, c // 4, 3, norm="batch", name=f"{name}_b1")
    b = conv_unit(b, c // 2, 3, strides=2, norm="batch", name=f"{name}_b2")
    return _concat([pool, a, b], name=name)


@register(
    family="vnet3d",
    ranks=(3,),
    reference=Reference(
        1_280_649, "SPEC.md 'vnet3d': 64^3x1, depth 4, base filters 32"
    ),
    tiny={"input_shape": (16, 16, 16, 1), "filters": 4, "depth": 3},
    size_rule=_DEPTH_RULE,
)
def vnet3d(
    input_shape: Sequence[int | None] = (64, 64, 64, 1),
    n_classes: int = 1,
    *,
    depth: int = 4,
    filters: int | Sequence[int] | None = None,
    output_activation: str | None = "auto",
    name: str = "vnet3d",
) -> keras.Model:
    """3D V-Net with bottleneck residual units and inception-style down-sampling.

    The best-performing V-Net variant of the design notes.

    Reference:
        Macro structure of Milletari et al., 3DV 2016,
        https://arxiv.org/abs/1606.04797; bottleneck units of He et al., CVPR
        2016, https://arxiv.org/abs/1512.03385; grid reduction of Szegedy et
        al., CVPR 2016, https://arxiv.org/abs/1512.00567.

    Args:
        input_shape: ``(D, H, W, C)``; spatial sizes multiples of
            ``2**(depth-1)`` or ``None``. Defaults to ``(64, 64, 64, 1)``.
        n_classes: Output channels. Defaults to 1.
        depth: Number of levels, 2 to 5. Defaults to 4.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints), multiples of 4. ``None``
            keeps the bottom at 256 channels as the reference does: 32 for
            depth 4, 16 for depth 5. Defaults to None.
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"vnet3d"``.

    Shapes:
        ``(B, D, H, W, C) -> (B, D, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of
            ``2**(depth-1)`` (the nearest valid sizes are named), a depth
            outside 2-5, or bad ``filters`` (a value not a multiple of 4).

    Example:
        >>> vnet3d().count_params()
        1280649
        >>> vnet3d(depth=5).count_params()
        1361061

    Notes:
        Encoder level ``i`` has (1, 3, 4, 6)[i] bottleneck units as wide as
        the level's filters, the bottom level 3; the first
        down-sampling is a stride-2 CBR(3), the others are inception
        reductions; each expanding level is trilinear x2 -> 1x1x1 conv ->
        concatenate ``[up, skip]`` -> ``min(i+1, 3)`` bottleneck units.
        An inception reduction doubles its input's channels; with per-level
        ``filters`` that do not double, the level's first bottleneck unit
        projects them to the level's width.
        The reference also accepts an input tensor; call the returned model on
        a tensor instead.
    """
    shape = _check_common(input_shape, n_classes, depth, output_activation, rank=3)
    if depth > len(_VNET3D_ENCODER_UNITS) + 1:
        raise ValueError(
            f"`depth` must be between 2 and {len(_VNET3D_ENCODER_UNITS) + 1}. "
            f"Received: depth={depth}"
        )
    if filters is None:
        filters = 256 // 2 ** (depth - 1)
    widths = level_filters(filters, depth)
    if any(f % 4 for f in widths):
        raise ValueError(
            "`filters` must be multiples of 4 (bottleneck and inception widths "
            f"are quarters). Received: filters={filters!r}"
        )

    def encoder(x, level, *, name):
        bottom = level == depth - 1
        n = _VNET3D_BOTTOM_UNITS if bottom else _VNET3D_ENCODER_UNITS[level]
        return _bottleneck_block(x, widths[level], n, name=name)

    def down(x, level, *, name):
        if level == 1:
            return conv_unit(x, widths[1], 3, strides=2, norm="batch", name=name)
        return _inception_down(x, name=name)

    def up(x, level, *, name):
        return _up_3d(x, widths[level], up_mode="upsample", name=name)

    def decoder(u, skip, level, *, name):
        x = _concat([u, skip], name=f"{name}_concat")
        return _bottleneck_block(x, widths[level], _n_units(level), name=name)

    return encoder_decoder_model(
        shape,
        n_classes,
        depth=depth,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        output_activation=output_activation,
        name=name,
    )
