"""Datasets by name for the training, prediction and evaluation scripts.

A dataset is a list of whole images (or volumes) with their masks, names and
optional field-of-view masks (:class:`~data_pipelines.dataset.ImageSet`, the
type every reader returns). Splits into training,
validation and held-out images are made BY IMAGE, so patches of one image never
reach two splits.

Dataset specifications (``--dataset``):

* ``synthetic`` (``synthetic:cells``): generated 2D vessel (cell) images;
* ``synthetic3d``: generated 3D volumes with blobs and tubes;
* ``drive``: DRIVE retinal vessels, ``--data-root`` holding ``training/``
  (``--split training`` or ``test``), with the field-of-view masks;
* ``isbi``: ISBI 2012 EM membranes, ``--data-root`` holding ``train/``;
* ``siim``: SIIM-ACR pneumothorax chest radiographs, ``--data-root`` holding
  ``dicom-images-train/`` (the nested DICOM tree) and ``train-rle.csv``; names are
  the ``SOPInstanceUID`` (the competition's ``ImageId``), spacing the
  ``PixelSpacing``;
* ``folder:PATH``: 2D image/label pairs in ``PATH/image`` and ``PATH/label``;
* ``volumes:PATH``: 3D volumes (``.npy``, ``.npz``, ``.nii``, ``.nii.gz``) in
  ``PATH/image`` and label volumes with the same names in ``PATH/label``;
* ``msd``: a Medical Segmentation Decathlon task, ``--data-root`` holding
  ``imagesTr/`` + ``labelsTr/`` (``--split training``, default) or ``imagesTs/``
  + ``labelsTs/`` (``--split test``); classes from ``dataset.json`` when there is
  one (else ``n_classes``, else 3), one-hot labels, per-case z-score, the
  affine and spacing of each case kept (:mod:`data_pipelines.msd`).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

import zoo
from data_pipelines.dataset import ImageSet, natural_key
from data_pipelines.dicom import find_dicoms, read_dicom
from data_pipelines.layouts import (
    load_drive,
    load_folder_pairs,
    load_isbi,
    pair_by_stem,
)
from data_pipelines.msd import class_names, load_msd, zscore_case
from data_pipelines.rle import decode_rows, read_rle_csv
from data_pipelines.synthetic import make_2d_dataset, make_3d_dataset
from data_pipelines.volumes import VOLUME_SUFFIXES, load_volume, normalize_volume

__all__ = [
    "DATASET_KINDS",
    "ImageSet",
    "load_dataset",
    "parse_names",
    "prepare_volume",
    "from_model_layout",
    "in_model_layout",
    "slices_last",
    "to_model_layout",
    "split_by_image",
    "volume_stem",
]

DATASET_KINDS = (
    "synthetic",
    "synthetic3d",
    "drive",
    "isbi",
    "msd",
    "siim",
    "folder:",
    "volumes:",
)


def parse_names(text: str | Sequence[str] | None) -> list[str]:
    """Image names from ``"37,38,39-40"`` (ranges of integers expand).

    Raises:
        ValueError: On a malformed range.
    """
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    names: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        low, sep, high = part.partition("-")
        if sep and low.isdigit() and high.isdigit():
            if int(high) < int(low):
                raise ValueError(f"Empty image range {part!r}: {high} < {low}")
            names += [str(i) for i in range(int(low), int(high) + 1)]
        else:
            names.append(part)
    return names


def volume_stem(path: Path) -> str:
    """File name without a volume suffix (``a.nii.gz`` -> ``a``)."""
    lowered = path.name.lower()
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if lowered.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def prepare_volume(volume: np.ndarray) -> np.ndarray:
    """A volume as the 3D models see it: ``(D, H, W, C)``, z-scored per channel.

    The training loader and the predictor share this, so a checkpoint sees the
    same intensities at inference as in training.
    """
    volume = np.asarray(volume, np.float32)
    if volume.ndim == 3:
        volume = volume[..., None]
    return np.stack(
        [normalize_volume(volume[..., c]) for c in range(volume.shape[-1])], -1
    )


def _volume_mask(label: np.ndarray, n_classes: int, path: Path) -> np.ndarray:
    if label.ndim == 4:
        if label.shape[-1] != 1:
            raise ValueError(
                f"Label volume '{path}' has {label.shape[-1]} channels; expected one "
                "channel of class indices"
            )
        label = label[..., 0]
    values = np.unique(label)
    if n_classes == 1:
        if values.size > 2 or (values.size == 2 and values[0] != 0):
            raise ValueError(
                f"Label volume '{path}' is not binary (values {values[:6].tolist()}); "
                "pass --n-classes for multi-class labels"
            )
        return (label > 0).astype(np.float32)[..., None]
    if values.min() < 0 or values.max() >= n_classes or np.any(values % 1):
        raise ValueError(
            f"Label volume '{path}' holds values {values[:6].tolist()}; expected "
            f"class indices 0..{n_classes - 1}"
        )
    return np.eye(n_classes, dtype=np.float32)[label.astype(np.int64)]


def _load_volumes(root: Path, n_classes: int, limit: int | None) -> ImageSet:
    image_dir, label_dir = root / "image", root / "label"
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Folder not found: '{folder}' (volumes:PATH needs PATH/image and "
                "PATH/label)"
            )

    def listing(folder: Path) -> dict[str, Path]:
        return {
            volume_stem(p): p
            for p in folder.iterdir()
            if p.is_file() and p.name.lower().endswith(VOLUME_SUFFIXES)
        }

    images, labels = listing(image_dir), listing(label_dir)
    if not images:
        raise FileNotFoundError(
            f"No volume files ({', '.join(VOLUME_SUFFIXES)}) in '{image_dir}'"
        )
    labels = pair_by_stem(images, labels, image_dir, label_dir)
    names = sorted(images, key=natural_key)[:limit]
    out = ImageSet([], [], [], spacing=[], kind=f"volumes:{root}")
    for stem in names:
        volume, meta = load_volume(images[stem])
        label, _ = load_volume(labels[stem])
        volume = prepare_volume(volume)
        mask = _volume_mask(label, n_classes, labels[stem])
        if volume.shape[:-1] != mask.shape[:-1]:
            raise ValueError(
                f"Size mismatch: volume '{images[stem]}' is {volume.shape[:-1]} but "
                f"label '{labels[stem]}' is {mask.shape[:-1]}"
            )
        out.images.append(volume)
        out.masks.append(mask)
        out.names.append(stem)
        out.spacing.append(tuple(meta["spacing"]))
    return out


def _load_msd(root: Path, split: str, n_classes: int, limit: int | None) -> ImageSet:
    names = class_names(root, n_classes if n_classes > 1 else 3)
    cases = load_msd(root, split=split, n_classes=len(names), limit=limit)
    return dataclasses.replace(cases, images=[zscore_case(x) for x in cases.images])


def _load_siim(root: Path, split: str | None, limit: int | None) -> ImageSet:
    """The SIIM DICOMs under ``root/dicom-images-<split>`` with their RLE masks."""
    split = split or "train"
    if split != "train":
        raise ValueError(
            f"--dataset siim has labels only for --split train. Received: {split!r}"
        )
    rows = read_rle_csv(root / "train-rle.csv")
    files = find_dicoms(root / "dicom-images-train")
    out = ImageSet([], [], [], spacing=[], kind="siim")
    unlabelled = []
    for path in files:
        image, meta = read_dicom(path)
        if meta["image_id"] not in rows:
            # The competition's training tree holds a few images without a row.
            unlabelled.append(path.name)
            continue
        mask = decode_rows(rows[meta["image_id"]], image.shape[:2])
        out.images.append(image)
        out.masks.append(mask.astype(np.float32)[..., None])
        out.names.append(meta["image_id"])
        out.spacing.append(meta["spacing"] or (1.0, 1.0))
        if limit is not None and len(out) == limit:
            break
    if not out.names:
        raise FileNotFoundError(
            f"No DICOM under '{root / 'dicom-images-train'}' has a row in "
            f"'{root / 'train-rle.csv'}'"
        )
    if unlabelled:
        warnings.warn(
            f"siim: skipped {len(unlabelled)} DICOM(s) without a row in "
            f"train-rle.csv, e.g. {unlabelled[0]}",
            stacklevel=2,
        )
    return out


def slices_last(model: keras.Model | str) -> bool:
    """Whether a model takes volumes as ``(H, W, S, C)`` (slices last).

    Read from the model's spec (``zoo.spec(key).layout``): ``model`` is a
    registry key or a model built by a registered builder (any ``name=``). The
    2.5D U-Net (Wang et al., MICCAI 2019), for one, convolves in-plane over a
    thin stack of slices on the *last* spatial axis, while the readers return
    volumes as ``(D, H, W, C)`` with the slices first.
    """
    spec = zoo.spec(model) if isinstance(model, str) else zoo.spec_of(model)
    return spec is not None and spec.layout == "slices_last"


def to_model_layout(volume: np.ndarray, model: keras.Model | str) -> np.ndarray:
    """``(D, H, W, C)`` -> ``(H, W, D, C)`` for slices-last models, else as is."""
    return np.moveaxis(volume, 0, 2) if slices_last(model) else volume


def from_model_layout(volume: np.ndarray, model: keras.Model | str) -> np.ndarray:
    """Inverse of :func:`to_model_layout`."""
    return np.moveaxis(volume, 2, 0) if slices_last(model) else volume


def in_model_layout(image_set: ImageSet, model: keras.Model | str) -> ImageSet:
    """An image set of volumes rearranged for ``model`` (2D sets unchanged)."""
    if image_set.rank != 3 or not slices_last(model):
        return image_set
    move = [to_model_layout(a, model) for a in image_set.images]
    masks = [to_model_layout(a, model) for a in image_set.masks]
    fov = None
    if image_set.fov is not None:
        fov = [to_model_layout(a, model) for a in image_set.fov]
    return dataclasses.replace(image_set, images=move, masks=masks, fov=fov)


def load_dataset(
    spec: str,
    *,
    data_root: str | Path | None = None,
    split: str | None = None,
    n_classes: int = 1,
    n_images: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    limit: int | None = None,
) -> ImageSet:
    """Loads a dataset by specification (see the module docstring).

    Args:
        spec: ``synthetic``, ``synthetic:cells``, ``synthetic3d``, ``drive``,
            ``isbi``, ``msd``, ``siim``, ``folder:PATH`` or ``volumes:PATH``.
        data_root: Folder of ``drive``/``isbi``/``msd``/``siim``.
        split: ``drive``: "training" (default) or "test"; ``isbi``: the
            sub-folder, "train" by default; ``msd``: "training" (default) or
            "test"; ``siim``: "train" only; ``folder:PATH`` and
            ``volumes:PATH``: read ``PATH/split`` when given. Synthetic data
            has no splits.
        n_classes: Classes of the labels (``folder:``/``volumes:``/``msd``); > 1
            reads integer labels as one-hot. Defaults to 1 (binary; for ``msd``:
            the classes of ``dataset.json``, else 3).
        n_images: Number of synthetic images. Defaults to 24 (2D) / 12 (3D).
        image_size: Side of the synthetic images. Defaults to 128 (2D) / 48
            (3D).
        seed: Seed of the synthetic data. Defaults to 0.
        limit: Read only the first ``limit`` images. Defaults to None (all).

    Returns:
        The :class:`ImageSet`.

    Raises:
        ValueError: On an unknown specification or a missing ``data_root``.
        FileNotFoundError: If a folder or file is missing (it is named).
    """
    kind, _, argument = spec.partition(":")
    if split is not None and kind in ("synthetic", "synthetic3d"):
        raise ValueError(
            f"--split applies to drive, isbi, msd, folder: and volumes: datasets, not "
            f"{spec!r}"
        )
    if split is not None and kind in ("folder", "volumes") and argument:
        if not (Path(argument) / split).is_dir():
            raise FileNotFoundError(
                f"--split {split}: folder '{Path(argument) / split}' not found "
                f"({kind}:PATH with --split reads PATH/{split})"
            )
        argument = str(Path(argument) / split)
    if kind == "synthetic":
        shape = (image_size or 128,) * 2
        images, masks = make_2d_dataset(
            n_images or 24, shape, kind=argument or "vessels", seed=seed
        )
        return ImageSet(
            list(images), list(masks), [str(i) for i in range(len(images))], kind=spec
        )
    if kind == "synthetic3d":
        shape = (image_size or 48,) * 3
        images, masks = make_3d_dataset(n_images or 12, shape, seed=seed)
        return ImageSet(
            list(images),
            list(masks),
            [str(i) for i in range(len(images))],
            spacing=[(1.0, 1.0, 1.0)] * len(images),
            kind=spec,
        )
    if kind in ("drive", "isbi", "msd"):
        if data_root is None:
            holds = {"drive": "training/", "isbi": "train/", "msd": "imagesTr/"}
            raise ValueError(
                f"--dataset {kind} needs --data-root (the folder holding {holds[kind]})"
            )
        if kind == "msd":
            return _load_msd(Path(data_root), split or "training", n_classes, limit)
        if kind == "drive":
            data = load_drive(data_root, split or "training", limit=limit)
            if data.masks is None:
                raise FileNotFoundError(
                    f"The DRIVE {split!r} split in '{data_root}' has no 1st_manual "
                    "labels"
                )
            return dataclasses.replace(data, kind=spec)
        data = load_isbi(data_root, split=split or "train", limit=limit)
        return dataclasses.replace(data, kind=spec)
    if kind == "siim":
        if data_root is None:
            raise ValueError(
                "--dataset siim needs --data-root (the folder holding "
                "dicom-images-train/ and train-rle.csv)"
            )
        return _load_siim(Path(data_root), split, limit)
    if kind == "folder" and argument:
        pairs = load_folder_pairs(
            argument,
            binary=n_classes == 1,
            n_classes=None if n_classes == 1 else n_classes,
            limit=limit,
        )
        return dataclasses.replace(pairs, kind=spec)
    if kind == "volumes" and argument:
        return _load_volumes(Path(argument), n_classes, limit)
    raise ValueError(
        f"Unknown dataset {spec!r}. Valid: synthetic, synthetic:cells, synthetic3d, "
        "drive, isbi, msd, siim, folder:PATH, volumes:PATH"
    )


def split_by_image(
    dataset: ImageSet,
    *,
    val_names: Sequence[str] = (),
    holdout_names: Sequence[str] = (),
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[ImageSet, ImageSet | None]:
    """Training and validation images; held-out images are in neither.

    Args:
        dataset: All images.
        val_names: Validation images by name; when empty, ``val_fraction`` of
            the remaining images are drawn with ``seed``.
        holdout_names: Images excluded from training and validation (a test
            set evaluated later).
        val_fraction: Fraction of images for validation when ``val_names`` is
            empty; 0 gives no validation set. Defaults to 0.2.
        seed: Seed of the random draw. Defaults to 0.

    Returns:
        ``(train, val)``; ``val`` is None when no image is left for it.

    Raises:
        ValueError: On an unknown name, overlapping lists, a bad fraction, or no
            image left for training.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"`val_fraction` must be in [0, 1). Received: val_fraction={val_fraction}"
        )
    both = set(val_names) & set(holdout_names)
    if both:
        raise ValueError(f"Images {sorted(both)} are both validation and held out")
    dataset.subset([*val_names, *holdout_names])  # Names every unknown image.
    rest = [n for n in dataset.names if n not in set(holdout_names)]
    if val_names:
        val = list(val_names)
    else:
        n_val = int(round(val_fraction * len(rest)))
        if val_fraction > 0 and len(rest) > 1:
            n_val = min(max(n_val, 1), len(rest) - 1)
        order = np.random.default_rng(seed).permutation(len(rest))
        val = sorted((rest[i] for i in order[:n_val]), key=natural_key)
    train = [n for n in rest if n not in set(val)]
    if not train:
        raise ValueError(
            f"No training image left: {len(dataset)} images, validation {val}, "
            f"held out {list(holdout_names)}"
        )
    return dataset.subset(train), (dataset.subset(val) if val else None)
