"""The shared trainer and its CLI: every dataset kind, resume after a kill, --help."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from data_pipelines.readers import save_volume
from train_scripts import cli
from train_scripts.data import load_dataset, parse_names, split_by_image
from train_scripts.trainer import AtomicCheckpoint, make_optimizer, train

REPO_ROOT = Path(__file__).resolve().parents[2]

TINY_2D = ["--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32"]
COMMON = [
    "--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "2",
    "--val-patches", "4", "--verbose", "0",
]  # fmt: skip


def _csv_epochs(path: Path) -> list[int]:
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _check_run(out: Path, epochs: int = 2) -> dict:
    for name in (
        "best.h5",
        "last.h5",
        "metrics.csv",
        "run.json",
        "learning_curves.png",
    ):
        assert (out / name).is_file(), name
    assert _csv_epochs(out / "metrics.csv") == list(range(epochs))
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["seed"] == 0
    assert {"tensorflow", "keras", "numpy", "python"} <= set(record["versions"])
    assert record["best"]["monitor"] == "val_dice"
    assert not (out / "backup").exists()  # removed once the run completed
    keras.models.load_model(out / "best.h5", compile=False)
    return record


def _folder_dataset(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    for i in range(n):
        label = np.zeros((48, 40), np.uint8)
        label[rng.integers(0, 30) :][:10, 5:30] = 255
        image = np.clip(label * 0.6 + rng.normal(60, 20, label.shape), 0, 255)
        cv2.imwrite(str(root / "image" / f"{i}.png"), image.astype(np.uint8))
        cv2.imwrite(str(root / "label" / f"{i}.png"), label)
    return root


def test_synthetic_run_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*TINY_2D, *COMMON, "--n-images", "5", "--image-size", "64"]
    if importlib.util.find_spec("tensorboard") is None:
        assert cli.main([*argv, "--out", str(out), "--tensorboard"]) == 2
        assert "pip install tensorboard" in capsys.readouterr().err
    else:
        argv.append("--tensorboard")
    assert cli.main([*argv, "--out", str(out)], family="unet") == 0
    record = _check_run(out)
    split = record["config"]["split"]
    assert not set(split["train"]) & set(split["val"])  # split by image
    assert len(split["val"]) == 1
    assert (out / "tensorboard").is_dir() == ("--tensorboard" in argv)
    metrics = json.loads((out / "val_eval" / "metrics.json").read_text())
    assert {"dice", "iou", "sensitivity", "specificity", "accuracy", "auc"} <= set(
        metrics
    )
    assert (out / "val_eval" / "overlays" / f"{split['val'][0]}.png").is_file()


def test_synthetic3d_run(tmp_path):
    out = tmp_path / "run3d"
    argv = [
        "--model-kwargs", '{"depth": 2}', "--patch-size", "16", *COMMON,
        "--n-images", "3", "--image-size", "24", "--no-augment",
        "--schedule", "plateau", "--early-stopping", "3",
    ]  # fmt: skip
    assert cli.main([*argv, "--out", str(out)], family="vnet3d") == 0
    record = _check_run(out)
    assert record["config"]["dataset"] == "synthetic3d"
    assert record["model"]["input_shape"] == [None, 16, 16, 16, 1]


def test_folder_run_with_explicit_validation_images(tmp_path):
    root = _folder_dataset(tmp_path / "pairs")
    out = tmp_path / "run"
    argv = [*TINY_2D, *COMMON, "--dataset", f"folder:{root}", "--val-images", "3"]
    assert cli.main([*argv, "--out", str(out), "--loss", "focal_dice"]) == 0
    record = _check_run(out)
    assert record["config"]["split"] == {
        "train": ["0", "1", "2"],
        "val": ["3"],
        "holdout": [],
    }


@pytest.mark.parametrize(
    ("dataset", "folder", "split_args"),
    [
        ("drive", "drive", ["--val-images", "39", "--holdout-images", "40"]),
        (
            "isbi",
            "isbi2012_membrane",
            ["--val-images", "24", "--holdout-images", "25-29"],
        ),
    ],
)
def test_shared_data_runs(tmp_path, shared_data, dataset, folder, split_args):
    root = shared_data / folder
    out = tmp_path / dataset
    argv = [
        *TINY_2D, *COMMON, "--dataset", dataset, "--data-root", str(root),
        *split_args, "--no-final-eval",
    ]  # fmt: skip
    assert cli.main([*argv, "--out", str(out)]) == 0
    record = _check_run(out)
    held_out = parse_names(split_args[3])
    assert not set(record["config"]["split"]["train"]) & set(held_out)
    channels = 3 if dataset == "drive" else 1
    assert record["model"]["input_shape"] == [None, 32, 32, channels]


def test_split_by_image_never_shares_images():
    data = load_dataset("synthetic", n_images=10, image_size=32)
    train_set, val_set = split_by_image(data, holdout_names=["8", "9"], seed=3)
    assert len(val_set) == 2 and len(train_set) == 6
    assert not set(train_set.names) & set(val_set.names)
    assert not {"8", "9"} & (set(train_set.names) | set(val_set.names))
    with pytest.raises(ValueError, match="Unknown image names"):
        split_by_image(data, val_names=["42"])
    with pytest.raises(ValueError, match="both validation and held out"):
        split_by_image(data, val_names=["1"], holdout_names=["1"])


def test_cli_reports_bad_options(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert cli.main(["--dataset", "drive", "--out", out]) == 2
    assert "--data-root" in capsys.readouterr().err
    assert cli.main(["--model", "no_such_model", "--out", out]) == 2
    assert "unet_padding" in capsys.readouterr().err  # lists the valid names
    assert cli.main([*TINY_2D, "--loss", "nope", "--out", out, *COMMON]) == 2
    assert "Unknown loss" in capsys.readouterr().err
    assert cli.main(["--model-kwargs", '{"nope": 1}', "--out", out, *COMMON]) == 2
    assert "Bad --model-kwargs for unet_padding" in capsys.readouterr().err


class _Kill(keras.callbacks.Callback):
    """Simulates a kill in the middle of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch
        self.current = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise KeyboardInterrupt("killed")


def test_backup_and_restore_resumes_after_a_kill(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 1), dtype=np.float32)
    y = (x > 0.5).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)  # 4 steps / epoch

    def fresh():
        keras.utils.set_random_seed(0)
        model = zoo.unet_padding((16, 16, 1), 1, depth=2, filters=4)
        optimizer = make_optimizer("adam", 1e-3, schedule="cosine", total_steps=12)
        return model, optimizer

    out = tmp_path / "run"
    model, optimizer = fresh()
    with pytest.raises(KeyboardInterrupt):
        train(model, data, data, epochs=3, out_dir=out, optimizer=optimizer,
              verbose=0, callbacks=[_Kill(1)], run_config={"seed": 0})  # fmt: skip
    assert _csv_epochs(out / "metrics.csv") == [0]
    assert json.loads((out / "last.h5.json").read_text())["epoch"] == 1
    interrupted = keras.models.load_model(out / "last.h5", compile=False)
    for a, b in zip(interrupted.get_weights(), model.get_weights(), strict=True):
        assert a.shape == b.shape  # intact and loadable

    model, optimizer = fresh()
    result = train(model, data, data, epochs=3, out_dir=out, optimizer=optimizer,
                   verbose=0, run_config={"seed": 0})  # fmt: skip
    assert result.initial_epoch == 1
    assert len(result.history["loss"]) == 2  # epochs 2 and 3 only
    assert int(optimizer.iterations) == 12  # optimizer state restored (4 + 8)
    assert _csv_epochs(out / "metrics.csv") == [0, 1, 2]
    assert json.loads((out / "last.h5.json").read_text())["epoch"] == 3
    record = json.loads((out / "run.json").read_text())
    assert record["resumed_at"][0]["epoch"] == 1
    assert not (out / "backup").exists()
    keras.models.load_model(out / "best.h5", compile=False)


def test_checkpoint_is_never_left_truncated(tmp_path, monkeypatch):
    model = zoo.unet_padding((16, 16, 1), 1, depth=2, filters=4)
    checkpoint = AtomicCheckpoint(tmp_path / "best.h5", monitor="val_dice")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_dice": 0.5})
    checkpoint.on_epoch_end(1, {"val_dice": 0.4})  # worse: not saved
    assert json.loads((tmp_path / "best.h5.json").read_text())["epoch"] == 1

    def crash(path, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError("disk died")

    monkeypatch.setattr(model, "save", crash)
    with pytest.raises(OSError):
        checkpoint.on_epoch_end(2, {"val_dice": 0.9})
    keras.models.load_model(tmp_path / "best.h5", compile=False)  # still intact
    with pytest.raises(ValueError, match="not logged"):
        checkpoint.on_epoch_end(3, {"loss": 0.1})


SCRIPTS = sorted(p.stem for p in (REPO_ROOT / "train_scripts").glob("train_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_of_every_train_script(script, capsys):
    family = script.removeprefix("train_")
    assert family in cli.FAMILIES
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"], family=family)
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model-kwargs", "--dataset", "--patch-size", "--schedule"):
        assert option in text
    assert f"train_scripts.{script}" in text


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "train_scripts.train_vnet3d", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "vnet3d_depthwise" in result.stdout


def test_volumes_folder_run(tmp_path):
    root = tmp_path / "vols"
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    rng = np.random.default_rng(0)
    for i, suffix in enumerate([".npy", ".nii.gz", ".npy"]):
        label = np.zeros((20, 20, 20), np.uint8)
        label[4:12, 5 + i : 15, 6:14] = 1
        volume = 400.0 * label + rng.normal(100, 30, label.shape)  # CT-like units
        save_volume(root / "image" / f"case{i}{suffix}", volume.astype(np.float32))
        save_volume(root / "label" / f"case{i}{suffix}", label)
    data = load_dataset(f"volumes:{root}")
    assert data.names == ["case0", "case1", "case2"] and data.rank == 3
    assert abs(float(data.images[1].mean())) < 1e-4  # z-scored like the predictor
    out = tmp_path / "run"
    argv = [
        "--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "16",
        *COMMON, "--dataset", f"volumes:{root}", "--val-images", "case2",
    ]  # fmt: skip
    assert cli.main([*argv, "--out", str(out)], family="unet3d") == 0
    _check_run(out)
    (root / "label" / "case1.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case1.nii.gz' has no label"):
        load_dataset(f"volumes:{root}")


def test_cli_rejects_a_non_aligned_patch_for_unet_original():
    from train_scripts.cli import build_model

    with pytest.raises(
        ValueError, match="aligned patch sizes.*nearest aligned size: 252"
    ):
        build_model("unet_original", (256, 256), 1, 1, {"filters": [2, 2, 2, 2, 2]})
    model = build_model("unet_original", (252, 252), 1, 1, {"filters": [2, 2, 2, 2, 2]})
    assert model.output_shape == (None, 68, 68, 1)


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [
        ("val_loss", "min"),
        ("val_binary_crossentropy", "min"),
        ("val_hd95", "min"),
        ("val_mae", "min"),
        ("val_dice", "max"),
        ("iou", "max"),
        ("val_auc", "max"),
    ],
)
def test_resolve_mode(monitor, mode):
    from train_scripts.trainer import resolve_mode

    assert resolve_mode(monitor) == mode
    assert resolve_mode(monitor, "max") == "max"


def test_resolve_mode_refuses_to_guess():
    from train_scripts.trainer import resolve_mode

    with pytest.raises(ValueError, match="pass mode='min' or mode='max'"):
        resolve_mode("val_my_metric")
