from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from data_pipelines.readers import load_volume, normalize_volume, save_volume


@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii"])
def test_nifti_round_trip_keeps_values_and_spacing(tmp_path, name):
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(6, 7, 8)).astype(np.float32)
    save_volume(tmp_path / name, volume, spacing=(2.5, 0.75, 0.5))
    loaded, meta = load_volume(tmp_path / name)
    np.testing.assert_array_equal(loaded, volume)
    assert meta["spacing"] == pytest.approx((2.5, 0.75, 0.5))
    np.testing.assert_allclose(np.diag(meta["affine"]), [2.5, 0.75, 0.5, 1.0])
    # Other NIfTI tools see the same voxel sizes.
    assert nib.load(tmp_path / name).header.get_zooms() == pytest.approx(
        (2.5, 0.75, 0.5)
    )


def test_nifti_labels_and_channels(tmp_path):
    labels = np.zeros((4, 5, 6), np.int64)
    labels[1:3, 2:4, 1:5] = 3
    save_volume(tmp_path / "seg.nii.gz", labels, (1, 1, 3))
    loaded, meta = load_volume(tmp_path / "seg.nii.gz", dtype=np.int64)
    np.testing.assert_array_equal(loaded, labels)
    multi = np.random.default_rng(1).random((4, 5, 6, 2)).astype(np.float32)
    save_volume(tmp_path / "mr.nii.gz", multi, (1.0, 2.0, 3.0))
    loaded, meta = load_volume(tmp_path / "mr.nii.gz")
    np.testing.assert_array_equal(loaded, multi)
    assert meta["spacing"] == (1.0, 2.0, 3.0)


def test_npy_and_npz_keep_spacing(tmp_path):
    volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    save_volume(tmp_path / "v.npy", volume, (3.0, 1.0, 0.5))
    assert json.loads((tmp_path / "v.npy.json").read_text())["spacing"] == [3, 1, 0.5]
    loaded, meta = load_volume(tmp_path / "v.npy")
    np.testing.assert_array_equal(loaded, volume)
    assert meta["spacing"] == (3.0, 1.0, 0.5)
    save_volume(tmp_path / "v.npz", volume > 5, (1.0, 1.0, 2.0))
    loaded, meta = load_volume(tmp_path / "v.npz")
    np.testing.assert_array_equal(loaded, volume > 5)
    assert meta["spacing"] == (1.0, 1.0, 2.0)
    np.save(tmp_path / "plain.npy", volume)
    assert load_volume(tmp_path / "plain.npy")[1]["spacing"] == (1.0, 1.0, 1.0)


def test_save_volume_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="spacing"):
        save_volume(tmp_path / "v.npy", np.zeros((2, 2, 2)), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="array"):
        save_volume(tmp_path / "v.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="v.mha"):
        save_volume(tmp_path / "v.mha", np.zeros((2, 2, 2)))


def test_normalize_volume():
    volume = np.array([[[-2000.0, 0.0], [400.0, 1000.0]]])
    minmax = normalize_volume(volume, method="minmax", clip=(-1000, 400))
    np.testing.assert_allclose(minmax.ravel(), [0, 1000 / 1400, 1, 1])
    z = normalize_volume(volume)
    assert z.mean() == pytest.approx(0, abs=1e-6) and z.std() == pytest.approx(1)
    with pytest.raises(ValueError, match="method"):
        normalize_volume(volume, method="robust")
