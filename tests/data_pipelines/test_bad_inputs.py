"""Every bad input raises a clear error that names the offending file or argument."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from PIL import Image

from data_pipelines.dataset import ImageSet
from data_pipelines.readers import (
    load_drive,
    load_folder_pairs,
    load_isbi,
    load_volume,
    read_image,
    read_mask,
)


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), array)
    return path


@pytest.fixture
def pairs(tmp_path):
    """A valid two-pair folder dataset."""
    for stem in ("a", "b"):
        _png(tmp_path / "image" / f"{stem}.png", np.zeros((16, 16), np.uint8))
        _png(tmp_path / "label" / f"{stem}.png", np.zeros((16, 16), np.uint8))
    return tmp_path


def _raises(exc, path, func, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(str(path))):
        func(*args, **kwargs)


def test_empty_folder(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "label").mkdir()
    _raises(FileNotFoundError, tmp_path / "image", load_folder_pairs, tmp_path)


def test_missing_folder(tmp_path):
    _raises(FileNotFoundError, tmp_path / "image", load_folder_pairs, tmp_path)


def test_image_without_label(pairs):
    orphan = _png(pairs / "image" / "c.png", np.zeros((16, 16), np.uint8))
    _raises(FileNotFoundError, orphan, load_folder_pairs, pairs)


def test_label_without_image(pairs):
    orphan = _png(pairs / "label" / "z.png", np.zeros((16, 16), np.uint8))
    _raises(FileNotFoundError, orphan, load_folder_pairs, pairs)


def test_size_mismatch(pairs):
    label = _png(pairs / "label" / "b.png", np.zeros((16, 17), np.uint8))
    with pytest.raises(ValueError, match="Size mismatch") as info:
        load_folder_pairs(pairs)
    assert str(label) in str(info.value)
    assert str(pairs / "image" / "b.png") in str(info.value)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".gif", ".npy"])
def test_corrupt_file(pairs, suffix):
    corrupt = pairs / "image" / f"b{suffix}"
    (pairs / "image" / "b.png").unlink()
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    _raises(ValueError, corrupt, load_folder_pairs, pairs)


def test_non_binary_mask(pairs):
    label = _png(pairs / "label" / "a.png", np.arange(256, dtype=np.uint8)[None])
    _png(pairs / "image" / "a.png", np.zeros((1, 256), np.uint8))
    with pytest.raises(ValueError, match="not binary") as info:
        load_folder_pairs(pairs)
    assert str(label) in str(info.value)


def test_mask_with_two_nonzero_values(tmp_path):
    label = _png(tmp_path / "l.png", np.array([[128, 255]], np.uint8))
    _raises(ValueError, label, read_mask, label)


def test_colour_label(tmp_path):
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[0, 0] = (0, 0, 255)
    label = _png(tmp_path / "l.png", colour)
    _raises(ValueError, label, read_mask, label)


def test_unknown_class_value(tmp_path):
    label = _png(tmp_path / "l.png", np.array([[0, 7]], np.uint8))
    _raises(ValueError, label, read_mask, label, binary=False, class_values=(0, 255))


def test_wrong_number_of_channels(pairs):
    rgb = _png(pairs / "image" / "b.png", np.zeros((16, 16, 3), np.uint8))
    _raises(ValueError, rgb, load_folder_pairs, pairs, channels=1)
    # Without `channels`, every image must match the first one's channel count.
    _raises(ValueError, rgb, load_folder_pairs, pairs)
    _raises(ValueError, rgb, load_isbi, pairs.parent, split=pairs.name)


def test_nan_in_image(tmp_path):
    array = np.zeros((4, 4), np.float32)
    array[1, 2] = np.nan
    np.save(tmp_path / "nan.npy", array)
    _raises(ValueError, tmp_path / "nan.npy", read_image, tmp_path / "nan.npy")


def test_image_out_of_range(tmp_path):
    np.save(tmp_path / "neg.npy", np.full((4, 4), -1.0))
    _raises(ValueError, tmp_path / "neg.npy", read_image, tmp_path / "neg.npy")


def test_unsupported_suffix_and_missing_file(tmp_path):
    (tmp_path / "x.webp").write_bytes(b"")
    _raises(ValueError, tmp_path / "x.webp", read_image, tmp_path / "x.webp")
    _raises(FileNotFoundError, tmp_path / "y.png", read_image, tmp_path / "y.png")


def test_empty_and_ragged_datasets_do_not_stack():
    with pytest.raises(ValueError, match="'empty' is empty: it has zero images"):
        ImageSet([], [], [], kind="empty").stack()
    ragged = ImageSet([np.zeros((4, 4, 1)), np.zeros((4, 5, 1))], None, ["a", "b"])
    with pytest.raises(
        ValueError, match=r"'a' is \(4, 4, 1\)/None, 'b' is \(4, 5, 1\)"
    ):
        ragged.stack()


def _fake_drive(root, split="training"):
    """A tiny DRIVE layout with synthetic content (no real data is copied)."""
    base = root / split
    for folder in ("images", "1st_manual", "mask"):
        (base / folder).mkdir(parents=True)
    cv2.imwrite(str(base / "images" / f"01_{split}.tif"), np.zeros((8, 9, 3), np.uint8))
    for path in (
        base / "1st_manual" / "01_manual1.gif",
        base / "mask" / f"01_{split}_mask.gif",
    ):
        Image.fromarray(np.full((8, 9), 255, np.uint8)).save(path)
    return base


def test_drive_missing_fov_names_file(tmp_path):
    base = _fake_drive(tmp_path)
    assert load_drive(tmp_path).stack()[0].shape == (1, 8, 9, 3)
    fov = base / "mask" / "01_training_mask.gif"
    fov.unlink()
    _raises(FileNotFoundError, fov, load_drive, tmp_path)


def test_drive_test_split_without_manual(tmp_path):
    base = _fake_drive(tmp_path, "test")
    for path in (base / "1st_manual").iterdir():
        path.unlink()
    (base / "1st_manual").rmdir()
    data = load_drive(tmp_path, "test")
    assert data.masks is None and np.stack(data.fov).shape == (1, 8, 9, 1)
    assert data.stack()[1] is None


def test_drive_bad_split_and_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_drive(tmp_path, "train")
    (tmp_path / "training" / "images").mkdir(parents=True)
    _raises(FileNotFoundError, tmp_path / "training" / "images", load_drive, tmp_path)


def test_corrupt_volume(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00 truncated gzip")
    _raises(ValueError, path, load_volume, path)
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((4, 4)))
    _raises(ValueError, bad, load_volume, bad)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((2, 2, 2), np.nan))
    _raises(ValueError, nan, load_volume, nan)
