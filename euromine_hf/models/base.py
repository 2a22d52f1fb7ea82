"""Shared plumbing for every EuroMineNet model: config fields, loss, output contract.

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

IGNORE_INDEX = 255


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


class EuroMineSegmentationModel(PreTrainedModel):
    """Base for segmenters: ``pixel_values`` (B,C,H,W) → logits (B,num_labels,H,W) + CE loss."""

    main_input_name = "pixel_values"
    base_model_prefix = "euromine"
    # Trainer must not pass num_items_in_batch: our loss is a plain mean (DESIGN.md).
    accepts_loss_kwargs = False
    supports_gradient_checkpointing = False

    def segment(self, pixel_values: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_input(self, pixel_values: torch.Tensor) -> None:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must be (batch, {self.config.num_channels}, height, width); "
                f"got shape {tuple(pixel_values.shape)}"
            )

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels.long(), ignore_index=self.config.ignore_index)

    def segment_with_auxiliary(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        """Main logits plus ``(weight, logits)`` of auxiliary heads (deep supervision).

        Used only for the training loss, so evaluation losses stay comparable across models;
        architectures with auxiliary heads (UperNet, PSPNet) override it.
        """
        return self.segment(pixel_values), []

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> SemanticSegmenterOutput:
        self._check_input(pixel_values)
        size = pixel_values.shape[-2:]
        if labels is not None and self.training:
            logits, auxiliary = self.segment_with_auxiliary(pixel_values)
        else:
            logits, auxiliary = self.segment(pixel_values), []
        logits = resize_logits(logits, size)
        loss = None
        if labels is not None:
            loss = self.compute_loss(logits, labels)
            for weight, auxiliary_logits in auxiliary:
                loss = loss + weight * self.compute_loss(resize_logits(auxiliary_logits, size), labels)
        return SemanticSegmenterOutput(loss=loss, logits=logits)

    def _init_weights(self, module: nn.Module) -> None:
        """He init for convolutions, unit/zero for norms: the defaults the original papers use."""
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def resize_logits(logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear upsampling of logits to the input resolution (no-op when already there)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


__all__ = [
    "EuroMineConfigMixin",
    "EuroMineSegmentationModel",
    "IGNORE_INDEX",
    "PretrainedConfig",
    "resize_logits",
]
