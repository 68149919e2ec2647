"""Patches per second of the DRIVE training pipeline with augmentation, 1 and 2 cores.

Each (augmentation, cores) setting runs in a fresh subprocess pinned to that many CPU
cores (``os.sched_setaffinity``) with TensorFlow's inter/intra-op pools and the
dataset's private thread pool set to the same size. Prints a markdown table and the
command, and writes both to ``benchmarks/data_throughput.md``.

    python benchmarks/data_throughput.py [--data-root ../shared/data/drive]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "drive"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "data_throughput.md"

AUGMENTATIONS = {
    "reference (rot 10°, shift 5 %, h-flip, reflect)": {},
    "full (+ v-flip, scale, photometric, noise, elastic σ=10)": {
        "vflip": True,
        "scale": 0.1,
        "brightness": 0.1,
        "contrast": 0.1,
        "gamma": 0.2,
        "noise_std": 0.02,
        "elastic_sigma": 10.0,
    },
}


def _worker(args: argparse.Namespace) -> None:
    """Measures one setting; prints a JSON line with the result."""
    cores = args.worker_cores
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:cores])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(cores)
    tf.config.threading.set_intra_op_parallelism_threads(cores)
    sys.path.insert(0, str(REPO_ROOT))
    from data_pipelines.augment import Augmenter2D
    from data_pipelines.pipeline import make_patch_dataset
    from data_pipelines.readers import load_drive

    drive = load_drive(args.data_root)
    dataset = make_patch_dataset(
        drive.images,
        drive.masks,
        fov=drive.fov,
        patch_size=(args.patch, args.patch),
        batch_size=args.batch,
        fg_ratio=0.5,
        augment=Augmenter2D(**AUGMENTATIONS[args.worker_augment]),
        # Finite, and read to the end: no tf.data thread is still calling Python
        # when the interpreter exits.
        patches_per_epoch=(args.warmup + args.batches) * args.batch,
        seed=0,
        threads=cores,
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
    print(json.dumps({"patches_per_s": args.batches * args.batch / elapsed}))


def _run_setting(args: argparse.Namespace, augment: str, cores: int) -> float:
    command = [
        sys.executable,
        __file__,
        "--data-root",
        str(args.data_root),
        "--patch",
        str(args.patch),
        "--batch",
        str(args.batch),
        "--batches",
        str(args.batches),
        "--warmup",
        str(args.warmup),
        "--worker-cores",
        str(cores),
        "--worker-augment",
        augment,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Benchmark worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["patches_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=40, help="timed batches")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker-cores", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-augment", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_cores is not None:
        _worker(args)
        return
    if not (args.data_root / "training" / "images").is_dir():
        parser.error(f"DRIVE not found under --data-root '{args.data_root}'")
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    rows = []
    for augment in AUGMENTATIONS:
        for cores in args.cores:
            if available and cores > available:
                print(f"skipping {cores} cores: only {available} available")
                continue
            rate = _run_setting(args, augment, cores)
            rows.append(f"| {augment} | {cores} | {rate:,.0f} |")
    command = "python " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(__file__, REPO_ROOT), *sys.argv[1:]]
    )
    report = "\n".join(
        [
            f"DRIVE training patches, {args.patch}x{args.patch}x3, batch {args.batch}, "
            f"fg_ratio 0.5, FOV-restricted; {args.batches} timed batches after "
            f"{args.warmup} warm-up batches; `make_patch_dataset`, one process per "
            f"row pinned to that many cores (load average {os.getloadavg()[0]:.1f} "
            "while measuring: the machine was shared, so treat as lower bounds), "
            f"on "
            f"{platform.processor() or platform.machine()}, TensorFlow "
            f"{_tf_version()}.",
            "",
            "| augmentation | cores | patches/s |",
            "|---|---:|---:|",
            *rows,
            "",
            f"Command (from the repository root): `{command}`",
            "",
        ]
    )
    print(report)
    args.output.write_text(report)


def _tf_version() -> str:
    from importlib.metadata import version

    return version("tensorflow")


if __name__ == "__main__":
    main()
