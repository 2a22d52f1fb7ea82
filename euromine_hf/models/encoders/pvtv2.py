"""PVTv2 encoder (Wang et al. 2022) on transformers' ``PvtV2Backbone``: four stages, strides 4–32.

The hierarchical transformer several change detectors build on (e.g. ChangeFormer's encoder is a
close relative); overlapping patch embeddings 7/4 then 3/2, spatial-reduction attention.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import PvtV2Backbone, PvtV2Config

from euromine_hf.models.encoders._transformers import BackboneEncoder, stage_names

#: PVTv2-B0…B2 (PVTv2 paper, Table 1).
PVTV2_VARIANTS: dict[str, dict[str, Any]] = {
    "pvt-v2-b0": {"hidden_sizes": [32, 64, 160, 256], "depths": [2, 2, 2, 2]},
    "pvt-v2-b1": {"hidden_sizes": [64, 128, 320, 512], "depths": [2, 2, 2, 2]},
    "pvt-v2-b2": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 4, 6, 3]},
}


def pvtv2_backbone_config(num_channels: int, variant: str = "pvt-v2-b0", **overrides: Any) -> PvtV2Config:
    if variant not in PVTV2_VARIANTS:
        raise ValueError(f"unknown PVTv2 variant {variant!r}; choose from {sorted(PVTV2_VARIANTS)}")
    fields = {**PVTV2_VARIANTS[variant], **overrides}
    for key in ("hidden_sizes", "depths", "num_attention_heads", "sr_ratios", "mlp_ratios", "patch_sizes", "strides"):
        if key in fields:
            fields[key] = [int(v) for v in fields[key]]
    return PvtV2Config(num_channels=num_channels, out_features=stage_names(len(fields["depths"])), **fields)


class PvtV2Encoder(BackboneEncoder):
    """``PvtV2Backbone`` returning every stage (B, C_i, H/s_i, W/s_i)."""

    _no_split_modules = ("PvtV2BlockLayer",)

    def __init__(self, config: PvtV2Config) -> None:
        super().__init__()
        self.backbone = PvtV2Backbone(config)
        strides, reductions, total = list(config.strides), [], 1
        for stride in strides:
            total *= stride
            reductions.append(total)
        by_name = dict(zip(stage_names(len(strides)), reductions))
        self._declare([by_name[name] for name in self.backbone.out_features])

    def run_stages(self, pixel_values: torch.Tensor, count: int) -> list[torch.Tensor]:
        """The outputs of the first ``count`` stages only (B, C_i, H/s_i, W/s_i); later stages stay
        built but do not run (for detectors whose reference computes, then ignores, the last stage)."""
        layers = self.backbone.encoder.layers
        if not 1 <= count <= len(layers):
            raise ValueError(f"PvtV2Encoder.run_stages: count must be in 1..{len(layers)}; got {count}")
        batch, hidden, outputs = pixel_values.shape[0], pixel_values, []
        for layer in layers[:count]:
            (hidden, *_), height, width = layer(hidden, False)
            hidden = hidden.reshape(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()
            outputs.append(hidden)
        return outputs


__all__ = ["PVTV2_VARIANTS", "PvtV2Encoder", "pvtv2_backbone_config"]
