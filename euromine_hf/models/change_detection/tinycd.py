"""TinyCD (Codegoni, Lombardi & Ferrari, "TINYCD: a (not so) deep learning model for change
detection", Neural Computing and Applications 2023).

A light Siamese change detector: the early blocks of EfficientNet-B4 (stem and the first three
MBConv stages: 24/32/56 channels at strides 2/4/8) run on both dates with shared weights. At each
scale the two dates meet in a **Mix and Attention Mask Block** (MAMB): the channels of the two
dates are interleaved (x₁, y₁, x₂, y₂, …) and a grouped 3×3 convolution with one group per channel
pair mixes each pair into one channel ("MixingBlock", PReLU, InstanceNorm); a pixel-wise MLP
(1×1 convolutions, PReLU) reduces the mixed map to a one-channel spatial attention mask. The raw
images get the same treatment (the full-resolution mask). The deepest scale is only mixed (56
channels), then decoded by **UpMask** blocks — bilinear ×2 upsampling, multiplication by the mask
of that scale, depthwise 3×3 and pointwise convolutions with PReLU/InstanceNorm — up to full
resolution, where a pixel-wise MLP (32→16→8→1) gives one change score per pixel.

The paper trains that single sigmoid output with binary cross-entropy; here the score ``z`` is
returned as ``binary_logits(z)`` = ``[0, z]``, for which the base's cross-entropy *is* that BCE and
``softmax(·)[1]`` the paper's sigmoid output.

Differences from the reference code, and why:

* The backbone is built from transformers' EfficientNet blocks (``encoders.efficientnet``), not
  torchvision's; same widths, depths, kernels, squeeze-excitation and parameters (0.27 × 2^20 in
  all, as published). ``backbone_layout="torchvision"`` (default, ``paper``) gives it the layout
  of the torchvision ``efficientnet_b4`` the reference (and the benchmark's framework) loads, whose
  ImageNet weights assume it: symmetric padding, per-sample stochastic depth with the rates the
  full B4 assigns to these blocks, BatchNorm momentum 0.1 / eps 1e-5 (the nested
  ``backbone_config``'s defaults). ``backbone_layout="tf"`` keeps transformers' TensorFlow port:
  asymmetric "SAME" padding, element-wise drop-connect, momentum 0.01 / eps 1e-3 (for TF-ported
  ``google/efficientnet-b4`` weights). The blocks come from transformers' ``EfficientNetBlock``;
  the torchvision layout swaps their parameter-free padding and dropout modules (what we did
  instead of subclassing ``EfficientNetModel``, which builds all seven stages).
* Both dates pass the backbone through ``SiameseEncoder``: one after the other in training
  (per-date BatchNorm statistics), as the reference does.
* The first MAMB's hidden widths (10, 5) are the paper's; with ``num_channels`` bands its mixing
  convolution has ``num_channels`` groups (3 in the paper's RGB setting). From an RGB TinyCD
  checkpoint, B04/B03/B02 take the red/green/blue groups' filters and every other band their mean
  (``band_indexed_parameters``); the pixel-wise MLP after it is adapted like any first layer.

Bands: the framework's copy ignores ``input_nc`` (``ChangeClassifier()`` takes no band count:
EfficientNet-B4 and the first MAMB are built for 3 bands), so its 10-band version is not public.
Ours builds every first layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto
them through ``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import EfficientNetConfig

from euromine_hf.models.change_detection.fusion import SiameseEncoder
from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineChangeDetectionConfig,
    nested_backbone_config,
)
from euromine_hf.models.encoders.efficientnet import (
    EFFICIENTNET_LAYOUTS,
    EFFICIENTNET_VARIANTS,
    TORCHVISION_BATCH_NORM,
    EfficientNetEncoder,
    efficientnet_variant_fields,
)
from euromine_hf.models.modeling import EuroMineChangeDetectionModel, binary_logits
from euromine_hf.models.registry import register_model


class TinyCDConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`TinyCDForChangeDetection`.

    Args:
        backbone: EfficientNet variant whose early blocks form the encoder (``"b4"`` in the paper).
        backbone_config: the encoder's transformers ``EfficientNetConfig``, or a dict of its fields
            changed from the variant's (B4: ``width_coefficient`` 1.4, ``depth_coefficient`` 1.8,
            drop-connect 0.2 spread over the full network, BatchNorm momentum 0.1 / eps 1e-5 in the
            torchvision layout, 0.01 / 1e-3 in the TF one; the tiny preset shrinks the two
            coefficients). ``num_channels`` follows the model.
        backbone_layout: ``"torchvision"`` (the reference's backbone) or ``"tf"`` (transformers'
            TensorFlow port); see the module docstring.
        backbone_stages: MBConv stages built and read (3 in the paper: torchvision ``features[1:4]``).
        decoder_channels: output widths of the UpMask blocks, deepest first (64, 64, 32); one per
            backbone stage.
        first_mix_hidden: hidden widths of the pixel-wise MLP of the full-resolution MAMB (10, 5).
        loss: ``"ce"`` (= the paper's BCE on the single sigmoid output), ``"ce+dice"`` or ``"dice"``.
    """

    model_type = "euromine-tinycd"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        backbone: str = "b4",
        backbone_config: EfficientNetConfig | Mapping[str, Any] | None = None,
        backbone_stages: int = 3,
        backbone_layout: str = "torchvision",
        decoder_channels: Sequence[int] = (64, 64, 32),
        first_mix_hidden: Sequence[int] = (10, 5),
        num_channels: int = 10,
        **kwargs: Any,
    ) -> None:
        if backbone not in EFFICIENTNET_VARIANTS:
            raise ValueError(f"TinyCDConfig.backbone must be one of {sorted(EFFICIENTNET_VARIANTS)}; got {backbone!r}")
        if backbone_layout not in EFFICIENTNET_LAYOUTS:
            raise ValueError(
                f"TinyCDConfig.backbone_layout must be one of {EFFICIENTNET_LAYOUTS}; got {backbone_layout!r}"
            )
        self.backbone = backbone
        self.backbone_layout = backbone_layout
        defaults = efficientnet_variant_fields(backbone)
        if backbone_layout == "torchvision":
            defaults.update(TORCHVISION_BATCH_NORM)
        self.backbone_config = nested_backbone_config(
            backbone_config, EfficientNetConfig, defaults,
            field="TinyCDConfig.backbone_config", num_channels=int(num_channels),
        )
        self.backbone_stages = int(backbone_stages)
        available = len(self.backbone_config.in_channels)
        if not 1 <= self.backbone_stages <= available:
            raise ValueError(
                f"TinyCDConfig.backbone_stages must be in 1..{available} (the stages of backbone_config); "
                f"got {backbone_stages}"
            )
        self.decoder_channels = [int(c) for c in decoder_channels]
        self.first_mix_hidden = [int(c) for c in first_mix_hidden]
        if len(self.decoder_channels) != self.backbone_stages:
            raise ValueError(
                f"TinyCDConfig.decoder_channels needs one width per backbone stage ({self.backbone_stages}); "
                f"got {self.decoder_channels}"
            )
        if min(self.decoder_channels + self.first_mix_hidden) < 1:
            raise ValueError("TinyCDConfig: decoder_channels and first_mix_hidden must be positive")
        super().__init__(num_channels=num_channels, **kwargs)


def pixelwise_mlp(widths: Sequence[int]) -> nn.Sequential:
    """1×1 convolutions ``widths[0] → … → widths[-1]`` with PReLU between (none after the last)."""
    layers: list[nn.Module] = []
    for index, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Conv2d(c_in, c_out, kernel_size=1))
        if index < len(widths) - 2:
            layers.append(nn.PReLU())
    return nn.Sequential(*layers)


class MixingBlock(nn.Module):
    """Interleave the channels of both dates and mix each (date-1, date-2) pair with a grouped 3×3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = nn.Sequential(
            nn.Conv2d(2 * channels, channels, kernel_size=3, padding=1, groups=channels),
            nn.PReLU(),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        interleaved = torch.stack([features_t1, features_t2], dim=2).flatten(1, 2)
        return self.mix(interleaved)


class MixAttentionMaskBlock(nn.Module):
    """MAMB: mix the two dates, then a pixel-wise MLP down to a one-channel spatial attention mask."""

    def __init__(self, channels: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.mixing = MixingBlock(channels)
        self.mask = pixelwise_mlp([channels, *hidden, 1])
        self.mask.append(nn.PReLU())  # the paper's MLP has PReLU after every layer, the last included

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        return self.mask(self.mixing(features_t1, features_t2))


class UpMask(nn.Module):
    """Upsample ×2 (bilinear), multiply by the attention mask of that scale, depthwise + pointwise convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convolution = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, groups=in_channels),
            nn.PReLU(),
            nn.InstanceNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, kernel_size=1),
            nn.PReLU(),
            nn.InstanceNorm2d(out_channels),
        )

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        features = F.interpolate(features, size=mask.shape[-2:], mode="bilinear", align_corners=True)
        return self.convolution(features * mask)


class TinyCDForChangeDetection(EuroMineChangeDetectionModel):
    """TinyCD: EfficientNet-B4 early blocks (Siamese), MAMB fusion per scale, UpMask decoder, PW-MLP classifier."""

    config_class = TinyCDConfig
    config: TinyCDConfig
    # the full-resolution MAMB mixes each band's two dates in its own group: one filter per band
    band_indexed_parameters = ("first_mix.mixing.mix.0.weight", "first_mix.mixing.mix.0.bias")

    def __init__(self, config: TinyCDConfig) -> None:
        super().__init__(config)
        encoder = EfficientNetEncoder(
            config.backbone_config, num_stages=config.backbone_stages, layout=config.backbone_layout
        )
        self.siamese = SiameseEncoder(encoder)
        channels = encoder.channels
        self.first_mix = MixAttentionMaskBlock(config.num_channels, config.first_mix_hidden)
        # Attention masks at every stage but the deepest; the deepest is mixed only (the decoder's input).
        self.masks = nn.ModuleList(
            MixAttentionMaskBlock(c, [max(c // 2, 1), max(c // 4, 1)]) for c in channels[:-1]
        )
        self.deepest_mix = MixingBlock(channels[-1])
        widths = [channels[-1], *config.decoder_channels]
        self.up = nn.ModuleList(UpMask(c_in, c_out) for c_in, c_out in zip(widths[:-1], widths[1:]))
        last = config.decoder_channels[-1]
        self.classifier = pixelwise_mlp([last, max(last // 2, 1), max(last // 4, 1), 1])
        self.post_init()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        masks = [self.first_mix(pixel_values_t1, pixel_values_t2)]
        features_t1, features_t2 = self.siamese(pixel_values_t1, pixel_values_t2)
        for block, f1, f2 in zip(self.masks, features_t1[:-1], features_t2[:-1]):
            masks.append(block(f1, f2))
        hidden = self.deepest_mix(features_t1[-1], features_t2[-1])
        for up, mask in zip(self.up, reversed(masks)):
            hidden = up(hidden, mask)
        return binary_logits(self.classifier(hidden))


register_model(
    "tinycd",
    "Tiny_CD",
    TinyCDConfig,
    TinyCDForChangeDetection,
    task="change_detection",
    paper={"backbone": "b4", "backbone_stages": 3, "backbone_layout": "torchvision", "decoder_channels": [64, 64, 32]},
    tiny={
        "backbone": "b4",
        "backbone_stages": 3,
        "backbone_config": {"width_coefficient": 0.25, "depth_coefficient": 0.5},
        "decoder_channels": [16, 16, 8],
    },
    published_params=0.27,
)
