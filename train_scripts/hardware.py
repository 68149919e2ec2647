"""What this machine computes fast: the facts behind the trainer's defaults.

The fastest training path depends on the processor and the network, measured
on the two CPUs this project has run on (2 cores each; README "Performance"):

* TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with
  AVX-512 VNNI / BF16 or AMX (a recent Xeon). There the plain graph with the
  fused batch norm beat XLA for every network timed (the 2D U-Net 1.6x,
  SA-UNet 3.1x). On a CPU without them (an AMD EPYC with AVX2) TensorFlow runs
  its Eigen kernels, and XLA trained the plain 2D U-Nets faster: unet_padding
  1.3-1.5x (256x256 and 64x64 inputs), attention_unet 1.42x, unet_plus_plus
  1.19x (64x64), but not the others: residual_unet 1.08x (within the noise),
  SA-UNet 0.86x, backboned_unet 0.87x, the 2D V-Net 0.56x, and every 3D model
  timed lost (unet3d 0.58x, vnet3d 0.44x). :func:`xla_by_default` encodes
  that, with the registry's ``xla_on_cpu`` fact for the winners.
* bfloat16 is native on CPUs with AVX-512 BF16 or AMX, where mixed_bfloat16
  trained 1.9-2.3x faster than float32; without them it is emulated and was
  about 10x *slower* than float32. :func:`native_precision` picks the mixed
  policy the hardware runs natively (``--precision auto``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import keras
import tensorflow as tf

import zoo

__all__ = [
    "cpu_info",
    "has_native_bfloat16",
    "native_precision",
    "onednn_enabled",
    "xla_by_default",
]

#: CPU flags (``/proc/cpuinfo``) with native bfloat16 arithmetic.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_info() -> dict[str, str]:
    """The first processor's ``/proc/cpuinfo`` entries (empty off Linux)."""
    info: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def _gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capability of each GPU TensorFlow sees ((0, 0) when unknown)."""
    return [
        tuple(
            tf.config.experimental.get_device_details(gpu).get("compute_capability")
            or (0, 0)
        )
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def has_native_bfloat16() -> bool | None:
    """Whether the CPU has bfloat16 instructions (AVX-512 BF16 or AMX).

    None when its flags cannot be read (not Linux).
    """
    flags = cpu_info().get("flags")
    if flags is None:
        return None
    return any(flag in flags.split() for flag in BFLOAT16_FLAGS)


def native_precision() -> str:
    """The fastest dtype policy the hardware runs natively.

    ``mixed_float16`` on GPUs with tensor cores (compute capability >= 7.0),
    ``mixed_bfloat16`` on a CPU-only machine whose CPU has AVX-512 BF16 or AMX,
    ``float32`` otherwise.
    """
    capabilities = _gpu_capabilities()
    if capabilities:
        return "mixed_float16" if min(capabilities) >= (7, 0) else "float32"
    return "mixed_bfloat16" if has_native_bfloat16() else "float32"


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process.

    TensorFlow's own default (on for x86 CPUs with AVX-512 VNNI / BF16 or AMX),
    or ``TF_ENABLE_ONEDNN_OPTS`` where it is set.
    """
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def xla_by_default(model: keras.Model) -> bool:
    """The trainer's ``jit_compile="auto"`` for ``model``.

    XLA on a GPU. On a CPU, only for a 2D model whose registry entry says XLA
    trained it faster where TensorFlow's oneDNN kernels are off, and only
    there (:attr:`zoo.registry.ModelSpec.xla_on_cpu`; module docstring);
    volumes and models built outside the registry keep the plain graph.
    """
    if tf.config.list_physical_devices("GPU"):
        return True
    spec = zoo.spec_of(model)
    images = all(len(tensor.shape) == 4 for tensor in model.inputs)
    return spec is not None and spec.xla_on_cpu and images and not onednn_enabled()
