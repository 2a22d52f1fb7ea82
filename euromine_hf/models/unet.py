"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

A contracting path of double 3×3 convolutions and 2×2 max-pooling that doubles the width at each
step, a bottleneck, and an expanding path in which a 2×2 transposed convolution halves the width
and doubles the resolution, the matching encoder map is concatenated (the "skip"), and another
double 3×3 convolution follows; a 1×1 convolution classifies. Two changes from the 2015 paper, as
every modern re-implementation makes them: "same" padding (output = input size, so no cropping of
the skips) and BatchNorm after each convolution (the paper predates BatchNorm).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from euromine_hf.models.base import IGNORE_INDEX, EuroMineConfigMixin, EuroMineSegmentationModel
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.registry import register_segmenter


class UNetConfig(EuroMineConfigMixin, PretrainedConfig):
    """Configuration of :class:`UNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        base_width: channels of the first encoder stage (64 in the paper); stage ``i`` has
            ``base_width * 2**i``.
        depth: number of down (and up) steps (4 in the paper, giving a 1024-channel bottleneck).
        use_batchnorm: BatchNorm after each 3×3 convolution (the convolutions then have no bias).
    """

    model_type = "euromine-unet"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        base_width: int = 64,
        depth: int = 4,
        use_batchnorm: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs = self._init_euromine(num_channels, band_names, ignore_index, kwargs)
        if int(base_width) < 1 or int(depth) < 1:
            raise ValueError(f"UNetConfig: base_width and depth must be >= 1; got {base_width}, {depth}")
        self.base_width = int(base_width)
        self.depth = int(depth)
        self.use_batchnorm = bool(use_batchnorm)
        super().__init__(**kwargs)


class DoubleConv(nn.Sequential):
    """Two (3×3 conv → [BN] → ReLU) units, the U-Net building block."""

    def __init__(self, in_channels: int, out_channels: int, use_batchnorm: bool = True) -> None:
        layers: list[nn.Module] = []
        for channels_in in (in_channels, out_channels):
            layers.append(nn.Conv2d(channels_in, out_channels, 3, padding=1, bias=not use_batchnorm))
            if use_batchnorm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpStage(nn.Module):
    """2×2 transposed conv (halves channels, doubles size) → concat skip → double conv."""

    def __init__(self, in_channels: int, out_channels: int, use_batchnorm: bool = True) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_channels * 2, out_channels, use_batchnorm)

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        hidden = self.up(hidden)
        # Odd input sizes: max-pooling floored, so the upsampled map can be one pixel short.
        pad_h, pad_w = skip.shape[-2] - hidden.shape[-2], skip.shape[-1] - hidden.shape[-1]
        if pad_h or pad_w:
            hidden = F.pad(hidden, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return self.conv(torch.cat([skip, hidden], dim=1))


class UNetForSemanticSegmentation(EuroMineSegmentationModel):
    """U-Net: logits at input resolution."""

    config_class = UNetConfig

    def __init__(self, config: UNetConfig) -> None:
        super().__init__(config)
        widths = [config.base_width * 2**i for i in range(config.depth + 1)]
        self.down_stages = nn.ModuleList()
        in_channels = config.num_channels
        for width in widths[:-1]:
            self.down_stages.append(DoubleConv(in_channels, width, config.use_batchnorm))
            in_channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-2], widths[-1], config.use_batchnorm)
        self.up_stages = nn.ModuleList(
            UpStage(widths[i + 1], widths[i], config.use_batchnorm) for i in reversed(range(config.depth))
        )
        self.classifier = nn.Conv2d(widths[0], config.num_labels, kernel_size=1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def encode(self, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(skip maps from the shallowest stage down, bottleneck features)."""
        skips = []
        hidden = pixel_values
        for stage in self.down_stages:
            hidden = stage(hidden)
            skips.append(hidden)
            hidden = self.pool(hidden)
        return skips, self.bottleneck(hidden)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        skips, hidden = self.encode(pixel_values)
        for stage, skip in zip(self.up_stages, reversed(skips)):
            hidden = stage(hidden, skip)
        return self.classifier(hidden)


register_segmenter(
    "unet",
    "UNet",
    UNetConfig,
    UNetForSemanticSegmentation,
    paper={"base_width": 64, "depth": 4},
    tiny={"base_width": 4, "depth": 3},
)

__all__ = ["UNetConfig", "UNetForSemanticSegmentation"]
