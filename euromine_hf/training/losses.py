"""Training losses beyond the models' own per-pixel loss.

* :func:`multitemporal_cross_entropy` is the paper's Eq. 6: the cross-entropy of each year of a
  time series, averaged over the years (each year weighs the same whatever its ignored pixels).
* :func:`temporal_consistency_loss` is this project's optional regulariser aimed at CA-TIoU: where
  the ground truth of two years agrees (the region U_ij that CA-TIoU scores), the predicted mine
  probabilities of those years should agree too.  It never touches pixels whose label changed, so
  it cannot fight the change the model must still detect.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from euromine_hf.models.configuration import IGNORE_INDEX

PAIR_MODES = ("all", "consecutive")


def _check_series(logits: torch.Tensor, labels: torch.Tensor) -> None:
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
    the mean instead of contributing a NaN.
    """
    _check_series(logits, labels)
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


def temporal_consistency_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    ignore_index: int = IGNORE_INDEX,
    pairs: str = "all",
    positive_class: int = 1,
) -> torch.Tensor:
    """Mean squared difference of mine probabilities over year pairs, inside unchanged ground truth.

    For each pair (i, j) of years (all pairs, as GCA-TIoU, or consecutive ones, as LCA-TIoU) the
    pixels with ``G_i == G_j`` (both labelled) contribute ``(p_i − p_j)²``; the result is the mean
    over all contributing (pair, pixel) entries, 0 when there are none.  It is 0 exactly when the
    predictions agree wherever the truth does, whatever they do in the changed region.
    """
    _check_series(logits, labels)
    if pairs not in PAIR_MODES:
        raise ValueError(f"pairs must be one of {PAIR_MODES}; got {pairs!r}")
    t = logits.shape[1]
    if t < 2:
        return logits.sum() * 0.0
    prob = torch.softmax(logits.float(), dim=2)[:, :, positive_class]  # (B,T,H,W)
    index_pairs = (
        list(itertools.combinations(range(t), 2)) if pairs == "all" else [(i, i + 1) for i in range(t - 1)]
    )
    first = torch.tensor([i for i, _ in index_pairs], device=logits.device)
    second = torch.tensor([j for _, j in index_pairs], device=logits.device)
    li, lj = labels[:, first], labels[:, second]  # (B,P,H,W)
    unchanged = (li == lj) & (li != ignore_index) & (lj != ignore_index)
    count = unchanged.sum()
    if int(count) == 0:
        return logits.sum() * 0.0
    diff = (prob[:, first] - prob[:, second]) ** 2
    return (diff * unchanged).sum() / count
