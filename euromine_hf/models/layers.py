"""Small building blocks shared by the hand-written segmenters (DeepLabV3+, LinkNet, PSPNet, UNet).

Kept here only because several architecture files need the same thing: a conv–BN–ReLU unit,
a transformers ``ResNetModel`` built from a few config fields, and the "replace stride by
dilation" surgery that DeepLab and PSPNet apply to ResNet's last stages.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import ResNetConfig, ResNetModel

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


def resnet_config(num_channels: int, overrides: Mapping[str, Any] | None = None, **defaults: Any) -> ResNetConfig:
    """A transformers ``ResNetConfig`` for ``num_channels`` inputs: ``defaults`` updated by ``overrides``.

    Lists (not tuples) for ``depths``/``hidden_sizes`` so the config serialises and compares equal
    after a JSON round trip.
    """
    fields = {**defaults, **dict(overrides or {})}
    for key in ("depths", "hidden_sizes"):
        if key in fields:
            fields[key] = [int(v) for v in fields[key]]
    fields.pop("num_channels", None)
    return ResNetConfig(num_channels=num_channels, **fields)


def dilate_resnet(resnet: ResNetModel, output_stride: int) -> list[int]:
    """Turn ResNet's stride-2 stages into dilated stride-1 stages until the output stride is reached.

    DeepLab (Chen et al.) and PSPNet (Zhao et al.) keep the ImageNet weights and the receptive field
    but stop downsampling: a stage that would exceed ``output_stride`` gets stride 1, and its 3×3
    convolutions are dilated by the stride it gave up (the first block keeps the previous dilation,
    because its input has not been upsampled yet — the "multi-grid"-free convention).
    The module's parameters are untouched, so checkpoints load unchanged. Returns each stage's
    dilation.
    """
    if output_stride not in (4, 8, 16, 32):
        raise ValueError(f"output_stride must be one of 4, 8, 16, 32; got {output_stride}")
    stride = 4  # 7×7 stride-2 stem + stride-2 max-pool
    dilation = 1
    dilations: list[int] = []
    for index, stage in enumerate(resnet.encoder.stages):
        stage_stride = 2 if (index > 0 or resnet.config.downsample_in_first_stage) else 1
        if stage_stride == 1 or stride * stage_stride <= output_stride:
            stride *= stage_stride
            dilations.append(dilation)
            continue
        previous, dilation = dilation, dilation * stage_stride
        for block_index, block in enumerate(stage.layers):
            block_dilation = previous if block_index == 0 else dilation
            for module in block.modules():
                if not isinstance(module, nn.Conv2d):
                    continue
                if block_index == 0:
                    module.stride = (1, 1)
                if module.kernel_size[0] > 1:
                    module.dilation = (block_dilation, block_dilation)
                    module.padding = (block_dilation * (module.kernel_size[0] // 2),) * 2
        dilations.append(dilation)
    return dilations


def dilated_bottleneck_resnet(
    num_channels: int, overrides: Mapping[str, Any] | None, depths: list[int], output_stride: int
) -> tuple[ResNetModel, ResNetConfig]:
    """A bottleneck ResNet (ResNet-50/101 widths) dilated to ``output_stride``: the DeepLab/PSPNet encoder."""
    config = resnet_config(
        num_channels, overrides, depths=depths, hidden_sizes=[256, 512, 1024, 2048], embedding_size=64,
        layer_type="bottleneck",
    )
    resnet = ResNetModel(config)
    dilate_resnet(resnet, output_stride)
    return resnet, config


def resnet_stage_features(resnet: ResNetModel, pixel_values: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of ResNet's four stages (strides 4, 8, 16, 32 unless dilated)."""
    hidden = resnet.embedder(pixel_values)
    features = []
    for stage in resnet.encoder.stages:
        hidden = stage(hidden)
        features.append(hidden)
    return features


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
    "dilate_resnet",
    "dilated_bottleneck_resnet",
    "init_classifier",
    "resnet_config",
    "resnet_stage_features",
]
