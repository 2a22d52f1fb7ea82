"""Mix Transformer (MiT) encoder of SegFormer (Xie et al. 2021) on transformers' ``SegformerModel``.

transformers has no ``SegformerBackbone``, so the encoder runs ``SegformerModel`` with
``output_hidden_states`` and returns its four stage outputs (strides 4, 8, 16, 32). Keeping the
whole ``SegformerModel`` (``self.segformer``) means an RGB MiT / SegFormer checkpoint matches its
keys by suffix.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import SegformerConfig, SegformerModel

from euromine_hf.models.encoders.base import Encoder

#: Encoder widths, depths, attention heads and decoder width of MiT-B0..B5 (SegFormer paper).
MIT_VARIANTS: dict[str, dict[str, Any]] = {
    "b0": {"hidden_sizes": [32, 64, 160, 256], "depths": [2, 2, 2, 2], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 256},
    "b1": {"hidden_sizes": [64, 128, 320, 512], "depths": [2, 2, 2, 2], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 256},
    "b2": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 4, 6, 3], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 768},
    "b3": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 4, 18, 3], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 768},
    "b4": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 8, 27, 3], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 768},
    "b5": {"hidden_sizes": [64, 128, 320, 512], "depths": [3, 6, 40, 3], "num_attention_heads": [1, 2, 5, 8], "decoder_hidden_size": 768},
}


def mit_backbone_config(num_channels: int, variant: str = "b0", **overrides: Any) -> SegformerConfig:
    """A ``SegformerConfig`` of MiT-``variant`` (lists, so it serialises)."""
    if variant not in MIT_VARIANTS:
        raise ValueError(f"unknown MiT variant {variant!r}; choose from {sorted(MIT_VARIANTS)}")
    fields = {**MIT_VARIANTS[variant], **overrides}
    for key, value in fields.items():
        if isinstance(value, (list, tuple)):
            fields[key] = [int(v) for v in value]
    return SegformerConfig(num_channels=num_channels, num_encoder_blocks=len(fields["depths"]), **fields)


class MiTEncoder(Encoder):
    """MiT stages (B, hidden_sizes[i], H/s_i, W/s_i), s = cumulative patch-embedding strides."""

    _no_split_modules = ("SegformerLayer",)

    def __init__(self, config: SegformerConfig) -> None:
        super().__init__()
        self.segformer = SegformerModel(config)
        self.channels = [int(c) for c in config.hidden_sizes]
        self.reductions, total = [], 1
        for stride in config.strides:
            total *= int(stride)
            self.reductions.append(total)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        outputs = self.segformer(pixel_values, output_hidden_states=True)
        return list(outputs.hidden_states)


__all__ = ["MIT_VARIANTS", "MiTEncoder", "mit_backbone_config"]
