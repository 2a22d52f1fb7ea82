"""EfficientNet encoder (Tan & Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019).

Built from transformers' own EfficientNet parts (``EfficientNetEmbeddings`` stem and
``EfficientNetBlock`` MBConv blocks with squeeze-and-excitation), configured by a genuine
``EfficientNetConfig`` of the named variant, but only the first ``num_stages`` stages are built:
models such as TinyCD use the early blocks of EfficientNet-B4 as a light backbone, and
``EfficientNetModel`` would always add all seven stages plus the 1×1 "top" convolution.
Block ``i`` keeps the index it has in the full network (module ``blocks.i``), so an RGB
``google/efficientnet-b*`` checkpoint loads by key suffix (``band_adaptation.load_rgb_checkpoint``)
and its blocks beyond ``num_stages`` are simply skipped; the stem is a plain ``nn.Conv2d``, so the
RGB filters adapt to any band set.

Returns the output of each built stage (stage 1 keeps the stem's stride 2; each later stage with
stride 2 halves the resolution): for B4 with three stages, 24/32/56 channels at strides 2/4/8.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import EfficientNetConfig
from transformers.models.efficientnet.modeling_efficientnet import (
    EfficientNetBlock,
    EfficientNetEmbeddings,
    round_filters,
)

from euromine_hf.models.encoders.base import Encoder

#: (width_coefficient, depth_coefficient) of the published variants.
EFFICIENTNET_VARIANTS: dict[str, tuple[float, float]] = {
    "b0": (1.0, 1.0),
    "b1": (1.0, 1.1),
    "b2": (1.1, 1.2),
    "b3": (1.2, 1.4),
    "b4": (1.4, 1.8),
    "b5": (1.6, 2.2),
    "b6": (1.8, 2.6),
    "b7": (2.0, 3.1),
}


def efficientnet_variant_fields(variant: str = "b4") -> dict[str, Any]:
    """The ``EfficientNetConfig`` fields of a named variant (all seven stages; the encoder builds a prefix).

    ``batch_norm_momentum`` is 0.01 in PyTorch's convention (the Keras 0.99 of the original; the
    transformers default of 0.99 would make the running statistics follow each batch almost fully).
    ``drop_connect_rate`` is the full network's 0.2: the encoder spreads it over the *full*
    network's block count, so the early blocks get the rates they have in EfficientNet.
    """
    if variant not in EFFICIENTNET_VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r}; choose from {sorted(EFFICIENTNET_VARIANTS)}")
    width, depth = EFFICIENTNET_VARIANTS[variant]
    return {"width_coefficient": width, "depth_coefficient": depth, "batch_norm_momentum": 0.01, "drop_connect_rate": 0.2}


def efficientnet_backbone_config(num_channels: int, variant: str = "b4", **overrides: Any) -> EfficientNetConfig:
    """An ``EfficientNetConfig`` of a named variant with ``overrides`` (see :func:`efficientnet_variant_fields`)."""
    fields = {**efficientnet_variant_fields(variant), **overrides}
    for key in ("kernel_sizes", "in_channels", "out_channels", "strides", "num_block_repeats", "expand_ratios",
                "depthwise_padding"):
        if key in fields:
            fields[key] = [int(v) for v in fields[key]]
    return EfficientNetConfig(num_channels=num_channels, **fields)


class EfficientNetEncoder(Encoder):
    """The stem and the first ``num_stages`` MBConv stages of an EfficientNet, under the encoder contract."""

    _no_split_modules = ("EfficientNetBlock",)

    def __init__(self, config: EfficientNetConfig, num_stages: int = 7) -> None:
        super().__init__()
        total_stages = len(config.in_channels)
        if not 1 <= num_stages <= total_stages:
            raise ValueError(f"num_stages must be in 1..{total_stages}; got {num_stages}")
        self.config = config
        repeats = [int(math.ceil(config.depth_coefficient * n)) for n in config.num_block_repeats]
        total_blocks = sum(repeats)
        self.embeddings = EfficientNetEmbeddings(config)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        self.channels, self.reductions = [], []
        reduction = 2  # the stem's stride
        for stage in range(num_stages):
            in_dim = round_filters(config, config.in_channels[stage])
            out_dim = round_filters(config, config.out_channels[stage])
            for j in range(repeats[stage]):
                index = len(blocks)
                blocks.append(
                    EfficientNetBlock(
                        config=config,
                        in_dim=in_dim if j == 0 else out_dim,
                        out_dim=out_dim,
                        stride=config.strides[stage] if j == 0 else 1,
                        expand_ratio=config.expand_ratios[stage],
                        kernel_size=config.kernel_sizes[stage],
                        drop_rate=config.drop_connect_rate * index / total_blocks,
                        id_skip=j == 0,
                        adjust_padding=index not in config.depthwise_padding,
                    )
                )
            reduction *= config.strides[stage]
            self.stage_ends.append(len(blocks))
            self.channels.append(out_dim)
            self.reductions.append(reduction)
        self.blocks = nn.ModuleList(blocks)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.embeddings(pixel_values)
        features, start = [], 0
        for end in self.stage_ends:
            for block in self.blocks[start:end]:
                hidden = block(hidden)
            features.append(hidden)
            start = end
        return features


__all__ = ["EFFICIENTNET_VARIANTS", "EfficientNetEncoder", "efficientnet_backbone_config", "efficientnet_variant_fields"]
