"""Tests of zoo/fine_grained.py: serial fine-grained inference and case evaluation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zoo.backboned_unet import fine_grained_unet
from zoo.fine_grained import (
    FineGrainedPredictor,
    crop_roi,
    evaluate_cases,
    largest_object_box,
    paste_roi,
)

BIG = (slice(30, 80), slice(40, 90))
TINY = (slice(50, 56), slice(60, 66))


def _synthetic_case(tiny: bool = True, big: bool = True) -> tuple[np.ndarray, ...]:
    """128x128 image: big square (0.5) holding a tiny square (1.0)."""
    image = np.zeros((128, 128), np.float32)
    target = np.zeros((128, 128, 1), np.float32)
    if big:
        image[BIG] = 0.5
    if tiny:
        image[TINY] = 1.0
        target[TINY] = 1.0
    return image, target


def _threshold_model(size: int = 64) -> keras.Model:
    """Deterministic stand-in for a trained fine_grained_unet.

    Big branch: 2 channels, sigmoid(40 * (x - 0.25)) (big object incl. tiny);
    ROI branch: sigmoid(40 * (x - 0.75)) (the bright tiny object only).
    """
    full = keras.Input((size, size, 1))
    roi = keras.Input((size, size, 1))
    big = keras.layers.Conv2D(2, 1, activation="sigmoid")
    tiny = keras.layers.Conv2D(1, 1, activation="sigmoid")
    model = keras.Model([full, roi], [big(full), tiny(roi)])
    big.set_weights([np.full((1, 1, 1, 2), 40.0), np.full(2, -10.0)])
    tiny.set_weights([np.full((1, 1, 1, 1), 40.0), np.full(1, -30.0)])
    return model


def test_largest_object_box_is_square_with_margin():
    mask = np.zeros((100, 100), np.uint8)
    mask[40:50, 30:60] = 1  # 10 x 30, the largest
    mask[5:8, 5:8] = 1
    y0, x0, y1, x1 = largest_object_box(mask, margin=5)
    assert (y1 - y0, x1 - x0) == (40, 40)
    assert (y0, x0) == (25, 25)  # centred on (45, 45)
    assert largest_object_box(mask, margin=0) == (30, 30, 60, 60)


def test_largest_object_box_shifted_inside_and_empty():
    mask = np.zeros((50, 60), bool)
    mask[0:10, 55:60] = True
    # 10 x 5 object -> side 30 around (5, 57.5), shifted inside at the top/right
    # so it stays square (the training pipeline's roi_box, one definition).
    assert largest_object_box(mask, margin=10) == (0, 30, 30, 60)
    assert largest_object_box(np.zeros((8, 8)), margin=2) is None
    with pytest.raises(ValueError, match="margin"):
        largest_object_box(mask, margin=-1)


def test_crop_and_paste_round_trip():
    mask = np.zeros((100, 120), np.float32)
    mask[40:60, 50:70] = 1.0
    box = (30, 40, 70, 80)
    roi = crop_roi(mask, box, (64, 64))
    assert roi.shape == (64, 64, 1)
    pasted = paste_roi(roi, box, (100, 120))
    assert pasted.shape == (100, 120, 1)
    np.testing.assert_allclose(pasted[..., 0] > 0.5, mask > 0.5)


def test_predictor_recovers_tiny_object_in_place():
    predictor = FineGrainedPredictor(_threshold_model(), threshold=0.3, margin=10)
    image, target = _synthetic_case()
    out = predictor.predict(image)
    assert out["big"].shape == (128, 128, 2)
    assert out["tiny"].shape == (128, 128, 1)
    y0, x0, y1, x1 = out["roi_box"]
    assert (y1 - y0) == (x1 - x0) == 50 + 2 * 10
    assert y0 <= 30 and x0 <= 40 and y1 >= 80 and x1 >= 90
    found = out["tiny"][..., 0] > 0.5
    truth = target[..., 0] > 0
    iou = (found & truth).sum() / (found | truth).sum()
    assert iou > 0.7, iou
    rows, cols = np.nonzero(found)
    np.testing.assert_allclose([rows.mean(), cols.mean()], [52.5, 62.5], atol=1.0)
    assert not out["tiny"][:y0].any() and not out["tiny"][:, x1:].any()


def test_predictor_without_big_object():
    predictor = FineGrainedPredictor(_threshold_model())
    out = predictor.predict(np.zeros((70, 90), np.float32))
    assert out["roi_box"] is None
    assert out["tiny"].shape == (70, 90, 1) and not out["tiny"].any()


def test_evaluate_cases_with_predictor():
    predictor = FineGrainedPredictor(_threshold_model(), margin=10)
    cases = [
        _synthetic_case(),
        _synthetic_case(tiny=False),
        _synthetic_case(False, False),
    ]
    predictions = [predictor.predict(image)["tiny"] for image, _ in cases]
    scores = evaluate_cases(predictions, [target for _, target in cases])
    assert scores == {
        "recall": 1.0,
        "precision": 1.0,
        "tp": 1,
        "fp": 0,
        "fn": 0,
        "cases": 3,
    }


def test_evaluate_cases_counts():
    truth = np.zeros((10, 10))
    truth[2:4, 2:4] = 1
    hit = truth * 0.9
    misplaced = np.zeros((10, 10))
    misplaced[7:9, 7:9] = 0.9
    empty = np.zeros((10, 10))
    scores = evaluate_cases(
        [hit, misplaced, empty, misplaced], [truth, truth, truth, empty]
    )
    # hit: tp; misplaced on a positive case: fp + fn; missed: fn; false alarm: fp.
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 2)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["precision"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shape"):
        evaluate_cases([hit], [truth[:5]])
    with pytest.raises(ValueError, match="predictions"):
        evaluate_cases([hit, hit], [truth])


def test_predictor_with_fine_grained_unet():
    model = fine_grained_unet(
        (32, 32, 1),
        backbone="orig_unet",
        encoder_filters=4,
        decoder_filters=(4, 4, 4, 4, 4),
        centre_filters=4,
    )
    # An untrained sigmoid head gives ~0.5 everywhere: the object is the whole
    # image and the ROI is the largest centred square that fits.
    out = FineGrainedPredictor(model, threshold=0.01, margin=0).predict(
        np.random.default_rng(0).random((40, 50), dtype=np.float32)
    )
    assert out["big"].shape == (40, 50, 2) and out["tiny"].shape == (40, 50, 1)
    assert out["roi_box"] == (0, 5, 40, 45)


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"threshold": 1.0}, "threshold"), ({"margin": -2}, "margin")]
)
def test_predictor_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FineGrainedPredictor(_threshold_model(), **kwargs)


def test_predictor_needs_two_inputs():
    single = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 1)])
    with pytest.raises(ValueError, match="two inputs"):
        FineGrainedPredictor(single)
    with pytest.raises(ValueError, match="channels"):
        FineGrainedPredictor(_threshold_model()).predict(np.zeros((8, 8, 3)))


def test_fine_grained_unet_trains_in_parallel_from_the_two_input_pipeline():
    """Keys are the model's input/output names (any ``name=``): ``fit`` takes it."""
    from data_pipelines.pipeline import make_two_input_dataset
    from zoo import fine_grained_unet

    rng = np.random.default_rng(0)
    images = rng.random((4, 32, 32, 1)).astype(np.float32)
    masks = np.zeros((4, 32, 32, 2), np.float32)
    masks[:, 4:26, 4:26, 0] = 1
    masks[:, 12:16, 10:14, 1] = 1
    model = fine_grained_unet(
        (32, 32, 1),
        backbone="orig_unet",
        encoder_filters=4,
        decoder_filters=(8, 8, 4, 4, 4),
        centre_filters=8,
        name="custom_name",
    )
    dataset = make_two_input_dataset(
        images, masks, 2, roi_channels=(1,), margin=4, model=model
    )
    model.compile(
        "adam",
        loss={name: "binary_crossentropy" for name in model.output_names},
        run_eagerly=True,
    )
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_predictor_rejects_a_bad_big_channel():
    model = fine_grained_unet(
        (32, 32, 1),
        backbone="orig_unet",
        encoder_filters=4,
        decoder_filters=(4, 4, 4, 4, 4),
        centre_filters=4,
    )
    with pytest.raises(ValueError, match="big_channel"):
        FineGrainedPredictor(model, big_channel=2)
