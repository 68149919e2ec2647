"""``keras.losses.Loss`` wrappers of :mod:`losses.functional`.

Every class is registered with
``keras.saving.register_keras_serializable(package="losses")``, so a model
compiled with one saves to ``.keras`` / ``.h5`` and reloads after
``import losses`` without ``custom_objects``. Each class takes the keyword
arguments of its function plus Keras' ``reduction``, ``name`` and ``dtype``,
checks them at construction, and returns all of them from ``get_config``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import keras

from losses import functional, hybrid
from losses.functional import Mode

__all__ = [
    "BCEDiceLoss",
    "BCELoss",
    "BorderDiceLoss",
    "DiceLoss",
    "FocalBCEDiceLoss",
    "FocalDiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "MSSSIMLoss",
    "MulticlassDiceLoss",
    "ReweightedBCELoss",
    "TverskyLoss",
    "UNet3PlusHybridLoss",
    "WeightedBCELoss",
    "WeightedDiceLoss",
]

_register = keras.saving.register_keras_serializable(package="losses")


class _FunctionLoss(keras.losses.Loss):
    """Base class: calls ``self.fn`` with the stored keyword arguments."""

    fn: Callable[..., Any]

    def __init__(
        self,
        *,
        name: str,
        reduction: str | None,
        dtype: str | None,
        **fn_kwargs: Any,
    ) -> None:
        functional.validate_loss_arguments(**fn_kwargs)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if "class_weights" in fn_kwargs and fn_kwargs["class_weights"] is not None:
            fn_kwargs["class_weights"] = [float(v) for v in fn_kwargs["class_weights"]]
        self._fn_kwargs = fn_kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Returns the per-sample loss, shape ``(B,)``.

        Args:
            y_true: Targets, channels-last ``(B, *spatial, C)``.
            y_pred: Predictions, same shape (``WeightedBCELoss``: one channel
                less than ``y_true``).

        Returns:
            Per-sample losses; Keras reduces them and applies sample weights.
        """
        return type(self).fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument, JSON-serialisable.

        Returns:
            The config dict; ``cls.from_config(config)`` rebuilds the loss.
        """
        config = super().get_config()
        config["dtype"] = self._dtype_policy.name
        config.update(self._fn_kwargs)
        return config


@_register
class DiceLoss(_FunctionLoss):
    """Soft dice loss ``1 - D`` (see :func:`losses.functional.dice_loss`).

    Args:
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Squared (V-Net) denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` (sigmoid) or ``"multiclass"`` (softmax).
            Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "dice_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).

    Example:
        >>> import numpy as np
        >>> y = np.ones((1, 4, 4, 1), "float32")
        >>> float(DiceLoss()(y, y))
        0.0
    """

    fn = staticmethod(functional.dice_loss)

    def __init__(
        self,
        *,
        smooth: float = 1.0,
        squared: bool = False,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "dice_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class MulticlassDiceLoss(_FunctionLoss):
    """Channel-weighted mean dice loss (:func:`losses.functional.multiclass_dice_loss`).

    Args:
        class_weights: One non-negative weight per channel, or None for equal
            weights. Defaults to None.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Squared denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multiclass"`` or ``"multilabel"``. Defaults to "multiclass".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "multiclass_dice_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.multiclass_dice_loss)

    def __init__(
        self,
        *,
        class_weights: Sequence[float] | None = None,
        smooth: float = 1.0,
        squared: bool = False,
        from_logits: bool = False,
        mode: Mode = "multiclass",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "multiclass_dice_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            class_weights=class_weights,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class BCELoss(_FunctionLoss):
    """Binary or categorical cross-entropy (:func:`losses.functional.bce`).

    Args:
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` (binary CE) or ``"multiclass"`` (categorical).
            Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "bce".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.bce)

    def __init__(
        self,
        *,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "bce",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class ReweightedBCELoss(_FunctionLoss):
    """Positive-weighted binary CE (:func:`losses.functional.reweighted_bce`).

    Args:
        alpha: Weight of the positive term in [0, 1]. Defaults to 0.99.
        from_logits: Whether predictions are logits. Defaults to False.
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "reweighted_bce".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.reweighted_bce)

    def __init__(
        self,
        *,
        alpha: float = 0.99,
        from_logits: bool = False,
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "reweighted_bce",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            alpha=alpha,
            from_logits=from_logits,
        )


@_register
class FocalLoss(_FunctionLoss):
    """Focal loss (:func:`losses.functional.focal_loss`).

    Args:
        gamma: Focusing exponent >= 0. Defaults to 2.0.
        alpha: Positive-class balance in [0, 1]. Defaults to 0.25.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "focal_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.focal_loss)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        alpha: float = 0.25,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            gamma=gamma,
            alpha=alpha,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class BorderDiceLoss(_FunctionLoss):
    """Dice loss of the border bands (:func:`losses.functional.border_dice_loss`).

    Args:
        pool_size: Odd pooling window >= 3. Defaults to 3.
        border: ``"gradient"`` or ``"outer"``. Defaults to "gradient".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Squared denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "border_dice_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.border_dice_loss)

    def __init__(
        self,
        *,
        pool_size: int = 3,
        border: Literal["gradient", "outer"] = "gradient",
        smooth: float = 1.0,
        squared: bool = False,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "border_dice_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            pool_size=pool_size,
            border=border,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class WeightedDiceLoss(_FunctionLoss):
    """Fore/background weighted dice (:func:`losses.functional.weighted_dice_loss`).

    Args:
        foreground_weight: Weight of the foreground dice loss. Defaults to 0.8.
        background_weight: Weight of the background dice loss. Defaults to 0.2.
        formulation: ``"complement"`` or ``"masked"`` (reference design).
            Defaults to "complement".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        squared: Squared denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "weighted_dice_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.weighted_dice_loss)

    def __init__(
        self,
        *,
        foreground_weight: float = 0.8,
        background_weight: float = 0.2,
        formulation: Literal["complement", "masked"] = "complement",
        smooth: float = 1.0,
        squared: bool = False,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "weighted_dice_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            foreground_weight=foreground_weight,
            background_weight=background_weight,
            formulation=formulation,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class TverskyLoss(_FunctionLoss):
    """Tversky loss (:func:`losses.functional.tversky_loss`).

    Args:
        alpha: False-positive weight in [0, 1]. Defaults to 0.3.
        beta: False-negative weight in [0, 1]. Defaults to 0.7.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "tversky_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.tversky_loss)

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "tversky_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            alpha=alpha,
            beta=beta,
            smooth=smooth,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class FocalTverskyLoss(_FunctionLoss):
    """Focal Tversky loss (:func:`losses.functional.focal_tversky_loss`).

    Args:
        alpha: False-positive weight in [0, 1]. Defaults to 0.3.
        beta: False-negative weight in [0, 1]. Defaults to 0.7.
        gamma: Exponent >= 0. Defaults to 0.75.
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "focal_tversky_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.focal_tversky_loss)

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 0.75,
        smooth: float = 1.0,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_tversky_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            smooth=smooth,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class GeneralizedDiceLoss(_FunctionLoss):
    """Generalised dice loss (:func:`losses.functional.generalized_dice_loss`).

    Args:
        weight_type: ``"square"``, ``"simple"`` or ``"uniform"``. Defaults to
            "square".
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multiclass"`` or ``"multilabel"``. Defaults to "multiclass".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "generalized_dice_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.generalized_dice_loss)

    def __init__(
        self,
        *,
        weight_type: Literal["square", "simple", "uniform"] = "square",
        smooth: float = 1.0,
        from_logits: bool = False,
        mode: Mode = "multiclass",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "generalized_dice_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            weight_type=weight_type,
            smooth=smooth,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class WeightedBCELoss(_FunctionLoss):
    """U-Net pixel weight-map cross-entropy (:func:`losses.functional.weighted_bce`).

    ``y_true`` carries the weight map as its last channel: shape
    ``(B, *spatial, C + 1)`` for a ``(B, *spatial, C)`` prediction.

    Args:
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "weighted_bce".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.weighted_bce)

    def __init__(
        self,
        *,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "weighted_bce",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class BCEDiceLoss(_FunctionLoss):
    """``bce_weight * CE + dice_weight * dice`` (:func:`losses.functional.bce_dice`).

    Args:
        bce_weight: Weight of the cross-entropy term. Defaults to 1.0.
        dice_weight: Weight of the dice term. Defaults to 1.0.
        bce_alpha: None for plain CE, or the positive weight of a reweighted
            BCE. Defaults to None.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "bce_dice".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.bce_dice)

    def __init__(
        self,
        *,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        bce_alpha: float | None = None,
        smooth: float = 1.0,
        squared: bool = False,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "bce_dice",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            bce_alpha=bce_alpha,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class FocalDiceLoss(_FunctionLoss):
    """Focal + dice mixture (:func:`losses.functional.focal_dice`).

    Args:
        focal_weight: Weight of the focal term. Defaults to 1.0.
        dice_weight: Weight of the dice term. Defaults to 1.0.
        gamma: Focal exponent >= 0. Defaults to 2.0.
        alpha: Focal positive-class balance in [0, 1]. Defaults to 0.25.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "focal_dice".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.focal_dice)

    def __init__(
        self,
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
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_dice",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            focal_weight=focal_weight,
            dice_weight=dice_weight,
            gamma=gamma,
            alpha=alpha,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class FocalBCEDiceLoss(_FunctionLoss):
    """Focal + CE + dice mixture (:func:`losses.functional.focal_bce_dice`).

    Args:
        focal_weight: Weight of the focal term. Defaults to 1.0.
        bce_weight: Weight of the cross-entropy term. Defaults to 1.0.
        dice_weight: Weight of the dice term. Defaults to 1.0.
        gamma: Focal exponent >= 0. Defaults to 2.0.
        alpha: Focal positive-class balance in [0, 1]. Defaults to 0.25.
        bce_alpha: None for plain CE, or the positive weight of a reweighted
            BCE. Defaults to None.
        smooth: Dice smoothing, > 0. Defaults to 1.0.
        squared: Squared dice denominator. Defaults to False.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "focal_bce_dice".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(functional.focal_bce_dice)

    def __init__(
        self,
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
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_bce_dice",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            focal_weight=focal_weight,
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            gamma=gamma,
            alpha=alpha,
            bce_alpha=bce_alpha,
            smooth=smooth,
            squared=squared,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class JaccardLoss(_FunctionLoss):
    """Soft Jaccard / IoU loss (:func:`losses.hybrid.jaccard_loss`).

    Args:
        smooth: Additive smoothing, > 0. Defaults to 1.0.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "jaccard_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(hybrid.jaccard_loss)

    def __init__(
        self,
        *,
        smooth: float = 1.0,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "jaccard_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            smooth=smooth,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class MSSSIMLoss(_FunctionLoss):
    """``1 - MS-SSIM`` (:func:`losses.hybrid.ms_ssim_loss`).

    Args:
        filter_size: Gaussian window side. Defaults to 11.
        filter_sigma: Gaussian standard deviation. Defaults to 1.5.
        power_factors: One exponent per scale. Defaults to
            ``losses.hybrid.MS_SSIM_POWER_FACTORS`` (5 scales).
        k1: Luminance constant. Defaults to 0.01.
        k2: Contrast constant. Defaults to 0.03.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "ms_ssim_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(hybrid.ms_ssim_loss)

    def __init__(
        self,
        *,
        filter_size: int = 11,
        filter_sigma: float = 1.5,
        power_factors: Sequence[float] = hybrid.MS_SSIM_POWER_FACTORS,
        k1: float = 0.01,
        k2: float = 0.03,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "ms_ssim_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            filter_size=filter_size,
            filter_sigma=filter_sigma,
            power_factors=[float(v) for v in power_factors],
            k1=k1,
            k2=k2,
            from_logits=from_logits,
            mode=mode,
        )


@_register
class UNet3PlusHybridLoss(_FunctionLoss):
    """UNet 3+ ``focal + MS-SSIM + IoU`` (:func:`losses.hybrid.unet3plus_hybrid_loss`).

    Args:
        focal_weight: Weight of the focal term. Defaults to 1.0.
        ms_ssim_weight: Weight of the MS-SSIM term. Defaults to 1.0.
        iou_weight: Weight of the IoU term. Defaults to 1.0.
        gamma: Focal exponent >= 0. Defaults to 2.0.
        alpha: Focal positive-class balance in [0, 1]. Defaults to 0.25.
        smooth: IoU smoothing, > 0. Defaults to 1.0.
        filter_size: MS-SSIM window side. Defaults to 11.
        filter_sigma: MS-SSIM Gaussian standard deviation. Defaults to 1.5.
        power_factors: MS-SSIM exponents, one per scale. Defaults to
            ``losses.hybrid.MS_SSIM_POWER_FACTORS``.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        ignore_index: Target value of pixels to leave out (e.g. 255). Defaults
            to None.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Loss name. Defaults to "unet3plus_hybrid_loss".
        dtype: Keras dtype of the returned loss. Defaults to None (floatx).
    """

    fn = staticmethod(hybrid.unet3plus_hybrid_loss)

    def __init__(
        self,
        *,
        focal_weight: float = 1.0,
        ms_ssim_weight: float = 1.0,
        iou_weight: float = 1.0,
        gamma: float = 2.0,
        alpha: float = 0.25,
        smooth: float = 1.0,
        filter_size: int = 11,
        filter_sigma: float = 1.5,
        power_factors: Sequence[float] = hybrid.MS_SSIM_POWER_FACTORS,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        ignore_index: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "unet3plus_hybrid_loss",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            name=name,
            reduction=reduction,
            dtype=dtype,
            ignore_index=ignore_index,
            focal_weight=focal_weight,
            ms_ssim_weight=ms_ssim_weight,
            iou_weight=iou_weight,
            gamma=gamma,
            alpha=alpha,
            smooth=smooth,
            filter_size=filter_size,
            filter_sigma=filter_sigma,
            power_factors=[float(v) for v in power_factors],
            from_logits=from_logits,
            mode=mode,
        )
