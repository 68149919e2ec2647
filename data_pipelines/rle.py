"""Run-length encoding of the SIIM-ACR Pneumothorax Segmentation challenge (2019).

The competition's convention (its ``mask_functions.py``), reproduced exactly:

* pixels are numbered **column-major**: down the first column, then the next
  one (the transposed image, flattened; ``mask.flatten(order="F")``);
* a mask is a list of ``start length`` pairs, and every start is counted
  **from the end of the previous run** (the first from pixel 0);
* ``-1`` means an empty mask (no pneumothorax);
* in ``train-rle.csv`` an image with several regions has several rows; its
  mask is their union.

CSV files come with two headers (``ImageId, EncodedPixels`` for the training
file, ``fname,mask`` for the sample file, which also starts with a UTF-8
byte-order mark); both are read, with or without a space after the comma.

Example:
    >>> mask = rle_decode("3 2 2 1", (3, 3))
    >>> mask.T.ravel().tolist()  # column-major order
    [0, 0, 0, 1, 1, 0, 0, 1, 0]
    >>> rle_encode(mask)
    '3 2 2 1'
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "EMPTY",
    "SIIM_SHAPE",
    "decode_rows",
    "read_rle_csv",
    "rle_decode",
    "rle_encode",
    "write_rle_csv",
]

#: The encoding of an empty mask.
EMPTY = "-1"
#: Size of every SIIM radiograph.
SIIM_SHAPE = (1024, 1024)
_HEADERS = (("imageid", "encodedpixels"), ("fname", "mask"))


def rle_decode(rle: str, shape: Sequence[int] = SIIM_SHAPE) -> np.ndarray:
    """Decodes one competition RLE string to a binary mask.

    Args:
        rle: ``"start length start length ..."`` with relative starts, or
            ``"-1"`` for an empty mask (surrounding spaces are ignored).
        shape: ``(height, width)`` of the image. Defaults to (1024, 1024).

    Returns:
        ``uint8`` mask of shape ``shape`` with values 0 and 1.

    Raises:
        ValueError: If the string is not an even number of non-negative
            integers, or a run ends outside the image.
    """
    height, width = (int(s) for s in shape)
    text = rle.strip()
    flat = np.zeros(height * width, np.uint8)
    if text == EMPTY:
        return flat.reshape(width, height).T.copy()
    try:
        numbers = np.array([int(t) for t in text.split()], np.int64)
    except ValueError as err:
        raise ValueError(f"RLE holds a non-integer: {text[:40]!r}...") from err
    if numbers.size == 0 or numbers.size % 2 or (numbers < 0).any():
        raise ValueError(
            "RLE needs pairs of non-negative integers 'start length' (or -1). "
            f"Received {numbers.size} numbers: {text[:40]!r}..."
        )
    starts, lengths = numbers[0::2], numbers[1::2]
    # Relative starts: each counts from the end of the previous run.
    ends = np.cumsum(starts + lengths)
    absolute = ends - lengths
    if ends[-1] > flat.size:
        raise ValueError(
            f"RLE runs end at pixel {int(ends[-1])}, beyond the {height}x{width} "
            f"image ({flat.size} pixels)"
        )
    for start, end in zip(absolute, ends, strict=True):
        flat[start:end] = 1
    # Column-major numbering: the flat index runs down the columns.
    return flat.reshape(width, height).T.copy()


def rle_encode(mask: np.ndarray) -> str:
    """Encodes a binary mask in the competition's convention.

    Args:
        mask: ``(height, width)`` array, foreground where ``> 0``.

    Returns:
        ``"start length ..."`` with relative starts, or ``"-1"`` if empty.

    Raises:
        ValueError: If ``mask`` is not 2D.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"`mask` must be 2D (H, W). Received: mask.shape={mask.shape}")
    flat = (mask > 0).flatten(order="F").astype(np.int8)
    if not flat.any():
        return EMPTY
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    relative = starts - np.concatenate([[0], ends[:-1]])
    pairs = np.stack([relative, lengths], axis=1).ravel()
    return " ".join(str(int(v)) for v in pairs)


def decode_rows(rles: Iterable[str], shape: Sequence[int] = SIIM_SHAPE) -> np.ndarray:
    """The union of the masks of several rows of one image.

    Args:
        rles: RLE strings of one image (``"-1"`` rows add nothing).
        shape: ``(height, width)``. Defaults to (1024, 1024).

    Returns:
        ``uint8`` mask with values 0 and 1.
    """
    mask = np.zeros(tuple(int(s) for s in shape), np.uint8)
    for rle in rles:
        mask |= rle_decode(rle, shape)
    return mask


def read_rle_csv(path: str | Path) -> dict[str, list[str]]:
    """Reads a competition CSV into ``{image_id: [rle, ...]}`` in file order.

    Accepts both headers (``ImageId, EncodedPixels`` and ``fname,mask``), a
    byte-order mark and spaces after the commas. An image without
    pneumothorax maps to ``["-1"]``.

    Args:
        path: The CSV file.

    Returns:
        One list of RLE strings per image id.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the header is not one of the two, or a row does not have
            two fields (the message names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RLE file not found: '{path}'")
    rows: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = tuple(h.strip().lower() for h in next(reader, ()))
        if header not in _HEADERS:
            raise ValueError(
                f"'{path}' has header {header!r}; expected 'ImageId, EncodedPixels' "
                "or 'fname,mask'"
            )
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f"'{path}' line {line}: expected 2 fields, got {row}")
            rows.setdefault(row[0].strip(), []).append(row[1].strip())
    return rows


def write_rle_csv(path: str | Path, items: Iterable[tuple[str, np.ndarray]]) -> int:
    """Writes a submission file ``ImageId,EncodedPixels``, one row per image.

    Args:
        path: Output CSV.
        items: ``(image_id, mask)`` pairs, masks ``(H, W)`` foreground > 0.

    Returns:
        The number of rows written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ImageId", "EncodedPixels"])
        for image_id, mask in items:
            writer.writerow([image_id, rle_encode(mask)])
            count += 1
    return count
