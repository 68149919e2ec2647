"""Pretrained presets: committed checkpoints with their inference settings.

``zoo.from_pretrained(name)`` loads a checkpoint that ships with the package
(the ``pretrained`` package data; nothing is downloaded) together with the
inference settings stored inside it (:mod:`zoo.settings`: tile size,
threshold, test-time augmentation...), in the spirit of keras-hub presets.

Adding a preset is one entry in :data:`PRESETS` plus its file in
``pretrained/``.

Example:
    >>> import zoo
    >>> preset = zoo.from_pretrained("drive_vessels")
    >>> preset.settings["threshold"], preset.settings["min_size"]
    (0.74, 20)
    >>> probs, mask = preset.predict(image)   # (H, W, 3) RGB in [0, 1]
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.inference import predict_mask, with_input_size
from zoo.postprocess import postprocess_mask
from zoo.settings import read_settings

__all__ = ["PRESETS", "Preset", "from_pretrained", "list_pretrained"]

# Preset name -> file in the `pretrained` package.
PRESETS: dict[str, str] = {
    "drive_vessels": "drive_vessels.h5",
    "hippocampus": "hippocampus.h5",
}


@dataclasses.dataclass
class Preset:
    """A pretrained model with the settings it is meant to be used with.

    Attributes:
        name: Preset name.
        model: The Keras model (not compiled).
        settings: Inference settings stored in the checkpoint (``threshold``,
            ``tile_size``, ``tta``, ...; see :mod:`zoo.settings`).
        path: The checkpoint file.
    """

    name: str
    model: keras.Model
    settings: dict[str, Any]
    path: Path

    def predict(
        self, image: np.ndarray, **overrides: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whole-image probabilities and mask with the stored settings.

        Tiled prediction (:func:`zoo.inference.predict_mask`) with the stored
        ``tile_size``, ``overlap``, ``tta`` and ``threshold``, then the stored
        post-processing of the mask (``min_size``, ``largest_component``:
        :func:`zoo.postprocess.postprocess_mask`), as ``train_scripts.predict``
        does; keyword arguments override them. The image must already be
        preprocessed as in training (for ``drive_vessels``: RGB scaled to
        [0, 1]).

        Args:
            image: ``(H, W, C)`` image or ``(D, H, W, C)`` volume.
            **overrides: ``tile_size``, ``overlap``, ``tta``, ``threshold``,
                ``batch_size``... of :func:`zoo.inference.predict_mask`, and
                ``min_size`` / ``largest_component``.

        Returns:
            ``(probs, mask)``: float32 ``(*spatial, K)`` and uint8 ``(*spatial)``.
        """
        kwargs = {
            key: self.settings[key]
            for key in ("tile_size", "overlap", "tta", "threshold")
            if key in self.settings
        }
        kwargs.update(overrides)
        post = {
            "min_size": int(kwargs.pop("min_size", self.settings.get("min_size", 0))),
            "largest_component": bool(
                kwargs.pop(
                    "largest_component", self.settings.get("largest_component", False)
                )
            ),
        }
        model = self.model
        tile = kwargs.pop("tile_size", None)
        if tile is not None:
            tile = tuple(int(t) for t in tile)
            if None in model.input_shape[1:-1]:
                kwargs["tile_size"] = tile
            else:
                model = with_input_size(model, tile)
        probs, mask = predict_mask(model, image, **kwargs)
        return probs, postprocess_mask(mask, **post)


def list_pretrained() -> list[str]:
    """Names of the presets that ship with the package, sorted."""
    return sorted(PRESETS)


def preset_path(name: str) -> Path:
    """The checkpoint file of preset ``name``.

    Raises:
        ValueError: If ``name`` is not a preset (the valid names are listed).
        FileNotFoundError: If its file is missing from the installation.
    """
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset {name!r}. Valid names: {', '.join(list_pretrained())}"
        )
    resource = importlib.resources.files("pretrained") / PRESETS[name]
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(
            f"Preset {name!r}: checkpoint '{path}' is missing from the installation"
        )
    return path


def from_pretrained(name: str) -> Preset:
    """Loads preset ``name``: the committed model and its inference settings.

    Args:
        name: One of :func:`list_pretrained`, e.g. ``"drive_vessels"``.

    Returns:
        A :class:`Preset` (``.model``, ``.settings``, ``.predict(image)``).

    Raises:
        ValueError: For an unknown name or an unreadable checkpoint.
        FileNotFoundError: If the checkpoint is missing.
    """
    path = preset_path(name)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - h5py/Keras errors differ; named
        raise ValueError(f"Cannot load preset {name!r} from '{path}': {err}") from err
    return Preset(name=name, model=model, settings=read_settings(path), path=path)
