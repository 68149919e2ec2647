"""Shared fixtures: data paths (helpers live in ``tests/helpers.py``)."""

from __future__ import annotations

import os
from pathlib import Path

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
