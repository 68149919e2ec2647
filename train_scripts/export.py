r"""Export a trained checkpoint for deployment: Keras, SavedModel, ONNX, TFLite.

Every export verifies itself before it reports success: the exported file is
loaded back with its own runtime (Keras, TensorFlow, onnxruntime, the TFLite
interpreter), run on a random input and compared with the Keras model; the
maximum absolute difference is printed and must be within ``--atol``
(1e-4 for float32 exports, looser defaults for quantised TFLite).

* ``keras`` / ``h5``: the Keras model, with the checkpoint's inference settings
  (:mod:`zoo.settings`) copied in.
* ``savedmodel``: a TensorFlow SavedModel for TF Serving, with a
  ``serving_default`` signature. Where the architecture allows it the spatial
  axes are dynamic (``None``): the model is rebuilt from its config with
  ``None`` sizes and checked at a second size, so the signature takes any
  valid size (e.g. any multiple of ``2**depth``). The settings travel as
  ``assets/unet_vnet_zoo_settings.json``.
* ``onnx``: ONNX through ``tf2onnx`` (the ``[onnx]`` extra), checked with
  ``onnxruntime``; dynamic spatial axes like the SavedModel; the settings are
  stored in the model's ``metadata_props``.
* ``tflite``: a TFLite flatbuffer at the checkpoint's (fixed) input size, float32
  or quantised (``--quantize float16`` or ``dynamic`` range), checked with the
  TFLite interpreter.

Usage:
    python -m train_scripts.export --checkpoint pretrained/drive_vessels.h5 \
        --format onnx --out drive_vessels.onnx
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import losses  # noqa: F401  (registers the losses a checkpoint may reference)
import zoo  # noqa: F401  (registers the custom layers)
from train_scripts.guards import load_checkpoint, one_line
from zoo.inference import with_input_size
from zoo.layers import SlicedDepthwiseConv3D, SlicedMaxPooling
from zoo.registry import rebuild
from zoo.settings import SETTINGS_KEY, read_settings, write_settings

__all__ = [
    "DEFAULT_ATOL",
    "FORMATS",
    "QUANTIZATIONS",
    "ExportResult",
    "dynamic_model",
    "export_model",
    "main",
]

FORMATS = ("keras", "h5", "savedmodel", "onnx", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic")
# Largest accepted |exported - Keras| on a random input, by TFLite quantisation
# ("none" also covers keras, h5, savedmodel and onnx).
DEFAULT_ATOL = {"none": 1e-4, "float16": 1e-2, "dynamic": 5e-2}
ONNX_OPSET = 17
SETTINGS_ASSET = f"{SETTINGS_KEY}.json"


@dataclasses.dataclass
class ExportResult:
    """What an export wrote and how well it matched Keras.

    Attributes:
        path: The exported file (or SavedModel folder).
        format: One of :data:`FORMATS`.
        input_shapes: Signature input shapes (``None`` = any size).
        max_abs_diff: Largest ``|exported - keras|`` over every checked input
            and output.
        atol: The tolerance it was held to.
        checked_sizes: Spatial sizes of the random inputs compared.
        note: Why the spatial axes are fixed, when they are ("" otherwise).
    """

    path: Path
    format: str
    input_shapes: list[list[int | None]]
    max_abs_diff: float
    atol: float
    checked_sizes: list[tuple[int, ...]]
    note: str = ""


def _spatial(model: keras.Model) -> list[tuple[int | None, ...]]:
    return [tuple(t.shape[1:-1]) for t in model.inputs]


def _random_inputs(
    model: keras.Model, sizes: Sequence[Sequence[int]], seed: int
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.random((1, *size, t.shape[-1]), dtype=np.float32)
        for size, t in zip(sizes, model.inputs, strict=True)
    ]


def _keras_outputs(model: keras.Model, xs: list[np.ndarray]) -> list[np.ndarray]:
    out = model(xs[0] if len(xs) == 1 else xs, training=False)
    out = out if isinstance(out, list | tuple) else [out]
    return [np.asarray(o, dtype=np.float32) for o in out]


def _size_for_any_input(
    model: keras.Model, settings: dict[str, Any] | None
) -> tuple[int, ...]:
    """A size to check a model that takes any size at.

    The stored ``tile_size`` when there is one, else the first of 64, 128, 32,
    256, 16 on every free axis that the model runs at.
    """
    known = _spatial(model)[0]
    tile = (settings or {}).get("tile_size")
    candidates = [tuple(tile)] if tile and len(tile) == len(known) else []
    candidates += [
        tuple(side if s is None else s for s in known)
        for side in (64, 128, 32, 256, 16)
    ]
    for size in candidates:
        try:
            _keras_outputs(model, _random_inputs(model, [size] * len(model.inputs), 0))
        except Exception:  # noqa: BLE001, S112 - the next candidate may fit
            continue
        return tuple(int(s) for s in size)
    raise ValueError(
        f"{model.name} takes any spatial size but none of {candidates} fits: give "
        "the size to export and check at (--input-size)"
    )


def _from_patched_config(model: keras.Model) -> keras.Model:
    """``model`` rebuilt from its config with ``None`` spatial sizes, weights copied."""
    config = model.get_config()
    inputs = [
        layer
        for layer in config.get("layers", [])
        if layer["class_name"] == "InputLayer"
    ]
    if len(inputs) != len(model.inputs):
        raise ValueError("not a functional model")
    for layer in inputs:
        shape = layer["config"]["batch_shape"]
        layer["config"]["batch_shape"] = [None] * (len(shape) - 1) + [shape[-1]]
    dynamic = model.__class__.from_config(config)
    dynamic.set_weights(model.get_weights())
    return dynamic


def _from_builder(model: keras.Model) -> keras.Model:
    """``model``'s zoo builder called again with ``None`` spatial sizes.

    :func:`zoo.registry.rebuild` copies the weights. Unlike a patched config,
    this also frees nested sub-models (the backboned family's encoder), whose
    own inputs keep a fixed size in the config.
    """
    if len(model.inputs) != 1:
        raise ValueError("several inputs")
    rank = len(model.inputs[0].shape) - 2
    return rebuild(model, input_shape=(None,) * rank + (model.input_shape[-1],))


def dynamic_model(model: keras.Model) -> tuple[keras.Model, str]:
    """The model rebuilt with ``None`` spatial sizes, where it allows it.

    The architecture is rebuilt from its config with every spatial axis of
    every input set to ``None`` or, failing that, by its zoo builder (which
    also frees the nested sub-models of the backboned family), and the weights
    copied; it must give the same output as ``model`` at the original size and
    run at twice that size.

    Returns:
        ``(dynamic, "")``, or ``(model, reason)`` when the spatial axes must
        stay fixed (e.g. ``vnet``'s per-element PReLU weights have the feature
        maps' shape); the reason is the config rebuild's.
    """
    sizes = _spatial(model)
    if all(s is None for size in sizes for s in size):
        return model, ""
    if any(s is None for size in sizes for s in size):
        return model, "partly dynamic input shape"
    reasons = []
    for make in (_from_patched_config, _from_builder):
        try:
            dynamic = make(model)  # weights copied
            xs = _random_inputs(model, sizes, seed=0)
            want = _keras_outputs(model, xs)
            got = _keras_outputs(dynamic, xs)
            if not all(
                np.allclose(g, w, atol=1e-5) for g, w in zip(got, want, strict=True)
            ):
                raise ValueError("the rebuilt model differs at the original size")
            doubled = [tuple(2 * s for s in size) for size in sizes]
            _keras_outputs(dynamic, _random_inputs(model, doubled, seed=0))
        except Exception as err:  # noqa: BLE001 - any failure means "keep it fixed"
            reasons.append(one_line(err))
            continue
        return dynamic, ""
    return model, reasons[0]


def _input_specs(model: keras.Model, dynamic: bool) -> list[tf.TensorSpec]:
    """One float32 spec per input (``image`` for a one-input model)."""
    return [
        tf.TensorSpec(
            [
                None,
                *([None] * len(t.shape[1:-1]) if dynamic else t.shape[1:-1]),
                t.shape[-1],
            ],
            tf.float32,
            name=t.name if len(model.inputs) > 1 else "image",
        )
        for t in model.inputs
    ]


def _output_names(model: keras.Model) -> list[str]:
    return list(model.output_names) if len(model.outputs) > 1 else ["probs"]


def _serve_fn(model: keras.Model):
    """Inference call: one positional tensor per input -> dict of outputs."""
    names = _output_names(model)

    def serve(*xs: tf.Tensor) -> dict[str, tf.Tensor]:
        out = model(xs[0] if len(xs) == 1 else list(xs), training=False)
        out = out if isinstance(out, list | tuple) else [out]
        return {n: tf.cast(o, tf.float32) for n, o in zip(names, out, strict=True)}

    return serve


def _write_savedmodel(model: keras.Model, path: Path, dynamic: bool) -> None:
    """A SavedModel whose ``serving_default`` runs the model in inference mode."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", _serve_fn(model), _input_specs(model, dynamic)
    )
    if path.exists():
        shutil.rmtree(path)
    archive.write_out(str(path), verbose=False)


def _compare(got: Sequence[np.ndarray], want: Sequence[np.ndarray], fmt: str) -> float:
    if len(got) != len(want):
        raise ValueError(f"{fmt} export gave {len(got)} outputs, Keras {len(want)}")
    diff = 0.0
    for g, w in zip(got, want, strict=True):
        g = np.asarray(g, dtype=np.float32)
        if g.shape != w.shape:
            raise ValueError(
                f"{fmt} export gave an output of shape {g.shape}, Keras {w.shape}"
            )
        if not np.all(np.isfinite(g)):
            return math.inf  # NaN/inf outputs never pass
        diff = max(diff, float(np.max(np.abs(g - w))))
    return diff


def _export_keras(model, path, settings, fmt, sizes, seed):
    model.save(path)
    if settings:
        write_settings(path, settings)
    reloaded = keras.models.load_model(path, compile=False)
    xs = _random_inputs(model, sizes[0], seed)
    return [_compare(_keras_outputs(reloaded, xs), _keras_outputs(model, xs), fmt)]


def _export_savedmodel(model, path, settings, dynamic, sizes, seed):
    _write_savedmodel(model, path, dynamic)
    if settings:
        (path / "assets").mkdir(exist_ok=True)
        (path / "assets" / SETTINGS_ASSET).write_text(json.dumps(settings, indent=2))
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    arg_names = [spec.name for spec in signature.structured_input_signature[1].values()]
    order = sorted(signature.structured_outputs)
    diffs = []
    for i, size in enumerate(sizes):
        xs = _random_inputs(model, size, seed + i)
        want = _keras_outputs(model, xs)
        feed = {
            s.name: tf.constant(x)
            for s, x in zip(_input_specs(model, dynamic), xs, strict=True)
        }
        if set(feed) != set(arg_names):
            raise ValueError(f"serving_default takes {arg_names}, not {sorted(feed)}")
        result = signature(**feed)
        got = [result[name].numpy() for name in _output_order(model, order)]
        diffs.append(_compare(got, want, "savedmodel"))
    return diffs


def _output_order(model: keras.Model, names: Sequence[str]) -> list[str]:
    wanted = _output_names(model)
    missing = set(wanted) - set(names)
    if missing:
        raise ValueError(f"exported outputs {sorted(names)} lack {sorted(missing)}")
    return wanted


@contextlib.contextmanager
def graph_outputs_kept_from_reshape_optimizer():
    """Keep tf2onnx's reshape optimizer off the Reshapes that give a graph output.

    tf2onnx (1.17) rewrites a Reshape with a computed shape into
    ``Reshape(1, ..., 0, 0) -> Squeeze`` and moves the Reshape's consumers onto
    the Squeeze; a graph output is not a consumer, so when the Reshape itself
    gives the graph output the Squeeze is left dangling and the file's output
    gains a leading axis of 1. Whether a model hits it depends on the order in
    which the transpose optimizer visits nodes (a set), so the same model
    converted twice can differ: a 3D model with one output channel did about
    once in 75-130 conversions. The Reshape left alone is the channels-last
    transpose of a one-channel output; it keeps its computed shape (a Shape and
    a Gather of a 5-element vector) instead of a constant one.
    """
    from tf2onnx.optimizer.reshape_optimizer import ReshapeOptimizer

    original = ReshapeOptimizer._optimize_reshape

    def optimize_reshape(self, node, graph):
        if set(node.output) & set(graph.outputs):
            return False
        return original(self, node, graph)

    ReshapeOptimizer._optimize_reshape = optimize_reshape
    try:
        yield
    finally:
        ReshapeOptimizer._optimize_reshape = original


def _export_onnx(model, path, settings, dynamic, sizes, seed):
    try:
        import onnx
        import onnxruntime
        import tf2onnx
    except ImportError as err:
        raise ValueError(
            "ONNX export needs the [onnx] extra: pip install 'unet-vnet-zoo[onnx]' "
            f"({one_line(err)})"
        ) from err
    specs = _input_specs(model, dynamic)
    serve = tf.function(
        _serve_fn(export_ready(model, "onnx")), input_signature=specs, autograph=False
    )
    with graph_outputs_kept_from_reshape_optimizer():
        proto, _ = tf2onnx.convert.from_function(
            serve, input_signature=specs, opset=ONNX_OPSET
        )
    outputs_by_index = [o.name for o in proto.graph.output]
    if settings:
        entry = proto.metadata_props.add()
        entry.key, entry.value = SETTINGS_KEY, json.dumps(settings, sort_keys=True)
    onnx.save(proto, str(path))
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"]
    )
    in_names = [i.name for i in session.get_inputs()]
    diffs = []
    for i, size in enumerate(sizes):
        xs = _random_inputs(model, size, seed + i)
        want = _keras_outputs(model, xs)
        got = session.run(outputs_by_index, dict(zip(in_names, xs, strict=True)))
        named = dict(zip(outputs_by_index, got, strict=True))
        order = _output_order(model, list(named))
        diffs.append(_compare([named[n] for n in order], want, "onnx"))
    return diffs


def _depthwise_3d(layer) -> bool:
    """A grouped ``Conv3D`` that :class:`SlicedDepthwiseConv3D` computes."""
    return (
        type(layer) is keras.layers.Conv3D
        and layer.groups > 1
        and layer.groups == layer.filters == layer.kernel.shape[-1]
        and layer.kernel.shape[-2] == 1
        and tuple(layer.strides) == (1, 1, 1)
        and tuple(layer.dilation_rate) == (1, 1, 1)
        and layer.padding == "valid"
        and layer.activation is keras.activations.linear
    )


def export_ready(model: keras.Model, fmt: str) -> keras.Model:
    """``model`` with the layers ``fmt`` cannot convert swapped for equivalents.

    ONNX and TFLite: a depthwise ``Conv3D`` (``groups`` = channels; TensorFlow
    runs it as an XLA function) becomes :class:`~zoo.layers.SlicedDepthwiseConv3D`
    with the same weights; TFLite also: ``MaxPooling3D`` becomes
    :class:`~zoo.layers.SlicedMaxPooling` (TFLite has no 3D max pooling). Both
    compute the same numbers from ops the converter has. The other layers, and
    their weights, are shared; a model with nothing to swap is returned as is.
    """

    def swappable(layer) -> bool:
        if isinstance(layer, keras.layers.MaxPooling3D):
            return fmt == "tflite"
        return fmt in ("onnx", "tflite") and _depthwise_3d(layer)

    def swap(layer):
        if not swappable(layer):
            return layer
        if isinstance(layer, keras.layers.MaxPooling3D):
            return SlicedMaxPooling(
                layer.pool_size, layer.strides, layer.padding, name=layer.name
            )
        return SlicedDepthwiseConv3D(
            layer.kernel_size, use_bias=layer.use_bias, name=layer.name
        )

    swapped = [layer for layer in model.layers if swappable(layer)]
    if not swapped:
        return model
    ready = keras.models.clone_model(model, clone_function=swap)
    for layer in swapped:
        ready.get_layer(layer.name).set_weights(layer.get_weights())
    return ready


def _export_tflite(model, path, quantize, sizes, seed):
    # Through a SavedModel, as TFLiteConverter.from_keras_model does for Keras 3:
    # the converter then freezes the weights into the flatbuffer.
    with tempfile.TemporaryDirectory() as tmp:
        _write_savedmodel(
            export_ready(model, "tflite"), Path(tmp) / "saved", dynamic=False
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "saved"))
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            path.write_bytes(converter.convert())
        except Exception as err:  # noqa: BLE001 - converter errors are MLIR dumps
            ops = sorted(set(re.findall(r"\btf\.(\w+)\(", str(err))))
            raise ValueError(
                f"TFLite cannot convert {model.name}: "
                + (
                    f"no TFLite builtin op for {', '.join(ops)}"
                    if ops
                    else one_line(err)
                )
            ) from err
    with warnings.catch_warnings():
        # TF 2.21 points to the separate ai_edge_litert package, which is not a
        # dependency; tf.lite's interpreter runs the same flatbuffer.
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    xs = _random_inputs(model, sizes[0], seed)
    want = _keras_outputs(model, xs)
    feed = {s.name: x for s, x in zip(_input_specs(model, False), xs, strict=True)}
    result = runner(**feed)
    got = [result[name] for name in _output_order(model, list(result))]
    return [_compare(got, want, "tflite")]


def export_model(
    model: keras.Model,
    fmt: str,
    out: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    quantize: str = "none",
    atol: float | None = None,
    input_size: Sequence[int] | None = None,
    seed: int = 0,
) -> ExportResult:
    """Exports ``model`` to ``out`` in format ``fmt`` and verifies it.

    Args:
        model: A Keras model (any number of inputs and outputs).
        fmt: One of :data:`FORMATS`.
        out: Target file (SavedModel: folder).
        settings: Inference settings to store with the export. Defaults to
            None.
        quantize: TFLite quantisation, one of :data:`QUANTIZATIONS`.
            Defaults to "none".
        atol: Largest accepted ``|exported - keras|``. Defaults to
            :data:`DEFAULT_ATOL` of ``quantize``.
        input_size: Spatial size to rebuild the model for first
            (:func:`zoo.inference.with_input_size`): TFLite's fixed size, and
            the check size of a model that takes any size. Defaults to None
            (the model's own size; for ``None`` axes the stored ``tile_size``
            or the first of 64, 128, 32, 256, 16 that fits).
        seed: Seed of the random check inputs. Defaults to 0.

    Returns:
        An :class:`ExportResult`.

    Raises:
        ValueError: On a bad format/quantisation, a model whose size is unknown
            without ``input_size``, a failed conversion, or an export that
            differs from Keras by more than ``atol`` (the file is removed).
    """
    if fmt not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}. Received: {fmt!r}")
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"`quantize` must be one of {QUANTIZATIONS}. Received: {quantize!r}"
        )
    if quantize != "none" and fmt != "tflite":
        raise ValueError(f"`quantize` applies to tflite only. Received format {fmt!r}")
    atol = DEFAULT_ATOL[quantize] if atol is None else float(atol)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if input_size is not None:
        model = with_input_size(model, input_size)
    fixed_sizes = _spatial(model)
    if any(s is None for size in fixed_sizes for s in size):
        fixed_sizes = [_size_for_any_input(model, settings)] * len(model.inputs)
        if fmt == "tflite":
            model = with_input_size(model, fixed_sizes[0])
    note = ""
    dynamic = False
    check_sizes = [fixed_sizes]
    if fmt in ("savedmodel", "onnx"):
        model, note = dynamic_model(model)
        dynamic = not note
        if dynamic:
            check_sizes.append([tuple(2 * s for s in size) for size in fixed_sizes])
    try:
        if fmt in ("keras", "h5"):
            diffs = _export_keras(model, out, settings, fmt, check_sizes, seed)
        elif fmt == "savedmodel":
            diffs = _export_savedmodel(model, out, settings, dynamic, check_sizes, seed)
        elif fmt == "onnx":
            diffs = _export_onnx(model, out, settings, dynamic, check_sizes, seed)
        else:
            diffs = _export_tflite(model, out, quantize, check_sizes, seed)
        diff = max(diffs)
        if not diff <= atol:
            raise ValueError(
                f"{fmt} export of {model.name} differs from Keras by {diff:.3g} "
                f"(> atol {atol:g}); '{out}' removed"
            )
    except BaseException:
        if out.is_dir():
            shutil.rmtree(out, ignore_errors=True)
        elif out.exists():
            out.unlink()
        raise
    shapes = [
        [
            None,
            *([None] * len(t.shape[1:-1]) if dynamic else t.shape[1:-1]),
            t.shape[-1],
        ]
        for t in model.inputs
    ]
    return ExportResult(
        path=out,
        format=fmt,
        input_shapes=shapes,
        max_abs_diff=diff,
        atol=atol,
        checked_sizes=[tuple(sizes[0]) for sizes in check_sizes],
        note=note,
    )


def _parse_size(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError as err:
        raise ValueError(
            f"--input-size takes integers like 64,64. Received: {text!r}"
        ) from err


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m train_scripts.export",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help=".h5 or .keras model")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, help="file (SavedModel: folder)")
    parser.add_argument(
        "--quantize", default="none", choices=QUANTIZATIONS, help="tflite only"
    )
    parser.add_argument(
        "--atol",
        type=float,
        default=None,
        help="largest accepted |exported - keras| (default: 1e-4 float32, "
        "1e-2 float16, 5e-2 dynamic range)",
    )
    parser.add_argument(
        "--input-size",
        default=None,
        help="spatial size to export at, e.g. 256,256 (tflite: the fixed size; "
        "needed when the checkpoint takes any size)",
    )
    parser.add_argument("--seed", type=int, default=0, help="check input seed")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        model = load_checkpoint(args.checkpoint)
        settings = read_settings(args.checkpoint)
        result = export_model(
            model,
            args.format,
            args.out,
            settings=settings,
            quantize=args.quantize,
            atol=args.atol,
            input_size=_parse_size(args.input_size),
            seed=args.seed,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    shapes = ", ".join(str(s).replace("None", "?") for s in result.input_shapes)
    print(f"input shape {shapes}" + (f" ({result.note})" if result.note else ""))
    print(
        f"verified at sizes {result.checked_sizes}: max abs diff "
        f"{result.max_abs_diff:.3g} (atol {result.atol:g})"
    )
    print(f"exported {result.format}: {result.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
