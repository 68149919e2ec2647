"""ResUNet (Zhang, Liu, Wang, IEEE GRSL 2018), 2D and 3D from the same code."""

from __future__ import annotations

import pytest
from keras import layers

from tests.helpers import assert_reloads_in_fresh_process
from zoo.residual_unet import residual_unet

TINY = {"filters": (4, 8, 16, 32)}


def test_param_count_paper_config():
    # Paper config (Table I): 224x224x3, filters 64/128/256/512, 1 sigmoid
    # output. 8,233,025 parameters; the 1x1 projection shortcuts (+BN) hold
    # 437,312 of them, without which the count is 7,795,713: the paper's 7.8M.
    model = residual_unet()
    assert model.count_params() == 8_233_025
    shortcuts = [layer for layer in model.layers if "_short" in layer.name]
    assert sum(layer.count_params() for layer in shortcuts) == 437_312


def test_paper_structure():
    model = residual_unet()
    names = [layer.name for layer in model.layers]
    # No pooling: down-sampling is the stride of units 2, 3 and the bridge.
    assert not any(isinstance(layer, layers.MaxPooling2D) for layer in model.layers)
    strided = [
        layer.name
        for layer in model.layers
        if isinstance(layer, layers.Conv2D) and layer.strides == (2, 2)
    ]
    assert {n.rsplit("_", 1)[0] for n in strided} == {
        "residual_unet_enc1",
        "residual_unet_enc2",
        "residual_unet_enc3",
    }
    # Pre-activation: BN -> ReLU -> conv, except at the raw input.
    assert "residual_unet_enc0_bn0" not in names
    assert names.index("residual_unet_enc1_bn0") < names.index(
        "residual_unet_enc1_conv0"
    )


@pytest.mark.parametrize(
    "shape", [(32, 32, 1), (64, 40, 3), (None, None, 3), (16, 24, 32, 1)]
)
def test_output_shapes(shape):
    model = residual_unet(shape, 2, **TINY)
    assert model.output_shape == (None, *shape[:-1], 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (30, 30, 1)}, "24 or 32"),
        ({"input_shape": (32, 32)}, "input_shape"),
        ({"filters": (4,)}, "filters"),
        ({"filters": (4, 8.0)}, "filters"),
        ({"interpolation": "bicubic"}, "interpolation"),
        ({"n_classes": -1}, "n_classes"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_bad_args(kwargs, match):
    kwargs = {"input_shape": (32, 32, 1), **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        residual_unet(**kwargs)


def test_reload(tmp_path):
    assert_reloads_in_fresh_process(residual_unet((16, 16, 16, 1), **TINY), tmp_path)
