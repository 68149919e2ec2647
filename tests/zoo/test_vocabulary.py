"""One argument vocabulary: norm / up_mode / dropout, old spellings deprecated,
and ``norm="instance"`` is instance normalisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import SampleNormalization, ScalarLayerNormalization


@pytest.mark.parametrize(
    ("builder", "old", "new"),
    [
        (
            "unet3d",
            {"bn": False, "deconv": False},
            {"norm": None, "up_mode": "upsample"},
        ),
        ("vnet_3d", {"bn": False}, {"norm": "sample"}),
        ("vnet_3d", {"deconv": False}, {"up_mode": "upsample"}),
        ("vnet3d_depthwise", {"deconv": True}, {"up_mode": "transpose"}),
        ("sa_unet", {"keep_prob": 0.9}, {"dropout": 0.1}),
    ],
)
def test_old_spellings_warn_and_build_the_same_model(builder, old, new):
    tiny = dict(zoo.spec(builder).tiny)
    with pytest.warns(DeprecationWarning, match="is deprecated; use"):
        legacy = zoo.get(builder)(**tiny, **old)
    current = zoo.get(builder)(**tiny, **new)
    assert [layer.__class__ for layer in legacy.layers] == [
        layer.__class__ for layer in current.layers
    ]
    assert legacy.count_params() == current.count_params()


def test_instance_norm_is_per_sample_and_channel():
    """As MONAI's InstanceNorm: each (sample, channel) map has mean 0, std 1."""
    model = zoo.unet_padding((16, 16, 2), depth=2, filters=4, norm="instance")
    layer = model.get_layer("unet_padding_enc0_0_bn")
    assert isinstance(layer, keras.layers.GroupNormalization)
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (2, 16, 16, 4)).astype("float32") * [1, 5, 0.1, 2]
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-2)
    # One gain and bias per channel (affine), not one per layer.
    assert [tuple(w.shape) for w in layer.weights] == [(4,), (4,)]


def test_sample_norm_is_a_layer_norm_with_scalar_affine():
    layer = ScalarLayerNormalization()
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    x[..., 0] *= 10  # channels differ: a layer norm keeps their ratio
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    assert y[..., 0].std() > 3 * y[..., 1].std()
    assert [tuple(w.shape) for w in layer.weights] == [(), ()]


def test_old_layer_name_still_loads(tmp_path):
    """Checkpoints holding the former SampleNormalization reload."""
    inputs = keras.Input((8, 8, 1))
    outputs = SampleNormalization(name="old")(inputs)
    path = tmp_path / "old.keras"
    keras.Model(inputs, outputs).save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded.get_layer("old"), ScalarLayerNormalization)
