"""Loss functions vs. independent float64 NumPy references, edge cases, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from losses import functional as lf

EPS = 1e-7
SHAPES = {
    "2d_1ch": (2, 8, 8, 1),
    "2d_3ch": (2, 8, 8, 3),
    "3d_1ch": (2, 4, 6, 6, 1),
    "3d_3ch": (2, 4, 6, 6, 3),
}


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def make_data(shape, *, multiclass, seed=0):
    rng = np.random.default_rng(seed)
    if multiclass:
        y = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    else:
        y = (rng.random(shape) < 0.3).astype(np.float32)
    logits = rng.normal(0.0, 2.0, shape).astype(np.float32)
    return y, logits


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------
# NumPy references (float64). ``x`` is what the loss receives as y_pred.
# --------------------------------------------------------------------------
def ref_probs(x, from_logits, mode):
    x = x.astype(np.float64)
    if not from_logits:
        return x
    return np_softmax(x) if mode == "multiclass" else np_sigmoid(x)


def ref_logs(x, from_logits, mode):
    x = x.astype(np.float64)
    if from_logits:
        if mode == "multiclass":
            z = x - x.max(axis=-1, keepdims=True)
            return z - np.log(np.exp(z).sum(axis=-1, keepdims=True)), None
        return -np.logaddexp(0.0, -x), -np.logaddexp(0.0, x)
    p = np.clip(x, EPS, 1 - EPS)
    return np.log(p), np.log(1 - p)


def per_sample(a, op=np.sum):
    return op(a.reshape(a.shape[0], -1), axis=1)


def ref_dice_coef(y, p, smooth=1.0, squared=False):
    inter = per_sample(y * p)
    den = per_sample(y**2) + per_sample(p**2) if squared else per_sample(y + p)
    return (2 * inter + smooth) / (den + smooth)


def ref_per_channel(y, p, smooth=1.0, squared=False):
    axes = tuple(range(1, y.ndim - 1))
    inter = (y * p).sum(axes)
    den = (y**2).sum(axes) + (p**2).sum(axes) if squared else (y + p).sum(axes)
    return (2 * inter + smooth) / (den + smooth)


def ref_ce_map(y, x, fl, mode):
    log_p, log_1mp = ref_logs(x, fl, mode)
    if mode == "multiclass":
        return -(y * log_p).sum(-1)
    return -(y * log_p + (1 - y) * log_1mp)


def ref_bce(y, x, fl, mode):
    return per_sample(ref_ce_map(y, x, fl, mode), np.mean)


def ref_rbce(y, x, fl, alpha):
    log_p, log_1mp = ref_logs(x, fl, "multilabel")
    return per_sample(-(alpha * y * log_p + (1 - alpha) * (1 - y) * log_1mp), np.mean)


def ref_focal(y, x, fl, mode, gamma=2.0, alpha=0.25):
    log_p, log_1mp = ref_logs(x, fl, mode)
    p = np.clip(ref_probs(x, fl, mode), EPS, 1 - EPS)
    if mode == "multiclass":
        fl_map = -alpha * (y * (1 - p) ** gamma * log_p).sum(-1)
    else:
        fl_map = -(
            alpha * y * (1 - p) ** gamma * log_p
            + (1 - alpha) * (1 - y) * p**gamma * log_1mp
        )
    return per_sample(fl_map, np.mean)


def ref_border(t, border="gradient", size=3):
    footprint = (1,) + (size,) * (t.ndim - 2) + (1,)
    dil = ndimage.maximum_filter(t, size=footprint, mode="constant", cval=-np.inf)
    if border == "outer":
        return dil - t
    ero = ndimage.minimum_filter(t, size=footprint, mode="constant", cval=np.inf)
    return dil - ero


def ref_tversky_index(y, p, alpha=0.3, beta=0.7, smooth=1.0):
    tp, fp, fn = per_sample(y * p), per_sample((1 - y) * p), per_sample(y * (1 - p))
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def ref_gdl(y, p, weight_type="square", smooth=1.0):
    axes = tuple(range(1, y.ndim - 1))
    vol = y.sum(axes)
    out = []
    for b in range(y.shape[0]):
        v = vol[b]
        w = np.zeros_like(v)
        present = v > 0
        power = {"square": 2, "simple": 1, "uniform": 0}[weight_type]
        w[present] = 1.0 / v[present] ** power
        w[~present] = w[present].max() if present.any() else 1.0
        w = w / w.sum()
        inter = (y[b] * p[b]).reshape(-1, y.shape[-1]).sum(0)
        union = (y[b] + p[b]).reshape(-1, y.shape[-1]).sum(0)
        out.append(1 - (2 * (w * inter).sum() + smooth) / ((w * union).sum() + smooth))
    return np.array(out)


def ref_weighted_dice(y, p, formulation="complement", fw=0.8, bw=0.2):
    if formulation == "complement":
        fg, bg = ref_dice_coef(y, p), ref_dice_coef(1 - y, 1 - p)
    else:
        fg = ref_dice_coef(y * y, p * y)
        bg = ref_dice_coef(y * (1 - y), p * (1 - y))
    return fw * (1 - fg) + bw * (1 - bg)


def ref_weight_map_ce(y_packed, x, fl, mode):
    y, w = y_packed[..., :-1], y_packed[..., -1]
    ce = ref_ce_map(y, x, fl, mode)
    if mode == "multilabel":
        ce = ce * w[..., None]
    else:
        ce = ce * w
    return per_sample(ce, np.mean)


# name -> (function, kwargs, reference(y, x, from_logits, mode), modes)
BOTH = ("multilabel", "multiclass")
CASES = {
    "dice_loss": (
        lf.dice_loss,
        {},
        lambda y, x, fl, m: 1 - ref_dice_coef(y, ref_probs(x, fl, m)),
        BOTH,
    ),
    "dice_loss_squared": (
        lf.dice_loss,
        {"squared": True, "smooth": 0.5},
        lambda y, x, fl, m: 1 - ref_dice_coef(y, ref_probs(x, fl, m), 0.5, True),
        BOTH,
    ),
    "dice_coefficient": (
        lf.dice_coefficient,
        {},
        lambda y, x, fl, m: ref_dice_coef(y, ref_probs(x, fl, m)),
        BOTH,
    ),
    "multiclass_dice_loss": (
        lf.multiclass_dice_loss,
        {},
        lambda y, x, fl, m: 1 - ref_per_channel(y, ref_probs(x, fl, m)).mean(-1),
        BOTH,
    ),
    "bce": (lf.bce, {}, ref_bce, BOTH),
    "reweighted_bce": (
        lf.reweighted_bce,
        {"alpha": 0.99},
        lambda y, x, fl, m: ref_rbce(y, x, fl, 0.99),
        ("multilabel",),
    ),
    "focal_loss": (lf.focal_loss, {}, ref_focal, BOTH),
    "focal_loss_custom": (
        lf.focal_loss,
        {"gamma": 1.5, "alpha": 0.9},
        lambda y, x, fl, m: ref_focal(y, x, fl, m, 1.5, 0.9),
        BOTH,
    ),
    "border_dice_loss": (
        lf.border_dice_loss,
        {},
        lambda y, x, fl, m: (
            1 - ref_dice_coef(ref_border(y), ref_border(ref_probs(x, fl, m)))
        ),
        BOTH,
    ),
    "border_dice_loss_outer5": (
        lf.border_dice_loss,
        {"border": "outer", "pool_size": 5},
        lambda y, x, fl, m: (
            1
            - ref_dice_coef(
                ref_border(y, "outer", 5), ref_border(ref_probs(x, fl, m), "outer", 5)
            )
        ),
        ("multilabel",),
    ),
    "weighted_dice_loss": (
        lf.weighted_dice_loss,
        {},
        lambda y, x, fl, m: ref_weighted_dice(y, ref_probs(x, fl, m)),
        BOTH,
    ),
    "weighted_dice_loss_masked": (
        lf.weighted_dice_loss,
        {"formulation": "masked"},
        lambda y, x, fl, m: ref_weighted_dice(y, ref_probs(x, fl, m), "masked"),
        ("multilabel",),
    ),
    "tversky_loss": (
        lf.tversky_loss,
        {},
        lambda y, x, fl, m: 1 - ref_tversky_index(y, ref_probs(x, fl, m)),
        BOTH,
    ),
    "focal_tversky_loss": (
        lf.focal_tversky_loss,
        {},
        lambda y, x, fl, m: (1 - ref_tversky_index(y, ref_probs(x, fl, m))) ** 0.75,
        BOTH,
    ),
    "generalized_dice_loss": (
        lf.generalized_dice_loss,
        {},
        lambda y, x, fl, m: ref_gdl(y, ref_probs(x, fl, m)),
        BOTH,
    ),
    "generalized_dice_loss_simple": (
        lf.generalized_dice_loss,
        {"weight_type": "simple"},
        lambda y, x, fl, m: ref_gdl(y, ref_probs(x, fl, m), "simple"),
        BOTH,
    ),
    "bce_dice": (
        lf.bce_dice,
        {"bce_weight": 2.0, "dice_weight": 0.5},
        lambda y, x, fl, m: (
            2 * ref_bce(y, x, fl, m) + 0.5 * (1 - ref_dice_coef(y, ref_probs(x, fl, m)))
        ),
        BOTH,
    ),
    "bce_dice_rbce": (
        lf.bce_dice,
        {"bce_weight": 100.0, "bce_alpha": 0.999},
        lambda y, x, fl, m: (
            100 * ref_rbce(y, x, fl, 0.999)
            + (1 - ref_dice_coef(y, ref_probs(x, fl, m)))
        ),
        ("multilabel",),
    ),
    "focal_dice": (
        lf.focal_dice,
        {"focal_weight": 3.0},
        lambda y, x, fl, m: (
            3 * ref_focal(y, x, fl, m) + (1 - ref_dice_coef(y, ref_probs(x, fl, m)))
        ),
        BOTH,
    ),
    "focal_bce_dice": (
        lf.focal_bce_dice,
        {"focal_weight": 100.0, "bce_weight": 10.0},
        lambda y, x, fl, m: (
            100 * ref_focal(y, x, fl, m)
            + 10 * ref_bce(y, x, fl, m)
            + (1 - ref_dice_coef(y, ref_probs(x, fl, m)))
        ),
        BOTH,
    ),
}

PARAMS = [
    pytest.param(name, shape_id, mode, fl, id=f"{name}-{shape_id}-{mode}-logits{fl}")
    for name, (_, _, _, modes) in CASES.items()
    for shape_id, shape in SHAPES.items()
    for mode in modes
    if not (mode == "multiclass" and shape[-1] == 1)
    for fl in (False, True)
]


@pytest.mark.parametrize(("name", "shape_id", "mode", "from_logits"), PARAMS)
def test_matches_numpy_reference(name, shape_id, mode, from_logits):
    fn, kwargs, ref, _ = CASES[name]
    y, logits = make_data(SHAPES[shape_id], multiclass=mode == "multiclass")
    if from_logits:
        x = logits
    else:
        x = np_softmax(logits) if mode == "multiclass" else np_sigmoid(logits)
        x = x.astype(np.float32)
    kwargs = dict(kwargs, from_logits=from_logits)
    if name != "reweighted_bce":
        kwargs["mode"] = mode
    out = np.asarray(fn(y, x, **kwargs))
    assert out.shape == (y.shape[0],)
    np.testing.assert_allclose(out, ref(y, x, from_logits, mode), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("shape_id", "mode"),
    [(s, m) for s in SHAPES for m in BOTH if not (m == "multiclass" and "1ch" in s)],
)
def test_weighted_bce_matches_reference(shape_id, mode):
    shape = SHAPES[shape_id]
    y, logits = make_data(shape, multiclass=mode == "multiclass", seed=3)
    w = np.random.default_rng(4).uniform(0.5, 10.0, shape[:-1] + (1,))
    packed = np.concatenate([y, w.astype(np.float32)], axis=-1)
    for fl in (False, True):
        x = (
            logits
            if fl
            else (
                np_softmax(logits) if mode == "multiclass" else np_sigmoid(logits)
            ).astype(np.float32)
        )
        out = np.asarray(lf.weighted_bce(packed, x, from_logits=fl, mode=mode))
        np.testing.assert_allclose(
            out, ref_weight_map_ce(packed, x, fl, mode), rtol=1e-5, atol=1e-5
        )


def test_weighted_bce_with_unit_weights_is_bce():
    y, logits = make_data(SHAPES["2d_3ch"], multiclass=False)
    packed = np.concatenate([y, np.ones(y.shape[:-1] + (1,), np.float32)], -1)
    np.testing.assert_allclose(
        lf.weighted_bce(packed, logits, from_logits=True),
        lf.bce(y, logits, from_logits=True),
        rtol=1e-6,
    )


def test_per_channel_dice_and_class_weights():
    y, logits = make_data(SHAPES["3d_3ch"], multiclass=True)
    p = np_softmax(logits).astype(np.float32)
    d = np.asarray(lf.per_channel_dice(y, p))
    assert d.shape == (2, 3)
    np.testing.assert_allclose(d, ref_per_channel(y, p), rtol=1e-5)
    weights = (0.0, 1.0, 3.0)
    expected = 1 - (d * np.array(weights)).sum(-1) / 4.0
    np.testing.assert_allclose(
        lf.multiclass_dice_loss(y, p, class_weights=weights), expected, rtol=1e-5
    )
    # A one-hot weight vector is the dice loss of that single channel.
    np.testing.assert_allclose(
        lf.multiclass_dice_loss(y, p, class_weights=(0, 1, 0)),
        lf.dice_loss(y[..., 1:2], p[..., 1:2]),
        rtol=1e-5,
    )


def test_hard_dice():
    y = np.zeros((1, 4, 4, 1), np.float32)
    y[0, :2, :2, 0] = 1  # 4 positives
    p = np.full_like(y, 0.2)
    p[0, :2, :2, 0] = 0.7
    p[0, 3, 3, 0] = 0.9  # 1 false positive
    # Hard: tp=4, |p|=5, |y|=4 -> (8 + 1) / (9 + 1)
    np.testing.assert_allclose(lf.hard_dice_coefficient(y, p), [0.9], rtol=1e-6)
    np.testing.assert_allclose(
        lf.hard_dice_coefficient(y, p, threshold=0.8), [(2 * 0 + 1) / (4 + 1 + 1)]
    )
    # Soft dice differs from hard dice on the same input.
    assert abs(float(lf.dice_coefficient(y, p)[0]) - 0.9) > 0.05
    y3, logits = make_data(SHAPES["2d_3ch"], multiclass=True)
    assert float(
        lf.hard_dice_coefficient(
            y3, y3 * 10.0, threshold="argmax", mode="multiclass", from_logits=True
        )[0]
    ) == pytest.approx(1.0)


def test_tversky_half_half_is_dice():
    y, logits = make_data(SHAPES["2d_3ch"], multiclass=False)
    np.testing.assert_allclose(
        # TI(0.5, 0.5) = (TP + s) / (TP + (FP + FN) / 2 + s) = dice with 2 s.
        lf.tversky_loss(y, logits, alpha=0.5, beta=0.5, smooth=0.5, from_logits=True),
        lf.dice_loss(y, logits, from_logits=True),
        rtol=1e-6,
    )


def test_generalized_dice_single_channel_is_dice():
    y, logits = make_data(SHAPES["3d_1ch"], multiclass=False)
    np.testing.assert_allclose(
        lf.generalized_dice_loss(y, logits, from_logits=True, mode="multilabel"),
        lf.dice_loss(y, logits, from_logits=True),
        rtol=1e-6,
    )


def test_generalized_dice_absent_class_gets_largest_weight():
    y = np.zeros((1, 4, 4, 3), np.float32)
    y[..., 0] = 1
    y[0, 0, 0] = (0, 1, 0)  # class 1 has 1 pixel, class 2 none
    p = np.full(y.shape, 1 / 3, np.float32)
    out = np.asarray(lf.generalized_dice_loss(y, p))
    np.testing.assert_allclose(out, ref_gdl(y.astype(np.float64), p), rtol=1e-6)
    assert np.all(np.isfinite(out))


def test_focal_with_gamma0_alpha_half_is_half_bce():
    for mode, shape_id in (("multilabel", "2d_1ch"), ("multiclass", "3d_3ch")):
        y, logits = make_data(SHAPES[shape_id], multiclass=mode == "multiclass")
        for fl in (False, True):
            x = (
                logits
                if fl
                else (
                    np_softmax(logits) if mode == "multiclass" else np_sigmoid(logits)
                ).astype(np.float32)
            )
            np.testing.assert_allclose(
                lf.focal_loss(y, x, gamma=0.0, alpha=0.5, from_logits=fl, mode=mode),
                0.5 * np.asarray(lf.bce(y, x, from_logits=fl, mode=mode)),
                rtol=1e-6,
            )


def test_reweighted_bce_half_is_half_bce():
    y, logits = make_data(SHAPES["2d_3ch"], multiclass=False)
    np.testing.assert_allclose(
        lf.reweighted_bce(y, logits, alpha=0.5, from_logits=True),
        0.5 * np.asarray(lf.bce(y, logits, from_logits=True)),
        rtol=1e-6,
    )


# --------------------------------------------------------------------------
# Border map
# --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", [2, 3])
def test_border_map_of_a_single_pixel(rank):
    x = np.zeros((1,) + (5,) * rank + (1,), np.float32)
    centre = (0,) + (2,) * rank + (0,)
    x[centre] = 1
    block = np.zeros_like(x)
    block[(0,) + (slice(1, 4),) * rank + (0,)] = 1
    np.testing.assert_array_equal(lf.border_map(x), block)
    outer = block.copy()
    outer[centre] = 0
    np.testing.assert_array_equal(lf.border_map(x, border="outer"), outer)


def test_border_map_ignores_image_edge_and_matches_reference_product():
    x = np.zeros((1, 6, 6, 1), np.float32)
    x[0, :3, :, 0] = 1  # object touching the top, left and right edges
    b = np.asarray(lf.border_map(x))
    assert b[0, 0].sum() == 0  # the image edge is no border
    np.testing.assert_array_equal(b[0, :, 0, 0], [0, 0, 1, 1, 0, 0])
    pool = np.asarray(tf.nn.max_pool2d(x, 3, 1, "SAME"))
    pool_c = np.asarray(tf.nn.max_pool2d(1 - x, 3, 1, "SAME"))
    np.testing.assert_array_equal(b, pool * pool_c)


# --------------------------------------------------------------------------
# Perfect / all-wrong / empty
# --------------------------------------------------------------------------
DICE_TYPE = {
    "dice_loss": lf.dice_loss,
    "dice_loss_squared": lambda y, p: lf.dice_loss(y, p, squared=True),
    "multiclass_dice_loss": lambda y, p: lf.multiclass_dice_loss(
        y, p, mode="multilabel"
    ),
    "border_dice_loss": lf.border_dice_loss,
    "weighted_dice_loss": lf.weighted_dice_loss,
    "weighted_dice_loss_masked": lambda y, p: lf.weighted_dice_loss(
        y, p, formulation="masked"
    ),
    "tversky_loss": lf.tversky_loss,
    "focal_tversky_loss": lf.focal_tversky_loss,
    "generalized_dice_loss": lambda y, p: lf.generalized_dice_loss(
        y, p, mode="multilabel"
    ),
}


@pytest.mark.parametrize("shape_id", list(SHAPES))
@pytest.mark.parametrize("name", list(DICE_TYPE))
def test_perfect_prediction_gives_zero(name, shape_id):
    y, _ = make_data(SHAPES[shape_id], multiclass=False, seed=7)
    out = np.asarray(DICE_TYPE[name](y, y))
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


@pytest.mark.parametrize("shape_id", list(SHAPES))
def test_all_wrong_gives_about_one(shape_id):
    shape = SHAPES[shape_id]
    y = np.ones(shape, np.float32)
    n = np.prod(shape[1:])
    np.testing.assert_allclose(lf.dice_loss(y, np.zeros_like(y)), 1 - 1 / (n + 1))
    checker = (np.indices(shape).sum(0) % 2).astype(np.float32)
    # |y| + |p| = n, intersection 0 -> 1 - 1 / (n + 1).
    np.testing.assert_allclose(lf.dice_loss(checker, 1 - checker), 1 - 1 / (n + 1))
    # TI = 1 / (0.3 |p| + 0.7 |y| + 1) = 1 / (n / 2 + 1).
    np.testing.assert_allclose(
        lf.tversky_loss(checker, 1 - checker), 1 - 1 / (n / 2 + 1), rtol=1e-6
    )


@pytest.mark.parametrize("shape_id", list(SHAPES))
def test_empty_mask_and_empty_prediction(shape_id):
    y = np.zeros(SHAPES[shape_id], np.float32)
    np.testing.assert_array_equal(lf.dice_coefficient(y, y), 1.0)
    np.testing.assert_array_equal(lf.dice_coefficient(y, y, squared=True), 1.0)
    np.testing.assert_array_equal(lf.per_channel_dice(y, y), 1.0)
    for name, fn in DICE_TYPE.items():
        out = np.asarray(fn(y, y))
        assert np.all(np.isfinite(out)), name
        np.testing.assert_allclose(out, 0.0, atol=1e-6, err_msg=name)
    for fn in (lf.bce, lf.focal_loss, lf.focal_bce_dice, lf.bce_dice, lf.focal_dice):
        out = np.asarray(fn(y, y))
        assert np.all(np.isfinite(out))
        assert np.all(out < 1e-5)


# --------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------
GRAD_CASES = {
    **{name: (fn, kw, modes) for name, (fn, kw, _, modes) in CASES.items()},
    "hard_dice_coefficient": (lf.hard_dice_coefficient, {}, BOTH),
}


def _finite_gradient(fn, y, x, **kwargs):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(fn(tf.constant(y), x, **kwargs))
    grad = tape.gradient(loss, x)
    assert np.isfinite(float(loss))
    if grad is not None:  # hard dice has no gradient by design
        assert np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("name", list(GRAD_CASES))
@pytest.mark.parametrize("shape_id", ["2d_3ch", "3d_1ch"])
def test_gradient_finite_at_extremes(name, shape_id):
    fn, kwargs, modes = GRAD_CASES[name]
    shape = SHAPES[shape_id]
    y, _ = make_data(shape, multiclass=False, seed=11)
    for mode in modes:
        if mode == "multiclass" and shape[-1] == 1:
            continue
        kw = dict(kwargs) if name == "reweighted_bce" else dict(kwargs, mode=mode)
        # Probabilities of exactly 0 and 1: perfect, all wrong and mixed.
        half = (np.indices(shape).sum(0) % 2).astype(np.float32)
        for p in (
            y,
            1 - y,
            half,
            np.zeros(shape, np.float32),
            np.ones(shape, np.float32),
        ):
            _finite_gradient(fn, y, p, from_logits=False, **kw)
        # Extreme logits.
        for logits in (200 * y - 100, 100 - 200 * y, 200 * half - 100):
            _finite_gradient(fn, y, logits.astype(np.float32), from_logits=True, **kw)


def test_gradient_finite_weighted_bce_extremes():
    y, _ = make_data(SHAPES["2d_3ch"], multiclass=False)
    packed = np.concatenate([y, np.full(y.shape[:-1] + (1,), 5.0, np.float32)], -1)
    for p in (y, 1 - y):
        _finite_gradient(lf.weighted_bce, packed, p)
        _finite_gradient(lf.weighted_bce, packed, 200 * p - 100, from_logits=True)


def test_focal_tversky_gradient_zero_at_perfect_prediction():
    y, _ = make_data(SHAPES["2d_1ch"], multiclass=False)
    x = tf.constant(y)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(lf.focal_tversky_loss(y, x, gamma=0.5))
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), 0.0)


# --------------------------------------------------------------------------
# dtype, graph mode, validation
# --------------------------------------------------------------------------
def test_float16_inputs_are_computed_in_float32():
    y, logits = make_data(SHAPES["2d_3ch"], multiclass=False)
    out = lf.focal_bce_dice(
        y.astype(np.float16), logits.astype(np.float16), from_logits=True
    )
    assert out.dtype == tf.float32
    ref = lf.focal_bce_dice(
        y, logits.astype(np.float16).astype(np.float32), from_logits=True
    )
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_unknown_static_shapes_in_graph_mode():
    spec = tf.TensorSpec([None, None, None, None, 2], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def fn(y, x):
        return lf.focal_bce_dice(y, x, from_logits=True) + lf.border_dice_loss(y, x)

    y, logits = make_data((2, 4, 6, 6, 2), multiclass=False)
    eager = lf.focal_bce_dice(y, logits, from_logits=True) + lf.border_dice_loss(
        y, logits
    )
    np.testing.assert_allclose(fn(y, logits), eager, rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda y, p: lf.dice_loss(y, p, smooth=0.0), "smooth"),
        (lambda y, p: lf.dice_loss(y, p, mode="softmax"), "mode"),
        (lambda y, p: lf.dice_loss(y, p, from_logits=1), "from_logits"),
        (lambda y, p: lf.focal_loss(y, p, gamma=-1.0), "gamma"),
        (lambda y, p: lf.focal_loss(y, p, alpha=1.5), "alpha"),
        (lambda y, p: lf.tversky_loss(y, p, beta=-0.1), "beta"),
        (lambda y, p: lf.border_dice_loss(y, p, pool_size=2), "pool_size"),
        (lambda y, p: lf.border_dice_loss(y, p, border="inner"), "border"),
        (lambda y, p: lf.weighted_dice_loss(y, p, formulation="x"), "formulation"),
        (
            lambda y, p: lf.generalized_dice_loss(y, p, weight_type="cube"),
            "weight_type",
        ),
        (
            lambda y, p: lf.multiclass_dice_loss(y, p, class_weights=(1, 1)),
            "class_weights",
        ),
        (
            lambda y, p: lf.multiclass_dice_loss(y, p, class_weights=(1, -1, 0)),
            "class_weights",
        ),
        (lambda y, p: lf.bce_dice(y, p, bce_weight=0, dice_weight=0), "weights"),
        (lambda y, p: lf.bce_dice(y, p, bce_alpha=0.9, mode="multiclass"), "bce_alpha"),
        (lambda y, p: lf.dice_loss(y, p[..., :2]), "shape"),
        (lambda y, p: lf.dice_loss(y[0, 0], p[0, 0]), "spatial axis"),
        (lambda y, p: lf.dice_loss(y, p[0]), "same rank"),
        (
            lambda y, p: lf.dice_loss(y[..., :1], p[..., :1], mode="multiclass"),
            "channels",
        ),
        (lambda y, p: lf.weighted_bce(y, p), "weight map"),
        (lambda y, p: lf.hard_dice_coefficient(y, p, threshold="argmax"), "argmax"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    y, logits = make_data(SHAPES["2d_3ch"], multiclass=True)
    with pytest.raises(ValueError, match=match):
        call(y, np_sigmoid(logits).astype(np.float32))
