"""Encoders: ``forward(x) -> list of feature maps`` with ``.channels`` and ``.reductions``.

One module per backbone family; transformers' backbones where they exist, written here where not.
"""

from euromine_hf.models.encoders.base import Encoder
from euromine_hf.models.encoders.resnet import RESNET_VARIANTS, ResNetEncoder, resnet_backbone_config

__all__ = ["Encoder", "RESNET_VARIANTS", "ResNetEncoder", "resnet_backbone_config"]
