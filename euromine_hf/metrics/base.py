"""What every scorer shares: keyed count tables, site names, and merging by summing counts.

A scorer's whole state is its tables (plus, for year pairs, the buffer of incomplete patches),
so ``state_dict()`` is plain arrays and lists, ``merge(other)`` concatenates rows (duplicate keys
are summed) and :meth:`ScorerBase.sync` gathers every process's state under
``torch.distributed`` — ratios are only formed in ``compute()``, after all counts are summed.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np

from euromine_hf.metrics.accumulate import CountTable, SiteIndex
from euromine_hf.metrics.scores import check_empty, check_protocol

__all__ = ["ScorerBase", "as_int_keys"]


def as_int_keys(values: Any, n: int, name: str, default: int | None = None) -> np.ndarray:
    """``n`` integer keys from a list/array/tensor/scalar, with a clear error naming ``name``."""
    if values is None:
        if default is None:
            raise ValueError(f"{name}: required (one integer per sample)")
        return np.full(n, default, np.int64)
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = np.full(n, arr.item())
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per sample), got {arr.shape[0]}")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        try:
            real = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected integers, got {arr[:3].tolist()}...") from None
        if not np.isfinite(real).all():  # the int64 cast would make NaN a huge negative number
            raise ValueError(f"{name}: expected integers, found {'NaN' if np.isnan(real).any() else 'an infinity'}")
        as_int = real.astype(np.int64)
        if not np.array_equal(as_int, arr.astype(np.float64)):
            raise ValueError(f"{name}: expected integers, got {arr[:3].tolist()}...")
        arr = as_int
    return arr.astype(np.int64)


def as_counts(values: Any, name: str, columns: Sequence[str]) -> np.ndarray:
    """A 2-D array of counts (one column per name in ``columns``) as int64, checked *before* the cast:
    NaN or an infinity cast to int64 becomes a huge negative number, which would be reported as
    "negative values" or, worse, counted. Errors name the argument and the column."""
    if type(values).__module__.startswith("torch"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.int64)
    else:
        try:
            real = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected integer counts, got {arr.dtype} values") from None
        for j, column in enumerate(columns):
            col = real[..., j]
            for what, bad in (("NaN", np.isnan(col)), ("an infinity", np.isinf(col))):
                if bad.any():
                    raise ValueError(f"{name}: column {column}: expected whole counts, found {what} in {int(bad.sum())} row(s)")
            if (col != np.round(col)).any():
                raise ValueError(f"{name}: column {column}: expected whole counts, found {float(col[col != np.round(col)][0])!r}")
        out = real.astype(np.int64)
    negative = [column for j, column in enumerate(columns) if (out[..., j] < 0).any()]
    if negative:
        raise ValueError(f"{name}: expected counts >= 0, found negative values in {negative}")
    return out


class ScorerBase:
    """Tables, site names, protocol/empty defaults, state and merging."""

    #: table name -> (key columns, count columns); subclasses fill this in ``__init__``.
    tables: dict[str, CountTable]

    def __init__(self, protocol: str = "site", empty: str = "skip") -> None:
        self.protocol = check_protocol(protocol)
        self.empty = check_empty(empty)
        self.site_index = SiteIndex()
        self.tables = {}

    # --- rows: the interchange format of evaluate modules and state_dict -----------------------
    def rows(self, table: str, compact: bool = True) -> dict[str, np.ndarray]:
        """Rows of one table (one per key unless ``compact=False``), ``site`` as names (``str``)."""
        cols = self.tables[table].columns(compact)
        names = np.asarray(self.site_index.names + [""], dtype=object)
        cols["site"] = names[cols["site"]] if len(cols["site"]) else np.zeros(0, dtype=object)
        return cols

    def pop_rows(self, table: str) -> dict[str, np.ndarray]:
        """:meth:`rows` of one table, then empty it (hand counts on as they complete)."""
        out = self.rows(table, compact=False)  # duplicates are summed wherever they are scored
        self.tables[table].reset()
        return out

    def add_rows(self, table: str, columns: dict[str, Any]) -> None:
        """Add precomputed count rows (``site`` as names; other keys and counts as integers)."""
        t = self.tables.get(table)
        if t is None:
            raise ValueError(f"table: expected one of {sorted(self.tables)}, got {table!r}")
        missing = [c for c in t.key_names + t.count_names if c not in columns]
        if missing:
            raise ValueError(f"{table} rows: missing columns {missing} (expected {list(t.key_names + t.count_names)})")
        n = len(np.asarray(columns[t.count_names[0]]).reshape(-1))
        keys = [self.site_index.ids(columns["site"], n)] + [as_int_keys(columns[k], n, k) for k in t.key_names[1:]]
        counts = [as_int_keys(columns[c], n, c) for c in t.count_names]
        if any((c < 0).any() for c in counts):
            bad = [name for name, c in zip(t.count_names, counts) if (c < 0).any()]
            raise ValueError(f"{table} rows: counts must be >= 0, got negative values in {bad}")
        t.append(np.stack(keys, 1), np.stack(counts, 1))

    # --- state ---------------------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "empty": self.empty}

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state (numpy arrays, lists): picklable, mergeable, ``torch.save``-able."""
        return {
            "class": type(self).__name__,
            "config": self._config(),
            "tables": {name: self.rows(name) for name in self.tables},
            "extra": self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: dict[str, Any], site_names: list[str] | None) -> None:
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Add a state (from this or another process) to this scorer: counts are summed."""
        if state.get("class") != type(self).__name__:
            raise ValueError(f"state_dict: expected a {type(self).__name__} state, got {state.get('class')!r}")
        self._check_compatible(state["config"])
        for name, cols in state["tables"].items():
            if len(next(iter(cols.values()), ())) or len(cols.get("site", ())):
                self.add_rows(name, cols)
        self._load_extra_state(state.get("extra", {}), None)

    def _check_compatible(self, config: dict[str, Any]) -> None:
        return None

    def merge(self, other: "ScorerBase") -> "ScorerBase":
        """Sum another scorer's counts into this one (e.g. the shards of a distributed eval)."""
        if type(other) is not type(self):
            raise TypeError(f"merge: expected a {type(self).__name__}, got {type(other).__name__}")
        self.load_state_dict(other.state_dict())
        return self

    def copy(self) -> "ScorerBase":
        return copy.deepcopy(self)

    def sync(self, group: Any = None) -> "ScorerBase":
        """Gather and merge the states of every ``torch.distributed`` process (no-op otherwise).

        Every process ends with the merged counts, so ``compute()`` agrees everywhere.
        """
        try:
            import torch.distributed as dist
        except ImportError:  # pragma: no cover
            return self
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
            return self
        states: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(states, self.state_dict(), group=group)
        merged = type(self)(**self._config())
        for state in states:
            merged.load_state_dict(state)
        self.__dict__.update(merged.__dict__)
        return self

    def reset(self) -> None:
        for t in self.tables.values():
            t.reset()
