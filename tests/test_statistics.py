"""Dataset statistics (paper Tables 1–3) hand-checked on a tiny constructed archive, and the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from euromine_hf.data.archive import scan_archive
from euromine_hf.data.geotiff import write_geotiff
from euromine_hf.data.statistics import (
    ALL,
    SiteMasks,
    _count_pairwise,
    archive_statistics,
    compute_statistics,
    count_site,
    prediction_masks,
)
from euromine_hf.data.statistics_cli import main as stats_main

YEARS = (2015, 2016, 2017)
KM2 = 1e-4  # one 10 m pixel


def _flat_mask(shape: tuple[int, int], indices) -> np.ndarray:
    mask = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    mask[list(indices)] = 1
    return mask.reshape(shape)


# Germany_1 is 10x10: 2015 pixels 0..9, 2016 0..14 (+5), 2017 3..14 (-3).
# Spain_1 is 5x20:    2015 none, 2016 0..19 (+20), 2017 10..29 (+10, -10).
MASKS = {
    "Germany_1": ((10, 10), {2015: range(10), 2016: range(15), 2017: range(3, 15)}),
    "Spain_1": ((5, 20), {2015: [], 2016: range(20), 2017: range(10, 30)}),
}


@pytest.fixture()
def tiny_archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    transform = from_origin(400000.0, 4500000.0, 10.0, 10.0)
    for name, (shape, years) in MASKS.items():
        for year, idx in years.items():
            write_geotiff(root / name / "image" / f"Year{year}.tif", np.full((10, *shape), 1000, np.uint16), "EPSG:32634", transform)
            write_geotiff(root / name / "label" / f"Year{year}.tif", _flat_mask(shape, idx) * np.uint8(255), "EPSG:32634", transform)
    return root


def _by(rows, **keys):
    return [r for r in rows if all(r[k] == v for k, v in keys.items())]


def test_hand_checked_tables(tiny_archive: Path) -> None:
    stats = archive_statistics(tiny_archive, years=YEARS)
    assert stats.countries == ["Germany", "Spain", ALL]
    fp = stats.footprint_rows()
    assert [r["mine_pixels"] for r in _by(fp, country="Germany")] == [10, 15, 12]
    assert [r["mine_pixels"] for r in _by(fp, country=ALL)] == [10, 35, 32]
    assert _by(fp, country=ALL, year=2016)[0]["footprint_km2"] == pytest.approx(35 * KM2)
    assert _by(fp, country=ALL, year=2016)[0]["footprint_fraction"] == pytest.approx(35 / 200)

    steps = stats.step_rows()
    g1 = _by(steps, country="Germany", year_t1=2015)[0]
    assert (g1["expanded_pixels"], g1["decreased_pixels"]) == (5, 0)
    g2 = _by(steps, country="Germany", year_t1=2016)[0]
    assert (g2["expanded_pixels"], g2["decreased_pixels"]) == (0, 3)
    s2 = _by(steps, country="Spain", year_t1=2016)[0]
    assert (s2["expanded_pixels"], s2["decreased_pixels"], s2["changed_fraction"]) == (10, 10, 0.2)
    a2 = _by(steps, country=ALL, year_t1=2016)[0]
    assert a2["total_change_km2"] == pytest.approx(23 * KM2) and a2["expansion_share"] == pytest.approx(10 / 23)
    assert not _by(steps, year_t1=2015, year_t2=2017)  # not a consecutive step

    intervals = stats.interval_rows()
    i1 = _by(intervals, country=ALL, interval=1)[0]
    assert (i1["pairs"], i1["expanded_pixels"], i1["decreased_pixels"], i1["pixels"]) == (4, 35, 13, 400)
    assert i1["changed_fraction"] == pytest.approx(48 / 400) and i1["expansion_share"] == pytest.approx(35 / 48)
    i2 = _by(intervals, country=ALL, interval=2)[0]
    assert (i2["pairs"], i2["expanded_pixels"], i2["decreased_pixels"]) == (2, 25, 3)
    assert i2["changed_fraction"] == pytest.approx(28 / 200)
    g_i2 = _by(intervals, country="Germany", interval=2)[0]
    assert g_i2["total_change_km2"] == pytest.approx(8 * KM2)

    md = stats.to_markdown()
    assert "## Table 1" in md and "## Table 2" in md and "## Table 3" in md
    assert "| 2 | 2 | 0.0025 | 0.0003 | 0.0028 | 0.1400 |" in md  # interval 2: 25 / 3 / 28 px, 28/200


def test_year_codes_match_pairwise_counting() -> None:
    rng = np.random.default_rng(0)
    masks = {2000 + i: (rng.random((30, 40)) > 0.6).astype(np.uint8) for i in range(6)}
    site = SiteMasks("X_1", "X", tuple(masks), masks.__getitem__)
    fast, slow = count_site(site), _count_pairwise(site, tuple(masks))
    assert fast.mine == slow.mine and fast.pairs == slow.pairs and fast.pixels == slow.pixels == 1200


def test_predictions_equal_to_labels_give_the_same_statistics(tiny_archive: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred"
    transform = from_origin(400000.0, 4500000.0, 10.0, 10.0)
    for name, (shape, years) in MASKS.items():
        for year, idx in years.items():
            write_geotiff(pred / name / f"Year{year}.tif", _flat_mask(shape, idx), "EPSG:32634", transform)
    sites = scan_archive(tiny_archive, years=YEARS)
    ours = compute_statistics(prediction_masks(pred, sites))
    truth = archive_statistics(tiny_archive, years=YEARS)
    assert ours.interval_rows() == truth.interval_rows() and ours.footprint_rows() == truth.footprint_rows()


def test_cli_writes_tables_and_plots(tiny_archive: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "stats"
    assert stats_main([str(tiny_archive), "--years", *map(str, YEARS), "--out", str(out), "--quiet"]) == 0
    expected = {"statistics.md", "footprint_by_year.csv", "change_by_step.csv", "change_by_interval.csv",
                "footprint_by_country.png", "changed_fraction_by_interval.png"}
    assert {p.name for p in out.iterdir()} == expected | {".euromine-stats.outputs.json"}  # no temporary files left behind
    with open(out / "change_by_interval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    all_1 = next(r for r in rows if r["country"] == ALL and r["interval"] == "1")
    assert float(all_1["changed_fraction"]) == pytest.approx(0.12)
    from PIL import Image

    for png in ("footprint_by_country.png", "changed_fraction_by_interval.png"):
        with Image.open(out / png) as img:
            assert img.format == "PNG" and img.size[0] > 100
    md = (out / "statistics.md").read_text()
    assert "Paper" in md and "0.0087" in md  # the paper's 1-year changed fraction beside ours


def test_cli_prediction_folder_and_split(tiny_archive: Path, tmp_path: Path, capsys) -> None:
    pred = tmp_path / "pred"
    transform = from_origin(400000.0, 4500000.0, 10.0, 10.0)
    shape, years = MASKS["Spain_1"]
    for year, idx in years.items():
        write_geotiff(pred / "Spain_1" / f"Year{year}.tif", _flat_mask(shape, idx), "EPSG:32634", transform)
    out = tmp_path / "pstats"
    assert stats_main([str(pred), "--archive", str(tiny_archive), "--years", *map(str, YEARS), "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    assert "Statistics of predictions" in text and "1 sites" in text
    assert not (out / "footprint_by_country.png").exists()
    # on its own (whole-site rasters carry their size)
    assert stats_main([str(pred), "--years", *map(str, YEARS), "--out", str(out), "--quiet"]) == 0
    # a bad archive is a clear error, not a traceback
    assert stats_main([str(tmp_path / "nothing"), "--out", str(out), "--quiet"]) == 2
    assert "archive root" in capsys.readouterr().err


def test_stats_on_a_partial_prediction_folder_warns_in_one_line(tiny_archive: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    pred = tmp_path / "pred"
    transform = from_origin(400000.0, 4500000.0, 10.0, 10.0)
    for name, (shape, years) in MASKS.items():
        for year, idx in years.items():
            if (name, year) != ("Germany_1", 2016):  # one mask missing
                write_geotiff(pred / name / f"Year{year}.tif", _flat_mask(shape, idx), "EPSG:32634", transform)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)

    def stats(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "euromine_hf.cli", "stats", *argv, "--years", *map(str, YEARS),
                               "--no-plots", "--quiet"], capture_output=True, text=True, env=env, timeout=300)

    proc = stats(str(pred), "--out", str(tmp_path / "s1"))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert lines == [f"euromine stats: warning: {pred}: partial predictions, the statistics leave out 1 site(s) or years "
                     "with no mask: Germany_1 (2016)"], proc.stderr
    # with the archive, a site with no predictions at all is named too
    for year in YEARS:
        (pred / "Spain_1" / f"Year{year}.tif").unlink()
    shape, years = MASKS["Germany_1"]
    write_geotiff(pred / "Germany_1" / "Year2016.tif", _flat_mask(shape, years[2016]), "EPSG:32634", transform)
    proc = stats(str(pred), "--archive", str(tiny_archive), "--out", str(tmp_path / "s2"))
    assert proc.returncode == 0 and proc.stderr.strip().endswith("with no mask: Spain_1 (2015, 2016, 2017)"), proc.stderr
    # a complete folder: no warning
    complete = tmp_path / "complete"
    for name, (shape, years) in MASKS.items():
        for year, idx in years.items():
            write_geotiff(complete / name / f"Year{year}.tif", _flat_mask(shape, idx), "EPSG:32634", transform)
    proc = stats(str(complete), "--out", str(tmp_path / "s3"))
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr
