"""One task's leaderboard as CSV (scores as fractions), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence

from euromine_hf.hub.leaderboard.rows import SELF_REPORTED
from euromine_hf.hub.leaderboard.tasks import TASKS


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
