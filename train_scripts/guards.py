"""Guards of the scripts: bad input is refused and faults end in one clear line.

The training, prediction and evaluation commands call these before any model
work, so a mistake costs seconds, not an epoch:

* :func:`check_out_dir`: ``--out`` is a folder that can be created and written,
  with room for the checkpoints (:func:`check_free_space`);
* :func:`run_lock`: one training per run folder (an ``fcntl`` lock on
  ``<out>/.lock``, released by the kernel even when the process is killed);
* :func:`config_changes`: a run folder is resumed only with the configuration
  it was started with;
* :func:`repair_backup`: a truncated ``BackupAndRestore`` file falls back to the
  previous epoch's copy, and says so;
* :func:`load_checkpoint`: a checkpoint that is missing, misnamed, truncated
  or not a Keras model is named in one line (:func:`one_line`);
* :func:`check_tile_size`: a tile size the model cannot take is refused with
  the nearest one it can;
* :func:`empty_masks`, :func:`intensity_stats` and
  :func:`intensity_mismatch`: warnings for all-zero labels and for images whose
  intensities differ grossly from the training images.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

__all__ = [
    "IGNORED_CONFIG_KEYS",
    "MIN_SIDE",
    "TrainingDivergedError",
    "check_free_space",
    "check_image_sizes",
    "check_out_dir",
    "check_tile_size",
    "check_training_args",
    "config_changes",
    "empty_masks",
    "intensity_mismatch",
    "intensity_stats",
    "load_checkpoint",
    "one_line",
    "parse_json_object",
    "run_lock",
    "repair_backup",
    "training_bytes",
    "warn",
]

#: Options that may change between the runs of one run folder.
IGNORED_CONFIG_KEYS = frozenset(
    {"epochs", "verbose", "no_resume", "no_final_eval", "eval_tile_size", "command",
     "out", "tensorboard", "xla"}
)  # fmt: skip

#: Smallest image side (pixels/voxels) a tiled prediction accepts; an axis whose
#: tile is smaller (a 2.5D slab) needs the tile's size instead.
MIN_SIDE = 8


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite: training stopped before its last epoch."""


def warn(message: str) -> None:
    """Prints one ``warning:`` line on stderr (the scripts' warnings)."""
    print(f"warning: {message}", file=sys.stderr)


def one_line(err: BaseException) -> str:
    """The informative first line of an error (Keras wraps layer errors)."""
    text = re.sub(r"\x1b\[[0-9;]*m|\{\{[^}]*\}\}", "", str(err))
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("Exception encountered when calling"):
            return line
    return type(err).__name__


#: The first bytes of the two checkpoint formats Keras writes.
_CHECKPOINT_MAGIC = {b"\x89HDF\r\n\x1a\n": ".h5", b"PK\x03\x04": ".keras"}


def load_checkpoint(path: str | Path) -> keras.Model:
    """Loads a ``.h5`` or ``.keras`` checkpoint, not compiled.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is neither format, is named as the other one,
            or is truncated or corrupt; the one-line message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: '{path}'")
    with open(path, "rb") as f:
        magic = f.read(8)
    kind = next((k for m, k in _CHECKPOINT_MAGIC.items() if magic.startswith(m)), None)
    if kind is None:
        raise ValueError(f"'{path}' is not a Keras checkpoint (.h5 or .keras file)")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".keras") and (kind == ".keras") != (
        suffix == ".keras"
    ):
        raise ValueError(
            f"'{path}' is really a {kind} file; rename it to end in {kind}"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:  # noqa: BLE001 - h5py/zip/Keras errors differ
        raise ValueError(
            f"Cannot load checkpoint '{path}': truncated or corrupt "
            f"({type(err).__name__}: {one_line(err)[:200]})"
        ) from err


def check_free_space(path: str | Path, needed: int, *, flag: str = "--out") -> None:
    """Refuses a folder whose disk has less than ``needed`` bytes free.

    Raises:
        ValueError: With the free and the needed space in MB.
    """
    free = shutil.disk_usage(path).free
    if free < needed:
        raise ValueError(
            f"Only {free / 1e6:.1f} MB free on the disk of {flag} '{path}'; about "
            f"{needed / 1e6:.1f} MB are needed. Free some space or choose another "
            f"{flag}"
        )


def check_out_dir(path: str | Path, *, flag: str = "--out", needed: int = 0) -> Path:
    """Creates the output folder ``path`` and proves it writable, before any work.

    Args:
        path: The folder.
        flag: The option named in messages. Defaults to "--out".
        needed: Bytes that must be free on its disk. Defaults to 0.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If ``path`` is an existing file, cannot be created or
            written (read-only file system, permissions), or its disk is full.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} '{path}' is an existing file; give a folder name")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path) as probe:
            probe.write(b"0")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as err:
        reason = err.strerror or str(err)
        raise ValueError(f"Cannot write to {flag} '{path}': {reason}") from err
    check_free_space(path, max(needed, 1), flag=flag)
    return path


def training_bytes(model: keras.Model) -> int:
    """Disk a run needs: best + last checkpoints and the double backup.

    Each holds the weights and, with Adam, two moments per weight (float32).
    """
    weights = 4 * int(model.count_params())
    return 4 * 3 * weights + 2**20


_HELD: dict[Path, list] = {}


@contextlib.contextmanager
def run_lock(out_dir: str | Path) -> Iterator[Path]:
    """Holds ``<out_dir>/.lock`` so that a second training there is refused.

    The lock is an ``fcntl.flock`` on the file: the kernel releases it when the
    process ends, even by SIGKILL, so a killed run never blocks its resume. It
    is re-entrant within one process (the command line and the trainer both
    hold it).

    Raises:
        ValueError: If another process trains into ``out_dir``.
    """
    lock_path = Path(out_dir).resolve() / ".lock"
    if lock_path in _HELD:
        _HELD[lock_path][1] += 1
        try:
            yield lock_path
        finally:
            _HELD[lock_path][1] -= 1
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ValueError(
            f"'{out_dir}' is in use by another training (pid {owner}); wait for it "
            "to finish or choose another --out"
        ) from err
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _HELD[lock_path] = [fd, 1]
    try:
        yield lock_path
    finally:
        _HELD[lock_path][1] -= 1
        if not _HELD[lock_path][1]:
            del _HELD[lock_path]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def config_changes(
    previous: Mapping[str, Any], current: Mapping[str, Any]
) -> list[str]:
    """The options that differ between two run configurations, as ``--flag a -> b``.

    Only keys present in both are compared (an option added to the scripts
    later does not block resuming an older run), except those in
    :data:`IGNORED_CONFIG_KEYS`.
    """
    changes = []
    for key in sorted(set(previous) & set(current) - IGNORED_CONFIG_KEYS):
        old, new = previous[key], current[key]
        if json.dumps(old, sort_keys=True, default=str) != json.dumps(
            new, sort_keys=True, default=str
        ):
            name = "the image split" if key == "split" else "--" + key.replace("_", "-")
            changes.append(f"{name} {old!r} -> {new!r}")
    return changes


def _readable_h5(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as handle:
            handle.visit(lambda name: None)
    except (OSError, RuntimeError):
        return False
    return True


def repair_backup(backup_dir: str | Path) -> str | None:
    """Falls back to the previous backup when the latest one is unreadable.

    ``BackupAndRestore(double_checkpoint=True)`` keeps the previous epoch's
    files as ``*.bkp``. Keras falls back to them silently, which left the run
    log and ``run.json`` one epoch off; doing it here first keeps them right.

    Returns:
        A one-line notice when it fell back, else None.

    Raises:
        ValueError: If neither the latest nor the previous backup is readable.
    """
    backup_dir = Path(backup_dir)
    weights = backup_dir / "latest.weights.h5"
    if not weights.exists() or _readable_h5(weights):
        return None
    previous = weights.with_name(weights.name + ".bkp")
    meta = backup_dir / "training_metadata.json"
    previous_meta = meta.with_name(meta.name + ".bkp")
    if not (previous.is_file() and previous_meta.is_file() and _readable_h5(previous)):
        raise ValueError(
            f"The training backup '{weights}' is unreadable (truncated?) and has no "
            "readable previous copy; add --no-resume to start over"
        )
    shutil.copyfile(previous, weights)
    shutil.copyfile(previous_meta, meta)
    epoch = json.loads(meta.read_text())["epoch"]
    return (
        f"the training backup '{weights}' was unreadable (truncated?); resuming from "
        f"the previous backup after epoch {epoch}"
    )


def _fits(model: keras.Model, size: tuple[int, ...]) -> bool:
    from zoo.inference import with_input_size

    try:
        if None in model.input_shape[1:-1]:
            probe = np.zeros((1, *size, model.input_shape[-1]), np.float32)
            model(probe, training=False)
        else:
            with_input_size(model, size)
    except Exception:  # noqa: BLE001 - any failure means the size does not fit
        return False
    return True


def _nearest_multiple(size: int, step: int) -> int:
    return max(step, step * int(np.floor(size / step + 0.5)))


def check_tile_size(
    model: keras.Model, tile_size: Sequence[int], *, flag: str = "--tile-size"
) -> tuple[int, ...]:
    """Refuses a tile size the model cannot take, naming the nearest valid one.

    Candidates are the nearest multiples of 2, 4, ... 64 (the pooling of the
    zoo's encoders); the first the model accepts is suggested.

    Raises:
        ValueError: On a size < 1 or one the architecture does not accept.
    """
    tile_size = tuple(int(t) for t in tile_size)
    if min(tile_size) < 1:
        raise ValueError(f"{flag} must be >= 1. Received: {tile_size}")
    if _fits(model, tile_size):
        return tile_size
    for step in (2, 4, 8, 16, 32, 64):
        candidate = tuple(_nearest_multiple(s, step) for s in tile_size)
        if candidate != tile_size and _fits(model, candidate):
            shown = ",".join(str(s) for s in candidate)
            raise ValueError(
                f"{flag} {tile_size} does not fit {model.name}; nearest valid size: "
                f"{shown}"
            )
    raise ValueError(f"{flag} {tile_size} does not fit {model.name}")


def empty_masks(names: Sequence[str], masks: Sequence[np.ndarray]) -> list[str]:
    """Names of the images whose label has no foreground.

    Channel 0 of a one-hot label is the background and does not count.
    """
    empty = []
    for name, mask in zip(names, masks, strict=True):
        foreground = mask if mask.shape[-1] == 1 else mask[..., 1:]
        if not np.any(foreground > 0.5):
            empty.append(name)
    return empty


def intensity_stats(images: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean and standard deviation of all pixels of ``images`` (the scaled input)."""
    values = np.concatenate([np.asarray(i, np.float64).ravel() for i in images])
    return {"mean": float(values.mean()), "std": float(values.std())}


def intensity_mismatch(
    image: np.ndarray, reference: Mapping[str, float], *, factor: float = 3.0
) -> str | None:
    """Says how ``image`` differs grossly from the training intensities, or None.

    Gross: the image mean is more than ``factor`` times smaller or larger than
    the training mean, and further from it than one training standard
    deviation (so a dark but plausible image passes).
    """
    mean, ref_mean, ref_std = float(np.mean(image)), reference["mean"], reference["std"]
    low, high = ref_mean / factor, ref_mean * factor
    if (mean < low or mean > high) and abs(mean - ref_mean) > ref_std:
        return (
            f"mean intensity {mean:.3g} vs {ref_mean:.3g} in training (scaled to "
            "[0, 1]); check its bit depth or preprocessing"
        )
    return None


def parse_json_object(text: str, *, flag: str) -> dict[str, Any]:
    """A JSON object given on the command line, or a one-line error naming ``flag``.

    Raises:
        ValueError: If ``text`` is not valid JSON or not an object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{flag} is not valid JSON ({err.msg} at character {err.pos}): {text!r}; "
            "keys need double quotes, e.g. '{\"depth\": 3}'"
        ) from err
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object. Received: {text!r}")
    return value


def check_training_args(args: Any) -> None:
    """Range checks of the training options, before any data or model work.

    Raises:
        ValueError: Naming the first option out of range.
    """
    at_least_one = (
        "epochs", "steps_per_epoch", "batch_size", "val_patches", "n_classes",
        "early_stopping", "n_images", "image_size",
    )  # fmt: skip
    for name in at_least_one:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be >= 1. Received: {flag} {value}")
    for name in ("fg_ratio", "empty_ratio"):
        value = getattr(args, name, None)
        if value is not None and not 0.0 <= value <= 1.0:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be in [0, 1]. Received: {flag} {value}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be > 0. Received: --lr {args.lr}")
    total = args.epochs * args.steps_per_epoch
    if not 0 <= args.warmup_steps < total:
        raise ValueError(
            f"--warmup-steps must be in [0, {total}) (epochs x steps per epoch). "
            f"Received: --warmup-steps {args.warmup_steps}"
        )


def check_image_sizes(
    names: Sequence[str], images: Sequence[np.ndarray], patch: Sequence[int]
) -> None:
    """Refuses images smaller than the training patch on some axis.

    Raises:
        ValueError: Naming the first such image, its size and the patch.
    """
    for name, image in zip(names, images, strict=True):
        size = tuple(image.shape[:-1])
        if any(s < p for s, p in zip(size, patch, strict=True)):
            raise ValueError(
                f"Image {name!r} is {size}, smaller than the patch {tuple(patch)}; "
                "choose a smaller --patch-size or drop the image"
            )
