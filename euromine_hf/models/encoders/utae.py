"""The U-TAE per-date encoder (Garnot & Landrieu, "Panoptic Segmentation of Satellite Image Time
Series with Convolutional Temporal Attention Networks", ICCV 2021), as an :class:`Encoder`.

An input block of two 3×3 conv–norm–ReLU units, then one down block per level: a 4×4 stride-2
convolution halves the resolution, followed by two 3×3 units with a residual connection around the
second. GroupNorm by default, as U-TAE's encoder: a date's features then never depend on the other
images in the batch, which matters when the batch is a set of years of varying length.

Written here from the paper's description (Sec. 3.1 and its supplementary widths); the package's
other encoders pool with max-pooling (U-Net) or come from transformers' backbones.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder

NORMS = ("group", "batch")


def norm_layer(kind: str, channels: int, groups: int = 4) -> nn.Module:
    """GroupNorm (``groups`` groups, fewer when ``channels`` is not divisible) or BatchNorm."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind != "group":
        raise ValueError(f"norm must be one of {NORMS}; got {kind!r}")
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)


class ConvNormReLU(nn.Sequential):
    """``Conv2d`` (no bias) → norm → ReLU; ``kernel_size``/``stride``/``padding`` as given."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            norm_layer(norm, out_channels),
            nn.ReLU(inplace=True),
        )


class UTAEDownBlock(nn.Module):
    """4×4 stride-2 conv (halves the size), then ``a = unit(x)``, ``a + unit(a)``."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.down = ConvNormReLU(in_channels, in_channels, norm, kernel_size=4, stride=2, padding=1)
        self.conv1 = ConvNormReLU(in_channels, out_channels, norm)
        self.conv2 = ConvNormReLU(out_channels, out_channels, norm)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(self.down(hidden))
        return hidden + self.conv2(hidden)


class UTAEEncoder(Encoder):
    """Feature maps at strides 1, 2, 4, … with ``widths[i]`` channels (U-TAE: 64, 64, 64, 128)."""

    _no_split_modules = ("UTAEDownBlock",)

    def __init__(self, num_channels: int, widths: Sequence[int], norm: str = "group") -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"UTAEEncoder needs at least two levels; got widths {list(widths)}")
        widths = [int(w) for w in widths]
        self.in_block = nn.Sequential(ConvNormReLU(num_channels, widths[0], norm), ConvNormReLU(widths[0], widths[0], norm))
        self.down_blocks = nn.ModuleList(
            UTAEDownBlock(widths[i], widths[i + 1], norm) for i in range(len(widths) - 1)
        )
        self.channels = widths
        self.reductions = [2**i for i in range(len(widths))]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = [self.in_block(pixel_values)]
        for block in self.down_blocks:
            features.append(block(features[-1]))
        return features


__all__ = ["ConvNormReLU", "NORMS", "UTAEDownBlock", "UTAEEncoder", "norm_layer"]
