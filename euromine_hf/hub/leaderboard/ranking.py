"""Rows gathered from every source, merged per model repo and ranked per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from euromine_hf.hub.leaderboard.entries import load_local_entries
from euromine_hf.hub.leaderboard.hub_rows import rows_from_hub, rows_from_model_cards
from euromine_hf.hub.leaderboard.rows import SCORED_HERE, paper_rows, rows_from_entries
from euromine_hf.hub.leaderboard.tasks import TASKS


def dedupe_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
