"""tf.distribute training: strategy selection and a two-worker loopback cluster on CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from train_scripts import distribute

# Both tests compare with one module-scoped single-process run: one xdist worker.
pytestmark = pytest.mark.xdist_group("distribute")

# One training process: the demo's synthetic vessels, a tiny U-Net without batch
# norm (per-replica batch statistics would differ from a single process by design),
# a deterministic input pipeline with the global batch, epochs of 3 steps and a
# validation pass. Arguments: strategy, out_dir, weights file, epochs[, crash epoch].
WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from train_scripts import distribute
    import tensorflow as tf
    if sys.argv[1] == "mirrored2":  # two replicas on one CPU
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = distribute.make_strategy(sys.argv[1])
    import keras
    import zoo
    from data_pipelines.synthetic import make_2d_dataset
    from train_scripts.trainer import train
    keras.utils.set_random_seed(0)
    x, y = make_2d_dataset(8, (32, 32), kind="vessels", seed=0)
    data = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)
    with strategy.scope():
        model = zoo.unet_padding((32, 32, 1), 1, depth=2, filters=4, norm=None)
        optimizer = keras.optimizers.Adam(1e-2)
    class Interrupt(keras.callbacks.Callback):  # a crash after epoch argv[5]
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == int(sys.argv[5]):
                raise SystemExit(3)
    extra = [Interrupt()] if len(sys.argv) > 5 else []
    val = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    result = train(model, data, val, epochs=int(sys.argv[4]), callbacks=extra, steps_per_epoch=3, out_dir=sys.argv[2],
                   optimizer=optimizer, strategy=strategy, verbose=0)
    np.savez(sys.argv[3], *model.get_weights())
    with open(sys.argv[3] + ".json", "w") as f:
        json.dump({"history": result.history, "chief": distribute.is_chief(strategy),
                   "initial_epoch": result.initial_epoch,
                   "replicas": strategy.num_replicas_in_sync}, f)
    """
)
TIME_LIMIT_S = 300


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(tf_config: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(
        PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES=""
    )
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _run_cluster(tmp_path, script, out_dir, tag, *args, expect=0):
    """Two workers on 127.0.0.1 (``args``: epochs[, crash epoch]); both always end
    (killed at the time limit)."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    try:
        for index in range(2):
            config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            log = open(tmp_path / f"{tag}_worker{index}.log", "w")  # noqa: SIM115
            procs.append(
                (
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(script),
                            "multiworker",
                            str(out_dir),
                            str(tmp_path / f"{tag}_w{index}.npz"),
                            *args,
                        ],
                        env=_env(config),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
        codes = [proc.wait(timeout=TIME_LIMIT_S) for proc, _ in procs]
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    logs = [(tmp_path / f"{tag}_worker{i}.log").read_text()[-3000:] for i in range(2)]
    assert codes == [expect, expect], logs
    if expect:
        return None
    return [
        (
            np.load(tmp_path / f"{tag}_w{i}.npz"),
            json.loads((tmp_path / f"{tag}_w{i}.npz.json").read_text()),
        )
        for i in range(2)
    ]


def _run_one(tmp_path, script, strategy, out_dir, tag, epochs):
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            strategy,
            str(out_dir),
            str(tmp_path / f"{tag}.npz"),
            str(epochs),
        ],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return np.load(tmp_path / f"{tag}.npz"), json.loads(
        (tmp_path / f"{tag}.npz.json").read_text()
    )


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    """The worker script and its one-process run (default strategy, 2 epochs) that
    both distributed tests compare with: ``(script, weights, record)``."""
    folder = tmp_path_factory.mktemp("single")
    script = folder / "worker.py"
    script.write_text(WORKER)
    weights, record = _run_one(folder, script, "auto", folder / "run", "single", 2)
    return script, weights, record


@pytest.mark.slow
def test_two_replicas_match_a_single_process_and_resume(tmp_path, single_process):
    script, weights, reference = single_process
    # MirroredStrategy over two logical CPUs: each replica gets half the global batch.
    out = tmp_path / "mirrored"
    w2, info = _run_one(tmp_path, script, "mirrored2", out, "mirrored", 2)
    assert info["replicas"] == 2 and info["chief"]
    np.testing.assert_allclose(
        info["history"]["loss"], reference["history"]["loss"], rtol=1e-4
    )
    for k in weights.files:
        np.testing.assert_allclose(w2[k], weights[k], atol=1e-5)
    last = keras.models.load_model(out / "last.h5", compile=False)
    for got, k in zip(last.get_weights(), w2.files, strict=True):
        np.testing.assert_array_equal(got, w2[k])
    # BackupAndRestore under the strategy: a run that crashes after epoch 2,
    # started again, resumes after epoch 2 and logs all three epochs once.
    out = tmp_path / "crashed"
    crashed = subprocess.run(
        [
            sys.executable,
            str(script),
            "mirrored2",
            str(out),
            str(tmp_path / "c.npz"),
            "3",
            "2",
        ],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
    )
    assert crashed.returncode == 3 and (out / "backup").is_dir(), crashed.stderr[-2000:]
    _, resumed = _run_one(tmp_path, script, "mirrored2", out, "resumed", 3)
    assert resumed["initial_epoch"] == 2 and len(resumed["history"]["loss"]) == 1
    assert len((out / "metrics.csv").read_text().splitlines()) == 4


@pytest.mark.slow
def test_two_workers_on_loopback_match_a_single_process(tmp_path, single_process):
    # Reference: one process, default strategy, the same global batch.
    script, _, reference = single_process
    out = tmp_path / "cluster"
    (w0, info0), (w1, info1) = _run_cluster(tmp_path, script, out, "mw", "2")
    assert info0["chief"] and not info1["chief"] and info0["replicas"] == 2
    # Both workers end with identical weights (all-reduced gradients).
    assert all(np.array_equal(w0[k], w1[k]) for k in w0.files)
    # The loss equals the single-process run with the same global batch.
    for key in ("loss", "val_loss"):
        for info in (info0, info1):
            np.testing.assert_allclose(
                info["history"][key], reference["history"][key], rtol=1e-4
            )
    # Only the chief wrote the run folder, and its checkpoint loads with its weights.
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "best.h5",
        "best.h5.json",
        "last.h5",
        "last.h5.json",
        "metrics.csv",
    ]
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    last = keras.models.load_model(out / "last.h5", compile=False)
    for got, want in zip(last.get_weights(), (w0[k] for k in w0.files), strict=True):
        np.testing.assert_array_equal(got, want)
    # The cluster crashes after epoch 1 of 2; started again, both workers resume
    # from the chief's backup after epoch 1 and end where the unbroken run ended.
    out = tmp_path / "crashed"
    _run_cluster(tmp_path, script, out, "crash", "2", "1", expect=3)
    assert (out / "backup").is_dir()
    (r0, again0), (r1, again1) = _run_cluster(tmp_path, script, out, "again", "2")
    for again in (again0, again1):
        assert again["initial_epoch"] == 1 and len(again["history"]["loss"]) == 1
        np.testing.assert_allclose(
            again["history"]["loss"], reference["history"]["loss"][1:], rtol=1e-4
        )
    for k in w0.files:
        np.testing.assert_array_equal(r0[k], r1[k])
        np.testing.assert_allclose(r0[k], w0[k], atol=1e-5)
    assert len((out / "metrics.csv").read_text().splitlines()) == 3


def test_auto_strategy_and_chief_without_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = distribute.make_strategy("auto")
    assert strategy.num_replicas_in_sync == 1 and distribute.is_chief(strategy)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multiworker")
    with pytest.raises(ValueError, match="strategy"):
        distribute.make_strategy("horovod")
    monkeypatch.setenv(
        "TF_CONFIG",
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}',
    )
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON"):
        distribute.cluster_spec()


@pytest.mark.parametrize(
    ("cluster", "task", "strategy", "chief"),
    [
        (None, None, "auto", True),
        ({"worker": ["a:1"]}, ("worker", 0), "multiworker", True),
        ({"worker": ["a:1", "b:1"]}, ("worker", 0), "multiworker", True),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), "auto", False),
        ({"worker": ["a:1", "b:1"]}, ("worker", 1), "mirrored", True),
        ({"chief": ["c:1"], "worker": ["a:1"]}, ("worker", 0), "multiworker", False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, ("chief", 0), "multiworker", True),
    ],
)
def test_chief_task_is_known_before_the_strategy(
    monkeypatch, cluster, task, strategy, chief
):
    if cluster is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        config = {"cluster": cluster, "task": {"type": task[0], "index": task[1]}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.is_chief_task(strategy) is chief
