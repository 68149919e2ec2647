"""SA-UNet (Guo et al., ICPR 2020) and the DropBlock layer, in 2D and 3D."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import ndimage

from tests.helpers import assert_fit_step
from zoo.layers import DropBlock
from zoo.sa_unet import sa_unet


def test_param_count_paper_drive_config():
    # Paper DRIVE config (authors' SA_UNet.py / Train_drive.py): 592x592x3 input,
    # 16 base filters, 3 poolings, 1 sigmoid output. The paper reports 0.54M
    # parameters; Keras counts 538,707 (incl. 2 x 49 spatial-attention weights).
    model = sa_unet()
    assert model.input_shape == (None, 592, 592, 3)
    assert model.count_params() == 538_707
    # DropBlock has no weights; 7 blocks x 2 conv units = 14 DropBlock layers.
    drops = [layer for layer in model.layers if isinstance(layer, DropBlock)]
    assert len(drops) == 14
    assert {(d.block_size, d.keep_prob) for d in drops} == {(7, 0.82)}


@pytest.mark.parametrize(
    "shape",
    [(48, 48, 1), (64, 64, 3), (96, 96, 1), (584, 568, 3), (None, None, 3)],
)
def test_output_shapes_2d(shape):
    model = sa_unet(shape, filters=4)
    assert model.output_shape == (None, *shape[:-1], 1)


def test_output_shapes_3d_and_classes():
    model = sa_unet((16, 24, 32, 1), 3, filters=4)
    assert model.output_shape == (None, 16, 24, 32, 3)
    assert model.get_layer("sa_unet_attention_conv").kernel.shape == (7, 7, 7, 2, 1)


def test_dynamic_size_runs_in_training_mode():
    model = sa_unet((None, None, 1), filters=4)
    x = np.random.default_rng(0).random((2, 40, 56, 1), dtype=np.float32)
    assert model(x, training=True).shape == (2, 40, 56, 1)


def test_dropout_zero_removes_dropblock():
    model = sa_unet((32, 32, 1), filters=4, dropout=0.0)
    assert not any(isinstance(layer, DropBlock) for layer in model.layers)
    assert model.count_params() == sa_unet((32, 32, 1), filters=4).count_params()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (50, 50, 3)}, "48 or 56"),
        ({"input_shape": (32, 3)}, "input_shape"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.5}, "dropout"),
        ({"block_size": 0}, "block_size"),
        ({"depth": 1}, "depth"),
        ({"filters": 0}, "filters"),
        ({"n_classes": 0}, "n_classes"),
        ({"attention_kernel_size": 0}, "attention_kernel_size"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_bad_args(kwargs, match):
    kwargs = {"input_shape": (32, 32, 1), **kwargs}
    with pytest.raises(ValueError, match=match):
        sa_unet(**kwargs)


def test_fit_step_3d():
    assert_fit_step(
        sa_unet((16, 16, 16, 1), 2, filters=4), loss="categorical_crossentropy"
    )


# --- DropBlock -------------------------------------------------------------------


def test_dropblock_identity_at_inference():
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    layer = DropBlock(7, 0.5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x, training=False)), x
    )


@pytest.mark.parametrize(
    ("shape", "block"),
    [((8, 64, 64, 4), 7), ((4, 24, 24, 24, 2), 5)],
)
def test_dropblock_training_drops_contiguous_blocks(shape, block):
    keep_prob = 0.9
    layer = DropBlock(block, keep_prob, seed=1)
    out = keras.ops.convert_to_numpy(layer(np.ones(shape, "float32"), training=True))
    kept = out != 0
    # Kept fraction near keep_prob (overlapping blocks and the borders, where
    # fewer centres reach, shift it by < 0.02), and the survivors are rescaled.
    assert abs(kept.mean() - keep_prob) < 0.025, kept.mean()
    np.testing.assert_allclose(out.mean(), 1.0, rtol=1e-5)
    assert np.unique(out).size == 2
    # The dropped region of every map is a union of whole block-size cubes: a
    # morphological opening with the block leaves it unchanged.
    cube = np.ones((block,) * (len(shape) - 2), bool)
    for sample in range(shape[0]):
        for channel in range(shape[-1]):
            dropped = ~kept[sample, ..., channel]
            opened = ndimage.binary_opening(dropped, structure=cube)
            np.testing.assert_array_equal(opened, dropped)
    assert (~kept).any()


def test_dropblock_clips_block_to_small_maps():
    # A 4x4 map with block 7: each map is kept or dropped whole.
    layer = DropBlock(7, 0.5, seed=3)
    out = keras.ops.convert_to_numpy(
        layer(np.ones((16, 4, 4, 8), "float32"), training=True)
    )
    per_map = (out != 0).reshape(16, 16, 8).mean(axis=1)
    assert set(np.unique(per_map)) <= {0.0, 1.0}
    assert 0.0 < per_map.mean() < 1.0


def test_dropblock_serializes():
    layer = DropBlock(5, 0.8, seed=7, name="db")
    config = layer.get_config()
    assert config["block_size"] == 5 and config["keep_prob"] == 0.8
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(clone, DropBlock)
    assert clone.get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"block_size": 0}, "block_size"), ({"keep_prob": 0.0}, "keep_prob")],
)
def test_dropblock_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DropBlock(**kwargs)
