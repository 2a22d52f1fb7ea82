"""Leaderboard rows: one per result, from local entries and the paper's tables, each saying how far it can be believed."""

from __future__ import annotations

import json
import warnings
from typing import Any, Iterable, Mapping, Sequence

from euromine_hf.hub.leaderboard.entries import EntryWarning, LocalEntry
from euromine_hf.hub.leaderboard.entry_checks import check_entry
from euromine_hf.hub.leaderboard.tasks import TASKS
from euromine_hf.hub.leaderboard.text import SHA256, is_author, is_link, is_repo_id, is_text, kept_strings, short_description
from euromine_hf.hub.leaderboard.values import check_scores

#: The source named on the paper's reference rows.
PAPER_SOURCE = "paper (real EuroMineNet)"
#: How far a row can be believed: scored by ``submit`` from the predictions (hash kept), or read from a card / .eval_results.
SCORED_HERE = "scored here"
SELF_REPORTED = "self-reported"


def make_row(task: str, model: str, source: str, scores: Mapping[str, Any], problems: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """One leaderboard row; its values checked (:func:`check_scores`), unusable ones listed in ``problems``."""
    values, found = check_scores(task, scores)
    row = {"task": task, "model": model, "source": source, "reference": False, "model_repo": None,
           "data": "", "links": [], "authors": [], "description": None, "verification": SELF_REPORTED, "sha256": None,
           **extra, "scores": values}
    row["problems"] = list(dict.fromkeys([*problems, *found]))
    return row


def rows_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of local result entries: **scored here** when the entry carries the content hash of the
    predictions ``submit`` scored, self-reported otherwise (a hand-made entry).

    Each entry is checked again first (:func:`check_entry`: it may have been edited since ``submit``
    wrote it); one that fails is a row with its reasons in ``problems``, shown apart and never
    ranked, and none of its texts is shown unless it passes its own rule. An entry handed over
    without a folder (not a :class:`LocalEntry`) and naming no task is left out with an
    :class:`EntryWarning`.
    """
    rows = []
    for e in entries:
        local = isinstance(e, LocalEntry)
        where = e.where if local else f"entry {str(e.get('model'))[:40]!r}"
        if local and e.unreadable:
            problems = [f"{where}: {e.unreadable}"]
        else:
            problems = check_entry(dict(e), where, e.task if local else None)
        task = e.task if local else e.get("task")
        if task not in TASKS:
            warnings.warn(f"{where}: field 'task': expected one of {sorted(TASKS)}; entry not shown", EntryWarning, stacklevel=2)
            continue
        archive = e.get("archive") if isinstance(e.get("archive"), dict) else {}
        data = "synthetic" if archive.get("synthetic") is True else "archive"
        name = archive.get("name") if is_text(archive.get("name"), 255) else "?"
        sha = e.get("submission_sha256")
        scored = isinstance(sha, str) and SHA256.match(sha) is not None
        model = e.get("model") if is_text(e.get("model"), 100) else (where if local else "?")
        rows.append(make_row(task, model, "local", e.get("scores"), problems,
                             model_repo=e.get("model_repo") if is_repo_id(e.get("model_repo")) else None,
                             data=f"{data}: {name}", links=kept_strings(e.get("links"), is_link),
                             authors=kept_strings(e.get("authors"), is_author),
                             description=short_description(e.get("description")),
                             verification=SCORED_HERE if scored else SELF_REPORTED, sha256=sha if scored else None))
    _flag_one_scoring_two_ways(rows)
    return rows


def _flag_one_scoring_two_ways(rows: list[dict[str, Any]]) -> None:
    """The same predictions (one sha256, one task) scored differently by two entries: one was edited
    since ``submit`` wrote it, and which cannot be told, so neither is ranked."""
    by_sha: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["sha256"] and not row["problems"]:  # rows already set apart are not ranked anyway
            by_sha.setdefault((row["task"], row["sha256"]), []).append(row)
    for (_, sha), group in by_sha.items():
        if len({json.dumps(r["scores"], sort_keys=True, default=str) for r in group}) > 1:
            for row in group:
                row["problems"] = [*row["problems"], f"scores: the predictions with sha256 {sha[:16]} are scored "
                                   f"differently by {len(group)} entries (one was edited since submit wrote it)"]


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
            rows.append(make_row(task, model, f"{PAPER_SOURCE}, {label}", scores, reference=True, data="real EuroMineNet",
                             verification="reference"))
    return rows
