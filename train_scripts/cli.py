"""The shared training command line behind every ``train_<family>.py`` script.

It loads a dataset by name, splits it into training, validation and held-out
images BY IMAGE (patches of one image never reach two splits), builds a zoo
model for the patch size, trains it with :func:`train_scripts.trainer.train`
on random patches (foreground-balanced, augmented), then predicts the
validation images whole and scores them. ``--out`` receives ``best.h5``,
``last.h5``, ``metrics.csv``, ``run.json`` (full configuration, seed, split and
library versions), ``learning_curves.png`` and ``val_eval/`` (per-image scores,
overlays, box plot). Running the same command again after an interruption
resumes from the last completed epoch (``--no-resume`` starts over).

Examples:
    python -m train_scripts.cli --model unet_padding --dataset synthetic \
        --epochs 5 --out runs/synthetic
    python -m train_scripts.train_unet --dataset drive \
        --data-root ../shared/data/drive --holdout-images 37-40 \
        --patch-size 96 --model-kwargs '{"depth": 4, "filters": 32}' \
        --epochs 40 --schedule cosine --out runs/drive
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import losses
import zoo
from data_pipelines.augment import Augmenter2D, Augmenter3D
from data_pipelines.pipeline import make_patch_dataset
from train_scripts.data import (
    ImageSet,
    in_model_layout,
    load_dataset,
    parse_names,
    split_by_image,
)
from train_scripts.evaluate import evaluate_model
from train_scripts.plots import plot_learning_curves
from train_scripts.predict import model_for_tiles, parse_size
from train_scripts.trainer import make_optimizer, train

__all__ = ["FAMILIES", "Family", "build_model", "build_parser", "main", "run"]


class Family:
    """A model family: the models a ``train_<family>.py`` script may train.

    Args:
        models: Registered model names; the first is the default.
        dataset: Default ``--dataset``.
        patch_size: Default ``--patch-size``.
        description: One line for ``--help``.
    """

    def __init__(
        self, models: Sequence[str], dataset: str, patch_size: str, description: str
    ) -> None:
        self.models = tuple(models)
        self.dataset = dataset
        self.patch_size = patch_size
        self.description = description


def _models(family: str, default: str) -> tuple[str, ...]:
    """Single-input models whose spec names ``family`` (``default`` first)."""
    specs = [zoo.spec(key) for key in zoo.list_models()]
    others = [s.key for s in specs if s.family == family and not s.multi_input]
    return (default, *(key for key in others if key != default))


FAMILIES: dict[str, Family] = {
    "unet": Family(
        _models("unet", "unet_padding"),
        "synthetic",
        "128",
        "U-Net (Ronneberger et al. 2015): unet_padding (same padding, BN) or "
        "unet_original (valid padding; targets are centre-cropped to its output)",
    ),
    "vnet": Family(
        _models("vnet", "vnet"),
        "synthetic",
        "128",
        "2D V-Net (Milletari et al. 2016, 2D form)",
    ),
    "vnet3d": Family(
        _models("vnet3d", "vnet_3d"),
        "synthetic3d",
        "32",
        "3D V-Nets: vnet_3d, vnet3d (bottleneck/inception) and vnet3d_depthwise",
    ),
    "unet3d": Family(
        _models("unet3d", "unet3d"), "synthetic3d", "32", "3D U-Net (Cicek et al. 2016)"
    ),
    "unet25d": Family(
        _models("unet25d", "unet25d"),
        "synthetic3d",
        "32,32,5",
        "2.5D U-Net with spatial attention on thin slabs (H, W, slices)",
    ),
    "backboned_unet": Family(
        _models("backboned_unet", "backboned_unet"),
        "synthetic",
        "128",
        "U-Nets with a keras.applications / Darknet encoder (weights=None) and "
        "the branch2 variant",
    ),
    "variants": Family(
        _models("variants", "unet_plus_plus"),
        "synthetic",
        "128",
        "U-Net variants: UNet++, UNet 3+, Attention U-Net, Residual U-Net, SA-UNet",
    ),
}


def build_parser(family: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, restricted to one family's models when given."""
    fam = FAMILIES[family] if family else None
    prog = (
        f"python -m train_scripts.train_{family}"
        if family
        else "python -m train_scripts.cli"
    )
    description = (
        f"Train {fam.description}. " if fam else "Train any single-input zoo model. "
    ) + "Shared options of train_scripts/cli.py."
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=__doc__.split("\n\n", 2)[-1],
        formatter_class=lambda prog: argparse.ArgumentDefaultsHelpFormatter(
            prog, max_help_position=32
        ),
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default=fam.models[0] if fam else "unet_padding",
        choices=fam.models if fam else None,
        help="registered model name" + ("" if fam else " (see zoo.list_models())"),
    )
    model.add_argument(
        "--model-kwargs",
        default="{}",
        help="JSON keyword arguments of the builder, e.g. '{\"depth\": 4}'",
    )
    model.add_argument("--n-classes", type=int, default=1, help="output classes")

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        default=fam.dataset if fam else "synthetic",
        help="synthetic, synthetic:cells, synthetic3d, drive, isbi, folder:PATH or "
        "volumes:PATH (PATH/image + PATH/label)",
    )
    data.add_argument("--data-root", default=None, help="folder of drive / isbi")
    data.add_argument(
        "--split", default=None, help="drive: training|test; isbi: sub-folder"
    )
    data.add_argument(
        "--patch-size",
        default=fam.patch_size if fam else "128",
        help="training patch = model input size, e.g. 96 or 32,64,64",
    )
    data.add_argument(
        "--val-images",
        default=None,
        help="validation images by name, e.g. 33-36 (default: --val-fraction)",
    )
    data.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="fraction of images drawn for validation when --val-images is unset",
    )
    data.add_argument(
        "--holdout-images",
        default=None,
        help="images kept out of training and validation (a test set), e.g. 37-40",
    )
    data.add_argument(
        "--val-patches",
        type=int,
        default=64,
        help="fixed validation patches drawn once from the validation images",
    )
    data.add_argument(
        "--fg-ratio",
        type=float,
        default=0.5,
        help="fraction of foreground-centred training patches",
    )
    data.add_argument("--no-augment", action="store_true", help="no augmentation")
    data.add_argument(
        "--n-images", type=int, default=None, help="synthetic images to generate"
    )
    data.add_argument(
        "--image-size", type=int, default=None, help="side of the synthetic images"
    )

    fit = parser.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=20)
    fit.add_argument("--steps-per-epoch", type=int, default=50)
    fit.add_argument("--batch-size", type=int, default=8)
    fit.add_argument(
        "--loss",
        default=None,
        help="name for losses.get (e.g. bce_dice, dice, focal_bce_dice, tversky) or a "
        "Keras loss name (default: bce_dice, multiclass_dice for --n-classes > 1)",
    )
    fit.add_argument(
        "--optimizer", default="adam", choices=("adam", "adamw", "sgd", "rmsprop")
    )
    fit.add_argument("--lr", type=float, default=1e-3, help="(peak) learning rate")
    fit.add_argument(
        "--schedule",
        default="cosine",
        choices=("constant", "cosine", "plateau"),
        help="cosine decay to 0, ReduceLROnPlateau (x0.5 after 5 epochs) or constant",
    )
    fit.add_argument("--warmup-steps", type=int, default=0, help="cosine warm-up")
    fit.add_argument(
        "--monitor",
        default=None,
        help="quantity of the best checkpoint (default: val_dice, or dice without "
        "validation images)",
    )
    fit.add_argument(
        "--mode",
        choices=("auto", "min", "max"),
        default="auto",
        help="whether a lower or higher --monitor is better (auto: losses, errors "
        "and distances lower, scores higher)",
    )
    fit.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without improvement",
    )
    fit.add_argument("--tensorboard", action="store_true", help="TensorBoard logs")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--no-resume",
        action="store_true",
        help="ignore a backup in --out and start over",
    )
    fit.add_argument(
        "--no-final-eval",
        action="store_true",
        help="skip the whole-image evaluation of the validation images",
    )
    fit.add_argument(
        "--eval-tile-size",
        default=None,
        help="tile size of the final whole-image evaluation (default: the patch)",
    )
    fit.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity"
    )
    parser.add_argument("--out", required=True, help="run folder")
    return parser


def _patch(text: str, rank: int) -> tuple[int, ...]:
    size = parse_size(text)
    if len(size) == 1:
        size = size * rank
    if len(size) != rank or min(size) < 1:
        raise ValueError(
            f"--patch-size needs 1 or {rank} positive values for {rank}D data. "
            f"Received: {text!r}"
        )
    return size


def build_model(
    name: str,
    patch_size: Sequence[int],
    channels: int,
    n_classes: int,
    model_kwargs: dict[str, Any],
) -> keras.Model:
    """A registered zoo model for one patch size.

    Raises:
        ValueError: For an unknown name (valid names listed), a model with
            several inputs/outputs, or invalid builder arguments.
    """
    builder = zoo.get(name)
    for key in ("input_shape", "n_classes"):
        if key in model_kwargs:
            raise ValueError(
                f"Set {key} with --patch-size / --n-classes, not --model-kwargs"
            )
    try:
        model = builder((*patch_size, channels), n_classes, **model_kwargs)
    except TypeError as err:
        raise ValueError(
            f"Bad --model-kwargs for {name}: {err}. "
            f"Signature: {name}{inspect.signature(builder)}"
        ) from err
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"{name} has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; the shared trainer handles single-input, single-output models"
        )
    # The spec's size rule: for valid-padding models (unet_original) the aligned
    # sizes, where targets cropped by half the size difference match the output.
    nearest = zoo.spec(name).nearest_size(patch_size, **zoo.record_of(model)[1])
    if nearest != tuple(patch_size):
        raise ValueError(
            f"{name} trains on aligned patch sizes (its spec's size rule; for valid "
            "padding: no pixel dropped by pooling). Received --patch-size "
            f"{','.join(map(str, patch_size))}; nearest aligned size: "
            f"{','.join(map(str, nearest))}"
        )
    return model


def _target_adapter(model: keras.Model, rank: int):
    """Maps batched mask patches to the model's output grid (None when equal).

    Valid-padding models (``unet_original``) predict a centred crop of their
    input; a model whose output has one spatial axis fewer than its input (a
    2.5D slab model predicting one slice) gets the slab's centre slice.
    """
    in_spatial = tuple(model.input_shape[1:-1])
    out_spatial = tuple(model.output_shape[1:-1])
    if out_spatial == in_spatial:
        return None
    drop_last = len(out_spatial) == rank - 1
    kept = in_spatial[:-1] if drop_last else in_spatial
    crop = tuple(
        slice((s - o) // 2, (s - o) // 2 + o)
        for s, o in zip(kept, out_spatial, strict=True)
    )

    def adapt(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if drop_last:
            y = y[..., in_spatial[-1] // 2, :]
        return x, y[(slice(None), *crop)]

    return adapt


def _materialize(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Draws a finite random dataset once, so every epoch validates the same data."""
    xs, ys = [], []
    for x, y in dataset:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return tf.data.Dataset.from_tensor_slices(
        (np.concatenate(xs), np.concatenate(ys))
    ).batch(batch_size)


def _loss(name: str | None, n_classes: int) -> keras.losses.Loss:
    name = name or ("bce_dice" if n_classes == 1 else "multiclass_dice")
    try:
        return losses.get(name)
    except ValueError:
        try:
            return keras.losses.get(name)
        except ValueError as err:
            raise ValueError(
                f"Unknown loss {name!r}. Valid names: {', '.join(losses.list_losses())}"
                " or a Keras loss name"
            ) from err


def _metrics(n_classes: int) -> list[keras.metrics.Metric]:
    kwargs = {} if n_classes == 1 else {"mode": "multiclass", "threshold": "argmax"}
    return [
        losses.DiceScore(name="dice", **kwargs),
        losses.IoUScore(name="iou", **kwargs),
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Trains as ``args`` say; returns a summary (files, split, final scores).

    Raises:
        ValueError, FileNotFoundError: On a bad option or missing data.
    """
    out = Path(args.out)
    keras.utils.set_random_seed(args.seed)
    model_kwargs = json.loads(args.model_kwargs)
    if not isinstance(model_kwargs, dict):
        raise ValueError(
            f"--model-kwargs must be a JSON object. Received: {args.model_kwargs!r}"
        )
    dataset = load_dataset(
        args.dataset,
        data_root=args.data_root,
        split=args.split,
        n_classes=args.n_classes,
        n_images=args.n_images,
        image_size=args.image_size,
        seed=args.seed,
    )
    dataset = in_model_layout(dataset, args.model)
    train_set, val_set = split_by_image(
        dataset,
        val_names=parse_names(args.val_images),
        holdout_names=parse_names(args.holdout_images),
        val_fraction=args.val_fraction,
        seed=args.seed,
    )
    rank = dataset.rank
    patch = _patch(args.patch_size, rank)
    model = build_model(
        args.model, patch, dataset.channels, args.n_classes, model_kwargs
    )
    target_fn = _target_adapter(model, rank)
    augment = None
    if not args.no_augment:
        augment = Augmenter2D() if rank == 2 else Augmenter3D()

    def patches(images: ImageSet, *, n: int | None, seed: int, aug) -> tf.data.Dataset:
        dataset = make_patch_dataset(
            images.images,
            images.masks,
            fov=images.fov,
            patch_size=patch,
            batch_size=args.batch_size,
            fg_ratio=args.fg_ratio,
            augment=aug,
            patches_per_epoch=n,
            seed=seed,
        )
        return dataset if target_fn is None else dataset.map(target_fn)

    train_ds = patches(train_set, n=None, seed=args.seed, aug=augment)
    val_ds = None
    if val_set is not None:
        val_ds = _materialize(
            patches(val_set, n=args.val_patches, seed=args.seed + 1, aug=None),
            args.batch_size,
        )
    monitor = args.monitor or ("val_dice" if val_ds is not None else "dice")
    total_steps = args.epochs * args.steps_per_epoch
    optimizer = make_optimizer(
        args.optimizer,
        args.lr,
        schedule=args.schedule,
        total_steps=total_steps,
        warmup_steps=args.warmup_steps,
    )
    config = {
        **vars(args),
        "model_kwargs": model_kwargs,
        "patch_size": list(patch),
        "split": {
            "train": train_set.names,
            "val": [] if val_set is None else val_set.names,
            "holdout": parse_names(args.holdout_images),
        },
        "command": " ".join(sys.argv),
    }
    start = time.perf_counter()
    result = train(
        model,
        train_ds,
        val_ds,
        epochs=args.epochs,
        out_dir=out,
        loss=_loss(args.loss, args.n_classes),
        optimizer=optimizer,
        metrics=_metrics(args.n_classes),
        monitor=monitor,
        mode=args.mode,
        steps_per_epoch=args.steps_per_epoch,
        resume=not args.no_resume,
        early_stopping=args.early_stopping,
        tensorboard=args.tensorboard,
        reduce_on_plateau=args.schedule == "plateau",
        run_config=config,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    plot_learning_curves(result.metrics_csv, out / "learning_curves.png")
    summary: dict[str, Any] = {
        "out": str(out),
        "best_checkpoint": str(result.best_checkpoint),
        "last_checkpoint": str(result.last_checkpoint),
        "initial_epoch": result.initial_epoch,
        "train_seconds": round(seconds, 1),
        "history": result.history,
    }
    if val_set is not None and not args.no_final_eval:
        best = keras.models.load_model(result.best_checkpoint, compile=False)
        tile = (
            None if args.eval_tile_size is None else _patch(args.eval_tile_size, rank)
        )
        best, tile = model_for_tiles(best, tile)
        _, scores = evaluate_model(
            best, val_set, out / "val_eval", tile_size=tile, verbose=args.verbose > 0
        )
        summary["val_eval"] = {
            k: v for k, v in scores.items() if isinstance(v, int | float)
        }
    record = json.loads((out / "run.json").read_text())
    record["train_seconds"] = summary["train_seconds"]
    if "val_eval" in summary:
        record["val_eval"] = {
            k: (v if math.isfinite(v) else None) for k, v in summary["val_eval"].items()
        }
    (out / "run.json").write_text(json.dumps(record, indent=2, default=str))
    return summary


def main(argv: list[str] | None = None, *, family: str | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser(family).parse_args(argv)
    try:
        summary = run(args)
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"best checkpoint: {summary['best_checkpoint']}")
    if "val_eval" in summary:
        shown = {k: round(summary["val_eval"][k], 4) for k in ("dice", "iou", "auc")}
        print(f"validation images (whole, tiled): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
