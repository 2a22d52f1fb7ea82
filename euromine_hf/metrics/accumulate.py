"""Incremental state of the scorers: count tables keyed by integers, and the per-patch buffer
that lets the years of one patch meet for CA-TIoU.

Why tables of per-sample counts rather than running totals: all three protocols (site, micro,
patch) are different groupings of the same per-(site, patch, time) counts, so one pass serves
every protocol, and merging shards is concatenation followed by a group-sum — counts are summed,
ratios never averaged. Tables compact themselves (group-sum by key) so memory follows the number
of distinct keys, not the number of ``add`` calls.

Why a buffer: a year-pair score needs the masks of both years of the same patch, which usually
arrive in different batches. Each (site, patch) keeps its years bit-packed (2 × 3.2 KB per
160×160 year) until every expected year is present; then it is reduced to per-pair counts and
freed, so memory stays bounded by the patches still incomplete.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Iterable

import numpy as np

from euromine_hf.metrics.counts import popcount, valid_bits
from euromine_hf.metrics.scores import group_ids

__all__ = ["SiteIndex", "CountTable", "TemporalBuffer", "PAIR_CA_COLUMNS", "PAIR_PC_COLUMNS", "CONFUSION_COLUMNS"]

#: (tp, fp, fn, tn) over owned pixels, then over the full patch.
CONFUSION_COLUMNS: tuple[str, ...] = ("tp", "fp", "fn", "tn", "tp_full", "fp_full", "fn_full", "tn_full")
#: CA-TIoU intersection / union inside U_ij, owned then full, and owned pixel count.
PAIR_CA_COLUMNS: tuple[str, ...] = ("inter", "union", "inter_full", "union_full", "pixels")
#: Post-classification change confusion (|P_j - P_i| against |G_j - G_i|).
PAIR_PC_COLUMNS: tuple[str, ...] = CONFUSION_COLUMNS


class SiteIndex:
    """Site names ↔ dense integer ids (tables store ids; names travel in ``state_dict``)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}
        for name in names:
            self.id(name)

    def id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self.names)
            self.names.append(name)
        return found

    def ids(self, names: Any, n: int) -> np.ndarray:
        """Ids of ``n`` site names (``None`` means one anonymous site ``""``)."""
        if names is None:
            return np.full(n, self.id(""), np.int64)
        if isinstance(names, str):
            return np.full(n, self.id(names), np.int64)
        arr = np.asarray(names).reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"sites: expected {n} site names (one per sample), got {arr.shape[0]}")
        uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
        lookup = np.asarray([self.id(str(u)) for u in uniq], np.int64)
        return lookup[inverse.reshape(-1)]


class CountTable:
    """Rows of integer keys and int64 counts; duplicate keys are summed on :meth:`compact`.

    Summing is for rows that do not identify a sample (``patch`` < 0: counts given without patch
    indices). A row whose ``patch`` is known stands for one sample, so with ``site_names`` given
    (the scorer's :class:`SiteIndex` names) a key seen twice is an error naming it: summing would
    count that sample twice.
    """

    def __init__(
        self,
        key_names: tuple[str, ...],
        count_names: tuple[str, ...],
        compact_every: int = 262_144,
        site_names: list[str] | None = None,
    ) -> None:
        self.key_names = tuple(key_names)
        self.count_names = tuple(count_names)
        self.compact_every = int(compact_every)
        self.site_names = site_names
        self._keys: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._pending_rows = 0
        self._compacted = True

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def append(self, keys: np.ndarray, counts: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64).reshape(-1, len(self.key_names))
        counts = np.asarray(counts, np.int64).reshape(-1, len(self.count_names))
        if len(keys) != len(counts):
            raise ValueError(f"count table: {len(keys)} key rows but {len(counts)} count rows")
        if len(keys) == 0:
            return
        self._keys.append(keys)
        self._counts.append(counts)
        self._compacted = False
        self._pending_rows += len(keys)
        if self._pending_rows >= self.compact_every:
            self.compact()

    def compact(self) -> None:
        """Group-sum rows with equal keys (keeps memory proportional to distinct keys)."""
        self._pending_rows = 0
        if not self._keys or (len(self._keys) == 1 and self._compacted):
            return
        keys = np.concatenate(self._keys)
        counts = np.concatenate(self._counts)
        inverse, n = group_ids(*keys.T)
        if self.site_names is not None and n < len(keys):
            self._check_unique(keys, inverse, n)
        first = np.full(n, len(keys), np.int64)
        np.minimum.at(first, inverse, np.arange(len(keys)))
        summed = np.zeros((n, counts.shape[1]), np.int64)
        for c in range(counts.shape[1]):
            summed[:, c] = np.bincount(inverse, weights=counts[:, c], minlength=n).astype(np.int64)
        self._keys, self._counts = [keys[first]], [summed]
        self._compacted = True

    def _check_unique(self, keys: np.ndarray, inverse: np.ndarray, n: int) -> None:
        known = keys[:, self.key_names.index("patch")] >= 0
        repeated = np.bincount(inverse[known], minlength=n) > 1
        if repeated.any():
            row = keys[np.flatnonzero(known & repeated[inverse])[0]]
            parts = [
                f"site {self.site_names[int(v)]!r}" if name == "site" and 0 <= v < len(self.site_names) else f"{name} {int(v)}"
                for name, v in zip(self.key_names, row)
            ]
            raise ValueError(
                f"{', '.join(parts)}: added twice (its counts would be summed); "
                f"expected each ({', '.join(self.key_names)}) once"
            )

    def arrays(self, compact: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(keys (N, K), counts (N, C))``; compacted (one row per key) unless ``compact=False``."""
        if compact:
            self.compact()
        if not self._keys:
            return np.zeros((0, len(self.key_names)), np.int64), np.zeros((0, len(self.count_names)), np.int64)
        if len(self._keys) > 1:
            self._keys, self._counts = [np.concatenate(self._keys)], [np.concatenate(self._counts)]
            self._compacted = False
        return self._keys[0], self._counts[0]

    def columns(self, compact: bool = True) -> dict[str, np.ndarray]:
        keys, counts = self.arrays(compact)
        out = {name: keys[:, i] for i, name in enumerate(self.key_names)}
        out.update({name: counts[:, i] for i, name in enumerate(self.count_names)})
        return out

    def reset(self) -> None:
        self._keys, self._counts, self._pending_rows, self._compacted = [], [], 0, True


def year_pairs(n_years: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (i, j), i < j, of every year pair in row-major order."""
    pairs = list(combinations(range(n_years), 2))
    return np.asarray([p[0] for p in pairs], np.int64), np.asarray([p[1] for p in pairs], np.int64)


class TemporalBuffer:
    """Bit-packed years of each (site, patch) until all ``n_years`` are present, then pair counts.

    Emitted rows: keys (site, patch, i, j) as year *indices* and counts ``PAIR_CA_COLUMNS``
    (+ ``PAIR_PC_COLUMNS`` when ``post_classification``).
    """

    def __init__(self, n_years: int, post_classification: bool = False, chunk: int = 16) -> None:
        self.n_years = int(n_years)
        self.post_classification = bool(post_classification)
        self.chunk = int(chunk)
        self.pending: dict[tuple[int, int], dict[str, Any]] = {}
        self.done: set[tuple[int, int]] = set()
        self.count_names = PAIR_CA_COLUMNS + (PAIR_PC_COLUMNS if self.post_classification else ())
        self._full = (1 << self.n_years) - 1

    def reset(self) -> None:
        self.pending.clear()
        self.done.clear()

    def check_new(self, sites: np.ndarray, patches: np.ndarray, years: np.ndarray) -> None:
        """Raise before anything is stored if a (site, patch, year) was already added."""
        seen_batch: set[tuple[int, int, int]] = set()
        for s, p, y in zip(sites.tolist(), patches.tolist(), years.tolist()):
            key = (s, p)
            entry = self.pending.get(key)
            if key in self.done or (entry is not None and entry["seen"] >> y & 1) or (s, p, y) in seen_batch:
                raise ValueError(
                    f"(site id {s}, patch {p}, year index {y}): added twice; each (site, patch, year) must be added once"
                )
            seen_batch.add((s, p, y))

    def add(
        self,
        sites: np.ndarray,
        patches: np.ndarray,
        years: np.ndarray,
        pred: np.ndarray,
        ref: np.ndarray,
        shape: tuple[int, int],
        partial_index: np.ndarray,
        owned: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Store packed masks ``(N, words)``; return the pair rows of patches that became complete."""
        own_of = dict(zip(partial_index.tolist(), owned))
        complete: list[tuple[tuple[int, int], dict[str, Any]]] = []
        words = pred.shape[-1]
        for n, (s, p, y) in enumerate(zip(sites.tolist(), patches.tolist(), years.tolist())):
            key = (s, p)
            entry = self.pending.get(key)
            if entry is None:
                # Rows of years not yet seen stay uninitialised: pairs with them are never kept.
                slab = np.empty((2, self.n_years, words), np.uint64)
                entry = self.pending[key] = {
                    "P": slab[0],
                    "G": slab[1],
                    "own": own_of.get(n),
                    "shape": shape,
                    "seen": 0,
                }
            elif entry["shape"] != shape:
                raise ValueError(f"(site id {s}, patch {p}): masks of shape {shape} after {entry['shape']}")
            entry["P"][y] = pred[n]
            entry["G"][y] = ref[n]
            entry["seen"] |= 1 << y
            if entry["seen"] == self._full:
                complete.append((key, self.pending.pop(key)))
                self.done.add(key)
        return self._reduce(complete)

    def add_timeseries(
        self, sites: np.ndarray, patches: np.ndarray, pred: np.ndarray, ref: np.ndarray, shape: tuple[int, int],
        partial_index: np.ndarray, owned: np.ndarray, seen: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reduce whole timeseries ``(N, n_years, words)`` at once (no buffering)."""
        own_of = dict(zip(partial_index.tolist(), owned))
        items = []
        for n, (s, p) in enumerate(zip(sites.tolist(), patches.tolist())):
            key = (s, p)
            if key in self.done or key in self.pending:
                raise ValueError(f"(site id {s}, patch {p}): added twice; each (site, patch, year) must be added once")
            items.append((key, {"P": pred[n], "G": ref[n], "own": own_of.get(n), "shape": shape, "seen": seen}))
            self.done.add(key)
        return self._reduce(items)

    def peek(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair rows the incomplete patches would give now, without changing the state."""
        return self._reduce(list(self.pending.items()))

    def reduce_items(self, items: list[tuple[tuple[int, int], dict[str, Any]]]) -> tuple[np.ndarray, np.ndarray]:
        """Pair rows of the given ``((site, patch), entry)`` items (entries as in ``pending``)."""
        return self._reduce(items)

    @property
    def all_years(self) -> int:
        """The ``seen`` bit mask of a complete patch."""
        return self._full

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Reduce every incomplete patch over the pairs of years it has (used at ``compute``)."""
        items = list(self.pending.items())
        self.pending.clear()
        self.done.update(k for k, _ in items)
        return self._reduce(items)

    def _reduce(self, items: list[tuple[tuple[int, int], dict[str, Any]]]) -> tuple[np.ndarray, np.ndarray]:
        width = len(self.count_names)
        if not items:
            return np.zeros((0, 4), np.int64), np.zeros((0, width), np.int64)
        I, J = year_pairs(self.n_years)
        out_keys, out_counts = [], []
        # Group by (shape, partial ownership?) so each chunk stacks cleanly.
        groups: dict[tuple, list] = {}
        for key, entry in items:
            groups.setdefault((entry["shape"], entry["own"] is not None, entry["seen"]), []).append((key, entry))
        for (shape, partial, seen), group in groups.items():
            have = np.asarray([(seen >> i & 1) and (seen >> j & 1) for i, j in zip(I, J)], bool)
            if not have.any():
                continue
            Ih, Jh = I[have], J[have]
            valid = valid_bits(*shape)
            needs_valid = (shape[0] * shape[1]) % 64 != 0
            for start in range(0, len(group), self.chunk):
                part = group[start : start + self.chunk]
                P = np.stack([e["P"] for _, e in part])
                G = np.stack([e["G"] for _, e in part])
                full = _pair_counts(P, G, valid if needs_valid else None, self.post_classification)
                if partial:
                    own = np.stack([e["own"] for _, e in part])[:, None, :]
                    owned = _pair_counts(P, G, own, self.post_classification)
                else:
                    owned = full
                counts = _assemble(owned, full, self.post_classification)[:, have]
                b, k = len(part), len(Ih)
                keys = np.empty((b, k, 4), np.int64)
                keys[:, :, 0] = np.asarray([s for (s, _), _ in part])[:, None]
                keys[:, :, 1] = np.asarray([p for (_, p), _ in part])[:, None]
                keys[:, :, 2] = Ih[None, :]
                keys[:, :, 3] = Jh[None, :]
                out_keys.append(keys.reshape(-1, 4))
                out_counts.append(counts.reshape(b * k, width))
        if not out_keys:
            return np.zeros((0, 4), np.int64), np.zeros((0, width), np.int64)
        return np.concatenate(out_keys), np.concatenate(out_counts)

    # --- serialisation (merging shards whose years of one patch were split) -------------------
    def _seen_only(self, rows: np.ndarray, seen: int) -> np.ndarray:
        out = np.zeros_like(rows)
        for y in range(self.n_years):
            if seen >> y & 1:
                out[y] = rows[y]
        return out

    def state(self) -> dict[str, Any]:
        keys = list(self.pending)
        return {
            "n_years": self.n_years,
            "post_classification": self.post_classification,
            "done": np.asarray(sorted(self.done), np.int64).reshape(-1, 2),
            "pending": [
                {"site": s, "patch": p, "P": self._seen_only(e["P"], e["seen"]), "G": self._seen_only(e["G"], e["seen"]),
                 "own": e["own"], "shape": tuple(e["shape"]), "seen": e["seen"]}
                for (s, p), e in ((k, self.pending[k]) for k in keys)
            ],
        }


def _pair_counts(P: np.ndarray, G: np.ndarray, mask: np.ndarray | None, pc: bool) -> dict[str, np.ndarray]:
    """Counts of every pair ``i < j`` (row-major, as :func:`year_pairs`) from packed years
    ``P, G (B, T, words)`` inside ``mask`` (``None``: every bit is a pixel).

    Loops over ``i`` and broadcasts against the later years, so no pair-sized copies are made;
    callers keep ``B`` small so the temporaries stay in cache.
    """
    b, t, words = P.shape
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("inter", "union", "tp", "npred", "nref")}
    for i in range(t - 1):
        pi, pj = P[:, i : i + 1], P[:, i + 1 :]
        dg = G[:, i : i + 1] ^ G[:, i + 1 :]  # reference changed: outside U_ij
        eq = ~dg
        if mask is not None:
            eq &= mask
        cols["inter"].append(popcount(pi & pj & eq))
        cols["union"].append(popcount((pi | pj) & eq))
        if pc:
            dp = pi ^ pj  # change read off the two mapping predictions
            if mask is not None:
                dp &= mask
                dg &= mask
            cols["tp"].append(popcount(dp & dg))
            cols["npred"].append(popcount(dp))
            cols["nref"].append(popcount(dg))
    out = {k: np.concatenate(v, axis=1) for k, v in cols.items() if v}
    k = t * (t - 1) // 2
    npix = np.int64(words * 64) if mask is None else popcount(mask).reshape(-1, 1)
    out["pixels"] = np.broadcast_to(npix, (b, k)).copy()
    if pc:
        tp, npred, nref = out.pop("tp"), out.pop("npred"), out.pop("nref")
        out.update(tp=tp, fp=npred - tp, fn=nref - tp, tn=out["pixels"] - npred - nref + tp)
    return out


def _assemble(owned: dict[str, np.ndarray], full: dict[str, np.ndarray], pc: bool) -> np.ndarray:
    cols = [owned["inter"], owned["union"], full["inter"], full["union"], owned["pixels"]]
    if pc:
        cols += [owned[c] for c in ("tp", "fp", "fn", "tn")] + [full[c] for c in ("tp", "fp", "fn", "tn")]
    return np.stack(cols, axis=-1)
