"""Faults a training run survives (issues 11 and 17): kills, Ctrl-C, a full disk,
a truncated backup, a NaN loss, a second trainer, a changed configuration.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from train_scripts import cli, trainer
from train_scripts.guards import TrainingDivergedError
from train_scripts.trainer import make_optimizer, train

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = ["--model-kwargs", '{"depth": 2, "filters": 4}', "--patch-size", "32"]
FAST = [
    "--steps-per-epoch", "2", "--batch-size", "2", "--val-patches", "2",
    "--verbose", "0", "--n-images", "4", "--image-size", "48", "--no-final-eval",
]  # fmt: skip


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _epochs(path: Path) -> list[int]:
    return [int(row["epoch"]) for row in _csv(path)]


def _data(steps: int = 4) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((2 * steps, 16, 16, 1), dtype=np.float32)
    return tf.data.Dataset.from_tensor_slices((x, (x > 0.5).astype("float32"))).batch(2)


def _fresh(total_steps: int = 16):
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((16, 16, 1), 1, depth=2, filters=4)
    optimizer = make_optimizer("adam", 1e-3, schedule="cosine", total_steps=total_steps)
    return model, optimizer


class _StopAt(keras.callbacks.Callback):
    """Raises ``error`` after the 2nd batch of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, error: BaseException):
        super().__init__()
        self.epoch, self.error, self.current = epoch, error, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 1:
            raise self.error


def _with_callback(monkeypatch, callback):
    """Makes the command line's trainer run ``callback`` too."""

    def patched(*args, **kwargs):
        return trainer.train(*args, callbacks=[callback], **kwargs)

    monkeypatch.setattr(cli, "train", patched)


def test_ctrl_c_says_where_it_stopped_and_the_same_command_resumes(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    argv = [*TINY, *FAST, "--epochs", "3", "--out", str(out)]
    _with_callback(monkeypatch, _StopAt(1, KeyboardInterrupt()))
    assert cli.main(argv) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    line = captured.out.strip()
    assert line.startswith("interrupted: ") and "epoch 1 (intact)" in line
    assert line.endswith(f"resume with: python -m train_scripts.cli {shlex.join(argv)}")
    monkeypatch.undo()
    assert cli.main(argv) == 0
    assert _epochs(out / "metrics.csv") == [0, 1, 2]
    record = json.loads((out / "run.json").read_text())
    assert [r["epoch"] for r in record["resumed_at"]] == [1]


def test_full_disk_during_training_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    argv = [*TINY, *FAST, "--epochs", "3", "--out", str(out)]
    saves = []
    original = keras.Model.save

    def save_until_full(model, path, *args, **kwargs):
        saves.append(path)
        if len(saves) > 2:  # epoch 1 wrote best + last; then the disk is full
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(model, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_full)
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    line = captured.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith("error: the disk is full") and "epoch 1 (intact)" in line
    assert "free space and resume with: python -m train_scripts.cli" in line
    assert not list(out.glob(".*.tmp.h5"))  # no temporary left behind
    monkeypatch.undo()
    assert keras.models.load_model(out / "best.h5", compile=False)
    assert json.loads((out / "last.h5.json").read_text())["epoch"] == 1


def test_disk_full_before_a_save_never_starts_writing(tmp_path, monkeypatch):
    model = zoo.unet_padding((16, 16, 1), 1, depth=2, filters=4)
    checkpoint = trainer.AtomicCheckpoint(tmp_path / "best.h5")
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"loss": 1.0})

    class Usage:
        free = 10

    monkeypatch.setattr(trainer.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(OSError) as info:
        checkpoint.on_epoch_end(1, {"loss": 0.5})
    assert info.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.h5", "best.h5.json"]
    keras.models.load_model(tmp_path / "best.h5", compile=False)


def test_truncated_backup_falls_back_without_duplicated_rows(tmp_path, capsys):
    out = tmp_path / "run"
    data = _data()
    model, optimizer = _fresh()
    with pytest.raises(KeyboardInterrupt):
        train(model, data, data, epochs=4, out_dir=out, optimizer=optimizer,
              verbose=0, callbacks=[_StopAt(2, KeyboardInterrupt())],
              run_config={"seed": 0})  # fmt: skip
    latest = out / "backup" / "latest.weights.h5"
    assert json.loads((out / "backup" / "training_metadata.json").read_text()) == {
        "epoch": 2,
        "batch": 0,
    }
    latest.write_bytes(latest.read_bytes()[:1000])  # truncated
    model, optimizer = _fresh()
    result = train(model, data, data, epochs=4, out_dir=out, optimizer=optimizer,
                   verbose=0, run_config={"seed": 0})  # fmt: skip
    assert "resuming from the previous backup after epoch 1" in capsys.readouterr().err
    assert result.initial_epoch == 1
    assert _epochs(out / "metrics.csv") == [0, 1, 2, 3]
    record = json.loads((out / "run.json").read_text())
    assert [r["epoch"] for r in record["resumed_at"]] == [1]
    assert int(optimizer.iterations) == 16


def test_nan_loss_stops_the_run_keeping_the_last_good_checkpoint(tmp_path):
    class Poison(keras.callbacks.Callback):
        """Makes the weights NaN at the 2nd batch of the 2nd epoch."""

        epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                kernel = self.model.trainable_weights[0]
                kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    out = tmp_path / "run"
    data = _data()
    model, optimizer = _fresh()
    with pytest.raises(TrainingDivergedError, match="epoch 2.*keeps the last good"):
        train(model, data, data, epochs=3, out_dir=out, optimizer=optimizer,
              verbose=0, callbacks=[Poison()], run_config={"seed": 0})  # fmt: skip
    assert json.loads((out / "last.h5.json").read_text())["epoch"] == 1
    for name in ("best.h5", "last.h5"):
        weights = keras.models.load_model(out / name, compile=False).get_weights()
        assert all(np.isfinite(w).all() for w in weights)
    record = json.loads((out / "run.json").read_text())
    assert "loss became nan in epoch 2" in record["stopped"]


def test_changed_configuration_is_refused_unless_only_epochs_grew(tmp_path):
    out = tmp_path / "run"
    data = _data()
    config = {"lr": 1e-3, "model_kwargs": {"depth": 2}, "epochs": 1}

    def run(epochs, resume=True, **changes):
        model, optimizer = _fresh(total_steps=4 * epochs)
        return train(model, data, data, epochs=epochs, out_dir=out,
                     optimizer=optimizer, verbose=0, resume=resume,
                     steps_per_epoch=4,
                     run_config={**config, **changes, "epochs": epochs})  # fmt: skip

    first = run(1)
    best = (out / "best.h5").read_bytes()
    with pytest.raises(ValueError, match="--model-kwargs .*'depth': 3"):
        run(1, model_kwargs={"depth": 3})
    with pytest.raises(ValueError, match="already holds a finished 1-epoch run"):
        run(1)
    assert (out / "best.h5").read_bytes() == best  # nothing overwritten
    assert first.initial_epoch == 0

    grown = run(3)  # only --epochs grew: continues after epoch 1
    assert grown.initial_epoch == 1 and len(grown.history["loss"]) == 2
    assert _epochs(out / "metrics.csv") == [0, 1, 2]
    rates = [float(r["learning_rate"]) for r in _csv(out / "metrics.csv")]
    assert rates[-1] == pytest.approx(0.0, abs=1e-9)  # cosine over 3 x 4 steps
    assert rates[1] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 8 / 12)))
    keras.models.load_model(out / "best.h5", compile=False)

    fresh = run(1, resume=False, lr=0.1)  # --no-resume starts over
    assert fresh.initial_epoch == 0 and _epochs(out / "metrics.csv") == [0]
    assert json.loads((out / "run.json").read_text())["config"]["lr"] == 0.1


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import fcntl, os, sys, time; "
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'4242'); "
            "print('held', flush=True); time.sleep(60)",
            str(out / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main([*TINY, *FAST, "--epochs", "1", "--out", str(out)]) == 2
    finally:
        holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
    line = capsys.readouterr().err.strip()
    assert line == (
        f"error: '{out}' is in use by another training (pid 4242); wait for it to "
        "finish or choose another --out"
    )
    assert not (out / "run.json").exists()


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_resumes(tmp_path):
    """A real kill (SIGKILL, no cleanup) at a random point after epoch 1."""
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "train_scripts.cli", *TINY, "--epochs", "3",
        "--steps-per-epoch", "12", "--batch-size", "2", "--val-patches", "2",
        "--verbose", "0", "--n-images", "4", "--image-size", "48",
        "--no-final-eval", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("ZOO_TF_BANNER", None)
    log = tmp_path / "first.stderr"
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=stderr)
        backup = out / "backup" / "training_metadata.json"  # written last per epoch
        deadline = time.monotonic() + 300
        try:
            while not backup.is_file() and process.poll() is None:
                assert time.monotonic() < deadline, "epoch 1 never finished"
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    first_err = log.read_text()
    keras.models.load_model(out / "best.h5", compile=False)  # loadable after a kill
    done = json.loads(backup.read_text())["epoch"]
    assert 1 <= done < 3
    best_before = json.loads((out / "best.h5.json").read_text())

    rerun = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _epochs(out / "metrics.csv") == [0, 1, 2]
    record = json.loads((out / "run.json").read_text())
    assert [r["epoch"] for r in record["resumed_at"]] == [done]
    rows = _csv(out / "metrics.csv")
    steps, total = 12, 36  # cosine schedule resumed at its step, ending at 0
    for epoch, row in enumerate(rows):
        expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * (epoch + 1) * steps / total))
        assert float(row["learning_rate"]) == pytest.approx(expected, abs=1e-9)
    best = json.loads((out / "best.h5.json").read_text())
    assert best["value"] >= best_before["value"]  # the best score was kept
    keras.models.load_model(out / "best.h5", compile=False)
    assert not (out / "backup").exists()
    # Quiet: no TF start-up banner, no shuffle or legacy-HDF5 warnings.
    for noise in ("absl::InitializeLog", "oneDNN", "shuffle=True", "legacy"):
        assert noise not in first_err + rerun.stderr, noise
