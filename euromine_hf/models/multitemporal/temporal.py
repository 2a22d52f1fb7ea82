"""Per-pixel temporal attention over a patch's years, and the reuse of its weights on skip maps.

Why a separate part: the attention is the one place where years meet; everything else in the
multitemporal model runs per date. Kept free of the model's config so it can be tested alone.

* :func:`year_encoding` — sinusoidal encoding of the acquisition year (U-TAE encodes the
  acquisition day with the Transformer's sinusoids; here the date is the year offset).
* :class:`TemporalSelfAttention` — a pre-norm Transformer layer along time for every pixel: each
  year's query attends to the keys of every *present* year (a missing year is masked out of the
  keys, so it cannot change any other year's output). Returns the per-head attention weights too.
* :func:`mix_years` — U-TAE's cheap trick, kept per year: the weights computed at the lowest
  resolution are upsampled bilinearly and applied, one head per channel group, to a skip map, so
  the skips get temporal context without a second attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def year_encoding(offsets: torch.Tensor, channels: int, period: float = 1000.0) -> torch.Tensor:
    """``(…,)`` year offsets → ``(…, channels)`` sinusoids (sin on even, cos on odd channels)."""
    half = torch.arange(channels, device=offsets.device) // 2
    frequency = period ** (-2.0 * half.float() / channels)
    angle = offsets.float()[..., None] * frequency
    return torch.where(torch.arange(channels, device=offsets.device) % 2 == 0, angle.sin(), angle.cos())


class TemporalSelfAttention(nn.Module):
    """``x (N, T, C)`` with ``present (N, T)`` → ``(x', weights (N, heads, T, T))``.

    ``x' = x + Attn(LN(x))``, then ``x' + MLP(LN(x'))``; keys of absent years get weight 0.
    Every row must have at least one present year (the caller checks).
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"temporal attention: {channels} channels are not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        hidden = max(1, int(channels * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, t, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c // self.num_heads)  # (N, heads, T, T)
        scores = scores.masked_fill(~present[:, None, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(n, t, c)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x)), weights


def mix_years(skip: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each year's skip map as the attention-weighted mix of all years' (U-TAE's group masks, per year).

    ``skip`` (B, T, C, H, W); ``weights`` (B, heads, T, T, h, w) from the lowest resolution, upsampled
    here to (H, W). Channel group ``g`` of year ``i`` is ``Σ_j weights[g, i, j] · skip[j, g]``.
    """
    b, t, c, height, width = skip.shape
    heads = weights.shape[1]
    if c % heads:
        raise ValueError(f"mix_years: {c} skip channels are not divisible by {heads} heads")
    if weights.shape[-2:] != (height, width):
        flat = weights.reshape(b, heads * t * t, *weights.shape[-2:])
        weights = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False)
        weights = weights.reshape(b, heads, t, t, height, width)
    grouped = skip.reshape(b, t, heads, c // heads, height, width)
    mixed = torch.einsum("bgijyx,bjgcyx->bigcyx", weights, grouped)
    return mixed.reshape(b, t, c, height, width)


__all__ = ["TemporalSelfAttention", "mix_years", "year_encoding"]
