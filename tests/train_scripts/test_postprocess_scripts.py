"""--min-size / --largest-component in evaluate and predict."""

from __future__ import annotations

import cv2
import keras
import numpy as np

from train_scripts import evaluate, predict
from train_scripts.data import ImageSet


def _identity_model() -> keras.Model:
    inputs = keras.Input((None, None, 1))
    layer = keras.layers.Conv2D(1, 1)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32)])
    return model


def _image() -> np.ndarray:
    probs = np.zeros((16, 16), np.float32)
    probs[1:5, 1:5] = 0.9  # 16 pixels
    probs[8:10, 8:11] = 0.8  # 6 pixels
    probs[14, 14] = 0.7  # 1 pixel
    return probs


def test_evaluate_scores_the_post_processed_prediction():
    probs = _image()
    data = ImageSet([probs[..., None]], [(probs > 0.5)[..., None] * 1.0], ["a"])
    model = _identity_model()
    kwargs = {"tile_size": (16, 16), "overlays": False, "verbose": False}
    rows, _ = evaluate.evaluate_model(model, data, **kwargs)
    assert rows[0]["components_pred"] == 3 and rows[0]["dice"] == 1.0
    rows, _ = evaluate.evaluate_model(model, data, min_size=6, **kwargs)
    assert rows[0]["components_pred"] == 2
    assert rows[0]["dice"] == 2 * 22 / (23 + 22)
    assert rows[0]["auc"] == 1.0  # ranks the model's probabilities, as predicted
    rows, _ = evaluate.evaluate_model(model, data, largest_component=True, **kwargs)
    assert rows[0]["components_pred"] == 1
    assert rows[0]["dice"] == 2 * 16 / (23 + 16)


def test_predict_cli_min_size(tmp_path):
    model_path = tmp_path / "identity.keras"
    _identity_model().save(model_path)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), (_image() * 255).astype(np.uint8))
    out = tmp_path / "out"
    argv = ["--checkpoint", str(model_path), "--input", str(image), "--out", str(out)]
    assert predict.main([*argv, "--tile-size", "16", "--min-size", "7"]) == 0
    mask = cv2.imread(str(out / "a_mask.png"), cv2.IMREAD_GRAYSCALE)
    assert (mask > 0).sum() == 16
    assert predict.main([*argv, "--tile-size", "16", "--min-size", "-1"]) == 2
