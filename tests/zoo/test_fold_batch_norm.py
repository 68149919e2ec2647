"""Batch normalisation folded into convolutions for inference."""

import keras
import numpy as np
import pytest

import zoo
from train_scripts.predict import model_for_tiles
from zoo.inference import fold_batch_norm, predict_tiled


def _batch_norms(model):
    return [x for x in model.layers if isinstance(x, keras.layers.BatchNormalization)]


def _trained_statistics(model, seed=0):
    """Gives every batch norm the kind of statistics training leaves."""
    rng = np.random.default_rng(seed)
    for layer in _batch_norms(model):
        n = layer.moving_mean.shape[0]
        layer.set_weights(
            [
                rng.uniform(0.8, 1.2, n),  # gamma
                rng.normal(0, 0.1, n),  # beta
                rng.normal(0, 0.2, n),  # moving mean
                rng.uniform(0.3, 2.0, n),  # moving variance
            ]
        )
    return model


@pytest.mark.parametrize(
    ("builder", "kwargs", "image_shape", "tile"),
    [
        (zoo.unet_padding, {"depth": 3, "filters": 4}, (40, 37, 1), 32),
        (zoo.unet3d, {"filters": 4}, (20, 24, 18, 1), 16),
    ],
)
def test_folded_model_predicts_as_the_model(builder, kwargs, image_shape, tile):
    keras.utils.set_random_seed(0)
    shape = (None,) * (len(image_shape) - 1) + (1,)
    model = _trained_statistics(builder(shape, **kwargs))
    image = np.random.default_rng(1).random(image_shape).astype("float32")
    before = predict_tiled(model, image, tile_size=tile, tta=True)
    folded = fold_batch_norm(model)
    assert _batch_norms(model) and not _batch_norms(folded)
    assert folded.count_params() < model.count_params()
    after = predict_tiled(folded, image, tile_size=tile, tta=True)
    assert np.abs(after - before).max() <= 1e-5
    # The original model is untouched.
    np.testing.assert_array_equal(
        predict_tiled(model, image, tile_size=tile, tta=True), before
    )


def test_only_a_linear_conv_called_once_feeding_only_a_batch_norm_is_folded():
    inputs = keras.Input((16, 16, 2))
    foldable = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    foldable = keras.layers.BatchNormalization()(foldable)
    activated = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(foldable)
    activated = keras.layers.BatchNormalization()(activated)
    branched = keras.layers.Conv2D(4, 3, padding="same")(activated)
    normed = keras.layers.BatchNormalization()(branched)
    merged = keras.layers.Add()([normed, branched])
    # One convolution called twice, followed by a batch norm in one call only.
    twice = keras.layers.Conv2D(4, 3, padding="same")
    once_normed = keras.layers.BatchNormalization()(twice(merged))
    outputs = keras.layers.Add()([once_normed, twice(keras.layers.ReLU()(merged))])
    model = _trained_statistics(keras.Model(inputs, outputs))
    folded = fold_batch_norm(model)
    assert len(_batch_norms(model)) == 4 and len(_batch_norms(folded)) == 3
    x = np.random.default_rng(0).random((2, 16, 16, 2)).astype("float32")
    expected = np.asarray(model(x, training=False))
    assert np.abs(np.asarray(folded(x, training=False)) - expected).max() <= 1e-5


def test_a_model_without_batch_norm_is_returned_as_is():
    model = zoo.unet_padding((32, 32, 1), depth=2, filters=4, norm=None)
    assert fold_batch_norm(model) is model


def test_the_prediction_commands_predict_with_the_folded_model():
    model = zoo.unet_padding((None, None, 1), depth=2, filters=4)
    for tile in (None, (32, 32)):
        predictor, _ = model_for_tiles(model, tile)
        assert _batch_norms(model) and not _batch_norms(predictor)


def test_the_fast_path_equals_an_eager_call_of_the_plain_model():
    # One tile covering the image: the commands' path (folded model, compiled
    # predict_on_batch, blending) against the plain model called eagerly.
    keras.utils.set_random_seed(0)
    model = _trained_statistics(zoo.unet_padding((None, None, 1), depth=3, filters=4))
    image = np.random.default_rng(2).random((32, 32, 1)).astype("float32")
    plain = np.asarray(model(image[None], training=False))[0]
    fast = predict_tiled(fold_batch_norm(model), image, tile_size=32)
    assert np.abs(fast - plain).max() <= 1e-5
