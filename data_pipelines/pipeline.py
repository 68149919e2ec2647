"""``tf.data`` pipelines feeding 2D and 3D segmentation models.

The NumPy/OpenCV work (sampling, augmentation) runs inside ``tf.numpy_function``
in a parallel ``map``. Every element draws its randomness from its own generator,
seeded by ``seed`` and a per-element number from ``tf.data.Dataset.random(seed,
rerandomize_each_iteration=True)``: a pipeline built twice with the same seed
yields the same batches, each epoch differs from the previous one, and with
``deterministic=False`` only the order of elements may change.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage

from data_pipelines.augment import Augmenter, Augmenter3D
from data_pipelines.image_io import read_image, read_mask
from data_pipelines.patches import PatchSampler, extract_patch
from zoo.roi import roi_box

ArrayOrPaths = np.ndarray | Sequence[np.ndarray] | Sequence[str | Path]
TargetFn = Callable[[np.ndarray], np.ndarray]


def _check_arrays(
    images: np.ndarray | Sequence[np.ndarray],
    masks: np.ndarray | Sequence[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Validates in-memory images/masks; returns float32 lists and the rank."""
    if len(images) == 0:
        raise ValueError("`images` is empty: the dataset has zero samples")
    if len(images) != len(masks):
        raise ValueError(
            f"`images` and `masks` differ in length: {len(images)} vs {len(masks)}"
        )
    images = [np.asarray(x, dtype=np.float32) for x in images]
    masks = [np.asarray(y, dtype=np.float32) for y in masks]
    ndim = images[0].ndim
    if ndim not in (3, 4):
        raise ValueError(
            "Each image must be (H, W, C) for 2D or (D, H, W, C) for 3D. Received "
            f"shape {images[0].shape}"
        )
    for i, (x, y) in enumerate(zip(images, masks, strict=True)):
        if x.ndim != ndim or y.ndim != ndim:
            raise ValueError(
                f"Image {i} has shape {x.shape} and mask {i} {y.shape}; expected "
                f"rank-{ndim} channels-last arrays like image 0 {images[0].shape}"
            )
        if x.shape[:-1] != y.shape[:-1]:
            raise ValueError(
                f"Size mismatch: image {i} is {x.shape[:-1]} but mask {i} is "
                f"{y.shape[:-1]}"
            )
        if x.shape[-1] != images[0].shape[-1] or y.shape[-1] != masks[0].shape[-1]:
            raise ValueError(
                f"Image/mask {i} has {x.shape[-1]}/{y.shape[-1]} channels; image/mask "
                f"0 has {images[0].shape[-1]}/{masks[0].shape[-1]}"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"Image {i} contains NaN or infinite values")
    return images, masks, ndim - 1


def _check_common(batch_size: int, seed: int, augment: Augmenter | None, rank: int):
    if batch_size < 1:
        raise ValueError(
            f"`batch_size` must be >= 1. Received: batch_size={batch_size}"
        )
    if seed < 0:
        raise ValueError(f"`seed` must be >= 0. Received: seed={seed}")
    augment_rank = getattr(augment, "rank", rank)
    if augment_rank != rank:
        raise ValueError(
            f"`augment` is a {augment_rank}D augmenter but the data is {rank}D"
        )


def _rng(seed: int, draw: np.int64) -> np.random.Generator:
    return np.random.default_rng([seed, int(draw) % 2**63])


def _target_channels(target_fn: TargetFn | None, shape: tuple[int, ...]) -> int:
    if target_fn is None:
        return shape[-1]
    return int(target_fn(np.zeros(shape, np.float32)).shape[-1])


#: Batches prefetched ahead of the training step.
PREFETCH = 2


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with ``tf.data`` autotuning switched off.

    Measured on a 2-core CPU (``benchmarks/data_throughput.py``, README
    "Benchmarks"): with autotuning on, ``model.fit`` ran about 40 % of its
    calls at half speed on one core (the same fixed step time each time, the
    second core idle), with it off none did. The pipelines here set their map
    parallelism (the usable cores) and prefetch depth (:data:`PREFETCH`)
    themselves; the trainer applies this to every dataset it is given.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _parallelism() -> int:
    """Parallel map calls: the CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _map_numpy(
    dataset: tf.data.Dataset,
    fn: Callable[..., tuple[np.ndarray, ...]],
    shapes: Sequence[tuple[int | None, ...]],
    *,
    deterministic: bool,
) -> tf.data.Dataset:
    """Parallel ``map`` of a NumPy function with static float32 output shapes."""

    def wrapped(*args: tf.Tensor) -> tuple[tf.Tensor, ...]:
        # Zipped datasets give nested elements; the NumPy function takes them flat.
        outputs = tf.numpy_function(
            fn, tf.nest.flatten(args), [tf.float32] * len(shapes), stateful=False
        )
        for output, shape in zip(outputs, shapes, strict=True):
            output.set_shape(shape)
        return tuple(outputs)

    return dataset.map(
        wrapped, num_parallel_calls=_parallelism(), deterministic=deterministic
    )


def _check_threads(threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ValueError(f"`threads` must be >= 1 or None. Received: threads={threads}")


def _finish(
    dataset: tf.data.Dataset,
    batch_size: int | None,
    *,
    deterministic: bool,
    threads: int | None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches (unless ``batch_size`` is None), prefetches, sets the options.

    Autotuning is off (see :func:`without_autotune`).
    """
    options = tf.data.Options()
    options.deterministic = deterministic
    if threads is not None:
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
    if batch_size is not None:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return without_autotune(dataset.prefetch(PREFETCH).with_options(options))


def make_patch_dataset(
    images: np.ndarray | Sequence[np.ndarray],
    masks: np.ndarray | Sequence[np.ndarray],
    *,
    patch_size: Sequence[int],
    batch_size: int,
    fg_ratio: float | None = 0.5,
    fov: np.ndarray | Sequence[np.ndarray] | None = None,
    augment: Augmenter | None = None,
    patches_per_epoch: int | None,
    seed: int = 0,
    deterministic: bool = True,
    fg_channels: Sequence[int] | None = None,
    target_fn: TargetFn | None = None,
    context: float = 0.25,
    threads: int | None = None,
    empty_ratio: float | None = None,
) -> tf.data.Dataset:
    """Random training patches, 2D or 3D, as batches ``(x, y)``.

    Each element draws an image, a positive- or negative-centred patch (see
    :class:`~data_pipelines.patches.PatchSampler`), augments it and applies
    ``target_fn`` to the mask patch. With an augmenter, a larger crop (``context``
    extra on each side, reflect-padded at the image border) is augmented and its
    centre cut out, so rotations and shifts bring in real neighbouring pixels
    rather than reflections of the patch; an
    :class:`~data_pipelines.augment.Augmenter3D` computes only the centre
    (``window=``), reading the context around it.

    Args:
        images: ``(N, H, W, C)``/``(N, D, H, W, C)`` array or a list of
            ``(H, W, C)``/``(D, H, W, C)`` arrays (sizes may differ), ``float32``.
        masks: Masks matching ``images``, ``(..., K)``.
        patch_size: Patch size per spatial axis, e.g. ``(64, 64)`` or
            ``(32, 64, 64)``.
        batch_size: Patches per batch.
        fg_ratio: Probability of a foreground-centred patch; None samples
            uniformly. Defaults to 0.5.
        fov: Field-of-view masks, one per image; patch centres lie inside.
            Defaults to None.
        augment: Augmenter of the data's rank, e.g.
            :class:`~data_pipelines.augment.Augmenter2D`. Defaults to None.
        patches_per_epoch: Patches per pass over the dataset (the last batch may be
            smaller); None gives an endless dataset (use ``steps_per_epoch``).
        seed: Seed of every random draw. Defaults to 0.
        deterministic: Keep element order fixed under parallel mapping. Defaults
            to True.
        fg_channels: Mask channels counted as foreground. Defaults to None (see
            :func:`~data_pipelines.patches.foreground_map`).
        target_fn: Function applied to each augmented mask patch, e.g.
            ``functools.partial(gaussian_line_mask, channels=(0,))``. Defaults to
            None.
        context: Extra context for augmentation, as a fraction of the patch size
            per side. Defaults to 0.25.
        threads: Size of the dataset's private thread pool; None uses TF's
            global pool. Defaults to None.
        empty_ratio: Probability of drawing the patch's image among those with
            an empty mask (see :class:`~data_pipelines.patches.PatchSampler`);
            None draws images uniformly. Defaults to None.

    Returns:
        A ``tf.data.Dataset`` of ``float32`` ``(x, y)`` with shapes
        ``(B, *patch_size, C)`` and ``(B, *patch_size, K')``.

    Raises:
        ValueError: If the dataset is empty, images and masks disagree in number,
            size, rank or channels, an image holds NaN, or an argument is invalid.

    Example:
        >>> drive = load_drive("../shared/data/drive")
        >>> dataset = make_patch_dataset(
        ...     drive.images, drive.masks, fov=drive.fov, patch_size=(64, 64),
        ...     batch_size=16, augment=Augmenter2D(), patches_per_epoch=1024)
        >>> x, y = next(iter(dataset))
        >>> x.shape, y.shape
        (TensorShape([16, 64, 64, 3]), TensorShape([16, 64, 64, 1]))
    """
    images, masks, rank = _check_arrays(images, masks)
    _check_common(batch_size, seed, augment, rank)
    _check_threads(threads)
    if patches_per_epoch is not None and patches_per_epoch < 1:
        raise ValueError(
            "`patches_per_epoch` must be >= 1 or None. Received: "
            f"patches_per_epoch={patches_per_epoch}"
        )
    if context < 0:
        raise ValueError(f"`context` must be >= 0. Received: context={context}")
    sampler = PatchSampler(
        masks,
        patch_size,
        fg_ratio=fg_ratio,
        fov=fov,
        fg_channels=fg_channels,
        empty_ratio=empty_ratio,
    )
    patch = sampler.patch_sizes[0]
    margin = (
        tuple(math.ceil(context * p) for p in patch)
        if augment is not None
        else (0,) * rank
    )
    if any(margin):
        pad = [(m, m) for m in margin] + [(0, 0)]
        # "symmetric" repeats the edge pixel, like cv2.BORDER_REFLECT in Augmenter2D.
        images = [np.pad(x, pad, mode="symmetric") for x in images]
        masks = [np.pad(y, pad, mode="symmetric") for y in masks]
    crop = tuple(p + 2 * m for p, m in zip(patch, margin, strict=True))
    centre = tuple(slice(m, m + p) for m, p in zip(margin, patch, strict=True))
    x_shape = (*patch, images[0].shape[-1])
    y_shape = (*patch, _target_channels(target_fn, (*patch, masks[0].shape[-1])))

    def make_patch(draw: np.int64) -> tuple[np.ndarray, np.ndarray]:
        rng = _rng(seed, draw)
        index, corner = sampler.sample(rng)
        x = extract_patch(images[index], corner, crop)
        y = extract_patch(masks[index], corner, crop)
        if isinstance(augment, Augmenter3D):
            # Resamples only the patch, reading the context around it.
            x, y = augment(x, y, rng, window=centre)
        elif augment is not None:
            x, y = augment(x, y, rng)
            x, y = x[centre], y[centre]
        if target_fn is not None:
            y = target_fn(y)
        return x, y

    def make_batch(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = zip(*(make_patch(d) for d in draws), strict=True)
        return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32)

    # One NumPy call per batch, not per patch: the per-call overhead of
    # tf.numpy_function is comparable to the cost of one augmented 64x64 patch.
    # Each patch still has its own seed, so the content does not depend on
    # batching or threading.
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    if patches_per_epoch is not None:
        draws = draws.take(patches_per_epoch)
    endless = patches_per_epoch is None
    draws = draws.batch(batch_size, drop_remainder=endless)
    batch_dim = batch_size if endless else None
    dataset = _map_numpy(
        draws,
        make_batch,
        [(batch_dim, *x_shape), (batch_dim, *y_shape)],
        deterministic=deterministic,
    )
    return _finish(dataset, None, deterministic=deterministic, threads=threads)


def _resize(array: np.ndarray, size: tuple[int, ...], *, nearest: bool) -> np.ndarray:
    """Resizes a channels-last 2D/3D array (linear or nearest)."""
    if array.shape[:-1] == size:
        return array
    if len(size) == 2:
        out = cv2.resize(
            array,
            (size[1], size[0]),
            interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
        )
        return out.reshape(*size, array.shape[-1])
    factors = [s / a for s, a in zip(size, array.shape[:-1], strict=True)] + [1]
    return ndimage.zoom(
        array, factors, order=0 if nearest else 1, mode="nearest", grid_mode=True
    )


def _is_paths(items: ArrayOrPaths) -> bool:
    return not isinstance(items, np.ndarray) and isinstance(items[0], str | Path)


def make_full_image_dataset(
    images: ArrayOrPaths,
    masks: ArrayOrPaths,
    batch_size: int,
    *,
    augment: Augmenter | None = None,
    target_size: Sequence[int] | None = None,
    target_fn: TargetFn | None = None,
    shuffle: bool = True,
    seed: int = 0,
    deterministic: bool = True,
    binary: bool = True,
    cache: bool = True,
    threads: int | None = None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Whole images (or volumes) as batches ``(x, y)``, one epoch per pass.

    Arrays are used as they are. File paths (2D) are decoded with
    :func:`~data_pipelines.image_io.read_image`/``read_mask`` in a parallel map,
    resized to ``target_size`` and cached, so decoding happens once. Shuffling,
    augmentation and ``target_fn`` run after the cache, differently each epoch.

    Args:
        images: Array ``(N, ...)``, list of arrays, or list of 2D image paths.
        masks: Masks (or label paths) matching ``images``.
        batch_size: Images per batch.
        augment: Augmenter of the data's rank. Defaults to None.
        target_size: Spatial size to resize to (linear for images, nearest for
            masks), e.g. ``(256, 256)``; needed to batch images of mixed sizes.
            Defaults to None.
        target_fn: Function applied to each augmented mask. Defaults to None.
        shuffle: Reshuffle the order every epoch. Defaults to True.
        seed: Seed of every random draw. Defaults to 0.
        deterministic: Keep element order fixed under parallel mapping. Defaults
            to True.
        binary: Read label files as binary masks (paths only). Defaults to True.
        cache: Cache decoded images (paths only). Defaults to True.
        threads: Size of the dataset's private thread pool. Defaults to None.
        drop_remainder: Drop the last incomplete batch. Defaults to False.

    Returns:
        A ``tf.data.Dataset`` of ``float32`` ``(x, y)`` with shapes
        ``(B, *size, C)`` and ``(B, *size, K')``.

    Raises:
        FileNotFoundError: If a path does not exist (named).
        ValueError: If the dataset is empty, sizes differ without
            ``target_size``, an image holds NaN, or an argument is invalid. A file
            that turns out unreadable while the dataset is iterated raises
            ``tf.errors.InvalidArgumentError`` whose message names it.

    Example:
        >>> isbi = load_isbi("../shared/data/isbi2012_membrane")
        >>> dataset = make_full_image_dataset(
        ...     isbi.images, isbi.masks, 4, augment=Augmenter2D(),
        ...     target_size=(256, 256))
        >>> [tuple(t.shape) for t in next(iter(dataset))]
        [(4, 256, 256, 1), (4, 256, 256, 1)]
    """
    if len(images) == 0:
        raise ValueError("`images` is empty: the dataset has zero samples")
    if len(images) != len(masks):
        raise ValueError(
            f"`images` and `masks` differ in length: {len(images)} vs {len(masks)}"
        )
    from_files = _is_paths(images)
    if from_files:
        image_paths = [Path(p) for p in images]
        mask_paths = [Path(p) for p in masks]
        for path in image_paths + mask_paths:
            if not path.is_file():
                raise FileNotFoundError(f"File not found: '{path}'")
        first = (
            [read_image(image_paths[0])],
            [read_mask(mask_paths[0], binary=binary)],
        )
        _, _, rank = _check_arrays(*first)
        channels = (first[0][0].shape[-1], first[1][0].shape[-1])
        spatial = first[0][0].shape[:-1]
    else:
        images, masks, rank = _check_arrays(images, masks)
        channels = (images[0].shape[-1], masks[0].shape[-1])
        spatial = images[0].shape[:-1]
        sizes = {x.shape[:-1] for x in images}
        if target_size is None and len(sizes) > 1 and batch_size > 1:
            raise ValueError(
                f"Images differ in size ({sorted(sizes)}); pass `target_size` or "
                "batch_size=1"
            )
    _check_common(batch_size, seed, augment, rank)
    _check_threads(threads)
    if target_size is not None:
        target_size = tuple(int(s) for s in target_size)
        if len(target_size) != rank or min(target_size) < 1:
            raise ValueError(
                f"`target_size` needs {rank} positive sizes. Received: "
                f"target_size={target_size}"
            )
        spatial = target_size
    x_shape = (*spatial, channels[0])
    y_shape = (*spatial, _target_channels(target_fn, (*spatial, channels[1])))

    def load(index: np.int64) -> tuple[np.ndarray, np.ndarray]:
        if from_files:
            x = read_image(image_paths[index], channels=channels[0])
            y = read_mask(mask_paths[index], binary=binary)
            if x.shape[:-1] != y.shape[:-1] or (
                target_size is None and x.shape[:-1] != spatial
            ):
                raise ValueError(
                    f"Size mismatch: '{image_paths[index]}' is {x.shape[:-1]}, "
                    f"'{mask_paths[index]}' is {y.shape[:-1]}, expected {spatial}"
                )
        else:
            x, y = images[index], masks[index]
        if target_size is not None:
            x = _resize(x, target_size, nearest=False)
            y = _resize(y, target_size, nearest=True)
        return x.astype(np.float32), y.astype(np.float32)

    def transform(
        x: np.ndarray, y: np.ndarray, draw: np.int64
    ) -> tuple[np.ndarray, np.ndarray]:
        if augment is not None:
            x, y = augment(x, y, _rng(seed, draw))
        if target_fn is not None:
            y = target_fn(y)
        return x.astype(np.float32), y.astype(np.float32)

    loaded_shapes = [(*spatial, channels[0]), (*spatial, channels[1])]
    dataset = tf.data.Dataset.range(len(images))
    if from_files:
        dataset = _map_numpy(dataset, load, loaded_shapes, deterministic=True)
        if cache:
            dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if not from_files:
        dataset = _map_numpy(dataset, load, loaded_shapes, deterministic=True)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = _map_numpy(
        tf.data.Dataset.zip(dataset, draws),
        transform,
        [x_shape, y_shape],
        deterministic=deterministic,
    )
    return _finish(
        dataset,
        batch_size,
        deterministic=deterministic,
        threads=threads,
        drop_remainder=drop_remainder,
    )


def make_two_input_dataset(
    images: np.ndarray | Sequence[np.ndarray],
    masks: np.ndarray | Sequence[np.ndarray],
    batch_size: int,
    *,
    roi_channels: Sequence[int] | None = None,
    roi_mask_channel: int = -1,
    margin: int = 20,
    augment: Augmenter | None = None,
    shuffle: bool = True,
    seed: int = 0,
    deterministic: bool = True,
    threads: int | None = None,
    drop_remainder: bool = False,
    model: keras.Model | None = None,
) -> tf.data.Dataset:
    """Full image plus ROI crop for ``fine_grained_unet`` (two inputs, two outputs).

    Per element (after augmentation): the ROI is the square of
    :func:`~zoo.roi.roi_box` around the largest contour of the union
    of ``roi_channels``; it is cut from the image and from mask channel
    ``roi_mask_channel`` and resized back to full size (linear for the image,
    nearest and ``> 0.5`` for the mask).

    Args:
        images: 2D images ``(N, H, W, C)`` or a list of equal-size arrays.
        masks: Masks ``(N, H, W, K)``, e.g. channel 0 the big object and channel 1
            the tiny one.
        batch_size: Images per batch.
        roi_channels: Mask channels whose union locates the ROI. Defaults to None
            (all channels).
        roi_mask_channel: Mask channel cropped as the ROI target. Defaults to -1
            (the last, the tiny object).
        margin: Pixels added to the ROI's half-side. Defaults to 20.
        augment: 2D augmenter applied to the full image and mask first. Defaults
            to None.
        shuffle: Reshuffle every epoch. Defaults to True.
        seed: Seed of every random draw. Defaults to 0.
        deterministic: Keep element order fixed. Defaults to True.
        threads: Size of the dataset's private thread pool. Defaults to None.
        drop_remainder: Drop the last incomplete batch. Defaults to False.
        model: The two-input, two-output model to feed: the keys are its input
            names (full image, ROI) and output names (full mask, ROI mask), in
            order, whatever its ``name=``. Defaults to None (the keys below).

    Returns:
        A ``tf.data.Dataset`` of ``({"full_input": (B, H, W, C),
        "roi_input": (B, H, W, C)}, {"orig_branch": (B, H, W, K),
        "roi_branch": (B, H, W, 1)})``, all ``float32``, with ``model``'s names
        as keys when given.

    Raises:
        ValueError: If the data is not 2D of one size, the dataset is empty, an
            argument is invalid, or ``model`` lacks two inputs and two outputs.

    Notes:
        Deviation from the reference loader: the ROI target batch holds the ROI
        masks (the reference yields the cropped images there, a bug), and the ROI
        input keeps every image channel (the reference crops channel 0, the same
        for grayscale inputs).

    Example:
        >>> dataset = make_two_input_dataset(images, masks, 2)
        >>> inputs, targets = next(iter(dataset))
        >>> sorted(inputs), sorted(targets)
        (['full_input', 'roi_input'], ['orig_branch', 'roi_branch'])
    """
    images, masks, rank = _check_arrays(images, masks)
    if rank != 2:
        raise ValueError(f"`images` must be 2D (H, W, C). Received rank {rank}")
    _check_common(batch_size, seed, augment, rank)
    _check_threads(threads)
    if len({x.shape for x in images}) > 1:
        raise ValueError("`images` must all have one size for the two-input model")
    k = masks[0].shape[-1]
    roi_channels = tuple(range(k)) if roi_channels is None else tuple(roi_channels)
    if not roi_channels or not all(-k <= c < k for c in roi_channels):
        raise ValueError(
            f"`roi_channels` must be non-empty and in 0..{k - 1}. Received: "
            f"roi_channels={roi_channels}"
        )
    if not -k <= roi_mask_channel < k:
        raise ValueError(
            f"`roi_mask_channel` must be in 0..{k - 1}. Received: "
            f"roi_mask_channel={roi_mask_channel}"
        )
    if margin < 0:
        raise ValueError(f"`margin` must be >= 0. Received: margin={margin}")
    in_keys, out_keys = ("full_input", "roi_input"), ("orig_branch", "roi_branch")
    if model is not None:
        if len(model.inputs) != 2 or len(model.outputs) != 2:
            raise ValueError(
                f"`model` must have two inputs and two outputs; {model.name} has "
                f"{len(model.inputs)} and {len(model.outputs)}"
            )
        in_keys = tuple(t.name for t in model.inputs)
        out_keys = tuple(model.output_names)
    spatial = images[0].shape[:-1]
    x_shape = images[0].shape
    y_shape = masks[0].shape

    def make_pair(index: np.int64, draw: np.int64) -> tuple[np.ndarray, ...]:
        x, y = images[index], masks[index]
        if augment is not None:
            x, y = augment(x, y, _rng(seed, draw))
        y0, y1, x0, x1 = roi_box(y[..., list(roi_channels)], margin=margin)
        roi_x = _resize(x[y0:y1, x0:x1], spatial, nearest=False)
        roi_y = _resize(y[y0:y1, x0:x1][..., [roi_mask_channel]], spatial, nearest=True)
        return tuple(
            a.astype(np.float32)
            for a in (x, roi_x, y, (roi_y > 0.5).astype(np.float32))
        )

    dataset = tf.data.Dataset.range(len(images))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = _map_numpy(
        tf.data.Dataset.zip(dataset, draws),
        make_pair,
        [x_shape, x_shape, y_shape, (*spatial, 1)],
        deterministic=deterministic,
    ).map(
        lambda x, roi_x, y, roi_y: (
            dict(zip(in_keys, (x, roi_x), strict=True)),
            dict(zip(out_keys, (y, roi_y), strict=True)),
        )
    )
    return _finish(
        dataset,
        batch_size,
        deterministic=deterministic,
        threads=threads,
        drop_remainder=drop_remainder,
    )
