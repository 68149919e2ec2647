"""Parameters and FLOPs of the zoo's models at their reference input sizes.

FLOPs are computed analytically from the layer shapes (no profiler, no forward
pass), counting a multiply-add as 2 FLOPs and only the layers that carry the
work:

- convolution: ``2 * prod(kernel) * C_in / groups * C_out * output voxels``;
- transposed convolution: ``2 * prod(kernel) * C_in * C_out * input voxels``;
- depthwise 2D convolution: ``2 * prod(kernel) * C_in * multiplier * output pixels``;
- dense: ``2 * inputs * units`` per position;
- a layer (or sub-model) called several times counts once per call.

Biases, normalisation, activations, pooling and interpolation are left out
(they are a few FLOPs per element against hundreds per conv output).

Usage::

    python benchmarks/model_cost.py          # V-Net / 3D family, SPEC configs
    python benchmarks/model_cost.py --all    # plus every other registered model
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
from keras import layers  # noqa: E402

import zoo  # noqa: E402

SPEC_3D = {
    "n_classes": 1,
    "kernel_size": 3,
    "depth": 5,
    "norm": "batch",
    "up_mode": "upsample",
}

# (label, builder, args, kwargs): the reference configurations of SPEC.md.
CONFIGS = [
    ("vnet", "vnet", ((128, 128, 1),), {}),
    ("vnet_3d (SPEC: k3, trilinear)", "vnet_3d", ((128, 128, 128, 1),), SPEC_3D),
    ("vnet_3d (defaults: k5, deconv)", "vnet_3d", ((128, 128, 128, 1),), {}),
    ("vnet3d_depthwise", "vnet3d_depthwise", ((128, 128, 128, 1),), SPEC_3D),
    ("vnet3d (depth 4)", "vnet3d", ((64, 64, 64, 1),), {}),
    ("vnet3d (depth 5)", "vnet3d", ((64, 64, 64, 1),), {"depth": 5}),
    ("unet3d (defaults: bn, deconv)", "unet3d", ((128, 128, 128, 1),), {}),
    (
        "unet3d (reference: no bn, nearest)",
        "unet3d",
        ((128, 128, 128, 1),),
        {"norm": None, "up_mode": "upsample"},
    ),
    ("unet25d", "unet25d", ((512, 512, 5, 1),), {}),
]


def _voxels(shape) -> int:
    return math.prod(int(s) for s in shape[1:-1])


def _call_flops(layer, in_shape, out_shape) -> int:
    """Analytic FLOPs of one call of a layer with these input/output shapes."""
    if isinstance(layer, layers.DepthwiseConv2D):
        k = math.prod(layer.kernel_size)
        return 2 * k * in_shape[-1] * layer.depth_multiplier * _voxels(out_shape)
    if isinstance(layer, (layers.Conv2DTranspose, layers.Conv3DTranspose)):
        k = math.prod(layer.kernel_size)
        return 2 * k * in_shape[-1] * layer.filters * _voxels(in_shape)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        k = math.prod(layer.kernel_size)
        c_in = in_shape[-1] // layer.groups
        return 2 * k * c_in * layer.filters * _voxels(out_shape)
    if isinstance(layer, layers.Dense):
        positions = math.prod(int(s) for s in out_shape[1:-1])
        return 2 * in_shape[-1] * layer.units * positions
    return 0


def model_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass of one sample (every call of a shared layer)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops(layer) * max(1, len(layer._inbound_nodes))
            continue
        for node in layer._inbound_nodes:
            if node.input_tensors and node.output_tensors:
                in_shape = node.input_tensors[0].shape
                total += _call_flops(layer, in_shape, node.output_tensors[0].shape)
    return total


def measure(builder: str, args, kwargs) -> tuple[str, int, int]:
    model = zoo.get(builder)(*args, **kwargs)
    shapes = " + ".join("x".join(str(s) for s in t.shape[1:]) for t in model.inputs)
    cost = (shapes, model.count_params(), model_flops(model))
    keras.backend.clear_session()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--all",
        action="store_true",
        help="also every other registered model, built with its defaults",
    )
    configs = list(CONFIGS)
    if parser.parse_args().all:
        listed = {builder for _, builder, _, _ in CONFIGS}
        configs += [
            (f"{n} (defaults)", n, (), {}) for n in zoo.list_models() if n not in listed
        ]
    print("| model | input | params | GFLOPs |")
    print("|---|---|---:|---:|")
    costs = {}
    for label, builder, args, kwargs in configs:
        shape, params, flops = measure(builder, args, kwargs)
        costs[label] = (params, flops)
        print(f"| {label} | {shape} | {params:,} | {flops / 1e9:,.1f} |", flush=True)
    standard = costs["vnet_3d (SPEC: k3, trilinear)"]
    depthwise = costs["vnet3d_depthwise"]
    print(
        f"\nvnet3d_depthwise vs vnet_3d (same arguments): "
        f"{standard[0] / depthwise[0]:.1f}x fewer parameters, "
        f"{standard[1] / depthwise[1]:.1f}x fewer FLOPs."
    )


if __name__ == "__main__":
    main()
