"""The EuroMineNet GeneratorBasedBuilder: row counts, keys, dtypes, splits, pairs and config checks."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _data_fixtures import PAIR_YEARS, hf_cache, mapping_ds, pairs_ds, sites, small_archive  # noqa: F401
from euromine_hf.bands import BANDS, NUM_BANDS, PATCH_SIZE, YEARS, country_of
from euromine_hf.data.builder import (
    CONFIG_NAMES,
    EuroMineNet,
    EuroMineNetConfig,
    archive_fingerprint,
    features_for,
    load_euromine,
)
from euromine_hf.data.patching import num_patches, patch_offsets

KEYS = ["site", "country", "patch", "row", "col", "site_height", "site_width"]


def _numpy(ds):
    return ds.with_format("numpy", dtype=None)


def test_mapping_counts_keys_and_dtypes(mapping_ds, sites):
    total = 0
    for split, ds in mapping_ds.items():
        assert split in ("train", "validation", "test")
        assert ds.column_names == KEYS + ["year", "image", "mask"]
        names = set(ds["site"])
        expected = sum(num_patches(sites[n].height, sites[n].width) for n in names) * len(YEARS)
        assert len(ds) == expected
        total += len(ds)
        row = _numpy(ds)[0]
        assert row["image"].dtype == np.uint16 and row["image"].shape == (NUM_BANDS, PATCH_SIZE, PATCH_SIZE)
        assert row["mask"].dtype == np.uint8 and row["mask"].shape == (PATCH_SIZE, PATCH_SIZE)
        assert set(np.unique(_numpy(ds)[:]["mask"])) <= {0, 1}
    assert total == sum(num_patches(s.height, s.width) for s in sites.values()) * len(YEARS)


def test_mapping_keys_match_the_archive(mapping_ds, sites):
    for ds in mapping_ds.values():
        for row in ds.remove_columns(["image", "mask"]):
            site = sites[row["site"]]
            assert row["country"] == country_of(site.name)
            assert (row["site_height"], row["site_width"]) == (site.height, site.width)
            assert (row["row"], row["col"]) == patch_offsets(site.height, site.width)[row["patch"]]
            assert row["year"] in YEARS


def test_mapping_rows_are_the_archive_pixels(mapping_ds, sites):
    from euromine_hf.data.archive import iter_site_patches

    ds = _numpy(mapping_ds["train"])
    name, year = ds[0]["site"], int(ds[0]["year"])
    recs = list(iter_site_patches(sites[name], year))
    picked = ds.filter(lambda r: r["site"] == name and r["year"] == year)
    assert len(picked) == len(recs)
    for row, rec in zip(picked, recs):
        assert row["patch"] == rec.patch
        np.testing.assert_array_equal(row["image"], rec.image)
        np.testing.assert_array_equal(row["mask"], rec.mask)


def test_splits_are_disjoint_by_site_and_cover_the_archive(mapping_ds, sites):
    by_split = {split: set(ds["site"]) for split, ds in mapping_ds.items()}
    assert set(by_split) == {"train", "validation", "test"}
    names = list(by_split.values())
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert not names[i] & names[j]
    assert set().union(*names) == set(sites)


def test_info_carries_bands_normalisation_licence_and_citation(small_archive, hf_cache):
    builder = EuroMineNet(config_name="mapping", data_dir=str(small_archive), cache_dir=str(hf_cache))
    info = builder.info
    for band in BANDS:
        assert band in info.description
    assert "1089.74" in info.description and "220.01" in info.description  # B02 mean / std
    assert "10 m" in info.description
    assert info.license == "CC BY 4.0"
    assert "EuroMineNet" in info.citation and "10.14278/rodare.4656" in info.citation
    assert info.features == features_for("mapping")


def test_cd_pairs_counts_change_and_images(pairs_ds, mapping_ds, sites):
    n_years = len(PAIR_YEARS)
    for split, ds in pairs_ds.items():
        patches = sum(num_patches(sites[n].height, sites[n].width) for n in set(ds["site"]))
        assert len(ds) == patches * n_years * (n_years - 1) // 2
        mapping = _numpy(mapping_ds[split])
        lookup = {(r["site"], int(r["patch"]), int(r["year"])): i for i, r in enumerate(mapping.remove_columns(["image", "mask"]))}
        for row in _numpy(ds):
            y1, y2 = int(row["year_t1"]), int(row["year_t2"])
            assert y1 < y2 and row["interval"] == y2 - y1 and {y1, y2} <= set(PAIR_YEARS)
            expected = np.abs(row["mask_t2"].astype(np.int16) - row["mask_t1"].astype(np.int16)).astype(np.uint8)
            np.testing.assert_array_equal(row["change"], expected)
            assert row["change"].dtype == np.uint8
            m1 = mapping[lookup[(row["site"], int(row["patch"]), y1)]]
            m2 = mapping[lookup[(row["site"], int(row["patch"]), y2)]]
            np.testing.assert_array_equal(row["image_t1"], m1["image"])
            np.testing.assert_array_equal(row["image_t2"], m2["image"])
            np.testing.assert_array_equal(row["mask_t1"], m1["mask"])
            np.testing.assert_array_equal(row["mask_t2"], m2["mask"])


def test_cd_pairs_select_intervals(small_archive, hf_cache, sites):
    ds = load_euromine(small_archive, "cd_pairs", cache_dir=hf_cache, years=(2016, 2017, 2018), intervals=(2,), sites=["Poland_101"])
    rows = [r for split in ds.values() for r in split.remove_columns(["image_t1", "image_t2", "mask_t1", "mask_t2", "change"])]
    assert {(r["year_t1"], r["year_t2"], r["interval"]) for r in rows} == {(2016, 2018, 2)}
    assert len(rows) == num_patches(sites["Poland_101"].height, sites["Poland_101"].width)
    assert {r["site"] for r in rows} == {"Poland_101"}


def test_timeseries_rows_stack_the_years(small_archive, hf_cache, mapping_ds):
    years = (2015, 2019, 2024)
    ts = load_euromine(small_archive, "timeseries", cache_dir=hf_cache, years=years)
    for split, ds in ts.items():
        mapping = _numpy(mapping_ds[split])
        assert len(ds) * len(YEARS) == len(mapping)
        assert ds.features["images"].shape == (len(years), NUM_BANDS, PATCH_SIZE, PATCH_SIZE)
        row = _numpy(ds)[len(ds) - 1]
        assert list(row["years"]) == list(years)
        assert row["images"].dtype == np.uint16 and row["masks"].dtype == np.uint8
        for t, year in enumerate(years):
            match = mapping.filter(lambda r: r["site"] == row["site"] and r["patch"] == row["patch"] and r["year"] == year)
            assert len(match) == 1
            np.testing.assert_array_equal(row["images"][t], match[0]["image"])
            np.testing.assert_array_equal(row["masks"][t], match[0]["mask"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split_scheme": "by_year"}, "split_scheme"),
        ({"intervals": (0, 1)}, "intervals"),
        ({"intervals": (10,)}, "intervals"),
        ({"years": ("twenty",)}, "years"),
        ({"sites": [""]}, "sites"),
    ],
)
def test_bad_config_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EuroMineNetConfig(name="cd_pairs", **kwargs)


def test_missing_data_dir_and_unknown_config(tmp_path):
    builder = EuroMineNet(config_name="mapping", cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="data_dir"):
        builder.download_and_prepare()
    with pytest.raises(ValueError, match="config_name"):
        load_euromine(tmp_path, "pairs")


def test_missing_year_names_the_folder(small_archive, tmp_path):
    from euromine_hf.data.archive import ArchiveError

    with pytest.raises(ArchiveError, match="2013"):
        load_euromine(small_archive, "mapping", cache_dir=tmp_path, years=(2013, 2015))
    assert not any(p.suffix == ".arrow" for p in tmp_path.rglob("*"))


def test_fingerprint_follows_the_archive_files(tmp_path):
    (tmp_path / "A" / "label").mkdir(parents=True)
    (tmp_path / "A" / "label" / "Year2015.tif").write_bytes(b"1234")
    first = archive_fingerprint(tmp_path)
    assert archive_fingerprint(tmp_path) == first
    (tmp_path / "A" / "label" / "Year2015.tif").write_bytes(b"12345")
    assert archive_fingerprint(tmp_path) != first


def test_fingerprint_follows_content_when_size_and_mtime_are_kept(tmp_path):
    """Issue 18 item 7: an in-place edit that keeps size and mtime (touch -r, rsync -t) rebuilds."""
    label = tmp_path / "A" / "label" / "Year2015.tif"
    label.parent.mkdir(parents=True)
    label.write_bytes(b"1234")
    st = label.stat()
    first = archive_fingerprint(tmp_path)
    with open(label, "r+b") as fh:  # same file, same size
        fh.write(b"9")
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (label.stat().st_size, label.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert archive_fingerprint(tmp_path) != first


def test_label_edited_with_size_and_mtime_kept_is_not_served_from_the_cache(tmp_path):
    import numpy as np
    import rasterio

    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    archive = tmp_path / "archive"
    (site,) = generate_archive(archive, SyntheticConfig(num_sites=1, min_size=160, max_size=160))
    cache = tmp_path / "cache"
    before = load_euromine(archive, "mapping", cache_dir=cache, years=(2020,))
    masks = [np.asarray(m) for split in before.values() for m in split.with_format("numpy")["mask"]]
    assert sum(int(m.sum()) for m in masks) > 0
    label = next((archive / site / "label").glob("*2020.tif"))
    st = label.stat()
    with rasterio.open(label) as src:
        crs, transform, shape = src.crs, src.transform, (src.height, src.width)
    write_geotiff(label, np.zeros(shape, np.uint8), crs, transform)  # no mine at all: compresses smaller
    assert label.stat().st_size < st.st_size
    with open(label, "ab") as fh:  # pad to the old size (GDAL ignores trailing bytes), restore the mtime
        fh.write(b"\0" * (st.st_size - label.stat().st_size))
    os.utime(label, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (label.stat().st_size, label.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    after = load_euromine(archive, "mapping", cache_dir=cache, years=(2020,))
    assert sum(int(np.asarray(m).sum()) for split in after.values() for m in split.with_format("numpy")["mask"]) == 0


def test_fingerprint_follows_symlinked_site_folders(tmp_path):
    """An edited label behind a symlinked site folder must rebuild, not serve the old cache."""
    label = tmp_path / ".store" / "Spain_1" / "label" / "Year2015.tif"
    label.parent.mkdir(parents=True)
    label.write_bytes(b"1234")
    (tmp_path / "Spain_1").symlink_to(Path(".store") / "Spain_1", target_is_directory=True)
    first = archive_fingerprint(tmp_path)
    label.write_bytes(b"12345")
    assert archive_fingerprint(tmp_path) != first


def test_fingerprint_refuses_symlinks_out_of_the_archive(tmp_path):
    from euromine_hf.data.archive import ArchiveError

    (tmp_path / "elsewhere" / "label").mkdir(parents=True)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "Spain_1").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ArchiveError, match=r"Spain_1: symlink: expected a target inside the archive"):
        archive_fingerprint(tmp_path / "archive")


def test_cache_inside_the_archive_is_reused(small_archive, tmp_path):
    """A cache folder kept in the archive must not change the fingerprint (a new build every run)."""
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(small_archive / "Poland_101", archive / "Poland_101")
    before = archive_fingerprint(archive)
    first = load_euromine(archive, "mapping", cache_dir=archive / "hf-cache", years=(2015,), split_scheme="random")
    (archive / ".hidden").mkdir()
    (archive / ".hidden" / "x").write_text("not archive content")
    assert archive_fingerprint(archive) == before
    again = load_euromine(archive, "mapping", cache_dir=archive / "hf-cache", years=(2015,), split_scheme="random")
    assert {k: v.cache_files for k, v in again.items()} == {k: v.cache_files for k, v in first.items()}
    assert len(list((archive / "hf-cache").rglob("dataset_info.json"))) == 1


def test_bad_pixels_found_while_generating_raise_the_archive_error(small_archive, tmp_path):
    """datasets wraps generation errors in DatasetGenerationError; the caller gets the ArchiveError."""
    import shutil

    from euromine_hf.data.archive import ArchiveError, scan_archive
    from euromine_hf.data.geotiff import write_geotiff

    archive = tmp_path / "archive"
    shutil.copytree(small_archive / "Poland_101", archive / "Poland_101")
    site = scan_archive(archive, years=(2015, 2016))[0]
    from rasterio.transform import Affine

    write_geotiff(site.label_path(2016), np.full((site.height, site.width), 7, np.uint8), site.crs, Affine(*site.transform))
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=r"Poland_101/label/\w+2016\.tif: label values: expected only \{0, 255\}") as info:
        load_euromine(archive, "mapping", cache_dir=cache, years=(2015, 2016), split_scheme="random")
    assert type(info.value) is ArchiveError
    assert [p for p in cache.rglob("*")] == []  # no half-built cache, no lock files


def test_config_names():
    assert CONFIG_NAMES == ("mapping", "timeseries", "cd_pairs")
    assert [c.name for c in EuroMineNet.BUILDER_CONFIGS] == list(CONFIG_NAMES)


def test_cropped_layout_builds_the_same_rows(mapping_ds, sites, tmp_path):
    """The published cropped layout (.npy patches, 0/255 labels, sites.json sizes) gives the same rows."""
    import json

    years = (2015, 2016)
    root = tmp_path / "cropped"
    for ds in mapping_ds.values():
        for row in ds.with_format("numpy", dtype=None):
            if int(row["year"]) not in years:
                continue
            base = root / str(row["site"]) / str(int(row["year"]))
            (base / "image").mkdir(parents=True, exist_ok=True)
            (base / "label").mkdir(parents=True, exist_ok=True)
            np.save(base / "image" / f"Year{int(row['year'])}_Patch{int(row['patch'])}.npy", row["image"])
            np.save(base / "label" / f"Year{int(row['year'])}_Patch{int(row['patch'])}.npy", row["mask"] * 255)
    (root / "sites.json").write_text(json.dumps({n: [s.height, s.width] for n, s in sites.items()}))
    cropped = load_euromine(root, "mapping", cache_dir=tmp_path / "cache", years=years)
    for split, ds in cropped.items():
        ref = mapping_ds[split].filter(lambda r: r["year"] in years)
        assert len(ds) == len(ref)
        a, b = ds.with_format("numpy", dtype=None), ref.with_format("numpy", dtype=None)
        for k in range(len(ds)):
            for key in b.column_names:
                assert np.array_equal(np.asarray(a[k][key]), np.asarray(b[k][key])), (split, k, key)


# ---- s17 data items: band descriptions, official split completeness, missing years, 8-bit, empty folders


def _copy_sites(small_archive, tmp_path, names=None):
    import shutil

    archive = tmp_path / "archive"
    for site in sorted(p for p in small_archive.iterdir() if p.is_dir()):
        if names is None or site.name in names:
            shutil.copytree(site, archive / site.name)
    return archive


def _rows(ds, site, year):
    rows = [r for split in ds.values() for r in _numpy(split) if r["site"] == site and int(r["year"]) == year]
    return sorted(rows, key=lambda r: int(r["patch"]))


def test_band_descriptions_decide_the_band_order_of_the_rows(small_archive, mapping_ds, sites, tmp_path):
    """The user trial's repro: descriptions naming the bands in reverse order used to build band-swapped rows."""
    import rasterio

    from euromine_hf.data.archive import ArchiveWarning

    name = sorted(sites)[0]
    archive = _copy_sites(small_archive, tmp_path, [name])
    path = archive / name / "image" / "Year2018.tif"
    with rasterio.open(path, "r+") as dst:
        data = dst.read()
        dst.write(data[::-1].copy())  # the bands really are in reverse order now, as the descriptions say
        for i, band in enumerate(reversed(BANDS), start=1):
            dst.set_band_description(i, band)
    with pytest.warns(ArchiveWarning, match=rf"{name}/image/Year2018\.tif \(B12,B11,B8A,B08,B07,B06,B05,B04,B03,B02\)"):
        built = load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2018,), split_scheme="random")
    ours, reference = _rows(built, name, 2018), _rows(mapping_ds, name, 2018)
    assert len(ours) == len(reference) > 0
    for a, b in zip(ours, reference):
        np.testing.assert_array_equal(a["image"], b["image"])


def test_fingerprint_carries_the_reader_version(tmp_path, monkeypatch):
    """Rows a reader that ignored band descriptions built must not be served after the fix."""
    import euromine_hf.data.builder as builder

    (tmp_path / "A" / "label").mkdir(parents=True)
    (tmp_path / "A" / "label" / "Year2015.tif").write_bytes(b"1234")
    first = archive_fingerprint(tmp_path)
    assert builder.READER_VERSION >= 2
    monkeypatch.setattr(builder, "READER_VERSION", builder.READER_VERSION + 1)
    assert archive_fingerprint(tmp_path) != first


@pytest.fixture(scope="module")
def official_archive(tmp_path_factory):
    """Every published site name, each a copy of one 16x16 site with the year 2015 (fast to make)."""
    import shutil

    from rasterio.transform import from_origin

    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.synthetic import official_site_names

    out = tmp_path_factory.mktemp("official") / "archive"
    one = out.parent / "one"
    rng = np.random.default_rng(0)
    transform = from_origin(500000.0, 5600000.0, 10.0, 10.0)
    write_geotiff(one / "image" / "Year2015.tif", rng.integers(1, 5000, (10, 16, 16)).astype(np.uint16), "EPSG:32633", transform)
    write_geotiff(one / "label" / "Year2015.tif", (rng.random((16, 16)) > 0.5).astype(np.uint8) * np.uint8(255), "EPSG:32633", transform)
    for name in official_site_names():
        shutil.copytree(one, out / name)
    return out


def test_official_split_refuses_an_archive_missing_published_sites(official_archive, tmp_path):
    import shutil

    archive = tmp_path / "archive"
    shutil.copytree(official_archive, archive, ignore=shutil.ignore_patterns("Bulgaria_1"))
    with pytest.raises(ValueError, match=r"official split .*1 published site\(s\) missing \(train 0 of \d+, "
                                         r"validation 0 of \d+, test 1 of 17\): Bulgaria_1"):
        load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2015,), split_scheme="official")
    assert not any(p.suffix == ".arrow" for p in (tmp_path / "cache").rglob("*"))
    # an explicit subset opts in: the named sites go to their published splits
    subset = load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2015,), split_scheme="official",
                           sites=["Austria_1", "Bulgaria_12"])
    assert {split: sorted(set(ds["site"])) for split, ds in subset.items()} == {"train": ["Austria_1"], "validation": ["Bulgaria_12"]}


def test_official_split_names_a_split_left_empty(official_archive, tmp_path):
    import shutil

    from euromine_hf.data.splits import official_split

    test_sites = set(official_split()["test"])
    archive = tmp_path / "archive"
    shutil.copytree(official_archive, archive, ignore=lambda folder, names: [n for n in names if n in test_sites])
    with pytest.raises(ValueError, match=r"test 17 of 17\).*split\(s\) test would be empty"):
        load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2015,), split_scheme="official")


def test_an_8_bit_image_and_an_empty_site_folder_are_refused(small_archive, sites, tmp_path):
    import rasterio

    from euromine_hf.data.archive import ArchiveError
    from euromine_hf.data.geotiff import write_geotiff

    name = sorted(sites)[0]
    archive = _copy_sites(small_archive, tmp_path, [name])
    (archive / "Spain_7").mkdir()
    with pytest.raises(ArchiveError, match=r"Spain_7: site files: .* found an empty folder"):
        load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2015,), split_scheme="random")
    (archive / "Spain_7").rmdir()
    path = archive / name / "image" / "Year2015.tif"
    with rasterio.open(path) as src:
        quick_look = (src.read() // 40).clip(0, 255).astype(np.uint8)
        crs, transform = src.crs, src.transform
    write_geotiff(path, quick_look, crs, transform)
    with pytest.raises(ArchiveError, match=r"Year2015\.tif: dtype: expected integer Sentinel-2 digital numbers of at least 16 bits.*found uint8"):
        load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=(2015,), split_scheme="random")
    assert not any(p.suffix == ".arrow" for p in (tmp_path / "cache").rglob("*"))


def test_allow_missing_years_builds_the_years_a_site_has(small_archive, mapping_ds, sites, tmp_path):
    from euromine_hf.data.archive import ArchiveError

    name = sorted(sites)[0]
    archive = _copy_sites(small_archive, tmp_path)
    for folder in ("image", "label"):
        next((archive / name / folder).glob("*2016.tif")).unlink()
    with pytest.raises(ArchiveError, match=rf"{name}/image: image for year 2016"):
        load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=PAIR_YEARS)
    built = load_euromine(archive, "mapping", cache_dir=tmp_path / "cache", years=PAIR_YEARS, allow_missing_years=True)
    years = {(r["site"], int(r["year"])) for split in built.values() for r in split.select_columns(["site", "year"])}
    assert (name, 2016) not in years and (name, 2015) in years
    assert all((s, y) in years for s in sites if s != name for y in PAIR_YEARS)
    assert sum(len(d) for d in built.values()) == sum(len(d.filter(lambda r: r["year"] in PAIR_YEARS)) for d in mapping_ds.values()) - sites[name].num_patches
    with pytest.raises(ValueError, match="allow_missing_years: expected only with config 'mapping'"):
        load_euromine(archive, "timeseries", cache_dir=tmp_path / "cache", years=PAIR_YEARS, allow_missing_years=True)


def test_predict_sites_are_an_explicit_subset_of_the_official_split(official_archive, tmp_path):
    """``euromine predict --sites ... --split test --split-scheme official`` names its sites: no completeness error."""
    from euromine_hf.inference.sources import find_scenes

    scenes = find_scenes(official_archive, sites=["Austria_1", "Bulgaria_1"], split="test", split_scheme="official")
    assert [s.name for s in scenes] == ["Bulgaria_1"]
