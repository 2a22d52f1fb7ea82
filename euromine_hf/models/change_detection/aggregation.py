"""Decoder parts shared by Feng et al.'s two detectors, DMINet (2023) and ICIF-Net (2022).

Both papers decode with the same cross-level *feature aggregation*: a deeper, coarser map
(``down``) and a shallower, finer one (``left``) gate each other — each is multiplied by a 3×3
projection of the other — and the two gated maps are fused by a 3×3 convolution. A 1×1
projection (no ReLU) first brings the deeper map to the shallower map's width, and a two-layer
3×3 head classifies the upsampled result. Written once here because both detector files use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# bilinear (align_corners=False), a no-op at the same size: the one resize the models share
from euromine_hf.models.modeling import resize_logits as upsample_to


class Projection(nn.Sequential):
    """1×1 convolution (no bias) → BatchNorm, no activation: matches a deep map to a shallower width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


class CrossLevelAggregation(nn.Module):
    """Fuse a fine map ``left`` with a coarse map ``down`` by mutual gating.

    ``z1 = ReLU(conv_l(left) · up(down))``, ``z2 = ReLU(up(conv_d(down)) · left)``,
    output ``ReLU(BN(conv3×3([z1, z2])))`` at ``left``'s resolution. ``down`` must already have
    ``left``'s channel count (the products are element-wise).
    """

    def __init__(self, left_channels: int, down_channels: int, out_channels: int) -> None:
        super().__init__()
        if left_channels != out_channels or down_channels != out_channels:
            raise ValueError(
                "CrossLevelAggregation gates the maps element-wise: left, down and out channels must match; "
                f"got {left_channels}, {down_channels}, {out_channels}"
            )
        self.conv_down = nn.Conv2d(down_channels, out_channels, 3, padding=1)
        self.conv_left = nn.Conv2d(left_channels, out_channels, 3, padding=1)
        self.fuse = nn.Conv2d(2 * out_channels, out_channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, left: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
        size = left.shape[-2:]
        gated_left = F.relu(self.conv_left(left) * upsample_to(down, size))
        gated_down = F.relu(upsample_to(self.conv_down(down), size) * left)
        return F.relu(self.norm(self.fuse(torch.cat([gated_left, gated_down], dim=1))))


class ChangeHead(nn.Sequential):
    """3×3 conv (bias) → BN → ReLU → 3×3 conv (bias) to ``num_labels`` logits."""

    def __init__(self, in_channels: int, hidden_channels: int, num_labels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1),
            nn.BatchNorm2d(hidden_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, num_labels, 3, padding=1),
        )


class TopDownDecoder(nn.Module):
    """Coarse-to-fine decoding over three levels (strides 4, 8, 16): the stride-16 map is projected
    and aggregated with the stride-8 map, the result projected and aggregated with the stride-4 map
    (DMINet's sum/difference branches, ICIF-Net's global/local streams)."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.project_16 = Projection(channels[2], channels[1])
        self.aggregate_8 = CrossLevelAggregation(channels[1], channels[1], channels[1])
        self.project_8 = Projection(channels[1], channels[0])
        self.aggregate_4 = CrossLevelAggregation(channels[0], channels[0], channels[0])

    def forward(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``levels`` at strides 4, 8, 16 → (stride-4 map, stride-8 map)."""
        stride_8 = self.aggregate_8(levels[1], self.project_16(levels[2]))
        stride_4 = self.aggregate_4(levels[0], self.project_8(stride_8))
        return stride_4, stride_8


__all__ = ["ChangeHead", "CrossLevelAggregation", "Projection", "TopDownDecoder", "upsample_to"]
