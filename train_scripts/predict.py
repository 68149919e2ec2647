r"""Whole-image / whole-volume prediction with a trained checkpoint.

Every input is predicted at its full size with the tiled sliding window of
:func:`zoo.inference.predict_tiled` (Gaussian blending, mirror padding, optional
flip test-time augmentation) and written to ``--out``:

* 2D images: ``<name>_mask.png`` (0/255 for one class, the class index for
  several), the input's height and width, and ``<name>_overlay.png``;
* 3D volumes: ``<name>_mask.nii.gz`` for NIfTI inputs, else
  ``<name>_mask.npy`` (uint8, the input's shape), and ``<name>_overlay.png``
  (the slice with the most predicted foreground);
* ``--save-probs`` adds ``<name>_probs.npy`` (float32 probabilities).

2D images are scaled to [0, 1] like the training readers; volumes are z-scored
(:func:`train_scripts.data.prepare_volume`), as in training.

Usage:
    python -m train_scripts.predict --checkpoint runs/drive/best.h5 \
        --input ../shared/data/drive/training/images --out predictions
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import keras
import numpy as np

import losses  # noqa: F401  (registers the losses a checkpoint may reference)
import zoo  # noqa: F401  (registers the custom layers)
from data_pipelines.readers import (
    IMAGE_SUFFIXES,
    VOLUME_SUFFIXES,
    load_volume,
    read_image,
    save_volume,
)
from train_scripts.data import (
    from_model_layout,
    prepare_volume,
    to_model_layout,
    volume_stem,
)
from train_scripts.plots import overlay, representative_slice
from zoo.inference import predict_tiled, probabilities_to_mask, with_input_size

__all__ = [
    "add_tiling_arguments",
    "foreground",
    "list_inputs",
    "load_checkpoint",
    "main",
    "model_for_tiles",
    "model_rank",
    "parse_size",
    "predict_file",
    "read_input",
    "resolve_tile_size",
]


def load_checkpoint(path: str | Path) -> keras.Model:
    """Loads a ``.h5`` or ``.keras`` model for inference (not compiled).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a loadable Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: '{path}'")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ValueError(f"Cannot load checkpoint '{path}': {err}") from err


def model_for_tiles(
    model: keras.Model, tile_size: Sequence[int] | None
) -> tuple[keras.Model, tuple[int, ...] | None]:
    """The model and tile size to predict with.

    A model with a fixed input size is rebuilt for a requested larger (or
    smaller) tile with :func:`zoo.inference.with_input_size`, which is much
    faster than many small tiles; a model that accepts any size keeps the tile.

    Returns:
        ``(model, tile_size)`` for :func:`zoo.inference.predict_tiled`.

    Raises:
        ValueError: If the model cannot take that tile size.
    """
    if tile_size is None:
        return model, None
    tile_size = tuple(int(t) for t in tile_size)
    if None in model.input_shape[1:-1]:
        return model, tile_size
    return with_input_size(model, tile_size), None


def model_rank(model: keras.Model) -> int:
    """Spatial rank of a model's input (2 for images, 3 for volumes)."""
    return len(model.input_shape) - 2


def list_inputs(path: str | Path, rank: int) -> list[Path]:
    """The input file, or the image (2D) / volume (3D) files of a folder.

    Raises:
        FileNotFoundError: If ``path`` does not exist or a folder holds no
            supported file.
    """
    path = Path(path)
    suffixes = IMAGE_SUFFIXES if rank == 2 else VOLUME_SUFFIXES
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"Input not found: '{path}'")
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.name.lower().endswith(suffixes)
    )
    if not files:
        raise FileNotFoundError(
            f"No {'image' if rank == 2 else 'volume'} files ({', '.join(suffixes)}) "
            f"in '{path}'"
        )
    return files


def read_input(path: Path, model: keras.Model) -> tuple[np.ndarray, dict]:
    """Reads one input as the model expects it: ``(*spatial, C)`` float32.

    Raises:
        ValueError: If the file is unreadable or its channel count differs from
            the model's (the message names the file and both counts).
    """
    channels = int(model.input_shape[-1])
    if model_rank(model) == 2:
        image = read_image(path)
        if image.shape[-1] != channels:
            raise ValueError(
                f"'{path}' has {image.shape[-1]} channel(s) but the model takes "
                f"{channels}; convert the image (e.g. to "
                f"{'grayscale' if channels == 1 else 'RGB'}) first"
            )
        return image, {}
    volume, meta = load_volume(path)
    volume = prepare_volume(volume)
    if volume.shape[-1] != channels:
        raise ValueError(
            f"'{path}' has {volume.shape[-1]} channel(s) but the model takes {channels}"
        )
    return volume, meta


def _mask_image(mask: np.ndarray, n_out: int) -> np.ndarray:
    return (mask * 255).astype(np.uint8) if n_out == 1 else mask.astype(np.uint8)


def _write_png(path: Path, array: np.ndarray) -> None:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"Cannot encode '{path}' as PNG")
    buffer.tofile(path)


def foreground(probs: np.ndarray) -> np.ndarray:
    """Foreground probability: the single channel, or 1 - background."""
    return probs[..., 0] if probs.shape[-1] == 1 else 1.0 - probs[..., 0]


def predict_file(
    model: keras.Model,
    path: Path,
    out_dir: Path,
    *,
    tile_size: Sequence[int] | None = None,
    overlap: float = 0.5,
    tta: bool = False,
    threshold: float = 0.5,
    batch_size: int = 4,
    save_probs: bool = False,
) -> dict[str, Path]:
    """Predicts one file and writes its mask and overlay.

    Returns:
        The written files by kind (``mask``, ``overlay``, ``probs``).
    """
    image, meta = read_input(path, model)
    volume = model_rank(model) == 3
    if volume:
        image = to_model_layout(image, model)
    probs = predict_tiled(
        model,
        image,
        tile_size=tile_size,
        overlap=overlap,
        tta=tta,
        batch_size=batch_size,
    )
    if volume:  # back to the file's (D, H, W) layout
        image = from_model_layout(image, model)
        probs = from_model_layout(probs, model)
    mask = probabilities_to_mask(probs, threshold)
    n_out = probs.shape[-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if model_rank(model) == 2:
        stem = path.stem
        written["mask"] = out_dir / f"{stem}_mask.png"
        _write_png(written["mask"], _mask_image(mask, n_out))
        shown_image, shown_mask = image, mask > 0
    else:
        stem = volume_stem(path)
        nifti = path.name.lower().endswith((".nii", ".nii.gz"))
        written["mask"] = out_dir / f"{stem}_mask.{'nii.gz' if nifti else 'npy'}"
        save_volume(written["mask"], mask, meta["spacing"], affine=meta.get("affine"))
        index = representative_slice(mask)
        shown_image = image[index]
        shown_image = (shown_image - shown_image.min()) / max(np.ptp(shown_image), 1e-6)
        shown_mask = mask[index] > 0
    rgb = overlay(shown_image, None, shown_mask.astype(np.float32))
    written["overlay"] = out_dir / f"{stem}_overlay.png"
    _write_png(written["overlay"], (rgb * 255).astype(np.uint8))
    if save_probs:
        written["probs"] = out_dir / f"{stem}_probs.npy"
        np.save(written["probs"], probs.astype(np.float32))
    return written


def parse_size(text: str | None) -> tuple[int, ...] | None:
    """``"64"`` -> ``(64,)``, ``"32,64,64"`` -> ``(32, 64, 64)``, None -> None."""
    if text is None:
        return None
    return tuple(int(t) for t in str(text).split(","))


def resolve_tile_size(
    size: tuple[int, ...] | None, rank: int
) -> tuple[int, ...] | None:
    """A tile size for ``rank`` axes: one value repeats, None stays None.

    Raises:
        ValueError: If ``size`` has neither 1 nor ``rank`` values.
    """
    if size is None or len(size) == rank:
        return size
    if len(size) == 1:
        return size * rank
    raise ValueError(f"--tile-size needs 1 or {rank} values. Received: {size}")


def add_tiling_arguments(parser: argparse.ArgumentParser) -> None:
    """The sliding-window options shared by the predictor and the evaluator."""
    parser.add_argument(
        "--tile-size",
        default=None,
        help="input tile size, e.g. 256 or 32,64,64 (default: the model's input "
        "size; a fixed-size model is rebuilt for it, which is faster than many "
        "small tiles; required when the model takes any size)",
    )
    parser.add_argument(
        "--overlap", type=float, default=0.5, help="fraction shared by tiles"
    )
    parser.add_argument("--tta", action="store_true", help="average all flips")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="foreground threshold (1 class)"
    )
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per pass")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m train_scripts.predict",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help=".h5 or .keras model")
    parser.add_argument(
        "--input", required=True, help="image/volume file or a folder of them"
    )
    parser.add_argument("--out", required=True, help="output folder")
    add_tiling_arguments(parser)
    parser.add_argument(
        "--save-probs", action="store_true", help="also write probabilities (.npy)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 if a file failed)."""
    args = build_parser().parse_args(argv)
    try:
        model = load_checkpoint(args.checkpoint)
        rank = model_rank(model)
        files = list_inputs(args.input, rank)
        model, tile = model_for_tiles(
            model, resolve_tile_size(parse_size(args.tile_size), rank)
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = 0
    for path in files:
        try:
            written = predict_file(
                model,
                path,
                Path(args.out),
                tile_size=tile,
                overlap=args.overlap,
                tta=args.tta,
                threshold=args.threshold,
                batch_size=args.batch_size,
                save_probs=args.save_probs,
            )
        except (FileNotFoundError, ValueError) as err:
            failed += 1
            print(f"error: {err}", file=sys.stderr)
            continue
        print(f"{path.name}: wrote {', '.join(str(p) for p in written.values())}")
    if failed:
        print(f"{failed} of {len(files)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
