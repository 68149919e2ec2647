"""Bad input gets one clear line naming the file or the option (issue 17).

Each test reproduces a case of the bad-input battery: a silent wrong result or
a raw traceback before the fix.
"""

from __future__ import annotations

import csv
import errno
import json
import shutil
from collections import namedtuple
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import zoo
from data_pipelines.readers import load_folder_pairs, read_image
from train_scripts import cli, evaluate, guards, predict
from train_scripts.data import load_dataset
from zoo.settings import read_settings, write_settings

TINY = ["--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32"]
FAST = [
    "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2",
    "--val-patches", "2", "--verbose", "0", "--n-images", "4", "--image-size", "48",
    "--no-final-eval",
]  # fmt: skip


def _one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text and "\x1b[" not in text
    return lines[0]


def _pairs(root: Path, images: list[np.ndarray], labels: list[np.ndarray]) -> Path:
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        cv2.imwrite(str(root / "image" / f"{i}.png"), image)
        cv2.imwrite(str(root / "label" / f"{i}.png"), label)
    return root


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--steps-per-epoch", "0", "--schedule", "constant"], "--steps-per-epoch"),
        (["--steps-per-epoch", "-1", "--schedule", "plateau"], "--steps-per-epoch"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch"),  # cosine: not total_steps
        (["--epochs", "0"], "--epochs"),
        (["--val-patches", "0"], "--val-patches"),
        (["--fg-ratio", "2"], "--fg-ratio"),
        (["--warmup-steps", "5"], "--warmup-steps"),
        (["--patch-size", "6x4"], "--patch-size"),
        (["--model-kwargs", "{depth: 3}"], "--model-kwargs"),
        (["--lr", "0"], "--lr"),
    ],
)
def test_bad_training_options_are_named(tmp_path, capsys, extra, named):
    out = tmp_path / "run"
    assert cli.main([*TINY, *FAST, *extra, "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: ") and named in line
    assert not (out / "best.h5").exists()


def test_image_smaller_than_the_patch_is_named(tmp_path, capsys):
    rng = np.random.default_rng(0)
    small = (rng.random((20, 40)) * 255).astype(np.uint8)
    big = (rng.random((48, 48)) * 255).astype(np.uint8)
    images = [big, small, big]
    labels = [(im > 128).astype(np.uint8) * 255 for im in images]
    root = _pairs(tmp_path / "d", images, labels)
    argv = [
        *TINY,
        *FAST[:-5],
        "--dataset",
        f"folder:{root}",
        "--out",
        str(tmp_path / "o"),
    ]
    assert cli.main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert "Image '1' is (20, 40), smaller than the patch (32, 32)" in line


def test_out_that_is_a_file_is_refused_by_every_script(
    tmp_path, capsys, tiny_checkpoint_2d
):
    out = tmp_path / "taken"
    out.write_text("")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((40, 40), np.uint8))
    ckpt = ["--checkpoint", str(tiny_checkpoint_2d)]
    runs = [
        lambda: cli.main([*TINY, *FAST, "--out", str(out)]),
        lambda: predict.main([*ckpt, "--input", str(image), "--out", str(out)]),
        lambda: evaluate.main([*ckpt, "--dataset", "synthetic", "--out", str(out)]),
    ]
    for run in runs:
        assert run() == 2
        line = _one_line(capsys.readouterr().err)
        assert f"--out '{out}' is an existing file" in line
        assert out.is_file() and out.read_text() == ""


def test_read_only_out_fails_before_any_model_work(tmp_path, capsys, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(guards.tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(predict, "load_checkpoint", no_model)
    out = tmp_path / "ro"
    argv = ["--checkpoint", "x.h5", "--input", str(tmp_path), "--out", str(out)]
    assert predict.main(argv) == 2
    assert "Cannot write to --out" in _one_line(capsys.readouterr().err)
    assert cli.main([*TINY, *FAST, "--out", str(out)]) == 2
    assert "Read-only file system" in _one_line(capsys.readouterr().err)


def test_full_disk_fails_before_training_starts(tmp_path, capsys, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(guards.shutil, "disk_usage", lambda p: usage(1, 1, 1000))
    out = tmp_path / "run"
    assert cli.main([*TINY, *FAST, "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "MB free on the disk of --out" in line
    assert not (out / "last.h5").exists() and not (out / "run.json").exists()


def test_corrupt_truncated_and_misnamed_checkpoints(
    tmp_path, capsys, tiny_checkpoint_2d
):
    data = tiny_checkpoint_2d.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\0" * 100)
    misnamed = tmp_path / "really_h5.keras"
    misnamed.write_bytes(data)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((40, 40), np.uint8))
    expected = {
        truncated: "truncated or corrupt",
        garbage: "is not a Keras checkpoint",
        misnamed: "is really a .h5 file; rename it to end in .h5",
    }
    for path, message in expected.items():
        argv = ["--checkpoint", str(path), "--out", str(tmp_path / "o")]
        assert predict.main([*argv, "--input", str(image)]) == 2
        line = _one_line(capsys.readouterr().err)
        assert f"'{path}'" in line and message in line
        assert evaluate.main([*argv, "--dataset", "synthetic"]) == 2
        assert message in _one_line(capsys.readouterr().err)


def test_nan_tiny_and_volume_inputs_are_refused_by_name(
    tmp_path, capsys, tiny_checkpoint_2d
):
    inputs = tmp_path / "in"
    inputs.mkdir()
    nan = np.full((40, 40), 0.5, np.float32)
    nan[3, 4] = np.nan
    np.save(inputs / "nan.npy", nan)
    np.save(inputs / "inf.npy", np.full((40, 40), np.inf, np.float32))
    cv2.imwrite(str(inputs / "dot.png"), np.zeros((1, 1), np.uint8))
    np.save(inputs / "volume.npy", np.zeros((64, 64, 64), np.float32))
    argv = ["--checkpoint", str(tiny_checkpoint_2d), "--input", str(inputs)]
    assert predict.main([*argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and "4 of 4 input(s) failed" in err[-1]
    text = "\n".join(err)
    assert "nan.npy' contains NaN or infinite values" in text
    assert "inf.npy' contains NaN or infinite values" in text
    assert "dot.png' is (1, 1): too small to segment" in text
    assert "volume.npy' looks like a 3D volume (shape (64, 64, 64))" in text
    assert not list((tmp_path / "out").glob("*_mask.png"))  # no silent mask


@pytest.mark.parametrize(
    ("tile", "message"),
    [("62", "nearest valid size: 64,64"), ("0", "--tile-size must be >= 1")],
)
def test_invalid_tile_size_names_the_nearest_valid_one(tmp_path, capsys, tile, message):
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), 1, depth=3, filters=4)
    ckpt = tmp_path / "depth3.h5"
    model.save(ckpt)
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((40, 40), np.uint8))
    argv = ["--checkpoint", str(ckpt), "--input", str(image), "--tile-size", tile]
    assert predict.main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert message in _one_line(capsys.readouterr().err)


def test_evaluate_split_reads_the_split_folder(tmp_path, capsys, tiny_checkpoint_2d):
    rng = np.random.default_rng(0)
    for split, names in (("train", ("a", "b")), ("test", ("t1", "t2", "t3"))):
        for sub in ("image", "label"):
            (tmp_path / "d" / split / sub).mkdir(parents=True)
        for name in names:
            image = (rng.random((40, 40)) * 255).astype(np.uint8)
            cv2.imwrite(str(tmp_path / "d" / split / "image" / f"{name}.png"), image)
            label = (image > 128).astype(np.uint8) * 255
            cv2.imwrite(str(tmp_path / "d" / split / "label" / f"{name}.png"), label)
    argv = [
        "--checkpoint",
        str(tiny_checkpoint_2d),
        "--dataset",
        f"folder:{tmp_path / 'd'}",
    ]
    out = tmp_path / "eval"
    assert evaluate.main([*argv, "--split", "test", "--out", str(out)]) == 0
    with open(out / "per_image.csv", newline="") as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["t1", "t2", "t3"]
    capsys.readouterr()
    assert evaluate.main([*argv, "--split", "val", "--out", str(out)]) == 2
    assert "--split val: folder" in _one_line(capsys.readouterr().err)
    with pytest.raises(ValueError, match="--split applies to"):
        load_dataset("synthetic", split="test")


def test_16_bit_images_are_scaled_by_their_bit_depth(tmp_path):
    rng = np.random.default_rng(0)
    eight = (rng.random((2, 24, 24)) * 255).astype(np.uint8)
    twelve = (eight.astype(np.int64) * 4095 // 255).astype(np.uint16)
    twelve[1] //= 4  # a darker image of the same 12-bit camera (max < 1024)
    labels = [(im > 128).astype(np.uint8) * 255 for im in eight]
    root = _pairs(tmp_path / "d", list(twelve), labels)
    pairs = load_folder_pairs(root)
    assert pairs.normalization == {"bit_depth": 12}  # one depth for the dataset
    np.testing.assert_allclose(pairs.images[0][..., 0], eight[0] / 255, atol=2e-3)
    np.testing.assert_allclose(
        pairs.images[1][..., 0], (twelve[1] / 4095).astype(np.float32), atol=1e-6
    )
    # A lone file: the smallest depth holding its values, or the recorded one.
    path = root / "image" / "0.png"
    np.testing.assert_allclose(read_image(path)[..., 0], eight[0] / 255, atol=2e-3)
    assert read_image(path, bit_depth=16).max() < 0.07
    with pytest.raises(ValueError, match="more than 10-bit data holds"):
        read_image(path, bit_depth=10)
    assert load_dataset(f"folder:{root}").normalization == {"bit_depth": 12}


def test_prediction_warns_when_intensities_differ_from_training(
    tmp_path, capsys, tiny_checkpoint_2d
):
    ckpt = tmp_path / "ckpt.h5"
    shutil.copy(tiny_checkpoint_2d, ckpt)
    write_settings(ckpt, {"normalization": {"bit_depth": 8, "mean": 0.4, "std": 0.2}})
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(inputs / "ok.png"), (rng.random((40, 40)) * 200).astype(np.uint8))
    # 12-bit data scaled by 65535 elsewhere: a sixteenth of the training range.
    dark = (rng.random((40, 40)) * 4095 / 65535).astype(np.float32)
    np.save(inputs / "dark.npy", dark)
    argv = ["--checkpoint", str(ckpt), "--input", str(inputs)]
    assert predict.main([*argv, "--out", str(tmp_path / "out")]) == 0
    warnings = [
        line for line in capsys.readouterr().err.splitlines() if "warning" in line
    ]
    assert len(warnings) == 1 and "dark.npy': mean intensity" in warnings[0]


def test_config_changes_name_the_options():
    old = {"lr": 0.001, "model_kwargs": {"depth": 2}, "epochs": 2, "verbose": 1}
    new = {"lr": 0.001, "model_kwargs": {"depth": 3}, "epochs": 5, "verbose": 0}
    assert guards.config_changes(old, new) == [
        "--model-kwargs {'depth': 2} -> {'depth': 3}"
    ]
    assert guards.config_changes(old, {**old, "epochs": 9, "new_option": 1}) == []


def test_empty_masks_and_intensity_helpers():
    masks = [np.zeros((4, 4, 1)), np.ones((4, 4, 1)), np.eye(2)[np.zeros((4, 4), int)]]
    assert guards.empty_masks(["a", "b", "c"], masks) == ["a", "c"]
    stats = guards.intensity_stats([np.full((2, 2), 0.2), np.full((2, 2), 0.6)])
    assert stats == pytest.approx({"mean": 0.4, "std": 0.2})
    assert guards.intensity_mismatch(np.full((3, 3), 0.35), stats) is None
    assert "mean intensity" in guards.intensity_mismatch(np.full((3, 3), 0.01), stats)


def test_training_records_normalisation_and_warns_on_empty_masks(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(4):
        label = np.zeros((40, 40), np.uint8)
        if i != 2:
            label[5:25, 8:30] = 255
        image = np.clip(label * 8 + rng.normal(1200, 200, label.shape), 0, 4095)
        images.append(image.astype(np.uint16))
        labels.append(label)
    root = _pairs(tmp_path / "d", images, labels)
    out = tmp_path / "run"
    argv = [*TINY, *FAST[:-5], "--dataset", f"folder:{root}", "--val-images", "3"]
    assert cli.main([*argv, "--no-final-eval", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 of 4 label masks are all zero: 2" in err
    normalization = read_settings(out / "best.h5")["normalization"]
    assert normalization["bit_depth"] == 12
    assert 0.2 < normalization["mean"] < 0.6  # scaled by 4095, not 65535
    assert json.loads((out / "best.h5.json").read_text())["epoch"] == 1


def test_readme_fault_table_lists_every_case():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    assert len(rows) >= 20
    for case in (
        "--steps-per-epoch 0",
        "16-bit",
        "Ctrl-C",
        "SIGKILL",
        "NaN",
        "--tile-size 62",
        "1x1",
        "--split test",
        "Two trainings",
    ):
        assert case in section, case
