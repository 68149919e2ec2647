"""Whole-image inference throughput of ``zoo.inference.predict_tiled``, and of the
same networks (PyTorch replicas) in MONAI's ``sliding_window_inference``.

Cases: a 584x565 single-channel image (a DRIVE fundus photograph's size)
through ``unet_padding`` (depth 4, filters 32) with 256² tiles, overlap 0.5,
Gaussian blending, 4 tiles per forward pass, without TTA and with the 4-flip
TTA of ``predict_tiled`` (every combination of the two spatial flips); a 128³
volume through ``unet3d`` (depth 4, filters 16) with 64³ tiles. Each case runs
in float32 and in mixed_bfloat16 (the model rebuilt by
``train_scripts.precision.model_in_precision``); MONAI runs the replica in float32
when torch and monai are installed. Warm-up calls are excluded;
the time is the median of several calls. Our model is prepared as the predict
command prepares it (batch norms folded into their convolutions), and
``predict_tiled`` runs it compiled (``predict_on_batch``). Prints a markdown
table headed by the machine and library versions.

Usage::

    python benchmarks/inference_throughput.py            # full sizes (a GPU run)
    python benchmarks/inference_throughput.py --quick    # tiny sizes, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from benchmarks.throughput_common import (  # noqa: E402
    PEER_INSTALL,
    has_module,
    machine_lines,
    median_seconds,
    ratio,
    torch_device,
    torch_params,
    torch_sync,
    torch_unet,
    torch_unet3d,
)
from train_scripts.precision import model_in_precision  # noqa: E402
from train_scripts.predict import model_for_tiles  # noqa: E402
from zoo.inference import predict_tiled  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")
# The PyTorch replica (same layers, equal trainable parameters) of each case's model.
REPLICAS = {"unet_padding": torch_unet, "unet3d": torch_unet3d}
OVERLAP = 0.5
BATCH = 4


@dataclasses.dataclass(frozen=True)
class Case:
    """One model, one image size, tile size and TTA choice."""

    label: str
    key: str
    kwargs: dict[str, Any]
    image: tuple[int, ...]
    tile: int
    tta: bool


def cases(quick: bool) -> list[Case]:
    """The benchmarked cases: full sizes, or tiny ones for a smoke test."""
    if quick:
        unet = {"depth": 2, "filters": 4}
        return [
            Case("unet_padding 2D", "unet_padding", unet, (72, 61, 1), 32, False),
            Case("unet_padding 2D", "unet_padding", unet, (72, 61, 1), 32, True),
            Case(
                "unet3d",
                "unet3d",
                {"depth": 2, "filters": 4},
                (24, 24, 24, 1),
                16,
                False,
            ),
        ]
    unet = {"depth": 4, "filters": 32}
    return [
        Case("unet_padding 2D", "unet_padding", unet, (584, 565, 1), 256, False),
        Case("unet_padding 2D", "unet_padding", unet, (584, 565, 1), 256, True),
        Case(
            "unet3d",
            "unet3d",
            {"depth": 4, "filters": 16},
            (128, 128, 128, 1),
            64,
            False,
        ),
    ]


def _image(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def keras_seconds(
    case: Case, precision: str, *, warmup: int, repeats: int
) -> tuple[float, int]:
    """Median seconds per image of ``predict_tiled``; trainable parameters.

    The model is prepared as the ``predict`` and ``evaluate`` commands prepare
    it (:func:`train_scripts.predict.model_for_tiles`: batch norms folded).
    """
    keras.backend.clear_session()
    rank = len(case.image) - 1
    model = zoo.get(case.key)((*(case.tile,) * rank, case.image[-1]), **case.kwargs)
    model = model_in_precision(model, precision)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    model, _ = model_for_tiles(model, None)
    image = _image(case.image)
    seconds = median_seconds(
        lambda: predict_tiled(
            model, image, overlap=OVERLAP, tta=case.tta, batch_size=BATCH
        ),
        warmup=warmup,
        repeats=repeats,
    )
    return seconds, params


def monai_seconds(case: Case, *, warmup: int, repeats: int) -> tuple[float, int]:
    """Median seconds per image of MONAI's sliding window with the PyTorch replica.

    Same tile, overlap, Gaussian blending (``sigma_scale`` 0.125, as
    ``predict_tiled``) and tiles per pass; TTA runs the window on each flip of
    the image and flips the prediction back (the same forward passes as
    ``predict_tiled``'s per-tile flips).
    """
    import torch
    from monai.inferers import sliding_window_inference

    device = torch_device()
    replica = REPLICAS[case.key](in_channels=case.image[-1], **case.kwargs)
    model = replica.to(device).eval()
    image = torch.from_numpy(np.moveaxis(_image(case.image), -1, 0)[None].copy())
    image = image.to(device)
    rank = len(case.image) - 1
    spatial = range(2, 2 + rank)
    flips = (
        [axes for n in range(rank + 1) for axes in itertools.combinations(spatial, n)]
        if case.tta
        else [()]
    )

    def predict() -> None:
        with torch.inference_mode():
            total = torch.zeros_like(image)
            for axes in flips:
                x = torch.flip(image, axes) if axes else image
                y = sliding_window_inference(
                    x,
                    roi_size=(case.tile,) * rank,
                    sw_batch_size=BATCH,
                    predictor=model,
                    overlap=OVERLAP,
                    mode="gaussian",
                    sigma_scale=0.125,
                )
                total += torch.flip(y, axes) if axes else y
            (total / len(flips)).cpu()
        torch_sync()

    return median_seconds(predict, warmup=warmup, repeats=repeats), torch_params(model)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny images and models, one timed call"
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="precisions to time (default: all; float16 is emulated, slowly, on CPUs)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed calls per row (5)"
    )
    parser.add_argument(
        "--no-3d", action="store_true", help="skip the 3D whole-volume case"
    )
    args = parser.parse_args(argv)
    warmup, repeats = (1, 1) if args.quick else (1, 5)
    repeats = args.repeats or repeats
    start = time.perf_counter()
    print("\n".join(machine_lines("Inference throughput (tiled, whole image)")))
    peer = has_module("torch") and has_module("monai")
    print(
        "| case | image | tile | filters | trainable params | precision | TTA "
        "| s / image | images/s | MONAI images/s | ours ÷ MONAI |"
    )
    print("|---|---|---|---:|---:|---|---|---:|---:|---:|---:|")
    for case in cases(args.quick):
        rank = len(case.image) - 1
        if args.no_3d and rank == 3:
            continue
        monai_rate = None
        if peer:
            seconds, torch_count = monai_seconds(case, warmup=warmup, repeats=repeats)
            monai_rate = 1 / seconds
        for precision in args.precisions:
            seconds, params = keras_seconds(
                case, precision, warmup=warmup, repeats=repeats
            )
            if monai_rate is not None and torch_count != params:
                raise RuntimeError(
                    f"The PyTorch replica has {torch_count:,} trainable parameters, "
                    f"{case.key} {params:,}: the replica is not the same network"
                )
            image = "x".join(str(s) for s in case.image)
            tta = f"{2**rank} flips" if case.tta else "off"
            shown = "—" if monai_rate is None else f"{monai_rate:,.2f}"
            print(
                f"| {case.label} | {image} | {case.tile}^{rank} "
                f"| {case.kwargs['filters']} | {params:,} | {precision} | {tta} "
                f"| {seconds:,.3f} | {1 / seconds:,.2f} | {shown} "
                f"| {ratio(1 / seconds, monai_rate)} |",
                flush=True,
            )
    print(
        f"\nOverlap {OVERLAP}, Gaussian blending, {BATCH} tiles per forward pass, "
        f"reflect padding; time: median of {repeats} call(s) after {warmup} warm-up "
        "call(s), from the float32 array in memory to the blended float32 "
        "probabilities on the host. MONAI runs the PyTorch replica of each model "
        "(same layers, equal trainable parameters) in float32 on "
        f"{torch_device() if peer else 'its device'}; ours ÷ MONAI is a ratio of "
        "images/s (> 1: ours faster)."
    )
    if not peer:
        print(
            "\nMONAI peer columns skipped: torch and monai are not both installed "
            f"(install them with `{PEER_INSTALL}`)."
        )
    print(f"\n(benchmark wall time {time.perf_counter() - start:,.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
