"""PSPNet (Zhao, Shi, Qi, Wang & Jia, "Pyramid Scene Parsing Network", CVPR 2017).

A dilated ResNet (output stride 8: stages 3 and 4 keep stride 1 and use dilation 2 and 4) from
transformers, then the Pyramid Pooling Module: the final map (C channels) is average-pooled to
1×1, 2×2, 3×3 and 6×6 bins, each reduced by a 1×1 conv to C/4 channels (BN, ReLU), upsampled back
bilinearly and concatenated with the map itself; a 3×3 conv (BN, ReLU, dropout 0.1) and a 1×1
classifier follow. Logits are at stride 8 and upsampled to the input by the base class.

Optional deep supervision (paper §3.4; ``use_auxiliary_head``): an auxiliary FCN head on stage 3's output (3×3 conv, BN, ReLU,
dropout, 1×1 classifier) adds ``auxiliary_loss_weight`` (0.4) × its cross-entropy to the loss
*during training only*; at evaluation the head is skipped, ``loss`` is the main loss alone, and
``logits`` are always the main head's.

Which source fixed which choice:
* ``paper`` preset: ResNet-101 without the auxiliary head, 65.6 M parameters at 10 bands and
  2 classes — the EuroMineNet benchmark's training code reports 65.70 M for its PSPNet with a
  ResNet-101 backbone, which a dilated ResNet-101 + PPM + 3×3 head gives; an auxiliary head
  (2.4 M more) would overshoot it, so the benchmark's network had none.
* ``original`` preset: the PSPNet paper's ablation setting, ResNet-50 with the stage-3 auxiliary
  loss of §3.4 (48.97 M).
The encoder is the shared :class:`~euromine_hf.models.encoders.resnet.ResNetEncoder` (dilated
transformers ``ResNetBackbone``). transformers' ResNet has the 7×7 stem, not the three 3×3
convolutions of the authors' Caffe ResNet.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import ResNetConfig

from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineConfig,
    IGNORE_INDEX,
    nested_backbone_config,
)
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.resnet import ResNetEncoder, resnet_variant_fields
from euromine_hf.models.layers import ConvBNReLU, as_int_list, init_classifier
from euromine_hf.models.registry import register_model


class PSPNetConfig(EuroMineConfig):
    """Configuration of :class:`PSPNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        backbone: ``"resnet101"`` (the benchmark's) or ``"resnet50"`` (bottleneck ResNets).
        backbone_config: the backbone's transformers ``ResNetConfig``, or a dict of its fields to
            change from ``backbone``'s; ``num_channels`` and ``out_features`` (stages 3 and 4)
            follow the model.
        output_stride: 8 (the paper) or 16.
        pyramid_bins: output sizes of the pyramid pooling levels (1, 2, 3, 6).
        pyramid_channels: channels of each pyramid level; ``None`` = backbone channels / number of
            levels (C/4 = 512 for ResNet-50), as in the paper.
        bottleneck_channels: channels of the 3×3 conv after the concatenation (512).
        dropout: dropout before each classifier (0.1).
        use_auxiliary_head: add the stage-3 auxiliary loss during training.
        auxiliary_channels: channels of the auxiliary head's 3×3 conv (256).
        auxiliary_loss_weight: weight of the auxiliary loss (0.4).
    """

    model_type = "euromine-pspnet"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        backbone: str = "resnet101",
        backbone_config: ResNetConfig | Mapping[str, Any] | None = None,
        output_stride: int = 8,
        pyramid_bins: Sequence[int] = (1, 2, 3, 6),
        pyramid_channels: int | None = None,
        bottleneck_channels: int = 512,
        dropout: float = 0.1,
        use_auxiliary_head: bool = False,
        auxiliary_channels: int = 256,
        auxiliary_loss_weight: float = 0.4,
        **kwargs: Any,
    ) -> None:
        if output_stride not in (8, 16):
            raise ValueError(f"PSPNetConfig.output_stride must be 8 or 16; got {output_stride}")
        if backbone not in ("resnet50", "resnet101"):
            raise ValueError(f"PSPNetConfig.backbone must be 'resnet50' or 'resnet101'; got {backbone!r}")
        self.backbone = backbone
        self.backbone_config = nested_backbone_config(
            backbone_config, ResNetConfig, resnet_variant_fields(backbone),
            field="PSPNetConfig.backbone_config", num_channels=int(num_channels),
            fixed={"out_features": ["stage3", "stage4"]},
        )
        self.output_stride = int(output_stride)
        self.pyramid_bins = as_int_list(pyramid_bins, "pyramid_bins")
        self.pyramid_channels = None if pyramid_channels is None else int(pyramid_channels)
        self.bottleneck_channels = int(bottleneck_channels)
        self.dropout = float(dropout)
        self.use_auxiliary_head = bool(use_auxiliary_head)
        self.auxiliary_channels = int(auxiliary_channels)
        self.auxiliary_loss_weight = float(auxiliary_loss_weight)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


class PyramidPoolingModule(nn.Module):
    """Concatenate the map with its pooled-and-upsampled versions at each bin size."""

    def __init__(self, in_channels: int, bins: Sequence[int], channels: int) -> None:
        super().__init__()
        self.bins = list(bins)
        self.levels = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), ConvBNReLU(in_channels, channels, kernel_size=1)) for size in bins
        )
        self.out_channels = in_channels + channels * len(self.bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = features.shape[-2:]
        pooled = [
            F.interpolate(level(features), size=size, mode="bilinear", align_corners=False) for level in self.levels
        ]
        return torch.cat([features, *pooled], dim=1)


class FCNHead(nn.Sequential):
    """3×3 conv → BN → ReLU → dropout → 1×1 classifier (the PSP head tail and the auxiliary head)."""

    def __init__(self, in_channels: int, channels: int, num_labels: int, dropout: float) -> None:
        super().__init__(
            ConvBNReLU(in_channels, channels, kernel_size=3),
            nn.Dropout2d(dropout),
            nn.Conv2d(channels, num_labels, kernel_size=1),
        )


class PSPNetForSemanticSegmentation(EuroMineSegmentationModel):
    """PSPNet on a dilated transformers ResNet; optional stage-3 auxiliary loss in training."""

    config_class = PSPNetConfig

    def __init__(self, config: PSPNetConfig) -> None:
        super().__init__(config)
        self.encoder = ResNetEncoder(config.backbone_config, output_stride=config.output_stride)
        stage3_channels, channels = self.encoder.channels
        pyramid_channels = config.pyramid_channels or channels // len(config.pyramid_bins)
        self.pyramid = PyramidPoolingModule(channels, config.pyramid_bins, pyramid_channels)
        self.head = FCNHead(self.pyramid.out_channels, config.bottleneck_channels, config.num_labels, config.dropout)
        self.auxiliary_head = (
            FCNHead(stage3_channels, config.auxiliary_channels, config.num_labels, config.dropout)
            if config.use_auxiliary_head
            else None
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        heads = [getattr(self, "head", None), getattr(self, "auxiliary_head", None)]
        if any(head is not None and module is head[-1] for head in heads):
            init_classifier(module)

    def _features(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage3, stage4 = self.encoder(pixel_values)
        return stage3, stage4

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.pyramid(self._features(pixel_values)[1]))

    def segment_with_auxiliary(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        stage3, stage4 = self._features(pixel_values)
        logits = self.head(self.pyramid(stage4))
        if self.auxiliary_head is None or self.config.auxiliary_loss_weight <= 0:
            return logits, []
        return logits, [(self.config.auxiliary_loss_weight, self.auxiliary_head(stage3))]


register_model(
    "pspnet",
    "PSPNet",
    PSPNetConfig,
    PSPNetForSemanticSegmentation,
    task="segmentation",
    paper={"backbone": "resnet101", "use_auxiliary_head": False},
    presets={"original": {"backbone": "resnet50", "use_auxiliary_head": True}},
    tiny={
        "use_auxiliary_head": True,
        "backbone_config": {"depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 48, 64], "embedding_size": 8},
        "bottleneck_channels": 16,
        "auxiliary_channels": 8,
    },
)

__all__ = ["PSPNetConfig", "PSPNetForSemanticSegmentation", "PyramidPoolingModule"]
