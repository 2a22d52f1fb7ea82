"""``owned_outputs``: a report writer replaces only files it listed (unchanged since), never writes in,
over or around what it reads, and a whole-folder tool uses only empty folders or its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from euromine_hf import owned_outputs as oo


def test_only_listed_unchanged_files_may_be_replaced(tmp_path):
    out = tmp_path / "out"
    oo.check(out, "evaluate", ["a.md", "maps/x.png"])  # a new folder: nothing to keep
    (out / "maps").mkdir(parents=True)
    (out / "a.md").write_text("mine")
    with pytest.raises(oo.OutputConflictError, match=r"a.md: expected a file euromine evaluate wrote, found a file it "
                                                     r"did not write \(not listed in .euromine-evaluate.outputs.json\)"):
        oo.check(out, "evaluate", ["a.md"])
    (out / "maps" / "x.png").write_bytes(b"png")
    oo.record(out, "evaluate", [out / "a.md", "maps/x.png"])
    oo.check(out, "evaluate", ["a.md", "maps/x.png", "b.md"])
    assert set(json.loads(oo.marker_path(out, "evaluate").read_text())["files"]) == {"a.md", "maps/x.png"}
    (out / "maps" / "x.png").write_bytes(b"edited")
    with pytest.raises(oo.OutputConflictError, match=r"x.png: .* found a file changed since it wrote it"):
        oo.check(out, "evaluate", ["maps/x.png"])
    with pytest.raises(oo.OutputConflictError, match="not listed"):  # another tool's marker lists nothing of ours
        oo.check(out, "benchmark", ["a.md"])
    (out / "sub").mkdir()
    with pytest.raises(oo.OutputConflictError, match="found a folder"):
        oo.check(out, "evaluate", ["sub"])


def test_a_damaged_or_foreign_marker_is_not_taken_as_ours(tmp_path):
    (tmp_path / "a.md").write_text("x")
    oo.marker_path(tmp_path, "evaluate").write_text(json.dumps({"format": "other", "files": {"a.md": "0"}}))
    with pytest.raises(oo.OutputConflictError, match="expected the marker euromine evaluate keeps"):
        oo.check(tmp_path, "evaluate", ["a.md"])
    with pytest.raises(ValueError, match="tool name"):
        oo.marker_path(tmp_path, "../x")


def test_outputs_stay_apart_from_what_is_read(tmp_path):
    archive = tmp_path / "archive"
    (archive / "site").mkdir(parents=True)
    for out, relation in ((archive, "is"), (archive / "site" / "x", "lies inside"), (tmp_path, "contains")):
        with pytest.raises(oo.OutputConflictError, match=f"--output: expected a folder apart from {archive} .* that {relation} it"):
            oo.check(out, "evaluate", [], reads=[archive], option="--output")
    oo.check(tmp_path / "elsewhere", "evaluate", [], reads=[archive, None])
    (tmp_path / "f").write_text("x")
    with pytest.raises(oo.OutputConflictError, match="f: out: expected a folder, found a file"):
        oo.check_folder(tmp_path / "f", "train", option="out")


def test_a_whole_folder_is_claimed_only_when_empty_or_already_the_tools(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(oo.OutputConflictError, match=r"busy: run: expected a new or empty folder.*holding 'notes.txt'"):
        oo.claim_folder(busy, "train", option="run")
    assert not oo.marker_path(busy, "train").exists()
    claim = oo.claim_folder(tmp_path / "a" / "b", "train")
    assert oo.owns_folder(tmp_path / "a" / "b", "train")
    (tmp_path / "a" / "b" / "model").mkdir()
    again = oo.claim_folder(tmp_path / "a" / "b", "train")  # a rerun: its own folder, not re-marked
    assert not again.marked
    again.release()  # holds more than the marker: kept
    assert (tmp_path / "a" / "b" / "model").is_dir() and oo.owns_folder(tmp_path / "a" / "b", "train")
    (tmp_path / "a" / "b" / "model").rmdir()
    claim.release()  # only the marker: removed, with the folders the claim created
    assert not (tmp_path / "a").exists()
    # another process's marker being written (io.atomic_path's temporary) does not make the folder busy
    racing = tmp_path / "racing"
    racing.mkdir()
    (racing / f".{oo.marker_path(racing, 'train').name}.k3j2.tmp.json").write_text("{}")
    oo.check_folder(racing, "train")


def test_record_takes_paths_relative_to_the_working_folder_as_writers_return_them(tmp_path, monkeypatch):
    """``write_tables(Path("outputs/evaluate"), ...)`` returns ``outputs/evaluate/table4.md``: recorded
    once, not looked up as ``outputs/evaluate/outputs/evaluate/table4.md``."""
    monkeypatch.chdir(tmp_path)
    out = Path("outputs") / "evaluate"
    out.mkdir(parents=True)
    (out / "t.md").write_text("table")
    oo.record(out, "evaluate", [out / "t.md", "t.md"])
    assert set(json.loads(oo.marker_path(out, "evaluate").read_text())["files"]) == {"t.md"}


def test_train_accepts_a_folder_holding_only_trainer_checkpoints_to_resume_from(tmp_path):
    """A checkpoint-N copied into a new --output_dir is train.py's own by its format; anything beside it,
    or a checkpoint-N without trainer_state.json, is not."""
    from euromine_hf.training.run import is_trainer_checkpoint

    out = tmp_path / "resumed"
    (out / "checkpoint-2").mkdir(parents=True)
    with pytest.raises(oo.OutputConflictError, match="found one holding 'checkpoint-2'"):
        oo.check_folder(out, "train", recognised=is_trainer_checkpoint)
    (out / "checkpoint-2" / "trainer_state.json").write_text("{}")
    oo.claim_folder(out, "train", recognised=is_trainer_checkpoint)
    assert oo.owns_folder(out, "train")
    (tmp_path / "other" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "other" / "checkpoint-3" / "trainer_state.json").write_text("{}")
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(oo.OutputConflictError, match="found one holding 'notes.txt'"):
        oo.check_folder(tmp_path / "other", "train", recognised=is_trainer_checkpoint)


def test_stats_and_build_never_write_into_the_archive_and_stats_keeps_files_it_did_not_write(tmp_path, capsys):
    """``euromine stats --out`` and ``euromine build CACHE`` wrote into the archive they read; stats replaced
    a user's statistics.md."""
    from euromine_hf.cli import main
    from euromine_hf.data.synthetic import SyntheticConfig, generate_archive

    archive = tmp_path / "archive"
    generate_archive(archive, SyntheticConfig(num_sites=3, min_size=64, max_size=80, years=(2015, 2016)))
    before = sorted(p.relative_to(archive) for p in archive.rglob("*"))
    for argv in (["stats", str(archive), "--out", str(archive / "stats"), "--quiet"],
                 ["build", str(archive), str(archive), "--configs", "mapping"],
                 ["build", str(archive), str(archive / "cache"), "--configs", "mapping"]):
        assert main(argv) == 2
        assert "expected a folder apart from" in capsys.readouterr().err
    assert sorted(p.relative_to(archive) for p in archive.rglob("*")) == before
    out = tmp_path / "stats"
    out.mkdir()
    (out / "statistics.md").write_text("mine")
    assert main(["stats", str(archive), "--out", str(out), "--quiet", "--no-plots", "--years", "2015", "2016"]) == 2
    assert "statistics.md: expected a file euromine stats wrote, found a file it did not write" in capsys.readouterr().err
    assert (out / "statistics.md").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == ["statistics.md"]
    (out / "statistics.md").unlink()
    for _ in range(2):  # a rerun replaces its own files
        assert main(["stats", str(archive), "--out", str(out), "--quiet", "--no-plots", "--years", "2015", "2016"]) == 0
