"""The shared training command line behind every ``train_<family>.py`` script.

It loads a dataset by name, splits it into training, validation and held-out
images BY IMAGE (patches of one image never reach two splits), builds a zoo
model for the patch size, trains it with :func:`train_scripts.trainer.train`
on random patches (foreground-balanced, augmented), then predicts the
validation images whole and scores them. ``--out`` receives ``best.h5``,
``last.h5``, ``metrics.csv``, ``run.json`` (full configuration, seed, split and
library versions), ``learning_curves.png`` and ``val_eval/`` (per-image scores,
overlays, box plot). Running the same command again after an interruption
resumes from the last completed epoch (``--no-resume`` starts over); a
larger ``--epochs`` continues a finished run, and another configuration in
the same ``--out`` is refused. Bad options, an unwritable or full ``--out``
and a busy run folder are refused before any data or model work
(:mod:`train_scripts.guards`).

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
import errno
import inspect
import json
import shlex
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import losses
import zoo
from data_pipelines.pipeline import make_patch_dataset, make_two_input_dataset
from train_scripts import targets
from train_scripts.augmentation import (
    add_augment_arguments,
    augment_options,
    make_augmenter,
)
from train_scripts.data import (
    ImageSet,
    in_model_layout,
    load_dataset,
    parse_names,
    slices_last,
    split_by_image,
)
from train_scripts.distribute import STRATEGIES, is_chief, is_chief_task, make_strategy
from train_scripts.evaluate import evaluate_model
from train_scripts.guards import (
    TrainingDivergedError,
    check_free_space,
    check_image_sizes,
    check_out_dir,
    check_training_args,
    empty_masks,
    intensity_stats,
    parse_json_object,
    run_lock,
    training_bytes,
    warn,
)
from train_scripts.plots import plot_learning_curves
from train_scripts.precision import (
    add_precision_argument,
    precision_scope,
    resolve_precision,
)
from train_scripts.predict import model_for_tiles, parse_size
from train_scripts.preprocess import Preprocessing, add_preprocess_arguments
from train_scripts.runs import update_run
from train_scripts.trainer import make_optimizer, train

__all__ = [
    "FAMILIES",
    "Family",
    "build_model",
    "build_parser",
    "consistent_kwargs",
    "family_of",
    "main",
    "run",
]


class Family:
    """A model family: the models a ``train_<family>.py`` script may train.

    Args:
        models: Registered model names; the first is the default
            (:func:`zoo.default_model`).
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


def _models(family: str) -> tuple[str, ...]:
    """Models whose spec names ``family``, the family's default first."""
    default = zoo.default_model(family)
    others = [key for key in zoo.list_models() if zoo.spec(key).family == family]
    return (default, *(key for key in others if key != default))


FAMILIES: dict[str, Family] = {
    "unet": Family(
        _models("unet"),
        "synthetic",
        "128",
        "U-Net (Ronneberger et al. 2015): unet_padding (same padding, BN) or "
        "unet_original (valid padding; targets are centre-cropped to its output)",
    ),
    "vnet": Family(
        _models("vnet"),
        "synthetic",
        "128",
        "2D V-Net (Milletari et al. 2016, 2D form)",
    ),
    "vnet3d": Family(
        _models("vnet3d"),
        "synthetic3d",
        "32",
        "3D V-Nets: vnet_3d, vnet3d (bottleneck/inception) and vnet3d_depthwise",
    ),
    "unet3d": Family(
        _models("unet3d"), "synthetic3d", "32", "3D U-Net (Cicek et al. 2016)"
    ),
    "unet25d": Family(
        _models("unet25d"),
        "synthetic3d",
        "32,32,5",
        "2.5D U-Net with spatial attention on thin slabs (H, W, slices)",
    ),
    "backboned_unet": Family(
        _models("backboned_unet"),
        "synthetic",
        "128",
        "U-Nets with a keras.applications / Darknet encoder (weights=None), the "
        "branch2 variant and the two-input fine-grained U-Net (trained in "
        "parallel on whole images resized to the patch, ROIs from the masks)",
    ),
    "variants": Family(
        _models("variants"),
        "synthetic",
        "128",
        "U-Net variants: UNet++, UNet 3+, Attention U-Net, Residual U-Net, SA-UNet",
    ),
}


def family_of(model: str) -> str:
    """The family (``train_<family>.py`` script) that trains ``model``.

    Raises:
        ValueError: If no family lists the model.
    """
    for name, family in FAMILIES.items():
        if model in family.models:
            return name
    raise ValueError(f"No training script lists model {model!r}")


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
        # Without a family, the U-Net script's default model.
        default=(fam or FAMILIES["unet"]).models[0],
        choices=fam.models if fam else None,
        help="registered model name" + ("" if fam else " (see zoo.list_models())"),
    )
    model.add_argument(
        "--model-kwargs",
        default="{}",
        help="JSON keyword arguments of the builder, e.g. '{\"depth\": 4}'",
    )
    model.add_argument("--n-classes", type=int, default=1, help="output classes")
    model.add_argument(
        "--class-names",
        default=None,
        help="comma-separated names of the output channels, stored in the "
        "checkpoint (default: foreground / background,class1,...)",
    )

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
    data.add_argument(
        "--empty-ratio",
        type=float,
        default=None,
        help="fraction of training patches drawn from images with an empty mask "
        "(e.g. 0.2 for siim; default: images drawn uniformly)",
    )
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
    fit.add_argument(
        "--strategy",
        default="auto",
        choices=STRATEGIES,
        help="tf.distribute: mirrored (local GPUs), multiworker (TF_CONFIG "
        "cluster); --batch-size is the global batch (train_scripts/distribute.py)",
    )
    fit.add_argument(
        "--xla",
        default="auto",
        choices=("auto", "on", "off"),
        help="compile the training step with XLA; auto: on a GPU, and on a CPU "
        "without TensorFlow's oneDNN kernels for the models XLA trains faster "
        "there (train_scripts/hardware.py)",
    )
    add_precision_argument(
        fit,
        "Keras dtype policy: mixed_* compute in 16 bits with float32 weights, "
        "outputs and loss (mixed_float16 adds dynamic loss scaling; "
        "train_scripts/precision.py)",
    )
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
        "--run-eagerly",
        action="store_true",
        help="no graph tracing (debugging; one-step smoke runs of big graphs)",
    )
    fit.add_argument(
        "--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity"
    )
    add_preprocess_arguments(data)
    add_augment_arguments(parser)
    parser.add_argument("--out", required=True, help="run folder")
    return parser


def _patch(text: str, rank: int, flag: str = "--patch-size") -> tuple[int, ...]:
    size = parse_size(text, flag=flag)
    if len(size) == 1:
        size = size * rank
    if len(size) != rank or min(size) < 1:
        raise ValueError(
            f"{flag} needs 1 or {rank} positive values for {rank}D data. "
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

    Builder defaults that cannot fit the data are made consistent first (see
    :func:`consistent_kwargs`).

    Raises:
        ValueError: For an unknown name (valid names listed), invalid builder
            arguments, or a model with more than two inputs.
    """
    builder = zoo.get(name)
    for key in ("input_shape", "n_classes"):
        if key in model_kwargs:
            raise ValueError(
                f"Set {key} with --patch-size / --n-classes, not --model-kwargs"
            )
    classes, model_kwargs = consistent_kwargs(builder, n_classes, model_kwargs)
    try:
        model = builder((*patch_size, channels), classes, **model_kwargs)
    except TypeError as err:
        raise ValueError(
            f"Bad --model-kwargs for {name}: {err}. "
            f"Signature: {name}{inspect.signature(builder)}"
        ) from err
    if len(model.inputs) > 2:
        raise ValueError(
            f"{name} has {len(model.inputs)} inputs; the shared trainer feeds one "
            "input, or two (full image, ROI)"
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


def consistent_kwargs(
    builder, n_classes: int, model_kwargs: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The ``n_classes`` argument and keyword arguments that fit the data.

    Read from the builder's signature, not its name:

    * an ``n_classes`` whose default is a sequence (one entry per output, e.g.
      ``(big, tiny)``) gets ``--n-classes`` for the first output and the
      defaults for the others;
    * an integer ``*_channel`` argument (an output channel index, e.g.
      ``branch_channel``) left at a default outside ``[0, n_classes)`` is set
      to the last channel, ``n_classes - 1``.

    Returns:
        ``(n_classes argument, model kwargs)``.
    """
    kwargs = dict(model_kwargs)
    params = inspect.signature(builder).parameters
    default = params["n_classes"].default if "n_classes" in params else None
    classes: Any = n_classes
    if isinstance(default, Sequence) and not isinstance(default, str):
        classes = (n_classes, *default[1:])
    for key, param in params.items():
        if (
            key.endswith("_channel")
            and key not in kwargs
            and isinstance(param.default, int)
            and not isinstance(param.default, bool)
            and param.default >= n_classes
        ):
            kwargs[key] = n_classes - 1
            print(
                f"note: {key}={param.default} does not fit --n-classes {n_classes}; "
                f"using {key}={n_classes - 1}",
                file=sys.stderr,
            )
    return classes, kwargs


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
    parts = [tf.nest.map_structure(lambda t: t.numpy(), e) for e in dataset]
    stacked = tf.nest.map_structure(lambda *a: np.concatenate(a), *parts)
    return tf.data.Dataset.from_tensor_slices(stacked).batch(batch_size)


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


def _metrics(n_classes: int, *, weight_map: bool = False) -> list[keras.metrics.Metric]:
    kwargs = {} if n_classes == 1 else {"mode": "multiclass", "threshold": "argmax"}
    dice, iou = (
        (targets.WeightMapDice, targets.WeightMapIoU)
        if weight_map
        else (losses.DiceScore, losses.IoUScore)
    )
    return [dice(name="dice", **kwargs), iou(name="iou", **kwargs)]


def _class_names(text: str | None, n_classes: int) -> list[str]:
    if text is None:
        return (
            ["foreground"]
            if n_classes == 1
            else ["background", *(f"class{i}" for i in range(1, n_classes))]
        )
    names = [n.strip() for n in text.split(",")]
    if len(names) != n_classes or not all(names):
        raise ValueError(
            f"--class-names needs {n_classes} non-empty names (one per output "
            f"channel). Received: {text!r}"
        )
    return names


def _axes(rank: int, model_name: str) -> str:
    if rank == 2:
        return "HWC"
    return "HWSC" if slices_last(model_name) else "DHWC"


def _two_input_data(
    args: argparse.Namespace,
    model: keras.Model,
    train_set: ImageSet,
    val_set: ImageSet | None,
    patch: tuple[int, ...],
    augment,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Full image + ROI batches (parallel training of a two-input model).

    Whole images are resized to the model input (the patch size); the ROI is
    the square around the largest object of the foreground channels of the
    mask (:func:`data_pipelines.patches.roi_box`).
    """
    targets.two_input_keys(model)  # checks the inputs/outputs it can feed
    if len(patch) != 2:
        raise ValueError(f"{args.model} takes 2D images; the data is {len(patch)}D")
    if args.resize is not None and tuple(Preprocessing(resize=args.resize).resize) != (
        patch
    ):
        raise ValueError(
            f"{args.model} trains on whole images of the model input size: pass "
            f"--resize equal to --patch-size {patch} (or leave --resize out)"
        )
    to_input = Preprocessing(resize=patch)
    k = train_set.masks[0].shape[-1]
    roi_channels = (0,) if k == 1 else tuple(range(1, k))

    def dataset(images: ImageSet, *, shuffle: bool, aug, seed: int) -> tf.data.Dataset:
        images = to_input.apply_set(images)
        return make_two_input_dataset(
            images.images,
            images.masks,
            args.batch_size,
            roi_channels=roi_channels,
            augment=aug,
            shuffle=shuffle,
            seed=seed,
            model=model,
        )

    train_ds = dataset(train_set, shuffle=True, aug=augment, seed=args.seed).repeat()
    val_ds = None
    if val_set is not None:
        val_ds = dataset(val_set, shuffle=False, aug=None, seed=args.seed + 1)
    return train_ds, val_ds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Trains as ``args`` say; returns a summary (files, split, final scores).

    The model is built, trained and evaluated under the dtype policy of
    ``--precision`` (recorded in ``run.json``); the global policy is restored
    afterwards.

    Raises:
        ValueError, FileNotFoundError: On a bad option or missing data.
    """
    with precision_scope(args.precision):
        return _run(args)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    """The body of :func:`run`, under its dtype policy."""
    check_training_args(args)
    out = check_out_dir(args.out)
    strategy = make_strategy(args.strategy)  # before any other TF operation
    keras.utils.set_random_seed(args.seed)
    model_kwargs = parse_json_object(args.model_kwargs, flag="--model-kwargs")
    preprocessing = Preprocessing(
        channels=args.channels, clahe=args.clahe, resize=args.resize
    )
    class_names = _class_names(args.class_names, args.n_classes)
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
    check_image_sizes(dataset.names, dataset.images, patch)
    empty = empty_masks(dataset.names, dataset.masks)
    if empty:
        shown = ", ".join(empty[:10]) + (" ..." if len(empty) > 10 else "")
        warn(f"{len(empty)} of {len(dataset)} label masks are all zero: {shown}")
    augment_config = augment_options(args, rank)
    augment = make_augmenter(augment_config, rank)
    _, model_kwargs = consistent_kwargs(
        zoo.get(args.model), args.n_classes, model_kwargs
    )
    train_prepared = preprocessing.apply_set(train_set)
    val_prepared = None if val_set is None else preprocessing.apply_set(val_set)
    channels = preprocessing.n_channels(dataset.channels)
    with strategy.scope():
        model = build_model(args.model, patch, channels, args.n_classes, model_kwargs)
    check_free_space(out, training_bytes(model))
    loss = _loss(args.loss, args.n_classes)
    weight_map = isinstance(loss, losses.WeightedBCELoss)
    two_inputs = len(model.inputs) == 2
    several_outputs = len(model.outputs) > 1
    main_output = targets.main_output(model) if several_outputs else None
    if two_inputs:
        if weight_map:
            raise ValueError(
                f"--loss {args.loss} (weight maps) is not available for the "
                f"two-input {args.model}"
            )
        train_ds, val_ds = _two_input_data(
            args, model, train_prepared, val_prepared, patch, augment
        )
    else:
        target_fn = (
            targets.multi_output_adapter(model, train_set.masks[0].shape[-1])
            if several_outputs
            else _target_adapter(model, rank)
        )

        def patches(images: ImageSet, *, n: int | None, seed: int, aug):
            dataset = make_patch_dataset(
                images.images,
                images.masks,
                fov=images.fov,
                patch_size=patch,
                batch_size=args.batch_size,
                fg_ratio=args.fg_ratio,
                empty_ratio=args.empty_ratio,
                augment=aug,
                patches_per_epoch=n,
                seed=seed,
                target_fn=targets.weight_map_target if weight_map else None,
            )
            return dataset if target_fn is None else dataset.map(target_fn)

        train_ds = patches(train_prepared, n=None, seed=args.seed, aug=augment)
        val_ds = None
        if val_prepared is not None:
            val_ds = _materialize(
                patches(val_prepared, n=args.val_patches, seed=args.seed + 1, aug=None),
                args.batch_size,
            )
    metrics: Any = _metrics(args.n_classes, weight_map=weight_map)
    prefix = ""
    if several_outputs:
        loss = targets.output_losses(model, loss)
        metrics = {main_output: metrics}
        prefix = f"{main_output}_"
    monitor = args.monitor or (
        f"val_{prefix}dice" if val_ds is not None else f"{prefix}dice"
    )
    total_steps = args.epochs * args.steps_per_epoch
    with strategy.scope():
        optimizer = make_optimizer(
            args.optimizer,
            args.lr,
            schedule=args.schedule,
            total_steps=total_steps,
            warmup_steps=args.warmup_steps,
        )
    tile = (
        patch
        if args.eval_tile_size is None
        else _patch(args.eval_tile_size, rank, "--eval-tile-size")
    )
    settings = {
        "model": args.model,
        "model_kwargs": model_kwargs,
        "n_classes": args.n_classes,
        "class_names": class_names,
        "input_channels": channels,
        "axes": _axes(rank, args.model),
        "normalization": {
            "method": "unit_range" if rank == 2 else "zscore",
            **(dataset.normalization or {}),
            **intensity_stats(train_set.images),
        },
        **preprocessing.settings(),
        "tile_size": list(tile),
        "overlap": 0.5,
        "threshold": 0.5,
        "tta": False,
        "output": main_output,
    }
    config = {
        **vars(args),
        "model_kwargs": model_kwargs,
        "patch_size": list(patch),
        "augment": augment_config,
        "preprocessing": preprocessing.settings(),
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
        loss=loss,
        optimizer=optimizer,
        metrics=metrics,
        monitor=monitor,
        mode=args.mode,
        steps_per_epoch=args.steps_per_epoch,
        resume=not args.no_resume,
        early_stopping=args.early_stopping,
        tensorboard=args.tensorboard,
        reduce_on_plateau=args.schedule == "plateau",
        run_config=config,
        checkpoint_settings=settings,
        run_eagerly=args.run_eagerly,
        jit_compile={"auto": "auto", "on": True, "off": False}[args.xla],
        verbose=args.verbose,
        strategy=strategy,
    )
    seconds = time.perf_counter() - start
    summary: dict[str, Any] = {
        "out": str(out),
        "best_checkpoint": str(result.best_checkpoint),
        "last_checkpoint": str(result.last_checkpoint),
        "initial_epoch": result.initial_epoch,
        "train_seconds": round(seconds, 1),
        "history": result.history,
    }
    if not is_chief(strategy):  # the chief plots, evaluates and writes run.json
        return summary
    plot_learning_curves(result.metrics_csv, out / "learning_curves.png")
    if two_inputs and val_set is not None and not args.no_final_eval:
        print(
            f"note: no whole-image evaluation for the two-input {args.model}; "
            "predict with train_scripts.predict (serial ROI inference)",
            file=sys.stderr,
        )
    elif val_set is not None and not args.no_final_eval:
        best = keras.models.load_model(result.best_checkpoint, compile=False)
        best = targets.single_output_model(best, main_output)
        eval_tile = (
            None
            if args.eval_tile_size is None
            else _patch(args.eval_tile_size, rank, "--eval-tile-size")
        )
        if preprocessing.resize is not None:
            eval_tile = None  # resized whole images are predicted at the patch size
        best, eval_tile = model_for_tiles(best, eval_tile)
        _, scores = evaluate_model(
            best,
            val_set,
            out / "val_eval",
            tile_size=eval_tile,
            preprocess=preprocessing,
            verbose=args.verbose > 0,
        )
        summary["val_eval"] = {
            k: v for k, v in scores.items() if isinstance(v, int | float)
        }
    update_run(
        out,
        train_seconds=summary["train_seconds"],
        **({"val_eval": summary["val_eval"]} if "val_eval" in summary else {}),
    )
    return summary


def _where_stopped(out: str) -> str:
    """Which epoch the checkpoints in ``out`` hold, in words."""
    sidecar = Path(out) / "last.h5.json"
    if not sidecar.is_file():
        return f"no epoch was completed in '{out}'"
    epoch = json.loads(sidecar.read_text())["epoch"]
    return f"'{out}' holds the checkpoints of epoch {epoch} (intact)"


def main(argv: list[str] | None = None, *, family: str | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = build_parser(family)
    args = parser.parse_args(argv)
    args.precision = resolve_precision(args.precision, announce=True)
    command = f"{parser.prog} {shlex.join(sys.argv[1:] if argv is None else argv)}"
    try:
        out = check_out_dir(args.out)
        # Only the chief locks --out: a cluster's workers share the command line.
        with run_lock(out) if is_chief_task(args.strategy) else nullcontext():
            summary = run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDivergedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {_where_stopped(args.out)}; resume with: {command}")
        return 130
    except OSError as err:
        what = "the disk is full" if err.errno == errno.ENOSPC else err.strerror
        print(
            f"error: {what} ('{err.filename or args.out}'): "
            f"{_where_stopped(args.out)}; free space and resume with: {command}",
            file=sys.stderr,
        )
        return 1
    print(f"best checkpoint: {summary['best_checkpoint']}")
    if "val_eval" in summary:
        shown = {k: round(summary["val_eval"][k], 4) for k in ("dice", "iou", "auc")}
        print(f"validation images (whole, tiled): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
