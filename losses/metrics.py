"""Streaming segmentation metrics that accumulate over an epoch.

Each metric keeps running sums of true/false positives/negatives as metric
variables and computes its score from the sums in ``result()``. The value
after several batches is therefore the score of their concatenation, not a
mean of per-batch scores (which would over-weight nearly empty batches).

Binarisation (``threshold``):

* a float ``t``: a pixel/channel is positive when ``p > t`` (after sigmoid
  or softmax when ``from_logits=True``); targets are positive when
  ``y > 0.5``;
* ``"argmax"`` (``mode="multiclass"`` only): the one-hot argmax over channels
  for both targets and predictions;
* ``None``: soft counts (``TP = sum(y * p)`` ...), a differentiable-style
  "soft" score accumulated over the epoch.

Counts are pooled over every pixel and channel (micro average) unless
``class_id`` selects one channel. A denominator of 0 gives 1 for dice and IoU
(both masks empty: perfect agreement) and 0 for precision, recall and
specificity (Keras' ``divide_no_nan`` convention). Counts are float32.

``ignore_index`` (e.g. 255) leaves out every pixel where a target channel
equals it: it is counted in no TP/FP/FN/TN.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
from keras import ops

from losses.functional import MODES, Mode

__all__ = [
    "DiceScore",
    "IoUScore",
    "PrecisionScore",
    "RecallScore",
    "SpecificityScore",
]

_register = keras.saving.register_keras_serializable(package="losses")


class _ConfusionMetric(keras.metrics.Metric):
    """Base class: running TP/FP/FN/TN sums; ``name`` defaults to ``default_name``."""

    default_name = "confusion"

    def __init__(
        self,
        *,
        threshold: float | Literal["argmax"] | None = 0.5,
        from_logits: bool = False,
        mode: Mode = "multilabel",
        class_id: int | None = None,
        ignore_index: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        if threshold is not None and threshold != "argmax":
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not 0.0 <= threshold <= 1.0
            ):
                raise ValueError(
                    "`threshold` must be a number in [0, 1], 'argmax' or None. "
                    f"Received: threshold={threshold!r}"
                )
        if not isinstance(from_logits, bool):
            raise ValueError(
                f"`from_logits` must be a bool. Received: from_logits={from_logits!r}"
            )
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        if threshold == "argmax" and mode != "multiclass":
            raise ValueError(
                f"threshold='argmax' needs mode='multiclass'. Received: mode={mode!r}"
            )
        if class_id is not None and (
            isinstance(class_id, bool) or not isinstance(class_id, int) or class_id < 0
        ):
            raise ValueError(
                "`class_id` must be None or an int >= 0. Received: "
                f"class_id={class_id!r}"
            )
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
        ):
            raise ValueError(
                "`ignore_index` must be None or an int. Received: "
                f"ignore_index={ignore_index!r}"
            )
        super().__init__(name=name or self.default_name, dtype=dtype)
        self.ignore_index = ignore_index
        self.threshold = threshold
        self.from_logits = from_logits
        self.mode = mode
        self.class_id = class_id
        self.true_positives = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="true_positives"
        )
        self.false_positives = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="false_positives"
        )
        self.false_negatives = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="false_negatives"
        )
        self.true_negatives = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", name="true_negatives"
        )

    def _binarise(self, y_true, y_pred):
        n_channels = y_pred.shape[-1]
        if self.mode == "multiclass" and n_channels == 1:
            raise ValueError(
                "mode='multiclass' needs >= 2 channels. Received: "
                f"y_pred.shape={tuple(y_pred.shape)}"
            )
        if self.from_logits:
            if self.mode == "multiclass":
                y_pred = ops.softmax(y_pred, axis=-1)
            else:
                y_pred = ops.sigmoid(y_pred)
        if self.threshold is None:
            return y_true, y_pred
        if self.threshold == "argmax":
            truth = ops.argmax(y_true, axis=-1)
            pred = ops.argmax(y_pred, axis=-1)
            return (
                ops.one_hot(truth, n_channels, dtype="float32"),
                ops.one_hot(pred, n_channels, dtype="float32"),
            )
        truth = ops.cast(y_true > 0.5, "float32")
        pred = ops.cast(y_pred > self.threshold, "float32")
        return truth, pred

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Adds one batch to the running counts.

        Args:
            y_true: Targets, channels-last ``(B, *spatial, C)``.
            y_pred: Probabilities (or logits), same shape.
            sample_weight: Optional weights broadcastable to ``y_pred`` after
                trailing axes are appended, e.g. ``(B,)``, ``(B, *spatial)``
                or a full ``(B, *spatial, C)`` mask. Defaults to None.

        Raises:
            ValueError: On mismatched shapes or an out-of-range ``class_id``.
        """
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        pred_shape, true_shape = tuple(y_pred.shape), tuple(y_true.shape)
        if len(pred_shape) != len(true_shape) or any(
            t is not None and p is not None and t != p
            for t, p in zip(true_shape, pred_shape, strict=False)
        ):
            raise ValueError(
                "`y_true` and `y_pred` must have the same shape. Received: "
                f"y_true.shape={true_shape}, y_pred.shape={pred_shape}"
            )
        valid = None
        if self.ignore_index is not None:
            valid = ops.cast(
                ops.all(
                    ops.not_equal(y_true, float(self.ignore_index)),
                    axis=-1,
                    keepdims=True,
                ),
                "float32",
            )
            y_true = y_true * valid
        truth, pred = self._binarise(y_true, y_pred)
        if sample_weight is not None:
            weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            while len(weight.shape) < len(pred.shape):
                weight = ops.expand_dims(weight, -1)
            weight = ops.broadcast_to(weight, ops.shape(pred))
        else:
            weight = ops.ones_like(pred)
        if valid is not None:
            weight = weight * valid
        if self.class_id is not None:
            n_channels = pred.shape[-1]
            if n_channels is not None and self.class_id >= n_channels:
                raise ValueError(
                    f"`class_id` must be < the number of channels ({n_channels}). "
                    f"Received: class_id={self.class_id}"
                )
            index = slice(self.class_id, self.class_id + 1)
            truth, pred = truth[..., index], pred[..., index]
            weight = weight[..., index]
        self.true_positives.assign_add(ops.sum(weight * truth * pred))
        self.false_positives.assign_add(ops.sum(weight * (1.0 - truth) * pred))
        self.false_negatives.assign_add(ops.sum(weight * truth * (1.0 - pred)))
        self.true_negatives.assign_add(ops.sum(weight * (1.0 - truth) * (1.0 - pred)))

    def get_config(self) -> dict[str, Any]:
        """Returns every constructor argument.

        Returns:
            The config dict; ``cls.from_config(config)`` rebuilds the metric.
        """
        config = super().get_config()
        config.update(
            threshold=self.threshold,
            from_logits=self.from_logits,
            mode=self.mode,
            class_id=self.class_id,
            ignore_index=self.ignore_index,
        )
        return config

    def _ratio(self, numerator, denominator, *, empty_value: float):
        safe = ops.where(denominator > 0, denominator, ops.ones_like(denominator))
        return ops.where(
            denominator > 0, numerator / safe, ops.full_like(numerator, empty_value)
        )


@_register
class DiceScore(_ConfusionMetric):
    """Dice / F1 score ``2 TP / (2 TP + FP + FN)`` accumulated over an epoch.

    Args:
        threshold: Float in [0, 1], ``"argmax"`` (multiclass) or None (soft).
            Defaults to 0.5.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` (sigmoid) or ``"multiclass"`` (softmax).
            Defaults to "multilabel".
        class_id: Score only this channel; None pools all channels. Defaults
            to None.
        ignore_index: Target value of pixels to leave out (e.g. 255).
            Defaults to None.
        name: Metric name. Defaults to "dice".
        dtype: Keras dtype of the result. Defaults to None (floatx).

    Example:
        >>> import numpy as np
        >>> m = DiceScore()
        >>> m.update_state(np.ones((1, 2, 2, 1)), np.full((1, 2, 2, 1), 0.9))
        >>> float(m.result())
        1.0
    """

    default_name = "dice"

    def result(self) -> Any:
        """Returns the dice score of everything seen since the last reset.

        Returns:
            Scalar; 1 when no positive was seen in targets or predictions.
        """
        tp = self.true_positives
        return self._ratio(
            2.0 * tp,
            2.0 * tp + self.false_positives + self.false_negatives,
            empty_value=1.0,
        )


@_register
class IoUScore(_ConfusionMetric):
    """Intersection over union (Jaccard) ``TP / (TP + FP + FN)``, accumulated.

    Args:
        threshold: Float in [0, 1], ``"argmax"`` (multiclass) or None (soft).
            Defaults to 0.5.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        class_id: Score only this channel; None pools all channels. Defaults
            to None.
        ignore_index: Target value of pixels to leave out (e.g. 255).
            Defaults to None.
        name: Metric name. Defaults to "iou".
        dtype: Keras dtype of the result. Defaults to None (floatx).
    """

    default_name = "iou"

    def result(self) -> Any:
        """Returns the IoU of everything seen since the last reset.

        Returns:
            Scalar; 1 when no positive was seen in targets or predictions.
        """
        tp = self.true_positives
        return self._ratio(
            tp, tp + self.false_positives + self.false_negatives, empty_value=1.0
        )


@_register
class PrecisionScore(_ConfusionMetric):
    """Precision ``TP / (TP + FP)``, accumulated over an epoch.

    Args:
        threshold: Float in [0, 1], ``"argmax"`` (multiclass) or None (soft).
            Defaults to 0.5.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        class_id: Score only this channel; None pools all channels. Defaults
            to None.
        ignore_index: Target value of pixels to leave out (e.g. 255).
            Defaults to None.
        name: Metric name. Defaults to "precision".
        dtype: Keras dtype of the result. Defaults to None (floatx).
    """

    default_name = "precision"

    def result(self) -> Any:
        """Returns the precision since the last reset.

        Returns:
            Scalar; 0 when nothing was predicted positive.
        """
        tp = self.true_positives
        return self._ratio(tp, tp + self.false_positives, empty_value=0.0)


@_register
class RecallScore(_ConfusionMetric):
    """Recall / sensitivity ``TP / (TP + FN)``, accumulated over an epoch.

    Args:
        threshold: Float in [0, 1], ``"argmax"`` (multiclass) or None (soft).
            Defaults to 0.5.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        class_id: Score only this channel; None pools all channels. Defaults
            to None.
        ignore_index: Target value of pixels to leave out (e.g. 255).
            Defaults to None.
        name: Metric name. Defaults to "recall".
        dtype: Keras dtype of the result. Defaults to None (floatx).
    """

    default_name = "recall"

    def result(self) -> Any:
        """Returns the recall since the last reset.

        Returns:
            Scalar; 0 when the targets had no positive.
        """
        tp = self.true_positives
        return self._ratio(tp, tp + self.false_negatives, empty_value=0.0)


@_register
class SpecificityScore(_ConfusionMetric):
    """Specificity ``TN / (TN + FP)``, accumulated over an epoch.

    Args:
        threshold: Float in [0, 1], ``"argmax"`` (multiclass) or None (soft).
            Defaults to 0.5.
        from_logits: Whether predictions are logits. Defaults to False.
        mode: ``"multilabel"`` or ``"multiclass"``. Defaults to "multilabel".
        class_id: Score only this channel; None pools all channels. Defaults
            to None.
        ignore_index: Target value of pixels to leave out (e.g. 255).
            Defaults to None.
        name: Metric name. Defaults to "specificity".
        dtype: Keras dtype of the result. Defaults to None (floatx).
    """

    default_name = "specificity"

    def result(self) -> Any:
        """Returns the specificity since the last reset.

        Returns:
            Scalar; 0 when the targets had no negative.
        """
        tn = self.true_negatives
        return self._ratio(tn, tn + self.false_positives, empty_value=0.0)
