"""The throughput benchmarks run (--quick) and print their tables; the PyTorch
replicas are the same networks as zoo.unet_padding and zoo.unet3d. No timing value
is checked."""

from __future__ import annotations

import importlib.util
import re
import sys

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import REPO_ROOT
from train_scripts.hardware import xla_by_default


def _script(name: str):
    path = REPO_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _rows(text: str, header: str) -> list[list[str]]:
    """Cells of the markdown table whose header starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _number(cell: str) -> float:
    return float(cell.replace(",", ""))


def _rounding_bounds(cell: str) -> tuple[float, float]:
    """The interval a printed number was rounded from (half a last digit each way)."""
    text = cell.replace(",", "")
    decimals = len(text.partition(".")[2])
    half = 0.5 * 10.0**-decimals
    return float(text) - half, float(text) + half


def _check_header(text: str, title: str) -> None:
    assert text.startswith(f"## {title}")
    assert re.search(r"^- CPU: .+", text, re.M)
    assert re.search(r"^- CPU flags: ", text, re.M)
    assert re.search(r"^- GPU: ", text, re.M)
    versions = re.search(r"^- versions: (.+)$", text, re.M).group(1)
    for library in ("python", "tensorflow", "keras", "torch", "monai"):
        assert library in versions


@pytest.mark.slow
def test_train_throughput_quick_prints_its_table(capsys):
    assert _script("train_throughput").main(["--quick"]) == 0
    text = capsys.readouterr().out
    _check_header(text, "Training throughput")
    rows = _rows(text, "| model |")
    assert {row[0] for row in rows} == {
        "unet_padding",
        "sa_unet",
        "unet3d",
        "vnet_3d",
        "vnet3d",
    }
    settings = [row[4] for row in rows if row[0] == "unet_padding"]
    assert [s.removesuffix(" (default)").strip("*") for s in settings] == [
        "float32",
        "float32, Keras BN",
        "float32 + XLA",
        "mixed_bfloat16",
    ]
    # The trainer's path on this machine is marked, and only it.
    tiny = zoo.get("unet_padding")(**zoo.spec("unet_padding").tiny)
    default = "float32 + XLA" if xla_by_default(tiny) else "float32"
    assert [s for s in settings if "(default)" in s] == [f"**{default}** (default)"]
    for row in rows:
        assert _number(row[6]) > 0 and row[8].endswith("%")  # samples/s, fraction
    if importlib.util.find_spec("torch") is None:
        assert 'pip install -e ".[bench]"' in text
    else:
        peer = _rows(text, "| PyTorch |")
        assert [row[0] for row in peer] == ["eager"] and _number(peer[0][2]) > 0
        assert peer[0][3].endswith("x")


@pytest.mark.slow
def test_inference_throughput_quick_prints_its_table(capsys):
    assert _script("inference_throughput").main(["--quick"]) == 0
    text = capsys.readouterr().out
    _check_header(text, "Inference throughput")
    rows = _rows(text, "| case |")
    assert [(row[0], row[5], row[6]) for row in rows] == [
        ("unet_padding 2D", "float32", "off"),
        ("unet_padding 2D", "mixed_bfloat16", "off"),
        ("unet_padding 2D", "float32", "4 flips"),
        ("unet_padding 2D", "mixed_bfloat16", "4 flips"),
        ("unet3d", "float32", "off"),
        ("unet3d", "mixed_bfloat16", "off"),
    ]
    for row in rows:
        assert _number(row[7]) > 0 and _number(row[8]) > 0
    peer = all(importlib.util.find_spec(m) for m in ("torch", "monai"))
    if peer:
        assert all(row[10].endswith("x") for row in rows)
    else:
        assert 'pip install -e ".[bench]"' in text


def _copy_weights(model: keras.Model, replica, pairs) -> None:
    """Keras weights into the PyTorch replica, layer by layer (by name)."""
    import torch

    assert len(pairs) == sum(1 for layer in model.layers if layer.weights)
    with torch.no_grad():
        for name, module in pairs:
            weights = model.get_layer(f"{model.name}_{name}").get_weights()
            if isinstance(module, torch.nn.modules.conv._ConvNd):
                # Keras (k..., in, out) [transposed: (k..., out, in)] -> PyTorch
                # (out, in, k...) [transposed: (in, out, k...)]: the same swap.
                n = weights[0].ndim
                kernel = weights[0].transpose(n - 1, n - 2, *range(n - 2))
                module.weight.copy_(torch.from_numpy(kernel.copy()))
                module.bias.copy_(torch.from_numpy(weights[1]))
            else:
                for tensor, value in zip(
                    (
                        module.weight,
                        module.bias,
                        module.running_mean,
                        module.running_var,
                    ),
                    weights,
                    strict=True,
                ):
                    tensor.copy_(torch.from_numpy(value))


def _block_pairs(prefix: str, block) -> list:
    return [
        (f"{prefix}_0_conv", block[0]),
        (f"{prefix}_0_bn", block[1]),
        (f"{prefix}_1_conv", block[3]),
        (f"{prefix}_1_bn", block[4]),
    ]


def _replica_pairs(replica, depth: int, up_name) -> list:
    pairs = []
    for level in range(depth):
        pairs += _block_pairs(f"enc{level}", replica.encoders[level])
    for level in range(depth - 1):
        pairs.append(up_name(level, replica.ups[level]))
        pairs += _block_pairs(f"dec{level}", replica.decoders[level])
    pairs.append(("head_conv", replica.head))
    return pairs


def _randomise_statistics(model: keras.Model, rng) -> None:
    """Moving statistics away from (0, 1), so that a wrong copy shows."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))


def _assert_same_outputs(model, replica, x) -> None:
    import torch

    expected = keras.ops.convert_to_numpy(model(x, training=False))
    with torch.no_grad():
        got = replica(torch.from_numpy(np.moveaxis(x, -1, 1).copy())).numpy()
    np.testing.assert_allclose(np.moveaxis(got, 1, -1), expected, atol=1e-5)


def test_pytorch_replica_is_the_same_network():
    pytest.importorskip("torch")
    common = _script("throughput_common")
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), depth=3, filters=4)
    rng = np.random.default_rng(0)
    _randomise_statistics(model, rng)
    replica = common.torch_unet(depth=3, filters=4).eval()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert common.torch_params(replica) == trainable
    pairs = _replica_pairs(replica, 3, lambda i, up: (f"up{i}_conv", up[2]))
    _copy_weights(model, replica, pairs)
    _assert_same_outputs(model, replica, rng.random((2, 32, 32, 1), dtype=np.float32))


def test_pytorch_3d_replica_is_the_same_network():
    pytest.importorskip("torch")
    common = _script("throughput_common")
    keras.utils.set_random_seed(0)
    model = zoo.unet3d((16, 16, 16, 2), depth=3, filters=4)
    rng = np.random.default_rng(0)
    _randomise_statistics(model, rng)
    replica = common.torch_unet3d(depth=3, filters=4, in_channels=2).eval()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert common.torch_params(replica) == trainable
    _copy_weights(
        model, replica, _replica_pairs(replica, 3, lambda i, up: (f"up{i}", up))
    )
    x = rng.random((2, 16, 16, 16, 2), dtype=np.float32)
    _assert_same_outputs(model, replica, x)


def test_full_size_replica_has_the_keras_parameter_count():
    pytest.importorskip("torch")
    common = _script("throughput_common")
    model = zoo.unet_padding((256, 256, 1), depth=4, filters=32)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 1_927_841
    assert common.torch_params(common.torch_unet(depth=4, filters=32)) == trainable
    model = zoo.unet3d((64, 64, 64, 1), depth=4, filters=32)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 19_073_665
    assert common.torch_params(common.torch_unet3d(depth=4, filters=32)) == trainable


@pytest.mark.slow
def test_data_throughput_quick_prints_pipeline_and_training_rates(capsys, shared_data):
    argv = ["--quick", "--data-root", str(shared_data)]
    assert _script("data_throughput").main(argv) == 0
    text = capsys.readouterr().out
    _check_header(text, "Input pipeline throughput")
    rows = _rows(text, "| data |")
    assert [(row[0].split(",")[0], row[1]) for row in rows] == [
        ("DRIVE 2D", "light"),
        ("hippocampus 3D", "recipe"),
    ]
    for row in rows:
        pipeline, train32 = _number(row[2]), _number(row[3])
        assert min(pipeline, train32) > 0 and row[4] == "—"  # bf16: full runs only
        # The ratio is of the unrounded rates: it lies within what the printed
        # (rounded) rates allow, each off by at most half its last digit.
        (p_low, p_high), (t_low, t_high) = (
            _rounding_bounds(row[2]),
            _rounding_bounds(row[3]),
        )
        ratio_low, ratio_high = _rounding_bounds(row[5].split("x")[0])
        assert ratio_high >= p_low / t_high and ratio_low <= p_high / t_low
