"""FCN-PP, a fully convolutional network with pyramid pooling (Lei, Zhang, Lv & Nandi, "Landslide
Inventory Mapping From Bitemporal Images Using Deep Convolutional Neural Networks", IEEE GRSL 2019).

An encoder–decoder FCN over the two dates stacked as one 2C-band image. Each encoder stage is
three 3×3 convolutions dilated 1, 2, 3 (BatchNorm, ReLU): growing, co-prime dilations enlarge the
receptive field without the gridding holes of repeated equal dilations, which is the paper's
reason for them. Three 2×2 max-poolings bring the map to stride 8 (64-512 channels), where the
**pyramid pooling** module gathers multi-scale context: a 1×1 branch, three atrous
depthwise-separable 3×3 branches (rates 6, 12, 18) and an image-level pooling branch, concatenated,
projected by a 1×1 convolution and dropped out (p = 0.1). A U-Net decoder then upsamples
(bilinear, ×2), concatenates the encoder map of that scale and applies the same dilated
three-convolution unit, four times, and a 1×1 convolution gives **one** landslide/change score per
pixel, trained with binary cross-entropy. It is returned as ``binary_logits(z)`` = ``[0, z]``,
for which the base's cross-entropy *is* that BCE.

Choices, and why:

* Input fusion (``input_fusion``): as we read the paper, its network classifies a difference
  image computed from the two dates beforehand; the benchmark's framework, whose module Table 5
  compares and whose parameter count (14.56 × 2^20) is published, stacks the two dates' bands, so
  the network learns the comparison. ``"concat"`` (the ``paper`` preset) follows the framework;
  ``"difference"`` feeds |t2 − t1| (C bands) for a paper-like difference input.
* The pyramid pooling module is the framework's: DeepLabV3+-style atrous separable branches (each
  depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU) around an image-pooling branch. Its
  pooling branch's BatchNorm falls back to running statistics on a one-image batch, where batch
  statistics of a 1×1 map are undefined.
* The first decoder step concatenates the pyramid output with the deepest encoder map directly:
  both are at stride 8. The framework's code upsamples the pyramid output ×2 there and then "pads"
  it to the skip's size with negative padding, i.e. crops its central quarter, so the context it
  fuses is magnified ×2, misaligned with the skip, and three quarters of it are cut away; a U-Net
  fuses maps of one scale. The layers and the parameter count are the same.
* Upsampling is bilinear with ``align_corners=True``, as in the framework; where a size is not
  divisible by 8 the upsampled map is padded (zeros, centred) to the skip's size.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.layers import ConvBNReLU, PooledSafeBatchNorm2d, as_int_list, init_classifier
from euromine_hf.models.modeling import EuroMineChangeDetectionModel, binary_logits
from euromine_hf.models.registry import register_model

INPUT_FUSIONS = ("concat", "difference")


class FCNPPConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`FCNPPForChangeDetection`.

    Args:
        widths: channels of the four encoder stages (64, 128, 256, 512); the decoder mirrors them.
        dilations: dilations of each stage's three 3×3 convolutions (1, 2, 3).
        pyramid_rates: dilation rates of the three atrous pyramid branches (6, 12, 18).
        pyramid_dropout: dropout after the pyramid projection (0.1).
        input_fusion: ``"concat"`` (2C bands, the framework) or ``"difference"`` (|t2 − t1|, C bands).
    """

    model_type = "euromine-fcn-pp"

    def __init__(
        self,
        widths: Sequence[int] = (64, 128, 256, 512),
        dilations: Sequence[int] = (1, 2, 3),
        pyramid_rates: Sequence[int] = (6, 12, 18),
        pyramid_dropout: float = 0.1,
        input_fusion: str = "concat",
        **kwargs: Any,
    ) -> None:
        self.widths = as_int_list(widths, "widths")
        if len(self.widths) < 2:
            raise ValueError(f"FCNPPConfig.widths needs at least 2 stages; got {widths!r}")
        self.dilations = as_int_list(dilations, "dilations")
        self.pyramid_rates = as_int_list(pyramid_rates, "pyramid_rates")
        if not 0.0 <= float(pyramid_dropout) < 1.0:
            raise ValueError(f"FCNPPConfig.pyramid_dropout must be in [0, 1); got {pyramid_dropout}")
        if input_fusion not in INPUT_FUSIONS:
            raise ValueError(f"FCNPPConfig.input_fusion must be one of {INPUT_FUSIONS}; got {input_fusion!r}")
        self.pyramid_dropout = float(pyramid_dropout)
        self.input_fusion = input_fusion
        super().__init__(**kwargs)


class DilatedUnit(nn.Sequential):
    """3×3 convolutions (with bias) dilated e.g. 1, 2, 3 in sequence, each with BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[int]) -> None:
        layers: list[nn.Module] = []
        for dilation in dilations:
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            in_channels = out_channels
        super().__init__(*layers)


class SeparableAtrousBranch(nn.Sequential):
    """Depthwise 3×3 (dilated) → BN → ReLU → pointwise 1×1 → BN → ReLU, no biases."""

    def __init__(self, in_channels: int, out_channels: int, rate: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, padding=rate, dilation=rate, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class PyramidPooling(nn.Module):
    """1×1, atrous separable 3×3 and image-pooling branches, concatenated and projected (1×1, BN, ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int], dropout: float) -> None:
        super().__init__()
        self.pooling = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            PooledSafeBatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.branches = nn.ModuleList(
            [ConvBNReLU(in_channels, out_channels, kernel_size=1)]
            + [SeparableAtrousBranch(in_channels, out_channels, rate) for rate in rates]
        )
        self.project = nn.Sequential(
            ConvBNReLU(out_channels * (len(rates) + 2), out_channels, kernel_size=1), nn.Dropout2d(dropout)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pooling(features), size=features.shape[-2:], mode="bilinear", align_corners=True)
        return self.project(torch.cat([pooled, *(branch(features) for branch in self.branches)], dim=1))


class UpUnit(nn.Module):
    """Bilinear ×2 (align_corners; skipped at the first level), pad to the skip, concatenate
    [skip, hidden], dilated unit."""

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[int], upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.unit = DilatedUnit(in_channels, out_channels, dilations)

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            hidden = F.interpolate(hidden, scale_factor=2.0, mode="bilinear", align_corners=True)
        pad_h, pad_w = skip.shape[-2] - hidden.shape[-2], skip.shape[-1] - hidden.shape[-1]
        if pad_h or pad_w:
            hidden = F.pad(hidden, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return self.unit(torch.cat([skip, hidden], dim=1))


class FCNPPForChangeDetection(EuroMineChangeDetectionModel):
    """FCN-PP: dilated-convolution U-Net encoder on the stacked dates, pyramid pooling, one sigmoid score."""

    _no_split_modules = ("DilatedUnit", "UpUnit")

    config_class = FCNPPConfig
    config: FCNPPConfig

    def __init__(self, config: FCNPPConfig) -> None:
        super().__init__(config)
        widths, dilations = config.widths, config.dilations
        in_channels = config.num_channels * (2 if config.input_fusion == "concat" else 1)
        self.stages = nn.ModuleList()
        for width in widths:
            self.stages.append(DilatedUnit(in_channels, width, dilations))
            in_channels = width
        self.pyramid = PyramidPooling(widths[-1], widths[-1], config.pyramid_rates, config.pyramid_dropout)
        # Decoder level i (deep to shallow) takes the previous output plus skip i and returns the
        # width one level up (level 0 keeps widths[0]): 512+512→256, 256+256→128, 128+128→64,
        # 64+64→64. The first level fuses the pyramid output with the deepest map at their common
        # stride, without upsampling (see the module docstring).
        self.ups = nn.ModuleList()
        hidden = widths[-1]
        for index in reversed(range(len(widths))):
            out = widths[max(index - 1, 0)]
            self.ups.append(UpUnit(hidden + widths[index], out, dilations, upsample=index < len(widths) - 1))
            hidden = out
        self.classifier = nn.Conv2d(hidden, 1, kernel_size=1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def fuse_inputs(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        if self.config.input_fusion == "concat":
            return torch.cat([pixel_values_t1, pixel_values_t2], dim=1)
        return (pixel_values_t2 - pixel_values_t1).abs()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        hidden = self.fuse_inputs(pixel_values_t1, pixel_values_t2)
        skips = []
        for index, stage in enumerate(self.stages):
            if index:
                hidden = F.max_pool2d(hidden, 2)
            hidden = stage(hidden)
            skips.append(hidden)
        hidden = self.pyramid(hidden)
        for up, skip in zip(self.ups, reversed(skips)):
            hidden = up(hidden, skip)
        return binary_logits(self.classifier(hidden))


register_model(
    "fcn-pp",
    "FCNPP",
    FCNPPConfig,
    FCNPPForChangeDetection,
    task="change_detection",
    paper={"widths": [64, 128, 256, 512]},
    tiny={"widths": [8, 8, 16, 16]},
    published_params=14.56,
)
