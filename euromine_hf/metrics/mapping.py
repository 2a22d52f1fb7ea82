"""Multitemporal mapping scores: per-year F1, OF1, LCA-/GCA-TIoU (paper §3.4), and the
post-classification change read off mapping predictions (paper Table 6).

``MappingScorer(...).compute()`` returns (stable names, used by the trainer and the tables):

* ``F1_{year}`` for every configured year that received samples (``F1_2015`` … ``F1_2024``);
* ``OF1``, ``precision``, ``recall``, ``IoU`` over all years (positive class = mine);
* ``LCA-TIoU`` (mean CA-TIoU over consecutive year pairs) and ``GCA-TIoU`` (over all pairs),
  when ``temporal=True`` and at least one patch has two years.

CA-TIoU of years i, j: ``|P_i ∩ P_j ∩ U_ij| / |(P_i ∪ P_j) ∩ U_ij|`` with ``U_ij = {G_i = G_j}``:
agreement of the two predictions where the reference did not change.

``PostClassificationScorer`` (a ``MappingScorer`` that also keeps change counts) returns
``F1_interval_{k}``, ``OF1``, ``precision``, ``recall``, ``IoU`` of ``|P_t2 − P_t1|`` against
``|G_t2 − G_t1|``, exactly like :class:`~euromine_hf.metrics.change.ChangeScorer`.

Protocols and empty denominators: see :mod:`euromine_hf.metrics.scores`.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from euromine_hf.bands import YEARS
from euromine_hf.metrics.accumulate import CONFUSION_COLUMNS, CountTable, TemporalBuffer
from euromine_hf.metrics.base import ScorerBase, as_counts, as_int_keys
from euromine_hf.metrics.counts import is_torch as _is_torch, pack_masks, pack_masks_torch, packed_counts, packed_ownership
from euromine_hf.metrics.scores import (
    check_empty,
    check_protocol,
    group_ids,
    mean_ratio,
    pairwise_mean_ratio,
    unit_layout,
)

__all__ = ["MappingScorer", "PostClassificationScorer", "confusion_scores", "interval_scores", "INCOMPLETE_RULES"]

#: Rules for patches that lack some years in year-pair scores (see ``MappingScorer``).
INCOMPLETE_RULES: tuple[str, ...] = ("error", "warn")


def _pack(masks: Any, name: str) -> np.ndarray:
    return pack_masks_torch(masks) if _is_torch(masks) else pack_masks(masks, name)


def _cols(counts: np.ndarray, protocol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn, owned pixels) for the protocol: full-patch counts under ``patch``."""
    if protocol == "patch":
        tp, fp, fn, tn = (counts[:, i] for i in (4, 5, 6, 7))
    else:
        tp, fp, fn, tn = (counts[:, i] for i in (0, 1, 2, 3))
    return tp, fp, fn, tp + fp + fn + tn


def confusion_scores(
    units: np.ndarray, weights: np.ndarray, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, empty: str
) -> dict[str, float]:
    """F1, precision, recall, IoU of pooled counts per unit, averaged over units."""
    return {
        "F1": mean_ratio(units, weights, 2 * tp, 2 * tp + fp + fn, empty),
        "precision": mean_ratio(units, weights, tp, tp + fp, empty),
        "recall": mean_ratio(units, weights, tp, tp + fn, empty),
        "IoU": mean_ratio(units, weights, tp, tp + fp + fn, empty),
    }


def interval_scores(
    sites: np.ndarray, patches: np.ndarray, t1: np.ndarray, t2: np.ndarray, counts: np.ndarray, protocol: str, empty: str
) -> dict[str, float]:
    """Change-detection scores from per-(site, patch, t1, t2) confusion rows (8 columns).

    ``F1_interval_{k}`` for every interval ``k = t2 - t1`` present (pairs of one interval pooled
    per unit), then ``OF1``/``precision``/``recall``/``IoU`` over all pairs.
    """
    out: dict[str, float] = {}
    if len(sites) == 0:
        return out
    tp, fp, fn, pix = _cols(counts, protocol)
    pair_id, _ = group_ids(t1, t2)
    units, weights = unit_layout(protocol, sites, patches, pair_id, pix)
    intervals = t2 - t1
    for k in np.unique(intervals):
        sel = intervals == k
        out[f"F1_interval_{int(k)}"] = mean_ratio(units[sel], weights, 2 * tp[sel], 2 * tp[sel] + fp[sel] + fn[sel], empty)
    overall = confusion_scores(units, weights, tp, fp, fn, empty)
    out["OF1"] = overall.pop("F1")
    out.update(overall)
    return out


class MappingScorer(ScorerBase):
    """Streaming mapping scores: ``add(...)`` any number of batches, then ``compute()``.

    Args:
        years: the years of the series, in order (CA-TIoU pairs are over them; a patch is
            reduced to pair counts as soon as all of them were added).
        protocol: ``"site"`` (paper), ``"micro"`` or ``"patch"``; ``compute`` can override.
        empty: ``"skip"``, ``"one"`` or ``"zero"`` for empty denominators; ``compute`` can override.
        temporal: keep the per-patch year buffer for LCA-/GCA-TIoU (off: F1 only, no buffer).
        post_classification: also keep the change counts of every year pair.
        incomplete: what year-pair scores (CA-TIoU, post-classification) do when a patch (with a
            known ``patches`` index) lacks some of ``years``: ``"error"`` raises naming the site,
            patch and missing years; ``"warn"`` scores the pairs that are present and warns with
            the same names (for truncated evaluation sets). Scoring fewer years on purpose: pass
            them as ``years``.
    """

    def __init__(
        self,
        years: Sequence[int] = YEARS,
        protocol: str = "site",
        empty: str = "skip",
        temporal: bool = True,
        post_classification: bool = False,
        incomplete: str = "warn",
    ) -> None:
        super().__init__(protocol, empty)
        if incomplete not in INCOMPLETE_RULES:
            raise ValueError(f"incomplete: expected one of {INCOMPLETE_RULES}, got {incomplete!r}")
        self.incomplete = incomplete
        self.years = tuple(int(y) for y in years)
        if len(set(self.years)) != len(self.years) or list(self.years) != sorted(self.years) or not self.years:
            raise ValueError(f"years: expected distinct increasing years, got {self.years}")
        if len(self.years) > 62:
            raise ValueError(f"years: at most 62 years are supported, got {len(self.years)}")
        self.temporal = bool(temporal) or bool(post_classification)
        self.post_classification = bool(post_classification)
        self._year_index = {y: i for i, y in enumerate(self.years)}
        self.tables["mapping"] = CountTable(("site", "patch", "year"), CONFUSION_COLUMNS, site_names=self.site_index.names)
        self.buffer = TemporalBuffer(len(self.years), self.post_classification)
        if self.temporal:
            self.tables["pairs"] = CountTable(("site", "patch", "year_i", "year_j"), self.buffer.count_names, site_names=self.site_index.names)
        self._auto_patch = 0
        #: each site's size as declared by site_heights/site_widths (one site, one size: checked per add)
        self._site_sizes: dict[int, tuple[int, int]] = {}

    def _config(self) -> dict[str, Any]:
        return {
            "years": list(self.years),
            "protocol": self.protocol,
            "empty": self.empty,
            "temporal": self.temporal,
            "post_classification": self.post_classification,
            "incomplete": self.incomplete,
        }

    def _check_compatible(self, config: dict[str, Any]) -> None:
        if tuple(config["years"]) != self.years or bool(config["post_classification"]) != self.post_classification or bool(config["temporal"]) != self.temporal:
            raise ValueError(f"state_dict: scorer configured with {config}, this one with {self._config()}")

    def reset(self) -> None:
        super().reset()
        self.buffer.reset()

    def _year_indices(self, years: np.ndarray) -> np.ndarray:
        idx = np.fromiter((self._year_index.get(int(y), -1) for y in years), np.int64, len(years))
        if (idx < 0).any():
            bad = sorted({int(y) for y, i in zip(years, idx) if i < 0})
            raise ValueError(f"years: {bad} not among the scorer's years {self.years}")
        return idx

    # --- input -----------------------------------------------------------------------------------
    def add(
        self,
        predictions: Any,
        references: Any,
        *,
        sites: Any = None,
        patches: Any = None,
        years: Any = None,
        rows: Any = None,
        cols: Any = None,
        site_heights: Any = None,
        site_widths: Any = None,
    ) -> None:
        """Reduce one batch of masks to counts.

        ``predictions``/``references``: ``(N, H, W)`` one year per sample (``years`` = N years),
        or a timeseries ``(N, T, H, W)`` (``years`` = the T years, shared or ``(N, T)``); numpy
        or torch (packed on the tensor's device). Keys: ``sites`` (names), ``patches`` (index in
        the site), ``rows``/``cols`` (patch offset), ``site_heights``/``site_widths`` (site size
        before padding; ``-1`` = unknown). Without offsets each patch counts whole; ``patches``
        is required to pair years across batches (not for timeseries input).
        """
        pshape, rshape = tuple(np.shape(predictions)), tuple(np.shape(references))
        if pshape != rshape:
            raise ValueError(f"predictions {pshape} and references {rshape}: expected equal shapes")
        if len(pshape) == 4:
            self._add_timeseries(predictions, references, sites, patches, years, rows, cols, site_heights, site_widths)
            return
        if len(pshape) != 3:
            raise ValueError(f"predictions: expected masks (N, H, W) or a timeseries (N, T, H, W), got shape {pshape}")
        n, shape = pshape[0], pshape[1:]
        if n == 0:
            return
        site_ids = self.site_index.ids(sites, n)
        year_idx = self._year_indices(as_int_keys(years, n, "years"))
        if patches is None and self.temporal:
            raise ValueError("patches: required to pair the years of a patch for CA-TIoU (or pass temporal=False)")
        patch_ids = self._patch_ids(patches, n)
        if self.temporal:
            self.buffer.check_new(site_ids, patch_ids, year_idx)
        self._check_site_sizes(site_ids, site_heights, site_widths)
        p, g = _pack(predictions, "predictions"), _pack(references, "references")
        idx, owned = packed_ownership(n, shape, rows, cols, site_heights, site_widths)
        own_counts, full_counts = packed_counts(p, g, shape, idx, owned)
        keys = np.stack([site_ids, patch_ids, np.asarray(self.years, np.int64)[year_idx]], 1)
        self.tables["mapping"].append(keys, np.concatenate([own_counts, full_counts], 1))
        if self.temporal:
            pk, pc = self.buffer.add(site_ids, patch_ids, year_idx, p, g, shape, idx, owned)
            self._append_pairs(pk, pc)

    def _check_site_sizes(self, site_ids: np.ndarray, site_heights: Any, site_widths: Any) -> None:
        """One site has one size: patches declaring two sizes for it would own overlapping pixels
        inconsistently (a count error no score would show)."""
        if site_heights is None or site_widths is None:
            return
        n = len(site_ids)
        sizes = []
        for name, a in (("site_heights", site_heights), ("site_widths", site_widths)):
            a = np.asarray(a.detach().cpu().numpy() if _is_torch(a) else a, dtype=np.int64).reshape(-1)
            sizes.append(np.full(n, a[0], np.int64) if a.shape[0] == 1 and n != 1 else a)
        for site, h, w in zip(site_ids.tolist(), sizes[0].tolist(), sizes[1].tolist()):
            if h < 0 or w < 0:  # unknown
                continue
            known = self._site_sizes.setdefault(site, (h, w))
            if known != (h, w):
                raise ValueError(f"site_heights/site_widths: site {self.site_index.names[site]!r} declared {known[0]}x{known[1]} "
                                 f"before and {h}x{w} now: expected one size per site")

    def _patch_ids(self, patches: Any, n: int) -> np.ndarray:
        if patches is None:  # each sample its own patch (F1 only)
            ids = np.arange(self._auto_patch, self._auto_patch + n, dtype=np.int64)
            self._auto_patch += n
            return -1 - ids
        return as_int_keys(patches, n, "patches")

    def _add_timeseries(self, predictions, references, sites, patches, years, rows, cols, site_heights, site_widths) -> None:
        n, t, h, w = np.shape(predictions)
        if n == 0:
            return
        yrs = np.asarray(years if not _is_torch(years) else years.cpu().numpy())
        if yrs.ndim == 2:
            if yrs.shape != (n, t) or not (yrs == yrs[:1]).all():
                raise ValueError(f"years: expected the same {t} years for every timeseries sample, got shape {yrs.shape}")
            yrs = yrs[0]
        year_idx = self._year_indices(as_int_keys(yrs, t, "years"))
        if len(set(year_idx.tolist())) != t:
            raise ValueError(f"years: expected {t} distinct years, got {yrs.tolist()}")
        site_ids = self.site_index.ids(sites, n)
        patch_ids = self._patch_ids(patches, n)
        self._check_site_sizes(site_ids, site_heights, site_widths)
        p = _pack(predictions, "predictions")  # (N, T, words)
        g = _pack(references, "references")
        idx, owned = packed_ownership(n, (h, w), rows, cols, site_heights, site_widths)
        # mapping rows: every (sample, year)
        flat_idx = (idx[:, None] * t + np.arange(t)[None, :]).reshape(-1)
        flat_owned = np.repeat(owned, t, axis=0)
        own_counts, full_counts = packed_counts(p.reshape(n * t, -1), g.reshape(n * t, -1), (h, w), flat_idx, flat_owned)
        keys = np.stack(
            [np.repeat(site_ids, t), np.repeat(patch_ids, t), np.tile(np.asarray(self.years, np.int64)[year_idx], n)], 1
        )
        if self.temporal:
            full = np.zeros((n, len(self.years), p.shape[-1]), np.uint64)
            fullg = np.zeros_like(full)
            full[:, year_idx] = p
            fullg[:, year_idx] = g
            seen = sum(1 << int(i) for i in year_idx)
            pk, pc = self.buffer.add_timeseries(site_ids, patch_ids, full, fullg, (h, w), idx, owned, seen)
        self.tables["mapping"].append(keys, np.concatenate([own_counts, full_counts], 1))
        if self.temporal:
            self._append_pairs(pk, pc)

    def flush_pending(self) -> None:
        """Reduce every incomplete patch now (over the year pairs it has) into the pair table.

        ``compute`` never needs this (it includes incomplete patches without changing state); it
        is for handing counts on, e.g. the ``evaluate`` modules at ``compute``. Years of a flushed
        patch added later raise "added twice".
        """
        keys, counts = self.buffer.flush()
        self._append_pairs(keys, counts)

    def _append_pairs(self, keys: np.ndarray, counts: np.ndarray) -> None:
        if len(keys):
            years = np.asarray(self.years, np.int64)
            keys = keys.copy()
            keys[:, 2] = years[keys[:, 2]]
            keys[:, 3] = years[keys[:, 3]]
            self.tables["pairs"].append(keys, counts)

    def add_counts(
        self,
        counts: Any,
        *,
        sites: Any = None,
        patches: Any = None,
        years: Any,
        full_counts: Any = None,
    ) -> None:
        """Add precomputed per-sample ``(N, 4)`` (tp, fp, fn, tn) counts over owned pixels
        (``full_counts``: over the whole patch, for the ``patch`` protocol; defaults to ``counts``).
        CA-TIoU needs masks (or pair rows via ``add_rows("pairs", ...)``)."""
        c = np.asarray(counts.detach().cpu().numpy() if _is_torch(counts) else counts)
        if c.ndim != 2 or c.shape[1] != 4:
            raise ValueError(f"counts: expected (N, 4) tp, fp, fn, tn per sample, got shape {c.shape}")
        c = as_counts(c, "counts", CONFUSION_COLUMNS[:4])
        f = c if full_counts is None else as_counts(np.asarray(full_counts).reshape(c.shape), "full_counts", CONFUSION_COLUMNS[:4])
        n = len(c)
        self.add_rows(
            "mapping",
            {"site": sites, "patch": as_int_keys(patches, n, "patches", default=-1),
             "year": as_int_keys(years, n, "years"), **{name: col for name, col in zip(CONFUSION_COLUMNS, np.concatenate([c, f], 1).T)}},
        )

    # --- output ----------------------------------------------------------------------------------
    def _pair_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair rows of completed patches plus those incomplete patches would give now."""
        keys, counts = self.tables["pairs"].arrays()
        pk, pc = self.buffer.peek()
        if len(pk):
            years = np.asarray(self.years, np.int64)
            pk = pk.copy()
            pk[:, 2], pk[:, 3] = years[pk[:, 2]], years[pk[:, 3]]
            keys, counts = np.concatenate([keys, pk]), np.concatenate([counts, pc])
        return keys, counts

    def incomplete_patches(self, describe: int = 3) -> tuple[int, list[str]]:
        """How many patches (with a known ``patches`` index) lack some year pairs, and a line
        naming site, patch and missing years for the first ``describe`` of them."""
        names = self.site_index.names
        out: list[str] = []
        pending = sorted(k for k in self.buffer.pending if k[1] >= 0)
        for s, p in pending[:describe]:
            entry = self.buffer.pending[(s, p)]
            have = [y for i, y in enumerate(self.years) if entry["seen"] >> i & 1]
            out.append(f"site {names[s]!r}, patch {p}: years {have}, missing {sorted(set(self.years) - set(have))}")
        keys, _ = self.tables["pairs"].arrays()
        keys = keys[keys[:, 1] >= 0]
        if len(keys):
            wanted = len(self.years) * (len(self.years) - 1) // 2
            group, n = group_ids(keys[:, 0], keys[:, 1])
            short = np.flatnonzero(np.bincount(group, minlength=n) < wanted)
            for g in short[: max(0, describe - len(out))]:
                rows = keys[group == g]
                have = sorted(set(rows[:, 2].tolist()) | set(rows[:, 3].tolist()))
                missing = sorted(set(self.years) - set(have))
                what = f"missing {missing}" if missing else f"{wanted - len(rows)} of {wanted} year pairs missing"
                out.append(f"site {names[int(rows[0, 0])]!r}, patch {int(rows[0, 1])}: years {have}, {what}")
            return len(pending) + len(short), out
        return len(pending), out

    def check_complete(self, what: str = "CA-TIoU") -> None:
        """Apply the ``incomplete`` rule before a year-pair score is formed."""
        if not self.temporal:
            return
        count, lines = self.incomplete_patches()
        if not count:
            return
        message = (
            f"{what}: {count} patch(es) lack some of the years {self.years[0]}-{self.years[-1]} "
            f"(first: {lines[0]}); expected every year of each patch (pass years=... to score fewer years)"
        )
        if self.incomplete == "error":
            raise ValueError(message)
        warnings.warn(message + "; scoring the year pairs present", UserWarning, stacklevel=3)

    def compute(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        """Scores of everything added so far (state is kept; call ``reset()`` to start over)."""
        protocol = check_protocol(protocol or self.protocol)
        empty = check_empty(empty or self.empty)
        keys, counts = self.tables["mapping"].arrays()
        if len(keys) == 0:
            raise ValueError("MappingScorer.compute: no samples were added")
        sites, patches, years = keys[:, 0], keys[:, 1], keys[:, 2]
        tp, fp, fn, pix = _cols(counts, protocol)
        units, weights = unit_layout(protocol, sites, patches, years, pix)
        out: dict[str, float] = {}
        for y in self.years:
            sel = years == y
            if sel.any():
                out[f"F1_{y}"] = mean_ratio(units[sel], weights, 2 * tp[sel], 2 * tp[sel] + fp[sel] + fn[sel], empty)
        overall = confusion_scores(units, weights, tp, fp, fn, empty)
        out["OF1"] = overall.pop("F1")
        out.update(overall)
        if self.temporal:
            out.update(self.compute_ca_tiou(protocol, empty))
        return out

    def compute_ca_tiou(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        """``LCA-TIoU`` and ``GCA-TIoU`` alone (from pair rows; no mapping rows needed)."""
        protocol = check_protocol(protocol or self.protocol)
        empty = check_empty(empty or self.empty)
        if not self.temporal:
            return {}
        self.check_complete("CA-TIoU")
        keys, counts = self._pair_arrays()
        if len(keys) == 0:
            return {}
        sites, patches, yi, yj = keys.T
        if protocol == "patch":
            inter, union = counts[:, 2], counts[:, 3]
        else:
            inter, union = counts[:, 0], counts[:, 1]
        pair_id, _ = group_ids(yi, yj)
        units, weights = unit_layout(protocol, sites, patches, pair_id, counts[:, 4])
        pos = {y: i for i, y in enumerate(self.years)}
        consecutive = np.fromiter((pos[b] - pos[a] == 1 for a, b in zip(yi.tolist(), yj.tolist())), bool, len(yi))
        out = {}
        if consecutive.any():
            out["LCA-TIoU"] = pairwise_mean_ratio(
                units[consecutive], weights, pair_id[consecutive], inter[consecutive], union[consecutive], empty
            )
        out["GCA-TIoU"] = pairwise_mean_ratio(units, weights, pair_id, inter, union, empty)
        return out

    def compute_pairwise(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        """CA-TIoU of every year pair: ``{"CA-TIoU_2015_2016": ..., ...}`` (averaged over units)."""
        protocol = check_protocol(protocol or self.protocol)
        empty = check_empty(empty or self.empty)
        if not self.temporal:
            return {}
        self.check_complete("CA-TIoU")
        keys, counts = self._pair_arrays()
        out: dict[str, float] = {}
        if len(keys) == 0:
            return out
        sites, patches, yi, yj = keys.T
        inter, union = (counts[:, 2], counts[:, 3]) if protocol == "patch" else (counts[:, 0], counts[:, 1])
        pair_id, _ = group_ids(yi, yj)
        units, weights = unit_layout(protocol, sites, patches, pair_id, counts[:, 4])
        for a, b in sorted(set(zip(yi.tolist(), yj.tolist()))):
            sel = (yi == a) & (yj == b)
            out[f"CA-TIoU_{a}_{b}"] = mean_ratio(units[sel], weights, inter[sel], union[sel], empty)
        return out

    def compute_post_classification(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        """Change scores of ``|P_t2 − P_t1|`` against ``|G_t2 − G_t1|`` over every year pair."""
        if not self.post_classification:
            raise ValueError("compute_post_classification: construct the scorer with post_classification=True")
        protocol = check_protocol(protocol or self.protocol)
        empty = check_empty(empty or self.empty)
        self.check_complete("post-classification")
        keys, counts = self._pair_arrays()
        if len(keys) == 0:
            raise ValueError("compute_post_classification: no patch has two years yet")
        return interval_scores(keys[:, 0], keys[:, 1], keys[:, 2], keys[:, 3], counts[:, 5:13], protocol, empty)

    # --- state -----------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        state = self.buffer.state()
        names = self.site_index.names
        state["done_sites"] = [names[s] for s, _ in state["done"]]
        state["done_patches"] = [int(p) for _, p in state["done"]]
        state.pop("done")
        for e in state["pending"]:
            e["site"] = names[e["site"]]
        return state

    def _load_extra_state(self, extra: dict[str, Any], site_names: list[str] | None) -> None:
        if not extra or not self.temporal:
            return
        for s, p in zip(extra.get("done_sites", []), extra.get("done_patches", [])):
            key = (self.site_index.id(s), int(p))
            if key in self.buffer.done or key in self.buffer.pending:
                raise ValueError(f"merge: patch {p} of site {s!r} was scored in both states")
            self.buffer.done.add(key)
        complete = []
        for e in extra.get("pending", []):
            key = (self.site_index.id(e["site"]), int(e["patch"]))
            if key in self.buffer.done:
                raise ValueError(f"merge: patch {e['patch']} of site {e['site']!r} was scored in both states")
            mine = self.buffer.pending.get(key)
            if mine is None:
                self.buffer.pending[key] = {"P": e["P"].copy(), "G": e["G"].copy(), "own": e["own"], "shape": tuple(e["shape"]), "seen": int(e["seen"])}
                mine = self.buffer.pending[key]
            else:
                if mine["seen"] & int(e["seen"]):
                    raise ValueError(f"merge: a year of patch {e['patch']} of site {e['site']!r} is in both states")
                for y in range(len(self.years)):
                    if int(e["seen"]) >> y & 1:
                        mine["P"][y], mine["G"][y] = e["P"][y], e["G"][y]
                mine["seen"] |= int(e["seen"])
            if mine["seen"] == self.buffer.all_years:
                complete.append((key, self.buffer.pending.pop(key)))
                self.buffer.done.add(key)
        pk, pc = self.buffer.reduce_items(complete)
        self._append_pairs(pk, pc)


class PostClassificationScorer(MappingScorer):
    """Mapping predictions in, change scores out (paper Table 6): ``compute()`` returns
    ``F1_interval_{k}``, ``OF1``, ``precision``, ``recall``, ``IoU`` of ``|P_t2 − P_t1|``."""

    def __init__(
        self, years: Sequence[int] = YEARS, protocol: str = "site", empty: str = "skip", incomplete: str = "warn", **_: Any
    ) -> None:
        super().__init__(years=years, protocol=protocol, empty=empty, temporal=True, post_classification=True, incomplete=incomplete)

    def _config(self) -> dict[str, Any]:
        return {"years": list(self.years), "protocol": self.protocol, "empty": self.empty, "incomplete": self.incomplete}

    def _check_compatible(self, config: dict[str, Any]) -> None:
        if tuple(config["years"]) != self.years:
            raise ValueError(f"state_dict: scorer configured with {config}, this one with {self._config()}")

    def compute(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        return self.compute_post_classification(protocol, empty)

    def compute_mapping(self, protocol: str | None = None, empty: str | None = None) -> dict[str, float]:
        return MappingScorer.compute(self, protocol, empty)
