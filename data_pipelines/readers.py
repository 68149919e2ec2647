"""Readers for 2D image/label folders, DRIVE, ISBI 2012 and 3D volumes.

Every 2D reader returns channels-last ``float32`` arrays: images ``(H, W, C)`` scaled
to ``[0, 1]`` and masks ``(H, W, K)`` with values in ``{0, 1}`` (``K = 1`` for a
binary mask, ``K = n_classes`` for one-hot multi-class labels). Errors name the
offending file.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".gif", ".bmp", ".jpg", ".jpeg", ".npy")
"""File suffixes recognised by :func:`read_image`, :func:`read_mask` and the folders."""

VOLUME_SUFFIXES = (".npy", ".npz", ".nii", ".nii.gz")
"""File suffixes recognised by :func:`load_volume` and :func:`save_volume`."""

BIT_DEPTHS = (10, 12, 14, 16)
"""Bit depths of data stored in 16-bit images (microscopy and X-ray cameras)."""


@dataclass(frozen=True)
class Sample:
    """One image/label pair read from disk.

    Attributes:
        name: File stem shared by the image and its label.
        image: ``float32`` image ``(H, W, C)`` in ``[0, 1]``.
        mask: ``float32`` mask ``(H, W, K)`` with values in ``{0, 1}``.
        image_path: Path of the image file.
        label_path: Path of the label file.
        bit_depth: Bits the image was scaled by (8 for ``uint8``, 10-16 for
            ``uint16``), None for floating-point files.
    """

    name: str
    image: np.ndarray
    mask: np.ndarray
    image_path: Path
    label_path: Path
    bit_depth: int | None = None


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``"2.png"`` before ``"10.png"``.

    Args:
        name: File name or stem.

    Returns:
        A list of ints and lower-case strings to compare.

    Example:
        >>> sorted(["10.png", "2.png", "1.png"], key=natural_key)
        ['1.png', '2.png', '10.png']
    """
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


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


def _list_images(folder: Path) -> dict[str, Path]:
    """Maps stem -> file for the supported image files in ``folder``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"Folder not found: '{folder}'")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in files:
            raise ValueError(
                f"Two files share the stem '{path.stem}': '{files[path.stem]}' and "
                f"'{path}'"
            )
        files[path.stem] = path
    if not files:
        raise FileNotFoundError(
            f"No image files ({', '.join(IMAGE_SUFFIXES)}) in folder '{folder}'"
        )
    return files


def _check_same_size(image: np.ndarray, mask: np.ndarray, ip: Path, lp: Path) -> None:
    if image.shape[:-1] != mask.shape[:-1]:
        raise ValueError(
            f"Size mismatch: image '{ip}' is {image.shape[0]}x{image.shape[1]} but "
            f"label '{lp}' is {mask.shape[0]}x{mask.shape[1]}"
        )


def load_folder_pairs(
    root: str | Path,
    *,
    image_dir: str = "image",
    label_dir: str = "label",
    label_suffix: str = "",
    binary: bool = True,
    n_classes: int | None = None,
    class_values: Sequence[float] | None = None,
    channels: int | None = None,
    limit: int | None = None,
) -> list[Sample]:
    """Reads image/label pairs from ``root/image_dir`` and ``root/label_dir``.

    Files are matched by stem (``label stem = image stem + label_suffix``), so
    ``image/7.tif`` pairs with ``label/7.png``. Pairs are returned in natural order
    (``2`` before ``10``). Files with other suffixes and hidden files are ignored.

    Args:
        root: Dataset folder.
        image_dir: Sub-folder with the images. Defaults to ``"image"``.
        label_dir: Sub-folder with the labels. Defaults to ``"label"``.
        label_suffix: Suffix of a label's stem, e.g. ``"_mask"``. Defaults to ``""``.
        binary: Passed to :func:`read_mask`. Defaults to True.
        n_classes: Passed to :func:`read_mask`. Defaults to None.
        class_values: Passed to :func:`read_mask`. Defaults to None.
        channels: Required image channel count; None requires every image to have
            the channel count of the first. Defaults to None.
        limit: Read only the first ``limit`` pairs. Defaults to None (all).

    16-bit images are all scaled by one bit depth, the largest any of them
    needs (:func:`image_bit_depth`), recorded in each :class:`Sample`.

    Returns:
        One :class:`Sample` per pair.

    Raises:
        FileNotFoundError: If a folder is missing or holds no image files, or if an
            image has no label or a label has no image (the file is named).
        ValueError: If a file is unreadable, an image and its label differ in size,
            channel counts differ, a mask is not binary, or ``limit`` < 1.

    Example:
        >>> samples = load_folder_pairs("isbi2012_membrane/train", limit=2)
        >>> [s.name for s in samples], samples[0].image.shape
        (['0', '1'], (512, 512, 1))
    """
    if limit is not None and limit < 1:
        raise ValueError(f"`limit` must be >= 1 or None. Received: limit={limit}")
    root = Path(root)
    images = _list_images(root / image_dir)
    labels = _list_images(root / label_dir)
    by_image_stem = {}
    for stem, label_path in labels.items():
        if not stem.endswith(label_suffix):
            raise FileNotFoundError(
                f"Label '{label_path}' has no image: its stem does not end with "
                f"label_suffix='{label_suffix}'"
            )
        by_image_stem[stem[: len(stem) - len(label_suffix)]] = label_path
    for stem, image_path in images.items():
        if stem not in by_image_stem:
            raise FileNotFoundError(
                f"Image '{image_path}' has no label in '{root / label_dir}' (expected "
                f"a file with stem '{stem}{label_suffix}')"
            )
    for stem, label_path in by_image_stem.items():
        if stem not in images:
            raise FileNotFoundError(
                f"Label '{label_path}' has no image in '{root / image_dir}'"
            )
    stems = sorted(images, key=natural_key)[:limit]
    raws = {stem: _read_raw(images[stem]) for stem in stems}
    bits16 = max(
        (image_bit_depth(r) for r in raws.values() if r.dtype == np.uint16),
        default=None,
    )
    samples = []
    for stem in stems:
        image_path, label_path = images[stem], by_image_stem[stem]
        raw = raws.pop(stem)
        depth = bits16 if raw.dtype == np.uint16 else image_bit_depth(raw)
        image = _image_from_raw(raw, image_path, channels, depth)
        if channels is None:
            channels = image.shape[-1]
        mask = read_mask(
            label_path, binary=binary, n_classes=n_classes, class_values=class_values
        )
        _check_same_size(image, mask, image_path, label_path)
        samples.append(Sample(stem, image, mask, image_path, label_path, depth))
    return samples


def stack_samples(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """Stacks samples into ``images (N, H, W, C)`` and ``masks (N, H, W, K)``.

    Args:
        samples: Samples of one size, e.g. from :func:`load_folder_pairs`.

    Returns:
        The stacked images and masks.

    Raises:
        ValueError: If ``samples`` is empty or the samples differ in shape.

    Example:
        >>> images, masks = stack_samples(load_folder_pairs("isbi/train", limit=2))
        >>> images.shape, masks.shape
        ((2, 512, 512, 1), (2, 512, 512, 1))
    """
    if len(samples) == 0:
        raise ValueError("`samples` is empty: the dataset has zero samples")
    first = samples[0]
    for sample in samples[1:]:
        if (sample.image.shape, sample.mask.shape) != (
            first.image.shape,
            first.mask.shape,
        ):
            raise ValueError(
                f"Cannot stack samples of different shapes: '{first.image_path}' is "
                f"{first.image.shape}/{first.mask.shape}, '{sample.image_path}' is "
                f"{sample.image.shape}/{sample.mask.shape}"
            )
    return (
        np.stack([s.image for s in samples]),
        np.stack([s.mask for s in samples]),
    )


def load_drive(
    root: str | Path,
    split: Literal["training", "test"] = "training",
    *,
    limit: int | None = None,
) -> dict[str, Any]:
    """Reads the DRIVE retinal vessel set in its official layout.

    Layout: ``root/{training,test}/images/NN_<split>.tif`` (RGB),
    ``root/<split>/1st_manual/NN_manual1.gif`` (vessels, 0/255) and
    ``root/<split>/mask/NN_<split>_mask.gif`` (field of view, 0/255).

    Args:
        root: DRIVE folder (the one holding ``training/`` and ``test/``).
        split: ``"training"`` or ``"test"``. Defaults to ``"training"``.
        limit: Read only the first ``limit`` images. Defaults to None (all).

    Returns:
        A dict with ``"images"`` ``float32 (N, 584, 565, 3)`` in ``[0, 1]``,
        ``"masks"`` ``float32 (N, H, W, 1)`` in {0, 1} (None for a test split that
        has no ``1st_manual`` folder), ``"fov"`` ``float32 (N, H, W, 1)`` in {0, 1}
        and ``"names"`` (the ``NN`` ids, sorted).

    Raises:
        FileNotFoundError: If a folder or an expected file is missing (it is named)
            or the images folder holds no ``NN_<split>.tif``.
        ValueError: If ``split`` or ``limit`` is invalid, or a file is unreadable,
            non-binary, not RGB, or differs in size from its image.

    Example:
        >>> drive = load_drive("../shared/data/drive", limit=2)
        >>> drive["images"].shape, drive["fov"].shape, drive["names"]
        ((2, 584, 565, 3), (2, 584, 565, 1), ['21', '22'])
    """
    if split not in ("training", "test"):
        raise ValueError(
            f"`split` must be 'training' or 'test'. Received: split={split!r}"
        )
    if limit is not None and limit < 1:
        raise ValueError(f"`limit` must be >= 1 or None. Received: limit={limit}")
    base = Path(root) / split
    image_dir, manual_dir, fov_dir = (
        base / "images",
        base / "1st_manual",
        base / "mask",
    )
    if not image_dir.is_dir():
        raise FileNotFoundError(f"DRIVE folder not found: '{image_dir}'")
    pattern = re.compile(rf"^(\d+)_{split}\.tif$")
    names = sorted(
        (m.group(1) for p in image_dir.iterdir() if (m := pattern.match(p.name))),
        key=int,
    )[:limit]
    if not names:
        raise FileNotFoundError(f"No 'NN_{split}.tif' images in '{image_dir}'")
    with_manual = split == "training" or manual_dir.is_dir()
    images, masks, fovs = [], [], []
    for name in names:
        image_path = image_dir / f"{name}_{split}.tif"
        image = read_image(image_path, channels=3)
        fov_path = fov_dir / f"{name}_{split}_mask.gif"
        fov = read_mask(fov_path)
        _check_same_size(image, fov, image_path, fov_path)
        images.append(image)
        fovs.append(fov)
        if with_manual:
            manual_path = manual_dir / f"{name}_manual1.gif"
            mask = read_mask(manual_path)
            _check_same_size(image, mask, image_path, manual_path)
            masks.append(mask)
    return {
        "images": np.stack(images),
        "masks": np.stack(masks) if with_manual else None,
        "fov": np.stack(fovs),
        "names": names,
    }


def load_isbi(
    root: str | Path,
    *,
    split: str = "train",
    foreground: Literal["interior", "membrane"] = "interior",
    limit: int | None = None,
) -> dict[str, Any]:
    """Reads the ISBI 2012 EM membrane set (``root/<split>/{image,label}/N.png``).

    Args:
        root: Folder holding ``train/`` (e.g. ``isbi2012_membrane``).
        split: Sub-folder to read. Defaults to ``"train"``.
        foreground: Which class is 1 in the mask: ``"interior"`` keeps the file's
            labels (255 = cell interior, as the U-Net paper's data), ``"membrane"``
            inverts them. Defaults to ``"interior"``.
        limit: Read only the first ``limit`` slices. Defaults to None (all).

    Returns:
        A dict with ``"images"`` ``float32 (N, 512, 512, 1)``, ``"masks"``
        ``float32 (N, 512, 512, 1)`` in {0, 1} and ``"names"`` (slice numbers in
        natural order).

    Raises:
        FileNotFoundError: If a folder is missing or empty, or a slice lacks its
            label.
        ValueError: If ``foreground`` is invalid or a file is unreadable,
            non-binary, not grayscale or of another size than its label.

    Example:
        >>> isbi = load_isbi("../shared/data/isbi2012_membrane", limit=3)
        >>> isbi["images"].shape, isbi["names"]
        ((3, 512, 512, 1), ['0', '1', '2'])
    """
    if foreground not in ("interior", "membrane"):
        raise ValueError(
            "`foreground` must be 'interior' or 'membrane'. Received: "
            f"foreground={foreground!r}"
        )
    samples = load_folder_pairs(Path(root) / split, channels=1, limit=limit)
    images, masks = stack_samples(samples)
    if foreground == "membrane":
        masks = 1.0 - masks
    return {"images": images, "masks": masks, "names": [s.name for s in samples]}


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
