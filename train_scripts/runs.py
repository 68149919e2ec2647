"""The run folder's record, ``run.json``: its one reader and one writer.

Every script that trains (the trainer, the CLI, the recipes) records its run
in ``<out>/run.json``: configuration, library versions, model, split and
scores. They all read and write it here, atomically (a temporary file renamed
over the old one), so a crash never leaves half a record and every record has
the same JSON form (indented, non-finite floats as null, other objects as
strings).

Example:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> write_run(out, {"config": {"epochs": 2}})["config"]
    {'epochs': 2}
    >>> update_run(out, finished="now")["finished"]
    'now'
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_JSON",
    "library_versions",
    "read_run",
    "update_run",
    "write_json_atomic",
    "write_run",
]

#: File name of the run record inside a run folder.
RUN_JSON = "run.json"

_VERSIONED = (
    "tensorflow",
    "keras",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "opencv-python-headless",
    "albumentations",
    "nibabel",
    "h5py",
    "unet-vnet-zoo",
)


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats (NaN, inf) replaced by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_json_atomic(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Writes ``data`` as indented JSON to ``path`` through a renamed temporary file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_finite(data), indent=2, default=str))
    os.replace(tmp, path)
    return path


def read_run(out_dir: str | Path) -> dict[str, Any]:
    """The record of the run in ``out_dir`` ({} when it has none).

    Raises:
        ValueError: If ``run.json`` is not valid JSON (the path is named).
    """
    path = Path(out_dir) / RUN_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"'{path}' is not a valid run record: {err}") from err


def write_run(out_dir: str | Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """Replaces the record of the run in ``out_dir``; returns it as written."""
    write_json_atomic(Path(out_dir) / RUN_JSON, record)
    return read_run(out_dir)


def update_run(out_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Sets top-level ``fields`` of the run's record, keeping the others."""
    return write_run(out_dir, {**read_run(out_dir), **fields})


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on, and the devices."""
    import tensorflow as tf

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in _VERSIONED:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["devices"] = ", ".join(
        d.device_type for d in tf.config.list_physical_devices()
    )
    return versions
