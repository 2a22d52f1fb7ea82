"""FC-Siam-conc, Fully Convolutional Siamese – Concatenation (Daudt, Le Saux & Boulch, "Fully
Convolutional Siamese Networks for Change Detection", ICIP 2018).

Each date passes through the same encoder (shared weights, see :mod:`.fc_blocks`), so both are
described by the same features; at every scale the decoder receives the two dates' skips side by
side ([f1, f2], twice the width of FC-EF's skips) and learns how to compare them. Paper size:
base width 16, stages of 2/2/3/3 convolutions, dropout 0.2, ≈1.55 M parameters with RGB pairs;
cross-entropy, as in the paper and the benchmark's framework.

As in the authors' reference code (the paper does not say), the decoder starts from the pooled
deepest map of the *second* date; the first date enters only through the skips.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from euromine_hf.models.change_detection.fc_blocks import (
    FCDecoder,
    FCEncoder,
    FullyConvolutionalCDConfig,
    FullyConvolutionalCDModel,
)
from euromine_hf.models.change_detection.fusion import ConcatFusion, SiameseEncoder
from euromine_hf.models.registry import register_model


class FCSiamConcConfig(FullyConvolutionalCDConfig):
    """Configuration of :class:`FCSiamConcForChangeDetection` (fields: :class:`FullyConvolutionalCDConfig`)."""

    model_type = "euromine-fc-siam-conc"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class FCSiamConcForChangeDetection(FullyConvolutionalCDModel):
    """FC-Siam-conc: shared encoder on each date, per-scale skips concatenated."""

    config_class = FCSiamConcConfig

    def __init__(self, config: FCSiamConcConfig) -> None:
        super().__init__(config)
        widths, depths = config.widths, config.depths
        self.encoder = SiameseEncoder(FCEncoder(config.num_channels, widths, depths, config.dropout))
        self.fusions = nn.ModuleList(ConcatFusion(width) for width in widths)
        skip_channels = [fusion.out_channels for fusion in self.fusions]
        self.decoder = FCDecoder(widths, depths, skip_channels, config.num_labels, config.dropout)
        self.post_init()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        features_t1, features_t2 = self.encoder(pixel_values_t1, pixel_values_t2)
        skips = [fuse(a, b) for fuse, a, b in zip(self.fusions, features_t1, features_t2)]
        return self.decoder(features_t2[-1], skips)


register_model(
    "fc-siam-conc",
    "SiamUnet_Conc",
    FCSiamConcConfig,
    FCSiamConcForChangeDetection,
    task="change_detection",
    paper={"base_width": 16, "depths": [2, 2, 3, 3], "dropout": 0.2},
    tiny={"base_width": 3, "depths": [2, 2, 2, 2], "dropout": 0.2},
    published_params=1.47,
)

__all__ = ["FCSiamConcConfig", "FCSiamConcForChangeDetection"]
