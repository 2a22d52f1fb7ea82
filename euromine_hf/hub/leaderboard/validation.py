"""``validate_submission``: a submission folder against the test split, every problem at once.

Nobody's submission is trusted: names, counts, sizes and headers of every file are looked at before a
single pixel is read, nothing is unpickled, no symlink is followed, nothing is written.
"""

from __future__ import annotations

import hashlib
import re
from itertools import combinations
from pathlib import Path
from typing import Any, Mapping, Sequence

from euromine_hf.bands import YEARS
from euromine_hf.hub.leaderboard.headers import header_problem
from euromine_hf.hub.leaderboard.listing import list_files
from euromine_hf.hub.leaderboard.submission import SUBMISSION_FILE, Submission, SubmissionError, check_meta, check_meta_fields
from euromine_hf.hub.leaderboard.tasks import HUB_TASK_IDS, TASKS, TaskSpec, task_spec
from euromine_hf.hub.leaderboard.text import CONTROL

#: A raster's GDAL side-car (``Year2019.tif.aux.xml``, written by ``euromine predict``) is accepted up to this size.
MAX_SIDECAR_BYTES = 64 * 1024
_YEAR_TIF = re.compile(r"^year(\d{4})\.tiff?$", re.IGNORECASE)
_CHANGE_TIF = re.compile(r"^change(\d{4})_(\d{4})\.tiff?$", re.IGNORECASE)
_YEAR_DIR = re.compile(r"^(\d{4})$")
_PAIR_DIR = re.compile(r"^(\d{4})_(\d{4})$")
_PATCH = re.compile(r"^patch(\d+)\.(npy|png)$", re.IGNORECASE)


def _show(name: str) -> str:
    return repr(name) if CONTROL.search(name) or name != name.strip() else name



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
    files = list_files(root, max_entries, problems)
    overflow = any(": file count: " in p for p in problems)
    sizes = {rel: size for rel, size in files}

    given, meta = meta, {}
    if given is not None:
        if (SUBMISSION_FILE,) in sizes or meta_path.is_symlink():
            problems.append(f"{meta_path}: file: expected no {SUBMISSION_FILE} when --model gives the metadata, found one")
        else:
            meta = check_meta_fields(dict(given), "--model/--task", task, problems)
    elif (SUBMISSION_FILE,) in sizes:
        meta = check_meta(meta_path, sizes[(SUBMISSION_FILE,)], task, problems)
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
        if len(rel) == 2 and (_CHANGE_TIF if spec.name == "mapping" else _YEAR_TIF).match(rel[1]):
            continue  # the other task's map beside these (a series model's predict folder holds both): not scored here
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
        problem = header_problem(path, kind, size, site)
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
