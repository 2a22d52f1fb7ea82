"""The console lines a run ends with: model vs baseline (segmentation), the F1-per-interval table
(change detection) and the paper's findings they are read against (no torch, no training import)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["format_comparison", "beats_baseline", "format_change_table", "rises_with_interval"]


def format_comparison(result: object, model_name: str) -> str:
    """The lines the demo prints: model vs baseline on the test split."""
    keys = ("OF1", "GCA-TIoU", "LCA-TIoU", "precision", "recall")
    rows = [("", *keys), (model_name, *(f"{result.test_metrics.get(k, float('nan')):.4f}" for k in keys))]
    if result.baseline_metrics is not None:
        b = result.baseline
        label = f"baseline ({b.index} {'>' if b.direction == 'greater' else '<'} {b.threshold:.3f})"
        rows.append((label, *(f"{result.baseline_metrics.get(k, float('nan')):.4f}" for k in keys)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def beats_baseline(test: dict[str, float], baseline: dict[str, float] | None) -> bool:
    """The demo's promise: the trained model beats the threshold baseline on OF1 and GCA-TIoU."""
    if baseline is None:
        return True
    return all(test.get(k, float("-inf")) > baseline.get(k, float("inf")) for k in ("OF1", "GCA-TIoU"))


def format_change_table(rows: Mapping[str, Mapping[str, float]], intervals: Sequence[int] = range(1, 10)) -> str:
    """Plain-text Table 5/6 shape: F1 per interval and OF1 (in %), one row per label."""
    head = ["", *(str(k) for k in intervals), "OF1"]
    lines = [head]
    for label, scores in rows.items():
        values = [scores.get(f"F1_interval_{k}") for k in intervals] + [scores.get("OF1")]
        lines.append([label, *("–" if v is None else f"{100 * v:.1f}" for v in values)])
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in lines]
    return "interval (years) →  F1 of the change class, %\n" + "\n".join(text)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their mean rank (what Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / np.bincount(inverse)[inverse]


def rises_with_interval(scores: Mapping[str, float]) -> tuple[bool, float]:
    """Whether F1 rises with the interval (Spearman rank correlation of F1 with k > 0) and that correlation."""
    pairs = sorted((int(k.rsplit("_", 1)[1]), float(v)) for k, v in scores.items()
                   if k.startswith("F1_interval_") and np.isfinite(v))
    if len(pairs) < 2:
        return False, float("nan")
    ks, f1 = (np.asarray(a, dtype=np.float64) for a in zip(*pairs))
    rk, rf = _average_ranks(ks), _average_ranks(f1)
    if rf.std() == 0:  # F1 equal at every interval: no trend
        return False, 0.0
    rho = float(np.corrcoef(rk, rf)[0, 1])
    return rho > 0, rho

