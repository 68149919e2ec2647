"""Jaccard, MS-SSIM and UNet 3+ hybrid losses against independent NumPy code;
`ignore_index` in every loss, metric and evaluation score."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import signal

import losses
from losses import evaluation
from losses import hybrid as lh

rng = np.random.default_rng(1)


def _np_jaccard(y, p, smooth=1.0):
    axes = tuple(range(1, y.ndim))
    inter = (y * p).sum(axes)
    return 1 - (inter + smooth) / (y.sum(axes) + p.sum(axes) - inter + smooth)


def _np_focal(y, p, gamma=2.0, alpha=0.25):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    loss = -(
        alpha * y * (1 - p) ** gamma * np.log(p)
        + (1 - alpha) * (1 - y) * p**gamma * np.log(1 - p)
    )
    return loss.reshape(len(y), -1).mean(1)


def _np_ms_ssim(y, p, size=11, sigma=1.5, factors=lh.MS_SSIM_POWER_FACTORS):
    """Direct MS-SSIM per sample: full n-D Gaussian window, scipy correlation."""
    out = np.ones((y.shape[0], y.shape[-1]))
    for b in range(y.shape[0]):
        for c in range(y.shape[-1]):
            x1, x2 = y[b, ..., c].astype(np.float64), p[b, ..., c].astype(np.float64)
            value = 1.0
            for m, factor in enumerate(factors):
                if m:
                    x1, x2 = (_np_downsample(a) for a in (x1, x2))
                k = min(size, *x1.shape)
                g = np.exp(-((np.arange(k) - (k - 1) / 2) ** 2) / (2 * sigma**2))
                window = g / g.sum()
                for _ in range(x1.ndim - 1):
                    window = np.multiply.outer(window, g / g.sum())

                def f(a, window=window):
                    return signal.correlate(a, window, mode="valid")

                mu1, mu2 = f(x1), f(x2)
                s11 = f(x1 * x1) - mu1**2
                s22 = f(x2 * x2) - mu2**2
                s12 = f(x1 * x2) - mu1 * mu2
                cs = (2 * s12 + 0.03**2) / (s11 + s22 + 0.03**2)
                if m == len(factors) - 1:
                    cs = cs * (2 * mu1 * mu2 + 0.01**2) / (mu1**2 + mu2**2 + 0.01**2)
                value *= max(cs.mean(), 0.0) ** factor
            out[b, c] = value
    return out.mean(-1)


def _np_downsample(a):
    pad = [(0, s % 2) for s in a.shape]
    a = np.pad(a, pad, mode="symmetric")
    view = a.reshape([v for s in a.shape for v in (s // 2, 2)])
    return view.mean(axis=tuple(range(1, 2 * a.ndim, 2)))


def _pair(shape, noise=0.3):
    y = (rng.random(shape) < 0.4).astype(np.float32)
    p = np.clip(y * 0.7 + 0.15 + noise * rng.standard_normal(shape), 0, 1)
    return y, p.astype(np.float32)


@pytest.mark.parametrize("shape", [(2, 9, 7, 2), (2, 6, 5, 4, 1)])
def test_jaccard_equals_numpy(shape):
    y, p = _pair(shape)
    np.testing.assert_allclose(
        lh.jaccard_loss(y, p, smooth=0.5), _np_jaccard(y, p, 0.5), rtol=1e-5
    )
    assert float(np.max(lh.jaccard_loss(y, y))) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 40, 36, 2), {}),  # five scales, windows shrink at the coarse ones
        ((1, 23, 30, 1), {"power_factors": (0.3, 0.7), "filter_size": 7}),
        ((2, 12, 10, 14, 1), {"power_factors": (0.5, 0.5), "filter_size": 5}),
    ],
)
def test_ms_ssim_equals_numpy(shape, kwargs):
    y, p = _pair(shape)
    expected = _np_ms_ssim(
        y,
        p,
        size=kwargs.get("filter_size", 11),
        factors=kwargs.get("power_factors", lh.MS_SSIM_POWER_FACTORS),
    )
    np.testing.assert_allclose(lh.ms_ssim(y, p, **kwargs), expected, rtol=2e-4)
    np.testing.assert_allclose(
        lh.ms_ssim_loss(y, p, **kwargs), 1 - expected, rtol=2e-4, atol=1e-6
    )


def test_ms_ssim_equals_tensorflow_where_it_is_defined():
    y, p = _pair((2, 176, 181, 1), noise=0.2)
    expected = tf.image.ssim_multiscale(y, p, max_val=1.0).numpy()
    np.testing.assert_allclose(lh.ms_ssim(y, p), expected, rtol=1e-4)


def test_hybrid_is_focal_plus_ms_ssim_plus_iou():
    y, p = _pair((2, 32, 32, 1))
    expected = (
        0.5 * _np_focal(y, p) + 2.0 * (1 - _np_ms_ssim(y, p)) + 3.0 * _np_jaccard(y, p)
    )
    got = lh.unet3plus_hybrid_loss(
        y, p, focal_weight=0.5, ms_ssim_weight=2.0, iou_weight=3.0
    )
    np.testing.assert_allclose(got, expected, rtol=2e-4)
    assert np.isfinite(lh.unet3plus_hybrid_loss(y, y)).all()


def test_hybrid_loss_trains_and_gradients_are_finite():
    y, p = _pair((2, 16, 16, 1))
    logits = tf.Variable(np.log(p + 1e-3) - np.log(1 - p + 1e-3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(lh.unet3plus_hybrid_loss(y, logits, from_logits=True))
    grad = tape.gradient(loss, logits)
    assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filter_size": 0}, "filter_size"),
        ({"filter_sigma": -1.0}, "filter_sigma"),
        ({"power_factors": ()}, "power_factors"),
        ({"power_factors": (0.5, -1.0)}, "power_factors"),
        ({"ignore_index": 2.5}, "ignore_index"),
    ],
)
def test_bad_ms_ssim_arguments(kwargs, match):
    y, p = _pair((1, 16, 16, 1))
    with pytest.raises(ValueError, match=match):
        lh.ms_ssim_loss(y, p, **kwargs)
    with pytest.raises(ValueError, match=match):
        losses.MSSSIMLoss(**kwargs)


def test_ms_ssim_rejects_images_too_small_for_the_scales():
    y, p = _pair((1, 8, 8, 1))
    with pytest.raises(ValueError, match=">= 16"):
        lh.ms_ssim(y, p)


# ---------------------------------------------------------------------------
# ignore_index
# ---------------------------------------------------------------------------
IGNORE = 255
# (function name, kwargs) of every loss; pixel-wise losses equal the loss of
# the valid pixels alone (cropped), windowed ones at least ignore p there.
CROP_EQUAL = [
    ("dice_loss", {}),
    ("multiclass_dice_loss", {}),
    ("bce", {}),
    ("bce", {"mode": "multiclass"}),
    ("reweighted_bce", {}),
    ("focal_loss", {}),
    ("weighted_dice_loss", {}),
    ("weighted_dice_loss", {"formulation": "masked"}),
    ("tversky_loss", {}),
    ("focal_tversky_loss", {}),
    ("generalized_dice_loss", {}),
    ("weighted_bce", {}),
    ("bce_dice", {"bce_alpha": 0.9}),
    ("focal_dice", {}),
    ("focal_bce_dice", {}),
    ("jaccard_loss", {}),
    ("hard_dice_coefficient", {}),
    ("hard_dice_coefficient", {"threshold": "argmax", "mode": "multiclass"}),
    ("dice_coefficient", {}),
    ("per_channel_dice", {}),
    ("tversky_index", {}),
]
WINDOWED = [
    ("border_dice_loss", {}),
    ("ms_ssim_loss", {"power_factors": (0.5, 0.5), "filter_size": 3}),
    ("unet3plus_hybrid_loss", {"power_factors": (0.5, 0.5), "filter_size": 3}),
]


def _ignore_case(name, rank=2):
    shape = (2, 8, 10, 2) if rank == 2 else (2, 4, 8, 10, 2)
    y = np.eye(2, dtype=np.float32)[(rng.random(shape[:-1]) < 0.4).astype(int)]
    p = rng.random(shape).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    y_ignored = y.copy()
    y_ignored[..., 7:, :] = IGNORE  # the last 3 columns are ignored
    if name == "weighted_bce":
        weights = rng.uniform(1, 3, (*shape[:-1], 1)).astype(np.float32)
        y = np.concatenate([y, weights], -1)
        y_ignored = np.concatenate([y_ignored, weights], -1)
    return y, y_ignored, p


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("name, kwargs", CROP_EQUAL)
def test_ignored_pixels_are_excluded(name, kwargs, rank):
    fn = getattr(losses, name)
    y, y_ignored, p = _ignore_case(name, rank)
    got = np.asarray(fn(y_ignored, p, ignore_index=IGNORE, **kwargs))
    cropped = np.asarray(fn(y[..., :7, :], p[..., :7, :], **kwargs))
    np.testing.assert_allclose(got, cropped, rtol=1e-5, atol=1e-6)
    # Without ignore_index the 255s would be targets: a different value.
    if name != "hard_dice_coefficient":
        plain = np.asarray(fn(np.minimum(y_ignored, 1), p, **kwargs))
        assert not np.allclose(plain, cropped)


@pytest.mark.parametrize("name, kwargs", CROP_EQUAL + WINDOWED)
def test_prediction_at_ignored_pixels_changes_nothing(name, kwargs):
    fn = getattr(losses, name)
    _, y_ignored, p = _ignore_case(name)
    other = p.copy()
    other[..., 7:, :] = other[..., 7:, ::-1]
    a = np.asarray(fn(y_ignored, p, ignore_index=IGNORE, **kwargs))
    b = np.asarray(fn(y_ignored, other, ignore_index=IGNORE, **kwargs))
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert np.isfinite(a).all()


def test_every_loss_class_takes_ignore_index():
    for cls in losses.LOSSES.values():
        assert cls(ignore_index=IGNORE).get_config()["ignore_index"] == IGNORE


@pytest.mark.parametrize(
    "metric", [losses.DiceScore, losses.IoUScore, losses.PrecisionScore,
               losses.RecallScore, losses.SpecificityScore]
)  # fmt: skip
def test_streaming_metrics_ignore_pixels(metric):
    y, y_ignored, p = _ignore_case("dice_loss")
    ignored = metric(ignore_index=IGNORE)
    ignored.update_state(y_ignored, p)
    cropped = metric()
    cropped.update_state(y[..., :7, :], p[..., :7, :])
    assert float(ignored.result()) == pytest.approx(float(cropped.result()))
    assert metric(ignore_index=IGNORE).get_config()["ignore_index"] == IGNORE


@pytest.mark.parametrize(
    "score",
    [evaluation.dice_score, evaluation.iou_score, evaluation.sensitivity_score,
     evaluation.specificity_score, evaluation.precision_score,
     evaluation.accuracy_score, evaluation.hausdorff_distance_95,
     evaluation.average_surface_distance],
)  # fmt: skip
def test_evaluation_scores_ignore_pixels(score):
    truth = (rng.random((12, 12)) < 0.3).astype(np.float32)
    truth[3:6, 3:6] = 1
    pred = np.clip(truth + 0.4 * rng.standard_normal(truth.shape), 0, 1)
    marked = truth.copy()
    marked[:, 9:] = IGNORE
    got = score(marked, pred, ignore_index=IGNORE)
    region = np.ones_like(truth, bool)
    region[:, 9:] = False
    assert got == pytest.approx(score(truth, pred, mask=region))
    cropped = score(truth[:, :9], pred[:, :9])
    if score in (evaluation.hausdorff_distance_95, evaluation.average_surface_distance):
        assert np.isfinite(got)
    else:
        assert got == pytest.approx(cropped)
    report = evaluation.evaluate_segmentation(marked, pred, ignore_index=IGNORE)
    assert report["dice"] == pytest.approx(
        evaluation.dice_score(truth[:, :9], pred[:, :9])
    )


def test_mean_image_dice_is_the_competition_metric():
    empty = np.zeros((4, 4))
    one = np.zeros((4, 4))
    one[1:3, 1:3] = 1
    half = one.copy()
    half[1:3, 2] = 0
    # empty/empty = 1, empty truth with a prediction = 0, 2*2/(4+2) = 2/3.
    got = evaluation.mean_image_dice([empty, empty, one], [empty, one, half])
    assert got == pytest.approx((1 + 0 + 2 / 3) / 3)
    with pytest.raises(ValueError, match="numbers of images"):
        evaluation.mean_image_dice([empty], [empty, empty])
