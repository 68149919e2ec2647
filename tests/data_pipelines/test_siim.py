"""SIIM-ACR pneumothorax: the competition's RLE, the DICOM reader, the dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data_pipelines.dicom import find_dicoms, read_dicom
from data_pipelines.patches import PatchSampler
from data_pipelines.rle import (
    decode_rows,
    read_rle_csv,
    rle_decode,
    rle_encode,
    write_rle_csv,
)
from train_scripts.data import load_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SIIM = REPO_ROOT.parent / "shared" / "data" / "siim_pneumothorax_sample"
needs_siim = pytest.mark.skipif(not SIIM.is_dir(), reason="SIIM sample not present")


def _reference_rle2mask(rle: str, width: int, height: int) -> np.ndarray:
    """The competition's mask_functions.rle2mask, transcribed (then .T)."""
    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in rle.split()])
    starts, lengths = array[0::2], array[1::2]
    current = 0
    for index, start in enumerate(starts):
        current += start
        mask[current : current + lengths[index]] = 255
        current += lengths[index]
    return mask.reshape(width, height).T


def test_decode_hand_example_is_column_major_and_relative():
    # Runs: pixels 3-4, then 2 further on (after the run ending at 5) pixel 7.
    mask = rle_decode("3 2 2 1", (3, 3))
    expected = np.zeros((3, 3), np.uint8)
    expected[0, 1] = expected[1, 1] = 1  # column-major pixels 3 and 4
    expected[1, 2] = 1  # pixel 7: column 2, row 1
    np.testing.assert_array_equal(mask, expected)
    assert rle_encode(expected) == "3 2 2 1"
    assert rle_encode(np.zeros((4, 5))) == "-1"
    assert not rle_decode(" -1", (4, 5)).any()


def test_decode_matches_competition_reference_on_non_square_image():
    rng = np.random.default_rng(0)
    mask = (rng.random((6, 9)) > 0.6).astype(np.uint8)
    rle = rle_encode(mask)
    np.testing.assert_array_equal(rle_decode(rle, (6, 9)), mask)
    reference = _reference_rle2mask(rle, 9, 6) > 0
    np.testing.assert_array_equal(rle_decode(rle, (6, 9)) > 0, reference)


@pytest.mark.parametrize("bad", ["1 2 3", "a b", "-2 3", "1000 5"])
def test_bad_rle_is_rejected(bad):
    with pytest.raises(ValueError, match="RLE"):
        rle_decode(bad, (10, 10))


@needs_siim
def test_train_rle_decodes_to_the_mask_pngs():
    rows = read_rle_csv(SIIM / "train-rle.csv")
    assert rows
    for image_id, rles in rows.items():
        png = cv2.imread(str(SIIM / "masks" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
        mask = decode_rows(rles)
        assert png.shape == mask.shape == (1024, 1024)
        np.testing.assert_array_equal(mask * 255, png)
        assert mask.any()


@needs_siim
@pytest.mark.parametrize("name", ["train-rle.csv", "train-rle-sample.csv"])
def test_encode_decode_is_identity_on_every_row(name):
    rows = read_rle_csv(SIIM / name)
    n_rows = sum(len(v) for v in rows.values())
    assert n_rows >= 1 if name == "train-rle.csv" else n_rows == 10
    for rles in rows.values():
        for rle in rles:
            assert rle_encode(rle_decode(rle)) == rle


@needs_siim
def test_sample_csv_with_bom_and_other_header_is_read():
    rows = read_rle_csv(SIIM / "train-rle-sample.csv")
    first = next(iter(rows))
    assert first.startswith("1.2.276")  # no byte-order mark left in the id
    assert rows[first] == ["-1"]
    assert sum(r != ["-1"] for r in rows.values()) == 5


def test_several_rows_are_merged_and_written_back(tmp_path):
    a, b = np.zeros((5, 4), np.uint8), np.zeros((5, 4), np.uint8)
    a[0:2, 0] = 1
    b[3:5, 3] = 1
    csv_path = tmp_path / "train-rle.csv"
    csv_path.write_text(
        f"ImageId, EncodedPixels\nx, {rle_encode(a)}\nx, {rle_encode(b)}\ny, -1\n"
    )
    rows = read_rle_csv(csv_path)
    np.testing.assert_array_equal(decode_rows(rows["x"], (5, 4)), a | b)
    out = tmp_path / "sub.csv"
    assert write_rle_csv(out, [("x", a | b), ("y", np.zeros((5, 4)))]) == 2
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,EncodedPixels"
    assert lines[2] == "y,-1"
    assert read_rle_csv(out)["x"] == [rle_encode(a | b)]


def test_bad_csv_header_names_the_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,pixels\n1,-1\n")
    with pytest.raises(ValueError, match="x.csv"):
        read_rle_csv(path)


@needs_siim
def test_dicom_reader_returns_the_image_and_spacing():
    (path,) = find_dicoms(SIIM / "dicom-images-train")
    image, meta = read_dicom(path)
    assert image.shape == (1024, 1024, 1) and image.dtype == np.float32
    assert meta["spacing"] == pytest.approx((0.143, 0.143))
    assert meta["image_id"] == path.stem
    assert meta["transfer_syntax"] == "1.2.840.10008.1.2.4.50"  # JPEG baseline
    assert 0.0 <= image.min() < 0.1 and 0.9 < image.max() <= 1.0
    assert image.std() > 0.05  # decoded pixels, not a blank frame


def test_non_dicom_file_is_rejected(tmp_path):
    path = tmp_path / "x.dcm"
    path.write_bytes(b"not a dicom")
    with pytest.raises(ValueError, match="x.dcm"):
        read_dicom(path)


@needs_siim
def test_siim_dataset_loads_images_masks_and_spacing():
    data = load_dataset("siim", data_root=SIIM)
    (path,) = find_dicoms(SIIM / "dicom-images-train")
    assert data.names == [path.stem]
    png = cv2.imread(str(SIIM / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(data.masks[0][..., 0], png > 0)
    assert data.spacing[0] == pytest.approx((0.143, 0.143))
    with pytest.raises(ValueError, match="--data-root"):
        load_dataset("siim")


def test_empty_ratio_controls_the_fraction_of_empty_images():
    positive = np.zeros((16, 16, 1), np.float32)
    positive[4:8, 4:8] = 1
    empty = np.zeros((16, 16, 1), np.float32)
    masks = [positive, empty, empty, empty]
    rng = np.random.default_rng(0)
    for ratio in (0.0, 0.25, 1.0):
        sampler = PatchSampler(masks, (8, 8), empty_ratio=ratio)
        draws = np.array([sampler.sample(rng)[0] for _ in range(2000)])
        assert np.mean(draws != 0) == pytest.approx(ratio, abs=0.04)
    uniform = PatchSampler(masks, (8, 8))
    draws = np.array([uniform.sample(rng)[0] for _ in range(2000)])
    assert np.mean(draws != 0) == pytest.approx(0.75, abs=0.04)
    with pytest.raises(ValueError, match="empty_ratio"):
        PatchSampler(masks, (8, 8), empty_ratio=1.5)


def _write_dicom(path, pixels, photometric, bits):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits, bits - 1
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [0.2, 0.3]
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return ds.SOPInstanceUID


def test_dicom_scaling_and_monochrome1_inversion(tmp_path):
    pixels = np.array([[0, 1023], [4095, 2048]], np.uint16)
    uid = _write_dicom(tmp_path / "m2.dcm", pixels, "MONOCHROME2", 12)
    image, meta = read_dicom(tmp_path / "m2.dcm")
    np.testing.assert_allclose(image[..., 0], pixels / 4095.0, rtol=1e-6)
    assert meta["spacing"] == pytest.approx((0.2, 0.3))
    assert meta["image_id"] == uid
    _write_dicom(tmp_path / "m1.dcm", pixels, "MONOCHROME1", 12)
    inverted, _ = read_dicom(tmp_path / "m1.dcm")
    np.testing.assert_allclose(inverted[..., 0], 1.0 - pixels / 4095.0, rtol=1e-6)
    assert find_dicoms(tmp_path) == [tmp_path / "m1.dcm", tmp_path / "m2.dcm"]
