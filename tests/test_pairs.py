"""Pairs and time series as index views over mapping rows: counts, equality with the builder, disk."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from _data_fixtures import PAIR_YEARS, hf_cache, mapping_ds, pairs_ds, sites, small_archive  # noqa: F401
from euromine_hf.bands import YEARS
from euromine_hf.data.collators import PairCollator
from euromine_hf.data.pairs import (
    MappingDataset,
    MappingRows,
    PairDataset,
    PairIndex,
    TimeseriesDataset,
    dataset_disk_bytes,
)
from euromine_hf.data.patching import num_patches


def _patches(split_ds, sites) -> int:
    return sum(num_patches(sites[n].height, sites[n].width) for n in set(split_ds["site"]))


def test_pair_count_is_45_per_patch_with_10_minus_k_at_interval_k(mapping_ds, sites):
    for split, ds in mapping_ds.items():
        index = PairIndex(ds)
        patches = _patches(ds, sites)
        assert len(index) == 45 * patches
        assert index.counts_by_interval() == {k: (10 - k) * patches for k in range(1, 10)}
        assert np.all(index.year_t1 < index.year_t2)
        assert np.array_equal(index.interval, index.year_t2 - index.year_t1)


def test_pair_index_selects_years_and_intervals(mapping_ds, sites):
    ds = mapping_ds["train"]
    index = PairIndex(ds, years=(2015, 2017, 2020), intervals=(2, 5))
    assert set(zip(index.year_t1.tolist(), index.year_t2.tolist())) == {(2015, 2017), (2015, 2020)}
    assert len(index) == 2 * _patches(ds, sites)


def test_pair_dataset_equals_builder_cd_pairs_row_by_row(mapping_ds, pairs_ds):
    for split in pairs_ds:
        built = pairs_ds[split].with_format("numpy", dtype=None)
        pairs = PairDataset(mapping_ds[split], years=PAIR_YEARS)
        assert len(pairs) == len(built)
        got = pairs.__getitems__(list(range(len(pairs))))
        for k, row in enumerate(built):
            assert set(got[k]) == set(row)
            for key, value in row.items():
                assert np.array_equal(np.asarray(got[k][key]), np.asarray(value)), (split, k, key)


def test_change_is_abs_difference_of_masks(mapping_ds):
    pairs = PairDataset(mapping_ds["train"])
    for s in pairs.__getitems__(np.arange(0, len(pairs), 7).tolist()):
        expected = np.abs(s["mask_t2"].astype(np.int16) - s["mask_t1"].astype(np.int16))
        np.testing.assert_array_equal(s["change"], expected)


def test_timeseries_dataset_equals_builder_rows(small_archive, hf_cache, mapping_ds):
    from euromine_hf.data.builder import load_euromine

    years = (2016, 2020, 2023)
    built = load_euromine(small_archive, "timeseries", cache_dir=hf_cache, years=years)
    for split in built:
        ts = TimeseriesDataset(mapping_ds[split], years=years)
        ref = built[split].with_format("numpy", dtype=None)
        assert len(ts) == len(ref)
        for k in range(len(ts)):
            a, b = ts[k], ref[k]
            for key in b:
                assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), (split, k, key)


def test_timeseries_dataset_requires_complete_series(mapping_ds):
    ds = mapping_ds["train"]
    dropped = ds.select([i for i in range(len(ds)) if i != 3])
    with pytest.raises(ValueError, match="TimeseriesDataset"):
        TimeseriesDataset(dropped)


def test_mapping_dataset_follows_select_and_shuffle(mapping_ds):
    ds = mapping_ds["train"].shuffle(seed=3).select(range(9))
    ours = MappingDataset(ds)
    ref = ds.with_format("numpy", dtype=None)
    assert len(ours) == 9
    for k in range(9):
        np.testing.assert_array_equal(ours[k]["image"], ref[k]["image"])
        np.testing.assert_array_equal(ours[k]["mask"], ref[k]["mask"])
        assert (ours[k]["site"], ours[k]["year"], ours[k]["patch"]) == (ref[k]["site"], ref[k]["year"], ref[k]["patch"])
    only = MappingDataset(mapping_ds["train"], years=[2018])
    assert set(only.column("year").tolist()) == {2018}


def test_views_are_zero_copy_and_read_only(mapping_ds):
    rows = MappingRows(mapping_ds["train"])
    image = rows.images([5])[0]
    assert not image.flags.writeable and not image.flags.owndata


def test_duplicate_rows_are_refused(mapping_ds):
    ds = mapping_ds["train"]
    with pytest.raises(ValueError, match="appears twice"):
        PairIndex(ds.select([0, 0, 1]))


def test_pair_training_disk_stays_within_1_2x_of_mapping(mapping_ds, pairs_ds, hf_cache):
    ds = mapping_ds["train"]
    before = sorted(p for p in Path(hf_cache).rglob("*") if p.is_file())
    pairs = PairDataset(ds)
    loader = torch.utils.data.DataLoader(pairs, batch_size=16, shuffle=True, collate_fn=PairCollator())
    seen = sum(len(batch["labels"]) for batch in loader)
    assert seen == len(pairs)
    after = sorted(p for p in Path(hf_cache).rglob("*") if p.is_file())
    assert after == before  # nothing written on the way to training
    disk = pairs.disk_bytes()
    mapping_bytes = dataset_disk_bytes(ds)
    assert disk["mapping"] == mapping_bytes > 0
    assert disk["total"] <= 1.2 * mapping_bytes
    # For contrast: materialised pairs over only 4 of the 10 years already exceed that budget.
    assert dataset_disk_bytes(pairs_ds["train"]) > 1.2 * mapping_bytes


def test_pickle_carries_no_pixels(mapping_ds):
    pairs = PairDataset(mapping_ds["train"])
    blob = pickle.dumps(pairs)
    assert len(blob) < 200_000
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again[7]["image_t2"], pairs[7]["image_t2"])


def test_dataloader_batches(mapping_ds):
    pairs = PairDataset(mapping_ds["validation"], intervals=[1])
    loader = torch.utils.data.DataLoader(pairs, batch_size=4, collate_fn=PairCollator())
    batch = next(iter(loader))
    assert set(batch) == {"pixel_values_t1", "pixel_values_t2", "labels"}
    assert batch["pixel_values_t1"].shape == (4, 10, 160, 160) and batch["pixel_values_t1"].dtype == torch.float32
    assert batch["labels"].dtype == torch.int64
    assert len(pairs) == 9 * len(set(mapping_ds["validation"]["patch"]))
    assert set(YEARS) >= set(pairs.index.year_t1.tolist())
