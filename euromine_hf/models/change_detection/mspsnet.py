"""MSPSNet (Guo, Zhang, Zhu, Zhong & Zhang, "Deep Multiscale Siamese Network With Parallel
Convolutional Structure and Self-Attention for Change Detection", IEEE TGRS 2021).

A light multiscale Siamese network: a shared encoder of feature extraction cells gives four scales
per date; at each scale a *parallel convolutional structure* (PCS: grouped 3×3 convolutions with
dilations 1–4 side by side over both dates, fused by a 1×1 convolution) extracts the change
features with several receptive fields, a *self-attention* (SA) block — DANet's channel attention
inside a 32-channel convolutional bottleneck — re-weights them, and the scales are merged coarse
to fine by bilinear upsampling and concatenation before a 1×1 fusion and a 3×3 classifier.
The skeleton, shared with HANet, and its differences from the reference code are described in
:mod:`.msps_blocks`.

Loss: cross-entropy, as the benchmark's framework trains it (``loss="ce"``). Published size:
2.11 × 2^20 parameters with RGB pairs (the ``paper`` preset, w = 40, idle convolutions kept).

The framework's code cannot run at the benchmark's 160-px patches: its encoder pools with
``AdaptiveAvgPool2d(128)`` / ``(64)``, fixed output sizes that halve the map only at 256 px, so at
160 px the scales' sizes no longer halve and its forward fails (DESIGN.md, framework facts). Ours
pools 2× at every size (see :mod:`.msps_blocks`), which is the framework's function at 256 px and
runs at 160 px.
"""

from __future__ import annotations

from torch import nn

from euromine_hf.models.change_detection.msps_blocks import (
    MultiscaleSiameseCDModel,
    MultiscaleSiameseConfig,
    SelfAttentionBlock,
)
from euromine_hf.models.registry import register_model


class MSPSNetConfig(MultiscaleSiameseConfig):
    """Configuration of :class:`MSPSNetForChangeDetection` (fields: :class:`MultiscaleSiameseConfig`)."""

    model_type = "euromine-mspsnet"


class MSPSNetForChangeDetection(MultiscaleSiameseCDModel):
    """MSPSNet: Siamese FEC encoder, PCS + self-attention per scale, coarse-to-fine fusion."""

    config_class = MSPSNetConfig

    def scale_attention(self, channels: int) -> nn.Module:
        return SelfAttentionBlock(channels, self.config.attention_width)


register_model(
    "mspsnet",
    "MSPSNet",
    MSPSNetConfig,
    MSPSNetForChangeDetection,
    task="change_detection",
    paper={"base_width": 40, "attention_width": 32, "keep_idle_convs": True},
    tiny={"base_width": 4, "attention_width": 4, "keep_idle_convs": False},
    published_params=2.11,
)

__all__ = ["MSPSNetConfig", "MSPSNetForChangeDetection"]
