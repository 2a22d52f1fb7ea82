"""ResNet encoder on transformers' ``ResNetBackbone`` (He et al. 2016), with optional dilation.

Returns the stage outputs (strides 4, 8, 16, 32 by default; ``stem`` adds the stride-4 map after
the max-pool). ``output_stride`` 8 or 16 turns the last stages into dilated stride-1 stages, as
DeepLab and PSPNet do, without changing any parameter, so ImageNet checkpoints still load.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from transformers import ResNetBackbone, ResNetConfig
from transformers.models.resnet.modeling_resnet import ResNetStage

from euromine_hf.models.encoders.base import Encoder

#: (depths, hidden_sizes, layer_type) of the standard ResNets.
RESNET_VARIANTS: dict[str, tuple[list[int], list[int], str]] = {
    "resnet18": ([2, 2, 2, 2], [64, 128, 256, 512], "basic"),
    "resnet34": ([3, 4, 6, 3], [64, 128, 256, 512], "basic"),
    "resnet50": ([3, 4, 6, 3], [256, 512, 1024, 2048], "bottleneck"),
    "resnet101": ([3, 4, 23, 3], [256, 512, 1024, 2048], "bottleneck"),
}


def resnet_backbone_config(
    num_channels: int,
    variant: str = "resnet50",
    stages: Sequence[int] = (1, 2, 3, 4),
    stem: bool = False,
    **overrides: Any,
) -> ResNetConfig:
    """A ``ResNetConfig`` of a named variant (lists, not tuples, so it serialises and compares)."""
    if variant not in RESNET_VARIANTS:
        raise ValueError(f"unknown ResNet variant {variant!r}; choose from {sorted(RESNET_VARIANTS)}")
    depths, hidden_sizes, layer_type = RESNET_VARIANTS[variant]
    fields: dict[str, Any] = {"depths": list(depths), "hidden_sizes": list(hidden_sizes), "layer_type": layer_type}
    fields.update(overrides)
    for key in ("depths", "hidden_sizes"):
        fields[key] = [int(v) for v in fields[key]]
    out_features = (["stem"] if stem else []) + [f"stage{i}" for i in stages]
    return ResNetConfig(num_channels=num_channels, out_features=out_features, **fields)


def dilate_resnet(stages: Sequence[ResNetStage], output_stride: int, downsample_in_first_stage: bool = False) -> list[int]:
    """Turn ResNet's stride-2 stages into dilated stride-1 stages until ``output_stride`` is reached.

    DeepLab (Chen et al.) and PSPNet (Zhao et al.) keep the ImageNet weights and the receptive field
    but stop downsampling: a stage that would exceed ``output_stride`` gets stride 1, and its 3×3
    convolutions are dilated by the stride it gave up (the first block keeps the previous dilation,
    because its input has not been upsampled yet). Parameters are untouched, so checkpoints load
    unchanged. Returns each stage's dilation. The one copy of this surgery in the package.
    """
    if output_stride not in (4, 8, 16, 32):
        raise ValueError(f"output_stride must be one of 4, 8, 16, 32; got {output_stride}")
    stride, dilation, dilations = 4, 1, []  # 7×7 stride-2 stem + stride-2 max-pool
    for index, stage in enumerate(stages):
        stage_stride = 2 if (index > 0 or downsample_in_first_stage) else 1
        if stage_stride == 1 or stride * stage_stride <= output_stride:
            stride *= stage_stride
            dilations.append(dilation)
            continue
        previous, dilation = dilation, dilation * stage_stride
        for block_index, block in enumerate(stage.layers):
            block_dilation = previous if block_index == 0 else dilation
            for module in block.modules():
                if not isinstance(module, nn.Conv2d):
                    continue
                if block_index == 0:
                    module.stride = (1, 1)
                if module.kernel_size[0] > 1:
                    module.dilation = (block_dilation, block_dilation)
                    module.padding = (block_dilation * (module.kernel_size[0] // 2),) * 2
        dilations.append(dilation)
    return dilations


class ResNetEncoder(Encoder):
    """``ResNetBackbone`` under the encoder contract; the backbone is ``self.backbone``."""

    def __init__(self, config: ResNetConfig, output_stride: int = 32) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(config)
        names = list(self.backbone.out_features)
        reductions = {"stem": 4, "stage1": 4 if not config.downsample_in_first_stage else 8}
        for index in range(2, len(config.depths) + 1):
            reductions[f"stage{index}"] = reductions[f"stage{index - 1}"] * 2
        self.dilations = self._dilate(output_stride) if output_stride < 32 else [1] * len(config.depths)
        self.channels = list(self.backbone.channels)
        # Dilation caps the stride at output_stride; undilated (32) the natural strides stand, which
        # reach 64 when the first stage also downsamples (LinkNet).
        cap = output_stride if output_stride < 32 else None
        self.reductions = [reductions[name] if cap is None else min(reductions[name], cap) for name in names]

    def _dilate(self, output_stride: int) -> list[int]:
        return dilate_resnet(
            list(self.backbone.encoder.stages), output_stride, self.backbone.config.downsample_in_first_stage
        )

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        return list(self.backbone(pixel_values).feature_maps)


__all__ = ["RESNET_VARIANTS", "ResNetEncoder", "dilate_resnet", "resnet_backbone_config"]
