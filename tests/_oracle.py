"""An independent oracle for the mapping scores: plain numpy over whole rasters, none of the package's
counting, grouping or weighting helpers (used by test_metrics_oracle.py and test_metrics_cli.py)."""

from __future__ import annotations

import itertools

import numpy as np


def ratio(num: float, den: float):
    return None if den == 0 else num / den


def weighted_mean(values_weights) -> float:
    pairs = [(v, w) for v, w in values_weights if v is not None]
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs) if pairs else 1.0


def confusion(pred: np.ndarray, ref: np.ndarray) -> tuple[int, int, int]:
    p, g = pred.astype(bool), ref.astype(bool)
    return int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum())


def _scores(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    return {"F1": ratio(2 * tp, 2 * tp + fp + fn), "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "IoU": ratio(tp, tp + fp + fn)}


def ca_counts(pi, pj, gi, gj) -> tuple[int, int]:
    unchanged = gi == gj
    a, b = pi.astype(bool), pj.astype(bool)
    return int((a & b & unchanged).sum()), int(((a | b) & unchanged).sum())


def score_units(units, years, micro: bool = False, empty: str = "skip") -> dict[str, float]:
    """Mapping scores of ``units`` = [(weight, {year: (pred, ref)})]: per unit, weighted mean over units
    (``micro``: counts pooled over all units, CA-TIoU one ratio per year pair then the plain mean).
    ``empty``: an empty denominator is left out (``skip``), or counts as 1.0 (``one``) or 0.0 (``zero``)."""
    YEARS = tuple(years)
    rule = {"skip": None, "one": 1.0, "zero": 0.0}[empty]

    def fill(value):
        return rule if value is None else value

    def scores(tp, fp, fn):
        return {k: fill(v) for k, v in _scores(tp, fp, fn).items()}
    out: dict[str, float] = {}
    pairs = list(itertools.combinations(YEARS, 2))
    consecutive = [(a, b) for a, b in pairs if YEARS.index(b) - YEARS.index(a) == 1]
    if micro:
        for y in YEARS:
            tp, fp, fn = map(sum, zip(*(confusion(*u[y]) for _, u in units if y in u)))
            out[f"F1_{y}"] = scores(tp, fp, fn)["F1"]
        tp, fp, fn = map(sum, zip(*(confusion(*u[y]) for _, u in units for y in u)))
        overall = scores(tp, fp, fn)
        out.update(OF1=overall["F1"], precision=overall["precision"], recall=overall["recall"], IoU=overall["IoU"])
        for name, chosen in (("LCA-TIoU", consecutive), ("GCA-TIoU", pairs)):
            per_pair = []
            for a, b in chosen:
                parts = [ca_counts(u[a][0], u[b][0], u[a][1], u[b][1]) for _, u in units if a in u and b in u]
                if parts:
                    per_pair.append(fill(ratio(sum(i for i, _ in parts), sum(n for _, n in parts))))
            out[name] = weighted_mean((v, 1.0) for v in per_pair)
        return out
    for y in YEARS:
        out[f"F1_{y}"] = weighted_mean((scores(*confusion(*u[y]))["F1"], w) for w, u in units if y in u)
    per_unit = [(scores(*map(sum, zip(*(confusion(*u[y]) for y in u)))), w) for w, u in units]
    out["OF1"] = weighted_mean((s["F1"], w) for s, w in per_unit)
    for key in ("precision", "recall", "IoU"):
        out[key] = weighted_mean((s[key], w) for s, w in per_unit)
    for name, chosen in (("LCA-TIoU", consecutive), ("GCA-TIoU", pairs)):
        values = []
        for w, u in units:
            ratios = [fill(ratio(*ca_counts(u[a][0], u[b][0], u[a][1], u[b][1]))) for a, b in chosen if a in u and b in u]
            ratios = [r for r in ratios if r is not None]
            values.append((sum(ratios) / len(ratios) if ratios else None, w))
        out[name] = weighted_mean(values)
    return out


def scores(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """F1, precision, recall, IoU of pooled counts (None where the denominator is empty)."""
    return _scores(tp, fp, fn)
