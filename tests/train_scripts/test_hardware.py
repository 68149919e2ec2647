"""Hardware facts behind the defaults: --precision auto and the trainer's XLA choice."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from train_scripts import cli, hardware, precision
from train_scripts.trainer import train

XEON = {"model name": "Intel Xeon", "flags": "fpu avx2 avx512f avx512_bf16 amx_bf16"}
EPYC = {"model name": "AMD EPYC", "flags": "fpu avx2 fma"}


@pytest.mark.parametrize(
    ("info", "gpus", "expected"),
    [
        (XEON, [], "mixed_bfloat16"),
        (EPYC, [], "float32"),
        ({}, [], "float32"),  # flags unreadable (not Linux)
        (EPYC, [(8, 0)], "mixed_float16"),
        (XEON, [(6, 1)], "float32"),  # a GPU without tensor cores
    ],
)
def test_native_precision_follows_the_hardware(monkeypatch, info, gpus, expected):
    monkeypatch.setattr(hardware, "cpu_info", lambda: info)
    monkeypatch.setattr(hardware, "_gpu_capabilities", lambda: gpus)
    assert hardware.native_precision() == expected


def test_bfloat16_support_is_unknown_without_cpu_flags(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_info", lambda: {})
    assert hardware.has_native_bfloat16() is None
    monkeypatch.setattr(hardware, "cpu_info", lambda: EPYC)
    assert hardware.has_native_bfloat16() is False


def test_cpu_info_reads_this_machine():
    info = hardware.cpu_info()
    if info:  # Linux
        assert "flags" in info and "model name" in info


@pytest.mark.parametrize(
    ("key", "onednn", "expected"),
    [("unet_padding", False, True), ("unet_padding", True, False),
     ("sa_unet", False, False), ("vnet3d", False, False)],
)  # fmt: skip
def test_xla_is_the_cpu_default_where_it_was_measured_faster(
    monkeypatch, key, onednn, expected
):
    monkeypatch.setattr(hardware, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    model = zoo.get(key)(**zoo.spec(key).tiny)
    assert hardware.xla_by_default(model) is expected


def test_volumes_keep_the_plain_graph_on_a_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "onednn_enabled", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    tiny = {**zoo.spec("attention_unet").tiny, "input_shape": (16, 16, 16, 1)}
    assert zoo.spec("attention_unet").xla_on_cpu
    assert hardware.xla_by_default(zoo.attention_unet(**tiny)) is False
    assert hardware.xla_by_default(
        zoo.attention_unet(**zoo.spec("attention_unet").tiny)
    )


def test_a_model_outside_the_registry_keeps_the_plain_graph_on_a_cpu(monkeypatch):
    monkeypatch.setattr(hardware, "onednn_enabled", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    assert hardware.xla_by_default(model) is False


def test_onednn_state_follows_tensorflow():
    assert isinstance(hardware.onednn_enabled(), bool)


def test_auto_resolves_and_says_what_it_chose(monkeypatch, capsys):
    monkeypatch.setattr(precision, "native_precision", lambda: "mixed_bfloat16")
    assert precision.resolve_precision("auto", announce=True) == "mixed_bfloat16"
    assert "--precision auto: mixed_bfloat16" in capsys.readouterr().err
    assert precision.resolve_precision("float32", announce=True) == "float32"
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="Unknown precision 'float8'.*'auto'"):
        precision.resolve_precision("float8")


@pytest.mark.parametrize(("native", "noted"), [(False, True), (True, False)])
def test_emulated_bfloat16_is_pointed_out(monkeypatch, capsys, native, noted):
    monkeypatch.setattr(precision, "has_native_bfloat16", lambda: native)
    monkeypatch.setattr(
        precision, "native_precision", lambda: "mixed_bfloat16" if native else "float32"
    )
    assert precision.resolve_precision("mixed_bfloat16", announce=True) == (
        "mixed_bfloat16"
    )
    assert ("no bfloat16 instructions" in capsys.readouterr().err) is noted


def test_cli_trains_in_the_precision_auto_picks(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "native_precision", lambda: "mixed_bfloat16")
    out = tmp_path / "run"
    argv = [
        "--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32",
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
        "--val-patches", "2", "--verbose", "0", "--no-final-eval",
        "--n-images", "3", "--image-size", "48",
        "--precision", "auto", "--out", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["precision"] == "mixed_bfloat16"
    assert "--precision auto: mixed_bfloat16" in capsys.readouterr().err


@pytest.mark.parametrize("xla", [True, False])
def test_trainer_compiles_with_the_hardware_default(tmp_path, monkeypatch, xla):
    import train_scripts.trainer as trainer

    monkeypatch.setattr(trainer, "xla_by_default", lambda model: xla)
    model = zoo.unet_padding((16, 16, 1), depth=2, filters=4)
    rng = np.random.default_rng(0)
    x = rng.random((2, 16, 16, 1), dtype=np.float32)
    y = (x > 0.5).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    result = train(model, data, epochs=1, out_dir=tmp_path, verbose=0)
    assert model.jit_compile is xla
    assert np.isfinite(result.history["loss"][-1])
    # An explicit choice wins over the default.
    model = zoo.unet_padding((16, 16, 1), depth=2, filters=4)
    train(model, data, epochs=1, out_dir=tmp_path / "b", verbose=0, jit_compile=False)
    assert model.jit_compile is False
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize(("flag", "expected"), [("on", True), ("off", False)])
def test_cli_xla_flag_reaches_the_trainer(tmp_path, monkeypatch, flag, expected):
    seen = {}
    real_train = cli.train

    def spy(model, *args, **kwargs):
        result = real_train(model, *args, **kwargs)
        seen["jit_compile"] = model.jit_compile
        return result

    monkeypatch.setattr(cli, "train", spy)
    out = tmp_path / "run"
    argv = [
        "--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32",
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
        "--val-patches", "2", "--verbose", "0", "--no-final-eval",
        "--n-images", "3", "--image-size", "48", "--xla", flag, "--out", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    assert seen["jit_compile"] is expected
