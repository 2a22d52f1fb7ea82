"""Swin Transformer encoder (Liu et al. 2021) on transformers' ``SwinBackbone``: strides 4–32.

transformers pads each stage's map to a multiple of the window internally, so any input size that
is a multiple of 32 works (smaller windows than the map are not needed).
"""

from __future__ import annotations

from typing import Any

from transformers import SwinBackbone, SwinConfig

from euromine_hf.models.encoders._transformers import BackboneEncoder, stage_names

#: Swin-T/S/B sizes (Swin paper, Table 1); window 7 is the ImageNet-224 setting, 12 the 384 one
#: that the ADE20K Mask2Former/UperNet Swin-B checkpoints use.
SWIN_VARIANTS: dict[str, dict[str, Any]] = {
    "swin-tiny": {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24]},
    "swin-small": {"embed_dim": 96, "depths": [2, 2, 18, 2], "num_heads": [3, 6, 12, 24]},
    "swin-base": {"embed_dim": 128, "depths": [2, 2, 18, 2], "num_heads": [4, 8, 16, 32]},
}


def swin_backbone_config(
    num_channels: int, embed_dim: int, depths: list[int], num_heads: list[int], window_size: int, **overrides: Any
) -> SwinConfig:
    """A ``SwinConfig`` with all four stages out (lists, so it serialises)."""
    depths = [int(d) for d in depths]
    return SwinConfig(
        num_channels=num_channels,
        embed_dim=int(embed_dim),
        depths=depths,
        num_heads=[int(h) for h in num_heads],
        window_size=int(window_size),
        out_features=stage_names(len(depths)),
        **overrides,
    )


class SwinEncoder(BackboneEncoder):
    """``SwinBackbone`` (4×4 patch embedding, patch merging ×2 per stage) returning every stage."""

    _no_split_modules = ("SwinLayer",)

    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        self.backbone = SwinBackbone(config)
        names = list(self.backbone.out_features)
        self._declare([config.patch_size * 2 ** (int(name[len("stage"):]) - 1) for name in names])


__all__ = ["SWIN_VARIANTS", "SwinEncoder", "swin_backbone_config"]
