"""Losses over a patch's yearly series, shared by the models and the training layer.

Why here and not in ``training/``: the multitemporal model computes the paper's Eq. 6 and Eq. 7
in its own ``forward`` (as every zoo model returns its loss), and models must not import the
training layer; ``training/losses.py`` re-exports :func:`multitemporal_cross_entropy` from here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from euromine_hf.models.configuration import IGNORE_INDEX


def check_series(logits: torch.Tensor, labels: torch.Tensor) -> None:
    """``logits`` (B, T, C, H, W) and ``labels`` (B, T, H, W) of one series batch, agreeing in B, T, H, W."""
    if logits.ndim != 5 or labels.ndim != 4:
        raise ValueError(
            "time-series loss expects logits (batch, years, classes, H, W) and labels (batch, years, H, W); "
            f"got logits {tuple(logits.shape)} and labels {tuple(labels.shape)}"
        )
    if logits.shape[:2] != labels.shape[:2] or logits.shape[-2:] != labels.shape[-2:]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} disagree on batch, years or size"
        )


def multitemporal_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Eq. 6: ``(1/T) Σ_t CE(P_t, G_t)`` over the years of a ``timeseries`` batch.

    ``logits`` (B,T,C,H,W), ``labels`` (B,T,H,W).  A year whose pixels are all ignored drops out of
    the mean instead of contributing a NaN. Applied to pair change logits (B,P,C,H,W) and change
    labels it is Eq. 7, the mean of the pair losses over the series' pairs.
    """
    check_series(logits, labels)
    b, t, c, h, w = logits.shape
    per_pixel = F.cross_entropy(
        logits.float().reshape(b * t, c, h, w), labels.long().reshape(b * t, h, w),
        ignore_index=ignore_index, reduction="none",
    ).reshape(b, t, h, w)
    valid = (labels != ignore_index).reshape(b, t, h, w)
    per_year_sum = (per_pixel * valid).sum(dim=(0, 2, 3))
    per_year_count = valid.sum(dim=(0, 2, 3))
    present = per_year_count > 0
    if not bool(present.any()):
        return logits.sum() * 0.0
    return (per_year_sum[present] / per_year_count[present]).mean()


def pair_change_labels(
    labels: torch.Tensor, pairs: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Change labels of year pairs, ``|G_j − G_i|`` (B, P, H, W), from yearly masks (B, T, H, W).

    A pixel ignored in either year (or a year absent from the series, labelled ``ignore_index``)
    is ignored in the pair.
    """
    if labels.ndim != 4 or pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pair_change_labels: labels (B,T,H,W) and pairs (P,2); got {tuple(labels.shape)}, {tuple(pairs.shape)}")
    first, second = labels[:, pairs[:, 0]].long(), labels[:, pairs[:, 1]].long()
    change = (first - second).abs()
    ignored = (first == ignore_index) | (second == ignore_index)
    return torch.where(ignored, torch.full_like(change, ignore_index), change)


__all__ = ["check_series", "multitemporal_cross_entropy", "pair_change_labels"]
