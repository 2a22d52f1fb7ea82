"""ConvNeXt encoder (Liu et al. 2022) on transformers' ``ConvNextBackbone``: four stages, strides 4–32."""

from __future__ import annotations

from typing import Any

from transformers import ConvNextBackbone, ConvNextConfig

from euromine_hf.models.encoders._transformers import BackboneEncoder, stage_names

#: (depths, stage-1 width, stochastic depth of the UperNet/ADE20K recipe) of the ConvNeXt paper's models.
CONVNEXT_VARIANTS: dict[str, dict[str, Any]] = {
    "convnext-tiny": {"depths": [3, 3, 9, 3], "embed_dim": 96, "drop_path_rate": 0.4},
    "convnext-small": {"depths": [3, 3, 27, 3], "embed_dim": 96, "drop_path_rate": 0.3},
    "convnext-base": {"depths": [3, 3, 27, 3], "embed_dim": 128, "drop_path_rate": 0.4},
}


def convnext_backbone_config(
    num_channels: int, embed_dim: int, depths: list[int], **overrides: Any
) -> ConvNextConfig:
    """A ``ConvNextConfig`` with all four stages out; widths double per stage (lists, so it serialises)."""
    depths = [int(d) for d in depths]
    return ConvNextConfig(
        num_channels=num_channels,
        hidden_sizes=[int(embed_dim) * 2**stage for stage in range(len(depths))],
        depths=depths,
        out_features=stage_names(len(depths)),
        **overrides,
    )


class ConvNextEncoder(BackboneEncoder):
    """``ConvNextBackbone`` (patchify stem 4×4/4, then ×2 per stage) returning every stage."""

    _no_split_modules = ("ConvNextStage",)

    def __init__(self, config: ConvNextConfig) -> None:
        super().__init__()
        self.backbone = ConvNextBackbone(config)
        names = list(self.backbone.out_features)
        self._declare([4 * 2 ** (int(name[len("stage"):]) - 1) for name in names])


__all__ = ["CONVNEXT_VARIANTS", "ConvNextEncoder", "convnext_backbone_config"]
