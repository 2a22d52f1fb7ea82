"""ResUnet for change detection (Yuan et al. 2021, as listed in the EuroMineNet paper's Table 5): a
Siamese residual U-Net as the benchmark's change-detection framework implements it.

The building block is the pre-activation residual unit of Zhang, Liu & Wang's Deep Residual U-Net
("Road Extraction by Deep Residual U-Net", IEEE GRSL 2018): BN → ReLU → 3×3 convolution (stride
2 where the unit downsamples) → BN → ReLU → 3×3 convolution, plus a projection shortcut (3×3
convolution with the same stride → BN). Residual units ease the optimisation of the deep encoder,
and the U-Net skips carry detail to the decoder.

* **Encoder** (shared by both dates, Siamese): an input unit (3×3 conv → BN → ReLU → 3×3 conv,
  plus a 3×3-convolution shortcut) at full resolution with 32 channels, then four downsampling
  residual units to 64, 128, 256 and 512 channels (strides 2-16); the last is the bridge.
* **Fusion**: at each of the four skip scales the decoder receives the absolute difference of the
  dates' encoder maps, |f1 − f2|.
* **Decoder**: four times a 2×2 stride-2 transposed convolution, concatenation with the skip
  difference and a residual unit to the skip's width; a residual unit at 32 channels; the output
  layer is itself a residual unit to the two class logits, trained with cross-entropy.

Choices, and why:

* ``bridge_fusion``: in the framework's code the decoder starts from date 1's bridge alone — date
  2's bridge is computed and discarded, so the deepest change evidence reaches the decoder only
  through the stride-8 skip difference. The ``paper`` preset keeps that (``"t1"``; date 2's unused
  bridge is not run, which changes nothing but the cost); ``"difference"`` starts from the
  difference of both bridges, symmetric like the skips. Both have the same parameters.
* In training both dates pass the encoder one after the other (per-date BatchNorm statistics),
  as the framework does (``fusion.run_per_date``).
* Which paper the framework's "ResUnet (Yuan et al. 2021)" follows beyond this module could not be
  checked here; the module, its 12.59 × 2^20 parameters and its loss are the framework's.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from euromine_hf.models.change_detection.fusion import run_per_date
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.layers import as_int_list
from euromine_hf.models.modeling import EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model

BRIDGE_FUSIONS = ("t1", "difference")


class ResUnetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`ResUnetForChangeDetection`.

    Args:
        widths: channels of the input unit, the three downsampling units and the bridge
            (32, 64, 128, 256, 512); the decoder mirrors them.
        bridge_fusion: what the decoder starts from: date 1's bridge (``"t1"``, the framework) or
            |bridge1 − bridge2| (``"difference"``).
    """

    model_type = "euromine-resunet"

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        bridge_fusion: str = "t1",
        **kwargs: Any,
    ) -> None:
        self.widths = as_int_list(widths, "widths")
        if len(self.widths) < 2:
            raise ValueError(f"ResUnetConfig.widths needs at least 2 levels; got {widths!r}")
        if bridge_fusion not in BRIDGE_FUSIONS:
            raise ValueError(f"ResUnetConfig.bridge_fusion must be one of {BRIDGE_FUSIONS}; got {bridge_fusion!r}")
        self.bridge_fusion = bridge_fusion
        super().__init__(**kwargs)


class ResidualUnit(nn.Module):
    """Pre-activation residual unit: [BN, ReLU, 3×3 conv (stride), BN, ReLU, 3×3 conv] + [3×3 conv (stride), BN]."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.residual(features) + self.shortcut(features)


class InputUnit(nn.Module):
    """The first unit (no pre-activation on raw pixels): [3×3 conv, BN, ReLU, 3×3 conv] + 3×3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.residual(pixel_values) + self.shortcut(pixel_values)


class ResUnetForChangeDetection(EuroMineChangeDetectionModel):
    """Siamese residual U-Net: |f1 − f2| skips, decoder from the bridge, residual output unit."""

    _no_split_modules = ("ResidualUnit",)

    config_class = ResUnetConfig
    config: ResUnetConfig

    def __init__(self, config: ResUnetConfig) -> None:
        super().__init__(config)
        widths = config.widths
        self.input_unit = InputUnit(config.num_channels, widths[0])
        # widths[1:-1] are the downsampling units whose outputs are skips; the last one is the bridge.
        self.down_units = nn.ModuleList(
            ResidualUnit(widths[i], widths[i + 1], stride=2) for i in range(len(widths) - 1)
        )
        self.upsamples = nn.ModuleList()
        self.up_units = nn.ModuleList()
        for index in reversed(range(len(widths) - 1)):  # from the bridge's width down to widths[0]
            self.upsamples.append(nn.ConvTranspose2d(widths[index + 1], widths[index + 1], 2, stride=2))
            self.up_units.append(ResidualUnit(widths[index + 1] + widths[index], widths[index]))
        self.refine = ResidualUnit(widths[0], widths[0])
        self.output_unit = ResidualUnit(widths[0], config.num_labels)
        self.post_init()

    def encode(self, pixel_values: torch.Tensor, with_bridge: bool = True) -> list[torch.Tensor]:
        """Skip maps (strides 1, 2, 4, …) and, unless ``with_bridge`` is False, the bridge (deepest map)."""
        features = [self.input_unit(pixel_values)]
        units = self.down_units if with_bridge else self.down_units[:-1]
        for unit in units:
            features.append(unit(features[-1]))
        return features

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        batch = pixel_values_t1.shape[0]
        features = run_per_date(
            lambda pixels: self.encode(pixels, with_bridge=False), pixel_values_t1, pixel_values_t2, self.training
        )
        skips = [(f[:batch] - f[batch:]).abs() for f in features]
        if self.config.bridge_fusion == "t1":  # date 2's bridge is never used: do not run it
            hidden = self.down_units[-1](features[-1][:batch])
        else:
            bridge = run_per_date(self.down_units[-1], features[-1][:batch], features[-1][batch:], self.training)
            hidden = (bridge[:batch] - bridge[batch:]).abs()
        for upsample, unit, skip in zip(self.upsamples, self.up_units, reversed(skips)):
            hidden = upsample(hidden)
            # Sizes not divisible by 16: the stride-2 convolutions rounded up, so crop to the skip.
            hidden = hidden[..., : skip.shape[-2], : skip.shape[-1]]
            hidden = unit(torch.cat([hidden, skip], dim=1))
        return self.output_unit(self.refine(hidden))


register_model(
    "resunet",
    "ResUnet",
    ResUnetConfig,
    ResUnetForChangeDetection,
    task="change_detection",
    paper={"widths": [32, 64, 128, 256, 512], "bridge_fusion": "t1"},
    tiny={"widths": [8, 8, 8, 16, 16], "bridge_fusion": "t1"},
    published_params=12.59,
)
