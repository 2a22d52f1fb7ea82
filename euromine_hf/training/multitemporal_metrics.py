"""``compute_metrics`` of series models: the yearly masks scored like a segmenter's (per-year F1, OF1,
LCA/GCA-TIoU, the paper's Table 4), the change maps of every year pair like a detector's (F1 per
interval, OF1, Table 5), and the change the yearly masks imply (post-classification, Table 6), in
one pass over uint8 class ids.

Keys of the result: the mapping scores under their own names (``OF1``, ``GCA-TIoU``, ...), the
change scores prefixed ``change_``, the post-classification ones ``post_classification_``, and
``series_OF1`` = (mapping OF1 + change OF1) / 2, the default checkpoint-selection metric of
``--task multitemporal``: the model is meant to be good at both, and OF1 is each table's summary.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence

import numpy as np

from euromine_hf.training.compute_metrics import KEY_COLUMNS

__all__ = ["SeriesMetrics", "SELECTION_METRIC", "split_series_metrics"]

#: the checkpoint-selection metric (``--metric_for_best_model``) a multitemporal run defaults to
SELECTION_METRIC = "series_OF1"
CHANGE_PREFIX = "change_"
POST_PREFIX = "post_classification_"


def split_series_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(mapping, change, post-classification) scores from one flat :class:`SeriesMetrics` result."""
    change = {k[len(CHANGE_PREFIX):]: v for k, v in metrics.items() if k.startswith(CHANGE_PREFIX)}
    post = {k[len(POST_PREFIX):]: v for k, v in metrics.items() if k.startswith(POST_PREFIX)}
    mapping = {k: v for k, v in metrics.items()
               if not k.startswith((CHANGE_PREFIX, POST_PREFIX)) and k != SELECTION_METRIC}
    return mapping, change, post


def series_keys(dataset: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The site/patch/offset keys of each series of a :class:`~euromine_hf.data.pairs.TimeseriesDataset`
    (read from its index, no pixel touched) and its ``year_mask`` (num_series, T)."""
    rows = getattr(dataset, "rows", None)
    if rows is None or not hasattr(dataset, "year_mask"):
        raise ValueError(f"series metrics score a TimeseriesDataset; got {type(dataset).__name__}")
    first = dataset.first_rows()
    keys = {}
    for column in KEY_COLUMNS:
        if column == "year":
            continue
        if column not in rows.keys:
            raise ValueError(f"series dataset: its mapping rows lack the key column {column!r} that site-level "
                             f"scoring needs; they have {sorted(rows.keys)}")
        keys[column] = np.asarray(rows.keys[column])[first]
    return keys, np.asarray(dataset.year_mask, dtype=bool)


class SeriesMetrics:
    """Callable ``compute_metrics`` bound to one series dataset at a time (``bind``, as
    :class:`~euromine_hf.training.compute_metrics.MappingMetrics`); one-shot or streaming."""

    def __init__(self, years: Sequence[int], protocol: str = "site") -> None:
        self.years = [int(y) for y in years]
        self.protocol = protocol
        self.pairs = list(combinations(range(len(self.years)), 2))
        self._keys: dict[str, np.ndarray] | None = None
        self._year_mask: np.ndarray | None = None
        self.reset()

    def bind(self, dataset: Any) -> None:
        """Score ``dataset`` next; resets any partial accumulation."""
        self._keys, self._year_mask = series_keys(dataset)
        if self._year_mask.shape[1] != len(self.years):
            raise ValueError(f"series dataset has {self._year_mask.shape[1]} years; the metrics were set up for {self.years}")
        self.reset()

    def reset(self) -> None:
        from euromine_hf.metrics import MappingScorer
        from euromine_hf.metrics.change import ChangeScorer

        self._mapping = MappingScorer(years=self.years, protocol=self.protocol, post_classification=True)
        self._change = ChangeScorer(protocol=self.protocol, years=self.years)
        self._cursor = 0

    @property
    def num_rows(self) -> int:
        return 0 if self._year_mask is None else len(self._year_mask)

    def add(self, yearly: Any, change: Any, references: Any) -> None:
        """The next series in dataset order: ``yearly`` (n,T,H,W) and ``change`` (n,P,H,W) class ids
        (P = every pair of the T years, in (i, j) order), ``references`` (n,T,H,W) yearly masks."""
        if self._keys is None:
            raise RuntimeError("SeriesMetrics.bind(dataset) must be called before scoring")
        yearly, change, references = (np.asarray(getattr(a, "numpy", lambda: a)()) for a in (yearly, change, references))
        n, t = yearly.shape[:2]
        if change.shape[:2] != (n, len(self.pairs)) or references.shape != yearly.shape or t != len(self.years):
            raise ValueError(f"series predictions {yearly.shape} / change {change.shape} / references {references.shape}: "
                             f"expected (n, {len(self.years)}, H, W) and (n, {len(self.pairs)}, H, W)")
        start, stop = self._cursor, self._cursor + n
        if stop > self.num_rows:
            raise ValueError(f"evaluation produced more series ({stop}) than the bound dataset has ({self.num_rows})")
        present = self._year_mask[start:stop]
        keys = {kw: self._keys[col][start:stop] for col, kw in KEY_COLUMNS.items() if col != "year"}
        for i, year in enumerate(self.years):
            sel = present[:, i]
            if sel.any():
                self._mapping.add(yearly[sel, i].astype(np.uint8), references[sel, i].astype(np.uint8),
                                  years=np.full(int(sel.sum()), year), **{k: v[sel] for k, v in keys.items()})
        for p, (i, j) in enumerate(self.pairs):
            sel = present[:, i] & present[:, j]
            if sel.any():
                truth = (references[sel, i] != references[sel, j]).astype(np.uint8)
                m = int(sel.sum())
                self._change.add(change[sel, p].astype(np.uint8), truth, year_t1=np.full(m, self.years[i]),
                                 year_t2=np.full(m, self.years[j]), **{k: v[sel] for k, v in keys.items()})
        self._cursor = stop

    def compute(self) -> dict[str, float]:
        if self._cursor != self.num_rows:
            raise ValueError(f"scored {self._cursor} series of a {self.num_rows}-series evaluation dataset; "
                             "predictions and dataset keys are out of step")
        scalar = lambda scores: {k: float(v) for k, v in scores.items() if np.isscalar(v)}  # noqa: E731
        out = scalar(self._mapping.compute())
        try:
            out.update({POST_PREFIX + k: v for k, v in scalar(self._mapping.compute_post_classification()).items()})
        except ValueError:  # a single year: no pair to post-classify
            pass
        try:
            change = scalar(self._change.compute())
        except ValueError:
            change = {}
        out.update({CHANGE_PREFIX + k: v for k, v in change.items()})
        if "OF1" in out and "OF1" in change:
            out[SELECTION_METRIC] = (out["OF1"] + change["OF1"]) / 2
        self.reset()
        return out

    def __call__(self, eval_pred: Any, compute_result: bool | None = None) -> dict[str, float]:
        """Trainer entry point: ``predictions`` = (yearly, change) class ids, ``label_ids`` the yearly masks."""
        yearly, change = eval_pred.predictions[:2]
        if compute_result is None:
            self.reset()
        self.add(yearly, change, eval_pred.label_ids)
        if compute_result is None or compute_result:
            return self.compute()
        return {}
