import numpy as np
import pytest

from data_pipelines.synthetic import blob_volume, make_2d_dataset, make_3d_dataset


@pytest.mark.parametrize("kind", ["vessels", "cells"])
def test_2d_generators_are_deterministic_and_well_formed(kind):
    x1, y1 = make_2d_dataset(3, (64, 80), kind=kind, seed=5)
    x2, y2 = make_2d_dataset(3, (64, 80), kind=kind, seed=5)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == y1.shape == (3, 64, 80, 1)
    assert x1.dtype == y1.dtype == np.float32
    assert 0.0 <= x1.min() and x1.max() <= 1.0
    assert set(np.unique(y1)) == {0.0, 1.0}
    assert 0.005 < y1.mean() < 0.5
    other, _ = make_2d_dataset(3, (64, 80), kind=kind, seed=6)
    assert not np.array_equal(x1, other)


def test_vessels_are_darker_than_background():
    x, y = make_2d_dataset(4, (96, 96), kind="vessels", seed=0)
    assert x[y > 0].mean() < x[y == 0].mean() - 0.1


def test_3d_volumes():
    v, m = make_3d_dataset(2, (16, 20, 24), seed=1)
    assert v.shape == m.shape == (2, 16, 20, 24, 1)
    assert set(np.unique(m)) == {0.0, 1.0}
    assert v[m > 0].mean() > v[m == 0].mean() + 0.2
    np.testing.assert_array_equal(
        blob_volume((8, 8, 8), seed=3)[1], blob_volume((8, 8, 8), seed=3)[1]
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        make_2d_dataset(1, kind="stars")
    with pytest.raises(ValueError, match="`n`"):
        make_3d_dataset(0)
