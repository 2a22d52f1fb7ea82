"""AFCF3D-Net (Ye, Zhou, Zhang, Zhang, Wang & Hou, "Adjacent-Level Feature Cross-Fusion With 3-D
CNN for Remote Sensing Image Change Detection", IEEE TGRS 2023).

The two dates are stacked on a temporal axis, (B, C, T=2, H, W), and go through one **3-D
ResNet-18** so that every layer sees both dates together instead of fusing them at the end. Each
k×k convolution of ResNet-18 becomes a *decomposed* 3-D convolution: the spatial 1×k×k kernel runs
on each date, then a 1×1×1 **temporal mixing** exchanges information between the dates,
``out_t1 = W_s·x_t1 + W_c1·x_t2``, ``out_t2 = W_c2·x_t1 + W_s·x_t2`` (W_s starts as the identity,
W_c1 and W_c2 at zero, so training starts from a per-date 2-D ResNet). The five levels (stride 2
stem and strides 4–32) are reduced to 32 channels by 1×1×1 then two 3×3×3 convolutions, and
**adjacent-level feature cross-fusion** (AFCF) enriches each level with its neighbours: the finer
level, downsampled by a strided 1×3×3 convolution, and the coarser one, upsampled ×2 and passed
through a 3×3×3 convolution, are added to the level, fused by 3×3×3 and 1×1×1 convolutions,
re-weighted by coordinate attention (over channels × time) and added back. A **dense skip
decoder** (UNet 3+ style, from stride 16 up to stride 2) concatenates at each level *along the
time axis* the upsampled deeper decoder maps and the downsampled shallower encoder maps (five
maps, T = 10), fuses them (3×3×3 and 1×1×1 convolutions + coordinate attention, residual) and
folds time back to T = 2 with strided temporal convolutions; the last stage folds it to T = 1.
Two 1×1 conv-BN layers and a 1×1 convolution give one score map at stride 2, upsampled to the
input. One sigmoid output trained with BCE (``binary_logits``), as the benchmark's framework does.

Facts from the reference code, and choices:

* No deep supervision: the reference builds four side outputs (``superD*``, ``superout*``) but
  neither runs nor supervises them, and its trainer applies BCE to the final map only; they are
  not built here (0.02 × 2^20 parameters).
* The reference uses *one* fusion module for the three middle levels (weights shared across
  levels) and one each for the first and last; ``share_middle_fusion`` (default True) keeps that.
  Its decoder likewise shares one up- and one down-sampling convolution across all levels.
* The 3-D residual block is the reference's: conv-BN-ReLU, conv-BN-ReLU, then the residual sum and
  a ReLU (the second ReLU comes before the sum, unlike a 2-D ResNet block). The shortcut
  projection is a 1×1×1 convolution (no temporal mixing), the max-pool 1×3×3.
* The 1×1 conv-BN layers of the output head have no ReLU between them, as in the reference.
* Coordinate attention uses ReLU and a hidden width equal to its input width (``max(8, C)``).

Bands: the framework's copy ignores ``input_nc`` (``Netmodel(32, resnet18)`` takes no band count:
the ResNet-18 it wraps is built for 3 bands), so its 10-band version is not public. Ours builds
every first layer for ``num_channels`` bands (10 by default); RGB checkpoints map onto them through
``band_adaptation`` (RGB filters to B04/B03/B02, the band-aware rule for the rest).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.modeling import EuroMineChangeDetectionModel, binary_logits
from euromine_hf.models.registry import register_model

#: Stride-2 stem plus four stages; the decoder's skip levels.
LEVELS = 5
#: Maps concatenated along time at each decoder level (T = 2 each).
DECODER_INPUTS = 5


class AFCF3DConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`AFCF3DForChangeDetection`.

    Args:
        stem_channels: width of the 7×7 stem (64 in ResNet-18).
        stage_channels: widths of the four residual stages (``[64, 128, 256, 512]``).
        depths: residual blocks per stage (``[2, 2, 2, 2]``).
        decoder_channels: width every level is reduced to (32, the reference's ``channel``).
        share_middle_fusion: one AFCF module for the three middle levels, as the reference code.
    """

    model_type = "euromine-afcf3d"

    def __init__(
        self,
        stem_channels: int = 64,
        stage_channels: list[int] | None = None,
        depths: list[int] | None = None,
        decoder_channels: int = 32,
        share_middle_fusion: bool = True,
        **kwargs: Any,
    ) -> None:
        self.stem_channels = int(stem_channels)
        self.stage_channels = [int(c) for c in (stage_channels or [64, 128, 256, 512])]
        self.depths = [int(d) for d in (depths or [2, 2, 2, 2])]
        self.decoder_channels = int(decoder_channels)
        self.share_middle_fusion = bool(share_middle_fusion)
        if len(self.stage_channels) != LEVELS - 1 or len(self.depths) != LEVELS - 1:
            raise ValueError(
                f"AFCF3DConfig.stage_channels and depths must each list 4 stages; got {self.stage_channels}, {self.depths}"
            )
        if min([self.stem_channels, self.decoder_channels, *self.stage_channels, *self.depths]) < 1:
            raise ValueError("AFCF3DConfig: stem_channels, stage_channels, depths and decoder_channels must be >= 1")
        super().__init__(**kwargs)


def _fold(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) → (B, C·T, H, W)."""
    return x.flatten(1, 2)


def _upsample(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear (align_corners=True) resize of each date's (B, C, T, H, W) map in space only."""
    batch, channels, time = x.shape[:3]
    resized = F.interpolate(_fold(x), size=tuple(size), mode="bilinear", align_corners=True)
    return resized.view(batch, channels, time, *resized.shape[-2:])


def conv_bn_relu_3d(
    in_channels: int, out_channels: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1),
    padding: tuple[int, int, int] = (0, 0, 0),
) -> nn.Sequential:  # fmt: skip
    """Conv3d (bias) → BatchNorm3d → ReLU (the reference's ``BasicConv3d``)."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding),
        nn.BatchNorm3d(out_channels),
        nn.ReLU(inplace=True),
    )


class TemporalMixing(nn.Module):
    """1×1×1 exchange between the two dates: a shared per-date map W_s plus one cross map per direction."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.same = nn.Parameter(torch.eye(channels))
        self.to_first = nn.Parameter(torch.zeros(channels, channels))  # date 2 → date 1
        self.to_second = nn.Parameter(torch.zeros(channels, channels))  # date 1 → date 2

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.same.copy_(torch.eye(self.same.shape[0]))
            self.to_first.zero_()
            self.to_second.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = x[:, :, 0], x[:, :, 1]

        def apply(weight: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.einsum("oc,bchw->bohw", weight, y)

        out_first = apply(self.same, first) + apply(self.to_first, second)
        out_second = apply(self.to_second, first) + apply(self.same, second)
        return torch.stack([out_first, out_second], dim=2)


class DecomposedConv3d(nn.Module):
    """A 2-D k×k convolution made temporal: the k×k kernel on each date (a 1×k×k 3-D kernel, kept
    as a ``Conv2d`` so 2-D ResNet weights load as they are), then :class:`TemporalMixing`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.mixing = TemporalMixing(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, time = x.shape[:3]
        per_date = self.spatial(x.transpose(1, 2).flatten(0, 1))  # (B·T, C', H', W')
        per_date = per_date.view(batch, time, *per_date.shape[1:]).transpose(1, 2)
        return self.mixing(per_date)


class ResidualBlock3d(nn.Module):
    """ResNet basic block with decomposed 3-D convolutions (the reference's block order)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            DecomposedConv3d(in_channels, out_channels, 3, stride), nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True),
            DecomposedConv3d(out_channels, out_channels, 3), nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.shortcut = (
            nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, stride, stride), bias=False),
                nn.BatchNorm3d(out_channels),
            )
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet3D(nn.Module):
    """3-D ResNet over (B, C, 2, H, W): returns the stem (stride 2) and the four stages (strides 4–32)."""

    def __init__(self, num_channels: int, config: AFCF3DConfig) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            DecomposedConv3d(num_channels, config.stem_channels, 7, stride=2),
            nn.BatchNorm3d(config.stem_channels),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        stages, previous = [], config.stem_channels
        for index, (channels, depth) in enumerate(zip(config.stage_channels, config.depths)):
            blocks = [ResidualBlock3d(previous if b == 0 else channels, channels, 2 if (index and b == 0) else 1)
                      for b in range(depth)]  # fmt: skip
            stages.append(nn.Sequential(*blocks))
            previous = channels
        self.stages = nn.ModuleList(stages)
        self.channels = [config.stem_channels, *config.stage_channels]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.stem(x)
        outputs, hidden = [stem], self.pool(stem)
        for stage in self.stages:
            hidden = stage(hidden)
            outputs.append(hidden)
        return outputs


class CoordinateAttention(nn.Module):
    """Coordinate attention on a (B, C, H, W) map: x · σ(a_h) · σ(a_w) from row- and column-pooled codes."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels)
        self.encode = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.attend_h = nn.Conv2d(hidden, channels, 1)
        self.attend_w = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        columns = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        code_h, code_w = self.encode(torch.cat([rows, columns], dim=2)).split([height, width], dim=2)
        return x * torch.sigmoid(self.attend_h(code_h)) * torch.sigmoid(self.attend_w(code_w.transpose(2, 3)))


class FusedAttention(nn.Module):
    """3×3×3 + 1×1×1 fusion, then coordinate attention over the folded (channel × time) axis."""

    def __init__(self, channels: int, time: int) -> None:
        super().__init__()
        self.fuse = nn.Sequential(
            conv_bn_relu_3d(channels, channels, (3, 3, 3), padding=(1, 1, 1)), conv_bn_relu_3d(channels, channels, (1, 1, 1))
        )
        self.attention = CoordinateAttention(channels * time)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.fuse(x)
        return self.attention(_fold(fused)).view_as(fused)


class AdjacentCrossFusion(nn.Module):
    """AFCF: a level plus its finer neighbour (strided 1×3×3 conv) and coarser neighbour (×2, 3×3×3 conv)."""

    def __init__(self, channels: int, finer: bool, coarser: bool) -> None:
        super().__init__()
        self.down = (
            conv_bn_relu_3d(channels, channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if finer else None
        )
        self.up = conv_bn_relu_3d(channels, channels, (3, 3, 3), padding=(1, 1, 1)) if coarser else None
        self.fuse = FusedAttention(channels, 2)

    def forward(self, level: torch.Tensor, finer: torch.Tensor | None, coarser: torch.Tensor | None) -> torch.Tensor:
        total = level
        if self.down is not None and finer is not None:
            total = total + self.down(finer)
        if self.up is not None and coarser is not None:
            total = total + self.up(_upsample(coarser, level.shape[-2:]))
        return self.fuse(total) + level


class DenseDecoder(nn.Module):
    """Full-scale skip decoder from stride 16 to stride 2; maps are concatenated along time."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        time = 2 * DECODER_INPUTS
        self.up = conv_bn_relu_3d(channels, channels, (3, 3, 3), padding=(1, 1, 1))
        self.down = conv_bn_relu_3d(channels, channels, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.fuse = nn.ModuleList(FusedAttention(channels, time) for _ in range(LEVELS - 1))  # strides 16, 8, 4, 2

        def fold_time(last: bool) -> nn.Sequential:  # T = 10 → 4 → 2 (or → 1 for the last level)
            return nn.Sequential(
                conv_bn_relu_3d(channels, channels, (3, 3, 3), padding=(1, 1, 1)),
                conv_bn_relu_3d(channels, channels, (4, 3, 3), stride=(2, 1, 1), padding=(0, 1, 1)),
                conv_bn_relu_3d(channels, channels, (4 if last else 3, 1, 1)),
            )

        self.fold = nn.ModuleList(fold_time(last=index == LEVELS - 2) for index in range(LEVELS - 1))

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """``levels`` at strides 2, 4, 8, 16, 32 (T = 2) → (B, C, H/2, W/2)."""
        # Encoder skips brought down to every coarser decoder level: downs[i][j] = level i at level j's stride.
        downs = []
        for index, level in enumerate(levels[: LEVELS - 2]):
            chain, hidden = {index: level}, level
            for target in range(index + 1, LEVELS - 1):
                hidden = self.down(hidden)
                chain[target] = hidden
            downs.append(chain)
        deeper = [levels[-1]]  # decoder outputs of the coarser levels, deepest first
        for step, target in enumerate(range(LEVELS - 2, -1, -1)):  # strides 16, 8, 4, 2
            size = levels[target].shape[-2:]
            deeper = [self.up(_upsample(m, size)) for m in deeper]
            shallower = [downs[i][target] for i in range(target)]
            # Decoder levels concatenate [deeper maps (deepest first), the level, shallower maps]; the
            # stride-2 level puts itself first, as the reference does.
            if target == 0:
                stacked = torch.cat([levels[0], *deeper], dim=2)
            else:
                stacked = torch.cat([*deeper, levels[target], *reversed(shallower)], dim=2)
            hidden = self.fold[step](stacked + self.fuse[step](stacked))
            deeper.append(hidden)
        return hidden.squeeze(2)


class AFCF3DForChangeDetection(EuroMineChangeDetectionModel):
    """AFCF3D-Net: 3-D ResNet-18 over the stacked dates, adjacent-level cross-fusion, dense skip decoder."""

    _no_split_modules = ("ResidualBlock3d",)

    config_class = AFCF3DConfig
    config: AFCF3DConfig

    def __init__(self, config: AFCF3DConfig) -> None:
        super().__init__(config)
        self.encoder = ResNet3D(config.num_channels, config)
        width = config.decoder_channels
        self.reduce = nn.ModuleList(
            nn.Sequential(
                conv_bn_relu_3d(c, width, (1, 1, 1)),
                conv_bn_relu_3d(width, width, (3, 3, 3), padding=(1, 1, 1)),
                conv_bn_relu_3d(width, width, (3, 3, 3), padding=(1, 1, 1)),
            )
            for c in self.encoder.channels
        )
        self.fusion_first = AdjacentCrossFusion(width, finer=False, coarser=True)
        middle = 1 if config.share_middle_fusion else LEVELS - 2
        self.fusion_middle = nn.ModuleList(AdjacentCrossFusion(width, finer=True, coarser=True) for _ in range(middle))
        self.fusion_last = AdjacentCrossFusion(width, finer=True, coarser=False)
        self.decoder = DenseDecoder(width)
        self.head = nn.Sequential(
            nn.Conv2d(width, 2 * width, 1, bias=False), nn.BatchNorm2d(2 * width),
            nn.Conv2d(2 * width, width, 1, bias=False), nn.BatchNorm2d(width),
            nn.Conv2d(width, 1, 1),
        )  # fmt: skip
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, TemporalMixing):  # start as a per-date 2-D network
            module.reset_parameters()

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack([pixel_values_t1, pixel_values_t2], dim=2)  # (B, C, T=2, H, W)
        levels = [reduce(level) for reduce, level in zip(self.reduce, self.encoder(stacked))]
        fused = [self.fusion_first(levels[0], None, levels[1])]
        for index in range(1, LEVELS - 1):
            fusion = self.fusion_middle[min(index - 1, len(self.fusion_middle) - 1)]
            fused.append(fusion(levels[index], levels[index - 1], levels[index + 1]))
        fused.append(self.fusion_last(levels[-1], levels[-2], None))
        score = self.head(self.decoder(fused))
        score = F.interpolate(score, size=pixel_values_t1.shape[-2:], mode="bilinear", align_corners=True)
        return binary_logits(score)


register_model(
    "afcf3d",
    "AFCF3D",
    AFCF3DConfig,
    AFCF3DForChangeDetection,
    task="change_detection",
    paper={"stem_channels": 64, "stage_channels": [64, 128, 256, 512], "depths": [2, 2, 2, 2], "decoder_channels": 32},
    tiny={"stem_channels": 8, "stage_channels": [8, 8, 12, 12], "depths": [1, 1, 1, 1], "decoder_channels": 4},
    published_params=16.83,
)
