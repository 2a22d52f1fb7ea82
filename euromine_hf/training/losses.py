"""Training losses beyond the models' own per-pixel loss.

* :func:`multitemporal_cross_entropy` is the paper's Eq. 6: the cross-entropy of each year of a
  time series, averaged over the years (each year weighs the same whatever its ignored pixels);
  defined in :mod:`euromine_hf.models.losses` (the multitemporal model computes it in its forward).
* :func:`temporal_consistency_loss` is this project's optional regulariser aimed at CA-TIoU: where
  the ground truth of two years agrees (the region U_ij that CA-TIoU scores), the predicted mine
  probabilities of those years should agree too.  It never touches pixels whose label changed, so
  it cannot fight the change the model must still detect.
"""

from __future__ import annotations

import itertools

import torch

from euromine_hf.models.configuration import IGNORE_INDEX
from euromine_hf.models.losses import check_series as _check_series
from euromine_hf.models.losses import multitemporal_cross_entropy

PAIR_MODES = ("all", "consecutive")


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


__all__ = ["PAIR_MODES", "multitemporal_cross_entropy", "temporal_consistency_loss"]
