r"""Whole-image / whole-volume prediction with a trained checkpoint.

Every input is predicted at its full size with the tiled sliding window of
:func:`zoo.inference.predict_tiled` (Gaussian blending, mirror padding, optional
flip test-time augmentation) and written to ``--out``:

* 2D images: ``<name>_mask.png`` (0/255 for one class, the class index for
  several), the input's height and width, and ``<name>_overlay.png``;
* 3D volumes: ``<name>.nii.gz`` for NIfTI inputs (the Decathlon / nnU-Net
  convention: a label map of the input's name, shape and affine, so it opens
  aligned over the image in ITK-SNAP or 3D Slicer), else ``<name>_mask.npy``
  (uint8, the input's shape), and ``<name>_overlay.png`` (the slice with the
  most predicted foreground);
* ``--save-probs`` adds ``<name>_probs.npy`` (float32 probabilities);
* ``--precision mixed_bfloat16`` (or ``mixed_float16``) predicts with 16-bit
  arithmetic: the model is rebuilt under that policy from its build record
  (:mod:`train_scripts.precision`); the probabilities stay float32;
* ``--rle-csv OUT.csv`` also writes every 2D mask in the SIIM-ACR submission
  format (``ImageId,EncodedPixels``, column-major relative RLE, ``-1`` for
  empty; see :mod:`data_pipelines.rle`); the ``ImageId`` of a DICOM input is
  its ``SOPInstanceUID``.

``--min-size N`` removes predicted connected components smaller than ``N``
pixels (voxels) and ``--largest-component`` keeps only the largest one per
class (:func:`zoo.postprocess.postprocess_mask`).

DICOM (``.dcm``) radiographs are read with :func:`data_pipelines.dicom.read_dicom`;
a folder is searched recursively for them (the competition's nested tree).

2D images are scaled to [0, 1] like the training readers; volumes are z-scored
(:func:`train_scripts.data.prepare_volume`), as in training.

Settings stored in the checkpoint (:mod:`zoo.settings`: tile size, overlap,
threshold, TTA, channel conversion, CLAHE, resize, main output) are the
defaults; a flag given on the command line overrides its setting. A
two-input model (full image + ROI, ``fine_grained_unet``) is run serially
(:class:`zoo.fine_grained.FineGrainedPredictor`) and also writes
``<name>_tiny_mask.png``; a model with several outputs predicts with its main
output.

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
from data_pipelines.dicom import DICOM_SUFFIX, find_dicoms, read_dicom
from data_pipelines.readers import (
    IMAGE_SUFFIXES,
    VOLUME_SUFFIXES,
    load_volume,
    read_image,
    save_volume,
)
from data_pipelines.rle import write_rle_csv
from train_scripts.data import (
    from_model_layout,
    prepare_volume,
    to_model_layout,
    volume_stem,
)
from train_scripts.guards import (
    MIN_SIDE,
    check_out_dir,
    check_tile_size,
    intensity_mismatch,
    load_checkpoint,
    warn,
)
from train_scripts.plots import overlay, representative_slice
from train_scripts.precision import (
    add_precision_argument,
    model_in_precision,
    precision_scope,
    resolve_precision,
)
from train_scripts.preprocess import (
    Preprocessing,
    add_preprocess_arguments,
    preprocessing_from,
)
from train_scripts.targets import single_output_model
from zoo.fine_grained import FineGrainedPredictor
from zoo.inference import (
    fold_batch_norm,
    predict_tiled,
    probabilities_to_mask,
    with_input_size,
)
from zoo.postprocess import postprocess_mask
from zoo.settings import read_settings

__all__ = [
    "add_postprocess_arguments",
    "add_tiling_arguments",
    "foreground",
    "inference_options",
    "list_inputs",
    "main",
    "normalization_of",
    "model_for_tiles",
    "model_rank",
    "parse_size",
    "predict_file",
    "read_input",
    "resolve_tile_size",
]


def normalization_of(path: str | Path) -> dict:
    """The input normalisation recorded in a checkpoint (``{}`` when none)."""
    try:
        normalization = read_settings(path).get("normalization")
    except ValueError:
        return {}
    return dict(normalization) if isinstance(normalization, dict) else {}


def model_for_tiles(
    model: keras.Model, tile_size: Sequence[int] | None
) -> tuple[keras.Model, tuple[int, ...] | None]:
    """The model and tile size to predict with.

    A model with a fixed input size is rebuilt for a requested larger (or
    smaller) tile with :func:`zoo.inference.with_input_size`, which is much
    faster than many small tiles; a model that accepts any size keeps the tile.
    Batch normalisations are folded into their convolutions
    (:func:`zoo.inference.fold_batch_norm`).

    Returns:
        ``(model, tile_size)`` for :func:`zoo.inference.predict_tiled`.

    Raises:
        ValueError: If the model cannot take that tile size.
    """
    if tile_size is not None:
        tile_size = tuple(int(t) for t in tile_size)
        if None not in model.input_shape[1:-1]:
            model, tile_size = with_input_size(model, tile_size), None
    return fold_batch_norm(model), tile_size


def model_rank(model: keras.Model) -> int:
    """Spatial rank of a model's (first) input (2 for images, 3 for volumes)."""
    return len(model.inputs[0].shape) - 2


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
    if not files and rank == 2 and any(path.rglob(f"*{DICOM_SUFFIX}")):
        files = find_dicoms(path)
    if not files:
        raise FileNotFoundError(
            f"No {'image' if rank == 2 else 'volume'} files ({', '.join(suffixes)}) "
            f"in '{path}'"
        )
    return files


def read_input(
    path: Path,
    model: keras.Model,
    preprocess: Preprocessing | None = None,
    normalization: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """Reads one input as the model expects it: ``(*spatial, C)`` float32.

    Args:
        path: Image or volume file.
        model: The model it is for.
        preprocess: The training preprocessing: 2D images get its channel
            conversion and CLAHE (not its resize). Defaults to None.
        normalization: The training normalisation recorded in the checkpoint
            (:func:`normalization_of`): 16-bit images are scaled by its
            ``bit_depth``, and an image whose intensities differ grossly from
            its ``mean``/``std`` gets a warning. Defaults to None.

    Raises:
        ValueError: If the file is unreadable or its channel count differs from
            the model's (the message names the file and both counts).
    """
    normalization = normalization or {}
    shape = model.input_shape
    channels = int((shape[0] if isinstance(shape, list) else shape)[-1])
    if model_rank(model) == 2:
        bits = normalization.get("bit_depth")
        meta = {}
        if path.suffix.lower() == DICOM_SUFFIX:
            image, meta = read_dicom(path)
        else:
            image = read_image(path, bit_depth=bits if bits and bits > 8 else None)
        if "mean" in normalization:
            mismatch = intensity_mismatch(image, normalization)
            if mismatch:
                warn(f"'{path}': {mismatch}")
        if preprocess is not None:
            image = preprocess.image(image, name=f"'{path}'")
        if image.shape[-1] != channels:
            raise ValueError(
                f"'{path}' has {image.shape[-1]} channel(s) but the model takes "
                f"{channels}; convert the image (e.g. to "
                f"{'grayscale' if channels == 1 else 'RGB'}) first"
            )
        return image, meta
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
    min_size: int = 0,
    largest_component: bool = False,
    rle_rows: list[tuple[str, np.ndarray]] | None = None,
    preprocess: Preprocessing | None = None,
    normalization: dict | None = None,
) -> dict[str, Path]:
    """Predicts one file and writes its mask and overlay.

    Args:
        model: The model.
        path: Input image, DICOM or volume.
        out_dir: Output folder.
        tile_size: Input tile size (default: the model's input size).
        overlap: Tile overlap. Defaults to 0.5.
        tta: Flip test-time augmentation. Defaults to False.
        threshold: Foreground threshold of one class. Defaults to 0.5.
        batch_size: Tiles per forward pass. Defaults to 4.
        save_probs: Also write the probabilities. Defaults to False.
        min_size: Remove predicted components smaller than this. Defaults to 0.
        largest_component: Keep only the largest component per class.
            Defaults to False.
        rle_rows: If a list, ``(image_id, foreground mask)`` of a 2D input is
            appended for a submission file. Defaults to None.
        preprocess: Prepares a 2D image as in training; with a resize, the
            image is predicted at that size and the probabilities are resized
            back. Defaults to None.
        normalization: Training normalisation recorded in the checkpoint
            (:func:`normalization_of`). Defaults to None.

    Returns:
        The written files by kind (``mask``, ``overlay``, ``probs``).

    Raises:
        ValueError: If the file is unreadable, holds NaN/inf, has the wrong
            channels, or is smaller than ``MIN_SIDE`` (or the tile) on an axis.
    """
    image, meta = read_input(path, model, preprocess, normalization)
    volume = model_rank(model) == 3
    if volume:
        image = to_model_layout(image, model)
    tile = tile_size or model.input_shape[1:-1]
    smallest = [min(MIN_SIDE, t or MIN_SIDE) for t in tile]
    if any(s < m for s, m in zip(image.shape[:-1], smallest, strict=True)):
        raise ValueError(
            f"'{path}' is {image.shape[:-1]}: too small to segment (each side needs "
            f">= {smallest})"
        )
    resize = None if volume or preprocess is None else preprocess.resize
    probs = predict_tiled(
        model,
        image if resize is None else preprocess.resize_to(image, resize),
        tile_size=tile_size,
        overlap=overlap,
        tta=tta,
        batch_size=batch_size,
    )
    if resize is not None:
        probs = preprocess.resize_to(probs, image.shape[:-1])
    if volume:  # back to the file's (D, H, W) layout
        image = from_model_layout(image, model)
        probs = from_model_layout(probs, model)
    mask = postprocess_mask(
        probabilities_to_mask(probs, threshold),
        min_size=min_size,
        largest_component=largest_component,
    )
    n_out = probs.shape[-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if model_rank(model) == 2:
        stem = path.stem
        if rle_rows is not None:
            rle_rows.append((meta.get("image_id", stem), mask > 0))
        written["mask"] = out_dir / f"{stem}_mask.png"
        _write_png(written["mask"], _mask_image(mask, n_out))
        shown_image, shown_mask = image, mask > 0
    else:
        stem = volume_stem(path)
        nifti = path.name.lower().endswith((".nii", ".nii.gz"))
        written["mask"] = out_dir / (f"{stem}.nii.gz" if nifti else f"{stem}_mask.npy")
        if written["mask"].resolve() == path.resolve():
            raise ValueError(
                f"Refusing to overwrite the input '{path}' with its label map: "
                "choose another --out"
            )
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


def predict_two_input_file(
    model: keras.Model,
    path: Path,
    out_dir: Path,
    *,
    threshold: float = 0.5,
    preprocess: Preprocessing | None = None,
) -> dict[str, Path]:
    """Serial inference of a two-input (full image, ROI) model on one image.

    The big-object map gives the ROI (:class:`zoo.fine_grained.FineGrainedPredictor`),
    the ROI branch segments the tiny object inside it. Writes
    ``<name>_mask.png`` (big-object map), ``<name>_tiny_mask.png`` and
    ``<name>_overlay.png``.

    Returns:
        The written files by kind (``mask``, ``tiny_mask``, ``overlay``).
    """
    image, _ = read_input(path, model, preprocess)
    result = FineGrainedPredictor(model, threshold=threshold).predict(image)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "mask": out_dir / f"{path.stem}_mask.png",
        "tiny_mask": out_dir / f"{path.stem}_tiny_mask.png",
        "overlay": out_dir / f"{path.stem}_overlay.png",
    }
    big = result["big"][..., 0] > threshold
    tiny = result["tiny"][..., 0] > threshold
    _write_png(written["mask"], big.astype(np.uint8) * 255)
    _write_png(written["tiny_mask"], tiny.astype(np.uint8) * 255)
    rgb = overlay(image, None, (big | tiny).astype(np.float32))
    _write_png(written["overlay"], (rgb * 255).astype(np.uint8))
    return written


def parse_size(
    text: str | None, *, flag: str = "--tile-size"
) -> tuple[int, ...] | None:
    """``"64"`` -> ``(64,)``, ``"32,64,64"`` -> ``(32, 64, 64)``, None -> None.

    Raises:
        ValueError: Naming ``flag`` if ``text`` is not comma-separated integers.
    """
    if text is None:
        return None
    try:
        return tuple(int(t) for t in str(text).split(","))
    except ValueError as err:
        raise ValueError(
            f"{flag} takes integers separated by commas, e.g. 96 or 32,64,64. "
            f"Received: {text!r}"
        ) from err


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
        "--overlap",
        type=float,
        default=None,
        help="fraction shared by tiles (default: the checkpoint's, else 0.5)",
    )
    parser.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average all flips (default: the checkpoint's, else off)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="foreground threshold, 1 class (default: the checkpoint's, else 0.5)",
    )
    add_preprocess_arguments(parser, inference=True)
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per pass")
    add_precision_argument(
        parser,
        "dtype policy of the forward passes: a mixed_* policy rebuilds the "
        "checkpoint's model under it from its build record (float32 outputs)",
    )


def inference_options(args: argparse.Namespace, settings: dict, rank: int) -> dict:
    """Tile size, overlap, TTA, threshold, preprocessing and post-processing.

    A flag given in ``args`` wins; otherwise the checkpoint's ``settings``;
    otherwise the built-in default (model input size, 0.5, no TTA, 0.5, no
    post-processing).

    Raises:
        ValueError: On a tile size with neither 1 nor ``rank`` values.
    """
    tile = parse_size(args.tile_size)
    if tile is None and settings.get("tile_size"):
        tile = tuple(int(t) for t in settings["tile_size"])

    def pick(flag, key, default):
        return flag if flag is not None else settings.get(key, default)

    return {
        "tile_size": resolve_tile_size(tile, rank),
        "overlap": float(pick(args.overlap, "overlap", 0.5)),
        "tta": bool(pick(args.tta, "tta", False)),
        "threshold": float(pick(args.threshold, "threshold", 0.5)),
        "preprocess": preprocessing_from(args, settings),
        "min_size": int(pick(getattr(args, "min_size", None), "min_size", 0)),
        "largest_component": bool(
            pick(getattr(args, "largest_component", None), "largest_component", False)
        ),
    }


def add_postprocess_arguments(parser: argparse.ArgumentParser) -> None:
    """The mask post-processing options shared by the predictor and evaluator."""
    parser.add_argument(
        "--min-size",
        type=int,
        default=None,
        help="remove predicted connected components smaller than this many "
        "pixels/voxels (8-/26-connected; default: the checkpoint's setting, else 0)",
    )
    parser.add_argument(
        "--largest-component",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep only the largest predicted component (per class; default: the "
        "checkpoint's setting, else off)",
    )


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
    add_postprocess_arguments(parser)
    parser.add_argument(
        "--rle-csv",
        default=None,
        help="also write a SIIM-ACR submission CSV (ImageId,EncodedPixels; -1 for "
        "empty) of the 2D masks",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 if a file failed)."""
    args = build_parser().parse_args(argv)
    args.precision = resolve_precision(args.precision, announce=True)
    try:
        out = check_out_dir(args.out)
        model = load_checkpoint(args.checkpoint)
        normalization = normalization_of(args.checkpoint)
        settings = read_settings(args.checkpoint)
        rank = model_rank(model)
        files = list_inputs(args.input, rank)
        options = inference_options(args, settings, rank)
        two_inputs = len(model.inputs) == 2
        tile = None
        with precision_scope(args.precision):
            model = model_in_precision(model, args.precision)
            if not two_inputs:
                model = single_output_model(model, settings.get("output"))
                tile = options["tile_size"]
                if tile is not None:
                    tile = check_tile_size(model, tile)
                model, tile = model_for_tiles(model, tile)
        if options["min_size"] < 0:
            raise ValueError(
                f"--min-size must be >= 0. Received: {options['min_size']}"
            )
        if args.rle_csv is not None and rank != 2:
            raise ValueError("--rle-csv needs a 2D model (RLE encodes 2D masks)")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rle_rows: list[tuple[str, np.ndarray]] | None = None if args.rle_csv is None else []
    failed = 0
    for path in files:
        try:
            if two_inputs:
                written = predict_two_input_file(
                    model,
                    path,
                    out,
                    threshold=options["threshold"],
                    preprocess=options["preprocess"],
                )
            else:
                written = predict_file(
                    model,
                    path,
                    out,
                    tile_size=tile,
                    overlap=options["overlap"],
                    tta=options["tta"],
                    threshold=options["threshold"],
                    batch_size=args.batch_size,
                    save_probs=args.save_probs,
                    preprocess=options["preprocess"],
                    normalization=normalization,
                    min_size=options["min_size"],
                    largest_component=options["largest_component"],
                    rle_rows=rle_rows,
                )
        except (FileNotFoundError, ValueError) as err:
            failed += 1
            print(f"error: {err}", file=sys.stderr)
            continue
        print(f"{path.name}: wrote {', '.join(str(p) for p in written.values())}")
    if rle_rows is not None:
        count = write_rle_csv(args.rle_csv, rle_rows)
        print(f"wrote {count} row(s) to {args.rle_csv}")
    if failed:
        print(f"{failed} of {len(files)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
