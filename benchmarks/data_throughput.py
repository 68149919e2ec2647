"""Input pipeline against the training step it feeds: 2D patches and 3D volumes.

For each dataset and augmentation the benchmark measures, in fresh subprocesses:

* the pipeline's rate (``make_patch_dataset`` with that augmentation, read as fast
  as it goes, no model), pinned to 1 and to 2 CPU cores (``os.sched_setaffinity``,
  TensorFlow's pools and the dataset's thread pool of the same size);
* the rate at which the model of the matching recipe *consumes* samples
  (``model.fit`` steps on a fixed batch, all cores), in float32 and in
  mixed_bfloat16 (the DRIVE recipe's training precision);

and prints the ratio of the faster pipeline rate to the faster training rate: the
issue asks for at least 5x, so that augmentation never starves the trainer.

Datasets: DRIVE training images (the DRIVE recipe's 64x64 RGB patches, batch 32,
FOV-restricted, ``zoo.sa_unet`` filters 16) and the Decathlon hippocampus volumes
(the hippocampus recipe's 40x56x40 crops of z-scored volumes, batch 2, one-hot 3
classes, ``zoo.unet3d`` filters 8). Augmentations: the command line's presets
(``light`` is the default) and each recipe's own.

    python benchmarks/data_throughput.py [--data-root ../shared/data] [--quick]

Writes the table and the command to ``benchmarks/data_throughput.md`` as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "data_throughput.md"
PRECISIONS = ("float32", "mixed_bfloat16")
TARGET = 5.0


@dataclasses.dataclass(frozen=True)
class Setting:
    """One dataset and one augmentation (a CLI preset or ``"recipe"``)."""

    data: str
    augment: str

    @property
    def label(self) -> str:
        return {
            "drive": "DRIVE 2D, 64x64x3, batch 32",
            "hippocampus": "hippocampus 3D, 40x56x40x1, batch 2",
        }[self.data]


SETTINGS = [
    *(Setting("drive", a) for a in ("light", "strong", "elastic", "recipe")),
    *(Setting("hippocampus", a) for a in ("light", "strong", "recipe")),
]
QUICK_SETTINGS = [Setting("drive", "light"), Setting("hippocampus", "recipe")]


def _pin(cores: int | None) -> None:
    """Pins this process to ``cores`` CPUs (all when None) and sizes TF's pools."""
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if cores:
        tf.config.threading.set_inter_op_parallelism_threads(cores)
        tf.config.threading.set_intra_op_parallelism_threads(cores)


def _preset(name: str, rank: int):
    """The augmenter ``--augment NAME`` gives the training command for ``rank``-D."""
    from train_scripts.augmentation import (
        add_augment_arguments,
        augment_options,
        make_augmenter,
    )

    parser = argparse.ArgumentParser()
    add_augment_arguments(parser)
    return make_augmenter(
        augment_options(parser.parse_args(["--augment", name]), rank), rank
    )


def _source(setting: Setting, data_root: Path, volumes: int) -> dict:
    """Arrays, patch size, batch, augmenter and consuming model of a setting."""
    import losses
    from train_scripts.recipes import drive, hippocampus

    if setting.data == "drive":
        from data_pipelines.layouts import load_drive

        images = load_drive(data_root / "drive", "training")
        augment = (
            drive.AUGMENT
            if setting.augment == "recipe"
            else _preset(setting.augment, 2)
        )
        return {
            "images": images.images,
            "masks": images.masks,
            "fov": images.fov,
            "patch": (64, 64),
            "batch": 32,
            "augment": augment,
            "model": lambda: drive.MODEL((64, 64, 3), 1, filters=16),
            "loss": lambda: losses.get("bce_dice"),
        }
    from data_pipelines.msd import as_arrays, list_cases, load_msd

    root = data_root / "msd_hippocampus"
    names = list_cases(root)[:volumes]
    images, masks = as_arrays(
        load_msd(root, names=names, n_classes=hippocampus.N_CLASSES), labels="onehot"
    )
    patch = hippocampus.PATCH
    augment = (
        hippocampus.AUGMENT
        if setting.augment == "recipe"
        else _preset(setting.augment, 3)
    )
    return {
        "images": [hippocampus.pad_to(a, patch, False) for a in images],
        "masks": [hippocampus.pad_to(a, patch, True) for a in masks],
        "fov": None,
        "patch": patch,
        "batch": 2,
        "augment": augment,
        "model": lambda: hippocampus.MODEL(
            (*patch, 1), hippocampus.N_CLASSES, filters=8
        ),
        "loss": lambda: losses.BCEDiceLoss(mode="multiclass"),
    }


def _pipeline_worker(args: argparse.Namespace, setting: Setting) -> float:
    """Samples per second of the augmented patch pipeline alone."""
    from data_pipelines.pipeline import make_patch_dataset

    source = _source(setting, args.data_root, args.volumes)
    batch = source["batch"]
    dataset = make_patch_dataset(
        source["images"],
        source["masks"],
        fov=source["fov"],
        patch_size=source["patch"],
        batch_size=batch,
        fg_ratio=None,
        augment=source["augment"],
        # Finite, and read to the end: no tf.data thread is still calling Python
        # when the interpreter exits.
        patches_per_epoch=(args.warmup + args.batches) * batch,
        seed=0,
        threads=args.worker_cores,
    )
    iterator = iter(dataset)
    for _ in range(args.warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    for _ in iterator:
        pass
    return args.batches * batch / elapsed


def _training_worker(args: argparse.Namespace, setting: Setting) -> float:
    """Samples per second that ``model.fit`` consumes (fixed batch in memory)."""
    import numpy as np

    from benchmarks.throughput_common import fit_step_seconds
    from train_scripts.precision import precision_scope

    source = _source(setting, args.data_root, args.volumes)
    batch = source["batch"]
    window = tuple(slice(0, p) for p in source["patch"])
    x = np.stack([a[window] for a in source["images"][:batch]])
    y = np.stack([a[window] for a in source["masks"][:batch]])
    with precision_scope(args.worker_precision):
        model = source["model"]()
    seconds = fit_step_seconds(
        model,
        x,
        y,
        loss=source["loss"](),
        warmup=args.warmup,
        repeats=1,
        steps=args.train_steps,
    )
    return batch / seconds


def _run_worker(args: argparse.Namespace, setting: Setting, **extra: str) -> float:
    command = [
        sys.executable,
        __file__,
        "--data-root",
        str(args.data_root),
        "--batches",
        str(args.batches),
        "--warmup",
        str(args.warmup),
        "--train-steps",
        str(args.train_steps),
        "--volumes",
        str(args.volumes),
        "--worker-setting",
        f"{setting.data}:{setting.augment}",
    ]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", value]
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=1800
    )
    if result.returncode != 0:
        raise RuntimeError(f"Benchmark worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["per_s"]


def _worker(args: argparse.Namespace) -> None:
    data, augment = args.worker_setting.split(":")
    setting = Setting(data, augment)
    if args.worker_precision:
        _pin(None)
        rate = _training_worker(args, setting)
    else:
        _pin(args.worker_cores)
        rate = _pipeline_worker(args, setting)
    print(json.dumps({"per_s": rate}))


def main(argv: list[str] | None = None) -> int:
    """Runs every setting and prints (and writes) the table; returns the status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batches", type=int, default=20, help="timed batches")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches/steps")
    parser.add_argument("--train-steps", type=int, default=10, help="timed fit steps")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=("drive", "hippocampus"),
        default=["drive", "hippocampus"],
        help="which pipelines to time",
    )
    parser.add_argument(
        "--volumes", type=int, default=40, help="hippocampus cases read (first N)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two settings, a few batches, training in float32 only (a test)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker-setting", help=argparse.SUPPRESS)
    parser.add_argument("--worker-cores", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-precision", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_setting:
        _worker(args)
        return 0
    from benchmarks.throughput_common import machine_lines

    for folder in ("drive/training/images", "msd_hippocampus/imagesTr"):
        if not (args.data_root / folder).is_dir():
            parser.error(f"{folder} not found under --data-root '{args.data_root}'")
    settings = [s for s in SETTINGS if s.data in args.datasets]
    if args.quick:
        settings = QUICK_SETTINGS
        args.batches, args.warmup, args.train_steps, args.cores = 2, 1, 1, [1]
        args.volumes = 4
    precisions = PRECISIONS[:1] if args.quick else PRECISIONS
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    cores = [c for c in args.cores if not available or c <= available]
    start = time.perf_counter()
    print("\n".join(machine_lines("Input pipeline throughput")), flush=True)
    consumes: dict[str, dict[str, float]] = {}
    rows = []
    for setting in settings:
        if setting.data not in consumes:
            consumes[setting.data] = {
                p: _run_worker(args, setting, worker_precision=p) for p in precisions
            }
        pipeline = {c: _run_worker(args, setting, worker_cores=str(c)) for c in cores}
        train = consumes[setting.data]
        ratio = max(pipeline.values()) / max(train.values())
        verdict = "" if ratio >= TARGET else f" (below {TARGET:g}x)"
        rows.append(
            f"| {setting.label} | {setting.augment} | "
            + " | ".join(f"{pipeline[c]:,.1f}" for c in cores)
            + "".join(
                f" | {train[p]:,.1f}" if p in train else " | —" for p in PRECISIONS
            )
            + f" | {ratio:,.1f}x{verdict} |"
        )
        print(rows[-1], flush=True)
    command = "python " + " ".join(
        shlex.quote(a)
        for a in [os.path.relpath(__file__, REPO_ROOT), *(argv or sys.argv[1:])]
    )
    pipeline_columns = " | ".join(
        f"pipeline, {c} core{'s' * (c > 1)} (samples/s)" for c in cores
    )
    report = "\n".join(
        [
            "",
            f"Input pipeline vs training (load average {os.getloadavg()[0]:.1f} "
            f"at the end; {args.batches} timed batches after {args.warmup} warm-up "
            f"ones; training: {args.train_steps} timed `fit` steps on all cores):",
            "",
            f"| data | augmentation | {pipeline_columns} | training float32 "
            "(samples/s) | training mixed_bfloat16 (samples/s) "
            "| best pipeline ÷ fastest training |",
            "|---|---|" + "---:|" * (len(cores) + 3),
            *rows,
            "",
            f"Command (from the repository root): `{command}` "
            f"({time.perf_counter() - start:,.0f} s)",
            "",
        ]
    )
    print(report)
    if not args.quick:
        args.output.write_text(report.lstrip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
