"""ResNet encoder on transformers' ``ResNetBackbone`` (He et al. 2016), with optional dilation
and optional squeeze-and-excitation.

Returns the stage outputs (strides 4, 8, 16, 32 by default; ``stem`` adds the stride-4 map after
the max-pool). ``output_stride`` 8 or 16 turns the last stages into dilated stride-1 stages, as
DeepLab and PSPNet do, without changing any parameter, so ImageNet checkpoints still load.
``se_reduction`` makes it an SE-ResNet (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018),
which transformers does not provide: every residual block gets an SE gate on its residual branch.
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


def resnet_variant_fields(variant: str) -> dict[str, Any]:
    """The ``ResNetConfig`` fields of a named variant (what a nested ``backbone_config`` starts from)."""
    if variant not in RESNET_VARIANTS:
        raise ValueError(f"unknown ResNet variant {variant!r}; choose from {sorted(RESNET_VARIANTS)}")
    depths, hidden_sizes, layer_type = RESNET_VARIANTS[variant]
    return {"depths": list(depths), "hidden_sizes": list(hidden_sizes), "layer_type": layer_type}


def resnet_backbone_config(
    num_channels: int,
    variant: str = "resnet50",
    stages: Sequence[int] = (1, 2, 3, 4),
    stem: bool = False,
    **overrides: Any,
) -> ResNetConfig:
    """A ``ResNetConfig`` of a named variant (lists, not tuples, so it serialises and compares)."""
    fields = {**resnet_variant_fields(variant), **overrides}
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


class SqueezeExcitation(nn.Module):
    """SE gate (Hu et al. 2018): global average pool → FC (C/r) → ReLU → FC (C) → sigmoid → rescale.

    The FCs have no bias, as in the SE-ResNet of the DTCDSCN reference code; the hidden width is at
    least 1 so narrow test-size blocks still work.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction < 1:
            raise ValueError(f"SqueezeExcitation reduction must be >= 1; got {reduction}")
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Linear(channels, hidden, bias=False)
        self.excite = nn.Linear(hidden, channels, bias=False)

    def forward(self, hidden_state: torch.Tensor) -> torch.Tensor:
        weights = hidden_state.mean(dim=(2, 3))
        weights = torch.sigmoid(self.excite(torch.relu(self.squeeze(weights))))
        return hidden_state * weights[:, :, None, None]


def add_squeeze_excitation(stages: Sequence[ResNetStage], reduction: int = 16) -> None:
    """Turn a ResNet into an SE-ResNet in place: an SE gate ends every block's residual branch.

    Hu et al. place the gate after the branch's last convolution + BatchNorm and before the
    identity addition; transformers' basic and bottleneck blocks keep that branch in ``layer`` (an
    ``nn.Sequential``), so the gate is appended there and the blocks' forward is unchanged.
    """
    for stage in stages:
        for block in stage.layers:
            out_channels = block.layer[-1].convolution.out_channels
            block.layer.append(SqueezeExcitation(out_channels, reduction))


class ResNetEncoder(Encoder):
    """``ResNetBackbone`` under the encoder contract; the backbone is ``self.backbone``.

    ``se_reduction`` (default None: a plain ResNet) adds a squeeze-and-excitation gate with that
    reduction ratio to every residual block (:func:`add_squeeze_excitation`).
    """

    _no_split_modules = ("ResNetStage",)

    def __init__(self, config: ResNetConfig, output_stride: int = 32, se_reduction: int | None = None) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(config)
        if se_reduction is not None:
            add_squeeze_excitation(list(self.backbone.encoder.stages), se_reduction)
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


__all__ = [
    "RESNET_VARIANTS",
    "ResNetEncoder",
    "resnet_variant_fields",
    "SqueezeExcitation",
    "add_squeeze_excitation",
    "dilate_resnet",
    "resnet_backbone_config",
]
