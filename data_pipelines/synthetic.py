"""Deterministic synthetic segmentation data with exact masks (no download needed).

Three kinds of structure cover the zoo's use cases:

* ``"vessels"``: thin, branching curvilinear structures on an unevenly lit,
  noisy background (like retinal vessels in DRIVE);
* ``"cells"``: bright elliptical blobs that may touch (like nuclei or cells);
* 3D volumes with blobs (ellipsoids) and tubes (like organs/lesions and vessels).

Every generator takes a ``seed`` and returns the same arrays for the same seed.
Images are float32 in [0, 1], channels-last; masks are float32 in {0, 1}.

Example:
    >>> images, masks = make_2d_dataset(4, (64, 64), kind="vessels", seed=0)
    >>> images.shape, masks.shape
    ((4, 64, 64, 1), (4, 64, 64, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "vessel_image",
    "cell_image",
    "blob_volume",
    "make_2d_dataset",
    "make_3d_dataset",
]


def _background(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Smooth uneven illumination plus pixel noise."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    radius = max(h, w)
    light = 0.55 + 0.2 * np.exp(
        -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.6 * radius) ** 2)
    )
    return light + rng.normal(0, 0.04, shape).astype(np.float32)


def _random_curve(
    rng: np.random.Generator, shape: tuple[int, int], start=None
) -> np.ndarray:
    """A smooth random walk across the image, as integer (x, y) points."""
    h, w = shape
    n = int(rng.integers(20, 40))
    point = (
        np.array([rng.uniform(0, w), rng.uniform(0, h)])
        if start is None
        else np.asarray(start)
    )
    angle = rng.uniform(0, 2 * np.pi)
    step = max(h, w) / 25
    points = [point.copy()]
    for _ in range(n):
        angle += rng.normal(0, 0.3)
        point = point + step * np.array([np.cos(angle), np.sin(angle)])
        points.append(point.copy())
    return np.round(np.array(points)).astype(np.int32)


def vessel_image(
    shape: Sequence[int] = (128, 128), *, n_vessels: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A vessel-like image: dark thin branching curves on a lit, noisy background.

    Args:
        shape: ``(H, W)``. Defaults to ``(128, 128)``.
        n_vessels: Number of main curves (each grows one branch). Defaults to 4.
        seed: Random seed. Defaults to 0.

    Returns:
        ``(image, mask)``, each ``(H, W, 1)`` float32; the mask is exactly the
        drawn vessel pixels.
    """
    rng = np.random.default_rng(seed)
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.uint8)
    for _ in range(n_vessels):
        curve = _random_curve(rng, (h, w))
        thickness = int(rng.integers(1, 4))
        cv2.polylines(mask, [curve], False, 1, thickness=thickness)
        branch = _random_curve(rng, (h, w), start=curve[len(curve) // 2])
        cv2.polylines(mask, [branch], False, 1, thickness=max(1, thickness - 1))
    image = _background(rng, (h, w))
    contrast = rng.uniform(0.2, 0.35)
    vessels = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)
    image = np.clip(image - contrast * vessels, 0.0, 1.0).astype(np.float32)
    return image[..., None], mask.astype(np.float32)[..., None]


def cell_image(
    shape: Sequence[int] = (128, 128), *, n_cells: int = 12, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A cell-like image: bright textured ellipses on a noisy background.

    Args:
        shape: ``(H, W)``. Defaults to ``(128, 128)``.
        n_cells: Number of cells. Defaults to 12.
        seed: Random seed. Defaults to 0.

    Returns:
        ``(image, mask)``, each ``(H, W, 1)`` float32.
    """
    rng = np.random.default_rng(seed)
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), np.uint8)
    scale = min(h, w)
    for _ in range(n_cells):
        center = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        axes = (
            int(rng.uniform(0.03, 0.08) * scale) + 1,
            int(rng.uniform(0.03, 0.08) * scale) + 1,
        )
        cv2.ellipse(mask, center, axes, rng.uniform(0, 180), 0, 360, 1, thickness=-1)
    image = _background(rng, (h, w)) - 0.2
    texture = cv2.GaussianBlur(
        rng.normal(0, 0.08, (h, w)).astype(np.float32), (5, 5), 1.5
    )
    image = image + mask * (rng.uniform(0.25, 0.4) + texture)
    return np.clip(image, 0, 1).astype(np.float32)[..., None], mask.astype(np.float32)[
        ..., None
    ]


def blob_volume(
    shape: Sequence[int] = (32, 32, 32),
    *,
    n_blobs: int = 3,
    n_tubes: int = 2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A 3D volume with bright ellipsoids (blobs) and straight tubes.

    Args:
        shape: ``(D, H, W)``. Defaults to ``(32, 32, 32)``.
        n_blobs: Number of ellipsoids. Defaults to 3.
        n_tubes: Number of tubes (line segments with a radius). Defaults to 2.
        seed: Random seed. Defaults to 0.

    Returns:
        ``(volume, mask)``, each ``(D, H, W, 1)`` float32.
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    grid = grid.astype(np.float32)
    size = np.array(shape, np.float32)
    mask = np.zeros(shape, bool)
    for _ in range(n_blobs):
        center = rng.uniform(0.2, 0.8, 3) * size
        radii = rng.uniform(0.08, 0.18, 3) * size.min() + 1
        mask |= (((grid - center) / radii) ** 2).sum(-1) <= 1.0
    for _ in range(n_tubes):
        a, b = rng.uniform(0, 1, 3) * size, rng.uniform(0, 1, 3) * size
        radius = rng.uniform(1.0, 2.5)
        ab = b - a
        t = np.clip(((grid - a) @ ab) / max(float(ab @ ab), 1e-6), 0, 1)
        nearest = a + t[..., None] * ab
        mask |= ((grid - nearest) ** 2).sum(-1) <= radius**2
    volume = 0.3 + 0.4 * mask + rng.normal(0, 0.08, shape)
    return (
        np.clip(volume, 0, 1).astype(np.float32)[..., None],
        mask.astype(np.float32)[..., None],
    )


def make_2d_dataset(
    n: int,
    shape: Sequence[int] = (128, 128),
    *,
    kind: Literal["vessels", "cells"] = "vessels",
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic 2D images and masks, stacked as ``(n, H, W, 1)``.

    Raises:
        ValueError: If ``n`` < 1 or ``kind`` is unknown.
    """
    generators = {"vessels": vessel_image, "cells": cell_image}
    if kind not in generators:
        raise ValueError(
            f"`kind` must be 'vessels' or 'cells'. Received: kind={kind!r}"
        )
    if n < 1:
        raise ValueError(f"`n` must be >= 1. Received: n={n}")
    pairs = [generators[kind](shape, seed=seed * 100_003 + i) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def make_3d_dataset(
    n: int, shape: Sequence[int] = (32, 32, 32), *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic volumes and masks, stacked as ``(n, D, H, W, 1)``.

    Raises:
        ValueError: If ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"`n` must be >= 1. Received: n={n}")
    pairs = [blob_volume(shape, seed=seed * 100_003 + i) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
