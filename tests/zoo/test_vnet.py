"""Tests of the V-Net family: vnet, vnet_3d, vnet3d_depthwise, vnet3d."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.layers import LinearUpSampling

# The SPEC / ARCHITECTURES.md call of the 3D V-Net and its depthwise twin.
SPEC_3D = {
    "n_classes": 1,
    "kernel_size": 3,
    "depth": 5,
    "norm": "batch",
    "up_mode": "upsample",
}

# Tiny configurations: fast to build, fit and reload on CPU.
TINY = {
    "vnet": ((32, 32, 1), {"filters": 4, "depth": 3, "kernel_size": 3}),
    "vnet_3d": ((16, 16, 16, 1), {"filters": 4, "depth": 3, "kernel_size": 3}),
    "vnet3d_depthwise": ((16, 16, 16, 1), {"filters": 4, "depth": 3}),
    "vnet3d": ((16, 16, 16, 1), {"filters": 4, "depth": 3}),
}


def tiny(model_name: str, input_shape=None, n_classes: int = 1, **kwargs):
    shape, options = TINY[model_name]
    return zoo.get(model_name)(input_shape or shape, n_classes, **{**options, **kwargs})


# --------------------------------------------------------------- parameter counts
@functools.cache
def count_params(builder: str, args: tuple, kwargs: tuple) -> int:
    """Parameter count of a (large) reference model, built once per session."""
    model = zoo.get(builder)(*args, **dict(kwargs))
    count = model.count_params()
    del model
    keras.backend.clear_session()
    return count


@pytest.mark.parametrize(
    ("builder", "args", "kwargs", "expected"),
    [
        # ARCHITECTURES.md §3: 13,285,681 + 198*H*W, (256,256,1) gives 26,261,809.
        ("vnet", ((256, 256, 1),), {}, 26_261_809),
        # SPEC.md's "vnet_3d" and "vnet3d_depthwise" calls are the registry's
        # references, pinned by tests/zoo/test_all_models.py.
        # ARCHITECTURES.md §4: reference defaults (2 classes, k 5, transposed conv).
        ("vnet_3d", ((128, 128, 128, 1), 2), {}, 65_182_802),
        # ARCHITECTURES.md §6: depth 5 (base filters 16).
        ("vnet3d", (), {"depth": 5}, 1_361_061),
    ],
)
def test_reference_parameter_counts(builder, args, kwargs, expected):
    assert count_params(builder, args, tuple(kwargs.items())) == expected


def test_depthwise_has_far_fewer_parameters_than_standard():
    spec = tuple(SPEC_3D.items())
    standard = count_params("vnet_3d", ((128, 128, 128, 1),), spec)
    depthwise = count_params("vnet3d_depthwise", ((128, 128, 128, 1),), spec)
    assert standard / depthwise >= 20  # 14,324,241 / 487,601 = 29.4


# ------------------------------------------------------------------ output shapes
@pytest.mark.parametrize(
    ("model_name", "input_shape", "n_classes"),
    [
        ("vnet", (32, 32, 1), 1),
        ("vnet", (48, 64, 3), 4),
        ("vnet", (16, 40, 16), 2),
        ("vnet_3d", (16, 16, 16, 1), 1),
        ("vnet_3d", (8, 24, 32, 2), 3),
        ("vnet_3d", (None, None, None, 1), 1),
        ("vnet3d_depthwise", (16, 16, 16, 1), 1),
        ("vnet3d_depthwise", (24, 8, 16, 2), 2),
        ("vnet3d", (16, 16, 16, 1), 1),
        ("vnet3d", (8, 16, 24, 3), 3),
        ("vnet3d", (None, None, None, 1), 2),
    ],
)
def test_output_shape(model_name, input_shape, n_classes):
    model = tiny(model_name, input_shape, n_classes)
    assert model.output_shape == (None, *input_shape[:-1], n_classes)
    assert all(layer.name.startswith(f"{model_name}_") for layer in model.layers)


def test_dynamic_spatial_sizes_run():
    model = tiny("vnet_3d", (None, None, None, 1), up_mode="upsample")
    out = model.predict(np.zeros((1, 8, 16, 24, 1), "float32"), verbose=0)
    assert out.shape == (1, 8, 16, 24, 1)


@pytest.mark.parametrize("model_name", ["vnet", "vnet_3d"])
def test_heads(model_name):
    x = np.random.default_rng(0).random((1, *TINY[model_name][0]), dtype=np.float32)
    probs = tiny(model_name, n_classes=3).predict(x, verbose=0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    keras.utils.set_random_seed(4)
    logits = tiny(model_name, output_activation=None).predict(x, verbose=0)
    keras.utils.set_random_seed(4)
    sigmoid = tiny(model_name).predict(x, verbose=0)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-logits)), atol=1e-5)


@pytest.mark.parametrize("model_name", ["vnet", "vnet3d_depthwise"])
def test_mixed_precision_outputs_float32(model_name):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny(model_name)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.layers[1].compute_dtype == "float16"
    assert model.output.dtype == "float32"


def test_vnet_stage1_broadcasts_a_one_channel_input():
    model = zoo.vnet((32, 32, 1), filters=4, depth=2, kernel_size=3)
    add = model.get_layer("vnet_enc0_add")
    stage = keras.Model(model.input, [add.input[0], add.output])
    x = np.random.default_rng(1).random((1, 32, 32, 1), dtype=np.float32)
    y, out = stage.predict(x, verbose=0)
    np.testing.assert_allclose(out, y + x, rtol=1e-6)  # x broadcast over channels
    wide = zoo.vnet((32, 32, 2), filters=4, depth=2, kernel_size=3)
    assert wide.get_layer("vnet_enc0_add_pad").channels == 4  # zero-padded


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("model_name", "input_shape", "match"),
    [
        ("vnet", (30, 32, 1), "multiple of 4. Nearest valid sizes: 28 or 32"),
        ("vnet", (None, 32, 1), "known spatial sizes"),
        ("vnet", (32, 32, 32, 1), "input_shape"),
        ("vnet_3d", (16, 18, 16, 1), "multiple of 4. Nearest valid sizes: 16 or 20"),
        ("vnet3d_depthwise", (16, 16, 18, 1), "Nearest valid sizes: 16 or 20"),
        ("vnet3d", (16, 16, 1), "input_shape"),
    ],
)
def test_invalid_input_size(model_name, input_shape, match):
    with pytest.raises(ValueError, match=match):
        tiny(model_name, input_shape)


@pytest.mark.parametrize(
    ("model_name", "kwargs", "match"),
    [
        ("vnet", {"kernel_size": 4}, "kernel_size"),
        ("vnet_3d", {"kernel_size": 0}, "kernel_size"),
        ("vnet3d_depthwise", {"kernel_size": 2}, "kernel_size"),
        ("vnet", {"depth": 1}, "depth"),
        ("vnet_3d", {"filters": 0}, "filters"),
        ("vnet3d", {"filters": 6}, "filters"),
        ("vnet3d", {"depth": 6}, "depth"),
        ("vnet3d_depthwise", {"output_activation": "relu"}, "output_activation"),
    ],
)
def test_bad_arguments(model_name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny(model_name, **kwargs)


def test_bad_n_classes():
    with pytest.raises(ValueError, match="n_classes"):
        tiny("vnet_3d", n_classes=0)


# --------------------------------------------------------- trilinear up-sampling
def _np_linear_upsample(x: np.ndarray, size) -> np.ndarray:
    """Independent half-pixel separable linear interpolation (align_corners off)."""
    for axis, factor in enumerate(size, start=1):
        n = x.shape[axis]
        src = (np.arange(n * factor) + 0.5) / factor - 0.5
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        w_shape = [1] * x.ndim
        w_shape[axis] = -1
        w = (src - lo).reshape(w_shape)
        x = np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w
    return x


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((2, 5, 7, 3), (2, 2)),
        ((1, 4, 6, 2), (3, 1)),
        ((2, 3, 5, 4, 2), (2, 2, 2)),
        ((1, 4, 4, 3, 1), (2, 2, 1)),
        ((1, 2, 3, 4, 2), (1, 3, 4)),
    ],
)
def test_linear_upsampling_matches_numpy_reference(shape, size):
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    got = keras.ops.convert_to_numpy(LinearUpSampling(size)(x))
    np.testing.assert_allclose(got, _np_linear_upsample(x, size), atol=1e-5)


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (4, 4)])
def test_linear_upsampling_matches_tf_image_resize_bilinear(size):
    x = np.random.default_rng(3).standard_normal((2, 6, 5, 3)).astype("float32")
    target = (x.shape[1] * size[0], x.shape[2] * size[1])
    want = tf.image.resize(x, target, method="bilinear").numpy()
    got = keras.ops.convert_to_numpy(LinearUpSampling(size)(x))
    np.testing.assert_allclose(got, want, atol=1e-5)


# ----------------------------------------------------------------------- training
def _blobs(n: int, size: int, seed: int = 0):
    """Volumes with one bright noisy ball each and the ball's mask as label."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), -1)
    xs, ys = [], []
    for _ in range(n):
        centre = rng.uniform(size * 0.3, size * 0.7, 3)
        radius = rng.uniform(size * 0.15, size * 0.3)
        mask = (np.linalg.norm(grid - centre, axis=-1) < radius).astype("float32")
        xs.append(mask + 0.3 * rng.standard_normal(mask.shape))
        ys.append(mask)
    return (
        np.asarray(xs, "float32")[..., None],
        np.asarray(ys, "float32")[..., None],
    )


def test_one_epoch_on_3d_blobs_lowers_the_loss():
    keras.utils.set_random_seed(0)
    x, y = _blobs(8, 16)
    # Per-sample normalisation (norm="sample"): no moving statistics, so the
    # inference-mode loss reflects the training at once.
    model = zoo.vnet_3d(
        (16, 16, 16, 1),
        filters=4,
        kernel_size=3,
        depth=3,
        norm="sample",
        up_mode="upsample",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss="binary_crossentropy",
        run_eagerly=True,
    )
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("builder", ["vnet_3d", "vnet3d_depthwise", "unet3d"])
@pytest.mark.parametrize("flag", ["bn", "deconv"])
def test_boolean_flags_must_be_bools(builder, flag):
    with pytest.raises(ValueError, match=flag):
        getattr(zoo, builder)((16, 16, 16, 1), **{flag: "False"})
