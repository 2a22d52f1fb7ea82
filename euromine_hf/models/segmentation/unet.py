"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

A contracting path of double 3×3 convolutions and 2×2 max-pooling that doubles the width at each
step (the shared :class:`~euromine_hf.models.encoders.unet.UNetEncoder`, its last stage being the
bottleneck), and an expanding path that doubles the resolution, concatenates the matching encoder
map (the "skip") and applies another double 3×3 convolution; a 1×1 convolution classifies. Two
changes from the 2015 paper, as every modern re-implementation makes them: "same" padding (output =
input size, so no cropping of the skips) and BatchNorm after each convolution.

Which source fixed which choice:
* ``paper`` preset (17.27 M parameters at 10 bands, 2 classes): what the EuroMineNet benchmark's
  training code ran — the widely used PyTorch U-Net with bilinear upsampling, whose bottleneck and
  decoder stages are halved (bottleneck 512, not 1024 channels; each decoder double conv maps the
  concatenation C → C/4 through a C/2 middle layer, the last one to 64).
* ``original`` preset (31.04 M): the 2015 paper's widths with 2×2 transposed-convolution
  upsampling (64 … 1024 channels).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.configuration import IGNORE_INDEX, EuroMineConfig
from euromine_hf.models.modeling import EuroMineSegmentationModel
from euromine_hf.models.encoders.unet import DoubleConv, UNetEncoder
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.registry import register_model


UPSAMPLING = ("bilinear", "transposed")


class UNetConfig(EuroMineConfig):
    """Configuration of :class:`UNetForSemanticSegmentation`.

    Args:
        num_channels: input bands (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        base_width: channels of the first encoder stage (64 in the paper); stage ``i`` has
            ``base_width * 2**i``.
        depth: number of down (and up) steps (4 in the paper, giving a 1024-channel bottleneck).
        use_batchnorm: BatchNorm after each 3×3 convolution (the convolutions then have no bias).
        upsampling: ``"transposed"`` (2×2 transposed convolution halving the width, the 2015 paper)
            or ``"bilinear"`` (×2 bilinear resize and halved bottleneck/decoder widths, the
            benchmark's U-Net).
    """

    model_type = "euromine-unet"

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        base_width: int = 64,
        depth: int = 4,
        use_batchnorm: bool = True,
        upsampling: str = "bilinear",
        **kwargs: Any,
    ) -> None:
        if int(base_width) < 1 or int(depth) < 1:
            raise ValueError(f"UNetConfig: base_width and depth must be >= 1; got {base_width}, {depth}")
        self.base_width = int(base_width)
        self.depth = int(depth)
        self.use_batchnorm = bool(use_batchnorm)
        if upsampling not in UPSAMPLING:
            raise ValueError(f"UNetConfig.upsampling must be one of {UPSAMPLING}; got {upsampling!r}")
        self.upsampling = upsampling
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, **kwargs)


def _match(hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Odd input sizes: max-pooling floored, so the upsampled map can be one pixel short of the skip."""
    pad_h, pad_w = skip.shape[-2] - hidden.shape[-2], skip.shape[-1] - hidden.shape[-1]
    if pad_h or pad_w:
        hidden = F.pad(hidden, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
    return hidden


class UpStage(nn.Module):
    """2×2 transposed conv (halves channels, doubles size) → concat skip → double conv (2015 paper)."""

    def __init__(self, in_channels: int, out_channels: int, use_batchnorm: bool = True) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(out_channels * 2, out_channels, use_batchnorm)

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, _match(self.up(hidden), skip)], dim=1))


class BilinearUpStage(nn.Module):
    """×2 bilinear resize → concat skip → double conv C → C/2 → ``out_channels`` (no upsampling weights)."""

    def __init__(self, in_channels: int, out_channels: int, use_batchnorm: bool = True) -> None:
        super().__init__()
        self.conv = DoubleConv(in_channels, out_channels, use_batchnorm, mid_channels=in_channels // 2)

    def forward(self, hidden: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        hidden = F.interpolate(hidden, scale_factor=2.0, mode="bilinear", align_corners=True)
        return self.conv(torch.cat([skip, _match(hidden, skip)], dim=1))


class UNetForSemanticSegmentation(EuroMineSegmentationModel):
    """U-Net: logits at input resolution."""

    config_class = UNetConfig

    def __init__(self, config: UNetConfig) -> None:
        super().__init__(config)
        widths = [config.base_width * 2**i for i in range(config.depth + 1)]
        bilinear = config.upsampling == "bilinear"
        if bilinear:
            widths[-1] //= 2  # the bottleneck keeps the deepest skip's width
        self.encoder = UNetEncoder(config.num_channels, widths, config.use_batchnorm)
        self.up_stages = nn.ModuleList()
        incoming = widths[-1]
        for index in reversed(range(config.depth)):
            if bilinear:
                out = widths[index] // 2 if index > 0 else widths[0]
                self.up_stages.append(BilinearUpStage(widths[index] + incoming, out, config.use_batchnorm))
            else:
                out = widths[index]
                self.up_stages.append(UpStage(incoming, out, config.use_batchnorm))
            incoming = out
        self.classifier = nn.Conv2d(incoming, config.num_labels, kernel_size=1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:
        *skips, hidden = self.encoder(pixel_values)
        for stage, skip in zip(self.up_stages, reversed(skips)):
            hidden = stage(hidden, skip)
        return self.classifier(hidden)


register_model(
    "unet",
    "UNet",
    UNetConfig,
    UNetForSemanticSegmentation,
    task="segmentation",
    paper={"base_width": 64, "depth": 4, "upsampling": "bilinear"},
    tiny={"base_width": 4, "depth": 3},
    presets={"original": {"base_width": 64, "depth": 4, "upsampling": "transposed"}},
)

__all__ = ["UNetConfig", "UNetForSemanticSegmentation"]
