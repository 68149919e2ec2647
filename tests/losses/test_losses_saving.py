"""A model compiled with each loss saves to .keras / .h5 and reloads in a fresh
process after `import losses`, without custom_objects (one process per format)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import losses

REPO = Path(__file__).resolve().parents[2]

# The reload tests share the module-scoped fresh interpreters: one xdist worker.
pytestmark = pytest.mark.xdist_group("losses_saving")

KWARGS = {
    "DiceLoss": {"smooth": 0.5, "squared": True},
    "MulticlassDiceLoss": {"class_weights": (1.0, 3.0)},
    "BCELoss": {"from_logits": False},
    "ReweightedBCELoss": {"alpha": 0.999},
    "FocalLoss": {"gamma": 1.0, "alpha": 0.99},
    "BorderDiceLoss": {"pool_size": 5, "border": "outer"},
    "WeightedDiceLoss": {"formulation": "masked"},
    "TverskyLoss": {"alpha": 0.4, "beta": 0.6},
    "FocalTverskyLoss": {"gamma": 1.5},
    "GeneralizedDiceLoss": {"weight_type": "simple"},
    "WeightedBCELoss": {},
    "BCEDiceLoss": {"bce_weight": 100.0, "bce_alpha": 0.999},
    "FocalDiceLoss": {"focal_weight": 10.0},
    "FocalBCEDiceLoss": {"focal_weight": 100.0, "bce_weight": 10.0},
    "JaccardLoss": {"smooth": 0.5},
    "MSSSIMLoss": {"power_factors": (0.4, 0.6), "filter_size": 3},
    "UNet3PlusHybridLoss": {"iou_weight": 2.0, "power_factors": (0.4, 0.6)},
}
METRICS_MODEL = "DiceLoss"
STRING_MODEL = "string_focal_bce_dice"

# Runs in a fresh interpreter: argv = [format, folder].
RELOAD_SCRIPT = """
import json, sys
import numpy as np
import keras
import losses

fmt, folder = sys.argv[1], sys.argv[2]
data = np.load(f"{folder}/data.npz")
report = {}
for name in json.load(open(f"{folder}/names.json")):
    extra = {"safe_mode": True} if fmt == "keras" else {}
    model = keras.models.load_model(f"{folder}/{name}.{fmt}", **extra)
    y = data["y_packed"] if name == "WeightedBCELoss" else data["y"]
    entry = {"type": type(model.loss).__name__}
    if isinstance(model.loss, keras.losses.Loss):
        entry["config"] = model.loss.get_config()
        entry["value"] = float(model.loss(y, model(data["x"])))
    if name in ("DiceLoss", "string_focal_bce_dice"):
        entry["evaluate"] = model.evaluate(data["x"], y, verbose=0, return_dict=True)
    report[name] = entry
print("REPORT" + json.dumps(report))
"""


def _tiny_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def _metrics():
    return [
        losses.DiceScore(),
        losses.IoUScore(class_id=1),
        losses.PrecisionScore(threshold=0.3),
        losses.RecallScore(),
        losses.SpecificityScore(),
    ]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved_losses")
    rng = np.random.default_rng(0)
    x = rng.random((3, 8, 8, 1)).astype(np.float32)
    y = (rng.random((3, 8, 8, 2)) < 0.4).astype(np.float32)
    y_packed = np.concatenate([y, rng.uniform(1, 5, (3, 8, 8, 1))], -1)
    np.savez(folder / "data.npz", x=x, y=y, y_packed=y_packed.astype(np.float32))
    keras.utils.set_random_seed(0)
    expected = {}
    for cls_name, kwargs in KWARGS.items():
        model = _tiny_model()
        loss = getattr(losses, cls_name)(**kwargs)
        with_metrics = cls_name == METRICS_MODEL
        model.compile(
            optimizer="sgd", loss=loss, metrics=_metrics() if with_metrics else None
        )
        target = y_packed if cls_name == "WeightedBCELoss" else y
        expected[cls_name] = {
            "type": cls_name,
            "config": loss.get_config(),
            "value": float(loss(target, model(x))),
        }
        if with_metrics:
            expected[cls_name]["evaluate"] = model.evaluate(
                x, y, verbose=0, return_dict=True
            )
        model.save(folder / f"{cls_name}.keras")
        model.save(folder / f"{cls_name}.h5")
    model = _tiny_model()
    model.compile(optimizer="sgd", loss="focal_bce_dice")
    expected[STRING_MODEL] = {
        "type": "str",
        "evaluate": model.evaluate(x, y, verbose=0, return_dict=True),
    }
    model.save(folder / f"{STRING_MODEL}.keras")
    model.save(folder / f"{STRING_MODEL}.h5")
    (folder / "names.json").write_text(json.dumps(list(expected)))
    return folder, expected


@pytest.fixture(scope="module")
def reloaded(saved):
    """Starts one fresh interpreter per format, both at once (import dominates)."""
    folder, _ = saved
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    procs = {
        fmt: subprocess.Popen(
            [sys.executable, "-c", RELOAD_SCRIPT, fmt, str(folder)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for fmt in ("keras", "h5")
    }
    results = {}
    for fmt, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        results[fmt] = subprocess.CompletedProcess(
            proc.args, proc.returncode, stdout, stderr
        )
    return results


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_reload_in_fresh_process_without_custom_objects(saved, reloaded, fmt):
    _, expected = saved
    result = reloaded[fmt]
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(s for s in result.stdout.splitlines() if s.startswith("REPORT"))
    report = json.loads(line[len("REPORT") :])
    assert set(report) == set(expected)
    for name, want in expected.items():
        got = report[name]
        if name == STRING_MODEL:
            # .keras keeps the string; legacy .h5 resolves it to the class.
            assert got["type"] in ("str", "FocalBCEDiceLoss"), got["type"]
        else:
            assert got["type"] == want["type"], name
        if "config" in want:
            assert json.dumps(got["config"], sort_keys=True) == json.dumps(
                json.loads(json.dumps(want["config"])), sort_keys=True
            ), name
            assert got["value"] == pytest.approx(want["value"], rel=1e-5), name
        if "evaluate" in want:
            assert got["evaluate"].keys() == want["evaluate"].keys(), name
            for key, value in want["evaluate"].items():
                assert got["evaluate"][key] == pytest.approx(value, rel=1e-5), key
