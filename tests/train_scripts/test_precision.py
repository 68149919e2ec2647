"""The --precision option: training, prediction, errors, and the policy restored."""

from __future__ import annotations

import csv
import json
import math

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from train_scripts import cli, evaluate, guards, predict
from train_scripts.precision import (
    PRECISIONS,
    check_precision,
    model_in_precision,
    model_precision,
    precision_scope,
)
from train_scripts.trainer import train

TINY = ["--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32"]
ONE_STEP = [
    "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
    "--val-patches", "2", "--verbose", "0", "--no-final-eval",
    "--n-images", "3", "--image-size", "48",
]  # fmt: skip
COMPUTE = {
    "float32": "float32",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


@pytest.fixture(autouse=True)
def _policy_is_float32_after_each_test():
    yield
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_trains_one_step_through_the_trainer(tmp_path, precision):
    out = tmp_path / "run"
    argv = [*TINY, *ONE_STEP, "--precision", precision, "--out", str(out)]
    assert cli.main(argv) == 0
    assert keras.mixed_precision.global_policy().name == "float32"
    assert (
        json.loads((out / "run.json").read_text())["config"]["precision"] == precision
    )
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert math.isfinite(float(rows[-1]["loss"]))
    model = keras.models.load_model(out / "last.h5", compile=False)
    # Checkpoints are written in float32 whatever the training precision.
    assert model_precision(model) == "float32"
    x = np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32)
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_training_writes_float32_checkpoints_with_the_trained_weights(
    tmp_path, precision
):
    with precision_scope(precision):
        model = zoo.unet_padding((16, 16, 1), depth=2, filters=4)
    x = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    y = (x > 0.5).astype(np.float32)
    data = tf.data.Dataset.from_tensors((x, y))
    train(model, data.repeat(), data, epochs=2, steps_per_epoch=2, out_dir=tmp_path)
    conv = model.get_layer(f"{model.name}_enc0_0_conv")
    assert conv.compute_dtype == COMPUTE[precision]  # it trained in that precision
    for name in ("best.h5", "last.h5"):
        saved = keras.models.load_model(tmp_path / name, compile=False)
        assert model_precision(saved) == "float32"
    for a, b in zip(saved.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # last.h5 holds the final weights
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(saved(x)),
        keras.ops.convert_to_numpy(model(x)).astype(np.float32),
        atol=0.05,
    )


def _write_image(path, shape=(40, 37)) -> None:
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), (rng.random(shape) * 255).astype(np.uint8))


def test_predict_in_mixed_bfloat16_is_close_to_float32(tmp_path, tiny_checkpoint_2d):
    _write_image(tmp_path / "a.png")
    probs = {}
    for precision in ("float32", "mixed_bfloat16"):
        out = tmp_path / precision
        argv = [
            "--checkpoint",
            str(tiny_checkpoint_2d),
            "--input",
            str(tmp_path / "a.png"),
        ]
        argv += ["--out", str(out), "--save-probs", "--precision", precision]
        assert predict.main(argv) == 0
        assert keras.mixed_precision.global_policy().name == "float32"
        probs[precision] = np.load(out / "a_probs.npy")
    assert probs["mixed_bfloat16"].dtype == np.float32
    assert probs["mixed_bfloat16"].shape == probs["float32"].shape == (40, 37, 1)
    assert np.abs(probs["mixed_bfloat16"] - probs["float32"]).max() < 0.05
    assert not np.array_equal(probs["mixed_bfloat16"], probs["float32"])


def test_evaluate_in_mixed_bfloat16_scores_like_float32(tmp_path, tiny_checkpoint_2d):
    root = tmp_path / "pairs"
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    _write_image(root / "image" / "a.png")
    label = np.zeros((40, 37), np.uint8)
    label[5:20, 10:30] = 255
    cv2.imwrite(str(root / "label" / "a.png"), label)
    scores = {}
    for precision in ("float32", "mixed_bfloat16"):
        out = tmp_path / precision
        argv = ["--checkpoint", str(tiny_checkpoint_2d), "--dataset", f"folder:{root}"]
        argv += ["--out", str(out), "--no-overlays", "--precision", precision]
        assert evaluate.main(argv) == 0
        assert keras.mixed_precision.global_policy().name == "float32"
        scores[precision] = json.loads((out / "metrics.json").read_text())
    assert abs(scores["mixed_bfloat16"]["auc"] - scores["float32"]["auc"]) < 0.05


def test_model_in_precision_rebuilds_with_the_weights(tiny_checkpoint_2d):
    model = guards.load_checkpoint(tiny_checkpoint_2d)
    assert model_in_precision(model, "float32") is model
    mixed = model_in_precision(model, "mixed_bfloat16")
    assert model_precision(mixed) == "mixed_bfloat16"
    assert mixed.outputs[0].dtype == "float32"
    for a, b in zip(model.get_weights(), mixed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model_in_precision(mixed, "float32").layers[2].compute_dtype == "float32"


def test_a_model_without_build_record_is_refused_by_name():
    inputs = keras.Input((8, 8, 1))
    plain = keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs), name="plain")
    assert model_in_precision(plain, "float32") is plain
    with pytest.raises(ValueError, match="'plain' carries none"):
        model_in_precision(plain, "mixed_bfloat16")


def test_unknown_precision_is_refused_and_the_policy_kept(tmp_path, capsys):
    with pytest.raises(ValueError, match="float64.*mixed_bfloat16"):
        check_precision("float64")
    with pytest.raises(ValueError, match="Unknown precision"), precision_scope("int8"):
        pass
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*TINY, "--precision", "float64", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "--precision: invalid choice: 'float64'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_mixed_float16_compile_adds_loss_scaling():
    with precision_scope("mixed_float16"):
        model = zoo.unet_padding((16, 16, 1), depth=2, filters=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_scope_restores_the_policy_after_an_error():
    with pytest.raises(RuntimeError), precision_scope("mixed_float16"):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        model = zoo.unet_padding((16, 16, 1), depth=2, filters=4)
        raise RuntimeError(model.name)
    assert model.outputs[0].dtype == "float32"
