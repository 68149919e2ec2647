"""Decathlon Task04 hippocampus: a 3D U-Net on real MRI, scored on held-out cases.

Data: the Medical Segmentation Decathlon's hippocampus task (Simpson et al.,
arXiv:1902.09063), T1 MRI crops of about 35x50x36 voxels at 1 mm, labels 0
background, 1 anterior, 2 posterior hippocampus. The 200 labelled cases are split
BY CASE with a fixed seed into 160 training, 20 validation and 20 held-out cases
(``--n-val``, ``--n-holdout``, ``--seed``; the split is written to ``run.json``).
The validation cases choose the checkpoint (lowest validation loss); the held-out
cases choose nothing and give the reported figure.

Recipe (and why):
* Model: :func:`zoo.unet3d` (Çiçek et al., MICCAI 2016), depth 4, 8 base filters
  (1.19M parameters), batch norm, transposed-conv up-sampling, softmax over 3
  classes. The volumes are small, so three poolings (receptive field larger than
  the structure) are enough, and a narrow network is what trains well within an
  hour on a 2-core CPU; nnU-Net's network for this task is also a plain 3D U-Net.
* Input: per-case z-score (nnU-Net's MRI normalisation,
  :func:`data_pipelines.msd.zscore_case`), random 40x56x40 crops (nnU-Net's patch
  size for this task) of volumes zero-padded to at least that size.
* Augmentation (3D, :class:`data_pipelines.augment.Augmenter3D`): rotations up
  to 15 degrees, scaling +-10 %, shifts, left-right flips (axis 0 is L-R here;
  the anterior/posterior labels are not mirror-symmetric along the other axes),
  brightness/contrast jitter and Gaussian noise.
* Loss: categorical cross-entropy + multi-class soft Dice
  (``losses.BCEDiceLoss(mode="multiclass")``), Adam with cosine decay; the
  committed checkpoint is two stages: 30 epochs at 2e-3 (stopped by the time
  budget after 19 on the shared CPU), then ``--init-from`` its best weights,
  12 epochs at 5e-4 (``hippocampus.sh`` runs both).
* Inference: whole volumes in one 48x64x48 tile (mirror-padded), argmax, then
  the largest connected component of each label (chosen on the validation
  cases: mean Dice 0.825 -> 0.830, anterior HD95 6.7 -> 4.7 mm with the first
  stage's checkpoint; stored in the checkpoint's settings).

Usage:
    python -m train_scripts.recipes.hippocampus \
        --data-root ../shared/data/msd_hippocampus --out runs/hippocampus
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import losses
import zoo
from data_pipelines.augment import Augmenter3D
from data_pipelines.dataset import ImageSet
from data_pipelines.msd import as_arrays, list_cases, load_msd, zscore_case
from data_pipelines.pipeline import make_patch_dataset
from losses.evaluation import per_label_scores
from train_scripts.guards import load_checkpoint
from train_scripts.plots import plot_learning_curves, save_label_slices
from train_scripts.recipes.drive import TimeBudget
from train_scripts.runs import library_versions, read_run, write_run
from train_scripts.trainer import train
from zoo.inference import predict_tiled
from zoo.postprocess import postprocess_mask
from zoo.settings import write_settings

#: The recipe's model builder (its registry key is its name).
MODEL = zoo.unet3d

REPO_ROOT = Path(__file__).resolve().parents[2]
N_CLASSES = 3
CLASS_NAMES = ("background", "anterior", "posterior")
PATCH = (40, 56, 40)
#: Training augmentation (the data benchmark times this pipeline too).
AUGMENT = Augmenter3D(
    rotation=15.0,
    shift=0.05,
    scale=0.1,
    flip_axes=(0,),
    brightness=0.1,
    contrast=0.1,
    noise_std=0.05,
)
TILE = (48, 64, 48)


def split_cases(
    names: Sequence[str], *, n_val: int, n_holdout: int, seed: int
) -> dict[str, list[str]]:
    """A by-case split: ``train`` / ``val`` / ``holdout`` names (seeded shuffle).

    Raises:
        ValueError: If the counts leave no training case.
    """
    names = sorted(names)
    if n_val < 1 or n_holdout < 0 or n_val + n_holdout >= len(names):
        raise ValueError(
            f"Cannot split {len(names)} cases into --n-val {n_val} and --n-holdout "
            f"{n_holdout} with training cases left"
        )
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    return {
        "holdout": sorted(shuffled[:n_holdout]),
        "val": sorted(shuffled[n_holdout : n_holdout + n_val]),
        "train": sorted(shuffled[n_holdout + n_val :]),
    }


def pad_to(array: np.ndarray, size: Sequence[int], background: bool) -> np.ndarray:
    """Zero-pads the spatial axes of ``(D, H, W, C)`` at the end up to ``size``.

    With ``background`` the padding of a one-hot label is class 0.
    """
    pads = [(0, max(0, s - n)) for s, n in zip(size, array.shape[:3], strict=True)]
    out = np.pad(array, [*pads, (0, 0)])
    if background:
        filled = out.sum(-1) == 0
        out[filled, 0] = 1.0
    return out


def predict_labels(
    model: keras.Model, image: np.ndarray, *, largest_component: bool = True
) -> np.ndarray:
    """Class ids ``(D, H, W)`` of a raw ``(D, H, W, C)`` case (z-scored here).

    With ``largest_component`` only the largest connected component of each
    label is kept.
    """
    probs = predict_tiled(model, zscore_case(image), tile_size=TILE, overlap=0.5)
    labels = np.argmax(probs, axis=-1).astype(np.uint8)
    if largest_component:
        labels = postprocess_mask(labels, largest_component=True).astype(np.uint8)
    return labels


def score_cases(
    model: keras.Model, cases: ImageSet, out_dir: Path | None = None
) -> dict:
    """Per-case Dice/HD95 (mm) of labels 1 and 2, their mean, and overlays."""
    rows = []
    for name, image, mask, spacing in zip(
        cases.names, cases.images, cases.masks, cases.spacing, strict=True
    ):
        pred = predict_labels(model, image)
        truth = mask.argmax(-1)
        scores = per_label_scores(truth, pred, (1, 2), spacing=spacing)
        rows.append({"case": name, **scores})
        if out_dir is not None and len(rows) <= 3:
            save_label_slices(
                out_dir / f"{name}_overlay.png",
                image,
                truth,
                pred,
                title=f"{name}: Dice anterior {scores['dice_1']:.3f}, "
                f"posterior {scores['dice_2']:.3f}",
            )
    keys = [k for k in rows[0] if k != "case"]
    return {
        "per_case": rows,
        "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys},
    }


def build_parser() -> argparse.ArgumentParser:
    """The recipe's options (defaults = the committed checkpoint's run)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default="../shared/data/msd_hippocampus")
    parser.add_argument("--out", default="runs/hippocampus")
    parser.add_argument("--n-val", type=int, default=20)
    parser.add_argument("--n-holdout", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="use the first N cases")
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=80, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument(
        "--minutes",
        type=float,
        default=55.0,
        help="safety stop: no epoch starts that would end after this many minutes",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init-from",
        default=None,
        help="start from this checkpoint's weights (a second, lower-rate stage)",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="skip training: evaluate the existing best.h5 in OUT",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Train, choose on validation, score the held-out cases; writes ``--out``."""
    args = build_parser().parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = list_cases(args.data_root)[: args.limit]
    split = split_cases(
        names, n_val=args.n_val, n_holdout=args.n_holdout, seed=args.seed
    )
    if args.evaluate_only:
        run = read_run(out)
    else:
        run = _train(args, split, out)
    model = load_checkpoint(out / "best.h5")
    write_settings(out / "best.h5", inference_settings(args.filters))
    for part in ("val", "holdout"):
        if split[part]:
            cases = load_msd(args.data_root, names=split[part], n_classes=N_CLASSES)
            run[part] = score_cases(model, cases, out if part == "holdout" else None)
    run["split"] = split
    run["settings"] = inference_settings(args.filters)
    write_run(out, run)
    for part in ("val", "holdout"):
        if part in run:
            print(part, json.dumps(run[part]["mean"]))
    return run


def inference_settings(filters: int) -> dict:
    """What ``predict`` / ``evaluate`` need to use the checkpoint as trained."""
    return {
        "task": "msd_hippocampus",
        "model": MODEL.__name__,
        "model_kwargs": {"filters": filters},
        "n_classes": N_CLASSES,
        "axes": "DHWC",
        "tile_size": list(TILE),
        "overlap": 0.5,
        "tta": False,
        "normalization": {"method": "zscore"},
        "class_names": list(CLASS_NAMES),
        "largest_component": True,
    }


def _train(args: argparse.Namespace, split: dict, out: Path) -> dict:
    train_cases = load_msd(args.data_root, names=split["train"], n_classes=N_CLASSES)
    val_cases = load_msd(args.data_root, names=split["val"], n_classes=N_CLASSES)
    images, masks = as_arrays(train_cases, labels="onehot")
    images = [pad_to(a, PATCH, False) for a in images]
    masks = [pad_to(a, PATCH, True) for a in masks]
    train_ds = make_patch_dataset(
        images,
        masks,
        patch_size=PATCH,
        batch_size=args.batch_size,
        fg_ratio=None,
        augment=AUGMENT,
        patches_per_epoch=None,
        seed=args.seed,
    )
    val_images, val_masks = as_arrays(val_cases, labels="onehot")
    val_x = np.stack([pad_to(a, TILE, False) for a in val_images])
    val_y = np.stack([pad_to(a, TILE, True) for a in val_masks])
    val_ds = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(4).cache()

    model = MODEL((None, None, None, 1), N_CLASSES, filters=args.filters)
    if args.init_from:
        model.load_weights(args.init_from)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr, args.epochs * args.steps, alpha=0.02
    )
    start = time.perf_counter()
    result = train(
        model,
        train_ds,
        val_ds,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        out_dir=out,
        loss=losses.BCEDiceLoss(mode="multiclass"),
        optimizer=keras.optimizers.Adam(schedule),
        monitor="val_loss",
        mode="min",
        callbacks=[TimeBudget(args.minutes)],
        verbose=2,
    )
    plot_learning_curves(result.metrics_csv, out / "learning_curves.png")
    return {
        "recipe": "hippocampus",
        "config": vars(args),
        "model": {
            "name": MODEL.__name__,
            "kwargs": {"filters": args.filters, "n_classes": N_CLASSES},
            "params": model.count_params(),
        },
        "epochs_run": len(result.history["loss"]),
        "train_seconds": round(time.perf_counter() - start, 1),
        "versions": library_versions(),
    }


if __name__ == "__main__":
    main()
