"""Tests of zoo/backboned_unet.py: backboned, fine-grained and branch2 U-Nets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_fit_step, assert_reloads_in_fresh_process
from zoo.backboned_unet import backboned_unet, branch2_unet, fine_grained_unet
from zoo.backbones import (
    BACKBONES,
    adapt_input_kernel,
    build_encoder,
    darknet52_encoder,
)
from zoo.layers import BilinearKernel, LinearUpSampling, PadChannels

# Tiny widths for the encoders built here (darknet52, orig_unet).
TINY = {"encoder_filters": 4, "decoder_filters": (8, 8, 4, 4, 4), "centre_filters": 8}


def _run(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Direct call: no ``predict`` graph tracing, which dominates on tiny inputs."""
    return keras.ops.convert_to_numpy(model(x, training=False))


# Parameter counts at (256, 256, 1) -> 1 output.
REFERENCE_COUNTS = {
    # ARCHITECTURES §9 / SPEC "Derived U-Nets", verified counts of the reference.
    "resnet50": 31_257_601,
    "vgg16": 20_707_585,
    "darknet52": 42_548_321,
    # ARCHITECTURES §9: computed from the text (no reference figure).
    "orig_unet": 28_328_705,
    # No reference: regression values measured with Keras 3.15 applications.
    "efficientnetb0": 7_048_384,
    "mobilenetv2": 5_035_065,
    "convnext_tiny": 28_901_153,
}


@pytest.mark.parametrize("backbone", sorted(REFERENCE_COUNTS))
def test_reference_count_and_skip_layers(backbone):
    model = backboned_unet((256, 256, 1), backbone=backbone)
    assert model.count_params() == REFERENCE_COUNTS[backbone]
    assert model.output_shape == (None, 256, 256, 1)
    encoder = model.get_layer("backboned_unet_encoder")
    skips = BACKBONES[backbone].skips
    # Every skip layer exists in the built encoder, skips sit at strides
    # 16, 8, 4, 2, 1 (deepest first) and the bottom at stride 32.
    for skip in skips:
        encoder.get_layer(skip)
    strides = [256 // t.shape[1] for t in encoder.outputs]
    assert strides == [16, 8, 4, 2, 1][: len(skips)] + [32]
    assert all(layer.name.startswith("backboned_unet_") for layer in model.layers)


@pytest.mark.parametrize(
    ("backbone", "expected"),
    # ARCHITECTURES §10: §9 count - head + both heads (computed).
    [("resnet50", 31_257_891), ("darknet52", 42_548_611)],
)
def test_fine_grained_reference_count(backbone, expected):
    model = fine_grained_unet((256, 256, 1), backbone=backbone)
    assert model.count_params() == expected
    assert [o.shape for o in model.outputs] == [
        (None, 256, 256, 2),
        (None, 256, 256, 1),
    ]
    assert model.output_names == [
        "fine_grained_unet_orig_branch",
        "fine_grained_unet_roi_branch",
    ]


def test_branch2_reference_count():
    # ARCHITECTURES §11: orig_unet, (512, 512, 2) -> 4 outputs (computed).
    model = branch2_unet((512, 512, 2), 4)
    assert model.count_params() == 28_331_142
    assert model.output_shape == (None, 512, 512, 4)
    assert model.get_layer("branch2_unet_branch_up").kernel.shape == (8, 8, 1, 1)


@pytest.mark.parametrize(
    ("backbone", "shape"),
    [
        ("orig_unet", (32, 32, 1)),
        ("darknet52", (64, 96, 3)),
        ("orig_unet", (None, None, 2)),
    ],
)
def test_output_shapes(backbone, shape):
    model = backboned_unet(shape, 3, backbone=backbone, **TINY)
    assert model.output_shape == (None, *shape[:2], 3)
    size = (64, 32) if shape[0] is None else shape[:2]
    x = np.random.default_rng(0).random((1, *size, shape[-1]), dtype=np.float32)
    out = _run(model, x)
    assert out.shape == (*x.shape[:3], 3)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)  # softmax for 3


def test_application_backbone_with_four_channels():
    # One channel: the reference counts and the weights tests build it.
    channels = 4
    model = backboned_unet((32, 32, channels), 2, backbone="resnet50")
    encoder = model.get_layer("backboned_unet_encoder")
    assert encoder.get_layer("conv1_conv").kernel.shape == (7, 7, channels, 64)
    x = np.random.default_rng(0).random((1, 32, 32, channels), dtype=np.float32)
    assert _run(model, x).shape == (1, 32, 32, 2)


def test_adapt_input_kernel():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 5))
    np.testing.assert_allclose(adapt_input_kernel(kernel, 1)[..., 0, :], kernel.sum(2))
    four = adapt_input_kernel(kernel, 4)
    np.testing.assert_allclose(four[..., :3, :], kernel * 0.75)
    np.testing.assert_allclose(four[..., 3, :], kernel[..., 0, :] * 0.75)
    np.testing.assert_allclose(adapt_input_kernel(kernel, 3), kernel)
    with pytest.raises(ValueError, match="kernel"):
        adapt_input_kernel(kernel[..., :2, :], 1)


def test_local_weights_adapted_to_grey_input(tmp_path):
    rgb = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "resnet50_rgb.weights.h5"
    rgb.save_weights(path)
    rgb_kernel = rgb.get_layer("conv1_conv").kernel.numpy()

    grey = backboned_unet((32, 32, 1), backbone="resnet50", encoder_weights=path)
    encoder = grey.get_layer("backboned_unet_encoder")
    np.testing.assert_allclose(
        encoder.get_layer("conv1_conv").kernel.numpy()[..., 0, :],
        rgb_kernel.sum(axis=2),
        rtol=1e-5,
        atol=1e-6,
    )
    for layer in ("conv1_conv", "conv5_block3_3_conv", "conv5_block3_3_bn"):
        want = rgb.get_layer(layer).get_weights()[-1]
        np.testing.assert_array_equal(encoder.get_layer(layer).get_weights()[-1], want)

    same = backboned_unet((32, 32, 3), backbone="resnet50", encoder_weights=str(path))
    np.testing.assert_array_equal(
        same.get_layer("backboned_unet_encoder").get_layer("conv1_conv").kernel.numpy(),
        rgb_kernel,
    )


def test_local_weights_adapted_to_four_channels(tmp_path):
    # EfficientNet also has per-channel input statistics (a Normalization layer).
    rgb = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    norm = next(layer for layer in rgb.layers if layer.name.startswith("normalization"))
    norm.set_weights(
        [np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), np.ones(())]
    )
    path = tmp_path / "effnet_rgb.weights.h5"
    rgb.save_weights(path)

    model = backboned_unet((32, 32, 4), backbone="efficientnetb0", encoder_weights=path)
    encoder = model.get_layer("backboned_unet_encoder")
    stem = encoder.get_layer("stem_conv").kernel.numpy()
    want = rgb.get_layer("stem_conv").kernel.numpy()
    np.testing.assert_allclose(stem[..., 3, :], want[..., 0, :] * 0.75, rtol=1e-6)
    adapted = next(x for x in encoder.layers if x.name.startswith("normalization"))
    np.testing.assert_allclose(adapted.get_weights()[0], [1.0, 2.0, 3.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (100, 100, 1)}, "96 or 128"),
        ({"input_shape": (64, 64)}, "input_shape"),
        ({"backbone": "resnet18"}, "backbone"),
        ({"encoder_weights": "imagenet"}, "encoder_weights"),
        ({"backbone": "darknet52", "encoder_weights": __file__}, "encoder_weights"),
        ({"encoder_filters": 8}, "encoder_filters"),
        ({"backbone": "orig_unet", "encoder_filters": 0}, "encoder_filters"),
        ({"decoder_filters": (8, 8)}, "decoder_filters"),
        ({"centre_filters": 0}, "centre_filters"),
        ({"n_classes": 0}, "n_classes"),
        ({"output_activation": "tanh"}, "output_activation"),
    ],
)
def test_backboned_unet_rejects_bad_arguments(kwargs, match):
    kwargs = {"input_shape": (64, 64, 1), **kwargs}
    with pytest.raises(ValueError, match=match):
        backboned_unet(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_classes": 4, "branch_channel": 4}, "branch_channel"),
        ({"branch_channel": -1}, "branch_channel"),
        ({"branch_level": 5}, "branch_level"),
        ({"input_shape": (48, 48, 1)}, "32 or 64"),
    ],
)
def test_branch2_rejects_bad_arguments(kwargs, match):
    kwargs = {"input_shape": (64, 64, 1), **kwargs}
    with pytest.raises(ValueError, match=match):
        branch2_unet(**kwargs)


@pytest.mark.parametrize("n_classes", [(2,), (2, 0), 3])
def test_fine_grained_rejects_bad_n_classes(n_classes):
    with pytest.raises(ValueError, match="n_classes"):
        fine_grained_unet((64, 64, 1), n_classes, backbone="orig_unet", **TINY)


@pytest.mark.parametrize("branch_channel", [0, 2])
def test_branch2_branch_feeds_only_its_channel(branch_channel):
    model = branch2_unet(
        (32, 32, 1),
        3,
        branch_channel=branch_channel,
        output_activation=None,
        **TINY,
    )
    x = np.random.default_rng(0).random((2, 32, 32, 1), dtype=np.float32)
    before = _run(model, x)
    conv = model.get_layer("branch2_unet_branch_conv")
    kernel = np.random.default_rng(1).normal(size=conv.kernel.shape)
    conv.set_weights([kernel, np.ones(conv.bias.shape)])
    after = _run(model, x)
    changed = np.abs(after - before).max(axis=(0, 1, 2))
    assert changed[branch_channel] > 1e-3
    others = [c for c in range(3) if c != branch_channel]
    np.testing.assert_array_equal(changed[others], 0.0)


def test_branch2_silent_branch_equals_head():
    # The branch's 1x1 conv is zero-initialised: it starts silent.
    model = branch2_unet((32, 32, 1), 4, output_activation=None, **TINY)
    head = keras.Model(model.input, model.get_layer("branch2_unet_head").output)
    x = np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(_run(model, x), _run(head, x))


def test_bilinear_kernel_is_linear_upsampling():
    layer = keras.layers.Conv2DTranspose(
        2, 8, strides=4, padding="same", kernel_initializer=BilinearKernel()
    )
    x = np.random.default_rng(0).random((1, 6, 5, 2), dtype=np.float32)
    up = keras.ops.convert_to_numpy(layer(x))
    want = keras.ops.convert_to_numpy(LinearUpSampling((4, 4))(x))
    # Exact away from the 2-pixel border (where the transposed conv sees zeros).
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], want[:, 2:-2, 2:-2], atol=1e-6)
    taps = layer.kernel.numpy()[:, 3, 0, 0] / layer.kernel.numpy()[3, 3, 0, 0]
    np.testing.assert_allclose(taps * 0.875, [1, 3, 5, 7, 7, 5, 3, 1] / np.float32(8))
    np.testing.assert_array_equal(layer.kernel.numpy()[..., 0, 1], 0.0)
    config = keras.initializers.serialize(BilinearKernel())
    assert isinstance(keras.initializers.deserialize(config), BilinearKernel)


def test_pad_channels():
    x = np.ones((1, 2, 2, 1), np.float32)
    out = keras.ops.convert_to_numpy(PadChannels(2, 1)(x))
    np.testing.assert_array_equal(out[0, 0, 0], [0, 0, 1, 0])
    assert PadChannels.from_config(PadChannels(2, 1).get_config()).before == 2
    with pytest.raises(ValueError, match="after"):
        PadChannels(0, -1)


def test_encoder_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match="backbone"):
        build_encoder((32, 32, 1), "resnet101")
    with pytest.raises(ValueError, match="32 or 64"):
        darknet52_encoder((40, 40, 1))
    with pytest.raises(ValueError, match="filters"):
        darknet52_encoder((32, 32, 1), filters=0)


def test_build_encoder_outputs():
    encoder = build_encoder((64, 64, 2), "darknet52", encoder_filters=4)
    assert [tuple(t.shape[1:]) for t in encoder.outputs] == [
        (4, 4, 32),
        (8, 8, 16),
        (16, 16, 8),
        (32, 32, 4),
        (2, 2, 64),
    ]


# Fit steps run eagerly: graph tracing dominates a single CPU step.
def test_backboned_unet_fit_step():
    model = backboned_unet((32, 32, 1), backbone="orig_unet", **TINY)
    assert_fit_step(model, run_eagerly=True)


def test_freeze_encoder():
    model = backboned_unet(
        (32, 32, 1), backbone="darknet52", freeze_encoder=True, **TINY
    )
    encoder = model.get_layer("backboned_unet_encoder")
    trainable = {id(w) for w in model.trainable_weights}
    assert trainable and not trainable & {id(w) for w in encoder.weights}


def test_branch2_fit_step():
    assert_fit_step(branch2_unet((32, 32, 1), 4, **TINY), run_eagerly=True)


def test_fine_grained_trains_in_parallel_with_dicts():
    model = fine_grained_unet((32, 32, 1), backbone="orig_unet", **TINY)
    trunk = model.get_layer("fine_grained_unet_trunk")
    # 2 inputs, build record, trunk, 2 x (head conv, activation)
    assert len(model.layers) == 8
    rng = np.random.default_rng(0)
    x = {
        "fine_grained_unet_full_input": rng.random((2, 32, 32, 1), dtype=np.float32),
        "fine_grained_unet_roi_input": rng.random((2, 32, 32, 1), dtype=np.float32),
    }
    y = {
        "fine_grained_unet_orig_branch": (rng.random((2, 32, 32, 2)) > 0.5) * 1.0,
        "fine_grained_unet_roi_branch": (rng.random((2, 32, 32, 1)) > 0.9) * 1.0,
    }
    model.compile(
        optimizer="adam",
        loss={
            "fine_grained_unet_orig_branch": "binary_crossentropy",
            "fine_grained_unet_roi_branch": keras.losses.BinaryFocalCrossentropy(),
        },
        loss_weights={
            "fine_grained_unet_orig_branch": 1.0,
            "fine_grained_unet_roi_branch": 2.0,
        },
        run_eagerly=True,
    )
    before = [w.numpy().copy() for w in trunk.weights]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][-1])
    assert "fine_grained_unet_roi_branch_loss" in history
    assert any(
        not np.array_equal(b, a.numpy())
        for b, a in zip(before, trunk.weights, strict=True)
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: backboned_unet((32, 32, 2), 2, backbone="darknet52", **TINY),
        lambda: fine_grained_unet((32, 32, 1), backbone="orig_unet", **TINY),
        lambda: branch2_unet((32, 32, 1), 3, branch_channel=2, **TINY),
    ],
    ids=["backboned_darknet52", "fine_grained", "branch2"],
)
def test_reloads_in_fresh_process(build, tmp_path):
    assert_reloads_in_fresh_process(build(), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backbone", "formats"),
    # Keras' ConvNeXt uses its own LayerScale layer, which the legacy .h5 loader
    # cannot find without custom_objects: ConvNeXt backbones save as .keras.
    [("mobilenetv2", ("keras", "h5")), ("convnext_tiny", ("keras",))],
)
def test_application_backbone_reloads(backbone, formats, tmp_path):
    model = backboned_unet((32, 32, 1), backbone=backbone)
    assert_reloads_in_fresh_process(model, tmp_path, formats=formats)
