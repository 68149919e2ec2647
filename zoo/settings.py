"""Inference settings stored inside a checkpoint, so they travel with the file.

A trained model is only half of what a user needs to predict with it: the tile
size, the calibrated threshold, test-time augmentation, the preprocessing the
training used (channels, CLAHE, intensity normalisation), the class names. These
are stored as one JSON object *inside* the checkpoint:

* ``.h5``: the root attribute ``unet_vnet_zoo_settings`` of the HDF5 file;
* ``.keras``: the archive member ``unet_vnet_zoo_settings.json``.

Keras ignores both when it loads the model, so a checkpoint with settings is
still a plain Keras checkpoint. The keys are free-form; the scripts read the
ones they know with ``dict.get`` (``model``, ``model_kwargs``, ``tile_size``,
``overlap``, ``threshold``, ``tta``, ``channels``, ``clahe``,
``normalization``, ``class_names``, ``min_size``, ``largest_component``...).

Example:
    >>> write_settings("best.h5", {"threshold": 0.76, "tile_size": [128, 128]})
    >>> read_settings("best.h5")["threshold"]
    0.76
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py

__all__ = ["SETTINGS_KEY", "read_settings", "update_settings", "write_settings"]

SETTINGS_KEY = "unet_vnet_zoo_settings"
_KERAS_MEMBER = f"{SETTINGS_KEY}.json"


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "h5"
    if suffix == ".keras":
        return "keras"
    raise ValueError(
        f"Cannot store settings in '{path}': only .h5/.hdf5 and .keras checkpoints "
        "carry settings"
    )


def read_settings(path: str | Path) -> dict[str, Any]:
    """The settings stored in checkpoint ``path`` (``{}`` when it has none).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is not a readable ``.h5`` / ``.keras`` file or
            its settings are not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: '{path}'")
    kind = _kind(path)
    try:
        if kind == "h5":
            with h5py.File(path, "r") as handle:
                text = handle.attrs.get(SETTINGS_KEY)
        else:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                text = (
                    archive.read(_KERAS_MEMBER).decode("utf-8")
                    if _KERAS_MEMBER in names
                    else None
                )
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"Cannot read checkpoint '{path}': {err}") from err
    if text is None:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"Settings stored in '{path}' are not valid JSON: {err}"
        ) from err
    if not isinstance(settings, dict):
        raise ValueError(f"Settings stored in '{path}' are not a JSON object")
    return settings


def write_settings(path: str | Path, settings: Mapping[str, Any]) -> None:
    """Stores ``settings`` (JSON-serialisable) in checkpoint ``path``, replacing any.

    The ``.keras`` archive is rewritten through a temporary file in the same
    folder and moved into place, so an interruption never leaves a broken
    checkpoint.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        TypeError: If ``settings`` is not JSON-serialisable.
        ValueError: If ``path`` is not a ``.h5`` / ``.keras`` file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: '{path}'")
    kind = _kind(path)
    text = json.dumps(dict(settings), sort_keys=True)
    if kind == "h5":
        with h5py.File(path, "r+") as handle:
            handle.attrs[SETTINGS_KEY] = text
        return
    with tempfile.NamedTemporaryFile(
        dir=path.parent, suffix=".keras", delete=False
    ) as tmp:
        tmp_path = Path(tmp.name)
    try:
        with (
            zipfile.ZipFile(path) as src,
            zipfile.ZipFile(tmp_path, "w", compression=zipfile.ZIP_DEFLATED) as dst,
        ):
            for item in src.infolist():
                if item.filename != _KERAS_MEMBER:
                    dst.writestr(item, src.read(item.filename))
            dst.writestr(_KERAS_MEMBER, text)
        shutil.move(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def update_settings(path: str | Path, **changes: Any) -> dict[str, Any]:
    """Merges ``changes`` into the settings of ``path``; returns the result."""
    settings = read_settings(path)
    settings.update(changes)
    write_settings(path, settings)
    return settings
