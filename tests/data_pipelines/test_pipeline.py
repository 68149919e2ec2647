from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from data_pipelines.augment import Augmenter2D, Augmenter3D, gaussian_line_mask
from data_pipelines.patches import roi_box
from data_pipelines.pipeline import (
    make_full_image_dataset,
    make_patch_dataset,
    make_two_input_dataset,
    without_autotune,
)


def _batches(dataset, n=None):
    taken = dataset if n is None else dataset.take(n)
    return [tuple(t.numpy() for t in batch) for batch in taken]


def _drive_dataset(drive, seed=0, **kwargs):
    options = dict(
        fov=drive.fov,
        patch_size=(64, 64),
        batch_size=8,
        augment=Augmenter2D(vflip=True, elastic_sigma=5),
        patches_per_epoch=24,
        seed=seed,
    )
    options.update(kwargs)
    return make_patch_dataset(drive.images, drive.masks, **options)


def test_patch_dataset_2d_shapes_and_values(drive_small):
    dataset = _drive_dataset(drive_small)
    x_spec, y_spec = dataset.element_spec
    assert x_spec.shape[1:] == (64, 64, 3) and y_spec.shape[1:] == (64, 64, 1)
    assert x_spec.dtype == y_spec.dtype == tf.float32
    batches = _batches(dataset)
    assert [b[0].shape for b in batches] == [(8, 64, 64, 3)] * 3
    for x, y in batches:
        assert x.dtype == y.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert set(np.unique(y)) <= {0.0, 1.0}
    # fg_ratio=0.5 on thin vessels: most patches contain some vessel.
    assert np.mean([y.any(axis=(1, 2, 3)).mean() for _, y in batches]) > 0.7


def test_pipelines_run_without_tf_data_autotuning(drive_small, monkeypatch, tmp_path):
    # Autotuning stalled model.fit on CPU (see without_autotune): our datasets
    # switch it off, and the trainer does so for any dataset it is given.
    assert _drive_dataset(drive_small).options().autotune.enabled is False
    volumes = [np.zeros((8, 8, 8, 1), np.float32)] * 2
    full = make_full_image_dataset(volumes, volumes, batch_size=1, shuffle=False)
    assert full.options().autotune.enabled is False
    plain = tf.data.Dataset.range(3)
    assert plain.options().autotune.enabled is not False
    assert without_autotune(plain).options().autotune.enabled is False

    from train_scripts import trainer

    class FitCalledError(Exception):
        pass

    seen = []

    def fit(self, data, validation_data=None, **kwargs):
        seen.extend([data, validation_data])
        raise FitCalledError

    monkeypatch.setattr(keras.Model, "fit", fit)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    with pytest.raises(FitCalledError):
        trainer.train(model, plain, plain, epochs=1, out_dir=tmp_path)
    assert [d.options().autotune.enabled for d in seen] == [False, False]


def test_patch_dataset_is_deterministic_with_a_seed(drive_small):
    first = _batches(_drive_dataset(drive_small, seed=7))
    again = _batches(_drive_dataset(drive_small, seed=7))
    for (xa, ya), (xb, yb) in zip(first, again, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    other = _batches(_drive_dataset(drive_small, seed=8))
    assert not np.array_equal(first[0][0], other[0][0])


def test_patch_dataset_epochs_differ_and_order_only_varies(drive_small):
    dataset = _drive_dataset(drive_small, augment=None, patches_per_epoch=16)
    epoch1, epoch2 = _batches(dataset), _batches(dataset)
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])
    loose = _drive_dataset(
        drive_small, augment=None, patches_per_epoch=16, deterministic=False
    )
    strict = _drive_dataset(drive_small, augment=None, patches_per_epoch=16)

    def patch_sums(batches):
        return sorted(float(x.sum()) for b in batches for x in b[0])

    assert patch_sums(_batches(loose)) == patch_sums(_batches(strict))


def test_patch_dataset_3d_augments_only_the_patch_of_its_context_crop():
    calls = []

    class Spy(Augmenter3D):
        def __call__(self, image, mask, rng, *, window=None):
            calls.append((image.shape, window))
            return super().__call__(image, mask, rng, window=window)

    volumes = np.random.default_rng(0).random((2, 20, 40, 36, 1)).astype(np.float32)
    dataset = make_patch_dataset(
        volumes,
        (volumes > 0.8).astype(np.float32),
        patch_size=(16, 12, 8),
        batch_size=2,
        augment=Spy(rotation=10),
        patches_per_epoch=2,
        context=0.25,
    )
    x, y = next(iter(dataset))
    assert x.shape == (2, 16, 12, 8, 1) == y.shape
    # 0.25 of the patch on each side: a (24, 18, 12) crop, the patch at its centre.
    assert calls == [((24, 18, 12, 1), (slice(4, 20), slice(3, 15), slice(2, 10)))] * 2


def test_patch_dataset_3d_and_keras_fit():
    rng = np.random.default_rng(0)
    volumes = rng.random((2, 20, 40, 36, 1)).astype(np.float32)
    masks = (volumes > 0.8).astype(np.float32)
    dataset = make_patch_dataset(
        volumes,
        masks,
        patch_size=(16, 16, 16),
        batch_size=2,
        augment=Augmenter3D(noise_std=0.01),
        patches_per_epoch=None,
        seed=1,
        threads=2,
    )
    x_spec, y_spec = dataset.element_spec
    assert x_spec.shape == (2, 16, 16, 16, 1) == y_spec.shape  # static for Keras
    x, y = next(iter(dataset))
    assert x.dtype == y.dtype == tf.float32
    again = next(
        iter(
            make_patch_dataset(
                volumes,
                masks,
                patch_size=(16, 16, 16),
                batch_size=2,
                augment=Augmenter3D(noise_std=0.01),
                patches_per_epoch=None,
                seed=1,
            )
        )
    )
    np.testing.assert_array_equal(x.numpy(), again[0].numpy())
    model = keras.Sequential(
        [keras.Input((16, 16, 16, 1)), keras.layers.Conv3D(1, 3, padding="same")]
    )
    model.compile("sgd", "mse")
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_patch_dataset_target_fn_adds_line_channels(drive_small):
    dataset = _drive_dataset(
        drive_small,
        target_fn=functools.partial(gaussian_line_mask, channels=(0,)),
    )
    x, y = _batches(dataset, 1)[0]
    assert y.shape == (8, 64, 64, 4)
    assert set(np.unique(y[..., 0])) <= {0.0, 1.0}
    assert (y[..., 3] > 0).sum() > (y[..., 0] > 0).sum()


def test_patch_dataset_rejects_bad_input(drive_small):
    with pytest.raises(ValueError, match="zero samples"):
        make_patch_dataset([], [], patch_size=(8, 8), batch_size=1, patches_per_epoch=1)
    nan = np.stack(drive_small.images[:1])
    nan[0, 5, 5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        make_patch_dataset(
            nan,
            drive_small.masks[:1],
            patch_size=(8, 8),
            batch_size=1,
            patches_per_epoch=1,
        )
    with pytest.raises(ValueError, match="3D augmenter"):
        _drive_dataset(drive_small, augment=Augmenter3D())
    with pytest.raises(ValueError, match="Size mismatch"):
        make_patch_dataset(
            drive_small.images[:1],
            [drive_small.masks[0][:-1]],
            patch_size=(8, 8),
            batch_size=1,
            patches_per_epoch=1,
        )


def test_full_image_dataset_from_arrays(isbi_root):
    from data_pipelines.readers import load_isbi

    isbi = load_isbi(isbi_root, limit=3)
    dataset = make_full_image_dataset(
        isbi.images,
        isbi.masks,
        2,
        augment=Augmenter2D(),
        target_size=(128, 128),
        seed=3,
    )
    assert dataset.element_spec[0].shape[1:] == (128, 128, 1)
    batches = _batches(dataset)
    assert [b[0].shape[0] for b in batches] == [2, 1]
    assert set(np.unique(np.concatenate([b[1] for b in batches]))) == {0.0, 1.0}
    again = _batches(
        make_full_image_dataset(
            isbi.images,
            isbi.masks,
            2,
            augment=Augmenter2D(),
            target_size=(128, 128),
            seed=3,
        )
    )
    np.testing.assert_array_equal(batches[0][0], again[0][0])


def test_full_image_dataset_from_paths_is_cached(isbi_root):
    images = [isbi_root / "train" / "image" / f"{i}.png" for i in range(3)]
    labels = [isbi_root / "train" / "label" / f"{i}.png" for i in range(3)]
    dataset = make_full_image_dataset(images, labels, 3, shuffle=False)
    x, y = _batches(dataset)[0]
    assert x.shape == y.shape == (3, 512, 512, 1)
    from data_pipelines.readers import read_image

    np.testing.assert_array_equal(x[1], read_image(images[1]))
    # The second pass is served from the cache and is identical without augment.
    np.testing.assert_array_equal(_batches(dataset)[0][0], x)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        make_full_image_dataset(images[:1], [isbi_root / "missing.png"], 1)


def test_full_image_dataset_3d():
    volumes = np.random.default_rng(0).random((3, 8, 16, 16, 1)).astype(np.float32)
    masks = (volumes > 0.5).astype(np.float32)
    dataset = make_full_image_dataset(volumes, masks, 2, target_size=(8, 12, 12))
    x, y = _batches(dataset, 1)[0]
    assert x.shape == y.shape == (2, 8, 12, 12, 1)
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_two_input_dataset_structure_and_roi():
    images = np.random.default_rng(0).random((3, 128, 128, 1)).astype(np.float32)
    masks = np.zeros((3, 128, 128, 2), np.float32)
    masks[:, 20:90, 20:90, 0] = 1  # big instance
    masks[:, 60:70, 40:56, 1] = 1  # tiny object
    dataset = make_two_input_dataset(
        images, masks, 3, roi_channels=(1,), shuffle=False, margin=8
    )
    inputs, targets = next(iter(dataset))
    assert sorted(inputs) == ["full_input", "roi_input"]
    assert sorted(targets) == ["orig_branch", "roi_branch"]
    assert inputs["roi_input"].shape == (3, 128, 128, 1)
    assert targets["orig_branch"].shape == (3, 128, 128, 2)
    assert targets["roi_branch"].shape == (3, 128, 128, 1)
    np.testing.assert_array_equal(inputs["full_input"].numpy(), images)
    y0, y1, x0, x1 = roi_box(masks[0, ..., 1:], margin=8)
    assert (y0, y1, x0, x1) == (49, 81, 32, 64)
    # 32 px ROI scaled x4: the tiny object fills the middle of the ROI target.
    roi = targets["roi_branch"].numpy()[0, ..., 0]
    assert set(np.unique(roi)) == {0.0, 1.0}
    assert abs(roi.mean() - (10 * 16) / 32**2) < 0.03
    expected = images[0, y0:y1, x0:x1].repeat(4, 0).repeat(4, 1)
    assert np.abs(inputs["roi_input"].numpy()[0] - expected).mean() < 0.15
