r"""Evaluate a checkpoint on a labelled dataset, image by image.

Each image (or volume) is predicted whole with the tiled sliding window and
scored with :mod:`losses.evaluation`: Dice (= F1), IoU, sensitivity,
specificity, precision, accuracy, pixel error (1 - accuracy), AUC and the 95 %
Hausdorff distance; for DRIVE all of them inside the field of view, as is
standard. Connected components of the prediction and of the truth are counted
too (cells, nuclei, blobs). A multi-class model is also scored per foreground
label on the argmax label map, Decathlon style: ``dice_1``, ``hd95_1``,
``dice_2``, ... and ``dice_mean`` (HD95 in mm: the voxel spacing of each case is
honoured). The run writes into ``--out``:

* ``per_image.csv``: one row per image;
* ``metrics.json``: flat means over the images (``dice``, ``iou``,
  ``sensitivity``, ``specificity``, ``accuracy``, ``auc``, ``hd95``, ...; and
  ``dice_k``, ``hd95_k``, ``dice_mean`` for several classes); for ``--dataset
  siim`` also ``siim_dice``, the competition's metric
  (:func:`losses.evaluation.mean_image_dice`: per-image dice, an empty truth
  predicted empty scoring 1, averaged over the images);
* ``overlays/<name>.png``: image | probability | TP green / FP red / FN blue
  (several classes: axial and coronal slices of image | truth | prediction);
* ``boxplot.png``: the per-image spread of each score;

and prints a table. ``--min-size`` and ``--largest-component`` post-process
each prediction's mask as in :mod:`train_scripts.predict` before it is scored;
the AUC ranks the probabilities ``predict --save-probs`` writes, which are the
model's (post-processing acts on the mask only).

The checkpoint's stored settings (tile size, threshold, TTA, preprocessing)
are the defaults; flags override them.

Usage:
    python -m train_scripts.evaluate --checkpoint runs/drive/best.h5 \
        --dataset drive --data-root ../shared/data/drive --split training \
        --images 37-40 --out eval_drive
    python -m train_scripts.evaluate --checkpoint pretrained/hippocampus.h5 \
        --dataset msd --data-root ../shared/data/msd_hippocampus --split test \
        --out eval_hippocampus
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from scipy import ndimage

from losses import evaluation
from train_scripts.data import ImageSet, in_model_layout, load_dataset, parse_names
from train_scripts.guards import check_out_dir, check_tile_size, load_checkpoint
from train_scripts.plots import (
    plot_metric_boxplot,
    representative_slice,
    save_label_slices,
    save_overlay_figure,
)
from train_scripts.precision import (
    model_in_precision,
    precision_scope,
    resolve_precision,
)
from train_scripts.predict import (
    add_postprocess_arguments,
    add_tiling_arguments,
    foreground,
    inference_options,
    model_for_tiles,
    model_rank,
)
from train_scripts.preprocess import Preprocessing
from train_scripts.targets import single_output_model
from zoo.inference import predict_tiled
from zoo.postprocess import postprocess_mask, suppress_removed
from zoo.settings import read_settings

__all__ = [
    "SUMMARY_KEYS",
    "count_components",
    "evaluate_model",
    "format_table",
    "main",
    "score_image",
    "summarize",
]

#: Per-image scores averaged into ``metrics.json`` (in this order).
SUMMARY_KEYS = (
    "dice",
    "iou",
    "sensitivity",
    "specificity",
    "precision",
    "accuracy",
    "pixel_error",
    "auc",
    "hd95",
    "components_true",
    "components_pred",
    "components_abs_error",
)


def count_components(mask: np.ndarray) -> int:
    """Connected components of a binary mask (8-connected in 2D, 26 in 3D)."""
    mask = np.asarray(mask, bool)
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    return int(ndimage.label(mask, structure=structure)[1])


def score_image(
    truth: np.ndarray,
    fg_probs: np.ndarray,
    *,
    threshold: float = 0.5,
    fov: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    auc_probs: np.ndarray | None = None,
) -> dict[str, float]:
    """Every score of one image from its binary truth and foreground probability.

    Args:
        truth: ``(*spatial)`` target, positive where > 0.5.
        fg_probs: ``(*spatial)`` foreground probability.
        threshold: Foreground threshold. Defaults to 0.5.
        fov: ``(*spatial)`` region to score in (DRIVE); components are counted
            inside it too. Defaults to None (everywhere).
        spacing: Pixel size for the Hausdorff distance. Defaults to None (1).
        auc_probs: The probabilities the AUC ranks, when ``fg_probs`` has had
            components removed (the map ``predict --save-probs`` writes is the
            model's, before any post-processing). Defaults to None
            (``fg_probs``).

    Returns:
        ``dice``, ``iou``, ``sensitivity``, ``specificity``, ``precision``,
        ``accuracy``, ``pixel_error``, ``auc``, ``hd95``, ``assd``,
        ``components_true``, ``components_pred``, ``components_abs_error``.
    """
    region = None if fov is None else np.asarray(fov) > 0.5
    scores = evaluation.evaluate_segmentation(
        truth,
        fg_probs,
        threshold=threshold,
        mask=region,
        spacing=spacing,
        auc_scores=auc_probs,
    )
    scores["pixel_error"] = 1.0 - scores["accuracy"]
    pred = fg_probs > threshold
    true = np.asarray(truth) > 0.5
    if region is not None:
        pred, true = pred & region, true & region
    scores["components_true"] = float(count_components(true))
    scores["components_pred"] = float(count_components(pred))
    scores["components_abs_error"] = abs(
        scores["components_pred"] - scores["components_true"]
    )
    return scores


def label_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The per-label keys (``dice_1``, ``hd95_1``, ..., ``dice_mean``) in ``rows``."""
    if not rows:
        return []
    return [k for k in rows[0] if k.startswith(("dice_", "hd95_"))]


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Means over images; ``hd95`` (and ``hd95_k``) over the finite values.

    An infinite ``hd95`` (an empty prediction or truth) is counted in
    ``hd95_undefined`` rather than turning the mean into infinity.
    """
    summary: dict[str, float] = {"n_images": len(rows)}
    for key in (*SUMMARY_KEYS, *label_keys(rows)):
        values = np.array([float(r[key]) for r in rows], np.float64)
        finite = values[np.isfinite(values)]
        summary[key] = float(finite.mean()) if finite.size else float("nan")
        if key == "hd95":
            summary["hd95_undefined"] = int((~np.isfinite(values)).sum())
    summary["f1"] = summary["dice"]
    return summary


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_model(
    model: keras.Model,
    dataset: ImageSet,
    out_dir: str | Path | None = None,
    *,
    tile_size: Sequence[int] | None = None,
    overlap: float = 0.5,
    tta: bool = False,
    threshold: float = 0.5,
    batch_size: int = 4,
    overlays: bool = True,
    verbose: bool = True,
    preprocess: Preprocessing | None = None,
    min_size: int = 0,
    largest_component: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Predicts every image of ``dataset`` whole and scores it.

    Multi-class outputs are scored as foreground (every class but channel 0)
    against background, and per foreground label on the argmax label maps
    (:func:`losses.evaluation.per_label_scores`: ``dice_k``, ``hd95_k``,
    ``dice_mean``).

    Args:
        model: Model with one input and one output.
        dataset: Labelled images (FOV masks are used when present).
        out_dir: Folder for ``per_image.csv``, ``metrics.json``, ``overlays/``
            and ``boxplot.png``; None writes nothing. Defaults to None.
        tile_size: Input tile size (default: the model's input size).
        overlap: Tile overlap. Defaults to 0.5.
        tta: Flip test-time augmentation. Defaults to False.
        threshold: Foreground threshold. Defaults to 0.5.
        batch_size: Tiles per forward pass. Defaults to 4.
        overlays: Write one overlay PNG per image. Defaults to True.
        verbose: Print the table. Defaults to True.
        preprocess: Channel conversion / CLAHE / resize applied to each image
            before prediction (as in training); resized predictions are
            resized back and scored at the image's own size. Defaults to None.
        min_size: Remove predicted components smaller than this before
            scoring the mask; the AUC ranks the model's probabilities, as
            ``predict`` writes them. Defaults to 0.
        largest_component: Keep only the largest predicted component.
            Defaults to False.

    Returns:
        ``(rows, summary)``: per-image scores (with ``name``) and their means.

    Raises:
        ValueError: If the model's rank or channels do not match the data.
    """
    if model_rank(model) != dataset.rank:
        raise ValueError(
            f"The model is {model_rank(model)}D but dataset {dataset.kind!r} is "
            f"{dataset.rank}D"
        )
    out = None if out_dir is None else Path(out_dir)
    if out is not None and overlays:
        (out / "overlays").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, name in enumerate(dataset.names):
        image, mask = dataset.images[i], dataset.masks[i]
        fed = image if preprocess is None else preprocess.prepare(image, name=name)
        probs = predict_tiled(
            model,
            fed,
            tile_size=tile_size,
            overlap=overlap,
            tta=tta,
            batch_size=batch_size,
        )
        if preprocess is not None and preprocess.resize is not None:
            probs = preprocess.resize_to(probs, image.shape[:-1])
        truth = foreground(mask) if mask.shape[-1] > 1 else mask[..., 0]
        raw = foreground(probs)
        fg = raw
        if min_size or largest_component:
            fg = suppress_removed(
                raw, threshold, min_size=min_size, largest_component=largest_component
            )
        fov = None if dataset.fov is None else dataset.fov[i][..., 0]
        spacing = None if dataset.spacing is None else dataset.spacing[i]
        scores = score_image(
            truth, fg, threshold=threshold, fov=fov, spacing=spacing, auc_probs=raw
        )
        labels = None
        if mask.shape[-1] > 1 and probs.shape[-1] == mask.shape[-1]:
            predicted = np.argmax(probs, -1)
            if min_size or largest_component:
                predicted = postprocess_mask(
                    predicted, min_size=min_size, largest_component=largest_component
                )
            labels = np.argmax(mask, -1), predicted
            scores.update(
                evaluation.per_label_scores(
                    *labels, range(1, mask.shape[-1]), spacing=spacing
                )
            )
        rows.append({"name": name, **scores})
        if out is not None and overlays and labels is not None and dataset.rank == 3:
            save_label_slices(
                out / "overlays" / f"{name}.png",
                image,
                *labels,
                title=f"{name}: Dice per label "
                + ", ".join(f"{scores[k]:.3f}" for k in label_keys(rows)[::2]),
            )
        elif out is not None and overlays:
            shown = (image, truth, fg)
            if dataset.rank == 3:
                k = representative_slice(truth, fg)
                shown = (image[k], truth[k], fg[k])
            region = 1.0 if fov is None else fov
            save_overlay_figure(
                out / "overlays" / f"{name}.png",
                shown[0],
                shown[1],
                shown[2] * region,
                title=f"{name}: Dice {scores['dice']:.3f}",
            )
    summary = summarize(rows)
    if dataset.kind == "siim":
        # Each row's dice is evaluation.dice_score of the whole image (no FOV),
        # so their mean is evaluation.mean_image_dice of the predictions.
        summary["siim_dice"] = float(np.mean([r["dice"] for r in rows]))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        keys = ["name", *SUMMARY_KEYS, "assd", *label_keys(rows)]
        with open(out / "per_image.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        (out / "metrics.json").write_text(
            json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2)
        )
        plot_metric_boxplot(rows, out / "boxplot.png", title=dataset.kind)
    if verbose:
        print(format_table(rows, summary))
    return rows, summary


def format_table(rows: Sequence[dict[str, Any]], summary: dict[str, float]) -> str:
    """A fixed-width text table: one line per image and the mean."""
    per_label = label_keys(rows)
    columns = (
        "dice",
        "iou",
        "sensitivity",
        "specificity",
        "accuracy",
        "auc",
        "hd95",
        "components_true",
        "components_pred",
    )
    headers = ("dice", "iou", "sens", "spec", "acc", "auc", "hd95", "n_true", "n_pred")
    if per_label:
        columns = ("dice", *per_label)
        headers = (
            "fg_dice",
            *(k.replace("dice_", "d").replace("hd95_", "h") for k in per_label),
        )
    width = max(6, *(len(str(r["name"])) for r in rows))
    lines = [f"{'image':<{width}} " + " ".join(f"{h:>7}" for h in headers)]

    def fmt(key: str, value: float) -> str:
        if key.startswith("components"):
            return f"{value:>7.1f}"
        return f"{value:>7.3f}" if math.isfinite(value) else f"{'n/a':>7}"

    for row in [*rows, {"name": "mean", **summary}]:
        cells = " ".join(fmt(k, float(row[k])) for k in columns)
        lines.append(f"{row['name']!s:<{width}} {cells}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m train_scripts.evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help=".h5 or .keras model")
    parser.add_argument(
        "--dataset",
        required=True,
        help="drive, isbi, msd, siim, folder:PATH, volumes:PATH, synthetic or "
        "synthetic3d",
    )
    parser.add_argument("--data-root", default=None, help="folder of drive/isbi/msd")
    parser.add_argument(
        "--split",
        default=None,
        help="drive, msd: training (default) or test; isbi: sub-folder (train)",
    )
    parser.add_argument(
        "--images",
        default=None,
        help="evaluate only these images, e.g. 37,38,39,40 or 37-40 (held out)",
    )
    parser.add_argument(
        "--n-classes", type=int, default=1, help="classes of folder:/volumes: labels"
    )
    parser.add_argument("--out", required=True, help="output folder")
    add_tiling_arguments(parser)
    add_postprocess_arguments(parser)
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of synthetic evaluation data"
    )
    parser.add_argument(
        "--no-overlays", action="store_true", help="skip the per-image PNGs"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.precision = resolve_precision(args.precision, announce=True)
    try:
        check_out_dir(args.out)
        model = load_checkpoint(args.checkpoint)
        settings = read_settings(args.checkpoint)
        if len(model.inputs) != 1:
            raise ValueError(
                f"evaluate scores single-input models; '{args.checkpoint}' has "
                f"{len(model.inputs)} inputs (predict it with train_scripts.predict)"
            )
        model = model_in_precision(model, args.precision)
        model = single_output_model(model, settings.get("output"))
        options = inference_options(args, settings, model_rank(model))
        dataset = load_dataset(
            args.dataset,
            data_root=args.data_root,
            split=args.split,
            n_classes=args.n_classes,
            seed=args.seed,
        )
        dataset = in_model_layout(dataset, model)
        names = parse_names(args.images)
        if names:
            dataset = dataset.subset(names)
        tile = options["tile_size"]
        if tile is not None:
            tile = check_tile_size(model, tile)
        with precision_scope(args.precision):
            model, tile = model_for_tiles(model, tile)
        evaluate_model(
            model,
            dataset,
            args.out,
            tile_size=tile,
            overlap=options["overlap"],
            tta=options["tta"],
            threshold=options["threshold"],
            batch_size=args.batch_size,
            overlays=not args.no_overlays,
            preprocess=options["preprocess"],
            min_size=options["min_size"],
            largest_component=options["largest_component"],
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.out).resolve()}/metrics.json and per_image.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
