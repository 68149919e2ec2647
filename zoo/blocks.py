"""Dimension-generic building blocks shared by every builder of the zoo.

This module is the only place that chooses between 2D and 3D layers: every block
reads the rank from its input tensor (``len(x.shape) - 2``), so one
implementation serves the 2D U-Nets and the 3D V-Nets alike. Blocks are plain
functions ``f(x, ..., *, name)`` on Keras symbolic tensors, and every layer they
create is named ``f"{name}_<part>"``.

Ordering follows the design notes: linear layer -> normalisation -> non-linearity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
from keras import layers

from zoo.layers import (
    CenterCropToMatch,
    ChannelMeanMax,
    DropBlock,
    LinearUpSampling,
    ScalarLayerNormalization,
    ZeroPadChannels,
)

_CONV = {2: layers.Conv2D, 3: layers.Conv3D}
_CONV_TRANSPOSE = {2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
_MAX_POOL = {2: layers.MaxPooling2D, 3: layers.MaxPooling3D}
_AVG_POOL = {2: layers.AveragePooling2D, 3: layers.AveragePooling3D}
_UPSAMPLE_NEAREST = {2: layers.UpSampling2D, 3: layers.UpSampling3D}
_ZERO_PAD = {2: layers.ZeroPadding2D, 3: layers.ZeroPadding3D}
_SPATIAL_DROPOUT = {2: layers.SpatialDropout2D, 3: layers.SpatialDropout3D}
_CROP = {2: layers.Cropping2D, 3: layers.Cropping3D}

Norm = str | None
BN_MOMENTUM = 0.9
Activation = str | Callable[[str], layers.Layer] | None


def rank_of(x) -> int:
    """Number of spatial axes of a channels-last tensor (2 or 3).

    Raises:
        ValueError: If the tensor is not 4D or 5D.
    """
    rank = len(x.shape) - 2
    if rank not in _CONV:
        raise ValueError(
            "Blocks take (B, H, W, C) or (B, D, H, W, C) tensors. "
            f"Received a tensor of shape {tuple(x.shape)}"
        )
    return rank


def _tuple(value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """Broadcast an int to one value per spatial axis."""
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(
            f"Expected {rank} values, one per spatial axis. Received: {value}"
        )
    return value


def conv(
    x,
    filters: int,
    kernel_size: int | Sequence[int] = 3,
    *,
    strides: int | Sequence[int] = 1,
    padding: str = "same",
    use_bias: bool = True,
    groups: int = 1,
    kernel_initializer: str = "he_normal",
    kernel_regularizer=None,
    name: str,
):
    """A 2D or 3D convolution chosen from the rank of ``x``."""
    rank = rank_of(x)
    return _CONV[rank](
        filters,
        _tuple(kernel_size, rank),
        strides=_tuple(strides, rank),
        padding=padding,
        use_bias=use_bias,
        groups=groups,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )(x)


def conv_transpose(
    x,
    filters: int,
    kernel_size: int | Sequence[int] = 2,
    *,
    strides: int | Sequence[int] = 2,
    padding: str = "valid",
    kernel_initializer: str = "he_normal",
    name: str,
):
    """A 2D or 3D transposed convolution chosen from the rank of ``x``."""
    rank = rank_of(x)
    return _CONV_TRANSPOSE[rank](
        filters,
        _tuple(kernel_size, rank),
        strides=_tuple(strides, rank),
        padding=padding,
        kernel_initializer=kernel_initializer,
        name=name,
    )(x)


def norm_layer(x, norm: Norm, *, name: str):
    """Apply ``"batch"``, ``"instance"``, ``"sample"`` normalisation or nothing.

    ``"instance"`` is instance normalisation (Ulyanov et al. 2016, as MONAI's
    ``InstanceNorm``): statistics per sample and channel over the spatial axes,
    a gain and bias per channel (``GroupNormalization`` with one group per
    channel). ``"sample"`` is the reference 3D V-Net's per-sample layer norm
    with a scalar gain and bias (:class:`~zoo.layers.ScalarLayerNormalization`).

    Batch normalisation uses momentum 0.9 (PyTorch's default, used by nnU-Net
    and MONAI) rather than Keras' 0.99: with the short runs and small data sets
    of medical imaging, 0.99 leaves the moving statistics far behind the
    weights and the saved model predicts much worse than training suggests.
    """
    if norm is None:
        return x
    if norm == "batch":
        return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)(x)
    if norm == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)(x)
    if norm == "sample":
        return ScalarLayerNormalization(name=name)(x)
    raise ValueError(
        f"`norm` must be 'batch', 'instance', 'sample' or None. Received: norm={norm!r}"
    )


def activation_layer(x, activation: Activation, *, name: str):
    """Apply an activation given by name, by layer factory, or nothing.

    ``"prelu"`` is Keras' PReLU with its default per-element slopes (the V-Net's
    non-linearity); ``"leaky_relu"`` is ``LeakyReLU`` with Keras' default slope
    0.3 (the 3D V-Net's); a callable receives ``name`` and returns a layer.
    """
    if activation is None:
        return x
    if callable(activation):
        return activation(name)(x)
    if activation == "prelu":
        return layers.PReLU(name=name)(x)
    if activation == "leaky_relu":
        return layers.LeakyReLU(name=name)(x)
    return layers.Activation(activation, name=name)(x)


def conv_unit(
    x,
    filters: int,
    kernel_size: int | Sequence[int] = 3,
    *,
    strides: int | Sequence[int] = 1,
    padding: str = "same",
    norm: Norm = None,
    activation: Activation = "relu",
    use_bias: bool = True,
    kernel_initializer: str = "he_normal",
    name: str,
):
    """Conv -> [norm] -> [activation]: the unit every block is made of."""
    x = conv(
        x,
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv",
    )
    x = norm_layer(x, norm, name=f"{name}_bn")
    return activation_layer(x, activation, name=f"{name}_act")


def residual_add(x, shortcut, *, name: str):
    """Add ``shortcut`` to ``x``, zero-padding the narrower one's channels first.

    The V-Net residual of Milletari et al. (3DV 2016): element-wise sum, with
    the narrower tensor's channels zero-padded at the end before the add.
    """
    cx, cs = x.shape[-1], shortcut.shape[-1]
    if cs < cx:
        shortcut = ZeroPadChannels(cx, name=f"{name}_pad")(shortcut)
    elif cx < cs:
        x = ZeroPadChannels(cs, name=f"{name}_pad")(x)
    return layers.Add(name=name)([x, shortcut])


def conv_block(
    x,
    filters: int,
    *,
    n_convs: int = 2,
    kernel_size: int | Sequence[int] = 3,
    padding: str = "same",
    norm: Norm = None,
    activation: Activation = "relu",
    residual: bool = False,
    dropout: float = 0.0,
    kernel_initializer: str = "he_normal",
    name: str,
):
    """``n_convs`` x (Conv -> [norm] -> activation), 2D or 3D, optionally residual.

    With ``residual=True`` the block input is added to the output (zero-padding
    channels, as in V-Net) after the last activation. ``dropout`` > 0 appends a
    ``Dropout`` layer (the U-Net paper's "drop-out layers at the end of the
    contracting path").

    Shapes:
        ``(B, *S, C) -> (B, *S', filters)`` with ``S' = S`` for ``"same"``
        padding and ``S - n_convs * (k - 1)`` for ``"valid"``.
    """
    if n_convs < 1:
        raise ValueError(f"`n_convs` must be >= 1. Received: n_convs={n_convs}")
    inputs = x
    for i in range(n_convs):
        x = conv_unit(
            x,
            filters,
            kernel_size,
            padding=padding,
            norm=norm,
            activation=activation,
            kernel_initializer=kernel_initializer,
            name=f"{name}_{i}",
        )
    if residual:
        if padding != "same":
            raise ValueError("`residual=True` needs padding='same'.")
        x = residual_add(x, inputs, name=f"{name}_add")
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_drop")(x)
    return x


def max_pool(
    x, pool_size: int | Sequence[int] = 2, *, strides=None, padding="valid", name: str
):
    """2D or 3D max pooling."""
    rank = rank_of(x)
    return _MAX_POOL[rank](
        _tuple(pool_size, rank),
        strides=None if strides is None else _tuple(strides, rank),
        padding=padding,
        name=name,
    )(x)


def upsample(
    x, size: int | Sequence[int] = 2, *, interpolation: str = "nearest", name: str
):
    """Parameter-free up-sampling: ``"nearest"`` or ``"linear"`` (bi/trilinear)."""
    rank = rank_of(x)
    size = _tuple(size, rank)
    if interpolation == "nearest":
        return _UPSAMPLE_NEAREST[rank](size, name=name)(x)
    if interpolation == "linear":
        return LinearUpSampling(size, name=name)(x)
    raise ValueError(
        f"`interpolation` must be 'nearest' or 'linear'. Received: {interpolation!r}"
    )


def up_conv(
    x,
    filters: int,
    *,
    kernel_size: int = 2,
    interpolation: str = "nearest",
    activation: Activation = "relu",
    name: str,
):
    """The U-Net paper's "up-convolution": x2 up-sampling then a 2x2 conv.

    Ronneberger et al. (2015), Sec. 2: "an upsampling of the feature map followed
    by a 2x2 convolution ("up-convolution") that halves the number of feature
    channels". ``interpolation`` is ``"nearest"`` or ``"linear"`` for
    up-sampling followed by a "same" 2x2 convolution (the reference design), or
    ``"transpose"`` for a stride-2 2x2 transposed convolution, which has the
    same weights but never sees zero padding (exact overlap-tile stitching).
    """
    if interpolation == "transpose":
        x = conv_transpose(x, filters, kernel_size, strides=2, name=f"{name}_conv")
    else:
        x = upsample(x, 2, interpolation=interpolation, name=f"{name}_up")
        x = conv(x, filters, kernel_size, name=f"{name}_conv")
    return activation_layer(x, activation, name=f"{name}_act")


def crop_concat(skip, up, *, offset: Sequence[int] | None = None, name: str):
    """Crop ``skip`` to ``up``'s spatial size and concatenate ``[skip, up]``.

    The crop is centred unless ``offset`` gives the leading pixels to drop per
    axis (see :class:`~zoo.layers.CenterCropToMatch`).
    """
    if tuple(skip.shape[1:-1]) != tuple(up.shape[1:-1]) or None in skip.shape[1:-1]:
        skip = CenterCropToMatch(offset, name=f"{name}_crop")([skip, up])
    return layers.Concatenate(name=name)([skip, up])


def output_head(
    x,
    n_classes: int,
    *,
    activation: str | None = "auto",
    kernel_size: int | Sequence[int] = 1,
    name: str,
):
    """Final conv to ``n_classes`` and the output activation, in float32.

    ``activation="auto"`` is sigmoid for one class (or multi-label use) and
    softmax over the channel axis for several classes; ``None`` returns logits.
    The activation runs in float32 so mixed-precision models emit float32
    probabilities.
    """
    x = conv(
        x,
        n_classes,
        kernel_size,
        kernel_initializer="glorot_uniform",
        name=f"{name}_conv",
    )
    if activation == "auto":
        activation = "sigmoid" if n_classes == 1 else "softmax"
    return layers.Activation(activation or "linear", dtype="float32", name=name)(x)


def zero_pad(x, padding: int | Sequence[int] | Sequence[Sequence[int]], *, name: str):
    """Zero-pad the spatial axes (2D or 3D).

    ``padding`` is an int, one int per axis, or one ``(before, after)`` pair per
    axis, as for Keras' ``ZeroPadding2D``/``ZeroPadding3D`` (asymmetric allowed).
    """
    return _ZERO_PAD[rank_of(x)](padding, name=name)(x)


def crop(x, cropping: int | Sequence[int] | Sequence[Sequence[int]], *, name: str):
    """Crop the spatial axes (2D or 3D), same ``cropping`` forms as ``zero_pad``."""
    return _CROP[rank_of(x)](cropping, name=name)(x)


def depthwise_conv_unit(
    x,
    kernel_size: int | Sequence[int] = 3,
    *,
    norm: Norm = None,
    activation: Activation = "relu",
    name: str,
):
    """Explicit zero-padding -> depthwise conv (valid) -> [norm] -> [activation].

    Keras has no ``DepthwiseConv3D``: a convolution with ``groups`` equal to the
    channel count (``Conv3D(C, k, groups=C)``, ``k**rank * C + C`` weights) is
    the depthwise convolution, for either rank. The explicit padding followed by
    a valid convolution is how Keras' MobileNet builds its depthwise blocks; it
    equals "same" padding for odd kernels and keeps the channel count.

    Shapes:
        ``(B, *S, C) -> (B, *S, C)``.

    Raises:
        ValueError: If a kernel size is even (no symmetric padding exists).
    """
    rank = rank_of(x)
    kernel = _tuple(kernel_size, rank)
    if any(k < 1 or k % 2 == 0 for k in kernel):
        raise ValueError(
            "`kernel_size` must be odd and positive. "
            f"Received: kernel_size={kernel_size}"
        )
    channels = x.shape[-1]
    if any(k > 1 for k in kernel):
        x = zero_pad(x, tuple(k // 2 for k in kernel), name=f"{name}_pad")
    x = conv(x, channels, kernel, padding="valid", groups=channels, name=f"{name}_conv")
    x = norm_layer(x, norm, name=f"{name}_bn")
    return activation_layer(x, activation, name=f"{name}_act")


def encoder_decoder(
    x,
    *,
    depth: int,
    encoder: Callable,
    down: Callable,
    up: Callable,
    decoder: Callable,
    name: str,
):
    """The U-shaped macro structure shared by the U-Net and V-Net families.

    Contracting path, level ``i = 0 ... depth-1``: ``down`` (for ``i > 0``) then
    ``encoder``; the encoder output of level ``i`` is its skip. Expanding path,
    ``i = depth-2 ... 0``: ``up`` then ``decoder`` with the skip of level ``i``.
    The callables build the family-specific parts::

        encoder(x, level, name=...)      down(x, level, name=...)
        up(x, level, name=...)           decoder(up, skip, level, name=...)

    Layer names are ``{name}_enc{i}``, ``{name}_down{i}``, ``{name}_up{i}``
    and ``{name}_dec{i}`` prefixes.

    Returns:
        The output of the last decoder level (the top resolution).
    """
    skips = []
    for level in range(depth):
        if level:
            x = down(x, level, name=f"{name}_down{level}")
        x = encoder(x, level, name=f"{name}_enc{level}")
        skips.append(x)
    for level in range(depth - 2, -1, -1):
        x = up(x, level, name=f"{name}_up{level}")
        x = decoder(x, skips[level], level, name=f"{name}_dec{level}")
    return x


def encoder_decoder_model(
    input_shape: Sequence[int | None],
    n_classes: int,
    *,
    depth: int,
    encoder: Callable,
    down: Callable,
    up: Callable,
    decoder: Callable,
    output_activation: str | None = "auto",
    head_kernel_size: int | Sequence[int] = 1,
    name: str,
) -> keras.Model:
    """``keras.Input`` -> ``encoder_decoder`` -> ``output_head`` as a Model.

    The input layer is ``{name}_input``, the head ``{name}_head``; the other
    arguments are those of ``encoder_decoder`` and ``output_head``.
    """
    inputs = keras.Input(tuple(input_shape), name=f"{name}_input")
    x = encoder_decoder(
        inputs,
        depth=depth,
        encoder=encoder,
        down=down,
        up=up,
        decoder=decoder,
        name=name,
    )
    outputs = output_head(
        x,
        n_classes,
        activation=output_activation,
        kernel_size=head_kernel_size,
        name=f"{name}_head",
    )
    return keras.Model(inputs, outputs, name=name)


def dropblock_conv_block(
    x,
    filters: int,
    *,
    n_convs: int = 2,
    block_size: int = 7,
    keep_prob: float = 0.9,
    norm: Norm = "batch",
    activation: Activation = "relu",
    name: str,
):
    """``n_convs`` x (Conv 3x3 -> DropBlock -> [norm] -> activation), 2D or 3D.

    The "structured dropout convolutional block" of SD-UNet / SA-UNet (Guo et
    al., ICPR 2020, https://arxiv.org/abs/2004.03696, Fig. 1). ``keep_prob=1``
    leaves the DropBlock layers out.

    Shapes:
        ``(B, *S, C) -> (B, *S, filters)``.
    """
    for i in range(n_convs):
        # The reference code keeps Keras' default glorot_uniform initialiser.
        x = conv(
            x, filters, 3, kernel_initializer="glorot_uniform", name=f"{name}_{i}_conv"
        )
        if keep_prob < 1.0:
            x = DropBlock(block_size, keep_prob, name=f"{name}_{i}_drop")(x)
        x = norm_layer(x, norm, name=f"{name}_{i}_bn")
        x = activation_layer(x, activation, name=f"{name}_{i}_act")
    return x


def spatial_attention(x, kernel_size: int | Sequence[int] = 7, *, name: str):
    """CBAM spatial attention: ``x * sigmoid(conv([mean_c(x); max_c(x)]))``.

    Woo et al., ECCV 2018 (https://arxiv.org/abs/1807.06521), Sec. 3.2, as used
    at the SA-UNet bottleneck (Guo et al., ICPR 2020, Sec. III-B): channel-wise
    average and max pooling, concatenated, a ``kernel_size`` convolution without
    bias to one map, a sigmoid, and a multiplication broadcast over channels.
    Adds ``2 * kernel_size**rank`` weights.

    Shapes:
        ``(B, *S, C) -> (B, *S, C)``.
    """
    descriptor = ChannelMeanMax(name=f"{name}_pool")(x)
    attention = conv(descriptor, 1, kernel_size, use_bias=False, name=f"{name}_conv")
    attention = layers.Activation("sigmoid", name=f"{name}_sigmoid")(attention)
    return layers.Multiply(name=name)([x, attention])


def attention_gate(x, gating, inter_filters: int, *, name: str):
    """Additive attention gate on a skip ``x`` with a coarser gating signal.

    Oktay et al., "Attention U-Net", MIDL 2018, https://arxiv.org/abs/1804.03999,
    Eq. (1)-(2) and Fig. 2 (the "grid attention" of the authors' code):
    ``q = psi(relu(W_x x + W_g g + b_g)) + b_psi`` with ``W_x`` a stride-2 2x2
    convolution without bias that brings ``x`` to the gating grid, ``W_g`` and
    ``psi`` 1x1 convolutions; ``alpha = sigmoid(q)`` is up-sampled (bi/trilinear)
    to ``x``'s grid and multiplies ``x``; a 1x1 convolution + batch norm
    (``W`` of the reference code) transforms the gated features.

    Args:
        x: Skip features ``(B, *S, C)`` with even spatial sizes.
        gating: Gating signal ``(B, *S/2, C_g)`` from the coarser level.
        inter_filters: Channels of the intermediate space ``F_int``.
        name: Layer-name prefix.

    Shapes:
        ``[(B, *S, C), (B, *S/2, C_g)] -> (B, *S, C)``.
    """
    theta = conv(x, inter_filters, 2, strides=2, use_bias=False, name=f"{name}_theta")
    phi = conv(gating, inter_filters, 1, name=f"{name}_phi")
    f = layers.Add(name=f"{name}_add")([theta, phi])
    f = layers.Activation("relu", name=f"{name}_relu")(f)
    psi = conv(f, 1, 1, name=f"{name}_psi")
    alpha = layers.Activation("sigmoid", name=f"{name}_sigmoid")(psi)
    alpha = upsample(alpha, 2, interpolation="linear", name=f"{name}_up")
    y = layers.Multiply(name=f"{name}_mul")([x, alpha])
    y = conv(y, x.shape[-1], 1, name=f"{name}_w")
    return norm_layer(y, "batch", name=f"{name}_bn")


def preact_residual_unit(
    x,
    filters: int,
    *,
    strides: int | Sequence[int] = 1,
    first: bool = False,
    name: str,
):
    """Pre-activation residual unit: 2 x (BN -> ReLU -> Conv 3x3) + shortcut.

    He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016, as used
    by ResUNet (Zhang, Liu, Wang, IEEE GRSL 2018, https://arxiv.org/abs/1711.10684,
    Fig. 2(b) and Table I): down-sampling is the first convolution's stride
    (no pooling). ``first=True`` is the network's first unit, whose input is the
    raw image: Conv -> BN -> ReLU -> Conv (no leading BN-ReLU). The shortcut is
    the identity when shapes match, else a strided 1x1 convolution + BN.

    Shapes:
        ``(B, *S, C) -> (B, *S / strides, filters)``.
    """
    shortcut = x
    if first:
        y = conv(x, filters, 3, strides=strides, name=f"{name}_conv0")
    else:
        y = norm_layer(x, "batch", name=f"{name}_bn0")
        y = layers.Activation("relu", name=f"{name}_act0")(y)
        y = conv(y, filters, 3, strides=strides, name=f"{name}_conv0")
    y = norm_layer(y, "batch", name=f"{name}_bn1")
    y = layers.Activation("relu", name=f"{name}_act1")(y)
    y = conv(y, filters, 3, name=f"{name}_conv1")
    if x.shape[-1] != filters or _tuple(strides, rank_of(x)) != (1,) * rank_of(x):
        shortcut = conv(x, filters, 1, strides=strides, name=f"{name}_short")
        shortcut = norm_layer(shortcut, "batch", name=f"{name}_short_bn")
    return layers.Add(name=f"{name}_add")([y, shortcut])


def global_max_pool(x, *, name: str):
    """2D or 3D global max pooling: ``(B, *S, C) -> (B, C)``."""
    pool = {2: layers.GlobalMaxPooling2D, 3: layers.GlobalMaxPooling3D}
    return pool[rank_of(x)](name=name)(x)


def pooled_encoder(x, filters: Sequence[int], *, norm: Norm = "batch", name: str):
    """The plain U-Net contracting path: per level [2x2 max-pool ->] conv block.

    Level ``i`` applies ``conv_block(filters[i], norm=norm)`` (named
    ``{name}_enc{i}``), preceded for ``i > 0`` by a max-pool (``{name}_pool{i-1}``).

    Returns:
        The list of every level's output, top to bottom (the last is the
        bottleneck).
    """
    features = []
    for level, f in enumerate(filters):
        if level:
            x = max_pool(x, name=f"{name}_pool{level - 1}")
        x = conv_block(x, f, norm=norm, name=f"{name}_enc{level}")
        features.append(x)
    return features
