"""Local result entries: the JSON record of a scored submission, where it is stored, reading it back."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from euromine_hf.hub.leaderboard.submission import Submission
from euromine_hf.hub.leaderboard.tasks import TASKS

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
