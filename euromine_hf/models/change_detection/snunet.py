"""SNUNet-CD (Fang, Li, Shen & Yang, "SNUNet-CD: A Densely Connected Siamese Network for Change
Detection of VHR Images", IEEE GRSL 2021).

A Siamese UNet++: one encoder (shared weights) of five levels, widths w, 2w, 4w, 8w, 16w, runs on
both dates; a nested decoder of nodes x^{i,j} (level i, column j ≥ 1) then receives, through dense
skip connections, *both* dates' encoder maps of its level, every earlier node of its level and the
2× transposed-convolution upsampling of node x^{i+1,j-1} below:

    x^{i,j} = H([x_A^{i,0}, x_B^{i,0}, x^{i,1}, …, x^{i,j-1}, Up(x^{i+1,j-1})]).

Dense skips carry the shallow, high-resolution information of both dates to every decoder depth,
which the paper argues keeps small and thin changes that a plain Siamese U-Net loses. Each node H
is a residual pair of 3×3 convolutions (the first convolution's output is the identity branch).
The four full-resolution outputs x^{0,1..4} are combined by the ensemble channel attention module
(ECAM): channel attention (shared MLP over average- and max-pooled descriptors, sigmoid) over their
concatenation M_inter (4w channels, reduction 16) multiplies M_inter + Repeat_4(M_intra), where
M_intra is the channel attention (reduction 4) of their sum; a 1×1 convolution classifies.

Facts taken from the authors' reference code where the paper is silent: the level-(i+1) map that
feeds column 1 is the *second* date's (so the deepest level is computed for date 2 only), the
node's residual form, and the attention reductions (16 and 4). ``SNUNet-CD/32`` (w = 32, ≈12.0 M
parameters with RGB pairs) is the published configuration and our ``paper`` preset.

ECAM's pooling (``ecam_pool``): the benchmark's framework defines ECAM's ``max_pool`` as an
``AdaptiveAvgPool2d`` (EricYu97/UCD 6972640, ``models/SNUNet.py:50``), so both descriptors are the
average and each attention is σ(2·MLP(avg)); ``"avg"`` (default, ``paper``) reproduces that,
``"max"`` gives the paper's channel attention with a true max-pool. Same parameters either way.

Loss: the paper trains with a hybrid of weighted cross-entropy and Dice; the benchmark's framework
trains every detector with cross-entropy, and our ``paper`` preset follows the benchmark
(``loss="ce"``) so that SNUNet is compared like the others; ``loss="ce+dice"`` gives the paper's
hybrid (unweighted cross-entropy + soft Dice).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from euromine_hf.models.change_detection.fusion import ChannelAttention, run_per_date
from euromine_hf.models.configuration import EuroMineChangeDetectionConfig
from euromine_hf.models.layers import init_classifier
from euromine_hf.models.modeling import EuroMineChangeDetectionModel
from euromine_hf.models.registry import register_model

#: Levels of the nested UNet (four 2× poolings, as in UNet++ and SNUNet-CD).
LEVELS = 5


class SNUNetConfig(EuroMineChangeDetectionConfig):
    """Configuration of :class:`SNUNetForChangeDetection`.

    Args:
        base_width: channels of level 0 (32 for SNUNet-CD/32, the published model; 16, 48 and 64
            are the paper's other variants); level ``i`` has ``base_width * 2**i``.
        attention_reduction: MLP reduction of ECAM's inter-column channel attention (16); the
            intra-column attention uses a quarter of it (4), as the reference code does.
        ecam_pool: ECAM's second pooled descriptor: ``"avg"`` (the framework, see the module
            docstring) or ``"max"`` (the paper).
        loss: ``"ce"`` (benchmark) or ``"ce+dice"`` (the paper's hybrid loss).
    """

    model_type = "euromine-snunet"

    def __init__(
        self, base_width: int = 32, attention_reduction: int = 16, ecam_pool: str = "avg", **kwargs: Any
    ) -> None:
        if ecam_pool not in ChannelAttention.POOLS:
            raise ValueError(f"config.ecam_pool must be one of {ChannelAttention.POOLS}; got {ecam_pool!r}")
        self.ecam_pool = ecam_pool
        if int(base_width) < 1:
            raise ValueError(f"config.base_width must be >= 1; got {base_width}")
        if int(attention_reduction) < 4:
            raise ValueError(f"config.attention_reduction must be >= 4; got {attention_reduction}")
        self.base_width = int(base_width)
        self.attention_reduction = int(attention_reduction)
        super().__init__(**kwargs)


class ResidualNode(nn.Module):
    """conv3×3 → (identity) → BN → ReLU → conv3×3 → BN → + identity → ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = nn.BatchNorm2d(out_channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        identity = self.conv1(hidden)
        hidden = self.norm2(self.conv2(F.relu(self.norm1(identity))))
        return F.relu(hidden + identity)


class EnsembleChannelAttention(nn.Module):
    """ECAM: attention-weighted ensemble of the full-resolution decoder outputs x^{0,1..K}."""

    def __init__(self, channels: int, columns: int, reduction: int, pool: str = "avg") -> None:
        super().__init__()
        self.columns = columns
        self.inter = ChannelAttention(channels * columns, reduction, second_pool=pool)
        self.intra = ChannelAttention(channels, reduction // 4, second_pool=pool)
        self.out_channels = channels * columns

    def forward(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        inter = torch.cat(outputs, dim=1)
        intra = self.intra(torch.stack(outputs).sum(dim=0))
        return self.inter(inter) * (inter + intra.repeat(1, self.columns, 1, 1))


def _match(hidden: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Pad an upsampled map to its skip's size (sizes not divisible by 16: pooling floored)."""
    pad_h, pad_w = reference.shape[-2] - hidden.shape[-2], reference.shape[-1] - hidden.shape[-1]
    return F.pad(hidden, [0, pad_w, 0, pad_h], mode="replicate") if pad_h or pad_w else hidden


class SNUNetForChangeDetection(EuroMineChangeDetectionModel):
    """SNUNet-CD with ECAM: Siamese encoder, densely connected nested decoder, ensemble attention."""

    conv_init = "he_fan_out"  # the framework's SNUNet.py:110 sets He fan-out on its convolutions
    _no_split_modules = ("ResidualNode",)

    config_class = SNUNetConfig

    def __init__(self, config: SNUNetConfig) -> None:
        super().__init__(config)
        widths = [config.base_width * 2**i for i in range(LEVELS)]
        self.encoder = nn.ModuleList(
            ResidualNode(config.num_channels if i == 0 else widths[i - 1], widths[i]) for i in range(LEVELS)
        )
        # Node x^{i,j} (j ≥ 1) and the transposed convolution that lifts x^{i,j} (i ≥ 1) one level.
        self.nodes = nn.ModuleDict()
        self.ups = nn.ModuleDict()
        for i in range(LEVELS):
            for j in range(LEVELS - i):
                if j:
                    self.nodes[f"{i}_{j}"] = ResidualNode((j + 1) * widths[i] + widths[i + 1], widths[i])
                if i:
                    self.ups[f"{i}_{j}"] = nn.ConvTranspose2d(widths[i], widths[i], 2, stride=2)
        self.ecam = EnsembleChannelAttention(widths[0], LEVELS - 1, config.attention_reduction, config.ecam_pool)
        self.classifier = nn.Conv2d(self.ecam.out_channels, config.num_labels, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "classifier", None):
            init_classifier(module)

    def encode(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Column 0 of both dates; the deepest level for date 2 only (nothing reads date 1's)."""
        batch = pixel_values_t1.shape[0]

        def column(hidden: torch.Tensor) -> list[torch.Tensor]:
            maps = []
            for level, stage in enumerate(self.encoder[:-1]):
                hidden = stage(F.max_pool2d(hidden, 2) if level else hidden)
                maps.append(hidden)
            return maps

        # shared weights; per-date BatchNorm statistics in training (fusion.run_per_date)
        stacked = run_per_date(column, pixel_values_t1, pixel_values_t2, self.training)
        first, second = [m[:batch] for m in stacked], [m[batch:] for m in stacked]
        second.append(self.encoder[-1](F.max_pool2d(second[-1], 2)))
        return first, second

    def decode(self, first: list[torch.Tensor], second: list[torch.Tensor]) -> list[torch.Tensor]:
        """The nested decoder, column by column; returns the full-resolution outputs x^{0,1..4}."""
        columns: list[list[torch.Tensor]] = [[a, b] for a, b in zip(first, second)]  # level i: inputs so far
        below = second  # column j-1, indexed by level (column 0: date 2's encoder maps)
        for j in range(1, LEVELS):
            current = []
            for i in range(LEVELS - j):
                lifted = _match(self.ups[f"{i + 1}_{j - 1}"](below[i + 1]), columns[i][0])
                node = self.nodes[f"{i}_{j}"](torch.cat([*columns[i], lifted], dim=1))
                columns[i].append(node)
                current.append(node)
            below = current
        return columns[0][2:]

    def detect(self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
        first, second = self.encode(pixel_values_t1, pixel_values_t2)
        return self.classifier(self.ecam(self.decode(first, second)))


register_model(
    "snunet",
    "SNUNet",
    SNUNetConfig,
    SNUNetForChangeDetection,
    task="change_detection",
    paper={"base_width": 32, "attention_reduction": 16, "ecam_pool": "avg"},
    tiny={"base_width": 2, "attention_reduction": 16},
    published_params=11.48,
)

__all__ = ["SNUNetConfig", "SNUNetForChangeDetection"]
