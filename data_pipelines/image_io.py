"""Reading 2D image and label files as channels-last ``float32`` arrays.

Images are ``(H, W, C)`` scaled to ``[0, 1]`` (8-bit by 255, 16-bit by their bit
depth), masks ``(H, W, K)`` with values in ``{0, 1}`` (``K = 1`` for a binary
mask, ``K = n_classes`` for one-hot multi-class labels). Errors name the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["BIT_DEPTHS", "IMAGE_SUFFIXES", "image_bit_depth", "read_image", "read_mask"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".gif", ".bmp", ".jpg", ".jpeg", ".npy")
"""File suffixes recognised by :func:`read_image`, :func:`read_mask` and the folders."""

BIT_DEPTHS = (10, 12, 14, 16)
"""Bit depths of data stored in 16-bit images (microscopy and X-ray cameras)."""


def _read_raw(path: Path) -> np.ndarray:
    """Reads a 2D image file as stored: ``(H, W)`` or ``(H, W, C)``, RGB order."""
    if not path.is_file():
        raise FileNotFoundError(f"File not found: '{path}'")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(
            f"Unsupported file type '{suffix}' for '{path}'. "
            f"Supported: {', '.join(IMAGE_SUFFIXES)}"
        )
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(
                f"Cannot read '{path}' (corrupt .npy file): {err}"
            ) from err
    elif suffix == ".gif":
        # OpenCV has no GIF decoder; Pillow reads the first frame.
        try:
            with Image.open(path) as img:
                if img.mode in ("1", "L"):
                    array = np.asarray(img.convert("L"))
                else:
                    array = np.asarray(img.convert("RGB"))
                    if (array == array[..., :1]).all():
                        array = array[..., 0]
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"Cannot read '{path}' (corrupt GIF file): {err}") from err
    else:
        # imdecode (not imread) so that non-ASCII paths work on every platform.
        array = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise ValueError(f"Cannot read '{path}' (unreadable or corrupt image file)")
        if array.ndim == 3 and array.shape[-1] == 3:
            array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
        elif array.ndim == 3 and array.shape[-1] == 4:
            array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    if suffix == ".npy" and array.ndim == 3 and array.shape[-1] > 4:
        raise ValueError(
            f"'{path}' looks like a 3D volume (shape {array.shape}), not a 2D image "
            "(H, W) or (H, W, C<=4); put volumes in a volumes:PATH dataset"
        )
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(
            f"'{path}' holds an array of shape {array.shape}; expected a 2D image "
            "(H, W) or (H, W, C)"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"'{path}' contains NaN or infinite values")
    return array


def image_bit_depth(array: np.ndarray) -> int | None:
    """Bits of an integer image; None for other dtypes.

    8 for ``uint8``; for ``uint16`` the smallest of :data:`BIT_DEPTHS` that
    holds its largest value.

    Example:
        >>> image_bit_depth(np.array([[0, 4000]], np.uint16))
        12
    """
    if array.dtype == np.uint8:
        return 8
    if array.dtype != np.uint16:
        return None
    high = int(array.max())
    return next(bits for bits in BIT_DEPTHS if high < 2**bits)


def _scale_to_unit(
    array: np.ndarray, path: Path, bit_depth: int | None = None
) -> np.ndarray:
    """Scales an image to ``[0, 1]`` by its bit depth (uint8, uint16) or range."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        bits = bit_depth or image_bit_depth(array)
        if int(array.max()) >= 2**bits:
            raise ValueError(
                f"'{path}' has values up to {int(array.max())}, more than "
                f"{bits}-bit data holds ({2**bits - 1})"
            )
        return array.astype(np.float32) / float(2**bits - 1)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    low, high = float(array.min()), float(array.max())
    if low < 0:
        raise ValueError(
            f"'{path}' has negative values (min {low:g}); expected an image in [0, 1], "
            "[0, 255] or [0, 65535]"
        )
    for limit in (1.0, 255.0, 65535.0):
        if high <= limit:
            return (array / limit).astype(np.float32)
    raise ValueError(
        f"'{path}' has values up to {high:g}; expected an image in [0, 1], [0, 255] "
        "or [0, 65535]"
    )


def read_image(
    path: str | Path, *, channels: int | None = None, bit_depth: int | None = None
) -> np.ndarray:
    """Reads a 2D image as ``float32`` ``(H, W, C)`` in ``[0, 1]``.

    PNG, TIF, BMP and JPG are decoded with OpenCV (colour returned in RGB order),
    GIF with Pillow and NPY with NumPy. ``uint8`` is divided by 255; ``uint16`` by
    ``2**bits - 1`` for its bit depth (``bit_depth``, or the smallest of 10, 12,
    14 and 16 bits holding its values: 12-bit camera data stored in 16-bit PNGs
    is not darkened 16-fold); other dtypes are divided by the smallest of 1, 255
    or 65535 that bounds their values. A grayscale image gets a channel axis.

    Args:
        path: Image file.
        channels: Required number of channels, or None to accept what the file
            holds. Defaults to None.
        bit_depth: Bits of ``uint16`` data (one value for a whole dataset).
            Defaults to None (inferred from this file).

    Returns:
        The image, ``float32`` of shape ``(H, W, C)``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is unreadable or corrupt, has an unsupported suffix,
            holds NaN/inf or negative values, or has a channel count other than
            ``channels``. The message names the file.

    Example:
        >>> image = read_image("drive/training/images/21_training.tif", channels=3)
        >>> image.shape, image.dtype
        ((584, 565, 3), dtype('float32'))
    """
    path = Path(path)
    return _image_from_raw(_read_raw(path), path, channels, bit_depth)


def _image_from_raw(
    raw: np.ndarray, path: Path, channels: int | None, bit_depth: int | None
) -> np.ndarray:
    image = _scale_to_unit(raw, path, bit_depth)
    if image.ndim == 2:
        image = image[..., None]
    if channels is not None and image.shape[-1] != channels:
        raise ValueError(
            f"'{path}' has {image.shape[-1]} channels; expected channels={channels}"
        )
    return image


def _single_channel_label(array: np.ndarray, path: Path) -> np.ndarray:
    """Reduces a label image to ``(H, W)``; colour labels must be gray."""
    if array.ndim == 3:
        if array.shape[-1] == 4:
            array = array[..., :3]
        if not (array == array[..., :1]).all():
            raise ValueError(
                f"Label '{path}' has {array.shape[-1]} channels with different values; "
                "expected a single-channel (grayscale) label image"
            )
        array = array[..., 0]
    return array


def read_mask(
    path: str | Path,
    *,
    binary: bool = True,
    n_classes: int | None = None,
    class_values: Sequence[float] | None = None,
) -> np.ndarray:
    """Reads a label image as a ``float32`` mask ``(H, W, K)`` with values in {0, 1}.

    With ``binary=True`` the label must hold at most two values, 0 and one positive
    value (0/1, 0/255, ...); the result is ``label > 0`` with ``K = 1``. Otherwise the
    label is one-hot encoded: either its integer values are class indices
    ``0..n_classes-1``, or ``class_values[i]`` is the grey value of class ``i``.

    Args:
        path: Label file (any suffix of :data:`IMAGE_SUFFIXES`; use PNG, not JPG,
            since JPG artefacts make a mask non-binary).
        binary: Whether the label is a binary mask. Defaults to True.
        n_classes: Number of classes for integer labels (``binary=False`` without
            ``class_values``). Defaults to None: the largest label + 1.
        class_values: Grey value of each class, e.g. ``(0, 255, 50)``. Defaults to
            None.

    Returns:
        The mask, ``float32`` of shape ``(H, W, K)``.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is unreadable, has differing colour channels, is
            not binary where ``binary=True``, or holds a value that is not a class.
            The message names the file.

    Example:
        >>> vessels = read_mask("drive/training/1st_manual/21_manual1.gif")
        >>> vessels.shape, sorted(set(vessels.ravel().tolist()))
        ((584, 565, 1), [0.0, 1.0])
    """
    path = Path(path)
    label = _single_channel_label(_read_raw(path), path)
    if binary:
        if n_classes is not None or class_values is not None:
            raise ValueError(
                "`n_classes` and `class_values` need binary=False. Received: "
                f"n_classes={n_classes}, class_values={class_values}"
            )
        values = np.unique(label)
        if values.size > 2 or (values.size == 2 and values[0] != 0):
            shown = ", ".join(f"{v:g}" for v in values[:6])
            raise ValueError(
                f"Mask '{path}' is not binary: it holds {values.size} values "
                f"({shown}{', ...' if values.size > 6 else ''}). Expected 0 and one "
                "positive value; pass binary=False for multi-class labels"
            )
        return (label > 0)[..., None].astype(np.float32)
    if class_values is not None:
        if n_classes is not None and n_classes != len(class_values):
            raise ValueError(
                f"`n_classes` must equal len(class_values). Received: n_classes="
                f"{n_classes}, class_values={tuple(class_values)}"
            )
        indices = np.full(label.shape, -1, dtype=np.int64)
        for i, value in enumerate(class_values):
            indices[label == value] = i
        if (indices < 0).any():
            unknown = np.unique(label[indices < 0])[:6]
            raise ValueError(
                f"Label '{path}' holds values {unknown.tolist()} that are not in "
                f"class_values={tuple(class_values)}"
            )
        n = len(class_values)
    else:
        if label.dtype.kind == "f" and not (label == np.round(label)).all():
            raise ValueError(f"Label '{path}' holds non-integer values")
        indices = label.astype(np.int64)
        if indices.min() < 0:
            raise ValueError(f"Label '{path}' holds negative class indices")
        n = int(indices.max()) + 1 if n_classes is None else n_classes
        if indices.max() >= n:
            raise ValueError(
                f"Label '{path}' holds class {int(indices.max())} but n_classes={n}"
            )
    return np.eye(n, dtype=np.float32)[indices]
