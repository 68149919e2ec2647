"""UNet 3+: full-scale skip connections and full-scale deep supervision, 2D and 3D.

Reference:
    H. Huang, L. Lin, R. Tong, H. Hu, Q. Zhang, Y. Iwamoto, X. Han, Y.-W. Chen,
    J. Wu, "UNet 3+: A Full-Scale Connected UNet for Medical Image
    Segmentation", ICASSP 2020. https://arxiv.org/abs/2004.08790
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.blocks import (
    conv,
    conv_unit,
    global_max_pool,
    max_pool,
    pooled_encoder,
    upsample,
)
from zoo.layers import ClassificationGate
from zoo.registry import Reference, divisible_by, register
from zoo.validation import (
    check_bool,
    check_divisible,
    check_input_shape,
    check_output_activation,
    check_positive_int,
    level_filters,
)

# Levels of an int `filters`: those of the default.
_INT_DEPTH = 5

__all__ = ["unet3_plus"]


@register(
    family="variants",
    ranks=(2, 3),
    reference=Reference(
        27_001_541, "Huang et al. 2020, authors' code: 320x320x1, deep supervision"
    ),
    tiny={"input_shape": (32, 32, 1), "filters": (4, 8, 16, 32), "skip_filters": 4},
    multi_output=True,
    size_rule=divisible_by(
        lambda a: 2 ** (len(level_filters(a["filters"], int_depth=_INT_DEPTH)) - 1)
    ),
)
def unet3_plus(
    input_shape: Sequence[int | None] = (320, 320, 1),
    n_classes: int = 1,
    *,
    filters: int | Sequence[int] = (64, 128, 256, 512, 1024),
    skip_filters: int = 64,
    deep_supervision: bool = True,
    cgm: bool = False,
    output_activation: str | None = "auto",
    name: str = "unet3_plus",
) -> keras.Model:
    """UNet 3+: every decoder stage fuses all encoder and deeper decoder scales.

    Reference:
        Huang et al., "UNet 3+: A Full-Scale Connected UNet for Medical Image
        Segmentation", ICASSP 2020, https://arxiv.org/abs/2004.08790 (Fig. 1-3,
        Sec. 2), and the authors' ``UNet_3Plus_DeepSup(_CGM)``.

    Encoder ``X_En^i``: 2 x (Conv 3x3 -> BN -> ReLU), 2x2 max-pooling. Decoder
    stage ``X_De^i`` (Eq. 1) takes each of the ``N = depth`` scales:
    shallower encoder maps max-pooled by ``2**(i-k)``, ``X_En^i`` itself, and
    deeper decoder maps (the bottleneck ``X_En^{N-1}`` as ``X_De^{N-1}``)
    up-sampled bilinearly by ``2**(k-i)``, each through Conv 3x3 (``skip_filters``)
    -> BN -> ReLU; the ``N * skip_filters`` concatenated channels (5 x 64 = 320)
    are fused by Conv 3x3 -> BN -> ReLU. Side output ``i`` is a 3x3 conv to
    ``n_classes`` on ``X_De^i``, bilinearly up-sampled to the input size.

    Args:
        input_shape: ``(H, W, C)`` or ``(D, H, W, C)``, spatial sizes multiples
            of ``2**(depth-1)`` (``None`` allowed). Defaults to
            ``(320, 320, 1)``, the paper's CT slices.
        n_classes: Output channels. Defaults to 1.
        filters: Filters of the top level (int, doubled at every level) or one
            per level (sequence) of the encoder. A sequence's length is the
            depth (2 or more); an int gives 5 levels, as the default. Defaults
            to ``(64, 128, 256, 512, 1024)``.
        skip_filters: Channels of every full-scale skip. Defaults to 64.
        deep_supervision: ``True``: outputs ``f"{name}_out{i}"`` for ``i = 0 ...
            N-1`` (``out0`` is the final full-resolution map, ``out{N-1}`` the
            bottleneck's), all at the input size; pass per-output losses and
            weights as dicts keyed by these names (the paper trains every side
            output with its hybrid loss). ``False``: ``out0`` only. Defaults to
            True.
        cgm: Add the classification-guided module: a ``f"{name}_cls"`` output
            ``(B, 2)`` (no organ / organ; Dropout 0.5 -> 1x1 conv -> global max
            pool -> sigmoid on the bottleneck), listed last. At inference every
            segmentation output is multiplied by its ``argmax``
            (``zoo.layers.ClassificationGate``); in training the maps pass
            unchanged and the classifier is trained by its own loss, e.g.
            binary cross-entropy against one-hot "has organ" labels. Needs
            sigmoid outputs. Defaults to False.
        output_activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``None``.
            Defaults to "auto".
        name: Model name and layer-name prefix. Defaults to ``"unet3_plus"``.

    Shapes:
        ``(B, *S, C) -> (B, *S, n_classes)``; a list of ``N`` such outputs with
        deep supervision, plus ``(B, 2)`` last with ``cgm``.

    Raises:
        ValueError: For a wrong ``input_shape`` rank, a spatial size that is
            not a multiple of ``2**(depth-1)`` (nearest valid sizes
            named), ``cgm`` without sigmoid outputs, or bad ``filters``/
            ``skip_filters``/``deep_supervision``/``output_activation``.

    Example:
        >>> unet3_plus().count_params()
        27001541
        >>> model = unet3_plus((32, 32, 1), filters=(4, 8, 16), skip_filters=4)
        >>> model.output_names
        ['unet3_plus_out0', 'unet3_plus_out1', 'unet3_plus_out2']

    Notes:
        Parameters: 27,001,541 by default; 26,983,681 without deep supervision,
        of which 26,970,625 trainable (Keras also counts BN moving statistics):
        the paper's 26.97M. The paper trains with deep supervision and CGM;
        the gate uses an ``argmax`` without gradient, so it is an
        inference-time operation here.
    """
    shape = check_input_shape(input_shape, rank=(2, 3))
    check_positive_int(n_classes, "n_classes")
    filters = level_filters(filters, int_depth=_INT_DEPTH)
    check_positive_int(skip_filters, "skip_filters")
    check_bool(deep_supervision, "deep_supervision")
    check_bool(cgm, "cgm")
    check_output_activation(output_activation)
    activation = output_activation
    if activation == "auto":
        activation = "sigmoid" if n_classes == 1 else "softmax"
    if cgm and activation != "sigmoid":
        raise ValueError(
            "`cgm=True` gates probabilities and needs sigmoid outputs. "
            f"Received: output_activation={output_activation!r}, n_classes={n_classes}"
        )
    depth = len(filters)
    check_divisible(shape, 2 ** (depth - 1), reason=f"with {depth - 1} poolings")

    inputs = keras.Input(shape, name=f"{name}_input")
    encoder = pooled_encoder(inputs, filters, norm="batch", name=name)
    decoder = {depth - 1: encoder[-1]}
    for i in range(depth - 2, -1, -1):
        scales = []
        for k in range(depth):
            if k < i:
                t = max_pool(
                    encoder[k], 2 ** (i - k), name=f"{name}_dec{i}_from{k}_pool"
                )
            elif k == i:
                t = encoder[k]
            else:
                t = upsample(
                    decoder[k],
                    2 ** (k - i),
                    interpolation="linear",
                    name=f"{name}_dec{i}_from{k}_up",
                )
            scales.append(
                conv_unit(t, skip_filters, norm="batch", name=f"{name}_dec{i}_from{k}")
            )
        x = layers.Concatenate(name=f"{name}_dec{i}_concat")(scales)
        decoder[i] = conv_unit(
            x, depth * skip_filters, norm="batch", name=f"{name}_dec{i}_fuse"
        )

    gate_input = None
    if cgm:
        c = layers.Dropout(0.5, name=f"{name}_cls_drop")(encoder[-1])
        c = conv(c, 2, 1, kernel_initializer="glorot_uniform", name=f"{name}_cls_conv")
        c = global_max_pool(c, name=f"{name}_cls_pool")
        gate_input = layers.Activation("sigmoid", dtype="float32", name=f"{name}_cls")(
            c
        )
    outputs = []
    for i in range(depth) if deep_supervision else [0]:
        y = conv(
            decoder[i],
            n_classes,
            3,
            kernel_initializer="glorot_uniform",
            name=f"{name}_out{i}_conv",
        )
        if i:
            y = upsample(y, 2**i, interpolation="linear", name=f"{name}_out{i}_up")
        out_name = f"{name}_out{i}"
        y = layers.Activation(
            activation or "linear",
            dtype="float32",
            name=f"{out_name}_act" if cgm else out_name,
        )(y)
        if cgm:
            y = ClassificationGate(name=out_name)([y, gate_input])
        outputs.append(y)
    if cgm:
        outputs.append(gate_input)
    if len(outputs) == 1:
        outputs = outputs[0]
    return keras.Model(inputs, outputs, name=name)
