"""NumPy evaluation metrics for segmentation reports (2D images, 3D volumes).

All functions take a target ``y_true`` (positive where ``> 0.5``; bool works)
and a prediction ``y_pred`` (probabilities, positive where ``> threshold``;
bool works) of the same shape, and an optional boolean region ``mask`` (e.g.
the DRIVE field of view) broadcastable to that shape: only pixels inside the
mask are counted. Overlap scores accept any shape (one image, a batch, a
volume); the surface distances need a single 2D or 3D array.

Undefined cases are explicit, never a silent 0 or a warning:

* ``dice_score``, ``iou_score``: 1.0 when target and prediction are both empty
  (``mean_image_dice``, the SIIM competition metric, averages that per image);
* ``sensitivity_score``: nan when the target has no positive;
* ``specificity_score``: nan when the target has no negative;
* ``precision_score``: nan when nothing is predicted positive;
* ``accuracy_score``: nan when the mask selects no pixel;
* ``auc_score``: nan when the target holds only one class;
* ``hausdorff_distance_95``, ``average_surface_distance``: 0.0 when both
  masks are empty, ``inf`` when exactly one is (a total miss must not vanish
  from an ``np.nanmean``; filter with ``np.isfinite`` where needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

__all__ = [
    "accuracy_score",
    "auc_score",
    "average_surface_distance",
    "confusion_counts",
    "dice_score",
    "evaluate_segmentation",
    "hausdorff_distance_95",
    "iou_score",
    "mean_image_dice",
    "per_label_scores",
    "precision_score",
    "sensitivity_score",
    "specificity_score",
]


def _check_threshold(threshold: Any) -> None:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0.0 <= threshold <= 1.0
    ):
        raise ValueError(
            f"`threshold` must be a number in [0, 1]. Received: threshold={threshold!r}"
        )


def _region(mask: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    try:
        return np.broadcast_to(mask.astype(bool), shape)
    except ValueError as err:
        raise ValueError(
            "`mask` must be broadcastable to the shape of `y_true`. Received: "
            f"mask.shape={mask.shape}, y_true.shape={shape}"
        ) from err


def _ignored_region(y_true: Any, mask: Any, ignore_index: int | None) -> Any:
    """The region ``mask`` without the pixels whose target is ``ignore_index``."""
    if ignore_index is None:
        return mask
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
        raise ValueError(
            f"`ignore_index` must be None or an int. Received: {ignore_index!r}"
        )
    y_true = np.asarray(y_true)
    keep = y_true != ignore_index
    region = _region(mask, y_true.shape)
    return keep if region is None else keep & region


def _binarise(
    y_true: Any, y_pred: Any, threshold: float, mask: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    _check_threshold(threshold)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape. Received: "
            f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    truth = y_true.astype(np.float64) > 0.5
    pred = y_pred.astype(bool) if y_pred.dtype == bool else y_pred > threshold
    return truth, pred, _region(mask, y_true.shape)


def confusion_counts(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> tuple[int, int, int, int]:
    """Counts true/false positives/negatives inside an optional region.

    Args:
        y_true: Target, positive where ``> 0.5``; any shape.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region broadcastable to ``y_true``. Defaults to
            None (all pixels).
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        ``(tp, fp, fn, tn)`` as Python ints.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    mask = _ignored_region(y_true, mask, ignore_index)
    truth, pred, region = _binarise(y_true, y_pred, threshold, mask)
    if region is not None:
        truth, pred = truth[region], pred[region]
    tp = int(np.count_nonzero(truth & pred))
    fp = int(np.count_nonzero(~truth & pred))
    fn = int(np.count_nonzero(truth & ~pred))
    tn = int(np.count_nonzero(~truth & ~pred))
    return tp, fp, fn, tn


def _ratio(numerator: float, denominator: float, empty: float) -> float:
    return float(numerator) / float(denominator) if denominator else empty


_NAN = float("nan")
# Each overlap score from the confusion counts (tp, fp, fn, tn), with its value
# for an empty denominator.
_FROM_COUNTS = {
    "dice": lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
    "iou": lambda tp, fp, fn, tn: _ratio(tp, tp + fp + fn, 1.0),
    "sensitivity": lambda tp, fp, fn, tn: _ratio(tp, tp + fn, _NAN),
    "specificity": lambda tp, fp, fn, tn: _ratio(tn, tn + fp, _NAN),
    "precision": lambda tp, fp, fn, tn: _ratio(tp, tp + fp, _NAN),
    "accuracy": lambda tp, fp, fn, tn: _ratio(tp + tn, tp + fp + fn + tn, _NAN),
}


def dice_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Dice / F1 ``2 TP / (2 TP + FP + FN)``; 1.0 when both are empty.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The dice score.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["dice"](*counts)


def mean_image_dice(
    y_true: Iterable[Any],
    y_pred: Iterable[Any],
    *,
    threshold: float = 0.5,
    ignore_index: int | None = None,
) -> float:
    """Mean of the per-image dice: the SIIM-ACR pneumothorax competition metric.

    Each image's dice is :func:`dice_score`, so an image whose truth and
    prediction are both empty scores 1 and an empty truth with any predicted
    pixel scores 0; the metric is the plain mean over images (not the dice of
    all pixels pooled, which the many empty images would not affect).

    Args:
        y_true: Target images, each positive where ``> 0.5`` (a sequence or an
            ``(N, ...)`` array).
        y_pred: Predictions, each positive where ``> threshold``; same number
            and shapes.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The mean dice over the images.

    Raises:
        ValueError: On no image, different numbers of images, mismatched
            shapes or a bad threshold.

    Example:
        >>> empty, full = np.zeros((2, 2)), np.ones((2, 2))
        >>> mean_image_dice([empty, full], [empty, empty])
        0.5
    """
    scores = []
    for truth, pred in zip_longest(y_true, y_pred):
        if truth is None or pred is None:
            raise ValueError("`y_true` and `y_pred` hold different numbers of images")
        scores.append(
            dice_score(truth, pred, threshold=threshold, ignore_index=ignore_index)
        )
    if not scores:
        raise ValueError("`y_true` holds no image")
    return float(np.mean(scores))


def iou_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Intersection over union ``TP / (TP + FP + FN)``; 1.0 when both are empty.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The IoU.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["iou"](*counts)


def sensitivity_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Sensitivity / recall ``TP / (TP + FN)``; nan when the target is empty.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The sensitivity.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["sensitivity"](*counts)


def specificity_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Specificity ``TN / (TN + FP)``; nan when the target has no negative.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The specificity.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["specificity"](*counts)


def precision_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Precision ``TP / (TP + FP)``; nan when nothing is predicted positive.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The precision.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["precision"](*counts)


def accuracy_score(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    ignore_index: int | None = None,
) -> float:
    """Pixel accuracy ``(TP + TN) / N``; nan when the region is empty.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The accuracy.

    Raises:
        ValueError: On mismatched shapes or a bad threshold.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    return _FROM_COUNTS["accuracy"](*counts)


def auc_score(
    y_true: Any, y_score: Any, *, mask: Any = None, ignore_index: int | None = None
) -> float:
    """Area under the ROC curve of pixel scores (``sklearn.metrics.roc_auc_score``).

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_score: Continuous scores (probabilities), same shape.
        mask: Optional boolean region. Defaults to None.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The AUC; nan when the (masked) target holds only one class.

    Raises:
        ValueError: On mismatched shapes.
    """
    mask = _ignored_region(y_true, mask, ignore_index)
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape:
        raise ValueError(
            "`y_true` and `y_score` must have the same shape. Received: "
            f"y_true.shape={y_true.shape}, y_score.shape={y_score.shape}"
        )
    truth = y_true.astype(np.float64) > 0.5
    region = _region(mask, y_true.shape)
    if region is not None:
        truth, y_score = truth[region], y_score[region]
    else:
        truth, y_score = truth.ravel(), y_score.ravel()
    if truth.size == 0 or truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, y_score))


def _surfaces(
    y_true: Any, y_pred: Any, threshold: float, mask: Any, spacing: Any
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    truth, pred, region = _binarise(y_true, y_pred, threshold, mask)
    if truth.ndim not in (2, 3):
        raise ValueError(
            "Surface distances need one 2D image or 3D volume. Received: "
            f"y_true.shape={truth.shape}"
        )
    if spacing is None:
        spacing = (1.0,) * truth.ndim
    if (
        isinstance(spacing, str)
        or not isinstance(spacing, Sequence)
        or len(spacing) != truth.ndim
        or any(
            isinstance(s, bool) or not isinstance(s, int | float) or s <= 0
            for s in spacing
        )
    ):
        raise ValueError(
            f"`spacing` needs {truth.ndim} positive numbers (one per axis). "
            f"Received: spacing={spacing!r}"
        )
    if region is not None:
        truth, pred = truth & region, pred & region
    structure = ndimage.generate_binary_structure(truth.ndim, 1)

    def surface(x: np.ndarray) -> np.ndarray:
        return x & ~ndimage.binary_erosion(x, structure=structure, border_value=0)

    return surface(truth), surface(pred), tuple(float(s) for s in spacing)


def _directed(
    source: np.ndarray, target: np.ndarray, spacing: tuple[float, ...]
) -> np.ndarray:
    """Distances from every surface point of ``source`` to ``target``'s surface."""
    return ndimage.distance_transform_edt(~target, sampling=spacing)[source]


def _surface_distances(
    y_true: Any, y_pred: Any, threshold: float, mask: Any, spacing: Any
) -> tuple[np.ndarray, np.ndarray] | float:
    """Both directed surface distances; 0.0 (both empty) or inf (one empty)."""
    s_true, s_pred, spacing = _surfaces(y_true, y_pred, threshold, mask, spacing)
    if not s_true.any() and not s_pred.any():
        return 0.0
    if not s_true.any() or not s_pred.any():
        return float("inf")
    return _directed(s_true, s_pred, spacing), _directed(s_pred, s_true, spacing)


def _hd95(distances: tuple[np.ndarray, np.ndarray] | float) -> float:
    if isinstance(distances, float):
        return distances
    return float(max(np.percentile(d, 95) for d in distances))


def _assd(distances: tuple[np.ndarray, np.ndarray] | float) -> float:
    if isinstance(distances, float):
        return distances
    return float((distances[0].mean() + distances[1].mean()) / 2.0)


def hausdorff_distance_95(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    spacing: Sequence[float] | None = None,
    ignore_index: int | None = None,
) -> float:
    """95th-percentile symmetric Hausdorff distance between mask surfaces.

    The surface of a mask is its set of pixels with a 4- (2D) or 6-connected
    (3D) background neighbour (pixels outside the array count as
    background). ``HD95 = max(P95(d(S_true -> S_pred)), P95(d(S_pred ->
    S_true)))`` with ``np.percentile``'s linear interpolation, the definition
    of ``medpy.metric.hd95``.

    Args:
        y_true: Target, positive where ``> 0.5``; shape ``(H, W)`` or
            ``(D, H, W)``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region; both masks are cut to it before the
            surfaces are extracted. Defaults to None.
        spacing: Pixel size per axis, e.g. ``(2.5, 0.7, 0.7)`` mm. Defaults to
            None (1 per axis).
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The distance in units of ``spacing``; 0.0 when both masks are empty,
        ``inf`` when exactly one is.

    Raises:
        ValueError: On mismatched shapes, a rank other than 2 or 3, or a bad
            ``spacing`` / ``threshold``.
    """
    mask = _ignored_region(y_true, mask, ignore_index)
    return _hd95(_surface_distances(y_true, y_pred, threshold, mask, spacing))


def average_surface_distance(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    spacing: Sequence[float] | None = None,
    ignore_index: int | None = None,
) -> float:
    """Average symmetric surface distance (ASSD) between mask surfaces.

    ``ASSD = (mean d(S_true -> S_pred) + mean d(S_pred -> S_true)) / 2``, the
    definition of ``medpy.metric.assd``; surfaces as in
    :func:`hausdorff_distance_95`.

    Args:
        y_true: Target, positive where ``> 0.5``; shape ``(H, W)`` or
            ``(D, H, W)``.
        y_pred: Prediction, positive where ``> threshold``; same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        spacing: Pixel size per axis. Defaults to None (1 per axis).
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.

    Returns:
        The distance in units of ``spacing``; 0.0 when both masks are empty,
        ``inf`` when exactly one is.

    Raises:
        ValueError: On mismatched shapes, a rank other than 2 or 3, or a bad
            ``spacing`` / ``threshold``.
    """
    mask = _ignored_region(y_true, mask, ignore_index)
    return _assd(_surface_distances(y_true, y_pred, threshold, mask, spacing))


def evaluate_segmentation(
    y_true: Any,
    y_pred: Any,
    *,
    threshold: float = 0.5,
    mask: Any = None,
    spacing: Sequence[float] | None = None,
    distances: bool = True,
    ignore_index: int | None = None,
    auc_scores: Any = None,
) -> dict[str, float]:
    """Every metric of this module for one image or volume.

    Args:
        y_true: Target, positive where ``> 0.5``.
        y_pred: Probabilities (used as scores for the AUC), same shape.
        threshold: Probability threshold in [0, 1]. Defaults to 0.5.
        mask: Optional boolean region. Defaults to None.
        spacing: Pixel size per axis for the distances. Defaults to None.
        distances: Also compute ``hd95`` and ``assd`` (needs a 2D or 3D
            array). Defaults to True.
        ignore_index: Target value of pixels to leave out (e.g. 255); they
            count as outside ``mask``. Defaults to None.
        auc_scores: The scores the AUC ranks, when ``y_pred`` is a
            post-processed map (removed components zeroed) and the AUC should
            rank the model's own probabilities. Defaults to None (``y_pred``).

    Returns:
        Dict with keys ``dice``, ``iou``, ``sensitivity``, ``specificity``,
        ``precision``, ``accuracy``, ``auc`` and, with ``distances``, ``hd95``
        and ``assd``.

    Raises:
        ValueError: As the individual metrics.
    """
    counts = confusion_counts(
        y_true, y_pred, threshold=threshold, mask=mask, ignore_index=ignore_index
    )
    report = {name: score(*counts) for name, score in _FROM_COUNTS.items()}
    report["auc"] = auc_score(
        y_true,
        y_pred if auc_scores is None else auc_scores,
        mask=mask,
        ignore_index=ignore_index,
    )
    if distances:
        both = _surface_distances(
            y_true,
            y_pred,
            threshold,
            _ignored_region(y_true, mask, ignore_index),
            spacing,
        )
        report["hd95"] = _hd95(both)
        report["assd"] = _assd(both)
    return report


def per_label_scores(
    labels_true: Any,
    labels_pred: Any,
    labels: Sequence[int],
    *,
    spacing: Sequence[float] | None = None,
) -> dict[str, float]:
    """Dice and HD95 of each foreground label of a class-id map (Decathlon style).

    Each label ``k`` is scored as the binary masks ``labels_true == k`` and
    ``labels_pred == k`` (:func:`dice_score`, :func:`hausdorff_distance_95`
    with ``spacing``, so HD95 is in mm for a volume with its voxel size), plus
    ``dice_mean`` over the labels.

    Args:
        labels_true: Class ids ``(H, W)`` or ``(D, H, W)``.
        labels_pred: Predicted class ids, same shape.
        labels: The labels to score, e.g. ``(1, 2)``.
        spacing: Voxel size per axis. Defaults to None (1 per axis).

    Returns:
        ``{"dice_1": ..., "hd95_1": ..., ..., "dice_mean": ...}``. A label absent
        from both maps scores Dice 1 and HD95 0; absent from exactly one, Dice
        0 and HD95 ``inf``.

    Raises:
        ValueError: On mismatched shapes, no labels, or a bad ``spacing``.

    Example:
        >>> t = np.array([[0, 1, 1], [2, 2, 0]])
        >>> per_label_scores(t, t, (1, 2))["dice_mean"]
        1.0
    """
    labels_true, labels_pred = np.asarray(labels_true), np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape:
        raise ValueError(
            f"Label maps differ in shape: {labels_true.shape} vs {labels_pred.shape}"
        )
    if not len(labels):
        raise ValueError("`labels` must name at least one label to score")
    scores: dict[str, float] = {}
    for k in labels:
        truth, pred = labels_true == k, labels_pred == k
        scores[f"dice_{k}"] = dice_score(truth, pred)
        scores[f"hd95_{k}"] = hausdorff_distance_95(truth, pred, spacing=spacing)
    scores["dice_mean"] = float(np.mean([scores[f"dice_{k}"] for k in labels]))
    return scores
