"""VGG16-BN encoder (Simonyan & Zisserman 2015, with BatchNorm after every convolution).

Written here because transformers has no VGG. Five stages of 3×3 conv–BN–ReLU layers
(2, 2, 3, 3, 3 convolutions; 64, 128, 256, 512, 512 channels), a 2×2 max-pool before every stage
but the first; each stage's output is returned (strides 1, 2, 4, 8, 16), the maps change
detectors such as CGNet and HCGMNet fuse. The fully connected classifier is not part of it.
Key layout ``stages.<i>.<j>.{conv,norm}``.

``preactivation=True`` returns each stage's last BatchNorm output *before* its ReLU (the next
stage still receives the activated map): CGNet and HCGMNet tap torchvision's ``vgg16_bn.features``
at slice boundaries that fall between BN and ReLU, so their fused maps keep negative responses.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder

#: VGG configuration "D" (VGG16): convolutions per stage and their width.
VGG16_DEPTHS = (2, 2, 3, 3, 3)
VGG16_WIDTHS = (64, 128, 256, 512, 512)


class VGGConvUnit(nn.Module):
    """3×3 conv (bias, as in torchvision's vgg16_bn) → BN → ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(hidden)))


class VGGEncoder(Encoder):
    """VGG-BN stages; ``depths``/``widths`` default to VGG16."""

    _no_split_modules = ("VGGConvUnit",)

    def __init__(
        self,
        num_channels: int,
        widths: Sequence[int] = VGG16_WIDTHS,
        depths: Sequence[int] = VGG16_DEPTHS,
        preactivation: bool = False,
    ) -> None:
        super().__init__()
        self.preactivation = bool(preactivation)
        if len(widths) != len(depths) or not widths:
            raise ValueError(f"VGGEncoder: widths {list(widths)} and depths {list(depths)} need one entry per stage")
        self.stages = nn.ModuleList()
        in_channels = num_channels
        for width, depth in zip(widths, depths):
            units = []
            for _ in range(int(depth)):
                units.append(VGGConvUnit(in_channels, int(width)))
                in_channels = int(width)
            self.stages.append(nn.Sequential(*units))
        self.pool = nn.MaxPool2d(2, 2)
        self.channels = [int(w) for w in widths]
        self.reductions = [2**index for index in range(len(widths))]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features, hidden = [], pixel_values
        for index, stage in enumerate(self.stages):
            hidden = hidden if index == 0 else self.pool(hidden)
            if not self.preactivation:
                hidden = stage(hidden)
                features.append(hidden)
                continue
            for unit in stage[:-1]:
                hidden = unit(hidden)
            last = stage[-1]
            hidden = last.norm(last.conv(hidden))
            features.append(hidden)
            hidden = torch.relu(hidden)  # not in place: the tapped map stays pre-activation
        return features


__all__ = ["VGG16_DEPTHS", "VGG16_WIDTHS", "VGGConvUnit", "VGGEncoder"]
