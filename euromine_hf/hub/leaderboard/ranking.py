"""Rows gathered from every source, merged per model repo and ranked per task."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from euromine_hf.hub.leaderboard.entries import load_local_entries
from euromine_hf.hub.leaderboard.hub_rows import rows_from_hub, rows_from_model_cards
from euromine_hf.hub.leaderboard.rows import SCORED_HERE, paper_rows, rows_from_entries
from euromine_hf.hub.leaderboard.tasks import TASKS


def dedupe_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, model repo): a local entry and the Hub rows and cards of its repo merge their sources.

    Values scored here are never mixed with self-reported ones: a scored row keeps only its own
    values (the other sources are still named). A row with unusable values is never merged; it
    is shown apart with its reasons. Two local entries are never merged: when several name the same
    repo, each is its own row, and that repo's Hub rows are merged only with each other (which
    submission they came from cannot be told).
    """
    def key_of(row: dict[str, Any]) -> tuple[str, ...] | None:
        return (row["task"], row["model_repo"]) if row["model_repo"] and not row["reference"] and not row["problems"] else None

    local_claims = Counter(key_of(r) for r in rows if r["source"] == "local" and key_of(r) is not None)
    out: list[dict[str, Any]] = []
    index: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = key_of(row)
        if key is not None and local_claims[key] > 1:
            if row["source"] == "local":
                out.append(row)
                continue
            key = (*key, "hub")
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
    """Sort by the task's first column (higher is better); submissions get competition ranks (equal
    values share a rank: 1, 1, 3; the name only orders the tied rows), the paper's reference rows are
    placed by value but unranked; rows with unusable values (``problems``) come last, unranked."""
    ranked = []
    for task, spec in TASKS.items():
        def value(r: dict[str, Any]) -> float:
            v = r["scores"][spec.primary]
            return v if v is not None else float("-inf")

        usable = [r for r in rows if r["task"] == task and not r.get("problems")]
        usable.sort(key=lambda r: (-value(r), r["reference"], r["model"]))
        apart = sorted((r for r in rows if r["task"] == task and r.get("problems")), key=lambda r: (r["model"], r["source"]))
        n, previous = 0, None
        for r in usable:
            if r["reference"]:
                r["rank"] = None
                continue
            n += 1
            r["rank"] = previous["rank"] if previous is not None and value(previous) == value(r) else n
            previous = r
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
    """Every row to show for ``tasks``: local entries, the dataset's Hub leaderboard and model cards (merged per
    model repo), plus the paper's reference rows, ranked (:func:`rank_rows`)."""
    rows: list[dict[str, Any]] = []
    if results_dir is not None:
        rows += rows_from_entries(load_local_entries(results_dir))
    if dataset_repo:
        rows += rows_from_hub(dataset_repo, token=token)
    if model_repos:
        rows += rows_from_model_cards(model_repos, dataset_repo, token=token)
    rows = dedupe_rows(rows)
    if paper:
        for task in tasks:
            rows += paper_rows(task)
    return rank_rows([r for r in rows if r["task"] in tasks])
