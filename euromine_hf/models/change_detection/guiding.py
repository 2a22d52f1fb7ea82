"""Change-guiding parts shared by CGNet and HCGMNet (Han et al. 2023; both from one group).

Both detectors (1) run one VGG16-BN on each date and fuse every level from stride 2 to 16 by
concatenating the two dates and reducing back with a 3×3 conv–BN–ReLU, (2) predict a coarse
*change guiding map* (one sigmoid score map, deep-supervised with BCE), and (3) let that map steer
self-attention over the fused features in the :class:`ChangeGuideModule`. They differ in where the
guiding map comes from and how the guided features are decoded, which their own files say.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.change_detection.fusion import SiameseEncoder
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.encoders.vgg import VGG16_DEPTHS, VGG16_WIDTHS, VGGEncoder
from euromine_hf.models.layers import ConvBNReLU, as_int_list
from euromine_hf.models.modeling import Auxiliary, EuroMineChangeDetectionModel, binary_logits


class GuidedDetectorConfig(EuroMineChangeDetectionConfig):
    """Fields CGNet and HCGMNet share (each subclass sets its own ``model_type``).

    Args:
        encoder_widths: channels of the five VGG stages (64, 128, 256, 512, 512).
        encoder_depths: 3×3 convolutions per VGG stage (2, 2, 3, 3, 3).
        attention_reduction: query/key channels = level channels // this (8).
        guide_loss_weight: weight of the guiding map's BCE term (1.0).
        auxiliary_losses: add the guiding map's BCE term to the training loss (False: the
            benchmark's framework trains and scores the main prediction only, ``model.py:209-215`` of
            EricYu97/UCD 6972640; True: the original paper's / authors' loss).
        loss: ``"ce"`` (= BCE on the single score map, the papers'), ``"ce+dice"`` or ``"dice"``.
    """

    def __init__(
        self,
        encoder_widths: Sequence[int] = VGG16_WIDTHS,
        encoder_depths: Sequence[int] = VGG16_DEPTHS,
        attention_reduction: int = 8,
        guide_loss_weight: float = 1.0,
        auxiliary_losses: bool = False,
        **kwargs: Any,
    ) -> None:
        self.encoder_widths = as_int_list(encoder_widths, "encoder_widths")
        self.encoder_depths = as_int_list(encoder_depths, "encoder_depths")
        if len(self.encoder_widths) != 5 or len(self.encoder_depths) != 5:
            raise ValueError(
                f"{type(self).__name__}.encoder_widths and encoder_depths need 5 entries (the VGG16 stages); "
                f"got {self.encoder_widths} and {self.encoder_depths}"
            )
        self.attention_reduction = as_int_list([attention_reduction], "attention_reduction")[0]
        self.guide_loss_weight = float(guide_loss_weight)
        self.auxiliary_losses = bool(auxiliary_losses)
        super().__init__(**kwargs)


class GuidedChangeDetector(EuroMineChangeDetectionModel):
    """Both detectors' outputs: the final score map as two-class logits, and in training (with
    ``auxiliary_losses``, the papers' loss) the guiding map's BCE (weight ``guide_loss_weight``) as
    deep supervision; the framework (default) trains the final map only. Subclasses give :meth:`scores`."""

    config: GuidedDetectorConfig

    def scores(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(final score, guiding-map score), both (B,1,H,W) at input size."""
        raise NotImplementedError

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        return binary_logits(self.scores(pixel_values_t1, pixel_values_t2)[0])

    def detect_with_auxiliary(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[torch.Tensor, list[Auxiliary]]:
        if not self.config.auxiliary_losses:  # the framework: main prediction only
            return self.detect(pixel_values_t1, pixel_values_t2), []
        final, guide = self.scores(pixel_values_t1, pixel_values_t2)
        return binary_logits(final), [Auxiliary(self.config.guide_loss_weight, binary_logits(guide))]


def upsample_to(hidden: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``reference``'s spatial size, corners aligned (as both papers' code does)."""
    if hidden.shape[-2:] == reference.shape[-2:]:
        return hidden
    return F.interpolate(hidden, size=reference.shape[-2:], mode="bilinear", align_corners=True)


class ChangeGuideModule(nn.Module):
    """Change-guided self-attention (CGNet §II-C, HCGMNet's CGM).

    Position self-attention (query/key 1×1 convs to ``channels // reduction``, value 1×1 conv to
    ``channels``) in which query, key and value are each scaled by ``1 + sigmoid(guide)``: pixels
    the guiding map marks as changed weigh more in the affinities and in what they pass on. The
    attended map enters through a learnable scale ``gamma`` that starts at 0, so the module starts
    as the identity. Affinities are unscaled dot products (no 1/√d), as in the papers' code.
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        inner = max(channels // reduction, 1)
        self.query = nn.Conv2d(channels, inner, kernel_size=1)
        self.key = nn.Conv2d(channels, inner, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, hidden: torch.Tensor, guide_logits: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        weight = 1.0 + torch.sigmoid(upsample_to(guide_logits, hidden))

        def tokens(projection: nn.Module) -> torch.Tensor:  # (B, HW, C')
            return (projection(hidden) * weight).flatten(2).transpose(1, 2)

        attended = F.scaled_dot_product_attention(tokens(self.query), tokens(self.key), tokens(self.value), scale=1.0)
        attended = attended.transpose(1, 2).reshape(batch, channels, height, width)
        return self.gamma * attended + hidden


class SiameseVGGConcatFusion(nn.Module):
    """VGG16-BN on both dates; per level from stride 2 on, ``[f_t2, f_t1]`` → 3×3 conv–BN–ReLU → C.

    The stride-1 stage (64 channels) only feeds the next stage; ``channels`` lists the fused
    levels (128, 256, 512, 512 for VGG16) at strides 2, 4, 8, 16. The VGG stages are tapped before
    their last ReLU (see :class:`VGGEncoder` ``preactivation``), as the papers' code slices them.
    """

    def __init__(self, num_channels: int, widths: Sequence[int], depths: Sequence[int]) -> None:
        super().__init__()
        self.siamese = SiameseEncoder(VGGEncoder(num_channels, widths, depths, preactivation=True))
        self.channels = list(self.siamese.channels[1:])
        self.reduce = nn.ModuleList(ConvBNReLU(2 * c, c, kernel_size=3) for c in self.channels)

    def forward(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> list[torch.Tensor]:
        features_t1, features_t2 = self.siamese(pixel_values_t1, pixel_values_t2)
        return [
            reduce(torch.cat([f2, f1], dim=1))
            for reduce, f1, f2 in zip(self.reduce, features_t1[1:], features_t2[1:])
        ]


__all__ = [
    "ChangeGuideModule",
    "GuidedChangeDetector",
    "GuidedDetectorConfig",
    "SiameseVGGConcatFusion",
    "upsample_to",
]
