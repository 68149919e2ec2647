"""Dataset layouts on disk: image/label folders, DRIVE and ISBI 2012.

Each reader returns one :class:`~data_pipelines.dataset.ImageSet` of
channels-last ``float32`` images in ``[0, 1]`` and ``{0, 1}`` masks
(:mod:`data_pipelines.image_io`), in natural name order. Errors name the
offending file or folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from data_pipelines.dataset import ImageSet, natural_key
from data_pipelines.image_io import (
    IMAGE_SUFFIXES,
    _image_from_raw,
    _read_raw,
    image_bit_depth,
    read_image,
    read_mask,
)

__all__ = ["load_drive", "load_folder_pairs", "load_isbi", "pair_by_stem"]


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


def pair_by_stem(
    images: dict[str, Path],
    labels: dict[str, Path],
    image_dir: Path,
    label_dir: Path,
    label_suffix: str = "",
) -> dict[str, Path]:
    """Each image stem's label file (``label stem = image stem + label_suffix``).

    Args:
        images: Image stem -> file.
        labels: Label stem -> file.
        image_dir: The images' folder (named in errors).
        label_dir: The labels' folder (named in errors).
        label_suffix: Suffix of a label's stem. Defaults to ``""``.

    Raises:
        FileNotFoundError: If an image has no label or a label has no image (the
            file is named).
    """
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
                f"'{image_path}' has no label in '{label_dir}' (expected a file "
                f"with stem '{stem}{label_suffix}')"
            )
    for stem, label_path in by_image_stem.items():
        if stem not in images:
            raise FileNotFoundError(
                f"Label '{label_path}' has no image in '{image_dir}'"
            )
    return by_image_stem


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
) -> ImageSet:
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
    needs (:func:`~data_pipelines.image_io.image_bit_depth`), recorded as the
    set's ``normalization`` (``{"bit_depth": 12}``; 8 for 8-bit files, None for
    floating-point ones).

    Returns:
        One :class:`~data_pipelines.dataset.ImageSet` of the pairs (names are the
        image stems), ``kind`` ``"folder:<root>"``.

    Raises:
        FileNotFoundError: If a folder is missing or holds no image files, or if an
            image has no label or a label has no image (the file is named).
        ValueError: If a file is unreadable, an image and its label differ in size,
            channel counts differ, a mask is not binary, or ``limit`` < 1.

    Example:
        >>> pairs = load_folder_pairs("isbi2012_membrane/train", limit=2)
        >>> pairs.names, pairs.images[0].shape
        (['0', '1'], (512, 512, 1))
    """
    if limit is not None and limit < 1:
        raise ValueError(f"`limit` must be >= 1 or None. Received: limit={limit}")
    root = Path(root)
    images = _list_images(root / image_dir)
    labels = _list_images(root / label_dir)
    by_image_stem = pair_by_stem(
        images, labels, root / image_dir, root / label_dir, label_suffix
    )
    stems = sorted(images, key=natural_key)[:limit]
    raws = {stem: _read_raw(images[stem]) for stem in stems}
    bits16 = max(
        (image_bit_depth(r) for r in raws.values() if r.dtype == np.uint16),
        default=None,
    )
    pairs = ImageSet([], [], [], kind=f"folder:{root}")
    depths = set()
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
        pairs.images.append(image)
        pairs.masks.append(mask)
        pairs.names.append(stem)
        depths.add(depth)
    depths.discard(None)
    pairs.normalization = {"bit_depth": max(depths)} if depths else None
    return pairs


def load_drive(
    root: str | Path,
    split: Literal["training", "test"] = "training",
    *,
    limit: int | None = None,
) -> ImageSet:
    """Reads the DRIVE retinal vessel set in its official layout.

    Layout: ``root/{training,test}/images/NN_<split>.tif`` (RGB),
    ``root/<split>/1st_manual/NN_manual1.gif`` (vessels, 0/255) and
    ``root/<split>/mask/NN_<split>_mask.gif`` (field of view, 0/255).

    Args:
        root: DRIVE folder (the one holding ``training/`` and ``test/``).
        split: ``"training"`` or ``"test"``. Defaults to ``"training"``.
        limit: Read only the first ``limit`` images. Defaults to None (all).

    Returns:
        An :class:`~data_pipelines.dataset.ImageSet` (``kind`` ``"drive"``):
        ``images`` ``float32 (584, 565, 3)`` in ``[0, 1]``, ``masks`` ``float32
        (H, W, 1)`` in {0, 1} (None for a test split that has no ``1st_manual``
        folder), ``fov`` ``float32 (H, W, 1)`` in {0, 1} and ``names`` (the ``NN``
        ids, sorted).

    Raises:
        FileNotFoundError: If a folder or an expected file is missing (it is named)
            or the images folder holds no ``NN_<split>.tif``.
        ValueError: If ``split`` or ``limit`` is invalid, or a file is unreadable,
            non-binary, not RGB, or differs in size from its image.

    Example:
        >>> drive = load_drive("../shared/data/drive", limit=2)
        >>> drive.images[0].shape, drive.fov[0].shape, drive.names
        ((584, 565, 3), (584, 565, 1), ['21', '22'])
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
    return ImageSet(
        images, masks if with_manual else None, names, fov=fovs, kind="drive"
    )


def load_isbi(
    root: str | Path,
    *,
    split: str = "train",
    foreground: Literal["interior", "membrane"] = "interior",
    limit: int | None = None,
) -> ImageSet:
    """Reads the ISBI 2012 EM membrane set (``root/<split>/{image,label}/N.png``).

    Args:
        root: Folder holding ``train/`` (e.g. ``isbi2012_membrane``).
        split: Sub-folder to read. Defaults to ``"train"``.
        foreground: Which class is 1 in the mask: ``"interior"`` keeps the file's
            labels (255 = cell interior, as the U-Net paper's data), ``"membrane"``
            inverts them. Defaults to ``"interior"``.
        limit: Read only the first ``limit`` slices. Defaults to None (all).

    Returns:
        An :class:`~data_pipelines.dataset.ImageSet` (``kind`` ``"isbi"``):
        ``images`` ``float32 (512, 512, 1)``, ``masks`` ``float32 (512, 512, 1)``
        in {0, 1} and ``names`` (slice numbers in natural order).

    Raises:
        FileNotFoundError: If a folder is missing or empty, or a slice lacks its
            label.
        ValueError: If ``foreground`` is invalid or a file is unreadable,
            non-binary, not grayscale or of another size than its label.

    Example:
        >>> isbi = load_isbi("../shared/data/isbi2012_membrane", limit=3)
        >>> len(isbi), isbi.images[0].shape, isbi.names
        (3, (512, 512, 1), ['0', '1', '2'])
    """
    if foreground not in ("interior", "membrane"):
        raise ValueError(
            "`foreground` must be 'interior' or 'membrane'. Received: "
            f"foreground={foreground!r}"
        )
    pairs = load_folder_pairs(Path(root) / split, channels=1, limit=limit)
    masks = pairs.masks if foreground == "interior" else [1.0 - m for m in pairs.masks]
    return ImageSet(pairs.images, masks, pairs.names, kind="isbi")
