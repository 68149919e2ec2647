"""One harness over the registry: every registered builder, with its spec's tiny
arguments, builds, trains, overfits, reloads and refuses bad arguments.

A newly registered builder is covered here with no new test file; the per-model
files keep only what is specific to their model.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import textwrap
from collections.abc import Sequence

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import (
    assert_trainable_weights_moved,
    fit_losses,
    random_batch,
    run_python,
    trainable_values,
)
from zoo.inference import with_input_size

MODELS = zoo.list_models()
# Builders that take `filters`. The backboned ones (backboned_unet, branch2_unet,
# fine_grained_unet) have none: their widths are encoder_filters,
# decoder_filters and centre_filters.
FILTERS_MODELS = [
    key for key in MODELS if "filters" in inspect.signature(zoo.get(key)).parameters
]
# Levels fixed by the architecture, for builders with neither a `depth`
# argument nor a per-level default.
FIXED_LEVELS = {"unet25d": 5}


def tiny(key: str, **changes) -> keras.Model:
    """The spec's tiny model, with ``changes`` to its arguments."""
    keras.utils.set_random_seed(0)
    return zoo.get(key)(**{**zoo.spec(key).tiny, **changes})


def _outputs(model: keras.Model, x) -> list[np.ndarray]:
    out = model(x, training=False)
    return [
        keras.ops.convert_to_numpy(o)
        for o in (out if isinstance(out, list | tuple) else [out])
    ]


@pytest.mark.parametrize("key", MODELS)
def test_spec_is_complete(key):
    spec = zoo.spec(key)
    assert spec.key == key and zoo.get(key).__name__ == key
    assert spec.ranks and set(spec.ranks) <= {2, 3}
    assert len(spec.tiny["input_shape"]) - 1 in spec.ranks
    assert spec.layout in ("channels_last", "slices_last")
    assert spec.reference.params > 0 and spec.reference.source
    # Tiny means tiny: fast enough for every CI run.
    assert max(spec.tiny["input_shape"][:-1]) <= 64
    # The tiny size is valid by the spec's own rule.
    assert spec.nearest_size(spec.tiny["input_shape"][:-1], **spec.tiny) == tuple(
        spec.tiny["input_shape"][:-1]
    )


@pytest.mark.parametrize("key", MODELS)
def test_builds_with_its_record_and_output_shape(key):
    spec = zoo.spec(key)
    model = tiny(key)
    assert (len(model.inputs) > 1) == spec.multi_input
    assert (len(model.outputs) > 1) == spec.multi_output
    recorded_key, arguments = zoo.record_of(model)
    assert recorded_key == key
    assert arguments == json.loads(json.dumps(spec.arguments(**spec.tiny)))
    x, _ = random_batch(model, batch=2)
    declared = [tuple(t.shape) for t in model.outputs]
    got = [o.shape for o in _outputs(model, x)]
    assert got == [(2, *d[1:]) for d in declared]
    n_classes = arguments["n_classes"]
    wanted = n_classes if isinstance(n_classes, list) else [n_classes] * len(got)
    assert [g[-1] for g in got][: len(wanted)] == wanted[: len(got)]
    # A custom name changes no fact: the record still names the builder.
    renamed = tiny(key, name="my_model")
    assert zoo.spec_of(renamed) is spec and renamed.name == "my_model"


@pytest.mark.parametrize("key", MODELS)
def test_rebuilds_from_its_record_at_another_size(key):
    spec = zoo.spec(key)
    model = tiny(key)
    shape = spec.tiny["input_shape"]
    bigger = spec.nearest_size([s * 2 if s > 8 else s for s in shape[:-1]], **spec.tiny)
    if spec.sized_weights:
        with pytest.raises(ValueError, match="depend on the input size"):
            zoo.rebuild(model, input_shape=(*bigger, shape[-1]))
        return
    rebuilt = zoo.rebuild(model, input_shape=(*bigger, shape[-1]))
    assert tuple(rebuilt.inputs[0].shape[1:-1]) == bigger
    assert rebuilt.count_params() == model.count_params()
    x, _ = random_batch(rebuilt, batch=1)
    assert all(np.isfinite(o).all() for o in _outputs(rebuilt, x))
    if not spec.multi_input:
        assert with_input_size(model, bigger).input_shape == rebuilt.input_shape


@pytest.mark.slow
@pytest.mark.parametrize("key", MODELS)
def test_fit_reaches_every_trainable_weight_and_overfits_a_tiny_batch(key):
    """Gradients flow end to end: every trainable weight moves, and the loss on
    one fixed batch halves in 40 steps (one compiled train step serves both)."""
    model = tiny(key)
    before = trainable_values(model)
    losses = fit_losses(model, steps=40)
    assert np.isfinite(losses).all()
    assert min(losses[-5:]) < losses[0] / 2, losses
    assert_trainable_weights_moved(model, before)


def _levels(key: str) -> tuple[int, bool]:
    """Levels an int `filters` expands to at the tiny arguments, and whether a
    sequence must have exactly that many entries (False: its length is the depth).
    """
    arguments = zoo.spec(key).arguments(**zoo.spec(key).tiny)
    if "depth" in arguments:
        return arguments["depth"], True
    default = inspect.signature(zoo.get(key)).parameters["filters"].default
    if isinstance(default, Sequence):
        return len(default), False
    assert key in FIXED_LEVELS, f"add the number of levels of {key} to FIXED_LEVELS"
    return FIXED_LEVELS[key], True


@pytest.mark.parametrize("key", FILTERS_MODELS)
def test_filters_as_int_or_per_level_sequence_build_the_same_model(key):
    """`filters=f` is `filters=(f, 2f, 4f, ...)`, one per level, and both
    round-trip through the build record."""
    spec = zoo.spec(key)
    given = spec.tiny["filters"]
    top = given if isinstance(given, int) else given[0]
    levels, _ = _levels(key)
    per_level = tuple(top * 2**level for level in range(levels))
    shape = spec.tiny["input_shape"]
    spatial = spec.nearest_size(shape[:-1], **{**spec.tiny, "filters": top})
    counts = []
    for filters in (top, per_level):
        model = tiny(key, filters=filters, input_shape=(*spatial, shape[-1]))
        counts.append(model.count_params())
        assert zoo.rebuild(model).count_params() == counts[-1], filters
    assert counts[0] == counts[1]


@pytest.mark.parametrize("key", FILTERS_MODELS)
def test_bad_filters_are_refused_by_name(key):
    levels, exact = _levels(key)
    bad = [0, -4, True, 4.0, "16", (4,), (4, *([0] * (levels - 1)))]
    if exact:
        bad.append(tuple(4 * 2**level for level in range(levels + 1)))
    for filters in bad:
        with pytest.raises(ValueError, match="`filters`"):
            tiny(key, filters=filters)


def test_every_family_has_one_default_model(monkeypatch):
    families = {zoo.spec(key).family for key in MODELS}
    for family in families:
        default = zoo.spec(zoo.default_model(family))
        assert default.family == family and default.family_default
    with pytest.raises(ValueError, match="Valid families: backboned_unet"):
        zoo.default_model("vnet2d")
    specs = zoo.registry._SPECS
    two = dataclasses.replace(specs["vnet3d"], family_default=True)
    monkeypatch.setitem(specs, "vnet3d", two)
    with pytest.raises(ValueError, match=r"'vnet3d'.*\['vnet3d', 'vnet_3d'\]"):
        zoo.default_model("vnet3d")
    none = dataclasses.replace(specs["unet25d"], family_default=False)
    monkeypatch.setitem(specs, "unet25d", none)
    with pytest.raises(ValueError, match="'unet25d' needs exactly one.*none"):
        zoo.default_model("unet25d")


@pytest.mark.parametrize("key", MODELS)
def test_reference_parameter_count(key):
    """The pinned count of the reference configuration; the source is in the spec."""
    reference = zoo.spec(key).reference
    model = zoo.get(key)(**reference.kwargs)
    count = model.count_params()
    del model
    keras.backend.clear_session()
    assert count == reference.params, reference.source


@pytest.mark.parametrize("key", MODELS)
def test_bad_arguments_are_refused_by_name(key):
    spec = zoo.spec(key)
    for changes, named in [
        ({"n_classes": 0}, "n_classes"),
        ({"output_activation": "tanh"}, "output_activation"),
        ({"input_shape": (32, 1)}, "input_shape"),
        ({"input_shape": (*spec.tiny["input_shape"][:-1], None)}, "input_shape"),
    ]:
        with pytest.raises(ValueError, match=named):
            zoo.get(key)(**{**spec.tiny, **changes})
    with pytest.raises(ValueError, match="not_an_argument"):
        spec.arguments(not_an_argument=1)


def test_every_model_reloads_in_a_fresh_process(tmp_path):
    """.h5 and .keras (safe_mode=True) reload after only ``import zoo``: same
    outputs, same config (.keras), and the record rebuilds it at another size.

    One subprocess checks every registered model.
    """
    cases = []
    for key in MODELS:
        model = tiny(key)
        x, _ = random_batch(model, batch=1, seed=1)
        xs = x if isinstance(x, list) else [x]
        expected = _outputs(model, x)
        np.savez(tmp_path / f"{key}.npz", *xs, *expected)
        for fmt in ("h5", "keras"):
            model.save(tmp_path / f"{key}.{fmt}")
        config = json.dumps(model.get_config(), sort_keys=True)
        (tmp_path / f"{key}.json").write_text(config)
        spec = zoo.spec(key)
        shape = spec.tiny["input_shape"]
        bigger = spec.nearest_size(
            [s * 2 if s > 8 else s for s in shape[:-1]], **spec.tiny
        )
        cases.append((key, len(xs), [*bigger, shape[-1]]))
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, keras
        import zoo
        root = {str(tmp_path)!r}
        failures = {{}}
        for key, n_inputs, bigger in {cases!r}:
            data = np.load(f"{{root}}/{{key}}.npz")
            arrays = [data[f"arr_{{i}}"] for i in range(len(data.files))]
            xs, expected = arrays[:n_inputs], arrays[n_inputs:]
            for fmt in ("h5", "keras"):
                try:
                    path = f"{{root}}/{{key}}.{{fmt}}"
                    model = keras.models.load_model(path, safe_mode=True)
                    if fmt == "keras":
                        got = json.dumps(model.get_config(), sort_keys=True)
                        assert got == open(f"{{root}}/{{key}}.json").read(), "config"
                    out = model(xs[0] if n_inputs == 1 else xs, training=False)
                    out = out if isinstance(out, (list, tuple)) else [out]
                    for o, e in zip(out, expected, strict=True):
                        np.testing.assert_allclose(
                            keras.ops.convert_to_numpy(o), e, atol=1e-5, rtol=1e-4
                        )
                    record_key, kwargs = zoo.record_of(model)
                    assert record_key == key, record_key
                    resized = zoo.get(record_key)(**{{**kwargs, "input_shape": bigger}})
                    assert list(resized.inputs[0].shape[1:]) == bigger
                    if not zoo.spec(key).sized_weights:
                        resized.set_weights(model.get_weights())
                except Exception as err:
                    failures[f"{{key}}.{{fmt}}"] = repr(err)[:500]
        print("RESULT" + json.dumps(failures))
        """
    )
    result = run_python(script)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, result.stderr[-4000:]
    assert json.loads(lines[-1][len("RESULT") :]) == {}
