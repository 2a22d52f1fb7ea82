"""``euromine leaderboard show``: it writes over no file it did not write (its marker, as predict's), and it
checks every local entry again (an edited entry is listed apart with its reasons, never ranked, never a
traceback). Hand-made entries only: nothing here needs an archive or a submission."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from euromine_hf.cli import main
from euromine_hf.hub import leaderboard as lb

OUTPUTS = ["leaderboard.md", "mapping.csv", "change_detection.csv", "index.html"]


def _lb(*argv) -> int:
    return main(["leaderboard", *[str(a) for a in argv]])


def _entry(**fields) -> dict:
    """An entry as ``submit`` writes it (a valid sha256: *scored here*), with ``fields`` changed."""
    entry = {"format": lb.RESULT_FORMAT, "model": "Good", "task": "mapping", "hub_task_id": "multitemporal-mapping",
             "model_repo": "user/good", "authors": ["Ada L."], "links": ["https://example.org"], "description": "d",
             "license": None, "primary_metric": "OF1", "scores": {"OF1": 0.6, "GCA-TIoU": 0.5}, "protocol": "site",
             "empty": "skip", "split": "test", "split_scheme": "auto", "seed": 0,
             "archive": {"name": "arch", "synthetic": True, "test_sites": ["A_1"]}, "submission_sha256": "a" * 64,
             "submitted_at": "2026-01-01T00:00:00Z", "hub": None}
    entry.update(fields)
    return entry


def _write(results: Path, folder: str, name: str, entry) -> Path:
    path = results / "entries" / folder / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entry if isinstance(entry, str) else json.dumps(entry))
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---- item 1: the output folder is the user's -----------------------------------------------------


def test_show_replaces_only_the_files_it_wrote(tmp_path, capsys):
    results = tmp_path / "LB"
    _write(results, "mapping", "good", _entry())
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>mine</h1>\n")
    (site / "leaderboard.md").write_text("notes\n")
    before = _tree(site)
    capsys.readouterr()
    assert _lb("show", "--results", results, "--out", site) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{site / 'leaderboard.md'}: expected a file euromine leaderboard show wrote, found a file it did not write" in err
    assert _tree(site) == before and sorted(p.name for p in site.iterdir()) == ["index.html", "leaderboard.md"]  # nothing written

    out = tmp_path / "out"
    assert _lb("show", "--results", results, "--out", out, "--no-paper") == 0
    marker = json.loads((out / lb.SHOW_MARKER).read_text())
    assert sorted(marker["files"]) == sorted(OUTPUTS)
    assert _lb("show", "--results", results, "--out", out, "--no-paper") == 0  # a rerun replaces its own files
    assert _lb("show", "--results", results, "--out", out) == 0

    (out / "index.html").write_text((out / "index.html").read_text() + "<!-- my edit -->")
    written = _tree(out)
    capsys.readouterr()
    assert _lb("show", "--results", results, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"{out / 'index.html'}: expected a file euromine leaderboard show wrote, found a file it did not write " \
           "(changed since euromine leaderboard show wrote it); kept, nothing written" in err
    assert _tree(out) == written  # checked before anything was written, the marker included

    (out / "index.html").unlink()
    (out / "index.html").mkdir()
    assert _lb("show", "--results", results, "--out", out) == 2
    assert "index.html: expected a file euromine leaderboard show wrote, found a folder" in capsys.readouterr().err
    (out / "index.html").rmdir()
    os.symlink(out / "mapping.csv", out / "index.html")
    assert _lb("show", "--results", results, "--out", out) == 2
    assert "found a link" in capsys.readouterr().err
    (out / "index.html").unlink()

    (out / lb.SHOW_MARKER).write_text('{"created_by": "someone else", "files": {}}')  # not our marker: kept
    assert _lb("show", "--results", results, "--out", out) == 2
    assert f"{out / lb.SHOW_MARKER}: expected the marker euromine leaderboard show writes" in capsys.readouterr().err
    assert json.loads((out / lb.SHOW_MARKER).read_text())["created_by"] == "someone else"


def test_predicts_marker_does_not_make_a_file_shows(tmp_path, capsys):
    """Each command owns only its own files: predict's marker listing index.html does not let show replace it."""
    from euromine_hf.output_marker import file_sha256
    from euromine_hf.predict_outputs import PREDICT_MARKER

    results, site = tmp_path / "LB", tmp_path / "site"
    _write(results, "mapping", "good", _entry())
    site.mkdir()
    (site / "index.html").write_text("x")
    (site / PREDICT_MARKER).write_text(json.dumps({"created_by": "euromine_hf.inference", "runs": [],
                                                   "files": {"index.html": file_sha256(site / "index.html")}}))
    assert _lb("show", "--results", results, "--out", site) == 2
    assert "index.html: expected a file euromine leaderboard show wrote" in capsys.readouterr().err
    assert (site / "index.html").read_text() == "x"


@pytest.mark.parametrize("inside", ["entries", "entries/mapping", "entries/new"])
def test_show_never_writes_into_the_entries_it_reads(tmp_path, capsys, inside):
    results = tmp_path / "LB"
    _write(results, "mapping", "good", _entry())
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    assert _lb("show", "--results", results, "--out", results / inside) == 2
    err = capsys.readouterr().err
    assert "--out: expected a folder outside the entries it renders" in err and err.count("\n") == 1
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before
    # the default (no --out) writes beside the entries, as documented
    assert _lb("show", "--results", results, "--no-paper") == 0
    assert (results / "leaderboard.md").is_file() and (results / lb.SHOW_MARKER).is_file()


def test_show_checks_the_destination_before_asking_the_hub(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(lb, "collect_rows", lambda *a, **k: calls.append(a) or [])
    site = tmp_path / "site"
    site.mkdir()
    (site / "mapping.csv").write_text("mine")
    assert _lb("show", "--results", tmp_path / "LB", "--out", site, "--dataset-repo", "user/x") == 2
    assert calls == [] and "mapping.csv: expected a file euromine leaderboard show wrote" in capsys.readouterr().err


# ---- item 2: local entries checked again ---------------------------------------------------------


def _csv(site: Path, task: str) -> dict[str, dict[str, str]]:
    return {r["model"]: r for r in csv.DictReader(io.StringIO((site / f"{task}.csv").read_text()))}


def test_show_lists_edited_entries_apart_with_their_reasons(tmp_path, capsys):
    results, site = tmp_path / "LB", tmp_path / "site"
    _write(results, "mapping", "good", _entry())
    _write(results, "change_detection", "cd", _entry(model="CD", task="change_detection", hub_task_id="change-detection",
                                                     scores={"OF1": 0.3, "F1_interval_1": 0.2}))
    bad = {
        "archive-str": (_entry(model="ArchStr", archive="zzz"), "field 'archive': expected an object with synthetic"),
        "wrong-task": (_entry(model="WrongTask", task="change_detection", scores={"OF1": 0.99}),
                       "field 'task': expected 'mapping' (the folder it is in), found 'change_detection'"),
        "wrong-hub-id": (_entry(model="WrongHubId", hub_task_id="change-detection"),
                         "field 'hub_task_id': expected 'multitemporal-mapping', found 'change-detection'"),
        "synthetic-no": (_entry(model="SynNo", archive={"synthetic": "no", "name": "a"}), "field 'archive'"),
        "js-repo": (_entry(model="JS", model_repo="javascript:alert(1)//x"), "field 'model_repo': expected a Hub model id"),
        "f2030": (_entry(model="F2030", scores={"OF1": 0.5, "F1_2030": 0.4}), "field 'scores': expected only mapping columns"),
        "authors": (_entry(model="Authors", authors="me"), "field 'authors': expected a list"),
        "description": (_entry(model="Descr", description=5), "field 'description': expected a string"),
        "links": (_entry(model="Links", links=["javascript:x"]), "field 'links': expected a list"),
        "format": (_entry(model="Format", format="other/1"), "field 'format': expected 'euromine-leaderboard-result/1'"),
        "sha": (_entry(model="Sha", submission_sha256="abc"), "field 'submission_sha256'"),
        "split": (_entry(model="Split", split="validation"), "field 'split': expected 'test'"),
    }
    names = {"empty": "", "long": "x" * 5000, "rlo": "evil\u202egpj.exe", "newline": "two\nlines"}
    for name, (entry, _) in bad.items():
        _write(results, "mapping", name, entry)
    for name, model in names.items():
        _write(results, "mapping", name, _entry(model=model))
    _write(results, "mapping", "broken", "{nope")
    _write(results, "mapping", "list", "[1, 2]")
    capsys.readouterr()
    assert _lb("show", "--results", results, "--out", site, "--no-paper") == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "\u202e" not in out and "x" * 101 not in out

    rows = _csv(site, "mapping")
    assert [m for m, r in rows.items() if r["rank"]] == ["Good"] and rows["Good"]["rank"] == "1"
    for name, (entry, reason) in bad.items():
        row = rows[entry["model"]]
        assert row["rank"] == "" and f"entries/mapping/{name}.json: {reason}" in row["problems"], (name, row["problems"])
    for name in names:  # a name submit refuses is never shown: the file stands for it
        row = rows[f"entries/mapping/{name}.json"]
        assert row["rank"] == "" and "field 'model': expected a string of 1-100 printable characters" in row["problems"]
    assert "expected JSON in UTF-8" in rows["entries/mapping/broken.json"]["problems"]
    assert "expected a JSON object, found list" in rows["entries/mapping/list.json"]["problems"]
    assert rows["JS"]["model_repo"] == "" and "javascript" not in rows["JS"]["links"]
    assert rows["SynNo"]["data"] == "archive: a" and rows["ArchStr"]["data"] == "archive: ?"
    assert [m for m, r in _csv(site, "change_detection").items() if r["rank"]] == ["CD"]  # WrongTask stays out of it

    md = (site / "leaderboard.md").read_text()
    ranked, apart = md.split("### Not ranked")
    assert "WrongTask" not in ranked and "WrongTask" in apart and "as trustworthy as the results folder" in md
    page = (site / "index.html").read_text()
    board, rejected = page.split('id="rejected-mapping"')
    assert 'data-model="Good"' in board and 'data-model="JS"' not in board and 'data-model="JS"' in rejected
    assert "javascript:" not in board and "as trustworthy as the results folder" in page


def test_entries_in_a_folder_naming_no_task_are_left_out_with_a_warning(tmp_path):
    results = tmp_path / "LB"
    _write(results, "mapping", "good", _entry())
    _write(results, "notes", "x", _entry(model="Stray"))
    with pytest.warns(lb.EntryWarning, match=r"entries/notes/x\.json: folder 'notes': expected one of"):
        rows = lb.collect_rows(results, paper=False)
    assert [r["model"] for r in rows] == ["Good"]


def test_rows_from_entries_checks_a_programs_entries_too():
    (good, bad) = lb.rows_from_entries([_entry(), _entry(model="B", archive="zzz", model_repo="javascript:x")])
    assert good["problems"] == [] and good["data"] == "synthetic: arch" and good["model_repo"] == "user/good"
    unformatted = {k: v for k, v in _entry().items() if k != "format"}  # a program's dict is an entry by its call
    assert lb.rows_from_entries([unformatted])[0]["problems"] == []
    assert bad["model_repo"] is None and bad["data"] == "archive: ?"
    assert any("field 'archive'" in p for p in bad["problems"]) and any("field 'model_repo'" in p for p in bad["problems"])
    with pytest.warns(lb.EntryWarning, match="field 'task'"):
        assert lb.rows_from_entries([_entry(task="multitemporal-mapping")]) == []


def test_submit_refuses_names_that_reorder_or_hide_text():
    from euromine_hf.hub.leaderboard.submission import SubmissionError, check_meta_fields

    for bad in ("evil\u202egpj.exe", "zero\u200bwidth", "a\u2066b", "bom\ufeff", "c1\x85"):
        problems: list[str] = []
        check_meta_fields({"model": bad, "task": "mapping", "authors": ["ok", bad]}, "W", None, problems)
        assert [p.split(":")[1] for p in problems] == [" field 'model'", " field 'authors'"], bad
    problems = []
    check_meta_fields({"model": "Ünïcødé – ok", "task": "mapping", "authors": ["Zoë Ø"]}, "W", None, problems)
    assert problems == []
    assert "x\\u202ey" in str(SubmissionError("r", ["x\u202ey"]))
