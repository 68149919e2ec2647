"""Checkpoints carry their inference settings; predict/evaluate use them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import zoo
from data_pipelines.readers import read_image
from train_scripts import evaluate, predict
from zoo.postprocess import postprocess_mask
from zoo.settings import read_settings, update_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVE_CHECKPOINT = REPO_ROOT / "pretrained" / "drive_vessels.h5"


def test_drive_checkpoint_records_the_recipe_settings():
    settings = read_settings(DRIVE_CHECKPOINT)
    assert settings["threshold"] == 0.74 and settings["min_size"] == 20
    assert settings["tile_size"] == [128, 128] and settings["tta"] is True
    assert settings["channels"] == "rgb" and not settings["clahe"]
    assert settings["class_names"] == ["vessel"]


@pytest.mark.slow
def test_predict_drive_checkpoint_without_flags_uses_the_calibrated_settings(
    shared_data, tmp_path
):
    image = read_image(
        shared_data / "drive" / "training" / "images" / "21_training.tif"
    )
    crop = (image[200:360, 200:360] * 255).round().astype(np.uint8)
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "21.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    argv = ["--checkpoint", str(DRIVE_CHECKPOINT), "--input", str(folder)]
    assert predict.main([*argv, "--out", str(out), "--save-probs"]) == 0
    probs = np.load(out / "21_probs.npy")[..., 0]
    mask = cv2.imread(str(out / "21_mask.png"), cv2.IMREAD_UNCHANGED)
    between = (probs > 0.5) & (probs <= 0.74)
    assert between.any()  # 0.5 and 0.74 give different masks on this crop
    stored = postprocess_mask(probs > 0.74, min_size=20)
    assert stored.sum() < (probs > 0.74).sum()  # the stored min size removed some
    np.testing.assert_array_equal(mask > 0, stored)
    # Flags still override the stored threshold and minimum size.
    o5 = ["--out", str(tmp_path / "o5"), "--threshold", "0.5", "--min-size", "0"]
    assert predict.main([*argv, *o5]) == 0
    mask5 = cv2.imread(str(tmp_path / "o5" / "21_mask.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(mask5 > 0, probs > 0.5)


def test_settings_are_defaults_and_flags_override(tiny_checkpoint_2d, tmp_path):
    checkpoint = tmp_path / "c.h5"
    checkpoint.write_bytes(tiny_checkpoint_2d.read_bytes())
    update_settings(
        checkpoint,
        threshold=0.3,
        tile_size=[32, 32],
        tta=True,
        overlap=0.25,
        channels="gray",
        clahe=True,
        resize=[40, 48],
    )
    parser = predict.build_parser()
    settings = read_settings(checkpoint)
    base = ["--checkpoint", str(checkpoint), "--input", "x", "--out", "y"]
    stored = predict.inference_options(parser.parse_args(base), settings, 2)
    assert stored["threshold"] == 0.3 and stored["tta"] and stored["overlap"] == 0.25
    assert stored["tile_size"] == (32, 32)
    assert stored["preprocess"].settings() == {
        "channels": "gray",
        "clahe": True,
        "resize": [40, 48],
    }
    flags = ["--threshold", "0.6", "--no-tta", "--no-clahe", "--tile-size", "16"]
    over = predict.inference_options(parser.parse_args([*base, *flags]), settings, 2)
    assert (
        over["threshold"] == 0.6 and not over["tta"] and over["tile_size"] == (16, 16)
    )
    assert not over["preprocess"].clahe and over["preprocess"].channels == "gray"
    # An RGB image is converted to grey, equalised, resized and resized back.
    rgb = (np.random.default_rng(0).random((50, 60, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), rgb)
    assert predict.main([*base[:2], "--input", str(tmp_path / "img.png"),
                         "--out", str(tmp_path / "pred")]) == 0  # fmt: skip
    mask = cv2.imread(str(tmp_path / "pred" / "img_mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (50, 60)
    assert (
        evaluate.build_parser()
        .parse_args(["--checkpoint", "c", "--dataset", "synthetic", "--out", "o"])
        .threshold
        is None
    )


def _png_folder(folder: Path) -> Path:
    folder.mkdir()
    image = np.zeros((70, 90), np.uint8)
    image[20:40, 30:60] = 200
    cv2.imwrite(str(folder / "a.png"), image)
    return folder


def test_predict_multi_output_and_two_input_checkpoints(tmp_path):
    """Deep supervision + CGM predicts with its main output; fine_grained serially."""
    folder = _png_folder(tmp_path / "in")
    deep = zoo.unet3_plus((32, 32, 1), filters=(4, 8, 16, 32), skip_filters=4, cgm=True)
    fine = zoo.fine_grained_unet(
        (32, 32, 1),
        (1, 1),
        backbone="orig_unet",
        encoder_filters=4,
        decoder_filters=(8, 8, 4, 4, 4),
        centre_filters=8,
    )
    for model, files in (
        (deep, ["a_mask.png"]),
        (fine, ["a_mask.png", "a_tiny_mask.png"]),
    ):
        path = tmp_path / f"{model.name}.h5"
        model.save(path)
        out = tmp_path / model.name
        assert predict.main(["--checkpoint", str(path), "--input", str(folder),
                             "--out", str(out)]) == 0  # fmt: skip
        for name in files:
            mask = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
            assert mask.shape == (70, 90)
