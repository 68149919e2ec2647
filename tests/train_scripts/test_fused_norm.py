"""train_scripts.fused_norm: the fused batch-norm kernel trains images to the same
weights and moving statistics as Keras's own layer, and only while the block lasts."""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf

from train_scripts.fused_norm import fused_batch_norm


def _model(rank: int, **bn) -> keras.Model:
    """Conv -> BN -> ReLU -> Conv -> BN(no centre, no scale) -> sigmoid."""
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
    inputs = keras.Input((8,) * rank + (3,))
    x = conv(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.5, **bn)(x)
    x = keras.layers.ReLU()(x)
    x = conv(1, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.5, center=False, scale=False)(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid")(x))


def _data(rank: int):
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (4, *(8,) * rank, 3)).astype("float32")
    return x, (x[..., :1] > 2.0).astype("float32")


def _config(model) -> str:
    return json.dumps(model.get_config(), sort_keys=True)


def _train(model, x, y, steps=3):
    model.compile(keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    return model.fit(x, y, batch_size=2, epochs=steps, shuffle=False, verbose=0)


def _op_types(model, x) -> set[str]:
    graph = tf.function(lambda t: model(t, training=True)).get_concrete_function(
        tf.TensorSpec(x.shape, tf.float32)
    )
    return {op.type for op in graph.graph.get_operations()}


def test_same_weights_and_moving_statistics_as_keras():
    x, y = _data(2)
    plain, fused = _model(2), _model(2)
    before = [v.copy() for v in plain.get_weights()]
    plain_history = _train(plain, x, y)
    with fused_batch_norm(fused) as switched:
        assert switched == 2
        assert "FusedBatchNormV3" in _op_types(fused, x)
        fused_history = _train(fused, x, y)
    np.testing.assert_allclose(
        fused_history.history["loss"], plain_history.history["loss"], rtol=1e-5
    )
    for w_plain, w_fused, w0 in zip(
        plain.get_weights(), fused.get_weights(), before, strict=True
    ):
        assert not np.allclose(w_plain, w0)  # every weight and statistic moved
        np.testing.assert_allclose(w_fused, w_plain, rtol=1e-4, atol=1e-5)


def test_volumes_keep_keras_code():
    """5D batch norm stays Keras's (the fused kernel did not pay off there)."""
    x, _ = _data(3)
    model = _model(3)
    with fused_batch_norm(model) as switched:
        assert switched == 0
        assert "FusedBatchNormV3" not in _op_types(model, x)


def test_only_inside_the_block_and_inference_untouched(tmp_path):
    x, _ = _data(2)
    model = _model(2)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    with fused_batch_norm(model):
        assert "FusedBatchNormV3" in _op_types(model, x)
        got = keras.ops.convert_to_numpy(model(x, training=False))
        model.save(tmp_path / "inside.keras")
    np.testing.assert_array_equal(got, expected)
    assert "FusedBatchNormV3" not in _op_types(model, x)
    assert all("call" not in vars(layer) for layer in model.layers)
    reloaded = keras.models.load_model(tmp_path / "inside.keras")
    assert _config(reloaded) == _config(model)


def test_ineligible_layers_keep_keras_code():
    model = _model(2, synchronized=True)
    with fused_batch_norm(model) as switched:
        assert switched == 1  # the second, plain layer only
        assert "call" not in vars(model.layers[2])


def test_bfloat16_inputs_keep_the_layer_dtype():
    x, y = _data(2)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _model(2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with fused_batch_norm(model):
        out = model(x, training=True)
        losses = _train(model, x, y).history["loss"]
    assert out.dtype == "bfloat16" and np.isfinite(losses).all()


def test_a_model_compiled_for_xla_is_left_to_xla():
    model = _model(2)
    model.compile(
        keras.optimizers.SGD(0.1), loss="binary_crossentropy", jit_compile=True
    )
    with fused_batch_norm(model) as switched:
        assert switched == 0
        assert all("call" not in vars(layer) for layer in model.layers)
