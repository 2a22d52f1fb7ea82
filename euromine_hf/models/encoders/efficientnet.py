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

Two layouts of the same parameters (``layout``), because ImageNet weights assume the one they
were trained in:

* ``"tf"`` — transformers' port of the TensorFlow original: TF "SAME" padding (the stem and the
  stride-2 depthwise convolutions pad one pixel more on the right/bottom), element-wise
  drop-connect (``nn.Dropout`` on the residual branch), BatchNorm as the config says (TF: momentum
  0.01, eps 1e-3; see :func:`efficientnet_variant_fields`).
* ``"torchvision"`` — torchvision's ``efficientnet_b*`` (what TinyCD's reference loads): symmetric
  padding ``k // 2`` everywhere, per-sample stochastic depth (:class:`SampleDropPath`, the whole
  residual branch of a sample dropped) and BatchNorm momentum 0.1 / eps 1e-5
  (:data:`TORCHVISION_BATCH_NORM`, set in the config). transformers' ``EfficientNetModel`` has no
  such switch, so the encoder swaps the padding and dropout modules of its blocks (neither holds
  parameters: state-dict keys are the same in both layouts).
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
    correct_pad,
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


#: Layouts of the same parameters (see the module docstring).
EFFICIENTNET_LAYOUTS = ("torchvision", "tf")
#: ``EfficientNetConfig`` BatchNorm fields of torchvision's EfficientNet (PyTorch's defaults).
TORCHVISION_BATCH_NORM: dict[str, float] = {"batch_norm_momentum": 0.1, "batch_norm_eps": 1e-5}


class SampleDropPath(nn.Module):
    """Per-sample stochastic depth (Huang et al. 2016), as torchvision's ``StochasticDepth(p, "row")``:
    in training each sample's residual branch is dropped with probability ``p`` and kept ones are
    scaled by 1 / (1 − p); the identity in evaluation. Replaces transformers' element-wise dropout."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"SampleDropPath p must be in [0, 1); got {p}")
        self.p = float(p)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return hidden
        keep = 1.0 - self.p
        mask = hidden.new_empty((hidden.shape[0],) + (1,) * (hidden.ndim - 1)).bernoulli_(keep)
        return hidden * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
    """The stem and the first ``num_stages`` MBConv stages of an EfficientNet, under the encoder contract.

    ``layout`` (``"tf"`` or ``"torchvision"``): padding and stochastic depth of that implementation
    (see the module docstring); BatchNorm follows ``config``.
    """

    _no_split_modules = ("EfficientNetBlock",)

    def __init__(self, config: EfficientNetConfig, num_stages: int = 7, layout: str = "tf") -> None:
        super().__init__()
        total_stages = len(config.in_channels)
        if not 1 <= num_stages <= total_stages:
            raise ValueError(f"num_stages must be in 1..{total_stages}; got {num_stages}")
        if layout not in EFFICIENTNET_LAYOUTS:
            raise ValueError(f"EfficientNet layout must be one of {EFFICIENTNET_LAYOUTS}; got {layout!r}")
        self.config = config
        self.layout = layout
        torchvision = layout == "torchvision"
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
                        # torchvision pads every depthwise convolution symmetrically (TF: asymmetric at stride 2)
                        adjust_padding=not torchvision and index not in config.depthwise_padding,
                    )
                )
                if torchvision:
                    blocks[-1].projection.dropout = SampleDropPath(config.drop_connect_rate * index / total_blocks)
            reduction *= config.strides[stage]
            self.stage_ends.append(len(blocks))
            self.channels.append(out_dim)
            self.reductions.append(reduction)
        self.blocks = nn.ModuleList(blocks)
        if torchvision:  # the stem's 3×3 stride-2 convolution: one pixel on every side, not TF's right/bottom
            self.embeddings.padding = nn.ZeroPad2d(correct_pad(3, adjust=False))

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.embeddings(pixel_values)
        features, start = [], 0
        for end in self.stage_ends:
            for block in self.blocks[start:end]:
                hidden = block(hidden)
            features.append(hidden)
            start = end
        return features


__all__ = [
    "EFFICIENTNET_LAYOUTS",
    "EFFICIENTNET_VARIANTS",
    "EfficientNetEncoder",
    "SampleDropPath",
    "TORCHVISION_BATCH_NORM",
    "efficientnet_backbone_config",
    "efficientnet_variant_fields",
]
