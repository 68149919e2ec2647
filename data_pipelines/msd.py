"""Medical Segmentation Decathlon layout: ``imagesTr/`` + ``labelsTr/`` NIfTI cases.

The Decathlon (Simpson et al., arXiv:1902.09063, 2019; Antonelli et al., Nature
Communications 2022) ships every task as::

    TaskXX_Name/
        dataset.json          (optional here: labels, modalities, file lists)
        imagesTr/<case>.nii.gz   labelsTr/<case>.nii.gz
        imagesTs/<case>.nii.gz  [labelsTs/<case>.nii.gz when a labelled test split
                                 is kept]

Images are 3D (one modality) or 4D (modalities last); labels are 3D class ids.
:func:`load_msd` reads a split as one :class:`~data_pipelines.dataset.ImageSet`
(:func:`load_case` one :class:`Case`) with the affine and the voxel spacing of
each case, checks that label and image agree (shape, affine,
label values inside the declared classes) and names the file when they do not.

Intensity normalisation is per case (:func:`zscore_case`): z-score over the
whole volume per modality, as nnU-Net does for MRI (Isensee et al., Nature
Methods 2021, "nnU-Net", Sec. "Intensity normalization": MRI intensities are not
quantitative, so each case is normalised by its own mean and standard
deviation).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from data_pipelines.dataset import ImageSet, natural_key
from data_pipelines.volumes import load_volume, normalize_volume

__all__ = [
    "SPLITS",
    "Case",
    "class_names",
    "list_cases",
    "load_case",
    "as_arrays",
    "load_msd",
    "one_hot",
    "read_dataset_json",
    "zscore_case",
]

SPLITS = {"training": ("imagesTr", "labelsTr"), "test": ("imagesTs", "labelsTs")}
_SUFFIX = ".nii.gz"


@dataclasses.dataclass
class Case:
    """One Decathlon case.

    Attributes:
        name: Case name, e.g. ``"hippocampus_003"``.
        image: ``float32`` ``(D, H, W, C)`` intensities as stored (not normalised).
        label: ``uint8`` class ids ``(D, H, W)``, or None for an unlabelled case.
        affine: 4x4 voxel-to-world matrix of the image file.
        spacing: Voxel size in mm along the three array axes.
        image_path: The image file.
    """

    name: str
    image: np.ndarray
    label: np.ndarray | None
    affine: np.ndarray
    spacing: tuple[float, float, float]
    image_path: Path


def read_dataset_json(root: str | Path) -> dict[str, Any] | None:
    """The task's ``dataset.json`` as a dict, or None when there is none.

    Raises:
        ValueError: If the file exists but is not valid JSON (names the file).
    """
    path = Path(root) / "dataset.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"Cannot read '{path}': {err}") from err


def class_names(root: str | Path, n_classes: int | None = None) -> list[str]:
    """Class names from ``dataset.json`` (``labels``), else ``"0"``, ``"1"``...

    Raises:
        ValueError: If neither ``dataset.json`` nor ``n_classes`` gives them.
    """
    meta = read_dataset_json(root)
    if meta and isinstance(meta.get("labels"), dict):
        labels = meta["labels"]
        # Decathlon v1: {"0": "background", ...}; v2: {"background": 0, ...}.
        if all(str(k).isdigit() for k in labels):
            return [str(labels[k]) for k in sorted(labels, key=int)]
        return [name for name, _ in sorted(labels.items(), key=lambda kv: int(kv[1]))]
    if n_classes is None:
        raise ValueError(
            f"No dataset.json with 'labels' in '{root}': pass the number of classes"
        )
    return [str(i) for i in range(n_classes)]


def list_cases(root: str | Path, split: str = "training") -> list[str]:
    """Case names of a split, in natural order.

    Raises:
        ValueError: For an unknown split.
        FileNotFoundError: If the split's image folder is missing or empty.
    """
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {sorted(SPLITS)}. Received: split={split!r}"
        )
    folder = Path(root) / SPLITS[split][0]
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Folder not found: '{folder}' (the Decathlon layout has "
            f"{'/'.join(SPLITS[split])} under the task folder)"
        )
    names = [
        p.name[: -len(_SUFFIX)]
        for p in folder.iterdir()
        if p.name.endswith(_SUFFIX) and not p.name.startswith((".", "._"))
    ]
    if not names:
        raise FileNotFoundError(f"No {_SUFFIX} files in '{folder}'")
    return sorted(names, key=natural_key)


def _check_label(
    label: np.ndarray, n_classes: int, path: Path, image_shape: tuple[int, ...]
) -> np.ndarray:
    if label.ndim == 4 and label.shape[-1] == 1:
        label = label[..., 0]
    if label.shape != image_shape:
        raise ValueError(
            f"Label '{path}' has shape {label.shape} but its image has {image_shape}"
        )
    if np.any(label % 1):
        raise ValueError(f"Label '{path}' holds non-integer values")
    values = np.unique(label).astype(np.int64)
    bad = values[(values < 0) | (values >= n_classes)]
    if bad.size:
        raise ValueError(
            f"Label '{path}' holds value(s) {bad.tolist()} outside the declared "
            f"classes 0..{n_classes - 1}"
        )
    return label.astype(np.uint8)


def load_case(
    root: str | Path,
    name: str,
    *,
    split: str = "training",
    n_classes: int = 3,
    require_label: bool = True,
) -> Case:
    """Reads one case of a split with its label.

    Args:
        root: Task folder.
        name: Case name (file name without ``.nii.gz``).
        split: ``"training"`` or ``"test"``. Defaults to "training".
        n_classes: Declared classes including background; label values must
            lie in ``0..n_classes-1``. Defaults to 3 (hippocampus).
        require_label: Raise when the label file is missing. Defaults to True.

    Raises:
        FileNotFoundError: If the image (or a required label) is missing.
        ValueError: If a file is unreadable, or the label's shape or affine
            differs from the image's, or it holds a value outside the classes.
            The message names the file.
    """
    root = Path(root)
    image_dir, label_dir = SPLITS[split]
    image_path = root / image_dir / f"{name}{_SUFFIX}"
    label_path = root / label_dir / f"{name}{_SUFFIX}"
    image, meta = load_volume(image_path)
    if image.ndim == 3:
        image = image[..., None]
    label = None
    if label_path.is_file():
        raw, label_meta = load_volume(label_path)
        if not np.allclose(label_meta["affine"], meta["affine"], atol=1e-4):
            raise ValueError(
                f"Label '{label_path}' has another affine than its image "
                f"'{image_path}':\n{label_meta['affine']}\nvs\n{meta['affine']}"
            )
        label = _check_label(raw, n_classes, label_path, image.shape[:-1])
    elif require_label:
        raise FileNotFoundError(f"Label not found for case {name!r}: '{label_path}'")
    return Case(
        name=name,
        image=image.astype(np.float32),
        label=label,
        affine=np.asarray(meta["affine"], dtype=np.float64),
        spacing=tuple(float(s) for s in meta["spacing"]),
        image_path=image_path,
    )


def load_msd(
    root: str | Path,
    *,
    split: str = "training",
    n_classes: int | None = None,
    names: Sequence[str] | None = None,
    limit: int | None = None,
    require_label: bool = True,
) -> ImageSet:
    """Reads a Decathlon split (``imagesTr``/``labelsTr`` or ``imagesTs``/``labelsTs``).

    Args:
        root: Task folder (holding ``imagesTr/`` ...).
        split: ``"training"`` or ``"test"``. Defaults to "training".
        n_classes: Classes including background. Defaults to the number of
            labels in ``dataset.json``; without one, 3 (the hippocampus task).
        names: Only these cases, in this order. Defaults to all.
        limit: At most this many cases (after ``names``). Defaults to all.
        require_label: Raise for a case without label. Defaults to True.

    Returns:
        An :class:`~data_pipelines.dataset.ImageSet` (``kind`` ``"msd"``) of the
        raw ``float32`` ``(D, H, W, C)`` images (not normalised: see
        :func:`zscore_case`), one-hot ``float32`` ``(D, H, W, n_classes)`` masks
        (None when a case has no label and ``require_label`` is False), the
        spacing and affine of every case and the class names.

    Raises:
        FileNotFoundError: For a missing folder, case or label.
        ValueError: For an unreadable file, a label that disagrees with its
            image or holds an undeclared value, or an unknown case name.

    Example:
        >>> cases = load_msd("../shared/data/msd_hippocampus", limit=2)
        >>> cases.images[0].shape, cases.masks[0].shape, cases.class_names
        ((34, 52, 35, 1), (34, 52, 35, 3), ['0', '1', '2'])
    """
    available = list_cases(root, split)
    if names is not None:
        unknown = sorted(set(names) - set(available))
        if unknown:
            raise ValueError(
                f"Unknown case name(s) {unknown[:5]} in '{root}' ({split} split has "
                f"{len(available)} cases, e.g. {available[0]})"
            )
        available = list(names)
    if limit is not None:
        available = available[:limit]
    names = class_names(root, n_classes or 3)
    if n_classes is not None and len(names) != n_classes:
        raise ValueError(
            f"n_classes={n_classes} disagrees with the {len(names)} labels of "
            f"'{Path(root) / 'dataset.json'}' ({names})"
        )
    cases = [
        load_case(
            root, name, split=split, n_classes=len(names), require_label=require_label
        )
        for name in available
    ]
    labelled = all(c.label is not None for c in cases)
    return ImageSet(
        images=[c.image for c in cases],
        masks=[one_hot(c.label, len(names)) for c in cases] if labelled else None,
        names=[c.name for c in cases],
        spacing=[c.spacing for c in cases],
        kind="msd",
        affine=[c.affine for c in cases],
        class_names=names,
    )


def zscore_case(image: np.ndarray) -> np.ndarray:
    """Per-case, per-modality z-score of a ``(D, H, W, C)`` volume (nnU-Net's MRI rule).

    A constant modality becomes zeros.
    """
    image = np.asarray(image, np.float32)
    return np.stack(
        [normalize_volume(image[..., c]) for c in range(image.shape[-1])], axis=-1
    )


def one_hot(label: np.ndarray, n_classes: int) -> np.ndarray:
    """``(D, H, W)`` class ids -> ``float32`` ``(D, H, W, n_classes)``."""
    return np.eye(n_classes, dtype=np.float32)[np.asarray(label, np.int64)]


def as_arrays(
    cases: ImageSet, *, labels: Literal["onehot", "sparse"]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Z-scored images and one-hot (or sparse ``(..., 1)`` class id) labels."""
    if labels not in ("onehot", "sparse"):
        raise ValueError(
            f"`labels` must be 'onehot' or 'sparse'. Received: labels={labels!r}"
        )
    images = [zscore_case(image) for image in cases.images]
    if labels == "onehot":
        return images, list(cases.masks)
    return images, [m.argmax(-1)[..., None].astype(np.float32) for m in cases.masks]
