"""Test helpers: random batches, fit and overfit checks, fresh-process reloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def random_batch(model: keras.Model, batch: int = 2, seed: int = 0):
    """Random inputs and binary/one-hot targets matching a model's shapes."""
    rng = np.random.default_rng(seed)
    inputs = model.inputs
    xs = [rng.random((batch, *t.shape[1:]), dtype=np.float32) for t in inputs]
    ys = []
    for t in model.outputs:
        shape = (batch, *t.shape[1:])
        if shape[-1] == 1:
            ys.append((rng.random(shape) > 0.5).astype("float32"))
        else:
            labels = rng.integers(0, shape[-1], shape[:-1])
            ys.append(np.eye(shape[-1], dtype="float32")[labels])
    x = xs[0] if len(xs) == 1 else xs
    y = ys[0] if len(ys) == 1 else ys
    return x, y


def _batch_size(x) -> int:
    return len(x[0] if isinstance(x, list) else x)


def trainable_values(model: keras.Model) -> list[np.ndarray]:
    """Copies of the trainable weights, for :func:`assert_trainable_weights_moved`."""
    return [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]


def assert_trainable_weights_moved(model: keras.Model, before: list[np.ndarray]):
    """Every trainable weight differs from ``before``: a gradient reached it.

    Only trainable weights are compared: batch-norm moving statistics change in
    any forward pass in training mode, even when no gradient flows. Biases are
    not required to move: a conv bias followed by batch norm has an exactly zero
    gradient (the normalisation subtracts it again).
    """
    unchanged = [
        w.path
        for w, b in zip(model.trainable_weights, before, strict=True)
        if np.array_equal(keras.ops.convert_to_numpy(w), b)
        and not w.path.endswith("/bias")
    ]
    assert not unchanged, f"no gradient reached: {unchanged}"


def assert_fit_step(
    model: keras.Model, loss="binary_crossentropy", steps: int = 2, **compile_kwargs
):
    """``fit`` steps give a finite loss and change every trainable weight.

    Two steps by default: a zero-initialised branch (``branch2_unet``'s) passes
    no gradient to the layer after it until its own weights moved once.
    """
    x, y = random_batch(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, **compile_kwargs)
    before = trainable_values(model)
    history = model.fit(x, y, epochs=steps, batch_size=_batch_size(x), verbose=0)
    loss_value = history.history["loss"][-1]
    assert np.isfinite(loss_value), loss_value
    assert_trainable_weights_moved(model, before)


def learnable_batch(model: keras.Model, batch: int = 2, seed: int = 0):
    """Smooth random inputs and targets the model can fit: blobs of input 0 > 0.5.

    The inputs are 8x-coarse random blocks (a few poolings keep them), the
    target of each output is the centre crop of ``x0[..., 0] > 0.5`` on its grid,
    one channel or class 1 of a one-hot target.
    """
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        spatial = t.shape[1:-1]
        coarse = rng.random(
            (batch, *(max(1, s // 8) for s in spatial), t.shape[-1]), dtype=np.float32
        )
        index = [np.arange(s) * max(1, s // 8) // s for s in spatial]
        xs.append(coarse[np.ix_(range(batch), *index, range(t.shape[-1]))])
    base = xs[0][..., 0] > 0.5
    ys = []
    for t in model.outputs:
        shape = (batch, *t.shape[1:])
        crop = tuple(
            slice((s - o) // 2, (s - o) // 2 + o)
            for s, o in zip(base.shape[1:], shape[1:-1], strict=True)
        )
        target = base[(slice(None), *crop)].astype("float32")
        if shape[-1] == 1:
            ys.append(target[..., None])
        else:
            ys.append(np.eye(shape[-1], dtype="float32")[target.astype(int)])
    x = xs[0] if len(xs) == 1 else xs
    y = ys[0] if len(ys) == 1 else ys
    return x, y


def fit_losses(model: keras.Model, steps: int, lr: float = 1e-2) -> list[float]:
    """Losses of ``steps`` Adam steps on one fixed :func:`learnable_batch`."""
    x, y = learnable_batch(model)
    losses = [
        "binary_crossentropy" if t.shape[-1] == 1 else "categorical_crossentropy"
        for t in model.outputs
    ]
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=losses[0] if len(losses) == 1 else losses,
    )
    history = model.fit(
        x, y, epochs=steps, batch_size=_batch_size(x), verbose=0, shuffle=False
    )
    return history.history["loss"]


def run_python(script: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python process with this checkout on the path."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def assert_reloads_in_fresh_process(
    model: keras.Model, tmp_path: Path, formats=("keras", "h5"), atol: float = 1e-5
):
    """Save ``model`` and reload it in a new Python process without custom_objects.

    The child process only does ``import zoo`` (which registers the custom
    layers) and ``keras.models.load_model`` (``safe_mode=True`` for ``.keras``),
    then checks class, config (``json.dumps(..., sort_keys=True)``) and outputs.
    """
    x, _ = random_batch(model, batch=1, seed=1)
    expected = model.predict(x, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    xs = x if isinstance(x, list) else [x]
    np.savez(tmp_path / "io.npz", *xs, *expected)
    paths = []
    for fmt in formats:
        path = tmp_path / f"model.{fmt}"
        model.save(path)
        paths.append(str(path))
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    (tmp_path / "config.json").write_text(config)
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, keras
        import zoo  # registers the custom layers
        data = np.load({str(tmp_path / "io.npz")!r})
        arrays = [data[f"arr_{{i}}"] for i in range(len(data.files))]
        xs, expected = arrays[:{len(xs)}], arrays[{len(xs)}:]
        want_config = open({str(tmp_path / "config.json")!r}).read()
        for path in {paths!r}:
            kwargs = {{"safe_mode": True}} if path.endswith(".keras") else {{}}
            model = keras.models.load_model(path, **kwargs)
            assert type(model).__name__ == {type(model).__name__!r}, type(model)
            got_config = json.dumps(model.get_config(), sort_keys=True, default=str)
            if path.endswith(".keras"):
                assert got_config == want_config, path + ": config changed"
            out = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
            out = out if isinstance(out, list) else [out]
            for o, e in zip(out, expected, strict=True):
                np.testing.assert_allclose(o, e, atol={atol}, rtol=1e-4, err_msg=path)
        print("RELOAD_OK")
        """
    )
    result = run_python(script)
    assert result.returncode == 0 and "RELOAD_OK" in result.stdout, result.stderr[
        -4000:
    ]
