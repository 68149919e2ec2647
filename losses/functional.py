"""Segmentation losses as pure ``keras.ops`` functions.

Every function takes one-hot (or multi-label), channels-last tensors
``y_true`` and ``y_pred`` of shape ``(B, *spatial, C)`` -- ``(B, H, W, C)`` for
images, ``(B, D, H, W, C)`` for volumes -- reduces over the spatial axes of
either rank (and over the channels, as each function documents) and returns
one value per sample, shape ``(B,)``. Keras' ``Loss`` reduction then averages
over the batch and applies sample weights.

Conventions shared by all functions:

* Inputs are cast to ``float32``, also under mixed precision, so sums over
  whole volumes keep their precision.
* ``mode="multilabel"`` treats every channel as an independent binary target
  (sigmoid outputs; this is also the single-channel binary case);
  ``mode="multiclass"`` treats the channels as mutually exclusive classes
  (softmax outputs; cross-entropies become categorical). ``multiclass`` needs
  at least two channels.
* ``from_logits=True`` maps raw scores through sigmoid / softmax; the
  cross-entropies then use ``log_sigmoid`` / ``log_softmax`` so that extreme
  logits (+-100) stay finite.
* Probabilities that enter a logarithm or a focal modulating factor are
  clipped to ``[EPSILON, 1 - EPSILON]`` (``EPSILON = 1e-7``), so neither the
  loss nor its gradient is ever NaN or inf, even for predictions of exactly
  0 and 1.
* Dice-type ratios are smoothed, ``(2 * sum(y * p) + smooth) /
  (sum(y) + sum(p) + smooth)``, with ``smooth > 0``: an empty mask predicted
  empty has dice 1 (loss 0), never NaN.
* ``ignore_index`` (e.g. 255): a pixel where any target channel equals it is
  left out. Its target and prediction are zeroed before the sums of the
  dice-type ratios, and the pixel-averaged losses (cross-entropies, focal)
  average over the remaining pixels only, so the loss equals that of the valid
  pixels alone (except :func:`border_dice_loss`, whose pooled border bands
  still see the zeroed pixels next to them).

Deviation from the reference design: the reference (ARCHITECTURES.md section
12) sums over the whole batch tensor; these functions reduce per sample and
let Keras average, so a sample weight can scale each sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from keras import ops

EPSILON = 1e-7
MODES = ("multilabel", "multiclass")
BORDER_MODES = ("gradient", "outer")
WEIGHTED_DICE_FORMULATIONS = ("complement", "masked")
GENERALIZED_DICE_WEIGHTS = ("square", "simple", "uniform")

Mode = Literal["multilabel", "multiclass"]

__all__ = [
    "EPSILON",
    "bce",
    "bce_dice",
    "border_dice_loss",
    "border_map",
    "dice_coefficient",
    "dice_loss",
    "focal_bce_dice",
    "focal_dice",
    "focal_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "hard_dice_coefficient",
    "multiclass_dice_loss",
    "per_channel_dice",
    "reweighted_bce",
    "tversky_index",
    "tversky_loss",
    "validate_loss_arguments",
    "weighted_bce",
    "weighted_dice_loss",
]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}"
        )


def _check_range(
    name: str,
    value: Any,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    ok = _is_number(value)
    if ok:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise ValueError(
            f"`{name}` must be a number {bound}. Received: {name}={value!r}"
        )


def _check_weights(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(
            f"`{name}` must be None or a sequence of non-negative numbers. "
            f"Received: {name}={value!r}"
        )
    if len(value) == 0 or any(not _is_number(v) or v < 0 for v in value):
        raise ValueError(
            f"`{name}` needs >= 1 non-negative number. Received: {name}={value!r}"
        )
    if sum(value) <= 0:
        raise ValueError(f"`{name}` must not be all zeros. Received: {name}={value!r}")


def validate_loss_arguments(**kwargs: Any) -> None:
    """Checks the keyword arguments shared by the loss functions and classes.

    Each argument is checked by its name, so the ``Loss`` classes can reject a
    bad value at construction time, before any tensor is seen.

    Args:
        **kwargs: Any of the keyword arguments of the functions of this module.

    Raises:
        ValueError: If a value is out of range, of the wrong type, or if two
            arguments conflict. The message names the argument.
    """
    for name, value in kwargs.items():
        if name in ("squared", "from_logits"):
            _check_bool(name, value)
        elif name == "mode":
            _check_choice(name, value, MODES)
        elif name == "smooth":
            _check_range(name, value, low=0.0, low_open=True)
        elif name in ("gamma", "w0"):
            _check_range(name, value, low=0.0)
        elif name in ("alpha", "beta"):
            _check_range(name, value, low=0.0, high=1.0)
        elif name == "bce_alpha":
            if value is not None:
                _check_range(name, value, low=0.0, high=1.0)
        elif name.endswith("_weight"):
            _check_range(name, value, low=0.0)
        elif name == "class_weights":
            _check_weights(name, value)
        elif name == "pool_size":
            if not (isinstance(value, int) and not isinstance(value, bool)) or (
                value < 3 or value % 2 == 0
            ):
                raise ValueError(
                    "`pool_size` must be an odd int >= 3 (3 gives a one-pixel "
                    f"band). Received: pool_size={value!r}"
                )
        elif name == "border":
            _check_choice(name, value, BORDER_MODES)
        elif name == "formulation":
            _check_choice(name, value, WEIGHTED_DICE_FORMULATIONS)
        elif name == "weight_type":
            _check_choice(name, value, GENERALIZED_DICE_WEIGHTS)
        elif name == "threshold":
            if value != "argmax":
                _check_range(name, value, low=0.0, high=1.0)
        elif name == "filter_size":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    "`filter_size` must be an int >= 1. Received: "
                    f"filter_size={value!r}"
                )
        elif name in ("filter_sigma", "k1", "k2"):
            _check_range(name, value, low=0.0, low_open=True)
        elif name == "power_factors":
            _check_weights(name, value)
        elif name == "ignore_index":
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise ValueError(
                    f"`ignore_index` must be None or an int. Received: "
                    f"ignore_index={value!r}"
                )
        else:
            raise ValueError(f"Unknown loss argument `{name}`.")
    weight_names = [n for n in kwargs if n.endswith("_weight")]
    if len(weight_names) > 1 and all(kwargs[n] == 0 for n in weight_names):
        raise ValueError(
            "The mixing weights must not all be 0. Received: "
            + ", ".join(f"{n}={kwargs[n]!r}" for n in weight_names)
        )
    if kwargs.get("bce_alpha") is not None and kwargs.get("mode") == "multiclass":
        raise ValueError(
            "`bce_alpha` (reweighted binary cross-entropy) needs "
            "mode='multilabel'. Received: bce_alpha="
            f"{kwargs['bce_alpha']!r}, mode='multiclass'"
        )
    if kwargs.get("threshold") == "argmax" and kwargs.get("mode") != "multiclass":
        raise ValueError(
            "threshold='argmax' needs mode='multiclass'. Received: "
            f"mode={kwargs.get('mode')!r}"
        )


def _prepare(y_true: Any, y_pred: Any, *, mode: str, extra_true_channels: int = 0):
    """Casts to float32 and checks ranks and static shapes."""
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    pred_shape, true_shape = tuple(y_pred.shape), tuple(y_true.shape)
    if len(pred_shape) < 3:
        raise ValueError(
            "`y_pred` must be channels-last (B, *spatial, C) with >= 1 spatial "
            f"axis. Received: y_pred.shape={pred_shape}"
        )
    if len(true_shape) != len(pred_shape):
        raise ValueError(
            "`y_true` and `y_pred` must have the same rank. Received: "
            f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
        )
    expected = pred_shape[:-1] + (
        None if pred_shape[-1] is None else pred_shape[-1] + extra_true_channels,
    )
    for t, e in zip(true_shape, expected, strict=True):
        if t is not None and e is not None and t != e:
            what = (
                f"`y_pred`'s channels + {extra_true_channels} (the weight map)"
                if extra_true_channels
                else "`y_pred`'s"
            )
            raise ValueError(
                f"`y_true` shape must match {what}. Received: "
                f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
            )
    if mode == "multiclass" and pred_shape[-1] == 1:
        raise ValueError(
            "mode='multiclass' (softmax over channels) needs >= 2 channels; use "
            f"mode='multilabel' for one channel. Received: y_pred.shape={pred_shape}"
        )
    return y_true, y_pred


def _ignore(y_true, ignore_index: int | None, *, n_channels: int | None = None):
    """Zeroes the ignored pixels of ``y_true``; returns it and the valid map.

    A pixel is ignored where any of its first ``n_channels`` target channels
    (all when None) equals ``ignore_index``. The valid map is ``(B, *spatial,
    1)`` float32 (1 = counts), or None without ``ignore_index``.
    """
    validate_loss_arguments(ignore_index=ignore_index)
    if ignore_index is None:
        return y_true, None
    target = y_true if n_channels is None else y_true[..., :n_channels]
    valid = ops.cast(
        ops.all(ops.not_equal(target, float(ignore_index)), axis=-1, keepdims=True),
        "float32",
    )
    return y_true * valid, valid


def _keep(x, valid):
    """``x`` with the ignored pixels set to 0."""
    return x if valid is None else x * valid


def _masked_mean(loss, valid):
    """Mean of a loss map per sample over the valid pixels (all without a map)."""
    axes = _all_axes(loss)
    if valid is None:
        return ops.mean(loss, axis=axes)
    valid = ops.broadcast_to(valid, ops.shape(loss))
    return ops.sum(loss * valid, axis=axes) / ops.maximum(
        ops.sum(valid, axis=axes), 1.0
    )


def _spatial_axes(x) -> tuple[int, ...]:
    return tuple(range(1, len(x.shape) - 1))


def _all_axes(x) -> tuple[int, ...]:
    return tuple(range(1, len(x.shape)))


def _probabilities(y_pred, *, from_logits: bool, mode: str):
    if not from_logits:
        return y_pred
    if mode == "multiclass":
        return ops.softmax(y_pred, axis=-1)
    return ops.sigmoid(y_pred)


def _log_probabilities(y_pred, *, from_logits: bool, mode: str):
    """Returns ``(log p, log(1 - p))``; the second is None for multiclass."""
    if from_logits:
        if mode == "multiclass":
            return ops.log_softmax(y_pred, axis=-1), None
        return ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    if mode == "multiclass":
        return ops.log(p), None
    return ops.log(p), ops.log(1.0 - p)


def _safe_power(x, exponent: float):
    """``x ** exponent`` for ``x >= 0`` with a finite gradient at ``x = 0``."""
    positive = x > 0
    safe = ops.where(positive, x, ops.ones_like(x))
    return ops.where(positive, ops.power(safe, exponent), ops.zeros_like(x))


def _dice_ratio(y_true, p, *, axes, smooth: float, squared: bool):
    intersection = ops.sum(y_true * p, axis=axes)
    if squared:
        denominator = ops.sum(ops.square(y_true), axis=axes) + ops.sum(
            ops.square(p), axis=axes
        )
    else:
        denominator = ops.sum(y_true, axis=axes) + ops.sum(p, axis=axes)
    return (2.0 * intersection + smooth) / (denominator + smooth)


# --------------------------------------------------------------------------
# Dice family
# --------------------------------------------------------------------------
def dice_coefficient(
    y_true: Any,
    y_pred: Any,
    *,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Soft Sørensen-Dice coefficient per sample, pooled over space and channels.

    ``D = (2 * sum(y * p) + smooth) / (sum(y) + sum(p) + smooth)``, or with
    ``squared=True`` the V-Net denominator ``sum(y**2) + sum(p**2)``.

    Reference:
        Milletari et al., "V-Net: Fully Convolutional Neural Networks for
        Volumetric Medical Image Segmentation", 3DV 2016,
        https://arxiv.org/abs/1606.04797

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits with ``from_logits=True``), same shape.
        smooth: Additive smoothing in numerator and denominator, > 0. Defaults
            to 1.0.
        squared: Use squared terms in the denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` (sigmoid) or ``"multiclass"`` (softmax); only
            matters with ``from_logits=True``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Dice coefficient in (0, 1], shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(
        smooth=smooth, squared=squared, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    return _dice_ratio(y_true, p, axes=_all_axes(p), smooth=smooth, squared=squared)


def per_channel_dice(
    y_true: Any,
    y_pred: Any,
    *,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Soft dice coefficient of every channel separately.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Use squared terms in the denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Dice coefficient per sample and channel, shape ``(B, C)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(
        smooth=smooth, squared=squared, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    return _dice_ratio(y_true, p, axes=_spatial_axes(p), smooth=smooth, squared=squared)


def dice_loss(
    y_true: Any,
    y_pred: Any,
    *,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Soft dice loss ``1 - D`` with ``D`` from :func:`dice_coefficient`.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Use squared terms in the denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``; 0 for a perfect prediction, also for
        an empty mask predicted empty.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    return 1.0 - dice_coefficient(
        y_true,
        y_pred,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )


def multiclass_dice_loss(
    y_true: Any,
    y_pred: Any,
    *,
    class_weights: Sequence[float] | None = None,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multiclass",
    ignore_index: int | None = None,
):
    """Channel-weighted mean of per-channel dice losses.

    ``L = 1 - sum_c(w_c * D_c) / sum_c(w_c)`` with ``D_c`` from
    :func:`per_channel_dice`. Unlike :func:`dice_loss`, a small class counts
    as much as a large one. A weight vector such as ``(0, 1, 0)`` gives the
    dice loss of a single channel.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        class_weights: ``C`` non-negative weights, not all 0; None weighs all
            channels equally. Defaults to None.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Use squared terms in the denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multiclass"`` (softmax) or ``"multilabel"`` (sigmoid).
            Defaults to "multiclass".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, mismatched shapes, or if the number of
            ``class_weights`` differs from the number of channels.
    """
    validate_loss_arguments(class_weights=class_weights)
    dice = per_channel_dice(
        y_true,
        y_pred,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )
    if class_weights is None:
        return 1.0 - ops.mean(dice, axis=-1)
    n_channels = dice.shape[-1]
    if n_channels is not None and n_channels != len(class_weights):
        raise ValueError(
            f"`class_weights` needs one entry per channel ({n_channels}). "
            f"Received: class_weights={tuple(class_weights)!r}"
        )
    w = ops.convert_to_tensor([float(v) for v in class_weights], dtype="float32")
    return 1.0 - ops.sum(dice * w, axis=-1) / ops.sum(w)


def hard_dice_coefficient(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float | Literal["argmax"] = 0.5,
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Dice coefficient of binarised masks (a metric: it has no gradient).

    Predictions become ``p > threshold`` (after sigmoid / softmax when
    ``from_logits``), or the one-hot argmax over channels with
    ``threshold="argmax"`` (``mode="multiclass"`` only); targets become
    ``y > 0.5``. The binary masks then go through the smoothed dice of
    :func:`dice_coefficient`.

    Args:
        y_true: Targets, shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        threshold: Probability threshold in [0, 1], or ``"argmax"``. Defaults
            to 0.5.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Hard dice in (0, 1], shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(
        threshold=threshold, smooth=smooth, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    if threshold == "argmax":
        hard = ops.one_hot(ops.argmax(p, axis=-1), p.shape[-1], dtype="float32")
    else:
        hard = ops.cast(p > threshold, "float32")
    hard = _keep(hard, valid)
    truth = ops.cast(y_true > 0.5, "float32")
    return ops.stop_gradient(
        _dice_ratio(truth, hard, axes=_all_axes(p), smooth=smooth, squared=False)
    )


def border_map(x: Any, *, pool_size: int = 3, border: str = "gradient"):
    """Band around the edges of a (soft) mask, by max-pooling.

    ``"gradient"`` is the morphological gradient
    ``maxpool(x) - minpool(x)`` (dilation minus erosion: a band on both sides
    of the edge; on binary masks it equals the reference design's
    ``maxpool(x) * maxpool(1 - x)``); ``"outer"`` is ``maxpool(x) - x``, the
    band just outside the object. Pooling uses stride 1 and "same" padding,
    so the image edge is not an edge. 1D, 2D and 3D by the rank of ``x``.

    Args:
        x: Mask in [0, 1], shape ``(B, *spatial, C)``.
        pool_size: Odd window size >= 3; the band is ``pool_size // 2`` pixels
            wide on each side. Defaults to 3.
        border: ``"gradient"`` or ``"outer"``. Defaults to "gradient".

    Returns:
        Border map with the shape of ``x``.

    Raises:
        ValueError: On a bad argument or an input without spatial axes.
    """
    validate_loss_arguments(pool_size=pool_size, border=border)
    x = ops.cast(ops.convert_to_tensor(x), "float32")
    rank = len(x.shape) - 2
    if rank < 1:
        raise ValueError(
            f"`x` must be (B, *spatial, C). Received: x.shape={tuple(x.shape)}"
        )
    window = (pool_size,) * rank
    dilated = ops.max_pool(x, window, strides=1, padding="same")
    if border == "outer":
        return dilated - x
    eroded = -ops.max_pool(-x, window, strides=1, padding="same")
    return dilated - eroded


def border_dice_loss(
    y_true: Any,
    y_pred: Any,
    *,
    pool_size: int = 3,
    border: Literal["gradient", "outer"] = "gradient",
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Dice loss between the border bands of target and prediction.

    ``L = 1 - D(B(y), B(p))`` with ``B`` from :func:`border_map`. It puts the
    whole loss on the object outlines (thin membranes, vessel walls).

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        pool_size: Odd pooling window >= 3. Defaults to 3.
        border: ``"gradient"`` or ``"outer"``. Defaults to "gradient".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Use squared terms in the denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.

    Notes:
        Deviation from the reference design: its compiled border loss
        returned the border dice *coefficient* (a similarity, so training
        maximised the error); this returns ``1 - D``.
    """
    validate_loss_arguments(
        pool_size=pool_size,
        border=border,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    bt = _keep(border_map(y_true, pool_size=pool_size, border=border), valid)
    bp = _keep(border_map(p, pool_size=pool_size, border=border), valid)
    return 1.0 - _dice_ratio(bt, bp, axes=_all_axes(p), smooth=smooth, squared=squared)


def weighted_dice_loss(
    y_true: Any,
    y_pred: Any,
    *,
    foreground_weight: float = 0.8,
    background_weight: float = 0.2,
    formulation: Literal["complement", "masked"] = "complement",
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Weighted sum of a foreground and a background dice loss.

    ``formulation="complement"``:
    ``L = w_fg * (1 - D(y, p)) + w_bg * (1 - D(1 - y, 1 - p))``.
    ``formulation="masked"`` (the reference design's 3D models):
    ``L = w_fg * (1 - D(y*y, p*y)) + w_bg * (1 - D(y*(1-y), p*(1-y)))``; for
    binary ``y`` its background term is ``1 - smooth / (sum(p*(1-y)) +
    smooth)``, a false-positive penalty.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        foreground_weight: Weight of the foreground term. Defaults to 0.8.
        background_weight: Weight of the background term. Defaults to 0.2.
        formulation: ``"complement"`` or ``"masked"``. Defaults to
            "complement".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Use squared terms in the denominator (the reference used
            squared terms). Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss, shape ``(B,)``; 0 for a perfect binary prediction.

    Raises:
        ValueError: On a bad argument or mismatched shapes.

    Notes:
        Deviation from the reference design: the default is the symmetric
        complement formulation; ``formulation="masked"`` reproduces the
        reference.
    """
    validate_loss_arguments(
        foreground_weight=foreground_weight,
        background_weight=background_weight,
        formulation=formulation,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    axes = _all_axes(p)
    if formulation == "complement":
        fg = _dice_ratio(y_true, p, axes=axes, smooth=smooth, squared=squared)
        bg = _dice_ratio(
            _keep(1.0 - y_true, valid),
            _keep(1.0 - p, valid),
            axes=axes,
            smooth=smooth,
            squared=squared,
        )
    else:
        fg = _dice_ratio(
            y_true * y_true, p * y_true, axes=axes, smooth=smooth, squared=squared
        )
        bg = _dice_ratio(
            y_true * (1.0 - y_true),
            p * (1.0 - y_true),
            axes=axes,
            smooth=smooth,
            squared=squared,
        )
    return foreground_weight * (1.0 - fg) + background_weight * (1.0 - bg)


def tversky_index(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Tversky index per sample, pooled over space and channels.

    ``TI = (TP + smooth) / (TP + alpha * FP + beta * FN + smooth)`` with soft
    ``TP = sum(y p)``, ``FP = sum((1 - y) p)``, ``FN = sum(y (1 - p))``.
    ``alpha = beta = 0.5`` gives the dice coefficient.

    Reference:
        Salehi et al., "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017,
        https://arxiv.org/abs/1706.05721

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        alpha: False-positive weight in [0, 1]. Defaults to 0.3.
        beta: False-negative weight in [0, 1]; > alpha favours recall.
            Defaults to 0.7.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Tversky index in (0, 1], shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(
        alpha=alpha, beta=beta, smooth=smooth, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    axes = _all_axes(p)
    tp = ops.sum(y_true * p, axis=axes)
    fp = ops.sum((1.0 - y_true) * p, axis=axes)
    fn = ops.sum(y_true * (1.0 - p), axis=axes)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def tversky_loss(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Tversky loss ``1 - TI`` with ``TI`` from :func:`tversky_index`.

    Reference:
        Salehi et al., "Tversky loss function for image segmentation using 3D
        fully convolutional deep networks", MLMI 2017,
        https://arxiv.org/abs/1706.05721

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        alpha: False-positive weight in [0, 1]. Defaults to 0.3.
        beta: False-negative weight in [0, 1]. Defaults to 0.7.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    return 1.0 - tversky_index(
        y_true,
        y_pred,
        alpha=alpha,
        beta=beta,
        smooth=smooth,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )


def focal_tversky_loss(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Focal Tversky loss ``(1 - TI) ** gamma``.

    Reference:
        Abraham & Khan, "A Novel Focal Tversky loss function with improved
        Attention U-Net for lesion segmentation", ISBI 2019,
        https://arxiv.org/abs/1810.07842

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        alpha: False-positive weight in [0, 1]. Defaults to 0.3.
        beta: False-negative weight in [0, 1]. Defaults to 0.7.
        gamma: Exponent >= 0 (the paper's ``1 / gamma``; 0.75 is its 4/3).
            Defaults to 0.75.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``. The power is guarded so the gradient
        stays finite at a perfect prediction (where ``gamma < 1`` would give
        an infinite slope).

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(gamma=gamma)
    loss = tversky_loss(
        y_true,
        y_pred,
        alpha=alpha,
        beta=beta,
        smooth=smooth,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )
    return _safe_power(ops.maximum(loss, 0.0), gamma)


def generalized_dice_loss(
    y_true: Any,
    y_pred: Any,
    *,
    weight_type: Literal["square", "simple", "uniform"] = "square",
    smooth: float = 1.0,
    from_logits: bool = False,
    mode: Mode = "multiclass",
    ignore_index: int | None = None,
):
    """Generalised dice loss with per-sample volume-based class weights.

    ``L = 1 - (2 * sum_c w_c sum(y_c p_c) + smooth) /
    (sum_c w_c sum(y_c + p_c) + smooth)`` with ``w_c = 1 / V_c**2``
    (``"square"``), ``1 / V_c`` (``"simple"``) or 1 (``"uniform"``), where
    ``V_c = sum(y_c)`` is the class volume in the sample.

    Reference:
        Sudre et al., "Generalised Dice overlap as a deep learning loss
        function for highly unbalanced segmentations", DLMIA 2017,
        https://arxiv.org/abs/1707.03237

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        weight_type: ``"square"``, ``"simple"`` or ``"uniform"``. Defaults to
            "square".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multiclass"`` (softmax) or ``"multilabel"`` (sigmoid).
            Defaults to "multiclass".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss in [0, 1), shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.

    Notes:
        The weights of a sample are normalised to sum to 1 (the ratio without
        smoothing is unchanged) so that ``smooth`` is on the scale of a pixel
        count; with one channel the loss equals :func:`dice_loss`. A class
        absent from a sample gets the largest weight of the present classes
        (all absent: equal weights), instead of ``1 / 0``.
    """
    validate_loss_arguments(
        weight_type=weight_type, smooth=smooth, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    p = _keep(_probabilities(y_pred, from_logits=from_logits, mode=mode), valid)
    axes = _spatial_axes(p)
    volume = ops.sum(y_true, axis=axes)  # (B, C)
    present = volume > 0
    safe_volume = ops.where(present, volume, ops.ones_like(volume))
    if weight_type == "square":
        raw = 1.0 / ops.square(safe_volume)
    elif weight_type == "simple":
        raw = 1.0 / safe_volume
    else:
        raw = ops.ones_like(safe_volume)
    raw = ops.where(present, raw, ops.zeros_like(raw))
    largest = ops.max(raw, axis=-1, keepdims=True)
    largest = ops.where(largest > 0, largest, ops.ones_like(largest))
    weights = ops.where(present, raw, largest)
    weights = ops.stop_gradient(weights / ops.sum(weights, axis=-1, keepdims=True))
    intersection = ops.sum(y_true * p, axis=axes)
    union = volume + ops.sum(p, axis=axes)
    numerator = 2.0 * ops.sum(weights * intersection, axis=-1) + smooth
    denominator = ops.sum(weights * union, axis=-1) + smooth
    return 1.0 - numerator / denominator


# --------------------------------------------------------------------------
# Cross-entropy family
# --------------------------------------------------------------------------
def _cross_entropy_map(y_true, y_pred, *, from_logits: bool, mode: str):
    """Per-element binary CE (multilabel) or per-pixel categorical CE."""
    log_p, log_1mp = _log_probabilities(y_pred, from_logits=from_logits, mode=mode)
    if mode == "multiclass":
        return -ops.sum(y_true * log_p, axis=-1, keepdims=True)
    return -(y_true * log_p + (1.0 - y_true) * log_1mp)


def bce(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Cross-entropy per sample: binary per channel, or categorical.

    ``multilabel``: mean over space and channels of
    ``-(y log p + (1 - y) log(1 - p))``. ``multiclass``: mean over space of
    ``-sum_c y_c log p_c``.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        from_logits: Whether ``y_pred`` holds logits (then computed with
            ``log_sigmoid`` / ``log_softmax``). Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(from_logits=from_logits, mode=mode)
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    ce = _cross_entropy_map(y_true, y_pred, from_logits=from_logits, mode=mode)
    return _masked_mean(ce, valid)


def reweighted_bce(
    y_true: Any,
    y_pred: Any,
    *,
    alpha: float = 0.99,
    from_logits: bool = False,
    ignore_index: int | None = None,
):
    """Binary cross-entropy with a positive-class weight.

    ``mean(-(alpha * y log p + (1 - alpha) * (1 - y) log(1 - p)))`` over space
    and channels; each channel is an independent binary target (sigmoid).

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        alpha: Weight of the positive term in [0, 1]; the reference design used
            0.99 (3D) and 0.999 (2D) for thin foregrounds. Defaults to 0.99.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``; ``alpha = 0.5`` gives ``0.5 * bce``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.
    """
    validate_loss_arguments(alpha=alpha, from_logits=from_logits)
    y_true, y_pred = _prepare(y_true, y_pred, mode="multilabel")
    y_true, valid = _ignore(y_true, ignore_index)
    log_p, log_1mp = _log_probabilities(
        y_pred, from_logits=from_logits, mode="multilabel"
    )
    loss = -(alpha * y_true * log_p + (1.0 - alpha) * (1.0 - y_true) * log_1mp)
    return _masked_mean(loss, valid)


def focal_loss(
    y_true: Any,
    y_pred: Any,
    *,
    gamma: float = 2.0,
    alpha: float = 0.25,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Focal loss, binary per channel or categorical.

    ``multilabel``: mean over space and channels of
    ``-(alpha y (1-p)^gamma log p + (1-alpha)(1-y) p^gamma log(1-p))``.
    ``multiclass``: mean over space of ``-alpha sum_c y_c (1-p_c)^gamma
    log p_c``. With ``gamma = 0, alpha = 0.5`` both equal ``0.5 * bce``.

    Reference:
        Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017,
        https://arxiv.org/abs/1708.02002

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        gamma: Focusing exponent >= 0. Defaults to 2.0.
        alpha: Positive-class balance in [0, 1] (multiclass: a factor on every
            term). The reference design's shared module used 0.99. Defaults
            to 0.25 (the paper's value).
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or mismatched shapes.

    Notes:
        The probabilities in the modulating factors are clipped to
        ``[EPSILON, 1 - EPSILON]`` and the logarithms use clipped
        probabilities (or ``log_sigmoid`` / ``log_softmax`` for logits), so
        loss and gradient are finite for any input.
    """
    validate_loss_arguments(
        gamma=gamma, alpha=alpha, from_logits=from_logits, mode=mode
    )
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode)
    y_true, valid = _ignore(y_true, ignore_index)
    log_p, log_1mp = _log_probabilities(y_pred, from_logits=from_logits, mode=mode)
    p = ops.clip(
        _probabilities(y_pred, from_logits=from_logits, mode=mode),
        EPSILON,
        1.0 - EPSILON,
    )
    if mode == "multiclass":
        loss = -alpha * ops.sum(
            y_true * ops.power(1.0 - p, gamma) * log_p, axis=-1, keepdims=True
        )
    else:
        loss = -(
            alpha * y_true * ops.power(1.0 - p, gamma) * log_p
            + (1.0 - alpha) * (1.0 - y_true) * ops.power(p, gamma) * log_1mp
        )
    return _masked_mean(loss, valid)


def weighted_bce(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """Cross-entropy weighted per pixel by a weight map packed into ``y_true``.

    The U-Net paper's energy (eq. 1) with the weight map
    ``w = w_c + w0 * exp(-(d1 + d2)**2 / (2 sigma**2))`` (eq. 2), which
    :func:`data_pipelines.weight_maps.unet_weight_map` computes from a label
    image. The map travels as the **last channel of y_true**, so ``model.fit``
    needs no extra plumbing (``data_pipelines.weight_maps.stack_weight_map``
    packs it). Loss = mean over space (and channels for multilabel) of
    ``w * CE`` with CE as in :func:`bce`.

    Reference:
        Ronneberger et al., "U-Net: Convolutional Networks for Biomedical
        Image Segmentation", MICCAI 2015, https://arxiv.org/abs/1505.04597

    Args:
        y_true: Targets and weight map, shape ``(B, *spatial, C + 1)``: channels
            ``[:C]`` are the targets, channel ``C`` the weight map.
        y_pred: Probabilities (or logits), shape ``(B, *spatial, C)``.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"`` (the paper: softmax).
            Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument or if ``y_true`` does not have exactly
            one channel more than ``y_pred``.
    """
    validate_loss_arguments(from_logits=from_logits, mode=mode)
    y_true, y_pred = _prepare(y_true, y_pred, mode=mode, extra_true_channels=1)
    y_true, valid = _ignore(y_true, ignore_index, n_channels=y_pred.shape[-1])
    target, weights = y_true[..., :-1], y_true[..., -1:]
    ce = _cross_entropy_map(target, y_pred, from_logits=from_logits, mode=mode)
    loss = weights * ce
    return _masked_mean(loss, valid)


# --------------------------------------------------------------------------
# Mixtures
# --------------------------------------------------------------------------
def _bce_term(y_true, y_pred, *, bce_alpha, from_logits, mode, ignore_index):
    if bce_alpha is None:
        return bce(
            y_true,
            y_pred,
            from_logits=from_logits,
            mode=mode,
            ignore_index=ignore_index,
        )
    return reweighted_bce(
        y_true,
        y_pred,
        alpha=bce_alpha,
        from_logits=from_logits,
        ignore_index=ignore_index,
    )


def bce_dice(
    y_true: Any,
    y_pred: Any,
    *,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    bce_alpha: float | None = None,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """``bce_weight * CE + dice_weight * dice_loss``.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        bce_weight: Weight of the cross-entropy term, >= 0. Defaults to 1.0.
        dice_weight: Weight of the dice term, >= 0. Defaults to 1.0.
        bce_alpha: None for :func:`bce`; a positive weight in [0, 1] for
            :func:`reweighted_bce` (multilabel only; the reference's mixes
            used ``100 * rbce(0.999) + dice`` in 2D). Defaults to None.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, all-zero weights, ``bce_alpha`` with
            ``mode="multiclass"``, or mismatched shapes.
    """
    validate_loss_arguments(
        bce_weight=bce_weight, dice_weight=dice_weight, bce_alpha=bce_alpha, mode=mode
    )
    return bce_weight * _bce_term(
        y_true,
        y_pred,
        bce_alpha=bce_alpha,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    ) + dice_weight * dice_loss(
        y_true,
        y_pred,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )


def focal_dice(
    y_true: Any,
    y_pred: Any,
    *,
    focal_weight: float = 1.0,
    dice_weight: float = 1.0,
    gamma: float = 2.0,
    alpha: float = 0.25,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """``focal_weight * focal_loss + dice_weight * dice_loss``.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        focal_weight: Weight of the focal term, >= 0. Defaults to 1.0.
        dice_weight: Weight of the dice term, >= 0. Defaults to 1.0.
        gamma: Focal exponent >= 0. Defaults to 2.0.
        alpha: Focal positive-class balance in [0, 1]. Defaults to 0.25.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, all-zero weights or mismatched shapes.
    """
    validate_loss_arguments(focal_weight=focal_weight, dice_weight=dice_weight)
    return focal_weight * focal_loss(
        y_true,
        y_pred,
        gamma=gamma,
        alpha=alpha,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    ) + dice_weight * dice_loss(
        y_true,
        y_pred,
        smooth=smooth,
        squared=squared,
        from_logits=from_logits,
        mode=mode,
        ignore_index=ignore_index,
    )


def focal_bce_dice(
    y_true: Any,
    y_pred: Any,
    *,
    focal_weight: float = 1.0,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    gamma: float = 2.0,
    alpha: float = 0.25,
    bce_alpha: float | None = None,
    smooth: float = 1.0,
    squared: bool = False,
    from_logits: bool = False,
    mode: Mode = "multilabel",
    ignore_index: int | None = None,
):
    """``focal_weight * focal + bce_weight * CE + dice_weight * dice_loss``.

    The reference design's ROI loss is ``focal_weight=100, bce_weight=10,
    dice_weight=1, alpha=0.99, bce_alpha=0.99``.

    Args:
        y_true: Targets in [0, 1], shape ``(B, *spatial, C)``.
        y_pred: Probabilities (or logits), same shape.
        focal_weight: Weight of the focal term, >= 0. Defaults to 1.0.
        bce_weight: Weight of the cross-entropy term, >= 0. Defaults to 1.0.
        dice_weight: Weight of the dice term, >= 0. Defaults to 1.0.
        gamma: Focal exponent >= 0. Defaults to 2.0.
        alpha: Focal positive-class balance in [0, 1]. Defaults to 0.25.
        bce_alpha: None for :func:`bce`, or the positive weight of
            :func:`reweighted_bce` (multilabel only). Defaults to None.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether ``y_pred`` holds logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value that marks pixels to leave out (e.g. 255):
            a pixel where any target channel equals it adds nothing to the
            loss. Defaults to None (every pixel counts).

    Returns:
        Loss >= 0, shape ``(B,)``.

    Raises:
        ValueError: On a bad argument, all-zero weights, ``bce_alpha`` with
            ``mode="multiclass"``, or mismatched shapes.
    """
    validate_loss_arguments(
        focal_weight=focal_weight,
        bce_weight=bce_weight,
        dice_weight=dice_weight,
        bce_alpha=bce_alpha,
        mode=mode,
    )
    return (
        focal_weight
        * focal_loss(
            y_true,
            y_pred,
            gamma=gamma,
            alpha=alpha,
            from_logits=from_logits,
            mode=mode,
            ignore_index=ignore_index,
        )
        + bce_weight
        * _bce_term(
            y_true,
            y_pred,
            bce_alpha=bce_alpha,
            from_logits=from_logits,
            mode=mode,
            ignore_index=ignore_index,
        )
        + dice_weight
        * dice_loss(
            y_true,
            y_pred,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
            ignore_index=ignore_index,
        )
    )
