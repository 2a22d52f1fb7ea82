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


def init_classifier(module: nn.Module) -> None:
    """PyTorch's default initialisation for a final classifier layer (its ``reset_parameters``).

    Until issue 15 classifiers started at N(0, 0.01²) with zero bias (DeepLab's and PSPNet's Caffe
    recipe); with Adam that start, on top of He-initialised features, left FC-EF, FC-Siam-conc and
    LinkNet predicting background everywhere on one easy batch, where the change-detection
    framework's own models (which set no init, so run PyTorch's) fit it. Kept as a named call so
    models whose base convolutions start differently (``conv_init = "he_fan_out"``) still give
    their classifier the framework's start.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        module.reset_parameters()


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
