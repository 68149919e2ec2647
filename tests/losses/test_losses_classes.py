"""Loss classes: equal to their functions, configs, `losses.get`, compile and fit."""

from __future__ import annotations

import inspect
import json

import keras
import numpy as np
import pytest

import losses

rng = np.random.default_rng(0)
Y2 = (rng.random((3, 8, 8, 2)) < 0.3).astype(np.float32)
X2 = rng.normal(0, 2, (3, 8, 8, 2)).astype(np.float32)
P2 = (1 / (1 + np.exp(-X2))).astype(np.float32)
WMAP = rng.uniform(1, 5, (3, 8, 8, 1)).astype(np.float32)

NON_DEFAULT = {
    "DiceLoss": {"smooth": 0.5, "squared": True},
    "MulticlassDiceLoss": {"class_weights": (1.0, 3.0)},
    "BCELoss": {"mode": "multiclass"},
    "ReweightedBCELoss": {"alpha": 0.999},
    "FocalLoss": {"gamma": 1.0, "alpha": 0.99},
    "BorderDiceLoss": {"pool_size": 5, "border": "outer"},
    "WeightedDiceLoss": {"foreground_weight": 0.7, "formulation": "masked"},
    "TverskyLoss": {"alpha": 0.4, "beta": 0.6},
    "FocalTverskyLoss": {"gamma": 1.5},
    "GeneralizedDiceLoss": {"weight_type": "simple"},
    "WeightedBCELoss": {"mode": "multiclass"},
    "BCEDiceLoss": {"bce_weight": 100.0, "bce_alpha": 0.999},
    "FocalDiceLoss": {"focal_weight": 10.0, "alpha": 0.5},
    "FocalBCEDiceLoss": {"focal_weight": 100.0, "bce_weight": 10.0, "gamma": 1.0},
    "JaccardLoss": {"smooth": 0.5, "ignore_index": 255},
    "MSSSIMLoss": {"power_factors": (0.4, 0.6), "filter_size": 3, "k2": 0.05},
    "UNet3PlusHybridLoss": {
        "iou_weight": 2.0,
        "power_factors": (0.4, 0.6),
        "filter_size": 3,
    },
}
CLASSES = {cls.__name__: (name, cls) for name, cls in losses.LOSSES.items()}


def _y_true(cls_name):
    return np.concatenate([Y2, WMAP], -1) if cls_name == "WeightedBCELoss" else Y2


def test_every_canonical_name_has_a_class_and_a_function():
    assert set(CLASSES) == set(NON_DEFAULT)
    for name in losses.LOSSES:
        assert callable(getattr(losses, name))


@pytest.mark.parametrize("cls_name", sorted(NON_DEFAULT))
@pytest.mark.parametrize("from_logits", [False, True])
def test_class_equals_mean_of_function(cls_name, from_logits):
    fn_name, cls = CLASSES[cls_name]
    kwargs = dict(NON_DEFAULT[cls_name], from_logits=from_logits)
    loss = cls(**kwargs)
    y, x = _y_true(cls_name), (X2 if from_logits else P2)
    per_sample = np.asarray(getattr(losses, fn_name)(y, x, **kwargs))
    np.testing.assert_allclose(float(loss(y, x)), per_sample.mean(), rtol=1e-6)
    sw = np.array([1.0, 0.0, 3.0], np.float32)
    np.testing.assert_allclose(
        float(loss(y, x, sample_weight=sw)), (per_sample * sw).sum() / 3, rtol=1e-6
    )
    none = cls(**kwargs, reduction="none")
    np.testing.assert_allclose(none(y, x), per_sample, rtol=1e-6)


@pytest.mark.parametrize("cls_name", sorted(NON_DEFAULT))
def test_config_round_trip_holds_every_argument(cls_name):
    _, cls = CLASSES[cls_name]
    loss = cls(**NON_DEFAULT[cls_name], name="custom")
    config = loss.get_config()
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert params == set(config)
    clone = cls.from_config(json.loads(json.dumps(config)))
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(
        config, sort_keys=True
    )
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert type(restored) is cls
    assert restored.get_config() == config
    y = _y_true(cls_name)
    np.testing.assert_allclose(float(restored(y, P2)), float(loss(y, P2)), rtol=1e-6)


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (losses.DiceLoss, {"smooth": -1.0}, "smooth"),
        (losses.DiceLoss, {"mode": "binary"}, "mode"),
        (losses.FocalLoss, {"gamma": -2.0}, "gamma"),
        (losses.ReweightedBCELoss, {"alpha": 1.01}, "alpha"),
        (losses.BorderDiceLoss, {"pool_size": 4}, "pool_size"),
        (losses.MulticlassDiceLoss, {"class_weights": (0, 0)}, "class_weights"),
        (losses.GeneralizedDiceLoss, {"weight_type": "log"}, "weight_type"),
        (
            losses.FocalBCEDiceLoss,
            {"bce_alpha": 0.9, "mode": "multiclass"},
            "bce_alpha",
        ),
        (losses.FocalDiceLoss, {"focal_weight": -1.0}, "focal_weight"),
        (losses.WeightedDiceLoss, {"formulation": "paper"}, "formulation"),
    ],
)
def test_constructor_rejects_bad_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_get_returns_instances_for_every_name():
    for name in losses.list_losses():
        loss = losses.get(name)
        assert isinstance(loss, keras.losses.Loss)
        canonical = losses.ALIASES.get(name, name)
        expected = losses.LOSSES.get(canonical) or CLASSES[name][1]
        assert type(loss) is expected
    assert type(losses.get("focal_bce_dice")) is losses.FocalBCEDiceLoss
    assert type(losses.get("focal")) is losses.FocalLoss
    instance = losses.DiceLoss(smooth=2.0)
    assert losses.get(instance) is instance
    from_dict = losses.get(keras.saving.serialize_keras_object(instance))
    assert from_dict.get_config() == instance.get_config()


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss name 'dcie'") as info:
        losses.get("dcie")
    for name in ("dice_loss", "focal_bce_dice", "weighted_bce", "tversky_loss"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="identifier"):
        losses.get(3)


def test_compile_names_do_not_shadow_keras():
    from keras.src import losses as keras_losses

    table = keras_losses.ALL_OBJECTS_DICT
    assert table["focal_bce_dice"] is losses.FocalBCEDiceLoss
    assert table["DiceLoss"] is losses.DiceLoss
    # Keras' own names keep their meaning in compile.
    assert table["dice"] is not losses.DiceLoss
    assert table["bce"] is not losses.BCELoss


def _tiny_model(n_out, activation="sigmoid"):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(n_out, 1, activation=activation)(x)
    return keras.Model(inputs, outputs)


def test_compile_with_string_name_and_fit_with_packed_weight_map():
    keras.utils.set_random_seed(1)
    x = rng.random((4, 8, 8, 1)).astype(np.float32)
    y = (x > 0.5).astype(np.float32)
    model = _tiny_model(1)
    model.compile(
        optimizer="sgd",
        loss="focal_bce_dice",
        metrics=[losses.DiceScore(), losses.RecallScore()],
    )
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert isinstance(model.loss, str)

    # The U-Net weight map travels as the last channel of y_true.
    packed = np.concatenate([y, np.full_like(y, 3.0)], axis=-1)
    model = _tiny_model(1)
    model.compile(optimizer="sgd", loss="weighted_bce")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, packed, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(
        not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True)
    )
    expected = float(losses.WeightedBCELoss()(packed, model.predict(x, verbose=0)))
    assert float(model.evaluate(x, packed, verbose=0)) == pytest.approx(expected, 1e-4)
