"""UNet 3+ (Huang et al., ICASSP 2020): full-scale skips, deep supervision and the
classification-guided module; 2D and 3D from the same code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_fit_step, assert_reloads_in_fresh_process
from zoo.unet3_plus import unet3_plus

TINY = {"filters": (4, 8, 16, 32), "skip_filters": 4}


def test_param_count_paper_config():
    # Paper config (authors' UNet_3Plus*): 320x320x1, filters 64..1024, 64-channel
    # full-scale skips, 1 class. Without deep supervision 26,983,681 parameters,
    # 26,970,625 trainable (Keras also counts BN moving stats) = the paper's
    # 26.97M (Table 1); deep supervision adds 4 side heads, CGM 2,050 weights.
    assert unet3_plus(deep_supervision=False).count_params() == 26_983_681
    assert unet3_plus().count_params() == 27_001_541
    assert unet3_plus(cgm=True).count_params() == 27_003_591


def test_full_scale_skips():
    model = unet3_plus()
    # Each decoder stage concatenates 5 scales x 64 channels = 320.
    for i in range(4):
        concat = model.get_layer(f"unet3_plus_dec{i}_concat")
        assert len(concat.input) == 5
        assert concat.output.shape[-1] == 320
        assert concat.output.shape[1] == 320 // 2**i


@pytest.mark.parametrize("shape", [(32, 32, 1), (48, 32, 3), (16, 16, 16, 1)])
def test_output_shapes(shape):
    model = unet3_plus(shape, **TINY)
    assert model.output_names == [f"unet3_plus_out{i}" for i in range(4)]
    assert model.output_shape == [(None, *shape[:-1], 1)] * 4
    single = unet3_plus(shape, 3, deep_supervision=False, **TINY)
    assert single.output_shape == (None, *shape[:-1], 3)


def test_deep_supervision_fit_with_per_output_losses():
    model = unet3_plus((32, 32, 1), filters=(4, 8, 16), skip_filters=4)
    names = model.output_names
    assert_fit_step(
        model,
        loss={n: "binary_crossentropy" for n in names},
        loss_weights={n: 1.0 if n.endswith("out0") else 0.5 for n in names},
    )


def test_cgm_gates_at_inference_only():
    model = unet3_plus((32, 32, 1), cgm=True, **TINY)
    assert model.output_names[-1] == "unet3_plus_cls"
    assert model.output_shape[-1] == (None, 2)
    x = np.random.default_rng(0).random((4, 32, 32, 1), dtype=np.float32)
    outs = [np.asarray(o) for o in model(x, training=False)]
    organ = outs[-1].argmax(-1)
    for seg in outs[:-1]:
        for b in range(4):
            assert (seg[b] == 0).all() != bool(organ[b])
    # In training the maps pass ungated: the gate's output equals its input.
    probe = keras.Model(
        model.inputs, [model.get_layer("unet3_plus_out0_act").output, model.outputs[0]]
    )
    raw, gated = (np.asarray(t) for t in probe(x, training=True))
    np.testing.assert_array_equal(raw, gated)


def test_cgm_fit_step_with_classification_loss():
    model = unet3_plus((32, 32, 1), filters=(4, 8, 16), skip_filters=4, cgm=True)
    names = model.output_names
    assert_fit_step(model, loss={n: "binary_crossentropy" for n in names})


def test_fit_step_3d():
    assert_fit_step(
        unet3_plus(
            (16, 16, 16, 1), filters=(4, 8, 16), skip_filters=4, deep_supervision=False
        )
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (36, 36, 1)}, "32 or 40"),
        ({"input_shape": (32,)}, "input_shape"),
        ({"filters": (4,)}, "filters"),
        ({"skip_filters": 0}, "skip_filters"),
        ({"deep_supervision": 1}, "deep_supervision"),
        ({"cgm": "on"}, "cgm"),
        ({"cgm": True, "n_classes": 3}, "cgm"),
        ({"cgm": True, "output_activation": None}, "cgm"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_bad_args(kwargs, match):
    kwargs = {"input_shape": (32, 32, 1), **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        unet3_plus(**kwargs)


def test_reload_with_cgm(tmp_path):
    model = unet3_plus((32, 32, 1), filters=(4, 8, 16), skip_filters=4, cgm=True)
    assert_reloads_in_fresh_process(model, tmp_path)
