"""The U-Net contracting path (Ronneberger et al. 2015) as an encoder.

Stages of two 3×3 conv (–BN) –ReLU units; a 2×2 max-pool before every stage but the first, so
stage ``i`` is at stride 2**i. Every stage's output is returned: the last one is U-Net's
bottleneck, the others its skips. "Same" padding and optional BatchNorm, as every modern
re-implementation (and the change-detection FC-* networks) use.

With odd sizes max-pooling floors, so the declared reductions hold for inputs divisible by
2**(stages-1); decoders pad to the skip's size otherwise.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder


class DoubleConv(nn.Sequential):
    """Two (3×3 conv → [BN] → ReLU) units, the U-Net building block; ``mid_channels`` for the first."""

    def __init__(
        self, in_channels: int, out_channels: int, use_batchnorm: bool = True, mid_channels: int | None = None
    ) -> None:
        mid_channels = mid_channels or out_channels
        layers: list[nn.Module] = []
        for channels_in, channels_out in ((in_channels, mid_channels), (mid_channels, out_channels)):
            layers.append(nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=not use_batchnorm))
            if use_batchnorm:
                layers.append(nn.BatchNorm2d(channels_out))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNetEncoder(Encoder):
    """Double-conv stages of the given widths (e.g. 64, 128, 256, 512, 1024), strides 1, 2, 4, …"""

    _no_split_modules = ("DoubleConv",)

    def __init__(self, num_channels: int, widths: Sequence[int], use_batchnorm: bool = True) -> None:
        super().__init__()
        if not widths:
            raise ValueError("UNetEncoder needs at least one stage width")
        self.stages = nn.ModuleList()
        in_channels = num_channels
        for width in widths:
            self.stages.append(DoubleConv(in_channels, int(width), use_batchnorm))
            in_channels = int(width)
        self.pool = nn.MaxPool2d(2)
        self.channels = [int(w) for w in widths]
        self.reductions = [2**index for index in range(len(widths))]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features, hidden = [], pixel_values
        for index, stage in enumerate(self.stages):
            hidden = stage(hidden if index == 0 else self.pool(hidden))
            features.append(hidden)
        return features


__all__ = ["DoubleConv", "UNetEncoder"]
