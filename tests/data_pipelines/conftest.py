"""Fixtures for the data pipeline tests: the shared DRIVE / ISBI copies, read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipelines.readers import load_drive

DATA_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def drive_root() -> Path:
    return _require(DATA_ROOT / "drive")


@pytest.fixture(scope="session")
def isbi_root() -> Path:
    return _require(DATA_ROOT / "isbi2012_membrane")


@pytest.fixture(scope="session")
def drive_small(drive_root):
    """The first three DRIVE training images, masks and FOVs."""
    return load_drive(drive_root, limit=3)
