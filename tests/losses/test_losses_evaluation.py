"""NumPy evaluation metrics on tiny hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from losses import evaluation as ev

Y = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
P = np.array([[0.9, 0.4, 0.6, 0.1], [0.8, 0.2, 0.7, 0.0]], np.float32)
# At 0.5: prediction [[1,0,1,0],[1,0,1,0]] -> tp=2, fp=2, fn=1, tn=3.
FOV = np.array([[1, 1, 0, 1], [1, 1, 0, 1]], bool)  # drops column 2 (both FPs)


def test_confusion_counts_and_overlap_scores():
    assert ev.confusion_counts(Y, P) == (2, 2, 1, 3)
    assert ev.dice_score(Y, P) == pytest.approx(4 / 7)
    assert ev.iou_score(Y, P) == pytest.approx(2 / 5)
    assert ev.sensitivity_score(Y, P) == pytest.approx(2 / 3)
    assert ev.specificity_score(Y, P) == pytest.approx(3 / 5)
    assert ev.precision_score(Y, P) == pytest.approx(2 / 4)
    assert ev.accuracy_score(Y, P) == pytest.approx(5 / 8)
    # threshold 0.65 keeps 0.9, 0.8, 0.7 -> tp=2, fp=1, fn=1, tn=4
    assert ev.confusion_counts(Y, P, threshold=0.65) == (2, 1, 1, 4)
    assert ev.dice_score(Y, P > 0.5) == pytest.approx(4 / 7)  # bool prediction


def test_masked_overlap_scores():
    assert ev.confusion_counts(Y, P, mask=FOV) == (2, 0, 1, 3)
    assert ev.dice_score(Y, P, mask=FOV) == pytest.approx(4 / 5)
    assert ev.iou_score(Y, P, mask=FOV) == pytest.approx(2 / 3)
    assert ev.sensitivity_score(Y, P, mask=FOV) == pytest.approx(2 / 3)
    assert ev.specificity_score(Y, P, mask=FOV) == pytest.approx(1.0)
    assert ev.precision_score(Y, P, mask=FOV) == pytest.approx(1.0)
    assert ev.accuracy_score(Y, P, mask=FOV) == pytest.approx(5 / 6)
    # A mask broadcasts: (4,) over (2, 4).
    assert ev.confusion_counts(Y, P, mask=FOV[0]) == (2, 0, 1, 3)


def test_auc():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    # Positive/negative pairs ranked correctly: (0.35>0.1), (0.8>0.1), (0.8>0.4) = 3/4
    assert ev.auc_score(y, s) == pytest.approx(0.75)
    assert ev.auc_score(y, s, mask=[1, 0, 1, 1]) == pytest.approx(1.0)
    assert math.isnan(ev.auc_score(np.ones(4), s))
    assert math.isnan(ev.auc_score(y, s, mask=[0, 0, 1, 1]))


def test_empty_conventions():
    zeros = np.zeros((4, 4))
    assert ev.dice_score(zeros, zeros) == 1.0
    assert ev.iou_score(zeros, zeros) == 1.0
    assert math.isnan(ev.sensitivity_score(zeros, zeros))
    assert math.isnan(ev.precision_score(zeros, zeros))
    assert math.isnan(ev.specificity_score(np.ones((4, 4)), np.ones((4, 4))))
    assert math.isnan(ev.accuracy_score(Y, P, mask=np.zeros_like(Y, bool)))
    assert ev.hausdorff_distance_95(zeros, zeros) == 0.0
    assert ev.average_surface_distance(zeros, zeros) == 0.0
    one = zeros.copy()
    one[1, 1] = 1
    assert ev.hausdorff_distance_95(one, zeros) == math.inf
    assert ev.hausdorff_distance_95(zeros, one) == math.inf
    assert ev.average_surface_distance(zeros, one) == math.inf
    assert ev.dice_score(one, zeros) == 0.0


def _line(shape, rows, col):
    a = np.zeros(shape, bool)
    a[rows, col] = True
    return a


def test_hd95_and_assd_on_a_known_shift():
    a = _line((16, 16), slice(2, 12), 5)
    b = _line((16, 16), slice(2, 12), 8)  # shifted by 3 columns
    assert ev.hausdorff_distance_95(a, b) == pytest.approx(3.0)
    assert ev.average_surface_distance(a, b) == pytest.approx(3.0)
    assert ev.hausdorff_distance_95(a, b, spacing=(1.0, 2.0)) == pytest.approx(6.0)
    assert ev.hausdorff_distance_95(a, b, spacing=(2.0, 1.0)) == pytest.approx(3.0)
    assert ev.hausdorff_distance_95(a, a) == 0.0


def test_hd95_percentile_with_an_outlier():
    a = _line((24, 16), slice(2, 13), 5)  # 11 points
    b = a.copy()
    b[20, 5] = True  # 8 pixels below the end of the line
    # d(a->b) = 0 everywhere; d(b->a) = eleven 0s and one 8.
    # P95 of 12 values, linear: index 0.95 * 11 = 10.45 -> 0.45 * 8 = 3.6.
    assert ev.hausdorff_distance_95(a, b) == pytest.approx(3.6)
    assert ev.average_surface_distance(a, b) == pytest.approx((0 + 8 / 12) / 2)
    # With a field of view that excludes the outlier, the masks agree.
    fov = np.zeros((24, 16), bool)
    fov[:15] = True
    assert ev.hausdorff_distance_95(a, b, mask=fov) == 0.0
    assert ev.average_surface_distance(a, b, mask=fov) == 0.0


def test_surface_of_a_filled_square_is_its_outline():
    a = np.zeros((12, 12))
    a[2:10, 2:10] = 1  # 8x8 square
    b = np.zeros((12, 12))
    b[3:9, 3:9] = 1  # 6x6 square inside it
    # Every outline point of one square is 1 pixel (straight) from the other's
    # outline, except the 4 outer corners which are sqrt(2) away.
    d_ab = np.r_[np.ones(28 - 4), np.full(4, np.sqrt(2))]
    d_ba = np.ones(20)
    assert ev.average_surface_distance(a, b) == pytest.approx(
        (d_ab.mean() + d_ba.mean()) / 2
    )
    assert ev.hausdorff_distance_95(a, b) == pytest.approx(np.percentile(d_ab, 95))


def test_distances_in_3d():
    a = np.zeros((8, 6, 6), bool)
    b = np.zeros((8, 6, 6), bool)
    a[2] = True
    b[5] = True  # plane shifted by 3 slices
    assert ev.hausdorff_distance_95(a, b) == pytest.approx(3.0)
    assert ev.average_surface_distance(a, b, spacing=(2.5, 1, 1)) == pytest.approx(7.5)


def test_evaluate_segmentation_report():
    y = np.zeros((8, 8))
    y[2:6, 2:6] = 1
    p = np.clip(y * 0.9 + 0.05, 0, 1)
    p[2, 2] = 0.3
    report = ev.evaluate_segmentation(y, p)
    assert set(report) == {
        "dice",
        "iou",
        "sensitivity",
        "specificity",
        "precision",
        "accuracy",
        "auc",
        "hd95",
        "assd",
    }
    assert report["dice"] == pytest.approx(2 * 15 / 31)
    assert report["auc"] == pytest.approx(1.0)
    assert "hd95" not in ev.evaluate_segmentation(y[None], p[None], distances=False)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ev.dice_score(Y, P[:1]), "same shape"),
        (lambda: ev.dice_score(Y, P, threshold=2), "threshold"),
        (lambda: ev.dice_score(Y, P, mask=np.ones(3)), "mask"),
        (lambda: ev.auc_score(Y, P[0]), "same shape"),
        (lambda: ev.hausdorff_distance_95(Y[0], P[0]), "2D image or 3D"),
        (lambda: ev.hausdorff_distance_95(Y, P, spacing=(1.0,)), "spacing"),
        (lambda: ev.average_surface_distance(Y, P, spacing=(1.0, -1.0)), "spacing"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
