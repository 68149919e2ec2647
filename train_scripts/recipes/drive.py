"""DRIVE retinal-vessel recipe: patch-trained SA-UNet, evaluated on held-out images.

The DRIVE copy used here has only the official *training* half (20 images), so
the last ``--n-val`` images (default 4: 37-40) are held out by image (no patch of
a held-out image is ever trained on) and the figure reported is F1/Dice, AUC,
sensitivity, specificity and accuracy inside the field of view on those whole
images (1st manual), at a threshold chosen on training images (and at 0.5).

Recipe: SA-UNet (16 base filters, DropBlock, spatial attention; Guo et al.,
ICPR 2020) on RGB images in [0, 1]; 64x64 patches drawn uniformly inside the
FOV; rotations, flips, brightness/contrast/gamma jitter; BCE + Dice loss; Adam
with cosine decay over 100 epochs of 100 batches of 32. The held-out images only
log a validation curve: the evaluated checkpoint is the last one, and the
decision threshold and the minimum size of kept components are the F1-optimal
ones on training images 33-36, so nothing is tuned on the reported images.
Whole-image prediction uses overlapping Gaussian-blended tiles and flip
test-time augmentation. The evaluated checkpoint receives these inference
settings (:func:`inference_settings`: calibrated threshold and minimum component
size, 128x128 tiles, TTA, RGB input in [0, 1]), so ``python -m
train_scripts.predict --checkpoint OUT/last.h5 --input DIR --out PRED`` predicts
as evaluated here.

Usage:
    python -m train_scripts.recipes.drive --data-root ../shared/data/drive \
        --out runs/drive --precision auto
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np

import losses
import zoo
from data_pipelines.augment import Augmenter2D
from data_pipelines.dataset import ImageSet
from data_pipelines.pipeline import make_patch_dataset
from data_pipelines.readers import load_drive
from losses.evaluation import dice_score, evaluate_segmentation
from train_scripts.evaluate import count_components
from train_scripts.guards import load_checkpoint
from train_scripts.plots import plot_learning_curves, save_overlay_figure
from train_scripts.precision import (
    add_precision_argument,
    precision_scope,
    resolve_precision,
)
from train_scripts.preprocess import CHANNELS, Preprocessing
from train_scripts.runs import library_versions, read_run, write_run
from train_scripts.trainer import train
from zoo.inference import average_models, predict_tiled
from zoo.postprocess import suppress_removed
from zoo.settings import read_settings, update_settings

#: The recipe's model builder (its registry key is its name).
MODEL = zoo.sa_unet
#: Architectures ``--model`` offers (the stronger-architecture lever), all at
#: ``--filters`` base filters.
MODELS = {m.__name__: m for m in (zoo.sa_unet, zoo.residual_unet, zoo.attention_unet)}

#: Tile size and overlap of the recipe's whole-image prediction.
TILE_SIZE = (128, 128)
OVERLAP = 0.5
#: Candidate minimum component sizes (pixels) for the post-processing.
MIN_SIZES = (0, 10, 20, 30, 50, 80, 120)
#: Training augmentation (the data benchmark times this pipeline too).
AUGMENT = Augmenter2D(
    rotation=180,
    shift=0.0,
    hflip=True,
    vflip=True,
    brightness=0.1,
    contrast=0.1,
    gamma=0.1,
)


class TimeBudget(keras.callbacks.Callback):
    """Stop training once the next epoch would exceed a wall-clock budget."""

    def __init__(self, minutes: float):
        super().__init__()
        self.seconds = minutes * 60.0

    def on_train_begin(self, logs=None):
        """Start the clock."""
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Stop if one more epoch of the mean length would overrun the budget."""
        elapsed = time.perf_counter() - self.start
        if elapsed / (epoch + 1) * (epoch + 2) > self.seconds:
            self.model.stop_training = True


def predict_probabilities(model, images, *, tta: bool) -> list[np.ndarray]:
    """Whole-image vessel probabilities with overlapping Gaussian-blended tiles."""
    return [
        predict_tiled(model, image, tile_size=TILE_SIZE, overlap=OVERLAP, tta=tta)[
            ..., 0
        ]
        for image in images
    ]


def inference_settings(
    threshold: float,
    *,
    tta: bool,
    filters: int,
    preprocess: Preprocessing | None = None,
    min_size: int = 0,
    model: str = MODEL.__name__,
) -> dict[str, object]:
    """The settings stored in the evaluated checkpoint (:mod:`zoo.settings`).

    The recipe feeds images scaled to [0, 1], converted as ``preprocess`` says
    (RGB as read by default; no resize), predicts with 128x128 tiles at
    overlap 0.5, with flip TTA unless ``--no-tta``, at the threshold and the
    minimum component size calibrated on training images.
    """
    preprocess = preprocess or Preprocessing(channels="rgb")
    return {
        "model": model,
        "model_kwargs": {"filters": filters},
        "n_classes": 1,
        "class_names": ["vessel"],
        "input_channels": preprocess.n_channels(3),
        "axes": "HWC",
        "normalization": "unit_range",
        **preprocess.settings(),
        "tile_size": list(TILE_SIZE),
        "overlap": OVERLAP,
        "tta": tta,
        "threshold": threshold,
        "min_size": int(min_size),
        "output": None,
    }


def calibrate_threshold(probs, masks, fovs, grid=None) -> float:
    """The threshold that maximises the pooled F1 inside the FOV of some images.

    The recipe calibrates on *training* images, never on the held-out ones, so
    the held-out figure stays an honest estimate.
    """
    grid = np.round(np.arange(0.30, 0.91, 0.02), 2) if grid is None else grid
    inside = [f[..., 0] > 0.5 for f in fovs]
    p = np.concatenate([pr[m] for pr, m in zip(probs, inside, strict=True)])
    y = np.concatenate([t[..., 0][m] > 0.5 for t, m in zip(masks, inside, strict=True)])
    f1 = [dice_score(y, p, threshold=t) for t in grid]
    return float(grid[int(np.argmax(f1))])


def calibrate_min_size(probs, masks, fovs, threshold: float, sizes=MIN_SIZES) -> int:
    """The minimum component size that maximises the pooled F1 inside the FOV.

    Like :func:`calibrate_threshold`, only ever given *training* images; ties
    go to the smallest size.
    """
    inside = [f[..., 0] > 0.5 for f in fovs]
    y = np.concatenate([t[..., 0][m] > 0.5 for t, m in zip(masks, inside, strict=True)])
    f1 = []
    for size in sizes:
        kept = [
            suppress_removed(p, threshold, min_size=size, region=m)
            for p, m in zip(probs, inside, strict=True)
        ]
        p = np.concatenate([k[m] for k, m in zip(kept, inside, strict=True)])
        f1.append(dice_score(y, p, threshold=threshold))
    return int(sizes[int(np.argmax(f1))])


def evaluate_held_out(
    probs,
    held_out: ImageSet,
    out_dir: Path,
    *,
    threshold: float,
    overlays: bool,
    min_size: int = 0,
) -> dict:
    """Whole-image FOV metrics per held-out image at ``threshold``, and their mean.

    Components under ``min_size`` pixels are removed from the mask first (the
    AUC ranks the model's probabilities, as ``predict`` writes them); the rows
    also count the connected components of the truth and of the prediction in
    the FOV.
    """
    rows = []
    for prob, name, image, mask, fov_mask in zip(
        probs,
        held_out.names,
        held_out.images,
        held_out.masks,
        held_out.fov,
        strict=True,
    ):
        fov = fov_mask[..., 0] > 0.5
        truth = mask[..., 0]
        kept = suppress_removed(prob, threshold, min_size=min_size, region=fov)
        scores = evaluate_segmentation(
            truth, kept, mask=fov, threshold=threshold, distances=False, auc_scores=prob
        )
        scores["components_true"] = count_components((truth > 0.5) & fov)
        scores["components_pred"] = count_components((kept > threshold) & fov)
        rows.append({"image": name, **scores})
        if overlays:
            save_overlay_figure(
                out_dir / f"val_{name}_overlay.png",
                image,
                mask * fov_mask,
                (kept > threshold)[..., None] * fov_mask,
                title=f"DRIVE {name} (held out): F1 {scores['dice']:.4f} "
                f"at threshold {threshold}",
            )
    keys = [k for k in rows[0] if k != "image"]
    return {
        "threshold": threshold,
        "per_image": rows,
        "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
    }


def main(argv: list[str] | None = None) -> dict:
    """Train and evaluate; writes the checkpoint, run.json and figures to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default="../shared/data/drive")
    parser.add_argument("--out", default="runs/drive")
    parser.add_argument("--n-val", type=int, default=4, help="held-out images (last N)")
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument(
        "--fg-ratio",
        type=float,
        default=None,
        help="share of vessel-centred patches (default: uniform inside the FOV)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--minutes",
        type=float,
        default=150.0,
        help="safety stop: no epoch starts that would end after this many minutes",
    )
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--warmup-epochs",
        type=float,
        default=0.0,
        help="linear learning-rate warm-up before the cosine decay",
    )
    parser.add_argument(
        "--channels",
        choices=CHANNELS,
        default="rgb",
        help="input channels: rgb (as read), green (the retina papers' choice) or gray",
    )
    parser.add_argument(
        "--clahe", action="store_true", help="CLAHE (clip 2, 8x8 tiles) on the input"
    )
    parser.add_argument(
        "--model",
        choices=sorted(MODELS),
        default=MODEL.__name__,
        help="architecture (default: %(default)s, the paper's)",
    )
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument(
        "--loss",
        choices=("bce_dice", "bce"),
        default="bce_dice",
        help="training loss: BCE + Dice (default) or BCE alone (the SA-UNet paper's)",
    )
    add_precision_argument(
        parser,
        "training precision; the checkpoints are saved in float32 either way, "
        "so evaluation and prediction run in float32",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--calibration-images",
        type=int,
        default=4,
        help="last N *training* images on which the F1-optimal threshold is chosen",
    )
    parser.add_argument(
        "--checkpoint",
        choices=("last", "best"),
        default="last",
        help="checkpoint to evaluate: 'last' (default) never lets the held-out "
        "images choose anything; 'best' is picked on their validation patches",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="skip training: calibrate and evaluate the existing checkpoint in OUT",
    )
    parser.add_argument(
        "--ensemble",
        nargs="+",
        metavar="RUN",
        default=None,
        help="skip training: average the --checkpoint models of these recipe run "
        "folders (trained with the same --channels/--clahe) into OUT, then "
        "calibrate and evaluate the ensemble",
    )
    parser.add_argument(
        "--no-tta", action="store_true", help="no flip TTA at evaluation"
    )
    args = parser.parse_args(argv)
    args.precision = resolve_precision(args.precision, announce=True)

    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_drive(args.data_root, "training")
    preprocess = Preprocessing(channels=args.channels, clahe=args.clahe)
    data.images = [
        preprocess.image(x, name=f"DRIVE {name}")
        for x, name in zip(data.images, data.names, strict=True)
    ]
    n = len(data.names)
    if not 0 < args.n_val < n:
        raise ValueError(f"`--n-val` must be in [1, {n - 1}]. Received: {args.n_val}")
    train_set = data.subset(data.names[: n - args.n_val])
    val_set = data.subset(data.names[n - args.n_val :])

    patch = (args.patch, args.patch)
    train_ds = make_patch_dataset(
        train_set.images,
        train_set.masks,
        fov=train_set.fov,
        patch_size=patch,
        batch_size=args.batch_size,
        fg_ratio=args.fg_ratio,
        augment=AUGMENT,
        patches_per_epoch=None,
        seed=args.seed,
    )
    val_ds = make_patch_dataset(
        val_set.images,
        val_set.masks,
        fov=val_set.fov,
        patch_size=patch,
        batch_size=args.batch_size,
        fg_ratio=None,
        augment=None,
        patches_per_epoch=512,
        seed=args.seed + 1,
    ).cache()

    if args.ensemble:
        run = _ensemble(args, out)
    elif args.evaluate_only:
        run = read_run(out)
    else:
        run = _train(args, train_ds, val_ds, out)
        run["train_images"] = train_set.names
        run["val_images"] = val_set.names

    best = load_checkpoint(out / f"{args.checkpoint}.h5")
    tta = not args.no_tta
    calib_names = (
        train_set.names[-args.calibration_images :] if args.calibration_images else []
    )
    threshold, min_size = 0.5, 0
    if calib_names:
        calib_set = train_set.subset(calib_names)
        calib = (
            predict_probabilities(best, calib_set.images, tta=tta),
            calib_set.masks,
            calib_set.fov,
        )
        threshold = calibrate_threshold(*calib)
        min_size = calibrate_min_size(*calib, threshold)
    probs = predict_probabilities(best, val_set.images, tta=tta)
    run["evaluated_checkpoint"] = f"{args.checkpoint}.h5"
    run["calibration_images"] = calib_names
    run["threshold"] = threshold
    run["min_size"] = min_size
    run["validation"] = evaluate_held_out(
        probs, val_set, out, threshold=threshold, overlays=True, min_size=min_size
    )
    run["validation_no_postprocessing"] = evaluate_held_out(
        probs, val_set, out, threshold=threshold, overlays=False
    )
    run["validation_at_0.5"] = evaluate_held_out(
        probs, val_set, out, threshold=0.5, overlays=False
    )
    run["evaluation_config"] = {"tta": tta, "tile_size": 128, "overlap": OVERLAP}
    run["checkpoint_settings"] = update_settings(
        out / f"{args.checkpoint}.h5",
        **inference_settings(
            threshold,
            tta=tta,
            filters=args.filters,
            preprocess=preprocess,
            min_size=min_size,
            model=args.model,
        ),
    )
    write_run(out, run)
    print(
        f"threshold {threshold}, min_size {min_size} (chosen on training images "
        f"{run['calibration_images']})"
    )
    print(json.dumps(run["validation"]["mean"], indent=2))
    return run


def _ensemble(args, out: Path) -> dict:
    """Averages the members' checkpoints into ``OUT``; returns the run record.

    Raises:
        ValueError: If a member's checkpoint is missing or was trained with
            other input preprocessing than ``--channels``/``--clahe``.
    """
    wanted = Preprocessing(channels=args.channels, clahe=args.clahe).settings()
    members, records = [], []
    for folder in map(Path, args.ensemble):
        path = folder / f"{args.checkpoint}.h5"
        if not path.is_file():
            raise ValueError(f"Ensemble member '{path}' does not exist")
        stored = read_settings(path)
        got = {k: stored.get(k) for k in ("channels", "clahe")}
        if got != {k: wanted[k] for k in got}:
            raise ValueError(
                f"Ensemble member '{path}' was trained with {got}; this run asks "
                f"for channels={args.channels!r}, clahe={args.clahe}"
            )
        members.append(load_checkpoint(path))
        records.append(read_run(folder))
    model = average_models(members, name=f"{args.model}_ensemble")
    model.save(out / f"{args.checkpoint}.h5")
    run = _run_record(args, model)
    run["model"]["ensemble_of"] = [str(f) for f in args.ensemble]
    return {
        **run,
        "members": [
            {k: r.get(k) for k in ("config", "epochs_run", "train_seconds")}
            for r in records
        ],
        "train_seconds": round(sum(r.get("train_seconds", 0.0) for r in records), 1),
        "train_images": records[0].get("train_images"),
        "val_images": records[0].get("val_images"),
    }


def _run_record(args, model: keras.Model) -> dict:
    """The run record's head: recipe, configuration, model and library versions."""
    return {
        "recipe": "drive",
        "config": vars(args),
        "model": {
            "name": args.model,
            "kwargs": {"filters": args.filters},
            "params": model.count_params(),
        },
        "versions": library_versions(),
    }


def _train(args, train_ds, val_ds, out: Path) -> dict:
    """Train the `--model`; returns the run record (without the evaluation)."""
    channels = Preprocessing(channels=args.channels).n_channels(3)
    with precision_scope(args.precision):
        model = MODELS[args.model]((None, None, channels), 1, filters=args.filters)
    warmup = int(args.warmup_epochs * args.steps)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr / 10 if warmup else args.lr,
        args.epochs * args.steps - warmup,
        alpha=0.05,
        warmup_target=args.lr if warmup else None,
        warmup_steps=warmup,
    )
    start = time.perf_counter()
    result = train(
        model,
        train_ds,
        val_ds,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        out_dir=out,
        loss=losses.get(args.loss),
        optimizer=keras.optimizers.Adam(schedule),
        metrics=[losses.DiceScore(name="dice")],
        monitor="val_loss",
        mode="min",
        callbacks=[TimeBudget(args.minutes)],
        verbose=2,
    )
    train_seconds = time.perf_counter() - start
    plot_learning_curves(result.metrics_csv, out / "learning_curves.png")
    return {
        **_run_record(args, model),
        "epochs_run": len(result.history["loss"]),
        "train_seconds": round(train_seconds, 1),
    }


if __name__ == "__main__":
    main()
