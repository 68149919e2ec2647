"""U-Net weight map (paper eq. 2) on hand-made cell images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data_pipelines.weight_maps import stack_weight_map, unet_weight_map


def two_cells():
    """Two 10x6 cells with a 2-pixel gap (columns 8 and 9) between them."""
    labels = np.zeros((20, 18), np.int32)
    labels[5:15, 2:8] = 1
    labels[5:15, 10:16] = 2
    return labels


def test_weight_is_highest_in_the_gap_between_cells():
    labels = two_cells()
    w = unet_weight_map(labels, w0=10.0, sigma=5.0, class_weights=(1.0, 1.0))
    assert w.dtype == np.float32 and w.shape == labels.shape
    row, col = np.unravel_index(np.argmax(w), w.shape)
    assert col in (8, 9) and 5 <= row < 15
    # Pixel (10, 8): d1 = 1 (cell 1 at column 7), d2 = 2 (cell 2 at column 10).
    assert w[10, 8] == pytest.approx(1 + 10 * math.exp(-((1 + 2) ** 2) / (2 * 25)))
    # Far corner (0, 0): d1 = sqrt(5**2 + 2**2), d2 = sqrt(5**2 + 10**2).
    d1, d2 = math.hypot(5, 2), math.hypot(5, 10)
    assert w[0, 0] == pytest.approx(1 + 10 * math.exp(-((d1 + d2) ** 2) / 50), rel=1e-6)
    # Cell pixels carry only their class weight.
    np.testing.assert_array_equal(w[labels > 0], 1.0)
    # The gap weighs more than any background pixel outside it.
    outside = np.ones_like(labels, bool)
    outside[5:15, 8:10] = False
    assert w[5:15, 8:10].min() > w[outside & (labels == 0)].max()


def test_binary_mask_is_split_into_connected_components():
    labels = two_cells()
    from_binary = unet_weight_map(labels > 0, class_weights=(1.0, 1.0))
    from_instances = unet_weight_map(labels, class_weights=(1.0, 1.0))
    np.testing.assert_allclose(from_binary, from_instances)
    # Forcing instance mode on a 0/1 image keeps it as a single instance.
    single = unet_weight_map(
        (labels > 0).astype(int), binary=False, class_weights=(1, 1)
    )
    np.testing.assert_array_equal(single, 1.0)


def test_balanced_class_weights():
    labels = two_cells()
    w = unet_weight_map(labels, w0=0.0)
    n, n_fg = labels.size, int((labels > 0).sum())
    np.testing.assert_allclose(w[labels > 0], n / (2 * n_fg))
    np.testing.assert_allclose(w[labels == 0], n / (2 * (n - n_fg)))


def test_single_cell_and_empty_image_have_no_border_term():
    labels = np.zeros((10, 10), int)
    labels[2:5, 2:5] = 1
    w = unet_weight_map(labels, class_weights=(1.0, 2.0))
    np.testing.assert_array_equal(w, np.where(labels > 0, 2.0, 1.0))
    np.testing.assert_array_equal(unet_weight_map(np.zeros((6, 6))), 1.0)


def test_3d_two_cells():
    labels = np.zeros((6, 10, 10), int)
    labels[1:5, 1:9, 1:4] = 1
    labels[1:5, 1:9, 6:9] = 2
    w = unet_weight_map(labels, class_weights=(1.0, 1.0))
    assert w.shape == labels.shape
    z, _, x = np.unravel_index(np.argmax(w), w.shape)
    assert 1 <= z < 5 and x in (4, 5)


def test_stack_weight_map():
    mask = np.zeros((4, 5))
    w = np.full((4, 5), 3.0)
    packed = stack_weight_map(mask, w)
    assert packed.shape == (4, 5, 2) and packed.dtype == np.float32
    np.testing.assert_array_equal(packed[..., 1], 3.0)
    assert stack_weight_map(np.zeros((4, 5, 3)), w).shape == (4, 5, 4)
    assert stack_weight_map(np.zeros((4, 5, 1)), w[..., None]).shape == (4, 5, 2)
    with pytest.raises(ValueError, match="weight_map"):
        stack_weight_map(mask, np.ones((4, 4)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sigma": 0.0}, "sigma"),
        ({"w0": -1.0}, "w0"),
        ({"class_weights": (1.0,)}, "class_weights"),
        ({"class_weights": (1.0, -2.0)}, "class_weights"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet_weight_map(two_cells(), **kwargs)


def test_bad_labels():
    with pytest.raises(ValueError, match="labels"):
        unet_weight_map(np.zeros(5))
    with pytest.raises(ValueError, match="labels"):
        unet_weight_map(-np.ones((4, 4), int))
