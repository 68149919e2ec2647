"""Attention U-Net: additive attention gates on the skips, for 2D and 3D.

Reference:
    O. Oktay, J. Schlemper, L. Le Folgoc, M. Lee, M. Heinrich, K. Misawa,
    K. Mori, S. McDonagh, N. Y. Hammerla, B. Kainz, B. Glocker, D. Rueckert,
    "Attention U-Net: Learning Where to Look for the Pancreas", MIDL 2018.
    https://arxiv.org/abs/1804.03999
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
from keras import layers

from zoo.blocks import (
    attention_gate,
    conv_block,
    conv_unit,
    output_head,
    pooled_encoder,
    upsample,
)
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    NORMS,
    check_choice,
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    level_filters,
)

# Levels of an int `filters`: those of the default.
_INT_DEPTH = 5

__all__ = ["attention_unet"]


@register(
    family="variants",
    ranks=(2, 3),
    reference=Reference(
        6_087_108, "Oktay et al. 2018, authors' code: 160x160x96x1, filters 16-256"
    ),
    tiny={"input_shape": (32, 32, 1), "filters": (4, 8, 16, 32)},
    size_rule=divisible_by(
        lambda a: 2 ** (len(level_filters(a["filters"], int_depth=_INT_DEPTH)) - 1)
    ),
    xla_on_cpu=True,
)
def attention_unet(
    input_shape: Sequence[int | None] = (160, 160, 96, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = (16, 32, 64, 128, 256),
    norm: Literal["batch", "instance", "sample"] | None = "batch",
    interpolation: Literal["linear", "nearest"] = "linear",
    output_activation: str | None = "auto",
    name: str = "attention_unet",
) -> keras.Model:
    """Attention U-Net: a U-Net whose skips are filtered by additive attention gates.

    Reference:
        Oktay et al., "Attention U-Net: Learning Where to Look for the
        Pancreas", MIDL 2018, https://arxiv.org/abs/1804.03999 (Fig. 1-2,
        Eq. 1-2) and the authors' ``unet_grid_attention_3D`` (feature scale 4).

    Encoder levels are 2 x (Conv 3x3 -> BN -> ReLU) with 2x2 max-pooling. The
    gating signal of the deepest gate is the bottleneck through a 1x1 Conv ->
    BN -> ReLU; every other gate is gated by the decoder output one level
    below. A gate (``zoo.blocks.attention_gate``, ``F_int = C_skip / 2``)
    rescales the skip with coefficients computed from the skip and the coarser
    gating signal; the decoder up-samples (bi/trilinear), concatenates
    ``[gated skip, up]`` and applies a conv block. As in the authors' network,
    the full-resolution skip has no gate. The same code builds 2D and 3D.

    Args:
        input_shape: ``(H, W, C)`` or ``(D, H, W, C)``, spatial sizes multiples
            of ``2**(depth-1)`` (``None`` allowed). Defaults to
            ``(160, 160, 96, 1)``, the paper's CT training patches.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence). A sequence's length is the depth (2 or
            more); an int gives 5 levels, as the default. Defaults to
            ``(16, 32, 64, 128, 256)`` (the authors' 64..1024 divided by their
            ``feature_scale=4``).
        norm: ``"batch"``, ``"instance"`` or ``None`` in the conv blocks.
            Defaults to "batch".
        interpolation: Decoder up-sampling, ``"linear"`` (bi/trilinear, the
            authors') or ``"nearest"``. Defaults to "linear".
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"attention_unet"``.

    Shapes:
        ``(B, *S, C) -> (B, *S, n_classes)``.

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size that is
            not a multiple of ``2**(depth-1)`` (nearest valid sizes
            named), or bad ``filters``/``norm``/``interpolation``/
            ``output_activation``.

    Example:
        >>> attention_unet().count_params()
        6087108
        >>> attention_unet((128, 128, 1), filters=(8, 16, 32)).output_shape
        (None, 128, 128, 1)

    Notes:
        Deviation from paper: one attention gate per level (the authors' code
        combines two gates per level) and no deep-supervision heads; the
        decoder upsamples by interpolation, as in the authors' code.
    """
    shape = check_input_shape(input_shape, rank=(2, 3))
    check_positive_int(n_classes, "n_classes")
    filters = level_filters(filters, int_depth=_INT_DEPTH)
    check_choice(norm, NORMS, "norm")
    check_choice(interpolation, ("linear", "nearest"), "interpolation")
    check_output_activation(output_activation)
    depth = len(filters)
    check_divisible(shape, 2 ** (depth - 1), reason=f"with {depth - 1} poolings")

    inputs = keras.Input(shape, name=f"{name}_input")
    skips = pooled_encoder(inputs, filters, norm=norm, name=name)
    x = skips[-1]
    gating = conv_unit(x, filters[-1], 1, norm="batch", name=f"{name}_gating")
    for level in range(depth - 2, -1, -1):
        skip = skips[level]
        if level:
            skip = attention_gate(
                skip, gating, filters[level] // 2 or 1, name=f"{name}_gate{level}"
            )
        up = upsample(x, 2, interpolation=interpolation, name=f"{name}_up{level}")
        x = layers.Concatenate(name=f"{name}_concat{level}")([skip, up])
        x = conv_block(x, filters[level], norm=norm, name=f"{name}_dec{level}")
        gating = x
    outputs = output_head(
        x, n_classes, activation=output_activation, name=f"{name}_head"
    )
    return keras.Model(inputs, outputs, name=name)
