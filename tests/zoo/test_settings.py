"""Inference settings stored inside .h5 and .keras checkpoints."""

from __future__ import annotations

import keras
import pytest

import zoo
from zoo.settings import read_settings, update_settings, write_settings


@pytest.fixture(scope="module")
def tiny_model():
    return zoo.unet_padding((16, 16, 1), depth=2, filters=4)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_settings_round_trip_and_model_still_loads(tiny_model, tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    tiny_model.save(path)
    assert read_settings(path) == {}
    write_settings(path, {"threshold": 0.76, "tile_size": [128, 128]})
    update_settings(path, tta=True)
    assert read_settings(path) == {
        "threshold": 0.76,
        "tile_size": [128, 128],
        "tta": True,
    }
    reloaded = keras.models.load_model(path, compile=False)
    assert reloaded.count_params() == tiny_model.count_params()


def test_settings_refuse_other_files(tmp_path):
    other = tmp_path / "m.txt"
    other.write_text("x")
    with pytest.raises(ValueError, match="only .h5"):
        read_settings(other)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        read_settings(tmp_path / "missing.h5")
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="broken.h5"):
        read_settings(broken)
