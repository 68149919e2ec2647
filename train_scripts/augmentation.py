"""Augmentation presets and switches of the training command line.

``--augment`` picks a preset; the individual flags (``--rotation``,
``--hflip``/``--no-hflip``, ``--vflip``, ``--scale``, ``--brightness``,
``--contrast``, ``--gamma``, ``--elastic``) change single entries. The result
is one flat dictionary, recorded in ``run.json`` and turned into
:class:`~data_pipelines.augment.Augmenter2D` (albumentations / OpenCV) for
images or :class:`~data_pipelines.augment.Augmenter3D` (NumPy / SciPy) for
volumes.

Presets:

* ``none``: no augmentation;
* ``light`` (default): rotation 10 degrees, shift 5 %, horizontal flip (the
  reference loader, ARCHITECTURES §13);
* ``strong``: rotation 45 degrees, shift 10 %, scale 10 %, both flips,
  brightness/contrast 0.1, gamma 0.2 (the retina notes' "gray + flip +
  rotate(45)" plus photometric jitter);
* ``elastic``: ``strong`` plus the U-Net paper's elastic deformation
  (3 x 3 control points, displacement std 10 pixels).

In 3D, ``hflip`` flips the last (width) axis and ``vflip`` the other two, and
the presets leave gamma off: volumes are z-scored, and gamma needs
non-negative intensities (an explicit ``--gamma`` on volumes is an error).
"""

from __future__ import annotations

import argparse
from typing import Any

from data_pipelines.augment import Augmenter2D, Augmenter3D

__all__ = ["PRESETS", "add_augment_arguments", "augment_options", "make_augmenter"]

_OFF = {
    "rotation": 0.0,
    "shift": 0.0,
    "scale": 0.0,
    "hflip": False,
    "vflip": False,
    "brightness": 0.0,
    "contrast": 0.0,
    "gamma": 0.0,
    "elastic": 0.0,
}
_STRONG = {
    **_OFF,
    "rotation": 45.0,
    "shift": 0.1,
    "scale": 0.1,
    "hflip": True,
    "vflip": True,
    "brightness": 0.1,
    "contrast": 0.1,
    "gamma": 0.2,
}
PRESETS: dict[str, dict[str, Any]] = {
    "none": dict(_OFF),
    "light": {**_OFF, "rotation": 10.0, "shift": 0.05, "hflip": True},
    "strong": _STRONG,
    "elastic": {**_STRONG, "elastic": 10.0},
}


def add_augment_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--augment`` and the individual switches (default: the preset's)."""
    group = parser.add_argument_group(
        "augmentation", "a preset, then single entries changed (see --augment)"
    )
    group.add_argument(
        "--augment",
        choices=tuple(PRESETS),
        default="light",
        help="preset: none; light (rot 10, shift 5%%, h-flip); strong (rot 45, "
        "shift/scale 10%%, flips, brightness/contrast 0.1, gamma 0.2); elastic "
        "(strong + elastic sigma 10)",
    )
    group.add_argument(
        "--no-augment", action="store_true", help="same as --augment none"
    )
    for flag, text in (
        ("rotation", "maximum rotation in degrees"),
        ("shift", "maximum shift (fraction of the size)"),
        ("scale", "maximum zoom fraction"),
        ("brightness", "maximum brightness offset"),
        ("contrast", "maximum contrast change (fraction)"),
        ("gamma", "maximum gamma change"),
        ("elastic", "elastic displacement std in pixels (0: off)"),
    ):
        group.add_argument(
            f"--{flag}", type=float, default=None, help=f"{text} (default: preset)"
        )
    for flag, text in (("hflip", "left-right flips"), ("vflip", "up-down flips")):
        group.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"{text} (default: preset)",
        )


def augment_options(args: argparse.Namespace, rank: int = 2) -> dict[str, Any]:
    """The preset of ``args.augment`` with the flags given on the command line.

    Raises:
        ValueError: If ``--no-augment`` is combined with an augmentation flag,
            or ``--gamma`` is given for (z-scored) volumes.
    """
    preset = "none" if args.no_augment else args.augment
    given = {k: getattr(args, k) for k in _OFF if getattr(args, k) is not None}
    if args.no_augment and given:
        raise ValueError(
            f"--no-augment contradicts --{', --'.join(given)}; use --augment none "
            "with the flags you want"
        )
    if rank == 3 and given.get("gamma"):
        raise ValueError(
            "--gamma needs non-negative intensities, but volumes are z-scored; "
            "drop --gamma for 3D data"
        )
    base = dict(PRESETS[preset])
    if rank == 3:
        base["gamma"] = 0.0
    return {"preset": preset, **base, **given}


def make_augmenter(options: dict[str, Any], rank: int):
    """The augmenter of ``options`` for ``rank``-D data, or None when all are off.

    Raises:
        ValueError: On an invalid value (negative, scale/gamma >= 1).
    """
    if all(options[k] == v for k, v in _OFF.items()):
        return None
    common = {
        "rotation": options["rotation"],
        "shift": options["shift"],
        "scale": options["scale"],
        "brightness": options["brightness"],
        "contrast": options["contrast"],
        "gamma": options["gamma"],
        "elastic_sigma": options["elastic"],
    }
    if rank == 2:
        return Augmenter2D(hflip=options["hflip"], vflip=options["vflip"], **common)
    flip_axes = (0, 1) * bool(options["vflip"]) + (2,) * bool(options["hflip"])
    return Augmenter3D(flip_axes=flip_axes, **common)
