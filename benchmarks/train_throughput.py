"""Training throughput of zoo models: float32, float32 + XLA, mixed_bfloat16, and
the same 2D U-Net in PyTorch (eager and ``torch.compile``) when it is installed.

Each setting trains through ``model.fit`` (the trainer's path) on one cached
in-memory batch repeated by ``tf.data``, with Adam and ``losses.get("bce_dice")``;
warm-up steps (tracing, XLA compilation) are excluded and the step time is the
median of several timed ``fit`` calls; the settings of one model take turns
(A B A B ...), so that a slow spell of a shared machine hits them alike. The
achieved rate is compared with a float32 ``tf.linalg.matmul`` measured in the
same run. Prints a markdown table headed by the machine and library versions.

Usage::

    python benchmarks/train_throughput.py            # full sizes (a GPU run)
    python benchmarks/train_throughput.py --quick    # tiny models, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import losses  # noqa: E402
import zoo  # noqa: E402
from benchmarks.model_cost import model_flops  # noqa: E402
from benchmarks.throughput_common import (  # noqa: E402
    PEER_INSTALL,
    fit_timer,
    has_module,
    machine_lines,
    matmul_gflops,
    ratio,
    step_timer,
    torch_bce_dice,
    torch_device,
    torch_params,
    torch_sync,
    torch_unet,
)
from train_scripts.hardware import xla_by_default  # noqa: E402
from train_scripts.precision import precision_scope  # noqa: E402

# (label, precision, jit_compile, fused batch norm) of each Keras setting; the
# trainer trains batch normalization with the fused kernel by default, but not
# under XLA (train_scripts.fused_norm), the "Keras BN" row with Keras's own code.
SETTINGS = (
    ("float32", "float32", False, True),
    ("float32, Keras BN", "float32", False, False),
    ("float32 + XLA", "float32", True, False),
    ("mixed_bfloat16", "mixed_bfloat16", False, True),
)


@dataclasses.dataclass(frozen=True)
class Case:
    """One model at one input size and batch."""

    label: str
    key: str
    input_shape: tuple[int, ...]
    kwargs: dict[str, Any]
    batch: int


def cases(quick: bool) -> list[Case]:
    """The benchmarked models: full sizes, or the registry's tiny ones."""
    if quick:
        return [
            Case(
                "unet_padding",
                "unet_padding",
                (32, 32, 1),
                {"depth": 2, "filters": 4},
                2,
            ),
            *(
                Case(key, key, zoo.spec(key).tiny["input_shape"], _tiny_kwargs(key), 2)
                for key in ("sa_unet", "unet3d", "vnet_3d", "vnet3d")
            ),
        ]
    return [
        Case(
            "unet_padding",
            "unet_padding",
            (256, 256, 1),
            {"depth": 4, "filters": 32},
            4,
        ),
        Case("sa_unet (DRIVE patches)", "sa_unet", (64, 64, 3), {"filters": 16}, 32),
        Case("unet3d", "unet3d", (64, 64, 64, 1), {}, 2),
        Case("vnet_3d", "vnet_3d", (64, 64, 64, 1), {}, 2),
        Case("vnet3d", "vnet3d", (64, 64, 64, 1), {}, 2),
    ]


def _tiny_kwargs(key: str) -> dict[str, Any]:
    return {k: v for k, v in zoo.spec(key).tiny.items() if k != "input_shape"}


def _batch(shape: tuple[int, ...], batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = (rng.random((batch, *shape[:-1], 1)) > 0.5).astype(np.float32)
    return x, y


def keras_timer(
    case: Case, precision: str, xla: bool, fused: bool, *, warmup: int, steps: int
) -> tuple[Callable[[], float], int, int]:
    """A timer of one ``fit`` call (seconds per step), trainable params, forward
    FLOPs per sample."""
    with precision_scope(precision):
        model = zoo.get(case.key)(case.input_shape, **case.kwargs)
    timed = fit_timer(
        model,
        *_batch(case.input_shape, case.batch),
        loss=losses.get("bce_dice"),
        warmup=warmup,
        steps=steps,
        jit_compile=xla,
        fused_norm=fused,
    )
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return timed, params, model_flops(model)


def torch_timers(
    case: Case, modes: tuple[str, ...], *, warmup: int, steps: int
) -> tuple[int, dict[str, Callable[[], float] | str]]:
    """The PyTorch replica's trainable params and, per mode, a timer of ``steps``
    training steps (seconds per step) or an error message.

    ``modes`` holds ``"eager"`` and/or ``"torch.compile"``; a failed
    compilation (no C++ compiler for the CPU backend, say) gives its error
    message instead of a timer.
    """
    import torch

    device = torch_device()
    channels = case.input_shape[-1]
    x, y = _batch(case.input_shape, case.batch)
    x = torch.from_numpy(np.moveaxis(x, -1, 1).copy()).to(device)
    y = torch.from_numpy(np.moveaxis(y, -1, 1).copy()).to(device)
    timers: dict[str, Callable[[], float] | str] = {}
    params = 0
    for mode in modes:
        torch.manual_seed(0)
        model = torch_unet(in_channels=channels, **case.kwargs).to(device).train()
        params = torch_params(model)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        forward = torch.compile(model) if mode == "torch.compile" else model

        def run(n: int, forward=forward, optimizer=optimizer) -> None:
            for _ in range(n):
                optimizer.zero_grad(set_to_none=True)
                loss = torch_bce_dice(forward(x), y)
                loss.backward()
                optimizer.step()
            loss.item()
            torch_sync()

        try:
            run(warmup)
        except Exception as err:  # noqa: BLE001 - inductor/compiler errors vary
            timers[mode] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            continue
        timers[mode] = step_timer(run, steps)
    return params, timers


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints the tables; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: tiny models, one timed step; every setting for the 2D "
        "U-Net only, float32 for the others; no torch.compile",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="KEY",
        help="only these registry keys (default: all of the table; the PyTorch "
        "peer runs when unet_padding is among them)",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="steps per timed fit call (20)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed fit calls per setting (5)"
    )
    parser.add_argument(
        "--settings",
        nargs="+",
        choices=[label for label, *_ in SETTINGS],
        default=None,
        help="Keras settings to time (default: all)",
    )
    args = parser.parse_args(argv)
    warmup, repeats, steps = (1, 2, 1) if args.quick else (3, 5, 20)
    repeats, steps = args.repeats or repeats, args.steps or steps
    chosen = [
        case
        for case in cases(args.quick)
        if args.models is None or case.key in args.models
    ]
    keras_settings = [
        s for s in SETTINGS if args.settings in (None, []) or s[0] in args.settings
    ]
    start = time.perf_counter()
    print("\n".join(machine_lines("Training throughput")))
    matmul = matmul_gflops(512 if args.quick else 2048, repeats=2 if args.quick else 5)
    print(f"float32 matmul ({512 if args.quick else 2048}²): {matmul:,.0f} GFLOP/s\n")
    print(
        "| model | input | batch | trainable params | setting | step (ms) "
        "| samples/s | GFLOP/s | of f32 matmul |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    rates: dict[tuple[str, str], float] = {}
    failures = []
    modes = ("eager",) if args.quick else ("eager", "torch.compile")
    peer_results = None
    for index, case in enumerate(chosen):
        shape = "x".join(str(s) for s in case.input_shape)
        settings = keras_settings[:1] if args.quick and index else keras_settings
        keras.backend.clear_session()
        timers = {}
        for label, precision, xla, fused in settings:
            try:
                timers[label] = keras_timer(
                    case, precision, xla, fused, warmup=warmup, steps=steps
                )
            except Exception as err:  # noqa: BLE001 - report and go on
                failures.append(f"{case.label}, {label}: {type(err).__name__}: {err}")
                print(
                    f"| {case.label} | {shape} | {case.batch} | — | {label} | failed "
                    f"({len(failures)}) | — | — | — |"
                )
        peer = None
        if index == 0 and case.key == "unet_padding" and has_module("torch"):
            peer = torch_timers(case, modes, warmup=warmup, steps=steps)
        turns = {("keras", label): timed for label, (timed, _, _) in timers.items()}
        if peer is not None:
            turns |= {("torch", m): t for m, t in peer[1].items() if callable(t)}
        # Every setting (and the PyTorch peer) takes turns, A B A B ..., so that a
        # slow spell of the machine hits all alike.
        times = {key: [] for key in turns}
        for _ in range(repeats):
            for key, timed in turns.items():
                times[key].append(timed())
        # The trainer's default float32 path for this model on this machine.
        model = zoo.get(case.key)(case.input_shape, **case.kwargs)
        default = "float32 + XLA" if xla_by_default(model) else "float32"
        for label, (_, params, flops) in timers.items():
            step = statistics.median(times[("keras", label)])
            rate = case.batch / step
            rates[(case.label, label)] = rate
            achieved = 3 * flops * case.batch / step / 1e9
            shown = f"**{label}** (default)" if label == default else label
            print(
                f"| {case.label} | {shape} | {case.batch} | {params:,} | {shown} "
                f"| {step * 1e3:,.1f} | {rate:,.1f} | {achieved:,.1f} "
                f"| {achieved / matmul:.1%} |",
                flush=True,
            )
        if peer is not None:
            peer_results = (
                peer[0],
                {
                    mode: statistics.median(times[("torch", mode)])
                    if callable(t)
                    else t
                    for mode, t in peer[1].items()
                },
            )
    print(
        "\nsamples = images (2D) or volumes (3D). FLOPs: analytic forward FLOPs of "
        "benchmarks/model_cost.py (multiply-add = 2, convolutions only), x3 for a "
        "training step (forward + two backward products), x batch; the fraction is "
        "of the float32 matmul rate above, also for mixed_bfloat16. float32 is "
        '`jit_compile=False`; the trainer\'s default `jit_compile="auto"` is XLA on '
        "a GPU, and on a CPU without TensorFlow's oneDNN kernels (machine line) for "
        "the 2D U-Nets XLA trains faster there (train_scripts/hardware.py); the "
        "row marked (default) is the trainer's path here. Step: median of "
        f"{repeats} `model.fit` calls of {steps} step(s) after {warmup} warm-up "
        "step(s), each call's own overhead included; the settings of a model (and "
        "the PyTorch peer) take turns."
    )
    for i, failure in enumerate(failures, start=1):
        print(f"({i}) {failure}")
    if chosen and chosen[0].key == "unet_padding":
        _peer(chosen[0], rates, peer_results)
    print(f"\n(benchmark wall time {time.perf_counter() - start:,.0f} s)")
    return 0


def _peer(
    case: Case,
    rates: dict,
    results: tuple[int, dict[str, float | str]] | None,
) -> None:
    """The PyTorch table for the 2D U-Net, or a line saying it was skipped.

    ``results``: the replica's trainable params and seconds per step (or an
    error) per mode; None when torch is not installed.
    """
    if results is None:
        print(
            "\nPyTorch peer columns skipped: torch is not installed "
            f"(install it with `{PEER_INSTALL}`)."
        )
        return
    params, results = results
    keras_params = zoo.get(case.key)(case.input_shape, **case.kwargs)
    expected = sum(int(np.prod(w.shape)) for w in keras_params.trainable_weights)
    if params != expected:
        raise RuntimeError(
            f"The PyTorch replica has {params:,} trainable parameters, "
            f"{case.key} {expected:,}: the replica is not the same network"
        )
    print(
        f"\nPyTorch replica of {case.label} ({params:,} trainable parameters, equal "
        f"to Keras), device {torch_device()}, batch {case.batch}, Adam, BCE + Dice; "
        "ratios are Keras samples/s ÷ PyTorch samples/s (> 1: Keras faster)."
    )
    labels = [label for label, *_ in SETTINGS]
    print(
        "\n| PyTorch | step (ms) | samples/s | "
        + " | ".join(f"{label} ÷ this" for label in labels)
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * len(labels))
    for mode, value in results.items():
        if isinstance(value, str):
            print(f"| {mode} | failed: {value} | — |" + " — |" * len(labels))
            continue
        rate = case.batch / value
        cells = " | ".join(
            ratio(rates.get((case.label, label)), rate) for label in labels
        )
        print(f"| {mode} | {value * 1e3:,.1f} | {rate:,.1f} | {cells} |")


if __name__ == "__main__":
    sys.exit(main())
