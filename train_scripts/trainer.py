"""The one trainer every training script uses: ``model.fit`` plus checkpoints and logs.

A run writes into its ``out_dir``:

* ``best.h5``: the model at the best ``monitor`` value so far, and ``last.h5``,
  the model after the latest epoch (both written atomically: a run killed while
  saving leaves the previous file intact), each with a ``.json`` sidecar that
  records its epoch and score;
* ``metrics.csv``: one row per epoch (``CSVLogger``);
* ``backup/``: the ``BackupAndRestore`` state (weights, optimizer, epoch) while
  the run is unfinished. Calling :func:`train` again with the same ``out_dir``
  resumes after the last completed epoch; the best score, the CSV log and the
  learning-rate schedule continue where they stopped;
* ``tensorboard/`` (optional) and ``run.json`` (when ``run_config`` is given):
  the configuration, seed and library versions.

The run folder is locked while a run trains in it (a second one is refused).
With ``run_config``, a folder is only resumed with the configuration in its
``run.json``; a finished run continues from ``last.h5`` when ``epochs`` grew and
is otherwise left untouched. A NaN loss stops the run with
:class:`~train_scripts.guards.TrainingDivergedError`, the checkpoints holding
the last good epoch.

Example:
    >>> import zoo, tensorflow as tf
    >>> from data_pipelines.synthetic import make_2d_dataset
    >>> x, y = make_2d_dataset(8, (64, 64))
    >>> ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    >>> model = zoo.unet_padding((64, 64, 1), depth=3, filters=8)
    >>> result = train(model, ds, ds, epochs=1, out_dir="/tmp/run", verbose=0)
    >>> result.best_checkpoint.name
    'best.h5'
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import errno
import functools
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import keras
import tensorflow as tf

import zoo
from data_pipelines.pipeline import without_autotune
from train_scripts import distribute
from train_scripts.fused_norm import fused_batch_norm
from train_scripts.guards import (
    TrainingDivergedError,
    check_free_space,
    check_out_dir,
    config_changes,
    repair_backup,
    run_lock,
    training_bytes,
    warn,
)
from train_scripts.hardware import xla_by_default
from train_scripts.precision import model_in_precision, model_precision
from train_scripts.runs import (
    library_versions,
    read_run,
    write_json_atomic,
    write_run,
)
from zoo.settings import write_settings

__all__ = [
    "AtomicCheckpoint",
    "TrainResult",
    "default_callbacks",
    "library_versions",
    "make_optimizer",
    "resolve_mode",
    "train",
]

BACKUP_DIR = "backup"


class _DropLegacyH5Notice(logging.Filter):
    """Keras logs "HDF5 is legacy" at every ``.h5`` save; ``.h5`` is our choice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "considered legacy" not in record.getMessage()


logging.getLogger("absl").addFilter(_DropLegacyH5Notice())


@dataclasses.dataclass
class TrainResult:
    """What a training run leaves behind.

    Attributes:
        history: Per-epoch logs of this call (epochs run before a resume are in
            ``metrics.csv`` only).
        out_dir: The run folder.
        best_checkpoint: ``best.h5``.
        last_checkpoint: ``last.h5``.
        metrics_csv: ``metrics.csv``.
        initial_epoch: Epoch this call started from (> 0 after a resume).
    """

    history: dict[str, list[float]]
    out_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_csv: Path
    initial_epoch: int = 0


_LOWER_IS_BETTER = (
    "loss", "error", "crossentropy", "mae", "mse", "hd95", "hausdorff", "distance",
    "assd",
)  # fmt: skip
_HIGHER_IS_BETTER = (
    "dice", "iou", "f1", "precision", "recall", "sensitivity", "specificity",
    "accuracy", "auc",
)  # fmt: skip


def resolve_mode(monitor: str, mode: str = "auto") -> Literal["min", "max"]:
    """``"min"`` for losses, errors and distances, ``"max"`` for scores.

    Raises:
        ValueError: If ``mode`` is not "auto", "min" or "max", or it is "auto"
            and the monitored name is neither a known loss/distance nor a known
            score (the best checkpoint would otherwise be a guess).
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"`mode` must be 'auto', 'min' or 'max'. Received: mode={mode!r}"
        )
    if mode != "auto":
        return mode
    lowered = monitor.lower()
    if any(word in lowered for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in lowered for word in _HIGHER_IS_BETTER):
        return "max"
    raise ValueError(
        f"Cannot tell whether a higher or lower {monitor!r} is better: pass "
        "mode='min' or mode='max' (--mode on the command line)."
    )


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves the whole model to ``.h5`` at epoch ends, atomically.

    The model is written to a temporary file in the same folder and then
    renamed over ``filepath`` (``os.replace``), so a crash or kill during the
    save never leaves a truncated checkpoint. A sidecar ``<filepath>.json``
    records the epoch (1-based), the monitored quantity and its value; it is
    how a resumed run recovers the best score so far.

    Args:
        filepath: Target ``.h5`` (or ``.keras``) file.
        monitor: Logged quantity deciding what "best" is; None saves every
            epoch (a "last" checkpoint). Defaults to None.
        mode: ``"min"`` or ``"max"`` (see :func:`resolve_mode`). Defaults to
            "auto".
        initial_best: Best value already reached (e.g. before a resume); the
            file is only replaced by a strictly better epoch. Defaults to None.
        settings: Inference settings stored inside every saved file
            (:mod:`zoo.settings`), e.g. the input normalisation. Defaults to
            None.

    A model trained in mixed precision is written in float32 (a float32 twin
    of the zoo model, built once from its build record, receives the weights),
    so the checkpoint loads and predicts in float32 on any machine and
    ``--precision`` chooses again at prediction time; a mixed-precision model
    that no zoo builder made is written as it is.

    An epoch whose loss is NaN or infinite is never saved, so the files keep
    the last good model when ``TerminateOnNaN`` stops a run. Before writing,
    the disk must have room for the file (the size of the previous one): a
    full disk raises ``OSError(ENOSPC)`` before HDF5 starts writing, and the
    temporary file of a failed save is removed.

    Raises:
        ValueError: If ``filepath`` does not end in ``.h5``/``.keras``; at an
            epoch end, if ``monitor`` is not among the logged quantities.
    """

    def __init__(
        self,
        filepath: str | Path,
        *,
        monitor: str | None = None,
        mode: str = "auto",
        initial_best: float | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.filepath = Path(filepath)
        self.settings = dict(settings) if settings else None
        if self.filepath.suffix not in (".h5", ".keras"):
            raise ValueError(
                "`filepath` must end in '.h5' or '.keras'. "
                f"Received: filepath='{filepath}'"
            )
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode) if monitor else "min"
        self.best = initial_best
        self._float32_twin: keras.Model | None = None

    def _model_to_save(self) -> keras.Model:
        """The trained model, or its float32 twin holding the current weights."""
        model = self.model
        if model_precision(model) == "float32" or zoo.record_of(model) is None:
            return model
        if self._float32_twin is None:
            self._float32_twin = model_in_precision(model, "float32")
        else:
            self._float32_twin.set_weights(model.get_weights())
        return self._float32_twin

    def _improved(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        """Saves the model if this epoch is the best (or always, without monitor)."""
        logs = dict(logs or {})
        if not math.isfinite(float(logs.get("loss", 0.0))):
            return
        value = None
        if self.monitor is not None:
            if self.monitor not in logs:
                raise ValueError(
                    f"`monitor`={self.monitor!r} is not logged. "
                    f"Logged quantities: {sorted(logs)}"
                )
            value = float(logs[self.monitor])
            if not self._improved(value):
                return
            self.best = value
        self.filepath.parent.mkdir(parents=True, exist_ok=True)
        path = self.filepath
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        needed = (
            path.stat().st_size
            if path.is_file()
            else 3 * 4 * int(self.model.count_params())
        )
        if shutil.disk_usage(path.parent).free < needed:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        try:
            self._model_to_save().save(tmp, overwrite=True)
            if self.settings:
                write_settings(tmp, self.settings)
            os.replace(tmp, self.filepath)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        write_json_atomic(
            self.filepath.with_name(self.filepath.name + ".json"),
            {
                "epoch": epoch + 1,
                "monitor": self.monitor,
                "value": value,
                "logs": {k: float(v) for k, v in logs.items()},
            },
        )


class _LogLearningRate(keras.callbacks.Callback):
    """Adds the optimizer's current ``learning_rate`` to the epoch logs (the CSV)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Logs the rate after the epoch's last step (a schedule's value there)."""
        if logs is not None and "learning_rate" not in logs:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )


def _resume_epoch(out_dir: Path) -> int:
    """Epoch a ``BackupAndRestore`` backup in ``out_dir`` resumes from (0: none)."""
    meta = out_dir / BACKUP_DIR / "training_metadata.json"
    if not meta.is_file():
        return 0
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (ValueError, KeyError):
        return 0


def _trim_csv(csv_path: Path, keep_epochs: int) -> None:
    """Drops log rows of epochs >= ``keep_epochs`` (re-run after a resume)."""
    if not csv_path.is_file():
        return
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) < keep_epochs]
    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, csv_path)


def _previous_best(out_dir: Path, monitor: str) -> float | None:
    sidecar = out_dir / "best.h5.json"
    if not sidecar.is_file():
        return None
    state = json.loads(sidecar.read_text())
    if state.get("monitor") != monitor or state.get("value") is None:
        return None
    return float(state["value"])


def default_callbacks(
    out_dir: Path,
    *,
    monitor: str,
    mode: str,
    resume: bool = True,
    early_stopping: int | None = None,
    tensorboard: bool = False,
    reduce_on_plateau: bool = False,
    initial_best: float | None = None,
    append_csv: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> list[keras.callbacks.Callback]:
    """The standard callbacks of a run.

    Args:
        out_dir: Run folder.
        monitor: Quantity of the best checkpoint, early stopping and plateau.
        mode: "min", "max" or "auto" for ``monitor``.
        resume: Add ``BackupAndRestore`` into ``out_dir/backup``. Defaults to
            True.
        early_stopping: Patience in epochs; None disables. Defaults to None.
        tensorboard: Log to ``out_dir/tensorboard``. Defaults to False.
        reduce_on_plateau: Halve the learning rate after 5 epochs without
            improvement (needs a constant-rate optimizer). Defaults to False.
        initial_best: Best ``monitor`` value of an interrupted run.
        append_csv: Append to an existing ``metrics.csv`` (resume). Defaults
            to False.
        settings: Inference settings stored in ``best.h5`` and ``last.h5``.
            Defaults to None.

    Returns:
        The callbacks, the backup last: at an epoch end it is written after
        the checkpoints and the log row, so a run killed in between resumes
        from the previous epoch and rewrites that row, never leaving a gap.
        (It restores the state in ``on_train_begin``, which no other callback
        depends on.)
    """
    mode = resolve_mode(monitor, mode)
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        AtomicCheckpoint(
            out_dir / "best.h5",
            monitor=monitor,
            mode=mode,
            initial_best=initial_best,
            settings=settings,
        ),
        AtomicCheckpoint(out_dir / "last.h5", settings=settings),
        _LogLearningRate(),
        keras.callbacks.CSVLogger(str(out_dir / "metrics.csv"), append=append_csv),
    ]
    if reduce_on_plateau:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=mode, factor=0.5, patience=5, min_lr=1e-6
            )
        )
    if early_stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=mode,
                patience=early_stopping,
                restore_best_weights=False,
            )
        )
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(str(out_dir / "tensorboard"), write_graph=False)
        )
    if resume:
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                str(out_dir / BACKUP_DIR), double_checkpoint=True
            )
        )
    return callbacks


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 1e-3,
    *,
    schedule: Literal["constant", "cosine", "plateau"] = "constant",
    total_steps: int | None = None,
    warmup_steps: int = 0,
    weight_decay: float | None = None,
) -> keras.optimizers.Optimizer:
    """An optimizer by name with a constant, cosine or plateau learning rate.

    Args:
        name: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.99, as the U-Net
            paper) or ``"rmsprop"``. Defaults to "adam".
        learning_rate: Initial (peak) learning rate. Defaults to 1e-3.
        schedule: ``"cosine"`` decays to zero over ``total_steps`` (after a
            linear warm-up of ``warmup_steps``); ``"plateau"`` and
            ``"constant"`` keep a variable rate (``ReduceLROnPlateau`` lowers
            it for "plateau"). Defaults to "constant".
        total_steps: Optimizer steps of the whole run (cosine only).
        warmup_steps: Warm-up steps (cosine only). Defaults to 0.
        weight_decay: Decoupled weight decay (AdamW, SGD). Defaults to None.

    Returns:
        A Keras optimizer.

    Raises:
        ValueError: On an unknown name or schedule, a non-positive rate, or a
            cosine schedule without ``total_steps``.
    """
    if not learning_rate > 0:
        raise ValueError(
            f"`learning_rate` must be > 0. Received: learning_rate={learning_rate}"
        )
    if schedule not in ("constant", "cosine", "plateau"):
        raise ValueError(
            "`schedule` must be 'constant', 'cosine' or 'plateau'. "
            f"Received: schedule={schedule!r}"
        )
    rate: float | keras.optimizers.schedules.LearningRateSchedule = learning_rate
    if schedule == "cosine":
        if not total_steps or total_steps < 1:
            raise ValueError(
                "A cosine schedule needs `total_steps` >= 1. "
                f"Received: total_steps={total_steps}"
            )
        decay_steps = max(1, total_steps - warmup_steps)
        if warmup_steps:
            rate = keras.optimizers.schedules.CosineDecay(
                0.0,
                decay_steps,
                warmup_target=learning_rate,
                warmup_steps=warmup_steps,
            )
        else:
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(rate),
        "adamw": lambda: keras.optimizers.AdamW(
            rate, weight_decay=weight_decay or 1e-4
        ),
        "sgd": lambda: keras.optimizers.SGD(
            rate, momentum=0.99, weight_decay=weight_decay
        ),
        "rmsprop": lambda: keras.optimizers.RMSprop(rate),
    }
    if name not in optimizers:
        raise ValueError(
            f"Unknown optimizer {name!r}. Valid names: {', '.join(optimizers)}"
        )
    return optimizers[name]()


def _holding_run_lock(fit_fn):
    """Runs ``fit_fn`` holding the lock of its ``out_dir`` (keyword-only).

    In a cluster only the chief locks ``out_dir``: the other workers share the
    command line, write to scratch folders and must not be refused.
    """

    @functools.wraps(fit_fn)
    def wrapper(*args, **kwargs):
        out_dir = check_out_dir(kwargs["out_dir"], flag="out_dir")
        if not distribute.is_chief(kwargs.get("strategy")):
            return fit_fn(*args, **kwargs)
        with run_lock(out_dir):
            return fit_fn(*args, **kwargs)

    return wrapper


def _completed_epochs(out_dir: Path) -> int:
    sidecar = out_dir / "last.h5.json"
    if not sidecar.is_file():
        return 0
    return int(json.loads(sidecar.read_text())["epoch"])


def _continued_epoch(out_dir: Path, run_config: Mapping[str, Any], epochs: int) -> int:
    """Where a run folder with a ``run.json`` continues (0: a new run).

    An unfinished run resumes from its backup (0 here); a finished run is
    continued from ``last.h5`` only when ``epochs`` grew.

    Raises:
        ValueError: If the folder's run has another configuration, or it is
            finished and ``epochs`` did not grow.
    """
    record = read_run(out_dir)
    if not record:
        return 0
    previous = record.get("config", {})
    changes = config_changes(previous, run_config)
    if changes:
        raise ValueError(
            f"'{out_dir}' holds a run with another configuration "
            f"({'; '.join(changes)}); use the original options to resume it, "
            "--no-resume to start over there, or a new --out"
        )
    if "finished" not in record or (out_dir / BACKUP_DIR).exists():
        return 0
    done = _completed_epochs(out_dir)
    planned = int(previous.get("epochs", done))
    if epochs <= planned or not done:
        stopped = f" ({record['stopped']})" if "stopped" in record else ""
        raise ValueError(
            f"'{out_dir}' already holds a finished {planned}-epoch run{stopped}; "
            "raise --epochs to continue it, or use --no-resume to start over there, "
            "or a new --out"
        )
    return done


@_holding_run_lock
def train(
    model: keras.Model,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset | None = None,
    *,
    epochs: int,
    out_dir: str | Path,
    loss="binary_crossentropy",
    optimizer: keras.optimizers.Optimizer | str | None = None,
    learning_rate: float = 1e-3,
    metrics: Sequence | Mapping | None = None,
    monitor: str | None = None,
    mode: str = "auto",
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resume: bool = True,
    early_stopping: int | None = None,
    tensorboard: bool = False,
    reduce_on_plateau: bool = False,
    run_config: Mapping[str, Any] | None = None,
    checkpoint_settings: Mapping[str, Any] | None = None,
    run_eagerly: bool = False,
    jit_compile: bool | str = "auto",
    fused_norm: bool = True,
    verbose: int | str = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> TrainResult:
    """Compile ``model`` and fit it on ``tf.data`` input, checkpointing to ``.h5``.

    Args:
        model: The Keras model to train (compiled here).
        train_data: Batches of ``(x, y)``.
        val_data: Optional validation batches; the best checkpoint follows
            ``monitor`` on them.
        epochs: Total number of epochs of the run (>= 1), counting epochs done
            before a resume.
        out_dir: Run folder (see the module docstring for its files).
        loss: Loss object or name. Defaults to binary cross-entropy.
        optimizer: Optimizer or name. Defaults to Adam(``learning_rate``).
        learning_rate: Learning rate of the default optimizer. Defaults to 1e-3.
        metrics: Keras metrics, or a dict of them by output name for a model
            with several outputs. Defaults to none.
        monitor: Quantity for the best checkpoint, early stopping and plateau.
            Defaults to ``val_loss`` with validation data, else ``loss``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` for ``monitor``. Defaults to "auto".
        steps_per_epoch: Batches per epoch for infinite datasets.
        validation_steps: Validation batches per epoch. Defaults to all.
        callbacks: Extra callbacks, run after the default ones.
        resume: Back up the training state every epoch and resume from
            ``out_dir/backup`` when it exists. With False, any backup is
            ignored and the run starts over. Defaults to True.
        early_stopping: Early-stopping patience in epochs. Defaults to None.
        tensorboard: Write TensorBoard logs. Defaults to False.
        reduce_on_plateau: Add ``ReduceLROnPlateau`` on ``monitor``. Defaults
            to False.
        run_config: Configuration to record in ``run.json`` with the library
            versions (a resumed run keeps the first ``started`` time and adds
            a ``resumed_at`` entry). With ``resume``, a run folder is resumed
            only with the configuration in its ``run.json`` (the epoch count
            may grow: a finished run then continues from ``last.h5`` with the
            learning-rate schedule at its step). Defaults to None (no
            ``run.json``).
        checkpoint_settings: Inference settings stored inside the
            checkpoints (:mod:`zoo.settings`). Defaults to None.
        run_eagerly: Run the steps eagerly, without tracing a graph (debugging
            and one-step smoke runs, where tracing dominates). Defaults to False.
        jit_compile: Compile the steps with XLA. ``"auto"``: on a GPU, and on a
            CPU without TensorFlow's oneDNN kernels for the models XLA trained
            faster there (:func:`train_scripts.hardware.xla_by_default`);
            Keras's own choice under a ``strategy``. Defaults to "auto".
        fused_norm: Train the batch normalization layers with TensorFlow's
            fused kernel (:mod:`train_scripts.fused_norm`: same numbers,
            faster; the saved models are plain Keras; not under XLA).
            Defaults to True.
        verbose: ``model.fit`` verbosity (progress bar by default).
        strategy: The ``tf.distribute`` strategy whose ``scope()`` built
            ``model`` (:mod:`train_scripts.distribute`): the data must be
            batched with the global batch size; only the chief writes
            ``out_dir``. Defaults to None (the current strategy).

    The run folder is locked (:func:`train_scripts.guards.run_lock`) while
    training: a second training into it is refused.

    Returns:
        A :class:`TrainResult` with the history and the files written.

    Raises:
        ValueError: If ``epochs`` < 1, the training data is empty,
            ``tensorboard`` is set but the package is not installed, the run
            folder is in use, full or not writable, or it holds another run.
        TrainingDivergedError: If the loss became NaN or infinite (the checkpoints
            keep the last good epoch).
    """
    if epochs < 1:
        raise ValueError(f"`epochs` must be >= 1. Received: epochs={epochs}")
    if train_data.cardinality() == 0:
        raise ValueError("The training dataset is empty: it yields no batch.")
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "TensorBoard logging needs the `tensorboard` package "
            "(pip install tensorboard)."
        )
    out_dir = chief_dir = Path(out_dir)
    if strategy is not None:
        train_data = distribute.set_shard_policy(train_data)
        if val_data is not None:
            val_data = distribute.set_shard_policy(val_data)
        out_dir = distribute.worker_dir(chief_dir, strategy)
        if resume:
            distribute.restore_backup_into(chief_dir, out_dir, BACKUP_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_free_space(out_dir, training_bytes(model), flag="out_dir")
    monitor = monitor or ("val_loss" if val_data is not None else "loss")
    mode = resolve_mode(monitor, mode)
    if optimizer is None:
        optimizer = keras.optimizers.Adam(learning_rate)
    one_device = strategy is None or (
        strategy is tf.distribute.get_strategy() and not tf.distribute.has_strategy()
    )
    if jit_compile == "auto" and one_device and not run_eagerly:
        jit_compile = xla_by_default(model)
    if not isinstance(metrics, Mapping):  # a dict gives metrics per output
        metrics = list(metrics or [])
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            run_eagerly=run_eagerly,
            jit_compile=jit_compile,
        )
    if strategy is not None:
        distribute.fix_multi_worker_fit(model, strategy)

    if resume:
        notice = repair_backup(out_dir / BACKUP_DIR)
        if notice:
            warn(notice)
    continued = (
        _continued_epoch(out_dir, run_config, epochs)
        if resume and run_config is not None
        else 0
    )
    start_epoch = continued or (_resume_epoch(out_dir) if resume else 0)
    if continued:
        model.load_weights(out_dir / "last.h5")
        if steps_per_epoch is not None:
            model.optimizer.build(model.trainable_variables)
            model.optimizer.iterations.assign(continued * steps_per_epoch)
    if not resume and (out_dir / BACKUP_DIR).exists():
        shutil.rmtree(out_dir / BACKUP_DIR)
    csv_path = out_dir / "metrics.csv"
    if start_epoch:
        _trim_csv(csv_path, start_epoch)
    elif csv_path.exists():
        csv_path.unlink()
    initial_best = _previous_best(out_dir, monitor) if start_epoch else None

    if run_config is not None:
        record = read_run(out_dir) if start_epoch else {}
        if record:
            record.setdefault("resumed_at", []).append(
                {"epoch": start_epoch, "time": datetime.datetime.now().isoformat()}
            )
            record["config"] = {**record["config"], "epochs": epochs}
            for key in ("finished", "stopped"):
                record.pop(key, None)
        else:
            record = {
                "started": datetime.datetime.now().isoformat(timespec="seconds"),
                "config": dict(run_config),
                "versions": library_versions(),
                "model": {
                    "name": model.name,
                    "params": int(model.count_params()),
                    "input_shape": list(model.input_shape),
                    "output_shape": list(model.output_shape),
                },
                "monitor": {"name": monitor, "mode": mode},
            }
        write_run(out_dir, record)

    all_callbacks = [
        *default_callbacks(
            out_dir,
            monitor=monitor,
            mode=mode,
            resume=resume,
            early_stopping=early_stopping,
            tensorboard=tensorboard,
            reduce_on_plateau=reduce_on_plateau,
            initial_best=initial_best,
            append_csv=bool(start_epoch),
            settings=checkpoint_settings,
        ),
        *callbacks,
    ]
    if isinstance(train_data, tf.data.Dataset):
        train_data = without_autotune(train_data)
    if isinstance(val_data, tf.data.Dataset):
        val_data = without_autotune(val_data)
    fused = fused_batch_norm(model) if fused_norm else contextlib.nullcontext()
    try:
        with fused:
            history = model.fit(
                train_data,
                validation_data=val_data,
                epochs=epochs,
                initial_epoch=start_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                callbacks=all_callbacks,
                shuffle=False,  # tf.data input is shuffled by its pipeline
                verbose=verbose,
            )
    finally:
        # An interrupted fit never calls on_train_end: close the CSV log here so
        # the rows written so far are on disk and the file handle is released.
        for callback in all_callbacks:
            csv_file = getattr(callback, "csv_file", None)
            if isinstance(callback, keras.callbacks.CSVLogger) and csv_file:
                csv_file.close()
    losses = history.history.get("loss", [])
    diverged = None
    if losses and not math.isfinite(float(losses[-1])):
        diverged = (
            f"the loss became {float(losses[-1])} in epoch {start_epoch + len(losses)}"
        )
    if run_config is not None:
        record = read_run(out_dir)
        record["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        if diverged:
            record["stopped"] = diverged
        best_state = out_dir / "best.h5.json"
        if best_state.is_file():
            record["best"] = json.loads(best_state.read_text())
        write_run(out_dir, record)
    if out_dir != chief_dir:  # a non-chief worker's scratch copy
        shutil.rmtree(out_dir, ignore_errors=True)
    if diverged:
        kept = _completed_epochs(out_dir)
        raise TrainingDivergedError(
            f"Training stopped: {diverged}. '{out_dir / 'last.h5'}' keeps the last "
            f"good epoch ({kept}); lower --lr or check the data"
        )
    return TrainResult(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        out_dir=chief_dir,
        best_checkpoint=chief_dir / "best.h5",
        last_checkpoint=chief_dir / "last.h5",
        metrics_csv=chief_dir / "metrics.csv",
        initial_epoch=start_epoch,
    )
