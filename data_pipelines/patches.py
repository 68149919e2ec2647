"""Patch sampling for training (foreground ratio, FOV) and grid patches for inference.

All functions work on channels-last arrays of either rank: ``(H, W, C)`` in 2D and
``(D, H, W, C)`` in 3D; positions are the top-left (-front) corners of patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Re-exported: the ROI geometry lives in zoo.roi, shared with zoo.fine_grained.
from zoo.inference import TileBlender, tile_starts
from zoo.roi import roi_box as roi_box


def _check_patch_size(patch_size: Sequence[int], spatial: Sequence[int]) -> tuple:
    patch_size = tuple(int(p) for p in patch_size)
    if len(patch_size) != len(spatial) or any(p < 1 for p in patch_size):
        raise ValueError(
            f"`patch_size` needs {len(spatial)} positive sizes for arrays of spatial "
            f"shape {tuple(spatial)}. Received: patch_size={patch_size}"
        )
    if any(p > s for p, s in zip(patch_size, spatial, strict=True)):
        raise ValueError(
            f"`patch_size` {patch_size} is larger than the array's spatial shape "
            f"{tuple(spatial)}; pad the array or use a smaller patch"
        )
    return patch_size


def foreground_map(
    mask: np.ndarray, fg_channels: Sequence[int] | None = None
) -> np.ndarray:
    """Boolean foreground of a channels-last mask.

    Args:
        mask: Mask ``(*spatial, K)``.
        fg_channels: Channels that count as foreground. Defaults to None: channel 0
            of a one-channel mask, channels ``1..K-1`` of a one-hot mask (channel 0
            being background).

    Returns:
        Boolean array of the spatial shape, True where a foreground channel > 0.5.

    Raises:
        ValueError: If a channel is out of range.

    Example:
        >>> onehot = np.eye(3)[np.array([[0, 1], [2, 0]])]
        >>> foreground_map(onehot).tolist()
        [[False, True], [True, False]]
    """
    k = mask.shape[-1]
    if fg_channels is None:
        fg_channels = (0,) if k == 1 else tuple(range(1, k))
    fg_channels = tuple(fg_channels)
    if not fg_channels or not all(0 <= c < k for c in fg_channels):
        raise ValueError(
            f"`fg_channels` must be non-empty and in 0..{k - 1}. Received: "
            f"fg_channels={fg_channels}"
        )
    return (mask[..., list(fg_channels)] > 0.5).any(axis=-1)


class PatchSampler:
    """Draws patch positions over a set of masks with a foreground ratio.

    Positive-centred sampling: with probability ``fg_ratio`` a patch is centred on
    a foreground pixel, otherwise on a background pixel; with a FOV, only pixels
    inside it are drawn. A pixel closer than half a patch to the border moves the
    patch inward so that it fits (the patch still contains the pixel, off-centre),
    so objects at the border are sampled too. Each patch's image is drawn
    uniformly, or, with ``empty_ratio``, from the images whose mask is empty
    with that probability and from the others otherwise (SIIM: about 78 % of
    the radiographs have no pneumothorax; drawing them uniformly would starve
    the positives, never drawing them teaches false positives). Candidate
    pixels are precomputed once, so drawing is O(1).

    Args:
        masks: Masks ``(*spatial, K)``, one per image (sizes may differ).
        patch_size: Patch size per spatial axis.
        fg_ratio: Probability of a foreground-centred patch; None samples centres
            uniformly (inside the FOV). An image without foreground (or without
            background) falls back to the other kind. Defaults to 0.5.
        fov: Field-of-view masks ``(*spatial, 1)`` or ``(*spatial)``, one per mask;
            centres must fall where ``fov > 0.5``. Defaults to None.
        fg_channels: See :func:`foreground_map`. Defaults to None.
        empty_ratio: Probability that a patch comes from an image with an empty
            mask; None draws images uniformly. When one kind of image is
            missing, the other is drawn. Defaults to None.

    Raises:
        ValueError: If ``masks`` is empty, ``fg_ratio`` or ``empty_ratio`` is
            not in [0, 1], a FOV
            differs in size from its mask or is empty, or a patch does not fit.

    Example:
        >>> mask = np.zeros((64, 64, 1)); mask[30:34, 30:34] = 1
        >>> sampler = PatchSampler([mask], (16, 16), fg_ratio=1.0)
        >>> index, corner = sampler.sample(np.random.default_rng(0))
        >>> bool(mask[corner[0] + 8, corner[1] + 8, 0])
        True
    """

    def __init__(
        self,
        masks: Sequence[np.ndarray],
        patch_size: Sequence[int],
        *,
        fg_ratio: float | None = 0.5,
        fov: Sequence[np.ndarray] | None = None,
        fg_channels: Sequence[int] | None = None,
        empty_ratio: float | None = None,
    ) -> None:
        if len(masks) == 0:
            raise ValueError("`masks` is empty: the dataset has zero samples")
        if fg_ratio is not None and not 0.0 <= fg_ratio <= 1.0:
            raise ValueError(
                f"`fg_ratio` must be in [0, 1] or None. Received: fg_ratio={fg_ratio}"
            )
        if empty_ratio is not None and not 0.0 <= empty_ratio <= 1.0:
            raise ValueError(
                "`empty_ratio` must be in [0, 1] or None. Received: "
                f"empty_ratio={empty_ratio}"
            )
        self.empty_ratio = empty_ratio
        if fov is not None and len(fov) != len(masks):
            raise ValueError(
                f"`fov` needs one mask per image: {len(fov)} FOV masks for "
                f"{len(masks)} images"
            )
        self.fg_ratio = fg_ratio
        self.patch_sizes = []
        self._shapes = []
        self._fg = []
        self._bg = []
        for i, mask in enumerate(masks):
            spatial = mask.shape[:-1]
            patch = _check_patch_size(patch_size, spatial)
            allowed = np.ones(spatial, dtype=bool)
            if fov is not None:
                region = np.asarray(fov[i])
                if region.shape[: len(spatial)] != spatial:
                    raise ValueError(
                        f"`fov[{i}]` has shape {region.shape}; its mask has spatial "
                        f"shape {spatial}"
                    )
                allowed = region.reshape(spatial) > 0.5
            if not allowed.any():
                raise ValueError(f"`fov[{i}]` is empty: no pixel to sample from")
            fg = foreground_map(mask, fg_channels)
            if fg_ratio is None:
                fg_idx, bg_idx = np.flatnonzero(allowed), np.zeros(0, np.int64)
            else:
                fg_idx = np.flatnonzero(allowed & fg)
                bg_idx = np.flatnonzero(allowed & ~fg)
            index_dtype = np.int32 if allowed.size < 2**31 else np.int64
            self.patch_sizes.append(patch)
            self._shapes.append(spatial)
            self._fg.append(fg_idx.astype(index_dtype))
            self._bg.append(bg_idx.astype(index_dtype))
        empty = np.array([not foreground_map(m, fg_channels).any() for m in masks])
        self._empty_images = np.flatnonzero(empty)
        self._positive_images = np.flatnonzero(~empty)

    def __len__(self) -> int:
        """Number of images."""
        return len(self._shapes)

    def sample(self, rng: np.random.Generator) -> tuple[int, tuple[int, ...]]:
        """Draws one patch.

        Args:
            rng: Random generator.

        Returns:
            ``(image_index, corner)``: the image and the patch's top-left corner.
        """
        index = self._draw_image(rng)
        fg, bg = self._fg[index], self._bg[index]
        want_fg = self.fg_ratio is None or rng.random() < self.fg_ratio
        pool = fg if (want_fg and fg.size) or not bg.size else bg
        flat = int(pool[rng.integers(pool.size)])
        centre = np.unravel_index(flat, self._shapes[index])
        corner = tuple(
            min(max(int(c) - p // 2, 0), size - p)
            for c, p, size in zip(
                centre, self.patch_sizes[index], self._shapes[index], strict=True
            )
        )
        return index, corner

    def _draw_image(self, rng: np.random.Generator) -> int:
        if self.empty_ratio is None:
            return int(rng.integers(len(self._shapes)))
        want_empty = rng.random() < self.empty_ratio
        empty, positive = self._empty_images, self._positive_images
        pool = empty if (want_empty and empty.size) or not positive.size else positive
        return int(pool[rng.integers(pool.size)])


def extract_patch(
    array: np.ndarray, corner: Sequence[int], patch_size: Sequence[int]
) -> np.ndarray:
    """Cuts a patch out of a channels-last array.

    Args:
        array: Array ``(*spatial, C)``.
        corner: Top-left corner of the patch.
        patch_size: Patch size per spatial axis.

    Returns:
        A view of shape ``(*patch_size, C)``.

    Raises:
        ValueError: If the patch does not lie inside the array.

    Example:
        >>> extract_patch(np.zeros((10, 10, 2)), (2, 3), (4, 4)).shape
        (4, 4, 2)
    """
    spatial = array.shape[:-1]
    if len(corner) != len(spatial) or any(
        c < 0 or c + p > s for c, p, s in zip(corner, patch_size, spatial, strict=True)
    ):
        raise ValueError(
            f"Patch at corner={tuple(corner)} of size {tuple(patch_size)} does not "
            f"fit in spatial shape {spatial}"
        )
    return array[
        tuple(slice(c, c + p) for c, p in zip(corner, patch_size, strict=True))
    ]


def sample_patches(
    image: np.ndarray,
    mask: np.ndarray,
    patch_size: Sequence[int],
    n: int,
    *,
    fg_ratio: float | None = 0.5,
    fov: np.ndarray | None = None,
    rng: np.random.Generator,
    fg_channels: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``n`` random patches of one image with a foreground ratio.

    Args:
        image: Image ``(*spatial, C)``, 2D or 3D.
        mask: Mask ``(*spatial, K)``.
        patch_size: Patch size per spatial axis.
        n: Number of patches.
        fg_ratio: Probability that a patch is centred on foreground (see
            :class:`PatchSampler`). Defaults to 0.5.
        fov: Field of view ``(*spatial, 1)``; patch centres lie inside it.
            Defaults to None.
        rng: Random generator.
        fg_channels: See :func:`foreground_map`. Defaults to None.

    Returns:
        ``(images, masks)`` of shapes ``(n, *patch_size, C)`` and
        ``(n, *patch_size, K)``.

    Raises:
        ValueError: If image and mask differ in size, ``n`` < 1, or the patch does
            not fit.

    Example:
        >>> drive = load_drive("../shared/data/drive", limit=1)
        >>> x, y = sample_patches(drive.images[0], drive.masks[0], (64, 64), 8,
        ...                       fov=drive.fov[0], rng=np.random.default_rng(0))
        >>> x.shape, y.shape
        ((8, 64, 64, 3), (8, 64, 64, 1))
    """
    if image.shape[:-1] != mask.shape[:-1]:
        raise ValueError(
            f"`image` and `mask` differ in size: {image.shape} vs {mask.shape}"
        )
    if n < 1:
        raise ValueError(f"`n` must be >= 1. Received: n={n}")
    sampler = PatchSampler(
        [mask],
        patch_size,
        fg_ratio=fg_ratio,
        fov=None if fov is None else [fov],
        fg_channels=fg_channels,
    )
    patch = sampler.patch_sizes[0]
    corners = [sampler.sample(rng)[1] for _ in range(n)]
    return (
        np.stack([extract_patch(image, c, patch) for c in corners]),
        np.stack([extract_patch(mask, c, patch) for c in corners]),
    )


def random_crop_3d(
    volume: np.ndarray,
    mask: np.ndarray,
    crop_size: Sequence[int],
    rng: np.random.Generator,
    *,
    fg_ratio: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random crop of a ``(D, H, W, C)`` volume and its mask.

    Args:
        volume: Volume ``(D, H, W, C)``.
        mask: Mask ``(D, H, W, K)``.
        crop_size: ``(d, h, w)``.
        rng: Random generator.
        fg_ratio: Probability of centring the crop on foreground; None crops
            uniformly. Defaults to None.

    Returns:
        ``(volume_crop, mask_crop)`` of shapes ``(d, h, w, C)`` and ``(d, h, w,
        K)``.

    Raises:
        ValueError: If the arrays are not 4D of one size or the crop does not fit.

    Example:
        >>> volume = mask = np.zeros((40, 64, 64, 1))
        >>> rng = np.random.default_rng(0)
        >>> crop, _ = random_crop_3d(volume, mask, (32, 32, 32), rng)
        >>> crop.shape
        (32, 32, 32, 1)
    """
    if volume.ndim != 4 or mask.ndim != 4:
        raise ValueError(
            "`volume` and `mask` must be (D, H, W, C). Received shapes "
            f"{volume.shape} and {mask.shape}"
        )
    images, masks = sample_patches(
        volume, mask, crop_size, 1, fg_ratio=fg_ratio, rng=rng
    )
    return images[0], masks[0]


def grid_positions(
    shape: Sequence[int],
    patch_size: Sequence[int],
    *,
    stride: Sequence[int] | None = None,
) -> np.ndarray:
    """Corners of patches that tile an array, the last patch flush with the edge.

    Args:
        shape: Spatial shape, 2D or 3D.
        patch_size: Patch size per axis.
        stride: Step per axis; smaller than ``patch_size`` gives overlap. Defaults
            to ``patch_size`` (overlap only at the last row/column when the size is
            not a multiple).

    Returns:
        ``int`` array ``(n_patches, ndim)`` of corners, in C order.

    Raises:
        ValueError: If a patch is larger than the shape or a stride is < 1.

    Example:
        >>> grid_positions((100, 64), (48, 64)).tolist()
        [[0, 0], [48, 0], [52, 0]]
    """
    shape = tuple(int(s) for s in shape)
    patch = _check_patch_size(patch_size, shape)
    stride = patch if stride is None else tuple(int(s) for s in stride)
    if len(stride) != len(shape) or any(s < 1 for s in stride):
        raise ValueError(
            f"`stride` needs {len(shape)} sizes >= 1. Received: stride={stride}"
        )
    return np.array(tile_starts(shape, patch, stride), dtype=int)


def grid_patches(
    image: np.ndarray,
    patch_size: Sequence[int],
    *,
    stride: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cuts an image into grid patches (:func:`zoo.inference.tile_starts` tiling).

    Args:
        image: Image ``(*spatial, C)``, 2D or 3D.
        patch_size: Patch size per spatial axis.
        stride: See :func:`grid_positions`. Defaults to ``patch_size``.

    Returns:
        ``(patches, positions)``: ``(n, *patch_size, C)`` and ``(n, ndim)``.

    Raises:
        ValueError: If the patch does not fit.

    Example:
        >>> patches, positions = grid_patches(np.zeros((584, 565, 3)), (96, 96))
        >>> patches.shape
        (42, 96, 96, 3)
    """
    positions = grid_positions(image.shape[:-1], patch_size, stride=stride)
    patch = tuple(patch_size)
    return np.stack([extract_patch(image, p, patch) for p in positions]), positions


def stitch_patches(
    patches: np.ndarray, positions: np.ndarray, shape: Sequence[int]
) -> np.ndarray:
    """Reassembles grid patches, averaging overlaps (``zoo.inference.TileBlender``).

    Args:
        patches: ``(n, *patch_size, C)``.
        positions: ``(n, ndim)`` corners from :func:`grid_positions`.
        shape: Spatial shape of the output.

    Returns:
        ``float32`` array ``(*shape, C)``.

    Raises:
        ValueError: If ``patches`` and ``positions`` disagree or the patches leave
            a pixel uncovered.

    Example:
        >>> image = np.random.rand(100, 70, 1)
        >>> patches, positions = grid_patches(image, (32, 32), stride=(16, 16))
        >>> bool(np.allclose(stitch_patches(patches, positions, (100, 70)), image))
        True
    """
    positions = np.asarray(positions)
    if len(patches) != len(positions) or positions.shape[1:] != (len(shape),):
        raise ValueError(
            f"{len(patches)} patches need {len(patches)} positions of {len(shape)} "
            f"values. Received positions of shape {positions.shape}"
        )
    blender = TileBlender(shape, patches.shape[-1])
    for values, corner in zip(patches, positions, strict=True):
        blender.add(corner, values)
    try:
        return blender.result()
    except ValueError:
        raise ValueError("The patches do not cover every pixel of `shape`") from None
