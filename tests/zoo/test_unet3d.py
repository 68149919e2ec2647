"""Tests of the volumetric U-Nets: unet3d and unet25d."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import assert_fit_step

TINY = {
    "unet3d": ((16, 16, 16, 1), {"filters": 4, "depth": 3}),
    "unet25d": ((32, 32, 5, 1), {"filters": 4}),
}


def tiny(model_name: str, input_shape=None, n_classes: int = 1, **kwargs):
    shape, options = TINY[model_name]
    return zoo.get(model_name)(input_shape or shape, n_classes, **{**options, **kwargs})


@functools.cache
def count_params(builder: str, args: tuple, kwargs: tuple) -> int:
    """Parameter count of a (large) reference model, built once per session."""
    count = zoo.get(builder)(*args, **dict(kwargs)).count_params()
    keras.backend.clear_session()
    return count


@pytest.mark.parametrize(
    ("builder", "args", "kwargs", "expected"),
    [
        # The defaults (SPEC.md "unet3d") are pinned by tests/zoo/test_all_models.py.
        # ARCHITECTURES.md §7: the reference's defaults (no BN, nearest up-sampling).
        (
            "unet3d",
            ((128, 128, 128, 1),),
            {"norm": None, "up_mode": "upsample"},
            16_315_585,
        ),
    ],
)
def test_reference_parameter_counts(builder, args, kwargs, expected):
    assert count_params(builder, args, tuple(kwargs.items())) == expected


@pytest.mark.parametrize(
    ("model_name", "input_shape", "n_classes", "kwargs"),
    [
        ("unet3d", (16, 16, 16, 1), 1, {}),
        ("unet3d", (8, 24, 32, 2), 3, {"norm": "batch", "up_mode": "transpose"}),
        (
            "unet3d",
            (None, None, None, 1),
            2,
            {"up_mode": "upsample", "interpolation": "linear"},
        ),
        ("unet25d", (32, 32, 5, 1), 1, {}),
        ("unet25d", (16, 48, 1, 2), 2, {}),
        ("unet25d", (32, 16, 4, 1), 1, {}),
        ("unet25d", (16, 16, 7, 1), 3, {}),
        ("unet25d", (None, None, 3, 1), 1, {}),
    ],
)
def test_output_shape(model_name, input_shape, n_classes, kwargs):
    model = tiny(model_name, input_shape, n_classes, **kwargs)
    assert model.output_shape == (None, *input_shape[:-1], n_classes)
    assert all(layer.name.startswith(f"{model_name}_") for layer in model.layers)


def test_unet25d_pads_and_crops_slices_only_when_needed():
    odd = tiny("unet25d", (16, 16, 5, 1))  # 5 -> 3 -> 2 slices: pad at both levels
    names = {layer.name for layer in odd.layers}
    assert {"unet25d_dec3_pad", "unet25d_dec3_crop"} <= names
    assert {"unet25d_dec2_pad", "unet25d_dec2_crop"} <= names
    even = tiny("unet25d", (16, 16, 4, 1))  # 4 -> 2 -> 1: no padding
    assert not any(layer.name.endswith("_pad") for layer in even.layers)
    x = np.random.default_rng(0).random((1, 16, 16, 5, 1), dtype=np.float32)
    assert odd.predict(x, verbose=0).shape == (1, 16, 16, 5, 1)


def test_unet3d_second_conv_doubles_channels():
    model = zoo.unet3d((16, 16, 16, 1), filters=4, depth=3)
    widths = [model.get_layer(f"unet3d_enc{i}_{j}_conv").filters for i in range(3)
              for j in range(2)]  # fmt: skip
    assert widths == [4, 8, 8, 16, 16, 32]


@pytest.mark.parametrize(
    ("model_name", "input_shape", "match"),
    [
        ("unet3d", (16, 16, 14, 1), "multiple of 4. Nearest valid sizes: 12 or 16"),
        ("unet3d", (16, 16, 1), "input_shape"),
        ("unet25d", (40, 32, 5, 1), "multiple of 16. Nearest valid sizes: 32 or 48"),
        ("unet25d", (32, 32, None, 1), "slice count"),
    ],
)
def test_invalid_input_size(model_name, input_shape, match):
    with pytest.raises(ValueError, match=match):
        tiny(model_name, input_shape)


@pytest.mark.parametrize(
    ("model_name", "kwargs", "match"),
    [
        ("unet3d", {"depth": 1}, "depth"),
        ("unet3d", {"filters": 0}, "filters"),
        ("unet3d", {"interpolation": "cubic"}, "interpolation"),
        (
            "unet3d",
            {"up_mode": "transpose", "interpolation": "linear"},
            "interpolation",
        ),
        ("unet3d", {"n_classes": 0}, "n_classes"),
        ("unet25d", {"filters": -1}, "filters"),
        ("unet25d", {"output_activation": "tanh"}, "output_activation"),
    ],
)
def test_bad_arguments(model_name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(model_name, **kwargs)


@pytest.mark.parametrize("model_name", sorted(TINY))
def test_heads(model_name):
    x = np.random.default_rng(1).random((1, *TINY[model_name][0]), dtype=np.float32)
    probs = tiny(model_name, n_classes=3).predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    keras.utils.set_random_seed(2)
    logits = tiny(model_name, output_activation=None).predict(x, verbose=0)
    keras.utils.set_random_seed(2)
    sigmoid = tiny(model_name).predict(x, verbose=0)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-logits)), atol=1e-5)


def test_mixed_precision_outputs_float32():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny("unet25d")
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("unet25d_enc0_0_conv").compute_dtype == "float16"
    assert model.output.dtype == "float32"


@pytest.mark.parametrize(
    ("model_name", "kwargs"),
    [
        ("unet3d", {}),
        ("unet3d", {"norm": "instance", "up_mode": "transpose"}),
        ("unet25d", {}),
    ],
)
def test_fit_step(model_name, kwargs):
    # Eager: tracing the training graph costs far more than a tiny step.
    assert_fit_step(tiny(model_name, **kwargs), run_eagerly=True)
