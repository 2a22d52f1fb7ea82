"""Cross-temporal change-detection scores (paper §3.6, Table 5).

``ChangeScorer(...).compute()`` returns (stable names):

* ``F1_interval_{k}`` for every interval ``k = t2 − t1`` that received pairs (1..9 on the
  benchmark): F1 of the change class over all pairs with that interval;
* ``OF1``, ``precision``, ``recall``, ``IoU`` over all pairs.

Predictions are change masks; references are the change ground truth ``|G_t2 − G_t1|`` (pass
``references_t1``/``references_t2`` mapping masks instead and it is formed here). Protocols and
empty denominators: see :mod:`euromine_hf.metrics.scores` (units are sites, pairs of one
interval pooled per site before the ratio).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from euromine_hf.bands import YEARS
from euromine_hf.metrics.accumulate import CONFUSION_COLUMNS, CountTable
from euromine_hf.metrics.base import ScorerBase, as_counts, as_int_keys
from euromine_hf.metrics.counts import is_torch as _is_torch, pack_masks, pack_masks_torch, packed_counts, packed_ownership
from euromine_hf.metrics.mapping import interval_scores
from euromine_hf.metrics.scores import check_empty, check_protocol

__all__ = ["ChangeScorer", "INTERVALS"]

#: Intervals of the benchmark's 45 year pairs.
INTERVALS: tuple[int, ...] = tuple(range(1, 10))


def _pack(masks: Any, name: str) -> np.ndarray:
    return pack_masks_torch(masks) if _is_torch(masks) else pack_masks(masks, name)


class ChangeScorer(ScorerBase):
    """Streaming change scores: ``add(...)`` batches of pairs, then ``compute()``.

    Args:
        protocol: ``"site"`` (paper), ``"micro"`` or ``"patch"``; ``compute`` can override.
        empty: ``"skip"``, ``"one"`` or ``"zero"``; ``compute`` can override.
        years: the years pairs may come from (default 2015-2024): ``year_t1``/``year_t2`` outside
            them, or an interval longer than ``years[-1] - years[0]``, is an error, not a new column.
    """

    def __init__(self, protocol: str = "site", empty: str = "skip", years: Sequence[int] = YEARS) -> None:
        super().__init__(protocol, empty)
        self.years = tuple(sorted({int(y) for y in years}))
        if not self.years:
            raise ValueError("years: expected at least one year")
        self.tables["change"] = CountTable(("site", "patch", "year_t1", "year_t2"), CONFUSION_COLUMNS, site_names=self.site_index.names)

    def _keys(self, n: int, sites: Any, patches: Any, year_t1: Any, year_t2: Any, intervals: Any) -> np.ndarray:
        site_ids = self.site_index.ids(sites, n)
        patch_ids = as_int_keys(patches, n, "patches", default=-1)
        if year_t1 is None and year_t2 is None:
            if intervals is None:
                raise ValueError("year_t1/year_t2 or intervals: required to score each interval")
            t2 = as_int_keys(intervals, n, "intervals")
            t1 = np.zeros(n, np.int64)
        else:
            t1 = as_int_keys(year_t1, n, "year_t1")
            t2 = as_int_keys(year_t2, n, "year_t2")
            if intervals is not None and not np.array_equal(as_int_keys(intervals, n, "intervals"), t2 - t1):
                raise ValueError("intervals: expected year_t2 - year_t1 for every pair")
        if year_t1 is None and year_t2 is None:  # only intervals: name them, not the years formed from them
            longest = self.years[-1] - self.years[0]
            bad = np.flatnonzero((t2 > longest) | (t2 < 1))
            if len(bad):
                raise ValueError(
                    f"intervals: expected 1..{longest} (years {self.years[0]}-{self.years[-1]}), got {int(t2[bad[0]])} at sample {int(bad[0])}"
                )
        else:
            if (t2 <= t1).any():
                i = int(np.flatnonzero(t2 <= t1)[0])
                raise ValueError(f"year_t2: expected a later year than year_t1, got pair ({t1[i]}, {t2[i]}) at sample {i}")
            known = np.asarray(self.years, np.int64)
            for name, t in (("year_t1", t1), ("year_t2", t2)):
                bad = np.flatnonzero(~np.isin(t, known))
                if len(bad):
                    raise ValueError(
                        f"{name}: expected one of the years {self.years[0]}-{self.years[-1]}, got {int(t[bad[0]])} at sample {int(bad[0])}"
                    )
        return np.stack([site_ids, patch_ids, t1, t2], 1)

    def _config(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "empty": self.empty, "years": list(self.years)}

    def _check_compatible(self, config: dict[str, Any]) -> None:
        if tuple(config.get("years", YEARS)) != self.years:
            raise ValueError(f"state_dict: scorer configured with years {config.get('years')}, this one with {list(self.years)}")

    def add(
        self,
        predictions: Any,
        references: Any = None,
        *,
        references_t1: Any = None,
        references_t2: Any = None,
        sites: Any = None,
        patches: Any = None,
        year_t1: Any = None,
        year_t2: Any = None,
        intervals: Any = None,
        rows: Any = None,
        cols: Any = None,
        site_heights: Any = None,
        site_widths: Any = None,
    ) -> None:
        """Reduce one batch of ``(N, H, W)`` change masks (numpy or torch) to counts.

        Keys as in :meth:`MappingScorer.add`, with ``year_t1``/``year_t2`` (or only ``intervals``).
        """
        if references is not None and (references_t1 is not None or references_t2 is not None):
            raise ValueError(
                "references: pass the change masks or references_t1 and references_t2 (mapping masks), not both"
            )
        pred = _pack(predictions, "predictions")
        if references is None:
            if references_t1 is None or references_t2 is None:
                raise ValueError("references: pass the change masks, or references_t1 and references_t2")
            ref = _pack(references_t1, "references_t1") ^ _pack(references_t2, "references_t2")
            rshape = tuple(np.shape(references_t1))
        else:
            ref = _pack(references, "references")
            rshape = tuple(np.shape(references))
        pshape = tuple(np.shape(predictions))
        if len(pshape) != 3 or pshape != rshape:
            raise ValueError(f"predictions {pshape} and references {rshape}: expected equal shapes (N, H, W)")
        n, shape = pshape[0], pshape[1:]
        if n == 0:
            return
        keys = self._keys(n, sites, patches, year_t1, year_t2, intervals)
        idx, owned = packed_ownership(n, shape, rows, cols, site_heights, site_widths)
        own_counts, full_counts = packed_counts(pred, ref, shape, idx, owned)
        self.tables["change"].append(keys, np.concatenate([own_counts, full_counts], 1))

    def add_counts(
        self,
        counts: Any,
        *,
        sites: Any = None,
        patches: Any = None,
        year_t1: Any = None,
        year_t2: Any = None,
        intervals: Any = None,
        full_counts: Any = None,
    ) -> None:
        """Add precomputed ``(N, 4)`` (tp, fp, fn, tn) per pair (``full_counts`` for ``patch``)."""
        c = np.asarray(counts.detach().cpu().numpy() if _is_torch(counts) else counts)
        if c.ndim != 2 or c.shape[1] != 4:
            raise ValueError(f"counts: expected (N, 4) tp, fp, fn, tn per pair, got shape {c.shape}")
        c = as_counts(c, "counts", CONFUSION_COLUMNS[:4])
        f = c if full_counts is None else as_counts(np.asarray(full_counts).reshape(c.shape), "full_counts", CONFUSION_COLUMNS[:4])
        keys = self._keys(len(c), sites, patches, year_t1, year_t2, intervals)
        self.tables["change"].append(keys, np.concatenate([c, f], 1))

    def compute(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        """Scores of every pair added so far (state is kept)."""
        protocol = check_protocol(protocol or self.protocol)
        empty = check_empty(empty or self.empty)
        keys, counts = self.tables["change"].arrays()
        if len(keys) == 0:
            raise ValueError("ChangeScorer.compute: no pairs were added")
        return interval_scores(keys[:, 0], keys[:, 1], keys[:, 2], keys[:, 3], counts, protocol, empty)
