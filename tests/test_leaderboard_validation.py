"""``validate_submission`` (``euromine_hf.hub.leaderboard.validation`` and the modules it calls: ``submission``,
``listing``, ``headers``): every problem of a submission at once, each once, nothing written, nothing read
before the names, counts, sizes and headers passed. The mutation group ``leaderboard-validation``
(``tests/mutation.py``) runs this file."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from _leaderboard_fixtures import board_archive, copy_sub, split_sites, subs  # noqa: F401  (board_archive, subs: session fixtures)
from euromine_hf.cli import main, user_error_message
from euromine_hf.hub import leaderboard as lb
from euromine_hf.hub.leaderboard import validation


def _lb(*argv) -> int:
    return main(["leaderboard", *[str(a) for a in argv]])


# ---- submission.json and --model metadata: every field at its bounds, every message ---------------


def _meta_problems(meta, task=None):
    from euromine_hf.hub.leaderboard.submission import check_meta_fields

    problems: list[str] = []
    assert check_meta_fields(meta, "W", task, problems) is meta
    return problems


def test_metadata_fields_at_their_bounds():
    ok = {"model": "m", "task": "mapping"}
    assert _meta_problems(dict(ok)) == []
    assert _meta_problems({"model": "m" * 100, "task": "change_detection", "description": "d" * 2000}) == []
    assert _meta_problems({"model": "m" * 101, "task": "mapping"}) == [
        f"W: field 'model': expected a string of 1-100 printable characters, found {'m' * 101!r:.80}"]
    assert _meta_problems({**ok, "description": "d" * 2001}) == [
        f"W: field 'description': expected a string of 1-2000 printable characters, found {'d' * 2001!r:.80}"]
    for bad in ("", "  ", 7, "a\x1bb", "a\nb"):
        assert _meta_problems({"model": bad, "task": "mapping"}) == [
            f"W: field 'model': expected a string of 1-100 printable characters, found {bad!r:.80}"], bad
    assert _meta_problems({**ok, "description": "two\nlines"}) == []  # a newline is allowed in the description only
    assert _meta_problems({**ok, "description": "a\x1bb"}) != []
    assert _meta_problems({"task": "mapping"}) == ["W: field 'model': expected a non-empty string, found nothing"]
    assert _meta_problems({**ok, "description": None}) == []  # optional fields may be absent


def test_metadata_task_and_repo_rules():
    assert _meta_problems({"model": "m", "task": "multitemporal-mapping"}, task="mapping") == []  # a Hub task id
    assert _meta_problems({"model": "m"}) == ["W: field 'task': expected one of ['change_detection', 'mapping'], found None"]
    assert _meta_problems({"model": "m", "task": "maps"}) == ["W: field 'task': expected one of ['change_detection', 'mapping'], found 'maps'"]
    assert _meta_problems({"model": "m", "task": "mapping"}, task="change_detection") == [
        "W: field 'task': expected 'change_detection' (as --task says), found 'mapping'"]
    assert _meta_problems({"model": "m", "task": "change-detection"}, task="change_detection") == []
    for repo in ("user/model", "a/b", "A.b-c_d/x.y-z_0"):
        assert _meta_problems({"model": "m", "task": "mapping", "model_repo": repo}) == [], repo
    for repo in ("user", "user/a/b", "us..er/x", "user/../x", "/x", "user/", 5, "u" * 97 + "/x"):
        assert _meta_problems({"model": "m", "task": "mapping", "model_repo": repo}) == [
            f"W: field 'model_repo': expected a Hub model id NAMESPACE/NAME, found {repo!r:.80}"], repo
    assert _meta_problems({"model": "m", "task": "mapping", "model_repo": "u" * 96 + "/" + "x" * 96}) == []
    assert _meta_problems({"model": "m", "task": "mapping", "colour": 1, "backup": 2}) == [
        "W: field 'backup': expected only ['authors', 'description', 'license', 'links', 'model', 'model_repo', 'task']",
        "W: field 'colour': expected only ['authors', 'description', 'license', 'links', 'model', 'model_repo', 'task']"]


def test_metadata_license_is_a_hub_license_id_other_than_other():
    ok = {"model": "m", "task": "mapping"}
    for licence in ("cc-by-4.0", "apache-2.0", "unknown"):
        assert _meta_problems({**ok, "license": licence}) == [], licence
    for licence in ("other", "MIT", "cc by 4.0", 5, ""):
        assert _meta_problems({**ok, "license": licence}) == [
            "W: field 'license': expected a Hub license id such as apache-2.0 or cc-by-4.0 (not 'other', which needs a "
            f"name and a link), found {licence!r:.80}"], licence


def test_metadata_authors_and_links_at_their_bounds():
    ok = {"model": "m", "task": "mapping"}
    what = {"authors": "names of 1-100 printable characters", "links": "http(s) URLs without spaces or quotes"}
    good = {"authors": "a" * 100, "links": "https://example.org/" + "x" * 480}
    assert len(good["links"]) == 500
    for key, item in good.items():
        assert _meta_problems({**ok, key: [item] * 20}) == [], key
        assert _meta_problems({**ok, key: []}) == [], key
        for bad in ([item] * 21, item, [item, 3], [item + "x"]):
            assert _meta_problems({**ok, key: bad}) == [f"W: field {key!r}: expected a list of at most 20 {what[key]}, found {bad!r:.80}"], (key, bad)
    for bad in ("", "a\x07b"):
        assert _meta_problems({**ok, "authors": [bad]}) != [], bad
    for link in ("http://x.org", "https://x.org/a?b=c#d"):
        assert _meta_problems({**ok, "links": [link]}) == [], link
    for link in ("ftp://x.org", "https://x.org/a b", "https://x.org/\"", "https://x.org/<", "javascript:alert(1)", " https://x.org"):
        assert _meta_problems({**ok, "links": [link]}) != [], link


def test_submission_json_is_read_with_its_size_bound(tmp_path):
    from euromine_hf.hub.leaderboard.submission import MAX_SUBMISSION_JSON_BYTES, check_meta

    path = tmp_path / "submission.json"
    body = json.dumps({"model": "m", "task": "mapping"})
    for size in (MAX_SUBMISSION_JSON_BYTES - 1, MAX_SUBMISSION_JSON_BYTES):
        path.write_text(body + " " * (size - len(body)))
        problems: list[str] = []
        assert check_meta(path, path.stat().st_size, None, problems) == {"model": "m", "task": "mapping"} and problems == []
    problems = []
    assert check_meta(path, MAX_SUBMISSION_JSON_BYTES + 1, None, problems) == {}
    assert problems == [f"{path}: size: expected at most {MAX_SUBMISSION_JSON_BYTES} bytes, found {MAX_SUBMISSION_JSON_BYTES + 1}"]
    for content, found in ((b"{nope", "JSONDecodeError"), (b"\xff\xfe", "UnicodeDecodeError")):
        path.write_bytes(content)
        problems = []
        assert check_meta(path, len(content), None, problems) == {}
        assert len(problems) == 1 and problems[0].startswith(f"{path}: content: expected a JSON object in UTF-8, found {found}: "), problems
    path.write_text("[1]")
    problems = []
    assert check_meta(path, 3, None, problems) == {} and problems == [f"{path}: content: expected a JSON object, found list"]
    path.write_text(json.dumps({"model": "m", "task": "mapping", "x": 1}))
    problems = []
    assert check_meta(path, 10, "mapping", problems)["x"] == 1
    assert problems == [f"{path}: field 'x': expected only ['authors', 'description', 'license', 'links', 'model', 'model_repo', 'task']"]


# ---- SubmissionError ---------------------------------------------------------------------------------


def test_submission_error_lists_at_most_the_bound_and_counts_all():
    from euromine_hf.hub.leaderboard.submission import MAX_LISTED_PROBLEMS

    assert MAX_LISTED_PROBLEMS == 200
    one = lb.SubmissionError("s", ["a: x"])
    assert one.headline == "s: submission rejected, 1 problem (format: euromine leaderboard format)"
    assert str(one) == one.headline + "\n  - a: x" and one.problems == ["a: x"] and one.root == Path("s")
    assert isinstance(one, ValueError)
    assert str(lb.SubmissionError("s", ["a: x", "b: y"])) == (
        "s: submission rejected, 2 problems (format: euromine leaderboard format)\n  - a: x\n  - b: y")
    for n in (MAX_LISTED_PROBLEMS - 1, MAX_LISTED_PROBLEMS):
        err = lb.SubmissionError("s", [f"p{i}" for i in range(n)])
        assert err.problems == [f"p{i}" for i in range(n)] and err.headline == f"s: submission rejected, {n} problems (format: euromine leaderboard format)"
    err = lb.SubmissionError("s", [f"p{i}" for i in range(MAX_LISTED_PROBLEMS + 1)])
    assert err.problems == [f"p{i}" for i in range(MAX_LISTED_PROBLEMS)] + ["... and 1 more problems"]
    assert err.headline.startswith(f"s: submission rejected, {MAX_LISTED_PROBLEMS + 1} problems")
    assert str(err).splitlines()[-1] == "  - ... and 1 more problems"
    # control characters of submitted names are shown escaped; line breaks and tabs become one space
    assert lb.SubmissionError("s", ["a\x1b[31m\x7fb", "c\n\r\td", "e\x00"]).problems == ["a\\x1b[31m\\x7fb", "c d", "e\\x00"]
    assert lb.SubmissionError("s", ["a", "a"]).headline.startswith("s: submission rejected, 1 problem ")


# ---- the bounded listing -------------------------------------------------------------------------------


def test_listing_bound_is_exact_and_nothing_past_it_is_listed(tmp_path):
    from euromine_hf.hub.leaderboard.listing import list_files

    (tmp_path / "a").mkdir()
    for name in ("a/x", "a/y", "z"):
        (tmp_path / name).write_bytes(b"12")
    for bound in (4, 5):  # a, a/x, a/y, z: four entries
        problems: list[str] = []
        assert sorted(list_files(tmp_path, bound, problems)) == [(("a", "x"), 2), (("a", "y"), 2), (("z",), 2)] and problems == []
    problems = []
    listed = list_files(tmp_path, 3, problems)
    assert problems == [f"{tmp_path}: file count: expected at most 3 files and folders for this task's test sites, found more (listing stopped)"]
    assert len(listed) < 3


def test_listing_refuses_links_deep_folders_and_special_files(tmp_path):
    from euromine_hf.hub.leaderboard.listing import list_files

    (tmp_path / "s" / "k").mkdir(parents=True)
    (tmp_path / "s" / "k" / "Patch0.npy").write_bytes(b"123")
    (tmp_path / "s" / "k" / "deep").mkdir()  # SITE/KEY/x: the layouts stop there
    (tmp_path / "s" / "k" / "deep" / "hidden").write_bytes(b"")
    os.symlink(tmp_path / "s", tmp_path / "link")
    os.symlink("/nowhere", tmp_path / "s" / "dangling")
    os.mkfifo(tmp_path / "s" / "pipe")
    problems: list[str] = []
    assert list_files(tmp_path, 100, problems) == [(("s", "k", "Patch0.npy"), 3)]
    mode = stat.filemode(os.lstat(tmp_path / "s" / "pipe").st_mode)
    assert mode.startswith("p") and sorted(problems) == sorted([
        f"{tmp_path / 'link'}: symlink: expected regular files and folders only (no links in a submission)",
        f"{tmp_path / 's' / 'dangling'}: symlink: expected regular files and folders only (no links in a submission)",
        f"{tmp_path / 's' / 'k' / 'deep'}: unexpected folder (the layouts are at most SITE/KEY/PatchN deep)",
        f"{tmp_path / 's' / 'pipe'}: file type: expected a regular file, found {mode}",
    ])
    problems = []
    assert list_files(tmp_path / "s" / "k" / "Patch0.npy", 10, problems) == []
    assert problems == [f"{tmp_path / 's' / 'k' / 'Patch0.npy'}: folder: expected a readable folder, found NotADirectoryError: "
                        f"[Errno 20] Not a directory: '{tmp_path / 's' / 'k' / 'Patch0.npy'}'"]


def test_an_unreadable_folder_is_a_problem_and_the_walk_goes_on(tmp_path, monkeypatch):
    from euromine_hf.hub.leaderboard.listing import list_files

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_bytes(b"1")
    scandir = os.scandir

    def refusing(folder):  # root reads any folder, so the refusal is simulated
        if Path(folder) == tmp_path / "b":
            raise PermissionError(13, "Permission denied", str(folder))
        return scandir(folder)

    monkeypatch.setattr(os, "scandir", refusing)
    problems: list[str] = []
    assert sorted(list_files(tmp_path, 100, problems)) == [(("a", "f"), 1), (("c", "f"), 1)]
    assert problems == [f"{tmp_path / 'b'}: folder: expected a readable folder, found PermissionError: [Errno 13] Permission denied: '{tmp_path / 'b'}'"]


# ---- one file judged by its header ---------------------------------------------------------------------


class _Site:
    """The fields of a SiteRecord that header checks read."""

    def __init__(self, name="S", height=181, width=170, size_known=True):
        self.name, self.height, self.width, self.size_known = name, height, width, size_known
        self.crs, self.transform = None, None


def _npy_with_size(path: Path, size: int, shape=(160, 160), dtype=np.uint8) -> int:
    np.save(path, np.zeros(shape, dtype))
    data = path.read_bytes()
    assert len(data) <= size
    path.write_bytes(data + b"\0" * (size - len(data)))
    return size


def _png(path: Path, shape=(160, 160), pad: int = 0) -> int:
    from PIL import Image

    Image.fromarray(np.zeros(shape, np.uint8)).save(path)
    if pad:
        path.write_bytes(path.read_bytes() + b"\0" * pad)
    return path.stat().st_size


def test_npy_header_checks_and_their_size_bound(tmp_path):
    from euromine_hf.hub.leaderboard.headers import MAX_PATCH_NPY_BYTES, header_problem

    assert MAX_PATCH_NPY_BYTES == 160 * 160 * 8 + 4096
    path = tmp_path / "Patch0.npy"
    for size in (MAX_PATCH_NPY_BYTES - 1, MAX_PATCH_NPY_BYTES):
        assert header_problem(path, "npy", _npy_with_size(path, size), _Site()) is None
    assert header_problem(path, "npy", MAX_PATCH_NPY_BYTES + 1, _Site()) == (
        f"{path}: size: expected at most {MAX_PATCH_NPY_BYTES} bytes for a 160x160 patch, found {MAX_PATCH_NPY_BYTES + 1}")
    for dtype in (np.bool_, np.int8, np.uint16, np.int64):
        np.save(path, np.zeros((160, 160), dtype))
        assert header_problem(path, "npy", 100, _Site()) is None, dtype
    for dtype in (np.float32, np.complex64):
        np.save(path, np.zeros((160, 160), dtype))
        assert header_problem(path, "npy", 100, _Site()) == (
            f"{path}: dtype: expected integer or bool mask values (no objects, no floats), found {np.dtype(dtype)}")
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert header_problem(path, "npy", 100, _Site()) == f"{path}: dtype: expected integer or bool mask values (no objects, no floats), found object"
    for shape in ((160, 159), (161, 160), (1, 160, 160), (160,)):
        np.save(path, np.zeros(shape, np.uint8))
        assert header_problem(path, "npy", 100, _Site()) == f"{path}: shape: expected (160, 160), found {shape} declared in the header"
    path.write_bytes(b"not numpy")
    assert header_problem(path, "npy", 9, _Site()).startswith(f"{path}: file: expected a .npy file")


def test_png_header_checks_and_their_size_bound(tmp_path):
    from euromine_hf.hub.leaderboard.headers import MAX_PATCH_PNG_BYTES, header_problem

    assert MAX_PATCH_PNG_BYTES == 1024 * 1024
    path = tmp_path / "Patch0.png"
    base = _png(path)
    for size in (MAX_PATCH_PNG_BYTES - 1, MAX_PATCH_PNG_BYTES):
        _png(path, pad=size - base)
        assert header_problem(path, "png", size, _Site()) is None
    assert header_problem(path, "png", MAX_PATCH_PNG_BYTES + 1, _Site()) == (
        f"{path}: size: expected at most {MAX_PATCH_PNG_BYTES} bytes for a 160x160 PNG, found {MAX_PATCH_PNG_BYTES + 1}")
    for shape in ((160, 159), (159, 160), (100, 160)):
        size = _png(path, shape)
        assert header_problem(path, "png", size, _Site()) == f"{path}: shape: expected (160, 160), found {shape} declared in the PNG header"
    path.write_bytes(b"GIF89a" + b"\0" * 40)
    assert header_problem(path, "png", 46, _Site()).startswith(f"{path}: header: expected a PNG file")


def test_raster_header_checks_and_their_size_bound(board_archive, tmp_path, monkeypatch):  # noqa: F811
    from rasterio.transform import Affine

    from euromine_hf.data.geotiff import write_geotiff
    from euromine_hf.hub.leaderboard.headers import TIF_SLACK_BYTES, header_problem

    site = split_sites(board_archive)[0][0]
    h, w = site.height, site.width
    path = tmp_path / "Year2023.tif"
    write_geotiff(path, np.zeros((1, h, w), np.uint8), site.crs, site.transform)
    limit = h * w * 8 + TIF_SLACK_BYTES
    assert TIF_SLACK_BYTES == 1024 * 1024
    assert header_problem(path, "tif", limit, site) is None
    assert header_problem(path, "tif", limit + 1, site) == f"{path}: size: expected at most {limit} bytes for a {h}x{w} mask, found {limit + 1}"
    assert header_problem(path, "tif", 10, _Site("C", size_known=False)) == (
        f"{path}: layout: site C has no known size in this archive; submit 160x160 patches instead")
    write_geotiff(path, np.zeros((2, h, w), np.uint8), site.crs, site.transform)
    assert header_problem(path, "tif", 10, site) == f"{path}: band count: expected 1 band (a mask), found 2"
    write_geotiff(path, np.zeros((1, h, w - 1), np.uint8), site.crs, site.transform)
    assert header_problem(path, "tif", 10, site) == f"{path}: size: expected {h}x{w} like site {site.name}, found {h}x{w - 1}"
    write_geotiff(path, np.zeros((1, h - 1, w), np.uint8), site.crs, site.transform)
    assert header_problem(path, "tif", 10, site) == f"{path}: size: expected {h}x{w} like site {site.name}, found {h - 1}x{w}"
    write_geotiff(path, np.zeros((1, h, w), np.float32), site.crs, site.transform)
    assert header_problem(path, "tif", 10, site) == f"{path}: dtype: expected integer mask values, found float32"
    for dtype in (np.uint8, np.int16, np.uint16):
        write_geotiff(path, np.zeros((1, h, w), dtype), site.crs, site.transform)
        assert header_problem(path, "tif", 10, site) is None, dtype
    # off the site's grid: the problem names the year (or the pair) read from the file name
    moved = Affine.translation(50_000, 0) @ Affine(*site.transform)
    for name, key in (("Year2023.tif", "year 2023"), ("Change2015_2024.tif", "years 2015-2024")):
        write_geotiff(tmp_path / name, np.zeros((1, h, w), np.uint8), site.crs, moved)
        problem = header_problem(tmp_path / name, "tif", 10, site)
        assert problem.startswith(f"{tmp_path / name}: transform: expected") and f"site raster of {site.name} ({key})" in problem, problem
    write_geotiff(path, np.zeros((1, h, w), np.uint8), site.crs, site.transform)
    monkeypatch.setenv("EUROMINE_MAX_PIXELS", str(h * w - 1))  # the pixel limit, from the header
    assert header_problem(path, "tif", 10, site) == (
        f"{path}: size: expected at most {h * w - 1:,} pixels per band (set EUROMINE_MAX_PIXELS to raise the limit), found "
        f"{h}x{w} = {h * w:,} pixels declared in the header")
    monkeypatch.setenv("EUROMINE_MAX_PIXELS", str(h * w))
    assert header_problem(path, "tif", 10, site) is None
    path.write_bytes(b"II*\0junk")
    assert header_problem(path, "tif", 8, site).startswith(f"{path}: file: expected a readable GeoTIFF")


# ---- validate_submission: the folder, the metadata source, the layout, completeness, the digest ----------


def _rejected(folder, archive, **kw) -> list[str]:
    with pytest.raises(lb.SubmissionError) as info:
        lb.validate_submission(folder, archive, **kw)
    return info.value.problems


def test_the_submission_must_be_a_real_folder(board_archive, subs, tmp_path):  # noqa: F811
    (tmp_path / "file").write_text("x")
    os.symlink(subs / "map_good", tmp_path / "link")
    for name, found in (("missing", "no such folder"), ("file", "a file"), ("link", "a link")):
        assert _rejected(tmp_path / name, board_archive) == [f"{tmp_path / name}: submission: expected a folder (not a link), found {found}"]


def test_an_archive_without_test_sites_is_an_archive_error(board_archive, subs, monkeypatch):  # noqa: F811
    from euromine_hf.data import splits
    from euromine_hf.data.archive import ArchiveError

    for result in ({"train": ["x"], "test": []}, {"train": ["x"]}):  # an empty test split, or none at all
        monkeypatch.setattr(splits, "assign_splits", lambda names, scheme, seed=0, result=result: result)
        with pytest.raises(ArchiveError, match=r"sites of split 'test': expected at least one test site, found none"):
            lb.validate_submission(subs / "map_good", board_archive)


def test_the_test_sites_follow_the_split_scheme_and_seed(board_archive, subs, tmp_path):  # noqa: F811
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    names = [s.name for s in scan_archive(board_archive)]
    ours = assign_splits(names, "auto", seed=0)["test"]
    seed = next(k for k in range(1, 50) if assign_splits(names, "auto", seed=k)["test"] != ours)
    theirs = assign_splits(names, "auto", seed=seed)["test"]
    assert [s.name for s in lb.validate_submission(subs / "map_good", board_archive, seed=0).sites] == ours
    problems = _rejected(subs / "map_good", board_archive, seed=seed)
    for name in theirs:
        assert f"{subs / 'map_good' / name}: site folder: expected one for test site {name}, found none" in problems, problems
    with pytest.raises(ValueError, match="official split"):
        lb.validate_submission(subs / "map_good", board_archive, split_scheme="official")


def test_a_valid_submission_and_what_it_records(board_archive, subs, tmp_path):  # noqa: F811
    import hashlib

    test_sites, _ = split_sites(board_archive)
    for name, task in (("map_good", "mapping"), ("map_patches", "mapping"), ("cd_good", "change_detection")):
        folder = copy_sub(subs, name, tmp_path / name)
        submission = lb.validate_submission(folder, board_archive)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "submission.json")
        assert submission.files == files and submission.task is lb.TASKS[task] and submission.root == folder
        assert [s.name for s in submission.sites] == [s.name for s in test_sites] and submission.archive == Path(board_archive)
        assert submission.meta == json.loads((folder / "submission.json").read_text())
        digest = hashlib.sha256()
        for path in sorted(files, key=str):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
        assert submission.sha256 == digest.hexdigest()
        assert lb.validate_submission(folder, board_archive, task=task).sha256 == submission.sha256
        assert lb.validate_submission(folder, board_archive, read_pixels=False).sha256 == submission.sha256
    # pixels are read only with read_pixels (the default): a value of 2 passes the header checks
    folder = copy_sub(subs, "map_patches", tmp_path / "values")
    site = test_sites[0].name
    np.save(folder / site / "2015" / "Patch0.npy", np.full((160, 160), 2, np.uint8))
    assert lb.validate_submission(folder, board_archive, read_pixels=False).task.name == "mapping"
    (problem,) = _rejected(folder, board_archive)
    assert problem.startswith(f"{folder / site / '2015' / 'Patch0.npy'}: label values: expected only")


def test_metadata_comes_from_one_source(board_archive, subs, tmp_path):  # noqa: F811
    folder = copy_sub(subs, "map_good", tmp_path / "sub")
    meta_path = folder / "submission.json"
    given = {"model": "given", "task": "mapping"}
    assert _rejected(folder, board_archive, meta=given) == [
        f"{meta_path}: file: expected no submission.json when --model gives the metadata, found one"]
    meta_path.unlink()
    submission = lb.validate_submission(folder, board_archive, meta=given)
    assert submission.meta == given and submission.meta is not given
    assert _rejected(folder, board_archive, meta={"model": "", "task": "mapping"}) == [
        "--model/--task: field 'model': expected a string of 1-100 printable characters, found ''"]
    assert _rejected(folder, board_archive, task="change_detection", meta=given)[0] == (
        "--model/--task: field 'task': expected 'change_detection' (as --task says), found 'mapping'")
    assert _rejected(folder, board_archive) == [
        f"{meta_path}: file: expected submission.json with model name and task (or --model NAME --task TASK), found no such file"]
    (tmp_path / "elsewhere.json").write_text(json.dumps(given))
    os.symlink(tmp_path / "elsewhere.json", meta_path)  # a linked submission.json is refused, and only as a link
    link = f"{meta_path}: symlink: expected regular files and folders only (no links in a submission)"
    assert _rejected(folder, board_archive) == [link]
    assert _rejected(folder, board_archive, meta=given) == [
        link, f"{meta_path}: file: expected no submission.json when --model gives the metadata, found one"]
    # the task given to the call decides the layout even when submission.json is unusable
    meta_path.unlink()
    meta_path.write_text("{")
    problems = _rejected(folder, board_archive, task="mapping")
    assert len(problems) == 1 and problems[0].startswith(f"{meta_path}: content: expected a JSON object in UTF-8")
    problems = _rejected(folder, board_archive, task="change_detection")
    # read as change detection, the yearly maps are the other task's and every year pair is missing
    assert len(problems) > 1 and all(": year pairs: expected every site and year pair (45), missing 2015-2016, " in p for p in problems[1:]), problems
    # a Hub task id in submission.json names the task too
    meta_path.write_text(json.dumps({"model": "m", "task": "multitemporal-mapping"}))
    assert lb.validate_submission(folder, board_archive).task.name == "mapping"


def test_the_listing_bound_is_exactly_what_the_layouts_can_hold(board_archive, subs, tmp_path, monkeypatch):  # noqa: F811
    """1 (submission.json) + per test site 1 folder + 45 pair folders x (patches + the folder + a raster):
    a listing of exactly that many entries is complete, one more is refused before the layout is looked at."""
    test_sites, _ = split_sites(board_archive)
    bound = 1 + sum(1 + 45 * (s.num_patches + 2) for s in test_sites)
    folder = copy_sub(subs, "map_good", tmp_path / "sub")
    count = sum(1 for _ in folder.rglob("*"))
    junk = folder / test_sites[0].name / "junk"
    junk.mkdir()
    for i in range(bound - count - 1):
        (junk / f"x{i}").write_bytes(b"")
    assert sum(1 for _ in folder.rglob("*")) == bound
    problems = _rejected(folder, board_archive)
    assert not any("file count" in p for p in problems) and any(p.startswith(f"{junk / 'x0'}: unexpected file") for p in problems)
    (junk / "one-more").write_bytes(b"")
    assert _rejected(folder, board_archive) == [
        f"{folder}: file count: expected at most {bound} files and folders for this task's test sites, found more (listing stopped)"]


def test_layout_problems_name_the_file_and_the_rule(board_archive, subs, tmp_path):  # noqa: F811
    from euromine_hf.predict_outputs import PREDICT_MARKER

    test_sites, other_sites = split_sites(board_archive)
    site = test_sites[0]
    folder = copy_sub(subs, "map_good", tmp_path / "sub")
    s = folder / site.name
    years = "[2015, 2016, 2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024]"
    hint = "(expected Year{YYYY}.tif or {YYYY}/Patch{n}.npy|png for mapping)"
    (s / PREDICT_MARKER).write_text("{}")  # predict's marker beside the maps is no prediction
    (s / "Year2019.tif.aux.xml").write_bytes(b"x" * validation.MAX_SIDECAR_BYTES)  # GDAL's side-car of a raster
    (s / "Year2018.tif.AUX.XML").write_bytes(b"x")  # the side-car suffix in any case
    assert lb.validate_submission(folder, board_archive).task.name == "mapping"
    (s / "Year2019.tif.aux.xml").write_bytes(b"x" * (validation.MAX_SIDECAR_BYTES + 1))
    (s / "Change2015_2016.tif.aux.xml").write_bytes(b"x")  # a side-car without its raster
    (folder / PREDICT_MARKER).write_text("{}")  # the marker belongs in a site folder
    (s / "Year2031.tif").write_bytes(b"")
    (s / "Year2019").mkdir()
    (s / "Year2019" / "Patch0.npy").write_bytes(b"")
    (s / "2020").mkdir()
    (s / "2020" / "Patch0.npz").write_bytes(b"")
    (s / "2021").write_bytes(b"")
    (folder / f" {other_sites[0].name}").mkdir()
    (folder / f" {other_sites[0].name}" / "Year2015.tif").write_bytes(b"")
    (folder / other_sites[0].name).mkdir()
    (folder / other_sites[0].name / "Year2015.tif").write_bytes(b"")
    test_names = ", ".join(sorted(t.name for t in test_sites))
    expected = {
        f"{s / 'Year2019.tif.aux.xml'}: unexpected file {hint}",
        f"{s / 'Change2015_2016.tif.aux.xml'}: unexpected file {hint}",
        f"{folder / PREDICT_MARKER}: unexpected file (a submission holds submission.json and one folder per test site)",
        f"{s / 'Year2031.tif'}: year: expected one of {years}, found 2031",
        f"{s / 'Year2019' / 'Patch0.npy'}: unexpected file {hint}",
        f"{s / '2020' / 'Patch0.npz'}: unexpected file {hint}",
        f"{s / '2021'}: unexpected file {hint}",
        f"{folder / repr(' ' + other_sites[0].name)}: site folder: expected a test site ({test_names}), found no site of this archive",
        f"{folder / other_sites[0].name}: site folder: expected a test site ({test_names}), found a {_split_of(board_archive, other_sites[0].name)} site",
    }
    problems = _rejected(folder, board_archive)
    assert expected <= set(problems), sorted(expected - set(problems))
    assert len(problems) == len(expected), sorted(set(problems) - expected)



def _split_of(archive: Path, name: str) -> str:
    from euromine_hf.data.archive import scan_archive
    from euromine_hf.data.splits import assign_splits

    splits = assign_splits([s.name for s in scan_archive(archive)])
    return next(split for split, names in splits.items() if name in names)


def test_completeness_problems_name_the_site_the_key_and_what_is_missing(board_archive, subs, tmp_path):  # noqa: F811
    from itertools import combinations

    test_sites, _ = split_sites(board_archive)
    site = max(test_sites, key=lambda x: x.num_patches)
    n = site.num_patches
    assert n >= 2
    folder = copy_sub(subs, "map_patches", tmp_path / "map")
    s = folder / site.name
    (s / "Year2016.tif").write_bytes(b"")  # a raster beside the 2016 patch folder
    (s / "Year2017.TIF").write_bytes(b"")
    (s / "Year2017.tif").write_bytes(b"")  # two rasters for one year
    shutil.rmtree(s / "2017")
    (s / "2018" / "Patch0.png").write_bytes(b"")  # Patch0 twice (.npy and .png)
    (s / "2018" / "Patch1.PNG").write_bytes(b"")
    (s / "2019" / f"Patch{n - 1}.npy").unlink()
    shutil.rmtree(s / "2020")
    (s / "2020").mkdir()  # an empty year folder
    for p in (s / "2021").iterdir():
        p.unlink()
    np.save(s / "2021" / f"Patch{n}.npy", np.zeros((160, 160), np.uint8))  # only a patch the site does not have
    problems = _rejected(folder, board_archive)
    for expected in (
        f"{s}: 2016: expected either a raster or a patch folder, found both",
        f"{s}: 2017: expected one raster, found Year2017.TIF, Year2017.tif",
        f"{s}/2018: patch files: expected one file per patch, found several for patches 0, 1",
        f"{s}/2019: patch files: expected Patch0..Patch{n - 1}, missing {n - 1}",
        f"{s}: years: expected every site and year (10), missing 2020",
        f"{s / '2021' / f'Patch{n}.npy'}: patch number: expected 0..{n - 1} ({n} patches of {site.name}), found {n}",
        f"{s}: 2021: expected a mask, found an empty folder",
    ):
        assert expected in problems, (expected, problems)
    # a test site without its folder; one whose folder is there but empty lists what is missing
    shutil.rmtree(s)
    assert f"{s}: site folder: expected one for test site {site.name}, found none" in _rejected(folder, board_archive)
    s.mkdir()
    assert f"{s}: years: expected every site and year (10), missing 2015, 2016, 2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024" in (
        _rejected(folder, board_archive))
    # change pairs: 45 keys, the list cut after 12; patch folders named Y1_Y2
    folder = copy_sub(subs, "cd_good", tmp_path / "cd")
    s = folder / site.name
    for y1, y2 in list(combinations(range(2015, 2025), 2))[:12]:
        (s / f"Change{y1}_{y2}.tif").unlink()
    assert f"{s}: year pairs: expected every site and year pair (45), missing 2015-2016, 2015-2017, 2015-2018, 2015-2019, 2015-2020, " \
           "2015-2021, 2015-2022, 2015-2023, 2015-2024, 2016-2017, 2016-2018, 2016-2019" in _rejected(folder, board_archive)  # 12: all shown
    for y1, y2 in list(combinations(range(2015, 2025), 2))[12:14]:  # 2015-2016 comes back as a patch folder below
        (s / f"Change{y1}_{y2}.tif").unlink()
    (s / "2015_2016").mkdir()
    np.save(s / "2015_2016" / "Patch0.npy", np.zeros((160, 160), np.uint8))
    (s / "2015_2016" / "Patch0.png").write_bytes(b"")
    problems = _rejected(folder, board_archive)
    assert f"{s}: year pairs: expected every site and year pair (45), missing 2015-2017, 2015-2018, 2015-2019, 2015-2020, 2015-2021, " \
           "2015-2022, 2015-2023, 2015-2024, 2016-2017, 2016-2018, 2016-2019, 2016-2020 and 1 more" in problems, problems
    assert f"{s}/2015_2016: patch files: expected one file per patch, found several for patches 0" in problems
    assert f"{s}/2015_2016: patch files: expected Patch0..Patch{n - 1}, missing {', '.join(map(str, range(1, n)))}" in problems
    (s / "Change2016_2015.tif").write_bytes(b"")
    (s / "Change2014_2016.tif").write_bytes(b"")
    (s / "2016_2025").mkdir()
    (s / "2016_2025" / "Patch0.npy").write_bytes(b"")
    problems = _rejected(folder, board_archive)
    for name, found in (("Change2016_2015.tif", "2016-2015"), ("Change2014_2016.tif", "2014-2016"), ("2016_2025/Patch0.npy", "2016-2025")):
        assert f"{s / name}: year pair: expected Y1 < Y2, both in 2015-2024, found {found}" in problems, (name, problems)


def test_the_digest_orders_files_by_their_path_text(board_archive, subs, tmp_path, monkeypatch):  # noqa: F811
    """The sha256 covers the files in the order of their relative paths as text: for sites ``S`` and ``S-2``,
    ``S-2/...`` comes before ``S/...`` (``-`` sorts before ``/``), unlike an order by path components."""
    import hashlib

    from euromine_hf.data import splits

    site = split_sites(board_archive)[0][0]
    archive, folder = tmp_path / "archive", tmp_path / "sub"
    for name in ("S", "S-2"):
        shutil.copytree(Path(board_archive) / site.name, archive / name)
        shutil.copytree(subs / "map_good" / site.name, folder / name)
    monkeypatch.setattr(splits, "assign_splits", lambda names, scheme, seed=0: {"test": sorted(names)})
    submission = lb.validate_submission(folder, archive, meta={"model": "m", "task": "mapping"})
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: str(p.relative_to(folder)))
    assert str(files[0].relative_to(folder)).startswith("S-2/") and sorted(files)[0].parent.name == "S"
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    assert submission.sha256 == digest.hexdigest()


# ---- whole submissions through validate_submission and the CLI ---------------------------------------


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


def test_a_series_models_folder_is_a_submission_for_either_task(board_archive, subs, tmp_path):  # noqa: F811
    """``euromine predict`` with a series model writes Year*.tif and Change*.tif side by side: each task
    reads its own maps and leaves the other's (their side-cars too), and scores as the single-task folder."""
    both = copy_sub(subs, "map_good", tmp_path / "both")
    for site in (p for p in (subs / "cd_good").iterdir() if p.is_dir()):
        for tif in site.glob("Change*.tif"):
            shutil.copy(tif, both / site.name / tif.name)
            (both / site.name / f"{tif.name}.aux.xml").write_bytes(b"<PAMDataset/>")
    site = next(p for p in both.iterdir() if p.is_dir())
    (site / "Year2016.tif.aux.xml").write_bytes(b"<PAMDataset/>")
    as_mapping = lb.validate_submission(both, board_archive)
    assert as_mapping.task.name == "mapping"
    alone = lb.validate_submission(subs / "map_good", board_archive)
    assert lb.score_submission(as_mapping) == lb.score_submission(alone)

    meta = json.loads((both / "submission.json").read_text())
    (both / "submission.json").write_text(json.dumps({**meta, "task": "change_detection"}))
    as_change = lb.validate_submission(both, board_archive)
    assert as_change.task.name == "change_detection"
    alone = lb.validate_submission(subs / "cd_good", board_archive)
    assert lb.score_submission(as_change) == lb.score_submission(alone)

    # only a site folder's own rasters: one a level deeper is still a stray file
    (site / "2015").mkdir()
    shutil.copy(site / "Year2015.tif", site / "2015" / "Year2015.tif")
    assert any(p.startswith(f"{site / '2015' / 'Year2015.tif'}: unexpected file") for p in _rejected(both, board_archive))


def test_submission_json_with_a_repeated_field_is_refused(tmp_path):
    """json keeps the last of two equal keys without a word; which one the submitter meant is not known."""
    from euromine_hf.hub.leaderboard.submission import check_meta

    path = tmp_path / "submission.json"
    path.write_text('{"model": "D", "model": "E", "task": "mapping", "links": [], "model": "F"}')
    problems: list[str] = []
    check_meta(path, path.stat().st_size, None, problems)
    assert problems == [f"{path}: field 'model': expected once, found 3 times"]
    path.write_text('{"model": "D", "task": "mapping", "extra": {"a": 1, "a": 2}}')
    problems = []
    check_meta(path, path.stat().st_size, None, problems)
    assert f"{path}: field 'a': expected once, found 2 times" in problems
