"""Command-line augmentation presets, preprocessing and weight-map losses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_pipelines.augment import Augmenter2D, Augmenter3D
from data_pipelines.pipeline import make_patch_dataset
from data_pipelines.weight_maps import unet_weight_map
from train_scripts import cli, targets
from train_scripts.augmentation import PRESETS, augment_options, make_augmenter
from train_scripts.preprocess import Preprocessing
from zoo.settings import read_settings

TINY = ["--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32"]
ONE_STEP = [
    "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
    "--val-patches", "2", "--verbose", "0", "--no-final-eval",
]  # fmt: skip


def _options(*argv: str, rank: int = 2) -> dict:
    args = cli.build_parser().parse_args([*argv, "--out", "x"])
    return augment_options(args, rank)


def _blocks(n: int = 2, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Images equal to their masks: big bright blocks on black."""
    rng = np.random.default_rng(0)
    masks = np.zeros((n, size, size, 1), np.float32)
    for m in masks:
        y, x = rng.integers(4, size // 2, 2)
        m[y : y + size // 3, x : x + size // 4] = 1.0
    return masks.copy(), masks


def _batch(augment) -> tuple[np.ndarray, np.ndarray]:
    images, masks = _blocks()
    dataset = make_patch_dataset(
        images,
        masks,
        patch_size=(48, 48),
        batch_size=16,
        fg_ratio=1.0,
        augment=augment,
        patches_per_epoch=16,
        seed=3,
    )
    x, y = next(iter(dataset))
    return x.numpy(), y.numpy()


def test_presets_and_flags_resolve():
    assert _options()["preset"] == "light"
    assert make_augmenter(_options("--augment", "none"), 2) is None
    assert make_augmenter(_options("--no-augment"), 2) is None
    strong = make_augmenter(_options("--augment", "strong", "--rotation", "30"), 2)
    assert isinstance(strong, Augmenter2D)
    assert strong.rotation == 30 and strong.vflip and strong.gamma == 0.2
    elastic = _options("--augment", "elastic", "--no-vflip")
    assert elastic["elastic"] == PRESETS["elastic"]["elastic"] > 0
    assert elastic["vflip"] is False
    volume = make_augmenter(_options("--augment", "strong", rank=3), 3)
    assert isinstance(volume, Augmenter3D)
    assert volume.flip_axes == (0, 1, 2) and volume.gamma == 0  # z-scored volumes
    with pytest.raises(ValueError, match="--gamma"):
        _options("--gamma", "0.3", rank=3)
    with pytest.raises(ValueError, match="--no-augment"):
        _options("--no-augment", "--vflip")


@pytest.mark.parametrize("preset", ["light", "strong", "elastic"])
def test_presets_change_batches_and_keep_image_and_mask_aligned(preset):
    plain_x, plain_y = _batch(None)
    np.testing.assert_array_equal(plain_x > 0.5, plain_y > 0.5)
    x, y = _batch(make_augmenter(_options("--augment", preset), 2))
    assert x.shape == plain_x.shape and y.shape == plain_y.shape
    assert not np.array_equal(y, plain_y)  # the geometry changed
    # Image and mask moved together: the bright pixels are the mask's,
    # except for a thin interpolated rim along the edges.
    agree = np.mean((x > 0.5) == (y > 0.5))
    moved = np.mean((plain_y > 0.5) == (y > 0.5))
    assert agree > 0.98 and agree > moved


def test_weight_map_target_appends_the_unet_weight_map():
    mask = np.zeros((32, 32, 1), np.float32)
    mask[4:12, 4:12] = mask[14:20, 4:12] = 1
    target = targets.weight_map_target(mask)
    assert target.shape == (32, 32, 2)
    np.testing.assert_array_equal(target[..., 0], mask[..., 0])
    np.testing.assert_allclose(target[..., 1], unet_weight_map(mask[..., 0] > 0))


@pytest.mark.slow
def test_weighted_bce_trains_from_the_cli_on_isbi(shared_data, tmp_path):
    argv = [
        *TINY, *ONE_STEP, "--dataset", "isbi",
        "--data-root", str(shared_data / "isbi2012_membrane"),
        "--val-images", "28,29", "--loss", "weighted_bce",
        "--augment", "elastic", "--no-vflip", "--out", str(tmp_path),
    ]  # fmt: skip
    assert cli.main(argv, family="unet") == 0
    record = json.loads((tmp_path / "run.json").read_text())
    logs = record["best"]["logs"]
    assert np.isfinite(logs["loss"]) and np.isfinite(logs["val_loss"])
    assert 0.0 <= logs["val_dice"] <= 1.0
    augment = record["config"]["augment"]
    assert augment["preset"] == "elastic" and augment["vflip"] is False
    assert augment["elastic"] > 0


def test_preprocessing_is_recorded_and_shapes_the_input(tmp_path):
    argv = [
        *TINY, *ONE_STEP, "--n-images", "3", "--image-size", "48",
        "--channels", "rgb", "--clahe", "--resize", "40,36", "--patch-size", "32",
        "--run-eagerly", "--out", str(tmp_path),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    settings = read_settings(tmp_path / "best.h5")
    assert settings["channels"] == "rgb" and settings["clahe"] is True
    assert settings["resize"] == [40, 36] and settings["input_channels"] == 3
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["model"]["input_shape"] == [None, 32, 32, 3]
    assert record["config"]["preprocessing"]["resize"] == [40, 36]


def test_preprocessing_conversions():
    rgb = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    gray = Preprocessing(channels="gray").prepare(rgb)
    np.testing.assert_allclose(
        gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114], np.float32), atol=1e-3
    )
    np.testing.assert_array_equal(
        Preprocessing(channels="green").prepare(rgb), rgb[..., 1:2]
    )
    resized = Preprocessing(channels="green", clahe=True, resize=(10, 12)).prepare(rgb)
    assert resized.shape == (10, 12, 1) and 0 <= resized.min() <= resized.max() <= 1
    with pytest.raises(ValueError, match="green needs an RGB image"):
        Preprocessing(channels="green").prepare(rgb[..., :1])
    with pytest.raises(ValueError, match="--resize"):
        Preprocessing(resize="0,4")
