"""HCGMNet (Han, Wu & Hu, "HCGMNet: A Hierarchical Change Guiding Map Network for Change
Detection", IGARSS 2023).

Why it works: the change guiding map is predicted from *all* levels at once (hierarchical
features: fine boundaries from shallow levels, semantics from deep ones), and then steers
self-attention on every level before a second, final prediction from the guided features.

Architecture (widths from the authors' code):

* Siamese VGG16-BN; levels at strides 2, 4, 8, 16 (128, 256, 512, 512 channels), each fused as
  concat(t2, t1) → 3×3 conv–BN–ReLU (:mod:`.guiding`); levels 2–4 pass one more 3×3 conv–BN–ReLU.
* Hierarchical change guiding map: all four levels upsampled to stride 2 and concatenated
  (1408 channels) → 3×3 conv–BN–ReLU 512 → 256 → 64 → 3×3 conv → 1 score map.
* Change guide modules (:class:`~.guiding.ChangeGuideModule`) on levels 2, 3, 4 with that map;
  the guided levels, upsampled to stride 2 and concatenated with level 1, pass a second decoder of
  the same shape → final score.
* Loss: BCE on the final score + ``guide_loss_weight`` (1.0, the code's plain sum) × BCE on the
  guiding map; single score maps are returned as ``binary_logits`` (cross-entropy on them *is*
  BCE). 47.3 M parameters with 3 bands (45.13 in 2^20, as published).

Choices where the paper is silent: VGG maps tapped before each stage's last ReLU, corner-aligned
upsampling and unscaled attention affinities, all as in the authors' code.
Framework quirk kept (EricYu97/UCD 6972640), the default and the ``paper`` preset:
``auxiliary_losses=False`` — the framework trains and scores ``main_predictions`` only (its
auxiliary losses are commented out, ``model.py:209-215``), so the guiding map is learned only
through the attention it steers; ``auxiliary_losses=True`` restores the papers' BCE on the guiding
map (``guide_loss_weight``).

Bands: the framework's copy ignores ``input_nc`` (``HCGMNet()`` takes no band count: VGG16-BN is
built for 3 bands), so its 10-band version is not public. Ours builds every first layer for
``num_channels`` bands (10 by default); RGB checkpoints map onto them through ``band_adaptation``
(RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from euromine_hf.models.change_detection.guiding import (
    ChangeGuideModule,
    GuidedChangeDetector,
    GuidedDetectorConfig,
    SiameseVGGConcatFusion,
    upsample_to,
)
from euromine_hf.models.layers import ConvBNReLU, as_int_list, init_classifier
from euromine_hf.models.registry import register_model


class HCGMNetConfig(GuidedDetectorConfig):
    """Configuration of :class:`HCGMNetForChangeDetection`.

    Args:
        decoder_channels: hidden widths of each of the two multi-level decoders (512, 256, 64).
        num_channels, band_names, ignore_index: input bands per date and the label value the loss ignores.
        encoder_widths, encoder_depths, attention_reduction, guide_loss_weight, loss: as in
            :class:`~euromine_hf.models.change_detection.guiding.GuidedDetectorConfig`.
    """

    model_type = "euromine-hcgmnet"

    def __init__(
        self,
        decoder_channels: Sequence[int] = (512, 256, 64),
        **kwargs: Any,
    ) -> None:
        self.decoder_channels = as_int_list(decoder_channels, "decoder_channels")
        super().__init__(**kwargs)


class MultiLevelDecoder(nn.Sequential):
    """Stacked 3×3 conv–BN–ReLU (``hidden`` widths) → 3×3 conv to one score map."""

    def __init__(self, in_channels: int, hidden: Sequence[int]) -> None:
        layers: list[nn.Module] = []
        for width in hidden:
            layers.append(ConvBNReLU(in_channels, width, 3))
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 1, 3, padding=1))
        super().__init__(*layers)


class HCGMNetForChangeDetection(GuidedChangeDetector):
    """HCGMNet: Siamese VGG16-BN, a hierarchical change guiding map, guided re-prediction."""

    config_class = HCGMNetConfig

    def __init__(self, config: HCGMNetConfig) -> None:
        super().__init__(config)
        self.backbone = SiameseVGGConcatFusion(config.num_channels, config.encoder_widths, config.encoder_depths)
        channels = self.backbone.channels
        self.refine = nn.ModuleList(ConvBNReLU(c, c, 3) for c in channels[1:])
        self.guide_decoder = MultiLevelDecoder(sum(channels), config.decoder_channels)
        self.guides = nn.ModuleList(ChangeGuideModule(c, config.attention_reduction) for c in channels[1:])
        self.final_decoder = MultiLevelDecoder(sum(channels), config.decoder_channels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if any(module is getattr(self, name, [None])[-1] for name in ("guide_decoder", "final_decoder")):
            init_classifier(module)

    def scores(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        finest, *deeper = self.backbone(pixel_values_t1, pixel_values_t2)
        deeper = [refine(level) for refine, level in zip(self.refine, deeper)]
        guide = self.guide_decoder(torch.cat([finest, *(upsample_to(level, finest) for level in deeper)], dim=1))
        guided = [module(level, guide) for module, level in zip(self.guides, deeper)]
        final = self.final_decoder(torch.cat([finest, *(upsample_to(level, finest) for level in guided)], dim=1))
        return upsample_to(final, pixel_values_t1), upsample_to(guide, pixel_values_t1)


register_model(
    "hcgmnet",
    "HCGMNet",
    HCGMNetConfig,
    HCGMNetForChangeDetection,
    task="change_detection",
    paper={"auxiliary_losses": False},
    tiny={
        "encoder_widths": [8, 8, 16, 16, 16],
        "encoder_depths": [1, 1, 1, 1, 1],
        "decoder_channels": [16, 8],
    },
    published_params=45.13,
)

__all__ = ["HCGMNetConfig", "HCGMNetForChangeDetection", "MultiLevelDecoder"]
