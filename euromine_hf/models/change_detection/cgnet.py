"""CGNet (Han, Wu, Guo, Hu & Chen, "Change Guiding Network: Incorporating Change Prior to Guide
Change Detection in Remote Sensing Imagery", IEEE JSTARS 2023).

Why it works: a coarse change map predicted from the deepest (most semantic) fused features is a
prior on *where* change is; it then steers self-attention at every decoder level so the details
added on the way up are gathered from changed regions.

Architecture (the paper's Fig. 2; widths from the authors' code):

* Siamese VGG16-BN; levels at strides 2, 4, 8, 16 (128, 256, 512, 512 channels), each fused as
  concat(t2, t1) → 3×3 conv–BN–ReLU back to the level's width (:mod:`.guiding`).
* Change guiding map: the deepest fused level, upsampled to stride 2, → 3×3 conv–BN–ReLU (64) →
  3×3 conv → 1 score map.
* Decoder: change guide module (CGM, :class:`~.guiding.ChangeGuideModule`) on level 4; then for
  levels 3 and 2: upsample ×2, concat the level's fused map, 3×3 conv–BN–ReLU to that level's width,
  CGM; a last ×2 step onto level 1 (128) without CGM; head 3×3 conv–BN–ReLU (64) → 1×1 conv → score.
* Loss: BCE on the final score + ``guide_loss_weight`` (1.0, the code's plain sum) × BCE on the
  guiding map, both at input size; the score maps are returned as ``binary_logits`` so the base's
  cross-entropy *is* that BCE. Only the final map is the prediction.

Choices where the sources differ or are silent:

* Parameter count: this builds 33.7 M parameters (32.1 in 2^20) with 3 bands; the benchmark
  publishes 37.18 because the authors' ``CGNet`` class also constructs three 3×3 convs
  (``up_layer2-4``, 5.3 M, left over from HCGMNet) that its forward never calls. Unused weights
  are not built here (−13.6 %, inside the 15 % bar).
* The VGG maps are tapped before each stage's last ReLU and upsampling aligns corners, as in the
  authors' code (the paper does not say).
* Attention affinities are unscaled dot products, as in the code.
Framework quirk kept (EricYu97/UCD 6972640), the default and the ``paper`` preset:
``auxiliary_losses=False`` — the framework trains and scores ``main_predictions`` only (its
auxiliary losses are commented out, ``model.py:209-215``), so the guiding map is learned only
through the attention it steers; ``auxiliary_losses=True`` restores the papers' BCE on the guiding
map (``guide_loss_weight``).

Bands: the framework's copy ignores ``input_nc`` (``CGNet()`` takes no band count: VGG16-BN is
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


class CGNetConfig(GuidedDetectorConfig):
    """Configuration of :class:`CGNetForChangeDetection`.

    Args:
        head_channels: hidden channels of the guiding-map head and the final head (64).
        num_channels, band_names, ignore_index: input bands per date and the label value the loss ignores.
        encoder_widths, encoder_depths, attention_reduction, guide_loss_weight, loss: as in
            :class:`~euromine_hf.models.change_detection.guiding.GuidedDetectorConfig`.
    """

    model_type = "euromine-cgnet"

    def __init__(
        self,
        head_channels: int = 64,
        **kwargs: Any,
    ) -> None:
        self.head_channels = as_int_list([head_channels], "head_channels")[0]
        super().__init__(**kwargs)


class CGNetForChangeDetection(GuidedChangeDetector):
    """CGNet: Siamese VGG16-BN, a deep change guiding map, change-guided attention in the decoder."""

    config_class = CGNetConfig

    def __init__(self, config: CGNetConfig) -> None:
        super().__init__(config)
        self.backbone = SiameseVGGConcatFusion(config.num_channels, config.encoder_widths, config.encoder_depths)
        c1, c2, c3, c4 = self.backbone.channels
        head = config.head_channels
        self.guide_head = nn.Sequential(ConvBNReLU(c4, head, 3), nn.Conv2d(head, 1, 3, padding=1))
        self.guide4 = ChangeGuideModule(c4, config.attention_reduction)
        self.decode3 = ConvBNReLU(c4 + c3, c3, 3)
        self.guide3 = ChangeGuideModule(c3, config.attention_reduction)
        self.decode2 = ConvBNReLU(c3 + c2, c2, 3)
        self.guide2 = ChangeGuideModule(c2, config.attention_reduction)
        self.decode1 = ConvBNReLU(c2 + c1, c1, 3)
        self.final_head = nn.Sequential(ConvBNReLU(c1, head, 3), nn.Conv2d(head, 1, 1))
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if any(module is getattr(self, name, [None])[-1] for name in ("guide_head", "final_head")):
            init_classifier(module)

    def scores(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1, f2, f3, f4 = self.backbone(pixel_values_t1, pixel_values_t2)
        guide = self.guide_head(upsample_to(f4, f1))
        hidden = self.guide4(f4, guide)
        hidden = self.guide3(self.decode3(torch.cat([upsample_to(hidden, f3), f3], dim=1)), guide)
        hidden = self.guide2(self.decode2(torch.cat([upsample_to(hidden, f2), f2], dim=1)), guide)
        hidden = self.decode1(torch.cat([upsample_to(hidden, f1), f1], dim=1))
        final = self.final_head(hidden)
        return upsample_to(final, pixel_values_t1), upsample_to(guide, pixel_values_t1)


register_model(
    "cgnet",
    "CGNet",
    CGNetConfig,
    CGNetForChangeDetection,
    task="change_detection",
    paper={"auxiliary_losses": False},
    tiny={"encoder_widths": [8, 8, 16, 16, 16], "encoder_depths": [1, 1, 1, 1, 1], "head_channels": 8},
    published_params=37.18,
)

__all__ = ["CGNetConfig", "CGNetForChangeDetection"]
