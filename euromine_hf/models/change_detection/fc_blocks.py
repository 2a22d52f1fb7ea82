"""The U-Net-like encoder and decoder shared by FC-EF, FC-Siam-conc and FC-Siam-diff.

Daudt, Le Saux & Boulch ("Fully Convolutional Siamese Networks for Change Detection", ICIP 2018)
build their three detectors from one small U-Net: four encoder stages of 2, 2, 3, 3 convolutions
(3×3, BatchNorm, ReLU, dropout 0.2) with 16, 32, 64, 128 channels and 2×2 max-pooling after each
stage, and a mirrored decoder in which a stride-2 3×3 transposed convolution doubles the
resolution, the skip of the same scale is concatenated, and the stage's convolutions follow, the
last one of each stage handing over to the next (narrower) stage's width; a plain 3×3 convolution
classifies. The three detectors differ only in what enters: both dates stacked (early fusion), or
each date through the shared encoder with the skips concatenated or differenced. This module holds
those common parts once; each detector file says how the dates meet.

Two details follow the authors' reference code rather than the paper text, which does not state
them: the decoder starts from the *pooled* deepest encoder map (there is no bottleneck
convolution), and the decoder's 3×3 layers, written there as stride-1 transposed convolutions, are
ordinary convolutions here (the same function class and parameter count; a stride-1 transposed
convolution with padding 1 is a convolution with a flipped kernel).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.change_detection.fusion import SiameseEncoder
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.encoders.base import Encoder
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import EuroMineChangeDetectionModel


class FullyConvolutionalCDConfig(EuroMineChangeDetectionConfig):
    """Fields of the three FC detectors (each subclasses this with its own ``model_type``).

    Args:
        base_width: channels of the first stage (16 in the paper); stage ``i`` has ``base_width * 2**i``.
        depths: 3×3 convolutions per encoder stage, shallow to deep (``[2, 2, 3, 3]`` in the paper);
            the decoder mirrors them. Each must be at least 2.
        dropout: ``Dropout2d`` probability after every convolution but the classifier (0.2).
        loss: ``"ce"`` (the paper and the benchmark's framework train with cross-entropy).
    """

    model_type = "euromine-fc-cd"

    def __init__(
        self,
        base_width: int = 16,
        depths: Sequence[int] = (2, 2, 3, 3),
        dropout: float = 0.2,
        **kwargs: Any,
    ) -> None:
        depths = [int(d) for d in depths]
        if int(base_width) < 1:
            raise ValueError(f"config.base_width must be >= 1; got {base_width}")
        if not depths or min(depths) < 2:
            raise ValueError(f"config.depths must list one count >= 2 per stage; got {depths}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"config.dropout must be in [0, 1); got {dropout}")
        self.base_width = int(base_width)
        self.depths = depths
        self.dropout = float(dropout)
        super().__init__(**kwargs)

    @property
    def widths(self) -> list[int]:
        return [self.base_width * 2**i for i in range(len(self.depths))]


class ConvUnit(nn.Sequential):
    """3×3 convolution → BatchNorm → ReLU → Dropout2d, the unit every FC layer is made of."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )


class FCEncoder(Encoder):
    """The contracting path: one map per stage *before* its max-pooling (these are the skips)."""

    _no_split_modules = ("ConvUnit",)

    def __init__(self, in_channels: int, widths: Sequence[int], depths: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        for width, depth in zip(widths, depths):
            units = [ConvUnit(in_channels, width, dropout)]
            units += [ConvUnit(width, width, dropout) for _ in range(depth - 1)]
            self.stages.append(nn.Sequential(*units))
            in_channels = width
        self.channels = list(widths)
        self.reductions = [2**i for i in range(len(widths))]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = []
        hidden = pixel_values
        for index, stage in enumerate(self.stages):
            if index:
                hidden = F.max_pool2d(hidden, 2)
            hidden = stage(hidden)
            features.append(hidden)
        return features


class FCDecoder(nn.Module):
    """The expanding path: from the pooled deepest map back to full resolution, one skip per scale.

    ``skip_channels[i]`` is the width of the fused skip at stage ``i`` (``widths[i]`` for early
    fusion and differences, twice that for concatenation).
    """

    def __init__(
        self,
        widths: Sequence[int],
        depths: Sequence[int],
        skip_channels: Sequence[int],
        num_labels: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.ups = nn.ModuleList()
        self.stages = nn.ModuleList()
        for index in reversed(range(len(widths))):
            width, depth = widths[index], depths[index]
            self.ups.append(nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1))
            units: list[nn.Module] = [ConvUnit(width + skip_channels[index], width, dropout)]
            units += [ConvUnit(width, width, dropout) for _ in range(depth - 2)]
            if index:
                units.append(ConvUnit(width, widths[index - 1], dropout))
            else:
                units.append(nn.Conv2d(width, num_labels, 3, padding=1))
            self.stages.append(nn.Sequential(*units))

    @property
    def classifier(self) -> nn.Conv2d:
        return self.stages[-1][-1]

    def forward(self, deepest: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        hidden = F.max_pool2d(deepest, 2)
        for up, stage, skip in zip(self.ups, self.stages, reversed(skips)):
            hidden = up(hidden)
            # Sizes not divisible by the total stride: max-pooling floored; pad the upsampled map
            # by replication to the skip's size (as the reference code does).
            pad_h, pad_w = skip.shape[-2] - hidden.shape[-2], skip.shape[-1] - hidden.shape[-1]
            if pad_h or pad_w:
                hidden = F.pad(hidden, [0, pad_w, 0, pad_h], mode="replicate")
            hidden = stage(torch.cat([hidden, skip], dim=1))
        return hidden


class FullyConvolutionalCDModel(EuroMineChangeDetectionModel):
    """Base of the three FC detectors: the classifier starts small so the first loss is ≈ ln 2."""

    config_class = FullyConvolutionalCDConfig

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        decoder = getattr(self, "decoder", None)
        if decoder is not None and module is decoder.classifier:
            init_classifier(module)


class SiameseFCCDModel(FullyConvolutionalCDModel):
    """FC-Siam-conc and FC-Siam-diff: the shared encoder on each date, the skips of every scale
    fused by ``fusion_class`` (concatenation or absolute difference, which sets their width).

    As in the authors' reference code (the paper does not say), the decoder starts from the pooled
    deepest map of the *second* date; the first date enters only through the skips.
    """

    #: a fusion module of :mod:`.fusion`, built per scale as ``fusion_class(width)``
    fusion_class: type[nn.Module]

    def __init__(self, config: FullyConvolutionalCDConfig) -> None:
        super().__init__(config)
        widths, depths = config.widths, config.depths
        self.encoder = SiameseEncoder(FCEncoder(config.num_channels, widths, depths, config.dropout))
        self.fusions = nn.ModuleList(self.fusion_class(width) for width in widths)
        skip_channels = [fusion.out_channels for fusion in self.fusions]
        self.decoder = FCDecoder(widths, depths, skip_channels, config.num_labels, config.dropout)
        self.post_init()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        features_t1, features_t2 = self.encoder(pixel_values_t1, pixel_values_t2)
        skips = [fuse(a, b) for fuse, a, b in zip(self.fusions, features_t1, features_t2)]
        return self.decoder(features_t2[-1], skips)


__all__ = [
    "ConvUnit",
    "FCDecoder",
    "FCEncoder",
    "FullyConvolutionalCDConfig",
    "FullyConvolutionalCDModel",
    "SiameseFCCDModel",
]
