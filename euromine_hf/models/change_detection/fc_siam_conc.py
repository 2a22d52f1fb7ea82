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

from euromine_hf.models.change_detection.fc_blocks import FullyConvolutionalCDConfig, SiameseFCCDModel
from euromine_hf.models.change_detection.fusion import ConcatFusion
from euromine_hf.models.registry import register_model


class FCSiamConcConfig(FullyConvolutionalCDConfig):
    """Configuration of :class:`FCSiamConcForChangeDetection` (fields: :class:`FullyConvolutionalCDConfig`)."""

    model_type = "euromine-fc-siam-conc"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class FCSiamConcForChangeDetection(SiameseFCCDModel):
    """FC-Siam-conc: shared encoder on each date, per-scale skips concatenated."""

    config_class = FCSiamConcConfig
    fusion_class = ConcatFusion


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
