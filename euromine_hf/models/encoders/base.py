"""The encoder contract every segmenter and change detector is assembled from.

An encoder maps an image (B, C, H, W) to a list of feature maps, shallow to deep, and says what it
returns: ``channels[i]`` and ``reductions[i]`` (the stride of map ``i`` relative to the input).
Decoders, fusion modules and heads are written against these two lists only, so a Siamese UNet,
ResNet or MiT detector and the matching segmenter share one encoder implementation.
"""

from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Base class: subclasses set ``channels`` and ``reductions`` and implement ``forward``."""

    channels: list[int]
    reductions: list[int]
    #: Class names of the blocks that form one FSDP unit each (a transformer layer, a conv stage):
    #: the model that holds this encoder lists them in its ``_no_split_modules``, which accelerate's
    #: and transformers' ``TRANSFORMER_BASED_WRAP`` policy wraps when no class is named by hand.
    _no_split_modules: tuple[str, ...] = ()

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def num_features(self) -> int:
        return len(self.channels)

    def check_features(self, features: list[torch.Tensor], size: tuple[int, int]) -> None:
        """Assert the contract (used by tests): one map per declared level with declared width/stride."""
        if len(features) != len(self.channels):
            raise AssertionError(f"{type(self).__name__} returned {len(features)} maps, declares {len(self.channels)}")
        for feature, channels, reduction in zip(features, self.channels, self.reductions):
            expected = (channels, -(-size[0] // reduction), -(-size[1] // reduction))
            if tuple(feature.shape[1:]) != expected:
                raise AssertionError(
                    f"{type(self).__name__}: map of shape {tuple(feature.shape[1:])}, declared {expected}"
                )


__all__ = ["Encoder"]
