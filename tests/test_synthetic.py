"""The synthetic EuroMineNet: layout, determinism, and statistics close to the paper's.

Statistics are computed here directly with numpy from the files as written (read back with
rasterio), not from the generator's internals, so they check what every reader will see.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from euromine_hf.bands import BANDS, MEAN, STD, YEARS, load_resource
from euromine_hf.data.synthetic import (
    BANDS_20M,
    DESCRIPTION_FILE,
    MIN_MAPPING_UNIT_PX,
    SYNTHETIC_VERSION,
    SyntheticConfig,
    archive_matches,
    default_archive,
    generate_archive,
    official_site_names,
    plan_sites,
    render_site,
)

SMALL = dict(num_sites=2, min_size=40, max_size=56)


def _label_path(site_dir: Path, year: int) -> Path:
    found = [p for p in (site_dir / "label").iterdir() if p.name in (f"Year{year}.tif", f"Label{year}.tif", f"year{year}.tif")]
    assert len(found) == 1, f"{site_dir}: expected one label file for {year}, found {found}"
    return found[0]


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default archive, through the cache helper (into a temp cache, not the home folder)."""
    return default_archive(cache_root=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def masks(archive: Path) -> dict[str, np.ndarray]:
    """site -> (years, H, W) bool mine masks."""
    sites = json.loads((archive / DESCRIPTION_FILE).read_text())["sites"]
    return {s: np.stack([_read(_label_path(archive / s, y))[0] == 255 for y in YEARS]) for s in sites}


# ---------------------------------------------------------------- layout, types, georeferencing
def test_default_layout_dtypes_and_crs(archive: Path) -> None:
    desc = json.loads((archive / DESCRIPTION_FILE).read_text())
    assert desc["version"] >= 1 and desc["config"]["seed"] == 0 and desc["bands"] == list(BANDS)
    sites = desc["sites"]
    assert 10 <= len(sites) <= 16
    assert sorted(p.name for p in archive.iterdir() if p.is_dir()) == sorted(sites)  # no temp leftovers
    for site in sites:
        country, number = site.rsplit("_", 1)
        assert int(number) >= 101, f"{site} could be mistaken for an official site name"
        image_files = sorted(p.name for p in (archive / site / "image").iterdir())
        assert image_files == sorted(f"Year{y}.tif" for y in YEARS)
        assert len(list((archive / site / "label").iterdir())) == len(YEARS)
        crs, transform, shape = None, None, None
        for year in (YEARS[0], YEARS[-1]):
            with rasterio.open(archive / site / "image" / f"Year{year}.tif") as src:
                assert src.count == 10 and src.dtypes == ("uint16",) * 10
                assert src.crs.to_epsg() in range(32628, 32636), src.crs  # UTM north, zones of the EU sites
                assert abs(src.transform.a - 10.0) < 1e-9 and abs(src.transform.e + 10.0) < 1e-9
                crs, transform, shape = src.crs, src.transform, (src.height, src.width)
            with rasterio.open(_label_path(archive / site, year)) as src:
                assert src.count == 1 and src.dtypes == ("uint8",)
                assert src.crs == crs and src.transform == transform and (src.height, src.width) == shape
                assert set(np.unique(src.read(1))) <= {0, 255}


def test_alternative_label_names_and_small_site(archive: Path, masks: dict[str, np.ndarray]) -> None:
    names = {p.name[:-8] for site in masks for p in (archive / site / "label").iterdir()}
    assert {"Year", "Label", "year"} <= names
    shapes = [m.shape[1:] for m in masks.values()]
    assert any(min(s) < 160 for s in shapes), shapes
    assert any(min(s) >= 300 for s in shapes), shapes  # and sites of several patches


def test_default_sites_fill_all_three_random_splits(masks: dict[str, np.ndarray]) -> None:
    import euromine_hf.data.splits as splits
    parts = splits.assign_splits(list(masks), scheme="auto", seed=0)
    n = len(masks)
    # 70/10/20 of n sites: validation and test rounded (at least one each), train the rest; a partition
    n_val, n_test = max(1, round(n * 0.1)), max(1, round(n * 0.2))
    assert {k: len(v) for k, v in parts.items()} == {"train": n - n_val - n_test, "validation": n_val, "test": n_test}, parts
    assert sorted(parts["train"] + parts["validation"] + parts["test"]) == sorted(masks)


def test_archive_reader_accepts_it(archive: Path, masks: dict[str, np.ndarray]) -> None:
    import euromine_hf.data.archive as reader
    assert reader.detect_layout(archive) == "raw"
    records = reader.scan_archive(archive)
    assert sorted(r.name if hasattr(r, "name") else r.site for r in records) == sorted(masks)


# ---------------------------------------------------------------- determinism and caching
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_archive(tmp_path / "a", SyntheticConfig(seed=7, **SMALL))
    b = generate_archive(tmp_path / "b", SyntheticConfig(seed=7, **SMALL))
    c = generate_archive(tmp_path / "c", SyntheticConfig(seed=8, **SMALL))
    assert a == b == c
    for site in a:
        for rel in ("image/Year2015.tif", "image/Year2023.tif"):
            x, y, z = (_read(tmp_path / d / site / rel) for d in "abc")
            assert x.tobytes() == y.tobytes()
            assert x.shape != z.shape or not np.array_equal(x, z)
        la, lb = (_read(_label_path(tmp_path / d / site, 2020)) for d in "ab")
        assert la.tobytes() == lb.tobytes()


def test_site_content_does_not_depend_on_the_other_sites(tmp_path: Path) -> None:
    one = generate_archive(tmp_path / "one", SyntheticConfig(seed=3, num_sites=1, min_size=40, max_size=56))
    three = generate_archive(tmp_path / "three", SyntheticConfig(seed=3, num_sites=3, min_size=40, max_size=56))
    assert three[0] == one[0]
    rel = "image/Year2019.tif"
    assert _read(tmp_path / "one" / one[0] / rel).tobytes() == _read(tmp_path / "three" / one[0] / rel).tobytes()


def test_refuses_non_empty_folder_and_overwrites_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "arch"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_archive(out, SyntheticConfig(**SMALL))
    generate_archive(out, SyntheticConfig(seed=1, num_sites=3, min_size=40, max_size=56), overwrite=True)
    sites = generate_archive(out, SyntheticConfig(seed=2, **SMALL), overwrite=True)
    dirs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert dirs == sorted(sites)  # the third site of the earlier archive is gone, no temp folders
    assert (out / "notes.txt").read_text() == "keep me"
    assert archive_matches(out, SyntheticConfig(seed=2, **SMALL))
    assert not archive_matches(out, SyntheticConfig(seed=1, **SMALL))


def test_interrupted_run_leaves_no_half_site_and_no_description(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from euromine_hf.data import synthetic

    calls = {"n": 0}
    real = synthetic.write_geotiff

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 25:  # in the middle of the second site
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "write_geotiff", failing)
    out = tmp_path / "arch"
    with pytest.raises(KeyboardInterrupt):
        generate_archive(out, SyntheticConfig(**SMALL))
    entries = sorted(p.name for p in out.iterdir())
    assert entries == [plan_sites(SyntheticConfig(**SMALL))[0].name]  # one whole site, nothing else
    assert len(list((out / entries[0] / "image").iterdir())) == len(YEARS)
    assert not archive_matches(out, SyntheticConfig(**SMALL))


def test_sites_too_large_for_memory_are_refused_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``synth --max-size 100000`` was a MemoryError traceback: now one line, exit 2, nothing created."""
    from euromine_hf.cli import main
    from euromine_hf.data import synthetic

    monkeypatch.setattr(synthetic, "available_memory", lambda: 64 * 2**30)  # a 64 GiB machine, whatever runs this
    out = tmp_path / "big"
    assert main(["synth", str(out), "--max-size", "100000"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("euromine synth: error: SyntheticConfig: max_size: a "), err
    assert "GiB of memory, 64.0 GiB is available; expected a max_size (--max-size) of at most 13107" in err[0]
    assert not out.exists()
    monkeypatch.setattr(synthetic, "available_memory", lambda: 10 * 2**20)
    monkeypatch.setattr(synthetic, "render_site", lambda *a, **k: pytest.fail("allocated before the check"))
    with pytest.raises(ValueError, match=r"a 400x400 px site needs about 0\.1 GiB"):
        generate_archive(out, SyntheticConfig(num_sites=1, min_size=400, max_size=400))  # 64 MB needed
    assert not out.exists()


def test_default_archive_is_reused(tmp_path: Path) -> None:
    config = SyntheticConfig(**SMALL)
    first = default_archive(cache_root=tmp_path, config=config)
    stamp = (first / DESCRIPTION_FILE).stat().st_mtime_ns
    assert default_archive(cache_root=tmp_path, config=config) == first
    assert (first / DESCRIPTION_FILE).stat().st_mtime_ns == stamp
    (first / DESCRIPTION_FILE).unlink()  # an incomplete archive is regenerated
    assert archive_matches(default_archive(cache_root=tmp_path, config=config), config)


# ---------------------------------------------------------------- statistics (paper_results.json)
def test_footprint_fraction_like_the_paper(masks: dict[str, np.ndarray]) -> None:
    mine = sum(m.reshape(len(YEARS), -1).sum(1) for m in masks.values())
    pixels = sum(m[0].size for m in masks.values())
    fraction = mine / pixels
    assert np.all((fraction > 0.15) & (fraction < 0.25)), fraction
    assert fraction[-1] > fraction[0]  # mining land grows over the decade, as in the paper


def test_changed_fraction_and_expansion_share_like_the_paper(masks: dict[str, np.ndarray]) -> None:
    paper = load_resource("paper_results.json")["dataset_statistics"]
    changed = np.zeros(len(YEARS))
    expanded = np.zeros(len(YEARS))
    pixels = np.zeros(len(YEARS))
    for m in masks.values():
        for i, j in itertools.combinations(range(len(YEARS)), 2):
            k = j - i
            changed[k] += np.count_nonzero(m[i] != m[j])
            expanded[k] += np.count_nonzero(m[j] & ~m[i])
            pixels[k] += m[i].size
    frac = changed[1:] / pixels[1:]
    share = expanded[1:] / changed[1:]
    assert np.all(np.diff(frac) > 0), frac  # monotone in the interval
    assert 0.005 <= frac[0] <= 0.015, frac[0]  # paper: 0.0087 at 1 year
    assert 0.03 <= frac[-1] <= 0.08, frac[-1]  # paper: 0.053 at 9 years
    assert frac[-1] < 9 * frac[0]  # sub-linear: some change is reversed, as in the paper
    paper_frac = np.array([paper["changed_fraction_by_interval"][str(k)] for k in range(1, 10)])
    assert np.all(np.abs(frac / paper_frac - 1.0) < 0.5), (frac, paper_frac)
    assert np.all((share > 0.45) & (share < 0.75)), share


def test_changes_are_spatially_coherent(masks: dict[str, np.ndarray]) -> None:
    """No speckle: changed pixels touch other changed pixels (8-neighbourhood, since a 1-px shift
    of a diagonal outline is a staircase of diagonally touching pixels)."""
    isolated = total = 0
    for m in masks.values():
        for t in range(len(YEARS) - 1):
            c = np.pad(m[t] != m[t + 1], 1)
            core = c[1:-1, 1:-1]
            neighbours = np.zeros_like(core)
            for dy, dx in itertools.product((-1, 0, 1), repeat=2):
                if dy or dx:
                    neighbours |= c[1 + dy : c.shape[0] - 1 + dy, 1 + dx : c.shape[1] - 1 + dx]
            isolated += np.count_nonzero(core & ~neighbours)
            total += np.count_nonzero(core)
    assert total > 0 and isolated / total < 0.03, isolated / max(total, 1)


def test_band_means_and_stds_near_published_constants(archive: Path, masks: dict[str, np.ndarray]) -> None:
    s1 = np.zeros(10)
    s2 = np.zeros(10)
    n = 0
    for site in masks:
        for year in (YEARS[0], YEARS[4], YEARS[-1]):
            x = _read(archive / site / "image" / f"Year{year}.tif").reshape(10, -1).astype(np.float64)
            s1 += x.sum(1)
            s2 += (x * x).sum(1)
            n += x.shape[1]
    mean = s1 / n
    std = np.sqrt(s2 / n - mean**2)
    assert np.all(np.abs(mean / MEAN - 1.0) < 0.35), mean / MEAN
    # the published std may be ~1/sqrt(2) of the true one: accept the same order of magnitude
    assert np.all((std / STD > 0.7) & (std / STD < 2.5)), std / STD


def test_spectra_tell_covers_apart(archive: Path, masks: dict[str, np.ndarray]) -> None:
    """Mines are brighter in SWIR and less vegetated (lower NDVI) than their surroundings."""
    nir, red, swir = BANDS.index("B08"), BANDS.index("B04"), BANDS.index("B11")
    ndvi_in, ndvi_out, swir_in, swir_out = [], [], [], []
    for site, m in masks.items():
        x = _read(archive / site / "image" / "Year2018.tif").astype(np.float64)
        ndvi = (x[nir] - x[red]) / (x[nir] + x[red])
        ndvi_in.append(np.median(ndvi[m[3]]))
        ndvi_out.append(np.median(ndvi[~m[3]]))
        swir_in.append(np.median(x[swir][m[3]]))
        swir_out.append(np.median(x[swir][~m[3]]))
    assert np.median(ndvi_out) > np.median(ndvi_in) + 0.15, (ndvi_out, ndvi_in)
    assert np.median(swir_in) > np.median(swir_out), (swir_in, swir_out)
    assert np.median(ndvi_out) > 0.4


# ---------------------------------------------------------------- fidelity (issue 11)
@pytest.fixture(scope="module")
def rendered() -> dict[str, list]:
    """site -> its years as rendered (image, label, true extent, confusers), default config."""
    config = SyntheticConfig()
    return {plan.name: list(render_site(plan, config)) for plan in plan_sites(config)}


def _band_means(archive: Path, sites: list[str]) -> np.ndarray:
    s1, n = np.zeros(10), 0
    for site in sites:
        for year in YEARS:
            x = _read(archive / site / "image" / f"Year{year}.tif").reshape(10, -1)
            s1 += x.sum(1, dtype=np.float64)
            n += x.shape[1]
    return s1 / n


def test_band_means_within_15_percent_with_published_ordering(archive: Path, masks: dict[str, np.ndarray]) -> None:
    mean = _band_means(archive, list(masks))
    assert np.all(np.abs(mean / MEAN - 1.0) < 0.15), dict(zip(BANDS, np.round(mean / MEAN, 3)))
    b02, b03, b04 = (mean[BANDS.index(b)] for b in ("B02", "B03", "B04"))
    assert b02 > b03 > b04, (b02, b03, b04)  # published: 1090 > 1004 > 913


def test_20m_bands_are_2x2_blocks_and_smoother_than_10m(archive: Path, masks: dict[str, np.ndarray]) -> None:
    """L2A 20 m bands on the 10 m grid: constant over aligned 2x2 blocks (one 20 m pixel each),
    and with less high-frequency energy (neighbour differences over the band's spread) than the
    10 m bands, which carry only the point-spread blur."""
    i20 = [BANDS.index(b) for b in BANDS_20M]
    i10 = [i for i in range(10) if i not in i20]
    hf = np.zeros(10)
    for site in masks:
        x = _read(archive / site / "image" / "Year2020.tif").astype(np.float64)
        h, w = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
        blocks = x[:, :h, :w]
        same = (blocks[:, 0::2, 0::2] == blocks[:, 1::2, 1::2]) & (blocks[:, 0::2, 0::2] == blocks[:, 0::2, 1::2])
        assert same[i20].all(), site
        assert same[i10].mean() < 0.2, site  # 10 m bands are not blocky
        hf += np.abs(np.diff(x, axis=2)).mean(axis=(1, 2)) / x.std(axis=(1, 2))
    assert hf[i20].max() < hf[i10].min(), dict(zip(BANDS, np.round(hf / len(masks), 3)))


def test_confusers_cover_15_to_20_percent_with_mine_like_spectra(rendered: dict[str, list]) -> None:
    """Unlabelled land with a mine material's spectrum (quarries, works, ploughed fields, roofs,
    turbid water) covers 15-20 % of the archive, never overlaps the mine, and most of it lies in
    the mines' own NDVI range — so one pixel's spectrum cannot tell "mine"."""
    nir, red = BANDS.index("B08"), BANDS.index("B04")
    confuser = pixels = 0
    inside = total = 0
    for years in rendered.values():
        for r in years:
            assert not (r.confuser & r.mine).any()
            confuser += np.count_nonzero(r.confuser)
            pixels += r.confuser.size
        r = years[5]
        x = r.image.astype(np.float64)
        ndvi = (x[nir] - x[red]) / (x[nir] + x[red])
        lo, hi = np.quantile(ndvi[r.mine], [0.1, 0.9])
        inside += np.count_nonzero((ndvi[r.confuser] >= lo) & (ndvi[r.confuser] <= hi))
        total += np.count_nonzero(r.confuser)
    assert 0.15 <= confuser / pixels <= 0.20, confuser / pixels
    assert inside / total > 0.6, inside / total


def test_labels_are_redrawn_each_year_with_small_spurious_changes(rendered: dict[str, list]) -> None:
    """Where the ground did not change, consecutive labels still differ on a thin strip along the
    outline (0.1-0.6 % of the area per one-year pair); away from the true outline labels agree with
    the ground; and no label feature or hole is under the minimum mapping unit."""
    from scipy import ndimage

    spurious = pixels = far_wrong = 0
    for years in rendered.values():
        for a, b in zip(years, years[1:]):
            steady = a.mine == b.mine
            spurious += np.count_nonzero(steady & ((a.label == 255) != (b.label == 255)))
            pixels += steady.size
        for r in years:
            edge = r.mine ^ ndimage.binary_erosion(r.mine)
            near = ndimage.binary_dilation(edge, iterations=3)
            far_wrong += np.count_nonzero(((r.label == 255) != r.mine) & ~near)
            for mask in (r.label == 255, r.label == 0):
                lab, n = ndimage.label(mask)
                if n:
                    assert np.bincount(lab.ravel())[1:].min() >= MIN_MAPPING_UNIT_PX
    assert 0.001 <= spurious / pixels <= 0.006, spurious / pixels
    assert far_wrong / pixels < 0.001, far_wrong / pixels


def test_cloud_free_composites(archive: Path, masks: dict[str, np.ndarray]) -> None:
    """No cumulus: no site-year has a bright white patch (B02 above bright rock's range)."""
    for site in masks:
        for year in YEARS[::2]:
            b02 = _read(archive / site / "image" / f"Year{year}.tif")[0]
            assert np.count_nonzero(b02 > 4500) < 0.001 * b02.size, (site, year)


def test_render_site_is_deterministic_and_independent_of_other_draws() -> None:
    config = SyntheticConfig(seed=9, **SMALL)
    plan = plan_sites(config)[0]
    a, b = list(render_site(plan, config)), list(render_site(plan, config))
    other = list(render_site(plan, SyntheticConfig(seed=10, **SMALL)))
    for x, y, z in zip(a, b, other):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.label, y.label)
        assert np.array_equal(x.mine, y.mine) and np.array_equal(x.confuser, y.confuser)
        assert not np.array_equal(x.image, z.image)


def test_cache_folder_and_description_carry_the_generator_version(tmp_path: Path) -> None:
    """An archive of another generator version is never reused: its description no longer matches."""
    config = SyntheticConfig(**SMALL)
    first = default_archive(cache_root=tmp_path, config=config)
    assert f"synthetic-v{SYNTHETIC_VERSION}-" in first.name
    desc = json.loads((first / DESCRIPTION_FILE).read_text())
    assert desc["version"] == SYNTHETIC_VERSION
    desc["version"] = SYNTHETIC_VERSION - 1
    (first / DESCRIPTION_FILE).write_text(json.dumps(desc))
    assert not archive_matches(first, config)
    assert default_archive(cache_root=tmp_path, config=config) == first
    assert json.loads((first / DESCRIPTION_FILE).read_text())["version"] == SYNTHETIC_VERSION


# ---------------------------------------------------------------- nuisance, offset, official names
def test_baseline_offset_adds_1000_from_2022(tmp_path: Path) -> None:
    plain = generate_archive(tmp_path / "plain", SyntheticConfig(seed=5, **SMALL))
    generate_archive(tmp_path / "b04", SyntheticConfig(seed=5, baseline_offset=True, **SMALL))
    for site in plain:
        for year in YEARS:
            a = _read(tmp_path / "plain" / site / "image" / f"Year{year}.tif").astype(np.int64)
            b = _read(tmp_path / "b04" / site / "image" / f"Year{year}.tif").astype(np.int64)
            diff = b - a
            if year < 2022:
                assert np.array_equal(a, b)
            else:
                assert abs(diff.mean() - 1000) < 5, (site, year, diff.mean())
                assert np.all(diff <= 1000) and np.all(diff[(a > 1) & (a < 60000)] == 1000)  # saturates, never wraps


def test_years_differ_radiometrically_even_where_nothing_changed(tmp_path: Path) -> None:
    """Nuisance (gain, haze, phenology) moves unchanged pixels between years; without nuisance
    the years agree more closely."""
    def spread(nuisance: bool) -> float:
        out = tmp_path / f"n{int(nuisance)}"
        sites = generate_archive(out, SyntheticConfig(seed=11, nuisance=nuisance, **SMALL))
        ratios = []
        for site in sites:
            means = [_read(out / site / "image" / f"Year{y}.tif")[0].mean() for y in YEARS]  # B02
            ratios.append(np.std(means) / np.mean(means))
        return float(np.mean(ratios))

    with_nuisance = spread(True)
    assert with_nuisance > 0.03
    assert with_nuisance > spread(False)


def test_official_names_plan_and_layout(tmp_path: Path) -> None:
    split = load_resource("euromine_official_split.json")
    names = official_site_names()
    assert len(names) == len(set(names)) == 133
    assert names.count("Germany_13") == 1 and "Greece_3" in names
    assert not set(split["excluded_sites"]) & set(names)
    assert set(names) == set(split["train"]) | set(split["val"]) | set(split["test"]) | {"Greece_3"}
    config = SyntheticConfig(official_names=True, min_size=16, max_size=20, years=(2015, 2016))
    written = generate_archive(tmp_path / "official", config)
    assert written == names
    assert sorted(p.name for p in (tmp_path / "official").iterdir() if p.is_dir()) == sorted(names)
    with rasterio.open(tmp_path / "official" / "Portuga_2" / "image" / "Year2016.tif") as src:
        assert src.crs.to_epsg() == 32629  # Portugal lies in UTM zone 29


@pytest.mark.slow
def test_official_names_full_mode(tmp_path: Path) -> None:
    written = generate_archive(tmp_path / "official", SyntheticConfig(official_names=True))
    assert len(written) == 133
    sizes = [(_read(tmp_path / "official" / s / "image" / "Year2024.tif")).shape[1:] for s in written[:20]]
    assert all(96 <= min(s) and max(s) <= 200 for s in sizes)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="min_size"):
        SyntheticConfig(min_size=200, max_size=100)
    with pytest.raises(ValueError, match="num_sites"):
        SyntheticConfig(num_sites=0)
    with pytest.raises(ValueError, match="compress"):
        SyntheticConfig(compress="jpeg")


def test_cli_writes_and_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from euromine_hf.cli import main

    out = tmp_path / "cli"
    args = ["synth", str(out), "--sites", "2", "--min-size", "32", "--max-size", "40", "--seed", "4"]
    assert main(args) == 0
    assert len([p for p in out.iterdir() if p.is_dir()]) == 2
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite", "--baseline-offset"]) == 0
    assert json.loads((out / DESCRIPTION_FILE).read_text())["config"]["baseline_offset"] is True
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    assert "Sentinel-2" in capsys.readouterr().out
