"""UNet++: nested dense skip pathways, deep supervision and pruning, 2D and 3D.

Reference:
    Z. Zhou, M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, "UNet++: A Nested
    U-Net Architecture for Medical Image Segmentation", DLMIA 2018,
    https://arxiv.org/abs/1807.10165; and "UNet++: Redesigning Skip Connections
    to Exploit Multiscale Features in Image Segmentation", IEEE TMI 2019.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import conv_block, conv_transpose, max_pool, output_head
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    NORMS,
    check_bool,
    check_choice,
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    check_rate,
    level_filters,
)

# Levels of an int `filters`: those of the default.
_INT_DEPTH = 5

__all__ = ["prune_unet_plus_plus", "unet_plus_plus"]


@register(
    family="variants",
    family_default=True,
    ranks=(2, 3),
    reference=Reference(9_041_601, "Zhou et al. 2018 (9.04M): 96x96x1, filters 32-512"),
    tiny={"input_shape": (32, 32, 1), "filters": (4, 8, 16, 32), "dropout": 0.0},
    size_rule=divisible_by(
        lambda a: 2 ** (len(level_filters(a["filters"], int_depth=_INT_DEPTH)) - 1)
    ),
    xla_on_cpu=True,
)
def unet_plus_plus(
    input_shape: Sequence[int | None] = (96, 96, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = (32, 64, 128, 256, 512),
    deep_supervision: bool = False,
    norm: Literal["batch", "instance", "sample"] | None = None,
    dropout: float = 0.5,
    output_activation: str | None = "auto",
    name: str = "unet_plus_plus",
) -> keras.Model:
    """UNet++: a U-Net whose skips are nested, densely connected conv blocks.

    Reference:
        Zhou et al., "UNet++: A Nested U-Net Architecture for Medical Image
        Segmentation", DLMIA 2018, https://arxiv.org/abs/1807.10165 (Fig. 1,
        Eq. 1), and the authors' Keras code (``Nest_Net``).

    Node ``X^{i,j}`` (level ``i``, column ``j``) is a conv block (2 x Conv 3x3
    -> ReLU, each followed by drop-out) as wide as level ``i``'s filters, applied to
    ``X^{i-1,0}`` max-pooled (``j = 0``), or to the concatenation
    ``[X^{i,0}, ..., X^{i,j-1}, Up(X^{i+1,j-1})]`` with ``Up`` a 2x2 stride-2
    transposed convolution (``j > 0``). A 1x1 head reads ``X^{0,j}``.

    Args:
        input_shape: ``(H, W, C)`` or ``(D, H, W, C)``, spatial sizes multiples
            of ``2**(depth-1)`` (``None`` allowed). Defaults to
            ``(96, 96, 1)`` (the paper's cell-nuclei images).
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence). A sequence's length is the depth (2 or
            more); an int gives 5 levels, as the default. Defaults to
            ``(32, 64, 128, 256, 512)``.
        deep_supervision: ``True``: one output per ``X^{0,j}``, ``j = 1 ...
            depth-1``, named ``f"{name}_out{j}"`` (pass per-output
            losses and loss weights as dicts keyed by these names), which
            ``prune_unet_plus_plus`` can cut at any level. ``False``: only
            ``X^{0,depth-1}``'s output. Defaults to False.
        norm: ``"batch"``, ``"instance"`` or ``None`` after each convolution.
            Defaults to None (the authors' code).
        dropout: Drop-out rate after each convolution (0 disables). Defaults to
            0.5 (the authors' code).
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"unet_plus_plus"``.

    Shapes:
        ``(B, *S, C) -> (B, *S, n_classes)``, or a list of ``depth-1``
        such outputs with deep supervision.

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size that is
            not a multiple of ``2**(depth-1)`` (nearest valid sizes
            named), or bad ``filters``/``norm``/``dropout``/
            ``deep_supervision``/``output_activation``.

    Example:
        >>> unet_plus_plus().count_params()
        9041601
        >>> model = unet_plus_plus((32, 32, 1), filters=(4, 8, 16),
        ...                        deep_supervision=True)
        >>> model.output_names
        ['unet_plus_plus_out1', 'unet_plus_plus_out2']

    Notes:
        The authors' code also adds an L2 weight decay of 1e-4 to every
        kernel; pass it through the optimiser (``weight_decay``) instead.
    """
    shape = check_input_shape(input_shape, rank=(2, 3))
    check_positive_int(n_classes, "n_classes")
    filters = level_filters(filters, int_depth=_INT_DEPTH)
    check_bool(deep_supervision, "deep_supervision")
    check_choice(norm, NORMS, "norm")
    check_rate(dropout, "dropout")
    check_output_activation(output_activation)
    depth = len(filters)
    check_divisible(shape, 2 ** (depth - 1), reason=f"with {depth - 1} poolings")

    def node(x, i, j):
        # Two single-conv blocks so that drop-out follows each convolution.
        for k in range(2):
            x = conv_block(
                x,
                filters[i],
                n_convs=1,
                norm=norm,
                dropout=dropout,
                name=f"{name}_x{i}_{j}_{k}",
            )
        return x

    inputs = keras.Input(shape, name=f"{name}_input")
    nodes = {(0, 0): node(inputs, 0, 0)}
    for i in range(1, depth):
        pooled = max_pool(nodes[(i - 1, 0)], name=f"{name}_pool{i - 1}")
        nodes[(i, 0)] = node(pooled, i, 0)
    for j in range(1, depth):
        for i in range(depth - j):
            up = conv_transpose(
                nodes[(i + 1, j - 1)],
                filters[i],
                2,
                strides=2,
                padding="same",
                name=f"{name}_up{i}_{j}",
            )
            dense = [nodes[(i, k)] for k in range(j)] + [up]
            x = layers.Concatenate(name=f"{name}_concat{i}_{j}")(dense)
            nodes[(i, j)] = node(x, i, j)
    columns = range(1, depth) if deep_supervision else [depth - 1]
    outputs = [
        output_head(
            nodes[(0, j)],
            n_classes,
            activation=output_activation,
            name=f"{name}_out{j}",
        )
        for j in columns
    ]
    return keras.Model(inputs, outputs if deep_supervision else outputs[0], name=name)


def prune_unet_plus_plus(model: keras.Model, level: int) -> keras.Model:
    """Cut a UNet++ at inference to the sub-network ending at ``X^{0,level}``.

    Zhou et al., DLMIA 2018, Sec. 2 ("Model pruning"): with deep supervision,
    the network can be pruned at level ``L`` by keeping only the nodes that
    ``X^{0,L}`` depends on (``X^{i,j}`` with ``i + j <= L``), a faster model.
    The returned ``keras.Model`` reuses the layers, hence the weights, of
    ``model`` (no copy); it also works on a model reloaded from disk.

    Args:
        model: A ``unet_plus_plus`` model, built with ``deep_supervision=True``
            unless ``level`` is its last column.
        level: Column ``L`` of the output, ``1 <= L <= depth - 1`` (the
            model's number of levels less one).

    Returns:
        A model ``(B, *S, C) -> (B, *S, n_classes)`` named
        ``f"{model.name}_pruned{level}"``.

    Raises:
        ValueError: If ``model`` has no output head at ``level``; the message
            lists the levels it has.

    Example:
        >>> full = unet_plus_plus((32, 32, 1), filters=(4, 8, 16, 32),
        ...                       deep_supervision=True)
        >>> small = prune_unet_plus_plus(full, 1)
        >>> small.count_params() < full.count_params()
        True
    """
    prefix = f"{model.name}_out"
    levels = sorted(
        int(n[len(prefix) :])
        for n in model.output_names
        if n.startswith(prefix) and n[len(prefix) :].isdigit()
    )
    if isinstance(level, bool) or level not in levels:
        raise ValueError(
            f"`level` must be one of the model's output levels {levels} "
            "(build with deep_supervision=True to prune at any level). "
            f"Received: level={level!r}"
        )
    head = model.get_layer(f"{prefix}{level}")
    return keras.Model(model.inputs, head.output, name=f"{model.name}_pruned{level}")
