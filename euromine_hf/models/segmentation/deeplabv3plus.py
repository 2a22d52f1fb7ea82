"""DeepLabV3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation", ECCV 2018) on a ResNet-101 or MobileNetV2 encoder from transformers.

Encoder at output stride 16 (the last downsampling is replaced by dilation), Atrous Spatial
Pyramid Pooling (a 1×1 branch, three 3×3 atrous branches at rates 6/12/18, image-level pooling;
256 channels, BatchNorm), and the V3+ decoder: stride-4 low-level features projected to 48
channels, concatenated with the ×4-upsampled ASPP output, refined by two 3×3 convolutions, then a
1×1 classifier whose logits are upsampled ×4 to the input (done by the base class).

The ASPP and decoder use ordinary (not depthwise-separable) convolutions, the variant the paper
reports for ResNet-101. Sizes: 59.36 M parameters at 10 bands and 2 classes, exactly what the
EuroMineNet benchmark's training code ran, so ``paper`` is both the benchmark's and the original.
Encoders are the shared :class:`ResNetEncoder` (dilated by transformers' ``ResNetBackbone``
surgery in :func:`~euromine_hf.models.encoders.resnet.dilate_resnet`) and
:class:`MobileNetV2Encoder`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import MobileNetV2Config, ResNetConfig

from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineConfig,
    IGNORE_INDEX,
    nested_backbone_config,
)
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.mobilenetv2 import MobileNetV2Encoder
from euromine_hf.models.encoders.resnet import ResNetEncoder, resnet_variant_fields
from euromine_hf.models.layers import ConvBNReLU, as_int_list, init_classifier
from euromine_hf.models.registry import register_model

BACKBONES = ("resnet101", "mobilenetv2")


class DeepLabV3PlusConfig(EuroMineConfig):
    """Configuration of :class:`DeepLabV3PlusForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        backbone: ``"resnet101"`` (transformers ``ResNetModel``, bottleneck blocks, depths 3/4/23/3)
            or ``"mobilenetv2"`` (transformers ``MobileNetV2Model``, width multiplier 1.0).
        backbone_config: the backbone's transformers config (``ResNetConfig`` of ResNet-101, or
            ``MobileNetV2Config`` at width 1.0), or a dict of its fields to change, e.g.
            ``{"depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 48, 64]}`` for a tiny ResNet or
            ``{"depth_multiplier": 0.25}`` for a thin MobileNetV2. ``num_channels``, the ResNet's
            ``out_features`` (stages 1 and 4) and MobileNetV2's ``output_stride`` follow the model.
        output_stride: encoder output stride (16 in the paper's training setting; 8 also works).
        aspp_channels: channels of every ASPP branch and of its projection (256).
        aspp_rates: dilation rates of the three 3×3 ASPP branches (6, 12, 18 at output stride 16).
        aspp_dropout: dropout after the ASPP projection (0.1, as in the authors' released code).
        low_level_channels: channels the stride-4 encoder features are projected to (48).
        decoder_channels: channels of the two 3×3 decoder convolutions (256).
    """

    model_type = "euromine-deeplabv3plus"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        backbone: str = "resnet101",
        backbone_config: ResNetConfig | MobileNetV2Config | Mapping[str, Any] | None = None,
        output_stride: int = 16,
        aspp_channels: int = 256,
        aspp_rates: Sequence[int] = (6, 12, 18),
        aspp_dropout: float = 0.1,
        low_level_channels: int = 48,
        decoder_channels: int = 256,
        **kwargs: Any,
    ) -> None:
        if backbone not in BACKBONES:
            raise ValueError(f"DeepLabV3PlusConfig.backbone must be one of {BACKBONES}; got {backbone!r}")
        if output_stride not in (8, 16):
            raise ValueError(f"DeepLabV3PlusConfig.output_stride must be 8 or 16; got {output_stride}")
        self.backbone = backbone
        self.output_stride = int(output_stride)
        if backbone == "resnet101":
            config_class, defaults, fixed = ResNetConfig, resnet_variant_fields("resnet101"), {"out_features": ["stage1", "stage4"]}
        else:
            config_class, defaults, fixed = MobileNetV2Config, {}, {"output_stride": self.output_stride}
        self.backbone_config = nested_backbone_config(
            backbone_config, config_class, defaults,
            field="DeepLabV3PlusConfig.backbone_config", num_channels=int(num_channels), fixed=fixed,
        )
        self.aspp_channels = int(aspp_channels)
        self.aspp_rates = as_int_list(aspp_rates, "aspp_rates")
        self.aspp_dropout = float(aspp_dropout)
        self.low_level_channels = int(low_level_channels)
        self.decoder_channels = int(decoder_channels)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


class ASPPPooling(nn.Module):
    """Image-level features: global average pool → 1×1 conv → BN → ReLU → upsample to the map."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.project = ConvBNReLU(in_channels, out_channels, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.project(self.pool(features))
        return F.interpolate(pooled, size=features.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling (DeepLabV3): parallel 1×1, atrous 3×3 and pooling branches."""

    def __init__(self, in_channels: int, channels: int, rates: Sequence[int], dropout: float) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvBNReLU(in_channels, channels, kernel_size=1)]
        branches += [ConvBNReLU(in_channels, channels, kernel_size=3, dilation=rate) for rate in rates]
        branches.append(ASPPPooling(in_channels, channels))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            ConvBNReLU(channels * len(branches), channels, kernel_size=1), nn.Dropout(dropout)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(features) for branch in self.branches], dim=1))


class DeepLabV3PlusDecoder(nn.Module):
    """Fuse upsampled ASPP features with projected stride-4 features, then classify."""

    def __init__(self, low_level_in: int, low_level_channels: int, aspp_channels: int, channels: int, num_labels: int) -> None:
        super().__init__()
        self.low_level_project = ConvBNReLU(low_level_in, low_level_channels, kernel_size=1)
        self.fuse = nn.Sequential(
            ConvBNReLU(aspp_channels + low_level_channels, channels, kernel_size=3),
            ConvBNReLU(channels, channels, kernel_size=3),
        )
        self.classifier = nn.Conv2d(channels, num_labels, kernel_size=1)

    def forward(self, aspp_features: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        low_level = self.low_level_project(low_level)
        upsampled = F.interpolate(aspp_features, size=low_level.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(torch.cat([upsampled, low_level], dim=1)))


class DeepLabV3PlusForSemanticSegmentation(EuroMineSegmentationModel):
    """DeepLabV3+ with a transformers ResNet-101 or MobileNetV2 encoder; logits at stride 4 → input size."""

    config_class = DeepLabV3PlusConfig

    def __init__(self, config: DeepLabV3PlusConfig) -> None:
        super().__init__(config)
        if config.backbone == "resnet101":
            self.encoder = ResNetEncoder(config.backbone_config, output_stride=config.output_stride)
        else:
            self.encoder = MobileNetV2Encoder(config.backbone_config)
        # stride-4 low-level map and the deepest map (ResNet: stage 1 and 4; MobileNetV2: the
        # last 24-channel block and the 320-channel block)
        low_level_in, high_level_in = self.encoder.channels[self._low_level_index], self.encoder.channels[-1]
        self.aspp = ASPP(high_level_in, config.aspp_channels, config.aspp_rates, config.aspp_dropout)
        self.decoder = DeepLabV3PlusDecoder(
            low_level_in, config.low_level_channels, config.aspp_channels, config.decoder_channels, config.num_labels
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(getattr(self, "decoder", None), "classifier", None):
            init_classifier(module)

    @property
    def _low_level_index(self) -> int:
        return 0 if self.config.backbone == "resnet101" else 1

    def encode(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(stride-4 low-level features, output-stride high-level features)."""
        features = self.encoder(pixel_values)
        return features[self._low_level_index], features[-1]

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        low_level, high_level = self.encode(pixel_values)
        return self.decoder(self.aspp(high_level), low_level)


register_model(
    "deeplabv3plus-resnet101",
    "DeeplabV3P (ResNet-101)",
    DeepLabV3PlusConfig,
    DeepLabV3PlusForSemanticSegmentation,
    task="segmentation",
    paper={"backbone": "resnet101"},
    tiny={
        "backbone": "resnet101",
        "backbone_config": {"depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 48, 64], "embedding_size": 8},
        "aspp_channels": 16,
        "low_level_channels": 8,
        "decoder_channels": 16,
    },
)
register_model(
    "deeplabv3plus-mobilenetv2",
    "DeeplabV3P (MobileNetV2)",
    DeepLabV3PlusConfig,
    DeepLabV3PlusForSemanticSegmentation,
    task="segmentation",
    paper={"backbone": "mobilenetv2"},
    tiny={
        "backbone": "mobilenetv2",
        "backbone_config": {"depth_multiplier": 0.25, "expand_ratio": 2.0},
        "aspp_channels": 16,
        "low_level_channels": 8,
        "decoder_channels": 16,
    },
)

__all__ = ["ASPP", "DeepLabV3PlusConfig", "DeepLabV3PlusForSemanticSegmentation"]
