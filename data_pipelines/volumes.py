"""3D volumes on disk: NIfTI, ``.npy`` (with a spacing sidecar) and ``.npz``.

Volumes keep the file's axis order and values; the voxel spacing (and, for
NIfTI, the affine) travels beside the array. Errors name the file.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

__all__ = ["VOLUME_SUFFIXES", "load_volume", "normalize_volume", "save_volume"]

VOLUME_SUFFIXES = (".npy", ".npz", ".nii", ".nii.gz")
"""File suffixes recognised by :func:`load_volume` and :func:`save_volume`."""


def _volume_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise ValueError(
        f"Unsupported volume file '{path}'. Supported: {', '.join(VOLUME_SUFFIXES)}"
    )


def _spacing_sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _check_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(
            f"`spacing` needs 3 positive values. Received: spacing={spacing}"
        )
    return spacing


def load_volume(
    path: str | Path, *, dtype: np.dtype | type = np.float32
) -> tuple[np.ndarray, dict[str, Any]]:
    """Reads a 3D volume from NIfTI (``.nii``, ``.nii.gz``), ``.npy`` or ``.npz``.

    The array keeps the file's axis order and values (no scaling: CT units, label
    ids, ...). NIfTI spacing comes from the header's voxel sizes; ``.npy`` spacing
    from the ``<file>.json`` sidecar written by :func:`save_volume`; ``.npz`` from
    its ``spacing`` entry. Without one, spacing is ``(1.0, 1.0, 1.0)``.

    Args:
        path: Volume file.
        dtype: Output dtype. Defaults to ``np.float32``.

    Returns:
        ``(volume, metadata)``: the array ``(D, H, W)`` or ``(D, H, W, C)``, and a
        dict with ``"spacing"`` (3 floats, in the array's axis order), ``"affine"``
        (4x4 voxel-to-world matrix) and ``"path"``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the suffix is unsupported, the file is unreadable, or the
            array is not 3D/4D or holds NaN. The message names the file.

    Example:
        >>> save_volume("ct.nii.gz", np.zeros((8, 16, 16)), spacing=(2.5, 0.7, 0.7))
        >>> volume, meta = load_volume("ct.nii.gz")
        >>> volume.shape, meta["spacing"]
        ((8, 16, 16), (2.5, 0.7, 0.7))
    """
    path = Path(path)
    suffix = _volume_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"Volume file not found: '{path}'")
    spacing: Sequence[float] = (1.0, 1.0, 1.0)
    affine = None
    try:
        if suffix in (".nii", ".nii.gz"):
            img = nib.load(path)
            volume = np.asarray(img.dataobj)
            spacing = img.header.get_zooms()[:3]
            affine = np.asarray(img.affine, dtype=np.float64)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                volume = data["volume"]
                if "spacing" in data:
                    spacing = data["spacing"].tolist()
        else:
            volume = np.load(path, allow_pickle=False)
            sidecar = _spacing_sidecar(path)
            if sidecar.is_file():
                spacing = json.loads(sidecar.read_text())["spacing"]
    except (
        OSError,
        EOFError,
        KeyError,
        ValueError,
        zlib.error,
        ImageFileError,
        HeaderDataError,
    ) as err:
        raise ValueError(f"Cannot read volume '{path}': {err}") from err
    if volume.ndim not in (3, 4):
        raise ValueError(
            f"'{path}' holds an array of shape {volume.shape}; expected (D, H, W) or "
            "(D, H, W, C)"
        )
    volume = volume.astype(dtype)
    if volume.dtype.kind == "f" and not np.isfinite(volume).all():
        raise ValueError(f"Volume '{path}' contains NaN or infinite values")
    spacing = _check_spacing(spacing)
    if affine is None:
        affine = np.diag([*spacing, 1.0])
    return volume, {"spacing": spacing, "affine": affine, "path": str(path)}


def save_volume(
    path: str | Path,
    array: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    *,
    affine: np.ndarray | None = None,
) -> None:
    """Writes a 3D volume so that :func:`load_volume` returns it with its spacing.

    Args:
        path: Target file, ``.nii``/``.nii.gz`` (NIfTI-1), ``.npy`` (plus a
            ``<file>.json`` spacing sidecar) or ``.npz``.
        array: Volume ``(D, H, W)`` or ``(D, H, W, C)``. Booleans are stored as
            ``uint8``.
        spacing: Voxel size along the first three axes. Defaults to ``(1, 1, 1)``.
        affine: NIfTI voxel-to-world matrix. Defaults to ``diag(spacing)``.

    Raises:
        ValueError: If the suffix is unsupported, ``array`` is not 3D/4D or
            ``spacing`` is not 3 positive values.

    Example:
        >>> save_volume("label.npy", np.ones((4, 8, 8), np.uint8), (3.0, 1.0, 1.0))
    """
    path = Path(path)
    suffix = _volume_suffix(path)
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"`array` must be (D, H, W) or (D, H, W, C). Received shape {array.shape} "
            f"for '{path}'"
        )
    spacing = _check_spacing(spacing)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if suffix in (".nii", ".nii.gz"):
        if array.dtype == np.int64:
            # NIfTI readers widely lack int64; labels fit in int32.
            array = array.astype(np.int32)
        img = nib.Nifti1Image(
            array, np.diag([*spacing, 1.0]) if affine is None else affine
        )
        img.header.set_zooms(spacing + (1.0,) * (array.ndim - 3))
        nib.save(img, path)
    elif suffix == ".npz":
        np.savez_compressed(path, volume=array, spacing=np.asarray(spacing))
    else:
        np.save(path, array)
        _spacing_sidecar(path).write_text(json.dumps({"spacing": list(spacing)}))


def normalize_volume(
    volume: np.ndarray,
    *,
    method: Literal["zscore", "minmax"] = "zscore",
    clip: tuple[float, float] | None = None,
) -> np.ndarray:
    """Normalises intensities of a volume (e.g. CT in HU) to ``float32``.

    Args:
        volume: Input array.
        method: ``"zscore"`` (zero mean, unit std) or ``"minmax"`` (to ``[0, 1]``).
            Defaults to ``"zscore"``.
        clip: Intensity window applied first, e.g. ``(-1000, 400)``. Defaults to
            None.

    Returns:
        The normalised ``float32`` array (a constant volume becomes zeros).

    Raises:
        ValueError: If ``method`` or ``clip`` is invalid.

    Example:
        >>> normalize_volume(np.array([0.0, 5.0, 10.0]), method="minmax").tolist()
        [0.0, 0.5, 1.0]
    """
    if method not in ("zscore", "minmax"):
        raise ValueError(
            f"`method` must be 'zscore' or 'minmax'. Received: method={method!r}"
        )
    volume = np.asarray(volume, dtype=np.float32)
    if clip is not None:
        if len(clip) != 2 or clip[0] >= clip[1]:
            raise ValueError(
                f"`clip` must be (low, high), low < high. Received: {clip}"
            )
        volume = np.clip(volume, clip[0], clip[1])
    if method == "zscore":
        std = volume.std()
        return (volume - volume.mean()) / std if std > 0 else np.zeros_like(volume)
    span = volume.max() - volume.min()
    return (volume - volume.min()) / span if span > 0 else np.zeros_like(volume)
