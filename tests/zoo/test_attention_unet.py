"""Attention U-Net (Oktay et al., MIDL 2018), 2D and 3D from the same code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_fit_step
from zoo.attention_unet import attention_unet

TINY = {"filters": (4, 8, 16, 32)}


def test_param_count_paper_config():
    # Paper config (authors' unet_grid_attention_3D, feature_scale=4): 3D CT
    # patches 160x160x96x1, filters 16..256, 1 output. 6,087,108 parameters, of
    # which the gates and gating signal hold 197,187: the U-Net around them has
    # 5,889,921 (the paper lists 5.88M for its U-Net; its Attention U-Net, with
    # two gates per level and deep-supervision heads, 6.40M).
    model = attention_unet()
    assert model.input_shape == (None, 160, 160, 96, 1)
    assert model.count_params() == 6_087_108
    gates = [layer for layer in model.layers if "_gat" in layer.name]
    assert sum(layer.count_params() for layer in gates) == 197_187


def test_gates_on_all_but_the_top_skip():
    model = attention_unet((32, 32, 1), **TINY)
    names = {layer.name for layer in model.layers}
    assert {f"attention_unet_gate{i}_mul" for i in (1, 2)} <= names
    assert "attention_unet_gate0_mul" not in names
    # 2D and 3D share the code; only the kernel rank differs.
    model3d = attention_unet((16, 16, 16, 1), **TINY)
    assert model3d.get_layer("attention_unet_gate1_theta").kernel.shape == (
        2,
        2,
        2,
        8,
        4,
    )


@pytest.mark.parametrize(
    ("shape", "n_classes"),
    [((32, 32, 1), 1), ((64, 48, 3), 2), ((None, None, 1), 1), ((16, 16, 16, 1), 1)],
)
def test_output_shapes(shape, n_classes):
    model = attention_unet(shape, n_classes, **TINY)
    assert model.output_shape == (None, *shape[:-1], n_classes)


def test_gate_passes_skip_scaled_in_0_1():
    model = attention_unet((32, 32, 1), **TINY)
    probe = keras.Model(model.inputs, model.get_layer("attention_unet_gate1_up").output)
    alpha = probe.predict(np.random.default_rng(0).random((1, 32, 32, 1)), verbose=0)
    assert alpha.shape == (1, 16, 16, 1)
    assert (alpha >= 0).all() and (alpha <= 1).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (36, 36, 1)}, "32 or 40"),
        ({"input_shape": (8, 8, 8, 8, 1)}, "input_shape"),
        ({"filters": (8,)}, "filters"),
        ({"filters": (8, 0)}, "filters"),
        ({"norm": "group"}, "norm"),
        ({"interpolation": "cubic"}, "interpolation"),
        ({"n_classes": 0}, "n_classes"),
        ({"output_activation": "tanh"}, "output_activation"),
    ],
)
def test_bad_args(kwargs, match):
    kwargs = {"input_shape": (32, 32, 1), **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        attention_unet(**kwargs)


def test_fit_step_3d():
    assert_fit_step(attention_unet((16, 16, 16, 1), filters=(4, 8, 16)))
