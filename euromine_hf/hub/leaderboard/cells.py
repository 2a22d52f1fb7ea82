"""Texts every renderer shares: column labels, percentages, verification, the about cell, notes and headings."""

from __future__ import annotations

from typing import Any, Mapping

from euromine_hf.hub.leaderboard.rows import SCORED_HERE, SELF_REPORTED

#: What a local entry's label rests on (``show`` re-checks an entry's fields but cannot score it again).
LOCAL_TRUST = ("Local entries (source local) are as trustworthy as the results folder they are read from: "
               "their fields are checked again, their scores cannot be recomputed without the predictions.")


def apart_title(hub_task_id: str) -> str:
    """The heading of a task's rows that are not ranked."""
    return f"values no {hub_task_id} scoring can produce, or entries that fail their checks"


def column_label(column: str) -> str:
    """A column's heading: ``F1_2019`` → ``F1 2019``, ``F1_interval_3`` → ``F1 Δ3y``."""
    if column.startswith("F1_interval_"):
        return f"F1 Δ{column.rsplit('_', 1)[1]}y"
    if column.startswith("F1_"):
        return f"F1 {column[3:]}"
    return column


def percent(v: float | None) -> str:
    """A fraction shown in % with two decimals (a dash where there is no value)."""
    return "–" if v is None else f"{100 * v:.2f}"


def verification_text(row: Mapping[str, Any], digits: int = 16) -> str:
    """``scored here (sha256 …)``, ``self-reported`` or ``reference``."""
    if row.get("verification") == SCORED_HERE and row.get("sha256"):
        return f"{SCORED_HERE} (sha256 {row['sha256'][:digits]})"
    return str(row.get("verification") or SELF_REPORTED)


def about_text(row: Mapping[str, Any]) -> str:
    """Authors, description and links of a submission as one plain-text cell."""
    parts = [", ".join(row.get("authors") or []), row.get("description") or "", " ".join(row.get("links") or [])]
    return " — ".join(p for p in parts if p)
