import inspect
import json

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import assert_fit_step, assert_reloads_in_fresh_process
from zoo.unet import output_size


# Ronneberger et al. 2015 config, 572x572x1 input; SPEC.md / ARCHITECTURES.md section 1.
@pytest.mark.parametrize(("n_classes", "count"), [(1, 31_030_593), (2, 31_030_658)])
def test_unet_original_paper_parameter_count(n_classes, count):
    model = zoo.unet_original((572, 572, 1), n_classes)
    assert model.count_params() == count
    assert model.output_shape == (None, 388, 388, n_classes)


def test_transposed_up_convolutions_keep_the_paper_count():
    model = zoo.unet_original((572, 572, 1), up_mode="transpose")
    assert model.count_params() == 31_030_593


def test_unet_original_256_gives_68():
    assert zoo.unet_original((256, 256, 1)).output_shape == (None, 68, 68, 1)


# ARCHITECTURES.md section 2: verified counts at 256x256x1, 1 output.
@pytest.mark.parametrize(
    ("depth", "count"), [(5, 31_054_145), (4, 7_707_457), (3, 1_866_817)]
)
def test_unet_padding_parameter_counts(depth, count):
    model = zoo.unet_padding((256, 256, 1), depth=depth)
    assert model.count_params() == count
    assert model.output_shape == (None, 256, 256, 1)


@pytest.mark.parametrize(
    ("size", "expected"), [(572, 388), (256, 68), (188, 4), (252, 68)]
)
def test_output_size_helper(size, expected):
    assert zoo.unet_original.output_size(size) == expected


def test_valid_size_helpers_agree_with_built_models():
    for size in (188, 189, 200, 233, 301):
        model = zoo.unet_original((size, size + 16, 1), filters=(2, 2, 2, 2, 2))
        assert model.output_shape[1:3] == (output_size(size), output_size(size + 16))
    assert zoo.unet_original.input_size_for_output(388) == 572
    assert (
        zoo.unet_original.output_size(zoo.unet_original.input_size_for_output(100))
        >= 100
    )
    assert zoo.unet_original.nearest_valid_input_size(570) == 572
    assert zoo.unet_original.is_aligned_input_size(572)
    assert not zoo.unet_original.is_aligned_input_size(256)  # pools a 57-pixel map
    assert zoo.unet_original.is_valid_input_size(256)


@pytest.mark.parametrize("size", [100, 187, 20])
def test_unet_original_rejects_sizes_the_valid_convs_cannot_take(size):
    with pytest.raises(ValueError, match=r"not valid.*Nearest valid input sizes: 188"):
        zoo.unet_original((size, size, 1))


def test_center_crop_odd_and_even_surplus():
    """With an odd surplus the extra pixel is cropped on the bottom/right."""
    layer = zoo.layers.CenterCropToMatch()
    x = np.arange(7 * 6, dtype="float32").reshape(1, 7, 6, 1)
    odd = np.asarray(layer([x, np.zeros((1, 4, 4, 1), "float32")]))
    np.testing.assert_array_equal(odd[0, :, :, 0], x[0, 1:5, 1:5, 0])
    even = np.asarray(layer([x, np.zeros((1, 5, 2, 1), "float32")]))
    np.testing.assert_array_equal(even[0, :, :, 0], x[0, 1:6, 2:4, 0])


def test_unet_original_builds_with_an_odd_pool_input():
    # 256 -> level-3 map of 57 pixels: floor pooling, then an odd crop of the skip.
    model = zoo.unet_original((256, 256, 1), filters=(2, 2, 2, 2, 2))
    assert model.predict(np.zeros((1, 256, 256, 1)), verbose=0).shape == (1, 68, 68, 1)


def test_unet_original_accepts_dynamic_sizes():
    model = zoo.unet_original((None, None, 1), filters=(4, 8, 16))
    assert model.predict(np.zeros((1, 76, 92, 1)), verbose=0).shape == (
        1,
        output_size(76, 3),
        output_size(92, 3),
        1,
    )


def test_unet_padding_rejects_sizes_not_divisible():
    with pytest.raises(
        ValueError, match=r"multiple of 16.*Nearest valid sizes: 96 or 112"
    ):
        zoo.unet_padding((100, 96, 1), depth=5)


@pytest.mark.parametrize(
    ("builder", "kwargs", "match"),
    [
        (zoo.unet_original, {"input_shape": (572, 572)}, "input_shape"),
        (
            zoo.unet_original,
            {"input_shape": (572, 572, 1), "filters": (64,)},
            "filters",
        ),
        (zoo.unet_original, {"input_shape": (572, 572, 1), "dropout": 1.5}, "dropout"),
        (
            zoo.unet_original,
            {"input_shape": (572, 572, 1), "padding": "full"},
            "padding",
        ),
        (zoo.unet_original, {"input_shape": (572, 572, 1), "up_mode": "x"}, "up_mode"),
        (
            zoo.unet_original,
            {"input_shape": (572, 572, 1), "n_classes": 0},
            "n_classes",
        ),
        (zoo.unet_padding, {"depth": 1}, "depth"),
        (zoo.unet_padding, {"filters": 0}, "filters"),
        (zoo.unet_padding, {"output_activation": "tanh"}, "output_activation"),
        (zoo.unet_padding, {"input_shape": (64, 64, 64, 1)}, "input_shape"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_output_activations():
    x = np.random.default_rng(0).random((1, 32, 32, 1)).astype("float32")
    soft = zoo.unet_padding((32, 32, 1), 3, depth=3, filters=4)
    probs = soft.predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    logits = zoo.unet_padding(
        (32, 32, 1), 1, depth=3, filters=4, output_activation=None
    )
    assert logits.layers[-1].get_config()["activation"] == "linear"
    assert logits.output.dtype == "float32"


def test_residual_unet_padding_has_same_shape():
    model = zoo.unet_padding((32, 32, 3), 2, depth=3, filters=4, residual=True)
    assert model.output_shape == (None, 32, 32, 2)


def test_training_lowers_the_loss_on_synthetic_vessels():
    from data_pipelines.synthetic import make_2d_dataset

    keras.utils.set_random_seed(0)
    x, y = make_2d_dataset(8, (32, 32), seed=3)
    model = zoo.unet_padding((32, 32, 1), depth=3, filters=8)
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, batch_size=8, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


@pytest.mark.parametrize(
    "build",
    [
        lambda: zoo.unet_original((76, 76, 1), filters=(4, 8, 16)),
        lambda: zoo.unet_padding((32, 32, 1), 2, depth=3, filters=4, residual=True),
    ],
    ids=["unet_original", "unet_padding"],
)
def test_fit_step_and_fresh_process_round_trip(build, tmp_path):
    model = build()
    assert_fit_step(model)
    assert_reloads_in_fresh_process(model, tmp_path)


def test_registry():
    assert {"unet_original", "unet_padding"} <= set(zoo.list_models())
    assert zoo.get("unet_original") is zoo.unet_original
    from zoo import unet_padding

    assert zoo.get("unet_padding") is unet_padding
    with pytest.raises(ValueError, match="Valid names: .*unet_original"):
        zoo.get("unet_4d")


def test_every_public_builder_is_registered():
    """A builder is a public function whose first parameter is ``input_shape``."""
    for name in zoo.__all__:
        obj = getattr(zoo, name)
        params = (
            list(inspect.signature(obj).parameters) if inspect.isfunction(obj) else []
        )
        if params[:1] == ["input_shape"]:
            assert zoo.get(name) is obj, name
    for name in zoo.list_models():
        assert getattr(zoo, name) is zoo.get(name)


def test_config_is_json_stable():
    model = zoo.unet_padding((32, 32, 1), depth=3, filters=4)
    clone = keras.Model.from_config(model.get_config())
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(
        model.get_config(), sort_keys=True
    )


def test_skips_stay_aligned_when_pooling_drops_a_pixel():
    """Output pixel j sits over input pixel j + 92 at aligned and odd sizes alike."""
    assert zoo.unet_original.skip_offsets() == [88, 40, 16, 4]
    assert zoo.unet_original.border() == 92
    keras.utils.set_random_seed(0)
    filters = (2, 2, 2, 2, 2)
    aligned = zoo.unet_original((252, 252, 1), filters=filters)
    odd = zoo.unet_original((257, 254, 1), filters=filters)  # pools 57/61-pixel maps
    odd.set_weights(aligned.get_weights())
    x = np.random.default_rng(0).random((1, 257, 254, 1)).astype("float32")
    small = aligned.predict(x[:, :252, :252], verbose=0)
    large = odd.predict(x, verbose=0)
    np.testing.assert_allclose(large[:, :68, :68], small, atol=1e-5)
    reloaded = keras.Model.from_config(odd.get_config())
    assert reloaded.get_layer("unet_original_concat0_crop").offset == (88, 88)
