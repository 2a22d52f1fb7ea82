"""``euromine leaderboard``: submission validation (every problem at once, nothing written), scoring
equal to ``euromine evaluate``, ranking, Markdown/CSV/HTML output, and publishing to the Hub's
eval results + dataset leaderboard against LocalHub."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import yaml

from _data_fixtures import small_archive  # noqa: F401  (session fixture)
from euromine_hf.bands import YEARS
from euromine_hf.cli import main, user_error_message
from euromine_hf.hub import leaderboard as lb

PAIRS = list(combinations(YEARS, 2))


def _test_sites(archive):
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    sites = scan_archive(archive)
    test = set(assign_splits([s.name for s in sites])["test"])
    return [s for s in sites if s.name in test], [s for s in sites if s.name not in test]


def _meta(folder: Path, task: str, model: str, **extra) -> None:
    (folder / "submission.json").write_text(json.dumps({"model": model, "task": task, **extra}))


@pytest.fixture(scope="module")
def subs(small_archive, tmp_path_factory):  # noqa: F811
    """Valid submissions made from the ground truth with ~5% (or ~15%) of pixels flipped."""
    from euromine_hf.data.archive import read_site_label
    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.data.patching import extract_patches

    root = tmp_path_factory.mktemp("subs")
    test_sites, _ = _test_sites(small_archive)
    for name, flip in (("good", 0.05), ("worse", 0.15)):
        rng = np.random.default_rng(int(flip * 100))
        for site in test_sites:
            preds = {}
            for y in YEARS:
                g = read_site_label(site, y)
                p = (g ^ (rng.random(g.shape) < flip)).astype(np.uint8)
                preds[y] = p
                write_geotiff(root / f"map_{name}" / site.name / f"Year{y}.tif", p[None] * 255, site.crs, site.transform)
                if name == "good":
                    for n, patch in enumerate(extract_patches(p)[0]):
                        (root / "map_patches" / site.name / str(y)).mkdir(parents=True, exist_ok=True)
                        np.save(root / "map_patches" / site.name / str(y) / f"Patch{n}.npy", patch)
            for y1, y2 in PAIRS:
                change = preds[y1] ^ preds[y2]
                write_geotiff(root / f"cd_{name}" / site.name / f"Change{y1}_{y2}.tif", change[None], site.crs, site.transform)
        _meta(root / f"map_{name}", "mapping", f"UNet {name}", model_repo=f"user/unet-{name}", links=["https://example.org/code"])
        _meta(root / f"cd_{name}", "change_detection", f"BIT {name}", model_repo=f"user/bit-{name}")
    _meta(root / "map_patches", "mapping", "UNet patches")
    return root


def _copy(subs: Path, name: str, dest: Path) -> Path:
    shutil.copytree(subs / name, dest)
    return dest


def _lb(*argv) -> int:
    return main(["leaderboard", *[str(a) for a in argv]])


# ---- scoring ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::euromine_hf.data.archive.ArchiveWarning")  # evaluate: submission.json
@pytest.mark.parametrize("folder,task", [("map_good", "mapping"), ("map_patches", "mapping"), ("cd_good", "change")])
def test_submit_scores_equal_euromine_evaluate(small_archive, subs, tmp_path, folder, task, capsys):  # noqa: F811
    results = tmp_path / "board"
    assert _lb("submit", subs / folder, "--archive", small_archive, "--results", results) == 0
    (entry_file,) = results.glob("entries/*/*.json")
    entry = json.loads(entry_file.read_text())
    assert main(["evaluate", str(small_archive), str(subs / folder), "--split", "test", "--task", task, "--output", str(tmp_path / "ev")]) == 0
    evaluated = next(iter(json.loads((tmp_path / "ev" / "scores.json").read_text())["scores"].values()))
    assert entry["scores"] == pytest.approx(evaluated) and set(entry["scores"]) == set(evaluated)
    assert entry["format"] == lb.RESULT_FORMAT and entry["protocol"] == "site" and entry["split"] == "test"
    assert entry["archive"]["synthetic"] is True and entry["submission_sha256"]
    assert (0.5 if task == "mapping" else 0.1) < entry["scores"]["OF1"] < 1.0
    out = capsys.readouterr().out
    assert "OF1" in out and str(entry_file) in out


def test_same_predictions_as_rasters_or_patches_score_the_same(small_archive, subs):  # noqa: F811
    a = lb.score_submission(lb.validate_submission(subs / "map_good", small_archive))
    b = lb.score_submission(lb.validate_submission(subs / "map_patches", small_archive))
    assert a == pytest.approx(b)


# ---- validation ---------------------------------------------------------------------------------


def test_every_structural_problem_is_reported_at_once_and_nothing_written(small_archive, subs, tmp_path, capsys):  # noqa: F811
    test_sites, other_sites = _test_sites(small_archive)
    site = test_sites[0].name
    bad = _copy(subs, "map_patches", tmp_path / "bad")
    (bad / "submission.json").write_text(json.dumps({"model": "x", "task": "mapping", "links": ["javascript:alert(1)"], "extra": 1}))
    shutil.rmtree(bad / site / "2017")  # a missing year
    (bad / "notes.txt").write_text("hello")  # an unexpected file
    (bad / other_sites[0].name / "2015").mkdir(parents=True)  # a site outside the test split
    np.save(bad / other_sites[0].name / "2015" / "Patch0.npy", np.zeros((160, 160), np.uint8))
    (bad / site / "2018" / "Patch0.npy").unlink()
    os.symlink("/etc/passwd", bad / site / "2018" / "Patch0.npy")  # a symlink out of the folder
    np.save(bad / site / "2019" / "Patch0.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)  # pickle
    np.save(bad / site / "2020" / "Patch0.npy", np.zeros((160, 160), np.float32))  # float values
    np.save(bad / site / "2021" / "Patch0.npy", np.zeros((100, 160), np.uint8))  # wrong shape
    np.save(bad / site / "2022" / "Patch7.npy", np.zeros((160, 160), np.uint8))  # no such patch
    (bad / site / "2023" / "Patch0.npy").write_bytes(b"\x93NUMPY" + b"\0" * (lb.MAX_PATCH_NPY_BYTES + 10))  # too large
    (bad / site / "Year2024.tif").write_bytes(b"not a tiff")  # raster and patches for one year
    (bad / site / "Year2031.tif").write_bytes(b"")  # a year outside the benchmark

    results = tmp_path / "board"
    assert _lb("submit", bad, "--archive", small_archive, "--results", results) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith(f"euromine leaderboard: error: {bad}: submission rejected,") and "Traceback" not in err
    expected = [
        "field 'extra'", "field 'links'", f"{bad / 'notes.txt'}: unexpected file",
        f"{bad / other_sites[0].name}: site folder: expected a test site", "), found a ",
        f"{bad / site}: years: expected every site and year (10), missing 2017",
        f"{bad / site / '2018' / 'Patch0.npy'}: symlink",
        f"{bad / site / '2019' / 'Patch0.npy'}: dtype: expected integer or bool mask values (no objects",
        f"{bad / site / '2020' / 'Patch0.npy'}: dtype", "found float32",
        f"{bad / site / '2021' / 'Patch0.npy'}: shape: expected (160, 160), found (100, 160)",
        f"{bad / site / '2022' / 'Patch7.npy'}: patch number: expected 0..",
        f"{bad / site / '2023' / 'Patch0.npy'}: size: expected at most",
        f"{bad / site}: 2024: expected either a raster or a patch folder, found both",
        f"{bad / site / 'Year2031.tif'}: year: expected one of",
    ]
    for text in expected:
        assert text in err, f"{text!r} not reported in:\n{err}"
    assert all(line.startswith("  - ") for line in lines[1:])
    assert len(lines) - 1 == int(lines[0].split("rejected, ")[1].split()[0])
    assert not results.exists()


@pytest.mark.parametrize("extra", ["n-1", "n", "n+1"])
def test_patch_number_bound_is_exact(small_archive, subs, tmp_path, extra):  # noqa: F811
    """A site with n patches takes Patch0..Patch{n-1}: Patch{n-1} is valid, Patch{n} and Patch{n+1} are not
    (checked at the bound itself, on the test site with the most patches)."""
    site = max(_test_sites(small_archive)[0], key=lambda s: s.num_patches)
    n = site.num_patches
    assert n >= 2
    folder = _copy(subs, "map_patches", tmp_path / "sub")
    year_dir = folder / site.name / "2016"
    assert sorted(p.name for p in year_dir.iterdir()) == sorted(f"Patch{k}.npy" for k in range(n))
    number = {"n-1": n - 1, "n": n, "n+1": n + 1}[extra]
    np.save(year_dir / f"Patch{number}.npy", np.zeros((160, 160), np.uint8))  # n-1 rewrites a valid patch
    if extra == "n-1":
        assert lb.validate_submission(folder, small_archive).task.name == "mapping"
        return
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(folder, small_archive)
    assert any(
        f"{year_dir / f'Patch{number}.npy'}: patch number: expected 0..{n - 1} ({n} patches of {site.name}), found {number}" in p
        for p in info.value.problems
    ), info.value.problems
    # a missing last patch is named as such
    (year_dir / f"Patch{number}.npy").unlink()
    (year_dir / f"Patch{n - 1}.npy").unlink()
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(folder, small_archive)
    assert any(f"expected Patch0..Patch{n - 1}, missing {n - 1}" in p for p in info.value.problems), info.value.problems


def test_pixel_problems_are_all_reported_after_the_headers_pass(small_archive, subs, tmp_path, capsys):  # noqa: F811
    site = _test_sites(small_archive)[0][0].name
    bad = _copy(subs, "map_patches", tmp_path / "bad")
    np.save(bad / site / "2015" / "Patch0.npy", np.full((160, 160), 2, np.uint8))  # values {2}
    np.save(bad / site / "2016" / "Patch1.npy", np.full((160, 160), 1, np.uint8))
    data = (bad / site / "2016" / "Patch1.npy").read_bytes()
    (bad / site / "2016" / "Patch1.npy").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, small_archive)
    problems = info.value.problems
    assert len(problems) == 2
    assert "label values: expected only {0, 255} (or only {0, 1}), found [2]" in problems[0]
    assert "Patch1.npy: file: expected a complete .npy array" in problems[1]
    assert _lb("submit", bad, "--archive", small_archive, "--results", tmp_path / "board") == 2
    assert not (tmp_path / "board").exists()


def test_wrong_task_missing_metadata_and_incomplete_change_pairs(small_archive, subs, tmp_path):  # noqa: F811
    site = _test_sites(small_archive)[0][0].name
    with pytest.raises(lb.SubmissionError, match="field 'task': expected 'change_detection'"):
        lb.validate_submission(subs / "map_good", small_archive, task="change_detection")
    bad = _copy(subs, "cd_good", tmp_path / "cd")
    (bad / site / "Change2015_2016.tif").unlink()
    (bad / site / "Change2016_2015.tif").write_bytes(b"")  # pairs go forward in time
    (bad / "submission.json").unlink()
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, small_archive, task="change_detection")
    text = str(info.value)
    assert "submission.json: file: expected submission.json" in text
    assert "year pairs: expected every site and year pair (45), missing 2015-2016" in text
    assert "Change2016_2015.tif: year pair: expected Y1 < Y2" in text


def test_file_count_is_bounded_before_anything_is_read(small_archive, subs, tmp_path, monkeypatch):  # noqa: F811
    site = _test_sites(small_archive)[0][0].name
    bad = _copy(subs, "map_good", tmp_path / "many")
    junk = bad / site / "2015"
    junk.mkdir()
    for i in range(3000):
        (junk / f"x{i}").write_bytes(b"")
    opened = []
    monkeypatch.setattr(lb, "_header_problem", lambda path, *a: opened.append(path))
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, small_archive)
    assert any("file count: expected at most" in p for p in info.value.problems)
    assert opened == []  # no header was opened, let alone pixels


def test_cli_prints_each_problem_on_its_own_line():
    err = lb.SubmissionError("sub", ["a: first", "b: second\nwith a newline"])
    assert user_error_message(err) == "sub: submission rejected, 2 problems (format: euromine leaderboard format)\n  - a: first\n  - b: second with a newline"
    assert user_error_message(ValueError("x\ny")) == "x y"  # plain errors stay one line


def test_format_action_prints_the_shipped_document(capsys):
    assert _lb("format") == 0
    out = capsys.readouterr().out
    assert out.startswith("# EuroMineNet leaderboard: submission format") and "Change{Y1}_{Y2}.tif" in out


# ---- ranking and outputs ------------------------------------------------------------------------


def test_ranking_and_show_outputs(small_archive, subs, tmp_path):  # noqa: F811
    results = tmp_path / "board"
    for folder in ("map_good", "map_patches", "cd_good", "cd_worse"):
        assert _lb("submit", subs / folder, "--archive", small_archive, "--results", results) == 0
    worse = _copy(subs, "map_worse", tmp_path / "evil")
    _meta(worse, "mapping", "=HYPERLINK(\"x\") <script>alert(1)</script>")
    assert _lb("submit", worse, "--archive", small_archive, "--results", results) == 0
    assert _lb("show", "--results", results, "--out", tmp_path / "site") == 0

    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "## Multitemporal mine mapping" in md and "## Mine change detection" in md
    assert "paper (real EuroMineNet), Table 4" in md and "paper (real EuroMineNet), Table 6, post-classification" in md

    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    ours = [r for r in rows if r["reference"] == "no"]
    assert [r["rank"] for r in ours] == ["1", "2", "3"]
    assert [float(r["OF1"]) for r in ours] == sorted((float(r["OF1"]) for r in ours), reverse=True)
    assert ours[-1]["model"].startswith("'=HYPERLINK")  # no spreadsheet formula
    ref = [r for r in rows if r["reference"] == "yes"]
    assert len(ref) == 11 and all(r["rank"] == "" and r["source"] == "paper (real EuroMineNet), Table 4" for r in ref)
    assert float(next(r for r in ref if r["model"] == "UNet")["OF1"]) == pytest.approx(0.8505)
    cd = list(csv.DictReader(io.StringIO((tmp_path / "site" / "change_detection.csv").read_text())))
    assert [r["model"] for r in cd if r["reference"] == "no"] == ["BIT good", "BIT worse"]
    assert {r["source"] for r in cd if r["reference"] == "yes"} == {"paper (real EuroMineNet), Table 5", "paper (real EuroMineNet), Table 6, post-classification"}

    page = (tmp_path / "site" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1 and "http://" not in page.split("<script>")[1]
    assert 'id="board-mapping"' in page and 'id="board-change_detection"' in page


def test_show_reads_model_cards_and_merges_sources(tmp_path):
    rows = lb.rank_rows(lb._dedupe(
        lb.rows_from_entries([{"task": "mapping", "model": "A", "scores": {"OF1": 0.5}, "model_repo": "u/a", "archive": {"synthetic": True, "name": "x"}}])
        + [lb._row("mapping", "A card", "model card", {"OF1": 0.5, "GCA-TIoU": 0.4}, model_repo="u/a"),
           lb._row("mapping", "B", "model card", {"OF1": 0.7}, model_repo="u/b")]
        + lb.paper_rows("mapping")
    ))
    mine = [r for r in rows if not r["reference"]]
    assert [(r["model"], r["rank"]) for r in mine] == [("B", 1), ("A", 2)]
    assert mine[1]["source"] == "local, model card" and mine[1]["scores"]["GCA-TIoU"] == 0.4
    assert rows[0]["reference"] and rows[0]["model"] == "UperNet (SwinT-B)"  # 0.8558 tops everything here


# ---- Hub ----------------------------------------------------------------------------------------


EVAL_YAML = """name: EuroMineNet (synthetic stand-in)
description: Sentinel-2 mine mapping and change detection benchmark.
evaluation_framework: euromine-hf
tasks:
  - id: multitemporal-mapping
    config: timeseries
    split: test
  - id: change-detection
    config: cd_pairs
    split: test
"""


@pytest.fixture
def hub(tmp_path):
    from euromine_hf.testing import LocalHub, use_local_hub

    with LocalHub() as local, use_local_hub(local, tmp_path / "hf_home"):
        yield local
        assert local.unknown_requests == [], local.unknown_requests


def _benchmark(eval_yaml: str = EVAL_YAML, repo: str = "user/euromine") -> str:
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=eval_yaml.encode(), path_in_repo="eval.yaml", repo_id=repo, repo_type="dataset")
    return repo


def test_push_puts_the_model_on_the_dataset_leaderboard(small_archive, subs, tmp_path, hub, monkeypatch):  # noqa: F811
    from huggingface_hub import HfApi, ModelCard, parse_eval_result_entries

    dataset = _benchmark()
    results = tmp_path / "board"
    for folder in ("map_good", "map_worse", "cd_good"):
        assert _lb("submit", subs / folder, "--archive", small_archive, "--results", results, "--push", "--dataset-repo", dataset) == 0
    entry = json.loads(next(results.glob("entries/mapping/unet-good-*.json")).read_text())
    path = entry["hub"]["eval_results_file"]
    assert path == ".eval_results/user--euromine--multitemporal-mapping.yaml"

    (item,) = yaml.safe_load(hub.file_content("user/unet-good", path))
    assert item["dataset"] == {"id": dataset, "task_id": "multitemporal-mapping", "revision": entry["hub"]["dataset_revision"]}
    assert item["value"] == pytest.approx(entry["scores"]["OF1"]) and "GCA-TIoU" in item["notes"]
    assert parse_eval_result_entries([item])[0].task_id == "multitemporal-mapping"
    card = ModelCard.load("user/unet-good")
    # the repo submit created says what it is: results of a synthetic-archive run, no weights; never "EuroMineNet"
    assert "More Information Needed" not in card.text and "leaderboard entry" in card.text and "no model weights" in card.text
    assert "synthetic" in card.text and "https://example.org/code" in card.text
    assert {r.dataset_name for r in card.data.eval_results} == {"EuroMineNet (synthetic stand-in)"}
    metrics = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert metrics["GCA-TIoU"] == pytest.approx(entry["scores"]["GCA-TIoU"]) and len(metrics) == 13
    assert HfApi().model_info("user/unet-good", expand=["evalResults"]).eval_results[0].value == pytest.approx(entry["scores"]["OF1"])

    # What the Hub's leaderboard endpoint returns is the server's logic (ranking, filters); what is
    # ours is that each pushed entry reaches it, under the right task, with the value we pushed.
    board = HfApi().get_dataset_leaderboard(dataset, base_model_only=False)
    mapping = {e.model_id: e for e in board if e.taskId == "multitemporal-mapping"}
    assert set(mapping) == {"user/unet-good", "user/unet-worse"}
    assert mapping["user/unet-good"].value == pytest.approx(entry["scores"]["OF1"])
    assert [e.model_id for e in board if e.taskId == "change-detection"] == ["user/bit-good"]

    # a resubmission replaces the model's entry (same file, card results replaced, not doubled)
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results, "--push", "--dataset-repo", dataset) == 0
    assert len(ModelCard.load("user/unet-good").data.eval_results) == 13
    assert len([e for e in HfApi().get_dataset_leaderboard(dataset, base_model_only=False) if e.model_id == "user/unet-good"]) == 1

    # show asks for every model, fine-tunes included (a card declaring base_model), and ranks the rows
    # itself: the endpoint's order is not trusted (here it is reversed).
    HfApi().upload_file(path_or_fileobj=b"---\nbase_model: user/unet-good\n---\n", path_in_repo="README.md", repo_id="user/unet-worse")
    calls = []
    original = HfApi.get_dataset_leaderboard

    def reversed_board(self, repo_id, **kwargs):
        calls.append(kwargs)
        return list(reversed(original(self, repo_id, **kwargs)))

    monkeypatch.setattr(HfApi, "get_dataset_leaderboard", reversed_board)
    assert _lb("show", "--results", tmp_path / "none", "--dataset-repo", dataset, "--out", tmp_path / "site") == 0
    assert calls and all(c.get("base_model_only") is False for c in calls)
    monkeypatch.setattr(HfApi, "get_dataset_leaderboard", original)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    hub_rows = [r for r in rows if r["reference"] == "no"]
    assert [r["model"] for r in hub_rows] == ["user/unet-good", "user/unet-worse"]
    assert float(hub_rows[0]["GCA-TIoU"]) == pytest.approx(entry["scores"]["GCA-TIoU"])  # from the card
    assert hub_rows[0]["source"] == "hub leaderboard"
    assert _lb("show", "--results", results, "--model-repo", "user/bit-good", "--out", tmp_path / "site2") == 0
    cd_rows = list(csv.DictReader(io.StringIO((tmp_path / "site2" / "change_detection.csv").read_text())))
    assert [r["source"] for r in cd_rows if r["reference"] == "no"] == ["local, model card"]


def test_synthetic_scores_are_never_pushed_as_euromine_results(small_archive, subs, tmp_path, hub, capsys):  # noqa: F811
    from huggingface_hub import HfApi

    real = _benchmark(EVAL_YAML.replace("name: EuroMineNet (synthetic stand-in)", "name: EuroMineNet"), repo="user/real")
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results, "--push", "--dataset-repo", real) == 2
    err = capsys.readouterr().err
    assert ("dataset repo user/real: eval.yaml name: expected a synthetic dataset (name containing 'synthetic'), as these "
            "scores are on the synthetic archive, found 'EuroMineNet'") in err
    assert not HfApi().repo_exists("user/unet-good") and not results.exists()


def test_show_lists_authors_links_and_description(small_archive, subs, tmp_path):  # noqa: F811
    folder = _copy(subs, "map_worse", tmp_path / "sub")
    _meta(folder, "mapping", "UNet <b>bold</b>", authors=["Ada L.", "B. Q."], links=["https://example.org/paper"],
          description="Trained | on *everything*")
    results = tmp_path / "board"
    assert _lb("submit", folder, "--archive", small_archive, "--results", results) == 0
    assert _lb("show", "--results", results, "--out", tmp_path / "site", "--no-paper") == 0
    row = next(csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text())))
    assert (row["authors"], row["links"], row["description"]) == ("Ada L.; B. Q.", "https://example.org/paper", "Trained | on *everything*")
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "Ada L., B. Q." in md and "https://example.org/paper" in md and "<b>" not in md and "\\|" in md
    page = (tmp_path / "site" / "index.html").read_text()
    assert '<a href="https://example.org/paper" rel="nofollow noopener noreferrer">' in page and "UNet &lt;b&gt;bold" in page
    assert "Ada L., B. Q." in page and "Trained | on *everything*" in page
    # an entry file edited after submit: a javascript: link is not shown as a link
    entry_file = next(results.glob("entries/*/*.json"))
    entry = json.loads(entry_file.read_text())
    entry_file.write_text(json.dumps({**entry, "links": ["javascript:alert(1)"]}))
    assert _lb("show", "--results", results, "--out", tmp_path / "site2", "--no-paper") == 0
    assert "javascript:" not in (tmp_path / "site2" / "index.html").read_text()


def test_push_needs_a_benchmark_dataset_and_writes_nothing_otherwise(small_archive, subs, tmp_path, hub, capsys):  # noqa: F811
    from huggingface_hub import HfApi

    _benchmark("name: x\ntasks:\n  - id: something-else\n", repo="user/other")
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results, "--push", "--dataset-repo", "user/other") == 2
    err = capsys.readouterr().err
    assert "dataset repo user/other: eval.yaml tasks: expected a task with id 'multitemporal-mapping', found ['something-else']" in err
    assert not results.exists()
    assert not HfApi().repo_exists("user/unet-good")
    HfApi().create_repo("user/plain", repo_type="dataset")
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results, "--push", "--dataset-repo", "user/plain") == 2
    assert "eval.yaml: expected a benchmark declaration" in capsys.readouterr().err
    with pytest.raises(Exception, match="no leaderboard"):
        HfApi().get_dataset_leaderboard("user/plain")
    assert not results.exists()
    capsys.readouterr()
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results, "--push", "--dataset-repo", "user/missing") == 2
    assert "dataset repo user/missing: the Hub refused: RepositoryNotFoundError" in capsys.readouterr().err
    assert _lb("show", "--results", results, "--dataset-repo", "user/plain", "--out", tmp_path / "site") == 2
    err = capsys.readouterr().err
    assert "dataset repo user/plain: leaderboard: the Hub refused" in err and "Traceback" not in err
    assert _lb("show", "--results", results, "--model-repo", "user/nobody", "--out", tmp_path / "site") == 2
    assert "model repo user/nobody: the Hub refused: RepositoryNotFoundError" in capsys.readouterr().err
    assert not results.exists() and not (tmp_path / "site").exists()


def test_submitted_file_names_cannot_reach_the_terminal_raw(small_archive, subs, tmp_path, capsys):  # noqa: F811
    bad = _copy(subs, "map_good", tmp_path / "names")
    (bad / "evil\x1b[31mred").write_text("x")
    assert _lb("submit", bad, "--archive", small_archive, "--results", tmp_path / "board") == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[31mred: unexpected file" in err


def test_tasks_agree_with_the_dataset_eval_yaml_and_push_against_it(small_archive, subs, tmp_path, hub):  # noqa: F811
    """The dataset export's ``eval.yaml`` (euromine_hf.hub.eval_spec, from another branch) declares
    the same task ids and ranking metric, and a push against it lands on the leaderboard."""
    import euromine_hf.hub.eval_spec as eval_spec
    from huggingface_hub import HfApi

    declared = {t["id"]: t for t in eval_spec.TASKS}
    for spec in lb.TASKS.values():
        assert spec.hub_task_id in declared
        assert declared[spec.hub_task_id]["primary_metric"] == spec.primary
        assert [m["name"] for m in declared[spec.hub_task_id]["metrics"]] == [c for c in spec.columns if not c.startswith("F1_2")]
    dataset = _benchmark(eval_spec.render_eval_yaml(synthetic=True))
    assert _lb("submit", subs / "cd_good", "--archive", small_archive, "--results", tmp_path / "b", "--push", "--dataset-repo", dataset) == 0
    assert [e.model_id for e in HfApi().get_dataset_leaderboard(dataset, base_model_only=False)] == ["user/bit-good"]


# ---- scores checked on read (issue 18, items 9 and 15) --------------------------------------------


def test_a_problem_found_in_every_file_of_a_folder_is_listed_once(small_archive, subs, tmp_path):  # noqa: F811
    import subprocess
    import sys

    _, other_sites = _test_sites(small_archive)
    bad = _copy(subs, "map_good", tmp_path / "bad")
    shutil.copytree(bad / next(p.name for p in bad.iterdir() if p.is_dir()), bad / other_sites[0].name)  # 10 Year*.tif
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "euromine_hf.cli", "leaderboard", "submit", str(bad), "--archive", str(small_archive),
                           "--results", str(tmp_path / "board")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"euromine leaderboard: error: {bad}: submission rejected, 1 problem ")
    assert len(lines) == 2 and lines[1].startswith(f"  - {bad / other_sites[0].name}: site folder: expected a test site"), lines
    assert not (tmp_path / "board").exists()
    assert lb.SubmissionError("s", ["a: x", "a: x", "b: y"]).problems == ["a: x", "b: y"]


def _entry(results: Path, model: str, scores: dict, **extra) -> None:
    path = results / "entries" / "mapping" / f"{model.encode().hex()[:40]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"format": lb.RESULT_FORMAT, "task": "mapping", "model": model, "scores": scores,
             "archive": {"synthetic": True, "name": "a"}, **extra}
    path.write_text(json.dumps(entry))  # json writes NaN as NaN, as a hand-edited entry may hold


@pytest.mark.filterwarnings("ignore::euromine_hf.data.archive.ArchiveWarning")
def test_show_checks_every_local_value_and_never_ranks_a_bad_row(small_archive, subs, tmp_path, capsys):  # noqa: F811
    results = tmp_path / "board"
    assert _lb("submit", subs / "map_good", "--archive", small_archive, "--results", results) == 0
    scored = json.loads(next(results.glob("entries/mapping/*.json")).read_text())
    _entry(results, "NaN model", {"OF1": float("nan")})
    _entry(results, "huge model", {"OF1": 1e308, "GCA-TIoU": 0.5})
    _entry(results, "over one", {"OF1": 0.9, "F1_2016": 1.5})
    _entry(results, "text score", {"OF1": "0.99"})
    _entry(results, "no OF1", {"GCA-TIoU": 0.9})
    _entry(results, "fine but hand-made", {"OF1": 0.1, "made-up column": 7})
    _entry(results, "<script>alert(1)</script> [x](javascript:y) *b*", {"OF1": 0.05})
    capsys.readouterr()
    assert _lb("show", "--results", results, "--out", tmp_path / "site", "--task", "mapping") == 0
    out = capsys.readouterr().out
    assert "0" * 30 not in out, [line for line in out.splitlines() if "0" * 30 in line]

    rows = {r["model"]: r for r in csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text()))}
    ranked = sorted((r for r in rows.values() if r["rank"]), key=lambda r: int(r["rank"]))
    assert [r["model"] for r in ranked] == ["UNet good", "fine but hand-made", "<script>alert(1)</script> [x](javascript:y) *b*"]
    assert ranked[0]["verification"] == "scored here" and ranked[0]["sha256"] == scored["submission_sha256"]
    assert ranked[1]["verification"] == "self-reported" and ranked[1]["sha256"] == ""
    reasons = {
        "NaN model": "OF1: expected a finite value in [0, 1] (an F1/IoU score), found nan",
        "huge model": "OF1: expected a finite value in [0, 1] (an F1/IoU score), found 1e+308",
        "over one": "F1_2016: expected a finite value in [0, 1] (an F1/IoU score), found 1.5",
        "text score": "OF1: expected a number in [0, 1], found '0.99'",
        "no OF1": "OF1: expected the ranking score, found none",
    }
    for model, reason in reasons.items():
        assert rows[model]["rank"] == "" and rows[model]["problems"] == reason, model
    assert rows["NaN model"]["OF1"] == rows["huge model"]["OF1"] == ""  # an unusable value is never printed as a score

    md = (tmp_path / "site" / "leaderboard.md").read_text()
    ranked_part, apart = md.split("### Not ranked")
    assert all(model not in ranked_part for model in reasons) and all(lb._md_cell(reason) in apart for reason in reasons.values())
    assert f"| 1 | UNet good | local | scored here (sha256 {scored['submission_sha256'][:16]}) |" in ranked_part
    assert "<script>" not in md and "&lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](javascript:y) \\*b\\*" in md
    page = (tmp_path / "site" / "index.html").read_text()
    board, rejected = page.split('id="rejected-mapping"')
    assert all(f'data-model="{model}"' not in board for model in reasons) and "found 1e+308" in rejected
    assert "scored here (sha256" in board and page.count("<script>") == 1


def test_hub_and_card_values_are_checked_on_read(tmp_path, hub, capsys):
    from huggingface_hub import HfApi

    dataset = _benchmark()
    api = HfApi()

    def model_repo(repo: str, value: str, card_metrics: str = "") -> None:
        api.create_repo(repo)
        item = (f"- dataset:\n    id: {dataset}\n    task_id: multitemporal-mapping\n  value: {value}\n")
        api.upload_file(path_or_fileobj=item.encode(), path_in_repo=".eval_results/r.yaml", repo_id=repo)
        if card_metrics:
            card = ("---\nmodel-index:\n- name: m\n  results:\n  - task:\n      type: image-segmentation\n"
                    f"      name: multitemporal-mapping\n    dataset:\n      type: {dataset}\n      name: EuroMineNet\n"
                    f"    metrics:\n{card_metrics}---\n")
            api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo)

    model_repo("user/huge", "1.0e+300")
    model_repo("user/fine", "0.7", "    - type: OF1\n      value: 0.7\n    - type: GCA-TIoU\n      value: 0.6\n")
    model_repo("user/card-lies", "0.8", "    - type: OF1\n      value: 0.8\n    - type: F1_2016\n      value: 42\n")
    assert _lb("show", "--results", tmp_path / "none", "--dataset-repo", dataset, "--out", tmp_path / "site",
               "--task", "mapping", "--no-paper") == 0
    out = capsys.readouterr().out
    assert "0" * 30 not in out
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO((tmp_path / "site" / "mapping.csv").read_text()))}
    assert rows["user/fine"]["rank"] == "1" and rows["user/fine"]["verification"] == "self-reported"
    assert rows["user/fine"]["GCA-TIoU"] == "0.6"
    assert rows["user/huge"]["rank"] == "" and rows["user/huge"]["problems"].startswith(".eval_results OF1: expected a finite value")
    assert "1e+300" in rows["user/huge"]["problems"] and rows["user/huge"]["verification"] == "self-reported"
    assert rows["user/card-lies"]["rank"] == "" and "model card F1_2016" in rows["user/card-lies"]["problems"]


def test_change_submission_straight_from_predict_pairs_all(small_archive, tmp_path, capsys):  # noqa: F811
    """`euromine predict DETECTOR ARCHIVE OUT --split test --pairs all` writes the 45 change maps per test
    site that a change-detection submission needs; with a submission.json it is accepted and scored."""
    from euromine_hf.models import build_model

    detector = build_model("fc-ef", "tiny")
    detector.save_pretrained(tmp_path / "fc-ef")
    out = tmp_path / "pred"
    assert main(["predict", str(tmp_path / "fc-ef"), str(small_archive), str(out), "--split", "test", "--pairs", "all"]) == 0
    test_sites, _ = _test_sites(small_archive)
    for site in test_sites:
        assert sorted(p.name for p in (out / site.name).glob("Change*.tif")) == sorted(f"Change{a}_{b}.tif" for a, b in PAIRS)
    # the metadata on the command line: predict's folder is submitted as it is, nothing written into it
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    board = tmp_path / "board"
    assert _lb("submit", out, "--archive", small_archive, "--results", board, "--model", "FC-EF tiny", "--task", "change_detection") == 0
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    entry = json.loads(next(board.glob("entries/*/*.json")).read_text())
    assert set(entry["scores"]) >= {f"F1_interval_{k}" for k in range(1, 10)} | {"OF1"} and entry["model"] == "FC-EF tiny"
    capsys.readouterr()
    assert _lb("submit", out, "--archive", small_archive, "--results", tmp_path / "b3", "--model", "x") == 2
    assert "--model: expected --task" in capsys.readouterr().err
    _meta(out, "change_detection", "FC-EF tiny")  # two sources of metadata: refused
    assert _lb("submit", out, "--archive", small_archive, "--results", tmp_path / "b4", "--model", "x", "--task", "change_detection") == 2
    assert "expected no submission.json when --model gives the metadata" in capsys.readouterr().err
    # the default (no --pairs) is consecutive years + first:last: not a submission
    assert main(["predict", str(tmp_path / "fc-ef"), str(small_archive), str(tmp_path / "few"), "--split", "test"]) == 0
    assert _lb("submit", tmp_path / "few", "--archive", small_archive, "--results", tmp_path / "board2",
               "--model", "FC-EF few", "--task", "change_detection") == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "board2").exists() and not (tmp_path / "b3").exists() and not (tmp_path / "b4").exists()
