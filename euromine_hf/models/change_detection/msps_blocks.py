"""The multiscale Siamese skeleton that MSPSNet (Guo et al., TGRS 2021) introduced and HANet
(Han et al., JSTARS 2023) builds on.

Both detectors share everything but the attention applied at each scale, so that skeleton lives
here once:

* **Siamese encoder** (shared weights on both dates): a 5×5 stem convolution to ``w`` channels,
  then four *feature extraction cells* (FEC) of widths w, 2w, 4w, 8w, each after a 2× average
  pooling but the first. An FEC is a 3×3 convolution whose output is kept as the identity, then
  BN → ReLU → 1×1 convolution → BN, added back and ReLU'd (a residual unit at very low cost).
* **Parallel convolutional structure** (PCS), per scale: the two dates' maps are concatenated
  (date 1 first) and four grouped 3×3 convolutions with dilations 1, 2, 3, 4 run in parallel,
  each from 2C to C channels in C/2 groups; a 1×1 convolution fuses their 4C outputs to C. The
  dilations see a growing context at the same cost; the groups keep the structure light.
* **Per-scale attention** (what differs): MSPSNet's *self-attention* (SA) block is a 3×3
  convolution to 32 channels, BN, PReLU, DANet's channel self-attention (CAM), a 3×3 convolution
  back to C, BN, PReLU; HANet adds its row/column attention beside it (see ``hanet.py``).
* **Decoder**: from the deepest scale up, each scale's attended map is concatenated with the 2×
  bilinear upsampling of the coarser scale's result, so the finest result holds
  w + 2w + 4w + 8w channels (600 for w = 40); a 1×1 convolution to 2w and a bias-free 3×3
  classifier give the change logits at full resolution.

Facts from the authors' code where the papers are silent: w = 40, the 5×5 stem, the 32-channel
attention bottleneck, the groups, and the date order inside the grouped convolutions (with C/2
groups over [date 1, date 2] every group sees one date only; the dates meet in the 1×1 fusion).

Differences from that code, and why:

* Its encoder pools with ``AdaptiveAvgPool2d(128 / 64 / 32)``, i.e. exactly 2× average pooling at
  its 256-px input and wrong at any other size; here it is a 2× average pooling at every size
  (160 px gives 80 / 40 / 20), and upsampled maps are resized to their finer scale's size.
* It builds four 3×3 convolutions (``c1_conv`` … ``c4_conv``: w→w, 2w→2w, 4w→2w, 8w→2w) that its
  forward never runs; the benchmark's published counts (MSPSNet 2.11, HANet 2.89 × 2^20) include
  them, and without them MSPSNet would be 19 % short of its published count. ``keep_idle_convs``
  (``paper`` presets: True) builds them *frozen* (``requires_grad=False``: counted, saved and
  loaded, never in the optimizer or DDP's gradient bookkeeping); False drops them — the same
  function with 0.40 × 2^20 fewer parameters.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.change_detection.fusion import run_per_date
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import EuroMineChangeDetectionModel


class MultiscaleSiameseConfig(EuroMineChangeDetectionConfig):
    """Fields of the MSPSNet skeleton (MSPSNet and HANet subclass it with their own ``model_type``).

    Args:
        base_width: channels ``w`` of the first scale (40); scale ``i`` has ``w * 2**i``. Must be
            even (the PCS groups are C/2).
        levels: scales of the encoder (4: w … 8w, strides 1 … 8).
        stem_kernel: kernel of the first convolution (5).
        attention_width: bottleneck channels of the self-attention block (32).
        dilations: dilations of the parallel grouped convolutions ([1, 2, 3, 4]).
        keep_idle_convs: also build the reference's four never-run 3×3 convolutions, frozen
            (see the module docstring; True in the ``paper`` presets).
        loss: ``"ce"`` (the benchmark's framework trains both with cross-entropy).
    """

    model_type = "euromine-msps-skeleton"

    def __init__(
        self,
        base_width: int = 40,
        levels: int = 4,
        stem_kernel: int = 5,
        attention_width: int = 32,
        dilations: Sequence[int] = (1, 2, 3, 4),
        keep_idle_convs: bool = True,
        **kwargs: Any,
    ) -> None:
        dilations = [int(d) for d in dilations]
        name = type(self).__name__
        if int(base_width) < 2 or int(base_width) % 2:
            raise ValueError(f"{name}.base_width must be an even number >= 2 (PCS groups are C/2); got {base_width}")
        if int(levels) < 1:
            raise ValueError(f"{name}.levels must be >= 1; got {levels}")
        if int(stem_kernel) < 1 or int(stem_kernel) % 2 == 0:
            raise ValueError(f"{name}.stem_kernel must be an odd number >= 1; got {stem_kernel}")
        if int(attention_width) < 1:
            raise ValueError(f"{name}.attention_width must be >= 1; got {attention_width}")
        if not dilations or min(dilations) < 1:
            raise ValueError(f"{name}.dilations must list one or more dilations >= 1; got {dilations}")
        self.base_width = int(base_width)
        self.levels = int(levels)
        self.stem_kernel = int(stem_kernel)
        self.attention_width = int(attention_width)
        self.dilations = dilations
        self.keep_idle_convs = bool(keep_idle_convs)
        super().__init__(**kwargs)

    @property
    def widths(self) -> list[int]:
        return [self.base_width * 2**i for i in range(self.levels)]


class FeatureExtractionCell(nn.Module):
    """FEC: conv3×3 (kept as identity) → BN → ReLU → conv1×1 → BN → + identity → ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        identity = self.conv1(hidden)
        hidden = self.norm2(self.conv2(F.relu(self.norm1(identity))))
        return F.relu(hidden + identity)


class SiameseFECEncoder(nn.Module):
    """Stem + one FEC per scale, 2× average pooling between scales; returns one map per scale."""

    def __init__(self, in_channels: int, widths: Sequence[int], stem_kernel: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, widths[0], stem_kernel, padding=stem_kernel // 2)
        self.cells = nn.ModuleList(
            FeatureExtractionCell(widths[max(i - 1, 0)], width) for i, width in enumerate(widths)
        )

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = []
        hidden = self.stem(pixel_values)
        for index, cell in enumerate(self.cells):
            hidden = cell(F.avg_pool2d(hidden, 2) if index else hidden)
            features.append(hidden)
        return features


class ParallelConvolution(nn.Module):
    """PCS: grouped dilated 3×3 convolutions in parallel over [date 1, date 2], fused by a 1×1."""

    def __init__(self, channels: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv2d(2 * channels, channels, 3, padding=d, dilation=d, groups=channels // 2) for d in dilations
        )
        self.fuse = nn.Conv2d(len(self.branches) * channels, channels, 1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([first, second], dim=1)
        return self.fuse(torch.cat([branch(pair) for branch in self.branches], dim=1))


class ChannelSelfAttention(nn.Module):
    """DANet's channel attention module (CAM): ``γ · softmax(max(E) − E) V + x`` with E = X Xᵀ.

    The channel affinity E is computed over all pixels, so any map size works; subtracting it from
    its row maximum (as DANet does) makes dissimilar channels attend to each other. γ starts at 0:
    the block is an identity until it learns otherwise.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        flat = hidden.reshape(batch, channels, height * width)
        energy = torch.bmm(flat, flat.transpose(1, 2))
        energy = energy.amax(dim=-1, keepdim=True) - energy
        attended = torch.bmm(energy.softmax(dim=-1), flat).reshape(batch, channels, height, width)
        return self.gamma * attended + hidden


class SelfAttentionBlock(nn.Sequential):
    """MSPSNet's SA block: conv3×3 → BN → PReLU → CAM → conv3×3 → BN → PReLU (C → width → C)."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.PReLU(),
            ChannelSelfAttention(),
            nn.Conv2d(width, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(),
        )


def idle_convs(widths: Sequence[int]) -> nn.ModuleList:
    """The reference's four never-run 3×3 convolutions (w→w, 2w→2w, 4w→2w, 8w→2w), frozen."""
    outs = [widths[0]] + [2 * widths[0]] * (len(widths) - 1)
    convs = nn.ModuleList(nn.Conv2d(c, o, 3, padding=1) for c, o in zip(widths, outs))
    convs.requires_grad_(False)
    return convs


class MultiscaleSiameseCDModel(EuroMineChangeDetectionModel):
    """The shared skeleton; subclasses give ``scale_attention(channels)`` for each scale."""

    _no_split_modules = ("FeatureExtractionCell",)

    config_class = MultiscaleSiameseConfig
    config: MultiscaleSiameseConfig

    def scale_attention(self, channels: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def __init__(self, config: MultiscaleSiameseConfig) -> None:
        super().__init__(config)
        widths = config.widths
        self.encoder = SiameseFECEncoder(config.num_channels, widths, config.stem_kernel)
        self.pcs = nn.ModuleList(ParallelConvolution(width, config.dilations) for width in widths)
        self.attention = nn.ModuleList(self.scale_attention(width) for width in widths)
        self.fuse = nn.Conv2d(sum(widths), 2 * config.base_width, 1)
        self.classifier = nn.Conv2d(2 * config.base_width, config.num_labels, 3, padding=1, bias=False)
        if config.keep_idle_convs:
            self.idle_convs = idle_convs(widths)
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> "MultiscaleSiameseCDModel":
        """As ``PreTrainedModel.from_pretrained``; re-freezes the idle convolutions, which the loader
        turns back into trainable parameters."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True
        if hasattr(model, "idle_convs"):
            model.idle_convs.requires_grad_(False)
        return loaded

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)
        gamma = getattr(module, "gamma", None)
        if isinstance(gamma, nn.Parameter):  # attention residual scales start at 0 (identity)
            nn.init.zeros_(gamma)

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        batch = pixel_values_t1.shape[0]
        features = run_per_date(self.encoder, pixel_values_t1, pixel_values_t2, self.training)  # shared weights
        hidden = None
        for level in reversed(range(len(features))):
            fused = self.pcs[level](features[level][:batch], features[level][batch:])
            attended = self.attention[level](fused)
            if hidden is None:
                hidden = attended
            else:
                up = F.interpolate(hidden, size=attended.shape[-2:], mode="bilinear", align_corners=False)
                hidden = torch.cat([attended, up], dim=1)
        return self.classifier(self.fuse(hidden))


__all__ = [
    "ChannelSelfAttention",
    "FeatureExtractionCell",
    "MultiscaleSiameseCDModel",
    "MultiscaleSiameseConfig",
    "ParallelConvolution",
    "SelfAttentionBlock",
    "SiameseFECEncoder",
    "idle_convs",
]
