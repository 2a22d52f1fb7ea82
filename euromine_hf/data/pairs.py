"""Training-side views over the ``mapping`` rows: mapping, change pairs and time series.

The 45 year pairs of a patch share its 10 images, so materialising ``cd_pairs`` stores each image
9 times. For training, pairs are an *index* over the per-year ``mapping`` rows instead: two int64
row numbers per pair, a few hundred kB for the whole benchmark, next to the mapping Arrow files
that are already on disk (see :meth:`PairDataset.disk_bytes`). Time series are the same idea with
T rows per sample.

Reading is zero-copy: :class:`MappingRows` takes numpy views straight out of the memory-mapped
Arrow buffers of the ``image`` / ``mask`` columns (no Python objects, no uint16 → int64 widening
as the datasets formatters do), so a batch costs one pass of the collator over the pixels. Every
dataset here implements ``__getitems__``, which torch's ``DataLoader`` calls with the whole batch
of indices, so a batch of pairs is fetched in one read of 2·B rows.

Row order of :class:`PairDataset` is the order of the builder's ``cd_pairs`` split: sites by
name, patches, then (t1, t2) lexicographically — row k of one is row k of the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from euromine_hf.bands import NUM_BANDS, PATCH_SIZE

__all__ = [
    "MappingRows",
    "MappingDataset",
    "PairIndex",
    "PairDataset",
    "TimeseriesDataset",
    "dataset_disk_bytes",
]

_KEY_COLUMNS = ("site", "country", "patch", "row", "col", "site_height", "site_width", "year")
_YEAR_STRIDE = 1 << 16  # years fit well below this, so (group, year) packs into one int64


def _column_views(table: pa.Table, name: str, shape: tuple[int, ...], dtype: np.dtype) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-chunk numpy views ``(rows, *shape)`` of a fixed-shape array column, plus chunk starts.

    Works for datasets' ``ArrayXD`` extension columns (nested lists), plain nested lists and
    binary columns holding the raw bytes of each array; never copies the pixel data.
    """
    if name not in table.column_names:
        raise KeyError(f"mapping dataset: no {name!r} column (has {table.column_names})")
    dtype = np.dtype(dtype)
    per_row = int(np.prod(shape))
    views: list[np.ndarray] = []
    starts = [0]
    for chunk in table.column(name).chunks:
        n = len(chunk)
        if n == 0:
            continue
        arr = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
        if arr.null_count:
            raise ValueError(f"mapping dataset: column {name!r}: expected no missing values, found {arr.null_count}")
        if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
            off_type = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
            offsets = np.frombuffer(arr.buffers()[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
            nbytes = per_row * dtype.itemsize
            if not np.all(np.diff(offsets) == nbytes):
                raise ValueError(f"mapping dataset: column {name!r}: expected {nbytes} bytes per row ({shape} {dtype})")
            flat = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[0] + n * nbytes].view(dtype)
        else:
            while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
                arr = arr.flatten()
            if arr.null_count or np.dtype(arr.type.to_pandas_dtype()) != dtype:
                raise ValueError(f"mapping dataset: column {name!r}: expected {dtype} values, found {arr.type}")
            flat = np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset : arr.offset + len(arr)]
        if flat.size != n * per_row:
            raise ValueError(f"mapping dataset: column {name!r}: expected arrays of shape {shape} in every row")
        views.append(flat.reshape((n,) + tuple(shape)))
        starts.append(starts[-1] + n)
    return views, np.asarray(starts, dtype=np.int64)


class MappingRows:
    """Zero-copy access to the rows of a ``mapping`` dataset (image, mask and key columns).

    ``dataset`` is a ``datasets.Dataset`` of the ``mapping`` config (from the builder, from
    ``load_dataset`` on exported Parquet, or a ``select``/``filter`` of one). Row numbers here are
    the dataset's own (0..len-1); selections are honoured through its indices mapping.
    """

    def __init__(self, dataset: datasets.Dataset) -> None:
        if not isinstance(dataset, datasets.Dataset):
            raise TypeError(f"MappingRows: expected a datasets.Dataset of the 'mapping' config, got {type(dataset).__name__}")
        missing = [c for c in ("image", "mask", "site", "patch", "year") if c not in dataset.column_names]
        if missing:
            raise KeyError(f"MappingRows: dataset lacks column(s) {missing}; expected the 'mapping' config (has {dataset.column_names})")
        self.dataset = dataset
        self._open()

    def _open(self) -> None:
        dataset = self.dataset
        table = dataset.data.table
        self._images, self._starts = _column_views(table, "image", (NUM_BANDS, PATCH_SIZE, PATCH_SIZE), np.uint16)
        self._masks, self._mask_starts = _column_views(table, "mask", (PATCH_SIZE, PATCH_SIZE), np.uint8)
        indices = getattr(dataset, "_indices", None)
        self._physical = None if indices is None else indices.column(0).to_numpy().astype(np.int64)
        self.keys: dict[str, np.ndarray] = {}
        for name in _KEY_COLUMNS:
            if name in table.column_names:
                values = table.column(name).to_numpy()
                self.keys[name] = values if self._physical is None else values[self._physical]

    def __getstate__(self) -> dict[str, Any]:
        # Views into memory-mapped buffers must not be pickled (spawned DataLoader workers would
        # receive gigabytes); the datasets.Dataset pickles as its file paths and reopens.
        return {"dataset": self.dataset}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dataset = state["dataset"]
        self._open()

    def __len__(self) -> int:
        return len(self.dataset)

    def _locate(self, rows: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunk = np.searchsorted(starts, rows, side="right") - 1
        return chunk, rows - starts[chunk]

    def _physical_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"MappingRows: row index out of range for {n} rows")
        rows = np.where(rows < 0, rows + n, rows)
        return rows if self._physical is None else self._physical[rows]

    def images(self, rows: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """Read-only uint16 (10, 160, 160) views of the given rows' images."""
        phys = self._physical_rows(rows)
        chunk, local = self._locate(phys, self._starts)
        return [self._images[c][i] for c, i in zip(chunk.tolist(), local.tolist())]

    def masks(self, rows: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """Read-only uint8 (160, 160) views of the given rows' masks."""
        phys = self._physical_rows(rows)
        chunk, local = self._locate(phys, self._mask_starts)
        return [self._masks[c][i] for c, i in zip(chunk.tolist(), local.tolist())]

    def key_values(self, rows: Sequence[int] | np.ndarray) -> dict[str, list[Any]]:
        rows = np.asarray(rows, dtype=np.int64)
        return {name: values[rows].tolist() for name, values in self.keys.items()}


def dataset_disk_bytes(dataset: datasets.Dataset) -> int:
    """Bytes of the distinct Arrow cache files behind a dataset (0 if held in memory)."""
    files = {f["filename"] for f in dataset.cache_files}
    return sum(os.path.getsize(f) for f in files if os.path.exists(f))


def _as_rows(dataset: datasets.Dataset | MappingRows) -> MappingRows:
    return dataset if isinstance(dataset, MappingRows) else MappingRows(dataset)


def _year_filter(rows: MappingRows, years: Iterable[int] | None) -> np.ndarray:
    selected = np.arange(len(rows), dtype=np.int64)
    if years is None:
        return selected
    wanted = np.asarray(sorted({int(y) for y in years}), dtype=rows.keys["year"].dtype)
    if wanted.size == 0:
        raise ValueError("years: expected at least one year, got none")
    return selected[np.isin(rows.keys["year"], wanted)]


class MappingDataset:
    """``mapping`` rows for a torch ``DataLoader``: one sample per (site, patch, year).

    Samples are dicts with ``image`` uint16 (10,160,160) and ``mask`` uint8 (160,160) as
    read-only views, plus the key fields; feed them to
    :class:`~euromine_hf.data.collators.MappingCollator`. ``years`` keeps a subset of years.
    """

    def __init__(self, mapping: datasets.Dataset | MappingRows, years: Iterable[int] | None = None) -> None:
        self.rows = _as_rows(mapping)
        self.indices = _year_filter(self.rows, years)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        rows = self.indices[np.asarray(indices, dtype=np.int64)]
        images = self.rows.images(rows)
        masks = self.rows.masks(rows)
        keys = self.rows.key_values(rows)
        names = list(keys)
        return [
            dict(zip(names, values), image=img, mask=msk)
            for img, msk, *values in zip(images, masks, *(keys[n] for n in names))
        ]

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def column(self, name: str) -> np.ndarray:
        """One key column (``site``, ``year``, ``patch``, ...) in this dataset's order."""
        return self.rows.keys[name][self.indices]


class PairIndex:
    """(row_t1, row_t2) of every year pair t1 < t2 of every (site, patch) in a ``mapping`` set.

    Pairs come grouped by (site, patch) — sites by name, patches by index — then ordered by
    (t1, t2), matching the builder's ``cd_pairs`` rows. ``years`` restricts the years used,
    ``intervals`` the gaps t2 − t1 (default all). With 10 years a patch has 45 pairs, 10 − k of
    them at interval k.
    """

    def __init__(
        self,
        mapping: datasets.Dataset | MappingRows,
        years: Iterable[int] | None = None,
        intervals: Iterable[int] | None = None,
    ) -> None:
        rows = _as_rows(mapping)
        candidates = _year_filter(rows, years)
        site_names, site_code = np.unique(rows.keys["site"][candidates].astype(str), return_inverse=True)
        patch = rows.keys["patch"][candidates].astype(np.int64)
        year = rows.keys["year"][candidates].astype(np.int64)
        order = np.lexsort((year, patch, site_code))
        site_s, patch_s, year_s, row_s = site_code[order], patch[order], year[order], candidates[order]
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = (site_s[1:] != site_s[:-1]) | (patch_s[1:] != patch_s[:-1])
        group = np.cumsum(new_group) - 1
        packed = group * _YEAR_STRIDE + year_s  # sorted ascending
        if len(packed) > 1 and np.any(packed[1:] == packed[:-1]):
            dup = int(np.flatnonzero(packed[1:] == packed[:-1])[0])
            raise ValueError(
                f"PairIndex: site {site_names[site_s[dup]]} patch {patch_s[dup]} year {year_s[dup]} appears twice in the "
                "mapping rows; expected one row per (site, patch, year)"
            )
        if intervals is None:
            span = int(year_s.max() - year_s.min()) if len(year_s) else 0
            intervals = range(1, span + 1)
        gaps = sorted({int(k) for k in intervals})
        if any(k < 1 for k in gaps):
            raise ValueError(f"PairIndex: intervals: expected positive year gaps, got {gaps}")
        first, second = [], []
        for k in gaps:
            pos = np.searchsorted(packed, packed + k)
            ok = pos < len(packed)
            ok[ok] = packed[pos[ok]] == packed[ok] + k
            first.append(np.flatnonzero(ok))
            second.append(pos[ok])
        i1 = np.concatenate(first) if first else np.zeros(0, np.int64)
        i2 = np.concatenate(second) if second else np.zeros(0, np.int64)
        order2 = np.lexsort((year_s[i2], year_s[i1], group[i1]))
        i1, i2 = i1[order2], i2[order2]
        self.row_t1 = row_s[i1].astype(np.int64)
        self.row_t2 = row_s[i2].astype(np.int64)
        self.year_t1 = year_s[i1].astype(np.int32)
        self.year_t2 = year_s[i2].astype(np.int32)
        self.interval = (self.year_t2 - self.year_t1).astype(np.int32)
        self.num_groups = int(group[-1] + 1) if len(group) else 0

    def __len__(self) -> int:
        return len(self.row_t1)

    @property
    def nbytes(self) -> int:
        """Memory (and disk, if saved) the index takes."""
        return sum(a.nbytes for a in (self.row_t1, self.row_t2, self.year_t1, self.year_t2, self.interval))

    def counts_by_interval(self) -> dict[int, int]:
        values, counts = np.unique(self.interval, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts)}


class PairDataset:
    """Change-detection pairs for a torch ``DataLoader``, read from ``mapping`` rows on the fly.

    Samples have the ``cd_pairs`` fields: ``image_t1``, ``image_t2`` (uint16 views), ``mask_t1``,
    ``mask_t2``, ``change`` = |mask_t2 − mask_t1| (uint8), ``year_t1``, ``year_t2``, ``interval``
    and the key fields; feed them to :class:`~euromine_hf.data.collators.PairCollator`.
    """

    def __init__(
        self,
        mapping: datasets.Dataset | MappingRows,
        years: Iterable[int] | None = None,
        intervals: Iterable[int] | None = None,
    ) -> None:
        self.rows = _as_rows(mapping)
        self.index = PairIndex(self.rows, years=years, intervals=intervals)

    def __len__(self) -> int:
        return len(self.index)

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"PairDataset: index out of range for {len(self)} pairs")
        r1, r2 = self.index.row_t1[idx], self.index.row_t2[idx]
        both = np.concatenate([r1, r2])  # one batched read of both dates
        images = self.rows.images(both)
        masks = self.rows.masks(both)
        n = len(idx)
        keys = self.rows.key_values(r1)
        keys.pop("year", None)
        names = list(keys)
        y1, y2, gap = self.index.year_t1[idx].tolist(), self.index.year_t2[idx].tolist(), self.index.interval[idx].tolist()
        samples = []
        for j in range(n):
            m1, m2 = masks[j], masks[n + j]
            sample = {name: keys[name][j] for name in names}
            sample.update(
                year_t1=y1[j],
                year_t2=y2[j],
                interval=gap[j],
                image_t1=images[j],
                image_t2=images[n + j],
                mask_t1=m1,
                mask_t2=m2,
                change=np.bitwise_xor(m1, m2),  # = |m2 - m1| for masks in {0, 1}
            )
            samples.append(sample)
        return samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def disk_bytes(self) -> dict[str, int]:
        """What pair training keeps on disk: the mapping Arrow files and this index.

        ``total / mapping`` is the overhead ratio (about 1.0; the index is held in memory and
        would add ``index`` bytes if saved).
        """
        mapping = dataset_disk_bytes(self.rows.dataset)
        return {"mapping": mapping, "index": self.index.nbytes, "total": mapping + self.index.nbytes}


class TimeseriesDataset:
    """One sample per (site, patch) with every selected year, read from ``mapping`` rows.

    Samples have the ``timeseries`` fields: ``images`` uint16 (T,10,160,160), ``masks`` uint8
    (T,160,160), ``years``, and the key fields; feed them to
    :class:`~euromine_hf.data.collators.TimeseriesCollator`. Every (site, patch) must have every
    selected year (default: every year present), unless ``allow_missing``: then a series may lack
    years (real archives have gaps), a missing year's image is zeros and its mask ``ignore_index``,
    and each sample carries ``year_mask`` (T,) bool (False: missing), as the series model reads it.
    """

    def __init__(self, mapping: datasets.Dataset | MappingRows, years: Iterable[int] | None = None,
                 allow_missing: bool = False, ignore_index: int = 255) -> None:
        self.rows = _as_rows(mapping)
        candidates = _year_filter(self.rows, years)
        year = self.rows.keys["year"][candidates].astype(np.int64)
        self.years = sorted({int(y) for y in (years if years is not None else np.unique(year))})
        site_names, site_code = np.unique(self.rows.keys["site"][candidates].astype(str), return_inverse=True)
        patch = self.rows.keys["patch"][candidates].astype(np.int64)
        order = np.lexsort((year, patch, site_code))
        t = len(self.years)
        self.allow_missing = bool(allow_missing)
        self.ignore_index = int(ignore_index)
        if self.allow_missing:
            self._index_with_gaps(candidates, order, site_code, patch, year)
            return
        if t == 0 or len(order) % t:
            raise ValueError(f"TimeseriesDataset: {len(order)} rows do not form complete series of {t} years {self.years}")
        grid = order.reshape(-1, t)
        ok = (
            (site_code[grid] == site_code[grid[:, :1]]).all(axis=1)
            & (patch[grid] == patch[grid[:, :1]]).all(axis=1)
            & (year[grid] == np.asarray(self.years)).all(axis=1)
        )
        if not ok.all():
            bad = grid[int(np.flatnonzero(~ok)[0]), 0]
            raise ValueError(
                f"TimeseriesDataset: site {site_names[site_code[bad]]} patch {patch[bad]}: expected one row for each of the years "
                f"{self.years}, found a different set"
            )
        self.series_rows = candidates[grid]  # (num_series, T) mapping rows
        self.year_mask = np.ones(self.series_rows.shape, dtype=bool)

    def _index_with_gaps(self, candidates: np.ndarray, order: np.ndarray, site_code: np.ndarray,
                         patch: np.ndarray, year: np.ndarray) -> None:
        """``series_rows`` (num_series, T) with −1 where a (site, patch) lacks a year, and ``year_mask``."""
        t = len(self.years)
        if not t or not len(order):
            raise ValueError(f"TimeseriesDataset: no row of the years {self.years}")
        code, pat, yr = site_code[order], patch[order], year[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (code[1:] != code[:-1]) | (pat[1:] != pat[:-1])
        series = np.cumsum(new) - 1
        position = np.searchsorted(np.asarray(self.years), yr)
        self.series_rows = np.full((int(series[-1]) + 1, t), -1, dtype=np.int64)
        self.series_rows[series, position] = candidates[order]
        self.year_mask = self.series_rows >= 0

    def __len__(self) -> int:
        return len(self.series_rows)

    def first_rows(self) -> np.ndarray:
        """One mapping row per series (its first present year): where its site/patch keys are read."""
        first = np.argmax(self.year_mask, axis=1)
        return self.series_rows[np.arange(len(self.series_rows)), first]

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        grid = self.series_rows[np.asarray(indices, dtype=np.int64)]
        present = grid >= 0
        images = iter(self.rows.images(grid[present]))
        masks = iter(self.rows.masks(grid[present]))
        keys = self.rows.key_values(grid[np.arange(len(grid)), np.argmax(present, axis=1)])
        keys.pop("year", None)
        samples = []
        for j in range(len(grid)):
            sample = {name: values[j] for name, values in keys.items()}
            year_images = [next(images) if here else None for here in present[j]]
            year_masks = [next(masks) if here else None for here in present[j]]
            image = next(a for a in year_images if a is not None)
            mask = next(a for a in year_masks if a is not None)
            sample.update(
                years=list(self.years),
                images=np.stack([a if a is not None else np.zeros_like(image) for a in year_images]),
                masks=np.stack([a if a is not None else np.full_like(mask, self.ignore_index) for a in year_masks]),
            )
            if self.allow_missing:
                sample["year_mask"] = present[j].copy()
            samples.append(sample)
        return samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]
