from __future__ import annotations

import cv2
import numpy as np
import pytest

from data_pipelines.augment import (
    Augmenter2D,
    Augmenter3D,
    elastic_deform,
    elastic_displacement,
    gaussian_line_mask,
)


def _l_shape(size=64):
    """An asymmetric 'L' so that flips and rotations are all visible."""
    mask = np.zeros((size, size, 1), np.float32)
    mask[14:50, 18:28] = 1
    mask[40:50, 18:46] = 1
    return mask


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def _assert_aligned(image, mask):
    """The bright region of ``image`` coincides with the mask's foreground."""
    bright, fg = image.mean(-1) > 0.5, mask[..., 0] > 0.5
    assert _iou(bright, fg) > 0.85
    # Interpolation differences at the edges are symmetric; a shift is not.
    centroid = [np.argwhere(region).mean(0) for region in (bright, fg)]
    assert np.abs(centroid[0] - centroid[1]).max() < 0.5


ALL_2D = dict(
    rotation=10,
    shift=0.05,
    scale=0.1,
    vflip=True,
    brightness=0.1,
    contrast=0.1,
    gamma=0.2,
    noise_std=0.02,
    elastic_sigma=4,
)


def test_augmenter2d_moves_image_and_mask_together():
    mask = _l_shape()
    # The image is the mask's shape, in colour, on a dim background.
    image = np.concatenate([0.2 + 0.6 * mask] * 3, axis=-1)
    augment = Augmenter2D(**ALL_2D)
    moved = 0
    for seed in range(8):
        out_image, out_mask = augment(image, mask, np.random.default_rng(seed))
        assert out_image.shape == image.shape and out_mask.shape == mask.shape
        assert out_image.dtype == out_mask.dtype == np.float32
        assert set(np.unique(out_mask)) <= {0.0, 1.0}
        _assert_aligned(out_image, out_mask)
        moved += _iou(out_mask[..., 0] > 0.5, mask[..., 0] > 0.5) < 0.9
    assert moved >= 6  # the transform is not the identity


def test_augmenter2d_is_deterministic_given_the_generator():
    image = np.random.default_rng(0).random((48, 40, 3)).astype(np.float32)
    mask = _l_shape(48)[:, :40]
    augment = Augmenter2D(**ALL_2D)
    a = augment(image, mask, np.random.default_rng(5))
    b = Augmenter2D(**ALL_2D)(image, mask, np.random.default_rng(5))
    c = augment(image, mask, np.random.default_rng(6))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_augmenter2d_flips_are_independent():
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1) / 16
    mask = np.zeros_like(image)
    augment = Augmenter2D(rotation=0, shift=0, hflip=True, vflip=True)
    seen = set()
    for seed in range(40):
        out, _ = augment(image, mask, np.random.default_rng(seed))
        for name, flipped in {
            "none": image,
            "h": image[:, ::-1],
            "v": image[::-1],
            "hv": image[::-1, ::-1],
        }.items():
            if np.array_equal(out, flipped):
                seen.add(name)
    assert seen == {"none", "h", "v", "hv"}


def test_augmenter2d_one_hot_masks_stay_one_hot():
    labels = np.zeros((32, 32), np.int64)
    labels[4:20, 4:20] = 1
    labels[22:30, 10:28] = 2
    mask = np.eye(3, dtype=np.float32)[labels]
    image = np.random.default_rng(0).random((32, 32, 1)).astype(np.float32)
    for seed in range(4):
        out_image, out_mask = Augmenter2D(**ALL_2D)(
            image, mask, np.random.default_rng(seed)
        )
        np.testing.assert_array_equal(out_mask.sum(-1), 1)
        assert set(np.unique(out_mask)) == {0.0, 1.0}
        assert 0.0 <= out_image.min() and out_image.max() <= 1.0


def test_augmenter3d_moves_volume_and_mask_together():
    mask = np.zeros((24, 32, 28, 1), np.float32)
    mask[4:18, 6:12, 8:20] = 1
    mask[14:18, 6:26, 8:12] = 1
    image = 0.1 + 0.8 * mask
    augment = Augmenter3D(scale=0.1, noise_std=0.02, contrast=0.1, elastic_sigma=2)
    moved = 0
    for seed in range(4):
        out_image, out_mask = augment(image, mask, np.random.default_rng(seed))
        assert out_image.shape == image.shape and out_mask.shape == mask.shape
        assert set(np.unique(out_mask)) <= {0.0, 1.0}
        _assert_aligned(out_image, out_mask)
        moved += _iou(out_mask > 0.5, mask > 0.5) < 0.9
    assert moved >= 3
    again = augment(image, mask, np.random.default_rng(3))
    np.testing.assert_array_equal(again[0], out_image)


def test_augmenter3d_one_hot_mask_equals_channel_by_channel_resampling():
    labels = np.zeros((20, 24, 22), int)
    labels[4:14, 5:18, 6:16] = 1
    labels[10:18, 8:20, 4:12] = 2
    one_hot = np.eye(3, dtype=np.float32)[labels]
    image = labels[..., None].astype(np.float32) / 2
    augment = Augmenter3D(rotation=20, shift=0.1, scale=0.1)
    for seed in range(3):
        out_image, out_mask = augment(image, one_hot, np.random.default_rng(seed))
        # The same draw with a mask that is not one-hot (a tiny extra channel
        # value) takes the channel-by-channel path; its first K channels must
        # agree exactly.
        padded = np.concatenate([one_hot, np.full_like(one_hot[..., :1], 0.5)], -1)
        ref_image, ref_mask = augment(image, padded, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_image, ref_image)
        np.testing.assert_array_equal(out_mask, ref_mask[..., :3])
        assert not np.array_equal(out_mask, one_hot)
        np.testing.assert_array_equal(out_mask.sum(-1), 1)


@pytest.mark.parametrize(
    "options",
    [
        {"rotation": 20, "shift": 0.1, "scale": 0.1},
        {"rotation": 15, "scale": 0.1, "elastic_sigma": 3},
        {"rotation": 0, "shift": 0, "elastic_sigma": 3},
        {"rotation": 0, "shift": 0},
    ],
)
def test_augmenter3d_window_equals_the_window_of_the_whole(options):
    labels = np.zeros((20, 24, 22), int)
    labels[4:14, 5:18, 6:16] = 1
    labels[10:18, 8:20, 4:12] = 2
    one_hot = np.eye(3, dtype=np.float32)[labels]
    image = np.random.default_rng(0).random((20, 24, 22, 2)).astype(np.float32)
    window = (slice(4, 16), slice(5, 19), slice(3, 17))
    augment = Augmenter3D(**options)
    for seed in range(3):
        whole_image, whole_mask = augment(image, one_hot, np.random.default_rng(seed))
        part_image, part_mask = augment(
            image, one_hot, np.random.default_rng(seed), window=window
        )
        assert part_image.shape == (12, 14, 14, 2)
        assert part_mask.shape == (12, 14, 14, 3)
        np.testing.assert_allclose(part_image, whole_image[window], atol=1e-5)
        np.testing.assert_array_equal(part_mask, whole_mask[window])


@pytest.mark.parametrize(
    "window",
    [
        (slice(0, 4),) * 2,
        (slice(2, 2),) * 3,
        (slice(0, 9, 2),) * 3,
        (slice(0, 9),) * 3,
        (slice(-4, None),) * 3,
    ],
)
def test_augmenter3d_refuses_a_bad_window(window):
    volume = np.zeros((8, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="window"):
        Augmenter3D()(volume, volume, np.random.default_rng(0), window=window)


def test_augmenter3d_flip_only_is_exact():
    volume = np.random.default_rng(0).random((4, 5, 6, 1)).astype(np.float32)
    augment = Augmenter3D(rotation=0, shift=0, flip_axes=(0, 2))
    for seed in range(8):
        out, out_mask = augment(volume, volume.copy(), np.random.default_rng(seed))
        np.testing.assert_array_equal(out, out_mask)
        candidates = [volume, volume[::-1], volume[:, :, ::-1], volume[::-1, :, ::-1]]
        assert any(np.array_equal(out, c) for c in candidates)


@pytest.mark.parametrize("shape", [(96, 80), (24, 32, 28)])
def test_elastic_deform_leaves_no_holes_in_a_full_mask(shape):
    image = np.random.default_rng(0).random((*shape, 1)).astype(np.float32)
    full = np.ones((*shape, 1), np.float32)
    out_image, out_mask = elastic_deform(
        image, full, np.random.default_rng(1), sigma=10 if len(shape) == 2 else 3
    )
    np.testing.assert_array_equal(out_mask, full)
    assert image.min() <= out_image.min() and out_image.max() <= image.max()
    assert not np.allclose(out_image, image)


def test_elastic_displacement_is_smooth_and_invertible():
    rng = np.random.default_rng(0)
    for _ in range(5):
        field = elastic_displacement((128, 128), rng, sigma=10, points=3)
        # Control-point displacements have the requested scale...
        assert 2 < np.abs(field).max() < 60
        # ...and the map x -> x + u(x) is smooth with a positive Jacobian
        # determinant everywhere (locally invertible, no folds).
        d0 = np.gradient(field[0])
        d1 = np.gradient(field[1])
        jacobian = (1 + d0[0]) * (1 + d1[1]) - d0[1] * d1[0]
        assert jacobian.min() > 0
        assert max(np.abs(g).max() for g in (*d0, *d1)) < 1
    field3 = elastic_displacement((16, 20, 24), rng, sigma=2)
    assert field3.shape == (3, 16, 20, 24)


def test_elastic_deform_moves_image_and_mask_together():
    mask = _l_shape(96)
    image = 0.2 + 0.6 * mask
    for seed in range(3):
        out_image, out_mask = elastic_deform(
            image, mask, np.random.default_rng(seed), sigma=10
        )
        assert set(np.unique(out_mask)) == {0.0, 1.0}
        _assert_aligned(out_image, out_mask)
        assert _iou(out_mask > 0.5, mask > 0.5) < 0.95


def test_gaussian_line_mask_reference_channels():
    mask = np.zeros((32, 32, 3), np.float32)
    mask[16, :, 1] = 1
    mask[:, 8, 2] = 1
    mask[..., 0] = 0.5
    out = gaussian_line_mask(mask, channels=(1, 2))
    assert out.shape == (32, 32, 9)
    np.testing.assert_array_equal(out[..., 0], mask[..., 0])
    np.testing.assert_array_equal(out[..., 1], mask[..., 1])
    np.testing.assert_array_equal(out[..., 5], mask[..., 2])
    for c, k in zip((2, 3, 4), (3, 7, 15), strict=True):
        np.testing.assert_allclose(
            out[..., c], cv2.GaussianBlur(mask[..., 1], (k, k), 0), atol=1e-6
        )
    # Wider kernels give a lower, wider band.
    profile = out[:, 5, 1:5]
    assert np.all(np.diff(profile[16]) < 0)
    assert np.all(np.diff((profile > 0.01).sum(0)) > 0)


def test_gaussian_line_mask_3d_matches_2d_per_slice():
    plane = np.zeros((20, 20), np.float32)
    plane[10, 3:17] = 1
    volume = np.repeat(plane[None, :, :, None], 5, axis=0)
    out = gaussian_line_mask(volume)
    assert out.shape == (5, 20, 20, 4)
    expected = gaussian_line_mask(plane[..., None])
    # Constant along depth, so the 3D blur equals the 2D (OpenCV) one.
    np.testing.assert_allclose(out[2], expected, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"kernels": (4,)}, "kernels"),
        ({"channels": (3,)}, "channels"),
    ],
)
def test_gaussian_line_mask_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        gaussian_line_mask(np.zeros((8, 8, 1)), **kwargs)


@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (Augmenter2D, {"rotation": -1}, "rotation"),
        (Augmenter2D, {"scale": 1.0}, "scale"),
        (Augmenter2D, {"elastic_points": 1}, "elastic_points"),
        (Augmenter3D, {"flip_axes": (3,)}, "flip_axes"),
        (Augmenter3D, {"noise_std": -0.1}, "noise_std"),
    ],
)
def test_augmenters_reject_bad_arguments(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


def test_augmenter_rejects_mismatched_pair():
    with pytest.raises(ValueError, match="differ in size"):
        Augmenter2D()(np.zeros((8, 8, 1)), np.zeros((8, 9, 1)), np.random.default_rng())
    with pytest.raises(ValueError, match="rank"):
        Augmenter3D()(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)), np.random.default_rng())
