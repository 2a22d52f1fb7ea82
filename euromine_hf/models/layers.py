"""Small building blocks shared by the hand-written segmenters (DeepLabV3+, LinkNet, PSPNet, UNet, SQNet).

Kept here only because several architecture files need the same thing: a conv–BN–ReLU unit, the
classifier initialisation and config validation. Encoders (and ResNet's dilation surgery) live in
:mod:`euromine_hf.models.encoders`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


class PooledSafeBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that uses its running statistics when a batch holds one value per channel.

    Image-level pooling branches (DeepLab's ASPP pooling, PSPNet's 1×1 bin) see a 1×1 map per
    image; with a training batch of one image BatchNorm's batch statistics are undefined and
    PyTorch raises. That happens on the last, short batch of an epoch, so fall back to the running
    statistics there instead of failing. Any other input behaves exactly like ``BatchNorm2d``.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.training and input.numel() == input.shape[1] and self.running_mean is not None:
            return nn.functional.batch_norm(
                input, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(input)


class ConvBNReLU(nn.Sequential):
    """``Conv2d`` (no bias, "same" padding for odd kernels) → ``BatchNorm2d`` → ``ReLU``."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            PooledSafeBatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def init_classifier(module: nn.Module, std: float = 0.01) -> None:
    """Small-normal weights and zero bias for a final classifier layer.

    He initialisation (the base default) makes a classifier over hundreds of channels emit logits
    in the tens, so an untrained model starts at a cross-entropy of 5–8 instead of ln 2; the
    segmentation literature's reference code (DeepLab, PSPNet) initialises the last layer with
    N(0, 0.01²) instead.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in module.parameters())


def as_int_list(values: Sequence[Any], field: str) -> list[int]:
    """Validate a config list field of positive ints (clear error naming the field)."""
    try:
        result = [int(v) for v in values]
    except (TypeError, ValueError) as error:
        raise ValueError(f"config.{field} must be a list of integers; got {values!r}") from error
    if not result or any(v <= 0 for v in result):
        raise ValueError(f"config.{field} must be a non-empty list of positive integers; got {values!r}")
    return result


__all__ = [
    "ConvBNReLU",
    "PooledSafeBatchNorm2d",
    "as_int_list",
    "count_parameters",
    "init_classifier",
]
