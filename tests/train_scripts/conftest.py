"""Fixtures of the train_scripts tests: tiny untrained checkpoints."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

import zoo


@pytest.fixture(scope="session")
def tiny_checkpoint_2d(tmp_path_factory) -> Path:
    """An untrained 1-channel unet_padding with a fixed 32x32 input, as .h5."""
    keras.utils.set_random_seed(0)
    model = zoo.unet_padding((32, 32, 1), 1, depth=2, filters=4)
    path = tmp_path_factory.mktemp("ckpt") / "tiny2d.h5"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint_3d(tmp_path_factory) -> Path:
    """An untrained 1-channel vnet_3d with a fixed 16^3 input, as .h5."""
    keras.utils.set_random_seed(0)
    model = zoo.vnet_3d((16, 16, 16, 1), 1, depth=2)
    path = tmp_path_factory.mktemp("ckpt") / "tiny3d.h5"
    model.save(path)
    return path
