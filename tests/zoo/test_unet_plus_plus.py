"""UNet++ (Zhou et al., DLMIA 2018 / TMI 2019): nested skips, deep supervision,
pruning; 2D and 3D from the same code."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import (
    assert_fit_step,
    assert_reloads_in_fresh_process,
    random_batch,
)
from zoo.unet_plus_plus import prune_unet_plus_plus, unet_plus_plus

TINY = {"filters": (4, 8, 16, 32), "dropout": 0.0}


def test_param_count_paper_config():
    # DLMIA 2018, Table 1: UNet++ (filters 32..512, 2D, 1 class) has 9.04M
    # parameters with and without deep supervision; Keras counts 9,041,601
    # (+ 3 x 33 for the three extra 1x1 heads with deep supervision).
    assert unet_plus_plus().count_params() == 9_041_601
    assert unet_plus_plus(deep_supervision=True).count_params() == 9_041_700


def test_nested_dense_skips():
    model = unet_plus_plus((32, 32, 1), **TINY)
    # X^{0,3} concatenates X^{0,0}, X^{0,1}, X^{0,2} and Up(X^{1,2}).
    concat = model.get_layer("unet_plus_plus_concat0_3")
    assert len(concat.input) == 4
    assert concat.output.shape[-1] == 4 * 4


@pytest.mark.parametrize("shape", [(32, 32, 1), (48, 64, 3), (16, 16, 16, 1)])
def test_output_shapes(shape):
    single = unet_plus_plus(shape, 2, **TINY)
    assert single.output_shape == (None, *shape[:-1], 2)
    deep = unet_plus_plus(shape, 2, deep_supervision=True, **TINY)
    assert deep.output_names == [f"unet_plus_plus_out{j}" for j in (1, 2, 3)]
    assert deep.output_shape == [(None, *shape[:-1], 2)] * 3


def test_deep_supervision_fit_with_per_output_losses():
    model = unet_plus_plus((32, 32, 1), deep_supervision=True, **TINY)
    names = model.output_names
    assert_fit_step(
        model,
        loss={n: "binary_crossentropy" for n in names},
        loss_weights={n: w for n, w in zip(names, (0.25, 0.25, 0.5), strict=True)},
    )


def test_fit_step_3d():
    assert_fit_step(unet_plus_plus((16, 16, 16, 1), filters=(4, 8, 16)))


def test_pruning_gives_the_level_output_and_shares_weights():
    model = unet_plus_plus((32, 32, 1), deep_supervision=True, **TINY)
    x, _ = random_batch(model)
    full = model.predict(x, verbose=0)
    for level in (1, 2, 3):
        pruned = prune_unet_plus_plus(model, level)
        assert pruned.name == f"unet_plus_plus_pruned{level}"
        np.testing.assert_allclose(
            pruned.predict(x, verbose=0), full[level - 1], atol=1e-6
        )
        # Only nodes X^{i,j} with i + j <= level are kept.
        kept = {layer.name for layer in pruned.layers}
        assert f"unet_plus_plus_x{level}_0_0_0_conv" in kept
        if level < 3:
            assert f"unet_plus_plus_x{level + 1}_0_0_0_conv" not in kept
    pruned = prune_unet_plus_plus(model, 1)
    assert pruned.count_params() < model.count_params()
    shared = pruned.get_layer("unet_plus_plus_x0_0_0_0_conv")
    assert shared is model.get_layer("unet_plus_plus_x0_0_0_0_conv")
    # Changing the full model's weights changes the pruned model.
    shared.kernel.assign(shared.kernel * 0.0)
    np.testing.assert_allclose(
        pruned.predict(x, verbose=0),
        keras.Model(model.inputs, model.outputs[0]).predict(x, verbose=0),
    )


def test_pruning_rejects_missing_levels():
    model = unet_plus_plus((32, 32, 1), **TINY)
    assert prune_unet_plus_plus(model, 3).output_shape == (None, 32, 32, 1)
    with pytest.raises(ValueError, match=r"level.*\[3\].*deep_supervision"):
        prune_unet_plus_plus(model, 1)
    deep = unet_plus_plus((32, 32, 1), deep_supervision=True, **TINY)
    with pytest.raises(ValueError, match="level"):
        prune_unet_plus_plus(deep, 4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"input_shape": (20, 20, 1)}, "16 or 24"),
        ({"input_shape": (32, 32, 32, 32, 1)}, "input_shape"),
        ({"filters": (4,)}, "filters"),
        ({"dropout": 1.0}, "dropout"),
        ({"norm": "layer"}, "norm"),
        ({"deep_supervision": "yes"}, "deep_supervision"),
        ({"n_classes": 0}, "n_classes"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_bad_args(kwargs, match):
    kwargs = {"input_shape": (32, 32, 1), **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        unet_plus_plus(**kwargs)


def test_reload_deep_supervision_and_prune_reloaded(tmp_path):
    model = unet_plus_plus((32, 32, 1), deep_supervision=True, **TINY)
    assert_reloads_in_fresh_process(model, tmp_path)
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    x, _ = random_batch(model)
    np.testing.assert_allclose(
        prune_unet_plus_plus(reloaded, 2).predict(x, verbose=0),
        model.predict(x, verbose=0)[1],
        atol=1e-5,
    )
