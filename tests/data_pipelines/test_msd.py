"""The Medical Segmentation Decathlon reader on real hippocampus cases and bad ones."""

from __future__ import annotations

import gzip
import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from data_pipelines.msd import (
    class_names,
    list_cases,
    load_case,
    load_msd,
    one_hot,
    zscore_case,
)
from train_scripts.data import load_dataset

CASES = ["hippocampus_003", "hippocampus_004", "hippocampus_006"]


@pytest.fixture
def hippocampus(shared_data):
    return shared_data / "msd_hippocampus"


def _copy_task(src, dst, names, *, test_split=False):
    parts = ("imagesTs", "labelsTs") if test_split else ("imagesTr", "labelsTr")
    for part, origin in zip(parts, ("imagesTr", "labelsTr"), strict=True):
        (dst / part).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(src / origin / f"{name}.nii.gz", dst / part / f"{name}.nii.gz")
    return dst


def test_reader_on_three_real_cases(hippocampus):
    cases = load_msd(hippocampus, names=CASES)
    assert cases.names == CASES and cases.kind == "msd"
    assert cases.class_names == ["0", "1", "2"]
    for name, image, mask, affine, spacing in zip(
        cases.names, cases.images, cases.masks, cases.affine, cases.spacing, strict=True
    ):
        raw = nib.load(hippocampus / "imagesTr" / f"{name}.nii.gz")
        label = np.asarray(
            nib.load(hippocampus / "labelsTr" / f"{name}.nii.gz").dataobj
        )
        assert image.shape == (*raw.shape, 1)
        assert mask.shape == (*raw.shape, 3) and mask.dtype == np.float32
        np.testing.assert_array_equal(mask.argmax(-1), label)
        np.testing.assert_array_equal(mask.sum(-1), 1.0)
        assert set(np.unique(label)) == {0, 1, 2}
        np.testing.assert_allclose(affine, raw.affine)
        assert spacing == (1.0, 1.0, 1.0)
    case = load_case(hippocampus, CASES[0])
    assert case.label.dtype == np.uint8
    encoded = one_hot(case.label, 3)
    np.testing.assert_array_equal(encoded, cases.masks[0])
    z = zscore_case(cases.images[0])
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1.0) < 1e-4


def test_listing_and_class_names_without_dataset_json(hippocampus):
    names = list_cases(hippocampus)
    assert len(names) == 200 and names[:3] == CASES
    assert class_names(hippocampus, 3) == ["0", "1", "2"]


def test_dataset_json_gives_class_names_and_test_split_is_read(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "Task04", CASES[:2], test_split=True)
    labels = {"0": "background", "1": "Anterior", "2": "Posterior"}
    (task / "dataset.json").write_text(json.dumps({"labels": labels}))
    data = load_dataset("msd", data_root=task, split="test")
    assert data.names == CASES[:2]
    assert data.class_names == ["background", "Anterior", "Posterior"]
    assert data.masks[0].shape[-1] == 3
    assert data.affine is not None and data.spacing == [(1.0, 1.0, 1.0)] * 2
    with pytest.raises(FileNotFoundError, match="imagesTr"):
        load_msd(task, split="training")
    with pytest.raises(ValueError, match="n_classes=4 disagrees with the 3 labels"):
        load_msd(task, split="test", n_classes=4)


def test_label_with_another_shape_is_refused_by_name(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "t", CASES[:1])
    path = task / "labelsTr" / f"{CASES[0]}.nii.gz"
    label = nib.load(path)
    cut = np.asarray(label.dataobj)[:-1]
    nib.save(nib.Nifti1Image(cut, label.affine), path)
    with pytest.raises(ValueError, match=f"{CASES[0]}.nii.gz.*shape"):
        load_msd(task)


def test_label_with_another_affine_is_refused_by_name(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "t", CASES[:1])
    path = task / "labelsTr" / f"{CASES[0]}.nii.gz"
    label = nib.load(path)
    moved = label.affine.copy()
    moved[0, 3] += 5.0
    nib.save(nib.Nifti1Image(np.asarray(label.dataobj), moved), path)
    with pytest.raises(ValueError, match="labelsTr.*affine"):
        load_msd(task)


def test_label_value_outside_classes_is_refused_by_name(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "t", CASES[:1])
    path = task / "labelsTr" / f"{CASES[0]}.nii.gz"
    label = nib.load(path)
    data = np.asarray(label.dataobj).copy()
    data[0, 0, 0] = 3
    nib.save(nib.Nifti1Image(data, label.affine), path)
    with pytest.raises(ValueError, match=r"hippocampus_003.nii.gz.*\[3\].*0\.\.2"):
        load_msd(task)


def test_truncated_file_is_refused_by_name(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "t", CASES[:1])
    path = task / "imagesTr" / f"{CASES[0]}.nii.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="imagesTr/hippocampus_003.nii.gz"):
        load_msd(task)
    path.write_bytes(gzip.compress(b"not a nifti"))
    with pytest.raises(ValueError, match="hippocampus_003.nii.gz"):
        load_msd(task)


def test_missing_label_and_unknown_case_are_named(hippocampus, tmp_path):
    task = _copy_task(hippocampus, tmp_path / "t", CASES[:2])
    (task / "labelsTr" / f"{CASES[1]}.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="hippocampus_004"):
        load_msd(task)
    with pytest.raises(ValueError, match="hippocampus_999"):
        load_msd(task, names=["hippocampus_999"])
