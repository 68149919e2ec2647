"""Execute the notebooks on their QUICK settings (tiny models, one or two epochs)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quickstart", "drive", "volumes_3d"])
def test_notebook_runs(name, tmp_path, monkeypatch, request):
    if name in ("drive", "volumes_3d"):
        request.getfixturevalue("shared_data")  # skips, or fails under CI
    monkeypatch.setenv("ZOO_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert notebook.cells[1].source.strip() == "QUICK = True"
    client = nbclient.NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert any(tmp_path.iterdir())  # outputs went to ZOO_RUNS_DIR, not the repo
