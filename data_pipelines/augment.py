"""Paired image/mask augmentation for 2D and 3D, deterministic given a generator.

An augmenter is a callable ``(image, mask, rng) -> (image, mask)`` on channels-last
``float32`` arrays: ``(H, W, C)``/``(H, W, K)`` in 2D, ``(D, H, W, C)``/``(D, H, W,
K)`` in 3D. Every random draw comes from ``rng`` (a ``numpy.random.Generator``), so
the same generator state gives the same output. Geometric transforms move image and
mask together; masks are resampled with nearest neighbour, so binary masks stay
binary.
"""

from __future__ import annotations

import os

# albumentations checks PyPI for updates on import (a network call and a warning);
# the variable must be set before the import below.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import threading  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from typing import Protocol  # noqa: E402

import albumentations as A  # noqa: E402, N812
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402


class Augmenter(Protocol):
    """Anything that augments an image and its mask from a random generator."""

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Returns the augmented ``(image, mask)``."""
        ...


def _check_pair(image: np.ndarray, mask: np.ndarray, rank: int) -> None:
    if image.ndim != rank + 1 or mask.ndim != rank + 1:
        raise ValueError(
            f"`image` and `mask` must be {rank}D channels-last arrays of rank "
            f"{rank + 1}. Received shapes {image.shape} and {mask.shape}"
        )
    if image.shape[:-1] != mask.shape[:-1]:
        raise ValueError(
            f"`image` and `mask` differ in size: {image.shape} vs {mask.shape}"
        )


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")


def _is_one_hot(mask: np.ndarray) -> bool:
    """Whether a ``(..., K)`` mask, K > 1, holds exactly one 1 per voxel, else 0."""
    if mask.shape[-1] < 2:
        return False
    return bool(np.all((mask == 0) | (mask == 1)) and np.all(mask.sum(axis=-1) == 1))


def _spline_weights(n: int, points: int) -> np.ndarray:
    """``(n, points)`` matrix evaluating a cubic spline through ``points`` knots.

    Spline interpolation is linear in the knot values and separable over axes, so
    the dense field is ``W_0 @ grid @ W_1.T`` (2D) instead of a dense resampling.
    """
    coords = np.linspace(0, points - 1, n)[None]
    eye = np.eye(points)
    return np.stack(
        [ndimage.map_coordinates(e, coords, order=3, mode="nearest") for e in eye],
        axis=1,
    )


def elastic_displacement(
    shape: Sequence[int],
    rng: np.random.Generator,
    *,
    sigma: float = 10.0,
    points: int = 3,
) -> np.ndarray:
    """Dense displacement field of the U-Net paper's elastic deformation.

    Random displacements on a coarse ``points^N`` grid of control points, drawn from
    ``N(0, sigma^2)`` pixels, are interpolated to every pixel with a cubic spline
    (Ronneberger et al., MICCAI 2015, §3.1: 3x3 grid, sigma = 10 px, bicubic).

    Args:
        shape: Spatial shape, 2D or 3D.
        rng: Random generator.
        sigma: Standard deviation of the control-point displacements in pixels.
            Defaults to 10.
        points: Control points per axis (>= 2). Defaults to 3.

    Returns:
        ``float64`` field ``(N, *shape)``: the displacement along each axis.

    Raises:
        ValueError: If ``points`` < 2 or ``sigma`` < 0.

    Example:
        >>> field = elastic_displacement((64, 64), np.random.default_rng(0))
        >>> field.shape
        (2, 64, 64)
    """
    if points < 2:
        raise ValueError(f"`points` must be >= 2. Received: points={points}")
    _check_non_negative(sigma=sigma)
    ndim = len(shape)
    grid = rng.normal(0.0, sigma, size=(ndim,) + (points,) * ndim)
    weights = [_spline_weights(n, points) for n in shape]
    if ndim == 2:
        return np.einsum("ai,cij,bj->cab", weights[0], grid, weights[1])
    return np.einsum("ai,bj,ck,nijk->nabc", weights[0], weights[1], weights[2], grid)


def elastic_deform(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    sigma: float = 10.0,
    points: int = 3,
    image_order: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Applies one random elastic deformation to an image and its mask, 2D or 3D.

    The deformation is :func:`elastic_displacement`; pixels are resampled with
    cubic interpolation for the image (clipped to the image's input range, since
    cubic kernels overshoot at edges) and nearest neighbour for the mask,
    reflecting at the borders: OpenCV ``remap`` in 2D, SciPy ``map_coordinates``
    (cubic B-spline) in 3D. This is the scheme of the ``elasticdeform`` package
    (``deform_random_grid(..., order=[3, 0])``), re-implemented.

    Args:
        image: Channels-last image ``(*spatial, C)``.
        mask: Channels-last mask ``(*spatial, K)``.
        rng: Random generator.
        sigma: Control-point displacement std in pixels. Defaults to 10.
        points: Control points per axis. Defaults to 3.
        image_order: Interpolation order for the image: 0 (nearest), 1 (linear) or
            3 (cubic). Defaults to 3.

    Returns:
        The deformed ``(image, mask)``, same shapes and dtypes.

    Raises:
        ValueError: If the arrays are not 2D/3D channels-last of one size, or an
            argument is out of range.

    Notes:
        Deviation from the issue text: ``elasticdeform`` 0.5.1 is a compiled
        extension built against NumPy 1.x and fails to import under NumPy 2, so the
        same algorithm is written here with ``scipy.ndimage``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> image, mask = np.random.rand(64, 64, 1), np.ones((64, 64, 1))
        >>> out_image, out_mask = elastic_deform(image, mask, rng)
        >>> bool(out_mask.min() == 1.0)
        True
    """
    if image.ndim not in (3, 4):
        raise ValueError(
            f"`image` must be (H, W, C) or (D, H, W, C). Received shape {image.shape}"
        )
    _check_pair(image, mask, image.ndim - 1)
    if image_order not in _CV2_ORDER:
        raise ValueError(
            f"`image_order` must be 0, 1 or 3. Received: image_order={image_order}"
        )
    spatial = image.shape[:-1]
    field = elastic_displacement(spatial, rng, sigma=sigma, points=points)
    coords = np.indices(spatial, dtype=np.float32) + field.astype(np.float32)
    if image.ndim == 3:
        image_out = _remap_2d(image, coords, _CV2_ORDER[image_order])
        mask_out = _remap_2d(mask, coords, cv2.INTER_NEAREST)
    else:
        image_out = _map_3d(image, coords, image_order)
        mask_out = _map_3d(mask, coords, 0)
    image_out = np.clip(image_out, image.min(), image.max())
    return image_out.astype(image.dtype), mask_out.astype(mask.dtype)


_CV2_ORDER = {0: cv2.INTER_NEAREST, 1: cv2.INTER_LINEAR, 3: cv2.INTER_CUBIC}


def _remap_2d(array: np.ndarray, coords: np.ndarray, interpolation: int) -> np.ndarray:
    """Samples ``array`` at ``coords`` (rows, cols) with OpenCV, reflecting."""
    # cv2.remap takes at most 4 channels with cubic interpolation.
    chunks = [
        cv2.remap(
            np.ascontiguousarray(array[..., i : i + 4]),
            coords[1],
            coords[0],
            interpolation,
            borderMode=cv2.BORDER_REFLECT,
        ).reshape(*array.shape[:-1], -1)
        for i in range(0, array.shape[-1], 4)
    ]
    return np.concatenate(chunks, axis=-1)


def _map_3d(array: np.ndarray, coords: np.ndarray, order: int) -> np.ndarray:
    """Samples ``array`` at ``coords`` with SciPy splines, reflecting."""
    return np.stack(
        [
            ndimage.map_coordinates(array[..., c], coords, order=order, mode="reflect")
            for c in range(array.shape[-1])
        ],
        axis=-1,
    )


def gaussian_line_mask(
    mask: np.ndarray,
    *,
    channels: Sequence[int] | None = None,
    kernels: Sequence[int] = (3, 7, 15),
) -> np.ndarray:
    """Turns thin-line mask channels into soft gaussian bands (2D or 3D).

    Each selected channel is replaced, in place, by itself followed by one gaussian
    blur per kernel size ``k``, with the kernel OpenCV's ``GaussianBlur`` uses for
    ``sigma = 0`` (the reference's call): for ``k`` <= 7 OpenCV's fixed tables, else
    ``sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8`` (2.6 for 15). 3D masks get the same
    separable kernel along all three axes. Borders reflect (OpenCV's default).
    Other channels are kept. With the reference defaults (channels 1 and 2 of 3,
    kernels 3/7/15) 3 channels become 9.

    Args:
        mask: Channels-last mask ``(H, W, K)`` or ``(D, H, W, K)``.
        channels: Channels to expand. Defaults to None (all channels).
        kernels: Odd kernel sizes >= 3. Defaults to ``(3, 7, 15)``.

    Returns:
        ``float32`` mask with ``K + len(channels) * len(kernels)`` channels.

    Raises:
        ValueError: If ``mask`` is not 2D/3D channels-last, a channel is out of
            range, or a kernel size is not an odd integer >= 3.

    Example:
        >>> line = np.zeros((32, 32, 1), np.float32); line[16] = 1
        >>> gaussian_line_mask(line).shape
        (32, 32, 4)
    """
    if mask.ndim not in (3, 4):
        raise ValueError(
            f"`mask` must be (H, W, K) or (D, H, W, K). Received shape {mask.shape}"
        )
    n = mask.shape[-1]
    channels = tuple(range(n)) if channels is None else tuple(channels)
    if not all(0 <= c < n for c in channels):
        raise ValueError(
            f"`channels` must be in 0..{n - 1}. Received: channels={channels}"
        )
    for k in kernels:
        if int(k) != k or k < 3 or k % 2 == 0:
            raise ValueError(
                f"`kernels` must be odd integers >= 3. Received: kernels={kernels}"
            )
    mask = mask.astype(np.float32)
    out = []
    for c in range(n):
        out.append(mask[..., c])
        if c not in channels:
            continue
        for k in kernels:
            if mask.ndim == 3:
                out.append(cv2.GaussianBlur(mask[..., c], (k, k), 0))
                continue
            kernel = cv2.getGaussianKernel(k, 0, ktype=cv2.CV_64F).ravel()
            blurred = mask[..., c]
            for axis in range(3):
                blurred = ndimage.correlate1d(blurred, kernel, axis, mode="mirror")
            out.append(blurred)
    return np.stack(out, axis=-1)


class Augmenter2D:
    """2D augmentation with albumentations, applied identically to image and mask.

    Order: affine (rotation, shift, scaling; linear for the image, nearest for the
    mask, reflecting at the borders), flips, brightness/contrast, gamma, gaussian
    noise (image only), then the elastic deformation of :func:`elastic_deform`.
    The defaults are the reference loader's: rotation 10 degrees, shift 5 %,
    horizontal flip, reflect fill (ARCHITECTURES §13).

    Args:
        rotation: Maximum absolute rotation in degrees. Defaults to 10.
        shift: Maximum absolute shift as a fraction of height/width. Defaults to
            0.05.
        scale: Maximum absolute zoom fraction; the factor is drawn from
            ``[1 - scale, 1 + scale]``. Defaults to 0.
        hflip: Flip left-right with probability 0.5. Defaults to True.
        vflip: Flip up-down with probability 0.5. Defaults to False.
        brightness: Maximum absolute brightness offset (fraction of the range).
            Defaults to 0.
        contrast: Maximum absolute contrast change (fraction). Defaults to 0.
        gamma: Maximum absolute gamma change; gamma is drawn from
            ``[1 - gamma, 1 + gamma]``. Defaults to 0.
        noise_std: Maximum std of additive gaussian noise (the std is drawn from
            ``[0, noise_std]``). Defaults to 0.
        elastic_sigma: Control-point displacement std in pixels of the elastic
            deformation; 0 disables it. Defaults to 0 (the U-Net paper uses 10).
        elastic_points: Control points per axis. Defaults to 3.

    Raises:
        ValueError: If an argument is negative, or ``scale``/``gamma`` >= 1.

    Example:
        >>> augment = Augmenter2D(vflip=True, elastic_sigma=10)
        >>> image, mask = np.random.rand(96, 96, 3), np.zeros((96, 96, 1))
        >>> aug_image, aug_mask = augment(image, mask, np.random.default_rng(0))
        >>> aug_image.shape, aug_mask.shape
        ((96, 96, 3), (96, 96, 1))
    """

    rank = 2

    def __init__(
        self,
        *,
        rotation: float = 10.0,
        shift: float = 0.05,
        scale: float = 0.0,
        hflip: bool = True,
        vflip: bool = False,
        brightness: float = 0.0,
        contrast: float = 0.0,
        gamma: float = 0.0,
        noise_std: float = 0.0,
        elastic_sigma: float = 0.0,
        elastic_points: int = 3,
    ) -> None:
        _check_non_negative(
            rotation=rotation,
            shift=shift,
            scale=scale,
            brightness=brightness,
            contrast=contrast,
            gamma=gamma,
            noise_std=noise_std,
            elastic_sigma=elastic_sigma,
        )
        for name, value in (("scale", scale), ("gamma", gamma)):
            if value >= 1:
                raise ValueError(f"`{name}` must be < 1. Received: {name}={value}")
        if elastic_points < 2:
            raise ValueError(
                f"`elastic_points` must be >= 2. Received: elastic_points="
                f"{elastic_points}"
            )
        self.rotation, self.shift, self.scale = rotation, shift, scale
        self.hflip, self.vflip = hflip, vflip
        self.brightness, self.contrast, self.gamma = brightness, contrast, gamma
        self.noise_std = noise_std
        self.elastic_sigma, self.elastic_points = elastic_sigma, elastic_points
        # One Compose per thread: tf.data maps in parallel and transforms hold
        # their random state.
        self._local = threading.local()

    def _build(self) -> A.Compose:
        transforms: list[A.BasicTransform] = []
        if self.rotation or self.shift or self.scale:
            transforms.append(
                A.Affine(
                    rotate=(-self.rotation, self.rotation),
                    translate_percent=(-self.shift, self.shift),
                    scale=(1 - self.scale, 1 + self.scale),
                    interpolation=cv2.INTER_LINEAR,
                    mask_interpolation=cv2.INTER_NEAREST,
                    border_mode=cv2.BORDER_REFLECT,
                    p=1.0,
                )
            )
        if self.hflip:
            transforms.append(A.HorizontalFlip(p=0.5))
        if self.vflip:
            transforms.append(A.VerticalFlip(p=0.5))
        if self.brightness or self.contrast:
            transforms.append(
                A.RandomBrightnessContrast(
                    brightness_limit=self.brightness,
                    contrast_limit=self.contrast,
                    p=1.0,
                )
            )
        if self.gamma:
            transforms.append(
                A.RandomGamma(
                    gamma_limit=(100 * (1 - self.gamma), 100 * (1 + self.gamma)),
                    p=1.0,
                )
            )
        if self.noise_std:
            transforms.append(A.GaussNoise(std_range=(0.0, self.noise_std), p=1.0))
        return A.Compose(transforms)

    def __call__(
        self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augments one ``(H, W, C)`` image and its ``(H, W, K)`` mask.

        Args:
            image: ``float32`` image in ``[0, 1]``.
            mask: ``float32`` mask.
            rng: Random generator; the only source of randomness.

        Returns:
            The augmented ``(image, mask)``, ``float32``, same shapes.

        Raises:
            ValueError: If the arrays are not ``(H, W, C)`` of one size.
        """
        _check_pair(image, mask, 2)
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self._local.compose = self._build()
        # Seed each transform separately: Compose.set_random_seed gives all of them
        # the same seed, which makes their draws identical (both flips together).
        seeds = rng.integers(0, 2**32 - 1, size=len(compose.transforms))
        for transform, seed in zip(compose.transforms, seeds, strict=True):
            transform.set_random_seed(int(seed))
        out = compose(
            image=np.ascontiguousarray(image, dtype=np.float32),
            mask=np.ascontiguousarray(mask, dtype=np.float32),
        )
        image, mask = out["image"], out["mask"]
        if mask.ndim == 2:
            mask = mask[..., None]
        if image.ndim == 2:
            image = image[..., None]
        if self.elastic_sigma:
            image, mask = elastic_deform(
                image, mask, rng, sigma=self.elastic_sigma, points=self.elastic_points
            )
        return image.astype(np.float32), mask.astype(np.float32)


class Augmenter3D:
    """3D augmentation with NumPy/SciPy, applied identically to volume and mask.

    Order: random flips; one resampling that composes the affine transform
    (rotation about each axis, shift, scaling) with the elastic deformation of
    :func:`elastic_displacement` (linear for the image, cubic when the
    deformation is on, nearest for the mask, reflecting at the borders); then
    brightness/contrast/gamma and gaussian noise (image only).

    Args:
        rotation: Maximum absolute rotation in degrees about each axis. Defaults to
            10.
        shift: Maximum absolute shift as a fraction of each axis. Defaults to 0.05.
        scale: Maximum absolute zoom fraction. Defaults to 0.
        flip_axes: Spatial axes each flipped with probability 0.5. Defaults to
            ``(0, 1, 2)``.
        brightness: Maximum absolute additive offset. Defaults to 0.
        contrast: Maximum absolute contrast change (fraction), around the mean.
            Defaults to 0.
        gamma: Maximum absolute gamma change; needs a non-negative image. Defaults
            to 0.
        noise_std: Maximum std of additive gaussian noise. Defaults to 0.
        elastic_sigma: Control-point displacement std in voxels; 0 disables it.
            Defaults to 0.
        elastic_points: Control points per axis. Defaults to 3.

    Raises:
        ValueError: If an argument is negative, ``scale``/``gamma`` >= 1, or a flip
            axis is not in 0..2.

    Example:
        >>> augment = Augmenter3D(noise_std=0.05)
        >>> volume, mask = np.random.rand(32, 32, 32, 1), np.zeros((32, 32, 32, 1))
        >>> aug_volume, aug_mask = augment(volume, mask, np.random.default_rng(0))
        >>> aug_volume.shape
        (32, 32, 32, 1)
    """

    rank = 3

    def __init__(
        self,
        *,
        rotation: float = 10.0,
        shift: float = 0.05,
        scale: float = 0.0,
        flip_axes: Sequence[int] = (0, 1, 2),
        brightness: float = 0.0,
        contrast: float = 0.0,
        gamma: float = 0.0,
        noise_std: float = 0.0,
        elastic_sigma: float = 0.0,
        elastic_points: int = 3,
    ) -> None:
        _check_non_negative(
            rotation=rotation,
            shift=shift,
            scale=scale,
            brightness=brightness,
            contrast=contrast,
            gamma=gamma,
            noise_std=noise_std,
            elastic_sigma=elastic_sigma,
        )
        for name, value in (("scale", scale), ("gamma", gamma)):
            if value >= 1:
                raise ValueError(f"`{name}` must be < 1. Received: {name}={value}")
        if not all(a in (0, 1, 2) for a in flip_axes):
            raise ValueError(
                f"`flip_axes` must be in 0..2. Received: flip_axes={tuple(flip_axes)}"
            )
        if elastic_points < 2:
            raise ValueError(
                f"`elastic_points` must be >= 2. Received: elastic_points="
                f"{elastic_points}"
            )
        self.rotation, self.shift, self.scale = rotation, shift, scale
        self.flip_axes = tuple(flip_axes)
        self.brightness, self.contrast, self.gamma = brightness, contrast, gamma
        self.noise_std = noise_std
        self.elastic_sigma, self.elastic_points = elastic_sigma, elastic_points

    def _affine(self, spatial: tuple[int, ...], rng: np.random.Generator):
        """A random ``(matrix, offset)`` mapping output to input coordinates.

        ``in = matrix @ out + offset`` (SciPy's ``affine_transform`` convention):
        rotation about each axis and zoom about the centre, then a shift.
        """
        size = np.array(spatial, dtype=np.float64)
        angles = np.deg2rad(rng.uniform(-self.rotation, self.rotation, size=3))
        zoom = rng.uniform(1 - self.scale, 1 + self.scale)
        shift = rng.uniform(-self.shift, self.shift, size=3) * size
        matrix = np.eye(3)
        for axis, angle in enumerate(angles):
            i, j = [a for a in range(3) if a != axis]
            rot = np.eye(3)
            rot[i, i] = rot[j, j] = np.cos(angle)
            rot[i, j], rot[j, i] = -np.sin(angle), np.sin(angle)
            matrix = matrix @ rot
        matrix = matrix.T / zoom
        centre = (size - 1) / 2
        return matrix, centre - matrix @ centre - shift

    def __call__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        rng: np.random.Generator,
        *,
        window: Sequence[slice] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augments one ``(D, H, W, C)`` volume and its ``(D, H, W, K)`` mask.

        The affine transform and the elastic deformation are drawn for the whole
        input and composed into one resampling, evaluated only inside ``window``:
        the result equals augmenting the whole input and cutting out the window
        (intensity changes then apply to the window), at the cost of the window's
        voxels. :func:`~data_pipelines.pipeline.make_patch_dataset` passes the
        patch inside its context crop.

        Args:
            image: ``float32`` volume.
            mask: ``float32`` mask.
            rng: Random generator; the only source of randomness.
            window: One slice (step 1) per spatial axis, the part of the output
                to compute. Defaults to None: the whole volume.

        Returns:
            The augmented ``(image, mask)``, ``float32``, the window's shape.

        Raises:
            ValueError: If the arrays are not ``(D, H, W, C)`` of one size, the
                window does not lie inside them, or ``gamma`` is set and the
                image has negative values.
        """
        _check_pair(image, mask, 3)
        spatial = image.shape[:3]
        start, shape = _window(window, spatial)
        image = image.astype(np.float32)
        mask = mask.astype(np.float32)
        for axis in self.flip_axes:
            if rng.random() < 0.5:
                image, mask = np.flip(image, axis), np.flip(mask, axis)
        affine = (
            self._affine(spatial, rng)
            if self.rotation or self.shift or self.scale
            else None
        )
        field = (
            elastic_displacement(
                spatial, rng, sigma=self.elastic_sigma, points=self.elastic_points
            )
            if self.elastic_sigma
            else None
        )
        image, mask = _resample_3d(image, mask, affine, field, start, shape)
        if self.brightness:
            image = image + rng.uniform(-self.brightness, self.brightness)
        if self.contrast:
            mean = image.mean()
            image = mean + (image - mean) * rng.uniform(
                1 - self.contrast, 1 + self.contrast
            )
        if self.gamma:
            if image.min() < 0:
                raise ValueError(
                    "`gamma` needs a non-negative image; normalise to [0, 1] (e.g. "
                    "normalize_volume(method='minmax')) or set gamma=0"
                )
            image = image ** rng.uniform(1 - self.gamma, 1 + self.gamma)
        if self.noise_std:
            std = rng.uniform(0, self.noise_std)
            image = image + rng.normal(0.0, std, size=image.shape)
        return (
            np.ascontiguousarray(image, dtype=np.float32),
            np.ascontiguousarray(mask, dtype=np.float32),
        )


def _window(
    window: Sequence[slice] | None, spatial: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """The ``(start, shape)`` of a window of slices inside ``spatial``.

    Raises:
        ValueError: Unless the window is one non-empty step-1 slice per axis,
            inside the array (no negative or clipped bounds).
    """
    if window is None:
        return np.zeros(len(spatial), dtype=np.int64), tuple(spatial)
    bounds = [
        (0 if w.start is None else w.start, n if w.stop is None else w.stop, w.step)
        for w, n in zip(window, spatial, strict=False)
    ]
    if len(window) != len(spatial) or any(
        step not in (None, 1) or not 0 <= begin < stop <= n
        for (begin, stop, step), n in zip(bounds, spatial, strict=False)
    ):
        raise ValueError(
            f"`window` must be {len(spatial)} non-empty slices with step 1 inside "
            f"the spatial shape {spatial}. Received: window={tuple(window)}"
        )
    start = np.array([b[0] for b in bounds], dtype=np.int64)
    return start, tuple(stop - begin for begin, stop, _ in bounds)


def _resample_3d(
    image: np.ndarray,
    mask: np.ndarray,
    affine: tuple[np.ndarray, np.ndarray] | None,
    field: np.ndarray | None,
    start: np.ndarray,
    shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Resamples a volume and its mask once through an affine map and/or a field.

    Output voxel ``o`` of the window (``start + o`` in the input grid) reads the
    input at ``matrix @ (start + o + field[start + o]) + offset``: linear
    interpolation for the image without a field, cubic with one (clipped to the
    input range, as :func:`elastic_deform`), nearest for the mask; reflecting at
    the borders. Without either, the window is cut out.
    """
    window = tuple(slice(s, s + n) for s, n in zip(start, shape, strict=True))
    if affine is None and field is None:
        return image[window], mask[window]
    # Nearest resampling moves every channel of a voxel together, so a one-hot
    # mask is resampled as its class map (one resampling instead of K).
    one_hot = _is_one_hot(mask)
    labels = np.argmax(mask, axis=-1)[..., None].astype(np.float32) if one_hot else mask
    if field is None:
        # affine_transform computes the coordinates itself: ~8 % faster than
        # map_coordinates on a precomputed grid for the default (affine-only) case.
        matrix, offset = affine
        offset = offset + matrix @ start

        def sample(array: np.ndarray, order: int) -> np.ndarray:
            return np.stack(
                [
                    ndimage.affine_transform(
                        array[..., c],
                        matrix,
                        offset,
                        output_shape=shape,
                        order=order,
                        mode="reflect",
                    )
                    for c in range(array.shape[-1])
                ],
                axis=-1,
            )

        image_out, labels = sample(image, 1), sample(labels, 0)
    else:
        coords = np.indices(shape, dtype=np.float64) + start[:, None, None, None]
        coords += field[(slice(None), *window)]
        if affine is not None:
            matrix, offset = affine
            coords = np.tensordot(matrix, coords, axes=1) + offset[:, None, None, None]
        coords = coords.astype(np.float32)
        image_out = np.clip(_map_3d(image, coords, 3), image.min(), image.max())
        labels = _map_3d(labels, coords, 0)
    if one_hot:
        labels = (labels == np.arange(mask.shape[-1], dtype=np.float32)).astype(
            np.float32
        )
    return image_out, labels
