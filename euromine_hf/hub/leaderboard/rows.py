"""Leaderboard rows: one per result, from local entries and the paper's tables, each saying how far it can be believed."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from euromine_hf.hub.leaderboard.tasks import TASKS
from euromine_hf.hub.leaderboard.text import SHA256, is_author, is_link, kept_strings, short_description
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
    predictions ``submit`` scored, self-reported otherwise (a hand-made entry)."""
    rows = []
    for e in entries:
        data = "synthetic" if (e.get("archive") or {}).get("synthetic") else "archive"
        sha = e.get("submission_sha256")
        scored = isinstance(sha, str) and SHA256.match(sha) is not None
        rows.append(make_row(e["task"], e["model"], "local", e["scores"], model_repo=e.get("model_repo"),
                         data=f"{data}: {(e.get('archive') or {}).get('name', '?')}", links=kept_strings(e.get("links"), is_link),
                         authors=kept_strings(e.get("authors"), is_author),
                         description=short_description(e.get("description")),
                         verification=SCORED_HERE if scored else SELF_REPORTED, sha256=sha if scored else None))
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
            rows.append(make_row(task, model, f"{PAPER_SOURCE}, {label}", scores, reference=True, data="real EuroMineNet",
                             verification="reference"))
    return rows
