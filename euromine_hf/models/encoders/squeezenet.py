"""SqueezeNet fire stages (Iandola et al. 2016) as an encoder, as SQNet (Treml et al. 2016) uses them.

A 3×3 stride-2 stem convolution, then stages each opened by a 3×3/2 max-pool and made of fire
modules (1×1 squeeze → parallel 1×1 and 3×3 expands, concatenated). Returns the stem and every
stage (strides 2, 4, 8, 16 for three stages). ELU activations and no BatchNorm by default, SQNet's
choice; ``use_batchnorm`` adds BatchNorm after each convolution.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder


class ConvELU(nn.Sequential):
    """Conv (optionally + BN) → ELU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
        use_batchnorm: bool = False,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                      padding=dilation * (kernel_size // 2), dilation=dilation, bias=not use_batchnorm)
        ]
        if use_batchnorm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ELU(inplace=True))
        super().__init__(*layers)


class FireModule(nn.Module):
    """SqueezeNet fire module: 1×1 squeeze → (1×1 expand ‖ 3×3 expand), concatenated."""

    def __init__(self, in_channels: int, squeeze: int, expand: int, use_batchnorm: bool = False) -> None:
        super().__init__()
        self.squeeze = ConvELU(in_channels, squeeze, 1, use_batchnorm=use_batchnorm)
        self.expand_1x1 = ConvELU(squeeze, expand, 1, use_batchnorm=use_batchnorm)
        self.expand_3x3 = ConvELU(squeeze, expand, 3, use_batchnorm=use_batchnorm)
        self.out_channels = 2 * expand

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.squeeze(hidden)
        return torch.cat([self.expand_1x1(hidden), self.expand_3x3(hidden)], dim=1)


class SqueezeNetEncoder(Encoder):
    """Stem + fire stages; ``fire_squeeze[i][j]`` / ``fire_expand[i][j]`` size fire module j of stage i."""

    _no_split_modules = ("FireModule",)

    def __init__(
        self,
        num_channels: int,
        stem_channels: int,
        fire_squeeze: Sequence[Sequence[int]],
        fire_expand: Sequence[Sequence[int]],
        use_batchnorm: bool = False,
        pool_kernel: int = 3,
    ) -> None:
        super().__init__()
        self.stem = ConvELU(num_channels, stem_channels, 3, stride=2, use_batchnorm=use_batchnorm)
        # SqueezeNet 1.1 pools 3×3/2 unpadded with ceil_mode; padding 1 gives the same size on even
        # maps and ceil(n/2) on odd ones, which stride-2 transposed convolutions can always undo.
        # ``pool_kernel=2`` is the 2×2/2 pooling of the public SQNet ports (ceil mode, same sizes).
        if pool_kernel == 3:
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        elif pool_kernel == 2:
            self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        else:
            raise ValueError(f"SqueezeNetEncoder: pool_kernel must be 2 or 3; got {pool_kernel}")
        self.stages = nn.ModuleList()
        self.channels = [int(stem_channels)]
        in_channels = int(stem_channels)
        for squeezes, expands in zip(fire_squeeze, fire_expand):
            fires = []
            for squeeze, expand in zip(squeezes, expands):
                fires.append(FireModule(in_channels, int(squeeze), int(expand), use_batchnorm))
                in_channels = fires[-1].out_channels
            self.stages.append(nn.Sequential(*fires))
            self.channels.append(in_channels)
        self.reductions = [2 ** (index + 1) for index in range(len(self.channels))]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.stem(pixel_values)
        features = [hidden]
        for stage in self.stages:
            hidden = stage(self.pool(hidden))
            features.append(hidden)
        return features


__all__ = ["ConvELU", "FireModule", "SqueezeNetEncoder"]
