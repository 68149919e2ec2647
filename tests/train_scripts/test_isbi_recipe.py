"""The ISBI membrane recipe end to end at smoke-test settings (the full run is ~25 min)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_isbi_recipe_smoke(tmp_path, shared_data):
    isbi = shared_data / "isbi2012_membrane"
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "DATA_ROOT": str(isbi),
        "OUT": str(tmp_path / "isbi"),
        "EPOCHS": "1",
        "STEPS": "2",
        "BATCH": "2",
        "PATCH": "32",
        "MODEL_KWARGS": '{"depth": 2, "filters": 4}',
        "HOLDOUT": "28-29",
        "EXTRA": "--val-patches 4 --verbose 0 --no-final-eval",
    }
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "train_scripts" / "recipes" / "isbi.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ISBI held-out slices (2): pixel error" in result.stdout
    metrics = json.loads((tmp_path / "isbi" / "test_eval" / "metrics.json").read_text())
    assert metrics["n_images"] == 2
    assert metrics["pixel_error"] == pytest.approx(1 - metrics["accuracy"])
    record = json.loads((tmp_path / "isbi" / "run.json").read_text())
    assert not {"28", "29"} & set(record["config"]["split"]["train"])
    assert record["config"]["split"]["val"] == ["22", "23", "24"]
