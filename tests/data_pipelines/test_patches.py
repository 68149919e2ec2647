from __future__ import annotations

import numpy as np
import pytest

from data_pipelines.patches import (
    PatchSampler,
    foreground_map,
    grid_patches,
    grid_positions,
    random_crop_3d,
    roi_box,
    sample_patches,
    stitch_patches,
)


@pytest.mark.parametrize("fg_ratio", [0.2, 0.5, 0.8])
def test_fg_ratio_is_hit_on_drive(drive_small, fg_ratio):
    image, mask, fov = (drive_small.images[0], drive_small.masks[0], drive_small.fov[0])
    n = 2000
    x, y = sample_patches(
        image,
        mask,
        (48, 48),
        n,
        fg_ratio=fg_ratio,
        fov=fov,
        rng=np.random.default_rng(0),
    )
    assert x.shape == (n, 48, 48, 3) and y.shape == (n, 48, 48, 1)
    centred_on_vessel = y[:, 24, 24, 0] > 0.5
    # Binomial std for n=2000 is <= 0.011; allow ~4 sigma.
    assert abs(centred_on_vessel.mean() - fg_ratio) < 0.045
    # Uniform sampling would hit vessels only ~12 % of the time.
    assert vessel_fraction(mask, fov) < 0.2


def vessel_fraction(mask, fov):
    return mask[fov[..., 0] > 0.5].mean()


def test_fov_restricts_patch_centres(drive_small):
    mask, fov = drive_small.masks[1], drive_small.fov[1]
    sampler = PatchSampler([mask], (64, 64), fg_ratio=None, fov=[fov])
    rng = np.random.default_rng(1)
    inside = []
    for _ in range(500):
        index, (r, c) = sampler.sample(rng)
        assert index == 0
        assert 0 <= r <= 584 - 64 and 0 <= c <= 565 - 64
        assert fov[r : r + 64, c : c + 64].any()
        inside.append(fov[r + 32, c + 32, 0] == 1)
    # Only pixels at the FOV's top/bottom edge push a patch off-centre.
    assert np.mean(inside) > 0.95


def test_sampler_draws_from_all_images_and_falls_back():
    empty = np.zeros((40, 40, 1), np.float32)
    full = np.ones((40, 40, 1), np.float32)
    sampler = PatchSampler([empty, full], (8, 8), fg_ratio=0.5)
    rng = np.random.default_rng(0)
    indices = [sampler.sample(rng)[0] for _ in range(200)]
    # No foreground (or no background) to centre on: the other kind is used.
    assert 60 < sum(indices) < 140


def test_sample_patches_is_deterministic():
    mask = np.zeros((50, 60, 1), np.float32)
    mask[20:30, 10:20] = 1
    image = np.random.default_rng(0).random((50, 60, 2)).astype(np.float32)
    a = sample_patches(image, mask, (16, 16), 10, rng=np.random.default_rng(3))
    b = sample_patches(image, mask, (16, 16), 10, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_foreground_map_for_one_hot_skips_background():
    onehot = np.eye(3)[np.array([[0, 1], [2, 0]])]
    np.testing.assert_array_equal(foreground_map(onehot), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(foreground_map(onehot, (2,)), [[0, 0], [1, 0]])
    with pytest.raises(ValueError, match="fg_channels"):
        foreground_map(onehot, (3,))


def test_random_crop_3d_centres_on_foreground():
    volume = np.random.default_rng(0).random((40, 48, 56, 1)).astype(np.float32)
    mask = np.zeros((40, 48, 56, 1), np.float32)
    mask[20:23, 20:23, 30:33] = 1
    mask[38:40, 0:2, 54:56] = 1  # in a corner: the crop moves inward
    rng = np.random.default_rng(0)
    corner_hits = 0
    for _ in range(20):
        crop, crop_mask = random_crop_3d(volume, mask, (16, 16, 16), rng, fg_ratio=1.0)
        assert crop.shape == crop_mask.shape == (16, 16, 16, 1)
        centred = crop_mask[8, 8, 8, 0] == 1
        in_corner = crop_mask[-2:, :2, -2:].any()
        assert centred or in_corner
        corner_hits += bool(in_corner)
    assert 0 < corner_hits < 20
    crop, _ = random_crop_3d(volume, mask, (40, 48, 56), rng)
    np.testing.assert_array_equal(crop, volume)
    with pytest.raises(ValueError, match="D, H, W, C"):
        random_crop_3d(volume[0], mask[0], (8, 8, 8), rng)


@pytest.mark.parametrize(
    "shape, patch, stride",
    [
        ((584, 565, 3), (96, 96), None),
        ((100, 70, 1), (32, 32), (16, 16)),
        ((20, 33, 40, 2), (16, 16, 16), (8, 12, 16)),
    ],
)
def test_grid_patches_round_trip(shape, patch, stride):
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    patches, positions = grid_patches(image, patch, stride=stride)
    assert patches.shape[1:] == (*patch, shape[-1])
    assert positions.max(0).tolist() == [
        s - p for s, p in zip(shape[:-1], patch, strict=True)
    ]
    np.testing.assert_allclose(stitch_patches(patches, positions, shape[:-1]), image)


def test_grid_positions_values_and_errors():
    assert grid_positions((100, 64), (48, 64)).tolist() == [[0, 0], [48, 0], [52, 0]]
    assert len(grid_positions((64, 64), (64, 64))) == 1
    with pytest.raises(ValueError, match="patch_size"):
        grid_positions((32, 32), (64, 64))
    with pytest.raises(ValueError, match="stride"):
        grid_positions((32, 32), (8, 8), stride=(0, 8))
    with pytest.raises(ValueError, match="patch_size"):
        sample_patches(
            np.zeros((8, 8, 1)),
            np.zeros((8, 8, 1)),
            (16, 16),
            1,
            rng=np.random.default_rng(),
        )


def test_roi_box_square_around_largest_object():
    mask = np.zeros((256, 256), np.float32)
    mask[100:110, 120:140] = 1  # largest: 20 x 10
    mask[10:13, 10:13] = 1
    assert roi_box(mask) == (75, 135, 100, 160)
    assert roi_box(mask, margin=0) == (95, 115, 120, 140)
    # Near the border the square is shifted inside, not cut.
    edge = np.zeros((128, 128, 1), np.float32)
    edge[0:6, 120:128] = 1
    y0, y1, x0, x1 = roi_box(edge)
    assert (y0, x1) == (0, 128) and y1 - y0 == x1 - x0 == 48
    assert roi_box(np.zeros((30, 40))) == (0, 30, 0, 40)
