from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from data_pipelines.readers import (
    load_drive,
    load_folder_pairs,
    load_isbi,
    natural_key,
    read_image,
    read_mask,
)


def test_load_drive_training_set(drive_root):
    drive = load_drive(drive_root)
    assert drive.names == [str(n) for n in range(21, 41)] and drive.kind == "drive"
    images, masks = drive.stack()
    fov = np.stack(drive.fov)
    assert images.shape == (20, 584, 565, 3)
    assert images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    for array in (masks, fov):
        assert array.shape == (20, 584, 565, 1)
        assert set(np.unique(array).tolist()) == {0.0, 1.0}
    # The FOV is the central disc: roughly 70 % of the frame, corners outside.
    fov_fraction = fov.mean(axis=(1, 2, 3))
    assert np.all((fov_fraction > 0.6) & (fov_fraction < 0.8))
    assert not fov[:, 0, 0].any()
    # Vessels are thin: ~8-15 % of the FOV, and lie inside it.
    assert np.all(masks.mean(axis=(1, 2, 3)) < 0.2)
    assert (masks * (1 - fov)).sum() < 0.01 * masks.sum()


def test_load_drive_keeps_rgb_order(drive_small):
    # Fundus photographs are red-dominant; a BGR mix-up makes channel 2 largest.
    means = np.mean(drive_small.images, axis=(0, 1, 2))
    assert means[0] > means[1] > means[2]


def test_load_isbi_all_slices(isbi_root):
    isbi = load_isbi(isbi_root)
    assert isbi.names == [str(n) for n in range(30)] and isbi.kind == "isbi"
    images, masks = isbi.stack()
    assert images.shape == masks.shape == (30, 512, 512, 1)
    assert set(np.unique(masks).tolist()) == {0.0, 1.0}
    # Label 255 is the cell interior, the larger class.
    assert masks.mean() > 0.5


def test_load_isbi_membrane_foreground_inverts(isbi_root):
    interior = load_isbi(isbi_root, limit=2)
    membrane = load_isbi(isbi_root, limit=2, foreground="membrane")
    np.testing.assert_array_equal(membrane.masks, 1 - np.stack(interior.masks))
    np.testing.assert_array_equal(membrane.images, interior.images)


def _write_pair(root, stem, image, label, image_ext=".png", label_ext=".png"):
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    for folder, ext, array in (
        ("image", image_ext, image),
        ("label", label_ext, label),
    ):
        path = root / folder / f"{stem}{ext}"
        if ext == ".npy":
            np.save(path, array)
        elif ext == ".gif":
            Image.fromarray(array).save(path)
        else:
            cv2.imwrite(str(path), array)


def test_folder_pairs_matches_stems_across_formats(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    label = np.zeros((20, 30), np.uint8)
    label[5:10, 5:15] = 255
    _write_pair(tmp_path, "10", gray, label, ".tif", ".gif")
    _write_pair(tmp_path, "2", gray, label // 255, ".bmp", ".png")
    _write_pair(tmp_path, "3", gray.astype(np.float32) / 255, label, ".npy", ".npy")
    _write_pair(tmp_path, "4", gray, label, ".jpg", ".png")
    (tmp_path / "image" / "notes.txt").write_text("ignored")
    pairs = load_folder_pairs(tmp_path)
    assert pairs.names == ["2", "3", "4", "10"]
    assert pairs.kind == f"folder:{tmp_path}" and pairs.normalization == {
        "bit_depth": 8
    }
    for name, image, mask in zip(pairs.names, pairs.images, pairs.masks, strict=True):
        assert image.shape == (20, 30, 1)
        np.testing.assert_array_equal(mask[..., 0], label > 0)
        if name != "4":  # JPEG is lossy
            np.testing.assert_allclose(image[..., 0], gray / 255, atol=1e-6)
    images, masks = pairs.stack()
    assert images.shape == (4, 20, 30, 1) and masks.shape == (4, 20, 30, 1)
    assert [
        pairs.subset(["10", "2"]).images[i] is pairs.images[j]
        for i, j in [(0, 3), (1, 0)]
    ] == [True, True]


def test_folder_pairs_label_suffix(tmp_path):
    image = np.zeros((8, 8), np.uint8)
    (tmp_path / "img").mkdir()
    (tmp_path / "gt").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "case1.png"), image)
    cv2.imwrite(str(tmp_path / "gt" / "case1_mask.png"), image)
    pairs = load_folder_pairs(
        tmp_path, image_dir="img", label_dir="gt", label_suffix="_mask"
    )
    assert pairs.names == ["case1"]


def test_read_image_scales_by_dtype_and_keeps_rgb(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "red.png"), rgb[..., ::-1])  # OpenCV writes BGR
    image = read_image(tmp_path / "red.png", channels=3)
    np.testing.assert_allclose(image[0, 0], [200 / 255, 0, 0])
    deep = np.full((4, 5), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    assert read_image(tmp_path / "deep.png").max() == pytest.approx(1.0)
    np.save(tmp_path / "counts.npy", np.full((4, 5), 128.0))
    assert read_image(tmp_path / "counts.npy")[0, 0, 0] == pytest.approx(128 / 255)


def test_read_mask_multiclass_one_hot(tmp_path):
    label = np.array([[0, 50, 255], [255, 0, 50]], np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), label)
    mask = read_mask(tmp_path / "grey.png", binary=False, class_values=(0, 255, 50))
    assert mask.shape == (2, 3, 3)
    np.testing.assert_array_equal(mask.argmax(-1), [[0, 2, 1], [1, 0, 2]])
    np.testing.assert_array_equal(mask.sum(-1), 1)
    np.save(tmp_path / "ids.npy", np.array([[0, 1], [3, 1]]))
    ids = read_mask(tmp_path / "ids.npy", binary=False, n_classes=5)
    assert ids.shape == (2, 2, 5)
    np.testing.assert_array_equal(ids.argmax(-1), [[0, 1], [3, 1]])


def test_natural_key():
    assert sorted(["10", "9", "1"], key=natural_key) == ["1", "9", "10"]
