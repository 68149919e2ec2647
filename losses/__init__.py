"""Segmentation losses, streaming metrics and NumPy evaluation metrics.

* :mod:`losses.functional`: pure ``keras.ops`` loss functions,
  ``(B, *spatial, C) -> (B,)``, 2D and 3D.
* :mod:`losses.hybrid`: Jaccard (IoU), MS-SSIM and the UNet 3+ hybrid loss
  (focal + MS-SSIM + IoU).
* :mod:`losses.classes`: registered ``keras.losses.Loss`` wrappers.
* :mod:`losses.metrics`: epoch-accumulating dice / IoU / precision / recall /
  specificity metrics.
* :mod:`losses.evaluation`: NumPy report metrics (dice, IoU, sensitivity,
  specificity, accuracy, AUC, HD95, ASSD) with an optional region mask.

``losses.get(name)`` returns a ``Loss`` instance for a string name. Importing
the package also lets ``model.compile(loss="focal_bce_dice")`` resolve those
names (see :func:`register_compile_names`).

Example:
    >>> import losses
    >>> loss = losses.get("focal_bce_dice")
    >>> type(loss).__name__
    'FocalBCEDiceLoss'
"""

from __future__ import annotations

from typing import Any

import keras

from losses import evaluation, functional, hybrid
from losses.classes import (
    BCEDiceLoss,
    BCELoss,
    BorderDiceLoss,
    DiceLoss,
    FocalBCEDiceLoss,
    FocalDiceLoss,
    FocalLoss,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    JaccardLoss,
    MSSSIMLoss,
    MulticlassDiceLoss,
    ReweightedBCELoss,
    TverskyLoss,
    UNet3PlusHybridLoss,
    WeightedBCELoss,
    WeightedDiceLoss,
)
from losses.functional import (
    bce,
    bce_dice,
    border_dice_loss,
    border_map,
    dice_coefficient,
    dice_loss,
    focal_bce_dice,
    focal_dice,
    focal_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    hard_dice_coefficient,
    multiclass_dice_loss,
    per_channel_dice,
    reweighted_bce,
    tversky_index,
    tversky_loss,
    weighted_bce,
    weighted_dice_loss,
)
from losses.hybrid import (
    jaccard_loss,
    ms_ssim,
    ms_ssim_loss,
    unet3plus_hybrid_loss,
)
from losses.metrics import (
    DiceScore,
    IoUScore,
    PrecisionScore,
    RecallScore,
    SpecificityScore,
)

#: Canonical string names (the function names) -> ``Loss`` classes.
LOSSES: dict[str, type[keras.losses.Loss]] = {
    "dice_loss": DiceLoss,
    "multiclass_dice_loss": MulticlassDiceLoss,
    "bce": BCELoss,
    "reweighted_bce": ReweightedBCELoss,
    "focal_loss": FocalLoss,
    "border_dice_loss": BorderDiceLoss,
    "weighted_dice_loss": WeightedDiceLoss,
    "tversky_loss": TverskyLoss,
    "focal_tversky_loss": FocalTverskyLoss,
    "generalized_dice_loss": GeneralizedDiceLoss,
    "weighted_bce": WeightedBCELoss,
    "bce_dice": BCEDiceLoss,
    "focal_dice": FocalDiceLoss,
    "focal_bce_dice": FocalBCEDiceLoss,
    "jaccard_loss": JaccardLoss,
    "ms_ssim_loss": MSSSIMLoss,
    "unet3plus_hybrid_loss": UNet3PlusHybridLoss,
}

#: Short aliases accepted by :func:`get` (not by ``model.compile`` where Keras
#: already owns the name, e.g. "dice" and "tversky").
ALIASES: dict[str, str] = {
    "dice": "dice_loss",
    "multiclass_dice": "multiclass_dice_loss",
    "rbce": "reweighted_bce",
    "focal": "focal_loss",
    "border_dice": "border_dice_loss",
    "weighted_dice": "weighted_dice_loss",
    "tversky": "tversky_loss",
    "focal_tversky": "focal_tversky_loss",
    "generalized_dice": "generalized_dice_loss",
    "unet_weight_map": "weighted_bce",
    "jaccard": "jaccard_loss",
    "iou": "jaccard_loss",
    "ms_ssim": "ms_ssim_loss",
    "unet3plus_hybrid": "unet3plus_hybrid_loss",
}


_NAME_TO_CLASS: dict[str, type[keras.losses.Loss]] = {
    **LOSSES,
    **{alias: LOSSES[name] for alias, name in ALIASES.items()},
    **{cls.__name__: cls for cls in LOSSES.values()},
}


def list_losses() -> list[str]:
    """Returns every name :func:`get` accepts, sorted.

    Returns:
        Canonical names, aliases and class names.
    """
    return sorted(_NAME_TO_CLASS)


def get(identifier: str | dict[str, Any] | keras.losses.Loss) -> keras.losses.Loss:
    """Returns a ``Loss`` instance for a name, a config dict or an instance.

    Args:
        identifier: A name from :func:`list_losses` (e.g. ``"focal_bce_dice"``,
            ``"focal"`` or ``"FocalBCEDiceLoss"``), a serialised loss dict
            (``keras.saving.serialize_keras_object`` output), or a ``Loss``
            instance (returned as is).

    Returns:
        A ``keras.losses.Loss`` with default arguments for a name.

    Raises:
        ValueError: For an unknown name (the message lists the valid names) or
            an identifier of another type.

    Example:
        >>> import losses
        >>> losses.get("dice").get_config()["smooth"]
        1.0
    """
    if isinstance(identifier, keras.losses.Loss):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        if identifier in _NAME_TO_CLASS:
            return _NAME_TO_CLASS[identifier]()
        raise ValueError(
            f"Unknown loss name {identifier!r}. Valid names: {', '.join(list_losses())}"
        )
    raise ValueError(
        "`identifier` must be a loss name, a config dict or a keras Loss. "
        f"Received: identifier={identifier!r}"
    )


def register_compile_names() -> list[str]:
    """Makes the string names usable in ``model.compile(loss=...)``.

    Keras 3 resolves a string loss only through its private table
    ``keras.src.losses.ALL_OBJECTS_DICT``; this adds the names of
    :func:`list_losses` that Keras does not already define (so ``"dice"``,
    ``"bce"`` and ``"tversky"`` keep meaning Keras' own losses in
    ``compile``; ``losses.get`` always returns ours). Called on import. A
    model compiled with a string stores the string, so reloading it needs
    ``import losses`` first, like any registered object.

    Returns:
        The names added (empty if the private table is not found, e.g. in a
        future Keras; :func:`get` keeps working then).
    """
    try:
        from keras.src import losses as keras_losses

        table = keras_losses.ALL_OBJECTS_DICT
    except (ImportError, AttributeError):
        return []
    added = []
    for name, cls in sorted(_NAME_TO_CLASS.items()):
        if name not in table:
            table[name] = cls
            added.append(name)
    return added


register_compile_names()

__all__ = [
    "ALIASES",
    "BCEDiceLoss",
    "BCELoss",
    "BorderDiceLoss",
    "DiceLoss",
    "DiceScore",
    "FocalBCEDiceLoss",
    "FocalDiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "IoUScore",
    "JaccardLoss",
    "MSSSIMLoss",
    "LOSSES",
    "MulticlassDiceLoss",
    "PrecisionScore",
    "RecallScore",
    "ReweightedBCELoss",
    "SpecificityScore",
    "TverskyLoss",
    "UNet3PlusHybridLoss",
    "WeightedBCELoss",
    "WeightedDiceLoss",
    "bce",
    "bce_dice",
    "border_dice_loss",
    "border_map",
    "dice_coefficient",
    "dice_loss",
    "evaluation",
    "focal_bce_dice",
    "focal_dice",
    "focal_loss",
    "focal_tversky_loss",
    "functional",
    "generalized_dice_loss",
    "get",
    "hard_dice_coefficient",
    "hybrid",
    "jaccard_loss",
    "list_losses",
    "ms_ssim",
    "ms_ssim_loss",
    "multiclass_dice_loss",
    "per_channel_dice",
    "register_compile_names",
    "reweighted_bce",
    "tversky_index",
    "tversky_loss",
    "unet3plus_hybrid_loss",
    "weighted_bce",
    "weighted_dice_loss",
]
