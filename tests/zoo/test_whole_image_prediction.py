"""Whole-image prediction for the valid-padding U-Net (overlap-tile strategy)."""

import keras
import numpy as np
import pytest

import zoo
from zoo.inference import predict_tiled


@pytest.fixture(scope="module")
def small_valid_unet():
    keras.utils.set_random_seed(0)
    # Depth 3, aligned tile of 76 -> 36 output pixels (a 20-pixel border each side).
    return zoo.unet_original((None, None, 1), filters=(4, 8, 16))


def test_output_has_the_image_shape(small_valid_unet):
    image = np.random.default_rng(0).random((50, 83, 1)).astype("float32")
    probs = predict_tiled(small_valid_unet, image, tile_size=76)
    assert probs.shape == (50, 83, 1)
    assert np.all((probs >= 0) & (probs <= 1))


def test_tiles_reproduce_one_pass_over_the_mirror_padded_image():
    """Stitched tiles equal one forward pass on the reflect-padded image.

    Exact with transposed up-convolutions; the default up-sampling + "same" 2x2
    conv zero-pads each tile's last row/column (blended away with overlap).
    """
    keras.utils.set_random_seed(0)
    model = zoo.unet_original((None, None, 1), filters=(4, 8, 16), up_mode="transpose")
    rng = np.random.default_rng(1)
    image = rng.random((36 * 3, 36 * 2, 1)).astype("float32")
    margin = (76 - 36) // 2
    padded = np.pad(image, [(margin, margin), (margin, margin), (0, 0)], mode="reflect")
    one_pass = model.predict(padded[None], verbose=0)[0]
    assert one_pass.shape == image.shape
    tiled = predict_tiled(model, image, tile_size=76, overlap=0.0)
    np.testing.assert_allclose(tiled, one_pass, atol=1e-5)


def test_mirror_padding_is_used_at_the_border():
    """A valid 3x3 box filter sees mirrored pixels at the image border."""
    inputs = keras.Input((None, None, 1))
    outputs = keras.layers.Conv2D(
        1, 3, padding="valid", use_bias=False, kernel_initializer="ones"
    )(inputs)
    box = keras.Model(inputs, outputs)
    image = np.arange(25, dtype="float32").reshape(5, 5, 1)
    out = predict_tiled(box, image, tile_size=7, overlap=0.0, blending="constant")
    reflected = np.pad(image[..., 0], 1, mode="reflect")
    expected = sum(reflected[i : i + 5, j : j + 5] for i in range(3) for j in range(3))
    np.testing.assert_allclose(out[..., 0], expected, rtol=1e-6)


def test_fixed_size_model_predicts_any_image_size():
    model = zoo.unet_original((188, 188, 1), filters=(2, 2, 2, 2, 2))
    image = np.zeros((30, 70, 1), "float32")
    assert predict_tiled(model, image).shape == (30, 70, 1)


def test_bad_images_raise(small_valid_unet):
    with pytest.raises(ValueError, match="2D and takes a"):
        predict_tiled(small_valid_unet, np.zeros((8, 8, 8, 1)), tile_size=76)
    with pytest.raises(ValueError, match="1 input channels"):
        predict_tiled(small_valid_unet, np.zeros((8, 8, 3)), tile_size=76)
    with pytest.raises(ValueError, match="NaN"):
        predict_tiled(small_valid_unet, np.full((8, 8, 1), np.nan), tile_size=76)
    with pytest.raises(ValueError, match="tile_size"):
        predict_tiled(small_valid_unet, np.zeros((8, 8, 1)))


def test_margin_for_non_aligned_tiles_matches_aligned_tiles():
    """At a non-aligned tile size the border (not half the difference) is the margin."""
    keras.utils.set_random_seed(0)
    model = zoo.unet_original((None, None, 1), filters=(4, 8, 16), up_mode="transpose")
    image = np.random.default_rng(2).random((40, 40, 1)).astype("float32")
    reference = predict_tiled(model, image, tile_size=76, overlap=0.0)
    border = zoo.unet_original.border(3)
    assert border == 20
    odd = predict_tiled(model, image, tile_size=77, overlap=0.0, margin=border)
    np.testing.assert_allclose(odd, reference, atol=1e-5)
    with pytest.raises(ValueError, match="margin"):
        predict_tiled(model, image, tile_size=76, margin=(41, 41))


@pytest.mark.parametrize("tta", [False, True])
def test_batched_tiles_equal_one_tile_per_pass(tta):
    # 6 tiles: passes of 4 + 2 against 6 passes of 1 (BN in inference mode).
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), depth=3, filters=4)
    image = np.random.default_rng(1).random((53, 40, 1)).astype("float32")
    batched = predict_tiled(model, image, tta=tta, batch_size=4)
    single = predict_tiled(model, image, tta=tta, batch_size=1)
    assert batched.dtype == single.dtype == np.float32
    assert np.abs(batched - single).max() <= 1e-5
