"""Connected-component post-processing."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.postprocess import postprocess_mask


def _blobs() -> np.ndarray:
    mask = np.zeros((20, 20), np.uint8)
    mask[0, 0] = 1  # 1 pixel
    mask[5:7, 5:7] = 1  # 4 pixels
    mask[10, 10:15] = 1  # with the pixel below its end: 6 pixels
    mask[11, 14] = 1
    mask[15:18, 15:18] = 1  # 9 pixels
    mask[2, 2] = mask[3, 3] = 1  # 2 pixels, 8-connected diagonally
    return mask


@pytest.mark.parametrize("min_size", [2, 4, 5, 6, 7, 9, 10])
def test_min_size_removes_exactly_the_smaller_components(min_size):
    mask = _blobs()
    sizes = {(0, 0): 1, (2, 2): 2, (5, 5): 4, (10, 10): 6, (15, 15): 9}
    out = postprocess_mask(mask, min_size=min_size)
    for pixel, size in sizes.items():
        assert out[pixel] == (1 if size >= min_size else 0), (pixel, size)
    kept = sum(s for s in sizes.values() if s >= min_size)
    assert out.sum() == kept
    assert out.dtype == mask.dtype


def test_largest_component_and_3d():
    mask = _blobs()
    out = postprocess_mask(mask, largest_component=True)
    assert out.sum() == 9 and out[16, 16] == 1
    volume = np.zeros((6, 6, 6), np.uint8)
    volume[0, 0, 0] = 1
    volume[1, 1, 1] = 1  # 26-connected to the first: one component of 2
    volume[4:6, 4:6, 4:6] = 1  # 8 voxels
    assert postprocess_mask(volume, min_size=3).sum() == 8
    assert postprocess_mask(volume, min_size=2).sum() == 10


def test_classes_are_filtered_separately():
    labels = np.zeros((8, 8), np.uint8)
    labels[0:2, 0:2] = 1  # 4 pixels of class 1
    labels[0:2, 2:3] = 2  # 2 pixels of class 2, touching class 1
    out = postprocess_mask(labels, min_size=3)
    assert (out == 1).sum() == 4 and (out == 2).sum() == 0


@pytest.mark.parametrize("bad", [-1, 2.5, True])
def test_bad_min_size(bad):
    with pytest.raises(ValueError, match="min_size"):
        postprocess_mask(np.zeros((4, 4)), min_size=bad)
