"""Registry of the zoo's model builders and the one source of model facts.

Each builder is registered under its function name together with a
:class:`ModelSpec`: the spatial ranks it builds, the axis layout of its input,
its family (and whether it is the family's default model), whether it has
several inputs/outputs, its valid-size rule, tiny keyword arguments for tests,
and its reference parameter count with the source of that figure. Scripts read
these facts from the spec; no code outside ``zoo/`` compares a model's name.

Every model a registered builder returns carries a record of how it was built
(registry key and constructor arguments, keras-hub's "config = constructor
arguments"): a :class:`zoo.layers.BuildRecord` identity layer right after its
first input. It is part of the graph, so it survives ``.h5`` and ``.keras``
round trips, ``clone_model`` and ``safe_mode=True``; :func:`rebuild` uses it to
build the same architecture at another size.

Example:
    >>> import zoo
    >>> model = zoo.get("unet_padding")((32, 32, 1), depth=2, filters=4)
    >>> record_of(model)[0], spec_of(model).layout
    ('unet_padding', 'channels_last')
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import keras

from zoo.layers import BuildRecord

__all__ = [
    "ModelSpec",
    "Reference",
    "default_model",
    "divisible_by",
    "get",
    "list_models",
    "rebuild",
    "record_of",
    "register",
    "spec",
    "spec_of",
]

Builder = Callable[..., keras.Model]
# (spatial size, bound builder arguments) -> the nearest valid spatial size.
SizeRule = Callable[[tuple[int, ...], Mapping[str, Any]], tuple[int, ...]]


@dataclasses.dataclass(frozen=True)
class Reference:
    """A pinned parameter count, the arguments it is counted at and its source.

    Args:
        params: ``model.count_params()`` of the reference configuration.
        source: Where the figure comes from (paper, SPEC.md section, or
            "computed"/"measured" when there is no external figure).
        kwargs: Builder arguments of the reference configuration (the builder's
            defaults when empty).
    """

    params: int
    source: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The facts about one registered builder.

    Args:
        key: Registry key (the builder's function name).
        family: The ``train_<family>.py`` script that trains it.
        family_default: Whether it is its family's default model (the
            ``--model`` default of that script); one per family.
        ranks: Spatial ranks it builds (2, 3 or both).
        reference: The pinned parameter count.
        tiny: Keyword arguments (``input_shape`` included) of a tiny model for
            tests: filters 4-16, sides 16-64.
        layout: ``"channels_last"`` (``(*spatial, C)`` with the volume's slice
            axis first, as the readers return volumes) or ``"slices_last"``
            (``(H, W, S, C)``: volumes are moved to slices-last).
        multi_input: Whether the model takes several inputs.
        multi_output: Whether the model has several outputs (with its default
            arguments).
        size_rule: Nearest valid spatial size for given builder arguments;
            None when any size builds.
        init_only: Arguments that only initialise weights (such as
            ``encoder_weights``); :func:`rebuild` resets them, as the weights are
            copied.
        sized_weights: Whether weight shapes depend on the input size (the 2D
            V-Net's per-element PReLU), so the weights cannot move to another
            size.
        xla_on_cpu: Whether XLA trained its 2D model faster than TensorFlow's
            plain graph on a CPU without TensorFlow's oneDNN kernels (measured,
            ``train_scripts/hardware.py``); the trainer's default
            ``jit_compile="auto"`` follows it there
            (``train_scripts.hardware.xla_by_default``).
    """

    key: str
    family: str
    ranks: tuple[int, ...]
    reference: Reference
    tiny: Mapping[str, Any]
    family_default: bool = False
    layout: Literal["channels_last", "slices_last"] = "channels_last"
    multi_input: bool = False
    multi_output: bool = False
    size_rule: SizeRule | None = None
    init_only: tuple[str, ...] = ()
    sized_weights: bool = False
    xla_on_cpu: bool = False

    def arguments(self, *args, **kwargs) -> dict[str, Any]:
        """All builder arguments, defaults filled in, for a call ``(*args, **kwargs)``.

        Raises:
            ValueError: On an argument the builder does not take.
        """
        signature = inspect.signature(_REGISTRY[self.key])
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            raise ValueError(
                f"Bad arguments for {self.key}: {err}. Signature: {self.key}{signature}"
            ) from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def nearest_size(self, spatial: Sequence[int], **kwargs) -> tuple[int, ...]:
        """The valid spatial size nearest ``spatial`` for these builder arguments.

        Equal to ``spatial`` when it is valid. For ``unet_original`` it is the
        nearest *aligned* size (no pixel dropped by pooling).
        """
        spatial = tuple(int(s) for s in spatial)
        if self.size_rule is None:
            return spatial
        return tuple(self.size_rule(spatial, self.arguments(**kwargs)))


def divisible_by(divisor: Callable[[Mapping[str, Any]], int | Sequence[int]]):
    """A size rule: every spatial size a multiple of ``divisor(arguments)``.

    Example:
        >>> rule = divisible_by(lambda a: 2 ** (a["depth"] - 1))
        >>> rule((30, 64), {"depth": 3})
        (32, 64)
    """

    def rule(spatial, arguments):
        d = divisor(arguments)
        divisors = (d,) * len(spatial) if isinstance(d, int) else tuple(d)
        return tuple(
            max(q, round(s / q) * q) for s, q in zip(spatial, divisors, strict=True)
        )

    return rule


_REGISTRY: dict[str, Builder] = {}
_SPECS: dict[str, ModelSpec] = {}


def register(
    *,
    family: str,
    ranks: Sequence[int],
    reference: Reference,
    tiny: Mapping[str, Any],
    **facts: Any,
) -> Callable[[Builder], Builder]:
    """Register a builder under its function name with its :class:`ModelSpec`.

    The registered builder records its key and arguments in every model it
    returns (see the module docstring).

    Example::

        @register(family="unet", ranks=(2,), tiny={"input_shape": (16, 16, 1)},
                  reference=Reference(2_081, "computed"))
        def my_net(input_shape=(64, 64, 1), n_classes=1, *, name="my_net"): ...

    Raises:
        ValueError: If another builder already uses the name.
    """

    def decorate(builder: Builder) -> Builder:
        key = builder.__name__
        if key in _REGISTRY and _REGISTRY[key].__wrapped__ is not builder:
            raise ValueError(f"A model named {key!r} is already registered.")
        signature = inspect.signature(builder)

        @functools.wraps(builder)
        def build(*args, **kwargs) -> keras.Model:
            model = builder(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return _with_record(model, key, bound.arguments)

        _REGISTRY[key] = build
        _SPECS[key] = ModelSpec(
            key=key,
            family=family,
            ranks=tuple(ranks),
            reference=reference,
            tiny=dict(tiny),
            **facts,
        )
        return build

    return decorate


def _jsonable(value: Any) -> Any:
    """Builder arguments as JSON values (tuples become lists)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ValueError(
        f"Builder argument {value!r} is not JSON-serialisable; zoo builders take "
        "numbers, strings, booleans, None and sequences of them"
    )


def _with_record(model: keras.Model, key: str, arguments: Mapping) -> keras.Model:
    """``model`` with a :class:`BuildRecord` after its first input.

    The model is cloned with the record layer spliced in (fresh layers, the
    builder's weights copied), so every layer keeps a single inbound node.
    """
    record = BuildRecord(key, _jsonable(arguments), name=f"{model.name}_record")
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in model.inputs
    ]
    recorded = record(inputs[0])

    def call_function(layer, *args, **kwargs):
        args, kwargs = keras.tree.map_structure(
            lambda t: recorded if t is inputs[0] else t, (args, kwargs)
        )
        return layer(*args, **kwargs)

    clone = keras.models.clone_model(
        model,
        input_tensors=inputs if len(inputs) > 1 else inputs[0],
        call_function=call_function,
    )
    clone.set_weights(model.get_weights())
    return clone


def get(name: str) -> Builder:
    """Return the builder registered as ``name``.

    Example:
        >>> import zoo
        >>> zoo.get("unet_padding") is zoo.unet_padding
        True

    Raises:
        ValueError: If ``name`` is unknown; the message lists the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}. Valid names: {', '.join(list_models())}"
        ) from None


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of the builder registered as ``name``.

    Raises:
        ValueError: If ``name`` is unknown; the message lists the valid names.
    """
    get(name)
    return _SPECS[name]


def list_models() -> list[str]:
    """Names of all registered builders, sorted."""
    return sorted(_REGISTRY)


def default_model(family: str) -> str:
    """The registry key of the builder registered with ``family_default=True``.

    Example:
        >>> default_model("vnet3d")
        'vnet_3d'

    Raises:
        ValueError: If no builder is in ``family`` (the message lists the
            families), or the family has no default or several.
    """
    members = [s for s in _SPECS.values() if s.family == family]
    if not members:
        families = sorted({s.family for s in _SPECS.values()})
        raise ValueError(
            f"Unknown family {family!r}. Valid families: {', '.join(families)}"
        )
    defaults = sorted(s.key for s in members if s.family_default)
    if len(defaults) != 1:
        raise ValueError(
            f"Family {family!r} needs exactly one builder registered with "
            f"family_default=True. Received: {defaults or 'none'} among "
            f"{sorted(s.key for s in members)}"
        )
    return defaults[0]


def record_of(model: keras.Model) -> tuple[str, dict[str, Any]] | None:
    """``(registry key, builder arguments)`` recorded in ``model``, or None.

    Example:
        >>> import zoo
        >>> key, kwargs = record_of(zoo.vnet((32, 32, 1), depth=2, filters=4))
        >>> zoo.get(key)(**{**kwargs, "input_shape": (64, 64, 1)}).input_shape
        (None, 64, 64, 1)
    """
    for layer in model.layers:
        if isinstance(layer, BuildRecord):
            return layer.key, dict(layer.arguments)
    return None


def spec_of(model: keras.Model) -> ModelSpec | None:
    """The spec of the builder that built ``model`` (None for a foreign model).

    Checkpoints saved before models carried a record fall back to the model's
    name, which is the registry key unless ``name=`` was changed.
    """
    record = record_of(model)
    key = record[0] if record else model.name
    return _SPECS.get(key)


def rebuild(model: keras.Model, **changes: Any) -> keras.Model:
    """The model's architecture built again with ``changes``, its weights copied.

    Args:
        model: A model built by a registered builder (it carries a record).
        **changes: Builder arguments to change, typically ``input_shape``.

    Raises:
        ValueError: If ``model`` has no record, the builder rejects the
            arguments (its own message), or the rebuilt weights do not match
            (the model was edited after building, e.g. pruned).
    """
    record = record_of(model)
    if record is None:
        raise ValueError(
            f"{model.name} carries no build record (not built by a zoo builder, or "
            "saved by an older version); build it with zoo.get(key)(...) and load "
            "its weights instead"
        )
    key, arguments = record
    builder = get(key)
    defaults = inspect.signature(builder).parameters
    for arg in spec(key).init_only:
        arguments[arg] = defaults[arg].default
    rebuilt = builder(**{**arguments, **changes})
    weights = model.get_weights()
    shapes = [w.shape for w in weights]
    if shapes != [tuple(w.shape) for w in rebuilt.weights]:
        raise ValueError(
            f"{model.name}'s weights do not fit the rebuilt {key}: its weights "
            "depend on the input size, or it was edited after building (pruned)"
        )
    rebuilt.set_weights(weights)
    return rebuilt
