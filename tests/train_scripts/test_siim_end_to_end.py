"""SIIM-ACR pneumothorax from the command line: train, predict --rle-csv, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_pipelines.rle import read_rle_csv, rle_decode
from losses import evaluation
from train_scripts import cli, evaluate, predict

REPO_ROOT = Path(__file__).resolve().parents[2]
SIIM = REPO_ROOT.parent / "shared" / "data" / "siim_pneumothorax_sample"


@pytest.mark.slow
@pytest.mark.skipif(not SIIM.is_dir(), reason="SIIM sample not present")
def test_siim_train_predict_evaluate(tmp_path):
    run = tmp_path / "run"
    status = cli.main(
        [
            "--model", "unet_padding",
            "--model-kwargs", '{"depth": 2, "filters": 4}',
            "--dataset", "siim", "--data-root", str(SIIM),
            "--patch-size", "32", "--epochs", "1", "--steps-per-epoch", "2",
            "--batch-size", "2", "--empty-ratio", "0.5",
            "--out", str(run),
        ]
    )  # fmt: skip
    assert status == 0
    config = json.loads((run / "run.json").read_text())["config"]
    assert config["empty_ratio"] == 0.5 and config["dataset"] == "siim"

    pred_dir, sub = tmp_path / "pred", tmp_path / "submission.csv"
    status = predict.main(
        [
            "--checkpoint", str(run / "best.h5"),
            "--input", str(SIIM / "dicom-images-train"),
            "--out", str(pred_dir), "--tile-size", "256",
            "--min-size", "20", "--rle-csv", str(sub),
        ]
    )  # fmt: skip
    assert status == 0
    header = sub.read_text().splitlines()[0]
    assert header == "ImageId,EncodedPixels"
    rows = read_rle_csv(sub)
    (image_id,) = rows
    png = cv2.imread(str(pred_dir / f"{image_id}_mask.png"), cv2.IMREAD_GRAYSCALE)
    assert png.shape == (1024, 1024)
    # The submission row is the written mask, in the competition's RLE.
    np.testing.assert_array_equal(rle_decode(rows[image_id][0]), png > 0)

    eval_dir = tmp_path / "eval"
    status = evaluate.main(
        [
            "--checkpoint", str(run / "best.h5"),
            "--dataset", "siim", "--data-root", str(SIIM),
            "--out", str(eval_dir), "--tile-size", "256",
            "--min-size", "20", "--no-overlays",
        ]
    )  # fmt: skip
    assert status == 0
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    truth = cv2.imread(str(SIIM / "masks" / f"{image_id}.png"), cv2.IMREAD_GRAYSCALE)
    # Same model, tiles and post-processing: the competition metric of the
    # predicted mask against the truth.
    expected = evaluation.mean_image_dice([truth > 0], [png > 0])
    assert metrics["siim_dice"] == pytest.approx(expected, abs=1e-6)
