"""Image preprocessing shared by training, prediction and evaluation.

The classic retina pipeline (DRIVE design notes) converts the colour fundus
image to grey (or keeps the green channel, where vessels contrast best),
equalises it with CLAHE and may train on whole images resized to a fixed
size. :class:`Preprocessing` holds these choices; the trainer stores them in
the checkpoint (:mod:`zoo.settings`) and ``predict`` / ``evaluate`` read them
back, so a checkpoint always sees images prepared as in training.

2D only: volumes are z-scored by :func:`train_scripts.data.prepare_volume`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

__all__ = [
    "CHANNELS",
    "Preprocessing",
    "add_preprocess_arguments",
    "parse_resize",
    "preprocessing_from",
]

CHANNELS = ("gray", "green", "rgb")


def parse_resize(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"584,565"`` or ``[584, 565]`` -> ``(584, 565)``; one value is square.

    Raises:
        ValueError: If it is not one or two positive integers.
    """
    if text is None:
        return None
    try:
        parts = [int(t) for t in (text.split(",") if isinstance(text, str) else text)]
    except ValueError as err:
        raise ValueError(f"--resize needs H,W integers. Received: {text!r}") from err
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise ValueError(f"--resize needs 1 or 2 positive integers. Received: {text!r}")
    return parts[0], parts[1]


def add_preprocess_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    inference: bool = False,
) -> None:
    """Adds ``--channels``, ``--clahe`` and ``--resize``.

    With ``inference``, every default is None: the checkpoint's stored choice
    applies unless a flag overrides it (``--no-clahe`` switches CLAHE off).
    """
    source = " (default: the checkpoint's)" if inference else ""
    parser.add_argument(
        "--channels",
        choices=CHANNELS,
        default=None,
        help="convert 2D images: gray, green (green channel of RGB) or rgb "
        f"(default: as read){source}",
    )
    parser.add_argument(
        "--clahe",
        action=argparse.BooleanOptionalAction if inference else "store_true",
        default=None if inference else False,
        help=f"CLAHE contrast equalisation (clip 2, 8x8 tiles){source}",
    )
    parser.add_argument(
        "--resize",
        default=None,
        metavar="H,W",
        help="resize whole 2D images to H,W (whole-image training; predictions "
        f"are resized back){source}",
    )


def preprocessing_from(
    args: argparse.Namespace, settings: Mapping[str, Any]
) -> Preprocessing:
    """The checkpoint's preprocessing, with the flags given in ``args`` applied."""
    stored = Preprocessing.from_settings(settings)
    clahe = getattr(args, "clahe", None)
    return Preprocessing(
        channels=getattr(args, "channels", None) or stored.channels,
        clahe=stored.clahe if clahe is None else clahe,
        resize=getattr(args, "resize", None) or stored.resize,
    )


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Channel conversion, CLAHE and resizing of 2D images in ``[0, 1]``.

    Args:
        channels: ``"gray"`` (luminance), ``"green"`` (green channel of RGB),
            ``"rgb"`` (grey images are repeated to 3 channels) or None (as
            read). Defaults to None.
        clahe: Contrast-limited adaptive histogram equalisation (OpenCV, clip
            limit 2, 8 x 8 tiles) of every channel. Defaults to False.
        resize: ``(H, W)`` the whole image is resized to (bilinear; masks
            nearest) or None. Defaults to None.

    Raises:
        ValueError: On an unknown ``channels`` value or a bad ``resize``.
    """

    channels: str | None = None
    clahe: bool = False
    resize: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        """Checks ``channels`` and normalises ``resize`` to ``(H, W)``."""
        if self.channels is not None and self.channels not in CHANNELS:
            raise ValueError(
                f"`channels` must be one of {CHANNELS} or None. "
                f"Received: channels={self.channels!r}"
            )
        object.__setattr__(self, "resize", parse_resize(self.resize))

    @property
    def active(self) -> bool:
        """Whether anything changes the images."""
        return bool(self.channels or self.clahe or self.resize)

    def n_channels(self, channels: int) -> int:
        """Channels of a preprocessed image that had ``channels``."""
        return {"gray": 1, "green": 1, "rgb": 3}.get(self.channels or "", channels)

    def image(self, image: np.ndarray, *, name: str = "image") -> np.ndarray:
        """Channel conversion and CLAHE of one ``(H, W, C)`` image (not resized).

        Raises:
            ValueError: If the conversion does not fit the image (``green`` of
                a one-channel image, a volume); ``name`` is in the message.
        """
        if not self.channels and not self.clahe:
            return image
        if image.ndim != 3:
            raise ValueError(
                f"--channels/--clahe preprocess 2D (H, W, C) images; {name} has "
                f"shape {image.shape}"
            )
        c = image.shape[-1]
        if self.channels == "gray" and c == 3:
            gray = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
            image = gray[..., None]
        elif self.channels == "green":
            if c != 3:
                raise ValueError(
                    f"--channels green needs an RGB image; {name} has {c} channel(s)"
                )
            image = image[..., 1:2]
        elif self.channels == "rgb" and c == 1:
            image = np.repeat(image, 3, axis=-1)
        elif self.channels and c != self.n_channels(c):
            raise ValueError(
                f"--channels {self.channels} cannot convert {name} with {c} channels"
            )
        if self.clahe:
            clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
            as_uint8 = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
            image = np.stack(
                [clahe.apply(as_uint8[..., k]) for k in range(image.shape[-1])], -1
            ).astype(np.float32) / np.float32(255)
        return image.astype(np.float32)

    def resize_to(
        self, array: np.ndarray, size: Sequence[int], *, nearest: bool = False
    ) -> np.ndarray:
        """Resizes ``(H, W, C)`` to ``size = (H', W')``, keeping the channels."""
        height, width = int(size[0]), int(size[1])
        out = cv2.resize(
            np.ascontiguousarray(array, dtype=np.float32),
            (width, height),
            interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
        )
        return out.reshape(height, width, array.shape[-1])

    def prepare(self, image: np.ndarray, *, name: str = "image") -> np.ndarray:
        """:meth:`image` followed by the resize (what the model is fed)."""
        image = self.image(image, name=name)
        return image if self.resize is None else self.resize_to(image, self.resize)

    def apply_set(self, image_set):
        """An :class:`~train_scripts.data.ImageSet` preprocessed and resized.

        Raises:
            ValueError: For volumes (2D only) or an unfitting conversion.
        """
        if not self.active:
            return image_set
        if image_set.rank != 2:
            raise ValueError(
                "--channels/--clahe/--resize apply to 2D images; "
                f"dataset {image_set.kind!r} holds volumes"
            )
        images = [
            self.prepare(x, name=f"image {n!r}")
            for x, n in zip(image_set.images, image_set.names, strict=True)
        ]
        masks, fov = image_set.masks, image_set.fov
        if self.resize is not None:
            masks = [
                (self.resize_to(m, self.resize, nearest=True) > 0.5).astype(np.float32)
                for m in masks
            ]
            if fov is not None:
                fov = [
                    (self.resize_to(f, self.resize, nearest=True) > 0.5).astype(
                        np.float32
                    )
                    for f in fov
                ]
        return dataclasses.replace(image_set, images=images, masks=masks, fov=fov)

    def settings(self) -> dict[str, Any]:
        """The JSON form stored in checkpoints (``channels``, ``clahe``, ``resize``)."""
        return {
            "channels": self.channels,
            "clahe": self.clahe,
            "resize": None if self.resize is None else list(self.resize),
        }

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Preprocessing:
        """The preprocessing recorded in checkpoint ``settings`` (none when absent)."""
        return cls(
            channels=settings.get("channels"),
            clahe=bool(settings.get("clahe", False)),
            resize=settings.get("resize"),
        )
