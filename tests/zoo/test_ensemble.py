"""average_models: a seed/snapshot ensemble saved and reloaded as one model."""

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import assert_reloads_in_fresh_process
from zoo.inference import average_models, predict_tiled


def _members(n=2, shape=(32, 32, 1)):
    keras.utils.set_random_seed(0)
    return [zoo.sa_unet(shape, 1, filters=4, depth=2) for _ in range(n)]


def test_output_is_the_mean_of_the_members():
    members = _members(3)
    ensemble = average_models(members)
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    outputs = [m.predict(x, verbose=0) for m in members]
    assert not np.allclose(outputs[0], outputs[1])  # the members differ
    got = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(got, np.mean(outputs, axis=0), atol=1e-6)
    assert got.dtype == np.float32
    assert ensemble.count_params() == sum(m.count_params() for m in members)


def test_reloads_in_a_fresh_process(tmp_path):
    assert_reloads_in_fresh_process(average_models(_members()), tmp_path)


def test_predicts_whole_images_with_tiles():
    members = _members(2, shape=(None, None, 1))
    image = np.random.default_rng(1).random((40, 52, 1)).astype("float32")
    kwargs = {"tile_size": (32, 32), "overlap": 0.5}
    want = np.mean([predict_tiled(m, image, **kwargs) for m in members], axis=0)
    got = predict_tiled(average_models(members), image, **kwargs)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bad_members_are_refused():
    with pytest.raises(ValueError, match="at least 2 models"):
        average_models(_members(1))
    mixed = [*_members(1), zoo.sa_unet((32, 32, 3), 1, filters=4, depth=2)]
    with pytest.raises(ValueError, match="differ in input_shape"):
        average_models(mixed)
