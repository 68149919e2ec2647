"""Data pipelines: readers, augmentation, patch sampling and ``tf.data`` datasets.

Submodules load on first use, so ``import data_pipelines`` stays cheap (TensorFlow
is imported only with :mod:`data_pipelines.pipeline`)::

    from data_pipelines import load_drive, Augmenter2D, make_patch_dataset

``data_pipelines.synthetic``, ``data_pipelines.weight_maps``, ``data_pipelines.rle``,
``data_pipelines.dicom`` and ``data_pipelines.postprocess`` are imported by their
full names.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "readers": (
        "IMAGE_SUFFIXES",
        "VOLUME_SUFFIXES",
        "Sample",
        "load_drive",
        "load_folder_pairs",
        "load_isbi",
        "load_volume",
        "natural_key",
        "normalize_volume",
        "read_image",
        "read_mask",
        "save_volume",
        "stack_samples",
    ),
    "augment": (
        "Augmenter",
        "Augmenter2D",
        "Augmenter3D",
        "elastic_deform",
        "elastic_displacement",
        "gaussian_line_mask",
    ),
    "patches": (
        "PatchSampler",
        "extract_patch",
        "foreground_map",
        "grid_patches",
        "grid_positions",
        "random_crop_3d",
        "roi_box",
        "sample_patches",
        "stitch_patches",
    ),
    "pipeline": (
        "make_full_image_dataset",
        "make_patch_dataset",
        "make_two_input_dataset",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF) + sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Imports a submodule or one of its public names on first access."""
    if name in _EXPORTS:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _MODULE_OF:
        module = importlib.import_module(f"{__name__}.{_MODULE_OF[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Lists the public names, including those not imported yet."""
    return sorted(set(globals()) | set(__all__))
