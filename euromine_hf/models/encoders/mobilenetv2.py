"""MobileNetV2 encoder (Sandler et al. 2018) on transformers' ``MobileNetV2Model``.

Returns the last map of each resolution: the stem (16 ch, stride 2) and the ends of the 24-, 32-,
96- and 320-channel block groups (strides 4, 8, 16, 32 — the maps DeepLabV3+ and FPN-style decoders
read). ``output_stride`` 8 or 16 dilates the later blocks instead of striding (transformers does
the surgery). The classifier's 1×1 expansion to 1280 channels is never read by a dense decoder,
so it is dropped rather than left untrained (keys ``…conv_1x1…`` are absent).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import MobileNetV2Config, MobileNetV2Model

from euromine_hf.models.encoders.base import Encoder

#: Index of the last inverted-residual block of each stride group (16 blocks in all).
_GROUP_ENDS = (1, 4, 11, 15)


class MobileNetV2Encoder(Encoder):
    """``MobileNetV2Model`` (``self.mobilenet_v2``) under the encoder contract."""

    _no_split_modules = ("MobileNetV2InvertedResidual",)

    def __init__(self, config: MobileNetV2Config) -> None:
        super().__init__()
        self.mobilenet_v2 = MobileNetV2Model(config, add_pooling_layer=False)
        self.mobilenet_v2.conv_1x1 = nn.Identity()
        blocks = self.mobilenet_v2.layer
        if len(blocks) != 16:
            raise ValueError(f"MobileNetV2Encoder expects the 16-block MobileNetV2; got {len(blocks)} blocks")
        self.channels = [self.mobilenet_v2.conv_stem.reduce_1x1.convolution.out_channels] + [
            blocks[index].reduce_1x1.convolution.out_channels for index in _GROUP_ENDS
        ]
        self.reductions = [min(stride, config.output_stride) for stride in (2, 4, 8, 16, 32)]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        hidden = self.mobilenet_v2.conv_stem(pixel_values)
        features = [hidden]
        for index, block in enumerate(self.mobilenet_v2.layer):
            hidden = block(hidden)
            if index in _GROUP_ENDS:
                features.append(hidden)
        return features


__all__ = ["MobileNetV2Encoder"]
