"""Volumetric U-Nets: the 3D U-Net and the 2.5D U-Net with spatial attention.

Both are built by ``blocks.encoder_decoder_model``; they differ
in their level blocks: isotropic 3x3x3 units whose second conv doubles the
channels (3D U-Net), or anisotropic (3, 3, 1) kernels on the top levels of a
thin-slice volume with attention on the expanding path (2.5D U-Net).

References:
    Ö. Çiçek, A. Abdulkadir, S. S. Lienkamp, T. Brox, O. Ronneberger, "3D U-Net:
    Learning Dense Volumetric Segmentation from Sparse Annotation", MICCAI 2016.
    https://arxiv.org/abs/1606.06650

    G. Wang, J. Shapey, W. Li, et al., "Automatic Segmentation of Vestibular
    Schwannoma from T2-Weighted MRI by Deep Spatial Attention with
    Hardness-Weighted Loss", MICCAI 2019. https://arxiv.org/abs/1906.03906
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import (
    conv,
    conv_block,
    conv_transpose,
    conv_unit,
    crop,
    encoder_decoder_model,
    max_pool,
    upsample,
    zero_pad,
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

__all__ = ["unet3d", "unet25d"]

# 2.5D U-Net (Wang et al. 2019, Fig. 1): in-plane kernels and (2, 2, 1) pooling
# on the top levels, where slices are thick relative to pixels; 3x3x3 below.
_UNET25D_DEPTH = 5
_UNET25D_PLANAR_LEVELS = 2
_PLANAR_KERNEL = (3, 3, 1)
_CUBIC_KERNEL = (3, 3, 3)


# ------------------------------------------------------------------------- unet3d
@register(
    family="unet3d",
    family_default=True,
    ranks=(3,),
    reference=Reference(
        19_078_337, "SPEC.md 'unet3d': 128^3x1, BN, transposed conv (the paper)"
    ),
    tiny={"input_shape": (16, 16, 16, 1), "filters": 4, "depth": 3},
    size_rule=divisible_by(lambda a: 2 ** (a["depth"] - 1)),
)
def unet3d(
    input_shape: Sequence[int | None] = (128, 128, 128, 1),
    n_classes: int = 1,
    *,
    depth: int = 4,
    filters: int | Sequence[int] = 32,
    norm: Literal["batch", "instance", "sample"] | None = "batch",
    up_mode: Literal["transpose", "upsample"] = "transpose",
    interpolation: Literal["nearest", "linear"] = "nearest",
    output_activation: str | None = "auto",
    bn: bool | None = None,
    deconv: bool | None = None,
    name: str = "unet3d",
) -> keras.Model:
    """3D U-Net: 3x3x3 conv units, the second of each level doubling the channels.

    Reference:
        Çiçek, Abdulkadir, Lienkamp, Brox, Ronneberger, "3D U-Net: Learning Dense
        Volumetric Segmentation from Sparse Annotation", MICCAI 2016,
        https://arxiv.org/abs/1606.06650 (Sec. 2, Fig. 1).

    Args:
        input_shape: ``(D, H, W, C)``; spatial sizes multiples of
            ``2**(depth-1)`` or ``None``. Defaults to ``(128, 128, 128, 1)``.
        n_classes: Output channels. Defaults to 1.
        depth: Number of levels (``depth - 1`` max-poolings). Defaults to 4.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints); a level's first unit has
            its filters, the second twice as many. Defaults to 32.
        norm: Normalisation before every ReLU: ``"batch"`` (the paper's),
            ``"instance"``, ``"sample"`` or None. Defaults to "batch".
        up_mode: ``"transpose"``: a 2x2x2 stride-2 transposed conv keeping the
            channel count (the paper's up-convolution); ``"upsample"``:
            parameter-free up-sampling. Defaults to "transpose".
        interpolation: The up-sampling of ``up_mode="upsample"``:
            ``"nearest"`` or ``"linear"`` (trilinear). Defaults to "nearest".
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        bn: Deprecated spelling of ``norm`` (True: "batch", False: None).
        deconv: Deprecated spelling of ``up_mode`` (True: "transpose", False:
            "upsample").
        name: Model name and layer-name prefix. Defaults to ``"unet3d"``.

    Shapes:
        ``(B, D, H, W, C) -> (B, D, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of
            ``2**(depth-1)`` (the nearest valid sizes are named), ``depth`` < 2,
            ``interpolation="linear"`` together with ``up_mode="transpose"``, or
            another bad option.

    Example:
        >>> unet3d((128, 128, 128, 1)).count_params()
        19078337
        >>> unet3d((128, 128, 128, 1), norm=None, up_mode="upsample").count_params()
        16315585

    Notes:
        Each expanding level up-samples, concatenates ``[up, skip]`` and runs
        two units as wide as the skip.
        Deviation from paper: "same" padding (output size = input size)
        instead of valid convolutions. ``norm=None, up_mode="upsample"`` gives the
        reference design's default network (no batch normalisation, nearest
        up-sampling; 16,315,585 parameters at 128^3). Reference bug fixed:
        a one-class softmax head (constant output) becomes sigmoid.
    """
    shape = check_input_shape(input_shape, rank=3)
    check_positive_int(n_classes, "n_classes")
    check_output_activation(output_activation)
    check_positive_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"`depth` must be >= 2. Received: depth={depth}")
    widths = level_filters(filters, depth)
    if interpolation not in ("nearest", "linear"):
        raise ValueError(
            "`interpolation` must be 'nearest' or 'linear'. "
            f"Received: interpolation={interpolation!r}"
        )
    norm, up_mode = check_norm_and_up_mode(norm, up_mode, bn, deconv, bn_false=None)
    if up_mode == "transpose" and interpolation != "nearest":
        raise ValueError(
            "`interpolation` chooses the parameter-free up-sampling and conflicts "
            f"with up_mode='transpose'. Received: interpolation={interpolation!r}"
        )
    check_divisible(
        shape, 2 ** (depth - 1), reason=f"with depth={depth} ({depth - 1} poolings)"
    )

    def units(x, widths, *, name):
        for i, f in enumerate(widths):
            x = conv_unit(x, f, 3, norm=norm, name=f"{name}_{i}")
        return x

    def encoder(x, level, *, name):
        f = widths[level]
        return units(x, (f, 2 * f), name=name)

    def down(x, level, *, name):
        return max_pool(x, 2, name=name)

    def up(x, level, *, name):
        if up_mode == "transpose":
            return conv_transpose(x, x.shape[-1], 2, strides=2, name=name)
        return upsample(x, 2, interpolation=interpolation, name=name)

    def decoder(u, skip, level, *, name):
        x = layers.Concatenate(name=f"{name}_concat")([u, skip])
        return units(x, (skip.shape[-1],) * 2, name=name)

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


# ------------------------------------------------------------------------ unet25d
def _spatial_attention(x, kernel_size, *, name: str):
    """Wang et al. (2019) Sec. 2.2 attention: ``x + x * sigmoid(map(x))``.

    The map is Conv(C/2) -> ReLU -> Conv(1) -> sigmoid, broadcast over channels;
    the residual form keeps features where the map is near zero.
    """
    m = conv_unit(x, x.shape[-1] // 2, kernel_size, name=f"{name}_conv0")
    m = conv_unit(m, 1, kernel_size, activation="sigmoid", name=f"{name}_conv1")
    weighted = layers.Multiply(name=f"{name}_mul")([x, m])
    return layers.Add(name=name)([x, weighted])


@register(
    family="unet25d",
    family_default=True,
    ranks=(3,),
    reference=Reference(7_687_862, "SPEC.md 'unet25d': 512x512x5x1"),
    tiny={"input_shape": (32, 32, 5, 1), "filters": 4},
    layout="slices_last",
    size_rule=divisible_by(
        lambda a: (2 ** (_UNET25D_DEPTH - 1), 2 ** (_UNET25D_DEPTH - 1), 1)
    ),
)
def unet25d(
    input_shape: Sequence[int | None] = (512, 512, 5, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = 16,
    output_activation: str | None = "auto",
    name: str = "unet25d",
) -> keras.Model:
    """2.5D U-Net with spatial attention for thin-slice (anisotropic) volumes.

    Reference:
        Wang, Shapey, Li, et al., "Automatic Segmentation of Vestibular
        Schwannoma from T2-Weighted MRI by Deep Spatial Attention with
        Hardness-Weighted Loss", MICCAI 2019, https://arxiv.org/abs/1906.03906
        (Sec. 2.1-2.2, Fig. 1).

    Args:
        input_shape: ``(H, W, S, C)`` with ``S`` slices on the third axis; ``H``
            and ``W`` multiples of 16 (or ``None``), ``S`` known and >= 1.
            Defaults to ``(512, 512, 5, 1)``.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of 5 ints). Defaults to 16.
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"unet25d"``.

    Shapes:
        ``(B, H, W, S, C) -> (B, H, W, S, n_classes)``.

    Raises:
        ValueError: For a wrong rank, an in-plane size that is not a multiple of
            16 (the nearest valid sizes are named), an unknown slice count, or
            another bad option.

    Example:
        >>> unet25d((512, 512, 5, 1)).count_params()
        7687862

    Notes:
        Levels 0-1 use (3, 3, 1) kernels and (2, 2, 1) max-pooling, levels 2-4
        3x3x3 kernels, the pools below levels 2 and 3 are 3x3x3 stride 2
        ("same", so S slices become ceil(S/2)). Every conv block is 2 x (Conv
        -> BN -> ReLU). The bottom level and every expanding level (after the
        concatenation ``[up, skip]``) start with the attention module ``x + x *
        sigmoid(Conv(1)(ReLU(Conv(C/2)(x))))``. Up-sampling is trilinear, x2 in
        plane and x2 across slices where the encoder halved them, then a conv.
        When an up-sampled map has one slice more than its skip (odd slice
        count), the skip is zero-padded by a slice at its end and the level's
        output cropped back (Keras ``ZeroPadding3D``/``Cropping3D``); the
        reference always pads one slice, which only fits slice counts ``S``
        with odd ``S`` and ``ceil(S/2)`` (such as 5).
        Deviation from paper: ReLU instead of PReLU (per-element PReLU slopes
        would add far more weights than the convolutions hold) and the
        attention maps are not extra outputs (no attention supervision).
    """
    shape = check_input_shape(input_shape, rank=3)
    check_positive_int(n_classes, "n_classes")
    check_output_activation(output_activation)
    widths = level_filters(filters, _UNET25D_DEPTH)
    if shape[2] is None:
        raise ValueError(
            "`input_shape` needs a known slice count (third axis): slice padding "
            f"and cropping are static. Received: input_shape={shape}"
        )
    in_plane = 2 ** (_UNET25D_DEPTH - 1)
    check_divisible(
        shape,
        (in_plane, in_plane, 1),
        reason=f"with {_UNET25D_DEPTH - 1} in-plane halvings",
    )

    def kernel(level):
        return _PLANAR_KERNEL if level < _UNET25D_PLANAR_LEVELS else _CUBIC_KERNEL

    def conv_pair(x, level, f, *, name):
        return conv_block(x, f, kernel_size=kernel(level), norm="batch", name=name)

    def encoder(x, level, *, name):
        if level == _UNET25D_DEPTH - 1:
            x = _spatial_attention(x, kernel(level), name=f"{name}_att")
        return conv_pair(x, level, widths[level], name=name)

    def down(x, level, *, name):
        if level <= _UNET25D_PLANAR_LEVELS:
            return max_pool(x, (2, 2, 1), padding="same", name=name)
        return max_pool(x, 3, strides=2, padding="same", name=name)

    def up(x, level, *, name):
        slice_factor = 1 if level < _UNET25D_PLANAR_LEVELS else 2
        x = upsample(x, (2, 2, slice_factor), interpolation="linear", name=name)
        return conv(x, widths[level], kernel(level), name=f"{name}_conv")

    def decoder(u, skip, level, *, name):
        extra = u.shape[3] - skip.shape[3]
        if extra:
            skip = zero_pad(skip, ((0, 0), (0, 0), (0, extra)), name=f"{name}_pad")
        x = layers.Concatenate(name=f"{name}_concat")([u, skip])
        x = _spatial_attention(x, kernel(level), name=f"{name}_att")
        x = conv_pair(x, level, widths[level], name=name)
        if extra:
            x = crop(x, ((0, 0), (0, 0), (0, extra)), name=f"{name}_crop")
        return x

    return encoder_decoder_model(
        shape,
        n_classes,
        depth=_UNET25D_DEPTH,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        output_activation=output_activation,
        head_kernel_size=_PLANAR_KERNEL,
        name=name,
    )
