"""HANet (Han, Wu, Guo, Hu & Chen, "HANet: A Hierarchical Attention Network for Change Detection
With Bitemporal Very-High-Resolution Remote Sensing Images", IEEE JSTARS 2023).

HANet keeps MSPSNet's light multiscale Siamese skeleton (shared FEC encoder, parallel grouped
dilated convolutions per scale, coarse-to-fine fusion; see :mod:`.msps_blocks`) and replaces the
per-scale attention by its *hierarchical attention network* (HAN): at every scale the fused change
features X go through two attentions side by side and are summed,

    HAN(X) = SA(X) + Row(Col(X)),

where SA is MSPSNet's channel self-attention block (global channel context) and Row∘Col is a
lightweight axial spatial attention: the column attention lets every pixel attend to all pixels of
its column, then the row attention to all pixels of its row, so after both every pixel has seen
the whole map at O(HW(H+W)) instead of O((HW)²) cost. Each is ``γ · softmax(QKᵀ) V + X`` with
1×1-convolution projections (queries and keys of C channels, as in the reference code), no
1/√d scaling (the reference has none), and γ = 0 at start. Sequence lengths are the map's own
height and width, so any input size works (160 px gives 160/80/40/20-long rows).

Training strategy not implemented here: the paper's *progressive foreground-balanced sampling*
(PFBS) trains the first epochs only on the pairs that contain change and then adds the others
(fixed-X, linear-Y or both schedules). It is a data-sampling schedule of the training loop, not a
part of the model; our Trainer samples uniformly, and HANet here is trained like every other
detector (cross-entropy, as the benchmark's framework does; the reference code also offers a
focal + Dice hybrid).

Published size: the benchmark's framework builds HANet with 3,029,444 parameters (2.89 × 2^20)
with RGB pairs; the ``paper`` preset (w = 40, the reference's idle convolutions kept) matches it.

The framework's code cannot run at the benchmark's 160-px patches: its encoder pools with
``AdaptiveAvgPool2d(128)`` / ``(64)``, fixed output sizes that halve the map only at 256 px, so at
160 px the scales' sizes no longer halve and its forward fails (DESIGN.md, framework facts). Ours
pools 2× at every size (see :mod:`.msps_blocks`), which is the framework's function at 256 px and
runs at 160 px.
"""

from __future__ import annotations

import torch
from torch import nn

from euromine_hf.models.change_detection.msps_blocks import (
    MultiscaleSiameseCDModel,
    MultiscaleSiameseConfig,
    SelfAttentionBlock,
)
from euromine_hf.models.registry import register_model


class HANetConfig(MultiscaleSiameseConfig):
    """Configuration of :class:`HANetForChangeDetection` (fields: :class:`MultiscaleSiameseConfig`)."""

    model_type = "euromine-hanet"


class AxialAttention(nn.Module):
    """Self-attention along one image axis: each pixel attends to all pixels of its row or column.

    Args:
        channels: input (and value / output) channels C.
        key_channels: channels of queries and keys (C in HANet).
        axis: ``"row"`` (attend along the width) or ``"column"`` (along the height).
    """

    def __init__(self, channels: int, key_channels: int, axis: str) -> None:
        super().__init__()
        if axis not in ("row", "column"):
            raise ValueError(f"AxialAttention axis must be 'row' or 'column'; got {axis!r}")
        self.axis = axis
        self.query = nn.Conv2d(channels, key_channels, 1)
        self.key = nn.Conv2d(channels, key_channels, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        # Bring the attended axis last: (B, C, lines, length), lines = H for rows, W for columns.
        grid = hidden if self.axis == "row" else hidden.transpose(-1, -2)
        batch, _, lines, length = grid.shape

        def sequences(projected: torch.Tensor) -> torch.Tensor:  # (B, c, lines, length) → (B·lines, length, c)
            return projected.permute(0, 2, 3, 1).reshape(batch * lines, length, -1)

        query, key, value = sequences(self.query(grid)), sequences(self.key(grid)), sequences(self.value(grid))
        weights = torch.bmm(query, key.transpose(1, 2)).softmax(dim=-1)  # (B·lines, length, length)
        attended = torch.bmm(weights, value).reshape(batch, lines, length, -1).permute(0, 3, 1, 2)
        if self.axis == "column":
            attended = attended.transpose(-1, -2)
        return self.gamma * attended + hidden


class HierarchicalAttention(nn.Module):
    """HAN at one scale: channel self-attention block + row attention after column attention."""

    def __init__(self, channels: int, attention_width: int) -> None:
        super().__init__()
        self.channel = SelfAttentionBlock(channels, attention_width)
        self.column = AxialAttention(channels, channels, "column")
        self.row = AxialAttention(channels, channels, "row")

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.channel(hidden) + self.row(self.column(hidden))


class HANetForChangeDetection(MultiscaleSiameseCDModel):
    """HANet: the MSPSNet skeleton with hierarchical (channel + row/column) attention per scale."""

    conv_init = "he_fan_out"  # the framework's HANet.py:301 sets He fan-out on its convolutions

    config_class = HANetConfig

    def scale_attention(self, channels: int) -> nn.Module:
        return HierarchicalAttention(channels, self.config.attention_width)


register_model(
    "hanet",
    "HANet",
    HANetConfig,
    HANetForChangeDetection,
    task="change_detection",
    paper={"base_width": 40, "attention_width": 32, "keep_idle_convs": True},
    tiny={"base_width": 4, "attention_width": 4, "keep_idle_convs": False},
    published_params=2.89,
)

__all__ = ["AxialAttention", "HANetConfig", "HANetForChangeDetection", "HierarchicalAttention"]
