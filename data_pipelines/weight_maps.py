"""U-Net pixel weight maps (Ronneberger et al. 2015, eq. 2).

``w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))**2 / (2 * sigma**2))``, where
``w_c`` balances the class frequencies and ``d1`` / ``d2`` are the distances
to the nearest and second-nearest cell. The map makes the network learn the
thin background gaps between touching cells. Pack it as the last channel of
the target (:func:`stack_weight_map`) and train with ``losses.weighted_bce``.

Reference:
    Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015, https://arxiv.org/abs/1505.04597
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import measure

__all__ = ["stack_weight_map", "unet_weight_map"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def unet_weight_map(
    labels: Any,
    *,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: Sequence[float] | None = None,
    binary: bool | None = None,
) -> np.ndarray:
    """Computes the U-Net paper's weight map from a label image.

    Args:
        labels: 2D ``(H, W)`` or 3D ``(D, H, W)`` array: an instance-label
            image (0 = background, each cell its own positive id) or a binary
            mask, whose 4- (2D) / 6-connected (3D) components become the
            instances.
        w0: Amplitude of the border term, >= 0 (the paper: 10). Defaults to
            10.0.
        sigma: Width of the border term in pixels, > 0 (the paper: about 5).
            Defaults to 5.0.
        class_weights: ``(background_weight, foreground_weight)`` for ``w_c``;
            None balances the class frequencies:
            ``w_k = N / (2 * N_k)`` (1 for both when a class is absent).
            Defaults to None.
        binary: Whether ``labels`` is a binary mask to split into connected
            components; None decides: bool arrays and arrays with values in
            {0, 1} are binary. Defaults to None.

    Returns:
        float32 weight map with the shape of ``labels``.

    Raises:
        ValueError: On a rank other than 2 or 3, negative labels, or a bad
            ``w0``, ``sigma`` or ``class_weights``.

    Example:
        >>> import numpy as np
        >>> mask = np.zeros((12, 12), bool)
        >>> mask[2:10, 1:5] = mask[2:10, 7:11] = True
        >>> w = unet_weight_map(mask, class_weights=(1.0, 1.0))
        >>> bool(w[5, 5] > w[0, 0])
        True

    Notes:
        The border term is added on background pixels only (inside a cell
        ``d1 = 0`` and it would blur the cell interior); with fewer than two
        cells ``d2`` does not exist and the term is 0. Distances are Euclidean
        (``scipy.ndimage.distance_transform_edt``) to the nearest pixel of
        each cell.
    """
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3):
        raise ValueError(
            "`labels` must be a 2D image or 3D volume. Received: "
            f"labels.shape={labels.shape}"
        )
    if not _is_number(w0) or w0 < 0:
        raise ValueError(f"`w0` must be a number >= 0. Received: w0={w0!r}")
    if not _is_number(sigma) or sigma <= 0:
        raise ValueError(f"`sigma` must be a number > 0. Received: sigma={sigma!r}")
    if class_weights is not None and (
        isinstance(class_weights, str)
        or not isinstance(class_weights, Sequence)
        or len(class_weights) != 2
        or any(not _is_number(v) or v < 0 for v in class_weights)
    ):
        raise ValueError(
            "`class_weights` must be None or (background_weight, "
            f"foreground_weight) >= 0. Received: class_weights={class_weights!r}"
        )
    if labels.dtype != bool and np.any(labels < 0):
        raise ValueError("`labels` must be >= 0 (0 is background).")
    if binary is None:
        binary = labels.dtype == bool or bool(np.isin(labels, (0, 1)).all())
    if binary:
        instances = measure.label(labels > 0, connectivity=1)
    else:
        instances = labels.astype(np.int64)

    foreground = instances > 0
    if class_weights is None:
        n_fg = int(foreground.sum())
        n_bg = foreground.size - n_fg
        if n_fg == 0 or n_bg == 0:
            w_bg = w_fg = 1.0
        else:
            w_bg = foreground.size / (2.0 * n_bg)
            w_fg = foreground.size / (2.0 * n_fg)
    else:
        w_bg, w_fg = (float(v) for v in class_weights)
    weights = np.where(foreground, w_fg, w_bg).astype(np.float64)

    ids = np.unique(instances[foreground])
    if len(ids) >= 2 and w0 > 0:
        d1 = np.full(instances.shape, np.inf)
        d2 = np.full(instances.shape, np.inf)
        for i in ids:
            d = ndimage.distance_transform_edt(instances != i)
            # Keep the two smallest distances seen so far, per pixel.
            d2 = np.minimum(d2, np.maximum(d1, d))
            d1 = np.minimum(d1, d)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2.0 * sigma**2))
        weights += np.where(foreground, 0.0, border)
    return weights.astype(np.float32)


def stack_weight_map(mask: Any, weight_map: Any) -> np.ndarray:
    """Appends a weight map as the last channel of a target mask.

    The result is the ``y_true`` that ``losses.weighted_bce`` expects.

    Args:
        mask: Target, shape ``spatial`` (one channel is added) or
            ``(*spatial, C)``; a leading batch axis works the same way.
        weight_map: Weights of shape ``spatial`` (or ``(*spatial, 1)``).

    Returns:
        float32 array of shape ``(*spatial, C + 1)``.

    Raises:
        ValueError: If the spatial shapes differ.
    """
    mask = np.asarray(mask, dtype=np.float32)
    weight_map = np.asarray(weight_map, dtype=np.float32)
    if (
        weight_map.ndim == mask.ndim
        and weight_map.shape[-1] == 1
        and (weight_map.shape[:-1] == mask.shape[:-1])
    ):
        weight_map = weight_map[..., 0]
    if mask.shape == weight_map.shape:
        mask = mask[..., None]
    if mask.shape[:-1] != weight_map.shape:
        raise ValueError(
            "`weight_map` must have the spatial shape of `mask`. Received: "
            f"mask.shape={mask.shape}, weight_map.shape={weight_map.shape}"
        )
    return np.concatenate([mask, weight_map[..., None]], axis=-1)
