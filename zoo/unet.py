"""The paper U-Net (valid padding + crop) and the same-padded, batch-normalised U-Net.

Reference:
    O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks for
    Biomedical Image Segmentation", MICCAI 2015. https://arxiv.org/abs/1505.04597
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import conv_block, crop_concat, max_pool, output_head, up_conv
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    level_filters,
)

__all__ = ["unet_original", "unet_padding"]

_VALID_CONV_LOSS = 4  # two unpadded 3x3 convolutions per level eat 2 + 2 pixels
_PAPER_DEPTH = 5  # Fig. 1: five levels, the depth an int `filters` expands to


def _valid_sizes(size: int, depth: int) -> list[int] | None:
    """Feature-map sizes along one axis of the valid U-Net, or None if it cannot build.

    Returns the encoder level sizes followed by the decoder level sizes (the last
    entry is the output size). A size is impossible when a feature map shrinks
    below one pixel or an up-sampled map outgrows the skip it must be cropped from.
    """
    sizes = []
    s = size
    for level in range(depth):
        s -= _VALID_CONV_LOSS
        if s < 1:
            return None
        sizes.append(s)
        if level < depth - 1:
            s //= 2
    for level in range(depth - 2, -1, -1):
        s *= 2
        if s > sizes[level]:
            return None
        s -= _VALID_CONV_LOSS
        if s < 1:
            return None
        sizes.append(s)
    return sizes


def output_size(input_size: int, depth: int = 5) -> int:
    """Output size of ``unet_original`` along one axis for an input size.

    Example:
        >>> output_size(572)
        388
        >>> output_size(256)
        68

    Raises:
        ValueError: If the valid convolutions cannot take ``input_size``; the
            message names the nearest sizes that work.
    """
    sizes = _valid_sizes(int(input_size), depth)
    if sizes is None:
        lower, upper = _neighbouring_valid_sizes(int(input_size), depth)
        nearest = f"{upper}" if lower is None else f"{lower} or {upper}"
        raise ValueError(
            f"Input size {input_size} is not valid for the valid-padding U-Net of "
            f"depth {depth}: a feature map would vanish or outgrow its skip. Nearest "
            f"valid input sizes: {nearest} (aligned, seamless-tiling sizes: "
            f"{nearest_valid_input_size(int(input_size), depth)} and up in steps of "
            f"{2 ** (depth - 1)})."
        )
    return sizes[-1]


def _aligned_reference(depth: int) -> list[int]:
    """Feature-map sizes at the smallest aligned input size of this depth."""
    n = 1
    while not is_aligned_input_size(n, depth):
        n += 1
    return [n, *_valid_sizes(n, depth)]


def skip_offsets(depth: int = 5) -> list[int]:
    """Leading pixels cropped from each level's skip (level 0 first).

    Floor pooling drops trailing pixels only, so the skip of a level lines up
    with the decoder at the same leading offset for every input size: the
    offset of an aligned size (88, 40, 16, 4 at depth 5, as in the paper's
    Fig. 1). A centred crop of an odd-sized map would be shifted.
    """
    sizes = _aligned_reference(depth)[1:]
    encoder, decoder = sizes[:depth], sizes[depth:]
    up = [2 * s for s in [encoder[-1], *decoder[:-1]]]  # up-sampled size per level
    return [(encoder[level] - up[depth - 2 - level]) // 2 for level in range(depth - 1)]


def border(depth: int = 5) -> int:
    """Input pixels left of (above) output pixel 0: 92 at depth 5.

    Output pixel ``j`` of ``unet_original`` is centred on input pixel
    ``j + border(depth)`` for every valid input size. It is the ``margin`` of
    :func:`zoo.inference.predict_tiled` for this network.
    """
    sizes = _aligned_reference(depth)
    return (sizes[0] - sizes[-1]) // 2


def is_valid_input_size(input_size: int, depth: int = 5) -> bool:
    """Whether ``unet_original`` builds for this input size along one axis."""
    return _valid_sizes(int(input_size), depth) is not None


def is_aligned_input_size(input_size: int, depth: int = 5) -> bool:
    """Whether every max-pool of ``unet_original`` sees an even size.

    Aligned sizes (572 is one) are the ones the paper tiles with: no pixel is
    dropped by pooling, the border lost is symmetric, so tiles stitch seamlessly.
    """
    sizes = _valid_sizes(int(input_size), depth)
    return sizes is not None and all(s % 2 == 0 for s in sizes[: depth - 1])


def _neighbouring_valid_sizes(size: int, depth: int) -> tuple[int | None, int]:
    lower = next(
        (n for n in range(size - 1, 0, -1) if is_valid_input_size(n, depth)), None
    )
    upper = next(
        n
        for n in range(size + 1, size + 2**depth * 16)
        if is_valid_input_size(n, depth)
    )
    return lower, upper


def nearest_valid_input_size(
    input_size: int, depth: int = 5, *, aligned: bool = True
) -> int:
    """The valid (by default: aligned) input size closest to ``input_size``.

    Example:
        >>> nearest_valid_input_size(570)
        572
    """
    check = is_aligned_input_size if aligned else is_valid_input_size
    for delta in range(0, 2**depth * 16):
        for n in (input_size - delta, input_size + delta):
            if n > 0 and check(n, depth):
                return n
    raise ValueError(f"No valid input size near {input_size} for depth {depth}.")


def input_size_for_output(output: int, depth: int = 5, *, aligned: bool = True) -> int:
    """Smallest (aligned) input size whose output covers at least ``output`` pixels.

    Example:
        >>> input_size_for_output(388)
        572
    """
    check = is_aligned_input_size if aligned else is_valid_input_size
    n = output + 1
    while not (check(n, depth) and output_size(n, depth) >= output):
        n += 1
    return n


def _original_size_rule(spatial, arguments) -> tuple[int, ...]:
    """Nearest aligned size per axis ("valid"), or a multiple of 2**(depth-1)."""
    depth = len(level_filters(arguments["filters"], int_depth=_PAPER_DEPTH))
    if arguments["padding"] == "valid":
        return tuple(nearest_valid_input_size(s, depth) for s in spatial)
    return divisible_by(lambda a: 2 ** (depth - 1))(spatial, arguments)


@register(
    family="unet",
    ranks=(2,),
    reference=Reference(
        31_030_593, "Ronneberger et al. 2015 / SPEC.md: 572x572x1, 1 class"
    ),
    tiny={"input_shape": (44, 44, 1), "filters": (4, 8, 16), "dropout": 0.0},
    size_rule=_original_size_rule,
)
def unet_original(
    input_shape: Sequence[int | None] = (572, 572, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = (64, 128, 256, 512, 1024),
    padding: Literal["valid", "same"] = "valid",
    dropout: float = 0.5,
    up_mode: Literal["upsample", "transpose"] = "upsample",
    output_activation: str | None = "auto",
    name: str = "unet_original",
) -> keras.Model:
    """The 2015 paper U-Net: unpadded convolutions, crop-and-concatenate skips.

    Reference:
        Ronneberger, Fischer, Brox, "U-Net: Convolutional Networks for Biomedical
        Image Segmentation", MICCAI 2015, https://arxiv.org/abs/1505.04597 (Fig. 1).

    Args:
        input_shape: ``(H, W, C)``; each spatial size must be valid for the
            unpadded convolutions (see ``unet_original.output_size``). Defaults to
            ``(572, 572, 1)``.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence). A sequence's length is the depth (2 or more);
            an int gives the paper's 5 levels. Defaults to
            ``(64, 128, 256, 512, 1024)``.
        padding: ``"valid"`` (the paper) or ``"same"`` (output size = input size,
            sizes must be multiples of ``2**(depth-1)``). Defaults to ``"valid"``.
        dropout: Rate of the drop-out layers at the end of the contracting path
            (after the last encoder level and the bottleneck). Defaults to 0.5.
        up_mode: ``"upsample"``: nearest x2 up-sampling + 2x2 "same" conv (the
            reference design); ``"transpose"``: 2x2 stride-2 transposed conv.
            Same parameter count; only ``"transpose"`` makes overlap-tile
            predictions exactly seamless, because the "same" conv zero-pads the
            last row/column of every tile. Defaults to "upsample".
        output_activation: ``"auto"`` (sigmoid for 1 class, softmax otherwise),
            ``"sigmoid"``, ``"softmax"`` or ``None`` for logits. Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"unet_original"``.

    Shapes:
        ``(B, H, W, C) -> (B, H', W', n_classes)``; for ``"valid"`` padding
        ``H' = unet_original.output_size(H)`` (572 -> 388, 256 -> 68).

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size the
            network cannot take (the nearest valid sizes are named), bad
            ``filters`` (fewer than two levels, a value below 1), or a bad
            ``dropout``/``padding``/``output_activation``.

    Example:
        >>> model = unet_original((572, 572, 1))
        >>> model.output_shape
        (None, 388, 388, 1)
        >>> model.count_params()
        31030593

    Notes:
        Up-convolution is nearest x2 up-sampling followed by a 2x2 "same"
        convolution with ReLU. Skips are cropped at the fixed leading offsets
        of ``unet_original.skip_offsets(depth)`` (88, 40, 16, 4), so at sizes
        where pooling drops a trailing pixel the skip stays aligned with the
        decoder; output pixel ``j`` sits over input pixel
        ``j + unet_original.border(depth)`` (92) at every size.
    """
    shape = check_input_shape(input_shape, rank=2)
    check_positive_int(n_classes, "n_classes")
    filters = level_filters(filters, int_depth=_PAPER_DEPTH)
    if padding not in ("valid", "same"):
        raise ValueError(
            f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    if up_mode not in ("upsample", "transpose"):
        raise ValueError(
            "`up_mode` must be 'upsample' or 'transpose'. "
            f"Received: up_mode={up_mode!r}"
        )
    check_output_activation(output_activation)
    depth = len(filters)
    if padding == "valid":
        for size in shape[:2]:
            if size is not None:
                output_size(size, depth)
    else:
        check_divisible(shape, 2 ** (depth - 1), reason=f"with {depth - 1} poolings")

    offsets = skip_offsets(depth) if padding == "valid" else [0] * (depth - 1)
    inputs = keras.Input(shape, name=f"{name}_input")
    x = inputs
    skips = []
    for level, f in enumerate(filters):
        bottom = level == depth - 1
        x = conv_block(
            x,
            f,
            padding=padding,
            dropout=dropout if level >= depth - 2 else 0.0,
            name=f"{name}_enc{level}",
        )
        if not bottom:
            skips.append(x)
            x = max_pool(x, name=f"{name}_pool{level}")
    for level in range(depth - 2, -1, -1):
        x = up_conv(
            x,
            filters[level],
            interpolation="transpose" if up_mode == "transpose" else "nearest",
            name=f"{name}_up{level}",
        )
        x = crop_concat(
            skips[level], x, offset=(offsets[level],) * 2, name=f"{name}_concat{level}"
        )
        x = conv_block(x, filters[level], padding=padding, name=f"{name}_dec{level}")
    outputs = output_head(
        x, n_classes, activation=output_activation, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)


unet_original.output_size = output_size
unet_original.input_size_for_output = input_size_for_output
unet_original.nearest_valid_input_size = nearest_valid_input_size
unet_original.is_valid_input_size = is_valid_input_size
unet_original.is_aligned_input_size = is_aligned_input_size
unet_original.border = border
unet_original.skip_offsets = skip_offsets


@register(
    family="unet",
    family_default=True,
    ranks=(2,),
    reference=Reference(
        31_054_145, "SPEC.md 'unet_padding' (design notes): 256x256x1, depth 5"
    ),
    tiny={"input_shape": (32, 32, 1), "depth": 3, "filters": 4},
    size_rule=divisible_by(lambda a: 2 ** (a["depth"] - 1)),
    xla_on_cpu=True,
)
def unet_padding(
    input_shape: Sequence[int | None] = (256, 256, 1),
    n_classes: int = 1,
    *,
    depth: int = 5,
    filters: int | Sequence[int] = 64,
    norm: Literal["batch", "instance", "sample"] | None = "batch",
    residual: bool = False,
    dropout: float = 0.0,
    output_activation: str | None = "auto",
    name: str = "unet_padding",
) -> keras.Model:
    """Whole-image U-Net: "same" padding, batch norm after each conv, optional residual.

    Reference:
        Ronneberger et al., MICCAI 2015, https://arxiv.org/abs/1505.04597, with
        the design notes' changes for whole-image prediction.

    Args:
        input_shape: ``(H, W, C)``; ``H`` and ``W`` multiples of
            ``2**(depth-1)`` (``None`` for any such size). Defaults to
            ``(256, 256, 1)``.
        n_classes: Output channels. Defaults to 1.
        depth: Number of resolution levels (``depth - 1`` poolings). Defaults to 5.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence of ``depth`` ints). Defaults to 64.
        norm: ``"batch"``, ``"instance"`` (per sample and channel), ``"sample"``
            (per-sample layer norm) or ``None``. Defaults to "batch".
        residual: Make every conv block residual (channel zero-padding before
            the add). Defaults to False.
        dropout: Dropout rate after the bottleneck block (0 disables). Defaults to 0.
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"unet_padding"``.

    Shapes:
        ``(B, H, W, C) -> (B, H, W, n_classes)``.

    Raises:
        ValueError: For a wrong rank, a size that is not a multiple of
            ``2**(depth-1)`` (the nearest valid sizes are named), or bad options.

    Example:
        >>> unet_padding((256, 256, 1)).count_params()
        31054145

    Notes:
        Deviation from paper: batch normalisation replaces the drop-out layers;
        padding is "same" so the output has the input's size.
    """
    shape = check_input_shape(input_shape, rank=2)
    check_positive_int(n_classes, "n_classes")
    check_positive_int(depth, "depth")
    if depth < 2:
        raise ValueError(f"`depth` must be >= 2. Received: depth={depth}")
    widths = level_filters(filters, depth)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    check_output_activation(output_activation)
    check_divisible(
        shape, 2 ** (depth - 1), reason=f"with depth={depth} ({depth - 1} poolings)"
    )

    inputs = keras.Input(shape, name=f"{name}_input")
    x = inputs
    skips = []
    for level in range(depth):
        if level:
            x = max_pool(x, name=f"{name}_pool{level - 1}")
        x = conv_block(
            x,
            widths[level],
            norm=norm,
            residual=residual,
            dropout=dropout if level == depth - 1 else 0.0,
            name=f"{name}_enc{level}",
        )
        skips.append(x)
    for level in range(depth - 2, -1, -1):
        f = widths[level]
        up = up_conv(x, f, name=f"{name}_up{level}")
        x = layers.Concatenate(name=f"{name}_concat{level}")([up, skips[level]])
        x = conv_block(x, f, norm=norm, residual=residual, name=f"{name}_dec{level}")
    outputs = output_head(
        x, n_classes, activation=output_activation, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)
