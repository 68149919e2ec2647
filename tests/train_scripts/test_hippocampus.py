"""The Decathlon hippocampus path: per-label scores, NIfTI prediction, CLI, recipe."""

from __future__ import annotations

import json
import shutil

import keras
import nibabel as nib
import numpy as np
import pytest

import zoo
from losses.evaluation import per_label_scores
from train_scripts import evaluate, predict
from train_scripts.recipes import hippocampus

CASES = ["hippocampus_003", "hippocampus_004", "hippocampus_006"]


@pytest.fixture(scope="module")
def tiny_3class_checkpoint(tmp_path_factory):
    model = zoo.unet3d((None, None, None, 1), 3, filters=2, depth=2)
    path = tmp_path_factory.mktemp("ckpt") / "tiny3.h5"
    model.save(path)
    return path


def test_per_label_scores_equal_hand_computation_with_anisotropic_spacing():
    truth = np.zeros((5, 5, 5), np.uint8)
    pred = np.zeros_like(truth)
    truth[1:3, 2, 2] = 1  # label 1: voxels z=1,2
    pred[2:4, 2, 2] = 1  # predicted at z=2,3: one voxel shared
    truth[:2, :2, :2] = 2
    pred[:2, :2, :2] = 2
    scores = per_label_scores(truth, pred, (1, 2), spacing=(3.0, 1.0, 1.0))
    # Dice 1 = 2*1/(2+2); each surface has one voxel at distance 0 and one 3 mm
    # away (z spacing 3), so both directed P95s are percentile([0, 3], 95) = 2.85.
    assert scores["dice_1"] == pytest.approx(0.5)
    assert scores["hd95_1"] == pytest.approx(2.85)
    assert scores["dice_2"] == pytest.approx(1.0)
    assert scores["hd95_2"] == pytest.approx(0.0)
    assert scores["dice_mean"] == pytest.approx(0.75)


def test_predictor_writes_label_maps_with_the_input_affine(
    tmp_path, tiny_3class_checkpoint
):
    affine = np.array(
        [
            [0.0, 0.0, 2.0, -40.0],
            [1.5, 0.0, 0.0, 12.0],
            [0.0, 1.0, 0.0, 3.0],
            [0, 0, 0, 1],
        ]
    )
    volume = np.random.default_rng(0).integers(0, 255, (13, 17, 11)).astype(np.uint8)
    (tmp_path / "imagesTs").mkdir()
    nib.save(nib.Nifti1Image(volume, affine), tmp_path / "imagesTs" / "case_1.nii.gz")
    argv = ["--checkpoint", str(tiny_3class_checkpoint), "--tile-size", "16,16,16"]
    out = tmp_path / "out"
    assert (
        predict.main([*argv, "--input", str(tmp_path / "imagesTs"), "--out", str(out)])
        == 0
    )
    written = nib.load(out / "case_1.nii.gz")
    labels = np.asarray(written.dataobj)
    assert written.shape == volume.shape
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1, 2}
    np.testing.assert_allclose(written.affine, affine, atol=1e-6)


def test_predictor_refuses_to_overwrite_its_input(tmp_path, tiny_3class_checkpoint):
    path = tmp_path / "case_1.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.uint8), np.eye(4)), path)
    argv = ["--checkpoint", str(tiny_3class_checkpoint), "--tile-size", "8"]
    assert predict.main([*argv, "--input", str(path), "--out", str(tmp_path)]) == 1
    assert np.asarray(nib.load(path).dataobj).max() == 0


def test_evaluate_cli_on_an_msd_test_split(
    tmp_path, shared_data, tiny_3class_checkpoint
):
    src = shared_data / "msd_hippocampus"
    for part, origin in (("imagesTs", "imagesTr"), ("labelsTs", "labelsTr")):
        (tmp_path / "task" / part).mkdir(parents=True)
        for name in CASES[:2]:
            shutil.copy(src / origin / f"{name}.nii.gz", tmp_path / "task" / part)
    out = tmp_path / "eval"
    argv = [
        "--checkpoint", str(tiny_3class_checkpoint), "--dataset", "msd",
        "--data-root", str(tmp_path / "task"), "--split", "test",
        "--tile-size", "48,64,48", "--out", str(out),
    ]  # fmt: skip
    assert evaluate.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("dice_1", "dice_2", "dice_mean", "hd95_1", "hd95_2"):
        assert key in metrics
    assert metrics["dice_mean"] == pytest.approx(
        (metrics["dice_1"] + metrics["dice_2"]) / 2
    )
    rows = (out / "per_image.csv").read_text().splitlines()
    assert rows[0].split(",")[0] == "name" and "dice_2" in rows[0] and len(rows) == 3
    assert (out / "overlays" / f"{CASES[0]}.png").is_file()


def test_split_is_by_case_and_disjoint():
    names = [f"hippocampus_{i:03d}" for i in range(200)]
    split = hippocampus.split_cases(names, n_val=20, n_holdout=20, seed=0)
    sizes = {k: len(v) for k, v in split.items()}
    assert sizes == {"train": 160, "val": 20, "holdout": 20}
    assert len(set().union(*split.values())) == 200
    assert split == hippocampus.split_cases(names, n_val=20, n_holdout=20, seed=0)
    with pytest.raises(ValueError, match="--n-val"):
        hippocampus.split_cases(names[:10], n_val=5, n_holdout=5, seed=0)


@pytest.mark.slow
def test_recipe_runs_end_to_end_on_tiny_settings(tmp_path, shared_data):
    out = tmp_path / "run"
    run = hippocampus.main(
        [
            "--data-root", str(shared_data / "msd_hippocampus"), "--out", str(out),
            "--limit", "8", "--n-val", "2", "--n-holdout", "2", "--filters", "2",
            "--epochs", "1", "--steps", "1",
        ]
    )  # fmt: skip
    assert len(run["split"]["train"]) == 4
    assert set(run["holdout"]["mean"]) >= {"dice_1", "dice_2", "dice_mean", "hd95_1"}
    assert len(run["holdout"]["per_case"]) == 2
    assert json.loads((out / "run.json").read_text())["split"] == run["split"]
    assert list(out.glob("*_overlay.png"))
    from zoo.settings import read_settings

    assert read_settings(out / "best.h5")["tile_size"] == list(hippocampus.TILE)


@pytest.mark.slow
def test_committed_checkpoint_scores_on_its_held_out_cases(shared_data):
    from data_pipelines.msd import load_msd
    from zoo.settings import read_settings

    pretrained = hippocampus.REPO_ROOT / "pretrained"
    record = json.loads((pretrained / "hippocampus.run.json").read_text())
    held_out = record["split"]["holdout"]
    assert not set(held_out) & set(record["split"]["train"] + record["split"]["val"])
    model = keras.models.load_model(pretrained / "hippocampus.h5", compile=False)
    assert read_settings(pretrained / "hippocampus.h5")["largest_component"] is True
    cases = load_msd(shared_data / "msd_hippocampus", names=held_out[:3])
    scores = hippocampus.score_cases(model, cases)
    assert scores["mean"]["dice_mean"] > 0.8, scores["mean"]
