"""TRANSITIONAL: the config mixin until every config derives from ``configuration.EuroMineConfig``.

Shared plumbing for every EuroMineNet model: config fields, loss, output contract.

Each architecture file defines its own ``PretrainedConfig`` (``model_type`` ``euromine-…``) and a
``PreTrainedModel`` subclass of :class:`EuroMineSegmentationModel`.  The subclass only implements
``segment(pixel_values) -> logits`` (any resolution); this base upsamples the logits to the input
size, computes the loss and returns ``SemanticSegmenterOutput`` — the contract Trainer, metrics and
inference rely on.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SemanticSegmenterOutput

from euromine_hf.bands import BANDS
from euromine_hf.models.configuration import IGNORE_INDEX
from euromine_hf.models.modeling import EuroMineSegmentationModel, resize_logits


class EuroMineConfigMixin:
    """Fields every EuroMineNet config carries (call :meth:`_init_euromine` from ``__init__``)."""

    def _init_euromine(
        self,
        num_channels: int = 10,
        band_names: Sequence[str] | None = None,
        ignore_index: int = IGNORE_INDEX,
        kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        kwargs = dict(kwargs or {})
        kwargs.setdefault("num_labels", 2)
        if "id2label" not in kwargs and kwargs["num_labels"] == 2:
            kwargs["id2label"] = {0: "background", 1: "mine"}
            kwargs["label2id"] = {"background": 0, "mine": 1}
        self.num_channels = int(num_channels)
        if band_names is None:
            band_names = list(BANDS) if self.num_channels == len(BANDS) else (
                ["B04", "B03", "B02"] if self.num_channels == 3 else [f"band{i}" for i in range(self.num_channels)]
            )
        band_names = list(band_names)
        if len(band_names) != self.num_channels:
            raise ValueError(
                f"config.band_names has {len(band_names)} names but num_channels={self.num_channels}; "
                "give one name per input channel"
            )
        self.band_names = band_names
        self.ignore_index = int(ignore_index)
        return kwargs


__all__ = [
    "EuroMineConfigMixin",
    "EuroMineSegmentationModel",
    "IGNORE_INDEX",
    "PretrainedConfig",
    "resize_logits",
]
