"""The scripts read model facts from the registry spec, never the model's name."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from train_scripts import cli
from train_scripts.data import from_model_layout, slices_last, to_model_layout


def test_layout_follows_the_spec_whatever_the_name():
    renamed = zoo.unet25d((32, 32, 5, 1), filters=4, name="my_slab_net")
    assert slices_last(renamed) and slices_last("unet25d")
    assert not slices_last(zoo.unet3d((16, 16, 16, 1), filters=4, depth=2))
    volume = np.arange(5 * 4 * 3).reshape(5, 4, 3, 1)
    moved = to_model_layout(volume, renamed)
    assert moved.shape == (4, 3, 5, 1)
    np.testing.assert_array_equal(from_model_layout(moved, renamed), volume)


def test_families_come_from_the_spec():
    for family in cli.FAMILIES.values():
        assert {zoo.spec(key).family for key in family.models} == {
            zoo.spec(family.models[0]).family
        }
    # Every registered model, the two-input fine_grained_unet included, is
    # trainable from the family script its spec names.
    listed = [key for family in cli.FAMILIES.values() for key in family.models]
    assert sorted(listed) == sorted(zoo.list_models())


def test_model_default_is_the_registry_family_default():
    for name, family in cli.FAMILIES.items():
        default = zoo.default_model(name)
        assert family.models[0] == default
        assert cli.build_parser(name).parse_args(["--out", "x"]).model == default
    generic = cli.build_parser().parse_args(["--out", "x"]).model
    assert generic == zoo.default_model("unet")


def test_patch_size_checked_by_the_spec_size_rule():
    """unet_original trains on aligned sizes; the spec names the nearest one."""
    kwargs = {"filters": [4, 8, 16]}
    aligned = zoo.spec("unet_original").nearest_size((70, 70), **kwargs)
    assert aligned != (70, 70)
    cli.build_model("unet_original", aligned, 1, 1, kwargs)
    with pytest.raises(ValueError, match="nearest aligned size: 68"):
        cli.build_model("unet_original", (70, 70), 1, 1, kwargs)
