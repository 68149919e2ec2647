"""Sliding-window inference of zoo.inference: exactness, blending, TTA, valid padding."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

import zoo
from zoo.inference import (
    predict_mask,
    predict_tiled,
    probabilities_to_mask,
    with_input_size,
)


def _conv_model(rank: int, kernel: np.ndarray, *, padding="same", bias=0.0):
    """A one-conv model with a given kernel: exact, fast, any input size."""
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    inputs = keras.Input((None,) * rank + (1,))
    layer = conv(1, kernel.shape, padding=padding)
    outputs = layer(inputs)
    model = keras.Model(inputs, outputs)
    layer.set_weights([kernel[..., None, None].astype("float32"), np.array([bias])])
    return model


def test_window_covering_the_image_equals_single_pass():
    keras.utils.set_random_seed(1)
    model = zoo.unet_padding((None, None, 1), 1, depth=2, filters=4)
    image = np.random.default_rng(0).random((32, 32, 1), dtype=np.float32)
    tiled = predict_tiled(model, image, tile_size=32)
    single = np.asarray(model(image[None], training=False))[0]
    np.testing.assert_allclose(tiled, single, atol=1e-6)


def test_window_covering_a_volume_equals_single_pass():
    kernel = np.random.default_rng(2).normal(size=(3, 3, 3))
    model = _conv_model(3, kernel)
    volume = np.random.default_rng(0).random((12, 16, 16, 1), dtype=np.float32)
    tiled = predict_tiled(model, volume, tile_size=(12, 16, 16))
    single = np.asarray(model(volume[None]))[0]
    np.testing.assert_allclose(tiled, single, atol=1e-5)


@pytest.mark.parametrize("blending", ["gaussian", "constant"])
def test_blending_has_no_seams_on_a_constant_model(blending):
    model = _conv_model(2, np.zeros((3, 3)), bias=0.37)
    image = np.random.default_rng(0).random((100, 90, 1), dtype=np.float32)
    probs = predict_tiled(model, image, tile_size=32, overlap=0.5, blending=blending)
    assert probs.shape == (100, 90, 1)
    np.testing.assert_allclose(probs, 0.37, atol=1e-6)


def test_identity_model_is_reproduced_exactly_across_tiles():
    """Misplaced tiles or wrong weights would show as differences at tile seams."""
    delta = np.zeros((3, 3))
    delta[1, 1] = 1.0
    model = _conv_model(2, delta)
    image = np.random.default_rng(0).random((77, 61, 1), dtype=np.float32)
    probs = predict_tiled(model, image, tile_size=24, overlap=0.25)
    np.testing.assert_allclose(probs, image, atol=1e-5)


def test_valid_padding_model_is_mirror_padded_to_the_full_image():
    """A valid 5x5 delta conv eats 2 pixels per side; mirroring gives them back."""
    delta = np.zeros((5, 5))
    delta[2, 2] = 1.0
    model = _conv_model(2, delta, padding="valid")
    image = np.random.default_rng(0).random((40, 37, 1), dtype=np.float32)
    probs = predict_tiled(model, image, tile_size=20)
    assert probs.shape == image.shape
    np.testing.assert_allclose(probs, image, atol=1e-5)


def test_tta_undoes_each_flip():
    kernel = np.random.default_rng(3).normal(size=(3, 3))
    model = _conv_model(2, kernel)
    image = np.random.default_rng(0).random((16, 16, 1), dtype=np.float32)
    x = image[None]
    manual = []
    for axes in itertools.chain.from_iterable(
        itertools.combinations((1, 2), r) for r in range(3)
    ):
        y = np.asarray(model(np.flip(x, axes) if axes else x))
        manual.append(np.flip(y, axes) if axes else y)
    expected = np.mean(manual, axis=0)[0]
    plain = predict_tiled(model, image, tile_size=16)
    tta = predict_tiled(model, image, tile_size=16, tta=True)
    assert len(manual) == 4
    assert not np.allclose(
        plain, expected, atol=1e-3
    )  # the model is not flip-invariant
    np.testing.assert_allclose(tta, expected, atol=1e-5)


def test_probabilities_to_mask_and_predict_mask():
    probs = np.array([[[0.2], [0.7]]], np.float32)
    assert probabilities_to_mask(probs, 0.5).tolist() == [[0, 1]]
    assert probabilities_to_mask(probs, 0.8).tolist() == [[0, 0]]
    multi = np.array([[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]], np.float32)
    assert probabilities_to_mask(multi).tolist() == [[1, 0]]
    with pytest.raises(ValueError, match="threshold"):
        probabilities_to_mask(probs, 1.5)
    model = _conv_model(2, np.zeros((3, 3)), bias=0.6)
    probs, mask = predict_mask(model, np.zeros((20, 30, 1), np.float32), tile_size=16)
    assert probs.shape == (20, 30, 1) and mask.shape == (20, 30) and mask.all()


def test_with_input_size_keeps_the_function():
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), 1, depth=2, filters=4)
    any_size = zoo.unet_padding((None, None, 1), 1, depth=2, filters=4)
    any_size.set_weights(model.get_weights())
    image = np.random.default_rng(0).random((1, 64, 48, 1), dtype=np.float32)
    resized = with_input_size(model, (64, 48))
    assert resized.input_shape == (None, 64, 48, 1)
    assert with_input_size(model, (32, 32)) is model
    np.testing.assert_allclose(
        np.asarray(resized(image)), np.asarray(any_size(image)), atol=1e-6
    )
    with pytest.raises(ValueError, match="2 values"):
        with_input_size(model, (64, 64, 64))
