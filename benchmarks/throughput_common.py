"""Shared parts of the throughput benchmarks: machine header, timing, matmul rate,
and the PyTorch replicas of ``zoo.unet_padding`` and ``zoo.unet3d`` (the peers of the
comparisons).

Used by ``benchmarks/train_throughput.py`` and ``benchmarks/inference_throughput.py``;
not a script of its own. PyTorch and MONAI are optional (``pip install -e
".[bench]"``); every function that needs them imports them itself.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import tensorflow as tf  # noqa: E402

from train_scripts.hardware import (  # noqa: E402
    cpu_info,
    native_precision,
    onednn_enabled,
)

PEER_INSTALL = 'pip install -e ".[bench]"'
# CPU features that decide the float32 / bfloat16 rates of oneDNN kernels.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(title: str) -> list[str]:
    """Markdown heading and bullet lines: CPU, its flags, GPUs, library versions."""
    info = cpu_info()
    flags = set(info.get("flags", "").split())
    shown = [f for f in CPU_FLAGS if f in flags] or ["none of " + ", ".join(CPU_FLAGS)]
    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    versions = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": _version("keras"),
        "torch": _version("torch") if has_module("torch") else "not installed",
        "monai": _version("monai") if has_module("monai") else "not installed",
    }
    return [
        f"## {title}",
        "",
        f"- CPU: {info.get('model name', platform.processor() or 'unknown')} "
        f"({os.cpu_count()} logical cores)",
        f"- CPU flags: {', '.join(shown)}; TensorFlow's oneDNN kernels "
        f"{'on' if onednn_enabled() else 'off'}; `--precision auto`: "
        f"{native_precision()}",
        f"- GPU: {', '.join(gpus) if gpus else 'none (TensorFlow sees no GPU)'}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
    ]


def median_seconds(fn: Callable[[], object], *, warmup: int, repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after ``warmup`` calls.

    ``fn`` must return only when its work is done (a host copy of a result).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fit_timer(
    model,
    x,
    y,
    *,
    loss,
    warmup: int,
    steps: int,
    jit_compile=False,
    fused_norm=True,
) -> Callable[[], float]:
    """A function that times one ``model.fit`` call of ``steps`` steps.

    Compiles ``model`` with Adam (1e-3) and ``loss``, feeds it one in-memory
    batch ``(x, y)`` repeated by ``tf.data`` with autotuning off (as the trainer
    feeds ``fit``), trains batch normalization with the fused kernel unless
    ``fused_norm`` is False or XLA compiles the step (the trainer's default,
    :mod:`train_scripts.fused_norm`)
    and runs ``warmup`` steps; the returned function runs one
    timed call (its own overhead included) and returns seconds per step. Timers
    of several settings can be called in turns, so that a slow spell of a shared
    machine hits them alike.
    """
    import keras

    from data_pipelines.pipeline import without_autotune
    from train_scripts.fused_norm import fuse

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit_compile
    )
    if fused_norm:
        fuse(model)  # for the model's life (it is the benchmark's own); not XLA
    dataset = without_autotune(tf.data.Dataset.from_tensors((x, y)).repeat())

    def fit(n: int) -> None:
        model.fit(dataset, epochs=1, steps_per_epoch=n, shuffle=False, verbose=0)

    fit(max(1, warmup))
    return step_timer(fit, steps)


def step_timer(run: Callable[[int], object], steps: int) -> Callable[[], float]:
    """A function that calls ``run(steps)`` and returns its seconds per step."""

    def timed() -> float:
        start = time.perf_counter()
        run(steps)
        return (time.perf_counter() - start) / steps

    return timed


def fit_step_seconds(
    model, x, y, *, loss, warmup: int, repeats: int, steps: int, jit_compile=False
) -> float:
    """Median seconds per step of ``repeats`` timed calls of :func:`fit_timer`."""
    timed = fit_timer(
        model, x, y, loss=loss, warmup=warmup, steps=steps, jit_compile=jit_compile
    )
    return statistics.median(timed() for _ in range(repeats))


def matmul_gflops(n: int = 2048, *, repeats: int = 5) -> float:
    """float32 ``tf.linalg.matmul`` rate of an ``n x n`` product, GFLOP/s.

    ``2 n^3`` FLOPs per product, median of ``repeats`` after one warm-up, on
    TensorFlow's default device (the GPU when there is one).
    """
    rng = tf.random.Generator.from_seed(0)
    a = rng.normal((n, n), dtype=tf.float32)
    b = rng.normal((n, n), dtype=tf.float32)

    def product() -> None:
        tf.linalg.matmul(a, b)[0, 0].numpy()

    return 2 * n**3 / median_seconds(product, warmup=1, repeats=repeats) / 1e9


def ratio(ours: float | None, theirs: float | None) -> str:
    """``ours / theirs`` as ``"1.23x"``, or a dash when either is missing."""
    if not ours or not theirs:
        return "—"
    return f"{ours / theirs:.2f}x"


def torch_device() -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_sync() -> None:
    """Waits for queued GPU work (no-op on the CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _torch_units(nn, dims: int, c_in: int, widths):
    """Conv (3, "same", bias) -> BatchNorm (eps 1e-3) -> ReLU, once per width.

    ``zoo.blocks.conv_unit`` with ``norm="batch"`` in PyTorch; Keras' momentum
    0.9 is PyTorch's 0.1.
    """
    conv = (nn.Conv2d, nn.Conv3d)[dims - 2]
    norm = (nn.BatchNorm2d, nn.BatchNorm3d)[dims - 2]
    units = []
    for width in widths:
        units += [
            conv(c_in, width, 3, padding=1),
            norm(width, eps=1e-3, momentum=0.1),
            nn.ReLU(inplace=True),
        ]
        c_in = width
    return nn.Sequential(*units)


def _torch_encoder_decoder(nn, torch, *, pool, encoders, ups, decoders, head):
    """The U shape shared by the replicas: encoders (pooling between levels),
    then per level up-sampling, ``cat([up, skip])`` and a decoder; sigmoid head."""

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool = pool
            self.encoders = nn.ModuleList(encoders)
            self.ups = nn.ModuleList(ups)
            self.decoders = nn.ModuleList(decoders)
            self.head = head

        def forward(self, x):
            skips = []
            for level, encoder in enumerate(self.encoders):
                x = encoder(self.pool(x) if level else x)
                skips.append(x)
            for level in range(len(self.ups) - 1, -1, -1):
                x = torch.cat([self.ups[level](x), skips[level]], dim=1)
                x = self.decoders[level](x)
            return torch.sigmoid(self.head(x))

    return UNet()


def torch_unet(*, depth: int, filters: int, in_channels: int = 1, n_classes: int = 1):
    """PyTorch replica of ``zoo.unet_padding(..., depth, filters)`` (norm "batch").

    The same layers in the same order: per level 2 x (Conv 3x3 "same" with bias
    -> BatchNorm (momentum 0.9 in Keras' convention, eps 1e-3) -> ReLU); 2x2 max
    pooling; up-convolution = nearest x2 up-sampling -> Conv 2x2 "same" (padded
    after, as TensorFlow) -> ReLU; concatenation ``[up, skip]``; a 1x1 conv and
    a sigmoid. Channels-first ``(B, C, H, W)``.

    Returns:
        A ``torch.nn.Module`` whose trainable parameter count equals the Keras
        model's trainable count (1,927,841 at depth 4, filters 32, 1 channel).
    """
    import torch
    from torch import nn

    widths = [filters * 2**level for level in range(depth)]
    return _torch_encoder_decoder(
        nn,
        torch,
        pool=nn.MaxPool2d(2),
        encoders=[
            _torch_units(nn, 2, widths[level - 1] if level else in_channels, [w, w])
            for level, w in enumerate(widths)
        ],
        ups=[
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.ZeroPad2d((0, 1, 0, 1)),  # TensorFlow's "same" for k = 2
                nn.Conv2d(widths[level + 1], widths[level], 2),
                nn.ReLU(inplace=True),
            )
            for level in range(depth - 1)
        ],
        decoders=[
            _torch_units(nn, 2, 2 * widths[level], [widths[level]] * 2)
            for level in range(depth - 1)
        ],
        head=nn.Conv2d(widths[0], n_classes, 1),
    )


def torch_unet3d(*, depth: int, filters: int, in_channels: int = 1, n_classes: int = 1):
    """PyTorch replica of ``zoo.unet3d(..., depth, filters)`` (its defaults).

    Per level two 3x3x3 units (Conv with bias -> BatchNorm -> ReLU), the second
    doubling the channels (``filters * 2**level`` then twice that); 2x2x2 max
    pooling; up-convolution = a 2x2x2 stride-2 transposed conv keeping the
    channels; ``cat([up, skip])`` then two units as wide as the skip; a 1x1x1
    conv and a sigmoid. Channels-first ``(B, C, D, H, W)``.

    Returns:
        A ``torch.nn.Module`` whose trainable parameter count equals the Keras
        model's (19,073,665 at depth 4, filters 32, 1 channel).
    """
    import torch
    from torch import nn

    widths = [filters * 2**level for level in range(depth)]
    return _torch_encoder_decoder(
        nn,
        torch,
        pool=nn.MaxPool3d(2),
        encoders=[
            _torch_units(
                nn, 3, 2 * widths[level - 1] if level else in_channels, [w, 2 * w]
            )
            for level, w in enumerate(widths)
        ],
        ups=[
            nn.ConvTranspose3d(2 * widths[level + 1], 2 * widths[level + 1], 2, 2)
            for level in range(depth - 1)
        ],
        decoders=[
            _torch_units(
                nn,
                3,
                2 * widths[level + 1] + 2 * widths[level],
                [2 * widths[level]] * 2,
            )
            for level in range(depth - 1)
        ],
        head=nn.Conv3d(2 * widths[0], n_classes, 1),
    )


def torch_params(module) -> int:
    """Trainable parameters of a ``torch.nn.Module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def torch_bce_dice(probs, target):
    """``losses.bce_dice`` in PyTorch: per-sample BCE + (1 - soft Dice, smooth 1)."""
    import torch

    axes = tuple(range(2, probs.ndim))
    bce = torch.nn.functional.binary_cross_entropy(probs, target)
    intersection = (probs * target).sum(dim=axes)
    total = probs.sum(dim=axes) + target.sum(dim=axes)
    dice = (2 * intersection + 1.0) / (total + 1.0)
    return bce + (1.0 - dice).mean()
