"""A2Net (Li, Tang, Liu, Zhou & Zhang, "Lightweight Remote Sensing Change Detection With
Progressive Feature Aggregation and Supervised Attention", IEEE TGRS 2023).

Why it works: a lightweight backbone loses detail, so each level first borrows from its two
neighbours (NAM), the change is then identified from the feature difference with a progressively
growing receptive field (PCIM), and a decoder whose attention is *supervised* by intermediate
change masks (SAM) recovers it coarse-to-fine.

Architecture (widths from the authors' code):

* Siamese MobileNetV2 (transformers ``MobileNetV2Model`` via the shared encoder); the maps at
  strides 4, 8, 16, 32 (24, 32, 96, 320 channels) are used.
* Neighbour aggregation module (NAM), per date with shared weights: level *i* gathers the finer
  level (2×2 max-pool), itself and the coarser level (bilinear ×2), each 3×3 conv–BN–ReLU to 32
  channels; concatenated, they pass conv–BN–ReLU–conv–BN to 64 channels plus a 1×1 projection of
  the level itself (residual), then ReLU.
* Progressive change identifying module (PCIM) per level on d = |a − b|: a chain of 3×3
  conv–BN with dilations 7, 5, 3, 1, each step fed ReLU(1×1 conv(d) + previous step); the output
  is ReLU(1×1 conv(d) + last step) (64 channels).
* Decoder with supervised attention modules (SAM) from stride 32 to 8: a 1×1 conv predicts a
  change mask m; features × (1×1 conv–BN–ReLU of [σ(m), 1 − σ(m)]) → 3×3 conv–BN–ReLU; each
  result is upsampled, added to the next finer PCIM output and passes a 3×3 conv–BN–ReLU; a 1×1
  conv at stride 4 gives the final mask.
* Deep supervision (``auxiliary_losses=True``, the authors' trainer): the three masks other than
  the prediction are ``Auxiliary`` terms of weight ``side_loss_weight`` (1.0: the code sums the
  four terms unweighted). All are single score maps returned as ``binary_logits`` (cross-entropy
  on them *is* BCE, the benchmark's loss); the authors' code adds Dice to each term, which
  ``loss="ce+dice"`` reproduces.

Framework quirks kept (EricYu97/UCD 6972640), the defaults and the ``paper`` preset:

* ``main_output="p5"``: the framework's ``BaseNet`` returns the stride-32 mask of the first SAM
  (``mask_p5``, upsampled ×32) as ``main_predictions`` (``models/A2Net/model.py:309``) and trains
  and scores only it, so the finer decoder (SAMs at strides 16 and 8, the stride-4 classifier)
  receives no gradient and does not shape the prediction. ``main_output="p2"`` predicts from the
  stride-4 mask, as the paper and the authors' code do.
* ``auxiliary_losses=False``: no deep supervision (the framework's auxiliary losses are commented
  out); ``True`` restores the authors' four-term loss.
* What ``"p5"`` can draw (issue 15's learning check, ``bench/learning.py --models a2net``): the
  prediction is a stride-32 map upsampled bilinearly, so at 64 px (a 2×2 map) no logits draw the
  check's centred 32-px square (IoU 0 at best, and measured). At 128 px the square covers the
  middle 2×2 cells of a 4×4 map: the paper preset fits at step 30, the tiny preset at width 16
  at step 80 (width 8 stalls at IoU 0.39: the square's cells reach the classifier with every
  feature zero after the last ReLU, so only its bias moves), both with the dates' statistics
  balanced (per-date BatchNorm, ``fusion.run_per_date``; 0.907 train / 0.744 eval otherwise).
  ``tests/test_model_learning.py`` checks ``"p5"`` there and ``"p2"`` on the 64-px batch. Kept, as
  the framework's; benchmark numbers from it are stride-32 masks.

Choices where the sources differ or are silent:

* Parameter count: 3.37 M (3.21 in 2^20) with 3 bands vs 3.60 published. The authors' backbone
  also builds MobileNetV2's final 1×1 conv to 1280 channels (0.41 M) that A2Net never reads; the
  shared encoder drops it (−10.8 %, inside the 15 % bar).
* MobileNetV2 uses PyTorch ("torchvision") padding rather than TensorFlow SAME padding, as the
  authors' backbone does (``backbone_config={"tf_padding": True}`` switches it).
* Convolutions followed by BatchNorm carry no bias (the code's do; they are redundant).

Bands: the framework's copy ignores ``input_nc`` (``BaseNet(input_nc=...)`` never reads it:
``mobilenet_v2`` is built for 3 bands), so its 10-band version is not public. Ours builds every
first layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto them through
``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn
from transformers import MobileNetV2Config

from euromine_hf.models.change_detection.fusion import SiameseEncoder, run_per_date
from euromine_hf.models.configuration import (
    BACKBONE_OVERRIDES_REMOVED,
    EuroMineChangeDetectionConfig,
    IGNORE_INDEX,
    nested_backbone_config,
)
from euromine_hf.models.encoders.mobilenetv2 import MobileNetV2Encoder
from euromine_hf.models.layers import ConvBNReLU, as_int_list, init_classifier
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel, binary_logits, resize_logits
from euromine_hf.models.registry import register_model


#: ``MobileNetV2Config`` fields of A2Net's backbone: MobileNetV2-1.0 with PyTorch padding, as the
#: authors' torchvision backbone.
A2NET_BACKBONE: dict[str, Any] = {"depth_multiplier": 1.0, "tf_padding": False}


class A2NetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`A2NetForChangeDetection`.

    Args:
        num_channels: input bands per date (10 for EuroMineNet, 3 for RGB).
        band_names: one name per input channel (defaults to the published Sentinel-2 order).
        ignore_index: label value excluded from the loss.
        loss: ``"ce"`` (= BCE on the single score map), ``"ce+dice"`` (the authors' BCE + Dice) or ``"dice"``.
        backbone_config: the backbone's transformers ``MobileNetV2Config``, or a dict of its fields
            changed from A2Net's (MobileNetV2-1.0, ``tf_padding=False``; the tiny preset shrinks
            ``depth_multiplier`` / ``expand_ratio``). ``num_channels`` follows the model and
            ``output_stride`` is 32 (A2Net reads the undilated maps at strides 4–32).
        channels: width of the NAM, PCIM and decoder features (64; the NAM branches use half).
        dilations: dilations of the PCIM chain, largest first (7, 5, 3, 1).
        side_loss_weight: weight of each deep-supervised side mask.
        main_output: which mask is the prediction: ``"p5"`` (the framework: the stride-32 mask of
            the first SAM, ``models/A2Net/model.py:309``) or ``"p2"`` (the paper: the stride-4 mask).
        auxiliary_losses: add the other three masks as deep-supervision terms to the training loss (False: the
            benchmark's framework trains and scores the main prediction only, ``model.py:209-215`` of
            EricYu97/UCD 6972640; True: the original paper's / authors' loss).
    """

    MAIN_OUTPUTS = ("p5", "p2")

    model_type = "euromine-a2net"
    backbone_config_keys = ("backbone_config",)
    removed_fields = BACKBONE_OVERRIDES_REMOVED

    def __init__(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        loss: str = "ce",
        backbone_config: MobileNetV2Config | Mapping[str, Any] | None = None,
        channels: int = 64,
        dilations: Sequence[int] = (7, 5, 3, 1),
        side_loss_weight: float = 1.0,
        main_output: str = "p5",
        auxiliary_losses: bool = False,
        **kwargs: Any,
    ) -> None:
        self.backbone_config = nested_backbone_config(
            backbone_config, MobileNetV2Config, A2NET_BACKBONE,
            field="A2NetConfig.backbone_config", num_channels=int(num_channels), fixed={"output_stride": 32},
        )
        self.channels = as_int_list([channels], "channels")[0]
        if self.channels < 2 or self.channels % 2:
            raise ValueError(f"A2NetConfig.channels must be even (NAM branches use half); got {channels}")
        self.dilations = as_int_list(dilations, "dilations")
        self.side_loss_weight = float(side_loss_weight)
        if main_output not in self.MAIN_OUTPUTS:
            raise ValueError(f"A2NetConfig.main_output must be one of {self.MAIN_OUTPUTS}; got {main_output!r}")
        self.main_output = main_output
        self.auxiliary_losses = bool(auxiliary_losses)
        super().__init__(num_channels=num_channels, band_names=band_names, ignore_index=ignore_index, loss=loss, **kwargs)


class ResidualFusion(nn.Module):
    """ReLU(conv–BN–ReLU–conv–BN(fused) + 1×1 conv(identity)): a NAM level's output."""

    def __init__(self, fused_channels: int, identity_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            ConvBNReLU(fused_channels, out_channels, 3),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.identity = nn.Conv2d(identity_channels, out_channels, 1)

    def forward(self, fused: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fuse(fused) + self.identity(identity))


class NeighbourAggregation(nn.Module):
    """NAM: each level fused with its finer (max-pooled) and coarser (upsampled) neighbours."""

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        branch = out_channels // 2
        last = len(in_channels) - 1
        self.finer = nn.ModuleList(
            # ceil_mode: the backbone's stride-2 convolutions round odd sizes up, so must the pooling
            nn.Sequential(nn.MaxPool2d(2, 2, ceil_mode=True), ConvBNReLU(in_channels[i - 1], branch, 3))
            if i > 0
            else nn.Identity()
            for i in range(len(in_channels))
        )
        self.same = nn.ModuleList(ConvBNReLU(c, branch, 3) for c in in_channels)
        self.coarser = nn.ModuleList(
            ConvBNReLU(in_channels[i + 1], branch, 3) if i < last else nn.Identity() for i in range(len(in_channels))
        )
        self.fusions = nn.ModuleList(
            ResidualFusion(branch * (1 + (i > 0) + (i < last)), c, out_channels) for i, c in enumerate(in_channels)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        outputs, last = [], len(features) - 1
        for i, level in enumerate(features):
            parts = []
            if i > 0:
                parts.append(self.finer[i](features[i - 1]))
            parts.append(self.same[i](level))
            if i < last:
                parts.append(resize_logits(self.coarser[i](features[i + 1]), level.shape[-2:]))
            outputs.append(self.fusions[i](torch.cat(parts, dim=1), level))
        return outputs


class ProgressiveChangeIdentification(nn.Module):
    """PCIM on one level: dilated 3×3 conv–BN chain over |a − b| with 1×1 shortcuts of the difference."""

    def __init__(self, channels: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False), nn.BatchNorm2d(channels))
            for d in dilations
        )
        # one shortcut before every step but the first, and one after the last
        self.shortcuts = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in dilations)

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        difference = (features_t1 - features_t2).abs()
        hidden = self.steps[0](difference)
        for step, shortcut in zip(self.steps[1:], self.shortcuts[:-1]):
            hidden = step(torch.relu(shortcut(difference) + hidden))
        return torch.relu(self.shortcuts[-1](difference) + hidden)


class SupervisedAttention(nn.Module):
    """SAM: a 1×1 conv predicts a change mask; [σ(m), 1 − σ(m)] → 1×1 conv–BN–ReLU gates the features."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(channels, 1, 1)
        self.context = ConvBNReLU(2, channels, 1)
        self.refine = ConvBNReLU(channels, channels, 3)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.classifier(hidden)
        probability = torch.sigmoid(mask)
        gate = self.context(torch.cat([probability, 1 - probability], dim=1))
        return self.refine(hidden * gate), mask


class A2NetForChangeDetection(EuroMineChangeDetectionModel):
    """A2Net: Siamese MobileNetV2, NAM, PCIM and a SAM decoder with four supervised masks."""

    config_class = A2NetConfig

    def __init__(self, config: A2NetConfig) -> None:
        super().__init__(config)
        self.backbone = SiameseEncoder(MobileNetV2Encoder(config.backbone_config))
        in_channels = self.backbone.channels[1:]  # strides 4, 8, 16, 32
        width = config.channels
        self.aggregation = NeighbourAggregation(in_channels, width)
        self.change = nn.ModuleList(ProgressiveChangeIdentification(width, config.dilations) for _ in in_channels)
        levels = len(in_channels)
        self.attention = nn.ModuleList(SupervisedAttention(width) for _ in range(levels - 1))  # coarse → fine
        self.merge = nn.ModuleList(ConvBNReLU(width, width, 3) for _ in range(levels - 1))  # coarse → fine
        self.classifier = nn.Conv2d(width, 1, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        classifiers = [getattr(self, "classifier", None)]
        classifiers += [sam.classifier for sam in getattr(self, "attention", [])]
        if any(module is classifier for classifier in classifiers):
            init_classifier(module)

    def _masks(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> list[torch.Tensor]:
        """Change scores (B,1,h,w), finest (stride 4, the prediction) first, then strides 8, 16, 32."""
        batch = pixel_values_t1.shape[0]
        # The shared backbone and the NAM per date (per-date BatchNorm statistics in training);
        # the maps come back stacked (2B) until the PCIM compares the dates.
        def backbone_and_aggregation(pixel_values: torch.Tensor) -> list[torch.Tensor]:
            return self.aggregation(self.backbone.encoder(pixel_values)[1:])

        aggregated = run_per_date(backbone_and_aggregation, pixel_values_t1, pixel_values_t2, self.training)
        changes = [module(level[:batch], level[batch:]) for module, level in zip(self.change, aggregated)]
        masks, hidden = [], changes[-1]
        for attention, merge, finer in zip(self.attention, self.merge, reversed(changes[:-1])):
            hidden, mask = attention(hidden)
            masks.append(mask)
            hidden = merge(finer + resize_logits(hidden, finer.shape[-2:]))
        masks.append(self.classifier(hidden))
        return masks[::-1]

    def _main_index(self) -> int:
        """Index of the prediction in :meth:`_masks`' list (finest first): p2 → 0, p5 → 3."""
        return 0 if self.config.main_output == "p2" else len(self.change) - 1

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        return binary_logits(self._masks(pixel_values_t1, pixel_values_t2)[self._main_index()])

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: main prediction only
            return self.detect(pixel_values_t1, pixel_values_t2), []
        masks = self._masks(pixel_values_t1, pixel_values_t2)
        main = masks.pop(self._main_index())
        return binary_logits(main), [Auxiliary(self.config.side_loss_weight, binary_logits(m)) for m in masks]


register_model(
    "a2net",
    "A2Net",
    A2NetConfig,
    A2NetForChangeDetection,
    task="change_detection",
    paper={"main_output": "p5", "auxiliary_losses": False},
    tiny={
        "backbone_config": {"depth_multiplier": 0.1, "expand_ratio": 2.0, "min_depth": 4, "depth_divisible_by": 4},
        "channels": 8,
    },
    published_params=3.60,
)

__all__ = [
    "A2NET_BACKBONE",
    "A2NetConfig",
    "A2NetForChangeDetection",
    "NeighbourAggregation",
    "ProgressiveChangeIdentification",
    "SupervisedAttention",
]
