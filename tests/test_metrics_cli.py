"""Result tables, error maps and ``euromine evaluate`` on a tiny synthetic archive."""

from __future__ import annotations

import csv
import json
from itertools import combinations

import matplotlib.image as mpimg
import numpy as np
import pytest

from euromine_hf.bands import YEARS
from euromine_hf.metrics.maps import COLORS, error_map, pair_error_map, save_error_map
from euromine_hf.metrics.tables import table_columns, table_rows, to_markdown, write_tables


def test_tables_have_the_paper_shape_and_paper_numbers(tmp_path):
    ours = {"UNet": {**{f"F1_{y}": 0.5 for y in YEARS}, "OF1": 0.5, "GCA-TIoU": 0.25, "LCA-TIoU": 0.3}}
    rows = table_rows("mapping", ours, paper=True)
    assert [r["source"] for r in rows] == ["ours", "paper"]
    assert rows[1]["OF1"] == pytest.approx(0.8505) and rows[1]["2015"] == pytest.approx(0.8514)
    assert table_columns("mapping") == [str(y) for y in YEARS] + ["OF1", "GCA-TIoU", "LCA-TIoU"]
    md = to_markdown("mapping", rows)
    assert "| UNet (paper) | 85.14 |" in md and "| UNet | 50.00 |" in md
    paths = write_tables(tmp_path, "change", {"BIT": {"F1_interval_1": 0.1, "OF1": 0.2}}, paper=True)
    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    assert table[0]["1"] == "0.1" and table[0]["9"] == "" and table[1]["source"] == "paper"
    data = json.loads(paths["json"].read_text())
    assert data["paper_table"] == 5 and data["columns"][-1] == "OF1"
    assert write_tables(tmp_path, "post-classification", {"x": {"OF1": 1.0}})["md"].name == "table6_post_classification.md"
    assert not list(tmp_path.glob(".*tmp"))


def test_every_protocol_of_one_model_is_followed_by_its_paper_row_once():
    """``euromine evaluate --paper --model UNet --protocol all`` names its rows "UNet [site]" and so on: the
    paper's UNet row follows them once (it was missing)."""
    scores = {**{f"F1_{y}": 0.5 for y in YEARS}, "OF1": 0.5, "GCA-TIoU": 0.25, "LCA-TIoU": 0.3}
    rows = table_rows("mapping", {f"UNet [{p}]": scores for p in ("site", "micro", "patch")}, paper=True)
    assert [(r["model"], r["source"]) for r in rows] == [
        ("UNet [site]", "ours"), ("UNet [micro]", "ours"), ("UNet [patch]", "ours"), ("UNet", "paper")]
    assert rows[-1]["OF1"] == pytest.approx(0.8505)


def test_error_map_colours_and_png(tmp_path):
    pred = np.array([[1, 1], [0, 0]])
    ref = np.array([[1, 0], [1, 0]])
    rgb = error_map(pred, ref)
    assert tuple(rgb[0, 0]) == COLORS["TP"] and tuple(rgb[0, 1]) == COLORS["FP"]
    assert tuple(rgb[1, 0]) == COLORS["FN"] and tuple(rgb[1, 1]) == COLORS["TN"]
    change = pair_error_map(pred, np.zeros_like(pred), ref, np.zeros_like(ref))
    assert np.array_equal(change, rgb)
    plain = save_error_map(tmp_path / "m.png", rgb)
    img = mpimg.imread(plain)
    assert img.shape[:2] == (2, 2) and np.allclose(img[0, 0, :3] * 255, COLORS["TP"], atol=1)
    legend = save_error_map(tmp_path / "l.png", np.repeat(np.repeat(rgb, 50, 0), 50, 1), legend=True, title="t")
    assert mpimg.imread(legend).shape[0] > 100
    with pytest.raises(ValueError, match="expected equal shapes"):
        error_map(pred, ref[:1])


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from euromine_hf.data.archive import read_site_label, scan_archive
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.patching import extract_patches
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    root = tmp_path_factory.mktemp("eval")
    generate_archive(root / "archive", SyntheticConfig(num_sites=4, min_size=150, max_size=200, nuisance=False))
    rng = np.random.default_rng(0)
    for site in scan_archive(root / "archive"):
        labels = {}
        for y in site.years:
            g = read_site_label(site, y)
            p = (g ^ (rng.random(g.shape) < 0.05)).astype(np.uint8)
            labels[y] = (p, g)
            write_geotiff(root / "rasters" / site.name / f"Year{y}.tif", p[None] * 255, site.crs, site.transform)
            for n, patch in enumerate(extract_patches(p)[0]):
                (root / "patches" / site.name / str(y)).mkdir(parents=True, exist_ok=True)
                np.save(root / "patches" / site.name / str(y) / f"Patch{n}.npy", patch)
        for y1, y2 in combinations(site.years, 2):
            change = labels[y1][0] ^ labels[y2][0]
            write_geotiff(root / "change" / site.name / f"Change{y1}_{y2}.tif", change[None], site.crs, site.transform)
    return root


def _run(argv):
    from euromine_hf.cli import main

    return main(["evaluate", *argv])


def test_evaluate_cli_mapping_rasters_equal_patches(archive, tmp_path):
    out_r, out_p = tmp_path / "r", tmp_path / "p"
    assert _run([str(archive / "archive"), str(archive / "rasters"), "--split", "train", "--output", str(out_r), "--protocol", "all", "--maps", "2", "--model", "UNet", "--paper"]) == 0
    assert _run([str(archive / "archive"), str(archive / "patches"), "--split", "train", "--output", str(out_p), "--protocol", "all"]) == 0
    r = json.loads((out_r / "scores.json").read_text())["scores"]
    p = json.loads((out_p / "scores.json").read_text())["scores"]
    for protocol in ("site", "micro", "patch"):
        assert r[f"UNet [{protocol}]"] == pytest.approx(p[f"patches [{protocol}]"])
    # the site-protocol scores of the train sites, from the written rasters by the independent oracle
    import rasterio
    from _oracle import score_units

    from euromine_hf.data.archive import read_site_label, scan_archive
    from euromine_hf.data.splits import assign_splits

    sites = scan_archive(archive / "archive")
    train = set(assign_splits([s.name for s in sites], scheme="auto", seed=0)["train"])
    units = []
    for site in (s for s in sites if s.name in train):
        series = {}
        for y in site.years:
            with rasterio.open(archive / "rasters" / site.name / f"Year{y}.tif") as src:
                series[y] = ((src.read(1) > 0).astype(np.uint8), read_site_label(site, y))
        units.append((float(series[y][1].size), series))
    expected = score_units(units, YEARS)
    for key in ("OF1", "GCA-TIoU", "LCA-TIoU", "F1_2015", "F1_2024"):
        assert r["UNet [site]"][key] == pytest.approx(expected[key], abs=1e-9), key
    md = (out_r / "table4_mapping.md").read_text()
    assert "UNet [site]" in md and md.count("| UNet (paper) |") == 1  # --paper --model UNet: its paper row, once
    assert len(list((out_r / "maps").glob("*.png"))) == 2


def test_evaluate_cli_change_and_post_classification(archive, tmp_path):
    assert _run([str(archive / "archive"), str(archive / "change"), "--split", "train", "--task", "change", "--output", str(tmp_path / "c")]) == 0
    assert _run([str(archive / "archive"), str(archive / "rasters"), "--split", "train", "--task", "post-classification", "--output", str(tmp_path / "pc")]) == 0
    change = json.loads((tmp_path / "c" / "scores.json").read_text())["scores"]
    post = json.loads((tmp_path / "pc" / "scores.json").read_text())["scores"]
    # the change folder holds exactly |P_t2 - P_t1|: both tasks must agree
    assert list(change.values())[0] == pytest.approx(list(post.values())[0])
    assert set(list(change.values())[0]) == {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1", "precision", "recall", "IoU"}
    assert (tmp_path / "c" / "table5_change.md").is_file() and (tmp_path / "pc" / "table6_post_classification.csv").is_file()


def test_evaluate_cli_names_missing_predictions(archive, tmp_path, capsys):
    broken = tmp_path / "broken"
    for tif in (archive / "rasters").rglob("Year2015.tif"):
        dest = broken / tif.parent.name / tif.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(tif.read_bytes())
    assert _run([str(archive / "archive"), str(broken), "--split", "train", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "prediction years" in err and "missing [2016," in err and "Traceback" not in err


def test_evaluate_cli_names_a_missing_site_and_a_missing_change_pair(archive, tmp_path, capsys):
    import shutil

    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    names = [s.name for s in scan_archive(archive / "archive")]
    site = sorted(assign_splits(names, "auto")["train"])[0]
    preds = tmp_path / "rasters"
    shutil.copytree(archive / "rasters", preds)
    shutil.rmtree(preds / site)
    assert _run([str(archive / "archive"), str(preds), "--split", "train", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{preds / site}: prediction years" in err and "missing [2015, 2016" in err and "Traceback" not in err

    change = tmp_path / "change"
    shutil.copytree(archive / "change", change)
    (change / site / "Change2016_2019.tif").unlink()
    assert _run([str(archive / "archive"), str(change), "--split", "train", "--task", "change", "--output", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "change prediction 2016-2019" in err and "Change2016_2019.tif" in err and site in err
    assert not (tmp_path / "c" / "scores.json").exists() and not (tmp_path / "o" / "scores.json").exists()


def test_evaluate_keeps_files_it_did_not_write_and_replaces_its_own(archive, tmp_path, capsys):
    """A scores.json or table the user put in --output is refused by name before anything is written;
    the files evaluate wrote itself are replaced on a rerun, unless edited since."""
    base = [str(archive / "archive"), str(archive / "rasters"), "--split", "train", "--maps", "1"]
    out = tmp_path / "R"
    out.mkdir()
    (out / "scores.json").write_text('{"mine":1}\n')
    (out / "table4_mapping.md").write_text("mine\n")
    assert _run([*base, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'scores.json'}: expected a file euromine evaluate wrote, found a file it did not write" in err or \
        f"{out / 'table4_mapping.md'}: expected a file euromine evaluate wrote" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (out / "scores.json").read_text() == '{"mine":1}\n' and (out / "table4_mapping.md").read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == ["scores.json", "table4_mapping.md"]  # nothing written
    (out / "scores.json").unlink()
    assert _run([*base, "--output", str(out)]) == 2
    assert f"{out / 'table4_mapping.md'}: expected a file euromine evaluate wrote" in capsys.readouterr().err
    assert (out / "table4_mapping.md").read_text() == "mine\n" and not (out / "scores.json").exists()

    own = tmp_path / "own"
    assert _run([*base, "--output", str(own)]) == 0
    assert _run([*base, "--output", str(own)]) == 0  # a rerun replaces its own files
    (own / "maps").joinpath(next(p.name for p in (own / "maps").iterdir())).write_bytes(b"edited")
    capsys.readouterr()
    assert _run([*base, "--output", str(own)]) == 2
    assert "found a file changed since it wrote it" in capsys.readouterr().err


def test_evaluate_never_writes_into_or_around_what_it_reads(archive, tmp_path, capsys):
    import shutil

    preds = tmp_path / "preds"
    shutil.copytree(archive / "rasters", preds)
    site = sorted(p.name for p in preds.iterdir())[0]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for output, relation in ((archive / "archive", "is"), (preds, "is"), (preds / site, "lies inside"),
                             (tmp_path, "contains")):
        assert _run([str(archive / "archive"), str(preds), "--split", "train", "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert f"{output}: --output: expected a folder apart from" in err and f"that {relation} it" in err, err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert not list((archive / "archive").glob("table4*")) and not (archive / "archive" / "scores.json").exists()
