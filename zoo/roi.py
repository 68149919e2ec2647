"""Region-of-interest geometry shared by the fine-grained model and its pipeline.

Used by :mod:`zoo.fine_grained` (serial inference) and
:func:`data_pipelines.pipeline.make_two_input_dataset` (training), so both cut
the same square; ``data_pipelines.patches.roi_box`` re-exports it.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["roi_box"]


def roi_box(mask: np.ndarray, *, margin: int = 20) -> tuple[int, int, int, int]:
    """Square region of interest around the largest object of a 2D mask.

    The square is centred on the bounding box of the largest external contour,
    with half-side ``max(half-width, half-height) + margin`` (the fine-grained
    reference loader, ARCHITECTURES §13).

    Args:
        mask: 2D mask ``(H, W)`` or ``(H, W, K)``; all channels are united.
        margin: Pixels added to the half-side. Defaults to 20.

    Returns:
        ``(y0, y1, x0, x1)``, end-exclusive. An empty mask gives the whole image.

    Raises:
        ValueError: If ``mask`` is not 2D or ``margin`` < 0.

    Notes:
        Deviation from the reference: a square that crosses the border is shifted
        inside (and shrunk to the image's shorter side if larger), so that it
        stays square and resizing it back to full size keeps the aspect ratio.

    Example:
        >>> mask = np.zeros((256, 256)); mask[100:110, 120:140] = 1
        >>> roi_box(mask)
        (75, 135, 100, 160)
    """
    if mask.ndim == 3:
        mask = mask.max(axis=-1)
    if mask.ndim != 2:
        raise ValueError(f"`mask` must be (H, W) or (H, W, K). Received {mask.shape}")
    if margin < 0:
        raise ValueError(f"`margin` must be >= 0. Received: margin={margin}")
    height, width = mask.shape
    contours, _ = cv2.findContours(
        (mask > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    if not contours:
        return 0, height, 0, width
    largest = max(contours, key=cv2.contourArea)
    x, y, w, h = cv2.boundingRect(largest)
    cy, cx = y + h / 2, x + w / 2
    side = min(2 * int(round(max(w, h) / 2 + margin)), height, width)
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    return y0, y0 + side, x0, x0 + side
