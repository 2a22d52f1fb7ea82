"""FC-Siam-diff, Fully Convolutional Siamese – Difference (Daudt, Le Saux & Boulch, "Fully
Convolutional Siamese Networks for Change Detection", ICIP 2018).

Like FC-Siam-conc, each date passes through the same encoder (see :mod:`.fc_blocks`), but the skip
at every scale is the absolute difference |f1 − f2|: the decoder sees only *how much* the dates
differ, which is symmetric in the dates and keeps the skips as narrow as FC-EF's. Paper size:
base width 16, stages of 2/2/3/3 convolutions, dropout 0.2, ≈1.35 M parameters with RGB pairs;
cross-entropy, as in the paper and the benchmark's framework.

As in the authors' reference code (the paper does not say), the decoder starts from the pooled
deepest map of the *second* date, so the model as a whole is not exactly symmetric in the dates;
the skips are.
"""

from __future__ import annotations

from typing import Any

from euromine_hf.models.change_detection.fc_blocks import FullyConvolutionalCDConfig, SiameseFCCDModel
from euromine_hf.models.change_detection.fusion import AbsDiffFusion
from euromine_hf.models.registry import register_model


class FCSiamDiffConfig(FullyConvolutionalCDConfig):
    """Configuration of :class:`FCSiamDiffForChangeDetection` (fields: :class:`FullyConvolutionalCDConfig`)."""

    model_type = "euromine-fc-siam-diff"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class FCSiamDiffForChangeDetection(SiameseFCCDModel):
    """FC-Siam-diff: shared encoder on each date, per-scale skips |f1 − f2|."""

    config_class = FCSiamDiffConfig
    fusion_class = AbsDiffFusion


register_model(
    "fc-siam-diff",
    "SiamUnet_Diff",
    FCSiamDiffConfig,
    FCSiamDiffForChangeDetection,
    task="change_detection",
    paper={"base_width": 16, "depths": [2, 2, 3, 3], "dropout": 0.2},
    tiny={"base_width": 3, "depths": [2, 2, 2, 2], "dropout": 0.2},
    published_params=1.29,
)

__all__ = ["FCSiamDiffConfig", "FCSiamDiffForChangeDetection"]
