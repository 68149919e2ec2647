"""Matplotlib figures: learning curves, prediction overlays and metric box plots."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "LABEL_COLOURS",
    "overlay",
    "plot_learning_curves",
    "plot_metric_boxplot",
    "label_overlay",
    "representative_slice",
    "save_label_slices",
    "save_overlay_figure",
]


def plot_learning_curves(csv_path: str | Path, png_path: str | Path) -> Path:
    """Plot every logged quantity of a Keras ``CSVLogger`` file against the epoch.

    Training and validation curves of the same quantity share a panel; the
    ``NA`` validation columns Keras writes for a run without validation data
    are left out.

    Raises:
        ValueError: If the CSV holds no epoch.
    """
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{csv_path} holds no logged epoch.")
    epochs = [int(r["epoch"]) + 1 for r in rows]
    names = [k for k in rows[0] if k != "epoch" and not k.startswith("val_")]
    names = [n for n in names if n != "learning_rate"] or names
    fig, axes = plt.subplots(
        1, len(names), figsize=(4 * len(names), 3.2), squeeze=False
    )
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [float(r[name]) for r in rows], "o-", label=f"train {name}")
        # Keras' CSVLogger writes "NA" for a quantity missing in an epoch (runs
        # without a validation set).
        if all(r.get(f"val_{name}", "NA") not in ("", "NA") for r in rows):
            ax.plot(
                epochs,
                [float(r[f"val_{name}"]) for r in rows],
                "s--",
                label=f"val {name}",
            )
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def overlay(
    image: np.ndarray, truth: np.ndarray | None, pred: np.ndarray
) -> np.ndarray:
    """RGB overlay: true positives green, false positives red, false negatives blue.

    Without ``truth`` the predicted mask is drawn in green. ``image`` is
    ``(H, W)`` or ``(H, W, C)`` in [0, 1]; masks are ``(H, W)`` or ``(H, W, 1)``.
    """
    img = np.asarray(image, np.float32)
    if img.ndim == 3 and img.shape[-1] != 3:
        img = img[..., 0]
    rgb = np.repeat(img[..., None], 3, -1) if img.ndim == 2 else img.copy()
    rgb = np.clip(rgb, 0, 1) * 0.6
    pred = np.asarray(pred).reshape(rgb.shape[:2]) > 0.5
    colours = {"tp": (0.1, 0.9, 0.1), "fp": (0.95, 0.1, 0.1), "fn": (0.1, 0.3, 1.0)}
    if truth is None:
        regions = {"tp": pred}
    else:
        truth = np.asarray(truth).reshape(rgb.shape[:2]) > 0.5
        regions = {"tp": pred & truth, "fp": pred & ~truth, "fn": ~pred & truth}
    for key, region in regions.items():
        rgb[region] = colours[key]
    return rgb


def save_overlay_figure(
    png_path: str | Path,
    image: np.ndarray,
    truth: np.ndarray | None,
    probs: np.ndarray,
    *,
    title: str = "",
) -> Path:
    """Save image | probability map | overlay (TP green, FP red, FN blue) in a row."""
    img = np.asarray(image, np.float32)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    axes[0].imshow(
        img[..., 0] if img.shape[-1] != 3 else img, cmap="gray", vmin=0, vmax=1
    )
    axes[0].set_title("image")
    axes[1].imshow(np.asarray(probs).squeeze(), cmap="magma", vmin=0, vmax=1)
    axes[1].set_title("probability")
    axes[2].imshow(overlay(img, truth, probs))
    axes[2].set_title(
        "TP green / FP red / FN blue" if truth is not None else "prediction"
    )
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


def representative_slice(*volumes: np.ndarray | None) -> int:
    """Index along axis 0 with the most foreground in the first given mask.

    Falls back to the middle slice when every mask is empty.
    """
    for volume in volumes:
        if volume is None:
            continue
        counts = (np.asarray(volume) > 0.5).reshape(volume.shape[0], -1).sum(1)
        if counts.any():
            return int(np.argmax(counts))
    first = next(v for v in volumes if v is not None)
    return first.shape[0] // 2


def plot_metric_boxplot(
    rows: list[dict],
    png_path: str | Path,
    *,
    metrics: tuple[str, ...] = (
        "dice",
        "iou",
        "sensitivity",
        "specificity",
        "accuracy",
        "auc",
    ),
    title: str = "",
) -> Path:
    """Box plot of per-image scores, one box per metric (each point drawn too).

    Args:
        rows: Per-image dicts (e.g. the rows of ``per_image.csv``).
        png_path: Output PNG.
        metrics: Keys to plot (scores in [0, 1]; NaN values are skipped).
        title: Figure title, e.g. the dataset name.

    Returns:
        ``png_path``.

    Raises:
        ValueError: If ``rows`` is empty.
    """
    if not rows:
        raise ValueError("`rows` is empty: no image to plot.")
    data = []
    for key in metrics:
        values = np.array([float(r[key]) for r in rows], np.float64)
        data.append(values[np.isfinite(values)])
    fig, ax = plt.subplots(figsize=(1.3 * len(metrics) + 1.5, 3.6))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(metrics) + 1), metrics)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.plot(i + rng.uniform(-0.12, 0.12, len(values)), values, "o", ms=3, alpha=0.6)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"{len(rows)} images")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)


LABEL_COLOURS = np.array(
    [
        (0.0, 0.0, 0.0),
        (0.1, 0.9, 0.1),
        (1.0, 0.55, 0.0),
        (0.2, 0.5, 1.0),
        (0.9, 0.1, 0.9),
    ]
)


def label_overlay(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGB of a grey slice in [0, 1] with class ids 1, 2, ... in colours (alpha 0.5)."""
    grey = np.clip(np.asarray(image, np.float32), 0, 1)
    rgb = np.repeat(grey[..., None], 3, -1)
    labels = np.asarray(labels).astype(np.int64)
    colours = LABEL_COLOURS[labels % len(LABEL_COLOURS)]
    inside = labels > 0
    rgb[inside] = 0.5 * rgb[inside] + 0.5 * colours[inside]
    return rgb


def save_label_slices(
    png_path: str | Path,
    volume: np.ndarray,
    truth: np.ndarray | None,
    pred: np.ndarray,
    *,
    title: str = "",
) -> Path:
    """Axial and coronal middle slices of a volume: image | truth | prediction.

    Args:
        png_path: Output PNG.
        volume: ``(D, H, W)`` or ``(D, H, W, 1)`` intensities (min-max scaled here).
        truth: Class ids ``(D, H, W)`` or None.
        pred: Predicted class ids ``(D, H, W)``.
        title: Figure title.
    """
    vol = np.asarray(volume, np.float32)
    vol = vol[..., 0] if vol.ndim == 4 else vol
    span = float(vol.max() - vol.min())
    vol = (vol - vol.min()) / span if span > 0 else np.zeros_like(vol)
    centre = [
        int(np.mean(np.nonzero(pred)[a])) if pred.any() else pred.shape[a] // 2
        for a in range(3)
    ]
    views = {"axial": 2, "coronal": 1}
    columns = [("image", None), ("truth", truth), ("prediction", pred)]
    columns = [c for c in columns if c[0] != "truth" or truth is not None]
    fig, axes = plt.subplots(
        len(views), len(columns), figsize=(3.2 * len(columns), 3.2 * len(views))
    )
    for row, (view, axis) in enumerate(views.items()):
        index = [slice(None)] * 3
        index[axis] = centre[axis]
        for col, (name, labels) in enumerate(columns):
            ax = axes[row, col]
            cut = vol[tuple(index)]
            shown = cut if labels is None else label_overlay(cut, labels[tuple(index)])
            ax.imshow(np.swapaxes(shown, 0, 1), cmap="gray", origin="lower")
            ax.set_title(f"{view} {name}")
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return Path(png_path)
