"""The one dataset type every reader returns: :class:`ImageSet`.

A dataset is a list of whole images (or volumes) with their masks, names and the
optional per-image facts a reader knows (field of view, voxel spacing, affine,
class names, intensity normalisation). The 2D readers
(:func:`data_pipelines.layouts.load_drive`, ``load_isbi``, ``load_folder_pairs``),
the Decathlon reader (:func:`data_pipelines.msd.load_msd`) and the training
scripts' ``load_dataset`` all return one, so a split, a subset or a stack works
the same on any of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

__all__ = ["ImageSet", "natural_key"]


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


@dataclasses.dataclass
class ImageSet:
    """Whole images (or volumes) with masks.

    Attributes:
        images: ``float32`` arrays ``(*spatial, C)``.
        masks: ``float32`` arrays ``(*spatial, K)`` in {0, 1}, or None for
            unlabelled images (e.g. DRIVE's test split without ``1st_manual``).
        names: One name per image (file stem or DRIVE/ISBI number).
        fov: Field-of-view masks ``(*spatial, 1)``, or None.
        spacing: Voxel size per image (volumes), or None.
        kind: The dataset specification it was loaded from.
        affine: Voxel-to-world matrix per volume (NIfTI datasets), or None.
        class_names: Name of each mask channel, or None.
        normalization: How the images were scaled (``{"bit_depth": 12}`` for
            16-bit files holding 12-bit data), or None.
    """

    images: list[np.ndarray]
    masks: list[np.ndarray] | None
    names: list[str]
    fov: list[np.ndarray] | None = None
    spacing: list[tuple[float, ...]] | None = None
    kind: str = ""
    affine: list[np.ndarray] | None = None
    class_names: list[str] | None = None
    normalization: dict | None = None

    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    @property
    def rank(self) -> int:
        """Spatial rank: 2 for images, 3 for volumes."""
        return self.images[0].ndim - 1

    @property
    def channels(self) -> int:
        """Image channels."""
        return int(self.images[0].shape[-1])

    def stack(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The images ``(N, *spatial, C)`` and masks ``(N, *spatial, K)`` as arrays.

        The masks are None when the set has none.

        Raises:
            ValueError: If the set is empty or its items differ in shape (both
                offending items are named).
        """
        if not self.images:
            raise ValueError(f"Dataset {self.kind!r} is empty: it has zero images")
        masks = self.masks or [None] * len(self.images)
        first = (self.images[0].shape, getattr(masks[0], "shape", None))
        for name, image, mask in zip(self.names, self.images, masks, strict=True):
            if (image.shape, getattr(mask, "shape", None)) != first:
                raise ValueError(
                    f"Cannot stack images of different shapes: {self.names[0]!r} is "
                    f"{first[0]}/{first[1]}, {name!r} is "
                    f"{image.shape}/{getattr(mask, 'shape', None)}"
                )
        return (
            np.stack(self.images),
            None if self.masks is None else np.stack(self.masks),
        )

    def subset(self, names: Sequence[str]) -> ImageSet:
        """The images called ``names``, in that order.

        Raises:
            ValueError: If a name is not in the set (the message lists them).
        """
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise ValueError(
                f"Unknown image names {missing} for dataset {self.kind!r}. "
                f"Available: {', '.join(self.names)}"
            )
        rows = [index[n] for n in names]
        return ImageSet(
            images=[self.images[i] for i in rows],
            masks=None if self.masks is None else [self.masks[i] for i in rows],
            names=[self.names[i] for i in rows],
            fov=None if self.fov is None else [self.fov[i] for i in rows],
            spacing=None if self.spacing is None else [self.spacing[i] for i in rows],
            kind=self.kind,
            affine=None if self.affine is None else [self.affine[i] for i in rows],
            class_names=self.class_names,
            normalization=self.normalization,
        )
