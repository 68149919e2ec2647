"""The README's main job at tiny settings: every promised file is written."""

import json

import keras
import numpy as np

from train_scripts import demo


def test_demo_writes_checkpoint_metrics_and_pictures(tmp_path):
    metrics = demo.run(
        tmp_path, epochs=1, n_train=8, n_val=2, size=32, batch_size=4, verbose=0
    )
    for name in (
        "best.h5",
        "last.h5",
        "metrics.csv",
        "metrics.json",
        "learning_curves.png",
        "prediction_overlay.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics
    assert 0.0 <= saved["dice"] <= 1.0 and 0.0 <= saved["iou"] <= 1.0
    model = keras.models.load_model(tmp_path / "best.h5")
    assert model.predict(np.zeros((1, 32, 32, 1)), verbose=0).shape == (1, 32, 32, 1)
