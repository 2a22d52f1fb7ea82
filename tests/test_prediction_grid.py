"""A GeoTIFF prediction is scored only on the site raster's grid: one moved 50 km, reprojected or
of another size is refused by ``euromine evaluate`` and ``euromine leaderboard submit`` alike
(the shared readers in ``data/archive.py``), naming the site, the year and the field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
from rasterio.transform import Affine

from _data_fixtures import small_archive  # noqa: F401  (session fixture)
from euromine_hf.bands import YEARS

REPO = Path(__file__).resolve().parents[1]


def _cli(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "euromine_hf.cli", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=300)


def _test_sites(archive: Path):
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    sites = scan_archive(archive)
    test = set(assign_splits([s.name for s in sites])["test"])
    return [s for s in sites if s.name in test]


@pytest.fixture(scope="module")
def preds(small_archive, tmp_path_factory):  # noqa: F811
    """Perfect predictions of the test sites, as year maps and as change maps, on the sites' grids."""
    from euromine_hf.data.archive import read_site_label
    from euromine_hf.data.geotiff import write_geotiff

    root = tmp_path_factory.mktemp("grid")
    for site in _test_sites(small_archive):
        labels = {y: read_site_label(site, y) for y in YEARS}
        for y in YEARS:
            write_geotiff(root / "map" / site.name / f"Year{y}.tif", labels[y][None], site.crs, site.transform)
        for y1, y2 in combinations(YEARS, 2):
            write_geotiff(root / "cd" / site.name / f"Change{y1}_{y2}.tif", (labels[y1] ^ labels[y2])[None], site.crs, site.transform)
    return root


def _spoil(folder: Path, site, name: str, how: str) -> tuple[str, str]:
    """Rewrite ``folder/site/name`` (same pixels) off the site's grid; returns (field, key text)."""
    from euromine_hf.data.archive import read_label
    from euromine_hf.data.geotiff import write_geotiff

    path = folder / site.name / name
    mask = read_label(path)
    transform = Affine(*site.transform)
    if how == "moved":  # 50 km east
        write_geotiff(path, mask[None], site.crs, Affine.translation(50_000, 0) @ transform)
        field = "transform"
    elif how == "epsg4326":
        write_geotiff(path, mask[None], "EPSG:4326", transform)
        field = "CRS"
    else:  # one column short
        write_geotiff(path, mask[:, :-1][None], site.crs, transform)
        field = "size"
    years = name[name.index("2"):].split(".")[0].split("_")
    return field, f"year {years[0]}" if len(years) == 1 else f"years {years[0]}-{years[1]}"


def _one_line(proc: subprocess.CompletedProcess, prog: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    return lines[0]


@pytest.mark.parametrize("task,how", [("mapping", "moved"), ("mapping", "epsg4326"), ("change", "moved"), ("mapping", "size")])
def test_evaluate_refuses_a_prediction_off_the_site_grid(small_archive, preds, tmp_path, task, how):  # noqa: F811
    site = _test_sites(small_archive)[0]
    folder = shutil.copytree(preds / ("map" if task == "mapping" else "cd"), tmp_path / "pred")
    name = "Year2016.tif" if task == "mapping" else "Change2016_2019.tif"
    field, key = _spoil(folder, site, name, how)
    proc = _cli("evaluate", small_archive, folder, "--task", task, "--output", tmp_path / "out")
    line = _one_line(proc, "euromine evaluate")
    assert f"{folder / site.name / name}: {field}: expected" in line, line
    assert f"site raster of {site.name} ({key})" in line, line
    assert not (tmp_path / "out").exists()


def test_aligned_and_plain_masks_are_scored(small_archive, preds, tmp_path):  # noqa: F811
    """The check passes the aligned predictions and a mask without any georeference (a plain
    mask of the site grid, as labels may be), and the score is perfect."""
    import rasterio

    site = _test_sites(small_archive)[0]
    folder = shutil.copytree(preds / "map", tmp_path / "pred")
    from euromine_hf.data.archive import read_label

    mask = read_label(folder / site.name / "Year2020.tif")
    with rasterio.open(folder / site.name / "Year2020.tif", "w", driver="GTiff", height=mask.shape[0], width=mask.shape[1],
                       count=1, dtype="uint8") as dst:
        dst.write(mask[None])
    from euromine_hf.metrics.evaluate_cli import evaluate_folder

    scores = evaluate_folder(small_archive, folder, split="test").compute(protocol="site", empty="skip")
    assert scores["OF1"] == pytest.approx(1.0)


@pytest.mark.parametrize("task,how", [("mapping", "moved"), ("change", "epsg4326")])
def test_leaderboard_submit_refuses_a_prediction_off_the_site_grid(small_archive, preds, tmp_path, task, how):  # noqa: F811
    site = _test_sites(small_archive)[-1]
    folder = shutil.copytree(preds / ("map" if task == "mapping" else "cd"), tmp_path / "sub")
    name = "Year2023.tif" if task == "mapping" else "Change2015_2024.tif"
    field, key = _spoil(folder, site, name, how)
    (folder / "submission.json").write_text(json.dumps({"model": "off-grid", "task": "mapping" if task == "mapping" else "change_detection"}))
    proc = _cli("leaderboard", "submit", folder, "--archive", small_archive, "--results", tmp_path / "board")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    problems = [line for line in proc.stderr.splitlines() if str(folder / site.name / name) in line]
    assert len(problems) == 1, proc.stderr
    assert f": {field}: expected" in problems[0] and f"site raster of {site.name} ({key})" in problems[0], problems
    assert not (tmp_path / "board").exists()


def test_a_folder_written_by_predict_is_a_submission_with_its_marker(small_archive, preds, tmp_path):  # noqa: F811
    """``euromine predict`` leaves .euromine-predict.json beside its maps: evaluate and leaderboard
    submit read the folder as it is."""
    from euromine_hf.hub import leaderboard as lb
    from euromine_hf.predict_outputs import PREDICT_MARKER

    folder = shutil.copytree(preds / "map", tmp_path / "sub")
    for site in _test_sites(small_archive):
        (folder / site.name / PREDICT_MARKER).write_text(json.dumps({"created_by": "euromine_hf.inference", "files": {}, "runs": []}))
    (folder / "submission.json").write_text(json.dumps({"model": "predicted", "task": "mapping"}))
    submission = lb.validate_submission(folder, small_archive)
    assert not any(p.name == PREDICT_MARKER for p in submission.files)
    assert lb.score_submission(submission)["OF1"] == pytest.approx(1.0)
