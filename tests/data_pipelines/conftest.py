"""Fixtures for the data pipeline tests: the shared DRIVE / ISBI copies, read once.

They need the root ``shared_data`` fixture, which skips when the data is absent
and fails under CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipelines.readers import load_drive


@pytest.fixture(scope="session")
def drive_root(shared_data) -> Path:
    return shared_data / "drive"


@pytest.fixture(scope="session")
def isbi_root(shared_data) -> Path:
    return shared_data / "isbi2012_membrane"


@pytest.fixture(scope="session")
def drive_small(drive_root):
    """The first three DRIVE training images, masks and FOVs."""
    return load_drive(drive_root, limit=3)
