"""Export to Keras, SavedModel, ONNX and TFLite: numerical round trips and the CLI."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from train_scripts import export, guards
from zoo.layers import SlicedDepthwiseConv3D, SlicedMaxPooling
from zoo.settings import read_settings

SETTINGS = {"threshold": 0.6, "tile_size": [32, 32], "tta": True}


def _run_exported(path, fmt, x):
    """Runs an exported file with its own runtime, independently of export.py."""
    if fmt in ("keras", "h5"):
        return np.asarray(keras.models.load_model(path, compile=False)(x))
    if fmt == "savedmodel":
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        return signature(image=tf.constant(x))["probs"].numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"]
        )
        return session.run(["probs"], {session.get_inputs()[0].name: x})[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite deprecation notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner()(image=x)["probs"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", export.FORMATS)
@pytest.mark.parametrize("ckpt", ["tiny_checkpoint_2d", "tiny_checkpoint_3d"])
def test_export_round_trip_matches_keras(ckpt, fmt, tmp_path, request):
    path = request.getfixturevalue(ckpt)
    model = guards.load_checkpoint(path)
    out = tmp_path / f"model.{fmt}"
    result = export.export_model(model, fmt, out, settings=SETTINGS)
    assert result.max_abs_diff <= 1e-4 and result.path == out
    rank = len(model.input_shape) - 2
    # An independent check at another seed, through the exported file only.
    x = np.random.default_rng(7).random(model.input_shape[1:], np.float32)[None]
    got = _run_exported(out, fmt, x)
    np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-4)
    if fmt in ("savedmodel", "onnx"):
        # Dynamic spatial axes: twice the size runs and matches Keras.
        assert result.input_shapes == [[None] * (rank + 1) + [1]]
        big = np.random.default_rng(8).random(
            (1, *[2 * s for s in model.input_shape[1:-1]], 1), np.float32
        )
        resized = zoo.inference.with_input_size(model, big.shape[1:-1])
        np.testing.assert_allclose(
            _run_exported(out, fmt, big), np.asarray(resized(big)), atol=1e-4
        )
    if fmt == "tflite":
        assert result.input_shapes == [[None, *model.input_shape[1:]]]
    if fmt in ("keras", "h5"):
        assert read_settings(out) == SETTINGS
    if fmt == "savedmodel":
        stored = (out / "assets" / export.SETTINGS_ASSET).read_text()
        assert json.loads(stored) == SETTINGS
    if fmt == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        assert json.loads(props[export.SETTINGS_KEY]) == SETTINGS


@pytest.mark.parametrize("quantize", ["float16", "dynamic"])
def test_quantised_tflite_is_checked_and_refused_beyond_atol(quantize, tmp_path):
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), 1, depth=2, filters=32)
    out = tmp_path / "q.tflite"
    result = export.export_model(model, "tflite", out, quantize=quantize)
    # Quantised weights really change the output, within the default tolerance.
    assert 0 < result.max_abs_diff <= export.DEFAULT_ATOL[quantize]
    x = np.random.default_rng(3).random((1, 32, 32, 1), np.float32)
    assert np.abs(_run_exported(out, "tflite", x) - np.asarray(model(x))).max() > 0
    with pytest.raises(ValueError, match="differs from Keras"):
        export.export_model(model, "tflite", out, quantize=quantize, atol=1e-9)
    assert not out.exists()


def test_fixed_size_model_keeps_its_size_and_says_why(tmp_path):
    # vnet's per-element PReLU weights have the feature maps' shape.
    model = zoo.vnet((32, 32, 1), depth=2, filters=4)
    result = export.export_model(model, "savedmodel", tmp_path / "sm")
    assert result.input_shapes == [[None, 32, 32, 1]]
    assert "Incompatible shapes" in result.note


def test_nested_backbone_is_rebuilt_with_dynamic_axes(tmp_path):
    # The encoder sub-model keeps a fixed input size in the config; the builder
    # rebuilds it with None sizes.
    model = zoo.backboned_unet(
        (32, 32, 1),
        1,
        backbone="orig_unet",
        encoder_filters=4,
        decoder_filters=(8, 8, 4, 4, 4),
        centre_filters=8,
    )
    result = export.export_model(model, "savedmodel", tmp_path / "sm")
    assert result.input_shapes == [[None, None, None, 1]] and result.note == ""
    x = np.random.default_rng(2).random((1, 64, 96, 1), np.float32)
    want = zoo.inference.with_input_size(model, (64, 96))(x)
    np.testing.assert_allclose(
        _run_exported(tmp_path / "sm", "savedmodel", x), want, atol=1e-5
    )


def test_any_size_model_is_checked_at_its_stored_tile_size(tmp_path):
    model = zoo.unet_padding((None, None, 1), 1, depth=2, filters=4)
    result = export.export_model(
        model, "tflite", tmp_path / "m.tflite", settings={"tile_size": [24, 40]}
    )
    assert result.input_shapes == [[None, 24, 40, 1]]


def test_cli_exports_the_pretrained_checkpoint_with_its_settings(tmp_path, capsys):
    out = tmp_path / "drive.keras"
    assert (
        export.main(
            [
                "--checkpoint",
                "pretrained/drive_vessels.h5",
                "--format",
                "keras",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and str(out) in printed
    assert read_settings(out) == read_settings("pretrained/drive_vessels.h5")


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all", None])
def test_cli_refuses_a_corrupt_checkpoint(
    tmp_path, tiny_checkpoint_2d, capsys, content
):
    bad = tmp_path / "broken.h5"
    if content is None:  # a truncated real checkpoint
        data = tiny_checkpoint_2d.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(content)
    out = tmp_path / "out.onnx"
    code = export.main(
        ["--checkpoint", str(bad), "--format", "onnx", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and str(bad) in err and err.startswith("error:")


def test_cli_names_a_checkpoint_saved_under_the_other_format_s_suffix(
    tmp_path, tiny_checkpoint_2d, capsys
):
    misnamed = tmp_path / "really_h5.keras"
    misnamed.write_bytes(tiny_checkpoint_2d.read_bytes())
    out = tmp_path / "out.onnx"
    code = export.main(
        ["--checkpoint", str(misnamed), "--format", "onnx", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert f"'{misnamed}' is really a .h5 file; rename it to end in .h5" in err


def test_cli_names_a_missing_checkpoint_and_refuses_bad_options(
    tmp_path, tiny_checkpoint_2d, capsys
):
    missing = tmp_path / "missing.h5"
    args = ["--format", "h5", "--out", str(tmp_path / "o.h5")]
    assert export.main(["--checkpoint", str(missing), *args]) == 2
    assert str(missing) in capsys.readouterr().err
    model = guards.load_checkpoint(tiny_checkpoint_2d)
    with pytest.raises(ValueError, match="quantize"):
        export.export_model(model, "onnx", tmp_path / "x.onnx", quantize="float16")


def test_tflite_names_the_ops_it_has_no_builtin_for(tmp_path):
    inputs = keras.Input((8, 8, 8, 1))
    model = keras.Model(inputs, keras.layers.AveragePooling3D(2)(inputs))
    with pytest.raises(ValueError, match="no TFLite builtin op for AvgPool3D"):
        export.export_model(model, "tflite", tmp_path / "u.tflite")
    assert not (tmp_path / "u.tflite").exists()


@pytest.mark.parametrize(
    ("pool_size", "strides"),
    [
        ((2, 2, 2), None),
        ((2, 2, 1), None),
        ((3, 3, 3), (2, 2, 2)),
        ((2, 3, 1), (1, 2, 2)),
    ],
)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_sliced_max_pooling_equals_keras_max_pooling(pool_size, strides, padding):
    x = np.random.default_rng(0).normal(size=(2, 9, 8, 7, 3)).astype(np.float32)
    want = keras.layers.MaxPooling3D(pool_size, strides, padding)(x)
    layer = SlicedMaxPooling(pool_size, strides, padding)
    np.testing.assert_array_equal(layer(x), want)
    assert layer.compute_output_shape(x.shape) == tuple(want.shape)
    clone = SlicedMaxPooling.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("kernel_size", [(3, 3, 3), (5, 5, 5), (1, 3, 5)])
def test_sliced_depthwise_conv3d_equals_grouped_conv3d(kernel_size):
    x = np.random.default_rng(0).normal(size=(2, 9, 8, 7, 3)).astype(np.float32)
    conv = keras.layers.Conv3D(3, kernel_size, groups=3, bias_initializer="ones")
    want = conv(x)
    layer = SlicedDepthwiseConv3D(kernel_size)
    layer.build(x.shape)
    layer.set_weights(conv.get_weights())
    np.testing.assert_allclose(layer(x), want, atol=1e-5)
    assert layer.compute_output_shape(x.shape) == tuple(want.shape)
    clone = SlicedDepthwiseConv3D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_depthwise_3d_convolution_exports_and_matches_keras(fmt, tmp_path):
    model = zoo.vnet3d_depthwise((16, 16, 16, 1), 1, depth=2, filters=4)
    out = tmp_path / f"v.{fmt}"
    assert export.export_model(model, fmt, out).max_abs_diff <= 1e-5
    x = np.random.default_rng(1).random((1, 16, 16, 16, 1), np.float32)
    np.testing.assert_allclose(_run_exported(out, fmt, x), model(x), atol=1e-5)
    # Only the exported graph changes: the model keeps its grouped Conv3D.
    assert any(getattr(la, "groups", 1) > 1 for la in model.layers)


def _reshape_to_channels_last_as_output():
    """ONNX model whose graph output is a Reshape with a computed shape."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, "d", "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    perm = helper.make_tensor("perm", TensorProto.INT64, [5], [0, 2, 3, 4, 1])
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "perm"], ["target"]),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[perm])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_reshape_optimizer_leaves_a_graph_output_its_rank():
    # tf2onnx's reshape optimizer gave a one-channel 3D model's ONNX file an
    # extra leading output axis about once in 75 conversions, depending on the
    # order its optimizers met the output Reshape. Running the identity remover
    # before it makes the bad order certain.
    import onnxruntime
    from tf2onnx.graph import GraphUtil
    from tf2onnx.optimizer.identity_optimizer import IdentityOptimizer
    from tf2onnx.optimizer.reshape_optimizer import ReshapeOptimizer

    optimizers = {"identity": IdentityOptimizer, "reshape": ReshapeOptimizer}
    x = np.zeros((2, 1, 3, 4, 5), np.float32)

    def output_shape(proto):
        session = onnxruntime.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return session.run(None, {"x": x})[0].shape

    own = ReshapeOptimizer._optimize_reshape
    with export.graph_outputs_kept_from_reshape_optimizer():
        optimized = GraphUtil.optimize_model_proto(
            _reshape_to_channels_last_as_output(), optimizers=optimizers
        )
    assert output_shape(optimized) == (2, 3, 4, 5, 1)
    # The guard is scoped: outside it tf2onnx's optimizer is its own again.
    assert ReshapeOptimizer._optimize_reshape is own


def test_tflite_export_of_3d_max_pooling_matches_keras(tmp_path):
    model = zoo.unet3d((16, 16, 16, 1), 1, depth=2, filters=4)
    result = export.export_model(model, "tflite", tmp_path / "u.tflite")
    assert result.max_abs_diff <= 1e-5  # checked against the model as built
    x = np.random.default_rng(1).random((1, 16, 16, 16, 1), np.float32)
    np.testing.assert_allclose(
        _run_exported(tmp_path / "u.tflite", "tflite", x), model(x), atol=1e-5
    )
    # Only the exported graph changes: the model keeps Keras' pooling layers.
    pools = [la for la in model.layers if isinstance(la, keras.layers.MaxPooling3D)]
    assert len(pools) == 1
