"""Shared plumbing for encoders that wrap a transformers backbone (``BackboneMixin`` classes)."""

from __future__ import annotations

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder


class BackboneEncoder(Encoder):
    """A transformers ``*Backbone`` under the encoder contract; the backbone is ``self.backbone``.

    Subclasses build ``self.backbone`` and give the stride of each returned map.
    """

    backbone: nn.Module

    def _declare(self, reductions: list[int]) -> None:
        self.channels = [int(c) for c in self.backbone.channels]
        self.reductions = list(reductions)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        return list(self.backbone(pixel_values).feature_maps)


def stage_names(count: int) -> list[str]:
    return [f"stage{index}" for index in range(1, count + 1)]


__all__ = ["BackboneEncoder", "stage_names"]
