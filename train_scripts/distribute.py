"""Training on several GPUs or machines with ``tf.distribute``.

* ``mirrored``: ``MirroredStrategy``, one replica per local GPU (the CPU when
  there is none);
* ``multiworker``: ``MultiWorkerMirroredStrategy`` across processes/machines
  described by the ``TF_CONFIG`` environment variable (the same cluster on
  every worker, each with its own ``task``);
* ``auto``: ``multiworker`` when ``TF_CONFIG`` names more than one task,
  ``mirrored`` on a machine with several GPUs, else TensorFlow's default
  (single-device) strategy.

Build and compile the model inside ``strategy.scope()``. The dataset is
batched with the *global* batch size: ``tf.distribute`` splits every batch
across the replicas (a global batch of 16 on 2 workers x 2 GPUs gives 4 per
replica), and the gradient is the mean over the global batch, so a run
matches a single-process run with the same global batch. Input is sharded
with the ``DATA`` auto-shard policy on purpose: the zoo's pipelines draw
random patches from images in memory (no files to shard), so every worker
runs the same seeded pipeline and keeps its own slice of each global batch.

Only the chief (task ``chief``, or ``worker`` 0 without a chief) writes the
run folder; other workers write into a temporary folder that is deleted after
training, and restore a ``BackupAndRestore`` backup from the chief's run
folder, which must therefore be on storage shared by all workers.

Example (two processes on one machine):
    TF_CONFIG='{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
                "task": {"type": "worker", "index": 0}}' \
        python -m train_scripts.cli --strategy multiworker ... --out runs/mw
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "cluster_spec",
    "fix_multi_worker_fit",
    "is_chief",
    "is_chief_task",
    "make_strategy",
    "restore_backup_into",
    "set_shard_policy",
    "worker_dir",
]

STRATEGIES = ("auto", "mirrored", "multiworker")


def cluster_spec() -> dict:
    """The parsed ``TF_CONFIG`` (``{}`` when unset).

    Raises:
        ValueError: If ``TF_CONFIG`` is not JSON with a ``cluster`` and a
            ``task`` of that cluster.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
        task = config["task"]
        tasks = config["cluster"][task["type"]]
        if not 0 <= int(task["index"]) < len(tasks):
            raise IndexError(task["index"])
    except (json.JSONDecodeError, KeyError, TypeError, IndexError) as err:
        raise ValueError(
            'TF_CONFIG must be JSON like {"cluster": {"worker": ["host:port", '
            '...]}, "task": {"type": "worker", "index": 0}}. '
            f"Received: {text!r} ({type(err).__name__}: {err})"
        ) from err
    return config


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see the module docstring).

    Create it first thing in the program: ``MultiWorkerMirroredStrategy`` must
    exist before any other TensorFlow operation runs.

    Raises:
        ValueError: On an unknown name, or ``multiworker`` without a valid
            ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}"
        )
    config = cluster_spec()
    n_tasks = sum(len(tasks) for tasks in config.get("cluster", {}).values())
    if name == "auto":
        if n_tasks > 1:
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not config:
        raise ValueError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            "(the cluster's workers and this process's task)"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes checkpoints and logs.

    True without a cluster; in a cluster, for task type ``chief``, or for
    ``worker`` 0 when the cluster has no chief.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    return _writes_run_folder(task_type, resolver.task_id, cluster)


def _writes_run_folder(task_type: str, index: int, cluster: dict) -> bool:
    """The chief rule: task ``chief``, or ``worker`` 0 of a cluster without one."""
    if task_type == "chief":
        return True
    return task_type == "worker" and int(index) == 0 and "chief" not in cluster


def is_chief_task(strategy_name: str) -> bool:
    """Whether this process will be the chief, decided before the strategy exists.

    Read from ``TF_CONFIG`` like :func:`is_chief` (``mirrored`` and clusters of
    one task have no other writer), so a command line can lock its run folder
    before TensorFlow starts.

    Raises:
        ValueError: On a malformed ``TF_CONFIG``.
    """
    config = cluster_spec()
    cluster = config.get("cluster", {})
    if strategy_name == "mirrored" or sum(map(len, cluster.values())) <= 1:
        return True
    task = config["task"]
    return _writes_run_folder(task["type"], task["index"], cluster)


def worker_dir(out_dir: str | Path, strategy: tf.distribute.Strategy | None) -> Path:
    """``out_dir`` on the chief; a new temporary folder on other workers."""
    if is_chief(strategy):
        return Path(out_dir)
    resolver = strategy.cluster_resolver
    return Path(
        tempfile.mkdtemp(prefix=f"{resolver.task_type}{resolver.task_id}_", dir=None)
    )


def restore_backup_into(chief_dir: Path, own_dir: Path, backup: str) -> None:
    """Copies the chief's ``BackupAndRestore`` folder into a non-chief's folder.

    Every worker must resume from the same epoch and weights; non-chief
    workers write their backups to a temporary folder, so they restore from
    the chief's (shared storage).
    """
    source = chief_dir / backup
    if source.is_dir() and source != own_dir / backup:
        shutil.copytree(source, own_dir / backup, dirs_exist_ok=True)


def set_shard_policy(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with the ``DATA`` auto-shard policy (see the module docstring)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def fix_multi_worker_fit(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Lets ``model.fit``/``evaluate`` run under a strategy spanning several workers.

    Keras 3.15 fails there in two places (keras-team/keras#20585); both are
    mended for this model instance only, single-worker strategies untouched:

    * before the first step it averages one batch across replicas, passing the
      whole ``(x, y)`` structure of per-replica values to ``strategy.reduce``,
      which takes one value ("Attempt to convert a value (PerReplica ...) to a
      Tensor"): here each tensor is reduced on its own;
    * after every step it averages the scalar logs across workers with
      ``reduce(MEAN, axis=0)`` ("Invalid reduction dimension 0 for input with
      0 dimensions"): here each scalar log leaves the step as a 1-vector, whose
      mean over axis 0 across the replicas is the scalar Keras expects.
    """
    if getattr(strategy.extended, "_num_workers", 1) <= 1:
        return

    def per_tensor_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        strategy.reduce("MEAN", v, axis=None)
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    next(it),
                )
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)  # noqa: SLF001

    def with_batch_axis(step):
        def wrapped(data):
            return tf.nest.map_structure(
                lambda v: tf.reshape(v, [1]) if v.shape.rank == 0 else v, step(data)
            )

        return wrapped

    model._maybe_symbolic_build = per_tensor_build  # noqa: SLF001
    model.train_step = with_batch_axis(model.train_step)
    model.test_step = with_batch_axis(model.test_step)
