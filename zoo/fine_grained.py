"""Serial inference and case-level evaluation for ``fine_grained_unet``.

The design notes' fine-grained U-Net is trained in parallel with known regions
of interest (ROIs), but at inference the ROI is unknown: the full image goes
through the big-instance branch first, the largest predicted object gives the
ROI, and the ROI crop goes through the tiny-instance branch. This module holds
that pipeline in NumPy/OpenCV; the model is only called through its ``predict``
method with ``[full_batch, roi_batch]``.

Boxes are ``(y0, x0, y1, x1)`` in pixels, half-open (``image[y0:y1, x0:x1]``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from zoo.roi import roi_box

__all__ = [
    "FineGrainedPredictor",
    "crop_roi",
    "evaluate_cases",
    "largest_object_box",
    "paste_roi",
]

Box = tuple[int, int, int, int]


def _as_hwc(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, C)`` as float32 ``(H, W, C)``."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(
            f"`image` must be (H, W) or (H, W, C). Received shape {image.shape}"
        )
    return image


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(H, W, C)`` to ``size = (height, width)``, keeps C."""
    height, width = size
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return resized.reshape(height, width, image.shape[-1])


def largest_object_box(mask: np.ndarray, *, margin: int = 20) -> Box | None:
    """Square box around the largest connected object of a binary mask.

    The same region of interest the two-input training pipeline cuts
    (:func:`zoo.roi.roi_box`): the bounding rectangle of the
    largest external contour, grown to a square of half-side
    ``max(h, w) / 2 + margin`` around its centre and shifted inside the image
    (so it stays square and resizing keeps the aspect ratio).

    Args:
        mask: ``(H, W)`` array; non-zero pixels are the object.
        margin: Pixels added on each side. Defaults to 20.

    Returns:
        ``(y0, x0, y1, x1)``, or ``None`` when the mask is empty.
    """
    if margin < 0:
        raise ValueError(f"`margin` must be >= 0. Received: margin={margin}")
    binary = np.asarray(mask) > 0
    if not binary.any():
        return None
    y0, y1, x0, x1 = roi_box(binary.astype(np.float32), margin=margin)
    return y0, x0, y1, x1


def crop_roi(image: np.ndarray, box: Box, size: Sequence[int]) -> np.ndarray:
    """Crop ``box`` from an ``(H, W[, C])`` image and resize it to ``size``.

    Returns:
        ``(size[0], size[1], C)`` float32 array (bilinear ``cv2.resize``).
    """
    y0, x0, y1, x1 = box
    return _resize(_as_hwc(image)[y0:y1, x0:x1], (int(size[0]), int(size[1])))


def paste_roi(roi_mask: np.ndarray, box: Box, shape: Sequence[int]) -> np.ndarray:
    """Resize an ROI prediction back to its box and paste it into zeros.

    Args:
        roi_mask: ``(h, w[, C])`` prediction on the resized ROI.
        box: The ``(y0, x0, y1, x1)`` the ROI was cropped from.
        shape: ``(H, W)`` of the full image.

    Returns:
        ``(H, W, C)`` float32 array, zero outside ``box``.
    """
    y0, x0, y1, x1 = box
    roi_mask = _as_hwc(roi_mask)
    full = np.zeros((int(shape[0]), int(shape[1]), roi_mask.shape[-1]), np.float32)
    full[y0:y1, x0:x1] = _resize(roi_mask, (y1 - y0, x1 - x0))
    return full


class FineGrainedPredictor:
    """Serial two-stage inference with a ``fine_grained_unet``-like model.

    Full image -> big-instance branch -> threshold -> largest contour -> square
    box + ``margin`` (clipped to the image) -> crop and resize to the model
    input size -> ROI branch -> resize back and paste into a full-size mask.

    Args:
        model: Any object whose ``predict([full, roi], verbose=0)`` returns
            ``[big, tiny]`` batches of ``(B, h, w, C)`` maps, with
            ``input_shape`` ``[(None, h, w, C), ...]`` (a ``fine_grained_unet``).
        threshold: Probability above which a pixel of the big map is object.
            Defaults to 0.3.
        margin: Pixels added around the object's bounding box (in the
            original image's resolution). Defaults to 20.
        big_channel: Channel of the big output that defines the ROI.
            Defaults to 0.

    Example:
        >>> predictor = FineGrainedPredictor(fine_grained_unet((64, 64, 1)))
        >>> out = predictor.predict(np.zeros((100, 120), "float32"))
        >>> out["big"].shape, out["tiny"].shape
        ((100, 120, 2), (100, 120, 1))

    Notes:
        Images of any size are resized to the model input for the full
        branch, and the big map is resized back; the ROI is cropped from the
        original image, so small objects keep their full resolution. The two
        branches share their trunk, so each stage feeds the same batch to both
        inputs and keeps the output it needs.
    """

    def __init__(
        self, model, *, threshold: float = 0.3, margin: int = 20, big_channel: int = 0
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(
                f"`threshold` must be in (0, 1). Received: threshold={threshold}"
            )
        if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
            raise ValueError(
                f"`margin` must be an integer >= 0. Received: margin={margin!r}"
            )
        shapes = model.input_shape
        if not isinstance(shapes, list) or len(shapes) != 2:
            raise ValueError(
                "`model` needs two inputs [full, roi]. "
                f"Received a model with input_shape={shapes}"
            )
        n_big = int(model.output_shape[0][-1])
        if isinstance(big_channel, bool) or not 0 <= big_channel < n_big:
            raise ValueError(
                f"`big_channel` must be in [0, {n_big - 1}] (the big output has "
                f"{n_big} channels). Received: big_channel={big_channel!r}"
            )
        self.model = model
        self.threshold = float(threshold)
        self.margin = margin
        self.big_channel = big_channel
        self.input_size = (int(shapes[0][1]), int(shapes[0][2]))
        self.channels = int(shapes[0][3])

    def _run(self, batch: np.ndarray, output: int) -> np.ndarray:
        return np.asarray(self.model.predict([batch, batch], verbose=0)[output])

    def predict(self, image: np.ndarray) -> dict:
        """Segment the big and the tiny instance of one image.

        Args:
            image: ``(H, W)`` or ``(H, W, C)`` with the model's channel count.

        Returns:
            ``{"big": (H, W, C_big) probabilities, "tiny": (H, W, C_tiny)
            probabilities (zero outside the ROI), "roi_box": (y0, x0, y1, x1)
            or None when no big object was found}``.
        """
        image = _as_hwc(image)
        if image.shape[-1] != self.channels:
            raise ValueError(
                f"`image` needs {self.channels} channels. Received shape {image.shape}"
            )
        height, width = image.shape[:2]
        big = self._run(_resize(image, self.input_size)[None], 0)[0]
        big = _resize(big, (height, width))
        box = largest_object_box(
            big[..., self.big_channel] > self.threshold, margin=self.margin
        )
        tiny_channels = int(self.model.output_shape[1][-1])
        if box is None:
            tiny = np.zeros((height, width, tiny_channels), np.float32)
        else:
            roi = crop_roi(image, box, self.input_size)
            tiny = paste_roi(self._run(roi[None], 1)[0], box, (height, width))
        return {"big": big, "tiny": tiny, "roi_box": box}


def evaluate_cases(
    predictions: Iterable[np.ndarray],
    targets: Iterable[np.ndarray],
    *,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Case-level detection recall and precision of the tiny instance.

    A case is one image. Its prediction (e.g. ``FineGrainedPredictor.predict``'s
    ``"tiny"``) is positive when some pixel exceeds ``threshold``; the case is
    a true positive when the predicted pixels overlap the true tiny object
    (target > 0). A positive prediction without overlap is a false positive; a
    case with a true object and no overlapping prediction is a false negative
    (a misplaced prediction counts as both).

    Args:
        predictions: Per-case ``(H, W[, C])`` probability maps.
        targets: Per-case ``(H, W[, C])`` binary masks, same shapes.
        threshold: Probability threshold of the predictions. Defaults to 0.5.

    Returns:
        ``{"recall", "precision", "tp", "fp", "fn", "cases"}``; recall is
        ``tp / (tp + fn)`` and precision ``tp / (tp + fp)``, each 1.0 when its
        denominator is 0 (nothing to find / nothing predicted).

    Raises:
        ValueError: On mismatched shapes or case counts.
    """
    tp = fp = fn = cases = 0
    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets):
        raise ValueError(
            f"Got {len(predictions)} predictions for {len(targets)} targets."
        )
    for pred, target in zip(predictions, targets, strict=True):
        pred, target = _as_hwc(pred), _as_hwc(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"Prediction shape {pred.shape} != target shape {target.shape}."
            )
        detected = pred > threshold
        truth = target > 0
        hit = bool(np.any(detected & truth))
        tp += hit
        fp += bool(detected.any()) and not hit
        fn += bool(truth.any()) and not hit
        cases += 1
    return {
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "cases": cases,
    }
