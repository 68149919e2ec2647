"""zoo.from_pretrained: committed checkpoints with their stored inference settings."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.inference import predict_tiled
from zoo.postprocess import postprocess_mask
from zoo.presets import PRESETS, preset_path


def test_every_preset_file_ships_with_the_package():
    assert zoo.list_pretrained() == sorted(PRESETS)
    for name in PRESETS:
        assert preset_path(name).is_file()


def test_drive_vessels_loads_and_predicts_with_its_stored_settings():
    preset = zoo.from_pretrained("drive_vessels")
    keys = ("threshold", "min_size", "tile_size", "tta")
    stored = {k: preset.settings[k] for k in keys}
    assert stored == {
        "threshold": 0.74,
        "min_size": 20,
        "tile_size": [128, 128],
        "tta": True,
    }
    assert preset.model.name == "sa_unet" and preset.model.output_shape[-1] == 1
    image = np.random.default_rng(0).random((150, 170, 3), dtype=np.float32)
    probs, mask = preset.predict(image)
    assert probs.shape == (150, 170, 1) and mask.shape == (150, 170)
    # The stored tile size, TTA, threshold and minimum component size were used.
    expected = predict_tiled(preset.model, image, tile_size=(128, 128), tta=True)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    raw = (expected[..., 0] > 0.74).astype(np.uint8)
    np.testing.assert_array_equal(mask, postprocess_mask(raw, min_size=20))
    _, unfiltered = preset.predict(image, min_size=0)
    np.testing.assert_array_equal(unfiltered, raw)
    no_tta = predict_tiled(preset.model, image, tile_size=(128, 128), tta=False)
    assert np.abs(no_tta - probs).max() > 1e-4
    # Keyword arguments override the stored settings.
    _, loose = preset.predict(image, threshold=0.1)
    assert loose.sum() >= mask.sum()


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(ValueError, match="drive_vessels"):
        zoo.from_pretrained("imagenet")
