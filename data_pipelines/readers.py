"""All readers in one namespace: image files, dataset layouts and volumes.

The readers live in :mod:`data_pipelines.image_io` (2D image and label files),
:mod:`data_pipelines.layouts` (image/label folders, DRIVE, ISBI 2012) and
:mod:`data_pipelines.volumes` (NIfTI / NumPy volumes); every dataset reader
returns a :class:`~data_pipelines.dataset.ImageSet`. This module gathers their
public names so ``from data_pipelines.readers import load_drive`` keeps working.
"""

from __future__ import annotations

from data_pipelines.dataset import ImageSet, natural_key
from data_pipelines.image_io import (
    BIT_DEPTHS,
    IMAGE_SUFFIXES,
    image_bit_depth,
    read_image,
    read_mask,
)
from data_pipelines.layouts import load_drive, load_folder_pairs, load_isbi
from data_pipelines.volumes import (
    VOLUME_SUFFIXES,
    load_volume,
    normalize_volume,
    save_volume,
)

__all__ = [
    "BIT_DEPTHS",
    "IMAGE_SUFFIXES",
    "VOLUME_SUFFIXES",
    "ImageSet",
    "image_bit_depth",
    "load_drive",
    "load_folder_pairs",
    "load_isbi",
    "load_volume",
    "natural_key",
    "normalize_volume",
    "read_image",
    "read_mask",
    "save_volume",
]
