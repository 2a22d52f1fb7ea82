"""Local result entries: the JSON record of a scored submission, where it is stored, reading it back."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from euromine_hf.hub.leaderboard.submission import Submission
from euromine_hf.hub.leaderboard.tasks import TASKS
from euromine_hf.hub.leaderboard.text import CONTROL

RESULT_FORMAT = "euromine-leaderboard-result/1"


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
        "license": meta.get("license"),
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
    """``results_dir/entries/TASK/SLUG.json``: one file per task and model name (a resubmission replaces it)."""
    return Path(results_dir) / "entries" / entry["task"] / f"{_slug(entry['model'])}.json"


def write_result_entry(results_dir: str | Path, entry: Mapping[str, Any]) -> Path:
    """Write (or replace, for a resubmission of the same model name) the entry, atomically."""
    from euromine_hf.io import atomic_write_json

    return atomic_write_json(entry_path(results_dir, entry), dict(entry))


class LocalEntry(dict):
    """An entry as read from its file, with where it came from: ``path``, ``task`` (the task its folder
    names) and ``unreadable`` (why the file is not a JSON object, or ``None``; the entry is then empty)."""

    def __init__(self, data: Mapping[str, Any], path: Path, task: str, unreadable: str | None = None) -> None:
        super().__init__(data)
        self.path, self.task, self.unreadable = path, task, unreadable

    @property
    def where(self) -> str:
        """The file as named in a row's reasons: relative to the results folder (a published page
        shows no local path), any control character in its name shown as ``?``."""
        return CONTROL.sub("?", f"entries/{self.task}/{self.path.name}")


class EntryWarning(UserWarning):
    """A file under ``entries/`` that cannot be shown in any task's table (the message names it)."""


def load_local_entries(results_dir: str | Path) -> list[LocalEntry]:
    """Every result entry under ``results_dir/entries/TASK/`` as read, unchecked (the rows check it,
    :func:`~euromine_hf.hub.leaderboard.entry_checks.check_entry`, and show a bad one apart); a
    file in a folder that names no task is left out with an :class:`EntryWarning`."""
    folder = Path(results_dir) / "entries"
    entries = []
    for path in sorted(folder.glob("*/*.json")) if folder.is_dir() else []:
        task = path.parent.name
        if task not in TASKS:
            warnings.warn(f"{path}: folder {task!r}: expected one of {sorted(TASKS)}; entry not shown", EntryWarning, stacklevel=2)
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            entries.append(LocalEntry({}, path, task, f"content: expected JSON in UTF-8, found {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(data, dict):
            entries.append(LocalEntry({}, path, task, f"content: expected a JSON object, found {type(data).__name__}"))
            continue
        entries.append(LocalEntry(data, path, task))
    return entries
