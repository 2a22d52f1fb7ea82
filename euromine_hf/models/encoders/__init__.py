"""Encoders: ``forward(x) -> list of feature maps`` with ``.channels`` and ``.reductions``.

One module per backbone family; transformers' backbones where they exist (ResNet, ConvNeXt, Swin,
MiT, PVTv2, MobileNetV2), written here where not (VGG16-BN, the U-Net encoder, SqueezeNet fire
stages, U-TAE's per-date encoder).
"""

from euromine_hf.models.encoders.base import Encoder
from euromine_hf.models.encoders.convnext import ConvNextEncoder, convnext_backbone_config
from euromine_hf.models.encoders.mit import MIT_VARIANTS, MiTEncoder, mit_backbone_config
from euromine_hf.models.encoders.mobilenetv2 import MobileNetV2Encoder
from euromine_hf.models.encoders.pvtv2 import PvtV2Encoder, pvtv2_backbone_config
from euromine_hf.models.encoders.resnet import (
    RESNET_VARIANTS,
    ResNetEncoder,
    dilate_resnet,
    resnet_backbone_config,
    resnet_variant_fields,
)
from euromine_hf.models.encoders.squeezenet import FireModule, SqueezeNetEncoder
from euromine_hf.models.encoders.swin import SwinEncoder, swin_backbone_config
from euromine_hf.models.encoders.unet import UNetEncoder
from euromine_hf.models.encoders.utae import UTAEEncoder
from euromine_hf.models.encoders.vgg import VGGEncoder

__all__ = [
    "ConvNextEncoder",
    "Encoder",
    "FireModule",
    "MIT_VARIANTS",
    "MiTEncoder",
    "MobileNetV2Encoder",
    "PvtV2Encoder",
    "RESNET_VARIANTS",
    "ResNetEncoder",
    "SqueezeNetEncoder",
    "SwinEncoder",
    "UNetEncoder",
    "UTAEEncoder",
    "VGGEncoder",
    "convnext_backbone_config",
    "dilate_resnet",
    "mit_backbone_config",
    "pvtv2_backbone_config",
    "resnet_backbone_config",
    "resnet_variant_fields",
    "swin_backbone_config",
]
