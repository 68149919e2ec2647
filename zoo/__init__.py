"""unet-vnet-zoo: Keras 3 U-Net and V-Net segmentation models for 2D and 3D.

Every builder is registered by its function name::

    import zoo
    model = zoo.get("unet_padding")((256, 256, 1), n_classes=1)
    from zoo import unet_original

Importing ``zoo`` registers the custom layers, so saved models reload with plain
``keras.models.load_model``.
"""

from zoo import layers
from zoo.attention_unet import attention_unet
from zoo.backboned_unet import backboned_unet, branch2_unet, fine_grained_unet
from zoo.presets import Preset, from_pretrained, list_pretrained
from zoo.registry import (
    ModelSpec,
    Reference,
    default_model,
    get,
    list_models,
    rebuild,
    record_of,
    register,
    spec,
    spec_of,
)
from zoo.residual_unet import residual_unet
from zoo.sa_unet import sa_unet
from zoo.unet import unet_original, unet_padding
from zoo.unet3_plus import unet3_plus
from zoo.unet3d import unet3d, unet25d
from zoo.unet_plus_plus import prune_unet_plus_plus, unet_plus_plus
from zoo.vnet import vnet, vnet3d, vnet3d_depthwise, vnet_3d

__all__ = [
    "Preset",
    "ModelSpec",
    "Reference",
    "attention_unet",
    "backboned_unet",
    "branch2_unet",
    "default_model",
    "fine_grained_unet",
    "from_pretrained",
    "get",
    "layers",
    "list_models",
    "list_pretrained",
    "prune_unet_plus_plus",
    "rebuild",
    "record_of",
    "register",
    "residual_unet",
    "sa_unet",
    "spec",
    "spec_of",
    "unet3_plus",
    "unet_original",
    "unet_padding",
    "unet_plus_plus",
    "unet3d",
    "unet25d",
    "vnet",
    "vnet3d",
    "vnet3d_depthwise",
    "vnet_3d",
]
