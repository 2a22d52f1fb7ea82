"""Change-detection parts: how two dates meet.

Detectors differ mostly in *where* and *how* the two dates are combined (Daudt et al. 2018 name
the three basic choices): early fusion stacks both images as one 2C-band input; a Siamese encoder
runs one set of weights on each date and fuses per scale, by concatenation or by absolute
difference; later detectors fuse with attention, or weigh the fused maps by channel attention.
These modules are the shared pieces; each paper detector file assembles them with its own decoder.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from euromine_hf.models.encoders.base import Encoder


def early_fusion(pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor) -> torch.Tensor:
    """Both dates as one image of 2C channels (date 1's bands first)."""
    return torch.cat([pixel_values_t1, pixel_values_t2], dim=1)


def _stack_dates(first: Any, second: Any) -> Any:
    """Two dates' outputs (tensors, or lists/tuples of them) concatenated along the batch."""
    if isinstance(first, torch.Tensor):
        return torch.cat([first, second], dim=0)
    if isinstance(first, (list, tuple)):
        return [_stack_dates(a, b) for a, b in zip(first, second)]
    raise TypeError(f"per-date outputs must be tensors or lists of tensors; got {type(first).__name__}")


def run_per_date(module: Callable[[Any], Any], inputs_t1: Any, inputs_t2: Any, training: bool) -> Any:
    """``module`` on both dates, outputs stacked along the batch (date 1's B rows, then date 2's).

    Inputs are each date's tensor (or list of tensors, e.g. feature maps of a decoder).

    Why not one 2B batch: in training mode BatchNorm would normalise with statistics mixing both
    dates and update its running statistics once per step; every reference implementation (and the
    change-detection framework the benchmark used) runs the dates one after the other, so each date
    is normalised by its own batch statistics and the running statistics move twice per step. In
    eval mode BatchNorm uses its running statistics, so one 2B batch gives the same result in one pass.

    The cost of that fidelity: when the dates' statistics differ strongly, the running statistics
    converge to a mix that fits neither date, and a model fitted in train mode fails in eval mode.
    On the learning check's batch (``testing.learning``: date 1 noise, date 2 a quarter bright)
    BIT, DMINet, DTCDSCN, TFI-GR and A2Net do; on its ``balanced_dates`` variant (both dates with
    the same statistics, as two real scenes roughly have) they fit both modes (issue 15).
    """
    if not training:
        return module(_stack_dates(inputs_t1, inputs_t2))
    return _stack_dates(module(inputs_t1), module(inputs_t2))


class SiameseEncoder(nn.Module):
    """One encoder (shared weights) run on both dates; returns per-scale ``(features_t1, features_t2)``.

    In training mode the dates pass one after the other (per-date BatchNorm statistics, as the
    references do; see :func:`run_per_date`); in eval mode as one batch of 2B. Not written with
    :func:`run_per_date`: that stacks the dates' outputs, and the two feature lists wanted here would
    then cost a copy of every feature map per training step.
    """

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.channels = list(encoder.channels)
        self.reductions = list(encoder.reductions)

    def forward(
        self, pixel_values_t1: torch.Tensor, pixel_values_t2: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.training:
            return list(self.encoder(pixel_values_t1)), list(self.encoder(pixel_values_t2))
        batch = pixel_values_t1.shape[0]
        features = self.encoder(torch.cat([pixel_values_t1, pixel_values_t2], dim=0))
        return [f[:batch] for f in features], [f[batch:] for f in features]


class ConcatFusion(nn.Module):
    """[f1, f2] along channels (FC-Siam-conc); ``out_channels`` = 2 × in."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_channels = 2 * channels

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        return torch.cat([features_t1, features_t2], dim=1)


class AbsDiffFusion(nn.Module):
    """|f1 − f2| (FC-Siam-diff): symmetric in the dates, ``out_channels`` = in."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.out_channels = channels

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        return (features_t1 - features_t2).abs()


class AttentionFusion(nn.Module):
    """|f1 − f2| re-weighted by channel attention computed from both dates (squeeze-and-excitation
    over [f1, f2, |f1 − f2|]) and spatial attention from the difference map.

    The generic attention fusion of the later Siamese detectors: the network learns which channels
    and where the difference matters, instead of treating every difference alike.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(3 * channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(nn.Conv2d(2, 1, 7, padding=3), nn.Sigmoid())
        self.out_channels = channels

    def forward(self, features_t1: torch.Tensor, features_t2: torch.Tensor) -> torch.Tensor:
        difference = (features_t1 - features_t2).abs()
        weighted = difference * self.channel_gate(torch.cat([features_t1, features_t2, difference], dim=1))
        pooled = torch.cat([weighted.mean(dim=1, keepdim=True), weighted.amax(dim=1, keepdim=True)], dim=1)
        return weighted * self.spatial_gate(pooled)


class ChannelAttention(nn.Module):
    """CBAM's channel attention: weights σ(MLP(avg-pool x) + MLP(max-pool x)), shape (B, C, 1, 1).

    One bias-free two-layer MLP (hidden ``max(C // reduction, 1)``) shared by both pooled
    descriptors. Here because two detectors weigh their fused change maps with it (SNUNet-CD's
    ensemble attention, TFI-GR's change-information extraction).

    ``second_pool`` is the pooling of the second descriptor: ``"max"`` (CBAM) or ``"avg"``, which
    gives σ(2·MLP(avg-pool x)) — what the benchmark's framework computes for SNUNet, whose
    ``max_pool`` is an ``AdaptiveAvgPool2d``. No parameter depends on it.
    """

    POOLS = ("max", "avg")

    def __init__(self, channels: int, reduction: int, second_pool: str = "max") -> None:
        super().__init__()
        if second_pool not in self.POOLS:
            raise ValueError(f"ChannelAttention second_pool must be one of {self.POOLS}; got {second_pool!r}")
        self.second_pool = second_pool
        hidden = max(channels // reduction, 1)  # tiny widths would otherwise leave no hidden unit
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        average = self.mlp(hidden.mean(dim=(2, 3), keepdim=True))
        if self.second_pool == "avg":
            return torch.sigmoid(2.0 * average)
        maximum = self.mlp(hidden.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(average + maximum)


FUSIONS: dict[str, type[nn.Module]] = {"concat": ConcatFusion, "diff": AbsDiffFusion, "attention": AttentionFusion}


def make_fusion(kind: str, channels: int) -> nn.Module:
    """A fusion module by name (``concat``, ``diff``, ``attention``) for maps of ``channels``."""
    if kind not in FUSIONS:
        raise ValueError(f"unknown fusion {kind!r}; choose from {sorted(FUSIONS)}")
    return FUSIONS[kind](channels)


__all__ = [
    "AbsDiffFusion",
    "AttentionFusion",
    "ChannelAttention",
    "ConcatFusion",
    "FUSIONS",
    "SiameseEncoder",
    "early_fusion",
    "make_fusion",
    "run_per_date",
]
