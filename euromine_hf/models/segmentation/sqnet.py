"""SQNet (Treml et al., "Speeding up Semantic Segmentation for Autonomous Driving", NIPS 2016
Workshop on Machine Learning for Intelligent Transportation Systems).

- Encoder: SqueezeNet fire stages (the shared
  :class:`~euromine_hf.models.encoders.squeezenet.SqueezeNetEncoder`): a 3×3 stride-2 stem
  convolution, then three max-pooled stages of fire modules. A fire module squeezes with 1×1
  convs and expands with parallel 1×1 and 3×3 convs, concatenated.
- Parallel dilated convolutions: 3×3 convolutions at several dilations on the last fire output,
  summed, so context from several receptive fields is gathered without losing resolution.
- Decoder: at each scale a 3×3 transposed convolution doubles the resolution, and a refinement
  module (after SharpMask) merges it with the encoder's map of that scale (the bypass): the bypass
  passes through a 3×3 conv, is concatenated with the upsampled features, and a 3×3 conv fuses
  them. A final transposed convolution produces class logits at input resolution.
- ELU activations throughout (the paper's change from SqueezeNet's ReLU); no BatchNorm unless
  ``use_batchnorm`` is set.

Which source fixed which choice (the paper gives no layer table):
* ``paper`` preset (16.24 M parameters at 10 bands, 2 classes): the public PyTorch SQNet port the
  EuroMineNet benchmark's code ran (16.24 M there too): stem 96 channels, 2×2 max-pools, fire
  stages (16→64+64)×2, (32→128+128)×2, (64→256+256)×3, dilations 1/2/3/4 each followed by its own
  ELU before the sum, and refinement convolutions that keep the concatenated width (512, 256, 192).
* ``original`` preset (14.04 M): SqueezeNet 1.1's encoder as published (stem 64, 3×3/2 pools,
  fire widths 16/32/48/64), the paper's dilations 1/2/4/8 with one ELU after the sum, and
  refinements that fuse back to the decoder width.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.squeezenet import ConvELU, FireModule, SqueezeNetEncoder
from euromine_hf.models.layers import as_int_list, init_classifier
from euromine_hf.models.registry import register_model


class SQNetConfig(EuroMineConfig):
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
        pool_kernel: 3 (SqueezeNet's 3×3/2 max-pool) or 2 (2×2/2, the public port).
        branch_activation: an ELU on each dilated branch before the sum (the public port) instead
            of one after it.
        keep_concat_width: refinement convolutions output the concatenated width (the public
            port) instead of the decoder width.
    """

    model_type = "euromine-sqnet"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        stem_channels: int = 96,
        fire_squeeze: Sequence[Sequence[int]] = ((16, 16), (32, 32), (64, 64, 64)),
        fire_expand: Sequence[Sequence[int]] = ((64, 64), (128, 128), (256, 256, 256)),
        dilations: Sequence[int] = (1, 2, 3, 4),
        use_batchnorm: bool = False,
        pool_kernel: int = 2,
        branch_activation: bool = True,
        keep_concat_width: bool = True,
        **kwargs: Any,
    ) -> None:
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
        if int(pool_kernel) not in (2, 3):
            raise ValueError(f"SQNetConfig.pool_kernel must be 2 or 3; got {pool_kernel}")
        self.pool_kernel = int(pool_kernel)
        self.branch_activation = bool(branch_activation)
        self.keep_concat_width = bool(keep_concat_width)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


class ParallelDilatedConv(nn.Module):
    """Sum of 3×3 convolutions at several dilation rates; ELU per branch or after the sum."""

    def __init__(
        self, channels: int, dilations: Sequence[int], use_batchnorm: bool = False, branch_activation: bool = False
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=rate, dilation=rate, bias=not use_batchnorm) for rate in dilations
        )
        self.branch_activation = branch_activation
        self.norm = nn.BatchNorm2d(channels) if use_batchnorm else nn.Identity()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.branch_activation:
            return sum(F.elu(self.norm(branch(hidden))) for branch in self.branches)
        return F.elu(self.norm(sum(branch(hidden) for branch in self.branches)))


class RefinementModule(nn.Module):
    """Merge upsampled decoder features with the encoder bypass of the same scale."""

    def __init__(
        self, bypass_channels: int, decoder_channels: int, use_batchnorm: bool = False, out_channels: int | None = None
    ) -> None:
        super().__init__()
        self.bypass = ConvELU(bypass_channels, bypass_channels, 3, use_batchnorm=use_batchnorm)
        self.out_channels = out_channels or decoder_channels
        self.fuse = ConvELU(bypass_channels + decoder_channels, self.out_channels, 3, use_batchnorm=use_batchnorm)

    def forward(self, decoder: torch.Tensor, bypass: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([decoder, self.bypass(bypass)], dim=1))


class SQNetForSemanticSegmentation(EuroMineSegmentationModel):
    """SQNet: SqueezeNet encoder, parallel dilated convs, refinement decoder; logits at input size."""

    config_class = SQNetConfig

    def __init__(self, config: SQNetConfig) -> None:
        super().__init__(config)
        bn = config.use_batchnorm
        self.encoder = SqueezeNetEncoder(
            config.num_channels, config.stem_channels, config.fire_squeeze, config.fire_expand, bn, config.pool_kernel
        )
        widths = self.encoder.channels  # the bypass widths, shallowest first, then the deepest map
        in_channels = widths[-1]
        self.context = ParallelDilatedConv(in_channels, config.dilations, bn, config.branch_activation)
        # One transposed conv + refinement per bypass, deepest bypass first.
        self.upsamplers = nn.ModuleList()
        self.refinements = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.upsamplers.append(
                nn.Sequential(nn.ConvTranspose2d(in_channels, width, 3, stride=2, padding=1), nn.ELU(inplace=True))
            )
            out = 2 * width if config.keep_concat_width else width
            self.refinements.append(RefinementModule(width, width, bn, out_channels=out))
            in_channels = out
        self.classifier = nn.ConvTranspose2d(in_channels, config.num_labels, 3, stride=2, padding=1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def encode(self, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(bypass maps, shallowest first; output of the parallel dilated convolutions)."""
        *bypasses, deepest = self.encoder(pixel_values)
        return bypasses, self.context(deepest)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        bypasses, hidden = self.encode(pixel_values)
        for upsample, refine, bypass in zip(self.upsamplers, self.refinements, reversed(bypasses)):
            deconv, act = upsample
            hidden = act(deconv(hidden, output_size=list(bypass.shape[-2:])))
            hidden = refine(hidden, bypass)
        return self.classifier(hidden, output_size=list(pixel_values.shape[-2:]))


register_model(
    "sqnet",
    "SQNet",
    SQNetConfig,
    SQNetForSemanticSegmentation,
    task="segmentation",
    paper={},
    tiny={
        "stem_channels": 8,
        "fire_squeeze": [[2], [4], [8]],
        "fire_expand": [[4], [8], [16]],
    },
    presets={
        "original": {
            "stem_channels": 64,
            "fire_squeeze": [[16, 16], [32, 32], [48, 48, 64, 64]],
            "fire_expand": [[64, 64], [128, 128], [192, 192, 256, 256]],
            "dilations": [1, 2, 4, 8],
            "pool_kernel": 3,
            "branch_activation": False,
            "keep_concat_width": False,
        }
    },
)

__all__ = ["FireModule", "SQNetConfig", "SQNetForSemanticSegmentation"]
