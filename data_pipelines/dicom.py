"""DICOM radiographs (SIIM-ACR pneumothorax) read with pydicom.

Compressed pixel data is decoded by pydicom's own decoders; the SIIM files
are JPEG baseline (transfer syntax 1.2.840.10008.1.2.4.50), which pydicom 3
decodes through Pillow, already a dependency of this project. Uncompressed
files need nothing else.

Example:
    >>> image, meta = read_dicom("siim/dicom-images-train/.../x.dcm")
    >>> image.shape, meta["spacing"]
    ((1024, 1024, 1), (0.143, 0.143))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

__all__ = ["DICOM_SUFFIX", "find_dicoms", "read_dicom"]

DICOM_SUFFIX = ".dcm"


def find_dicoms(root: str | Path) -> list[Path]:
    """Every ``.dcm`` file under ``root`` (the competition's nested tree), sorted.

    Args:
        root: A ``.dcm`` file or a folder.

    Returns:
        The files, sorted by path.

    Raises:
        FileNotFoundError: If ``root`` does not exist or holds no ``.dcm`` file.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"DICOM folder not found: '{root}'")
    files = sorted(p for p in root.rglob(f"*{DICOM_SUFFIX}") if p.is_file())
    if not files:
        raise FileNotFoundError(f"No {DICOM_SUFFIX} files under '{root}'")
    return files


def read_dicom(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads a single-frame grayscale DICOM image as ``float32`` in ``[0, 1]``.

    Intensities are divided by ``2**BitsStored - 1``; ``MONOCHROME1`` images
    (where a high value is dark) are inverted so that bone is bright, as in
    ``MONOCHROME2``.

    Args:
        path: The ``.dcm`` file.

    Returns:
        ``(image, meta)``: the image ``(H, W, 1)`` and a dict with ``spacing``
        (``PixelSpacing``, row then column, in mm; None when absent),
        ``image_id`` (``SOPInstanceUID``, the competition's ``ImageId``),
        ``transfer_syntax`` and ``photometric``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not DICOM, has no pixel data, its pixel data
            cannot be decoded here, or it is not a single grayscale frame. The
            message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DICOM file not found: '{path}'")
    try:
        dataset = pydicom.dcmread(path)
    except InvalidDicomError as err:
        raise ValueError(f"'{path}' is not a DICOM file: {err}") from err
    if "PixelData" not in dataset:
        raise ValueError(f"'{path}' has no pixel data")
    syntax = str(dataset.file_meta.get("TransferSyntaxUID", ""))
    try:
        pixels = dataset.pixel_array
    except (RuntimeError, NotImplementedError, ValueError) as err:
        raise ValueError(
            f"Cannot decode the pixel data of '{path}' (transfer syntax {syntax}): "
            f"{err}"
        ) from err
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if pixels.ndim != 2 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(
            f"'{path}' is not one grayscale frame: shape {pixels.shape}, {photometric}"
        )
    bits = int(dataset.get("BitsStored", 8 * pixels.dtype.itemsize))
    image = pixels.astype(np.float32) / float(2**bits - 1)
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    spacing = dataset.get("PixelSpacing")
    meta = {
        "spacing": None if spacing is None else tuple(float(s) for s in spacing),
        "image_id": str(dataset.get("SOPInstanceUID", path.stem)),
        "transfer_syntax": syntax,
        "photometric": photometric,
    }
    return image[..., None], meta
