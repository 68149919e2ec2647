"""Smoke run of the DRIVE recipe at tiny settings on the shared DRIVE copy."""

import json

import keras
import pytest

from train_scripts.recipes import drive
from zoo.settings import read_settings


@pytest.mark.slow
def test_drive_recipe_tiny_run(shared_data, tmp_path):
    run = drive.main(
        [
            "--data-root",
            str(shared_data / "drive"),
            "--out",
            str(tmp_path),
            "--n-val",
            "1",
            "--patch",
            "32",
            "--batch-size",
            "4",
            "--steps",
            "2",
            "--epochs",
            "1",
            "--filters",
            "4",
            "--no-tta",
            "--calibration-images",
            "1",
        ]
    )
    assert run["val_images"] == ["40"] and "40" not in run["train_images"]
    mean = run["validation"]["mean"]
    assert 0.0 <= mean["dice"] <= 1.0 and 0.0 <= mean["auc"] <= 1.0
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["config"]["epochs"] == 1
    # The evaluated checkpoint carries the calibrated inference settings.
    settings = read_settings(tmp_path / "last.h5")
    assert settings["threshold"] == run["threshold"]
    assert settings["tile_size"] == [128, 128] and settings["tta"] is False
    assert settings["channels"] == "rgb" and settings["clahe"] is False
    assert (
        keras.models.load_model(tmp_path / "best.h5").count_params()
        == run["model"]["params"]
    )
    assert (tmp_path / "val_40_overlay.png").stat().st_size > 0


def test_drive_recipe_rejects_a_bad_split(shared_data, tmp_path):
    with pytest.raises(ValueError, match="--n-val"):
        drive.main(
            [
                "--data-root",
                str(shared_data / "drive"),
                "--out",
                str(tmp_path),
                "--n-val",
                "20",
            ]
        )
