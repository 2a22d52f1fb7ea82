"""``validate_submission`` (``euromine_hf.hub.leaderboard.validation`` and the modules it calls: ``submission``,
``listing``, ``headers``): every problem of a submission at once, each once, nothing written, nothing read
before the names, counts, sizes and headers passed. The mutation group ``leaderboard-validation``
(``tests/mutation.py``) runs this file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from _leaderboard_fixtures import board_archive, copy_sub, split_sites, subs  # noqa: F401  (board_archive, subs: session fixtures)
from euromine_hf.cli import main, user_error_message
from euromine_hf.hub import leaderboard as lb
from euromine_hf.hub.leaderboard import validation


def _lb(*argv) -> int:
    return main(["leaderboard", *[str(a) for a in argv]])


def test_every_structural_problem_is_reported_at_once_and_nothing_written(board_archive, subs, tmp_path, capsys):  # noqa: F811
    test_sites, other_sites = split_sites(board_archive)
    site = test_sites[0].name
    bad = copy_sub(subs, "map_patches", tmp_path / "bad")
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
    assert _lb("submit", bad, "--archive", board_archive, "--results", results) == 2
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
def test_patch_number_bound_is_exact(board_archive, subs, tmp_path, extra):  # noqa: F811
    """A site with n patches takes Patch0..Patch{n-1}: Patch{n-1} is valid, Patch{n} and Patch{n+1} are not
    (checked at the bound itself, on the test site with the most patches)."""
    site = max(split_sites(board_archive)[0], key=lambda s: s.num_patches)
    n = site.num_patches
    assert n >= 2
    folder = copy_sub(subs, "map_patches", tmp_path / "sub")
    year_dir = folder / site.name / "2016"
    assert sorted(p.name for p in year_dir.iterdir()) == sorted(f"Patch{k}.npy" for k in range(n))
    number = {"n-1": n - 1, "n": n, "n+1": n + 1}[extra]
    np.save(year_dir / f"Patch{number}.npy", np.zeros((160, 160), np.uint8))  # n-1 rewrites a valid patch
    if extra == "n-1":
        assert lb.validate_submission(folder, board_archive).task.name == "mapping"
        return
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(folder, board_archive)
    assert any(
        f"{year_dir / f'Patch{number}.npy'}: patch number: expected 0..{n - 1} ({n} patches of {site.name}), found {number}" in p
        for p in info.value.problems
    ), info.value.problems
    # a missing last patch is named as such
    (year_dir / f"Patch{number}.npy").unlink()
    (year_dir / f"Patch{n - 1}.npy").unlink()
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(folder, board_archive)
    assert any(f"expected Patch0..Patch{n - 1}, missing {n - 1}" in p for p in info.value.problems), info.value.problems


def test_pixel_problems_are_all_reported_after_the_headers_pass(board_archive, subs, tmp_path, capsys):  # noqa: F811
    site = split_sites(board_archive)[0][0].name
    bad = copy_sub(subs, "map_patches", tmp_path / "bad")
    np.save(bad / site / "2015" / "Patch0.npy", np.full((160, 160), 2, np.uint8))  # values {2}
    np.save(bad / site / "2016" / "Patch1.npy", np.full((160, 160), 1, np.uint8))
    data = (bad / site / "2016" / "Patch1.npy").read_bytes()
    (bad / site / "2016" / "Patch1.npy").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, board_archive)
    problems = info.value.problems
    assert len(problems) == 2
    assert "label values: expected only {0, 255} (or only {0, 1}), found [2]" in problems[0]
    assert "Patch1.npy: file: expected a complete .npy array" in problems[1]
    assert _lb("submit", bad, "--archive", board_archive, "--results", tmp_path / "board") == 2
    assert not (tmp_path / "board").exists()


def test_wrong_task_missing_metadata_and_incomplete_change_pairs(board_archive, subs, tmp_path):  # noqa: F811
    site = split_sites(board_archive)[0][0].name
    with pytest.raises(lb.SubmissionError, match="field 'task': expected 'change_detection'"):
        lb.validate_submission(subs / "map_good", board_archive, task="change_detection")
    bad = copy_sub(subs, "cd_good", tmp_path / "cd")
    (bad / site / "Change2015_2016.tif").unlink()
    (bad / site / "Change2016_2015.tif").write_bytes(b"")  # pairs go forward in time
    (bad / "submission.json").unlink()
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, board_archive, task="change_detection")
    text = str(info.value)
    assert "submission.json: file: expected submission.json" in text
    assert "year pairs: expected every site and year pair (45), missing 2015-2016" in text
    assert "Change2016_2015.tif: year pair: expected Y1 < Y2" in text


def test_file_count_is_bounded_before_anything_is_read(board_archive, subs, tmp_path, monkeypatch):  # noqa: F811
    site = split_sites(board_archive)[0][0].name
    bad = copy_sub(subs, "map_good", tmp_path / "many")
    junk = bad / site / "2015"
    junk.mkdir()
    for i in range(3000):
        (junk / f"x{i}").write_bytes(b"")
    opened = []
    monkeypatch.setattr(validation, "header_problem", lambda path, *a: opened.append(path))  # what validate_submission calls
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(bad, board_archive)
    assert any("file count: expected at most" in p for p in info.value.problems)
    assert opened == []  # no header was opened, let alone pixels


def test_cli_prints_each_problem_on_its_own_line():
    err = lb.SubmissionError("sub", ["a: first", "b: second\nwith a newline"])
    assert user_error_message(err) == "sub: submission rejected, 2 problems (format: euromine leaderboard format)\n  - a: first\n  - b: second with a newline"
    assert user_error_message(ValueError("x\ny")) == "x y"  # plain errors stay one line


def test_submitted_file_names_cannot_reach_the_terminal_raw(board_archive, subs, tmp_path, capsys):  # noqa: F811
    bad = copy_sub(subs, "map_good", tmp_path / "names")
    (bad / "evil\x1b[31mred").write_text("x")
    assert _lb("submit", bad, "--archive", board_archive, "--results", tmp_path / "board") == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "evil\\x1b[31mred: unexpected file" in err


def test_a_problem_found_in_every_file_of_a_folder_is_listed_once(board_archive, subs, tmp_path):  # noqa: F811
    import subprocess
    import sys

    _, other_sites = split_sites(board_archive)
    bad = copy_sub(subs, "map_good", tmp_path / "bad")
    shutil.copytree(bad / next(p.name for p in bad.iterdir() if p.is_dir()), bad / other_sites[0].name)  # 10 Year*.tif
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    env.pop("EUROMINE_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "euromine_hf.cli", "leaderboard", "submit", str(bad), "--archive", str(board_archive),
                           "--results", str(tmp_path / "board")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"euromine leaderboard: error: {bad}: submission rejected, 1 problem ")
    assert len(lines) == 2 and lines[1].startswith(f"  - {bad / other_sites[0].name}: site folder: expected a test site"), lines
    assert not (tmp_path / "board").exists()
    assert lb.SubmissionError("s", ["a: x", "a: x", "b: y"]).problems == ["a: x", "b: y"]

