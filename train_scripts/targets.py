"""Targets, losses and metrics for every output of a model, read from its structure.

The shared trainer feeds masks; a model may want more than one map:

* deep supervision (UNet++ / UNet 3+): several segmentation outputs, each
  trained on the same mask with the same loss (Zhou et al. 2018, Huang et al.
  2020); an output smaller than the mask gets it resized (nearest);
* UNet 3+'s classification-guided module: a ``(B, 2)`` output ("no organ" /
  "organ") trained with binary cross-entropy on the one-hot "has foreground"
  label of the mask (Huang et al. 2020, Sec. 2.3);
* two inputs (``fine_grained_unet``): full image and region-of-interest crop,
  fed by :func:`data_pipelines.pipeline.make_two_input_dataset`.

Everything is decided from the built model (``model.inputs``,
``model.outputs``, output shapes and names), never from its registry name, so a
new model with the same structure trains without changes here.

The main output (the one scored, checkpointed and used for prediction) is the
segmentation output computed by the largest part of the graph: the last
nested decoder column of UNet++, UNet 3+'s full-resolution ``out0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import losses
from data_pipelines.weight_maps import stack_weight_map, unet_weight_map

__all__ = [
    "WeightMapDice",
    "WeightMapIoU",
    "is_class_output",
    "main_output",
    "multi_output_adapter",
    "output_losses",
    "single_output_model",
    "two_input_keys",
    "weight_map_target",
]


def is_class_output(tensor: Any) -> bool:
    """Whether an output is image-level ``(B, K)`` rather than a map."""
    return len(tensor.shape) == 2


def _graph_size(model: keras.Model, tensor: Any) -> int:
    """Layers between the model's inputs and ``tensor``."""
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        return len(keras.Model(inputs, tensor).layers)
    except ValueError:  # an output reachable from only some of the inputs
        return 0


def main_output(model: keras.Model) -> str:
    """Name of the main segmentation output (see the module docstring).

    Raises:
        ValueError: If the model has no segmentation (map) output.
    """
    names = list(model.output_names)
    maps = [
        (n, t)
        for n, t in zip(names, model.outputs, strict=True)
        if not is_class_output(t)
    ]
    if not maps:
        raise ValueError(f"Model {model.name!r} has no segmentation output")
    if len(maps) == 1:
        return maps[0][0]
    sizes = [_graph_size(model, t) for _, t in maps]
    return maps[int(np.argmax(sizes))][0]


def single_output_model(model: keras.Model, output: str | None = None) -> keras.Model:
    """The model restricted to one output (``output`` or :func:`main_output`).

    A single-output model is returned as is.

    Raises:
        ValueError: If ``output`` is not an output of the model.
    """
    if len(model.outputs) == 1:
        return model
    output = output or main_output(model)
    names = list(model.output_names)
    if output not in names:
        raise ValueError(
            f"Model {model.name!r} has no output {output!r}. Outputs: {names}"
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, model.outputs[names.index(output)], name=model.name)


def _nearest_resize(y: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """Nearest-neighbour resize of ``(B, *spatial, K)`` to ``size``, any rank."""
    for axis, n_out in enumerate(size, start=1):
        n_in = y.shape[axis]
        if n_in == n_out:
            continue
        index = np.minimum(
            ((np.arange(n_out) + 0.5) * n_in / n_out).astype(np.int64), n_in - 1
        )
        y = tf.gather(y, index, axis=axis)
    return y


def _has_foreground(y: tf.Tensor, n_classes: int) -> tf.Tensor:
    """One-hot ``(B, n_classes)`` "has foreground" labels of mask batches."""
    fg = y[..., 0] if y.shape[-1] == 1 else 1.0 - y[..., 0]
    has = tf.reduce_max(tf.reshape(fg, (tf.shape(fg)[0], -1)), axis=1) > 0.5
    return tf.one_hot(tf.cast(has, tf.int32), n_classes)


def multi_output_adapter(model: keras.Model, mask_channels: int):
    """Maps ``(x, mask batch)`` to ``(x, {output name: target})``.

    Map outputs get the mask (nearest-resized to a smaller output); ``(B, K)``
    outputs get the one-hot "has foreground" label computed from the first
    ``mask_channels`` channels (further channels, e.g. a weight map, are
    ignored there).

    Raises:
        ValueError: If a map output is larger than the input or of another rank.
    """
    in_spatial = tuple(model.input_shape[1:-1])
    plan = []
    for name, tensor in zip(model.output_names, model.outputs, strict=True):
        if is_class_output(tensor):
            plan.append((name, "class", int(tensor.shape[-1])))
            continue
        spatial = tuple(tensor.shape[1:-1])
        if len(spatial) != len(in_spatial) or any(
            o > i for o, i in zip(spatial, in_spatial, strict=True)
        ):
            raise ValueError(
                f"Output {name!r} of {model.name!r} has spatial size {spatial} for "
                f"input {in_spatial}; only equal or smaller outputs get targets"
            )
        plan.append((name, "map", spatial))

    def adapt(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        targets = {}
        for name, kind, info in plan:
            if kind == "class":
                targets[name] = _has_foreground(y[..., :mask_channels], info)
            else:
                targets[name] = y if info == in_spatial else _nearest_resize(y, info)
        return x, targets

    return adapt


def output_losses(model: keras.Model, seg_loss: Any) -> dict[str, Any]:
    """One loss per output: ``seg_loss`` on maps, binary cross-entropy on labels."""
    return {
        name: (
            keras.losses.BinaryCrossentropy() if is_class_output(tensor) else seg_loss
        )
        for name, tensor in zip(model.output_names, model.outputs, strict=True)
    }


def two_input_keys(model: keras.Model) -> str:
    """The key prefix of a two-input (full image, ROI) model's inputs and outputs.

    :func:`data_pipelines.pipeline.make_two_input_dataset` yields
    ``{p + "full_input", p + "roi_input"}`` and ``{p + "orig_branch",
    p + "roi_branch"}``; this returns ``p`` when the model's names fit.

    Raises:
        ValueError: If the model's inputs/outputs are not named that way.
    """
    inputs = [t.name for t in model.inputs]
    outputs = list(model.output_names)
    prefix = inputs[0][: -len("full_input")] if inputs else ""
    want_in = [f"{prefix}full_input", f"{prefix}roi_input"]
    want_out = [f"{prefix}orig_branch", f"{prefix}roi_branch"]
    if inputs != want_in or outputs != want_out:
        raise ValueError(
            f"Model {model.name!r} has inputs {inputs} and outputs {outputs}; the "
            "two-input pipeline feeds inputs '<p>full_input', '<p>roi_input' and "
            "outputs '<p>orig_branch', '<p>roi_branch'"
        )
    return prefix


def weight_map_target(mask: np.ndarray, *, w0: float = 10.0, sigma: float = 5.0):
    """A mask patch with the U-Net weight map appended as its last channel.

    The weight map (Ronneberger et al. 2015, eq. 2) is computed from the
    foreground (channel 0 of a binary mask, every class but 0 of a one-hot
    mask) with :func:`data_pipelines.weight_maps.unet_weight_map`.
    """
    mask = np.asarray(mask, np.float32)
    fg = mask[..., 0] if mask.shape[-1] == 1 else 1.0 - mask[..., 0]
    weights = unet_weight_map((fg > 0.5).astype(np.uint8), w0=w0, sigma=sigma)
    return stack_weight_map(mask, weights)


@keras.saving.register_keras_serializable(package="train_scripts")
class WeightMapDice(losses.DiceScore):
    """Dice score of targets that carry a weight map as their last channel."""

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None):
        """Scores the target channels, dropping the weight map."""
        super().update_state(y_true[..., :-1], y_pred, sample_weight)


@keras.saving.register_keras_serializable(package="train_scripts")
class WeightMapIoU(losses.IoUScore):
    """IoU score of targets that carry a weight map as their last channel."""

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None):
        """Scores the target channels, dropping the weight map."""
        super().update_state(y_true[..., :-1], y_pred, sample_weight)
