"""Jaccard (IoU) loss, MS-SSIM loss and the UNet 3+ hybrid loss, ``keras.ops`` only.

Same conventions as :mod:`losses.functional`: channels-last ``(B, *spatial,
C)`` inputs of 2D or 3D images, float32 arithmetic, ``from_logits`` /
``mode``, ``ignore_index``, one value per sample ``(B,)``.

The UNet 3+ paper trains with ``l_seg = l_focal + l_ms-ssim + l_iou``: the
focal loss works on pixels, MS-SSIM on local patches (it weighs boundary
pixels more), IoU on the whole map.

Reference:
    Huang et al., "UNet 3+: A Full-Scale Connected UNet for Medical Image
    Segmentation", ICASSP 2020, https://arxiv.org/abs/2004.08790
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from keras import ops

from losses.functional import (
    Mode,
    _all_axes,
    _ignore,
    _keep,
    _prepare,
    _probabilities,
    _safe_power,
    focal_loss,
    validate_loss_arguments,
)

__all__ = [
    "MS_SSIM_POWER_FACTORS",
    "jaccard_loss",
    "ms_ssim",
    "ms_ssim_loss",
    "unet3plus_hybrid_loss",
]

#: Scale exponents of Wang et al. (2003), as in ``tf.image.ssim_multiscale``.
MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def jaccard_loss(
    y_true: Any,
    y_pred: Any,
    *,
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Soft Jaccard (IoU) loss per sample, pooled over space and channels.

    ``L = 1 - (sum(y p) + smooth) / (sum(y) + sum(p) - sum(y p) + smooth)``,
    the UNet 3+ IoU loss (Máttyus et al., ICCV 2017) with additive smoothing.

    Reference:
        Máttyus et al., "DeepRoadMapper: Extracting Road Topology from Aerial
        Images", ICCV 2017; used by Huang et al., UNet 3+, ICASSP 2020,
        https://arxiv.org/abs/2004.08790

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        smooth: Additive smoothing, > 0; an empty mask predicted empty has
            loss 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` (sigmoid) or ``"multiclass"`` (softmax).
            Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255).
            Defaults to None.

    Returns:
        Loss in [0, 1), shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(smooth=smooth, from_logits=from_logits, mode=mode)
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    axes = _all_axes(p)
    intersection = ops.sum(y_true * p, axis=axes)
    union = ops.sum(y_true, axis=axes) + ops.sum(p, axis=axes) - intersection
    return 1.0 - (intersection + smooth) / (union + smooth)


def _gaussian_1d(size: int, sigma: float) -> list[float]:
    centre = (size - 1) / 2.0
    values = [math.exp(-((i - centre) ** 2) / (2.0 * sigma**2)) for i in range(size)]
    total = sum(values)
    return [v / total for v in values]


def _blur(x, size: int, sigma: float):
    """Separable Gaussian filter, "valid" padding, over every spatial axis.

    ``x`` is ``(N, *spatial, 1)``; 1D, 2D or 3D by its rank.
    """
    rank = len(x.shape) - 2
    weights = ops.convert_to_tensor(_gaussian_1d(size, sigma), dtype="float32")
    for axis in range(rank):
        shape = [1] * rank + [1, 1]
        shape[axis] = size
        x = ops.conv(x, ops.reshape(weights, shape), strides=1, padding="valid")
    return x


def _downsample(x):
    """2x average pooling; odd sizes are first padded symmetrically at the end."""
    rank = len(x.shape) - 2
    odd = [int(s) % 2 for s in x.shape[1:-1]]
    if any(odd):
        x = ops.pad(x, [(0, 0)] + [(0, r) for r in odd] + [(0, 0)], mode="symmetric")
    return ops.average_pool(x, (2,) * rank, strides=2, padding="valid")


def ms_ssim(
    y_true: Any,
    y_pred: Any,
    *,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    power_factors: Sequence[float] = MS_SSIM_POWER_FACTORS,
    k1: float = 0.01,
    k2: float = 0.03,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Multi-scale structural similarity of target and prediction, per sample.

    ``MS-SSIM = prod_m cs_m ** beta_m`` over the scales, with the luminance
    term at the coarsest scale (``ssim_M`` replaces ``cs_M``); each term is
    the mean over space of a Gaussian-windowed local statistic, clipped at 0,
    and the result is averaged over channels. Dynamic range 1 (``C1 = k1**2``,
    ``C2 = k2**2``). Matches ``tf.image.ssim_multiscale(max_val=1)`` in 2D; the
    same separable filter makes it 1D and 3D too.

    Reference:
        Wang, Simoncelli & Bovik, "Multiscale structural similarity for image
        quality assessment", Asilomar 2003; as a loss in Huang et al., UNet 3+,
        ICASSP 2020, https://arxiv.org/abs/2004.08790

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)`` with static
            spatial sizes.
        y_pred: Probabilities (or logits), same shape.
        filter_size: Side of the Gaussian window. Defaults to 11.
        filter_sigma: Its standard deviation. Defaults to 1.5.
        power_factors: One exponent per scale; their number is the number of
            scales. Defaults to :data:`MS_SSIM_POWER_FACTORS` (5 scales).
        k1: Luminance constant. Defaults to 0.01.
        k2: Contrast constant. Defaults to 0.03.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value marking pixels to leave out (e.g. 255).
            Defaults to None.

    Returns:
        MS-SSIM in [0, 1], shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, mismatched shapes, a dynamic spatial
            size, or an image smaller than ``2 ** (scales - 1)`` pixels.

    Notes:
        Deviation from ``tf.image.ssim_multiscale``: where a scale is smaller
        than ``filter_size``, the window shrinks to that scale's smallest side
        (TensorFlow fails), so small training patches can use the default
        five scales. Ignored pixels are set to 0 in target and prediction
        alike: they add no difference, but a window straddling them still
        sees their value (SSIM is a windowed statistic).
    """
    validate_loss_arguments(
        filter_size=filter_size,
        filter_sigma=filter_sigma,
        power_factors=power_factors,
        k1=k1,
        k2=k2,
        from_logits=from_logits,
        mode=mode,
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    spatial = tuple(p.shape[1:-1])
    n_scales = len(power_factors)
    if any(s is None for s in spatial):
        raise ValueError(
            f"ms_ssim needs static spatial sizes. Received: y_pred.shape={p.shape}"
        )
    if min(spatial) < 2 ** (n_scales - 1):
        raise ValueError(
            f"ms_ssim with {n_scales} scales needs every spatial size >= "
            f"{2 ** (n_scales - 1)}. Received: y_pred.shape={tuple(p.shape)}"
        )
    rank, channels = len(spatial), int(p.shape[-1])
    # Channels into the batch: (B, *S, C) -> (B * C, *S, 1).
    order = (0, rank + 1, *range(1, rank + 1))

    def to_single_channel(x):
        return ops.expand_dims(ops.reshape(ops.transpose(x, order), (-1, *spatial)), -1)

    x, y = to_single_channel(y_true), to_single_channel(p)
    c1, c2 = k1**2, k2**2
    terms = []
    for scale, factor in enumerate(power_factors):
        if scale > 0:
            x, y = _downsample(x), _downsample(y)
        size = min(filter_size, *(int(s) for s in x.shape[1:-1]))
        mu_x, mu_y = _blur(x, size, filter_sigma), _blur(y, size, filter_sigma)
        products = 2.0 * mu_x * mu_y
        squares = ops.square(mu_x) + ops.square(mu_y)
        cross = 2.0 * _blur(x * y, size, filter_sigma)
        energy = _blur(ops.square(x) + ops.square(y), size, filter_sigma)
        cs = (cross - products + c2) / (energy - squares + c2)
        if scale == n_scales - 1:
            cs = cs * (products + c1) / (squares + c1)  # SSIM at the last scale
        value = ops.relu(ops.mean(cs, axis=tuple(range(1, rank + 2))))
        terms.append(_safe_power(value, float(factor)))
    result = terms[0]
    for term in terms[1:]:
        result = result * term
    return ops.mean(ops.reshape(result, (-1, channels)), axis=-1)


def ms_ssim_loss(
    y_true: Any,
    y_pred: Any,
    *,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    power_factors: Sequence[float] = MS_SSIM_POWER_FACTORS,
    k1: float = 0.01,
    k2: float = 0.03,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """MS-SSIM loss ``1 - MS-SSIM`` with :func:`ms_ssim`.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        filter_size: Gaussian window side. Defaults to 11.
        filter_sigma: Gaussian standard deviation. Defaults to 1.5.
        power_factors: One exponent per scale. Defaults to
            :data:`MS_SSIM_POWER_FACTORS`.
        k1: Luminance constant. Defaults to 0.01.
        k2: Contrast constant. Defaults to 0.03.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value marking pixels to leave out. Defaults to
            None.

    Returns:
        Loss in [0, 1], shape ``(B,)``.

    Raises:
        ValueError: As :func:`ms_ssim`.
    """
    return 1.0 - ms_ssim(
        y_true,
        y_pred,
        filter_size=filter_size,
        filter_sigma=filter_sigma,
        power_factors=power_factors,
        k1=k1,
        k2=k2,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )


def unet3plus_hybrid_loss(
    y_true: Any,
    y_pred: Any,
    *,
    focal_weight: float = 1.0,
    ms_ssim_weight: float = 1.0,
    iou_weight: float = 1.0,
    gamma: float = 2.0,
    alpha: float = 0.25,
    smooth: float = 1.0,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    power_factors: Sequence[float] = MS_SSIM_POWER_FACTORS,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """The UNet 3+ hybrid loss ``focal + MS-SSIM + IoU`` (paper eq. 4), weighted.

    Reference:
        Huang et al., "UNet 3+: A Full-Scale Connected UNet for Medical Image
        Segmentation", ICASSP 2020, https://arxiv.org/abs/2004.08790

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        focal_weight: Weight of :func:`losses.functional.focal_loss`.
            Defaults to 1.0.
        ms_ssim_weight: Weight of :func:`ms_ssim_loss`. Defaults to 1.0.
        iou_weight: Weight of :func:`jaccard_loss`. Defaults to 1.0.
        gamma: Focal exponent. Defaults to 2.0.
        alpha: Focal positive-class balance. Defaults to 0.25.
        smooth: IoU smoothing. Defaults to 1.0.
        filter_size: MS-SSIM window side. Defaults to 11.
        filter_sigma: MS-SSIM Gaussian standard deviation. Defaults to 1.5.
        power_factors: MS-SSIM exponents, one per scale. Defaults to
            :data:`MS_SSIM_POWER_FACTORS`.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value marking pixels to leave out. Defaults to
            None.

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, all-zero weights or mismatched shapes.
    """
    validate_loss_arguments(
        focal_weight=focal_weight, ms_ssim_weight=ms_ssim_weight, iou_weight=iou_weight
    )
    common = {"from_logits": from_logits, "mode": mode, "ignore_index": ignore_index}
    focal = focal_loss(y_true, y_pred, gamma=gamma, alpha=alpha, **common)
    structural = ms_ssim_loss(
        y_true,
        y_pred,
        filter_size=filter_size,
        filter_sigma=filter_sigma,
        power_factors=power_factors,
        **common,
    )
    iou = jaccard_loss(y_true, y_pred, smooth=smooth, **common)
    return focal_weight * focal + ms_ssim_weight * structural + iou_weight * iou
