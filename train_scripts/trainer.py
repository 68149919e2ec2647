"""The one trainer every training script uses: ``model.fit`` plus checkpoints and logs.

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

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

__all__ = ["TrainResult", "train", "default_callbacks"]


@dataclasses.dataclass
class TrainResult:
    """What a training run leaves behind."""

    history: dict[str, list[float]]
    out_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_csv: Path


def default_callbacks(
    out_dir: Path, *, monitor: str, mode: str
) -> list[keras.callbacks.Callback]:
    """Checkpoints (best and last, ``.h5``), a CSV log and NaN termination."""
    return [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.ModelCheckpoint(
            out_dir / "best.h5", monitor=monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.ModelCheckpoint(out_dir / "last.h5"),
        keras.callbacks.CSVLogger(out_dir / "metrics.csv"),
    ]


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
    metrics: Sequence | None = None,
    monitor: str | None = None,
    mode: str = "auto",
    steps_per_epoch: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | str = "auto",
) -> TrainResult:
    """Compile ``model`` and fit it on ``tf.data`` input, checkpointing to ``.h5``.

    Args:
        model: The Keras model to train (compiled here).
        train_data: Batches of ``(x, y)``.
        val_data: Optional validation batches; the best checkpoint follows
            ``monitor`` on them.
        epochs: Number of epochs (>= 1).
        out_dir: Folder for ``best.h5``, ``last.h5`` and ``metrics.csv``.
        loss: Loss object or name. Defaults to binary cross-entropy.
        optimizer: Optimizer or name. Defaults to Adam(``learning_rate``).
        learning_rate: Learning rate of the default optimizer. Defaults to 1e-3.
        metrics: Keras metrics. Defaults to none.
        monitor: Quantity for the best checkpoint. Defaults to ``val_loss`` with
            validation data, else ``loss``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` for ``monitor``. Defaults to "auto".
        steps_per_epoch: Batches per epoch for infinite datasets.
        callbacks: Extra callbacks, run after the default ones.
        verbose: ``model.fit`` verbosity (progress bar by default).

    Returns:
        A :class:`TrainResult` with the history and the files written.

    Raises:
        ValueError: If ``epochs`` < 1 or the training data is empty.
    """
    if epochs < 1:
        raise ValueError(f"`epochs` must be >= 1. Received: epochs={epochs}")
    if train_data.cardinality() == 0:
        raise ValueError("The training dataset is empty: it yields no batch.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    monitor = monitor or ("val_loss" if val_data is not None else "loss")
    if optimizer is None:
        optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics or []))
    history = model.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[*default_callbacks(out_dir, monitor=monitor, mode=mode), *callbacks],
        verbose=verbose,
    )
    return TrainResult(
        history=history.history,
        out_dir=out_dir,
        best_checkpoint=out_dir / "best.h5",
        last_checkpoint=out_dir / "last.h5",
        metrics_csv=out_dir / "metrics.csv",
    )
