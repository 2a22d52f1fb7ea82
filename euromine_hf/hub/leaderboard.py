"""The EuroMineNet benchmark leaderboard: validate a submission, score it, rank it, publish it.

A submission is a prediction folder for the **test split** in the layouts ``euromine evaluate``
reads, plus a ``submission.json`` (format: ``resources/leaderboard_submission.md``). Nobody's
submission is trusted, so :func:`validate_submission` looks at names, counts, sizes and headers
of every file before reading a single pixel, never unpickles, follows no symlink, and collects
*every* problem it finds into one :class:`SubmissionError` (a submitter fixes them in one go).
Only a clean folder is scored, by the same code as ``euromine evaluate`` (site protocol), and
only then is anything written: a result entry (JSON) in the local leaderboard folder and, with
``push``, the Hub's ``.eval_results/*.yaml`` plus the card's ``model-index`` in the model repo,
which puts the model on the benchmark dataset's leaderboard (``HfApi.get_dataset_leaderboard``).

:func:`collect_rows` gathers rows from local entries, model cards and the Hub's dataset
leaderboard, adds the paper's Tables 4–6 as marked reference rows, and :func:`write_outputs`
renders Markdown, CSV and a self-contained HTML page with sortable columns.

No score is trusted on read either: a card, an ``.eval_results`` file or a local entry may hold any
number, so every value of the task's columns must be a finite fraction in [0, 1] (all are F1 or
IoU scores, :func:`check_scores`); a row that fails is shown apart with the reason and never
ranked. Each row says how far it can be believed: **scored here** (a local entry written by
``submit``, which scored the predictions itself, with their content hash) or **self-reported**.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from euromine_hf.bands import PATCH_SIZE, YEARS

__all__ = [
    "TaskSpec",
    "TASKS",
    "HUB_TASK_IDS",
    "SUBMISSION_FILE",
    "RESULT_FORMAT",
    "SubmissionError",
    "Submission",
    "validate_submission",
    "score_submission",
    "make_result_entry",
    "write_result_entry",
    "push_result",
    "load_local_entries",
    "rows_from_entries",
    "rows_from_model_cards",
    "rows_from_hub",
    "paper_rows",
    "collect_rows",
    "rank_rows",
    "check_scores",
    "SCORED_HERE",
    "SELF_REPORTED",
    "to_markdown",
    "to_csv",
    "to_html",
    "write_outputs",
]


# ----------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class TaskSpec:
    """One leaderboard task: its CLI name, its ``eval.yaml`` task id, the scorer behind it and
    the columns shown (the first is the ranking metric, the value the Hub's leaderboard ranks)."""

    name: str
    hub_task_id: str
    title: str
    evaluate_task: str  # ``euromine evaluate --task``
    columns: tuple[str, ...]
    #: (paper_results.json section, table number, label) of the reference rows
    paper_tables: tuple[tuple[str, int, str], ...]
    unit: str  # what one submitted mask covers

    @property
    def primary(self) -> str:
        return self.columns[0]


TASKS: dict[str, TaskSpec] = {
    "mapping": TaskSpec(
        name="mapping",
        hub_task_id="multitemporal-mapping",
        title="Multitemporal mine mapping",
        evaluate_task="mapping",
        columns=("OF1", "GCA-TIoU", "LCA-TIoU", *(f"F1_{y}" for y in YEARS)),
        paper_tables=(("mapping", 4, "Table 4"),),
        unit="site and year",
    ),
    "change_detection": TaskSpec(
        name="change_detection",
        hub_task_id="change-detection",
        title="Mine change detection",
        evaluate_task="change",
        columns=("OF1", *(f"F1_interval_{k}" for k in range(1, 10))),
        paper_tables=(("change_detection", 5, "Table 5"), ("post_classification", 6, "Table 6, post-classification")),
        unit="site and year pair",
    ),
}
HUB_TASK_IDS: dict[str, str] = {spec.hub_task_id: name for name, spec in TASKS.items()}

SUBMISSION_FILE = "submission.json"
#: A raster's GDAL side-car (``Year2019.tif.aux.xml``, written by ``euromine predict``) is accepted up to this size.
MAX_SIDECAR_BYTES = 64 * 1024
RESULT_FORMAT = "euromine-leaderboard-result/1"
PAPER_SOURCE = "paper (real EuroMineNet)"
#: Bounds checked before anything is parsed.
MAX_SUBMISSION_JSON_BYTES = 64 * 1024
MAX_PATCH_NPY_BYTES = PATCH_SIZE * PATCH_SIZE * 8 + 4096  # int64 is the widest integer dtype
MAX_PATCH_PNG_BYTES = 1024 * 1024
TIF_SLACK_BYTES = 1024 * 1024
MAX_LISTED_PROBLEMS = 200

#: How far a row can be believed: scored by ``submit`` from the predictions (hash kept), or read from a card / .eval_results.
SCORED_HERE = "scored here"
SELF_REPORTED = "self-reported"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_META_KEYS = {"model", "task", "model_repo", "authors", "links", "description"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_YEAR_TIF = re.compile(r"^year(\d{4})\.tiff?$", re.IGNORECASE)
_CHANGE_TIF = re.compile(r"^change(\d{4})_(\d{4})\.tiff?$", re.IGNORECASE)
_YEAR_DIR = re.compile(r"^(\d{4})$")
_PAIR_DIR = re.compile(r"^(\d{4})_(\d{4})$")
_PATCH = re.compile(r"^patch(\d+)\.(npy|png)$", re.IGNORECASE)


def task_spec(task: str) -> TaskSpec:
    """The spec of a task given by CLI name (``mapping``) or Hub task id (``multitemporal-mapping``)."""
    name = HUB_TASK_IDS.get(task, task)
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)} (or {sorted(HUB_TASK_IDS)}), found {task!r}")
    return TASKS[name]


# ----------------------------------------------------------------------------------------------
# Validation


class SubmissionError(ValueError):
    """A submission that cannot be scored; ``problems`` lists every reason (one line each).

    The CLI guard prints the headline and each problem on its own line (any error with a
    non-empty ``problems`` list is printed that way) and exits 2.
    """

    def __init__(self, root: str | Path, problems: Sequence[str]) -> None:
        self.root = Path(root)
        # file names come from the submitter: control characters (terminal escapes) are shown as \xNN;
        # a problem found once per file of one folder is listed once
        problems = list(dict.fromkeys(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", re.sub(r"[\n\r\t]+", " ", str(p)))
                                      for p in problems))
        shown = problems[:MAX_LISTED_PROBLEMS]
        if len(problems) > MAX_LISTED_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more problems")
        self.problems = shown
        self.headline = f"{self.root}: submission rejected, {len(problems)} problem{'s' if len(problems) != 1 else ''} (format: euromine leaderboard format)"
        super().__init__(self.headline + "".join(f"\n  - {p}" for p in shown))


@dataclass
class Submission:
    """A validated submission: where it is, what it claims and which test sites it covers."""

    root: Path
    task: TaskSpec
    meta: dict[str, Any]
    sites: list[Any]  # SiteRecord of every test site
    files: list[Path]  # every prediction file, sorted
    sha256: str = ""
    archive: Path = field(default_factory=Path)


def _show(name: str) -> str:
    return repr(name) if _CONTROL.search(name) or name != name.strip() else name


def _check_meta(path: Path, size: int, task: str | None, problems: list[str]) -> dict[str, Any]:
    """Parse and check ``submission.json`` (size first); problems are appended, not raised."""
    where = f"{path}"
    if size > MAX_SUBMISSION_JSON_BYTES:
        problems.append(f"{where}: size: expected at most {MAX_SUBMISSION_JSON_BYTES} bytes, found {size}")
        return {}
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        problems.append(f"{where}: content: expected a JSON object in UTF-8, found {type(exc).__name__}: {exc}")
        return {}
    if not isinstance(meta, dict):
        problems.append(f"{where}: content: expected a JSON object, found {type(meta).__name__}")
        return {}
    return _check_meta_fields(meta, where, task, problems)


def _check_meta_fields(meta: dict[str, Any], where: str, task: str | None, problems: list[str]) -> dict[str, Any]:
    """The fields of a submission's metadata (from ``submission.json`` or the command line)."""
    for key in sorted(set(meta) - _META_KEYS):
        problems.append(f"{where}: field {key!r}: expected only {sorted(_META_KEYS)}")

    def text(key: str, limit: int, required: bool = False) -> None:
        value = meta.get(key)
        if value is None:
            if required:
                problems.append(f"{where}: field {key!r}: expected a non-empty string, found nothing")
            return
        if not isinstance(value, str) or not value.strip() or len(value) > limit or _CONTROL.search(value.replace("\n", " ") if key == "description" else value):
            problems.append(f"{where}: field {key!r}: expected a string of 1-{limit} printable characters, found {value!r:.80}")

    text("model", 100, required=True)
    text("description", 2000)
    declared = meta.get("task")
    if declared not in TASKS and declared not in HUB_TASK_IDS:
        problems.append(f"{where}: field 'task': expected one of {sorted(TASKS)}, found {declared!r}")
    elif task is not None and task_spec(declared).name != task:
        problems.append(f"{where}: field 'task': expected {task!r} (as --task says), found {declared!r}")
    repo = meta.get("model_repo")
    if repo is not None and (not isinstance(repo, str) or not _REPO_ID.match(repo) or ".." in repo):
        problems.append(f"{where}: field 'model_repo': expected a Hub model id NAMESPACE/NAME, found {repo!r:.80}")
    for key, check, what in (
        ("authors", _is_author, "names of 1-100 printable characters"),
        ("links", _is_link, "http(s) URLs without spaces or quotes"),
    ):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) > 20 or not all(isinstance(v, str) and check(v) for v in value):
            problems.append(f"{where}: field {key!r}: expected a list of at most 20 {what}, found {value!r:.80}")
    return meta


def _walk(root: Path, max_entries: int, problems: list[str]) -> list[tuple[tuple[str, ...], int]]:
    """Regular files under ``root`` as (relative parts, size), reading directory entries only.

    Symlinks (to anything) and special files are problems; folders deeper than the layouts allow
    are not entered; the walk stops after ``max_entries`` entries so a folder of millions of
    files costs nothing before it is refused.
    """
    files: list[tuple[tuple[str, ...], int]] = []
    seen = 0
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, parts = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{folder}: folder: expected a readable folder, found {type(exc).__name__}: {exc}")
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                problems.append(
                    f"{root}: file count: expected at most {max_entries} files and folders for this task's test sites, "
                    "found more (listing stopped)"
                )
                return files
            rel = (*parts, entry.name)
            path = Path(entry.path)
            if entry.is_symlink():
                problems.append(f"{path}: symlink: expected regular files and folders only (no links in a submission)")
            elif entry.is_dir(follow_symlinks=False):
                if len(rel) >= 3:
                    problems.append(f"{path}: unexpected folder (the layouts are at most SITE/KEY/PatchN deep)")
                else:
                    stack.append((path, rel))
            elif entry.is_file(follow_symlinks=False):
                files.append((rel, entry.stat(follow_symlinks=False).st_size))
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
                problems.append(f"{path}: file type: expected a regular file, found {stat.filemode(mode)}")
    return files


def _header_problem(path: Path, kind: str, size: int, site: Any) -> str | None:
    """Check one prediction file from its size and header only (no pixel is read)."""
    from euromine_hf.data.archive import ArchiveError, _check_size, _georef, _npy_header, _open_raster, _png_size, check_prediction_grid

    try:
        if kind == "npy":
            if size > MAX_PATCH_NPY_BYTES:
                return f"{path}: size: expected at most {MAX_PATCH_NPY_BYTES} bytes for a 160x160 patch, found {size}"
            shape, dtype = _npy_header(path)
            if dtype.hasobject or not (dtype.kind in "biu"):
                return f"{path}: dtype: expected integer or bool mask values (no objects, no floats), found {dtype}"
            if shape != (PATCH_SIZE, PATCH_SIZE):
                return f"{path}: shape: expected ({PATCH_SIZE}, {PATCH_SIZE}), found {shape} declared in the header"
        elif kind == "png":
            if size > MAX_PATCH_PNG_BYTES:
                return f"{path}: size: expected at most {MAX_PATCH_PNG_BYTES} bytes for a 160x160 PNG, found {size}"
            shape = _png_size(path)
            if shape != (PATCH_SIZE, PATCH_SIZE):
                return f"{path}: shape: expected ({PATCH_SIZE}, {PATCH_SIZE}), found {shape} declared in the PNG header"
        else:
            if not site.size_known:
                return f"{path}: layout: site {site.name} has no known size in this archive; submit {PATCH_SIZE}x{PATCH_SIZE} patches instead"
            limit = site.height * site.width * 8 + TIF_SLACK_BYTES
            if size > limit:
                return f"{path}: size: expected at most {limit} bytes for a {site.height}x{site.width} mask, found {size}"
            with _open_raster(path) as src:
                count, height, width, dtype = src.count, src.height, src.width, src.dtypes[0]
                crs, transform = _georef(src)
            _check_size(path, height, width)
            if count != 1:
                return f"{path}: band count: expected 1 band (a mask), found {count}"
            if (height, width) != (site.height, site.width):
                return f"{path}: size: expected {site.height}x{site.width} like site {site.name}, found {height}x{width}"
            years = re.findall(r"\d{4}", path.name)
            key = f"year {years[0]}" if len(years) == 1 else f"years {'-'.join(years)}"
            check_prediction_grid(path, site, key, {"crs": crs, "transform": transform, "height": height, "width": width})
            import numpy as np

            if np.dtype(dtype).kind not in "biu":
                return f"{path}: dtype: expected integer mask values, found {dtype}"
    except ArchiveError as exc:
        return str(exc)
    return None


def _expected_keys(spec: TaskSpec) -> list[Any]:
    return list(YEARS) if spec.name == "mapping" else list(combinations(YEARS, 2))


def _key_label(spec: TaskSpec, key: Any) -> str:
    return str(key) if spec.name == "mapping" else f"{key[0]}-{key[1]}"


def _compact(values: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def validate_submission(
    folder: str | Path,
    archive: str | Path,
    task: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
    read_pixels: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> Submission:
    """Check a submission folder against the test split of ``archive``; every problem at once.

    ``meta``: the submission's metadata given by the caller (``leaderboard submit --model NAME
    --task TASK``) for a folder without ``submission.json``, e.g. straight from ``euromine predict``;
    checked by the same rules. A folder holding a ``submission.json`` as well is refused (two sources).

    Order: the folder itself, then a bounded listing (names, types, sizes), ``submission.json``,
    the layout and completeness, every file's header; only when all of that passed are pixels
    read (values {0,1} or {0,255}; ``.npy`` with ``allow_pickle=False``). Raises
    :class:`SubmissionError` listing every problem; reads nothing twice and writes nothing.
    """
    from euromine_hf.data.archive import ArchiveError, read_label, read_label_patch, scan_archive
    from euromine_hf.data.splits import assign_splits
    from euromine_hf.predict_outputs import PREDICT_MARKER

    root = Path(folder)
    if root.is_symlink() or not root.is_dir():
        raise SubmissionError(root, [f"{root}: submission: expected a folder (not a link), found {'a link' if root.is_symlink() else 'no such folder' if not root.exists() else 'a file'}"])
    all_sites = scan_archive(archive)
    splits = assign_splits([s.name for s in all_sites], split_scheme, seed=seed)
    test_names = set(splits.get("test", []))
    sites = [s for s in all_sites if s.name in test_names]
    if not sites:
        raise ArchiveError(Path(archive), "sites of split 'test'", "at least one test site", "none")
    other_splits = {s: split for split, names in splits.items() for s in names if split != "test"}

    problems: list[str] = []
    meta_path = root / SUBMISSION_FILE
    spec_guess = TASKS[task] if task in TASKS else None
    # The bound covers the larger of both tasks' layouts so an over-long listing is refused
    # before the task is known: every site x key as patches, plus one folder per key and site.
    max_entries = 1 + sum(1 + len(list(combinations(YEARS, 2))) * (s.num_patches + 2) for s in sites)
    files = _walk(root, max_entries, problems)
    overflow = any(": file count: " in p for p in problems)
    sizes = {rel: size for rel, size in files}

    given, meta = meta, {}
    if given is not None:
        if (SUBMISSION_FILE,) in sizes or meta_path.is_symlink():
            problems.append(f"{meta_path}: file: expected no {SUBMISSION_FILE} when --model gives the metadata, found one")
        else:
            meta = _check_meta_fields(dict(given), "--model/--task", task, problems)
    elif (SUBMISSION_FILE,) in sizes:
        meta = _check_meta(meta_path, sizes[(SUBMISSION_FILE,)], task, problems)
    elif not meta_path.is_symlink():
        problems.append(f"{meta_path}: file: expected {SUBMISSION_FILE} with model name and task (or --model NAME --task TASK), found no such file")
    declared = meta.get("task")
    spec = spec_guess or (task_spec(declared) if declared in TASKS or declared in HUB_TASK_IDS else None)
    if spec is None:
        if not problems:
            problems.append(f"{meta_path}: field 'task': expected one of {sorted(TASKS)}")
        raise SubmissionError(root, problems)

    if overflow:  # the listing is incomplete: layout and completeness would mislead
        raise SubmissionError(root, problems)
    by_name = {s.name: s for s in sites}
    keys = _expected_keys(spec)
    # site -> key -> {"raster": [paths], "patches": {n: [paths]}}
    found: dict[str, dict[Any, dict[str, Any]]] = {s.name: {} for s in sites}
    checks: list[tuple[Path, str, int, Any]] = []
    for rel, size in files:
        path = root.joinpath(*rel)
        if rel == (SUBMISSION_FILE,) or (len(rel) == 2 and rel[1] == PREDICT_MARKER):
            continue  # the marker `euromine predict` leaves beside its maps is no prediction
        if (len(rel) == 2 and rel[1].lower().endswith(".aux.xml") and (rel[0], rel[1][: -len(".aux.xml")]) in sizes
                and size <= MAX_SIDECAR_BYTES):
            continue  # GDAL's side-car of a submitted raster (class names from predict): read by GIS, not scored
        if len(rel) == 1:
            problems.append(f"{path}: unexpected file (a submission holds {SUBMISSION_FILE} and one folder per test site)")
            continue
        site_name = rel[0]
        site = by_name.get(site_name)
        if site is None:
            where = f"a {other_splits[site_name]} site" if site_name in other_splits else "no site of this archive"
            problems.append(f"{root / _show(site_name)}: site folder: expected a test site ({_compact(sorted(by_name))}), found {where}")
            continue
        tif_re, dir_re = (_YEAR_TIF, _YEAR_DIR) if spec.name == "mapping" else (_CHANGE_TIF, _PAIR_DIR)
        layout_hint = (
            "Year{YYYY}.tif or {YYYY}/Patch{n}.npy|png" if spec.name == "mapping" else "Change{Y1}_{Y2}.tif or {Y1}_{Y2}/Patch{n}.npy|png"
        )
        m = (tif_re.match(rel[1]) if len(rel) == 2 else dir_re.match(rel[1])) or None
        key: Any = None
        if m is not None:
            key = int(m.group(1)) if spec.name == "mapping" else (int(m.group(1)), int(m.group(2)))
            if key not in keys:
                problems.append(f"{path}: {'year' if spec.name == 'mapping' else 'year pair'}: expected {'one of ' + str(list(YEARS)) if spec.name == 'mapping' else 'Y1 < Y2, both in ' + str(YEARS[0]) + '-' + str(YEARS[-1])}, found {_key_label(spec, key)}")
                continue
        if key is None or (len(rel) == 3 and not _PATCH.match(rel[2])):
            problems.append(f"{path}: unexpected {'file' if len(rel) != 2 or m is None else 'name'} (expected {layout_hint} for {spec.name})")
            continue
        slot = found[site_name].setdefault(key, {"raster": [], "patches": {}})
        if len(rel) == 2:
            slot["raster"].append(path)
            checks.append((path, "tif", size, site))
        else:
            pm = _PATCH.match(rel[2])
            n = int(pm.group(1))
            if n >= site.num_patches:
                problems.append(f"{path}: patch number: expected 0..{site.num_patches - 1} ({site.num_patches} patches of {site.name}), found {n}")
                continue
            slot["patches"].setdefault(n, []).append(path)
            checks.append((path, pm.group(2).lower(), size, site))

    for site in sites:
        have = found[site.name]
        missing = [_key_label(spec, k) for k in keys if k not in have]
        if missing and len(missing) == len(keys) and not (root / site.name).exists():
            problems.append(f"{root / site.name}: site folder: expected one for test site {site.name}, found none")
        elif missing:
            what = "years" if spec.name == "mapping" else "year pairs"
            problems.append(f"{root / site.name}: {what}: expected every {spec.unit} ({len(keys)}), missing {_compact(missing)}")
        for key, slot in sorted(have.items()):
            label = _key_label(spec, key)
            if len(slot["raster"]) > 1:
                problems.append(f"{root / site.name}: {label}: expected one raster, found {', '.join(p.name for p in slot['raster'])}")
            if slot["raster"] and slot["patches"]:
                problems.append(f"{root / site.name}: {label}: expected either a raster or a patch folder, found both")
            elif slot["patches"]:
                dupes = [n for n, ps in slot["patches"].items() if len(ps) > 1]
                if dupes:
                    problems.append(f"{root / site.name}/{key if spec.name == 'mapping' else f'{key[0]}_{key[1]}'}: patch files: expected one file per patch, found several for patches {_compact(sorted(dupes))}")
                absent = sorted(set(range(site.num_patches)) - set(slot["patches"]))
                if absent:
                    problems.append(f"{root / site.name}/{key if spec.name == 'mapping' else f'{key[0]}_{key[1]}'}: patch files: expected Patch0..Patch{site.num_patches - 1}, missing {_compact(absent)}")
            elif not slot["raster"]:
                problems.append(f"{root / site.name}: {label}: expected a mask, found an empty folder")

    for path, kind, size, site in checks:
        problem = _header_problem(path, kind, size, site)
        if problem:
            problems.append(problem)
    if problems:
        raise SubmissionError(root, problems)

    # Pixels: every file, every problem (values, truncated data), still nothing written.
    digest = hashlib.sha256()
    for path, kind, _size, site in sorted(checks, key=lambda c: str(c[0])):
        try:
            if read_pixels:
                if kind == "tif":
                    read_label(path, (site.height, site.width))
                else:
                    read_label_patch(path)
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        except (ArchiveError, OSError) as exc:
            problems.append(str(exc))
    if problems:
        raise SubmissionError(root, problems)
    return Submission(root=root, task=spec, meta=meta, sites=sites, files=sorted(c[0] for c in checks),
                      sha256=digest.hexdigest(), archive=Path(archive))


def score_submission(submission: Submission, split_scheme: str = "auto", seed: int = 0) -> dict[str, float]:
    """Scores of a validated submission: the ``euromine evaluate`` scorer at the site protocol."""
    import warnings

    from euromine_hf.data.archive import ArchiveWarning
    from euromine_hf.metrics.evaluate_cli import evaluate_folder

    with warnings.catch_warnings():
        # submission.json at the root is the one file evaluate's reader does not know
        warnings.simplefilter("ignore", ArchiveWarning)
        scorer = evaluate_folder(submission.archive, submission.root, split="test", task=submission.task.evaluate_task,
                                 split_scheme=split_scheme, seed=seed)
    return {k: float(v) for k, v in scorer.compute(protocol="site", empty="skip").items()}


# ----------------------------------------------------------------------------------------------
# Result entries


def _slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")[:60] or "model"
    return f"{base}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def make_result_entry(submission: Submission, scores: Mapping[str, float], split_scheme: str = "auto", seed: int = 0) -> dict[str, Any]:
    """The JSON record of one scored submission (what ``show`` ranks)."""
    archive = submission.archive
    meta = submission.meta
    return {
        "format": RESULT_FORMAT,
        "model": meta["model"],
        "task": submission.task.name,
        "hub_task_id": submission.task.hub_task_id,
        "model_repo": meta.get("model_repo"),
        "authors": list(meta.get("authors") or []),
        "links": list(meta.get("links") or []),
        "description": meta.get("description"),
        "primary_metric": submission.task.primary,
        "scores": dict(scores),
        "protocol": "site",
        "empty": "skip",
        "split": "test",
        "split_scheme": split_scheme,
        "seed": seed,
        "archive": {
            "name": archive.resolve().name,
            "synthetic": (archive / "synthetic.json").is_file(),
            "test_sites": [s.name for s in submission.sites],
        },
        "submission_sha256": submission.sha256,
        "submitted_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hub": None,
    }


def entry_path(results_dir: str | Path, entry: Mapping[str, Any]) -> Path:
    return Path(results_dir) / "entries" / entry["task"] / f"{_slug(entry['model'])}.json"


def write_result_entry(results_dir: str | Path, entry: Mapping[str, Any]) -> Path:
    """Write (or replace, for a resubmission of the same model name) the entry, atomically."""
    from euromine_hf.io import atomic_write_json

    return atomic_write_json(entry_path(results_dir, entry), dict(entry))


def load_local_entries(results_dir: str | Path) -> list[dict[str, Any]]:
    """Every result entry under ``results_dir/entries`` (a malformed one is an error naming it)."""
    folder = Path(results_dir) / "entries"
    entries = []
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: result entry: expected JSON, found {type(exc).__name__}: {exc}") from exc
        if not isinstance(entry, dict) or entry.get("format") != RESULT_FORMAT or entry.get("task") not in TASKS \
                or not isinstance(entry.get("scores"), dict) or not isinstance(entry.get("model"), str):
            raise ValueError(f"{path}: result entry: expected format {RESULT_FORMAT!r} with model, task and scores")
        entries.append(entry)
    return entries


# ----------------------------------------------------------------------------------------------
# Hub


class _HubRefusal:
    """``with _HubRefusal("what"):`` turns the Hub's refusals (missing repo or file, no access,
    bad token) into a ValueError naming what was asked, so the CLI reports them as input errors."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> bool:
        from huggingface_hub.errors import HfHubHTTPError

        if isinstance(error, HfHubHTTPError):
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{self.what}: the Hub refused: {type(error).__name__}: {first}") from error
        return False


def _eval_yaml_tasks(api: Any, dataset_repo: str) -> tuple[set[str], str, str]:
    """Task ids the dataset's ``eval.yaml`` declares, the dataset's current revision and its declared
    name (``EuroMineNet``, or ``EuroMineNet (synthetic stand-in)`` for an export of a synthetic archive)."""
    import yaml
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    with _HubRefusal(f"dataset repo {dataset_repo}"):
        info = api.dataset_info(dataset_repo)
    try:
        path = hf_hub_download(dataset_repo, "eval.yaml", repo_type="dataset", revision=info.sha)
    except EntryNotFoundError as exc:
        raise ValueError(f"dataset repo {dataset_repo}: eval.yaml: expected a benchmark declaration (eval.yaml with tasks), found no such file") from exc
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"dataset repo {dataset_repo}: eval.yaml: expected YAML, found {exc}") from exc
    tasks = data.get("tasks") if isinstance(data, dict) else None
    ids = {str(t["id"]) for t in tasks if isinstance(t, dict) and "id" in t} if isinstance(tasks, list) else set()
    name = data.get("name") if isinstance(data, dict) and isinstance(data.get("name"), str) else "EuroMineNet"
    return ids, info.sha, name


def _notes(entry: Mapping[str, Any], spec: TaskSpec) -> str:
    others = ", ".join(f"{c} {entry['scores'][c]:.4f}" for c in spec.columns[1:4] if c in entry["scores"])
    data = "synthetic archive" if entry["archive"]["synthetic"] else "archive"
    return f"EuroMineNet test split ({data} {entry['archive']['name']}), site protocol; {spec.primary}; {others}"


def _entry_card(entry: Mapping[str, Any], model_repo: str, dataset_repo: str, dataset_name: str) -> Any:
    """The card of a model repo that ``submit --push`` creates: it says what the repo is (a leaderboard
    entry: scores of submitted predictions, no weights), on which data, and by whom."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(tags=["euromine", "leaderboard-entry"], datasets=[dataset_repo])
    lines = [f"# {html.escape(entry['model'])}", "",
             f"A leaderboard entry for **{dataset_name}** ([{dataset_repo}](https://huggingface.co/datasets/{dataset_repo})): "
             "the scores below were computed by `euromine leaderboard submit` from the predictions of this model on "
             "the test split (site protocol). This repository holds the results only, no model weights.", ""]
    if (entry.get("archive") or {}).get("synthetic"):
        lines += ["The predictions were scored on a **synthetic** stand-in archive, not on the real EuroMineNet: "
                  "these numbers are not comparable with the paper's.", ""]
    for label, value in (("Authors", ", ".join(_strings(entry.get("authors"), _is_author))),
                         ("Description", _description(entry.get("description")) or ""),
                         ("Links", " ".join(_strings(entry.get("links"), _is_link)))):
        if value:
            lines.append(f"- {label}: {value}")
    sha = entry.get("submission_sha256")
    if isinstance(sha, str) and _SHA256.match(sha):
        lines.append(f"- Predictions scored: sha256 `{sha}`")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def push_result(entry: dict[str, Any], model_repo: str, dataset_repo: str, token: str | None = None) -> dict[str, Any]:
    """Publish a scored entry: ``.eval_results/*.yaml`` and the card's ``model-index``, one commit.

    The dataset repo must declare the task in its ``eval.yaml`` (that is what makes it a
    benchmark whose leaderboard lists the model). Returns the ``hub`` block stored in the entry.
    """
    import yaml
    from huggingface_hub import CommitOperationAdd, EvalResult, EvalResultEntry, HfApi, ModelCard, eval_result_entries_to_yaml
    from huggingface_hub.utils import EntryNotFoundError

    for what, repo in (("--model-repo", model_repo), ("--dataset-repo", dataset_repo)):
        if not _REPO_ID.match(repo or "") or ".." in repo:
            raise ValueError(f"{what}: expected a Hub id NAMESPACE/NAME, found {repo!r}")
    spec = TASKS[entry["task"]]
    api = HfApi(token=token)
    declared, revision, dataset_name = _eval_yaml_tasks(api, dataset_repo)
    if spec.hub_task_id not in declared:
        raise ValueError(
            f"dataset repo {dataset_repo}: eval.yaml tasks: expected a task with id {spec.hub_task_id!r}, found {sorted(declared) or 'none'}"
        )
    # Scores on the synthetic stand-in are never published as EuroMineNet results, and real ones
    # never under a synthetic dataset: the dataset repo's eval.yaml says which it is.
    synthetic = bool((entry.get("archive") or {}).get("synthetic"))
    if synthetic != ("synthetic" in dataset_name.lower()):
        raise ValueError(
            f"dataset repo {dataset_repo}: eval.yaml name: expected "
            + ("a synthetic dataset (name containing 'synthetic'), as these scores are on the synthetic archive"
               if synthetic else "the real EuroMineNet (no 'synthetic' in its name), as these scores are on a real archive")
            + f", found {dataset_name!r}"
        )
    scores = entry["scores"]
    links = entry.get("links") or []
    result = EvalResultEntry(
        dataset_id=dataset_repo, task_id=spec.hub_task_id, value=round(float(scores[spec.primary]), 6),
        dataset_revision=revision, date=entry["submitted_at"],
        source_url=links[0] if links else None, source_name="submission" if links else None,
        notes=_notes(entry, spec),
    )
    yaml_path = f".eval_results/{dataset_repo.replace('/', '--')}--{spec.hub_task_id}.yaml"
    yaml_text = yaml.safe_dump(eval_result_entries_to_yaml([result]), sort_keys=False, allow_unicode=True)

    with _HubRefusal(f"model repo {model_repo}"):
        api.create_repo(model_repo, exist_ok=True)
        try:
            card = ModelCard.load(model_repo, token=token)
        except EntryNotFoundError:
            card = _entry_card(entry, model_repo, dataset_repo, dataset_name)
    model_name = card.data.model_name or entry["model"]
    kept = [r for r in (card.data.eval_results or []) if not (r.dataset_type == dataset_repo and r.task_name == spec.hub_task_id)]
    ours = [
        EvalResult(
            task_type="image-segmentation", task_name=spec.hub_task_id, dataset_type=dataset_repo, dataset_name=dataset_name,
            dataset_split="test", dataset_revision=revision, metric_type=column, metric_name=column,
            metric_value=round(float(scores[column]), 6), metric_config="site protocol",
        )
        for column in spec.columns if column in scores
    ]
    card.data.model_name = model_name
    card.data.eval_results = kept + ours
    with _HubRefusal(f"model repo {model_repo}"):
        info = api.create_commit(
            model_repo,
            operations=[
                CommitOperationAdd(yaml_path, yaml_text.encode("utf-8")),
                CommitOperationAdd("README.md", str(card).encode("utf-8")),
            ],
            commit_message=f"EuroMineNet leaderboard: {spec.hub_task_id} results of {entry['model']}"[:200],
        )
    return {"model_repo": model_repo, "dataset_repo": dataset_repo, "dataset_revision": revision,
            "eval_results_file": yaml_path, "commit_url": info.commit_url}


# ----------------------------------------------------------------------------------------------
# Rows and ranking


def _shown_value(value: Any) -> str:
    """A read value for a message: short, whatever it is (a 300-digit number is cut)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:24]}... ({len(text)} characters)"


def check_scores(task: str, scores: Any) -> tuple[dict[str, float | None], list[str]]:
    """The task's columns read from ``scores`` (others are ignored), and why any is unusable.

    Every column is an F1 or IoU score, so a usable value is a finite number in [0, 1]; a value
    that is not is ``None`` with a problem naming the column and what was found. The ranking
    column must be there: a row without it cannot be ranked.
    """
    spec = TASKS[task]
    if not isinstance(scores, Mapping):
        return dict.fromkeys(spec.columns), [f"scores: expected a mapping of column -> value, found {type(scores).__name__}"]
    values: dict[str, float | None] = {}
    problems = []
    for column in spec.columns:
        v = scores.get(column)
        values[column] = None
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            problems.append(f"{column}: expected a number in [0, 1], found {_shown_value(v)}")
        elif not (0 <= v <= 1) or (isinstance(v, float) and not math.isfinite(v)):  # NaN fails 0 <= v
            problems.append(f"{column}: expected a finite value in [0, 1] (an F1/IoU score), found {_shown_value(v)}")
        else:
            values[column] = float(v)
    if scores.get(spec.primary) is None:
        problems.insert(0, f"{spec.primary}: expected the ranking score, found none")
    return values, problems


def _row(task: str, model: str, source: str, scores: Mapping[str, Any], problems: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """One leaderboard row; its values checked (:func:`check_scores`), unusable ones listed in ``problems``."""
    values, found = check_scores(task, scores)
    row = {"task": task, "model": model, "source": source, "reference": False, "model_repo": None,
           "data": "", "links": [], "authors": [], "description": None, "verification": SELF_REPORTED, "sha256": None,
           **extra, "scores": values}
    row["problems"] = list(dict.fromkeys([*problems, *found]))
    return row


def _is_author(text: str) -> bool:
    return 0 < len(text) <= 100 and not _CONTROL.search(text)


def _is_link(text: str) -> bool:
    return len(text) <= 500 and re.match(r"^https?://[^\s<>\"']+$", text) is not None


def _strings(value: Any, keep: Any) -> list[str]:
    """A list of strings read from an entry file, keeping only those ``keep`` accepts (the file may
    have been edited since ``submit`` checked it)."""
    return [v for v in value if isinstance(v, str) and keep(v)][:20] if isinstance(value, list) else []


def _description(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _about(row: Mapping[str, Any]) -> str:
    """Authors, description and links of a submission as one plain-text cell."""
    parts = [", ".join(row.get("authors") or []), row.get("description") or "", " ".join(row.get("links") or [])]
    return " — ".join(p for p in parts if p)


def rows_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of local result entries: **scored here** when the entry carries the content hash of the
    predictions ``submit`` scored, self-reported otherwise (a hand-made entry)."""
    rows = []
    for e in entries:
        data = "synthetic" if (e.get("archive") or {}).get("synthetic") else "archive"
        sha = e.get("submission_sha256")
        scored = isinstance(sha, str) and _SHA256.match(sha) is not None
        rows.append(_row(e["task"], e["model"], "local", e["scores"], model_repo=e.get("model_repo"),
                         data=f"{data}: {(e.get('archive') or {}).get('name', '?')}", links=_strings(e.get("links"), _is_link),
                         authors=_strings(e.get("authors"), _is_author),
                         description=_description(e.get("description")),
                         verification=SCORED_HERE if scored else SELF_REPORTED, sha256=sha if scored else None))
    return rows


def rows_from_model_cards(model_repos: Iterable[str], dataset_repo: str | None = None, token: str | None = None) -> list[dict[str, Any]]:
    """Rows from the ``model-index`` of each model's card (results whose task name is ours)."""
    from huggingface_hub import ModelCard

    rows = []
    for repo in model_repos:
        with _HubRefusal(f"model repo {repo}"):
            card = ModelCard.load(repo, token=token)
        per_task: dict[str, dict[str, float]] = {}
        for r in card.data.eval_results or []:
            if r.task_name in HUB_TASK_IDS and (dataset_repo is None or r.dataset_type == dataset_repo):
                per_task.setdefault(HUB_TASK_IDS[r.task_name], {})[r.metric_type] = r.metric_value
        for task, scores in per_task.items():
            rows.append(_row(task, card.data.model_name or repo, "model card", scores, model_repo=repo, data="model-index"))
    return rows


def rows_from_hub(dataset_repo: str, token: str | None = None, with_cards: bool = True) -> list[dict[str, Any]]:
    """Rows from the dataset's Hub leaderboard (every model, fine-tunes included); each model's
    card adds the secondary columns when it has them."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with _HubRefusal(f"dataset repo {dataset_repo}: leaderboard"):
        entries = api.get_dataset_leaderboard(dataset_repo, base_model_only=False)
    rows = []
    for e in entries:
        task_id = getattr(e, "taskId", None) or getattr(e, "task_id", None)
        task = HUB_TASK_IDS.get(task_id) if task_id else None
        if task is None:
            continue
        primary = TASKS[task].primary
        scores: dict[str, Any] = {primary: e.value}
        card_problems: list[str] = []
        if with_cards:
            try:
                for card_row in rows_from_model_cards([e.model_id], dataset_repo, token):
                    if card_row["task"] == task:
                        scores = {**{k: v for k, v in card_row["scores"].items() if v is not None}, primary: e.value}
                        card_problems = [f"model card {p}" for p in card_row["problems"] if not p.startswith(f"{primary}:")]
            except ValueError:  # a card that cannot be read (or none) leaves the leaderboard's own value
                pass
        row = _row(task, e.model_id, "hub leaderboard", scores, model_repo=e.model_id, data=f"hub: {dataset_repo}")
        row["problems"] = [f".eval_results {p}" for p in row["problems"]] + card_problems
        rows.append(row)
    return rows


def paper_rows(task: str) -> list[dict[str, Any]]:
    """The paper's reported results for ``task`` as reference rows (real data, never ranked)."""
    from euromine_hf.bands import load_resource
    from euromine_hf.metrics.tables import score_key

    spec = TASKS[task]
    reported = load_resource("paper_results.json")
    evaluate_task = {"mapping": "mapping", "change_detection": "change", "post_classification": "post-classification"}
    rows = []
    for section, _number, label in spec.paper_tables:
        for model, values in reported.get(section, {}).items():
            scores = {score_key(evaluate_task[section], k): v for k, v in values.items()}
            rows.append(_row(task, model, f"{PAPER_SOURCE}, {label}", scores, reference=True, data="real EuroMineNet",
                             verification="reference"))
    return rows


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, model repo): local entries and cards of the same repo merge their sources.

    Values scored here are never mixed with self-reported ones: a scored row keeps only its own
    values (the other sources are still named). A row with unusable values is never merged; it
    is shown apart with its reasons.
    """
    out: list[dict[str, Any]] = []
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["task"], row["model_repo"]) if row["model_repo"] and not row["reference"] and not row["problems"] else None
        if key is not None and key in index:
            kept = index[key]
            sources = ", ".join(dict.fromkeys(kept["source"].split(", ") + row["source"].split(", ")))
            if row["verification"] == SCORED_HERE and kept["verification"] != SCORED_HERE:
                kept.update({k: v for k, v in row.items() if k != "source"})  # the scored values replace the reported ones
            elif row["verification"] == kept["verification"]:
                for c, v in row["scores"].items():
                    if kept["scores"].get(c) is None:
                        kept["scores"][c] = v
            kept["source"] = sources
            continue
        if key is not None:
            index[key] = row
        out.append(row)
    return out


def rank_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by the task's first column (higher is better); submissions get ranks 1..n, the
    paper's reference rows are placed by value but unranked; rows with unusable values
    (``problems``) come last, unranked."""
    ranked = []
    for task, spec in TASKS.items():
        usable = [r for r in rows if r["task"] == task and not r.get("problems")]
        usable.sort(key=lambda r: (-(r["scores"][spec.primary] if r["scores"][spec.primary] is not None else float("-inf")), r["reference"], r["model"]))
        apart = sorted((r for r in rows if r["task"] == task and r.get("problems")), key=lambda r: (r["model"], r["source"]))
        n = 0
        for r in usable:
            if not r["reference"]:
                n += 1
                r["rank"] = n
            else:
                r["rank"] = None
        for r in apart:
            r["rank"] = None
        ranked.extend(usable + apart)
    return ranked


def collect_rows(
    results_dir: str | Path | None = None,
    model_repos: Sequence[str] = (),
    dataset_repo: str | None = None,
    tasks: Sequence[str] = tuple(TASKS),
    paper: bool = True,
    token: str | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if results_dir is not None:
        rows += rows_from_entries(load_local_entries(results_dir))
    if dataset_repo:
        rows += rows_from_hub(dataset_repo, token=token)
    if model_repos:
        rows += rows_from_model_cards(model_repos, dataset_repo, token=token)
    rows = _dedupe(rows)
    if paper:
        for task in tasks:
            rows += paper_rows(task)
    return rank_rows([r for r in rows if r["task"] in tasks])


# ----------------------------------------------------------------------------------------------
# Rendering


def _label(column: str) -> str:
    if column.startswith("F1_interval_"):
        return f"F1 Δ{column.rsplit('_', 1)[1]}y"
    if column.startswith("F1_"):
        return f"F1 {column[3:]}"
    return column


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


#: Markdown's inline syntax (links, emphasis, code, tables) and the escape character itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def _md_cell(text: str) -> str:
    """Submitted text as one inert Markdown table cell: HTML escaped as on the HTML page (a
    ``<script>`` name stays text), Markdown syntax backslash-escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(" ".join(str(text).split())))


def _verification(row: Mapping[str, Any], digits: int = 16) -> str:
    """``scored here (sha256 …)``, ``self-reported`` or ``reference``."""
    if row.get("verification") == SCORED_HERE and row.get("sha256"):
        return f"{SCORED_HERE} (sha256 {row['sha256'][:digits]})"
    return str(row.get("verification") or SELF_REPORTED)


def to_markdown(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS)) -> str:
    lines = ["# EuroMineNet leaderboard", "",
             "Test split, site protocol, values in %. Rows marked *reference* are the paper's Tables 4–6 "
             f"({PAPER_SOURCE}); submissions scored on a synthetic archive are not comparable with them. "
             f"*{SCORED_HERE}*: scored by `euromine leaderboard submit` from the predictions (their sha256); "
             f"*{SELF_REPORTED}*: read from a model card or `.eval_results`, not checked against predictions.", ""]
    for task in tasks:
        spec = TASKS[task]
        mine = [r for r in rows if r["task"] == task and not r.get("problems")]
        apart = [r for r in rows if r["task"] == task and r.get("problems")]
        lines += [f"## {spec.title} (`{spec.hub_task_id}`, ranked by {spec.primary})", "",
                  "| Rank | Model | Source | Verification | Data | " + " | ".join(_label(c) for c in spec.columns) + " | About |",
                  "|---:|---|---|---|---|" + "---:|" * len(spec.columns) + "---|"]
        for r in mine:
            rank = str(r["rank"]) if r["rank"] is not None else "*reference*"
            lines.append(f"| {rank} | {_md_cell(r['model'])} | {_md_cell(r['source'])} | {_md_cell(_verification(r))} | "
                         f"{_md_cell(r['data'])} | " + " | ".join(_fmt(r["scores"][c]) for c in spec.columns)
                         + f" | {_md_cell(_about(r))} |")
        lines.append("")
        if apart:
            lines += [f"### Not ranked: values no {spec.hub_task_id} scoring can produce", "",
                      "| Model | Source | Verification | Reason |", "|---|---|---|---|"]
            lines += [f"| {_md_cell(r['model'])} | {_md_cell(r['source'])} | {_md_cell(_verification(r))} | "
                      f"{_md_cell('; '.join(r['problems']))} |" for r in apart]
            lines.append("")
    return "\n".join(lines)


def to_csv(rows: Sequence[Mapping[str, Any]], task: str) -> str:
    """One task's rows; scores as fractions (0..1), empty where missing."""
    spec = TASKS[task]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["rank", "model", "source", "reference", "verification", "sha256", "data", "model_repo", *spec.columns,
                     "problems", "authors", "links", "description"])
    for r in rows:
        if r["task"] != task:
            continue
        cells = ["" if r["rank"] is None else r["rank"], r["model"], r["source"], "yes" if r["reference"] else "no",
                 r.get("verification") or SELF_REPORTED, r.get("sha256") or "", r["data"], r["model_repo"] or ""]
        scores = ["" if r["scores"][c] is None else repr(r["scores"][c]) for c in spec.columns]
        cells += scores + ["; ".join(r.get("problems") or []), "; ".join(r.get("authors") or []),
                           " ".join(r.get("links") or []), r.get("description") or ""]
        # a leading =,+,-,@ would be run as a formula by spreadsheet programs
        writer.writerow([("'" + c) if isinstance(c, str) and c[:1] in ("=", "+", "-", "@") else c for c in cells])
    return buf.getvalue()


_SORT_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-value');
    if (v === null) { return cell.textContent.trim().toLowerCase(); }
    return v === '' ? null : parseFloat(v);
  }
  function compare(a, b, numeric) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }
    if (b === null) { return -1; }
    if (numeric) { return a - b; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll('table.board').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, index) {
      var button = th.querySelector('button');
      button.addEventListener('click', function () {
        var numeric = th.getAttribute('data-type') === 'number';
        var ascending = th.getAttribute('aria-sort') === 'descending' ||
          (th.getAttribute('aria-sort') !== 'ascending' && !numeric);
        heads.forEach(function (other) { other.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = key(r1.cells[index]), b = key(r2.cells[index]);
          if (a === null || b === null) { return compare(a, b, numeric); }
          return ascending ? compare(a, b, numeric) : compare(b, a, numeric);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
table.board { border-collapse: collapse; margin-bottom: 2.5rem; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.3rem 0.55rem; text-align: right; white-space: nowrap; }
th.text, td.text { text-align: left; }
th button { font: inherit; font-weight: 600; background: none; border: 0; cursor: pointer; padding: 0; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
tr.reference td { color: #57606a; font-style: italic; background: #f6f8fa; }
.note { color: #57606a; max-width: 60rem; }
"""


def _hub_link(repo: str | None, endpoint: str) -> str | None:
    if repo and _REPO_ID.match(repo) and ".." not in repo:
        return f"{endpoint.rstrip('/')}/{repo}"
    return None


def to_html(rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS), endpoint: str = "https://huggingface.co") -> str:
    """A self-contained page: one sortable table per task (click a column head to sort).

    Every text from a submission is escaped; the only script is the page's own, allowed by its
    hash in the Content-Security-Policy, and nothing is loaded from elsewhere.
    """
    esc = html.escape
    script_hash = hashlib.sha256(_SORT_JS.encode("utf-8")).digest()
    import base64

    csp = (f"default-src 'none'; script-src 'sha256-{base64.b64encode(script_hash).decode()}'; "
           "style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp, quote=False)}">',  # our constant: no " in it
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>EuroMineNet leaderboard</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>EuroMineNet leaderboard</h1>",
        '<p class="note">Test split, site protocol, values in %. Click a column head to sort. '
        f"Grey italic rows are reference results from the paper's Tables 4–6 ({esc(PAPER_SOURCE)}); "
        "submissions scored on a synthetic archive are not comparable with them.</p>",
    ]
    for task in tasks:
        spec = TASKS[task]
        parts += [f'<section id="{esc(task)}">', f"<h2>{esc(spec.title)} <code>{esc(spec.hub_task_id)}</code>, ranked by {esc(spec.primary)}</h2>",
                  f'<table class="board" id="board-{esc(task)}" data-task="{esc(task)}">', "<thead><tr>"]
        heads = [("Rank", "number", "rank"), ("Model", "text", "model"), ("Source", "text", "source"),
                 ("Verification", "text", "verification"), ("Data", "text", "data")]
        heads += [(_label(c), "number", c) for c in spec.columns] + [("About", "text", "about")]
        for label, kind, key in heads:
            cls = ' class="text"' if kind == "text" else ""
            parts.append(f'<th scope="col"{cls} data-type="{kind}" data-key="{esc(key)}"><button type="button">{esc(label)}</button></th>')
        parts += ["</tr></thead>", "<tbody>"]
        for r in (r for r in rows if r["task"] == task and not r.get("problems")):
            link = _hub_link(r["model_repo"], endpoint)
            model = esc(r["model"])
            if link:
                model = f'<a href="{esc(link)}" rel="nofollow noopener noreferrer">{model}</a>'
            cls = ' class="reference"' if r["reference"] else ""
            rank = "" if r["rank"] is None else str(r["rank"])
            cells = [f'<td data-value="{rank}">{rank or "ref"}</td>', f'<td class="text">{model}</td>',
                     f'<td class="text">{esc(r["source"])}</td>',
                     f'<td class="text" title="{esc(r.get("sha256") or "")}">{esc(_verification(r))}</td>',
                     f'<td class="text">{esc(r["data"])}</td>']
            for c in spec.columns:
                v = r["scores"][c]
                cells.append(f'<td data-value="{"" if v is None else repr(float(v))}">{_fmt(v)}</td>')
            about = [esc(", ".join(r.get("authors") or [])), esc(r.get("description") or "")]
            about += [f'<a href="{esc(u)}" rel="nofollow noopener noreferrer">{esc(u)}</a>' for u in r.get("links") or [] if _is_link(u)]
            cells.append(f'<td class="text about">{" — ".join(a for a in about if a)}</td>')
            parts.append(f'<tr{cls} data-model="{esc(r["model"])}">' + "".join(cells) + "</tr>")
        parts += ["</tbody>", "</table>"]
        apart = [r for r in rows if r["task"] == task and r.get("problems")]
        if apart:  # never ranked, never sorted in with the others
            parts += [f"<h3>Not ranked: values no {esc(spec.hub_task_id)} scoring can produce</h3>",
                      f'<table class="rejected" id="rejected-{esc(task)}"><thead><tr><th class="text">Model</th>'
                      '<th class="text">Source</th><th class="text">Verification</th><th class="text">Reason</th></tr></thead><tbody>']
            parts += [f'<tr data-model="{esc(r["model"])}"><td class="text">{esc(r["model"])}</td><td class="text">{esc(r["source"])}</td>'
                      f'<td class="text">{esc(_verification(r))}</td><td class="text">{esc("; ".join(r["problems"]))}</td></tr>' for r in apart]
            parts += ["</tbody>", "</table>"]
        parts.append("</section>")
    parts += [f"<script>{_SORT_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)


def write_outputs(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], tasks: Sequence[str] = tuple(TASKS),
                  endpoint: str = "https://huggingface.co") -> dict[str, Path]:
    """``leaderboard.md``, ``{task}.csv`` and ``index.html`` in ``out_dir`` (each atomically)."""
    from euromine_hf.io import atomic_write_text

    out = Path(out_dir)
    paths = {"md": atomic_write_text(out / "leaderboard.md", to_markdown(rows, tasks))}
    for task in tasks:
        paths[f"csv_{task}"] = atomic_write_text(out / f"{task}.csv", to_csv(rows, task), newline="")
    paths["html"] = atomic_write_text(out / "index.html", to_html(rows, tasks, endpoint))
    return paths
