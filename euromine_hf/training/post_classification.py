"""Post-classification change (the paper's Table 6): the change a segmenter's yearly maps imply,
``|P_t2 − P_t1|`` against ``|G_t2 − G_t1|``, scored like a detector's (F1 per interval, OF1)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["post_classification_scores", "score_post_classification"]


def post_classification_scores(
    predictions: Any, mapping: Any, years: Sequence[int], protocol: str = "site"
) -> dict[str, float]:
    """Change read off yearly mine maps: ``|P_t2 − P_t1|`` against ``|G_t2 − G_t1|`` for every year
    pair of every patch of ``mapping`` (rows in order; ``predictions`` (N,H,W) class ids, one per row).
    Keys as :class:`~euromine_hf.metrics.change.ChangeScorer` (``F1_interval_{k}``, ``OF1``, ...)."""
    from euromine_hf.metrics import PostClassificationScorer
    from euromine_hf.training.compute_metrics import read_metric_keys

    keys = read_metric_keys(mapping)
    predictions = np.asarray(predictions)
    if len(predictions) != len(keys["site"]):
        raise ValueError(f"{len(predictions)} predictions for {len(keys['site'])} mapping rows; expected one per row")
    from euromine_hf.data.pairs import MappingRows

    rows = MappingRows(mapping)
    scorer = PostClassificationScorer(years=sorted({int(y) for y in years}), protocol=protocol)
    for start in range(0, len(predictions), 256):
        stop = min(start + 256, len(predictions))
        references = np.stack(rows.masks(np.arange(start, stop)))
        scorer.add(predictions[start:stop].astype(np.uint8, copy=False), references,
                   sites=keys["site"][start:stop], patches=keys["patch"][start:stop], years=keys["year"][start:stop],
                   rows=keys["row"][start:stop], cols=keys["col"][start:stop],
                   site_heights=keys["site_height"][start:stop], site_widths=keys["site_width"][start:stop])
    return {k: float(v) for k, v in scorer.compute().items() if np.isscalar(v)}


@torch.no_grad()
def score_post_classification(
    model: torch.nn.Module, mapping: Any, years: Sequence[int], protocol: str = "site", batch_size: int = 16
) -> dict[str, float]:
    """Run any trained segmenter over the ``mapping`` rows and score the change its yearly maps imply."""
    from euromine_hf.data.collators import MappingCollator
    from euromine_hf.data.pairs import MappingDataset

    if getattr(model.config, "task", "segmentation") != "segmentation":
        raise ValueError(f"post-classification needs a segmenter; got a {model.config.task} model")
    dataset = MappingDataset(mapping)
    collate = MappingCollator()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predictions = []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = collate(dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset))))))
            logits = model(pixel_values=batch["pixel_values"].to(device)).logits
            predictions.append(logits.argmax(dim=1).to(torch.uint8).cpu().numpy())
    finally:
        model.train(was_training)
    return post_classification_scores(np.concatenate(predictions), mapping, years, protocol)

