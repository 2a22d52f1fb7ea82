"""FC-EF, Fully Convolutional Early Fusion (Daudt, Le Saux & Boulch, "Fully Convolutional Siamese
Networks for Change Detection", ICIP 2018).

The simplest of the paper's three detectors: both dates are stacked into one image of 2C bands
and a single U-Net (see :mod:`.fc_blocks`) segments the change directly, so the network compares
the dates from its first convolution on. Paper size: base width 16, stages of 2/2/3/3
convolutions, dropout 0.2, ≈1.35 M parameters with RGB pairs; trained with cross-entropy, as in the
paper and in the benchmark's framework.
"""

from __future__ import annotations

from typing import Any

import torch

from euromine_hf.models.change_detection.fc_blocks import (
    FCDecoder,
    FCEncoder,
    FullyConvolutionalCDConfig,
    FullyConvolutionalCDModel,
)
from euromine_hf.models.change_detection.fusion import early_fusion
from euromine_hf.models.registry import register_model


class FCEFConfig(FullyConvolutionalCDConfig):
    """Configuration of :class:`FCEFForChangeDetection` (fields: :class:`FullyConvolutionalCDConfig`)."""

    model_type = "euromine-fc-ef"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class FCEFForChangeDetection(FullyConvolutionalCDModel):
    """FC-EF: one U-Net over the 2C-band stack of both dates."""

    config_class = FCEFConfig

    def __init__(self, config: FCEFConfig) -> None:
        super().__init__(config)
        widths, depths = config.widths, config.depths
        self.encoder = FCEncoder(2 * config.num_channels, widths, depths, config.dropout)
        self.decoder = FCDecoder(widths, depths, widths, config.num_labels, config.dropout)
        self.post_init()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        features = self.encoder(early_fusion(pixel_values_t1, pixel_values_t2))
        return self.decoder(features[-1], features)


register_model(
    "fc-ef",
    "FC-EF",
    FCEFConfig,
    FCEFForChangeDetection,
    task="change_detection",
    paper={"base_width": 16, "depths": [2, 2, 3, 3], "dropout": 0.2},
    tiny={"base_width": 3, "depths": [2, 2, 2, 2], "dropout": 0.2},
    published_params=1.29,
)

__all__ = ["FCEFConfig", "FCEFForChangeDetection"]
