"""Whole-image and whole-volume prediction by tiling, for any zoo model.

One routine serves every case:

* "same"-padded networks (``unet_padding``, the V-Nets, ...) on images or
  volumes larger than their training patch: a sliding window with overlap and
  Gaussian blending of the overlapping tiles (as in nnU-Net);
* the valid-padding ``unet_original``: its output is smaller than its input by a
  fixed border, so the image is mirror-padded by that border (the paper's
  "overlap-tile strategy", Ronneberger et al. 2015, Fig. 2) and every output
  tile is predicted from an input tile that carries its context.

Optional test-time augmentation averages the predictions of flipped tiles,
flipping each prediction back before blending.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.unet_padding((None, None, 1), depth=3, filters=4)
    >>> probs = predict_tiled(model, np.zeros((100, 90, 1), "float32"), tile_size=32)
    >>> probs.shape
    (100, 90, 1)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras
import numpy as np

__all__ = [
    "gaussian_weights",
    "predict_mask",
    "predict_tiled",
    "probabilities_to_mask",
    "tile_geometry",
    "with_input_size",
]


def gaussian_weights(size: Sequence[int], sigma_scale: float = 0.125) -> np.ndarray:
    """Separable Gaussian importance map, peak 1, sigma = ``sigma_scale`` * size.

    The floor is clamped at 1e-3 of the peak so border voxels still count when
    only one tile covers them.
    """
    weights = np.ones((), np.float64)
    for n in size:
        coords = np.arange(n) - (n - 1) / 2
        sigma = max(n * sigma_scale, 1e-6)
        weights = np.multiply.outer(weights, np.exp(-(coords**2) / (2 * sigma**2)))
    weights /= weights.max()
    return np.maximum(weights, 1e-3).astype(np.float32)


def tile_geometry(model: keras.Model, tile_size: Sequence[int]) -> tuple[int, ...]:
    """Output size of ``model`` for an input tile of ``tile_size`` (spatial only)."""
    in_shape = (1, *tile_size, model.input_shape[-1])
    out_shape = model.compute_output_shape(in_shape)
    return tuple(int(s) for s in out_shape[1:-1])


def _positions(extent: int, window: int, step: int) -> list[int]:
    """Window starts covering ``[0, extent)``; the last window ends at ``extent``."""
    if extent <= window:
        return [0]
    starts = list(range(0, extent - window, step))
    starts.append(extent - window)
    return starts


def _flip_sets(rank: int, tta: bool) -> list[tuple[int, ...]]:
    """Spatial axes (of a batched tensor) to flip: none, or every combination."""
    axes = range(1, rank + 1)
    if not tta:
        return [()]
    return [c for r in range(rank + 1) for c in itertools.combinations(axes, r)]


def predict_tiled(
    model: keras.Model,
    image: np.ndarray,
    *,
    tile_size: Sequence[int] | int | None = None,
    overlap: float = 0.5,
    blending: str = "gaussian",
    tta: bool = False,
    batch_size: int = 4,
    pad_mode: str = "reflect",
    margin: int | Sequence[int] | None = None,
) -> np.ndarray:
    """Predict a whole image or volume with overlapping tiles.

    Args:
        model: A zoo model with one input and one output; 2D models take
            ``(H, W, C)`` images and 3D models ``(D, H, W, C)`` volumes.
        image: The image or volume, channels-last, without batch axis.
        tile_size: Spatial input tile size. Defaults to the model's fixed input
            size; required when the model accepts any size (``None`` dims).
        overlap: Fraction of an output tile shared with its neighbour, in
            ``[0, 1)``. Defaults to 0.5.
        blending: ``"gaussian"`` (centre-weighted) or ``"constant"`` (mean).
            Defaults to "gaussian".
        tta: Average over all flips of the spatial axes. Defaults to False.
        batch_size: Tiles per forward pass. Defaults to 4.
        pad_mode: ``numpy.pad`` mode for the context border and for images
            smaller than a tile. Defaults to "reflect" (mirroring, as the paper).
        margin: For networks whose output is smaller than their input (valid
            padding), the input pixels before output pixel 0 on each axis.
            Defaults to half the size difference, which is right for "same"
            padding and for ``unet_original`` at aligned tile sizes (572,
            ``16k + 124``); at other tile sizes pass
            ``unet_original.border(depth)`` (92 at depth 5).

    Returns:
        float32 array with the image's spatial shape and the model's output
        channels.

    Raises:
        ValueError: On a rank or channel mismatch, a non-finite image, a missing
            ``tile_size``, or a bad ``overlap``/``blending``.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("predict_tiled needs a model with one input and one output.")
    rank = len(model.input_shape) - 2
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != rank + 1:
        layout = "(H, W, C)" if rank == 2 else "(D, H, W, C)"
        raise ValueError(
            f"The model is {rank}D and takes a {layout} array. "
            f"Received an array of shape {image.shape}"
        )
    channels = model.input_shape[-1]
    if image.shape[-1] != channels:
        raise ValueError(
            f"The model expects {channels} input channels. "
            f"Received an image with {image.shape[-1]} (shape {image.shape})"
        )
    if not np.all(np.isfinite(image)):
        raise ValueError("The image contains NaN or infinite values.")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"`overlap` must be in [0, 1). Received: overlap={overlap}")
    if blending not in ("gaussian", "constant"):
        raise ValueError(
            "`blending` must be 'gaussian' or 'constant'. "
            f"Received: blending={blending!r}"
        )
    if tile_size is None:
        tile_size = model.input_shape[1:-1]
        if None in tile_size:
            raise ValueError(
                "The model accepts any input size: pass `tile_size` (the spatial size "
                "of one input tile, valid for the architecture)."
            )
    elif isinstance(tile_size, int):
        tile_size = (tile_size,) * rank
    tile_in = tuple(int(s) for s in tile_size)
    tile_out = tile_geometry(model, tile_in)
    if margin is None:
        margin = tuple((i - o) // 2 for i, o in zip(tile_in, tile_out, strict=True))
    else:
        margin = (margin,) * rank if isinstance(margin, int) else tuple(margin)
        if len(margin) != rank or any(
            not 0 <= m <= i - o
            for m, i, o in zip(margin, tile_in, tile_out, strict=True)
        ):
            raise ValueError(
                f"`margin` needs {rank} values in [0, tile - output size]. "
                f"Received: margin={margin} for tiles {tile_in} -> {tile_out}"
            )

    spatial = image.shape[:-1]
    canvas = tuple(max(s, o) for s, o in zip(spatial, tile_out, strict=True))
    pad = [
        (m, (c - s) + (ti - to - m))
        for m, c, s, ti, to in zip(
            margin, canvas, spatial, tile_in, tile_out, strict=True
        )
    ]
    padded = np.pad(image, [*pad, (0, 0)], mode=pad_mode)
    steps = [max(1, int(o * (1 - overlap))) for o in tile_out]
    starts = list(
        itertools.product(
            *[
                _positions(c, o, st)
                for c, o, st in zip(canvas, tile_out, steps, strict=True)
            ]
        )
    )
    weights = (
        gaussian_weights(tile_out)
        if blending == "gaussian"
        else np.ones(tile_out, np.float32)
    )
    n_out = int(model.output_shape[-1])
    total = np.zeros((*canvas, n_out), np.float32)
    norm = np.zeros(canvas, np.float32)
    flips = _flip_sets(rank, tta)

    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        tiles = np.stack(
            [
                padded[tuple(slice(p, p + t) for p, t in zip(s, tile_in, strict=True))]
                for s in chunk
            ]
        )
        pred = np.zeros((len(chunk), *tile_out, n_out), np.float32)
        for axes in flips:
            x = np.flip(tiles, axis=axes) if axes else tiles
            y = np.asarray(model(x, training=False), dtype=np.float32)
            pred += np.flip(y, axis=axes) if axes else y
        pred /= len(flips)
        for s, p in zip(chunk, pred, strict=True):
            region = tuple(slice(a, a + o) for a, o in zip(s, tile_out, strict=True))
            total[region] += p * weights[..., None]
            norm[region] += weights
    result = total / norm[..., None]
    return result[tuple(slice(0, s) for s in spatial)]


def probabilities_to_mask(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Hard labels from probabilities ``(*spatial, K)``.

    One channel (sigmoid): ``probs > threshold`` as 0/1. Several channels: the
    per-pixel argmax (class index; for a multi-label sigmoid model threshold
    each channel yourself).

    Args:
        probs: Probabilities, channels-last.
        threshold: Foreground threshold of a one-channel output, in [0, 1].
            Defaults to 0.5.

    Returns:
        ``uint8`` array of shape ``probs.shape[:-1]``.

    Raises:
        ValueError: If ``threshold`` is outside [0, 1].
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"`threshold` must be in [0, 1]. Received: threshold={threshold}"
        )
    probs = np.asarray(probs)
    if probs.shape[-1] == 1:
        return (probs[..., 0] > threshold).astype(np.uint8)
    return np.argmax(probs, axis=-1).astype(np.uint8)


def predict_mask(
    model: keras.Model,
    image: np.ndarray,
    *,
    threshold: float = 0.5,
    **tiled_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-image probabilities and hard mask (see :func:`predict_tiled`).

    Args:
        model: A zoo model with one input and one output.
        image: Image ``(H, W, C)`` or volume ``(D, H, W, C)``.
        threshold: Foreground threshold of a one-channel output. Defaults to 0.5.
        **tiled_kwargs: ``tile_size``, ``overlap``, ``blending``, ``tta``,
            ``batch_size``, ``pad_mode`` of :func:`predict_tiled`.

    Returns:
        ``(probs, mask)``: float32 ``(*spatial, K)`` and uint8 ``(*spatial)``.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.unet_padding((32, 32, 1), depth=2, filters=4)
        >>> probs, mask = predict_mask(model, np.zeros((50, 40, 1), "float32"))
        >>> probs.shape, mask.shape
        ((50, 40, 1), (50, 40))
    """
    probs = predict_tiled(model, image, **tiled_kwargs)
    return probs, probabilities_to_mask(probs, threshold)


def with_input_size(model: keras.Model, spatial_size: Sequence[int]) -> keras.Model:
    """The same functional model, weights shared by value, for another input size.

    A checkpoint trained on fixed-size patches predicts faster with larger
    tiles: the architecture is rebuilt from its config with a new input shape
    and the weights are copied (convolutional weights do not depend on the
    spatial size).

    Args:
        model: A functional model with one input.
        spatial_size: New spatial input size, e.g. ``(256, 256)``.

    Returns:
        ``model`` itself when the size is unchanged, else a new model.

    Raises:
        ValueError: If the model is not a one-input functional model, the size has
            the wrong rank, or the architecture does not accept the size (the
            builder's own message, e.g. a size not divisible by 2**depth).

    Example:
        >>> import zoo
        >>> model = zoo.unet_padding((32, 32, 1), depth=2, filters=4)
        >>> with_input_size(model, (64, 48)).input_shape
        (None, 64, 48, 1)
    """
    spatial_size = tuple(int(s) for s in spatial_size)
    rank = len(model.input_shape) - 2
    if len(spatial_size) != rank:
        raise ValueError(
            f"`spatial_size` needs {rank} values for this {rank}D model. "
            f"Received: spatial_size={spatial_size}"
        )
    if tuple(model.input_shape[1:-1]) == spatial_size:
        return model
    config = model.get_config()
    inputs = [
        layer
        for layer in config.get("layers", [])
        if layer["class_name"] == "InputLayer"
    ]
    if len(inputs) != 1:
        raise ValueError(
            f"with_input_size needs a functional model with one input; {model.name} "
            f"has {len(inputs)} input layers"
        )
    channels = model.input_shape[-1]
    inputs[0]["config"]["batch_shape"] = [None, *spatial_size, channels]
    try:
        resized = model.__class__.from_config(config)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{model.name} cannot be rebuilt for input size {spatial_size}: {err}"
        ) from err
    resized.set_weights(model.get_weights())
    # from_config does not re-run the builder's size checks: one forward pass
    # proves the architecture really takes this size.
    probe = np.zeros((1, *spatial_size, channels), np.float32)
    try:
        got = tuple(np.asarray(resized(probe, training=False)).shape[1:])
    except Exception as err:  # noqa: BLE001 - backend errors differ; re-raised named
        raise ValueError(
            f"{model.name} cannot take input size {spatial_size}: {err}"
        ) from err
    if got != tuple(resized.output_shape[1:]):
        raise ValueError(
            f"{model.name} cannot take input size {spatial_size}: it produced "
            f"{got}, not the declared {tuple(resized.output_shape[1:])}"
        )
    return resized
