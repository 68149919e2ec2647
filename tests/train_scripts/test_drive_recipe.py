"""Smoke run of the DRIVE recipe at tiny settings on the shared DRIVE copy."""

import json

import keras
import numpy as np
import pytest

import zoo
from data_pipelines.readers import load_drive
from train_scripts.data import ImageSet
from train_scripts.precision import model_precision
from train_scripts.preprocess import Preprocessing
from train_scripts.recipes import drive
from train_scripts.runs import write_run
from zoo.postprocess import suppress_removed
from zoo.settings import read_settings, write_settings


@pytest.mark.slow
@pytest.mark.parametrize(
    ("precision", "model", "loss"),
    [
        ("float32", "attention_unet", ["--loss", "bce"]),
        ("mixed_bfloat16", "sa_unet", []),
    ],
)
def test_drive_recipe_tiny_run(shared_data, tmp_path, precision, model, loss):
    run = drive.main(
        [
            *loss,
            "--precision",
            precision,
            "--model",
            model,
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
    assert settings["model"] == run["model"]["name"] == model
    assert saved["config"]["precision"] == precision
    assert saved["config"]["loss"] == (loss[1] if loss else "bce_dice")
    for name in ("best.h5", "last.h5"):  # saved in float32 whatever trained
        model = keras.models.load_model(tmp_path / name)
        assert model.count_params() == run["model"]["params"]
        assert model_precision(model) == "float32"
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


def _one_image(probs, truth):
    """Lists of one probability map, its (H, W, 1) mask and an all-ones FOV."""
    return [probs], [truth[..., None]], [np.ones(truth.shape + (1,), np.float32)]


def test_threshold_is_the_f1_optimum_of_the_calibration_images():
    rng = np.random.default_rng(0)
    probs = rng.random((64, 64)).astype(np.float32)
    truth = (probs > 0.62).astype(np.float32)  # perfectly separable at 0.62
    assert drive.calibrate_threshold(*_one_image(probs, truth)) == 0.62
    # Pooled over several images: the FOV limits what counts.
    fov = np.zeros((64, 64, 1), np.float32)
    fov[:, :32] = 1
    other = np.where(np.arange(64) < 32, probs, 1.0 - probs).astype(np.float32)
    assert (
        drive.calibrate_threshold([probs, other], [truth[..., None]] * 2, [fov] * 2)
        == 0.62
    )


def test_min_size_is_calibrated_and_removes_exactly_the_small_components():
    truth = np.zeros((40, 40), np.float32)
    truth[5:15, 5:15] = 1  # one vessel-like block of 100 pixels
    probs = truth * 0.9
    probs[30, 30] = probs[35, 5] = 0.9  # isolated false positives
    probs[30:33, 10:13] = 0.8  # a 9-pixel false component
    probs[20, 20] = 0.3  # below the threshold: never touched
    assert drive.calibrate_min_size(*_one_image(probs, truth), 0.5) == 10
    fov = np.ones((40, 40), bool)
    kept = suppress_removed(probs, 0.5, min_size=9, region=fov)
    assert kept[30:33, 10:13].min() == pytest.approx(0.8)  # exactly 9 stays
    assert kept[30, 30] == 0 and kept[35, 5] == 0
    assert kept[20, 20] == pytest.approx(0.3)  # the AUC's ranking below it stays
    np.testing.assert_array_equal(
        suppress_removed(probs, 0.5, min_size=10, region=fov) > 0.5, truth
    )
    np.testing.assert_array_equal(suppress_removed(probs, 0.5, region=fov), probs)


def test_held_out_mask_is_post_processed_and_auc_ranks_the_model_probabilities(
    tmp_path,
):
    truth = np.zeros((40, 40), np.float32)
    truth[5:15, 5:15] = 1
    truth[30, 30] = 1  # a true one-pixel fragment the post-processing drops
    probs = truth * 0.9
    images, masks, fovs = _one_image(probs, truth)
    held_out = ImageSet([np.repeat(masks[0], 3, -1)], masks, ["37"], fov=fovs)
    row = drive.evaluate_held_out(
        images, held_out, tmp_path, threshold=0.5, overlays=False, min_size=2
    )["per_image"][0]
    assert row["components_pred"] == 1 and row["sensitivity"] == 100 / 101
    assert row["auc"] == 1.0  # zeroing the fragment would rank it with the background


@pytest.mark.slow
def test_recipe_calibrates_on_training_images_only(shared_data, tmp_path, monkeypatch):
    seen = []
    calibrate = drive.calibrate_threshold

    def spy(probs, masks, fovs, grid=None):
        seen.append(masks)
        return calibrate(probs, masks, fovs, grid)

    monkeypatch.setattr(drive, "calibrate_threshold", spy)
    run = drive.main(
        [
            "--data-root", str(shared_data / "drive"), "--out", str(tmp_path),
            "--n-val", "1", "--patch", "32", "--batch-size", "4", "--steps", "1",
            "--epochs", "1", "--filters", "4", "--no-tta", "--calibration-images",
            "2", "--channels", "green", "--clahe", "--warmup-epochs", "0.5",
        ]
    )  # fmt: skip
    assert run["calibration_images"] == ["38", "39"]
    assert not set(run["calibration_images"]) & set(run["val_images"])
    data = load_drive(shared_data / "drive", "training")
    (masks,) = seen
    for got, name in zip(masks, ["38", "39"], strict=True):
        np.testing.assert_array_equal(got, data.masks[data.names.index(name)])
    settings = read_settings(tmp_path / "last.h5")
    assert settings["channels"] == "green" and settings["clahe"] is True
    assert settings["input_channels"] == 1
    assert settings["min_size"] == run["min_size"] in drive.MIN_SIZES
    rows = run["validation"]["per_image"]
    assert rows[0]["components_true"] >= 1 and rows[0]["components_pred"] >= 0


def _tiny_member(folder, seed, channels="green", clahe=True):
    """A tiny recipe run folder: last.h5 with its settings and a run.json."""
    keras.utils.set_random_seed(seed)
    folder.mkdir()
    model = zoo.sa_unet((None, None, 1), 1, filters=4, depth=2)
    model.save(folder / "last.h5")
    pre = Preprocessing(channels=channels, clahe=clahe)
    write_settings(
        folder / "last.h5",
        drive.inference_settings(0.5, tta=False, filters=4, preprocess=pre),
    )
    write_run(
        folder,
        {
            "config": {"seed": seed},
            "train_seconds": 10.0,
            "train_images": ["21"],
            "val_images": ["40"],
        },
    )
    return model


@pytest.mark.slow
def test_ensemble_of_runs_is_one_calibrated_checkpoint(shared_data, tmp_path):
    members = [_tiny_member(tmp_path / f"m{s}", s) for s in (0, 1)]
    out = tmp_path / "ensemble"
    argv = [
        "--data-root", str(shared_data / "drive"), "--out", str(out), "--n-val", "1",
        "--calibration-images", "1", "--no-tta", "--channels", "green", "--clahe",
        "--ensemble", str(tmp_path / "m0"), str(tmp_path / "m1"),
    ]  # fmt: skip
    run = drive.main(argv)
    model = keras.models.load_model(out / "last.h5")
    x = np.random.default_rng(0).random((1, 32, 32, 1)).astype("float32")
    want = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)
    assert run["model"]["ensemble_of"] == [str(tmp_path / "m0"), str(tmp_path / "m1")]
    assert run["train_seconds"] == 20.0
    settings = read_settings(out / "last.h5")
    assert settings["threshold"] == run["threshold"] and settings["clahe"] is True
    # Members trained on other input are refused by name.
    _tiny_member(tmp_path / "rgb", 2, channels="green", clahe=False)
    bad = [*argv[:-3], "--ensemble", str(tmp_path / "m0"), str(tmp_path / "rgb")]
    with pytest.raises(ValueError, match=r"rgb.last\.h5' was trained with"):
        drive.main(bad)
