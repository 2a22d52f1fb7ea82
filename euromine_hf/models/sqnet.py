"""SQNet (Treml et al., "Speeding up Semantic Segmentation for Autonomous Driving", NIPS 2016
Workshop on Machine Learning for Intelligent Transportation Systems).

- Encoder: SqueezeNet 1.1 (Iandola et al. 2016): 3×3 stride-2 conv (64), then three max-pooled
  stages of fire modules — (16→64+64)×2, (32→128+128)×2, (48→192+192)×2 + (64→256+256)×2. A fire
  module squeezes with 1×1 convs and expands with parallel 1×1 and 3×3 convs, concatenated.
- Parallel dilated convolutions: four 3×3 convolutions with dilation 1, 2, 4, 8 on the last fire
  output, summed, so context from several receptive fields is gathered without losing resolution.
- Decoder: at each scale a 3×3 transposed convolution doubles the resolution, and a refinement
  module (after SharpMask) merges it with the encoder's map of that scale (the bypass): the
  bypass passes through a 3×3 conv, is concatenated with the upsampled features, and a 3×3 conv
  fuses them. A final transposed convolution produces class logits at input resolution.
- ELU activations throughout (the paper's change from SqueezeNet's ReLU); no BatchNorm unless
  ``use_batchnorm`` is set.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig

from euromine_hf.models.base import IGNORE_INDEX, EuroMineConfigMixin, EuroMineSegmentationModel
from euromine_hf.models.layers import as_int_list, init_classifier
from euromine_hf.models.registry import register_segmenter


class SQNetConfig(EuroMineConfigMixin, PretrainedConfig):
    """Configuration of :class:`SQNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        stem_channels: channels of the first 3×3 stride-2 convolution (64, SqueezeNet 1.1).
        fire_squeeze: per encoder stage, the squeeze width of each fire module.
        fire_expand: per encoder stage, the width of each of the two expand branches (a fire module
            outputs ``2 * expand`` channels).
        dilations: dilation rates of the parallel dilated convolutions (1, 2, 4, 8).
        use_batchnorm: add BatchNorm after every convolution (off in the paper).
    """

    model_type = "euromine-sqnet"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        stem_channels: int = 64,
        fire_squeeze: Sequence[Sequence[int]] = ((16, 16), (32, 32), (48, 48, 64, 64)),
        fire_expand: Sequence[Sequence[int]] = ((64, 64), (128, 128), (192, 192, 256, 256)),
        dilations: Sequence[int] = (1, 2, 4, 8),
        use_batchnorm: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs = self._init_euromine(num_channels, band_names, ignore_index, kwargs)
        self.stem_channels = int(stem_channels)
        self.fire_squeeze = [as_int_list(stage, "fire_squeeze") for stage in fire_squeeze]
        self.fire_expand = [as_int_list(stage, "fire_expand") for stage in fire_expand]
        if [len(s) for s in self.fire_squeeze] != [len(e) for e in self.fire_expand] or not self.fire_squeeze:
            raise ValueError(
                "SQNetConfig: fire_squeeze and fire_expand must list the same number of fire modules per stage; "
                f"got {self.fire_squeeze} and {self.fire_expand}"
            )
        self.dilations = as_int_list(dilations, "dilations")
        self.use_batchnorm = bool(use_batchnorm)
        super().__init__(**kwargs)


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


class ParallelDilatedConv(nn.Module):
    """Sum of 3×3 convolutions at several dilation rates, then ELU."""

    def __init__(self, channels: int, dilations: Sequence[int], use_batchnorm: bool = False) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate, bias=not use_batchnorm) for rate in dilations
        )
        self.norm = nn.BatchNorm2d(channels) if use_batchnorm else nn.Identity()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.elu(self.norm(sum(branch(hidden) for branch in self.branches)))


class RefinementModule(nn.Module):
    """Merge upsampled decoder features with the encoder bypass of the same scale."""

    def __init__(self, bypass_channels: int, decoder_channels: int, use_batchnorm: bool = False) -> None:
        super().__init__()
        self.bypass = ConvELU(bypass_channels, bypass_channels, 3, use_batchnorm=use_batchnorm)
        self.fuse = ConvELU(bypass_channels + decoder_channels, decoder_channels, 3, use_batchnorm=use_batchnorm)

    def forward(self, decoder: torch.Tensor, bypass: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([decoder, self.bypass(bypass)], dim=1))


class SQNetForSemanticSegmentation(EuroMineSegmentationModel):
    """SQNet: SqueezeNet encoder, parallel dilated convs, refinement decoder; logits at input size."""

    config_class = SQNetConfig

    def __init__(self, config: SQNetConfig) -> None:
        super().__init__(config)
        bn = config.use_batchnorm
        self.stem = ConvELU(config.num_channels, config.stem_channels, 3, stride=2, use_batchnorm=bn)
        # SqueezeNet pools 3×3/2 unpadded with ceil_mode; padding 1 gives the same size on even maps
        # and ceil(n/2) on odd ones, which the stride-2 transposed convolutions can always undo.
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.stages = nn.ModuleList()
        widths = [config.stem_channels]  # the bypass widths, shallowest first
        in_channels = config.stem_channels
        for squeezes, expands in zip(config.fire_squeeze, config.fire_expand):
            fires = []
            for squeeze, expand in zip(squeezes, expands):
                fires.append(FireModule(in_channels, squeeze, expand, bn))
                in_channels = fires[-1].out_channels
            self.stages.append(nn.Sequential(*fires))
            widths.append(in_channels)
        self.context = ParallelDilatedConv(in_channels, config.dilations, bn)
        # One transposed conv + refinement per bypass, deepest bypass first.
        self.upsamplers = nn.ModuleList()
        self.refinements = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsamplers.append(
                nn.Sequential(nn.ConvTranspose2d(in_channels, width, 3, stride=2, padding=1), nn.ELU(inplace=True))
            )
            self.refinements.append(RefinementModule(width, width, bn))
            in_channels = width
        self.classifier = nn.ConvTranspose2d(in_channels, config.num_labels, 3, stride=2, padding=1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def encode(self, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(bypass maps, shallowest first; output of the parallel dilated convolutions)."""
        hidden = self.stem(pixel_values)
        bypasses = [hidden]
        for stage in self.stages:
            hidden = stage(self.pool(hidden))
            bypasses.append(hidden)
        return bypasses[:-1], self.context(hidden)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        bypasses, hidden = self.encode(pixel_values)
        for upsample, refine, bypass in zip(self.upsamplers, self.refinements, reversed(bypasses)):
            deconv, act = upsample
            hidden = act(deconv(hidden, output_size=list(bypass.shape[-2:])))
            hidden = refine(hidden, bypass)
        return self.classifier(hidden, output_size=list(pixel_values.shape[-2:]))


register_segmenter(
    "sqnet",
    "SQNet",
    SQNetConfig,
    SQNetForSemanticSegmentation,
    paper={},
    tiny={
        "stem_channels": 8,
        "fire_squeeze": [[2], [4], [8]],
        "fire_expand": [[4], [8], [16]],
    },
)

__all__ = ["FireModule", "SQNetConfig", "SQNetForSemanticSegmentation"]
