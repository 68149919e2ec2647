"""Data pipelines: readers, augmentation, patch sampling and ``tf.data`` datasets.

Every dataset reader returns one :class:`~data_pipelines.dataset.ImageSet`;
files are read by :mod:`~data_pipelines.image_io` (2D images and labels),
:mod:`~data_pipelines.layouts` (folders, DRIVE, ISBI) and
:mod:`~data_pipelines.volumes` (3D), all gathered in
:mod:`~data_pipelines.readers`.

Submodules load on first use, so ``import data_pipelines`` stays cheap (TensorFlow
is imported only with :mod:`data_pipelines.pipeline`)::

    from data_pipelines import load_drive, Augmenter2D, make_patch_dataset

``data_pipelines.synthetic``, ``data_pipelines.weight_maps``, ``data_pipelines.rle``
and ``data_pipelines.dicom`` are imported by their full names (the post-processing
of predicted masks is :mod:`zoo.postprocess`).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "dataset": ("ImageSet", "natural_key"),
    "image_io": (
        "BIT_DEPTHS",
        "IMAGE_SUFFIXES",
        "image_bit_depth",
        "read_image",
        "read_mask",
    ),
    "layouts": ("load_drive", "load_folder_pairs", "load_isbi"),
    "volumes": ("VOLUME_SUFFIXES", "load_volume", "normalize_volume", "save_volume"),
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
