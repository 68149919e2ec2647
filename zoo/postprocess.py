"""Connected-component post-processing of predicted masks (2D and 3D).

It lives in ``zoo`` because the presets apply a checkpoint's stored
post-processing (:meth:`zoo.presets.Preset.predict`) as ``predict`` and
``evaluate`` do; NumPy and ``scipy.ndimage`` only.

Vessel and organ predictions carry many small false fragments (the DRIVE
checkpoint predicts about 76 components per image where the truth has about
3). :func:`postprocess_mask` removes the components smaller than a size and/or
keeps only the largest one, with ``scipy.ndimage.label``. Components are
8-connected in 2D and 26-connected in 3D, like the component counts of
``train_scripts.evaluate``.

Example:
    >>> mask = np.zeros((8, 8), np.uint8); mask[0, 0] = 1; mask[4:7, 4:7] = 1
    >>> int(postprocess_mask(mask, min_size=2).sum())
    9
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["postprocess_mask", "suppress_removed"]


def _filter_binary(
    binary: np.ndarray, min_size: int, largest_component: bool
) -> np.ndarray:
    structure = ndimage.generate_binary_structure(binary.ndim, binary.ndim)
    labels, count = ndimage.label(binary, structure=structure)
    if count == 0:
        return binary
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # background
    keep = sizes >= min_size
    if largest_component:
        keep &= np.arange(sizes.size) == int(np.argmax(sizes))
    keep[0] = False
    return keep[labels]


def postprocess_mask(
    mask: np.ndarray, *, min_size: int = 0, largest_component: bool = False
) -> np.ndarray:
    """Removes small connected components, per class.

    Args:
        mask: ``(*spatial)`` binary mask or class-index map (0 = background);
            each class > 0 is filtered separately and removed pixels become 0.
        min_size: Remove components with fewer than ``min_size`` pixels
            (voxels); those with exactly ``min_size`` stay. 0 keeps all.
            Defaults to 0.
        largest_component: Keep only the largest component of each class
            (ties: the first in scan order). Defaults to False.

    Returns:
        The filtered mask, same shape and dtype.

    Raises:
        ValueError: If ``min_size`` is not an int >= 0.
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int | np.integer):
        raise ValueError(f"`min_size` must be an int >= 0. Received: {min_size!r}")
    if min_size < 0:
        raise ValueError(f"`min_size` must be an int >= 0. Received: {min_size!r}")
    mask = np.asarray(mask)
    if min_size <= 1 and not largest_component:
        return mask
    out = mask.copy()
    for value in np.unique(mask):
        if value == 0:
            continue
        binary = mask == value
        out[binary & ~_filter_binary(binary, int(min_size), largest_component)] = 0
    return out


def suppress_removed(
    probs: np.ndarray,
    threshold: float,
    *,
    min_size: int = 0,
    largest_component: bool = False,
    region: np.ndarray | None = None,
) -> np.ndarray:
    """Probabilities with the pixels that :func:`postprocess_mask` removes set to 0.

    The components are those of ``probs > threshold`` (inside ``region`` when
    given). Only the removed pixels change, so the ranking of the other
    probabilities (and with it an AUC) stays as predicted.

    Args:
        probs: ``(*spatial)`` foreground probabilities.
        threshold: Foreground threshold.
        min_size: As :func:`postprocess_mask`. Defaults to 0.
        largest_component: As :func:`postprocess_mask`. Defaults to False.
        region: Optional boolean ``(*spatial)`` region (a FOV) outside which
            nothing counts as detected. Defaults to None (everywhere).

    Returns:
        ``probs`` with the removed pixels zeroed, same shape and dtype.
    """
    detected = probs > threshold
    if region is not None:
        detected &= region
    kept = postprocess_mask(
        detected, min_size=min_size, largest_component=largest_component
    )
    return np.where(detected & ~kept, 0.0, probs).astype(probs.dtype)
