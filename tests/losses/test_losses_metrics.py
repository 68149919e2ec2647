"""Streaming metrics: epoch accumulation, thresholds, modes, configs."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import losses
from losses import evaluation

METRICS = {
    "DiceScore": evaluation.dice_score,
    "IoUScore": evaluation.iou_score,
    "PrecisionScore": evaluation.precision_score,
    "RecallScore": evaluation.sensitivity_score,
    "SpecificityScore": evaluation.specificity_score,
}


def _batches(shape, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random((2,) + shape) < 0.3).astype(np.float32)
    p = rng.random((2,) + shape).astype(np.float32)
    return y, p


@pytest.mark.parametrize("name", list(METRICS))
@pytest.mark.parametrize("shape", [(3, 8, 8, 1), (2, 4, 6, 6, 3)], ids=["2d", "3d"])
def test_two_batches_equal_their_concatenation(name, shape):
    (y1, y2), (p1, p2) = _batches(shape)
    # Make the second batch very different so a mean of batch scores would differ.
    p2 = p2**3
    streamed = getattr(losses, name)(threshold=0.4)
    streamed.update_state(y1, p1)
    streamed.update_state(y2, p2)
    whole = getattr(losses, name)(threshold=0.4)
    whole.update_state(np.concatenate([y1, y2]), np.concatenate([p1, p2]))
    assert float(streamed.result()) == pytest.approx(float(whole.result()), rel=1e-6)
    y_all, p_all = np.concatenate([y1, y2]), np.concatenate([p1, p2])
    assert float(streamed.result()) == pytest.approx(
        METRICS[name](y_all, p_all, threshold=0.4), rel=1e-6
    )
    single = getattr(losses, name)(threshold=0.4)
    single.update_state(y1, p1)
    first = float(single.result())
    single.update_state(y2, p2)
    single.reset_state()
    single.update_state(y1, p1)
    assert float(single.result()) == pytest.approx(first)


def test_hand_counts_and_soft_mode():
    y = np.array([1, 1, 0, 0, 1, 0], np.float32).reshape(1, 2, 3, 1)
    p = np.array([0.9, 0.2, 0.7, 0.1, 0.6, 0.3], np.float32).reshape(1, 2, 3, 1)
    # threshold 0.5: tp=2 (0.9, 0.6), fn=1, fp=1, tn=2
    expected = {
        "DiceScore": 4 / 6,
        "IoUScore": 2 / 4,
        "PrecisionScore": 2 / 3,
        "RecallScore": 2 / 3,
        "SpecificityScore": 2 / 3,
    }
    for name, value in expected.items():
        metric = getattr(losses, name)()
        metric.update_state(y, p)
        assert float(metric.result()) == pytest.approx(value), name
    soft = losses.DiceScore(threshold=None)
    soft.update_state(y, p)
    tp = 0.9 + 0.2 + 0.6
    assert float(soft.result()) == pytest.approx(2 * tp / (y.sum() + p.sum()), rel=1e-6)


def test_logits_class_id_and_sample_weight():
    rng = np.random.default_rng(3)
    y = (rng.random((4, 6, 6, 3)) < 0.4).astype(np.float32)
    logits = rng.normal(0, 2, y.shape).astype(np.float32)
    probs = 1 / (1 + np.exp(-logits))
    a = losses.RecallScore(from_logits=True, threshold=0.7)
    a.update_state(y, logits)
    b = losses.RecallScore(threshold=0.7)
    b.update_state(y, probs)
    assert float(a.result()) == pytest.approx(float(b.result()), rel=1e-6)

    channel = losses.DiceScore(class_id=2)
    channel.update_state(y, probs)
    assert float(channel.result()) == pytest.approx(
        evaluation.dice_score(y[..., 2], probs[..., 2]), rel=1e-6
    )

    # A per-sample weight of 2 counts the sample twice; 0 drops it.
    weighted = losses.IoUScore()
    weighted.update_state(y, probs, sample_weight=np.array([2.0, 0.0, 1.0, 1.0]))
    y_rep = np.concatenate([y[:1], y[:1], y[2:]])
    p_rep = np.concatenate([probs[:1], probs[:1], probs[2:]])
    assert float(weighted.result()) == pytest.approx(
        evaluation.iou_score(y_rep, p_rep), rel=1e-6
    )
    # A spatial weight (B, H, W), e.g. a field-of-view mask, is a region mask.
    fov = (rng.random(y.shape[:-1]) < 0.5).astype(np.float32)
    masked = losses.SpecificityScore()
    masked.update_state(y, probs, sample_weight=fov)
    assert float(masked.result()) == pytest.approx(
        evaluation.specificity_score(y, probs, mask=fov[..., None]), rel=1e-6
    )


def test_multiclass_argmax():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, (2, 5, 5))
    y = np.eye(3, dtype=np.float32)[labels]
    logits = rng.normal(0, 1, y.shape).astype(np.float32)
    pred_labels = logits.argmax(-1)
    metric = losses.DiceScore(mode="multiclass", threshold="argmax", from_logits=True)
    metric.update_state(y, logits)
    # Micro-pooled over classes, every wrong pixel is one FP and one FN.
    assert float(metric.result()) == pytest.approx(np.mean(pred_labels == labels))
    per_class = losses.IoUScore(mode="multiclass", threshold="argmax", class_id=1)
    per_class.update_state(y, logits)
    t, q = labels == 1, pred_labels == 1
    assert float(per_class.result()) == pytest.approx((t & q).sum() / (t | q).sum())


def test_empty_conventions():
    zeros = np.zeros((1, 4, 4, 1), np.float32)
    expected = {
        "DiceScore": 1.0,
        "IoUScore": 1.0,
        "PrecisionScore": 0.0,
        "RecallScore": 0.0,
    }
    for name, value in expected.items():
        metric = getattr(losses, name)()
        metric.update_state(zeros, zeros)
        assert float(metric.result()) == value, name
    spec = losses.SpecificityScore()
    spec.update_state(np.ones_like(zeros), zeros)
    assert float(spec.result()) == 0.0


@pytest.mark.parametrize("name", list(METRICS))
def test_config_round_trip(name):
    metric = getattr(losses, name)(threshold=0.3, class_id=1, name="m")
    config = metric.get_config()
    assert {"threshold", "from_logits", "mode", "class_id", "name", "dtype"} <= set(
        config
    )
    clone = type(metric).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert type(restored) is type(metric)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "argmax"}, "argmax"),
        ({"mode": "softmax"}, "mode"),
        ({"class_id": -1}, "class_id"),
        ({"from_logits": "yes"}, "from_logits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        losses.DiceScore(**kwargs)


def test_bad_shapes_and_class_id():
    metric = losses.DiceScore(class_id=3)
    with pytest.raises(ValueError, match="class_id"):
        metric.update_state(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        losses.DiceScore().update_state(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 1)))
