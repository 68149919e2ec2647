"""Shared test helpers: fit steps, fresh-process save/load round trips, data paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the read-only DRIVE / ISBI copies; skips when absent (fails in CI)."""
    return require_data(SHARED_DATA)


def require_data(path: Path) -> Path:
    """``path`` if it exists; else skip, or fail under CI (the ``CI`` variable).

    CI has the shared data, so a missing folder there is a broken path that a
    skip would hide.
    """
    if not path.exists():
        message = f"shared data not found at {path}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the data must be there)")
        pytest.skip(message)
    return path


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


def assert_fit_step(model: keras.Model, loss="binary_crossentropy", **compile_kwargs):
    """One ``fit`` step gives a finite loss and changes the weights."""
    x, y = random_batch(model)
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, **compile_kwargs)
    history = model.fit(
        x,
        y,
        epochs=1,
        batch_size=len(x if not isinstance(x, list) else x[0]),
        verbose=0,
    )
    loss_value = history.history["loss"][-1]
    assert np.isfinite(loss_value), loss_value
    after = model.get_weights()
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


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
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0 and "RELOAD_OK" in result.stdout, result.stderr[
        -4000:
    ]
