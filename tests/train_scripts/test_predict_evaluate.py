"""Predictor and evaluator: hand-computed scores, CLIs, input sizes, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from data_pipelines.readers import load_volume, save_volume
from train_scripts import evaluate, predict
from train_scripts.data import ImageSet

REPO_ROOT = Path(__file__).resolve().parents[2]
PRETRAINED = REPO_ROOT / "pretrained" / "drive_vessels.h5"


def _identity_model() -> keras.Model:
    """Predicts its input: the probabilities of a hand-made example are known."""
    inputs = keras.Input((None, None, 1))
    layer = keras.layers.Conv2D(1, 1)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32)])
    return model


def test_scores_equal_hand_computation(tmp_path):
    truth = np.zeros((6, 8), np.float32)
    truth[1:3, 1:4] = 1  # 6 pixels, component 1
    truth[4, 6] = 1  # 1 pixel, component 2
    probs = np.zeros((6, 8), np.float32)
    probs[1:3, 1:3] = 0.9  # 4 TP
    probs[1, 3] = 0.4  # FN (below threshold), scored 0.4
    probs[5, 0] = 0.8  # FP, a component of its own
    # TP 4, FP 1, FN 3, TN 48 - 8 = 40
    fov = np.ones((6, 8), np.float32)
    fov[:, 7] = 0  # nothing changes: column 7 holds only TN
    model = _identity_model()
    data = ImageSet([probs[..., None]], [truth[..., None]], ["a"], fov=[fov[..., None]])
    rows, summary = evaluate.evaluate_model(
        model, data, tmp_path, tile_size=(6, 8), verbose=False
    )
    row = rows[0]
    tp, fp, fn, tn = 4, 1, 3, 40 - 6  # 6 TN lie outside the FOV
    assert row["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert row["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert row["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert row["specificity"] == pytest.approx(tn / (tn + fp))
    assert row["accuracy"] == pytest.approx((tp + tn) / (tp + fp + fn + tn))
    assert row["pixel_error"] == pytest.approx((fp + fn) / (tp + fp + fn + tn))
    assert row["components_true"] == 2 and row["components_pred"] == 2
    # AUC in the FOV: positives score 0.9 x4, 0.4, 0 x2; negatives 0.8 x1,
    # 0 x34. Pairs (pos > neg) + 0.5 ties: 0.9: 4*35; 0.4: 34; 0: 2 * 34 * 0.5.
    auc = (4 * 35 + 34 + 2 * 34 * 0.5) / (7 * 35)
    assert row["auc"] == pytest.approx(auc)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("dice", "iou", "sensitivity", "specificity", "accuracy", "auc", "hd95"):
        assert metrics[key] == pytest.approx(row[key])  # flat keys, one image
    with open(tmp_path / "per_image.csv", newline="") as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["a"]
    assert (tmp_path / "overlays" / "a.png").is_file()
    assert (tmp_path / "boxplot.png").is_file()


def test_summary_keeps_an_empty_prediction_out_of_the_hd95_mean():
    rows = [
        {**dict.fromkeys(evaluate.SUMMARY_KEYS, 1.0), "hd95": 2.0},
        {**dict.fromkeys(evaluate.SUMMARY_KEYS, 0.0), "hd95": float("inf")},
    ]
    summary = evaluate.summarize(rows)
    assert summary["hd95"] == 2.0 and summary["hd95_undefined"] == 1
    assert summary["dice"] == 0.5 and summary["n_images"] == 2


def _write_png(path: Path, shape, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (*shape, channels) if channels > 1 else shape)
    cv2.imwrite(str(path), image.astype(np.uint8))


def test_predictor_writes_masks_of_the_input_size(tmp_path, tiny_checkpoint_2d, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_png(inputs / "a.png", (50, 37))
    _write_png(inputs / "b.png", (20, 64), seed=1)
    out = tmp_path / "out"
    argv = ["--checkpoint", str(tiny_checkpoint_2d), "--input", str(inputs)]
    assert predict.main([*argv, "--out", str(out), "--tta", "--save-probs"]) == 0
    for name, shape in (("a", (50, 37)), ("b", (20, 64))):
        mask = cv2.imread(str(out / f"{name}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == shape and set(np.unique(mask)) <= {0, 255}
        assert (out / f"{name}_overlay.png").is_file()
        assert np.load(out / f"{name}_probs.npy").shape == (*shape, 1)
    # A larger tile rebuilds the fixed-size model; same masks up to blending.
    assert (
        predict.main([*argv, "--out", str(tmp_path / "o64"), "--tile-size", "64"]) == 0
    )
    assert cv2.imread(str(tmp_path / "o64" / "a_mask.png")).shape[:2] == (50, 37)


def test_predictor_reports_bad_inputs(tmp_path, tiny_checkpoint_2d, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    _write_png(inputs / "rgb.png", (40, 40), channels=3)
    (inputs / "broken.png").write_bytes(b"not a png")
    _write_png(inputs / "good.png", (40, 40))
    argv = ["--checkpoint", str(tiny_checkpoint_2d), "--input", str(inputs)]
    assert predict.main([*argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "rgb.png' has 3 channel(s) but the model takes 1" in err
    assert "broken.png" in err and "2 of 3 input(s) failed" in err
    assert (tmp_path / "out" / "good_mask.png").is_file()
    missing = ["--checkpoint", str(tmp_path / "nope.h5"), "--input", str(inputs)]
    assert predict.main([*missing, "--out", str(tmp_path / "o")]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".npy", ".nii.gz"])
def test_predictor_on_volumes(tmp_path, tiny_checkpoint_3d, suffix):
    volume = np.random.default_rng(0).random((20, 18, 17)).astype(np.float32) * 100
    path = tmp_path / f"vol{suffix}"
    save_volume(path, volume, (2.0, 1.0, 1.0))
    argv = ["--checkpoint", str(tiny_checkpoint_3d), "--input", str(path)]
    assert predict.main([*argv, "--out", str(tmp_path / "out")]) == 0
    written = "vol.nii.gz" if suffix == ".nii.gz" else "vol_mask.npy"
    mask, meta = load_volume(tmp_path / "out" / written)
    assert mask.shape == volume.shape
    assert meta["spacing"] == (2.0, 1.0, 1.0)
    assert (tmp_path / "out" / "vol_overlay.png").is_file()


def test_evaluate_cli_on_a_folder_dataset(tmp_path, tiny_checkpoint_2d, capsys):
    root = tmp_path / "pairs"
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    for i in range(3):
        _write_png(root / "image" / f"{i}.png", (40, 36), seed=i)
        label = np.zeros((40, 36), np.uint8)
        label[5 + i : 20, 10:30] = 255
        cv2.imwrite(str(root / "label" / f"{i}.png"), label)
    out = tmp_path / "eval"
    argv = ["--checkpoint", str(tiny_checkpoint_2d), "--dataset", f"folder:{root}"]
    assert evaluate.main([*argv, "--images", "1-2", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "mean" in table and "n_true" in table
    with open(out / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["1", "2"]
    assert all(float(r["components_true"]) == 1 for r in rows)
    assert evaluate.main([*argv, "--images", "7", "--out", str(out)]) == 2
    assert "Unknown image names ['7']" in capsys.readouterr().err


def test_evaluate_drive_with_the_pretrained_checkpoint(tmp_path, capsys, shared_data):
    """Held-out images 37 and 38 (never trained on), at the checkpoint's settings."""
    drive = shared_data / "drive"
    out = tmp_path / "eval"
    argv = [
        "--checkpoint", str(PRETRAINED), "--dataset", "drive", "--data-root",
        str(drive), "--split", "training", "--images", "37,38", "--out", str(out),
    ]  # fmt: skip
    assert evaluate.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 2
    with open(out / "per_image.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["37", "38"]
    assert all(float(r["dice"]) > 0.8 for r in rows), rows
    assert metrics["auc"] > 0.97
    assert (out / "overlays" / "38.png").is_file()


def test_unet25d_predicts_a_slices_first_volume_in_its_own_layout(tmp_path):
    """Readers give (D, H, W); unet25d takes (H, W, S): the predictor moves the axis."""
    import numpy as np

    import zoo
    from data_pipelines.readers import load_volume, save_volume
    from train_scripts.data import (
        from_model_layout,
        prepare_volume,
        slices_last,
        to_model_layout,
    )
    from train_scripts.predict import predict_file

    assert slices_last("unet25d") and not slices_last("vnet3d")
    volume = np.random.default_rng(0).random((3, 32, 48, 1)).astype("float32")
    moved = to_model_layout(volume, "unet25d")
    assert moved.shape == (32, 48, 3, 1)
    np.testing.assert_array_equal(from_model_layout(moved, "unet25d"), volume)

    model = zoo.unet25d((32, 48, 3, 1), filters=2)
    path = tmp_path / "scan.npy"
    save_volume(path, volume[..., 0], spacing=(3.0, 0.5, 0.5))
    written = predict_file(model, path, tmp_path / "out", tile_size=(32, 48, 3))
    mask, meta = load_volume(written["mask"])
    assert tuple(meta["spacing"]) == (3.0, 0.5, 0.5)
    prepared = to_model_layout(prepare_volume(volume[..., 0]), "unet25d")
    direct = np.asarray(model(prepared[None], training=False))[0]
    expected = from_model_layout(direct, "unet25d")[..., 0] > 0.5
    np.testing.assert_array_equal(mask.reshape(expected.shape) > 0, expected)
