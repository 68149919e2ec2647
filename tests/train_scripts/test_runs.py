"""The run record: one reader and one writer of ``run.json``."""

import json
import re
from pathlib import Path

import pytest

from train_scripts.runs import read_run, update_run, write_json_atomic, write_run

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_write_then_update_keeps_other_fields_and_nulls_non_finite(tmp_path):
    assert read_run(tmp_path) == {}
    write_run(tmp_path, {"config": {"epochs": 3}, "score": float("nan")})
    record = update_run(tmp_path, val_eval={"hd95": float("inf"), "dice": 0.5})
    assert record == {
        "config": {"epochs": 3},
        "score": None,
        "val_eval": {"hd95": None, "dice": 0.5},
    }
    assert json.loads((tmp_path / "run.json").read_text()) == record
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed


def test_an_unreadable_record_names_the_file(tmp_path):
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run\.json.*not a valid run record"):
        read_run(tmp_path)


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": (1, Path("x"))})
    assert json.loads(path.read_text()) == {"a": [1, "x"]}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_no_other_module_writes_run_json():
    writers = []
    for path in (REPO_ROOT / "train_scripts").rglob("*.py"):
        text = path.read_text()
        if path.name != "runs.py" and re.search(r"run\.json\"?\)?\.write_text", text):
            writers.append(path.name)
    assert writers == []
